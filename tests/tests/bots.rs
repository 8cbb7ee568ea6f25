//! The bot swarm against a real server on 127.0.0.1: real QUIC over real UDP, the server's
//! own figures read from its admin address over HTTP.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use tickwire_bot::load_test::{self, Plan};
use tickwire_bot::report::Report;
use tickwire_bot::swarm::SwarmConfig;
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_netcode::token::KeySet;
use tickwire_server::Server;
use tickwire_sim::arena::Arena;

/// Starts a server on loopback and runs `bots` bots on it for `duration` behind `links`;
/// with `tokens`, the server admits only seat tokens and each bot mints its own.
async fn load_test(
    bots: usize,
    duration: Duration,
    links: Option<(LinkConfig, LinkConfig)>,
    tokens: bool,
) -> Report {
    load_test_of::<Arena>(bots, duration, links, tokens, &["game.prop_count=40"]).await
}

/// [`load_test`] of game `G`, with `game_sets` for its values.
async fn load_test_of<G: tickwire_bot::BotGame>(
    bots: usize,
    duration: Duration,
    links: Option<(LinkConfig, LinkConfig)>,
    tokens: bool,
    game_sets: &[&str],
) -> Report {
    let keys_dir = tempfile::tempdir().unwrap();
    let key_file = keys_dir.path().join("keys.toml");
    let mut keys = KeySet::default();
    let key = keys.add_new().unwrap().clone();
    std::fs::write(&key_file, keys.to_toml()).unwrap();
    let key_file_set = format!("auth.key_file={}", key_file.display());
    let game = format!("server.game={}", G::NAME);
    let mut sets = vec![
        game.as_str(),
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "server.rooms=2",
        "server.max_clients_per_room=8",
    ];
    sets.extend(game_sets);
    if tokens {
        sets.extend(["auth.mode=token", key_file_set.as_str()]);
    }
    let config = tickwire_tests::game_config_with::<G::Config>(&sets);
    let server = Server::start::<G>(&config).await.unwrap();
    let swarm = SwarmConfig {
        links,
        token_key: tokens.then(|| Arc::new(key)),
        ..tickwire_tests::swarm_for(&server, bots, Duration::from_millis(500), None, 7)
    };
    let plan = Plan {
        duration,
        admin: Some(server.admin_addr()),
        profile: "test".to_owned(),
        sample_every: Duration::from_millis(500),
    };
    let mut samples = 0;
    let report = load_test::run::<G>(&swarm, &plan, &mut |_, _| samples += 1)
        .await
        .unwrap();
    assert!(samples >= 6, "{samples} samples");
    server.shutdown("test over").await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_bots_with_seat_tokens_play_and_the_report_says_what_they_felt() {
    let report = load_test(16, Duration::from_secs(5), None, true).await;
    let b = &report.bots;
    assert_eq!(
        (b.requested, b.connected, b.failed, b.dropped),
        (16, 16, 0, 0),
        "{:?}",
        report.failures
    );
    assert_eq!((report.tick_hz, report.snapshot_hz), (60, 30));
    assert!(
        report.snapshots_per_s_per_bot.p50 >= 27.0,
        "{:?}",
        report.snapshots_per_s_per_bot
    );
    assert!(
        report.down_kbit_per_s_per_bot.p50 > 5.0,
        "{:?}",
        report.down_kbit_per_s_per_bot
    );
    assert!(
        report.up_kbit_per_s_per_bot.p50 > 5.0,
        "{:?}",
        report.up_kbit_per_s_per_bot
    );
    assert!(
        report.rtt_ms.p50 > 0.0 && report.rtt_ms.p50 < 50.0,
        "{:?}",
        report.rtt_ms
    );
    // The server's own figures, from its /status.
    let server = report.server.as_ref().expect("server figures");
    assert_eq!(server.clients, 16);
    assert_eq!(server.rooms, 2);
    assert!(server.tick_us.p50 > 0.0 && server.tick_us.max >= server.tick_us.p99);
    assert!(server.rss_bytes.unwrap() > 1 << 20);
    // Bots shot each other, and what they saw hit the server confirmed.
    if report.hits_judged >= 10 {
        assert!(
            report.hits_confirmed_fraction >= 0.9,
            "{} of {} confirmed",
            report.hits_confirmed_fraction,
            report.hits_judged
        );
    }
    // A sample every 0.5 s over 5 s; the last may fall on the end of the run or just after.
    assert!(
        (9..=10).contains(&report.timeline.len()),
        "{} samples",
        report.timeline.len()
    );
    // The generator watched its own frame clock and CPU: 16 bots are light work, and a
    // frame is rarely a whole interval late.
    let g = &report.load_generator;
    assert!(g.frame_lateness_ms.p50 > 0.0, "no frames timed: {g:?}");
    assert!(g.frames_on_time_fraction > 0.5, "{g:?}");
    if cfg!(target_os = "linux") {
        assert!(g.cpu_cores.is_some_and(|c| c > 0.0), "{g:?}");
        assert!(
            g.machine_busy_fraction.is_some_and(|b| b > 0.0 && b <= 1.0),
            "{g:?}"
        );
        // Both ends' sockets report what the kernel dropped (the counting itself is tested
        // in netcode's `udp`; whether a busy test machine overflows one is not this test's).
        assert!(g.udp_receive_drops.is_some(), "{g:?}");
        assert!(server.udp_receive_drops.is_some(), "{server:?}");
    }
    // The page draws the timeline with the shared chart code; the server's per-second
    // windows are in its data (the browser test draws them).
    let html = report.html();
    assert!(html.contains("TickwireCharts.line"));
    assert!(
        report
            .timeline
            .iter()
            .any(|s| s.server_tick_us_1s_p99.is_some_and(|v| v > 0.0)),
        "{:?}",
        report.timeline
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_profile_on_the_bots_sockets_is_what_quic_measures() {
    // 100 ms round trip, no loss: QUIC's own RTT estimate must see the conditioned delay.
    let link = LinkConfig::symmetric(Duration::from_millis(100), Duration::ZERO, 0.0);
    let report = load_test(4, Duration::from_secs(4), Some((link, link)), false).await;
    assert_eq!(report.bots.connected, 4, "{:?}", report.failures);
    assert!(
        (95.0..140.0).contains(&report.rtt_ms.p50),
        "RTT {:?} through a 100 ms link",
        report.rtt_ms
    );
    assert!(
        report.snapshots_per_s_per_bot.p50 >= 25.0,
        "{:?}",
        report.snapshots_per_s_per_bot
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cubes3d_bots_drive_over_quic_at_sixty_snapshots_a_second_without_corrections() {
    use tickwire_sim::cubes3d::Cubes3d;
    let report = load_test_of::<Cubes3d>(6, Duration::from_secs(4), None, false, &[]).await;
    let b = &report.bots;
    assert_eq!(
        (b.requested, b.connected, b.dropped),
        (6, 6, 0),
        "{:?}",
        report.failures
    );
    assert_eq!(
        (report.tick_hz, report.snapshot_hz),
        (60, 60),
        "cubes3d's own default"
    );
    assert!(
        report.snapshots_per_s_per_bot.p50 >= 50.0,
        "{:?}",
        report.snapshots_per_s_per_bot
    );
    assert_eq!(report.corrections_per_min, 0.0);
    let server = report.server.as_ref().expect("server figures");
    assert_eq!(server.clients, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_of_another_game_are_told_which_game_the_server_plays() {
    use tickwire_sim::cubes3d::Cubes3d;
    let config = tickwire_tests::config_with(&[
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "game.prop_count=10",
    ]);
    let server = Server::start::<Arena>(&config).await.unwrap();
    let swarm = tickwire_tests::swarm_for(&server, 2, Duration::ZERO, None, 1);
    let plan = Plan {
        duration: Duration::from_secs(2),
        admin: None,
        profile: "test".to_owned(),
        sample_every: Duration::from_millis(500),
    };
    let report = load_test::run::<Cubes3d>(&swarm, &plan, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.bots.connected, 0);
    let why: Vec<_> = report.failures.keys().collect();
    assert!(
        why.iter()
            .any(|w| w.contains("plays \"arena\"") && w.contains("\"cubes3d\"")),
        "{why:?}"
    );
    server.shutdown("test over").await;
}
