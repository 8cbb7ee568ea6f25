//! How the arena appears on the wire: its schema and the quantization both ends share.
//!
//! Positions are quantized to 1/512 m, angles to 1/4096 of a turn, velocities (sent only to
//! a player about itself) to 1/512 m/s. The server replicates quantized values and the client
//! reads them back with the functions here, so what a client sees is exactly what the server
//! sent.

use crate::grid::bits_for;
use glam::Vec2;
use serde::{Deserialize, Serialize};
use slotmap::{Key, KeyData};
use tickwire_netcode::schema::{
    EntityState, FieldSpec, KindSpec, MAX_FIELDS, NetEntity, Replicate, Schema,
};

use crate::arena::config::ArenaConfig;
use crate::arena::entity::{Body, Entity, EntityId};
use crate::arena::input::PlayerInput;
pub use crate::arena::quantize::{
    ANGLE_STEPS, POS_STEPS_PER_M, VEL_STEPS_PER_MPS, dequantize_angle, dequantize_m,
    dequantize_mps, quantize_angle, quantize_m, quantize_mps, quantize_pos, snap_pos, snap_vel,
};
use crate::arena::world::World;

/// Kind number of players.
pub const KIND_PLAYER: u8 = 0;
/// Kind number of props.
pub const KIND_PROP: u8 = 1;

const ANGLE_BITS: u8 = 12;
const VEL_BITS: u8 = 17; // ±65535 steps = ±128 m/s, above the largest allowed max speed
const COOLDOWN_BITS: u8 = 16;
const RESPAWN_BITS: u8 = 20;

/// The arena's replication schema for an arena of this size.
///
/// # Panics
/// Never for a validated config: the field widths are within the schema's limits.
#[must_use]
#[allow(clippy::expect_used)] // widths derive from validated sizes (≤ 10 km → ≤ 23 bits)
pub fn arena_schema(config: &ArenaConfig) -> Schema {
    let x_bits = bits_for(quantize_m(config.width_m));
    let y_bits = bits_for(quantize_m(config.height_m));
    let player = KindSpec {
        name: "player".into(),
        fields: vec![
            metres("x", x_bits),
            metres("y", y_bits),
            FieldSpec::angle("aim", ANGLE_BITS),
            FieldSpec::discrete("health", 8, 0).scaled(1.0, 0.0, "hp"),
        ],
    };
    let prop = KindSpec {
        name: "prop".into(),
        fields: vec![
            metres("x", x_bits),
            metres("y", y_bits),
            FieldSpec::angle("angle", ANGLE_BITS),
        ],
    };
    let vel_min = -(1 << (VEL_BITS - 1));
    let mps = |name| {
        FieldSpec::linear(name, VEL_BITS, vel_min).scaled(
            1.0 / f64::from(VEL_STEPS_PER_MPS),
            0.0,
            "m/s",
        )
    };
    let own = vec![
        mps("vx"),
        mps("vy"),
        FieldSpec::discrete("cooldown_ticks", COOLDOWN_BITS, 0).scaled(1.0, 0.0, "ticks"),
        FieldSpec::discrete("respawn_ticks", RESPAWN_BITS, 0).scaled(1.0, 0.0, "ticks"),
    ];
    Schema::new(vec![player, prop], own).expect("the arena schema is within limits")
}

/// A position field: steps of 1/512 m from 0.
fn metres(name: &'static str, bits: u8) -> FieldSpec {
    FieldSpec::linear(name, bits, 0).scaled(1.0 / f64::from(POS_STEPS_PER_M), 0.0, "m")
}

/// The places of a replicated entity's fields (both kinds start with x and y), so that code
/// reading a state names what it reads instead of an index.
pub mod field {
    /// Position x (position steps).
    pub const X: usize = 0;
    /// Position y (position steps).
    pub const Y: usize = 1;
    /// A player's aim, a prop's heading (angle steps).
    pub const ANGLE: usize = 2;
    /// A player's health (hit points).
    pub const HEALTH: usize = 3;
}

