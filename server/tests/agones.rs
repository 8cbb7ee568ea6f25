//! The real `tickwire-server` process as a GameServer, against the real Agones SDK server in
//! local mode: found through the environment Agones gives a pod (`AGONES_SDK_HTTP_PORT`),
//! it goes Ready, keeps the `players` List equal to who is connected (real QUIC clients on
//! 127.0.0.1), pings health, honours an allocation's settings, and on SIGTERM says goodbye
//! and tells Agones Shutdown. Skips, saying why, where the SDK server is absent.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwire_netcode::protocol::{Hello, PROTOCOL_VERSION};
use tickwire_netcode::quic::{GameTransport, ServerTrust, client_config, join, parse_fingerprint};
use tickwire_server::agones::SdkClient;
use tickwire_server::agones::local::{self, LocalSdkServer};

/// The server's stderr, line by line, kept with arrival times.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(Instant, String)>>>);

impl Log {
    fn wait_for(&self, needle: &str, within: Duration) -> (Instant, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(hit) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|(_, l)| l.contains(needle))
            {
                return hit.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the server never logged {needle:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn text(&self) -> String {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn word_after(line: &str, marker: &str) -> String {
    let (_, rest) = line.split_once(marker).unwrap();
    rest.split(|c: char| c.is_whitespace() || c == ';' || c == ')')
        .next()
        .unwrap()
        .to_owned()
}

/// The players `/status` lists, named as the List names them (`room/client` when open).
async fn status_players(admin: &str) -> BTreeSet<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(admin).await.unwrap();
    stream
        .write_all(b"GET /status HTTP/1.1\r\nhost: tickwire\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    let status: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut players = BTreeSet::new();
    for room in status["rooms"].as_array().unwrap() {
        for client in room["clients"].as_array().unwrap() {
            players.insert(format!(
                "{}/{}",
                room["name"].as_str().unwrap(),
                client["id"]
            ));
        }
    }
    players
}

/// How long until the List holds exactly `want` (at most 5 s).
async fn list_matches(sdk: &SdkClient, want: &BTreeSet<String>) -> Duration {
    let since = Instant::now();
    loop {
        let list = sdk.list("players").await.unwrap();
        if list.values.iter().cloned().collect::<BTreeSet<_>>() == *want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the players List is {:?}, want {want:?}",
            list.values
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_game_server_goes_ready_tracks_its_players_is_allocated_and_shuts_down_on_sigterm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = match local::find(&root) {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    // A GameServer with an allocation's annotations: the match and one setting for it.
    let game_server = local::game_server_yaml(
        "tickwire-e2e",
        1,
        &[
            ("tickwire.dev/match", "match-42"),
            ("tickwire.dev/set.game.weapon_damage", "40"),
        ],
    );
    let sdk_server = LocalSdkServer::start_with(&binary, &game_server).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["--bind", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--rooms", "2", "--status-every", "0s", "--duration", "60s"])
        .env("AGONES_SDK_HTTP_PORT", sdk_server.http_port.to_string())
        .env("AGONES_SDK_GRPC_PORT", sdk_server.grpc_port.to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::default();
    let stderr = child.stderr.take().unwrap();
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.0.lock().unwrap().push((Instant::now(), line));
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sdk = SdkClient::new(sdk_server.http_port);

    // Ready once it listens.
    let (listening, line) = log.wait_for("listening on ", Duration::from_secs(20));
    let addr: std::net::SocketAddr = word_after(&line, "listening on ").parse().unwrap();
    let (_, line) = log.wait_for("SHA-256 ", Duration::from_secs(5));
    let fingerprint = parse_fingerprint(&word_after(&line, "SHA-256 ")).unwrap();
    let (_, line) = log.wait_for("http://", Duration::from_secs(5));
    let admin = word_after(&line, "http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let ready_after = runtime.block_on(async {
        loop {
            let server = sdk.game_server().await.unwrap();
            if server.status.state == "Ready" {
                return listening.elapsed();
            }
            assert!(
                listening.elapsed() < Duration::from_secs(5),
                "never Ready: {}",
                log.text()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    eprintln!("Ready {ready_after:?} after the endpoint listened");
    assert!(ready_after < Duration::from_secs(1), "{ready_after:?}");

    runtime.block_on(async {
        // The List's capacity is the server's: 2 rooms × 64.
        let deadline = Instant::now() + Duration::from_secs(5);
        while sdk.list("players").await.unwrap().capacity != 128 {
            assert!(
                Instant::now() < deadline,
                "capacity never set: {}",
                log.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(
            client_config(
                ServerTrust::Fingerprint(fingerprint),
                &GameTransport::default(),
            )
            .unwrap(),
        );
        let mut clients = Vec::new();
        let mut worst = Duration::ZERO;
        for n in 0..4 {
            let hello = Hello {
                version: PROTOCOL_VERSION,
                name: format!("bot{n}"),
                room: Some(format!("room-{}", n % 2)),
                token: None,
            };
            let client = join(&endpoint, addr, "localhost", hello).await.unwrap();
            let name = format!("{}/{}", client.welcome.room, client.welcome.client_id);
            clients.push((name, client));
            let want = clients.iter().map(|(n, _)| n.clone()).collect();
            worst = worst.max(list_matches(&sdk, &want).await);
        }
        // Two leave: one says goodbye by closing, one simply drops its connection.
        for _ in 0..2 {
            let (_, client) = clients.remove(0);
            client.connection.close(0u32.into(), b"bye");
            let want = clients.iter().map(|(n, _)| n.clone()).collect();
            worst = worst.max(list_matches(&sdk, &want).await);
        }
        eprintln!("the players List followed each join and leave within {worst:?}");
        assert!(worst < Duration::from_secs(1), "{worst:?}");
        // /status (refreshed once a second) names the same players.
        let want: BTreeSet<String> = clients.iter().map(|(n, _)| n.clone()).collect();
        let deadline = Instant::now() + Duration::from_secs(3);
        while status_players(&admin).await != want {
            assert!(Instant::now() < deadline, "/status never matched the List");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Allocated: the match's settings are applied like a reload.
        sdk.allocate().await.unwrap();
        log.wait_for("match_id=\"match-42\"", Duration::from_secs(5));
        log.wait_for("config reloaded", Duration::from_secs(5));

        // SIGTERM: goodbyes, then Shutdown.
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        for (_, client) in &clients {
            let closed = tokio::time::timeout(Duration::from_secs(10), client.connection.closed())
                .await
                .unwrap();
            assert!(
                matches!(closed, quinn::ConnectionError::ApplicationClosed(_)),
                "{closed:?}"
            );
        }
    });
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{status:?}\n{}", log.text());
    runtime.block_on(async {
        assert_eq!(sdk.game_server().await.unwrap().status.state, "Shutdown");
    });
    let pings = sdk_server.times_of("Health Ping Received").len();
    assert!(
        pings >= 2,
        "{pings} health pings:\n{:?}",
        sdk_server.log_lines()
    );
    let text = log.text();
    let goodbye = text.find("stopped: SIGTERM").unwrap_or(usize::MAX);
    let shutdown = text.find("Agones: Shutdown").unwrap();
    assert!(shutdown > text.find("SIGTERM").unwrap(), "{text}");
    assert!(goodbye == usize::MAX || shutdown < goodbye, "{text}");
}
