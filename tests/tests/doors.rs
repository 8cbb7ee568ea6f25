//! Who gets in and what one client can do to the others, over real QUIC on 127.0.0.1: a
//! tiny datagram limit, seat tokens, an operator's kick, garbage and floods.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use tickwire_netcode::protocol::{Hello, RejectReason, ServerControl};
use tickwire_netcode::quic::{Joined, recv_control};
use tickwire_tests::harness::*;

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

/// One client's datagram limit never stops the others' snapshots: a client that advertises
/// 8 bytes joins first and is refused with the reason; one that advertises little but
/// enough is served within its limit; well-behaved clients that join after both get every
/// snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_datagram_limit_is_refused_and_costs_nobody_their_snapshots() {
    use tickwire_netcode::quic::{JoinError, join};
    let h = start_rooms(&["room-0"], &["game.prop_count=400"]);
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
            "game.prop_count=20",
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

/// An operator kicks a player from the admin address: it is told `Goodbye { Kicked }`, the
/// connection closes with the kicked code, the slot is freed and the metric counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_kicks_a_player_who_is_told_why() {
    use tickwire_netcode::protocol::{GoodbyeReason, close};
    let h = start_server();
    let admin = h.admin().await;
    let mut player = joined(&h).await;
    let id = player.welcome.client_id;
    let post = |path: String| async move { http_request(admin, "POST", &path, &[]).await };
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
