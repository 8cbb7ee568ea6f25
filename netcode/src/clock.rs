//! Client clock sync: which tick to predict, and which moment to render.
//!
//! Two clocks run on the client, both as fractional ticks advanced by real time:
//!
//! - the **prediction clock** runs *ahead* of the server so each input arrives just before
//!   the server needs it. The server reports, in every snapshot, how far ahead the newest
//!   input it holds is (its *lead*) and how many inputs were late or missing; the clock
//!   steers its lead to a target of a small margin plus the spread it sees in the lead, and
//!   raises the margin when inputs arrive late or go missing.
//! - the **render clock** runs *behind* the newest snapshot by the interpolation delay: two
//!   snapshot intervals plus the arrival jitter actually seen.
//!
//! Both steer by stretching or shrinking their tick by at most ±10 %, never by jumping, unless
//! the error is large (connect, a long stall), when they jump.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::tick::Tick;

/// Largest change of a clock's rate when steering (fraction of nominal).
pub const MAX_RATE_ADJUST: f64 = 0.10;

/// Fixed numbers of a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockConfig {
    /// Length of one tick (seconds).
    pub dt_s: f64,
    /// Ticks between snapshots.
    pub snapshot_interval_ticks: u32,
    /// Interpolation delay to start with, before any jitter is measured (ticks).
    pub initial_delay_ticks: f64,
    /// Smallest input lead to aim for (ticks): the safety margin.
    pub min_lead_ticks: f64,
    /// An error beyond this many ticks is fixed by a jump rather than by steering.
    pub jump_ticks: f64,
}

/// One lead report from the server, already corrected for steering done since.
#[derive(Debug, Clone, Copy)]
struct LeadSample {
    at: Instant,
    lead: f64,
}

/// The client's two clocks. Feed it snapshot arrivals and server feedback; ask it each frame
/// which tick to predict up to and which to render.
#[derive(Debug)]
pub struct ClientClock {
    config: ClockConfig,
    /// Local time origin: offsets are measured in ticks since it.
    origin: Instant,
    last: Option<Instant>,
    predict: f64,
    predict_rate: f64,
    /// Total ticks the prediction clock gained or lost to steering and jumps.
    predict_adjust: f64,
    /// `predict_adjust` when each recent input tick was sent.
    sent: VecDeque<(Tick, f64)>,
    leads: VecDeque<LeadSample>,
    late_margin: f64,
    last_problems: Option<u32>,
    render: f64,
    render_rate: f64,
    /// Arrival offsets `snapshot tick − local ticks` (newest last) over the jitter window.
    arrivals: VecDeque<(Instant, f64)>,
    delay: f64,
    started: bool,
}

/// How long arrival and lead samples are remembered.
const WINDOW: Duration = Duration::from_secs(2);

impl ClientClock {
    /// A clock that has heard nothing yet; `now` is its time origin.
    #[must_use]
    pub fn new(config: ClockConfig, now: Instant) -> Self {
        Self {
            config,
            origin: now,
            last: Some(now),
            predict: 0.0,
            predict_rate: 1.0,
            predict_adjust: 0.0,
            sent: VecDeque::new(),
            leads: VecDeque::new(),
            late_margin: 0.0,
            last_problems: None,
            render: 0.0,
            render_rate: 1.0,
            arrivals: VecDeque::new(),
            delay: config.initial_delay_ticks,
            started: false,
        }
    }

    /// Whether a first snapshot has set the clocks.
    #[must_use]
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The prediction clock (fractional ticks).
    #[must_use]
    pub fn predict_tick(&self) -> f64 {
        self.predict
    }

    /// The render clock (fractional ticks).
    #[must_use]
    pub fn render_tick(&self) -> f64 {
        self.render
    }

    /// The interpolation delay now (ticks).
    #[must_use]
    pub fn delay_ticks(&self) -> f64 {
        self.delay
    }

    /// The lead the prediction clock aims for (ticks).
    #[must_use]
    pub fn target_lead(&self) -> f64 {
        let spread = self.lead_spread();
        self.config.min_lead_ticks + spread + self.late_margin
    }

    /// The newest estimate of the input lead (ticks), corrected for steering since.
    #[must_use]
    pub fn lead(&self) -> Option<f64> {
        self.leads.back().map(|s| s.lead)
    }

