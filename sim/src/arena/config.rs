//! Gameplay values a designer tunes: the arena, players, the weapon and props.
//!
//! Units are in the names: metres (`_m`), seconds (`_s`), metres per second (`_mps`),
//! metres per second squared (`_mps2`), radians per second (`_radps`). The shipped server
//! config documents each key; [`ArenaConfig::default`] holds the same values and a test keeps
//! the two equal.

use serde::{Deserialize, Serialize};
use tickwire_netcode::config::{ConfigError, check_range};

/// An axis-aligned rectangular wall inside the arena, given by its centre and size (metres).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obstacle {
    /// Centre, x (metres from the arena's left edge).
    pub x_m: f32,
    /// Centre, y (metres from the arena's bottom edge).
    pub y_m: f32,
    /// Width along x (metres).
    pub width_m: f32,
    /// Height along y (metres).
    pub height_m: f32,
}

impl Obstacle {
    /// The lower-left corner (metres).
    #[must_use]
    pub fn min(&self) -> glam::Vec2 {
        glam::Vec2::new(
            self.x_m - self.width_m * 0.5,
            self.y_m - self.height_m * 0.5,
        )
    }

    /// The upper-right corner (metres).
    #[must_use]
    pub fn max(&self) -> glam::Vec2 {
        glam::Vec2::new(
            self.x_m + self.width_m * 0.5,
            self.y_m + self.height_m * 0.5,
        )
    }
}

/// Every gameplay value of the arena. Validate with [`ArenaConfig::validate`] (or build
/// [`Rules`](crate::arena::Rules), which does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArenaConfig {
    /// Seed of the world's random generator: spawn points, prop placement, prop kicks.
    pub seed: u64,
    /// Arena width along x (metres).
    pub width_m: f32,
    /// Arena height along y (metres).
    pub height_m: f32,
    /// Static walls; players and props collide with them and they block shots.
    pub obstacles: Vec<Obstacle>,
    /// How many spawn points to place (seeded, clear of obstacles).
    pub spawn_points: u32,
    /// Player collision and hitbox radius (metres).
    pub player_radius_m: f32,
    /// Top running speed (metres per second).
    pub max_speed_mps: f32,
    /// Acceleration from a full-stick input (metres per second squared).
    pub accel_mps2: f32,
    /// Deceleration always applied against motion (metres per second squared).
    pub friction_mps2: f32,
    /// Health of a freshly spawned player (hit points).
    pub max_health: u8,
    /// Damage of one hit (hit points).
    pub weapon_damage: u8,
    /// Reach of the hitscan weapon (metres).
    pub weapon_range_m: f32,
    /// Time between two shots of one player (seconds; rounded to whole ticks).
    pub fire_cooldown_s: f32,
    /// Time a dead player waits before respawning (seconds; rounded to whole ticks).
    pub respawn_s: f32,
    /// How long after being killed a player's shots still count (seconds; rounded to whole
    /// ticks): shots they fired before they could know they were dead, so two players who
    /// shoot each other both score (a trade). 0 = the dead never fire.
    pub trade_window_s: f32,
    /// Number of props placed at start.
    pub prop_count: u32,
    /// Prop radius (metres).
    pub prop_radius_m: f32,
    /// Deceleration of a sliding prop (metres per second squared).
    pub prop_friction_mps2: f32,
    /// Deceleration of a spinning prop (radians per second squared).
    pub prop_spin_friction_radps2: f32,
    /// Fraction of speed kept when a prop bounces off a wall (0 = dead stop, 1 = elastic).
    pub prop_restitution: f32,
    /// Chance per second that a resting prop is kicked into motion (per prop).
    pub prop_kick_per_s: f32,
    /// Speed of a kicked prop (metres per second).
    pub prop_kick_speed_mps: f32,
    /// Largest spin of a kicked prop (radians per second, either direction).
    pub prop_kick_spin_radps: f32,
    /// Speed a player's bump gives a prop, along the contact normal (metres per second).
    pub prop_push_mps: f32,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            // 100 m square: a 64-player deathmatch at 6 m/s crosses it in ~17 s.
            width_m: 100.0,
            height_m: 100.0,
            obstacles: vec![
                Obstacle {
                    x_m: 30.0,
                    y_m: 50.0,
                    width_m: 4.0,
                    height_m: 30.0,
                },
                Obstacle {
                    x_m: 70.0,
                    y_m: 50.0,
                    width_m: 4.0,
                    height_m: 30.0,
                },
                Obstacle {
                    x_m: 50.0,
                    y_m: 20.0,
                    width_m: 20.0,
                    height_m: 4.0,
                },
                Obstacle {
                    x_m: 50.0,
                    y_m: 80.0,
                    width_m: 20.0,
                    height_m: 4.0,
                },
            ],
            spawn_points: 16,
            player_radius_m: 0.5,
            // 6 m/s is a shooter's run speed; 40 m/s² against 20 m/s² of friction reaches it
            // in ~0.3 s and stops in ~0.3 s: responsive but not twitchy.
            max_speed_mps: 6.0,
            accel_mps2: 40.0,
            friction_mps2: 20.0,
            max_health: 100,
            weapon_damage: 25,
            weapon_range_m: 60.0,
            fire_cooldown_s: 0.25,
            respawn_s: 3.0,
            // A shooter learns of their own death a round trip plus their input lead after
            // it happens; 0.5 s covers a 200 ms connection with jitter.
            trade_window_s: 0.5,
            // 500 props, about 2 % moving at a time: the mostly-still crowd delta
            // compression must win on.
            prop_count: 500,
            prop_radius_m: 0.4,
            prop_friction_mps2: 3.0,
            prop_spin_friction_radps2: 4.0,
            prop_restitution: 0.6,
            prop_kick_per_s: 0.02,
            prop_kick_speed_mps: 3.0,
            prop_kick_spin_radps: 6.0,
            prop_push_mps: 4.0,
        }
    }
}

