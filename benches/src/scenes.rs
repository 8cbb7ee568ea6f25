//! The benchmark scenes, defined once: deterministic from a seed, in the arena's terms.
//!
//! Other libraries are measured on these same definitions, so they are written as plain
//! motion scripts (no physics engine): anyone can reproduce them.
//!
//! - `arena-64`: a 100 × 100 m arena. 64 players run at 6 m/s on smooth random paths (the
//!   turn rate does a bounded random walk; they bounce off the walls); aim = heading plus a
//!   ±0.6 rad sweep at 2–4 rad/s, so it changes nearly every tick; health takes a 25-point
//!   hit about once per player every 10 s (and refills when it would drop to zero). 500
//!   props at rest; each starts moving at random moments for 0.8–1.2 s at 2–4 m/s with a
//!   2–6 rad/s spin, bouncing off walls, about 2 % of them moving at any moment. 60 Hz tick,
//!   30 Hz snapshots.
//! - `cubes-901`: 901 such props, about 5 % moving at any moment, 60 Hz tick and snapshots.
//! - `cubes3d-901`: the real cubes3d game (its physics, not a script): 901 cubes at rest in
//!   a 31 × 31 grid (1 m cubes 1.5 m apart) on a 64 × 64 m floor, and one pusher driven at
//!   full stick along a smooth random path through them (its turn rate does a bounded random
//!   walk; it turns back toward the middle near a wall). 60 Hz tick and snapshots. Fiedler's
//!   snapshot-compression articles measure the same: 901 cubes and a player cube pushing.

use std::f32::consts::PI;

use glam::Vec2;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tickwire_netcode::TickRate;
use tickwire_netcode::schema::{NetEntity, Replicate, Schema};
use tickwire_sim::arena::ArenaConfig;
use tickwire_sim::arena::replication::{arena_schema, player_state, prop_state};
use tickwire_sim::cubes3d::replication::cubes_schema;
use tickwire_sim::cubes3d::{CubesConfig, CubesRules, PusherId, World};

/// A scene the bandwidth bench measures: a world that steps and replicates.
pub trait BenchScene: Replicate {
    /// Name used in reports.
    fn name(&self) -> &'static str;
    /// Simulation rate (Hz).
    fn tick_hz(&self) -> u32;
    /// Snapshot rate (Hz).
    fn snapshot_hz(&self) -> u32;
    /// Entities now.
    fn entities(&self) -> usize;
    /// The replication schema.
    fn schema(&self) -> Schema;
    /// Advances one tick.
    fn step(&mut self);
}

/// Arena side (metres).
pub const ARENA_M: f32 = 100.0;

/// A scripted scene.
#[derive(Debug)]
pub struct Scene {
    /// Name used in reports.
    pub name: &'static str,
    /// Simulation rate (Hz).
    pub tick_hz: u32,
    /// Snapshot rate (Hz).
    pub snapshot_hz: u32,
    rng: ChaCha8Rng,
    players: Vec<Runner>,
    props: Vec<Orb>,
    /// Chance per tick that a resting prop starts moving.
    start_chance: f32,
    dt: f32,
}

#[derive(Debug)]
struct Runner {
    pos: Vec2,
    heading: f32,
    turn_radps: f32,
    sweep: f32,
    sweep_radps: f32,
    health: u8,
}

#[derive(Debug)]
struct Orb {
    pos: Vec2,
    vel: Vec2,
    angle: f32,
    spin: f32,
    moving_ticks: u32,
}

impl Scene {
    /// `arena-64`.
    #[must_use]
    pub fn arena_64(seed: u64) -> Self {
        Self::new("arena-64", seed, 64, 500, 0.02, 60, 30)
    }

    /// `cubes-901`.
    #[must_use]
    pub fn cubes_901(seed: u64) -> Self {
        Self::new("cubes-901", seed, 0, 901, 0.05, 60, 60)
    }

