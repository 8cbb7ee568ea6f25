//! The admin HTTP address: Prometheus `/metrics`, the `/status` JSON document, kicking a
//! player, and the live monitor: a page at `/` fed over a WebSocket at `/ws` ([`monitor`]).
//!
//! Served by axum (HTTP/1.1 on hyper). It defaults to loopback, where it needs no
//! credentials; bound anywhere else it requires a bearer token (`server.admin_token_file`):
//! `Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser opening the monitor.

pub mod monitor;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tickwire_netcode::udp::Drops;
use tokio::net::TcpListener;

use crate::room::{Room, RoomCommand};
use crate::room_core::ClientId;

/// The chart code the monitor page and the bot report's HTML share (plain JavaScript, no
/// dependencies): line charts over time with axis ticks, and distribution (CDF) plots.
pub const CHARTS_JS: &str = include_str!("charts.js");

/// The admin address could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The metrics recorder could not be installed.
    #[error(transparent)]
    Recorder(#[from] crate::recorder::RecorderError),
    /// The TCP address could not be bound.
    #[error("cannot bind TCP {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why (said in the message).
        error: std::io::Error,
    },
    /// The token file cannot be used.
    #[error("server.admin_token_file {path}: {why}")]
    Token {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The address is not loopback and no token guards it.
    #[error(
        "server.admin = {addr} is reachable from other machines: set server.admin_token_file \
         to a file holding the bearer token it requires (or bind it to 127.0.0.1)"
    )]
    NeedsToken {
        /// The address.
        addr: SocketAddr,
    },
}

/// The bearer token in the file at `path`: its first line, trimmed.
///
/// # Errors
/// [`AdminError::Token`] if it cannot be read or holds no token.
pub fn read_token(path: &std::path::Path) -> Result<String, AdminError> {
    let fail = |why: String| AdminError::Token {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.len() < 16 {
        return Err(fail(
            "holds no token of at least 16 characters (make one with `openssl rand -hex 24`)"
                .to_owned(),
        ));
    }
    Ok(token.to_owned())
}

/// Where the game page at `/play` connects: the WebTransport endpoint's port (on the host
/// the page was loaded from) and, for a self-signed development certificate, its hash.
#[derive(Debug, Clone)]
pub struct Play {
    /// The WebTransport endpoint's UDP port.
    pub port: u16,
    /// SHA-256 of its certificate when browsers must pin it (self-signed); `None` when it
    /// has a certificate they trust.
    pub certificate_hash: Option<[u8; 32]>,
    /// The game played (the page knows how to draw and drive `arena`).
    pub game: &'static str,
}

/// How the admin address is served.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    /// The bearer token every request must carry; required off loopback.
    pub token: Option<String>,
    /// Where `/play` connects; `None`: no browser players.
    pub play: Option<Play>,
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct AdminState {
    pub(crate) rooms: Arc<Vec<Room>>,
    metrics: PrometheusHandle,
    pub(crate) started: Instant,
    pub(crate) udp_drops: Option<Drops>,
    token: Option<String>,
    pub(crate) play: Option<Play>,
}

/// Serves the admin address on `addr` (loopback: no token) until the runtime stops;
/// returns the bound address. `udp_drops` is the game socket's drop counter.
///
/// # Errors
/// [`AdminError`] if the address cannot be bound, is not loopback, or the recorder cannot
/// be installed.
pub async fn serve(
    addr: SocketAddr,
    rooms: Arc<Vec<Room>>,
    udp_drops: Option<Drops>,
) -> Result<SocketAddr, AdminError> {
    serve_with_token(addr, rooms, udp_drops, None).await
}

/// As [`serve`], requiring `token` as a bearer token on every request when it is `Some`.
///
/// # Errors
/// [`AdminError`] if the address cannot be bound, is not loopback and has no token, or the
/// recorder cannot be installed.
pub async fn serve_with_token(
    addr: SocketAddr,
    rooms: Arc<Vec<Room>>,
    udp_drops: Option<Drops>,
    token: Option<String>,
) -> Result<SocketAddr, AdminError> {
    serve_with(addr, rooms, udp_drops, AdminOptions { token, play: None }).await
}

/// As [`serve`], with `options`: a bearer token, and where the game page connects.
///
/// # Errors
/// As [`serve_with_token`].
pub async fn serve_with(
    addr: SocketAddr,
    rooms: Arc<Vec<Room>>,
    udp_drops: Option<Drops>,
    options: AdminOptions,
) -> Result<SocketAddr, AdminError> {
    let AdminOptions { token, play } = options;
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(AdminError::NeedsToken { addr });
    }
    let metrics = crate::recorder::prometheus()?;
    let bind = |error| AdminError::Bind { addr, error };
    let listener = TcpListener::bind(addr).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let state = Arc::new(AdminState {
        rooms,
        metrics,
        started: Instant::now(),
        udp_drops,
        token,
        play,
    });
    let app = Router::new()
        .route("/", get(monitor_page))
        .route("/ws", get(monitor::upgrade))
        .route("/metrics", get(metrics_text))
        .route("/status", get(status))
        .route("/play.json", get(play_json))
        .route("/play", get(play_page))
        .route("/play/pkg/{file}", get(play_pkg))
        .route("/rooms/{room}/clients/{id}/kick", post(kick))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            authorize,
        ))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin address stopped");
        }
    });
    tracing::info!(addr = %bound, "admin: /metrics and /status");
    Ok(bound)
}

