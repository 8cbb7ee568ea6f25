//! Health from the tick loops: each room's tick thread beats after every tick, and a beat
//! asks for a health ping only while every room has ticked within the health period. A
//! wedged room (or all of them) stops the pings, which is how Agones learns to replace the
//! server. A beat is a few relaxed atomics: no lock, no allocation, never a wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The rooms' last ticks and the ping they ask for.
#[derive(Debug)]
pub struct Heartbeat {
    start: Instant,
    /// Each room's last tick: milliseconds since `start`, plus one (0: not yet ticked).
    rooms: Box<[AtomicU64]>,
    /// When the last ping was asked for (milliseconds since `start`).
    last_ping: AtomicU64,
    /// The health period (milliseconds).
    period_ms: AtomicU64,
    pings: Notify,
}

impl Heartbeat {
    /// A heartbeat for `rooms` rooms with Agones's health `period`.
    #[must_use]
    pub fn new(rooms: usize, period: Duration) -> Self {
        let heartbeat = Self {
            start: Instant::now(),
            rooms: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            last_ping: AtomicU64::new(0),
            period_ms: AtomicU64::new(0),
            pings: Notify::new(),
        };
        heartbeat.set_period(period);
        heartbeat
    }

    /// Changes the health period (read from the GameServer once the sidecar answers).
    pub fn set_period(&self, period: Duration) {
        let ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(2);
        self.period_ms.store(ms, Ordering::Relaxed);
    }

    /// The health period.
    #[must_use]
    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms.load(Ordering::Relaxed))
    }

    /// Room `room` ticked at `now` (its tick thread calls this after every tick). Asks for a
    /// ping when half a period has passed since the last one and every room has ticked
    /// within the period.
    pub fn beat(&self, room: usize, now: Instant) {
        let ms = u64::try_from(now.saturating_duration_since(self.start).as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if let Some(slot) = self.rooms.get(room) {
            slot.store(ms, Ordering::Relaxed);
        }
        let period = self.period_ms.load(Ordering::Relaxed);
        let last = self.last_ping.load(Ordering::Relaxed);
        if ms < last.saturating_add(period / 2) {
            return;
        }
        let all_ticking = self.rooms.iter().all(|slot| {
            let at = slot.load(Ordering::Relaxed);
            at != 0 && ms.saturating_sub(at) <= period
        });
        if all_ticking
            && self
                .last_ping
                .compare_exchange(last, ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.pings.notify_one();
        }
    }

    /// Waits until a beat asks for a ping.
    pub async fn ping_wanted(&self) {
        self.pings.notified().await;
    }

    /// The rooms (by index) that have not ticked within the period as of `now`.
    #[must_use]
    pub fn stalled(&self, now: Instant) -> Vec<usize> {
        let ms = u64::try_from(now.saturating_duration_since(self.start).as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let period = self.period_ms.load(Ordering::Relaxed);
        self.rooms
            .iter()
            .enumerate()
            .filter(|(_, slot)| ms.saturating_sub(slot.load(Ordering::Relaxed)) > period)
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Beats from `rooms` at every 16 ms step in `from..to` (ms), counting pings asked for.
    fn run(heartbeat: &Heartbeat, rooms: &[usize], from: u64, to: u64) -> Vec<u64> {
        let mut pings = Vec::new();
        let mut t = from;
        while t < to {
            let before = heartbeat.last_ping.load(Ordering::Relaxed);
            for &room in rooms {
                heartbeat.beat(room, heartbeat.start + Duration::from_millis(t));
            }
            if heartbeat.last_ping.load(Ordering::Relaxed) != before {
                pings.push(t);
            }
            t += 16;
        }
        pings
    }

    #[test]
    fn pings_twice_a_period_while_every_room_ticks() {
        let heartbeat = Heartbeat::new(3, Duration::from_secs(1));
        let pings = run(&heartbeat, &[0, 1, 2], 0, 5000);
        assert!((9..=11).contains(&pings.len()), "{pings:?}");
        for pair in pings.windows(2) {
            let [a, b] = pair else { continue };
            assert!((500..=520).contains(&(b - a)), "{pings:?}");
        }
    }

    #[test]
    fn a_room_that_stops_ticking_stops_the_pings_within_a_period_and_they_resume() {
        let heartbeat = Heartbeat::new(2, Duration::from_secs(1));
        assert!(!run(&heartbeat, &[0, 1], 0, 3000).is_empty());
        // Room 1 wedges at 3000 ms; room 0 keeps ticking.
        let during = run(&heartbeat, &[0], 3000, 8000);
        let last = during.last().copied().unwrap_or(0);
        assert!(
            last <= 4000,
            "pinged at {during:?} though room 1 stopped at 3000"
        );
        assert_eq!(
            heartbeat.stalled(heartbeat.start + Duration::from_millis(8000)),
            vec![1]
        );
        let after = run(&heartbeat, &[0, 1], 8000, 10_000);
        assert!(after.first().is_some_and(|&t| t < 8100), "{after:?}");
    }

    #[test]
    fn a_room_that_never_ticked_holds_the_pings() {
        let heartbeat = Heartbeat::new(2, Duration::from_secs(1));
        assert!(run(&heartbeat, &[0], 0, 3000).is_empty());
    }
}