    fn new(
        name: &'static str,
        seed: u64,
        players: usize,
        props: usize,
        moving: f32,
        tick_hz: u32,
        snapshot_hz: u32,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dt = 1.0 / tick_hz as f32;
        let spot = |rng: &mut ChaCha8Rng| {
            Vec2::new(
                rng.random_range(1.0..ARENA_M - 1.0),
                rng.random_range(1.0..ARENA_M - 1.0),
            )
        };
        let players = (0..players)
            .map(|_| Runner {
                pos: spot(&mut rng),
                heading: rng.random_range(-PI..PI),
                turn_radps: 0.0,
                sweep: rng.random_range(-0.6..0.6),
                sweep_radps: rng.random_range(2.0..4.0)
                    * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
                health: 100,
            })
            .collect();
        let props = (0..props)
            .map(|_| Orb {
                pos: spot(&mut rng),
                vel: Vec2::ZERO,
                angle: rng.random_range(-PI..PI),
                spin: 0.0,
                moving_ticks: 0,
            })
            .collect();
        // A prop moves for 1 s on average: a start rate λ gives a moving fraction λ/(1+λ).
        let start_per_s = moving / (1.0 - moving);
        let mut scene = Self {
            name,
            tick_hz,
            snapshot_hz,
            rng,
            players,
            props,
            start_chance: start_per_s * dt,
            dt,
        };
        // Start in the steady state: the right fraction already in motion.
        for _ in 0..tick_hz * 3 {
            scene.step();
        }
        scene
    }

    /// Number of entities.
    #[must_use]
    pub fn entities(&self) -> usize {
        self.players.len() + self.props.len()
    }

    /// Fraction of props moving now.
    #[must_use]
    pub fn moving_fraction(&self) -> f32 {
        self.props.iter().filter(|o| o.moving_ticks > 0).count() as f32
            / self.props.len().max(1) as f32
    }

    /// Advances one tick.
    pub fn step(&mut self) {
        let dt = self.dt;
        for p in &mut self.players {
            p.turn_radps =
                (p.turn_radps + self.rng.random_range(-1.0..1.0) * 8.0 * dt).clamp(-1.5, 1.5);
            p.heading += p.turn_radps * dt;
            let mut vel = Vec2::from_angle(p.heading) * 6.0;
            p.pos += vel * dt;
            bounce(&mut p.pos, &mut vel, 0.5);
            p.heading = vel.y.atan2(vel.x);
            p.sweep += p.sweep_radps * dt;
            if p.sweep.abs() > 0.6 {
                p.sweep = p.sweep.clamp(-0.6, 0.6);
                p.sweep_radps = -p.sweep_radps;
            }
            if self.rng.random::<f32>() < dt / 10.0 {
                p.health = if p.health > 25 { p.health - 25 } else { 100 };
            }
        }
        for o in &mut self.props {
            if o.moving_ticks == 0 {
                if self.rng.random::<f32>() < self.start_chance {
                    let secs = self.rng.random_range(0.8..1.2);
                    o.moving_ticks = (secs / dt).round() as u32;
                    o.vel = Vec2::from_angle(self.rng.random_range(-PI..PI))
                        * self.rng.random_range(2.0..4.0);
                    o.spin = self.rng.random_range(2.0..6.0)
                        * if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
                }
                continue;
            }
            o.pos += o.vel * dt;
            bounce(&mut o.pos, &mut o.vel, 0.4);
            o.angle = (o.angle + o.spin * dt + PI).rem_euclid(2.0 * PI) - PI;
            o.moving_ticks -= 1;
            if o.moving_ticks == 0 {
                o.vel = Vec2::ZERO;
                o.spin = 0.0;
            }
        }
    }
}

impl BenchScene for Scene {
    fn name(&self) -> &'static str {
        self.name
    }
    fn tick_hz(&self) -> u32 {
        self.tick_hz
    }
    fn snapshot_hz(&self) -> u32 {
        self.snapshot_hz
    }
    fn entities(&self) -> usize {
        Self::entities(self)
    }
    /// The arena's schema for its 100 × 100 m.
    fn schema(&self) -> Schema {
        arena_schema(&ArenaConfig {
            width_m: ARENA_M,
            height_m: ARENA_M,
            ..ArenaConfig::default()
        })
    }
    fn step(&mut self) {
        Self::step(self);
    }
}

/// `cubes3d-901`: the cubes3d world with one pusher ploughing through its cubes.
#[derive(Debug)]
pub struct CubesScene {
    world: World,
    pusher: PusherId,
    rng: ChaCha8Rng,
    heading: f32,
    turn_radps: f32,
}

