//! Hostile clients beside well-behaved bots:
//! `cargo run --release -p tickwire-benches --bin hostile -- --json`.
//!
//! A server in its own process, admitting only seat tokens, with 32 bots playing (each with
//! its own token) while 10 hostile clients work on it the whole time: a tiny datagram limit,
//! garbage datagrams, datagram floods, 16 MiB control-stream writes without a frame
//! boundary, connections that never say hello, replayed and forged tokens
//! (`tickwire_bot::hostile`). It holds when the bots notice nothing: snapshots per second
//! p50 ≥ 29 and the server's tick lateness p99 ≤ 1 ms, no tick skipped, no bot dropped.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tickwire_benches::print_table;
use tickwire_bot::hostile::{self, Hostility, Outcomes, Target};
use tickwire_bot::load_test::{self, Plan};
use tickwire_bot::server_process::ServerProcess;
use tickwire_bot::swarm::SwarmConfig;
use tickwire_netcode::quic::{GameTransport, ServerTrust, parse_fingerprint};
use tickwire_netcode::token::KeySet;

/// Well-behaved bots and hostile clients on one server.
#[derive(Debug, Parser)]
struct Args {
    /// The whole run.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Well-behaved bots.
    #[arg(long, default_value_t = 32)]
    bots: usize,
    /// Hostile clients (cycling through the kinds; 10 runs each kind, the noisiest twice).
    #[arg(long, default_value_t = 10)]
    hostile: usize,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    if let Some(served) = tickwire_benches::serve_if_child() {
        return served;
    }
    let args = Args::parse();
    tickwire_benches::runtime()?.block_on(run(&args))
}

async fn run(args: &Args) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("tickwire-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key_file = dir.join("keys.toml");
    let mut keys = KeySet::default();
    let key = Arc::new(keys.add_new()?.clone());
    std::fs::write(&key_file, keys.to_toml())?;
    let sets = vec![
        "server.bind=127.0.0.1:0".to_owned(),
        "server.admin=127.0.0.1:0".to_owned(),
        "auth.mode=token".to_owned(),
        format!("auth.key_file={}", key_file.display()),
    ];
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path)?;
    let exe = std::env::current_exe().context("cannot find this program")?;
    let server = ServerProcess::spawn(&exe, &sets, Stdio::from(log)).await?;
    let listening = server.listening.clone();
    let trust = ServerTrust::Fingerprint(parse_fingerprint(&listening.fingerprint)?);
    eprintln!(
        "hostile: {} bots and {} hostile clients for {:?} on {} (server log {})",
        args.bots,
        args.hostile,
        args.duration,
        listening.game,
        log_path.display()
    );
    // The hostile clients start first and keep at it until the bots are done.
    let outcomes = Arc::new(Outcomes::default());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let target = Target {
        server: listening.game,
        trust: trust.clone(),
        key: Some(Arc::clone(&key)),
    };
    let kinds: Vec<Hostility> = Hostility::TEN
        .iter()
        .copied()
        .cycle()
        .take(args.hostile)
        .collect();
    let tasks: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(n, &kind)| {
            tokio::spawn(hostile::run(
                kind,
                n,
                target.clone(),
                Arc::clone(&outcomes),
                stopping.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let swarm = SwarmConfig {
        server: listening.game,
        server_name: "localhost".to_owned(),
        trust,
        bots: args.bots,
        ramp: Duration::from_secs(2).min(args.duration),
        room: None,
        seed: 3,
        links: None,
        fps: 60,
        transport: GameTransport::default(),
        token_key: Some(key),
    };
    let plan = Plan {
        duration: args.duration,
        admin: Some(listening.admin),
        profile: "clean".to_owned(),
        sample_every: Duration::from_secs(5),
    };
    let report = load_test::run::<tickwire_sim::arena::Arena>(&swarm, &plan, &mut |s, _| {
        eprintln!(
            "[{:>6.1}s] bots {:>3}  snap/s {:>5.2}  server tick late p99 {}",
            s.t_s,
            s.bots_connected,
            s.snapshots_per_s_per_bot,
            s.server_tick_lateness_us_p99
                .map_or_else(|| "?".to_owned(), |us| format!("{us:.1} µs")),
        );
    })
    .await?;
    let metrics = tickwire_bot::status::fetch_path(listening.admin, "/metrics")
        .await
        .unwrap_or_default();
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let exit = server.stop()?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let panics = log.matches("panicked").count();

    let server_figures = report.server.as_ref();
    let lateness_p99 = server_figures.map_or(f64::NAN, |s| s.tick_lateness_us.p99);
    let skipped = server_figures.map_or(0, |s| s.ticks_skipped);
    let snapshots_p50 = report.snapshots_per_s_per_bot.p50;
    let holds = snapshots_p50 >= 29.0
        && lateness_p99 <= 1000.0
        && skipped == 0
        && panics == 0
        && report.bots.dropped == 0
        && report.bots.connected == args.bots
        && exit.success();
    print_table(
        &[
            "bots",
            "hostile",
            "snap/s p50",
            "snap/s min",
            "tick late p99 µs",
            "tick p99 µs",
            "skipped",
            "panics",
            "holds",
        ],
        &[vec![
            format!("{}/{}", report.bots.connected, report.bots.requested),
            args.hostile.to_string(),
            format!("{snapshots_p50:.2}"),
            format!("{:.2}", report.snapshots_per_s_per_bot.min),
            format!("{lateness_p99:.1}"),
            server_figures.map_or_else(|| "?".to_owned(), |s| format!("{:.1}", s.tick_us.p99)),
            skipped.to_string(),
            panics.to_string(),
            if holds { "yes" } else { "NO" }.to_owned(),
        ]],
    );
    println!();
    let seen = outcomes.read();
    let rows: Vec<Vec<String>> = seen
        .iter()
        .map(|((kind, outcome), n)| vec![(*kind).to_owned(), n.to_string(), outcome.clone()])
        .collect();
    print_table(&["hostile client", "times", "what the server did"], &rows);
    println!();
    let counted: Vec<Vec<String>> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("tickwire_rejects_total")
                || l.starts_with("tickwire_disconnects_total")
                || l.starts_with("tickwire_decode_errors_total")
                || l.starts_with("tickwire_datagrams_dropped_total")
        })
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(name, v)| vec![name.to_owned(), v.to_owned()])
        .collect();
    print_table(&["server metric", "value"], &counted);
    if args.json {
        let hostile: serde_json::Map<String, serde_json::Value> = seen
            .iter()
            .map(|((kind, outcome), n)| (format!("{kind}: {outcome}"), (*n).into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "bots": args.bots,
                "bots_connected": report.bots.connected,
                "bots_dropped": report.bots.dropped,
                "hostile_clients": args.hostile,
                "duration_s": report.duration_s,
                "snapshots_per_s_per_bot_p50": snapshots_p50,
                "snapshots_per_s_per_bot_min": report.snapshots_per_s_per_bot.min,
                "tick_lateness_us_p99": lateness_p99,
                "tick_us_p99": server_figures.map(|s| s.tick_us.p99),
                "ticks_skipped": skipped,
                "panics": panics,
                "server_exit_ok": exit.success(),
                "holds": holds,
                "hostile": hostile,
            })
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
