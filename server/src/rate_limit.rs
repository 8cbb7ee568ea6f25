//! A per-client token bucket for incoming datagrams, and the limits a client must keep.

use std::time::Instant;

/// Largest input datagram accepted (bytes); 16 inputs of the arena take under 200.
pub const MAX_INPUT_DATAGRAM_BYTES: usize = 512;
/// Sustained datagram rate a client may send (per second); a client sends one per tick.
pub const MAX_DATAGRAMS_PER_S: f64 = 300.0;
/// Datagrams a client may send in a burst above that rate.
pub const MAX_DATAGRAM_BURST: f64 = 60.0;
/// Datagrams dropped (too large or too fast) after which a client is disconnected.
pub const MAX_DROPPED_DATAGRAMS: u64 = 600;

/// A token bucket: `rate` per second, up to `burst` saved; counts what it refused.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
    /// Datagrams refused so far (too fast or too large).
    pub dropped: u64,
}

impl RateLimit {
    /// A full bucket: `rate` tokens per second, at most `burst`.
    #[must_use]
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: None,
            dropped: 0,
        }
    }

    /// The limits for a game client's input datagrams.
    #[must_use]
    pub fn for_inputs() -> Self {
        Self::new(MAX_DATAGRAMS_PER_S, MAX_DATAGRAM_BURST)
    }

    /// Whether a datagram of `len` bytes arriving at `now` may pass; refusals are counted.
    pub fn allow(&mut self, now: Instant, len: usize) -> bool {
        if let Some(last) = self.last {
            self.tokens = (self.tokens
                + now.saturating_duration_since(last).as_secs_f64() * self.rate)
                .min(self.burst);
        }
        self.last = Some(now);
        if len <= MAX_INPUT_DATAGRAM_BYTES && self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Whether the client has had so many datagrams refused that it should be dropped.
    #[must_use]
    pub fn flooding(&self) -> bool {
        self.dropped > MAX_DROPPED_DATAGRAMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(100.0, 10.0);
        let passed = (0..50).filter(|_| limit.allow(t0, 100)).count();
        assert_eq!(passed, 10, "the burst");
        assert!(
            limit.allow(t0 + Duration::from_millis(10), 100),
            "one token per 10 ms"
        );
        assert!(!limit.allow(t0 + Duration::from_millis(10), 100));
        assert!(!limit.allow(t0 + Duration::from_secs(1), MAX_INPUT_DATAGRAM_BYTES + 1));
        assert_eq!(limit.dropped, 42);
        assert!(!limit.flooding());
    }
}
