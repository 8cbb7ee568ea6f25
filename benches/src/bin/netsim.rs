//! What players would feel on bad networks: `cargo run --release -p tickwire-benches --bin netsim -- --json`.
//!
//! For each network profile, a room with 16 bot-driven clients (in the arena they wander,
//! strafe, chase and shoot; in cubes3d, `--game cubes3d`, they plough through the cubes)
//! runs for 120 simulated seconds over seeded link conditioners, everything in one thread on
//! simulated time. Reports corrections, extrapolated frames, confirmed hits (the arena's),
//! missing and late inputs, clock settling and the interpolation delay.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use serde::Serialize;
use tickwire_benches::print_table;
use tickwire_bot::netsim::{NetSim, Script, SimBot};
use tickwire_bot::{Behaviour, BotGame};
use tickwire_netcode::Tick;
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_sim::Builtin;
use tickwire_sim::arena::Arena;
use tickwire_sim::cubes3d::Cubes3d;

/// Run the bot swarm over simulated bad networks.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated seconds per profile.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Bots per profile.
    #[arg(long, default_value_t = 16)]
    bots: usize,
    /// Seed of links and behaviours.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only these profiles (default: clean, average, poor, lossy).
    #[arg(long)]
    profile: Vec<String>,
    /// The game: arena or cubes3d.
    #[arg(long, value_name = "NAME", default_value = "arena")]
    game: Builtin,
    /// Override server config keys, e.g. `--set net.max_rewind_ms=500` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Profile {
    name: String,
    rtt_ms: f64,
    jitter_ms: f64,
    loss: f64,
    corrections_per_min: f64,
    max_correction_m: f32,
    extrapolated_frame_fraction: f64,
    hits_confirmed_fraction: f64,
    hits_in_view: u64,
    /// In-view hits whose shooter was already dead on the server (the shot never happened).
    hits_by_dead_shooter_fraction: f64,
    /// Confirmed over in-view hits the server did fire (shooter alive on the server).
    hits_confirmed_when_fired_fraction: f64,
    inputs_missing_fraction: f64,
    inputs_late_fraction: f64,
    clock_settle_s: f64,
    interp_delay_ms_p50: f64,
    rewinds_clamped_fraction: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let names: Vec<String> = if args.profile.is_empty() {
        LinkConfig::PROFILES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.profile.clone()
    };
    let mut results = Vec::new();
    for name in &names {
        let link =
            LinkConfig::profile(name).ok_or_else(|| anyhow::anyhow!("unknown profile {name}"))?;
        results.push(match args.game {
            Builtin::Arena => run::<Arena>(name, link, &args)?,
            Builtin::Cubes3d => run::<Cubes3d>(name, link, &args)?,
        });
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{:.0}/{:.0}/{:.0}%", p.rtt_ms, p.jitter_ms, p.loss * 100.0),
                format!("{:.2}", p.corrections_per_min),
                format!("{:.3}", p.max_correction_m),
                format!("{:.4}%", p.extrapolated_frame_fraction * 100.0),
                format!(
                    "{:.2}% of {}",
                    p.hits_confirmed_fraction * 100.0,
                    p.hits_in_view
                ),
                format!("{:.1}%", p.hits_by_dead_shooter_fraction * 100.0),
                format!("{:.2}%", p.hits_confirmed_when_fired_fraction * 100.0),
                format!("{:.4}%", p.inputs_missing_fraction * 100.0),
                format!("{:.4}%", p.inputs_late_fraction * 100.0),
                format!("{:.2}", p.clock_settle_s),
                format!("{:.0}", p.interp_delay_ms_p50),
                format!("{:.1}%", p.rewinds_clamped_fraction * 100.0),
            ]
        })
        .collect();
    print_table(
        &[
            "profile",
            "rtt/jitter/loss",
            "corr/min",
            "max corr m",
            "extrapolated",
            "hits confirmed",
            "by the dead",
            "confirmed if fired",
            "inputs missing",
            "inputs late",
            "settle s",
            "delay ms",
            "rewind clamped",
        ],
        &rows,
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "game": args.game.name(), "profiles": results })
        );
    }
    Ok(())
}

/// What the bench reads of a game's bots beyond the netcode's own figures.
trait NetsimGame: BotGame {
    /// Of the hits `bot` saw at input ticks `judged` accepts: how many, how many the server
    /// confirmed on the same target, and how many it never fired (the shooter was dead).
    fn hits(bot: &SimBot<Self>, judged: &dyn Fn(Tick) -> bool) -> (u64, u64, u64);
}

impl NetsimGame for Arena {
    fn hits(bot: &SimBot<Self>, judged: &dyn Fn(Tick) -> bool) -> (u64, u64, u64) {
        let server_shots = tickwire_bot::arena::judged_shots(&bot.events);
        let seen: Vec<_> = bot
            .pilot
            .hits_in_view()
            .iter()
            .filter(|(t, _)| judged(*t))
            .collect();
        let confirmed = seen
            .iter()
            .filter(|(t, g)| server_shots.contains(&(*t, Some(*g))))
            .count() as u64;
        let never_fired = seen
            .iter()
            .filter(|(t, _)| !server_shots.iter().any(|(s, _)| s == t))
            .count() as u64;
        (seen.len() as u64, confirmed, never_fired)
    }
}

