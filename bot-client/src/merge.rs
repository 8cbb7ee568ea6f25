//! Merging the reports of several bot processes into one (`tickwire-bot merge`), exactly:
//! counts and totals add up, per-bot rates are pooled, histograms are added bucket by
//! bucket, and every percentile is taken from the merged distribution.
//!
//! What is not one distribution is merged as an operator would read it: the server's own
//! figures are the worst any report saw (one fleet, several servers, or one server seen by
//! several processes), each process's CPU adds up, and the timeline adds the processes'
//! seconds side by side.

use crate::monitor::quantile;
use crate::report::{
    BotCounts, Distributions, LatenessFigures, LoadGenerator, P50Min, P50P99, RecordedHistogram,
    Report, Sample, ServerFigures, TickFigures,
};
use crate::swarm::FrameFigures;

/// Reports that cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
    /// A report has no distributions (written by an older tickwire-bot, or by hand).
    #[error("report {index} carries no distributions to merge (written by an older tickwire-bot?)")]
    NoDistributions {
        /// Which report (0-based, in the order given).
        index: usize,
    },
    /// A report's histogram has bounds no histogram can have.
    #[error("report {index}: its {which} histogram has invalid bounds")]
    BadHistogram {
        /// Which report.
        index: usize,
        /// Which histogram.
        which: &'static str,
    },
    /// Two reports' histograms were kept with different bounds or precision.
    #[error("report {index}: its {which} histogram's bounds differ from report 0's")]
    HistogramMismatch {
        /// Which report.
        index: usize,
        /// Which histogram.
        which: &'static str,
    },
    /// The reports are of servers at different rates.
    #[error(
        "report {index} is of a {tick_hz} Hz / {snapshot_hz} Hz server, report 0 of {first_tick_hz} Hz / {first_snapshot_hz} Hz"
    )]
    RatesDiffer {
        /// Which report.
        index: usize,
        /// Its tick rate.
        tick_hz: u32,
        /// Its snapshot rate.
        snapshot_hz: u32,
        /// Report 0's tick rate.
        first_tick_hz: u32,
        /// Report 0's snapshot rate.
        first_snapshot_hz: u32,
    },
}

