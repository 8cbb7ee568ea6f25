//! Sampling a running swarm about once a second: the live figures for progress, the
//! timeline for the HTML report, and at the end the [`Report`].

use std::time::Instant;

use hdrhistogram::Histogram;

use crate::cpu::CpuTimes;
use crate::report::{
    BotCounts, Distributions, LatenessFigures, LoadGenerator, P50Min, P50P99, RecordedHistogram,
    Report, Sample, ServerFigures, TickFigures,
};
use crate::swarm::{BotFigures, BotState, FrameFigures};

/// A bot's figures are measured from this long after it joined (its clocks settle first).
const SETTLE_S: f64 = 2.0;
/// A bot's rates need at least this long measured to count (seconds).
const MIN_SPAN_S: f64 = 0.5;

/// What the swarm measured by the end of a run.
#[derive(Debug, Clone, Copy)]
pub struct SwarmFigures<'a> {
    /// Every bot's figures, in bot order, with their states as they finished.
    pub bots: &'a [BotFigures],
    /// How the bots kept to their frame clock.
    pub frames: &'a FrameFigures,
    /// Packets the kernel dropped on the bots' sockets (`None` where unknown).
    pub udp_receive_drops: Option<u64>,
}

/// Follows a swarm's figures over time. See the [module docs](self).
#[derive(Debug)]
pub struct Monitor {
    started: Instant,
    /// Per bot: its figures when it had settled, and when that was.
    baselines: Vec<Option<(Instant, BotFigures)>>,
    previous: Option<(Instant, Vec<BotFigures>)>,
    rtt_us: Histogram<u64>,
    timeline: Vec<Sample>,
    /// CPU counters at the first sample (the run's CPU use is measured from there) and
    /// at the last.
    cpu_first: Option<(Instant, CpuTimes)>,
    cpu_last: Option<(Instant, CpuTimes)>,
}

impl Monitor {
    /// A monitor for `bots` bots, started now.
    #[must_use]
    #[allow(clippy::expect_used)] // constant, valid histogram bounds
    pub fn new(bots: usize) -> Self {
        Self {
            started: Instant::now(),
            baselines: vec![None; bots],
            previous: None,
            rtt_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            timeline: Vec::new(),
            cpu_first: None,
            cpu_last: None,
        }
    }

    /// Takes one sample of the bots' `figures` (in bot order) and the server's `/status`
    /// document if there is one; returns the sample.
    pub fn sample(&mut self, figures: &[BotFigures], server: Option<&serde_json::Value>) -> Sample {
        let now = Instant::now();
        for (baseline, f) in self.baselines.iter_mut().zip(figures) {
            let settled = f
                .joined_at
                .is_some_and(|t| now.duration_since(t).as_secs_f64() >= SETTLE_S);
            if baseline.is_none() && settled && f.state == BotState::Connected {
                *baseline = Some((now, f.clone()));
            }
        }
        let connected: Vec<&BotFigures> = figures
            .iter()
            .filter(|f| f.state == BotState::Connected)
            .collect();
        let mut rtts: Vec<f64> = connected.iter().map(|f| f.rtt_ms).collect();
        rtts.sort_by(f64::total_cmp);
        for rtt in &rtts {
            if *rtt > 0.0 {
                self.rtt_us.saturating_record((rtt * 1000.0) as u64);
            }
        }
        let (mut snapshots, mut down, mut up, mut n) = (0.0, 0.0, 0.0, 0.0);
        if let Some((then, before)) = &self.previous {
            let dt = now.duration_since(*then).as_secs_f64().max(1e-3);
            for (f, b) in figures.iter().zip(before) {
                if f.state == BotState::Connected && b.state == BotState::Connected {
                    snapshots += (f.snapshots - b.snapshots) as f64 / dt;
                    down += (f.bytes_down - b.bytes_down) as f64 * 8.0 / 1000.0 / dt;
                    up += (f.bytes_up - b.bytes_up) as f64 * 8.0 / 1000.0 / dt;
                    n += 1.0;
                }
            }
        }
        let per_bot = |x: f64| if n > 0.0 { x / n } else { 0.0 };
        let server_f64 = |path: &str| {
            server
                .and_then(|s| s.pointer(path))
                .and_then(serde_json::Value::as_f64)
        };
        let cpu = CpuTimes::now().map(|c| (now, c));
        let cpu_use = self.cpu_last.zip(cpu).and_then(|((then, before), (_, c))| {
            c.since(&before, now.duration_since(then).as_secs_f64())
        });
        self.cpu_first = self.cpu_first.or(cpu);
        self.cpu_last = cpu.or(self.cpu_last);
        let sample = Sample {
            t_s: now.duration_since(self.started).as_secs_f64(),
            bots_connected: connected.len(),
            snapshots_per_s_per_bot: per_bot(snapshots),
            down_kbit_per_s_per_bot: per_bot(down),
            up_kbit_per_s_per_bot: per_bot(up),
            rtt_ms_p50: quantile(&rtts, 0.5),
            rtt_ms_p99: quantile(&rtts, 0.99),
            // As the report counts them: from each bot's settling on.
            corrections: figures
                .iter()
                .zip(&self.baselines)
                .filter_map(|(f, b)| b.as_ref().map(|(_, b)| f.corrections - b.corrections))
                .sum(),
            server_tick_us_p99: server_f64("/tick_us/p99"),
            server_tick_lateness_us_p99: server_f64("/tick_lateness_us/p99"),
            server_tick_us_1s_p50: server_f64("/last_second/tick_us/p50"),
            server_tick_us_1s_p99: server_f64("/last_second/tick_us/p99"),
            server_tick_us_1s_max: server_f64("/last_second/tick_us/max"),
            server_tick_lateness_us_1s_p99: server_f64("/last_second/tick_lateness_us/p99"),
            server_tick_lateness_us_1s_max: server_f64("/last_second/tick_lateness_us/max"),
            bots_cpu_cores: cpu_use.map(|u| u.process_cores),
            machine_busy_fraction: cpu_use.map(|u| u.machine_busy),
            server_rss_bytes: server
                .and_then(|s| s.pointer("/rss_bytes"))
                .and_then(serde_json::Value::as_u64),
        };
        self.previous = Some((now, figures.to_vec()));
        self.timeline.push(sample.clone());
        sample
    }