impl NetsimGame for Cubes3d {
    /// No shooting.
    fn hits(_: &SimBot<Self>, _: &dyn Fn(Tick) -> bool) -> (u64, u64, u64) {
        (0, 0, 0)
    }
}

/// When one client's input clock first held its target for a second.
#[derive(Debug, Clone, Copy, Default)]
struct Settle {
    stable_since: Option<f64>,
    settled_at: Option<f64>,
}

impl Settle {
    fn update(&mut self, on_target: bool, t: f64) {
        self.stable_since = match (on_target, self.stable_since) {
            (true, None) => Some(t),
            (true, since) => since,
            (false, _) => None,
        };
        if let (None, Some(since)) = (self.settled_at, self.stable_since) {
            if t - since >= 1.0 {
                self.settled_at = Some(since);
            }
        }
    }
}

fn run<G: NetsimGame>(name: &str, link: LinkConfig, args: &Args) -> Result<Profile> {
    let mut layers = tickwire_server::ConfigLayers::new();
    layers.set(&format!("server.game={}", G::NAME), "--game")?;
    for assignment in &args.set {
        layers.set(assignment, "--set")?;
    }
    let config = layers.load::<G::Config>()?;
    let mut sim = NetSim::<G>::new(&config)?;
    for i in 0..args.bots {
        sim.add_bot(
            Script::Play(Behaviour::mixed(i)),
            link,
            link,
            args.seed.wrapping_mul(1000).wrapping_add(i as u64),
        )
        .map_err(|r| anyhow::anyhow!("bot refused: {r:?}"))?;
    }
    let dt_ms = 1000.0 / f64::from(config.tick.tick_hz);
    let total = Duration::from_secs(args.seconds);
    let mut settles = vec![Settle::default(); args.bots];
    let mut delays = Vec::new();
    while sim.elapsed() < total {
        sim.run_until(sim.elapsed() + Duration::from_millis(50));
        let t = sim.elapsed().as_secs_f64();
        for (bot, settle) in sim.bots.iter().zip(&mut settles) {
            let clock = bot.net.clock();
            delays.push(clock.delay_ticks() * dt_ms);
            // Settled: the input lead has stayed within one tick of its target for a second.
            settle.update(
                clock
                    .lead()
                    .is_some_and(|lead| (lead - clock.target_lead()).abs() <= 1.0),
                t,
            );
        }
    }
    let minutes = total.as_secs_f64() / 60.0;
    let (mut corrections, mut max_corr, mut frames, mut extrapolated, mut in_view, mut confirmed) =
        (0u64, 0f32, 0u64, 0u64, 0u64, 0u64);
    let (mut missing, mut late, mut ticks, mut never_fired) = (0u64, 0u64, 0u64, 0u64);
    for bot in &sim.bots {
        let p = bot.net.prediction_stats();
        corrections += p.corrections;
        max_corr = max_corr.max(p.max_correction);
        let s = bot.net.stats();
        frames += s.frames;
        extrapolated += s.extrapolated_frames + s.held_frames;
        // Shots still in flight when the run stops have not been judged: leave out the last
        // second.
        let now = sim.room.tick_now();
        let judged = |t: Tick| now.since(t) > config.tick.tick_hz as i32;
        let (seen, hits, dead) = G::hits(bot, &judged);
        in_view += seen;
        confirmed += hits;
        never_fired += dead;
        if let Some(i) = sim.room.input_stats(bot.id) {
            missing += u64::from(i.missing);
            late += u64::from(i.late);
        }
        ticks += u64::from(sim.room.tick_now().get());
    }
    delays.sort_by(f64::total_cmp);
    let settle = settles
        .iter()
        .map(|s| s.settled_at.unwrap_or(f64::INFINITY))
        .fold(0.0, f64::max);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(Profile {
        name: name.to_owned(),
        rtt_ms: (link.latency * 2).as_secs_f64() * 1000.0,
        jitter_ms: (link.jitter * 2).as_secs_f64() * 1000.0,
        loss: link.loss,
        corrections_per_min: corrections as f64 / args.bots as f64 / minutes,
        max_correction_m: max_corr,
        extrapolated_frame_fraction: ratio(extrapolated, frames),
        hits_confirmed_fraction: ratio(confirmed, in_view),
        hits_in_view: in_view,
        hits_by_dead_shooter_fraction: ratio(never_fired, in_view),
        hits_confirmed_when_fired_fraction: ratio(confirmed, in_view.saturating_sub(never_fired)),
        inputs_missing_fraction: ratio(missing, ticks),
        inputs_late_fraction: ratio(late, ticks),
        clock_settle_s: settle,
        interp_delay_ms_p50: delays.get(delays.len() / 2).copied().unwrap_or(0.0),
        rewinds_clamped_fraction: ratio(sim.room.stats().rewinds_clamped, sim.room.stats().shots),
    })
}
