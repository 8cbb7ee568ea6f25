//! The real thing on loopback: the server's QUIC endpoint and rooms, a client over real UDP
//! on 127.0.0.1 running the full client netcode.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_netcode::client::{ClientConfig, ClientNetcode};
use tickwire_netcode::protocol::{
    ClientControl, Hello, PROTOCOL_VERSION, RejectReason, ServerControl, Welcome,
};
use tickwire_netcode::quic::{
    GameTransport, Joined, ServerTrust, client_config, recv_control, send_control,
};
use tickwire_netcode::{TickRate, codec};
use tickwire_server::auth::Admission;
use tickwire_server::endpoint::{GameEndpoint, Identity};
use tickwire_server::room::Room;
use tickwire_sim::client::ArenaPrediction;
use tickwire_sim::replication::{WireInput, arena_schema};
use tickwire_sim::{ArenaConfig, PlayerInput, Rules};
use tickwire_tests::config_with;

struct Harness {
    endpoint: GameEndpoint,
    identity: Identity,
    rooms: Arc<Vec<Room>>,
}

fn start_server() -> Harness {
    start_rooms(&["room-0"], &["arena.prop_count=50"])
}

/// A server with a room for each of `names`, on the default config with `overrides`.
fn start_rooms(names: &[&str], overrides: &[&str]) -> Harness {
    let config = config_with(overrides);
    let rooms = Arc::new(
        names
            .iter()
            .map(|name| Room::start(name, &config).unwrap())
            .collect::<Vec<_>>(),
    );
    let identity = Identity::self_signed().unwrap();
    let endpoint = GameEndpoint::start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        &config.transport(),
        Arc::clone(&rooms),
        Arc::new(Admission::from_config(&config).unwrap()),
    )
    .unwrap();
    Harness {
        endpoint,
        identity,
        rooms,
    }
}

impl Harness {
    /// Serves this server's admin address (on a free port).
    async fn admin(&self) -> std::net::SocketAddr {
        tickwire_server::admin::serve(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&self.rooms),
            self.endpoint.udp_drops(),
        )
        .await
        .unwrap()
    }
}

async fn connect(h: &Harness) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let client = client_endpoint(h.identity.leaf().unwrap());
    let connection = client
        .connect(h.endpoint.local_addr().unwrap(), "localhost")
        .unwrap()
        .await
        .unwrap();
    let (send, recv) = connection.open_bi().await.unwrap();
    (connection, send, recv)
}

/// A client endpoint on 127.0.0.1 that trusts `cert`.
fn client_endpoint(cert: &rustls::pki_types::CertificateDer<'static>) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(
            ServerTrust::Certificate(cert.clone()),
            &GameTransport::default(),
        )
        .unwrap(),
    );
    endpoint
}

fn hello(version: u16) -> ClientControl {
    ClientControl::Hello(Hello {
        version,
        name: "test".into(),
        room: None,
        token: None,
    })
}

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

fn client_for(welcome: &Welcome) -> ClientNetcode<ArenaPrediction> {
    let arena: ArenaConfig = codec::decode(&welcome.game).unwrap();
    let rules = Rules::new(arena, TickRate::new(welcome.tick_hz).unwrap()).unwrap();
    let schema = arena_schema(rules.config());
    ClientNetcode::new(
        ArenaPrediction::new(rules),
        schema,
        ClientConfig::from_welcome(welcome).unwrap(),
        Instant::now(),
    )
}

/// A plain HTTP/1.1 GET over TCP: what Prometheus does when it scrapes.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: tickwire\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_status_are_served_over_http() {
    let config = config_with(&["arena.prop_count=20"]);
    let rooms = Arc::new(vec![Room::start("room-0", &config).unwrap()]);
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

/// Joins and returns the connection once welcomed.
async fn joined(h: &Harness) -> Joined {
    let (connection, mut send, mut recv) = connect(h).await;
    send_control(&mut send, &hello(PROTOCOL_VERSION))
        .await
        .unwrap();
    let Some(ServerControl::Welcome(welcome)) =
        recv_control::<ServerControl>(&mut recv).await.unwrap()
    else {
        panic!("expected a welcome");
    };
    Joined {
        connection,
        send,
        recv,
        welcome,
    }
}