    /// The report of the run that ended at `now`, from what the swarm measured (see
    /// [`SwarmFigures`]) and the server's last `/status`.
    #[must_use]
    pub fn report(
        &self,
        now: Instant,
        requested: usize,
        swarm: SwarmFigures<'_>,
        server: Option<&serde_json::Value>,
        profile: &str,
    ) -> Report {
        let figures = swarm.bots;
        let mut snapshots_per_s = Vec::new();
        let (mut down, mut up) = (Vec::new(), Vec::new());
        let (mut corrections, mut minutes) = (0u64, 0.0);
        let (mut frames, mut extrapolated, mut judged, mut confirmed) = (0u64, 0u64, 0u64, 0u64);
        for (f, baseline) in figures.iter().zip(&self.baselines) {
            let Some((then, b)) = baseline else {
                continue;
            };
            // Until the bot stopped publishing (the end, or when it dropped). A bot settled
            // only at the last sample has no span to measure a rate over.
            let secs = now.duration_since(*then).as_secs_f64();
            if secs < MIN_SPAN_S {
                continue;
            }
            snapshots_per_s.push((f.snapshots - b.snapshots) as f64 / secs);
            down.push((f.bytes_down - b.bytes_down) as f64 * 8.0 / 1000.0 / secs);
            up.push((f.bytes_up - b.bytes_up) as f64 * 8.0 / 1000.0 / secs);
            corrections += f.corrections - b.corrections;
            minutes += secs / 60.0;
            frames += f.frames - b.frames;
            extrapolated += f.extrapolated_frames - b.extrapolated_frames;
            judged += f.hits_judged - b.hits_judged;
            confirmed += f.hits_confirmed - b.hits_confirmed;
        }
        for v in [&mut snapshots_per_s, &mut down, &mut up] {
            v.sort_by(f64::total_cmp);
        }
        let mut failures = std::collections::BTreeMap::<String, usize>::new();
        let mut counts = BotCounts {
            requested,
            ..BotCounts::default()
        };
        for f in figures {
            match &f.state {
                BotState::Failed(why) => {
                    counts.failed += 1;
                    *failures.entry(why.clone()).or_default() += 1;
                }
                BotState::Dropped(why) => {
                    counts.connected += 1;
                    counts.dropped += 1;
                    *failures.entry(format!("dropped: {why}")).or_default() += 1;
                }
                BotState::Connected | BotState::Done => counts.connected += 1,
                BotState::Waiting | BotState::Joining => {
                    counts.failed += 1;
                    *failures
                        .entry("not connected by the end of the run".to_owned())
                        .or_default() += 1;
                }
            }
        }
        let rates = figures
            .iter()
            .find(|f| f.rates.0 > 0)
            .map_or((0, 0), |f| f.rates);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Report {
            bots: counts,
            duration_s: now.duration_since(self.started).as_secs_f64(),
            profile: profile.to_owned(),
            tick_hz: rates.0,
            snapshot_hz: rates.1,
            snapshots_per_s_per_bot: P50Min {
                p50: quantile(&snapshots_per_s, 0.5),
                min: snapshots_per_s.first().copied().unwrap_or(0.0),
            },
            down_kbit_per_s_per_bot: P50P99 {
                p50: quantile(&down, 0.5),
                p99: quantile(&down, 0.99),
            },
            up_kbit_per_s_per_bot: P50P99 {
                p50: quantile(&up, 0.5),
                p99: quantile(&up, 0.99),
            },
            rtt_ms: P50P99 {
                p50: self.rtt_us.value_at_quantile(0.5) as f64 / 1000.0,
                p99: self.rtt_us.value_at_quantile(0.99) as f64 / 1000.0,
            },
            corrections_per_min: if minutes > 0.0 {
                corrections as f64 / minutes
            } else {
                0.0
            },
            extrapolated_frame_fraction: ratio(extrapolated, frames),
            hits_confirmed_fraction: ratio(confirmed, judged),
            hits_judged: judged,
            server: server.map(server_figures),
            server_unreachable: None,
            load_generator: self.load_generator(swarm.frames, swarm.udp_receive_drops),
            failures,
            timeline: self.timeline.clone(),
            distributions: Distributions {
                snapshots_per_s_per_bot: snapshots_per_s,
                down_kbit_per_s_per_bot: down,
                up_kbit_per_s_per_bot: up,
                rtt_us: RecordedHistogram::of(&self.rtt_us),
                frame_lateness_us: RecordedHistogram::of(&swarm.frames.lateness_us),
                corrections,
                bot_minutes: minutes,
                rendered_frames: frames,
                extrapolated_frames: extrapolated,
                hits_confirmed: confirmed,
                bot_frames: swarm.frames.frames,
                bot_frames_late: swarm.frames.late,
                bot_frames_skipped: swarm.frames.skipped,
            },
        }
    }
}

