//! Client netcode and lag compensation on seeded, simulated bad networks: a room and bots
//! in one thread on simulated time (no sockets), so every run reproduces exactly.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use tickwire_bot::Behaviour;
use tickwire_bot::netsim::{NetSim, Script};
use tickwire_netcode::Tick;
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_sim::arena::Arena;
use tickwire_tests::config_with;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_player_who_only_moves_is_never_corrected_on_a_clean_link() {
    let mut sim = NetSim::<Arena>::new(&config_with(&[])).unwrap();
    let link = LinkConfig::symmetric(ms(60), Duration::ZERO, 0.0);
    sim.add_bot(Script::Run, link, link, 3).unwrap();
    sim.run_until(Duration::from_secs(20));
    let p = sim.bots[0].net.prediction_stats();
    assert!(p.checked > 500, "only {} states checked", p.checked);
    assert_eq!(p.corrections, 0, "{p:?}");
    let moved = sim.bots[0].net.predicted().unwrap().vel.length();
    assert!(moved > 5.0, "the runner should be running ({moved} m/s)");
}

#[test]
fn interpolation_never_extrapolates_on_a_clean_link() {
    let mut sim = NetSim::<Arena>::new(&config_with(&[])).unwrap();
    let link = LinkConfig::symmetric(ms(80), Duration::ZERO, 0.0);
    for i in 0..4 {
        sim.add_bot(Script::Play(Behaviour::mixed(i)), link, link, i as u64)
            .unwrap();
    }
    sim.run_until(Duration::from_secs(3));
    let before: Vec<_> = sim.bots.iter().map(|b| b.net.stats()).collect();
    sim.run_until(Duration::from_secs(20));
    for (bot, before) in sim.bots.iter().zip(before) {
        let after = bot.net.stats();
        assert!(after.frames - before.frames > 1500);
        assert_eq!(
            after.extrapolated_frames, before.extrapolated_frames,
            "{after:?}"
        );
        assert_eq!(after.held_frames, before.held_frames, "{after:?}");
    }
}

/// A chaser shooting a runner at 150 ms RTT for 15 s; returns (hits the shooter saw,
/// of those confirmed by the server), counting shots from 2 s in (after the clocks have
/// settled) to 1 s before the end (so every one has been judged).
fn duel(overrides: &[&str]) -> (usize, usize) {
    let mut config = config_with(overrides);
    config.game.obstacles.clear();
    config.game.weapon_damage = 0; // nobody dies: every shot is judged against a live target
    let mut sim = NetSim::<Arena>::new(&config).unwrap();
    let link = LinkConfig::symmetric(ms(150), Duration::ZERO, 0.0);
    sim.add_bot(Script::Play(Behaviour::Chase), link, link, 1)
        .unwrap();
    sim.add_bot(Script::Run, link, link, 2).unwrap();
    sim.run_until(Duration::from_secs(15));
    hits_in(&sim.bots[0], |t| (120..14 * 60).contains(&t.get()))
}

/// Of the hits `shooter` saw at input ticks `window` accepts: how many, and how many the
/// server confirmed on the same target.
fn hits_in(
    shooter: &tickwire_bot::netsim::SimBot<Arena>,
    window: impl Fn(Tick) -> bool,
) -> (usize, usize) {
    let seen: Vec<_> = shooter
        .pilot
        .hits_in_view()
        .iter()
        .filter(|(t, _)| window(*t))
        .collect();
    let judged = tickwire_bot::arena::judged_shots(&shooter.events);
    let confirmed = seen
        .iter()
        .filter(|(t, target)| judged.contains(&(*t, Some(*target))))
        .count();
    (seen.len(), confirmed)
}