/// One report of all `reports`.
///
/// # Errors
/// [`MergeError`] when there are none, when one carries no distributions, or when they
/// cannot be merged (histograms kept differently, servers at other rates).
pub fn merge(reports: &[Report]) -> Result<Report, MergeError> {
    let first = reports.first().ok_or(MergeError::Empty)?;
    let mut rtt = None;
    let mut lateness = None;
    let mut d = Distributions::default();
    let mut bots = BotCounts::default();
    let mut failures = std::collections::BTreeMap::new();
    let mut hits_judged = 0;
    let mut profiles: Vec<&str> = Vec::new();
    for (index, r) in reports.iter().enumerate() {
        let rd = &r.distributions;
        if rd.rtt_us.high == 0 || rd.frame_lateness_us.high == 0 {
            return Err(MergeError::NoDistributions { index });
        }
        if (r.tick_hz, r.snapshot_hz) != (first.tick_hz, first.snapshot_hz) {
            return Err(MergeError::RatesDiffer {
                index,
                tick_hz: r.tick_hz,
                snapshot_hz: r.snapshot_hz,
                first_tick_hz: first.tick_hz,
                first_snapshot_hz: first.snapshot_hz,
            });
        }
        add_histogram(&mut rtt, &rd.rtt_us, index, "RTT")?;
        add_histogram(
            &mut lateness,
            &rd.frame_lateness_us,
            index,
            "frame lateness",
        )?;
        d.snapshots_per_s_per_bot
            .extend_from_slice(&rd.snapshots_per_s_per_bot);
        d.down_kbit_per_s_per_bot
            .extend_from_slice(&rd.down_kbit_per_s_per_bot);
        d.up_kbit_per_s_per_bot
            .extend_from_slice(&rd.up_kbit_per_s_per_bot);
        d.corrections += rd.corrections;
        d.bot_minutes += rd.bot_minutes;
        d.rendered_frames += rd.rendered_frames;
        d.extrapolated_frames += rd.extrapolated_frames;
        d.hits_confirmed += rd.hits_confirmed;
        d.bot_frames += rd.bot_frames;
        d.bot_frames_late += rd.bot_frames_late;
        d.bot_frames_skipped += rd.bot_frames_skipped;
        hits_judged += r.hits_judged;
        bots.requested += r.bots.requested;
        bots.connected += r.bots.connected;
        bots.failed += r.bots.failed;
        bots.dropped += r.bots.dropped;
        for (why, n) in &r.failures {
            *failures.entry(why.clone()).or_insert(0) += n;
        }
        if !profiles.contains(&r.profile.as_str()) {
            profiles.push(&r.profile);
        }
    }
    // Both are Some: the first report set them, and there is a first report.
    let (Some(rtt), Some(lateness)) = (rtt, lateness) else {
        return Err(MergeError::Empty);
    };
    for v in [
        &mut d.snapshots_per_s_per_bot,
        &mut d.down_kbit_per_s_per_bot,
        &mut d.up_kbit_per_s_per_bot,
    ] {
        v.sort_by(f64::total_cmp);
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let frames = FrameFigures {
        frames: d.bot_frames,
        late: d.bot_frames_late,
        skipped: d.bot_frames_skipped,
        lateness_us: lateness.clone(),
    };
    let sum = |f: fn(&LoadGenerator) -> Option<f64>| {
        reports
            .iter()
            .filter_map(|r| f(&r.load_generator))
            .reduce(|a, b| a + b)
    };
    Ok(Report {
        bots,
        duration_s: reports.iter().map(|r| r.duration_s).fold(0.0, f64::max),
        profile: profiles.join(" + "),
        tick_hz: first.tick_hz,
        snapshot_hz: first.snapshot_hz,
        snapshots_per_s_per_bot: P50Min {
            p50: quantile(&d.snapshots_per_s_per_bot, 0.5),
            min: d.snapshots_per_s_per_bot.first().copied().unwrap_or(0.0),
        },
        down_kbit_per_s_per_bot: P50P99 {
            p50: quantile(&d.down_kbit_per_s_per_bot, 0.5),
            p99: quantile(&d.down_kbit_per_s_per_bot, 0.99),
        },
        up_kbit_per_s_per_bot: P50P99 {
            p50: quantile(&d.up_kbit_per_s_per_bot, 0.5),
            p99: quantile(&d.up_kbit_per_s_per_bot, 0.99),
        },
        rtt_ms: P50P99 {
            p50: rtt.value_at_quantile(0.5) as f64 / 1000.0,
            p99: rtt.value_at_quantile(0.99) as f64 / 1000.0,
        },
        corrections_per_min: if d.bot_minutes > 0.0 {
            d.corrections as f64 / d.bot_minutes
        } else {
            0.0
        },
        extrapolated_frame_fraction: ratio(d.extrapolated_frames, d.rendered_frames),
        hits_confirmed_fraction: ratio(d.hits_confirmed, hits_judged),
        hits_judged,
        server: worst_server(reports.iter().filter_map(|r| r.server.as_ref())),
        server_unreachable: reports.iter().find_map(|r| r.server_unreachable.clone()),
        load_generator: LoadGenerator {
            frames_on_time_fraction: frames.on_time_fraction(),
            frame_lateness_ms: P50P99 {
                p50: lateness.value_at_quantile(0.5) as f64 / 1000.0,
                p99: lateness.value_at_quantile(0.99) as f64 / 1000.0,
            },
            cpu_cores: sum(|g| g.cpu_cores),
            machine_busy_fraction: reports
                .iter()
                .filter_map(|r| r.load_generator.machine_busy_fraction)
                .reduce(f64::max),
            udp_receive_drops: reports
                .iter()
                .filter_map(|r| r.load_generator.udp_receive_drops)
                .reduce(|a, b| a + b),
        },
        failures,
        timeline: timeline(reports),
        distributions: Distributions {
            rtt_us: RecordedHistogram::of(&rtt),
            frame_lateness_us: RecordedHistogram::of(&lateness),
            ..d
        },
    })
}

/// Adds `recorded` to `total` (the first one becomes it).
fn add_histogram(
    total: &mut Option<hdrhistogram::Histogram<u64>>,
    recorded: &RecordedHistogram,
    index: usize,
    which: &'static str,
) -> Result<(), MergeError> {
    let histogram = recorded
        .histogram()
        .ok_or(MergeError::BadHistogram { index, which })?;
    match total {
        None => *total = Some(histogram),
        Some(total) => {
            if (total.low(), total.high(), total.sigfig())
                != (histogram.low(), histogram.high(), histogram.sigfig())
            {
                return Err(MergeError::HistogramMismatch { index, which });
            }
            total
                .add(&histogram)
                .map_err(|_| MergeError::HistogramMismatch { index, which })?;
        }
    }
    Ok(())
}

/// The worst of each server figure the reports saw.
fn worst_server<'a>(servers: impl Iterator<Item = &'a ServerFigures>) -> Option<ServerFigures> {
    servers.cloned().reduce(|a, b| ServerFigures {
        tick_us: TickFigures {
            p50: a.tick_us.p50.max(b.tick_us.p50),
            p99: a.tick_us.p99.max(b.tick_us.p99),
            max: a.tick_us.max.max(b.tick_us.max),
        },
        tick_lateness_us: LatenessFigures {
            p50: a.tick_lateness_us.p50.max(b.tick_lateness_us.p50),
            p99: a.tick_lateness_us.p99.max(b.tick_lateness_us.p99),
            p999: a.tick_lateness_us.p999.max(b.tick_lateness_us.p999),
            max: a.tick_lateness_us.max.max(b.tick_lateness_us.max),
        },
        ticks_skipped: a.ticks_skipped.max(b.ticks_skipped),
        rss_bytes: a.rss_bytes.max(b.rss_bytes),
        rss_bytes_per_client: a.rss_bytes_per_client.max(b.rss_bytes_per_client),
        clients: a.clients.max(b.clients),
        rooms: a.rooms.max(b.rooms),
        shares_process_with_bots: a.shares_process_with_bots || b.shares_process_with_bots,
        udp_receive_drops: a.udp_receive_drops.max(b.udp_receive_drops),
        // The worse tail: the distribution whose p99 is later.
        tick_lateness_us_cdf: if b.tick_lateness_us.p99 > a.tick_lateness_us.p99 {
            b.tick_lateness_us_cdf
        } else {
            a.tick_lateness_us_cdf
        },
    })
}

