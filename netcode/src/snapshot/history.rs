//! The world's quantized state at recent snapshot ticks, kept once per room and shared by
//! every client's sender.

use std::collections::VecDeque;

use crate::schema::{NetEntity, Replicate};
use crate::tick::Tick;

/// A ring of the world's replicated state at the last `capacity` snapshot ticks.
///
/// Buffers are recycled, so a warm history allocates nothing per snapshot.
#[derive(Debug)]
pub struct WorldHistory {
    snapshots: VecDeque<(Tick, Vec<NetEntity>)>,
    capacity: usize,
    spare: Vec<Vec<NetEntity>>,
}

impl WorldHistory {
    /// A history that keeps `capacity` snapshots (at least 1). Size it to the baseline
    /// window: a baseline older than the oldest kept snapshot cannot be used.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            snapshots: VecDeque::with_capacity(capacity),
            capacity,
            spare: Vec::new(),
        }
    }

    /// Records the world at `tick` (which must be newer than the last recorded tick).
    pub fn record(&mut self, tick: Tick, world: &impl Replicate) {
        self.record_with(tick, |out| world.replicate(out));
    }

    /// Records the state `fill` appends (sorted by index) as the world at `tick`.
    pub fn record_with(&mut self, tick: Tick, fill: impl FnOnce(&mut Vec<NetEntity>)) {
        if self.snapshots.len() >= self.capacity {
            if let Some((_, old)) = self.snapshots.pop_front() {
                self.spare.push(old);
            }
        }
        let mut entities = self.spare.pop().unwrap_or_default();
        entities.clear();
        fill(&mut entities);
        debug_assert!(
            entities
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.index < b.index))
        );
        self.snapshots.push_back((tick, entities));
    }

    /// The world at `tick`, if still kept.
    #[must_use]
    pub fn get(&self, tick: Tick) -> Option<&[NetEntity]> {
        self.snapshots
            .iter()
            .rev()
            .find(|(t, _)| *t == tick)
            .map(|(_, e)| e.as_slice())
    }

    /// The newest recorded tick and its state.
    #[must_use]
    pub fn latest(&self) -> Option<(Tick, &[NetEntity])> {
        self.snapshots.back().map(|(t, e)| (*t, e.as_slice()))
    }
}
