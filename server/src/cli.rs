//! The `tickwire-server` command line, for any set of games: `--help`, the layered
//! configuration, the status line, SIGHUP reloads, the report at exit, and the seat-token
//! tools. The shipped binary hosts the built-in games; a studio's binary hosts its own with
//! the same line:
//!
//! ```no_run
//! # use tickwire_server::cli;
//! # use tickwire_sim::cubes3d::Cubes3d as MyGame;
//! fn main() -> std::process::ExitCode {
//!     cli::main(&[cli::hosted::<MyGame>()])
//! }
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use tickwire_netcode::game::{Game, GameConfig};

use crate::agones::FleetEvent;
use crate::config::default_toml;
use crate::{ConfigLayers, Room, Server, ServerConfig, TickStats};

/// Tickwire: an authoritative game-state server that runs a match at a fixed tick.
///
/// With no arguments it runs the embedded default configuration, hosting the arena (print
/// it with --print-default-config; --game cubes3d hosts the other game). Prints a status line about once a second and a report when it
/// stops (Ctrl-C, SIGTERM, or --duration).
#[derive(Debug, Parser)]
#[command(name = "tickwire-server", version, max_term_width = 100)]
pub struct Args {
    /// A TOML file overlaid on the embedded default; only the keys it names change. Without
    /// this flag, the file the TICKWIRE_CONFIG environment variable names, if any (a
    /// container image's mounted config).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Override one key, e.g. `--set tick.tick_hz=128` (repeatable; wins over --config).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,

    /// The game to host: arena or cubes3d (same as --set server.game=NAME).
    #[arg(long, value_name = "NAME")]
    game: Option<String>,

    /// Game endpoint address (same as --set server.bind=ADDR).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,

    /// Admin HTTP address for /metrics and /status (same as --set server.admin=ADDR).
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,

    /// Simulation rate in Hz (same as --set tick.tick_hz=HZ).
    #[arg(long, value_name = "HZ")]
    tick_hz: Option<u32>,

    /// Snapshot rate in Hz; must divide the tick rate (same as --set tick.snapshot_hz=HZ).
    #[arg(long, value_name = "HZ")]
    snapshot_hz: Option<u32>,

    /// Rooms to start (same as --set server.rooms=N).
    #[arg(long, value_name = "N")]
    rooms: Option<u32>,

    /// Validate PATH layered over the default (with any overrides), print the effective
    /// configuration, and exit: 0 when valid, 1 with a message naming the key when not.
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    check_config: Option<PathBuf>,

    /// Print the embedded default configuration, every key documented (the [game] section
    /// for the game selected, arena unless --game says otherwise), and exit.
    #[arg(long)]
    print_default_config: bool,

    /// Stop after this long, e.g. `30s` or `5m` (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Time between status lines, e.g. `1s`; `0s` turns them off.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    status_every: Duration,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Seat-token tools (the server itself runs without a subcommand).
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write a new seat-token key file (for `[auth] key_file`), readable only by its owner.
    Keygen {
        /// Where to write it; an existing file is never overwritten, unless --add.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Add a key with the next id to the existing file instead (key rotation): servers
        /// accept every key listed, `token` signs with the newest.
        #[arg(long)]
        add: bool,
    },
    /// Print a seat token, as a matchmaker mints it: for one user, in one room or any, valid
    /// for a while, usable once.
    Token {
        /// The key file (as `[auth] key_file`).
        #[arg(long, value_name = "PATH")]
        key_file: PathBuf,
        /// The user id: the player's identity on the server (1 to 64 bytes).
        #[arg(long, value_name = "ID")]
        user: String,
        /// The room the seat is in (default: any room).
        #[arg(long, value_name = "NAME")]
        room: Option<String>,
        /// How long the token stays valid, e.g. `60s`.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Sign with this key id (default: the newest in the file).
        #[arg(long, value_name = "ID")]
        key_id: Option<u32>,
    },
}

/// A game a binary hosts: its name and how to serve it.
#[derive(Debug, Clone, Copy)]
pub struct Hosted {
    name: &'static str,
    serve: fn(&Args, &ConfigLayers) -> Result<()>,
}