/// The reason the server gave for closing `connection` (waits at most 5 s).
async fn close_reason(connection: &quinn::Connection) -> String {
    match tokio::time::timeout(Duration::from_secs(5), connection.closed())
        .await
        .expect("the server never closed")
    {
        quinn::ConnectionError::ApplicationClosed(close) => {
            String::from_utf8_lossy(&close.reason).into_owned()
        }
        other => format!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_floods_disconnect_only_the_offender() {
    let h = start_server();
    let good = joined(&h).await; // keep its control stream open: dropping it leaves
    let garbage = joined(&h).await;
    let flood = joined(&h).await;
    // Malformed input datagrams (right type byte, nonsense after it), at a polite rate.
    for i in 0..80u8 {
        if garbage
            .connection
            .send_datagram(vec![0x02, 0xFF, i, 0xFF, 0xFF, 0xFF].into())
            .is_err()
        {
            break; // already disconnected
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        close_reason(&garbage.connection)
            .await
            .contains("malformed"),
        "garbage sender not disconnected for malformed datagrams"
    );
    let admin = h.admin().await;
    let (_, metrics) = http_get(admin, "/metrics").await;
    // Summed over rooms: other tests' rooms share the process's recorder.
    let decode_errors: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("tickwire_decode_errors_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        decode_errors >= 50.0,
        "decode errors not counted: {decode_errors}"
    );
    // The kernel's drop count on the game socket is served too (the game socket is Linux's
    // here, so the counter reads).
    assert!(
        metrics.contains("tickwire_udp_receive_drops_total"),
        "/metrics lacks the socket's drops:\n{metrics}"
    );
    let (_, status) = http_get(admin, "/status").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(status["udp_receive_drops"].is_u64(), "{status}");
    // A flood of oversized datagrams as fast as the socket takes them.
    let until = Instant::now() + Duration::from_secs(4);
    for n in 0u32.. {
        if Instant::now() > until
            || flood
                .connection
                .send_datagram(vec![0x02; 900].into())
                .is_err()
        {
            break;
        }
        if n % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(
        close_reason(&flood.connection).await.contains("flood"),
        "flooder not disconnected"
    );
    // The well-behaved client still gets its snapshots.
    let mut received = 0;
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(100), good.connection.read_datagram()).await
        {
            received += 1;
        }
    }
    assert!(
        received >= 20,
        "the good client got only {received} snapshots in a second"
    );
    h.endpoint.shutdown("test over").await;
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
        Room::start("room-0", &config_with(&["arena.prop_count=10"])).unwrap(),
    ]);
    let endpoint = GameEndpoint::start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        &GameTransport::default(),
        rooms,
        Arc::new(Admission::open()),
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
        game: codec::encode(&arena).unwrap(),
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
            game,
            ..
        }) => {
            assert_eq!(interpolation_delay_ms, 120);
            assert_eq!(
                codec::decode::<ArenaConfig>(&game).unwrap().max_speed_mps,
                7.5
            );
        }
        other => panic!("expected tunables, got {other:?}"),
    }
    h.endpoint.shutdown("test over").await;
}

fn hello_to(room: Option<&str>) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        name: "player".into(),
        room: room.map(str::to_owned),
        token: None,
    }
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

/// Plays as a client for `time`: takes snapshots, sends inputs (which acknowledge them).
async fn play(
    connection: &quinn::Connection,
    client: &mut ClientNetcode<ArenaPrediction>,
    time: Duration,
) {
    let until = Instant::now() + time;
    while Instant::now() < until {
        if let Ok(Ok(datagram)) =
            tokio::time::timeout(Duration::from_millis(5), connection.read_datagram()).await
        {
            let _ = client.handle_datagram(Instant::now(), &datagram);
        }
        let now = Instant::now();
        while let Some(tick) = client.next_input_tick(now) {
            let datagram = client
                .submit_input(tick, WireInput::default())
                .unwrap()
                .to_vec();
            let _ = connection.send_datagram(datagram.into());
        }
        client.frame(now);
    }
}