/// Where a replicated entity is (metres), from its state's position fields.
#[must_use]
pub fn position(state: &EntityState) -> Vec2 {
    Vec2::new(
        dequantize_m(state.fields[field::X]),
        dequantize_m(state.fields[field::Y]),
    )
}

/// Where an entity drawn by interpolation is (metres), from its fractional fields.
#[must_use]
pub fn rendered_position(fields: &[f32; MAX_FIELDS]) -> Vec2 {
    Vec2::new(fields[field::X], fields[field::Y]) / POS_STEPS_PER_M
}

/// Whether a replicated player is alive (a prop always counts as alive).
#[must_use]
pub fn alive(state: &EntityState) -> bool {
    state.kind != KIND_PLAYER || state.fields[field::HEALTH] > 0
}

/// A player's replicated state.
#[must_use]
pub fn player_state(pos: Vec2, aim_rad: f32, health: u8) -> EntityState {
    let [x, y] = quantize_pos(pos);
    fields(
        KIND_PLAYER,
        &[x, y, quantize_angle(aim_rad), i32::from(health)],
    )
}

/// A prop's replicated state.
#[must_use]
pub fn prop_state(pos: Vec2, angle_rad: f32) -> EntityState {
    let [x, y] = quantize_pos(pos);
    fields(KIND_PROP, &[x, y, quantize_angle(angle_rad)])
}

fn fields(kind: u8, values: &[i32]) -> EntityState {
    let mut state = EntityState {
        kind,
        fields: [0; MAX_FIELDS],
    };
    for (slot, v) in state.fields.iter_mut().zip(values) {
        *slot = (*v).max(0);
    }
    state
}

/// An entity's replicated state.
#[must_use]
pub fn entity_state(entity: &Entity) -> EntityState {
    match &entity.body {
        Body::Player(p) => player_state(entity.pos, p.aim_rad, p.health),
        Body::Prop(p) => prop_state(entity.pos, p.angle_rad),
    }
}

/// The network index and incarnation of an entity id (its slot and generation).
#[must_use]
pub fn net_id(id: EntityId) -> (u32, u32) {
    let ffi = id.data().as_ffi();
    (ffi as u32, (ffi >> 32) as u32)
}

/// The entity id for a network index and incarnation (the inverse of [`net_id`]).
#[must_use]
pub fn entity_id(index: u32, uid: u32) -> EntityId {
    EntityId::from(KeyData::from_ffi((u64::from(uid) << 32) | u64::from(index)))
}

/// The private fields of a player's own entity: velocity, fire cooldown, respawn timer.
#[must_use]
pub fn own_state(entity: &Entity) -> [i32; 4] {
    let (cooldown, respawn) = match &entity.body {
        Body::Player(p) => (p.cooldown_ticks, p.respawn_ticks),
        Body::Prop(_) => (0, 0),
    };
    let clamp = |v: u32, bits: u8| i32::try_from(v.min((1 << bits) - 1)).unwrap_or(0);
    [
        quantize_mps(entity.vel.x),
        quantize_mps(entity.vel.y),
        clamp(cooldown, COOLDOWN_BITS),
        clamp(respawn, RESPAWN_BITS),
    ]
}

/// A [`PlayerInput`] as it travels: stick axes in 1/127 steps, aim in 1/4096 turn.
///
/// The client predicts with [`WireInput::to_input`] of what it sends, not with the raw
/// input, so client and server step with bit-identical inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireInput {
    /// Stick x, −127..=127 for −1..=1.
    pub move_x: i8,
    /// Stick y, −127..=127 for −1..=1.
    pub move_y: i8,
    /// Aim in 1/4096 turn (values past 4095 wrap).
    pub aim: u16,
    /// Trigger held.
    pub fire: bool,
}