/// `G`, hosted.
#[must_use]
pub fn hosted<G: Game>() -> Hosted {
    Hosted {
        name: G::NAME,
        serve: serve::<G>,
    }
}

/// Parses the command line, runs, and says how it ended: the whole `tickwire-server`
/// program, hosting `games`; the configuration's `server.game` (`"arena"` unless set)
/// picks one of them.
#[must_use]
pub fn main(games: &[Hosted]) -> std::process::ExitCode {
    match run_main(games) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes on one line; no backtrace, whatever RUST_BACKTRACE
            // says: these are a user's errors, not the program's.
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_main(games: &[Hosted]) -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a pod's collected log.
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    if let Some(command) = &args.command {
        return run_command(command);
    }
    let layers = layers(&args)?;
    let name = layers.game().unwrap_or_default();
    let Some(game) = games.iter().find(|g| g.name == name) else {
        let names: Vec<String> = games.iter().map(|g| format!("{:?}", g.name)).collect();
        anyhow::bail!(
            "server.game = {name:?} (set in {}): this server hosts {}",
            layers.origin_of("server.game"),
            names.join(", ")
        );
    };
    (game.serve)(&args, &layers)
}

/// Runs (or checks the configuration of) a server hosting `G`.
fn serve<G: Game>(args: &Args, layers: &ConfigLayers) -> Result<()> {
    if args.print_default_config {
        print!("{}", default_toml::<G::Config>());
        return Ok(());
    }
    let config = layers.load::<G::Config>()?;
    if let Some(path) = &args.check_config {
        eprintln!(
            "{} is valid; the effective configuration follows.",
            path.display()
        );
        print!(
            "{}",
            config
                .to_toml()
                .context("cannot print the effective configuration")?
        );
        return Ok(());
    }
    run::<G>(&config, args)
}

/// `keygen` and `token`.
fn run_command(command: &Command) -> Result<()> {
    use crate::auth::{read_key_file, unix_now, write_key_file};
    use tickwire_netcode::token::KeySet;
    match command {
        Command::Keygen { out, add } => {
            let mut keys = if *add {
                read_key_file(out)?
            } else {
                KeySet::default()
            };
            let id = keys.add_new().context("cannot make a key")?.id();
            write_key_file(out, &keys, !add)?;
            eprintln!(
                "{}: key id {id} {} ({} key(s)); set [auth] mode = \"token\" and key_file = {:?}",
                out.display(),
                if *add { "added" } else { "written" },
                keys.keys().len(),
                out.display().to_string(),
            );
        }
        Command::Token {
            key_file,
            user,
            room,
            ttl,
            key_id,
        } => {
            let keys = read_key_file(key_file)?;
            let key = match key_id {
                Some(id) => keys
                    .get(*id)
                    .with_context(|| format!("{} has no key id {id}", key_file.display()))?,
                None => keys
                    .newest()
                    .with_context(|| format!("{} holds no key", key_file.display()))?,
            };
            let token = key
                .mint_for(user, room.as_deref(), *ttl, unix_now())
                .context("cannot mint the token")?;
            println!("{token}");
        }
    }
    Ok(())
}

