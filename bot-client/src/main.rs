//! `tickwire-bot`: a headless bot swarm that load-tests a Tickwire server and reports what
//! players would feel. See `--help`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use tickwire_bot::BotGame;
use tickwire_bot::fail_if::Threshold;
use tickwire_bot::load_test::{self, Plan};
use tickwire_bot::report::{Report, Sample};
use tickwire_bot::server_process::{self, Listening, ServerProcess, config_with};
use tickwire_bot::swarm::{BotFigures, BotState, SwarmConfig};
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_netcode::quic::{ServerTrust, parse_fingerprint};
use tickwire_server::{Server, ServerConfig};
use tickwire_sim::Builtin;
use tickwire_sim::arena::Arena;
use tickwire_sim::cubes3d::Cubes3d;

/// Tickwire bots: full game clients (clock sync, prediction, interpolation, lag-compensated
/// shooting) over real QUIC, many per process, reporting what players would feel.
///
/// Load-test a running server:
///   tickwire-bot --server 127.0.0.1:4433 --fingerprint HEX --admin 127.0.0.1:9100 --bots 100
///
/// Or start a server on the embedded default and play on it:
///   tickwire-bot demo --bots 200 --duration 60s
///   tickwire-bot demo --game cubes3d --bots 100
///
/// Merge the reports of bot processes on several machines (exact percentiles):
///   tickwire-bot merge a.json b.json --report-json all.json --report-html all.html
///
/// Exits non-zero when fewer bots connected than asked, when a bot dropped, or when a
/// --fail-if threshold is crossed.
#[derive(Debug, Parser)]
#[command(
    name = "tickwire-bot",
    version,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    verbatim_doc_comment
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    swarm: SwarmArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a server on the embedded default configuration (in a child process, so its
    /// figures are its own) and load-test it.
    Demo(Box<DemoArgs>),
    /// Merge the --report-json files of several bot processes (machines, pods) into one
    /// report, exactly: percentiles come from the pooled distributions, never averages.
    Merge(MergeArgs),
    /// Run a server for `demo` and print where it listens (used by `demo` itself).
    #[command(hide = true)]
    Serve(ServeArgs),
}

/// What `merge` reads and writes.
#[derive(Debug, Args)]
struct MergeArgs {
    /// The reports (`--report-json` files of tickwire-bot runs).
    #[arg(required = true, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,
    /// Write the merged report as JSON here.
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,
    /// Write the merged report as an HTML page here.
    #[arg(long, value_name = "PATH")]
    report_html: Option<PathBuf>,
}

/// Which server to test.
#[derive(Debug, Args)]
struct TargetArgs {
    /// The server's QUIC address, `HOST:PORT` (a name or an IP).
    #[arg(long, value_name = "HOST:PORT")]
    server: Option<String>,
    /// The server's certificate (DER or PEM) to trust; default: the development certificate
    /// a local tickwire-server writes to the temp directory.
    #[arg(long, value_name = "PATH", conflicts_with = "fingerprint")]
    cert: Option<PathBuf>,
    /// Trust the server whose certificate has this SHA-256 (as the server logs it).
    #[arg(long, value_name = "HEX")]
    fingerprint: Option<String>,
    /// The name the certificate is checked against.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    server_name: String,
    /// The server's admin address, to report its own figures from /status.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
}

