//! A room's metric handles, made once when its thread starts (recording through a handle
//! does not allocate); what each metric means is in `crate::recorder`.

use metrics::{Counter, Gauge, Histogram};

use crate::room_core::RoomStats;

/// The room's metrics, labelled with its name.
pub(super) struct RoomMetrics {
    pub(super) tick_duration: Histogram,
    pub(super) tick_lateness: Histogram,
    pub(super) ticks_skipped: Counter,
    pub(super) rtt: Histogram,
    pub(super) snapshots_dropped: Counter,
    pub(super) events_dropped: Counter,
    pub(super) snapshot_failures: Counter,
    clients: Gauge,
    datagrams_out: Counter,
    bytes_out: Counter,
    decode_errors: Counter,
    shots: Counter,
    inputs_late: Counter,
    inputs_missing: Counter,
    held_back: Counter,
}

impl RoomMetrics {
    /// The handles of room `room`.
    pub(super) fn new(room: &str) -> Self {
        let labels = [("room", room.to_owned())];
        Self {
            tick_duration: metrics::histogram!("tickwire_tick_duration_seconds", &labels),
            tick_lateness: metrics::histogram!("tickwire_tick_lateness_seconds", &labels),
            ticks_skipped: metrics::counter!("tickwire_ticks_skipped_total", &labels),
            rtt: metrics::histogram!("tickwire_client_rtt_seconds", &labels),
            snapshots_dropped: metrics::counter!("tickwire_snapshots_dropped_total", &labels),
            events_dropped: metrics::counter!("tickwire_events_dropped_total", &labels),
            snapshot_failures: metrics::counter!("tickwire_snapshot_failures_total", &labels),
            clients: metrics::gauge!("tickwire_clients", &labels),
            datagrams_out: metrics::counter!("tickwire_datagrams_out_total", &labels),
            bytes_out: metrics::counter!("tickwire_bytes_out_total", &labels),
            decode_errors: metrics::counter!("tickwire_decode_errors_total", &labels),
            shots: metrics::counter!("tickwire_shots_total", &labels),
            inputs_late: metrics::counter!("tickwire_inputs_late_total", &labels),
            inputs_missing: metrics::counter!("tickwire_inputs_missing_total", &labels),
            held_back: metrics::counter!("tickwire_snapshots_held_back_total", &labels),
        }
    }

    /// Counts what one tick (its commands and datagrams included) changed in the room's
    /// figures, from `before` to `after`, with `clients` playing now.
    pub(super) fn count(&self, before: &RoomStats, after: &RoomStats, clients: usize) {
        let (b, a) = (&before.net, &after.net);
        self.datagrams_out
            .increment(a.datagrams_out - b.datagrams_out);
        self.bytes_out.increment(a.bytes_out - b.bytes_out);
        self.decode_errors
            .increment(a.bad_datagrams - b.bad_datagrams);
        self.shots.increment(after.shots - before.shots);
        self.inputs_late.increment(a.inputs_late - b.inputs_late);
        self.inputs_missing
            .increment(a.inputs_missing - b.inputs_missing);
        self.held_back
            .increment(a.snapshots_held_back - b.snapshots_held_back);
        self.clients.set(clients as f64);
    }
}
