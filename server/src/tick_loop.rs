//! When each tick starts: absolute deadlines, bounded catch-up, counted skips.
//!
//! Tick `n` is due at `t0 + n·dt` (plus any time given up to skips), computed from the
//! start rather than from the previous tick, so timing error never accumulates. After a
//! stall the loop runs late ticks back to back, at most `max_catch_up` behind; beyond that
//! it skips the oldest and counts them, so a long stall never turns into a spiral of ticks
//! that each make the next one later.

use std::time::{Duration, Instant};

use tickwire_netcode::{Tick, TickRate};

use crate::clock::Clock;

/// The schedule of one room's ticks.
#[derive(Debug, Clone)]
pub struct TickSchedule {
    t0: Instant,
    rate: TickRate,
    next: Tick,
    /// Ticks run so far plus ticks skipped: the deadline index of `next`.
    slots: u64,
    max_catch_up: u32,
    skipped_total: u64,
}

/// One tick's start, as [`TickSchedule::wait`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickStart {
    /// The tick to simulate now.
    pub tick: Tick,
    /// How long after its deadline this tick started.
    pub lateness: Duration,
    /// Ticks given up just before this one because the loop fell too far behind.
    pub skipped: u64,
}

impl TickSchedule {
    /// A schedule whose first tick, `first`, is due at `t0`.
    #[must_use]
    pub fn new(t0: Instant, rate: TickRate, first: Tick, max_catch_up: u32) -> Self {
        Self {
            t0,
            rate,
            next: first,
            slots: 0,
            max_catch_up,
            skipped_total: 0,
        }
    }

    /// Total ticks skipped since the start.
    #[must_use]
    pub fn skipped_total(&self) -> u64 {
        self.skipped_total
    }

    /// When the next tick is due.
    #[must_use]
    pub fn next_deadline(&self) -> Instant {
        self.t0 + self.rate.offset_of(self.slots)
    }

    /// Waits until the next tick is due and returns it.
    ///
    /// If the loop is more than `max_catch_up` ticks behind, the excess is skipped: the
    /// schedule shifts later (the game slows for a moment) and tick numbers stay contiguous.
    pub fn wait(&mut self, clock: &impl Clock) -> TickStart {
        let mut deadline = self.next_deadline();
        let mut now = clock.now();
        if now < deadline {
            clock.sleep_until(deadline);
            now = clock.now();
        }
        let late = now.saturating_duration_since(deadline);
        let behind = (late.as_nanos() / self.rate.dt().as_nanos().max(1)) as u64;
        let skipped = behind.saturating_sub(u64::from(self.max_catch_up));
        if skipped > 0 {
            self.slots += skipped;
            self.skipped_total += skipped;
            deadline = self.next_deadline();
        }
        let start = TickStart {
            tick: self.next,
            lateness: now.saturating_duration_since(deadline),
            skipped,
        };
        self.next = self.next.next();
        self.slots += 1;
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn schedule(clock: &ManualClock, max_catch_up: u32) -> TickSchedule {
        TickSchedule::new(
            clock.now(),
            TickRate::new(60).unwrap(),
            Tick::ZERO,
            max_catch_up,
        )
    }

    #[test]
    fn ticks_start_on_absolute_deadlines() {
        let clock = ManualClock::new(Instant::now());
        let t0 = clock.now();
        let mut ticks = schedule(&clock, 4);
        for n in 0..600u32 {
            let start = ticks.wait(&clock);
            assert_eq!(start.tick, Tick::new(n));
            assert_eq!(start.lateness, Duration::ZERO);
            assert_eq!(
                clock.now() - t0,
                TickRate::new(60).unwrap().offset_of(u64::from(n))
            );
            clock.advance(Duration::from_micros(300)); // work
        }
        // Ten seconds of ticks end exactly ten seconds in: no drift.
        assert_eq!(ticks.next_deadline() - t0, Duration::from_secs(10));
    }

    #[test]
    fn a_short_stall_is_caught_up_back_to_back() {
        let clock = ManualClock::new(Instant::now());
        let mut ticks = schedule(&clock, 4);
        ticks.wait(&clock);
        clock.advance(Duration::from_millis(50)); // three ticks' worth of work
        let t1 = ticks.wait(&clock);
        assert_eq!(t1.skipped, 0);
        assert!(t1.lateness > Duration::from_millis(33));
        // Remaining late ticks start immediately, then the schedule is back on time.
        let mut starts = vec![t1];
        while starts.last().is_some_and(|s| !s.lateness.is_zero()) {
            starts.push(ticks.wait(&clock));
        }
        assert_eq!(starts.len(), 3);
        assert!(starts.iter().all(|s| s.skipped == 0));
        assert_eq!(ticks.skipped_total(), 0);
    }

    #[test]
    fn a_long_stall_skips_and_counts_instead_of_spiralling() {
        let clock = ManualClock::new(Instant::now());
        let mut ticks = schedule(&clock, 4);
        ticks.wait(&clock);
        clock.advance(Duration::from_secs(1)); // a 60-tick stall
        let start = ticks.wait(&clock);
        assert_eq!(start.tick, Tick::new(1), "tick numbers stay contiguous");
        assert_eq!(start.skipped, 55);
        assert!(
            start.lateness < Duration::from_millis(84),
            "{:?}",
            start.lateness
        );
        let mut caught_up = 0;
        while !ticks.wait(&clock).lateness.is_zero() {
            caught_up += 1;
        }
        assert!(caught_up <= 4, "{caught_up}");
        assert_eq!(ticks.skipped_total(), 55);
    }
}