/// How the bots play and what is reported.
#[derive(Debug, Args, Clone)]
struct SwarmArgs {
    /// The game the bots play: arena or cubes3d (`demo` hosts it; a server playing another
    /// game refuses the bots, saying which it plays).
    #[arg(long, value_name = "NAME", default_value = "arena")]
    game: Builtin,
    /// Bots to connect.
    #[arg(long, value_name = "N", default_value_t = 32)]
    bots: usize,
    /// The whole run, ramp included, e.g. `60s` or `5m`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Spread the connections over this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    ramp: Duration,
    /// Join this room by name (default: the server places each bot in a room with space).
    #[arg(long, value_name = "NAME")]
    room: Option<String>,
    /// Seeds behaviours (in the arena a mix of wander, strafe, chase) and network conditions.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Network profile on the bots' sockets: clean, average, poor or lossy.
    #[arg(long, value_name = "NAME", default_value = "clean")]
    profile: String,
    /// One-way delay added each way, e.g. `50ms` (overrides the profile's).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    latency: Option<Duration>,
    /// Random delay spread each way, e.g. `10ms` (reorders datagrams).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    jitter: Option<Duration>,
    /// Datagrams lost each way, e.g. `2%` or `0.02`.
    #[arg(long, value_name = "FRACTION", value_parser = parse_loss)]
    loss: Option<f64>,
    /// Frames per second each bot renders and samples input at.
    #[arg(long, value_name = "HZ", default_value_t = 60)]
    fps: u32,
    /// Write the report as JSON here.
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,
    /// Write the report as an HTML page with plots over time here.
    #[arg(long, value_name = "PATH")]
    report_html: Option<PathBuf>,
    /// Fail (exit 1) when a report figure crosses a threshold, e.g.
    /// `server.tick_lateness_us.p99>1000` or `snapshots_per_s_per_bot.p50<28` (repeatable).
    #[arg(long = "fail-if", value_name = "PATH>VALUE")]
    fail_if: Vec<Threshold>,
    /// Each bot mints its own seat token (user `bot-N`, for --room or any room) with the
    /// newest key of this key file, for a server with `[auth] mode = "token"`; `demo` runs
    /// its server in token mode with this file.
    #[arg(long, value_name = "PATH")]
    token_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    swarm: SwarmArgs,
    /// Override one server config key, e.g. `--set tick.tick_hz=128` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Server rooms (default: enough for every bot at `server.max_clients_per_room`).
    #[arg(long, value_name = "N")]
    rooms: Option<u32>,
    /// Run the server in this process, on the bots' runtime, instead of a child process.
    /// Its CPU and memory are then shared with the bots: the report leaves its memory out.
    #[arg(long)]
    in_process: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Config overrides, as for `demo`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn parse_loss(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    let loss = number
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a loss like 2% or 0.02"))?
        * scale;
    if (0.0..=1.0).contains(&loss) {
        Ok(loss)
    } else {
        Err(format!("{text:?} is not between 0% and 100%"))
    }
}

fn main() -> std::process::ExitCode {
    match run_main() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        // A --fail-if crossed: the report said which.
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            // The message and its causes on one line; no backtrace, whatever RUST_BACKTRACE
            // says: these are a user's errors, not the program's.
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the command; `Ok(false)` when a `--fail-if` threshold was crossed.
fn run_main() -> Result<bool> {
    let cli = Cli::parse();
    let quiet_default = if matches!(cli.command, Some(Command::Serve(_))) {
        "warn"
    } else {
        "warn,tickwire_bot=info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(quiet_default)),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a pod's collected log.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(Command::Merge(args)) = &cli.command {
        return merge_reports(args);
    }
    let passed = match cli.command {
        Some(Command::Merge(_)) => Ok(true),
        Some(Command::Serve(args)) => runtime
            .block_on(server_process::serve_sets(&args.set))
            .map(|()| true),
        Some(Command::Demo(args)) => match args.swarm.game {
            Builtin::Arena => runtime.block_on(demo::<Arena>(&args)),
            Builtin::Cubes3d => runtime.block_on(demo::<Cubes3d>(&args)),
        },
        None => match cli.swarm.game {
            Builtin::Arena => runtime.block_on(load_test::<Arena>(&cli.target, &cli.swarm, false)),
            Builtin::Cubes3d => {
                runtime.block_on(load_test::<Cubes3d>(&cli.target, &cli.swarm, false))
            }
        },
    };
    // Leave the sockets' tasks (and a blocked stdin read) behind without waiting for them.
    runtime.shutdown_timeout(Duration::from_millis(200));
    passed
}

/// The server config `demo` runs: the embedded default hosting `G`, `--set`s, and rooms
/// for every bot.
fn demo_config<G: BotGame>(args: &DemoArgs) -> Result<(ServerConfig<G::Config>, Vec<String>)> {
    let mut sets = vec![
        format!("server.game={}", G::NAME),
        "server.bind=127.0.0.1:0".to_owned(),
        "server.admin=127.0.0.1:0".to_owned(),
    ];
    if let Some(path) = &args.swarm.token_key {
        // The bots mint their tokens with this file: the server checks them against it.
        sets.push("auth.mode=token".to_owned());
        sets.push(format!("auth.key_file={}", path.display()));
    }
    sets.extend(args.set.iter().cloned());
    let config = config_with::<G::Config>(&sets)?;
    let rooms = match args.rooms {
        Some(rooms) => rooms,
        None if args.set.iter().any(|s| s.starts_with("server.rooms=")) => config.server.rooms,
        None => u32::try_from(args.swarm.bots)
            .unwrap_or(u32::MAX)
            .div_ceil(config.server.max_clients_per_room)
            .max(1),
    };
    sets.push(format!("server.rooms={rooms}"));
    Ok((config_with(&sets)?, sets))
}

/// Says where the demo's server is (`place`: how it runs) and returns the bots' target.
fn announce<C>(listening: Listening, config: &ServerConfig<C>, place: &str) -> TargetArgs {
    eprintln!(
        "server{place}: {} {} room(s), {} Hz tick, {} Hz snapshots, QUIC {}; watch it live at http://{}/ (status: /status)",
        config.server.rooms,
        config.server.game,
        config.tick.tick_hz,
        config.tick.snapshot_hz,
        listening.game,
        listening.admin
    );
    TargetArgs {
        server: Some(listening.game.to_string()),
        cert: None,
        fingerprint: Some(listening.fingerprint),
        server_name: "localhost".to_owned(),
        admin: Some(listening.admin),
    }
}

async fn demo<G: BotGame>(args: &DemoArgs) -> Result<bool> {
    if args.in_process {
        return demo_in_process::<G>(args).await;
    }
    let (config, sets) = demo_config::<G>(args)?;
    let exe = std::env::current_exe().context("cannot find this program to start the server")?;
    // Dropped on every path out, which stops it: no orphan keeps the ports.
    let server = ServerProcess::spawn(&exe, &sets, Stdio::inherit()).await?;
    let target = announce(server.listening.clone(), &config, "");
    let passed = load_test::<G>(&target, &args.swarm, false).await;
    drop(server);
    passed
}

/// `demo --in-process`: the server on this runtime, beside the bots.
async fn demo_in_process<G: BotGame>(args: &DemoArgs) -> Result<bool> {
    let (config, _) = demo_config::<G>(args)?;
    let server = Server::start::<G>(&config)
        .await
        .context("cannot start the server")?;
    let target = announce(Listening::of(&server)?, &config, " (in this process)");
    let passed = load_test::<G>(&target, &args.swarm, true).await;
    server.shutdown("demo over").await;
    passed
}

/// The network conditions the arguments describe, and their name for the report.
fn links(args: &SwarmArgs) -> Result<(Option<(LinkConfig, LinkConfig)>, String)> {
    let base = LinkConfig::profile(&args.profile).with_context(|| {
        format!(
            "unknown --profile {:?}: use clean, average, poor or lossy",
            args.profile
        )
    })?;
    let custom = args.latency.is_some() || args.jitter.is_some() || args.loss.is_some();
    let link = LinkConfig {
        latency: args.latency.unwrap_or(base.latency),
        jitter: args.jitter.unwrap_or(base.jitter),
        loss: args.loss.unwrap_or(base.loss),
        ..base
    };
    let name = if custom {
        format!(
            "{}+latency {:?} jitter {:?} loss {:.1}%",
            args.profile,
            link.latency,
            link.jitter,
            link.loss * 100.0
        )
    } else {
        args.profile.clone()
    };
    // The clean profile on loopback needs no conditioning at all.
    let conditioned = link != LinkConfig::clean();
    Ok((conditioned.then_some((link, link)), name))
}

fn trust(target: &TargetArgs) -> Result<ServerTrust> {
    if let Some(hex) = &target.fingerprint {
        return Ok(ServerTrust::Fingerprint(parse_fingerprint(hex)?));
    }
    let path = target
        .cert
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("tickwire-dev-cert.der"));
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read the server certificate {} (give --cert PATH or --fingerprint HEX)",
            path.display()
        )
    })?;
    let der = if bytes.starts_with(b"-----BEGIN") {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(&bytes)
            .with_context(|| format!("{} is not a PEM certificate", path.display()))?
    } else {
        rustls::pki_types::CertificateDer::from(bytes)
    };
    Ok(ServerTrust::Certificate(der))
}