/// The embedded default, then --config or --check-config, then the single-key flags.
fn layers(args: &Args) -> Result<ConfigLayers> {
    let mut layers = ConfigLayers::new();
    let from_env = std::env::var_os("TICKWIRE_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(path) = args
        .check_config
        .as_ref()
        .or(args.config.as_ref())
        .or(from_env.as_ref())
    {
        layers.file(path)?;
    }
    for assignment in &args.set {
        layers.set(assignment, "--set")?;
    }
    let flags = [
        ("server.game", "--game", args.game.clone()),
        ("server.bind", "--bind", args.bind.clone()),
        ("server.admin", "--admin", args.admin.clone()),
        (
            "tick.tick_hz",
            "--tick-hz",
            args.tick_hz.map(|v| v.to_string()),
        ),
        (
            "tick.snapshot_hz",
            "--snapshot-hz",
            args.snapshot_hz.map(|v| v.to_string()),
        ),
        ("server.rooms", "--rooms", args.rooms.map(|v| v.to_string())),
    ];
    for (key, flag, value) in flags {
        if let Some(value) = value {
            layers.set(&format!("{key}={value}"), flag)?;
        }
    }
    Ok(layers)
}

fn run<G: Game>(config: &ServerConfig<G::Config>, args: &Args) -> Result<()> {
    // Connection tasks are light; the rooms tick on their own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let (reason, finals) = runtime.block_on(async {
        let mut server = Server::start::<G>(config).await?;
        let fleet = server.take_fleet_events();
        let admin = server.admin_addr();
        eprintln!("admin: http://{admin}/metrics and http://{admin}/status");
        eprintln!(
            "tickwire-server: {} {} room(s) at {} Hz tick, {} Hz snapshots, listening on {}; Ctrl-C to stop",
            server.rooms().len(),
            G::NAME,
            config.tick.tick_hz,
            config.tick.snapshot_hz,
            server.game_addr()?,
        );
        if config.tls.cert.is_empty() {
            // Only the self-signed certificate is written out, for local clients to trust.
            let cert_path = std::env::temp_dir().join("tickwire-dev-cert.der");
            let written = server
                .identity()
                .leaf()
                .map(|leaf| std::fs::write(&cert_path, leaf.as_ref()));
            let place = match written {
                Some(Ok(())) => cert_path.display().to_string(),
                // A read-only or foreign temp directory (a locked-down container) costs
                // local clients the file, not the server: they can pin the fingerprint.
                Some(Err(e)) => format!("not written to {} ({e})", cert_path.display()),
                None => "none".to_owned(),
            };
            eprintln!(
                "development certificate (self-signed): {place} (SHA-256 {})",
                server.identity().fingerprint()
            );
        } else {
            eprintln!(
                "certificate: {} (SHA-256 {})",
                config.tls.cert,
                server.identity().fingerprint()
            );
        }
        let reason = wait_for_stop(&server, fleet, args, started, config).await?;
        anyhow::Ok((reason, server.shutdown(reason).await))
    })?;
    eprintln!("stopped: {reason}");
    print_report(config, &finals, started.elapsed());
    Ok(())
}

/// Prints status lines until a signal or the --duration ends the run; returns why it stopped.
async fn wait_for_stop<C: GameConfig>(
    server: &Server,
    mut fleet: Option<tokio::sync::mpsc::UnboundedReceiver<FleetEvent>>,
    args: &Args,
    started: Instant,
    config: &ServerConfig<C>,
) -> Result<&'static str> {
    let rooms = server.rooms();
    let mut current = config.clone();
    // What the allocation asked of the match (`tickwire.dev/set.*`): kept over reloads.
    let mut match_settings: Vec<String> = Vec::new();
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    let until_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    let mut terminate = terminate_signal()?;
    let status_every = (!args.status_every.is_zero()).then_some(args.status_every);
    let mut status = tokio::time::interval(status_every.unwrap_or(Duration::from_secs(3600)));
    status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    status.tick().await; // the first tick fires at once
    let on_terminal = std::io::stderr().is_terminal();
    let udp_drops = server.endpoint().udp_drops();
    let mut dropped_before = udp_drops.and_then(|d| d.read()).unwrap_or(0);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok("Ctrl-C"),
            _ = terminate.recv() => return Ok("SIGTERM"),
            _ = hangup.recv() => reload(server, args, &match_settings, &mut current),
            event = next_fleet_event(&mut fleet) => match event {
                FleetEvent::Allocated(settings) => {
                    if !settings.assignments.is_empty() {
                        match_settings = settings.assignments;
                        reload(server, args, &match_settings, &mut current);
                    }
                }
                FleetEvent::MatchOver => return Ok("the match is over (its last player left)"),
            },
            () = &mut until_deadline => return Ok("--duration reached"),
            _ = status.tick(), if status_every.is_some() => {
                let dropped = udp_drops.and_then(|d| d.read());
                print_status(rooms, started.elapsed(), dropped, on_terminal);
                if let Some(dropped) = dropped.filter(|d| *d > dropped_before) {
                    tracing::warn!(
                        packets = dropped - dropped_before,
                        "the kernel dropped packets on the game socket before the server read \
                         them: its receive buffer was full (raise net.udp_buffer_bytes, or the \
                         server is short of CPU)"
                    );
                    dropped_before = dropped;
                }
                if rooms.iter().any(|r| !r.is_running()) {
                    anyhow::bail!("a room's tick thread stopped unexpectedly");
                }
            }
        }
    }
}