#[test]
fn lag_compensation_confirms_what_the_shooter_saw_and_without_it_shots_miss() {
    let (seen, confirmed) = duel(&[]);
    assert!(seen > 20, "only {seen} hits in view");
    assert_eq!(confirmed, seen, "every hit the shooter saw is confirmed");
    let (seen, confirmed) = duel(&["net.max_rewind_ms=0"]);
    assert!(seen > 20);
    assert!(
        confirmed < seen / 2,
        "without rewinding, {confirmed} of {seen} still hit"
    );
}

#[test]
fn the_input_clock_settles_after_an_rtt_step() {
    let mut sim = NetSim::<Arena>::new(&config_with(&[])).unwrap();
    let before = LinkConfig::symmetric(ms(50), Duration::ZERO, 0.0);
    sim.add_bot(Script::Run, before, before, 4).unwrap();
    sim.run_until(Duration::from_secs(8));
    let after = LinkConfig::symmetric(ms(100), Duration::ZERO, 0.0);
    sim.bots[0].set_links(after, after);
    let step = sim.elapsed();
    let mut stable_since = None;
    while sim.elapsed() < step + Duration::from_secs(8) {
        sim.run_until(sim.elapsed() + ms(20));
        let clock = sim.bots[0].net.clock();
        let ok = clock
            .lead()
            .is_some_and(|lead| (lead - clock.target_lead()).abs() <= 1.0);
        stable_since = match (ok, stable_since) {
            (true, None) => Some(sim.elapsed()),
            (true, since) => since,
            (false, _) => None,
        };
        if stable_since.is_some_and(|s| sim.elapsed() - s >= Duration::from_secs(1)) {
            break;
        }
    }
    let settled = stable_since.expect("the clock never settled") - step;
    assert!(
        settled < Duration::from_secs(2),
        "settled {settled:?} after the step"
    );
}

#[test]
fn inputs_survive_ten_percent_loss() {
    let mut sim = NetSim::<Arena>::new(&config_with(&[])).unwrap();
    let link = LinkConfig::symmetric(ms(50), Duration::ZERO, 0.10);
    sim.add_bot(Script::Run, link, link, 5).unwrap();
    sim.run_until(Duration::from_secs(5));
    let id = sim.bots[0].id;
    let before = sim.room.input_stats(id).unwrap();
    let ticks_before = sim.room.game().world().tick();
    sim.run_until(Duration::from_secs(35));
    let after = sim.room.input_stats(id).unwrap();
    let ticks = sim.room.game().world().tick().since(ticks_before) as u32;
    let missing = after.missing - before.missing;
    assert!(
        sim.bots[0].uplink().stats().lost > 100,
        "the link must really lose datagrams"
    );
    assert!(
        missing * 1000 <= ticks,
        "{missing} of {ticks} inputs missing at 10 % loss"
    );
}