/// Runs the bots against `target`; `server_in_process` when the server shares this process
/// (its memory figures are then left out).
async fn load_test<G: BotGame>(
    target: &TargetArgs,
    args: &SwarmArgs,
    server_in_process: bool,
) -> Result<bool> {
    let named = target
        .server
        .as_deref()
        .context("give --server HOST:PORT (or run `tickwire-bot demo` for a local server)")?;
    if args.bots == 0 {
        bail!("--bots must be at least 1");
    }
    let server = resolve(named).await?;
    let token_key = match &args.token_key {
        Some(path) => {
            let keys = tickwire_server::auth::read_key_file(path)?;
            let key = keys
                .newest()
                .with_context(|| format!("{} holds no key", path.display()))?;
            Some(Arc::new(key.clone()))
        }
        None => None,
    };
    let (links, profile) = links(args)?;
    let config = SwarmConfig {
        server,
        server_name: target.server_name.clone(),
        trust: trust(target)?,
        bots: args.bots,
        ramp: args.ramp.min(args.duration),
        room: args.room.clone(),
        seed: args.seed,
        links,
        fps: args.fps.clamp(1, 1000),
        transport: tickwire_netcode::quic::GameTransport::default(),
        token_key,
    };
    let plan = Plan {
        duration: args.duration,
        admin: target.admin,
        profile,
        sample_every: Duration::from_secs(1),
    };
    eprintln!(
        "{} {} bots → {server} over {:?} (ramp {:?}), profile {}",
        args.bots,
        G::NAME,
        args.duration,
        config.ramp,
        plan.profile
    );
    let progress = Progress::new(args.bots, args.duration);
    let mut report = load_test::run::<G>(&config, &plan, &mut |sample, figures| {
        progress.show(sample, figures);
    })
    .await?;
    if server_in_process {
        if let Some(server) = report.server.as_mut() {
            server.in_bots_process();
        }
    }
    progress.finish();
    println!("{}", report.table());
    write_reports(&report, args)?;
    Ok(verdict(&report, &args.fail_if))
}

