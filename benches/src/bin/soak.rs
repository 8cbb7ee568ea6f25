//! Soak: `cargo run --release -p tickwire-benches --bin soak -- --json`.
//!
//! A server in its own process (so its memory is its own) with 200 bots playing on it for
//! 30 minutes, its resident memory read from `/status` every 10 s. It holds when the memory
//! stays within ±5 % of its mean over the last 20 minutes, nothing panicked, no tick was
//! skipped, and the server exited cleanly at the end. Nobody scrapes `/metrics` meanwhile: a
//! server nobody watches must not grow either.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tickwire_benches::print_table;
use tickwire_bot::load_test::{self, Plan};
use tickwire_bot::server_process::ServerProcess;
use tickwire_bot::swarm::SwarmConfig;
use tickwire_netcode::quic::{GameTransport, ServerTrust, parse_fingerprint};

/// A long run of bots on a server, watching the server's memory.
#[derive(Debug, Parser)]
struct Args {
    /// The whole run.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Bots to play.
    #[arg(long, default_value_t = 200)]
    bots: usize,
    /// Time between memory samples.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    sample_every: Duration,
    /// The end of the run whose memory must hold steady.
    #[arg(long, default_value = "20m", value_parser = humantime::parse_duration)]
    steady: Duration,
    /// Most the memory may stray from its steady-window mean (percent).
    #[arg(long, default_value_t = 5.0)]
    tolerance_pct: f64,
    /// Also write the bots' whole report (its timeline carries the server's memory) here.
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    if let Some(served) = tickwire_benches::serve_if_child() {
        return served;
    }
    let args = Args::parse();
    tickwire_benches::runtime()?.block_on(soak(&args))
}

async fn soak(args: &Args) -> Result<()> {
    let rooms = args.bots.div_ceil(64).max(1);
    let sets = vec![
        "server.bind=127.0.0.1:0".to_owned(),
        "server.admin=127.0.0.1:0".to_owned(),
        format!("server.rooms={rooms}"),
    ];
    let log_path = std::env::temp_dir().join(format!("tickwire-soak-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot write {}", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot find this program")?;
    let server = ServerProcess::spawn(&exe, &sets, Stdio::from(log)).await?;
    let listening = server.listening.clone();
    eprintln!(
        "soak: {} bots in {rooms} rooms for {:?}; server pid {} at {} (log {})",
        args.bots,
        args.duration,
        server.id(),
        listening.game,
        log_path.display()
    );
    let swarm = SwarmConfig {
        server: listening.game,
        server_name: "localhost".to_owned(),
        trust: ServerTrust::Fingerprint(parse_fingerprint(&listening.fingerprint)?),
        bots: args.bots,
        ramp: Duration::from_secs(10).min(args.duration),
        room: None,
        seed: 1,
        links: None,
        fps: 60,
        transport: GameTransport::default(),
        token_key: None,
    };
    let plan = Plan {
        duration: args.duration,
        admin: Some(listening.admin),
        profile: "clean".to_owned(),
        sample_every: args.sample_every,
    };
    let report = load_test::run::<tickwire_sim::arena::Arena>(&swarm, &plan, &mut |s, _| {
        eprintln!(
            "[{:>7.1}s] bots {:>4}  snap/s {:>5.2}  server rss {}  tick late p99 {}",
            s.t_s,
            s.bots_connected,
            s.snapshots_per_s_per_bot,
            s.server_rss_bytes.map_or_else(
                || "?".to_owned(),
                |b| format!("{:.1} MiB", b as f64 / 1048576.0)
            ),
            s.server_tick_lateness_us_p99
                .map_or_else(|| "?".to_owned(), |us| format!("{us:.1} µs")),
        );
    })
    .await?;
    let exit = server.stop()?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let panics = log.matches("panicked").count();
    if let Some(path) = &args.report_json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    // Memory over the steady window: the last `steady` of the run.
    let window_from = report.duration_s - args.steady.as_secs_f64();
    let steady: Vec<(f64, u64)> = report
        .timeline
        .iter()
        .filter(|s| s.t_s >= window_from)
        .filter_map(|s| s.server_rss_bytes.map(|b| (s.t_s, b)))
        .collect();
    let rss: Vec<f64> = steady.iter().map(|&(_, b)| b as f64).collect();
    let mean = rss.iter().sum::<f64>() / rss.len().max(1) as f64;
    let (min, max) = rss
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let drift_pct = if mean > 0.0 {
        (max - mean).max(mean - min) / mean * 100.0
    } else {
        f64::NAN
    };
    // The slope over the window, by least squares (bytes per minute): a leak shows as one.
    let slope = {
        let n = steady.len() as f64;
        let (st, sb) = steady
            .iter()
            .fold((0.0, 0.0), |(st, sb), &(t, b)| (st + t, sb + b as f64));
        let (mt, mb) = (st / n.max(1.0), sb / n.max(1.0));
        let (num, den) = steady.iter().fold((0.0, 0.0), |(num, den), &(t, b)| {
            (num + (t - mt) * (b as f64 - mb), den + (t - mt) * (t - mt))
        });
        if den > 0.0 { num / den * 60.0 } else { 0.0 }
    };
    let server = report.server.as_ref();
    let ticks_skipped = server.map_or(0, |s| s.ticks_skipped);
    let holds = drift_pct <= args.tolerance_pct
        && panics == 0
        && ticks_skipped == 0
        && exit.success()
        && report.bots.dropped == 0;
    print_table(
        &[
            "bots",
            "minutes",
            "rss mean MiB",
            "min",
            "max",
            "drift %",
            "slope KiB/min",
            "panics",
            "ticks skipped",
            "snap/s p50",
            "late p99 µs",
            "holds",
        ],
        &[vec![
            format!("{}/{}", report.bots.connected, report.bots.requested),
            format!("{:.1}", report.duration_s / 60.0),
            format!("{:.1}", mean / 1048576.0),
            format!("{:.1}", min / 1048576.0),
            format!("{:.1}", max / 1048576.0),
            format!("{drift_pct:.2}"),
            format!("{:.1}", slope / 1024.0),
            panics.to_string(),
            ticks_skipped.to_string(),
            format!("{:.2}", report.snapshots_per_s_per_bot.p50),
            server.map_or_else(
                || "?".to_owned(),
                |s| format!("{:.1}", s.tick_lateness_us.p99),
            ),
            if holds { "yes" } else { "NO" }.to_owned(),
        ]],
    );
    eprintln!(
        "memory window: the last {:?} ({} samples); the server exited {exit}",
        args.steady,
        steady.len()
    );
    if args.json {
        let timeline: Vec<serde_json::Value> = report
            .timeline
            .iter()
            .map(|s| serde_json::json!({"t_s": s.t_s, "server": {"rss_bytes": s.server_rss_bytes}}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "bots": report.bots.requested,
                "bots_connected": report.bots.connected,
                "bots_dropped": report.bots.dropped,
                "duration_s": report.duration_s,
                "steady_window_s": args.steady.as_secs_f64(),
                "rss_mean_bytes": mean,
                "rss_min_bytes": min,
                "rss_max_bytes": max,
                "rss_drift_pct": drift_pct,
                "rss_slope_bytes_per_min": slope,
                "panics": panics,
                "ticks_skipped": ticks_skipped,
                "server_exit_ok": exit.success(),
                "snapshots_per_s_per_bot_p50": report.snapshots_per_s_per_bot.p50,
                "tick_lateness_us_p99": server.map(|s| s.tick_lateness_us.p99),
                "holds": holds,
                "timeline": timeline,
            })
        );
    }
    Ok(())
}
