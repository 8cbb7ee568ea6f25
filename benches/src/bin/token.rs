//! What checking a seat token costs a join:
//! `cargo run --release -p tickwire-benches --bin token -- --json`.
//!
//! Mints distinct tokens (as a matchmaker would, one per player), then times the server's
//! whole admission check per join — base64url decode, key lookup, HMAC-SHA256 verify in
//! constant time, expiry, room, and the replay guard remembering the nonce — as
//! `server::auth::Admission::check_at` does it, with the guard growing to every token
//! admitted. Also times a replayed token's refusal and a forged one's. The target: under
//! 5 µs per join.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use tickwire_benches::{print_table, quantile_us, timing_histogram};
use tickwire_netcode::protocol::{Hello, PROTOCOL_VERSION};
use tickwire_netcode::token::{Key, KeySet};
use tickwire_server::auth::Admission;

/// Time the seat-token check.
#[derive(Debug, Parser)]
struct Args {
    /// Distinct tokens admitted (the replay guard remembers them all).
    #[arg(long, default_value_t = 200_000)]
    joins: usize,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// Times `admission`'s check of each hello at `now`, each expected to be admitted or not.
fn time_checks(
    admission: &Admission,
    hellos: &[Hello],
    now: u64,
    admit: bool,
) -> Result<hdrhistogram::Histogram<u64>> {
    let mut times = timing_histogram();
    for h in hellos {
        let t = Instant::now();
        let result = admission.check_at(h, now);
        let took = t.elapsed();
        anyhow::ensure!(
            result.is_ok() == admit,
            "expected admitted = {admit}: {result:?}"
        );
        times.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
    }
    Ok(times)
}

fn main() -> Result<()> {
    let args = Args::parse();
    // Two keys, as during a rotation; tokens are signed with the newer.
    let mut keys = KeySet::default();
    keys.add_new()?;
    let key = keys.add_new()?.clone();
    let now = 1_900_000_000;
    let tokens: Vec<String> = (0..args.joins)
        .map(|n| {
            key.mint_for(
                &format!("player-{n}"),
                Some("room-0"),
                Duration::from_secs(60),
                now,
            )
        })
        .collect::<Result<_, _>>()?;
    let hello = |token: &str| Hello {
        version: PROTOCOL_VERSION,
        name: "p".to_owned(),
        room: None,
        token: Some(token.to_owned()),
    };
    let hellos: Vec<Hello> = tokens.iter().map(|t| hello(t)).collect();
    let admission = Admission::tokens(keys.clone(), Duration::from_secs(3600));
    let started = Instant::now();
    let admitted = time_checks(&admission, &hellos, now, true)?;
    let total = started.elapsed();
    // Replays (the first 50 000 again) and forgeries: refused.
    let replayed = time_checks(
        &admission,
        hellos.get(..50_000).unwrap_or(&hellos),
        now,
        false,
    )?;
    let forger = Key::new(key.id(), [7; 32]);
    let forged: Vec<Hello> = (0..50_000)
        .map(|n| {
            forger
                .mint_for(&format!("f{n}"), None, Duration::from_secs(60), now)
                .map(|t| hello(&t))
        })
        .collect::<Result<_, _>>()?;
    let refused = time_checks(&admission, &forged, now, false)?;
    let mean_us = total.as_secs_f64() * 1e6 / args.joins as f64;
    let row = |name: &str, h: &hdrhistogram::Histogram<u64>| {
        vec![
            name.to_owned(),
            h.len().to_string(),
            format!("{:.2}", h.mean() / 1000.0),
            format!("{:.2}", quantile_us(h, 0.5)),
            format!("{:.2}", quantile_us(h, 0.99)),
            format!("{:.2}", h.max() as f64 / 1000.0),
        ]
    };
    print_table(
        &["check", "joins", "mean µs", "p50 µs", "p99 µs", "max µs"],
        &[
            row("valid token admitted", &admitted),
            row("replay refused", &replayed),
            row("forgery refused", &refused),
        ],
    );
    println!(
        "whole loop: {mean_us:.2} µs per join over {} distinct tokens (the replay guard ends holding all of them)",
        args.joins
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "joins": args.joins,
                "check_us_per_join": mean_us,
                "check_us_p50": quantile_us(&admitted, 0.5),
                "check_us_p99": quantile_us(&admitted, 0.99),
                "replay_refused_us_p50": quantile_us(&replayed, 0.5),
                "forgery_refused_us_p50": quantile_us(&refused, 0.5),
                "token_bytes": tokens.first().map_or(0, String::len),
            })
        );
    }
    Ok(())
}
