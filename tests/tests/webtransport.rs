//! Browser players' transport, natively: a real WebTransport client (HTTP/3 over QUIC over
//! UDP on 127.0.0.1) trusting the server's development certificate by its hash, as a page
//! does with `serverCertificateHashes`, plays with the same netcode as a native client and
//! is a player like any other.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use tickwire_netcode::protocol::{ClientControl, Hello, PROTOCOL_VERSION, ServerControl};
use tickwire_netcode::quic::{recv_control, send_control};
use tickwire_server::Server;
use tickwire_sim::arena::Arena;
use tickwire_sim::arena::replication::WireInput;
use tickwire_tests::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webtransport_player_plays_like_any_other() {
    let config = tickwire_tests::config_with(&[
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "game.prop_count=20",
    ]);
    let server = Server::start::<Arena>(&config).await.unwrap();
    let web = server.webtransport().expect("on by default, on loopback");
    let port = web.local_addr().unwrap().port();
    // The admin address says where a page connects and which certificate to pin.
    let (_, body) = http_get(server.admin_addr(), "/play.json").await;
    let play: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(play["port"], port);
    assert_eq!(play["path"], "/tickwire");
    assert_eq!(
        play["certificate_sha256"],
        serde_json::json!(web.certificate_hash().to_vec())
    );
    let client = web_transport_quinn::ClientBuilder::new()
        .with_server_certificate_hashes(vec![web.certificate_hash().to_vec()])
        .unwrap();

    // Only the game's path opens a session.
    let wrong = url::Url::parse(&format!("https://127.0.0.1:{port}/elsewhere")).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(5), client.connect(wrong)).await;
    assert!(matches!(refused, Ok(Err(_))), "{refused:?}");

    let url = url::Url::parse(&format!("https://127.0.0.1:{port}/tickwire")).unwrap();
    let session = tokio::time::timeout(Duration::from_secs(5), client.connect(url))
        .await
        .expect("a session within 5 s")
        .unwrap();
    let (mut send, mut recv) = session.open_bi().await.unwrap();
    let hello = ClientControl::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: "browser".into(),
        room: None,
        token: None,
    });
    send_control(&mut send, &hello).await.unwrap();
    let Some(ServerControl::Welcome(welcome)) = tokio::time::timeout(
        Duration::from_secs(5),
        recv_control::<ServerControl>(&mut recv),
    )
    .await
    .expect("a welcome within 5 s")
    .unwrap() else {
        panic!("expected a welcome");
    };
    // A native player in the same room.
    let native = joined_to(server.game_addr().unwrap(), &server).await;

    // The same netcode as a native client, over the session's datagrams.
    let mut netcode = client_for(&welcome);
    let until = Instant::now() + Duration::from_secs(3);
    let mut moved = false;
    while Instant::now() < until {
        if let Ok(Ok(datagram)) =
            tokio::time::timeout(Duration::from_millis(5), session.read_datagram()).await
        {
            let _ = netcode.handle_datagram(Instant::now(), &datagram);
        }
        let now = Instant::now();
        while let Some(tick) = netcode.next_input_tick(now) {
            let input = WireInput {
                move_x: 127,
                ..WireInput::default()
            };
            moved = true;
            let datagram = netcode.submit_input(tick, input).unwrap().to_vec();
            let _ = session.send_datagram(datagram.into());
        }
        netcode.frame(now);
    }
    assert!(moved);
    let stats = netcode.stats();
    assert!(stats.snapshots >= 80, "{stats:?}");
    assert_eq!(stats.bad_datagrams, 0);
    // On a clean link the server agreed with every prediction.
    assert_eq!(
        netcode.prediction_stats().corrections,
        0,
        "{:?}",
        netcode.prediction_stats()
    );

    // The server sees two players in one room: the browser among them, by name.
    let (_, body) = http_get(server.admin_addr(), "/status").await;
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let clients = status["rooms"][0]["clients"].as_array().unwrap();
    let names: Vec<&str> = clients
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"browser") && names.len() == 2, "{names:?}");

    // Shutting down says goodbye to it as to anyone.
    drop(native);
    let closing = tokio::spawn(async move { server.shutdown("test over").await });
    let said = tokio::time::timeout(
        Duration::from_secs(5),
        recv_control::<ServerControl>(&mut recv),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        matches!(said, Some(ServerControl::Goodbye { .. })),
        "{said:?}"
    );
    closing.await.unwrap();
}

/// A native client joined to `server`.
async fn joined_to(addr: std::net::SocketAddr, server: &Server) -> tickwire_netcode::quic::Joined {
    let endpoint = client_endpoint(server.identity().leaf().unwrap());
    tickwire_netcode::quic::join(
        &endpoint,
        addr,
        "localhost",
        Hello {
            version: PROTOCOL_VERSION,
            name: "native".into(),
            room: None,
            token: None,
        },
    )
    .await
    .unwrap()
}
