//! The server's per-client input buffer: inputs wait for their tick; late ones are dropped
//! and counted; a tick with no input repeats the last one and is counted.
//!
//! An input is late when its tick has already run without it: every such input counts
//! once, however late (a datagram from 1000 ticks ago, or one for a tick before the client
//! joined). Redundant copies of inputs a tick ran with are not late.

use crate::protocol::{InputDatagram, InputFrame};
use crate::tick::Tick;

/// How far ahead of the next tick to run an input may be and still be kept (ticks).
pub const MAX_LEAD_TICKS: u32 = 64;
const SLOTS: usize = MAX_LEAD_TICKS as usize * 2;

/// Counts an input buffer keeps (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Inputs stored in time.
    pub received: u64,
    /// Inputs that arrived after their tick had run without them.
    pub late: u32,
    /// Ticks run with no input, repeating the last.
    pub missing: u32,
    /// Inputs for ticks too far ahead to be plausible, dropped.
    pub too_early: u64,
}

/// Where a tick's input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputSource {
    /// The client's input for this tick.
    Received,
    /// None arrived: the last input repeated.
    Repeated,
    /// None has ever arrived: the default input, not counted as missing.
    Default,
}

/// Inputs of one client, keyed by tick. See the [module docs](self).
#[derive(Debug)]
pub struct InputBuffer<I> {
    slots: Vec<Option<(Tick, InputFrame<I>)>>,
    /// Ticks consumed without an input, so a later arrival counts as late (bit per slot).
    missed: Vec<bool>,
    /// The first tick this buffer runs (the client joined then).
    first: Tick,
    /// The next tick to run.
    next: Tick,
    last: Option<InputFrame<I>>,
    newest_received: Option<Tick>,
    stats: InputStats,
}

impl<I: Clone> InputBuffer<I> {
    /// An empty buffer for a client whose first tick to run is `first` (the room's tick
    /// when it joined).
    #[must_use]
    pub fn new(first: Tick) -> Self {
        Self {
            slots: vec![None; SLOTS],
            missed: vec![false; SLOTS],
            first,
            next: first,
            last: None,
            newest_received: None,
            stats: InputStats::default(),
        }
    }

    /// The counts so far.
    #[must_use]
    pub fn stats(&self) -> InputStats {
        self.stats
    }

    /// The newest input tick received, whether in time or late.
    #[must_use]
    pub fn newest_received(&self) -> Option<Tick> {
        self.newest_received
    }

    /// Stores the inputs of one datagram (redundant copies of stored inputs are ignored).
    pub fn receive(&mut self, datagram: &InputDatagram<I>) {
        for (tick, frame) in datagram.ticks() {
            self.store(tick, frame);
        }
    }

    fn store(&mut self, tick: Tick, frame: &InputFrame<I>) {
        let slot = tick.get() as usize % SLOTS;
        let next = self.next;
        // The newest tick heard of, in time or not: the client's clock steers by it, so a
        // client whose inputs all arrive late still learns how late.
        let plausible = tick.since(next) < MAX_LEAD_TICKS as i32;
        if plausible && self.newest_received.is_none_or(|n| tick.is_after(n)) {
            self.newest_received = Some(tick);
        }
        if !tick.is_after(next.sub(1)) {
            // Its tick already ran: late unless it ran with this input (a redundant copy).
            // Before the client's first tick, or beyond the ticks remembered, it did not.
            let ran_without = self.first.is_after(tick)
                || next.since(tick) > SLOTS as i32
                || self.missed.get(slot).copied().unwrap_or(false);
            if ran_without {
                self.stats.late += 1;
                if let Some(m) = self.missed.get_mut(slot) {
                    // Counted once (its redundant copies follow).
                    *m = false;
                }
            }
            return;
        }
        if tick.since(next) >= MAX_LEAD_TICKS as i32 {
            self.stats.too_early += 1;
            return;
        }
        if let Some(s) = self.slots.get_mut(slot) {
            if s.as_ref().is_some_and(|(t, _)| *t == tick) {
                return;
            }
            *s = Some((tick, frame.clone()));
            self.stats.received += 1;
        }
    }

