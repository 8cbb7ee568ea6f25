//! Gameplay values of cubes3d a designer tunes: the floor, the cubes' physics, the pushers.
//!
//! Units are in the names, as in the arena. The shipped file `sim/config/cubes3d.toml`
//! documents each key; [`CubesConfig::default`] holds the same values and a test keeps the
//! two equal.

use serde::{Deserialize, Serialize};
use tickwire_netcode::config::{ConfigError, check_range};
use tickwire_netcode::game::GameConfig;

/// Every gameplay value of cubes3d. Validate with [`CubesConfig::validate`] (or build
/// [`CubesRules`](super::rules::CubesRules), which does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CubesConfig {
    /// Seed of the world's random generator (spawn points).
    pub seed: u64,
    /// Floor size along x (metres).
    pub floor_width_m: f32,
    /// Floor size along y (metres).
    pub floor_depth_m: f32,
    /// Cubes in the starting grid.
    pub cube_count: u32,
    /// A cube's edge (metres).
    pub cube_size_m: f32,
    /// Distance between neighbouring cubes' centres in the starting grid (metres).
    pub cube_spacing_m: f32,
    /// Gravity (metres per second squared).
    pub gravity_mps2: f32,
    /// Fraction of speed kept in a bounce.
    pub cube_restitution: f32,
    /// Friction coefficient of cubes on the floor and on each other.
    pub cube_friction: f32,
    /// Fraction of a cube's speed lost per second.
    pub cube_damping_per_s: f32,
    /// Fraction of a cube's spin lost per second.
    pub cube_spin_damping_per_s: f32,
    /// Speed under which a cube counts as still (metres per second).
    pub sleep_speed_mps: f32,
    /// Spin under which a cube counts as still (radians per second).
    pub sleep_spin_radps: f32,
    /// How long a cube stays still before it sleeps (seconds).
    pub sleep_after_s: f32,
    /// Spawn points for pushers, around the edge of the floor.
    pub spawn_points: u32,
    /// A pusher's edge (metres).
    pub pusher_size_m: f32,
    /// A pusher's top speed (metres per second).
    pub pusher_max_speed_mps: f32,
    /// How fast a pusher's velocity follows the stick (metres per second squared).
    pub pusher_accel_mps2: f32,
    /// How fast a pusher turns to face where it goes (radians per second).
    pub pusher_turn_radps: f32,
    /// Fraction of a pusher's approach speed a cube bounces off with.
    pub push_restitution: f32,
    /// How much of a push's sideways scrape becomes tumble.
    pub push_tumble: f32,
}

impl Default for CubesConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            floor_width_m: 64.0,
            floor_depth_m: 64.0,
            cube_count: 901,
            cube_size_m: 1.0,
            cube_spacing_m: 1.5,
            gravity_mps2: 9.81,
            cube_restitution: 0.2,
            cube_friction: 0.6,
            cube_damping_per_s: 0.2,
            cube_spin_damping_per_s: 1.0,
            sleep_speed_mps: 0.1,
            sleep_spin_radps: 0.4,
            sleep_after_s: 0.3,
            spawn_points: 16,
            pusher_size_m: 2.0,
            pusher_max_speed_mps: 8.0,
            pusher_accel_mps2: 30.0,
            pusher_turn_radps: 6.0,
            push_restitution: 0.3,
            push_tumble: 0.6,
        }
    }
}

impl CubesConfig {
    /// Cubes per row of the starting grid (the grid is as square as the count allows).
    #[must_use]
    pub fn grid_columns(&self) -> u32 {
        let mut columns = (f64::from(self.cube_count)).sqrt().ceil() as u32;
        while columns > 1 && (columns - 1) * (columns - 1) >= self.cube_count {
            columns -= 1;
        }
        columns.max(1)
    }