impl ArenaConfig {
    /// Checks every value against its allowed range and the obstacles against the arena.
    ///
    /// # Errors
    /// The first [`ConfigError`] found; its key is relative to this section (`max_speed_mps`,
    /// `obstacles[2].x_m`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Self {
            seed: _,
            width_m,
            height_m,
            obstacles,
            spawn_points,
            player_radius_m,
            max_speed_mps,
            accel_mps2,
            friction_mps2,
            max_health,
            weapon_damage,
            weapon_range_m,
            fire_cooldown_s,
            respawn_s,
            trade_window_s,
            prop_count,
            prop_radius_m,
            prop_friction_mps2,
            prop_spin_friction_radps2,
            prop_restitution,
            prop_kick_per_s,
            prop_kick_speed_mps,
            prop_kick_spin_radps,
            prop_push_mps,
        } = self;
        check_range("width_m", *width_m, 10.0..=10_000.0)?;
        check_range("height_m", *height_m, 10.0..=10_000.0)?;
        check_range("spawn_points", *spawn_points, 1..=1024)?;
        let max_radius = width_m.min(*height_m) / 4.0;
        check_range(
            "player_radius_m",
            *player_radius_m,
            0.05..=max_radius.min(5.0),
        )?;
        check_range("max_speed_mps", *max_speed_mps, 0.0..=100.0)?;
        check_range("accel_mps2", *accel_mps2, 0.0..=1000.0)?;
        check_range("friction_mps2", *friction_mps2, 0.0..=1000.0)?;
        check_range("max_health", *max_health, 1..=u8::MAX)?;
        check_range("weapon_damage", *weapon_damage, 0..=u8::MAX)?;
        check_range("weapon_range_m", *weapon_range_m, 0.0..=10_000.0)?;
        check_range("fire_cooldown_s", *fire_cooldown_s, 0.0..=60.0)?;
        check_range("respawn_s", *respawn_s, 0.0..=600.0)?;
        check_range(
            "trade_window_s",
            *trade_window_s,
            0.0..=(*respawn_s).min(1.0),
        )?;
        check_range("prop_count", *prop_count, 0..=100_000)?;
        check_range("prop_radius_m", *prop_radius_m, 0.05..=max_radius.min(10.0))?;
        check_range("prop_friction_mps2", *prop_friction_mps2, 0.0..=1000.0)?;
        check_range(
            "prop_spin_friction_radps2",
            *prop_spin_friction_radps2,
            0.0..=1000.0,
        )?;
        check_range("prop_restitution", *prop_restitution, 0.0..=1.0)?;
        check_range("prop_kick_per_s", *prop_kick_per_s, 0.0..=10.0)?;
        check_range("prop_kick_speed_mps", *prop_kick_speed_mps, 0.0..=100.0)?;
        check_range("prop_kick_spin_radps", *prop_kick_spin_radps, 0.0..=100.0)?;
        check_range("prop_push_mps", *prop_push_mps, 0.0..=100.0)?;
        for (i, o) in obstacles.iter().enumerate() {
            let key = |field: &str| format!("obstacles[{i}].{field}");
            check_range(&key("x_m"), o.x_m, 0.0..=*width_m)?;
            check_range(&key("y_m"), o.y_m, 0.0..=*height_m)?;
            check_range(&key("width_m"), o.width_m, 0.1..=*width_m)?;
            check_range(&key("height_m"), o.height_m, 0.1..=*height_m)?;
        }
        Ok(())
    }
}