/// A client whose process stops (its runtime is not driven, so it neither reads nor
/// acknowledges) costs the server a bounded queue, not a growing one, and is backed off to
/// a snapshot in four; the others keep theirs; it recovers when it plays again.
#[test]
fn a_client_that_stops_reading_costs_a_bounded_queue_and_recovers() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = server_rt.block_on(async { start_server() });
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let slow = client_rt.block_on(joined(&h));
    let buffer = GameTransport::default().datagram_send_buffer_bytes;
    let (good_snapshots, peak_queue, room) = server_rt.block_on(async {
        let admin = h.admin().await;
        let good = joined(&h).await;
        let mut client = client_for(&good.welcome);
        let mut peak_queue = 0;
        let mut room = serde_json::Value::Null;
        for _ in 0..16 {
            play(&good.connection, &mut client, Duration::from_millis(250)).await;
            let (_, body) = http_get(admin, "/status").await;
            let status: serde_json::Value = serde_json::from_str(&body).unwrap();
            for c in status["rooms"][0]["clients"].as_array().unwrap() {
                peak_queue = peak_queue.max(c["send_queue_bytes"].as_u64().unwrap());
            }
            room = status["rooms"][0].clone();
        }
        (client.stats().snapshots, peak_queue, room)
    });
    assert!(
        peak_queue <= buffer as u64,
        "queue {peak_queue} B over {buffer}"
    );
    assert!(
        good_snapshots >= 100,
        "the playing client got {good_snapshots} snapshots in 4 s"
    );
    assert!(
        room["snapshots_held_back"].as_u64().unwrap() > 0,
        "the stalled client was not backed off: {room}"
    );
    // Playing again, the stalled client is back to the full rate within a second or two.
    let resumed = client_rt.block_on(async {
        let mut client = client_for(&slow.welcome);
        play(&slow.connection, &mut client, Duration::from_secs(2)).await;
        let before = client.stats().snapshots;
        play(&slow.connection, &mut client, Duration::from_secs(1)).await;
        client.stats().snapshots - before
    });
    assert!(
        resumed >= 25,
        "the stalled client got {resumed} snapshots a second after resuming"
    );
    server_rt.block_on(h.endpoint.shutdown("test over"));
}

/// A client endpoint that trusts the harness's server and advertises `max_datagram` as its
/// QUIC datagram limit (its `max_datagram_frame_size` transport parameter).
fn limited_endpoint(h: &Harness, max_datagram: usize) -> quinn::Endpoint {
    let transport = GameTransport {
        datagram_receive_buffer_bytes: max_datagram,
        ..GameTransport::default()
    };
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(
            ServerTrust::Certificate(h.identity.leaf().unwrap().clone()),
            &transport,
        )
        .unwrap(),
    );
    endpoint
}

/// One client's datagram limit never stops the others' snapshots: a client that advertises
/// 8 bytes joins first and is refused with the reason; one that advertises little but
/// enough is served within its limit; well-behaved clients that join after both get every
/// snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_datagram_limit_is_refused_and_costs_nobody_their_snapshots() {
    use tickwire_netcode::quic::{JoinError, join};
    let h = start_rooms(&["room-0"], &["arena.prop_count=400"]);
    let addr = h.endpoint.local_addr().unwrap();
    let tiny = limited_endpoint(&h, 8);
    match join(&tiny, addr, "localhost", hello_to(None)).await {
        Err(JoinError::Rejected {
            reason:
                RejectReason::DatagramTooSmall {
                    client_bytes,
                    needed_bytes,
                },
            message,
        }) => {
            assert!(client_bytes < 8, "{client_bytes}");
            assert!(needed_bytes > client_bytes, "{needed_bytes}");
            assert!(message.contains("max_datagram_frame_size"), "{message}");
        }
        other => panic!("expected a datagram-limit reject, got {other:?}"),
    }
    // Small but enough: served within its limit, the world over several snapshots.
    let small_limit = 160;
    let small = join(
        &limited_endpoint(&h, small_limit),
        addr,
        "localhost",
        hello_to(None),
    )
    .await
    .unwrap();
    let good: Vec<Joined> = {
        let mut good = Vec::new();
        for _ in 0..4 {
            good.push(joined(&h).await);
        }
        good
    };
    // quinn's receive buffer is its advertised limit, so this client keeps one part of each
    // burst and cannot complete a snapshot of several (the sans-IO snapshot tests check that
    // a client at the smallest limit is served the whole world): here, what matters is that
    // every datagram keeps within its limit, or quinn would close the connection.
    let (mut parts, mut largest) = (0, 0);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(Ok(datagram)) =
            tokio::time::timeout(Duration::from_millis(5), small.connection.read_datagram()).await
        {
            parts += 1;
            largest = largest.max(datagram.len());
        }
    }
    assert!(parts > 20, "the small client got {parts} parts");
    assert!(
        largest <= small_limit,
        "a {largest} B datagram to a {small_limit} B client"
    );
    assert!(
        small.connection.close_reason().is_none(),
        "{:?}",
        small.connection.close_reason()
    );
    // Everyone who joined after gets every snapshot: a fresh second of them, read at once.
    let counts = good.iter().map(|g| {
        let connection = g.connection.clone();
        tokio::spawn(async move {
            let mut received = 0;
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                if let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_millis(50), connection.read_datagram())
                        .await
                {
                    received += 1;
                }
            }
            received
        })
    });
    for count in counts.collect::<Vec<_>>() {
        let received = count.await.unwrap();
        assert!(
            received >= 25,
            "a well-behaved client got {received} datagrams in 1 s"
        );
    }
    h.endpoint.shutdown("test over").await;
}

