//! SIGTERM under load: the real `tickwire-server` process with clients over real QUIC on
//! 127.0.0.1. Every client is told why (`Goodbye { ServerShutdown }`), and the process
//! exits 0 with its report.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tickwire_netcode::protocol::{GoodbyeReason, Hello, PROTOCOL_VERSION, ServerControl, close};
use tickwire_netcode::quic::{
    GameTransport, ServerTrust, client_config, join, parse_fingerprint, recv_control,
};

/// Waits for a line of the server's stderr containing `marker` and returns the word after it.
fn word_after(lines: &mpsc::Receiver<String>, marker: &str, seen: &mut String) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        seen.push_str(&line);
        seen.push('\n');
        if let Some((_, rest)) = line.split_once(marker) {
            return rest
                .split(|c: char| c.is_whitespace() || c == ';' || c == ')')
                .next()
                .unwrap()
                .to_owned();
        }
    }
    panic!("the server never said {marker:?}:\n{seen}");
}

#[test]
fn sigterm_under_load_says_goodbye_to_every_client_and_exits_0_with_a_report() {
    const CLIENTS: usize = 16;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--status-every",
            "0s",
            "--duration",
            "60s",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let addr = word_after(&lines, "listening on ", &mut seen);
    let fingerprint = word_after(&lines, "SHA-256 ", &mut seen);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let goodbyes = runtime.block_on(async {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(
            client_config(
                ServerTrust::Fingerprint(parse_fingerprint(&fingerprint).unwrap()),
                &GameTransport::default(),
            )
            .unwrap(),
        );
        let addr = addr.parse().unwrap();
        let mut clients = Vec::new();
        for n in 0..CLIENTS {
            let hello = Hello {
                version: PROTOCOL_VERSION,
                name: format!("c{n}"),
                room: None,
                token: None,
            };
            clients.push(join(&endpoint, addr, "localhost", hello).await.unwrap());
        }
        // Under load: every client takes its snapshots until the end.
        let mut tasks = Vec::new();
        for client in clients {
            tasks.push(tokio::spawn(async move {
                // The whole client, its send stream too: dropping that would leave the game.
                let tickwire_netcode::quic::Joined {
                    connection,
                    send,
                    mut recv,
                    ..
                } = client;
                let snapshots = {
                    let connection = connection.clone();
                    tokio::spawn(async move {
                        let mut n = 0u32;
                        while connection.read_datagram().await.is_ok() {
                            n += 1;
                        }
                        n
                    })
                };
                let said = tokio::time::timeout(
                    Duration::from_secs(30),
                    recv_control::<ServerControl>(&mut recv),
                )
                .await;
                let closed = connection.closed().await;
                drop(send);
                (said, closed, snapshots.await.unwrap())
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let mut goodbyes = Vec::new();
        for task in tasks {
            goodbyes.push(task.await.unwrap());
        }
        goodbyes
    });
    for (said, closed, snapshots) in goodbyes {
        // They read but never acknowledge: backed off to one snapshot in four after 0.5 s.
        assert!(
            snapshots >= 5,
            "a client got {snapshots} snapshots in a second"
        );
        match said {
            Ok(Ok(Some(ServerControl::Goodbye { reason, message }))) => {
                assert_eq!(reason, GoodbyeReason::ServerShutdown);
                assert_eq!(message, "SIGTERM");
            }
            other => panic!("expected a goodbye, got {other:?}; closed {closed:?}"),
        }
        match closed {
            quinn::ConnectionError::ApplicationClosed(c) => {
                assert_eq!(c.error_code, quinn::VarInt::from_u32(close::NORMAL));
            }
            other => panic!("expected an application close, got {other}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let mut report = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    reader.join().unwrap();
    while let Ok(line) = lines.try_recv() {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(status.success(), "exit {status}:\n{seen}");
    assert!(seen.contains("stopped: SIGTERM"), "{seen}");
    assert!(report.contains("Tickwire server report"), "{report}");
}
