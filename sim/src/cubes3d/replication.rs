//! What cubes3d sends: its schema, each entity's quantized state, the pusher's private
//! fields, and the input a driver sends.
//!
//! Both kinds have the same fields: a position (x, y, z in 1/512 m) and an orientation as
//! smallest three (the dropped component's index, then the other three in 9 bits each).
//! Cubes are network indices `0..cube_count`; a pusher is `cube_count` plus its slot.

use crate::grid::bits_for;
use glam::{Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};
use slotmap::{Key, KeyData};
use tickwire_netcode::schema::{EntityState, FieldSpec, KindSpec, MAX_FIELDS, Schema};

use super::config::CubesConfig;
use super::quantize::{
    POS_STEPS_PER_M, QUAT_BITS, VEL_STEPS_PER_MPS, YAW_STEPS, dequantize_m, dequantize_quat,
    quantize_m, quantize_pos, quantize_quat,
};

/// Kind number of a pusher.
pub const KIND_PUSHER: u8 = 0;
/// Kind number of a cube.
pub const KIND_CUBE: u8 = 1;

/// Highest a cube's centre may be (metres): the z field's range.
pub const MAX_HEIGHT_M: f32 = 16.0;

const VEL_BITS: u8 = 17;

/// The places of a replicated entity's fields.
pub mod field {
    /// Position x (1/512 m).
    pub const X: usize = 0;
    /// Position y (1/512 m).
    pub const Y: usize = 1;
    /// Height of the centre (1/512 m).
    pub const Z: usize = 2;
    /// Which quaternion component was dropped (0..=3: x, y, z, w).
    pub const Q_LARGEST: usize = 3;
    /// The first of the three smallest components (then the next two).
    pub const Q_A: usize = 4;
    /// Second smallest-three component.
    pub const Q_B: usize = 5;
    /// Third smallest-three component.
    pub const Q_C: usize = 6;
}

/// The places of a pusher's private fields (sent only to its driver).
pub mod own {
    /// Velocity x (1/512 m/s).
    pub const VX: usize = 0;
    /// Velocity y (1/512 m/s).
    pub const VY: usize = 1;
    /// Heading (1/4096 turn).
    pub const YAW: usize = 2;
}

/// The schema for a floor of this size.
///
/// # Panics
/// Never for a validated config: the widths are within the schema's limits.
#[must_use]
#[allow(clippy::expect_used)] // widths derive from validated sizes (≤ 1 km → ≤ 20 bits)
pub fn cubes_schema(config: &CubesConfig) -> Schema {
    let metres = |name: &'static str, max_m: f32| {
        FieldSpec::linear(name, bits_for(quantize_m(max_m)), 0).scaled(
            1.0 / f64::from(POS_STEPS_PER_M),
            0.0,
            "m",
        )
    };
    let mut fields = vec![
        metres("x", config.floor_width_m),
        metres("y", config.floor_depth_m),
        metres("z", MAX_HEIGHT_M),
    ];
    fields.extend(FieldSpec::rotation("q", QUAT_BITS));
    let kinds = vec![
        KindSpec {
            name: "pusher".into(),
            fields: fields.clone(),
        },
        KindSpec {
            name: "cube".into(),
            fields,
        },
    ];
    let vel_min = -(1 << (VEL_BITS - 1));
    let mps = |name| {
        FieldSpec::linear(name, VEL_BITS, vel_min).scaled(
            1.0 / f64::from(VEL_STEPS_PER_MPS),
            0.0,
            "m/s",
        )
    };
    let own = vec![mps("vx"), mps("vy"), FieldSpec::angle("yaw", 12)];
    debug_assert_eq!(1 << 12, YAW_STEPS);
    Schema::new(kinds, own).expect("the cubes3d schema is within limits")
}

/// The replicated state of a body of `kind` at `pos` turned by `rot`.
#[must_use]
pub fn body_state(kind: u8, pos: Vec3, rot: Quat) -> EntityState {
    let [x, y, z] = quantize_pos(pos);
    let max_z = quantize_m(MAX_HEIGHT_M);
    let [largest, a, b, c] = quantize_quat(rot);
    let mut fields = [0; MAX_FIELDS];
    for (slot, v) in
        fields
            .iter_mut()
            .zip([x.max(0), y.max(0), z.clamp(0, max_z), largest, a, b, c])
    {
        *slot = v;
    }
    EntityState { kind, fields }
}

