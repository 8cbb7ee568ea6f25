//! End-to-end tests across Tickwire's crates live in `tests/`; this library holds helpers
//! they share.
#![forbid(unsafe_code)]

pub mod browser;
pub mod harness;

use tickwire_netcode::game::GameConfig;
use tickwire_server::{ConfigLayers, ServerConfig};
use tickwire_sim::arena::ArenaConfig;

/// The embedded default configuration with `overrides` (`key=value`) applied, as a test
/// would pass them on the command line.
///
/// # Panics
/// If an override is malformed or makes the configuration invalid: a bug in the test.
#[must_use]
#[allow(clippy::expect_used)] // test helper: a bad override is a bug in the test
pub fn config_with(overrides: &[&str]) -> ServerConfig<ArenaConfig> {
    game_config_with(overrides)
}

/// [`config_with`] for a game configured by a `C` (set `server.game` in `overrides`).
///
/// # Panics
/// If an override is malformed or makes the configuration invalid: a bug in the test.
#[must_use]
#[allow(clippy::expect_used)] // test helper: a bad override is a bug in the test
pub fn game_config_with<C: GameConfig>(overrides: &[&str]) -> ServerConfig<C> {
    let mut layers = ConfigLayers::new();
    // Debug-build rooms of many parallel tests on normal scheduling: a slow tick under
    // SCHED_FIFO would take a core from the test's own client threads.
    layers
        .set("tick.realtime_priority=0", "test")
        .expect("override applies");
    for assignment in overrides {
        layers.set(assignment, "test").expect("override applies");
    }
    layers.load().expect("test config is valid")
}
