//! How long one arena step takes: `cargo run --release -p tickwire-benches --bin sim -- --json`.
//!
//! Steps the reference arena with bot-driven players and resting/drifting props and times
//! `World::step` alone (the bots' decisions are made outside the timed region).

use anyhow::Result;
use clap::Parser;
use glam::Vec2;
use serde::Serialize;
use tickwire_benches::{print_table, quantile_us, timing_histogram};
use tickwire_bot::Behaviour;
use tickwire_bot::arena::Brain;
use tickwire_netcode::TickRate;
use tickwire_sim::arena::{ArenaConfig, GameEvent, Rules, World};

/// Time the arena simulation's step.
#[derive(Debug, Parser)]
struct Args {
    /// Ticks to time per case (after 60 warm-up ticks).
    #[arg(long, default_value_t = 3600)]
    ticks: u32,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Case {
    name: String,
    players: usize,
    entities: usize,
    tick_hz: u32,
    ticks: u32,
    step_us_p50: f64,
    step_us_p99: f64,
    step_us_max: f64,
    kills: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cases = [
        ("64p-500props-60hz", 64, 500, 60),
        ("64p-1000props-60hz", 64, 1000, 60),
        ("10p-500props-128hz", 10, 500, 128),
    ];
    let results: Vec<Case> = cases
        .iter()
        .map(|&(name, players, props, hz)| run(name, players, props, hz, args.ticks))
        .collect::<Result<_>>()?;
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.players.to_string(),
                c.entities.to_string(),
                c.tick_hz.to_string(),
                format!("{:.1}", c.step_us_p50),
                format!("{:.1}", c.step_us_p99),
                format!("{:.1}", c.step_us_max),
                c.kills.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "case",
            "players",
            "entities",
            "tick_hz",
            "step µs p50",
            "p99",
            "max",
            "kills",
        ],
        &rows,
    );
    if args.json {
        println!("{}", serde_json::json!({ "cases": results }));
    }
    Ok(())
}

fn run(name: &str, players: usize, props: u32, hz: u32, ticks: u32) -> Result<Case> {
    let config = ArenaConfig {
        prop_count: props,
        ..ArenaConfig::default()
    };
    let rules = Rules::new(config.clone(), TickRate::new(hz)?)?;
    let dt = rules.dt_s();
    let mut world = World::new(rules);
    let mut bots: Vec<_> = (0..players)
        .map(|i| {
            (
                world.spawn_player(),
                Brain::new(Behaviour::mixed(i), i as u64),
            )
        })
        .collect();
    let mut histogram = timing_histogram();
    let (mut inputs, mut alive, mut enemies) = (Vec::new(), Vec::new(), Vec::<Vec2>::new());
    let mut kills = 0;
    for tick in 0..ticks + 60 {
        alive.clear();
        alive.extend(
            world
                .players()
                .filter(|(_, _, p)| p.is_alive())
                .map(|(id, e, _)| (id, e.pos)),
        );
        inputs.clear();
        for (id, brain) in &mut bots {
            let Some(me) = world.get(*id).map(|e| e.pos) else {
                continue;
            };
            enemies.clear();
            enemies.extend(alive.iter().filter(|(o, _)| o != id).map(|(_, p)| *p));
            inputs.push((*id, brain.think(me, &enemies, &config, dt)));
        }
        let start = std::time::Instant::now();
        world.step(&inputs);
        let took = start.elapsed();
        kills += world
            .events()
            .iter()
            .filter(|e| matches!(e, GameEvent::Killed { .. }))
            .count();
        if tick >= 60 {
            histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
        }
    }
    Ok(Case {
        name: name.to_owned(),
        players,
        entities: world.len(),
        tick_hz: hz,
        ticks,
        step_us_p50: quantile_us(&histogram, 0.5),
        step_us_p99: quantile_us(&histogram, 0.99),
        step_us_max: histogram.max() as f64 / 1000.0,
        kills,
    })
}
