//! Client clock sync: which tick to predict, and which moment to render.
//!
//! Two clocks run on the client, both as fractional ticks advanced by real time:
//!
//! - the **prediction clock** runs *ahead* of the server so each input arrives just before
//!   the server needs it. Every snapshot says how far ahead of that snapshot's tick the
//!   newest input the server holds is (its *lead*), and how many inputs were late or
//!   missing. The clock steers the lowest lead seen over the last second (the latest-arriving
//!   input, so jitter is inside it) to a target: a margin, raised when loss calls for more
//!   redundant copies of each input, and raised again while inputs still come late.
//! - the **render clock** runs *behind* the newest snapshot by the interpolation delay: two
//!   snapshot intervals (one lost snapshot) plus the arrival jitter actually seen.
//!
//! Both steer by stretching or shrinking their tick by at most ±10 %, never by jumping, unless
//! the error is large (connect, a long stall), when they jump. Lead reports are corrected for
//! the steering done while they were in flight, so steering does not overshoot.

use std::collections::VecDeque;
use std::time::Duration;

use web_time::Instant;

use crate::tick::{Tick, TickTime};

/// Largest change of a clock's rate when steering (fraction of nominal).
pub const MAX_RATE_ADJUST: f64 = 0.10;
/// Steering gain: rate change per tick of error.
const GAIN: f64 = 0.1;
/// How long arrival samples are remembered (for jitter and loss).
const ARRIVAL_WINDOW: Duration = Duration::from_secs(2);
/// How long lead reports are remembered (the lowest steers).
const LEAD_WINDOW: Duration = Duration::from_secs(2);
/// Missing inputs should be rarer than this once the lead is on target.
const MISSING_GOAL: f64 = 1e-4;

/// Fixed numbers of a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockConfig {
    /// Length of one tick (seconds).
    pub dt_s: f64,
    /// Ticks between snapshots.
    pub snapshot_interval_ticks: u32,
    /// Interpolation delay to start with, before any jitter is measured (ticks).
    pub initial_delay_ticks: f64,
    /// Smallest lead to aim for, for the latest-arriving input (ticks).
    pub min_lead_ticks: f64,
    /// An error beyond this many ticks is fixed by a jump rather than by steering.
    pub jump_ticks: f64,
}

/// The client's two clocks. Feed it snapshot arrivals and server feedback; ask it each frame
/// which tick to predict up to and which to render.
#[derive(Debug)]
pub struct ClientClock {
    config: ClockConfig,
    /// Local time origin: offsets are measured in ticks since it.
    origin: Instant,
    last: Option<Instant>,
    started: bool,
    /// The first snapshot's tick: the clocks below count ticks from it, so they stay small
    /// numbers and wrap with it (offsets are taken with `Tick::since`).
    anchor: Tick,
    /// The prediction clock, ticks after `anchor`.
    predict: f64,
    /// Total ticks the prediction clock gained or lost to steering and jumps.
    predict_adjust: f64,
    /// `predict_adjust` when each recent input tick was sent.
    sent: VecDeque<(Tick, f64)>,
    /// Lead reports less `predict_adjust` at their arrival.
    leads: VecDeque<(Instant, f64)>,
    late_margin: f64,
    last_problems: Option<u32>,
    /// The render clock, ticks after `anchor`.
    render: f64,
    /// Arrival offsets `snapshot tick − local ticks`, newest last.
    arrivals: VecDeque<(Instant, f64)>,
    /// Snapshots due since the previous one, per arrival (for loss).
    due: VecDeque<(Instant, u32)>,
    /// Sum of `due`'s counts, kept as it changes (read every frame).
    due_total: u32,
    /// Lowest of `leads`, kept as it changes.
    lowest_lead: f64,
    /// Highest of `arrivals`' offsets, kept as it changes.
    best_arrival: f64,
    /// Scratch for the jitter percentile.
    behind: Vec<f64>,
    newest_snapshot: Option<Tick>,
    delay: f64,
}

impl ClientClock {
    /// A clock that has heard nothing yet; `now` is its time origin.
    #[must_use]
    pub fn new(config: ClockConfig, now: Instant) -> Self {
        Self {
            config,
            origin: now,
            last: Some(now),
            started: false,
            anchor: Tick::ZERO,
            predict: 0.0,
            predict_adjust: 0.0,
            sent: VecDeque::new(),
            leads: VecDeque::new(),
            late_margin: 0.0,
            last_problems: None,
            render: 0.0,
            arrivals: VecDeque::new(),
            due: VecDeque::new(),
            due_total: 0,
            lowest_lead: f64::INFINITY,
            best_arrival: f64::MIN,
            behind: Vec::new(),
            newest_snapshot: None,
            delay: config.initial_delay_ticks,
        }
    }

    /// Follows a snapshot rate changed by the server: the render delay's target (two
    /// intervals plus jitter) and the loss estimate count in the new interval from now on.
    pub fn set_snapshot_interval(&mut self, ticks: u32) {
        self.config.snapshot_interval_ticks = ticks.max(1);
    }