    /// The input for `tick`, the next tick to run: the client's if it arrived, else the
    /// last one repeated. `default` is used before any input ever arrived.
    pub fn take(
        &mut self,
        tick: Tick,
        default: impl FnOnce() -> InputFrame<I>,
    ) -> (InputFrame<I>, InputSource) {
        self.next = tick.next();
        let slot = tick.get() as usize % SLOTS;
        let found = self
            .slots
            .get_mut(slot)
            .and_then(|s| s.take_if(|(t, _)| *t == tick))
            .map(|(_, f)| f);
        if let Some(m) = self.missed.get_mut(slot) {
            *m = found.is_none();
        }
        match found {
            Some(frame) => {
                self.last = Some(frame.clone());
                (frame, InputSource::Received)
            }
            None => match self.last.clone() {
                Some(last) => {
                    self.stats.missing += 1;
                    (last, InputSource::Repeated)
                }
                // The client has not started sending yet (it waits for its first snapshot):
                // nothing is missing, there is just nothing to repeat.
                None => (default(), InputSource::Default),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: u8) -> InputFrame<u8> {
        InputFrame {
            view_ago: 0,
            view_fraction: 0,
            input: v,
        }
    }

    fn datagram(newest: u32, values: &[u8]) -> InputDatagram<u8> {
        InputDatagram {
            ack: None,
            newest: Tick::new(newest),
            inputs: values.iter().map(|&v| frame(v)).collect(),
        }
    }

    #[test]
    fn inputs_wait_for_their_tick_and_redundancy_fills_gaps() {
        let mut buf = InputBuffer::new(Tick::new(10));
        buf.receive(&datagram(12, &[12, 11, 10]));
        buf.receive(&datagram(13, &[13, 12, 11])); // redundant copies ignored
        assert_eq!(buf.stats().received, 4);
        assert_eq!(buf.newest_received(), Some(Tick::new(13)));
        for t in 10..=13u32 {
            assert_eq!(
                buf.take(Tick::new(t), || frame(0)),
                (frame(t as u8), InputSource::Received)
            );
        }
        assert_eq!(buf.stats().missing, 0);
    }

    #[test]
    fn a_missing_input_repeats_the_last_and_a_late_one_is_counted() {
        let mut buf = InputBuffer::new(Tick::new(1));
        assert_eq!(
            buf.take(Tick::new(1), || frame(9)),
            (frame(9), InputSource::Default)
        );
        buf.receive(&datagram(2, &[2]));
        assert_eq!(buf.take(Tick::new(2), || frame(9)).0, frame(2));
        assert_eq!(
            buf.take(Tick::new(3), || frame(9)),
            (frame(2), InputSource::Repeated)
        );
        assert_eq!(
            buf.stats().missing,
            1,
            "before the first input nothing is missing"
        );
        buf.receive(&datagram(3, &[3, 2])); // 3 is late; 2 was applied in time
        assert_eq!(buf.stats().late, 1);
        buf.receive(&datagram(3, &[3])); // counted once
        assert_eq!(buf.stats().late, 1);
    }

    #[test]
    fn implausibly_early_inputs_are_dropped() {
        let mut buf = InputBuffer::new(Tick::new(100));
        buf.take(Tick::new(100), || frame(0));
        buf.receive(&datagram(100 + MAX_LEAD_TICKS + 5, &[1]));
        assert_eq!(buf.stats().too_early, 1);
        assert_eq!(buf.newest_received(), None);
    }

    #[test]
    fn every_input_for_a_tick_that_ran_without_it_is_late() {
        // A client's first datagram, for ticks before it joined: all late.
        let mut buf = InputBuffer::new(Tick::new(500));
        buf.receive(&datagram(498, &[1, 1, 1]));
        assert_eq!(buf.stats().late, 3);
        for t in 500..2000u32 {
            buf.take(Tick::new(t), || frame(0));
        }
        // Mid-game, a datagram from 1000 ticks ago: past what the buffer remembers, late.
        buf.receive(&datagram(1000, &[2, 2]));
        assert_eq!(buf.stats().late, 5);
        // Inside the window: late once for a tick that ran without it; a copy of an input
        // a tick ran with is not late.
        buf.receive(&datagram(2000, &[3]));
        buf.take(Tick::new(2000), || frame(0));
        buf.take(Tick::new(2001), || frame(0));
        buf.receive(&datagram(2001, &[4, 3]));
        assert_eq!(
            buf.stats().late,
            6,
            "2001 ran without its input; 2000 ran with it"
        );
        buf.receive(&datagram(2001, &[4]));
        assert_eq!(buf.stats().late, 6, "counted once");
    }
}