/// The query string's `token`, for a browser that cannot set a header on a page or a
/// WebSocket.
#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Lets a request through when no token is required, or it carries the token.
async fn authorize(
    State(state): State<Arc<AdminState>>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or(query.token);
    if offered.is_some_and(|o| same(o.as_bytes(), token.as_bytes())) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this admin address needs its bearer token (Authorization: Bearer TOKEN, or ?token=TOKEN)\n",
        )
            .into_response()
    }
}

/// Compares without leaking where two tokens first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn monitor_page() -> Html<&'static str> {
    Html(monitor::page())
}

/// The game page's script and WebAssembly (`tickwire-web`, built by
/// `netcode/web/build.sh`): from `TICKWIRE_PLAY_PKG`, else the source tree's
/// `netcode/web/pkg`.
fn play_pkg_dir() -> std::path::PathBuf {
    std::env::var_os("TICKWIRE_PLAY_PKG").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../netcode/web/pkg"),
        std::path::PathBuf::from,
    )
}

/// `GET /play`: the game page (arena), which joins at once.
async fn play_page(State(state): State<Arc<AdminState>>) -> Response {
    match &state.play {
        Some(play) if play.game == "arena" => Html(include_str!("play.html")).into_response(),
        Some(play) => (
            StatusCode::NOT_FOUND,
            format!(
                "the browser client plays the arena; this server hosts {}\n",
                play.game
            ),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "browser players are off: set server.webtransport\n",
        )
            .into_response(),
    }
}

/// `GET /play/pkg/{file}`: the browser client's script and WebAssembly.
async fn play_pkg(Path(file): Path<String>) -> Response {
    let kind = match file.as_str() {
        "tickwire_web.js" => "text/javascript",
        "tickwire_web_bg.wasm" => "application/wasm",
        _ => return (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    };
    let path = play_pkg_dir().join(&file);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(path)).await
    };
    match read.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            format!(
                "the browser client is not built ({}: {e}): run netcode/web/build.sh\n",
                path.display()
            ),
        )
            .into_response(),
    }
}

/// `GET /play.json`: where a browser plays — the WebTransport URL's port and path on this
/// host, the certificate hash to pin (development), and the game — or 404 when browsers
/// cannot play here.
async fn play_json(State(state): State<Arc<AdminState>>) -> Response {
    let Some(play) = &state.play else {
        return (
            StatusCode::NOT_FOUND,
            "browser players are off: set server.webtransport\n",
        )
            .into_response();
    };
    axum::Json(serde_json::json!({
        "port": play.port,
        "path": crate::webtransport::PATH,
        "certificate_sha256": play.certificate_hash.map(|h| h.to_vec()),
        "game": play.game,
    }))
    .into_response()
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "try / (the live monitor), /metrics, /status, or POST /rooms/ROOM/clients/ID/kick\n",
    )
}

