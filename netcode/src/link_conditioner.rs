//! A seeded, sans-IO network impairment: latency, jitter, loss (with bursts), reordering,
//! duplication and a bandwidth cap, for one direction of a link.
//!
//! Feed it datagrams with [`send`](LinkConditioner::send) and take them out with
//! [`poll`](LinkConditioner::poll) once their delivery time has come. The same seed and the
//! same calls give the same deliveries, so a test over a bad network reproduces exactly.
//! Reordering comes from jitter: a datagram delayed more than the gap to the next one
//! arrives after it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use web_time::Instant;

use crate::rng::SplitMix64;

/// Bursty loss (a Gilbert–Elliott channel): the link moves between a good state and a bad
/// one, losing far more while bad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstLoss {
    /// Chance per datagram of going from good to bad.
    pub enter: f64,
    /// Chance per datagram of going from bad back to good.
    pub exit: f64,
    /// Loss rate while bad.
    pub loss: f64,
}

/// How one direction of a link misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Base one-way delay.
    pub latency: Duration,
    /// Each datagram's delay varies uniformly within ±`jitter`/2 of `latency`.
    pub jitter: Duration,
    /// Chance that a datagram is lost (in the good state).
    pub loss: f64,
    /// Bursts of loss, if any.
    pub burst: Option<BurstLoss>,
    /// Chance that a datagram is delivered twice.
    pub duplicate: f64,
    /// Link rate (bytes per second); datagrams queue behind each other. `None` = unlimited.
    pub bandwidth_bytes_per_s: Option<u64>,
    /// Datagrams that would wait longer than this in the bandwidth queue are dropped.
    pub max_queue_delay: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self::clean()
    }
}

impl LinkConfig {
    /// A perfect link: no delay, no loss.
    #[must_use]
    pub fn clean() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            burst: None,
            duplicate: 0.0,
            bandwidth_bytes_per_s: None,
            max_queue_delay: Duration::from_secs(1),
        }
    }

    /// A link that delivers nothing: a network partition, a cable pulled.
    #[must_use]
    pub fn partitioned() -> Self {
        Self {
            loss: 1.0,
            ..Self::clean()
        }
    }

    /// One direction of a link with round-trip time `rtt`, round-trip jitter `jitter` and
    /// `loss` in each direction.
    #[must_use]
    pub fn symmetric(rtt: Duration, jitter: Duration, loss: f64) -> Self {
        Self {
            latency: rtt / 2,
            jitter: jitter / 2,
            loss,
            ..Self::clean()
        }
    }

    /// A named profile: `clean` (0/0/0), `average` (100 ms RTT, 25 ms jitter, 2 % loss),
    /// `poor` (200 ms, 50 ms, 4 %), `lossy` (50 ms, 10 ms, 10 %) — one direction of each.
    #[must_use]
    pub fn profile(name: &str) -> Option<Self> {
        let ms = Duration::from_millis;
        match name {
            "clean" => Some(Self::clean()),
            "average" => Some(Self::symmetric(ms(100), ms(25), 0.02)),
            "poor" => Some(Self::symmetric(ms(200), ms(50), 0.04)),
            "lossy" => Some(Self::symmetric(ms(50), ms(10), 0.10)),
            _ => None,
        }
    }

    /// The names [`profile`](Self::profile) knows.
    pub const PROFILES: [&'static str; 4] = ["clean", "average", "poor", "lossy"];
}

/// What a conditioner did, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams handed to `send`.
    pub sent: u64,
    /// Datagrams lost.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Datagrams dropped because the bandwidth queue was too long.
    pub overflowed: u64,
    /// Datagrams handed out by `poll`.
    pub delivered: u64,
}

/// One direction of an impaired link. See the [module docs](self).
#[derive(Debug)]
pub struct LinkConditioner {
    config: LinkConfig,
    rng: SplitMix64,
    bad: bool,
    link_free_at: Option<Instant>,
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    seq: u64,
    stats: LinkStats,
}