    /// Checks every value against its range, and that the starting grid fits on the floor.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, its key relative to the `[game]` section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Self {
            seed: _,
            floor_width_m,
            floor_depth_m,
            cube_count,
            cube_size_m,
            cube_spacing_m,
            gravity_mps2,
            cube_restitution,
            cube_friction,
            cube_damping_per_s,
            cube_spin_damping_per_s,
            sleep_speed_mps,
            sleep_spin_radps,
            sleep_after_s,
            spawn_points,
            pusher_size_m,
            pusher_max_speed_mps,
            pusher_accel_mps2,
            pusher_turn_radps,
            push_restitution,
            push_tumble,
        } = self;
        check_range("floor_width_m", *floor_width_m, 10.0..=1000.0)?;
        check_range("floor_depth_m", *floor_depth_m, 10.0..=1000.0)?;
        check_range("cube_count", *cube_count, 0..=20_000)?;
        check_range("cube_size_m", *cube_size_m, 0.1..=4.0)?;
        check_range("cube_spacing_m", *cube_spacing_m, *cube_size_m..=100.0)?;
        let span = (self.grid_columns().saturating_sub(1)) as f32 * cube_spacing_m + cube_size_m;
        if span > floor_width_m.min(*floor_depth_m) {
            return Err(ConfigError::invalid(
                "cube_count",
                cube_count,
                format!(
                    "a grid of {cube_count} cubes {cube_spacing_m} m apart is {span} m wide: \
                     larger than the floor (fewer cubes, closer, or a larger floor)"
                ),
            ));
        }
        check_range("gravity_mps2", *gravity_mps2, 0.0..=100.0)?;
        check_range("cube_restitution", *cube_restitution, 0.0..=1.0)?;
        check_range("cube_friction", *cube_friction, 0.0..=2.0)?;
        check_range("cube_damping_per_s", *cube_damping_per_s, 0.0..=100.0)?;
        check_range(
            "cube_spin_damping_per_s",
            *cube_spin_damping_per_s,
            0.0..=100.0,
        )?;
        check_range("sleep_speed_mps", *sleep_speed_mps, 0.0..=10.0)?;
        check_range("sleep_spin_radps", *sleep_spin_radps, 0.0..=100.0)?;
        check_range("sleep_after_s", *sleep_after_s, 0.0..=10.0)?;
        check_range("spawn_points", *spawn_points, 1..=1024)?;
        let max_pusher = (floor_width_m.min(*floor_depth_m) / 4.0).min(10.0);
        check_range("pusher_size_m", *pusher_size_m, 0.2..=max_pusher)?;
        check_range("pusher_max_speed_mps", *pusher_max_speed_mps, 0.0..=50.0)?;
        check_range("pusher_accel_mps2", *pusher_accel_mps2, 0.0..=1000.0)?;
        check_range("pusher_turn_radps", *pusher_turn_radps, 0.0..=100.0)?;
        check_range("push_restitution", *push_restitution, 0.0..=1.0)?;
        check_range("push_tumble", *push_tumble, 0.0..=5.0)?;
        Ok(())
    }
}

impl GameConfig for CubesConfig {
    const DEFAULT_TOML: &'static str = include_str!("../../config/cubes3d.toml");
    /// Cubes tumble fast: clients are sent every tick of a 60 Hz server.
    const SERVER_TOML: &'static str = "[tick]\nsnapshot_hz = 60\n";

    fn validate(&self) -> Result<(), ConfigError> {
        Self::validate(self)
    }

    /// The world's shape: what is laid out when it is made, and the floor the position
    /// fields' widths follow.
    fn restart_keys(&self, new: &Self) -> Vec<&'static str> {
        let (a, b) = (self, new);
        tickwire_netcode::game::changed_keys([
            ("seed", a.seed != b.seed),
            ("floor_width_m", a.floor_width_m != b.floor_width_m),
            ("floor_depth_m", a.floor_depth_m != b.floor_depth_m),
            ("cube_count", a.cube_count != b.cube_count),
            ("cube_size_m", a.cube_size_m != b.cube_size_m),
            ("cube_spacing_m", a.cube_spacing_m != b.cube_spacing_m),
            ("spawn_points", a.spawn_points != b.spawn_points),
            ("pusher_size_m", a.pusher_size_m != b.pusher_size_m),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_are_the_defaults_and_valid() {
        let documented: CubesConfig = toml::from_str(CubesConfig::DEFAULT_TOML).unwrap();
        assert_eq!(documented, CubesConfig::default());
        documented.validate().unwrap();
    }

    #[test]
    fn each_bad_value_is_named() {
        type Edit = fn(&mut CubesConfig);
        let cases: &[(&str, Edit)] = &[
            ("floor_width_m", |c| c.floor_width_m = 5.0),
            ("cube_count", |c| c.cube_count = 50_000),
            ("cube_count", |c| c.cube_spacing_m = 10.0),
            ("cube_size_m", |c| c.cube_size_m = f32::NAN),
            ("cube_spacing_m", |c| c.cube_spacing_m = 0.5),
            ("gravity_mps2", |c| c.gravity_mps2 = -1.0),
            ("cube_restitution", |c| c.cube_restitution = 1.5),
            ("sleep_after_s", |c| c.sleep_after_s = f32::INFINITY),
            ("spawn_points", |c| c.spawn_points = 0),
            ("pusher_size_m", |c| c.pusher_size_m = 20.0),
            ("pusher_max_speed_mps", |c| c.pusher_max_speed_mps = 60.0),
            ("push_tumble", |c| c.push_tumble = -1.0),
        ];
        for (key, edit) in cases {
            let mut config = CubesConfig::default();
            edit(&mut config);
            let err = config.validate().expect_err(key);
            assert_eq!(err.key(), *key, "{err}");
        }
    }

    #[test]
    fn the_grid_is_as_square_as_the_count_allows() {
        let columns = |n| {
            CubesConfig {
                cube_count: n,
                ..CubesConfig::default()
            }
            .grid_columns()
        };
        assert_eq!(
            [columns(0), columns(1), columns(900), columns(901)],
            [1, 1, 30, 31]
        );
    }
}