impl CubesScene {
    /// `cubes3d-901`.
    ///
    /// # Panics
    /// Never: the scene's values are the game's valid defaults.
    #[must_use]
    #[allow(clippy::expect_used)] // constant, valid configuration
    pub fn cubes3d_901(seed: u64) -> Self {
        let config = CubesConfig {
            cube_count: 901,
            ..CubesConfig::default()
        };
        let rate = TickRate::new(60).expect("60 Hz is a valid tick rate");
        let mut world = World::new(CubesRules::new(config, rate).expect("valid defaults"));
        let pusher = world.spawn_pusher();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let heading = rng.random_range(-PI..PI);
        Self {
            world,
            pusher,
            rng,
            heading,
            turn_radps: 0.0,
        }
    }

    /// Cubes awake now.
    #[must_use]
    pub fn awake(&self) -> usize {
        self.world.awake()
    }
}

impl Replicate for CubesScene {
    fn replicate(&self, out: &mut Vec<NetEntity>) {
        self.world.replicate(out);
    }
}

impl BenchScene for CubesScene {
    fn name(&self) -> &'static str {
        "cubes3d-901"
    }
    fn tick_hz(&self) -> u32 {
        60
    }
    fn snapshot_hz(&self) -> u32 {
        60
    }
    fn entities(&self) -> usize {
        self.world.cubes().len() + self.world.pushers().count()
    }
    fn schema(&self) -> Schema {
        cubes_schema(self.world.rules().config())
    }
    fn step(&mut self) {
        let dt = 1.0 / 60.0;
        let c = self.world.rules().config();
        let size = Vec2::new(c.floor_width_m, c.floor_depth_m);
        let at = self
            .world
            .pusher(self.pusher)
            .map_or(size * 0.5, |p| p.drive.pos);
        if at.cmplt(Vec2::splat(6.0)).any() || at.cmpgt(size - 6.0).any() {
            let to = size * 0.5 - at;
            self.heading = to.y.atan2(to.x);
            self.turn_radps = 0.0;
        } else {
            self.turn_radps =
                (self.turn_radps + self.rng.random_range(-1.0..1.0) * 5.0 * dt).clamp(-1.5, 1.5);
            self.heading += self.turn_radps * dt;
        }
        self.world
            .steer(self.pusher, Vec2::from_angle(self.heading));
        self.world.step();
    }
}

fn bounce(pos: &mut Vec2, vel: &mut Vec2, radius: f32) {
    for axis in 0..2 {
        if pos[axis] < radius {
            pos[axis] = 2.0 * radius - pos[axis];
            vel[axis] = vel[axis].abs();
        } else if pos[axis] > ARENA_M - radius {
            pos[axis] = 2.0 * (ARENA_M - radius) - pos[axis];
            vel[axis] = -vel[axis].abs();
        }
    }
}

impl Replicate for Scene {
    fn replicate(&self, out: &mut Vec<NetEntity>) {
        let players = self
            .players
            .iter()
            .map(|p| player_state(p.pos, p.heading + p.sweep, p.health));
        let props = self.props.iter().map(|o| prop_state(o.pos, o.angle));
        for (index, state) in players.chain(props).enumerate() {
            out.push(NetEntity {
                index: index as u32,
                uid: 0,
                state,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_hold_their_moving_fractions() {
        let mut arena = Scene::arena_64(1);
        let mut cubes = Scene::cubes_901(1);
        let (mut a, mut c) = (0.0, 0.0);
        for _ in 0..600 {
            arena.step();
            cubes.step();
            a += arena.moving_fraction();
            c += cubes.moving_fraction();
        }
        assert!((a / 600.0 - 0.02).abs() < 0.01, "arena {}", a / 600.0);
        assert!((c / 600.0 - 0.05).abs() < 0.015, "cubes {}", c / 600.0);
        assert_eq!((arena.entities(), cubes.entities()), (564, 901));
    }

    #[test]
    fn the_pusher_keeps_waking_cubes_and_they_keep_falling_asleep() {
        let mut scene = CubesScene::cubes3d_901(1);
        let (mut awake, mut most) = (0, 0);
        for _ in 0..60 * 20 {
            scene.step();
            awake += scene.awake();
            most = most.max(scene.awake());
        }
        let mean = awake as f64 / (60.0 * 20.0);
        assert_eq!(scene.entities(), 902);
        assert!(mean > 5.0, "a pusher in the field wakes cubes: mean {mean}");
        assert!(
            (most as f64) < 901.0 * 0.5,
            "most of the cubes sleep: at most {most} awake"
        );
    }
}