impl LinkConditioner {
    /// A conditioner with `config`, its randomness seeded by `seed`.
    #[must_use]
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            rng: SplitMix64::new(seed),
            bad: false,
            link_free_at: None,
            queue: BinaryHeap::new(),
            seq: 0,
            stats: LinkStats::default(),
        }
    }

    /// The impairment in force.
    #[must_use]
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Changes the impairment from now on (datagrams in flight keep their times).
    pub fn set_config(&mut self, config: LinkConfig) {
        self.config = config;
    }

    /// What happened so far.
    #[must_use]
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Puts a datagram on the link at `now`.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.sent += 1;
        let c = self.config;
        if let Some(burst) = c.burst {
            self.bad = if self.bad {
                !self.rng.chance(burst.exit)
            } else {
                self.rng.chance(burst.enter)
            };
        }
        let loss = match (self.bad, c.burst) {
            (true, Some(burst)) => burst.loss,
            _ => c.loss,
        };
        if self.rng.chance(loss) {
            self.stats.lost += 1;
            return;
        }
        let mut depart = now;
        if let Some(rate) = c.bandwidth_bytes_per_s.filter(|r| *r > 0) {
            let free = self.link_free_at.unwrap_or(now).max(now);
            if free.saturating_duration_since(now) > c.max_queue_delay {
                self.stats.overflowed += 1;
                return;
            }
            depart = free + Duration::from_secs_f64(datagram.len() as f64 / rate as f64);
            self.link_free_at = Some(depart);
        }
        let copies = if self.rng.chance(c.duplicate) { 2 } else { 1 };
        self.stats.duplicated += copies - 1;
        for _ in 0..copies {
            let half = c.jitter.as_secs_f64() / 2.0;
            let delay = (c.latency.as_secs_f64() + self.rng.range(-half, half)).max(0.0);
            let at = depart + Duration::from_secs_f64(delay);
            self.seq += 1;
            self.queue.push(Reverse((at, self.seq, datagram.to_vec())));
        }
    }

    /// The next datagram due at or before `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.queue.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                self.stats.delivered += 1;
                self.queue.pop().map(|Reverse((_, _, d))| d)
            }
            _ => None,
        }
    }

    /// When the next datagram is due, if one is in flight.
    #[must_use]
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Datagrams in flight.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::epoch;

    fn run(config: LinkConfig, seed: u64, n: u32) -> (Vec<(Duration, u32)>, LinkStats) {
        let t0 = epoch();
        let mut link = LinkConditioner::new(config, seed);
        let mut out = Vec::new();
        for i in 0..n {
            let now = t0 + Duration::from_millis(u64::from(i) * 10);
            link.send(now, &i.to_le_bytes());
            while let Some(d) = link.poll(now) {
                out.push((now - t0, u32::from_le_bytes(d.try_into().unwrap())));
            }
        }
        let end = t0 + Duration::from_secs(3600);
        while let Some(d) = link.poll(end) {
            out.push((end - t0, u32::from_le_bytes(d.try_into().unwrap())));
        }
        (out, link.stats())
    }

    #[test]
    fn same_seed_same_deliveries() {
        let config = LinkConfig::profile("poor").unwrap();
        assert_eq!(run(config, 9, 2000), run(config, 9, 2000));
        assert_ne!(run(config, 9, 2000).0, run(config, 10, 2000).0);
    }

    #[test]
    fn loss_duplication_and_reordering_happen_at_their_rates() {
        let config = LinkConfig {
            duplicate: 0.05,
            ..LinkConfig::symmetric(Duration::from_millis(100), Duration::from_millis(60), 0.1)
        };
        let (out, stats) = run(config, 3, 20_000);
        let lost = stats.lost as f64 / 20_000.0;
        assert!((0.09..0.11).contains(&lost), "{lost}");
        assert!(
            (800..1200).contains(&stats.duplicated),
            "{}",
            stats.duplicated
        );
        assert_eq!(out.len() as u64, stats.sent - stats.lost + stats.duplicated);
        let reordered = out.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert!(reordered > 100, "{reordered}");
    }

    #[test]
    fn delays_stay_within_latency_and_jitter() {
        let t0 = epoch();
        let config =
            LinkConfig::symmetric(Duration::from_millis(100), Duration::from_millis(20), 0.0);
        let mut link = LinkConditioner::new(config, 1);
        link.send(t0, b"x");
        let at = link.next_delivery().unwrap() - t0;
        assert!(
            at >= Duration::from_millis(45) && at <= Duration::from_millis(55),
            "{at:?}"
        );
        assert!(link.poll(t0 + Duration::from_millis(44)).is_none());
        assert!(link.poll(t0 + Duration::from_millis(56)).is_some());
    }

    #[test]
    fn bursts_cluster_losses() {
        let burst = BurstLoss {
            enter: 0.01,
            exit: 0.2,
            loss: 0.8,
        };
        let (out, stats) = run(
            LinkConfig {
                burst: Some(burst),
                ..LinkConfig::clean()
            },
            5,
            20_000,
        );
        let got: Vec<u32> = out.iter().map(|(_, i)| *i).collect();
        let gaps = got.windows(2).filter(|w| w[1] - w[0] > 3).count();
        assert!(
            stats.lost > 200 && gaps > 20,
            "lost {} gaps {gaps}",
            stats.lost
        );
    }

    #[test]
    fn a_bandwidth_cap_queues_and_then_drops() {
        let t0 = epoch();
        let config = LinkConfig {
            bandwidth_bytes_per_s: Some(1000),
            max_queue_delay: Duration::from_millis(500),
            ..LinkConfig::clean()
        };
        let mut link = LinkConditioner::new(config, 1);
        for _ in 0..10 {
            link.send(t0, &[0u8; 100]); // 0.1 s each at 1000 B/s
        }
        assert_eq!(link.stats().overflowed, 4);
        assert_eq!(
            link.next_delivery().map(|t| t - t0),
            Some(Duration::from_millis(100))
        );
    }
}