    fn lead_spread(&self) -> f64 {
        let (lo, hi) = self.leads.iter().fold((f64::MAX, f64::MIN), |(lo, hi), s| {
            (lo.min(s.lead), hi.max(s.lead))
        });
        if self.leads.len() < 2 {
            0.0
        } else {
            ((hi - lo) / 2.0).min(8.0)
        }
    }

    /// A snapshot for `tick` arrived at `now` (call for its first part to arrive).
    pub fn on_snapshot(&mut self, now: Instant, tick: Tick) {
        self.advance(now);
        let local = self.local_ticks(now);
        let offset = f64::from(tick.0) - local;
        self.arrivals.push_back((now, offset));
        while self
            .arrivals
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
        {
            self.arrivals.pop_front();
        }
        let newest = self.arrival_estimate(now);
        if !self.started {
            self.started = true;
            self.render = newest - self.delay;
            // Until the server reports a lead, assume a short trip.
            self.predict = f64::from(tick.0) + self.config.min_lead_ticks + 4.0;
        }
        // Jitter: how far arrivals fall behind the earliest; the delay covers a lost
        // snapshot (two intervals) plus that spread.
        let best = self
            .arrivals
            .iter()
            .map(|(_, o)| *o)
            .fold(f64::MIN, f64::max);
        let mut spread: Vec<f64> = self.arrivals.iter().map(|(_, o)| best - o).collect();
        spread.sort_unstable_by(f64::total_cmp);
        let p99 = spread
            .get(spread.len().saturating_sub(1) * 99 / 100)
            .copied()
            .unwrap_or(0.0);
        let interval = f64::from(self.config.snapshot_interval_ticks);
        let target = 2.0 * interval + p99 + 0.5;
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
            if problems > before {
                // Inputs are not making it in time: ask for more margin.
                self.late_margin = (self.late_margin + 0.5).min(6.0);
            }
        }
        self.last_problems = Some(problems);
        let Some(input) = newest_input else { return };
        // Steering done since that input left is not in the report yet.
        let then = self
            .sent
            .iter()
            .find(|(t, _)| *t == input)
            .map_or(self.predict_adjust, |(_, a)| *a);
        let lead = f64::from(input.since(tick)) + (self.predict_adjust - then);
        self.leads.push_back(LeadSample { at: now, lead });
        while self
            .leads
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > WINDOW)
        {
            self.leads.pop_front();
        }
        let error = self.target_lead() - lead;
        if error.abs() > self.config.jump_ticks {
            self.shift_predict(error);
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
        if !self.started {
            return;
        }
        let elapsed = now.saturating_duration_since(last).as_secs_f64() / self.config.dt_s;
        self.late_margin = (self.late_margin - elapsed * 0.25 / 60.0).max(0.0); // decays over minutes
        // Prediction: steer the lead toward its target.
        if let Some(lead) = self.lead() {
            let error = self.target_lead() - lead;
            self.predict_rate = 1.0 + (error * 0.1).clamp(-MAX_RATE_ADJUST, MAX_RATE_ADJUST);
        }
        let gained = elapsed * (self.predict_rate - 1.0);
        self.predict += elapsed * self.predict_rate;
        self.predict_adjust += gained;
        if let Some(last) = self.leads.back_mut() {
            last.lead += gained;
        }
        // Render: steer toward the newest expected snapshot less the delay.
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
            self.render_rate = 1.0 + (error * 0.1).clamp(-MAX_RATE_ADJUST, MAX_RATE_ADJUST);
            self.render += elapsed * self.render_rate;
        }
    }

    fn shift_predict(&mut self, by: f64) {
        self.predict += by;
        self.predict_adjust += by;
        if let Some(last) = self.leads.back_mut() {
            last.lead += by;
        }
    }

    /// Local time as ticks since the origin.
    fn local_ticks(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.origin).as_secs_f64() / self.config.dt_s
    }

    /// The tick the newest snapshot should carry if it arrived at `now` with the least delay
    /// seen recently.
    fn arrival_estimate(&self, now: Instant) -> f64 {
        let best = self
            .arrivals
            .iter()
            .map(|(_, o)| *o)
            .fold(f64::MIN, f64::max);
        if best == f64::MIN {
            self.render + self.delay
        } else {
            best + self.local_ticks(now)
        }
    }
}
