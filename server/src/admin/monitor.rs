//! The live monitor: one self-contained page (`/`) fed over a WebSocket (`/ws`).
//!
//! The feed, as JSON text messages:
//! - `hello` once: the game and each room's replication schema (as a welcome describes it,
//!   so the page draws any game's entities from their fields, scales and offsets) and its
//!   `[game]` values (the world's size);
//! - `status` once a second: the `/status` document, whose rooms carry their tick duration
//!   and lateness over the last second alone (`last_second`: p50, p99, max), which each
//!   room's tick thread keeps;
//! - `world` up to 20 times a second for the room the page watches: `[index, kind, fields…]`
//!   per entity, the quantized values the room's snapshots were coded from.
//!
//! The page says which room to watch with `{"watch": "room-0"}`. The world is copied by the
//! room's tick thread only while someone watches, at most every 50 ms, and never waiting for
//! a lock; everything else — copying it out, the JSON — happens here, on the
//! async workers and blocking pool, never on a tick thread.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use super::AdminState;
use crate::room::{Watching, WorldFrame};
use tickwire_netcode::schema::SchemaDescription;

/// The monitor page as written, with a marker where the shared chart code goes.
const PAGE_TEMPLATE: &str = include_str!("monitor.html");

/// The monitor page: HTML, CSS and script in one document, the chart code included.
#[must_use]
pub fn page() -> &'static str {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE.get_or_init(|| PAGE_TEMPLATE.replace("/*CHARTS_JS*/", super::CHARTS_JS))
}

/// How often the watched room's world is sent (at most; 20 Hz).
const WORLD_EVERY: Duration = crate::room::WORLD_EVERY;
/// How often the status and the per-second windows are sent.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// `GET /ws`: upgrades to the monitor's WebSocket.
pub(crate) async fn upgrade(
    State(state): State<Arc<AdminState>>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| feed(socket, state))
}

/// What the page asks.
#[derive(Debug, serde::Deserialize)]
struct Ask {
    /// The room to draw.
    watch: Option<String>,
}

async fn feed(mut socket: WebSocket, state: Arc<AdminState>) {
    let hello = serde_json::json!({
        "type": "hello",
        "game": state.rooms.first().map(crate::room::Room::game),
        "rooms": state.rooms.iter().map(|r| serde_json::json!({
            "name": r.name(),
            "schema": r.schema(),
            "game_config": r.game_config(),
        })).collect::<Vec<_>>(),
    });
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut watching: Option<(usize, Watching)> = None;
    let mut frame = WorldFrame::default();
    let mut world_every = tokio::time::interval(WORLD_EVERY);
    world_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut status_every = tokio::time::interval(STATUS_EVERY);
    status_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => continue,
                };
                let Ok(Ask { watch: Some(name) }) = serde_json::from_str::<Ask>(&text) else {
                    continue;
                };
                watching = state
                    .rooms
                    .iter()
                    .position(|r| r.name() == name)
                    .and_then(|at| Some((at, state.rooms.get(at)?.watch())));
                frame = WorldFrame::default();
            }
            _ = world_every.tick(), if watching.is_some() => {
                let Some((at, _)) = &watching else { continue };
                let Some(room) = state.rooms.get(*at) else { continue };
                if !room.world(&mut frame) {
                    continue;
                }
                let text = world_json(room.name(), room.schema(), &frame);
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            _ = status_every.tick() => {
                let state = Arc::clone(&state);
                // It takes the rooms' locks and reads /proc: off the async workers.
                let made = tokio::task::spawn_blocking(move || {
                    let status = super::status_json(
                        &state.rooms,
                        state.started,
                        state.udp_drops.and_then(|d| d.read()),
                    );
                    serde_json::json!({"type": "status", "status": status}).to_string()
                })
                .await;
                let Ok(text) = made else { return };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The `world` message: `{"type":"world","room":…,"tick":…,"entities":[[index, kind,
/// field…], …]}`, each entity with as many fields as its kind has.
fn world_json(room: &str, schema: &SchemaDescription, frame: &WorldFrame) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(64 + frame.entities.len() * 40);
    let _ = write!(
        out,
        "{{\"type\":\"world\",\"room\":{},\"tick\":{},\"entities\":[",
        serde_json::Value::from(room),
        frame.tick
    );
    for (i, e) in frame.entities.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{},{}", e.index, e.state.kind);
        let fields = schema
            .kinds
            .get(usize::from(e.state.kind))
            .map_or(0, |k| k.fields.len());
        for value in e.state.fields.iter().take(fields) {
            let _ = write!(out, ",{value}");
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}
