//! Faults over real QUIC on 127.0.0.1: a client that stops reading, one whose process dies,
//! one cut off from the network; the others never notice.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use tickwire_netcode::quic::{GameTransport, ServerTrust, client_config};
use tickwire_tests::harness::*;

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
                "game.prop_count=20",
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
    let h = start_rooms(&["room-0"], &["game.prop_count=50"]);
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