/// Seat tokens end to end: each refusal says why, a token admits once, the player rejoins
/// with a fresh one, and the token's user id is who the player is in /status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_invited_players_get_in_and_each_refusal_says_why() {
    use tickwire_netcode::quic::{JoinError, join};
    use tickwire_netcode::token::{Key, KeySet, Seat};
    use tickwire_server::auth::unix_now;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys.toml");
    let mut keys = KeySet::default();
    let key = keys.add_new().unwrap().clone();
    std::fs::write(&key_file, keys.to_toml()).unwrap();
    let h = start_rooms(
        &["red", "blue"],
        &[
            "auth.mode=token",
            &format!("auth.key_file={}", key_file.display()),
            "arena.prop_count=20",
        ],
    );
    let admin = h.admin().await;
    let endpoint = client_endpoint(h.identity.leaf().unwrap());
    let addr = h.endpoint.local_addr().unwrap();
    let now = unix_now();
    let ttl = Duration::from_secs(60);
    let with = |token: Option<String>, room: Option<&str>| Hello {
        token,
        ..hello_to(room)
    };
    let refused = |result: Result<Joined, JoinError>| match result {
        Err(JoinError::Rejected {
            reason: RejectReason::Unauthorized,
            message,
        }) => message,
        other => panic!("expected an unauthorized reject, got {other:?}"),
    };
    let try_join = |hello| join(&endpoint, addr, "localhost", hello);
    let expired = key
        .mint(&Seat {
            user: "late".into(),
            room: None,
            expires_at: now - 5,
            nonce: [1; 16],
        })
        .unwrap();
    let forged = Key::new(key.id(), [7; 32])
        .mint_for("mallory", None, ttl, now)
        .unwrap();
    let other_key = Key::generate(99)
        .unwrap()
        .mint_for("eve", None, ttl, now)
        .unwrap();
    let for_red = key.mint_for("alice", Some("red"), ttl, now).unwrap();
    for (hello, says) in [
        (with(None, None), "missing"),
        (with(Some("not a token".into()), None), "malformed"),
        (with(Some(forged), None), "bad signature"),
        (with(Some(other_key), None), "unknown key id 99"),
        (with(Some(expired), None), "expired"),
        (with(Some(for_red.clone()), Some("blue")), "not \"blue\""),
    ] {
        let message = refused(try_join(hello).await);
        assert!(message.contains(says), "{message:?} should say {says:?}");
    }
    // The token for red was refused for the wrong room, not spent: it joins red.
    let alice = try_join(with(Some(for_red.clone()), None)).await.unwrap();
    assert_eq!(alice.welcome.room, "red");
    // Replayed while still valid: refused.
    let message = refused(try_join(with(Some(for_red), None)).await);
    assert!(message.contains("already used"), "{message}");
    // The player leaves and comes back with a fresh token.
    drop(alice);
    let fresh = key.mint_for("alice", Some("red"), ttl, now).unwrap();
    let again = try_join(with(Some(fresh), None)).await.unwrap();
    assert_eq!(again.welcome.room, "red");
    // Who plays is the token's user id.
    tokio::time::sleep(Duration::from_millis(1200)).await; // the once-a-second refresh
    let (_, body) = http_get(admin, "/status").await;
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let red = status["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "red")
        .unwrap();
    let users: Vec<&str> = red["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["user"].as_str())
        .collect();
    assert_eq!(users, ["alice"], "{red}");
    h.endpoint.shutdown("test over").await;
}

/// Sums a counter's samples (over rooms and labels) whose line contains `filter`.
fn metric_sum(metrics: &str, name: &str, filter: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Counts the datagrams `connection` receives over `time`.
async fn datagrams_within(connection: &quinn::Connection, time: Duration) -> u32 {
    let mut received = 0;
    let until = Instant::now() + time;
    while Instant::now() < until {
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(50), connection.read_datagram()).await
        {
            received += 1;
        }
    }
    received
}

/// A client whose process dies (its runtime is gone: no goodbye, no close, not another
/// packet) is timed out after the idle timeout: its slot is freed, the metric counts it, and
/// the client playing beside it never missed a snapshot.
#[test]
fn a_client_killed_without_goodbye_is_timed_out_and_its_slot_freed() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = server_rt.block_on(async {
        start_rooms(
            &["room-0"],
            &[
                "net.idle_timeout_ms=1000",
                "net.keep_alive_ms=250",
                "arena.prop_count=20",
            ],
        )
    });
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let killed = client_rt.block_on(joined(&h));
    let (admin, good, timed_out_before) = server_rt.block_on(async {
        let admin = h.admin().await;
        let good = joined(&h).await;
        let (_, metrics) = http_get(admin, "/metrics").await;
        let before = metric_sum(
            &metrics,
            "tickwire_disconnects_total",
            "reason=\"timed_out\"",
        );
        (admin, good, before)
    });
    // The killed client's process is gone; its connection object never speaks again.
    drop(client_rt);
    std::mem::forget(killed);
    server_rt.block_on(async {
        let mut client = client_for(&good.welcome);
        play(&good.connection, &mut client, Duration::from_secs(3)).await;
        let snapshots = client.stats().snapshots;
        assert!(
            snapshots >= 80,
            "the other client got {snapshots} snapshots in 3 s"
        );
        let (_, body) = http_get(admin, "/status").await;
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["clients"], 1, "the dead client's slot: {body}");
        let (_, metrics) = http_get(admin, "/metrics").await;
        let timed_out = metric_sum(
            &metrics,
            "tickwire_disconnects_total",
            "reason=\"timed_out\"",
        );
        assert!(timed_out > timed_out_before, "not counted:\n{metrics}");
        h.endpoint.shutdown("test over").await;
    });
}