impl Monitor {
    /// The generator's health over the run: frame clock from `frames`, CPU from the first
    /// sample to the last.
    fn load_generator(
        &self,
        frames: &FrameFigures,
        udp_receive_drops: Option<u64>,
    ) -> LoadGenerator {
        let cpu = self
            .cpu_first
            .zip(self.cpu_last)
            .and_then(|((t0, c0), (t1, c1))| c1.since(&c0, t1.duration_since(t0).as_secs_f64()));
        let ms = |q: f64| frames.lateness_us.value_at_quantile(q) as f64 / 1000.0;
        LoadGenerator {
            frames_on_time_fraction: frames.on_time_fraction(),
            frame_lateness_ms: P50P99 {
                p50: ms(0.5),
                p99: ms(0.99),
            },
            cpu_cores: cpu.map(|u| u.process_cores),
            machine_busy_fraction: cpu.map(|u| u.machine_busy),
            udp_receive_drops,
        }
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 when empty.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

/// The server's own figures from its `/status` document.
fn server_figures(status: &serde_json::Value) -> ServerFigures {
    let f = |path: &str| {
        status
            .pointer(path)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    let u = |path: &str| {
        status
            .pointer(path)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let rss = status
        .pointer("/rss_bytes")
        .and_then(serde_json::Value::as_u64);
    let clients = u("/clients");
    ServerFigures {
        tick_us: TickFigures {
            p50: f("/tick_us/p50"),
            p99: f("/tick_us/p99"),
            max: f("/tick_us/max"),
        },
        tick_lateness_us: LatenessFigures {
            p50: f("/tick_lateness_us/p50"),
            p99: f("/tick_lateness_us/p99"),
            p999: f("/tick_lateness_us/p999"),
            max: f("/tick_lateness_us/max"),
        },
        ticks_skipped: u("/ticks_skipped"),
        rss_bytes: rss,
        rss_bytes_per_client: rss.map(|r| r / clients.max(1)),
        clients,
        rooms: status
            .pointer("/rooms")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len),
        shares_process_with_bots: false,
        udp_receive_drops: status
            .pointer("/udp_receive_drops")
            .and_then(serde_json::Value::as_u64),
        tick_lateness_us_cdf: status
            .pointer("/tick_lateness_us_cdf")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.99), 4.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
