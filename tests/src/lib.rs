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

/// Bots for `server` as the end-to-end tests run them: `bots` of them joining over
/// `ramp`, into `room` if it names one, seeded with `seed`; trusting the server by its
/// certificate's fingerprint, 60 frames a second, clean links, no seat tokens (set
/// `links` and `token_key` on the result for more).
///
/// # Panics
/// If the server's address or fingerprint cannot be read: a bug in the test.
#[must_use]
#[allow(clippy::expect_used)] // test helper: the server was just started
pub fn swarm_for(
    server: &tickwire_server::Server,
    bots: usize,
    ramp: std::time::Duration,
    room: Option<&str>,
    seed: u64,
) -> tickwire_bot::swarm::SwarmConfig {
    use tickwire_netcode::quic::{GameTransport, ServerTrust, parse_fingerprint};
    tickwire_bot::swarm::SwarmConfig {
        server: server.game_addr().expect("the server's address"),
        server_name: "localhost".to_owned(),
        trust: ServerTrust::Fingerprint(
            parse_fingerprint(&server.identity().fingerprint()).expect("its fingerprint"),
        ),
        bots,
        ramp,
        room: room.map(str::to_owned),
        seed,
        links: None,
        fps: 60,
        transport: GameTransport::default(),
        token_key: None,
    }
}