#[test]
fn a_snapshot_rate_and_rules_changed_live_are_followed() {
    let mut config = config_with(&[]);
    config.game.obstacles.clear();
    config.game.weapon_damage = 0;
    let mut sim = NetSim::<Arena>::new(&config).unwrap();
    let link = LinkConfig::symmetric(ms(100), ms(5), 0.0);
    sim.add_bot(Script::Play(Behaviour::Chase), link, link, 1)
        .unwrap();
    sim.add_bot(Script::Run, link, link, 2).unwrap();
    sim.run_until(Duration::from_secs(6));
    let delay_at_30hz = sim.bots[0].net.clock().delay_ticks();
    let speed_before = sim.bots[1].net.predicted().unwrap().vel.length();
    assert!(speed_before > 5.0, "the runner runs at {speed_before} m/s");
    // A designer halves the snapshot rate's cost and slows everyone down, mid-match.
    config.tick.snapshot_hz = 20;
    config.game.max_speed_mps = 4.5; // the default is 6
    sim.retune(&config).unwrap();
    let changed_at = sim.room.game().world().tick();
    sim.run_until(Duration::from_secs(9)); // the transition
    let stats_before: Vec<_> = sim.bots.iter().map(|b| b.net.stats()).collect();
    let runner_corrections = sim.bots[1].net.prediction_stats().corrections;
    sim.run_until(Duration::from_secs(19));
    for (bot, before) in sim.bots.iter().zip(&stats_before) {
        let snapshots = bot.net.stats().snapshots - before.snapshots;
        assert!(
            (195..=205).contains(&snapshots),
            "{snapshots} snapshots in 10 s at 20 Hz"
        );
        let after = bot.net.stats();
        assert_eq!(
            after.extrapolated_frames, before.extrapolated_frames,
            "the render delay follows the longer interval"
        );
    }
    let delay = sim.bots[0].net.clock().delay_ticks();
    assert!(
        delay >= 6.0 && delay > delay_at_30hz,
        "render delay {delay_at_30hz:.1} → {delay:.1} ticks"
    );
    let runner = &sim.bots[1].net;
    assert_eq!(
        runner.prediction_stats().corrections,
        runner_corrections,
        "predicted under the new rules, the runner is not corrected"
    );
    let speed = runner.predicted().unwrap().vel.length();
    assert!(
        (4.0..=4.5 + 1e-3).contains(&speed),
        "runs at {speed} m/s, not at the new 4.5"
    );
    // Lag compensation brackets shots with the snapshots actually sent.
    let (seen, confirmed) = hits_in(&sim.bots[0], |t| {
        t.since(changed_at) > 60 * 3 && t.since(changed_at) < 60 * 12
    });
    assert!(seen > 20, "only {seen} hits in view");
    assert_eq!(confirmed, seen, "hits in view confirmed after the change");
}

/// `net.input_buffer_ticks` is the lead clients aim for: told at welcome, it is the lead
/// their inputs keep on a clean link (plus the clock's small late margin).
#[test]
fn the_configured_input_buffer_is_the_lead_clients_keep() {
    let lead_with = |ticks: u32| {
        let mut sim =
            NetSim::<Arena>::new(&config_with(&[&format!("net.input_buffer_ticks={ticks}")]))
                .unwrap();
        let link = LinkConfig::symmetric(ms(40), Duration::ZERO, 0.0);
        sim.add_bot(Script::Run, link, link, 9).unwrap();
        sim.run_until(Duration::from_secs(10));
        let clock = sim.bots[0].net.clock();
        (clock.target_lead(), clock.lead().unwrap())
    };
    for ticks in [1, 4] {
        let (target, lead) = lead_with(ticks);
        let ticks = f64::from(ticks);
        assert!(
            (ticks..ticks + 1.5).contains(&target),
            "aimed for {target} with {ticks} buffered"
        );
        assert!(
            (ticks - 0.5..ticks + 2.0).contains(&lead),
            "kept {lead} ahead with {ticks} buffered"
        );
    }
}

#[test]
fn cubes3d_drivers_are_never_corrected_on_a_clean_link_and_stir_the_cubes() {
    use tickwire_sim::cubes3d::Cubes3d;
    let config = tickwire_tests::game_config_with(&["server.game=cubes3d"]);
    let mut sim = NetSim::<Cubes3d>::new(&config).unwrap();
    let link = LinkConfig::symmetric(ms(60), Duration::ZERO, 0.0);
    for i in 0..4 {
        sim.add_bot(Script::Play(Behaviour::mixed(i)), link, link, i as u64)
            .unwrap();
    }
    sim.add_bot(Script::Run, link, link, 9).unwrap();
    let mut most_awake = 0;
    for s in 1..=20 {
        sim.run_until(Duration::from_secs(s));
        most_awake = most_awake.max(sim.room.census().moving_props);
    }
    for bot in &sim.bots {
        let p = bot.net.prediction_stats();
        assert!(p.checked > 500, "only {} states checked", p.checked);
        assert_eq!(p.corrections, 0, "{p:?}");
        assert!(bot.net.stats().snapshots > 60 * 17, "{:?}", bot.net.stats());
    }
    assert!(
        most_awake > 10,
        "the pushers woke at most {most_awake} cubes"
    );
}