impl WireInput {
    /// Quantizes an input (sanitizing it first).
    #[must_use]
    pub fn from_input(input: &PlayerInput) -> Self {
        let clean = input.sanitized();
        let axis = |v: f32| (v * 127.0).round().clamp(-127.0, 127.0) as i8;
        Self {
            move_x: axis(clean.movement.x),
            move_y: axis(clean.movement.y),
            aim: quantize_angle(clean.aim_rad) as u16,
            fire: clean.fire,
        }
    }

    /// The input the simulation steps with. Any bytes give a valid input.
    #[must_use]
    pub fn to_input(&self) -> PlayerInput {
        PlayerInput {
            movement: Vec2::new(f32::from(self.move_x), f32::from(self.move_y)) / 127.0,
            aim_rad: dequantize_angle(i32::from(self.aim)),
            fire: self.fire,
        }
        .sanitized()
    }
}

impl Replicate for World {
    fn replicate(&self, out: &mut Vec<NetEntity>) {
        for (id, entity) in self.entities() {
            let (index, uid) = net_id(id);
            out.push(NetEntity {
                index,
                uid,
                state: entity_state(entity),
            });
        }
        // Slot-map iteration is by slot index already; keep the contract explicit.
        if !out
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.index < b.index))
        {
            out.sort_unstable_by_key(|e| e.index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::rules::Rules;
    use tickwire_netcode::TickRate;

    #[test]
    fn wire_inputs_are_stable_and_always_valid() {
        let input = PlayerInput {
            movement: Vec2::new(0.6, -0.8),
            aim_rad: 1.0,
            fire: true,
        };
        let wire = WireInput::from_input(&input);
        let once = wire.to_input();
        assert_eq!(
            WireInput::from_input(&once),
            wire,
            "quantizing twice changes nothing"
        );
        assert!((once.movement - input.movement).length() < 0.01);
        let hostile = WireInput {
            move_x: i8::MIN,
            move_y: i8::MIN,
            aim: u16::MAX,
            fire: true,
        }
        .to_input();
        assert!(hostile.is_valid());
    }

    #[test]
    fn the_schema_fits_the_arena() {
        let schema = arena_schema(&ArenaConfig::default());
        let x = schema.fields(KIND_PLAYER).unwrap()[0].clone();
        assert_eq!(x.bits, 16); // 100 m × 512 = 51200 < 65536
        assert!(x.contains(quantize_m(100.0)));
        let own = schema.own();
        assert!(own[0].contains(quantize_mps(-100.0)) && own[0].contains(quantize_mps(100.0)));
    }

    #[test]
    fn the_world_replicates_every_entity_in_index_order() {
        let rules = Rules::new(
            ArenaConfig {
                prop_count: 50,
                ..ArenaConfig::default()
            },
            TickRate::new(60).unwrap(),
        )
        .unwrap();
        let mut world = World::new(rules);
        let player = world.spawn_player();
        let mut out = Vec::new();
        world.replicate(&mut out);
        assert_eq!(out.len(), 51);
        assert!(out.windows(2).all(|w| w[0].index < w[1].index));
        let (index, uid) = net_id(player);
        assert_eq!(entity_id(index, uid), player);
        let replicated = out.iter().find(|e| e.index == index).unwrap();
        assert_eq!(replicated.state.kind, KIND_PLAYER);
        assert_eq!(replicated.state.fields[3], 100);
        let schema = arena_schema(world.rules().config());
        for e in &out {
            let specs = schema.fields(e.state.kind).unwrap();
            assert!(specs.iter().zip(e.state.fields).all(|(s, v)| s.contains(v)));
        }
    }
}

/// A reliable game event the server sends one client on its control stream, encoded with
/// `tickwire_netcode::codec` inside `ServerControl::Event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ArenaEvent {
    /// The server judged a shot this client fired (after lag compensation).
    ShotJudged {
        /// The input tick the shot was fired at.
        tick: tickwire_netcode::Tick,
        /// Network index of the player struck, if any.
        target: Option<u32>,
    },
}