impl tickwire_netcode::game::GameConfig for ArenaConfig {
    const DEFAULT_TOML: &'static str = include_str!("../../config/arena.toml");

    fn validate(&self) -> Result<(), ConfigError> {
        Self::validate(self)
    }

    /// The arena's shape: what is placed when the world is made (its size, walls, spawn
    /// points, props) and the player radius its spawn points were placed clear with.
    fn restart_keys(&self, new: &Self) -> Vec<&'static str> {
        let (a, b) = (self, new);
        tickwire_netcode::game::changed_keys([
            ("seed", a.seed != b.seed),
            ("width_m", a.width_m != b.width_m),
            ("height_m", a.height_m != b.height_m),
            ("obstacles", a.obstacles != b.obstacles),
            ("spawn_points", a.spawn_points != b.spawn_points),
            ("prop_count", a.prop_count != b.prop_count),
            ("player_radius_m", a.player_radius_m != b.player_radius_m),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        ArenaConfig::default().validate().unwrap();
    }

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        use tickwire_netcode::game::GameConfig;
        let documented: ArenaConfig = toml::from_str(ArenaConfig::DEFAULT_TOML).unwrap();
        assert_eq!(documented, ArenaConfig::default());
    }

    #[test]
    fn each_bad_value_is_named() {
        type Edit = fn(&mut ArenaConfig);
        let cases: &[(&str, Edit)] = &[
            ("width_m", |c| c.width_m = 0.0),
            ("height_m", |c| c.height_m = f32::NAN),
            ("spawn_points", |c| c.spawn_points = 0),
            ("player_radius_m", |c| c.player_radius_m = 40.0),
            ("max_speed_mps", |c| c.max_speed_mps = -1.0),
            ("accel_mps2", |c| c.accel_mps2 = f32::INFINITY),
            ("friction_mps2", |c| c.friction_mps2 = -0.1),
            ("max_health", |c| c.max_health = 0),
            ("weapon_range_m", |c| c.weapon_range_m = -5.0),
            ("fire_cooldown_s", |c| c.fire_cooldown_s = 61.0),
            ("respawn_s", |c| c.respawn_s = -1.0),
            ("trade_window_s", |c| c.trade_window_s = 1.5),
            ("prop_count", |c| c.prop_count = 1_000_000),
            ("prop_radius_m", |c| c.prop_radius_m = 0.0),
            ("prop_friction_mps2", |c| c.prop_friction_mps2 = -1.0),
            ("prop_spin_friction_radps2", |c| {
                c.prop_spin_friction_radps2 = -1.0
            }),
            ("prop_restitution", |c| c.prop_restitution = 1.5),
            ("prop_kick_per_s", |c| c.prop_kick_per_s = -0.5),
            ("prop_kick_speed_mps", |c| c.prop_kick_speed_mps = 1000.0),
            ("prop_kick_spin_radps", |c| c.prop_kick_spin_radps = -1.0),
            ("prop_push_mps", |c| c.prop_push_mps = f32::NAN),
            ("obstacles[1].x_m", |c| c.obstacles[1].x_m = 500.0),
            ("obstacles[0].width_m", |c| c.obstacles[0].width_m = 0.0),
        ];
        for (key, edit) in cases {
            let mut config = ArenaConfig::default();
            edit(&mut config);
            let err = config.validate().expect_err(key);
            assert_eq!(err.key(), *key, "{err}");
        }
    }
}
