//! Validated gameplay values, with durations converted to ticks for one tick rate.

use tickwire_netcode::{ConfigError, TickRate};

use crate::arena::config::ArenaConfig;

/// An [`ArenaConfig`] that passed validation, bound to the tick rate the world steps at.
///
/// Holding a `Rules` proves the values were checked: it can only be built by [`Rules::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    config: ArenaConfig,
    tick_rate: TickRate,
    dt_s: f32,
    fire_cooldown_ticks: u32,
    respawn_ticks: u32,
    trade_window_ticks: u32,
    prop_kick_chance_per_tick: f32,
}

impl Rules {
    /// Validates `config` and binds it to `tick_rate`.
    ///
    /// # Errors
    /// The first invalid value, as [`ArenaConfig::validate`] reports it.
    pub fn new(config: ArenaConfig, tick_rate: TickRate) -> Result<Self, ConfigError> {
        config.validate()?;
        let dt_s = tick_rate.dt_secs();
        Ok(Self {
            fire_cooldown_ticks: tick_rate.ticks_in_secs(config.fire_cooldown_s),
            respawn_ticks: tick_rate.ticks_in_secs(config.respawn_s),
            trade_window_ticks: tick_rate.ticks_in_secs(config.trade_window_s),
            prop_kick_chance_per_tick: (config.prop_kick_per_s * dt_s).min(1.0),
            config,
            tick_rate,
            dt_s,
        })
    }

    /// The gameplay values.
    #[must_use]
    pub fn config(&self) -> &ArenaConfig {
        &self.config
    }

    /// The tick rate the world steps at.
    #[must_use]
    pub fn tick_rate(&self) -> TickRate {
        self.tick_rate
    }

    /// Length of one step (seconds).
    #[must_use]
    pub fn dt_s(&self) -> f32 {
        self.dt_s
    }

    /// Ticks between two shots of one player.
    #[must_use]
    pub fn fire_cooldown_ticks(&self) -> u32 {
        self.fire_cooldown_ticks
    }

    /// Ticks a dead player waits before respawning.
    #[must_use]
    pub fn respawn_ticks(&self) -> u32 {
        self.respawn_ticks
    }

    /// Ticks after death during which a player's shots still count.
    #[must_use]
    pub fn trade_window_ticks(&self) -> u32 {
        self.trade_window_ticks
    }

    /// Chance per tick that a resting prop is kicked (0..=1).
    #[must_use]
    pub fn prop_kick_chance_per_tick(&self) -> f32 {
        self.prop_kick_chance_per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_become_ticks() {
        let rules = Rules::new(ArenaConfig::default(), TickRate::new(60).unwrap()).unwrap();
        assert_eq!(rules.fire_cooldown_ticks(), 15);
        assert_eq!(rules.respawn_ticks(), 180);
        assert!((rules.dt_s() - 1.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn invalid_config_is_refused() {
        let config = ArenaConfig {
            max_speed_mps: -3.0,
            ..ArenaConfig::default()
        };
        let err = Rules::new(config, TickRate::new(60).unwrap()).unwrap_err();
        assert_eq!(err.key(), "max_speed_mps");
    }
}