    /// The clock's configuration.
    #[must_use]
    pub fn config(&self) -> &ClockConfig {
        &self.config
    }

    /// Whether a first snapshot has set the clocks.
    #[must_use]
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The prediction clock: the moment the client predicts up to.
    #[must_use]
    pub fn predict_tick(&self) -> TickTime {
        TickTime::at(self.anchor).add_ticks(self.predict)
    }

    /// The render clock: the moment the client renders other entities at.
    #[must_use]
    pub fn render_tick(&self) -> TickTime {
        TickTime::at(self.anchor).add_ticks(self.render)
    }

    /// The interpolation delay now (ticks).
    #[must_use]
    pub fn delay_ticks(&self) -> f64 {
        self.delay
    }

    /// The lead the prediction clock aims for (ticks).
    #[must_use]
    pub fn target_lead(&self) -> f64 {
        self.config.min_lead_ticks.max(self.loss_lead()) + self.late_margin
    }

    /// The lowest input lead reported over the last second, as it stands now (ticks).
    #[must_use]
    pub fn lead(&self) -> Option<f64> {
        let lowest = self.lowest_lead;
        lowest.is_finite().then_some(lowest + self.predict_adjust)
    }

    /// The fraction of snapshots lost recently, from gaps in their ticks.
    #[must_use]
    pub fn loss_estimate(&self) -> f64 {
        let expected = self.due_total;
        if expected < 20 {
            0.0
        } else {
            1.0 - self.due.len() as f64 / f64::from(expected)
        }
    }

    /// The lead redundancy needs against the loss seen: an input's copies ride in the
    /// following datagrams, each tick of lead lets one more arrive in time, and enough must
    /// get through that a missing input is rarer than [`MISSING_GOAL`].
    fn loss_lead(&self) -> f64 {
        let p = self.loss_estimate().clamp(0.0, 0.5);
        if p <= 0.0 {
            return 0.0;
        }
        // Continuous rather than rounded up, so a loss estimate hovering at a threshold does
        // not make the target jump by a whole tick back and forth.
        (MISSING_GOAL.ln() / p.ln() - 1.0).max(0.0)
    }

