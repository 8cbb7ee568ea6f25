//! Bots in cubes3d: a [`CubesPilot`] drives its pusher through the cubes.
//!
//! How it drives follows its style: `wander` bulldozes along smooth random paths (the cubes
//! lie in the middle of the floor, so it ploughs through them again and again); `chase`
//! goes for the nearest other pusher it sees, shoving cubes into its way; `strafe` circles
//! the middle of the floor. Near a wall every style turns back toward the middle.

use std::f32::consts::{PI, TAU};
use std::time::{Duration, Instant};

use glam::Vec2;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tickwire_netcode::client::ClientNetcode;
use tickwire_sim::cubes3d::client::CubesPrediction;
use tickwire_sim::cubes3d::replication::{KIND_PUSHER, rendered_floor_position};
use tickwire_sim::cubes3d::{Cubes3d, CubesConfig, CubesInput};

use crate::behaviour::Behaviour;
use crate::pilot::{BotGame, Pilot, Script};

impl BotGame for Cubes3d {
    type Pilot = CubesPilot;
}

/// How often a bot looks at what it renders (for `chase`).
const LOOK_EVERY: Duration = Duration::from_millis(100);
/// How close to a wall (metres) a bot starts turning back toward the middle.
const WALL_MARGIN_M: f32 = 6.0;
/// Largest change of a wanderer's turn rate per second (radians per second²).
const TURN_JERK_RADPS2: f32 = 5.0;
/// Largest turn rate of a wanderer (radians per second).
const MAX_TURN_RADPS: f32 = 1.5;

/// A cubes3d bot's decisions.
#[derive(Debug)]
pub struct CubesPilot {
    script: Script,
    rng: ChaCha8Rng,
    heading_rad: f32,
    turn_radps: f32,
    /// The nearest other pusher as last rendered (metres), for `chase`.
    quarry: Option<Vec2>,
    looked_at: Option<Instant>,
    outgoing: Vec<u8>,
}

impl Pilot<Cubes3d> for CubesPilot {
    fn new(script: Script, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let heading_rad = rng.random_range(-PI..PI);
        Self {
            script,
            rng,
            heading_rad,
            turn_radps: 0.0,
            quarry: None,
            looked_at: None,
            outgoing: Vec::new(),
        }
    }

    fn frame(
        &mut self,
        net: &mut ClientNetcode<CubesPrediction>,
        now: Instant,
        config: &CubesConfig,
        send: &mut dyn FnMut(&[u8]),
    ) {
        let dt_s = net.config().tick_rate.dt().as_secs_f32();
        let look = self
            .looked_at
            .is_none_or(|t| now.saturating_duration_since(t) >= LOOK_EVERY);
        if net.frame(now).is_some() && look && self.script == Script::Play(Behaviour::Chase) {
            self.quarry = nearest_pusher(net);
            self.looked_at = Some(now);
        }
        self.outgoing.clear();
        while let Some(tick) = net.next_input_tick(now) {
            let Some(me) = net.predicted().copied() else {
                break;
            };
            let stick = self.decide(me.pos, config, dt_s);
            let Ok(datagram) = net.submit_input(tick, CubesInput::from_stick(stick)) else {
                break;
            };
            // One datagram per frame: the newest carries this frame's earlier ticks too.
            self.outgoing.clear();
            self.outgoing.extend_from_slice(datagram);
        }
        if !self.outgoing.is_empty() {
            send(&self.outgoing);
        }
    }
}

impl CubesPilot {
    /// The stick for this tick, from where the pusher is predicted to be.
    fn decide(&mut self, me: Vec2, c: &CubesConfig, dt_s: f32) -> Vec2 {
        let size = Vec2::new(c.floor_width_m, c.floor_depth_m);
        let middle = size * 0.5;
        let near_wall =
            me.cmplt(Vec2::splat(WALL_MARGIN_M)).any() || me.cmpgt(size - WALL_MARGIN_M).any();
        match self.script {
            Script::Idle => Vec2::ZERO,
            Script::Run => {
                if near_wall {
                    let to = middle - me;
                    self.heading_rad = to.y.atan2(to.x);
                }
                Vec2::from_angle(self.heading_rad)
            }
            Script::Play(style) => {
                if near_wall {
                    let to = middle - me;
                    self.heading_rad = to.y.atan2(to.x);
                    self.turn_radps = 0.0;
                    return Vec2::from_angle(self.heading_rad);
                }
                match (style, self.quarry) {
                    (Behaviour::Chase, Some(quarry)) if quarry.distance(me) > 1.0 => {
                        (quarry - me).normalize_or_zero()
                    }
                    (Behaviour::Strafe, _) => {
                        // Around the middle, a third of the way to the walls.
                        let from = me - middle;
                        let radius = size.min_element() / 3.0;
                        let tangent = from.perp().normalize_or_zero();
                        let inward = -from.normalize_or_zero() * (from.length() - radius) / radius;
                        (tangent + inward).normalize_or_zero()
                    }
                    _ => {
                        let jerk = self.rng.random_range(-1.0..=1.0) * TURN_JERK_RADPS2 * dt_s;
                        self.turn_radps =
                            (self.turn_radps + jerk).clamp(-MAX_TURN_RADPS, MAX_TURN_RADPS);
                        self.heading_rad =
                            (self.heading_rad + self.turn_radps * dt_s + PI).rem_euclid(TAU) - PI;
                        Vec2::from_angle(self.heading_rad)
                    }
                }
            }
        }
    }
}

/// Where the nearest other pusher is drawn this frame (metres), if any.
fn nearest_pusher(net: &ClientNetcode<CubesPrediction>) -> Option<Vec2> {
    let frame = net.render_frame()?;
    let me = net.predicted()?.pos;
    let own = net.config().entity_index;
    let latest = net.receiver().latest()?;
    latest
        .entities
        .iter()
        .filter(|(index, state)| state.kind == KIND_PUSHER && *index != own)
        .filter_map(|&(index, _)| frame.entity(net.schema(), index))
        .map(|(_, fields)| rendered_floor_position(&fields))
        .min_by(|a, b| a.distance(me).total_cmp(&b.distance(me)))
}
