//! Health and allocation as the tick loops and the fleet see them, in process against the
//! real Agones SDK server (local mode): a stalled room stops the health pings within two
//! periods while the other room keeps ticking, and they resume when it does; an allocation
//! reaches the server with its match's settings; with `agones.shutdown_when_empty` the
//! match's last player leaving ends it. Skips, saying why, where the SDK server is absent.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::{Duration, Instant};

use tickwire_netcode::protocol::{Hello, PROTOCOL_VERSION};
use tickwire_server::Server;
use tickwire_server::agones::local::{self, LocalSdkServer};
use tickwire_server::agones::{FleetEvent, SdkClient};
use tickwire_server::room::RoomCommand;
use tickwire_sim::arena::Arena;
use tickwire_tests::config_with;
use tickwire_tests::harness::client_endpoint;

/// The local SDK server with a GameServer of a one-second health period and an
/// allocation's annotations; `None`, saying why, where there is none.
fn sdk_server() -> Option<LocalSdkServer> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = match local::find(&root) {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let game_server = local::game_server_yaml(
        "tickwire-stall",
        1,
        &[
            ("tickwire.dev/match", "match-7"),
            ("tickwire.dev/set.net.interpolation_delay_ms", "80"),
        ],
    );
    Some(LocalSdkServer::start_with(&binary, &game_server).unwrap())
}

/// A server on loopback in the fleet of `sdk_server` (20 props, `extra` settings) and what
/// the fleet asks of it.
async fn fleet_server(
    sdk_server: &LocalSdkServer,
    extra: &[&str],
) -> (Server, tokio::sync::mpsc::UnboundedReceiver<FleetEvent>) {
    let port = format!("agones.sdk_http_port={}", sdk_server.http_port);
    let mut sets = vec![
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "game.prop_count=20",
        "agones.enabled=true",
        port.as_str(),
    ];
    sets.extend(extra);
    let mut server = Server::start::<Arena>(&config_with(&sets)).await.unwrap();
    let fleet = server.take_fleet_events().unwrap();
    (server, fleet)
}