/// The next thing the fleet asks, or never (not in a fleet, or the fleet's side is gone).
async fn next_fleet_event(
    fleet: &mut Option<tokio::sync::mpsc::UnboundedReceiver<FleetEvent>>,
) -> FleetEvent {
    if let Some(events) = fleet {
        if let Some(event) = events.recv().await {
            return event;
        }
        *fleet = None;
    }
    std::future::pending().await
}

/// SIGHUP, or an allocation that sets values for its match: reads the configuration again
/// (with `match_settings`, `KEY=VALUE` from the allocation, over it) and applies what can
/// change live; a bad file or value, or a change that needs a restart, keeps the running
/// configuration and says why.
fn reload<C: GameConfig>(
    server: &Server,
    args: &Args,
    match_settings: &[String],
    current: &mut ServerConfig<C>,
) {
    let loaded = layers(args).and_then(|mut layers| {
        for assignment in match_settings {
            layers.set(assignment, "the allocation (tickwire.dev/set.*)")?;
        }
        Ok(layers.load::<C>()?)
    });
    let new = match loaded {
        Ok(new) => new,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "config reload refused; keeping the running config"
            );
            return;
        }
    };
    if let Err(keys) = current.live_changes(&new) {
        tracing::warn!(
            keys = keys.join(", "),
            "config reload refused: these need a restart; keeping the running config"
        );
        return;
    }
    if let Err(e) = server.retune(&new) {
        tracing::warn!(
            error = format!("{e:#}"),
            "config reload refused; keeping the running config"
        );
        return;
    }
    tracing::info!("config reloaded: tunables applied and sent to clients, keys read again");
    *current = new;
}

#[cfg(unix)]
fn terminate_signal() -> Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")
}

fn print_status(rooms: &[Room], elapsed: Duration, udp_drops: Option<u64>, on_terminal: bool) {
    let mut total = TickStats::new();
    let (mut players, mut moving, mut props) = (0, 0, 0);
    for room in rooms {
        room.merge_into(&mut total);
        let view = room.view();
        players += view.players;
        moving += view.moving_props;
        props += view.props;
    }
    let s = total.summary();
    let line = format!(
        "[{:>6.1}s] ticks {:>7}  skipped {:>3}  tick p50 {:>6.1}µs p99 {:>7.1}µs  late p99 {:>7.1}µs max {:>8.1}µs  players {:>4}  props moving {:>4}/{}{}",
        elapsed.as_secs_f64(),
        s.ticks,
        s.skipped,
        s.tick_us_p50,
        s.tick_us_p99,
        s.late_us_p99,
        s.late_us_max,
        players,
        moving,
        props,
        udp_drops.map_or(String::new(), |d| format!("  udp drops {d}")),
    );
    if on_terminal {
        eprint!("\r{line}\x1b[K");
    } else {
        eprintln!("{line}");
    }
}

fn print_report<C>(config: &ServerConfig<C>, rooms: &[(String, TickStats)], elapsed: Duration) {
    println!();
    println!(
        "Tickwire server report — {:.1} s, {} room(s), {} Hz tick, {} Hz snapshots",
        elapsed.as_secs_f64(),
        rooms.len(),
        config.tick.tick_hz,
        config.tick.snapshot_hz
    );
    println!(
        "{:<10} {:>9} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "room",
        "ticks",
        "skipped",
        "tick p50",
        "tick p99",
        "tick max",
        "late p50",
        "late p99",
        "late p99.9",
        "late max"
    );
    let mut total = TickStats::new();
    for (name, stats) in rooms {
        total.merge(stats);
        print_row(name, stats);
    }
    if rooms.len() > 1 {
        print_row("all", &total);
    }
    println!("(durations in µs; lateness is how long after its deadline a tick started)");
}

fn print_row(name: &str, stats: &TickStats) {
    let s = stats.summary();
    println!(
        "{:<10} {:>9} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
        name,
        s.ticks,
        s.skipped,
        s.tick_us_p50,
        s.tick_us_p99,
        s.tick_us_max,
        s.late_us_p50,
        s.late_us_p99,
        s.late_us_p999,
        s.late_us_max
    );
}
