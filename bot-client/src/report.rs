//! The load test's report: what the players would have felt and what the server went
//! through, as a table for people, JSON for tools, and an HTML page of plots over time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Bots asked for and what became of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BotCounts {
    /// Bots asked for.
    pub requested: usize,
    /// Bots welcomed (including those later dropped).
    pub connected: usize,
    /// Bots that never got in.
    pub failed: usize,
    /// Bots that got in and lost their connection before the end.
    pub dropped: usize,
}

/// A median and a minimum.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct P50Min {
    /// Median.
    pub p50: f64,
    /// Smallest.
    pub min: f64,
}

/// A median and a 99th percentile.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct P50P99 {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Tick durations (microseconds).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct TickFigures {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// How late ticks started (microseconds).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct LatenessFigures {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// The server's figures, as the server reported them on `/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerFigures {
    /// Tick durations over every room since the server started.
    pub tick_us: TickFigures,
    /// Tick lateness over every room since the server started.
    pub tick_lateness_us: LatenessFigures,
    /// Ticks skipped after overruns.
    pub ticks_skipped: u64,
    /// The server process's resident memory (bytes), if it could tell (`null` too when the
    /// bots ran in the same process: then it would not be the server's).
    pub rss_bytes: Option<u64>,
    /// `rss_bytes` over the clients connected (the whole process, idle rooms included).
    pub rss_bytes_per_client: Option<u64>,
    /// Clients connected when the figures were taken.
    pub clients: u64,
    /// Rooms running.
    pub rooms: usize,
    /// The server ran in the bots' process (`demo --in-process`): its memory is not its own.
    pub shares_process_with_bots: bool,
    /// Packets the kernel dropped on the server's game socket before the server read them
    /// (its receive buffer was full), since the server started; `null` where unknown.
    pub udp_receive_drops: Option<u64>,
    /// The distribution of tick lateness since the server started, as `[µs, fraction of
    /// ticks at or below]` points (for a CDF plot).
    #[serde(default)]
    pub tick_lateness_us_cdf: Vec<(f64, f64)>,
}

impl ServerFigures {
    /// Marks the figures as from a server in the bots' own process, whose resident memory
    /// is mostly the bots'.
    pub fn in_bots_process(&mut self) {
        self.shares_process_with_bots = true;
        self.rss_bytes = None;
        self.rss_bytes_per_client = None;
    }
}

/// The load generator's own health: whether the bots had the CPU to play their frames.
/// When they did not, the run measured the machine the bots run on, not only the server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LoadGenerator {
    /// Bot frames stepped within a frame interval of their due time, of all that were due.
    pub frames_on_time_fraction: f64,
    /// How long after its due time a bot frame was stepped (milliseconds).
    pub frame_lateness_ms: P50P99,
    /// Cores the bot process kept busy on average over the run (`null` where unknown).
    pub cpu_cores: Option<f64>,
    /// Of the machine's CPU time over the run, the fraction busy: bots, server and
    /// everything else (`null` where unknown).
    pub machine_busy_fraction: Option<f64>,
    /// Packets the kernel dropped on the bots' sockets before the bots read them (they fell
    /// behind); `null` where unknown.
    pub udp_receive_drops: Option<u64>,
}

impl LoadGenerator {
    /// Bots that missed frames: the figures are then limited by the machine the bots run
    /// on. (A busy machine whose bots kept their frames is not: see
    /// [`machine_busy`](Self::machine_busy).)
    #[must_use]
    pub fn short_of_cpu(&self) -> bool {
        self.frames_on_time_fraction < 0.95
    }

    /// The machine had no CPU to spare although the bots kept their frames: other
    /// processes (the server among them, on one machine) used the rest.
    #[must_use]
    pub fn machine_busy(&self) -> bool {
        !self.short_of_cpu() && self.machine_busy_fraction.is_some_and(|b| b > 0.95)
    }
}

