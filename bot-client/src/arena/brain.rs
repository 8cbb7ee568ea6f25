//! How an arena bot decides its input each tick: seeded, so a load test can be replayed.

use std::f32::consts::{PI, TAU};

use glam::Vec2;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tickwire_sim::arena::{ArenaConfig, PlayerInput, hit_test};

use crate::behaviour::Behaviour;

/// How close to a wall (metres) a wandering bot starts turning back toward the middle.
const WALL_MARGIN_M: f32 = 5.0;
/// Largest change of a wanderer's turn rate per second (radians per second²).
const TURN_JERK_RADPS2: f32 = 6.0;
/// Largest turn rate of a wanderer (radians per second).
const MAX_TURN_RADPS: f32 = 2.0;

/// One bot's decision-making state.
#[derive(Debug)]
pub struct Brain {
    behaviour: Behaviour,
    rng: ChaCha8Rng,
    heading_rad: f32,
    turn_radps: f32,
    strafe_sign: f32,
    strafe_left_s: f32,
}

impl Brain {
    /// A brain with `behaviour`, its randomness seeded by `seed`.
    #[must_use]
    pub fn new(behaviour: Behaviour, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let heading_rad = rng.random_range(-PI..PI);
        Self {
            behaviour,
            rng,
            heading_rad,
            turn_radps: 0.0,
            strafe_sign: 1.0,
            strafe_left_s: 1.0,
        }
    }

    /// The behaviour this brain plays.
    #[must_use]
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    /// Decides this tick's input.
    ///
    /// `me` is the bot's position, `enemies` the positions of the other living players it
    /// knows of (metres), `arena` the gameplay values (bounds, obstacles, weapon range), and
    /// `dt_s` the tick length (seconds).
    pub fn think(
        &mut self,
        me: Vec2,
        enemies: &[Vec2],
        arena: &ArenaConfig,
        dt_s: f32,
    ) -> PlayerInput {
        let target = nearest_visible(me, enemies, arena);
        let wander = self.wander(me, arena, dt_s);
        let (movement, aim_rad) = match (self.behaviour, target) {
            (Behaviour::Wander, Some(t)) => (wander, angle_to(me, t)),
            (Behaviour::Wander, None) | (_, None) => (wander, self.heading_rad),
            (Behaviour::Chase, Some(t)) => {
                let to = t - me;
                // Close in to a third of the weapon's range, then hold and shoot.
                let movement = if to.length() > arena.weapon_range_m / 3.0 {
                    to.normalize_or_zero()
                } else {
                    Vec2::ZERO
                };
                (movement, angle_to(me, t))
            }
            (Behaviour::Strafe, Some(t)) => {
                self.strafe_left_s -= dt_s;
                if self.strafe_left_s <= 0.0 {
                    self.strafe_sign = -self.strafe_sign;
                    self.strafe_left_s = self.rng.random_range(0.6..1.8);
                }
                let to = (t - me).normalize_or_zero();
                (to.perp() * self.strafe_sign, angle_to(me, t))
            }
        };
        let fire = target.is_some_and(|t| t.distance(me) <= arena.weapon_range_m);
        PlayerInput {
            movement,
            aim_rad,
            fire,
        }
    }

    /// A smooth random path: the turn rate does a bounded random walk; near a wall the bot
    /// turns toward the middle.
    fn wander(&mut self, me: Vec2, arena: &ArenaConfig, dt_s: f32) -> Vec2 {
        let size = Vec2::new(arena.width_m, arena.height_m);
        let near_wall =
            me.cmplt(Vec2::splat(WALL_MARGIN_M)).any() || me.cmpgt(size - WALL_MARGIN_M).any();
        if near_wall {
            self.heading_rad = angle_to(me, size * 0.5);
            self.turn_radps = 0.0;
        } else {
            let jerk = self.rng.random_range(-1.0..=1.0) * TURN_JERK_RADPS2 * dt_s;
            self.turn_radps = (self.turn_radps + jerk).clamp(-MAX_TURN_RADPS, MAX_TURN_RADPS);
            self.heading_rad =
                (self.heading_rad + self.turn_radps * dt_s + PI).rem_euclid(TAU) - PI;
        }
        Vec2::from_angle(self.heading_rad)
    }
}

fn angle_to(from: Vec2, to: Vec2) -> f32 {
    let d = to - from;
    d.y.atan2(d.x)
}