/// Waits until the server told Agones it is Ready (a fleet allocates only Ready servers).
async fn ready(sdk: &SdkClient) {
    let deadline = Instant::now() + Duration::from_secs(5);
    // A call can fail while the SDK server is still starting (a loaded machine): that is
    // "not Ready yet", not a failure of the test.
    while !sdk
        .game_server()
        .await
        .is_ok_and(|g| g.status.state == "Ready")
    {
        assert!(Instant::now() < deadline, "never Ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_room_stops_health_pings_within_two_periods_and_they_resume() {
    let Some(sdk_server) = sdk_server() else {
        return;
    };
    let (server, mut fleet) = fleet_server(&sdk_server, &["server.rooms=2"]).await;
    let period = Duration::from_secs(1);
    let pings = || sdk_server.times_of("Health Ping Received");

    // Pinging while both rooms tick (twice a period).
    tokio::time::sleep(3 * period).await;
    let before = pings().len();
    assert!(before >= 3, "{before} pings in 3 s");

    // Room 0 wedges for 4 periods; room 1 keeps ticking.
    let stalled_at = Instant::now();
    server.rooms()[0]
        .send(RoomCommand::Stall(4 * period))
        .unwrap();
    tokio::time::sleep(4 * period + period / 2).await;
    let ticks_of_room_1 = server.rooms()[1].summary().ticks;
    let during: Vec<Duration> = pings()
        .iter()
        .filter(|at| **at > stalled_at)
        .map(|at| at.duration_since(stalled_at))
        .filter(|since| *since < 4 * period)
        .collect();
    let stopped_after = during.last().copied().unwrap_or_default();
    eprintln!(
        "room 0 stalled: last ping {stopped_after:?} after the stall began (period {period:?}); \
         pings during the stall: {during:?}"
    );
    assert!(stopped_after <= 2 * period, "{during:?}");
    assert!(
        during.iter().all(|d| *d <= 2 * period),
        "pinged while a room was wedged: {during:?}"
    );
    // The other room ticked on time all along.
    tokio::time::sleep(period).await;
    assert!(server.rooms()[1].summary().ticks >= ticks_of_room_1 + 50);

    // It recovers: pings resume within a period of the room ticking again.
    let resumed = pings()
        .iter()
        .filter(|at| at.duration_since(stalled_at) > 4 * period)
        .count();
    assert!(resumed >= 1, "no ping since the room recovered");

    // Allocation reaches the server with the match's settings.
    let sdk = SdkClient::new(sdk_server.http_port);
    ready(&sdk).await;
    sdk.allocate().await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), fleet.recv())
        .await
        .unwrap()
        .unwrap();
    let FleetEvent::Allocated(settings) = event else {
        panic!("{event:?}");
    };
    assert_eq!(settings.match_id.as_deref(), Some("match-7"));
    assert_eq!(settings.assignments, ["net.interpolation_delay_ms=80"]);

    server.shutdown("test over").await;
    assert_eq!(sdk.game_server().await.unwrap().status.state, "Shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocated_match_ends_when_its_last_player_leaves_if_asked_to() {
    let Some(sdk_server) = sdk_server() else {
        return;
    };
    let (server, mut fleet) = fleet_server(&sdk_server, &["agones.shutdown_when_empty=true"]).await;
    let sdk = SdkClient::new(sdk_server.http_port);
    ready(&sdk).await;
    sdk.allocate().await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), fleet.recv()).await;
    assert!(
        matches!(event, Ok(Some(FleetEvent::Allocated(_)))),
        "{event:?}"
    );

    let endpoint = client_endpoint(server.identity().leaf().unwrap());
    let hello = |name: &str| Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        token: None,
    };
    let addr = server.game_addr().unwrap();
    let a = tickwire_netcode::quic::join(&endpoint, addr, "localhost", hello("a"))
        .await
        .unwrap();
    let b = tickwire_netcode::quic::join(&endpoint, addr, "localhost", hello("b"))
        .await
        .unwrap();
    a.connection.close(0u32.into(), b"bye");
    // One player is still there: the match goes on.
    let early = tokio::time::timeout(Duration::from_millis(500), fleet.recv()).await;
    assert!(early.is_err(), "{early:?}");
    b.connection.close(0u32.into(), b"bye");
    let event = tokio::time::timeout(Duration::from_secs(5), fleet.recv()).await;
    assert!(
        matches!(event, Ok(Some(FleetEvent::MatchOver))),
        "{event:?}"
    );
    server.shutdown("the match is over").await;
    assert_eq!(sdk.game_server().await.unwrap().status.state, "Shutdown");
}

/// No sidecar at all (Agones on, nothing listening): the server starts, serves players and
/// ticks on time, while it logs, counts and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sidecar_costs_logs_and_retries_never_a_tick() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config_with(&[
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "game.prop_count=20",
        "agones.enabled=true",
        &format!("agones.sdk_http_port={port}"),
    ]);
    let server = Server::start::<Arena>(&config).await.unwrap();
    assert!(server.in_fleet());
    let endpoint = client_endpoint(server.identity().leaf().unwrap());
    let hello = Hello {
        version: PROTOCOL_VERSION,
        name: "p".into(),
        room: None,
        token: None,
    };
    let player =
        tickwire_netcode::quic::join(&endpoint, server.game_addr().unwrap(), "localhost", hello)
            .await
            .unwrap();
    let mut client = tickwire_tests::harness::client_for(&player.welcome);
    tickwire_tests::harness::play(&player.connection, &mut client, Duration::from_secs(3)).await;
    // 30 snapshots a second, all of them.
    let snapshots = client.stats().snapshots;
    assert!(snapshots >= 85, "{snapshots} snapshots in 3 s");
    let summary = server.rooms()[0].summary();
    assert_eq!(summary.skipped, 0);
    assert!(summary.late_us_p99 < 5000.0, "{summary:?}");
    // It kept trying: Ready is retried every second.
    let metrics = tickwire_server::recorder::prometheus().unwrap().render();
    let failures = tickwire_tests::harness::metric_sum(
        &metrics,
        "tickwire_agones_failures_total",
        "call=\"ready\"",
    );
    assert!(failures >= 2.0, "{failures} failed Ready calls:\n{metrics}");
    server.shutdown("test over").await;
}