/// `tickwire-bot merge`: reads the reports, prints the merged table, writes what was asked.
fn merge_reports(args: &MergeArgs) -> Result<bool> {
    let mut reports = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a tickwire-bot report", path.display()))?;
        reports.push(report);
    }
    let merged = tickwire_bot::merge::merge(&reports).context("cannot merge the reports")?;
    println!(
        "merged {} reports: {}",
        reports.len(),
        args.reports
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("{}", merged.table());
    write_report_files(
        &merged,
        args.report_json.as_ref(),
        args.report_html.as_ref(),
    )?;
    Ok(true)
}

/// The address `HOST:PORT` names (the first the resolver gives).
async fn resolve(named: &str) -> Result<SocketAddr> {
    if !named.contains(':') {
        bail!("--server {named:?} needs a port: HOST:PORT, e.g. {named}:4433");
    }
    tokio::net::lookup_host(named)
        .await
        .with_context(|| format!("cannot resolve --server {named}"))?
        .next()
        .with_context(|| format!("--server {named} resolves to no address"))
}

fn write_reports(report: &Report, args: &SwarmArgs) -> Result<()> {
    write_report_files(report, args.report_json.as_ref(), args.report_html.as_ref())
}

fn write_report_files(
    report: &Report,
    json: Option<&PathBuf>,
    html: Option<&PathBuf>,
) -> Result<()> {
    if let Some(path) = json {
        let json = serde_json::to_string_pretty(report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    if let Some(path) = html {
        std::fs::write(path, report.html())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

/// Whether the run passes: every bot connected and stayed, and no threshold crossed.
fn verdict(report: &Report, thresholds: &[Threshold]) -> bool {
    let mut failed = Vec::new();
    let b = &report.bots;
    if b.connected < b.requested {
        failed.push(format!("{} of {} bots connected", b.connected, b.requested));
    }
    if b.dropped > 0 {
        failed.push(format!("{} bots dropped", b.dropped));
    }
    let json = serde_json::to_value(report).unwrap_or_default();
    failed.extend(thresholds.iter().filter_map(|t| t.crossed(&json)));
    for why in &failed {
        eprintln!("FAILED: {why}");
    }
    failed.is_empty()
}

/// Live figures: a bar on a terminal, a plain line a second otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    bots: usize,
}

impl Progress {
    fn new(bots: usize, duration: Duration) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(duration.as_secs().max(1));
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:24}] {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self { bar, bots }
    }

    fn show(&self, s: &Sample, figures: &[BotFigures]) {
        let failed = figures
            .iter()
            .filter(|f| matches!(f.state, BotState::Failed(_) | BotState::Dropped(_)))
            .count();
        let tick = s
            .server_tick_us_p99
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}µs"));
        let late = s
            .server_tick_lateness_us_p99
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}µs"));
        let busy = s
            .machine_busy_fraction
            .map_or_else(String::new, |b| format!("  machine {:.0}% busy", b * 100.0));
        let line = format!(
            "bots {}/{}{}  snap/s {:.1}  kbit/s ↓{:.1} ↑{:.1}  RTT p50 {:.1} p99 {:.1} ms  corrections {} (settled bots)  server tick p99 {tick} late p99 {late}{busy}",
            s.bots_connected,
            self.bots,
            if failed > 0 {
                format!(" ({failed} failed)")
            } else {
                String::new()
            },
            s.snapshots_per_s_per_bot,
            s.down_kbit_per_s_per_bot,
            s.up_kbit_per_s_per_bot,
            s.rtt_ms_p50,
            s.rtt_ms_p99,
            s.corrections,
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(s.t_s as u64);
                bar.set_message(line);
            }
            None => eprintln!("[{:>6.1}s] {line}", s.t_s),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
