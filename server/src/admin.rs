//! The admin HTTP address: Prometheus `/metrics` and a `/status` JSON page.
//!
//! A deliberately small HTTP/1.1 responder: GET /metrics and /status, and POST
//! /rooms/ROOM/clients/ID/kick; one request per connection, request
//! head capped at 8 KiB and 2 s. It defaults to loopback; it is not authenticated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use tickwire_netcode::udp::Drops;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::room::{Room, RoomCommand};
use crate::room_core::ClientId;

const MAX_REQUEST_BYTES: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

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
}

/// Serves `/metrics` and `/status` on `addr` until the runtime stops; returns the bound
/// address. `udp_drops` is the game socket's drop counter, reported with the rest.
///
/// # Errors
/// [`AdminError`] if the address cannot be bound or the recorder cannot be installed.
pub async fn serve(
    addr: SocketAddr,
    rooms: Arc<Vec<Room>>,
    udp_drops: Option<Drops>,
) -> Result<SocketAddr, AdminError> {
    let handle = crate::recorder::prometheus()?;
    let bind = |error| AdminError::Bind { addr, error };
    let listener = TcpListener::bind(addr).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let started = Instant::now();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (handle, rooms) = (handle.clone(), Arc::clone(&rooms));
            tokio::spawn(async move {
                if let Err(e) = respond(stream, &handle, &rooms, started, udp_drops).await {
                    tracing::debug!(error = %e, "admin request failed");
                }
            });
        }
    });
    tracing::info!(addr = %bound, "admin: /metrics and /status");
    Ok(bound)
}

async fn respond(
    mut stream: TcpStream,
    metrics: &PrometheusHandle,
    rooms: &Arc<Vec<Room>>,
    started: Instant,
    udp_drops: Option<Drops>,
) -> anyhow::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 || head.len() + n > MAX_REQUEST_BYTES {
                break;
            }
            head.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read).await??;
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // Rendering reads /proc and takes the rooms' locks: off the async workers.
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => {
            let metrics = metrics.clone();
            let body = tokio::task::spawn_blocking(move || {
                // The kernel keeps this count; the scrape copies it.
                if let Some(dropped) = udp_drops.and_then(|d| d.read()) {
                    metrics::counter!("tickwire_udp_receive_drops_total").absolute(dropped);
                }
                metrics.render()
            })
            .await?;
            ("200 OK", "text/plain; version=0.0.4", body)
        }
        ("GET", "/status") => {
            let rooms = Arc::clone(rooms);
            let body = tokio::task::spawn_blocking(move || {
                status_json(&rooms, started, udp_drops.and_then(|d| d.read())).to_string()
            })
            .await?;
            ("200 OK", "application/json", body)
        }
        ("POST", path) if path.ends_with("/kick") => kick(rooms, path),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /status\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics, GET /status, POST /rooms/ROOM/clients/ID/kick\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// `POST /rooms/{room}/clients/{id}/kick`: the room says `Goodbye { Kicked }` to the
/// client and closes its connection.
fn kick(rooms: &[Room], path: &str) -> (&'static str, &'static str, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (room, id) = match parts.as_slice() {
        ["rooms", room, "clients", id, "kick"] => (*room, id.parse::<u32>().ok()),
        _ => ("", None),
    };
    let (Some(id), Some(room)) = (id, rooms.iter().find(|r| r.name() == room)) else {
        return (
            "404 Not Found",
            "text/plain",
            "no such room or client id: POST /rooms/ROOM/clients/ID/kick\n".to_owned(),
        );
    };
    let command = RoomCommand::Kick {
        client: ClientId(id),
        message: "kicked by an operator".to_owned(),
    };
    match room.send(command) {
        Ok(()) => (
            "202 Accepted",
            "text/plain",
            format!("kicking client {id} of {}\n", room.name()),
        ),
        Err(_) => (
            "503 Service Unavailable",
            "text/plain",
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
                "shots": view.stats.shots,
                "datagrams_out": view.stats.datagrams_out,
                "bytes_out": view.stats.bytes_out,
                "bad_datagrams": view.stats.bad_datagrams,
                "snapshots_held_back": view.stats.snapshots_held_back,
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
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut all = crate::stats::TickStats::new();
    let mut clients = 0;
    for room in rooms {
        room.merge_into(&mut all);
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
        "rooms": room_list,
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
