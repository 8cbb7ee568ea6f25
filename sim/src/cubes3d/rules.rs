//! Validated cubes3d values, with what the physics needs per tick precomputed.

use tickwire_netcode::{ConfigError, TickRate};

use super::config::CubesConfig;

/// A [`CubesConfig`] that passed validation, bound to the tick rate the world steps at.
#[derive(Clone, Debug, PartialEq)]
pub struct CubesRules {
    config: CubesConfig,
    tick_rate: TickRate,
    dt_s: f32,
    sleep_ticks: u32,
    /// Half a cube's edge (metres).
    half: f32,
    /// A cube's inverse moment of inertia for unit mass: 6 / edge² (a cube's inertia is the
    /// same about every axis through its centre).
    inv_inertia: f32,
    /// Velocity kept per tick under damping.
    keep_vel: f32,
    /// Spin kept per tick under damping.
    keep_spin: f32,
}

impl CubesRules {
    /// Validates `config` and binds it to `tick_rate`.
    ///
    /// # Errors
    /// The first invalid value, as [`CubesConfig::validate`] reports it.
    pub fn new(config: CubesConfig, tick_rate: TickRate) -> Result<Self, ConfigError> {
        config.validate()?;
        let dt_s = tick_rate.dt_secs();
        let half = config.cube_size_m * 0.5;
        Ok(Self {
            sleep_ticks: tick_rate.ticks_in_secs(config.sleep_after_s).max(1),
            inv_inertia: 6.0 / (config.cube_size_m * config.cube_size_m),
            keep_vel: (1.0 - config.cube_damping_per_s * dt_s).clamp(0.0, 1.0),
            keep_spin: (1.0 - config.cube_spin_damping_per_s * dt_s).clamp(0.0, 1.0),
            half,
            config,
            tick_rate,
            dt_s,
        })
    }

    /// The values.
    #[must_use]
    pub fn config(&self) -> &CubesConfig {
        &self.config
    }

    /// The tick rate.
    #[must_use]
    pub fn tick_rate(&self) -> TickRate {
        self.tick_rate
    }

    /// One tick (seconds).
    #[must_use]
    pub fn dt_s(&self) -> f32 {
        self.dt_s
    }

    /// Ticks a cube must stay still before it sleeps.
    #[must_use]
    pub fn sleep_ticks(&self) -> u32 {
        self.sleep_ticks
    }

    /// Half a cube's edge (metres).
    #[must_use]
    pub fn half(&self) -> f32 {
        self.half
    }

    /// Half a pusher's edge (metres).
    #[must_use]
    pub fn pusher_half(&self) -> f32 {
        self.config.pusher_size_m * 0.5
    }

    /// A cube's inverse moment of inertia (unit mass).
    #[must_use]
    pub fn inv_inertia(&self) -> f32 {
        self.inv_inertia
    }

    /// Velocity kept per tick.
    #[must_use]
    pub fn keep_vel(&self) -> f32 {
        self.keep_vel
    }

    /// Spin kept per tick.
    #[must_use]
    pub fn keep_spin(&self) -> f32 {
        self.keep_spin
    }
}
