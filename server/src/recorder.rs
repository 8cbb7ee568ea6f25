//! The process-wide Prometheus recorder (the `metrics` facade has one per process) and what
//! each metric the server records means: its unit and the line of help `/metrics` prints as
//! `# HELP`. Rooms record into it; the admin address renders it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The Prometheus recorder could not be installed (the message says why: another recorder
/// came first, or a thread could not start).
#[derive(Debug, Clone, thiserror::Error)]
#[error("metrics recorder: {0}")]
pub struct RecorderError(String);

/// How often histogram samples are drained when nobody scrapes `/metrics`.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder (the `metrics` facade has one recorder per process),
/// installed on first use.
///
/// # Errors
/// If another recorder was installed first.
pub fn prometheus() -> Result<PrometheusHandle, RecorderError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, RecorderError>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                ])
                .map_err(|e| RecorderError(e.to_string()))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| RecorderError(e.to_string()))?;
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
                .map_err(|e| RecorderError(format!("cannot start the upkeep thread: {e}")))?;
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
