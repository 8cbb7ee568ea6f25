//! Cubes3d as a Tickwire server hosts it: the [`Game`] implementation around [`World`].
//!
//! No shooting: it records no hitboxes and sends no events. A client's view is its pusher's
//! place; near cubes matter more than far ones, and other pushers more than cubes.

use glam::Vec2;
use serde::{Deserialize, Serialize};
use tickwire_netcode::game::{Census, Game, LagCompensation, TickInput};
use tickwire_netcode::schema::{MAX_FIELDS, NetEntity, Schema};
use tickwire_netcode::{ConfigError, Tick, TickRate};

use super::client::CubesPrediction;
use super::config::CubesConfig;
use super::quantize::{dequantize_m, quantize_mps};
use super::replication::{
    CubesInput, KIND_PUSHER, PusherId, cubes_schema, field, own, pusher_net_id,
};
use super::rules::CubesRules;
use super::world::World;

/// Cubes3d sends no events; this type has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CubesEvent {}

/// Cubes3d, hosted.
#[derive(Debug)]
pub struct Cubes3d {
    world: World,
}

impl Cubes3d {
    /// The game around `world` (a scene set up by hand).
    #[must_use]
    pub fn from_world(world: World) -> Self {
        Self { world }
    }

    /// The world.
    #[must_use]
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to set up a scene.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

impl Game for Cubes3d {
    const NAME: &'static str = "cubes3d";

    type Config = CubesConfig;
    type Input = CubesInput;
    type Player = PusherId;
    type Event = CubesEvent;
    /// The pusher's place on the floor and its network index.
    type Viewer = (Vec2, u32);
    type Prediction = CubesPrediction;

    fn new(config: &CubesConfig, rate: TickRate) -> Result<Self, ConfigError> {
        Ok(Self::from_world(World::new(CubesRules::new(
            config.clone(),
            rate,
        )?)))
    }

    fn retune(&mut self, config: &CubesConfig) -> Result<(), ConfigError> {
        let rules = CubesRules::new(config.clone(), self.world.rules().tick_rate())?;
        self.world.set_rules(rules);
        Ok(())
    }

    fn prediction(config: &CubesConfig, rate: TickRate) -> Result<CubesPrediction, ConfigError> {
        Ok(CubesPrediction::new(CubesRules::new(config.clone(), rate)?))
    }

    fn schema(config: &CubesConfig) -> Schema {
        cubes_schema(config)
    }

    fn tick(&self) -> Tick {
        self.world.tick()
    }

    fn spawn_player(&mut self) -> Option<PusherId> {
        Some(self.world.spawn_pusher())
    }

    fn despawn_player(&mut self, player: PusherId) {
        self.world.remove_pusher(player);
    }

    fn net_index(&self, player: PusherId) -> u32 {
        pusher_net_id(player, self.world.cubes().len() as u32).0
    }

    fn step(&mut self, inputs: &[TickInput<PusherId, CubesInput>], _lag: &LagCompensation<'_>) {
        for i in inputs {
            self.world.steer(i.player, i.input.stick());
        }
        self.world.step();
    }

    fn replicate(&self, out: &mut Vec<NetEntity>) {
        self.world.replicate(out);
    }

    fn viewer(&self, player: PusherId, own_fields: &mut [i32; MAX_FIELDS]) -> Option<(Vec2, u32)> {
        let p = self.world.pusher(player)?;
        let d = p.drive;
        for (i, v) in [
            (own::VX, quantize_mps(d.vel.x)),
            (own::VY, quantize_mps(d.vel.y)),
            (own::YAW, d.yaw),
        ] {
            if let Some(slot) = own_fields.get_mut(i) {
                *slot = v;
            }
        }
        Some((d.pos, self.net_index(player)))
    }

    /// Its own pusher most, other pushers more than cubes, near more than far.
    fn weight(&(viewer, own_index): &(Vec2, u32), e: &NetEntity) -> f32 {
        if e.index == own_index {
            return 16.0;
        }
        let f = |i: usize| dequantize_m(e.state.fields.get(i).copied().unwrap_or(0));
        let at = Vec2::new(f(field::X), f(field::Y));
        let near = 1.0 / (1.0 + at.distance(viewer) / 10.0);
        if e.state.kind == KIND_PUSHER {
            4.0 * near
        } else {
            near
        }
    }

    fn census(&self) -> Census {
        Census {
            players: self.world.pushers().count(),
            props: self.world.cubes().len(),
            moving_props: self.world.awake(),
        }
    }
}