/// One moment of the run (about once a second).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Seconds since the swarm started.
    pub t_s: f64,
    /// Bots playing.
    pub bots_connected: usize,
    /// Complete snapshots per second per playing bot over the last interval (mean).
    pub snapshots_per_s_per_bot: f64,
    /// Kilobits per second received per playing bot (UDP, QUIC included; mean).
    pub down_kbit_per_s_per_bot: f64,
    /// Kilobits per second sent per playing bot (mean).
    pub up_kbit_per_s_per_bot: f64,
    /// Round-trip time over the playing bots (milliseconds).
    pub rtt_ms_p50: f64,
    /// See `rtt_ms_p50`.
    pub rtt_ms_p99: f64,
    /// Prediction corrections so far, all bots, counted as the report counts them: from
    /// each bot's settling (2 s after it joined) on.
    pub corrections: u64,
    /// The server's tick duration p99 since it started (µs), if it reports it.
    pub server_tick_us_p99: Option<f64>,
    /// The server's tick duration over its last second alone (µs): p50.
    #[serde(default)]
    pub server_tick_us_1s_p50: Option<f64>,
    /// See `server_tick_us_1s_p50`: p99.
    #[serde(default)]
    pub server_tick_us_1s_p99: Option<f64>,
    /// See `server_tick_us_1s_p50`: the largest.
    #[serde(default)]
    pub server_tick_us_1s_max: Option<f64>,
    /// The server's tick lateness over its last second alone (µs): p99.
    #[serde(default)]
    pub server_tick_lateness_us_1s_p99: Option<f64>,
    /// See `server_tick_lateness_us_1s_p99`: the largest.
    #[serde(default)]
    pub server_tick_lateness_us_1s_max: Option<f64>,
    /// The server's tick lateness p99 since it started (µs).
    pub server_tick_lateness_us_p99: Option<f64>,
    /// Cores the bot process used over the last interval.
    pub bots_cpu_cores: Option<f64>,
    /// Fraction of the machine's CPU busy over the last interval.
    pub machine_busy_fraction: Option<f64>,
    /// The server's resident memory (bytes), from its `/status`.
    pub server_rss_bytes: Option<u64>,
}

/// Everything a load test found. Its JSON is the `--report-json` file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Bots asked for and what became of them.
    pub bots: BotCounts,
    /// Length of the run (seconds).
    pub duration_s: f64,
    /// The network profile the bots' sockets had.
    pub profile: String,
    /// The server's tick rate (Hz).
    pub tick_hz: u32,
    /// The server's snapshot rate (Hz).
    pub snapshot_hz: u32,
    /// Complete snapshots per second, per bot (each bot's mean once settled), over bots.
    pub snapshots_per_s_per_bot: P50Min,
    /// Kilobits per second received per bot (UDP payload, QUIC included), over bots.
    pub down_kbit_per_s_per_bot: P50P99,
    /// Kilobits per second sent per bot, over bots.
    pub up_kbit_per_s_per_bot: P50P99,
    /// Round-trip times sampled once a second from every bot (milliseconds).
    pub rtt_ms: P50P99,
    /// Prediction corrections per bot-minute.
    pub corrections_per_min: f64,
    /// Rendered frames that extrapolated past the newest snapshot, of all frames.
    pub extrapolated_frame_fraction: f64,
    /// Hits the shooters saw in their own view that the server confirmed, of those judged.
    pub hits_confirmed_fraction: f64,
    /// Hits seen in view that the server judged.
    pub hits_judged: u64,
    /// The server's own figures (`null` without its admin address, or when it never
    /// answered).
    pub server: Option<ServerFigures>,
    /// Why the server's figures are missing although its admin address was given: what
    /// the last request to it said.
    pub server_unreachable: Option<String>,
    /// Whether the bots had the CPU to play (see [`LoadGenerator`]).
    pub load_generator: LoadGenerator,
    /// Why bots failed or dropped, with how many.
    pub failures: BTreeMap<String, usize>,
    /// The run over time.
    pub timeline: Vec<Sample>,
    /// The distributions behind the percentiles above, whole, so that reports of several
    /// bot processes merge exactly (`tickwire-bot merge`): a merged percentile comes from
    /// the merged distribution, never from averaging percentiles.
    #[serde(default)]
    pub distributions: Distributions,
}

