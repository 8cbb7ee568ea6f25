//! The admin HTTP address: Prometheus `/metrics` and a `/status` JSON page.
//!
//! A deliberately small HTTP/1.1 responder: GET /metrics and /status, and POST
//! /rooms/ROOM/clients/ID/kick; one request per connection, request
//! head capped at 8 KiB and 2 s. It defaults to loopback; it is not authenticated.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tickwire_netcode::udp::Drops;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::room::{Room, RoomCommand};
use crate::room_core::ClientId;

const MAX_REQUEST_BYTES: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How often histogram samples are drained when nobody scrapes `/metrics`.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder (the `metrics` facade has one recorder per process),
/// installed on first use.
///
/// # Errors
/// If another recorder was installed first.
pub fn prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                ])
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            describe_metrics();
            // The recorder keeps every histogram sample until it is drained, which rendering
            // /metrics does; a server nobody scrapes would grow for ever (0.7 MB a minute
            // with 200 clients). Upkeep drains them into the summaries on its own schedule.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| format!("cannot start the metrics upkeep thread: {e}"))?;
            Ok(handle)
        })
        .clone()
}

/// Gives every metric the server records its unit and a line of help, which `/metrics`
/// prints as `# HELP`: what an operator reads in a dashboard without the source.
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "tickwire_tick_duration_seconds",
        Unit::Seconds,
        "Time one room's tick took: simulation, lag compensation, snapshots for every client."
    );
    describe_histogram!(
        "tickwire_tick_lateness_seconds",
        Unit::Seconds,
        "How long after its deadline a room's tick started."
    );
    describe_counter!(
        "tickwire_ticks_skipped_total",
        "Ticks a room skipped to catch up after falling further behind than tick.max_catch_up_ticks."
    );
    describe_gauge!("tickwire_clients", "Clients playing in the room.");
    describe_counter!(
        "tickwire_datagrams_out_total",
        "Snapshot datagrams the room produced."
    );
    describe_counter!(
        "tickwire_bytes_out_total",
        Unit::Bytes,
        "Snapshot payload bytes the room produced."
    );
    describe_counter!(
        "tickwire_datagrams_in_total",
        "Datagrams read from the room's clients."
    );
    describe_counter!(
        "tickwire_bytes_in_total",
        Unit::Bytes,
        "Datagram bytes read from the room's clients."
    );
    describe_counter!(
        "tickwire_datagrams_dropped_total",
        "Client datagrams refused by the per-client rate limit (a flood disconnects the sender)."
    );
    describe_counter!(
        "tickwire_decode_errors_total",
        "Client datagrams that did not decode as input datagrams (malformed bytes, wrong type \
         byte, no inputs or more than 16); 50 from one client disconnect it."
    );
    describe_counter!(
        "tickwire_inputs_late_total",
        "Inputs that arrived after their tick had run."
    );
    describe_counter!(
        "tickwire_inputs_missing_total",
        "Client ticks run without that tick's input (the last input repeated)."
    );
    describe_counter!(
        "tickwire_snapshots_dropped_total",
        "Snapshot datagrams quinn dropped from a full send queue (a client too slow to drain it)."
    );
    describe_counter!(
        "tickwire_snapshots_held_back_total",
        "Snapshots not sent to clients that stopped acknowledging (the lagging back-off)."
    );
    describe_counter!(
        "tickwire_events_dropped_total",
        "Game events (shot verdicts) dropped because the client's control stream was backed up."
    );
    describe_counter!("tickwire_shots_total", "Shots the room judged.");
    describe_counter!(
        "tickwire_snapshot_failures_total",
        "Snapshots the room could not encode for a client (a server fault; that client is \
         disconnected with Goodbye ServerError, the others are served)."
    );
    describe_counter!(
        "tickwire_disconnects_total",
        "Joined clients whose connection ended, by reason: client_left, client_closed, \
         timed_out (silent past net.idle_timeout_ms), misbehaving, kicked, shutdown, \
         server_error, lost; and no_hello (connected but never opened a control stream)."
    );
    describe_counter!(
        "tickwire_rejects_total",
        "Clients refused at join, by reason (version_mismatch, unauthorized, room_full, \
         server_full, no_such_room, bad_hello, datagram_too_small, shutting_down)."
    );
    describe_histogram!(
        "tickwire_client_rtt_seconds",
        Unit::Seconds,
        "Clients' round-trip times as QUIC measures them, sampled about once a second."
    );
    describe_counter!(
        "tickwire_udp_receive_drops_total",
        "Packets the kernel dropped on the game socket before the server read them (receive \
         buffer full: raise net.udp_buffer_bytes, or the server is short of CPU)."
    );
}

/// Serves `/metrics` and `/status` on `addr` until the runtime stops; returns the bound
/// address. `udp_drops` is the game socket's drop counter, reported with the rest.
///
/// # Errors
/// If the address cannot be bound or the recorder cannot be installed.
pub async fn serve(
    addr: SocketAddr,
    rooms: Arc<Vec<Room>>,
    udp_drops: Option<Drops>,
) -> anyhow::Result<SocketAddr> {
    let handle = prometheus().map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
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