/// The nearest enemy within weapon range and not hidden behind an obstacle.
///
/// Enemies are tried nearest first (ties in the order given) and the first visible one is
/// taken: the same answer as testing every enemy's line of sight, for one or two ray casts
/// where that took one per enemy in range every tick.
fn nearest_visible(me: Vec2, enemies: &[Vec2], arena: &ArenaConfig) -> Option<Vec2> {
    let reach = arena.weapon_range_m * 1.5;
    let key = |(i, e): (usize, &Vec2)| (e.distance_squared(me), i);
    let after = |a: (f32, usize), b: (f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let mut tried: Option<(f32, usize)> = None;
    loop {
        // The next nearest after the last one tried.
        let next = enemies
            .iter()
            .enumerate()
            .filter(|(_, e)| e.distance(me) <= reach)
            .map(key)
            .filter(|&k| tried.is_none_or(|t| after(k, t).is_gt()))
            .min_by(|&a, &b| after(a, b))?;
        tried = Some(next);
        let e = *enemies.get(next.1)?;
        if in_sight(me, e, arena) {
            return Some(e);
        }
    }
}

/// Whether a ray from `me` toward `e` reaches its centre before any obstacle.
fn in_sight(me: Vec2, e: Vec2, arena: &ArenaConfig) -> bool {
    let probe = [tickwire_sim::arena::Hitbox {
        entity: Default::default(),
        center: e,
        radius: 0.01,
    }];
    hit_test(
        me,
        angle_to(me, e),
        e.distance(me) + 1.0,
        &probe,
        &arena.obstacles,
    )
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_netcode::TickRate;
    use tickwire_sim::arena::{GameEvent, Rules, World};

    fn open_arena() -> ArenaConfig {
        ArenaConfig {
            obstacles: Vec::new(),
            prop_count: 0,
            ..ArenaConfig::default()
        }
    }

    #[test]
    fn the_same_seed_plays_the_same_game() {
        let arena = ArenaConfig::default();
        let mut a = Brain::new(Behaviour::Strafe, 9);
        let mut b = Brain::new(Behaviour::Strafe, 9);
        let enemy = [Vec2::new(60.0, 40.0)];
        for i in 0..600 {
            let me = Vec2::new(40.0 + (i as f32 * 0.01).sin(), 40.0);
            assert_eq!(
                a.think(me, &enemy, &arena, 1.0 / 60.0),
                b.think(me, &enemy, &arena, 1.0 / 60.0)
            );
        }
    }

    #[test]
    fn chasers_close_in_and_fire_only_in_range() {
        let arena = open_arena();
        let mut brain = Brain::new(Behaviour::Chase, 1);
        let far = brain.think(
            Vec2::new(10.0, 50.0),
            &[Vec2::new(80.0, 50.0)],
            &arena,
            1.0 / 60.0,
        );
        assert!(far.movement.x > 0.99 && !far.fire, "{far:?}");
        let near = brain.think(
            Vec2::new(10.0, 50.0),
            &[Vec2::new(20.0, 50.0)],
            &arena,
            1.0 / 60.0,
        );
        assert!(near.fire && near.aim_rad.abs() < 1e-6, "{near:?}");
    }

    #[test]
    fn the_nearest_visible_enemy_is_the_one_testing_every_enemy_finds() {
        // The plain way: a line-of-sight test for every enemy in reach, then the nearest.
        let every = |me: Vec2, enemies: &[Vec2], arena: &ArenaConfig| {
            enemies
                .iter()
                .copied()
                .filter(|e| e.distance(me) <= arena.weapon_range_m * 1.5)
                .filter(|e| in_sight(me, *e, arena))
                .min_by(|a, b| a.distance_squared(me).total_cmp(&b.distance_squared(me)))
        };
        let arena = ArenaConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut point = || {
            Vec2::new(
                rng.random_range(0.0..arena.width_m),
                rng.random_range(0.0..arena.height_m),
            )
        };
        let (mut found, mut hidden) = (0, 0);
        for case in 0..2000 {
            let me = point();
            let mut enemies: Vec<Vec2> = (0..case % 40).map(|_| point()).collect();
            // Equal distances too: the first given wins either way.
            if let Some(&e) = enemies.first() {
                enemies.push(me + (me - e));
            }
            let want = every(me, &enemies, &arena);
            assert_eq!(nearest_visible(me, &enemies, &arena), want, "case {case}");
            match want {
                Some(_) => found += 1,
                None if !enemies.is_empty() => hidden += 1,
                None => {}
            }
        }
        // The cases covered both answers.
        assert!(found > 500 && hidden > 20, "{found} found, {hidden} hidden");
    }

    #[test]
    fn walls_hide_enemies() {
        let arena = ArenaConfig::default(); // a wall at x = 30, y = 35..65
        let mut brain = Brain::new(Behaviour::Chase, 1);
        let input = brain.think(
            Vec2::new(20.0, 50.0),
            &[Vec2::new(40.0, 50.0)],
            &arena,
            1.0 / 60.0,
        );
        assert!(!input.fire, "{input:?}");
    }

    #[test]
    fn wanderers_stay_inside_and_a_mixed_crowd_fights() {
        let config = ArenaConfig::default();
        let rules = Rules::new(config.clone(), TickRate::new(60).unwrap()).unwrap();
        let dt = rules.dt_s();
        let mut world = World::new(rules);
        let mut bots: Vec<_> = (0..12)
            .map(|i| {
                (
                    world.spawn_player(),
                    Brain::new(Behaviour::mixed(i), i as u64),
                )
            })
            .collect();
        let mut kills = 0;
        let mut inputs = Vec::new();
        for _ in 0..60 * 60 {
            let alive: Vec<_> = world
                .players()
                .filter(|(_, _, p)| p.is_alive())
                .map(|(id, e, _)| (id, e.pos))
                .collect();
            inputs.clear();
            for (id, brain) in &mut bots {
                let Some(me) = world.get(*id).map(|e| e.pos) else {
                    continue;
                };
                let enemies: Vec<Vec2> = alive
                    .iter()
                    .filter(|(o, _)| o != id)
                    .map(|(_, p)| *p)
                    .collect();
                inputs.push((*id, brain.think(me, &enemies, &config, dt)));
            }
            world.step(&inputs);
            kills += world
                .events()
                .iter()
                .filter(|e| matches!(e, GameEvent::Killed { .. }))
                .count();
        }
        assert!(
            kills >= 5,
            "a minute of a 12-bot match produced only {kills} kills"
        );
        for (_, e, _) in world.players() {
            assert!(e.pos.x > 0.0 && e.pos.x < 100.0 && e.pos.y > 0.0 && e.pos.y < 100.0);
        }
    }
}