/// What a report's figures were computed from, exactly, for merging.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Distributions {
    /// Each measured bot's complete snapshots per second.
    pub snapshots_per_s_per_bot: Vec<f64>,
    /// Each measured bot's kilobits per second received.
    pub down_kbit_per_s_per_bot: Vec<f64>,
    /// Each measured bot's kilobits per second sent.
    pub up_kbit_per_s_per_bot: Vec<f64>,
    /// Round-trip times sampled once a second from every bot (microseconds).
    pub rtt_us: RecordedHistogram,
    /// How late each bot frame was stepped (microseconds).
    pub frame_lateness_us: RecordedHistogram,
    /// Prediction corrections counted, all bots.
    pub corrections: u64,
    /// Bot-minutes those corrections were counted over.
    pub bot_minutes: f64,
    /// Frames rendered, all bots.
    pub rendered_frames: u64,
    /// Of those, extrapolated past the newest snapshot.
    pub extrapolated_frames: u64,
    /// Hits seen in view that the server confirmed (of `hits_judged`).
    pub hits_confirmed: u64,
    /// Bot frames stepped, late (a frame interval or more) and skipped.
    pub bot_frames: u64,
    /// See `bot_frames`.
    pub bot_frames_late: u64,
    /// See `bot_frames`.
    pub bot_frames_skipped: u64,
}

/// An HdrHistogram written out whole: its bounds and precision, and each recorded
/// bucket's value with its count. Read back, it records the same buckets, so merged
/// histograms are exact.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedHistogram {
    /// Lowest discernible value.
    pub low: u64,
    /// Highest trackable value.
    pub high: u64,
    /// Significant decimal digits kept.
    pub sigfig: u8,
    /// `[value, count]` of every non-empty bucket, ascending.
    pub counts: Vec<(u64, u64)>,
}

impl RecordedHistogram {
    /// `histogram` written out.
    #[must_use]
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            low: histogram.low(),
            high: histogram.high(),
            sigfig: histogram.sigfig(),
            counts: histogram
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }

    /// The histogram back (`None` if its bounds are not valid ones).
    #[must_use]
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        let mut histogram = Histogram::new_with_bounds(self.low, self.high, self.sigfig).ok()?;
        for &(value, count) in &self.counts {
            histogram.saturating_record_n(value, count);
        }
        Some(histogram)
    }
}

