//! The world's quantized state at recent snapshot ticks, kept once per room and shared by
//! every client's sender, with the list of entities that changed at each tick.
//!
//! The change lists are what make per-client work grow with what changes rather than with
//! the size of the world: a client whose baseline is `B` needs only the entities listed at
//! the ticks after `B`.

use std::collections::VecDeque;

use crate::schema::{NetEntity, Replicate};
use crate::tick::Tick;

#[derive(Debug, Default)]
struct Entry {
    tick: Tick,
    /// Sorted by index.
    entities: Vec<NetEntity>,
    /// Indices whose entity differs from the previous recorded tick (changed, created,
    /// replaced or removed), ascending.
    changes: Vec<u32>,
    /// Position in `entities` of each index, `u32::MAX` where absent: O(1) lookups for
    /// every client's sender.
    positions: Vec<u32>,
}

/// The world at one recorded tick, with constant-time lookup by index.
#[derive(Debug, Clone, Copy)]
pub struct WorldAt<'a> {
    entities: &'a [NetEntity],
    positions: &'a [u32],
}

impl<'a> WorldAt<'a> {
    /// Every entity, ascending by index.
    #[must_use]
    pub fn entities(&self) -> &'a [NetEntity] {
        self.entities
    }

    /// The entity at `index`, if any.
    #[must_use]
    pub fn find(&self, index: u32) -> Option<&'a NetEntity> {
        let at = *self.positions.get(index as usize)?;
        self.entities.get(at as usize)
    }
}

/// A ring of the world's replicated state at the last `capacity` snapshot ticks.
///
/// Buffers are recycled, so a warm history allocates nothing per snapshot.
#[derive(Debug)]
pub struct WorldHistory {
    entries: VecDeque<Entry>,
    capacity: usize,
    spare: Vec<Entry>,
}

impl WorldHistory {
    /// A history that keeps `capacity` snapshots (at least 1). Size it to the baseline
    /// window: a baseline older than the oldest kept snapshot cannot be used.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: VecDeque::with_capacity(capacity),
            capacity,
            spare: Vec::new(),
        }
    }

    /// Records the world at `tick` (which must be newer than the last recorded tick).
    pub fn record(&mut self, tick: Tick, world: &impl Replicate) {
        self.record_with(tick, |out| world.replicate(out));
    }

    /// Records the state `fill` appends (sorted by ascending index) as the world at `tick`.
    pub fn record_with(&mut self, tick: Tick, fill: impl FnOnce(&mut Vec<NetEntity>)) {
        let mut entry = self.spare.pop().unwrap_or_default();
        entry.tick = tick;
        entry.entities.clear();
        entry.changes.clear();
        entry.positions.clear();
        fill(&mut entry.entities);
        if !entry
            .entities
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.index < b.index))
        {
            entry.entities.sort_unstable_by_key(|e| e.index);
            entry.entities.dedup_by_key(|e| e.index);
        }
        if let Some(last) = entry.entities.last() {
            entry.positions.resize(last.index as usize + 1, u32::MAX);
        }
        for (at, e) in entry.entities.iter().enumerate() {
            if let Some(slot) = entry.positions.get_mut(e.index as usize) {
                *slot = at as u32;
            }
        }
        match self.entries.back() {
            Some(prev) => diff(&prev.entities, &entry.entities, &mut entry.changes),
            None => entry.changes.extend(entry.entities.iter().map(|e| e.index)),
        }
        if self.entries.len() >= self.capacity {
            if let Some(old) = self.entries.pop_front() {
                self.spare.push(old);
            }
        }
        self.entries.push_back(entry);
    }

    /// The world at `tick`, if still kept.
    #[must_use]
    pub fn get(&self, tick: Tick) -> Option<&[NetEntity]> {
        self.entry(tick).map(|e| e.entities.as_slice())
    }

    /// The world at `tick` with lookup by index, if still kept.
    #[must_use]
    pub fn at(&self, tick: Tick) -> Option<WorldAt<'_>> {
        self.entry(tick).map(|e| WorldAt {
            entities: &e.entities,
            positions: &e.positions,
        })
    }

    /// Ticks ascend through the ring, so a binary search finds one.
    fn entry(&self, tick: Tick) -> Option<&Entry> {
        let newest = self.entries.back()?.tick;
        let ago = newest.since(tick);
        let at = self.entries.partition_point(|e| newest.since(e.tick) > ago);
        self.entries.get(at).filter(|e| e.tick == tick)
    }

    /// The newest recorded tick and its state.
    #[must_use]
    pub fn latest(&self) -> Option<(Tick, &[NetEntity])> {
        self.entries.back().map(|e| (e.tick, e.entities.as_slice()))
    }

    /// Appends every index that changed after `since` up to and including `until` (possibly
    /// with repeats). Returns `false` if `since` is no longer kept, so the changes are not
    /// known.
    pub(crate) fn changes_between(&self, since: Tick, until: Tick, out: &mut Vec<u32>) -> bool {
        if self.get(since).is_none() {
            return false;
        }
        for e in self
            .entries
            .iter()
            .filter(|e| e.tick.is_after(since) && !e.tick.is_after(until))
        {
            out.extend_from_slice(&e.changes);
        }
        true
    }
}

/// Indices at which two sorted entity lists differ.
fn diff(old: &[NetEntity], new: &[NetEntity], out: &mut Vec<u32>) {
    let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.index == y.index => {
                if x != y {
                    out.push(x.index);
                }
                a.next();
                b.next();
            }
            (Some(x), Some(y)) if x.index < y.index => {
                out.push(x.index);
                a.next();
            }
            (Some(_), Some(y)) => {
                out.push(y.index);
                b.next();
            }
            (Some(x), None) => {
                out.push(x.index);
                a.next();
            }
            (None, Some(y)) => {
                out.push(y.index);
                b.next();
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EntityState;

    fn e(index: u32, uid: u32, x: i32) -> NetEntity {
        let mut state = EntityState::default();
        state.fields[0] = x;
        NetEntity { index, uid, state }
    }

    #[test]
    fn change_lists_name_what_differs() {
        let mut h = WorldHistory::new(3);
        h.record_with(Tick::new(1), |out| {
            out.extend([e(0, 1, 5), e(1, 1, 5), e(2, 1, 5)])
        });
        h.record_with(Tick::new(2), |out| {
            out.extend([e(0, 1, 5), e(1, 1, 6), e(3, 1, 0)])
        });
        h.record_with(Tick::new(3), |out| {
            out.extend([e(0, 2, 5), e(1, 1, 6), e(3, 1, 0)])
        });
        let mut changes = Vec::new();
        assert!(h.changes_between(Tick::new(1), Tick::new(3), &mut changes));
        assert_eq!(changes, vec![1, 2, 3, 0]);
        changes.clear();
        assert!(h.changes_between(Tick::new(2), Tick::new(2), &mut changes));
        assert!(changes.is_empty());
        h.record_with(Tick::new(4), |_| {});
        assert!(
            !h.changes_between(Tick::new(1), Tick::new(4), &mut changes),
            "tick 1 has been evicted"
        );
        assert_eq!(
            h.latest().map(|(t, w)| (t, w.len())),
            Some((Tick::new(4), 0))
        );
    }
}