/// A client cut off for 5 s (nothing either way) resumes when its network comes back, or is
/// timed out (both ends know why; the server frees its slot and counts it); the client
/// beside it is unaffected all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_partitioned_for_five_seconds_resumes_or_times_out_and_nobody_else_notices() {
    use tickwire_bot::conditioned_socket::controlled_endpoint;
    use tickwire_netcode::link_conditioner::LinkConfig;
    let h = start_rooms(&["room-0"], &["arena.prop_count=50"]);
    let admin = h.admin().await;
    let (mut endpoint, link) = controlled_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        LinkConfig::clean(),
        LinkConfig::clean(),
        5,
    )
    .unwrap();
    endpoint.set_default_client_config(
        client_config(
            ServerTrust::Certificate(h.identity.leaf().unwrap().clone()),
            &GameTransport::default(),
        )
        .unwrap(),
    );
    let addr = h.endpoint.local_addr().unwrap();
    let cut = tickwire_netcode::quic::join(&endpoint, addr, "localhost", hello_to(None))
        .await
        .unwrap();
    let good = joined(&h).await;
    let mut cut_client = client_for(&cut.welcome);
    play(&cut.connection, &mut cut_client, Duration::from_secs(1)).await;
    let before = cut_client.stats().snapshots;
    assert!(before >= 20, "{before} snapshots before the partition");
    link.set(LinkConfig::partitioned(), LinkConfig::partitioned());
    let beside = tokio::spawn(async move {
        let mut client = client_for(&good.welcome);
        play(&good.connection, &mut client, Duration::from_secs(5)).await;
        client.stats().snapshots
    });
    let crossed = datagrams_within(&cut.connection, Duration::from_secs(5)).await;
    assert_eq!(crossed, 0, "datagrams crossed the partition");
    let snapshots = beside.await.unwrap();
    assert!(
        snapshots >= 140,
        "the other client got {snapshots} snapshots in 5 s"
    );
    link.set(LinkConfig::clean(), LinkConfig::clean());
    // Back. QUIC has to learn that the path works again: each side's probe timer backed off
    // exponentially through the silence, so the first probe comes up to a few seconds after
    // the path heals. If it comes before the idle timeout the game goes on; if not, the
    // connection ends as timed out — both ends know why, and the server frees the slot.
    let healed = Instant::now();
    let mut last = cut_client.stats().snapshots;
    while healed.elapsed() < Duration::from_secs(12) && cut.connection.close_reason().is_none() {
        play(&cut.connection, &mut cut_client, Duration::from_millis(250)).await;
        let now = cut_client.stats().snapshots;
        if now > last + 3 {
            break;
        }
        last = now;
    }
    let waited = healed.elapsed();
    match cut.connection.close_reason() {
        None => {
            let before = cut_client.stats().snapshots;
            play(&cut.connection, &mut cut_client, Duration::from_secs(1)).await;
            let after = cut_client.stats().snapshots - before;
            assert!(
                after >= 25,
                "{after} snapshots in the second after resuming ({waited:?} after the path healed)"
            );
        }
        Some(quinn::ConnectionError::TimedOut) => {
            // The server's own idle timer runs out about when the client's does; its view
            // refreshes once a second.
            let mut body = String::new();
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(250)).await;
                body = http_get(admin, "/status").await.1;
                let status: serde_json::Value = serde_json::from_str(&body).unwrap();
                if status["clients"] == 1 {
                    break;
                }
            }
            let status: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(status["clients"], 1, "the timed-out client's slot: {body}");
            let (_, metrics) = http_get(admin, "/metrics").await;
            assert!(
                metric_sum(
                    &metrics,
                    "tickwire_disconnects_total",
                    "reason=\"timed_out\""
                ) >= 1.0,
                "{metrics}"
            );
        }
        Some(other) => panic!("neither resumed nor timed out: {other}"),
    }
    h.endpoint.shutdown("test over").await;
}