impl Report {
    /// The report as a table for a terminal.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = String::new();
        let b = &self.bots;
        let _ = writeln!(
            out,
            "Tickwire load test — {} bots asked, {} connected, {} failed, {} dropped; {:.0} s, profile {}, {} Hz tick, {} Hz snapshots",
            b.requested,
            b.connected,
            b.failed,
            b.dropped,
            self.duration_s,
            self.profile,
            self.tick_hz,
            self.snapshot_hz
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "what players felt                  p50        p99 / min"
        );
        let row = |out: &mut String, name: &str, a: f64, b: f64, note: &str| {
            let _ = writeln!(out, "  {name:<30} {a:>9.2}  {b:>9.2}  {note}");
        };
        row(
            &mut out,
            "snapshots/s per bot",
            self.snapshots_per_s_per_bot.p50,
            self.snapshots_per_s_per_bot.min,
            "(min)",
        );
        row(
            &mut out,
            "down kbit/s per bot",
            self.down_kbit_per_s_per_bot.p50,
            self.down_kbit_per_s_per_bot.p99,
            "(p99)",
        );
        row(
            &mut out,
            "up kbit/s per bot",
            self.up_kbit_per_s_per_bot.p50,
            self.up_kbit_per_s_per_bot.p99,
            "(p99)",
        );
        row(
            &mut out,
            "RTT ms",
            self.rtt_ms.p50,
            self.rtt_ms.p99,
            "(p99)",
        );
        let _ = writeln!(
            out,
            "  corrections per bot-minute      {:>9.2}",
            self.corrections_per_min
        );
        let _ = writeln!(
            out,
            "  extrapolated frames             {:>9.4}%",
            self.extrapolated_frame_fraction * 100.0
        );
        let _ = writeln!(
            out,
            "  hits seen that the server confirmed {:>7.2}% of {}",
            self.hits_confirmed_fraction * 100.0,
            self.hits_judged
        );
        let _ = writeln!(out);
        match &self.server {
            Some(s) => {
                let rooms = format!(
                    "{} room{}, {} clients",
                    s.rooms,
                    if s.rooms == 1 { "" } else { "s" },
                    s.clients
                );
                let _ = writeln!(
                    out,
                    "server ({rooms}){:>w$}p50        p99       p99.9      max",
                    "",
                    w = 27usize.saturating_sub(rooms.len()).max(1)
                );
                let _ = writeln!(
                    out,
                    "  tick µs                   {:>10.1} {:>10.1} {:>10} {:>10.1}",
                    s.tick_us.p50, s.tick_us.p99, "", s.tick_us.max
                );
                let l = &s.tick_lateness_us;
                let _ = writeln!(
                    out,
                    "  tick lateness µs          {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
                    l.p50, l.p99, l.p999, l.max
                );
                let _ = writeln!(out, "  ticks skipped             {:>10}", s.ticks_skipped);
                if let Some(dropped) = s.udp_receive_drops {
                    let _ = writeln!(
                        out,
                        "  UDP packets dropped       {dropped:>10}  (by the kernel: receive buffer full)"
                    );
                }
                if let (Some(rss), Some(per)) = (s.rss_bytes, s.rss_bytes_per_client) {
                    let _ = writeln!(
                        out,
                        "  resident memory           {:>10.1} MiB, {:.1} KiB per client",
                        rss as f64 / (1024.0 * 1024.0),
                        per as f64 / 1024.0
                    );
                } else if s.shares_process_with_bots {
                    let _ = writeln!(
                        out,
                        "  resident memory           not the server's alone: it ran in the bots' process"
                    );
                }
            }
            None => match &self.server_unreachable {
                Some(why) => {
                    let _ = writeln!(out, "server: no figures: its admin address failed: {why}");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "server: no figures (give --admin ADDR to read its /status)"
                    );
                }
            },
        }
        let g = &self.load_generator;
        let _ = writeln!(out);
        let _ = writeln!(out, "load generator (the bots' process)");
        let _ = writeln!(
            out,
            "  bot frames on time        {:>9.2}%   lateness p50 {:.1} ms, p99 {:.1} ms",
            g.frames_on_time_fraction * 100.0,
            g.frame_lateness_ms.p50,
            g.frame_lateness_ms.p99
        );
        if let (Some(cores), Some(busy)) = (g.cpu_cores, g.machine_busy_fraction) {
            let _ = writeln!(
                out,
                "  CPU                       {cores:>9.2} cores; the machine {:.0}% busy",
                busy * 100.0
            );
        }
        if let Some(dropped) = g.udp_receive_drops {
            let _ = writeln!(
                out,
                "  UDP packets dropped       {dropped:>9}   (by the kernel on the bots' sockets)"
            );
        }
        if g.short_of_cpu() {
            let _ = writeln!(
                out,
                "  ! The bots were short of CPU (their frames ran late): the figures above are this\n    machine's limit, not the server's alone. Run fewer bots per machine, or the bots on\n    another machine (tickwire-bot --server ADDR …)."
            );
        } else if g.machine_busy() {
            let _ = writeln!(
                out,
                "  note: the machine was busy, though the bots kept their frames: other processes\n    (the server too, on one machine) used the rest of the CPU."
            );
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "failures");
            for (why, n) in &self.failures {
                let _ = writeln!(out, "  {n:>5} × {why}");
            }
        }
        out
    }

    /// A self-contained HTML page: the table, plots over time in one-second windows (bots,
    /// bandwidth, snapshots, RTT, the server's tick duration and lateness each second, CPU)
    /// and distributions (RTT, server tick lateness, bot frame lateness) as CDFs. Drawn in
    /// the browser by the chart code the live monitor uses
    /// ([`tickwire_server::admin::CHARTS_JS`]), from the report's own data embedded in it.
    #[must_use]
    pub fn html(&self) -> String {
        let col = |f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<Option<f64>> {
            self.timeline.iter().map(f).collect()
        };
        let ms = |h: &RecordedHistogram| -> Vec<(f64, u64)> {
            h.counts
                .iter()
                .map(|&(v, n)| (v as f64 / 1000.0, n))
                .collect()
        };
        let data = serde_json::json!({
            "t": col(&|s| Some(s.t_s)),
            "bots": col(&|s| Some(s.bots_connected as f64)),
            "down": col(&|s| Some(s.down_kbit_per_s_per_bot)),
            "up": col(&|s| Some(s.up_kbit_per_s_per_bot)),
            "snapshots": col(&|s| Some(s.snapshots_per_s_per_bot)),
            "rtt_p50": col(&|s| Some(s.rtt_ms_p50)),
            "rtt_p99": col(&|s| Some(s.rtt_ms_p99)),
            "tick_p50": col(&|s| s.server_tick_us_1s_p50),
            "tick_p99": col(&|s| s.server_tick_us_1s_p99),
            "tick_max": col(&|s| s.server_tick_us_1s_max),
            "late_p99": col(&|s| s.server_tick_lateness_us_1s_p99),
            "late_max": col(&|s| s.server_tick_lateness_us_1s_max),
            "machine": col(&|s| s.machine_busy_fraction.map(|b| b * 100.0)),
            "bots_cpu": col(&|s| s.bots_cpu_cores.map(|c| c * 100.0)),
            "rtt_ms": ms(&self.distributions.rtt_us),
            "frame_lateness_ms": ms(&self.distributions.frame_lateness_us),
            "server_lateness_us": self.server.as_ref().map(|s| s.tick_lateness_us_cdf.clone()).unwrap_or_default(),
        });
        // Inside a <script>, "</" would end it.
        let data = data.to_string().replace("</", "<\\/");
        let mut page = String::new();
        let _ = write!(
            page,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tickwire load test</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
             pre{{background:#f6f6f6;padding:1em}}.charts{{display:flex;flex-wrap:wrap;gap:1em}}\
             .chart{{background:#fff;border:1px solid #e4e4e4}}h2{{font-size:15px}}</style></head>\
             <body><h1>Tickwire load test</h1><pre>{table}</pre>\
             <h2>Over time (each point one second)</h2><div class=\"charts\">{over_time}</div>\
             <h2>Distributions</h2><div class=\"charts\">{distributions}</div>\
             <script>{charts}</script><script>const R = {data};\n{draw}</script></body></html>",
            table = escape(&self.table()),
            over_time = [
                "bots",
                "bandwidth",
                "snapshots",
                "rtt",
                "tick",
                "lateness",
                "cpu"
            ]
            .map(|id| format!("<div id=\"{id}\"></div>"))
            .concat(),
            distributions = ["rtt-cdf", "lateness-cdf", "frames-cdf"]
                .map(|id| format!("<div id=\"{id}\"></div>"))
                .concat(),
            charts = tickwire_server::admin::CHARTS_JS,
            draw = REPORT_SCRIPT,
        );
        page
    }
}

/// Draws the report's charts from its data (`R`) with the shared chart code.
const REPORT_SCRIPT: &str = r##"
const C = ["#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd"];
const pts = (k) => R.t.map((t, i) => [t, R[k][i]]).filter((p) => p[1] !== null);
const line = (id, title, unit, names) => TickwireCharts.line(document.getElementById(id), {
  title, unit, series: names.map(([k, name], i) => ({ name, color: C[i], points: pts(k) })) });
line("bots", "Bots connected", "bots", [["bots", "connected"]]);
line("bandwidth", "Bandwidth per bot", "kbit/s", [["down", "down"], ["up", "up"]]);
line("snapshots", "Snapshots per second per bot", "snapshots/s", [["snapshots", "received"]]);
line("rtt", "Round-trip time", "ms", [["rtt_p50", "p50"], ["rtt_p99", "p99"]]);
line("tick", "Server tick duration, each second", "µs", [["tick_p50", "p50"], ["tick_p99", "p99"], ["tick_max", "max"]]);
line("lateness", "Server tick lateness, each second", "µs", [["late_p99", "p99"], ["late_max", "max"]]);
line("cpu", "CPU: the machine busy, the bots' process", "%", [["machine", "machine busy"], ["bots_cpu", "bots (% of a core)"]]);
TickwireCharts.cdf(document.getElementById("rtt-cdf"), { title: "Round-trip time (every bot, every second)", unit: "ms",
  series: [{ name: "RTT", color: C[0], buckets: R.rtt_ms }] });
TickwireCharts.cdf(document.getElementById("lateness-cdf"), { title: "Server tick lateness (since start)", unit: "µs", log: true,
  series: [{ name: "lateness", color: C[2], points: R.server_lateness_us }] });
TickwireCharts.cdf(document.getElementById("frames-cdf"), { title: "Bot frame lateness", unit: "ms",
  series: [{ name: "frames", color: C[3], buckets: R.frame_lateness_ms }] });
"##;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_the_keys_tools_read() {
        let report = Report {
            server: Some(ServerFigures::default()),
            ..Report::default()
        };
        let json = serde_json::to_value(&report).unwrap_or_default();
        for path in [
            "/bots/requested",
            "/bots/connected",
            "/bots/failed",
            "/bots/dropped",
            "/duration_s",
            "/profile",
            "/tick_hz",
            "/snapshot_hz",
            "/snapshots_per_s_per_bot/p50",
            "/snapshots_per_s_per_bot/min",
            "/down_kbit_per_s_per_bot/p99",
            "/up_kbit_per_s_per_bot/p50",
            "/rtt_ms/p99",
            "/corrections_per_min",
            "/extrapolated_frame_fraction",
            "/hits_confirmed_fraction",
            "/server/tick_us/max",
            "/server/tick_lateness_us/p999",
            "/server/ticks_skipped",
            "/server/rss_bytes",
            "/server/rss_bytes_per_client",
            "/load_generator/frames_on_time_fraction",
            "/load_generator/frame_lateness_ms/p99",
            "/load_generator/machine_busy_fraction",
            "/load_generator/udp_receive_drops",
            "/server/udp_receive_drops",
            "/timeline",
        ] {
            assert!(json.pointer(path).is_some(), "no {path} in {json}");
        }
    }

    #[test]
    fn the_table_says_why_server_figures_are_missing_and_whose_cpu_ran_short() {
        let unreachable = Report {
            server_unreachable: Some("127.0.0.1:9/status did not answer within 2s".into()),
            ..Report::default()
        };
        let table = unreachable.table();
        assert!(table.contains("admin address failed"), "{table}");
        assert!(!table.contains("give --admin"), "{table}");
        assert!(Report::default().table().contains("give --admin"));
        // A busy machine whose bots kept every frame on time: a note, not a warning.
        let mut busy = Report::default();
        busy.load_generator.frames_on_time_fraction = 1.0;
        busy.load_generator.machine_busy_fraction = Some(0.99);
        let table = busy.table();
        assert!(!table.contains("short of CPU"), "{table}");
        assert!(table.contains("the machine was busy"), "{table}");
        busy.load_generator.frames_on_time_fraction = 0.5;
        assert!(busy.table().contains("short of CPU"));
    }

    #[test]
    fn the_page_carries_its_data_and_the_shared_chart_code() {
        let report = Report {
            timeline: (0..5)
                .map(|i| Sample {
                    t_s: f64::from(i),
                    bots_connected: 3,
                    server_tick_us_1s_p99: Some(100.0 + f64::from(i)),
                    ..Sample::default()
                })
                .collect(),
            ..Report::default()
        };
        let page = report.html();
        assert!(page.contains("Tickwire load test"));
        assert!(page.contains(tickwire_server::admin::CHARTS_JS));
        // Ten charts: seven over time, three distributions.
        assert_eq!(page.matches("<div id=").count(), 10);
        // The per-second tick figures are in the data, one per sample.
        assert!(
            page.contains("\"tick_p99\":[100.0,101.0,102.0,103.0,104.0]"),
            "{page}"
        );
        // Nothing in the data can close the script early.
        let mut hostile = report;
        hostile.profile = "</script><b>".to_owned();
        assert!(!hostile.html().contains("</script><b>"));
    }
}
