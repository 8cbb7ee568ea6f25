//! Tick timing figures: how long ticks take and how late they start.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest value the histograms track exactly (nanoseconds): ten seconds. Larger values are
/// clamped to it rather than dropped.
const MAX_TRACKED_NS: u64 = 10_000_000_000;

/// Running figures of one room's tick loop.
#[derive(Debug, Clone)]
pub struct TickStats {
    /// Ticks simulated.
    pub ticks: u64,
    /// Ticks skipped because the loop fell too far behind.
    pub skipped: u64,
    /// Time spent simulating each tick (nanoseconds).
    pub duration_ns: Histogram<u64>,
    /// Delay between each tick's deadline and its start (nanoseconds).
    pub lateness_ns: Histogram<u64>,
}

impl Default for TickStats {
    fn default() -> Self {
        Self::new()
    }
}

impl TickStats {
    /// Empty figures.
    ///
    /// # Panics
    /// Never: the histogram bounds are constants known to be valid.
    #[must_use]
    #[allow(clippy::expect_used)] // constant, valid bounds
    pub fn new() -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("valid histogram bounds");
        Self {
            ticks: 0,
            skipped: 0,
            duration_ns: histogram(),
            lateness_ns: histogram(),
        }
    }

    /// Records one tick.
    pub fn record(&mut self, duration: Duration, lateness: Duration, skipped: u64) {
        self.ticks += 1;
        self.skipped += skipped;
        self.duration_ns.saturating_record(clamp_ns(duration));
        self.lateness_ns.saturating_record(clamp_ns(lateness));
    }

    /// Adds another room's figures to these.
    pub fn merge(&mut self, other: &Self) {
        self.ticks += other.ticks;
        self.skipped += other.skipped;
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.duration_ns.add(&other.duration_ns);
        let _ = self.lateness_ns.add(&other.lateness_ns);
    }

    /// A summary in microseconds, for status lines and reports.
    #[must_use]
    pub fn summary(&self) -> TickSummary {
        let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        TickSummary {
            ticks: self.ticks,
            skipped: self.skipped,
            tick_us_p50: us(&self.duration_ns, 0.5),
            tick_us_p99: us(&self.duration_ns, 0.99),
            tick_us_max: self.duration_ns.max() as f64 / 1000.0,
            late_us_p50: us(&self.lateness_ns, 0.5),
            late_us_p99: us(&self.lateness_ns, 0.99),
            late_us_p999: us(&self.lateness_ns, 0.999),
            late_us_max: self.lateness_ns.max() as f64 / 1000.0,
        }
    }
}

impl TickStats {
    /// Stats for a short window (a second of ticks): two significant digits instead of
    /// three, so resetting and summarizing them is cheap enough for a tick thread.
    #[must_use]
    #[allow(clippy::expect_used)] // constant, valid bounds
    pub fn coarse() -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_TRACKED_NS, 2).expect("valid histogram bounds");
        Self {
            ticks: 0,
            skipped: 0,
            duration_ns: histogram(),
            lateness_ns: histogram(),
        }
    }

    /// Empties the stats, keeping their buffers.
    pub fn reset(&mut self) {
        self.ticks = 0;
        self.skipped = 0;
        self.duration_ns.reset();
        self.lateness_ns.reset();
    }

    /// The lateness distribution as `[microseconds, fraction of ticks at or below]` points,
    /// a few per halving of the tail: what a CDF plot draws.
    #[must_use]
    pub fn lateness_cdf_us(&self) -> Vec<(f64, f64)> {
        if self.lateness_ns.is_empty() {
            return Vec::new();
        }
        self.lateness_ns
            .iter_quantiles(4)
            .map(|v| {
                (
                    v.value_iterated_to() as f64 / 1000.0,
                    v.quantile_iterated_to(),
                )
            })
            .collect()
    }
}

fn clamp_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TRACKED_NS)
}

/// Tick figures in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickSummary {
    /// Ticks simulated.
    pub ticks: u64,
    /// Ticks skipped.
    pub skipped: u64,
    /// Median tick duration (µs).
    pub tick_us_p50: f64,
    /// 99th-percentile tick duration (µs).
    pub tick_us_p99: f64,
    /// Longest tick (µs).
    pub tick_us_max: f64,
    /// Median tick lateness (µs).
    pub late_us_p50: f64,
    /// 99th-percentile tick lateness (µs).
    pub late_us_p99: f64,
    /// 99.9th-percentile tick lateness (µs).
    pub late_us_p999: f64,
    /// Latest tick start (µs).
    pub late_us_max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coarse_window_holds_only_its_second_and_resets_for_the_next() {
        // What a room's tick thread does: everything into its stats since start, this
        // second into a coarse window it hands over and resets once a second.
        let (mut all, mut window) = (TickStats::new(), TickStats::coarse());
        for _ in 0..1000 {
            all.record(Duration::from_micros(100), Duration::from_micros(5), 0);
            window.record(Duration::from_micros(100), Duration::from_micros(5), 0);
        }
        window.reset();
        assert_eq!(window.summary().ticks, 0);
        for _ in 0..60 {
            all.record(Duration::from_micros(2000), Duration::from_micros(400), 0);
            window.record(Duration::from_micros(2000), Duration::from_micros(400), 0);
        }
        let (all, window) = (all.summary(), window.summary());
        assert_eq!(window.ticks, 60);
        // Since start, the slow second hides under the p50 …
        assert!(all.tick_us_p50 < 101.0, "{all:?}");
        // … in its own window it is the whole distribution (two significant digits: within
        // a bucket of 1/128).
        assert!(
            (window.tick_us_p50 - 2000.0).abs() <= 2000.0 / 128.0,
            "{window:?}"
        );
        assert!(
            (window.late_us_p99 - 400.0).abs() <= 400.0 / 128.0,
            "{window:?}"
        );
    }

    #[test]
    fn summary_reports_quantiles_in_microseconds() {
        let mut stats = TickStats::new();
        for i in 1..=100u64 {
            stats.record(Duration::from_micros(i * 10), Duration::from_micros(i), 0);
        }
        stats.record(Duration::ZERO, Duration::from_secs(3600), 2);
        let s = stats.summary();
        assert_eq!((s.ticks, s.skipped), (101, 2));
        assert!((s.tick_us_p50 - 500.0).abs() < 5.0, "{s:?}");
        assert!((s.late_us_p99 - 100.0).abs() < 1.0, "{s:?}");
        // An hour-long stall is clamped to the tracked range, not lost.
        assert!(s.late_us_max >= 9_990_000.0, "{s:?}");
        let mut total = TickStats::new();
        total.merge(&stats);
        total.merge(&stats);
        assert_eq!(total.summary().ticks, 202);
    }
}
