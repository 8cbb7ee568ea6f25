//! The admin address's live monitor over real TCP on 127.0.0.1: the page, its WebSocket feed
//! (rooms and schemas, the watched room's world from its snapshots, per-second windows), and
//! the bearer token it requires off loopback.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tickwire_netcode::schema::SchemaDescription;
use tickwire_server::ConfigLayers;
use tickwire_sim::arena::ArenaConfig;
use tickwire_tests::harness::*;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON text message (at most 5 s).
async fn next_json(ws: &mut Socket) -> serde_json::Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The next message of `kind`.
async fn next_of(ws: &mut Socket, kind: &str) -> serde_json::Value {
    loop {
        let message = next_json(ws).await;
        if message["type"] == kind {
            return message;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_describes_the_rooms_and_streams_the_watched_world_and_each_second() {
    let h = start_rooms(&["red", "blue"], &["game.prop_count=30"]);
    let admin = h.admin().await;
    let _a = joined(&h).await;
    let _b = joined(&h).await;

    // The page: one document with the chart code in it.
    let (head, page) = http_get(admin, "/").await;
    assert!(
        head.contains("200 OK") && head.contains("text/html"),
        "{head}"
    );
    assert!(page.contains("TickwireCharts") && page.contains("new WebSocket"));

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{admin}/ws"))
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["game"], "arena");
    let names: Vec<&str> = hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["red", "blue"]);
    let schema: SchemaDescription =
        serde_json::from_value(hello["rooms"][0]["schema"].clone()).unwrap();
    assert_eq!(schema, h.rooms[0].schema().clone());

    // Nothing is copied for spectators until someone watches; then about 20 frames a second.
    ws.send(Message::Text(r#"{"watch":"red"}"#.into()))
        .await
        .unwrap();
    let first = next_of(&mut ws, "world").await;
    let since = Instant::now();
    let mut frames = 1;
    let mut last = first.clone();
    while since.elapsed() < Duration::from_secs(2) {
        let message = next_json(&mut ws).await;
        if message["type"] == "world" {
            frames += 1;
            last = message;
        }
    }
    let rate = f64::from(frames) / since.elapsed().as_secs_f64();
    assert!(
        (12.0..=21.5).contains(&rate),
        "{frames} frames: {rate:.1} a second"
    );
    assert_eq!(last["room"], "red");
    assert!(last["tick"].as_u64().unwrap() > first["tick"].as_u64().unwrap());
    // Every entity of the room (two players, 30 props), each with its kind's fields, inside
    // the arena as the schema scales them.
    let entities = last["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 32, "{last}");
    let arena = ArenaConfig::default();
    let mut players = 0;
    for e in entities {
        let e = e.as_array().unwrap();
        let kind = &schema.kinds[e[1].as_u64().unwrap() as usize];
        assert_eq!(e.len(), 2 + kind.fields.len(), "{e:?}");
        let x = e[2].as_f64().unwrap() * kind.fields[0].scale + kind.fields[0].offset;
        let y = e[3].as_f64().unwrap() * kind.fields[1].scale + kind.fields[1].offset;
        assert!((0.0..=f64::from(arena.width_m)).contains(&x), "{x}");
        assert!((0.0..=f64::from(arena.height_m)).contains(&y), "{y}");
        players += usize::from(kind.name == "player");
    }
    assert_eq!(players, 2);

    // Once a second: /status, with each client's entity and bytes, and each room's window.
    let status = next_of(&mut ws, "status").await;
    let red = &status["status"]["rooms"][0];
    assert_eq!(red["clients"].as_array().unwrap().len(), 2, "{status}");
    let client = &red["clients"][0];
    assert!(client["bytes_down"].as_u64().unwrap() > 0, "{client}");
    let entity = client["entity"].as_u64().unwrap();
    assert!(entities.iter().any(|e| e[0].as_u64() == Some(entity)));
    let window = &red["last_second"];
    assert_eq!(red["name"], "red");
    // A second of a 60 Hz room, give or take the timer's edges.
    let ticks = window["ticks"].as_u64().unwrap();
    assert!((50..=70).contains(&ticks), "{window}");
    assert!(window["tick_us"]["p99"].as_f64().unwrap() > 0.0);

    // Watching another room moves the feed there.
    ws.send(Message::Text(r#"{"watch":"blue"}"#.into()))
        .await
        .unwrap();
    let blue = loop {
        let world = next_of(&mut ws, "world").await;
        if world["room"] == "blue" {
            break world;
        }
    };
    assert_eq!(blue["entities"].as_array().unwrap().len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_admin_address_needs_its_bearer_token() {
    // The config says so, naming the key.
    let mut layers = ConfigLayers::new();
    layers.set("server.admin=0.0.0.0:9100", "--admin").unwrap();
    let err = layers.load::<ArenaConfig>().unwrap_err().to_string();
    assert!(
        err.contains("server.admin") && err.contains("admin_token_file"),
        "{err}"
    );
    // So does the server, handed no token.
    let h = start_rooms(&["room-0"], &["game.prop_count=5"]);
    let refused =
        tickwire_server::admin::serve("0.0.0.0:0".parse().unwrap(), Arc::clone(&h.rooms), None)
            .await
            .unwrap_err();
    assert!(
        refused.to_string().contains("admin_token_file"),
        "{refused}"
    );

    // With a token: nothing without it, everything with it.
    let token = "s3cret-token-0123456789";
    let admin = tickwire_server::admin::serve_with_token(
        "127.0.0.1:0".parse().unwrap(),
        Arc::clone(&h.rooms),
        None,
        Some(token.to_owned()),
    )
    .await
    .unwrap();
    for path in ["/status", "/metrics", "/", "/status?token=wrong"] {
        let (head, _) = http_get(admin, path).await;
        assert!(head.contains("401"), "{path}: {head}");
        assert!(
            head.to_lowercase().contains("www-authenticate: bearer"),
            "{head}"
        );
    }
    let (head, body) = http_get(admin, &format!("/status?token={token}")).await;
    assert!(head.contains("200 OK"), "{head}");
    assert!(body.contains("\"rooms\""));
    let authorization = format!("authorization: Bearer {token}");
    let with_header = http_request(admin, "GET", "/metrics", &[&authorization]).await;
    assert!(with_header.starts_with("HTTP/1.1 200"), "{with_header}");
    // The monitor's WebSocket too.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{admin}/ws"))
            .await
            .is_err()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{admin}/ws?token={token}"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
}

/// The feed knows no game: a cubes3d room is described by its own schema, and its world
/// (901 cubes and the pushers) streams the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_serves_any_game_from_its_schema() {
    use tickwire_sim::cubes3d::{Cubes3d, CubesConfig};
    let config = tickwire_tests::game_config_with::<CubesConfig>(&[
        "server.game=cubes3d",
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
    ]);
    let server = tickwire_server::Server::start::<Cubes3d>(&config)
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.admin_addr()))
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["game"], "cubes3d");
    let schema: SchemaDescription =
        serde_json::from_value(hello["rooms"][0]["schema"].clone()).unwrap();
    let kinds: Vec<&str> = schema.kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(kinds, ["pusher", "cube"]);
    assert!(
        hello["rooms"][0]["game_config"]["floor_width_m"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    ws.send(Message::Text(r#"{"watch":"room-0"}"#.into()))
        .await
        .unwrap();
    let world = next_of(&mut ws, "world").await;
    let entities = world["entities"].as_array().unwrap();
    assert_eq!(
        entities.len(),
        usize::try_from(CubesConfig::default().cube_count).unwrap()
    );
    // Each cube: index, kind, x, y, z and its rotation's four fields.
    assert!(
        entities
            .iter()
            .all(|e| e.as_array().unwrap().len() == 2 + 7)
    );
    server.shutdown("test over").await;
}