/// Where a replicated body is (metres).
#[must_use]
pub fn position(state: &EntityState) -> Vec3 {
    let f = |i: usize| dequantize_m(state.fields.get(i).copied().unwrap_or(0));
    Vec3::new(f(field::X), f(field::Y), f(field::Z))
}

/// How a replicated body is turned.
#[must_use]
pub fn orientation(state: &EntityState) -> Quat {
    let f = |i: usize| state.fields.get(i).copied().unwrap_or(0);
    dequantize_quat(
        f(field::Q_LARGEST),
        f(field::Q_A),
        f(field::Q_B),
        f(field::Q_C),
    )
}

/// Where a body drawn by interpolation is on the floor (metres), from its fractional
/// fields.
#[must_use]
pub fn rendered_floor_position(fields: &[f32; MAX_FIELDS]) -> Vec2 {
    let f = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    Vec2::new(f(field::X), f(field::Y)) / POS_STEPS_PER_M
}

slotmap::new_key_type! {
    /// A handle to a pusher; a stale one never aliases a newer pusher.
    pub struct PusherId;
}

/// The network index and incarnation of a pusher, given the number of cubes (whose indices
/// come first).
#[must_use]
pub fn pusher_net_id(id: PusherId, cubes: u32) -> (u32, u32) {
    let ffi = id.data().as_ffi();
    (cubes.saturating_add(ffi as u32), (ffi >> 32) as u32)
}

/// The pusher a network index and incarnation name (the inverse of [`pusher_net_id`]).
#[must_use]
pub fn pusher_id(index: u32, uid: u32, cubes: u32) -> PusherId {
    let slot = index.saturating_sub(cubes);
    PusherId::from(KeyData::from_ffi((u64::from(uid) << 32) | u64::from(slot)))
}

/// A driver's input as it travels: the stick's axes in 1/127 steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CubesInput {
    /// Stick x, −127..=127 for −1..=1 (−128 counts as −127).
    pub stick_x: i8,
    /// Stick y, as `stick_x`.
    pub stick_y: i8,
}

impl CubesInput {
    /// The input for a stick (each axis clamped to −1..=1; NaN is 0).
    #[must_use]
    pub fn from_stick(stick: Vec2) -> Self {
        let axis = |v: f32| {
            if v.is_finite() {
                (v.clamp(-1.0, 1.0) * 127.0).round() as i8
            } else {
                0
            }
        };
        Self {
            stick_x: axis(stick.x),
            stick_y: axis(stick.y),
        }
    }

    /// The stick it carries (each axis in −1..=1).
    #[must_use]
    pub fn stick(&self) -> Vec2 {
        let axis = |v: i8| f32::from(v.max(-127)) / 127.0;
        Vec2::new(axis(self.stick_x), axis(self.stick_y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_state_round_trips_within_the_grids() {
        let pos = Vec3::new(12.3, 40.01, 0.5);
        let rot = Quat::from_rotation_z(0.7) * Quat::from_rotation_x(0.3);
        let state = body_state(KIND_CUBE, pos, rot);
        assert!((position(&state) - pos).abs().max_element() <= 0.5 / POS_STEPS_PER_M);
        assert!(orientation(&state).angle_between(rot) < 0.01);
        let schema = cubes_schema(&CubesConfig::default());
        let specs = schema.fields(KIND_CUBE).unwrap();
        assert!(specs.iter().zip(state.fields).all(|(s, v)| s.contains(v)));
    }

    #[test]
    fn pusher_ids_survive_the_network_index() {
        let mut map = slotmap::SlotMap::<PusherId, ()>::with_key();
        let a = map.insert(());
        map.remove(a);
        let b = map.insert(());
        let (index, uid) = pusher_net_id(b, 901);
        assert!(index >= 901);
        assert_eq!(pusher_id(index, uid, 901), b);
        assert_ne!(
            pusher_net_id(a, 901),
            (index, uid),
            "a stale pusher is another"
        );
    }

    #[test]
    fn sticks_are_clamped_and_nan_is_still() {
        assert_eq!(
            CubesInput::from_stick(Vec2::new(5.0, f32::NAN)).stick(),
            Vec2::X
        );
        let bad = CubesInput {
            stick_x: i8::MIN,
            stick_y: 0,
        };
        assert_eq!(bad.stick(), Vec2::new(-1.0, 0.0));
    }
}
