//! The one place the server reads the time and waits for it.
//!
//! Everything that schedules work takes a [`Clock`], so tests drive the tick loop with a
//! [`ManualClock`] instead of real time.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A source of `now` that can wait for a deadline.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
    /// Blocks the calling thread until `deadline` (returns at once if it has passed).
    fn sleep_until(&self, deadline: Instant);
}

/// Real time, with a hybrid sleep: the OS sleeps until `spin` before the deadline, then the
/// thread spins. OS sleeps overshoot by up to a millisecond; the spin makes tick starts
/// microsecond-accurate at the cost of up to `spin` of CPU per tick.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    spin: Duration,
}

impl SystemClock {
    /// A clock that spins for the last `spin` before each deadline.
    #[must_use]
    pub fn new(spin: Duration) -> Self {
        Self { spin }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) {
        loop {
            let now = Instant::now();
            let Some(left) = deadline
                .checked_duration_since(now)
                .filter(|d| !d.is_zero())
            else {
                return;
            };
            if left > self.spin {
                std::thread::sleep(left - self.spin);
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Simulated time for tests: `sleep_until` jumps straight to the deadline, and
/// [`advance`](Self::advance) stands in for work that takes time.
#[derive(Debug)]
pub struct ManualClock {
    now: Cell<Instant>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    #[must_use]
    pub fn new(start: Instant) -> Self {
        Self {
            now: Cell::new(start),
        }
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.now.get()
    }

    fn sleep_until(&self, deadline: Instant) {
        if deadline > self.now.get() {
            self.now.set(deadline);
        }
    }
}