/// The processes' timelines second by second, side by side: bots and corrections add up,
/// rates are weighted by the bots playing, RTT p99 and the server's figures are the worst.
fn timeline(reports: &[Report]) -> Vec<Sample> {
    let len = reports.iter().map(|r| r.timeline.len()).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let samples: Vec<&Sample> = reports.iter().filter_map(|r| r.timeline.get(i)).collect();
            let bots: usize = samples.iter().map(|s| s.bots_connected).sum();
            let weighted = |f: fn(&Sample) -> f64| {
                if bots == 0 {
                    0.0
                } else {
                    samples
                        .iter()
                        .map(|s| f(s) * s.bots_connected as f64)
                        .sum::<f64>()
                        / bots as f64
                }
            };
            let worst = |f: fn(&Sample) -> Option<f64>| {
                samples.iter().filter_map(|s| f(s)).reduce(f64::max)
            };
            Sample {
                t_s: samples.first().map_or(0.0, |s| s.t_s),
                bots_connected: bots,
                snapshots_per_s_per_bot: weighted(|s| s.snapshots_per_s_per_bot),
                down_kbit_per_s_per_bot: weighted(|s| s.down_kbit_per_s_per_bot),
                up_kbit_per_s_per_bot: weighted(|s| s.up_kbit_per_s_per_bot),
                rtt_ms_p50: weighted(|s| s.rtt_ms_p50),
                rtt_ms_p99: samples.iter().map(|s| s.rtt_ms_p99).fold(0.0, f64::max),
                corrections: samples.iter().map(|s| s.corrections).sum(),
                server_tick_us_p99: worst(|s| s.server_tick_us_p99),
                server_tick_lateness_us_p99: worst(|s| s.server_tick_lateness_us_p99),
                server_tick_us_1s_p50: worst(|s| s.server_tick_us_1s_p50),
                server_tick_us_1s_p99: worst(|s| s.server_tick_us_1s_p99),
                server_tick_us_1s_max: worst(|s| s.server_tick_us_1s_max),
                server_tick_lateness_us_1s_p99: worst(|s| s.server_tick_lateness_us_1s_p99),
                server_tick_lateness_us_1s_max: worst(|s| s.server_tick_lateness_us_1s_max),
                bots_cpu_cores: samples
                    .iter()
                    .filter_map(|s| s.bots_cpu_cores)
                    .reduce(|a, b| a + b),
                machine_busy_fraction: worst(|s| s.machine_busy_fraction),
                server_rss_bytes: samples.iter().filter_map(|s| s.server_rss_bytes).max(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    /// A report of `bots` bots whose rates are `rates` and RTTs `rtts_us`.
    fn report(rates: &[f64], rtts_us: &[u64], corrections: u64) -> Report {
        let mut rtt = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &v in rtts_us {
            rtt.record(v).unwrap();
        }
        let mut lateness = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
        lateness.record(1500).unwrap();
        let mut sorted = rates.to_vec();
        sorted.sort_by(f64::total_cmp);
        Report {
            bots: BotCounts {
                requested: rates.len(),
                connected: rates.len(),
                failed: 0,
                dropped: 0,
            },
            tick_hz: 60,
            snapshot_hz: 30,
            profile: "clean".into(),
            snapshots_per_s_per_bot: P50Min {
                p50: quantile(&sorted, 0.5),
                min: sorted[0],
            },
            distributions: Distributions {
                snapshots_per_s_per_bot: sorted.clone(),
                down_kbit_per_s_per_bot: sorted.clone(),
                up_kbit_per_s_per_bot: sorted,
                rtt_us: RecordedHistogram::of(&rtt),
                frame_lateness_us: RecordedHistogram::of(&lateness),
                corrections,
                bot_minutes: rates.len() as f64,
                bot_frames: 100,
                ..Distributions::default()
            },
            ..Report::default()
        }
    }

    #[test]
    fn merged_percentiles_come_from_the_pooled_distributions_not_from_averages() {
        // One process's bots all at 30, the other's all at 20: the pooled p50 is 20 (nearest
        // rank of 8), the mean of the two p50s would be 25.
        let a = report(&[30.0, 30.0, 30.0, 30.0], &[1000, 1000, 1000, 1000], 2);
        let b = report(&[20.0, 20.0, 20.0, 20.0], &[9000, 9000, 9000, 9000], 0);
        let m = merge(&[a, b]).unwrap();
        assert_eq!(m.bots.connected, 8);
        assert_eq!(m.snapshots_per_s_per_bot.p50, 20.0);
        assert_eq!(m.snapshots_per_s_per_bot.min, 20.0);
        // RTT p99 is the slow process's, not a mean.
        assert!((m.rtt_ms.p99 - 9.0).abs() < 0.01, "{}", m.rtt_ms.p99);
        assert!((m.rtt_ms.p50 - 1.0).abs() < 0.01, "{}", m.rtt_ms.p50);
        assert_eq!(m.corrections_per_min, 2.0 / 8.0);
        assert_eq!(m.distributions.bot_frames, 200);
    }

    #[test]
    fn merging_is_exact_one_report_is_itself_and_the_order_does_not_matter() {
        let a = report(&[29.0, 30.0, 31.0], &[500, 1500, 2500], 1);
        let b = report(&[28.0, 32.0], &[700, 40_000], 3);
        let one = merge(std::slice::from_ref(&a)).unwrap();
        assert_eq!(one.distributions, a.distributions);
        assert_eq!(one.snapshots_per_s_per_bot, a.snapshots_per_s_per_bot);
        let ab = merge(&[a.clone(), b.clone()]).unwrap();
        let ba = merge(&[b.clone(), a.clone()]).unwrap();
        assert_eq!(ab.distributions, ba.distributions);
        // Merging merged reports gives the same as merging all at once.
        let c = report(&[10.0], &[100], 0);
        let nested = merge(&[ab.clone(), c.clone()]).unwrap();
        let flat = merge(&[a, b, c]).unwrap();
        assert_eq!(nested.distributions, flat.distributions);
        assert_eq!(nested.rtt_ms, flat.rtt_ms);
        // And it survives its JSON.
        let json = serde_json::to_string(&ab).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(merge(&[back]).unwrap().distributions, ab.distributions);
    }

    #[test]
    fn reports_that_cannot_merge_say_why() {
        assert_eq!(merge(&[]).unwrap_err(), MergeError::Empty);
        let a = report(&[30.0], &[1000], 0);
        let old = Report::default();
        assert_eq!(
            merge(&[a.clone(), old]).unwrap_err(),
            MergeError::NoDistributions { index: 1 }
        );
        let mut fast = report(&[60.0], &[1000], 0);
        fast.tick_hz = 128;
        assert!(matches!(
            merge(&[a, fast]).unwrap_err(),
            MergeError::RatesDiffer { index: 1, .. }
        ));
    }
}
