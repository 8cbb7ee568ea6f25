//! The real thing on loopback: the server's QUIC endpoint and rooms, a client over real UDP
//! on 127.0.0.1 running the full client netcode.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_netcode::protocol::{
    ClientControl, Hello, PROTOCOL_VERSION, RejectReason, ServerControl,
};
use tickwire_netcode::quic::{
    GameTransport, Joined, ServerTrust, client_config, recv_control, send_control,
};
use tickwire_netcode::tunables;
use tickwire_server::auth::Admission;
use tickwire_server::endpoint::{GameEndpoint, Identity};
use tickwire_server::presence::Presence;
use tickwire_server::room::Room;
use tickwire_sim::arena::Arena;
use tickwire_sim::arena::replication::WireInput;
use tickwire_sim::arena::{ArenaConfig, PlayerInput};
use tickwire_tests::config_with;
use tickwire_tests::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_joins_receives_snapshots_and_predicts_over_real_quic() {
    let h = start_server();
    let Joined {
        connection,
        mut send,
        welcome,
        ..
    } = joined(&h).await;
    let mut client = client_for(&welcome);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Ok(datagram)) =
            tokio::time::timeout(Duration::from_millis(5), connection.read_datagram()).await
        {
            client.handle_datagram(Instant::now(), &datagram).unwrap();
        }
        let now = Instant::now();
        while let Some(tick) = client.next_input_tick(now) {
            let input = WireInput::from_input(&PlayerInput {
                movement: glam::Vec2::X,
                aim_rad: 0.0,
                fire: false,
            });
            let datagram = client.submit_input(tick, input).unwrap().to_vec();
            connection.send_datagram(datagram.into()).unwrap();
        }
        client.frame(now);
    }
    let stats = client.stats();
    assert!(stats.snapshots > 60, "{stats:?}"); // 30 Hz for ~3 s
    assert!(stats.inputs_sent > 100, "{stats:?}");
    assert_eq!(stats.bad_datagrams, 0);
    let prediction = client.prediction_stats();
    assert!(prediction.checked > 30, "{prediction:?}");
    assert_eq!(
        prediction.corrections, 0,
        "a runner on loopback is never corrected: {prediction:?}"
    );
    send_control(
        &mut send,
        &ClientControl::Goodbye {
            reason: "done".into(),
        },
    )
    .await
    .unwrap();
    h.endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_is_rejected_with_a_reason() {
    let h = start_server();
    let (_connection, mut send, mut recv) = connect(&h).await;
    send_control(&mut send, &hello(PROTOCOL_VERSION + 1))
        .await
        .unwrap();
    match recv_control::<ServerControl>(&mut recv).await.unwrap() {
        Some(ServerControl::Reject { reason, message }) => {
            assert_eq!(
                reason,
                RejectReason::VersionMismatch {
                    server: PROTOCOL_VERSION
                }
            );
            assert!(message.contains("protocol"), "{message}");
        }
        other => panic!("expected a reject, got {other:?}"),
    }
    h.endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_status_are_served_over_http() {
    let config = config_with(&["game.prop_count=20"]);
    let rooms = Arc::new(vec![Room::start::<Arena>("room-0", &config).unwrap()]);
    let admin =
        tickwire_server::admin::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&rooms), None)
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await; // a second of ticks and a room view
    let (head, body) = http_get(admin, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for metric in [
        "tickwire_tick_duration_seconds_bucket",
        "tickwire_tick_lateness_seconds_count",
        "tickwire_clients",
    ] {
        assert!(body.contains(metric), "/metrics lacks {metric}:\n{body}");
    }
    // Each metric says what it is (and its unit) for a dashboard's reader.
    assert!(
        body.contains("# HELP tickwire_tick_lateness_seconds How long after its deadline"),
        "{body}"
    );
    for kind in body.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = kind.split_whitespace().next().unwrap();
        assert!(
            body.contains(&format!("# HELP {name} ")),
            "{name} has no description:\n{body}"
        );
    }
    let (head, body) = http_get(admin, "/status").await;
    assert!(head.contains("application/json"), "{head}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let room = &status["rooms"][0];
    assert_eq!(room["name"], "room-0");
    assert_eq!(room["props"], 20);
    assert!(room["ticks"].as_u64().unwrap() >= 60, "{room}");
    let (head, _) = http_get(admin, "/nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goodbye_with_the_reason() {
    let h = start_server();
    let mut client = joined(&h).await;
    let (_, goodbye) = tokio::join!(
        h.endpoint.shutdown("maintenance"),
        recv_control::<ServerControl>(&mut client.recv)
    );
    match goodbye.unwrap() {
        Some(ServerControl::Goodbye { reason, message }) => {
            assert_eq!(
                reason,
                tickwire_netcode::protocol::GoodbyeReason::ServerShutdown
            );
            assert_eq!(message, "maintenance");
        }
        other => panic!("expected a goodbye, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_joins_or_reports_the_reject_reason() {
    use tickwire_netcode::quic::{JoinError, join};
    let h = start_server();
    let endpoint = client_endpoint(h.identity.leaf().unwrap());
    let addr = h.endpoint.local_addr().unwrap();
    let joined = join(
        &endpoint,
        addr,
        "localhost",
        Hello {
            version: PROTOCOL_VERSION,
            name: "ada".into(),
            room: None,
            token: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (joined.welcome.tick_hz, joined.welcome.snapshot_hz),
        (60, 30)
    );
    assert_eq!(joined.welcome.room, "room-0");
    let old = Hello {
        version: PROTOCOL_VERSION + 1,
        name: "old".into(),
        room: None,
        token: None,
    };
    match join(&endpoint, addr, "localhost", old).await {
        Err(JoinError::Rejected { reason, .. }) => assert_eq!(
            reason,
            RejectReason::VersionMismatch {
                server: PROTOCOL_VERSION
            }
        ),
        other => panic!("expected a reject, got {other:?}"),
    }
    let nowhere = Hello {
        version: PROTOCOL_VERSION,
        name: "lost".into(),
        room: Some("room-9".into()),
        token: None,
    };
    match join(&endpoint, addr, "localhost", nowhere).await {
        Err(JoinError::Rejected { reason, .. }) => assert_eq!(reason, RejectReason::NoSuchRoom),
        other => panic!("expected a reject, got {other:?}"),
    }
    h.endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_pem_files_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["game.example".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let identity = Identity::from_pem_files(&cert, &key).unwrap();
    assert_eq!(identity.leaf().unwrap().as_ref(), made.cert.der().as_ref());
    assert_eq!(identity.fingerprint().len(), 64);
    let rooms = Arc::new(vec![
        Room::start::<Arena>("room-0", &config_with(&["game.prop_count=10"])).unwrap(),
    ]);
    let endpoint = GameEndpoint::start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        &GameTransport::default(),
        rooms,
        Arc::new(Admission::open()),
        Presence::default(),
    )
    .unwrap();
    let client = client_endpoint(made.cert.der());
    let hello = Hello {
        version: PROTOCOL_VERSION,
        name: "ada".into(),
        room: None,
        token: None,
    };
    let joined = tickwire_netcode::quic::join(
        &client,
        endpoint.local_addr().unwrap(),
        "game.example",
        hello,
    )
    .await
    .unwrap();
    assert_eq!(joined.welcome.room, "room-0");
    // A missing key file is reported with its path.
    let err = Identity::from_pem_files(&cert, &dir.path().join("missing.pem"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
    endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_clients_with_their_round_trip_time() {
    let h = start_server();
    let admin = h.admin().await;
    let _client = joined(&h).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // the once-a-second refresh
    let (_, body) = http_get(admin, "/status").await;
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let clients = status["rooms"][0]["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{body}");
    let rtt = clients[0]["rtt_ms"].as_f64().unwrap();
    assert!(rtt > 0.0 && rtt < 100.0, "loopback RTT {rtt} ms");
    h.endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_clients_are_told_new_tunables() {
    let h = start_server();
    let mut client = joined(&h).await;
    let arena = ArenaConfig {
        max_speed_mps: 7.5,
        ..ArenaConfig::default()
    };
    h.endpoint.broadcast_tunables(ServerControl::Tunables {
        snapshot_hz: 30,
        interpolation_delay_ms: 120,
        tunables: tunables::flatten(&arena).unwrap(),
    });
    match tokio::time::timeout(
        Duration::from_secs(2),
        recv_control::<ServerControl>(&mut client.recv),
    )
    .await
    .unwrap()
    .unwrap()
    {
        Some(ServerControl::Tunables {
            interpolation_delay_ms,
            tunables,
            ..
        }) => {
            assert_eq!(interpolation_delay_ms, 120);
            assert_eq!(
                tunables::unflatten::<ArenaConfig>(&tunables).unwrap(),
                arena
            );
        }
        other => panic!("expected tunables, got {other:?}"),
    }
    h.endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_join_rooms_by_name_or_the_first_with_space() {
    use tickwire_netcode::quic::{JoinError, join};
    let h = start_rooms(&["red", "blue"], &["server.max_clients_per_room=1"]);
    let endpoint = client_endpoint(h.identity.leaf().unwrap());
    let addr = h.endpoint.local_addr().unwrap();
    let try_join = |room| join(&endpoint, addr, "localhost", hello_to(room));
    let in_blue = try_join(Some("blue")).await.unwrap();
    assert_eq!(in_blue.welcome.room, "blue");
    match try_join(Some("blue")).await {
        Err(JoinError::Rejected { reason, message }) => {
            assert_eq!(reason, RejectReason::RoomFull);
            assert!(message.contains("blue"), "{message}");
        }
        other => panic!("expected room full, got {other:?}"),
    }
    let placed = try_join(None).await.unwrap();
    assert_eq!(placed.welcome.room, "red", "placed in the room with space");
    match try_join(None).await {
        Err(JoinError::Rejected { reason, .. }) => assert_eq!(reason, RejectReason::ServerFull),
        other => panic!("expected server full, got {other:?}"),
    }
    // Each room ticks its own world: both clients get snapshots.
    for joined in [&in_blue, &placed] {
        tokio::time::timeout(Duration::from_secs(2), joined.connection.read_datagram())
            .await
            .unwrap()
            .unwrap();
    }
    h.endpoint.shutdown("test over").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pins_the_server_by_its_fingerprint() {
    use tickwire_netcode::quic::{JoinError, join, parse_fingerprint};
    let h = start_server();
    let addr = h.endpoint.local_addr().unwrap();
    let pinned = |sha256| {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(
            client_config(ServerTrust::Fingerprint(sha256), &GameTransport::default()).unwrap(),
        );
        endpoint
    };
    // As the server logs it, and as openssl prints it (upper case, colons).
    let logged = h.identity.fingerprint();
    let openssl = logged
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        parse_fingerprint(&logged).unwrap(),
        parse_fingerprint(&openssl).unwrap()
    );
    let right = pinned(parse_fingerprint(&logged).unwrap());
    // The name does not matter with a pin: the certificate is the identity.
    let joined = join(&right, addr, "any-name", hello_to(None))
        .await
        .unwrap();
    assert_eq!(joined.welcome.room, "room-0");
    let mut other = parse_fingerprint(&logged).unwrap();
    other[0] ^= 1;
    match join(&pinned(other), addr, "localhost", hello_to(None)).await {
        Err(JoinError::Connect(message)) => {
            assert!(message.contains("certificate"), "{message}");
        }
        other => panic!("a wrong pin must not connect: {other:?}"),
    }
    for bad in ["abc", &"zz".repeat(32)] {
        assert!(parse_fingerprint(bad).is_err(), "{bad} accepted");
    }
    h.endpoint.shutdown("test over").await;
}