/// An operator kicks a player from the admin address: it is told `Goodbye { Kicked }`, the
/// connection closes with the kicked code, the slot is freed and the metric counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_kicks_a_player_who_is_told_why() {
    use tickwire_netcode::protocol::{GoodbyeReason, close};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = start_server();
    let admin = h.admin().await;
    let mut player = joined(&h).await;
    let id = player.welcome.client_id;
    let post = |path: String| async move {
        let mut stream = tokio::net::TcpStream::connect(admin).await.unwrap();
        stream
            .write_all(format!("POST {path} HTTP/1.1\r\nhost: tickwire\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let nobody = post("/rooms/room-0/clients/999999/kick".into()).await;
    assert!(nobody.starts_with("HTTP/1.1 202"), "{nobody}"); // the room finds no one
    let nowhere = post(format!("/rooms/room-9/clients/{id}/kick")).await;
    assert!(nowhere.starts_with("HTTP/1.1 404"), "{nowhere}");
    let kicked = post(format!("/rooms/room-0/clients/{id}/kick")).await;
    assert!(kicked.starts_with("HTTP/1.1 202"), "{kicked}");
    match tokio::time::timeout(
        Duration::from_secs(3),
        recv_control::<ServerControl>(&mut player.recv),
    )
    .await
    .unwrap()
    .unwrap()
    {
        Some(ServerControl::Goodbye { reason, message }) => {
            assert_eq!(reason, GoodbyeReason::Kicked);
            assert!(message.contains("operator"), "{message}");
        }
        other => panic!("expected a goodbye, got {other:?}"),
    }
    match tokio::time::timeout(Duration::from_secs(3), player.connection.closed())
        .await
        .unwrap()
    {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, quinn::VarInt::from_u32(close::KICKED));
        }
        other => panic!("expected an application close, got {other}"),
    }
    tokio::time::sleep(Duration::from_millis(1200)).await; // the once-a-second refresh
    let (_, body) = http_get(admin, "/status").await;
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["clients"], 0, "{body}");
    let (_, metrics) = http_get(admin, "/metrics").await;
    assert!(
        metric_sum(&metrics, "tickwire_disconnects_total", "reason=\"kicked\"") >= 1.0,
        "{metrics}"
    );
    h.endpoint.shutdown("test over").await;
}
