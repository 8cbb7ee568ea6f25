//! Simulation time: ticks are numbers, not times.
//!
//! Everything on the wire and in the simulation is stamped with a [`Tick`]. Wall-clock time
//! appears only where the shell schedules work, and [`TickRate`] is the one place that
//! converts between the two.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_range};

/// A simulation tick number.
///
/// A `u32` wraps after 388 days at 128 Hz; comparisons are wrap-aware anyway, so a server
/// that runs for longer keeps ordering ticks correctly as long as the two ticks compared are
/// within 2³¹ ticks of each other.
///
/// The number is private: order and distance go through the wrap-aware [`since`](Self::since)
/// and [`is_after`](Self::is_after), and moments between ticks are [`TickTime`]s, so no
/// comparison of raw numbers can break at the wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tick(u32);

impl Tick {
    /// The first tick of a simulation.
    pub const ZERO: Self = Self(0);

    /// Tick number `n`.
    #[must_use]
    pub const fn new(n: u32) -> Self {
        Self(n)
    }

    /// The tick's number, for the wire, hashing into slots, and display. Not for ordering:
    /// use [`since`](Self::since).
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The tick after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }

    /// This tick moved `ticks` later (wrapping).
    #[must_use]
    pub const fn add(self, ticks: u32) -> Self {
        Self(self.0.wrapping_add(ticks))
    }

    /// This tick moved `ticks` earlier (wrapping).
    #[must_use]
    pub const fn sub(self, ticks: u32) -> Self {
        Self(self.0.wrapping_sub(ticks))
    }

    /// Signed distance `self − earlier` in ticks, wrap-aware.
    ///
    /// Positive when `self` is after `earlier`.
    #[must_use]
    pub const fn since(self, earlier: Self) -> i32 {
        // Reinterpreting the wrapped difference as two's complement is the wrap-aware
        // comparison (as in RFC 1982 serial number arithmetic).
        self.0.wrapping_sub(earlier.0) as i32
    }

    /// Whether `self` comes strictly after `other`, wrap-aware.
    #[must_use]
    pub const fn is_after(self, other: Self) -> bool {
        self.since(other) > 0
    }
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A moment on the tick line: a tick and how far into it (`0 ≤ fraction < 1`), for the
/// clocks, interpolation and lag compensation, which live between ticks. Wrap-aware like
/// [`Tick`]: distances are taken with [`since`](Self::since), never from raw numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TickTime {
    tick: Tick,
    fraction: f64,
}

impl TickTime {
    /// The start of `tick`.
    #[must_use]
    pub const fn at(tick: Tick) -> Self {
        Self {
            tick,
            fraction: 0.0,
        }
    }

    /// `fraction` of a tick into `tick` (any finite value: whole ticks carry over).
    #[must_use]
    pub fn new(tick: Tick, fraction: f64) -> Self {
        Self::at(tick).add_ticks(fraction)
    }

    /// The whole tick this moment falls in.
    #[must_use]
    pub const fn tick(self) -> Tick {
        self.tick
    }

    /// How far into its tick, `0 ≤ fraction < 1`.
    #[must_use]
    pub const fn fraction(self) -> f64 {
        self.fraction
    }

    /// This moment moved `ticks` later (earlier when negative), wrapping. A non-finite
    /// `ticks` leaves it where it is.
    #[must_use]
    pub fn add_ticks(self, ticks: f64) -> Self {
        if !ticks.is_finite() {
            return self;
        }
        let total = self.fraction + ticks;
        let whole = total.floor();
        // Whole ticks as a wrapping u32 offset (two's complement for going back).
        let step = whole.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
        Self {
            tick: Tick(self.tick.0.wrapping_add(step as u32)),
            fraction: (total - whole).clamp(0.0, 1.0 - f64::EPSILON),
        }
    }

    /// Signed distance `self − earlier` in ticks, wrap-aware.
    #[must_use]
    pub fn since(self, earlier: Self) -> f64 {
        f64::from(self.tick.since(earlier.tick)) + (self.fraction - earlier.fraction)
    }

    /// Signed distance from the start of `tick` to this moment, in ticks.
    #[must_use]
    pub fn since_tick(self, tick: Tick) -> f64 {
        self.since(Self::at(tick))
    }
}

impl From<Tick> for TickTime {
    fn from(tick: Tick) -> Self {
        Self::at(tick)
    }
}

impl fmt::Display for TickTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}+{:.3}", self.tick.0, self.fraction)
    }
}

/// How many ticks a simulation runs per second, and the conversions that follow from it.
///
/// This is the only place ticks become durations and back. Rounding rule: a duration
/// converts to the *nearest* whole number of ticks (half rounds up), and the offset of tick
/// `n` from the start is computed in whole nanoseconds as `n · 10⁹ / hz`, truncated, so
/// absolute deadlines never accumulate rounding error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TickRate {
    hz: u32,
}

impl TickRate {
    /// The slowest tick rate accepted, in Hz.
    pub const MIN_HZ: u32 = 1;
    /// The fastest tick rate accepted, in Hz (a 1 ms tick).
    pub const MAX_HZ: u32 = 1000;