/// `GET /metrics`: Prometheus text. Rendering reads /proc: off the async workers.
async fn metrics_text(State(state): State<Arc<AdminState>>) -> Response {
    let metrics = state.metrics.clone();
    let udp_drops = state.udp_drops;
    let body = tokio::task::spawn_blocking(move || {
        // The kernel keeps this count; the scrape copies it.
        if let Some(dropped) = udp_drops.and_then(|d| d.read()) {
            metrics::counter!("tickwire_udp_receive_drops_total").absolute(dropped);
        }
        metrics.render()
    })
    .await
    .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// `GET /status`: the JSON document. It takes the rooms' locks: off the async workers.
async fn status(State(state): State<Arc<AdminState>>) -> Response {
    let body = tokio::task::spawn_blocking(move || {
        status_json(
            &state.rooms,
            state.started,
            state.udp_drops.and_then(|d| d.read()),
        )
        .to_string()
    })
    .await
    .unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /rooms/{room}/clients/{id}/kick`: the room says `Goodbye { Kicked }` to the
/// client and closes its connection.
async fn kick(
    State(state): State<Arc<AdminState>>,
    Path((room, id)): Path<(String, String)>,
) -> (StatusCode, String) {
    let id = id.parse::<u32>().ok();
    let (Some(id), Some(room)) = (id, state.rooms.iter().find(|r| r.name() == room)) else {
        return (
            StatusCode::NOT_FOUND,
            "no such room or client id: POST /rooms/ROOM/clients/ID/kick\n".to_owned(),
        );
    };
    let command = RoomCommand::Kick {
        client: ClientId(id),
        message: "kicked by an operator".to_owned(),
    };
    match room.send(command) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            format!("kicking client {id} of {}\n", room.name()),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the room is busy; try again\n".to_owned(),
        ),
    }
}

/// The `/status` document: uptime, clients, resident memory, the packets the kernel dropped
/// on the game socket (`udp_drops`) and tick figures of the whole process, and per room its
/// world, tick figures and clients.
#[must_use]
pub fn status_json(
    rooms: &[Room],
    started: Instant,
    udp_receive_drops: Option<u64>,
) -> serde_json::Value {
    let room_list: Vec<serde_json::Value> = rooms
        .iter()
        .map(|room| {
            let view = room.view();
            let tick = room.summary();
            serde_json::json!({
                "name": room.name(),
                "game": room.game(),
                "tick": view.tick.get(),
                "players": view.players,
                "props": view.props,
                "moving_props": view.moving_props,
                "tick_us": {"p50": tick.tick_us_p50, "p99": tick.tick_us_p99, "max": tick.tick_us_max},
                "tick_lateness_us": {"p50": tick.late_us_p50, "p99": tick.late_us_p99, "p999": tick.late_us_p999, "max": tick.late_us_max},
                "ticks": tick.ticks,
                "ticks_skipped": tick.skipped,
                "last_second": window_json(&room.last_second()),
                "shots": view.stats.shots,
                "datagrams_out": view.stats.net.datagrams_out,
                "bytes_out": view.stats.net.bytes_out,
                "bad_datagrams": view.stats.net.bad_datagrams,
                "snapshots_held_back": view.stats.net.snapshots_held_back,
                "clients": room.clients().iter().map(|c| serde_json::json!({
                    "id": c.id,
                    "user": c.user,
                    "name": c.name,
                    "rtt_ms": c.rtt_ms,
                    "loss": c.loss,
                    "inputs_late": c.inputs_late,
                    "inputs_missing": c.inputs_missing,
                    "datagrams_dropped": c.datagrams_dropped,
                    "send_queue_bytes": c.send_queue_bytes,
                    "entity": c.entity,
                    "bytes_down": c.bytes_down,
                    "bytes_up": c.bytes_up,
                    "transport": c.transport,
                    "state": c.state.map(|s| entity_json(room.schema(), &s)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut all = crate::stats::TickStats::new();
    let mut second = crate::stats::TickStats::coarse();
    let mut clients = 0;
    for room in rooms {
        room.merge_into(&mut all);
        room.merge_last_second_into(&mut second);
        clients += room.view().clients;
    }
    let tick = all.summary();
    serde_json::json!({
        "game": rooms.first().map(Room::game),
        "uptime_s": started.elapsed().as_secs_f64(),
        "clients": clients,
        "rss_bytes": rss_bytes(),
        "udp_receive_drops": udp_receive_drops,
        // Every room together (the rooms' histograms merged).
        "tick_us": {"p50": tick.tick_us_p50, "p99": tick.tick_us_p99, "max": tick.tick_us_max},
        "tick_lateness_us": {"p50": tick.late_us_p50, "p99": tick.late_us_p99, "p999": tick.late_us_p999, "max": tick.late_us_max},
        "ticks": tick.ticks,
        "ticks_skipped": tick.skipped,
        // Every room's last second alone: a spike shows in the second it happened.
        "last_second": window_json(&second.summary()),
        // The distribution of tick lateness since start, as [µs, fraction at or below].
        "tick_lateness_us_cdf": all.lateness_cdf_us(),
        "rooms": room_list,
    })
}

/// An entity's replicated fields by name, decoded as the schema says (value × scale +
/// offset): what `/status` shows of each player.
fn entity_json(
    schema: &tickwire_netcode::schema::SchemaDescription,
    state: &tickwire_netcode::schema::EntityState,
) -> serde_json::Value {
    let Some(kind) = schema.kinds.get(usize::from(state.kind)) else {
        return serde_json::Value::Null;
    };
    let mut fields = serde_json::Map::new();
    fields.insert("kind".to_owned(), kind.name.clone().into());
    for (field, &value) in kind.fields.iter().zip(&state.fields) {
        fields.insert(
            field.name.clone(),
            (f64::from(value) * field.scale + field.offset).into(),
        );
    }
    fields.into()
}

/// A window's figures as `/status` writes them.
fn window_json(w: &crate::stats::TickSummary) -> serde_json::Value {
    serde_json::json!({
        "ticks": w.ticks,
        "tick_us": {"p50": w.tick_us_p50, "p99": w.tick_us_p99, "max": w.tick_us_max},
        "tick_lateness_us": {"p50": w.late_us_p50, "p99": w.late_us_p99, "max": w.late_us_max},
    })
}

/// The process's resident memory (bytes), from `/proc/self/status`; `None` where there is
/// no procfs.
#[must_use]
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
