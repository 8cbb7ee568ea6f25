//! Helpers for tests that drive the sans-IO core on simulated time.

use web_time::Instant;

/// A fixed starting instant for simulated time. Tests add durations to it; nothing waits.
#[must_use]
#[allow(clippy::disallowed_methods)] // the one real clock read: an arbitrary origin for simulated time
pub fn epoch() -> Instant {
    Instant::now()
}