    /// A tick rate of `hz` ticks per second.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless `MIN_HZ ≤ hz ≤ MAX_HZ`.
    pub fn new(hz: u32) -> Result<Self, ConfigError> {
        check_range("tick_hz", hz, Self::MIN_HZ..=Self::MAX_HZ)?;
        Ok(Self { hz })
    }

    /// Ticks per second.
    #[must_use]
    pub const fn hz(self) -> u32 {
        self.hz
    }

    /// The length of one tick.
    #[must_use]
    pub const fn dt(self) -> Duration {
        self.offset_of(1)
    }

    /// The length of one tick in seconds, as the simulation uses it.
    #[must_use]
    pub fn dt_secs(self) -> f32 {
        1.0 / self.hz as f32
    }

    /// Time from the start of tick 0 to the start of tick `ticks`.
    #[must_use]
    pub const fn offset_of(self, ticks: u64) -> Duration {
        // u128 keeps `ticks · 10⁹` exact for any u64 tick count.
        let nanos = (ticks as u128 * 1_000_000_000) / self.hz as u128;
        Duration::from_nanos(nanos as u64)
    }

    /// The whole number of ticks nearest to `duration` (half a tick rounds up).
    #[must_use]
    pub fn ticks_in(self, duration: Duration) -> u32 {
        let ticks = (duration.as_nanos() * self.hz as u128 + 500_000_000) / 1_000_000_000;
        u32::try_from(ticks).unwrap_or(u32::MAX)
    }

    /// The whole number of ticks nearest to `secs` seconds; negative or NaN gives 0.
    #[must_use]
    pub fn ticks_in_secs(self, secs: f32) -> u32 {
        if secs.is_nan() || secs <= 0.0 {
            return 0;
        }
        self.ticks_in(Duration::from_secs_f64(f64::from(secs).min(1.0e9)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_between_ticks_wrap_like_ticks() {
        let last = TickTime::new(Tick(u32::MAX), 0.75);
        let after = last.add_ticks(0.5);
        assert_eq!((after.tick(), after.fraction()), (Tick(0), 0.25));
        assert!((after.since(last) - 0.5).abs() < 1e-12);
        assert!((last.since(after) + 0.5).abs() < 1e-12);
        let back = after.add_ticks(-3.25);
        assert_eq!((back.tick(), back.fraction()), (Tick(u32::MAX - 2), 0.0));
        assert!((after.since_tick(Tick(u32::MAX - 10)) - 11.25).abs() < 1e-12);
        assert_eq!(TickTime::new(Tick(5), 2.5), TickTime::new(Tick(7), 0.5));
        assert_eq!(last.add_ticks(f64::NAN), last);
        assert_eq!(TickTime::from(Tick(9)).fraction(), 0.0);
    }

    #[test]
    fn comparisons_wrap() {
        let near_end = Tick(u32::MAX - 1);
        let wrapped = near_end.add(5);
        assert_eq!(wrapped, Tick(3));
        assert!(wrapped.is_after(near_end));
        assert!(!near_end.is_after(wrapped));
        assert_eq!(wrapped.since(near_end), 5);
        assert_eq!(near_end.since(wrapped), -5);
        assert_eq!(wrapped.sub(5), near_end);
        assert!(!Tick(7).is_after(Tick(7)));
    }

    #[test]
    fn offsets_are_exact_and_do_not_drift() {
        let rate = TickRate::new(60).unwrap();
        assert_eq!(rate.offset_of(60), Duration::from_secs(1));
        // One hour of ticks lands exactly on the hour, however 1/60 s rounds per tick.
        assert_eq!(rate.offset_of(60 * 3600), Duration::from_secs(3600));
        assert_eq!(rate.dt(), Duration::from_nanos(16_666_666));
        let rate = TickRate::new(128).unwrap();
        assert_eq!(rate.offset_of(128), Duration::from_secs(1));
        assert_eq!(
            rate.dt(),
            Duration::from_micros(7812) + Duration::from_nanos(500)
        );
    }

    #[test]
    fn durations_round_to_the_nearest_tick() {
        let rate = TickRate::new(60).unwrap();
        assert_eq!(rate.ticks_in(Duration::from_millis(250)), 15);
        assert_eq!(rate.ticks_in(Duration::from_millis(100)), 6);
        assert_eq!(rate.ticks_in(Duration::from_millis(8)), 0);
        assert_eq!(rate.ticks_in(Duration::from_micros(8334)), 1);
        assert_eq!(rate.ticks_in_secs(1.5), 90);
        assert_eq!(rate.ticks_in_secs(-1.0), 0);
        assert_eq!(rate.ticks_in_secs(f32::NAN), 0);
    }

    #[test]
    fn rate_range_is_enforced() {
        assert!(TickRate::new(0).is_err());
        assert!(TickRate::new(10_000).is_err());
        let err = TickRate::new(0).unwrap_err().to_string();
        assert!(err.contains("tick_hz"), "{err}");
        assert!(err.contains("1..=1000"), "{err}");
    }
}