    /// A snapshot part for `tick` arrived at `now`.
    pub fn on_snapshot(&mut self, now: Instant, tick: Tick) {
        self.advance(now);
        if self.newest_snapshot.is_some_and(|n| !tick.is_after(n)) {
            return;
        }
        let interval = self.config.snapshot_interval_ticks.max(1) as i32;
        let due = self
            .newest_snapshot
            .map_or(1, |n| (tick.since(n) / interval).clamp(1, 64) as u32);
        self.newest_snapshot = Some(tick);
        self.due.push_back((now, due));
        self.due_total += due;
        if !self.started {
            self.anchor = tick;
        }
        let offset = f64::from(tick.since(self.anchor)) - self.local_ticks(now);
        self.arrivals.push_back((now, offset));
        while self
            .arrivals
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > ARRIVAL_WINDOW)
        {
            self.arrivals.pop_front();
        }
        while let Some(&(at, old)) = self.due.front() {
            if now.saturating_duration_since(at) <= ARRIVAL_WINDOW * 4 {
                break;
            }
            self.due.pop_front();
            self.due_total -= old;
        }
        self.best_arrival = self
            .arrivals
            .iter()
            .map(|(_, o)| *o)
            .fold(f64::MIN, f64::max);
        if !self.started {
            self.started = true;
            self.render = self.arrival_estimate(now) - self.delay;
            // Until the server reports a lead, assume a short trip.
            self.predict = f64::from(tick.since(self.anchor)) + self.config.min_lead_ticks + 4.0;
        }
        // The delay covers one lost snapshot (two intervals) plus the arrival jitter: how
        // far arrivals fall behind the earliest, at the 99th percentile.
        let best = self.best_arrival;
        let behind = &mut self.behind;
        behind.clear();
        behind.extend(self.arrivals.iter().map(|(_, o)| best - o));
        // The 99th percentile by selection: linear, no full sort per snapshot.
        let rank = behind.len().saturating_sub(1) * 99 / 100;
        let p99 = if behind.is_empty() {
            0.0
        } else {
            *behind.select_nth_unstable_by(rank, f64::total_cmp).1
        };
        let target = 2.0 * f64::from(self.config.snapshot_interval_ticks) + p99 + 0.5;
        // Grow at once (a stall is worse than latency), shrink slowly.
        self.delay = if target > self.delay {
            target
        } else {
            self.delay + (target - self.delay) * 0.02
        };
    }

    /// The server's report in snapshot `tick`: the newest input it held and its cumulative
    /// late and missing counts.
    pub fn on_feedback(
        &mut self,
        now: Instant,
        tick: Tick,
        newest_input: Option<Tick>,
        late: u32,
        missing: u32,
    ) {
        self.advance(now);
        let problems = late.saturating_add(missing);
        if let Some(before) = self.last_problems {
            // Inputs failing to arrive although the lead was on target: ask for more margin.
            // (Misses while still converging say nothing about the margin.)
            let on_target = self
                .lead()
                .is_some_and(|l| (l - self.target_lead()).abs() <= 1.0);
            if problems > before && on_target {
                self.late_margin = (self.late_margin + 0.5).min(6.0);
            }
        }
        self.last_problems = Some(problems);
        let Some(input) = newest_input else { return };
        // Steering done since that input left is not in the report yet. (The input is a
        // recent one: search from the newest.)
        let then = self
            .sent
            .iter()
            .rev()
            .find(|(t, _)| *t == input)
            .map_or(self.predict_adjust, |(_, a)| *a);
        let lead = f64::from(input.since(tick)) + (self.predict_adjust - then);
        self.leads.push_back((now, lead - self.predict_adjust));
        while self
            .leads
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > LEAD_WINDOW)
        {
            self.leads.pop_front();
        }
        self.lowest_lead = self
            .leads
            .iter()
            .map(|(_, l)| *l)
            .fold(f64::INFINITY, f64::min);
        if let Some(lowest) = self.lead() {
            let error = self.target_lead() - lowest;
            if error.abs() > self.config.jump_ticks {
                self.predict += error;
                self.predict_adjust += error;
            }
        }
    }

    /// The client is about to send its input for `tick`.
    pub fn on_input_sent(&mut self, tick: Tick) {
        self.sent.push_back((tick, self.predict_adjust));
        while self.sent.len() > 256 {
            self.sent.pop_front();
        }
    }

    /// Advances both clocks to `now`, steering toward their targets.
    pub fn advance(&mut self, now: Instant) {
        let Some(last) = self.last.replace(now) else {
            return;
        };
        if !self.started || now == last {
            return;
        }
        let elapsed = now.saturating_duration_since(last).as_secs_f64() / self.config.dt_s;
        // The extra margin decays by a tick every 20 s, so a passing bad patch is forgotten.
        self.late_margin = (self.late_margin - elapsed * self.config.dt_s / 20.0).max(0.0);
        let rate = |error: f64| 1.0 + (error * GAIN).clamp(-MAX_RATE_ADJUST, MAX_RATE_ADJUST);
        let predict_rate = self
            .lead()
            .map_or(1.0, |lead| rate(self.target_lead() - lead));
        self.predict += elapsed * predict_rate;
        self.predict_adjust += elapsed * (predict_rate - 1.0);
        let target = self.arrival_estimate(now) - self.delay;
        let error = target - self.render;
        if error.abs()
            > self
                .config
                .jump_ticks
                .max(4.0 * f64::from(self.config.snapshot_interval_ticks))
        {
            self.render = target;
        } else {
            self.render += elapsed * rate(error);
        }
    }

    /// Local time as ticks since the origin.
    fn local_ticks(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.origin).as_secs_f64() / self.config.dt_s
    }

    /// The tick the newest snapshot should carry if it arrived at `now` with the least delay
    /// seen recently.
    fn arrival_estimate(&self, now: Instant) -> f64 {
        let best = self.best_arrival;
        if best == f64::MIN {
            self.render + self.delay
        } else {
            best + self.local_ticks(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Snapshots every 2 ticks of 60 Hz, arriving on time, across the wrap of the tick
    /// counter: both clocks move forward steadily through it, the render clock behind the
    /// newest snapshot by its delay, the prediction clock ahead of it.
    #[test]
    fn the_clocks_run_smoothly_across_the_wrap_of_the_tick_counter() {
        let config = ClockConfig {
            dt_s: 1.0 / 60.0,
            snapshot_interval_ticks: 2,
            initial_delay_ticks: 6.0,
            min_lead_ticks: 1.0,
            jump_ticks: 4.0,
        };
        let t0 = crate::testing::epoch();
        let start = Tick::new(u32::MAX - 120);
        let mut clock = ClientClock::new(config, t0);
        let dt = Duration::from_secs_f64(config.dt_s);
        let (mut render, mut predict) = (None::<TickTime>, None::<TickTime>);
        for n in 0..600u32 {
            let now = t0 + dt * n;
            if n % 2 == 0 {
                clock.on_snapshot(now, start.add(n));
            }
            clock.advance(now);
            let (r, p) = (clock.render_tick(), clock.predict_tick());
            if n > 60 {
                // One tick a tick, give or take the steering: never a jump of 2^32.
                for (before, after) in [(render, r), (predict, p)] {
                    let step = after.since(before.unwrap());
                    assert!((0.8..1.2).contains(&step), "step {step} at n = {n}");
                }
                let newest = start.add(n - n % 2);
                let behind = -r.since_tick(newest);
                assert!(
                    (2.0..8.0).contains(&behind),
                    "render {behind} behind at {n}"
                );
                assert!(p.since_tick(newest) > 0.0, "prediction behind at {n}");
            }
            (render, predict) = (Some(r), Some(p));
        }
        assert!(
            clock.render_tick().tick().get() < 1000,
            "the run crossed the wrap"
        );
    }
}
