//! The client's side of snapshots: reassembling parts against held baselines, keeping the
//! snapshots the server may use as baselines, and saying which one to acknowledge.

use std::collections::VecDeque;

use crate::schema::{EntityState, MAX_FIELDS, Schema};
use crate::tick::Tick;

use super::parts::MAX_PARTS;
use super::wire::{Baselines, DecodedPart, Feedback, SnapshotError, find, read_body, read_header};
/// Most snapshots kept at once, whatever the window.
const MAX_KEPT: usize = 64;
/// Most snapshots being assembled at once.
const MAX_PENDING: usize = 4;

/// The world as one complete snapshot shows it: every entity's state, sorted by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The tick the snapshot was taken at.
    pub tick: Tick,
    /// Every entity the client holds, ascending by index.
    pub entities: Vec<(u32, EntityState)>,
}

impl Snapshot {
    /// The state of entity `index`, if held.
    #[must_use]
    pub fn get(&self, index: u32) -> Option<&EntityState> {
        find(&self.entities, index)
    }
}

#[derive(Debug, Clone)]
struct Pending {
    tick: Tick,
    baseline: Option<Tick>,
    seen: u64,
    last: Option<u32>,
    entities: Vec<(u32, EntityState)>,
}

/// What a datagram did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The snapshot the part belongs to.
    pub tick: Tick,
    /// The part's number.
    pub part: u32,
    /// Whether this part completed its snapshot (it is now [`SnapshotReceiver::latest`]).
    pub completed: bool,
}

/// Reassembles snapshot parts. Feed every snapshot datagram to
/// [`handle_datagram`](Self::handle_datagram); acknowledge [`ack`](Self::ack) on every
/// input datagram; read the world from [`latest`](Self::latest) and each part's entities
/// from [`last_part`](Self::last_part).
#[derive(Debug, Clone)]
pub struct SnapshotReceiver {
    schema: Schema,
    window_ticks: u32,
    reference: Tick,
    complete: VecDeque<Snapshot>,
    pending: Vec<Pending>,
    decoded: DecodedPart,
    feedback: Option<Feedback>,
    own: Option<[i32; MAX_FIELDS]>,
    /// The snapshot the newest feedback and own state came from.
    private_tick: Option<Tick>,
    spare: Vec<Vec<(u32, EntityState)>>,
    merged: Vec<(u32, EntityState)>,
}

impl SnapshotReceiver {
    /// A receiver for `schema` that keeps snapshots for `window_ticks` (as the server's
    /// sender is configured) and expects ticks near `reference` (the server's tick at
    /// welcome).
    #[must_use]
    pub fn new(schema: Schema, window_ticks: u32, reference: Tick) -> Self {
        Self {
            schema,
            window_ticks,
            reference,
            complete: VecDeque::new(),
            pending: Vec::new(),
            decoded: DecodedPart::default(),
            feedback: None,
            own: None,
            private_tick: None,
            spare: Vec::new(),
            merged: Vec::new(),
        }
    }

    /// The newest complete snapshot: the one to acknowledge.
    #[must_use]
    pub fn ack(&self) -> Option<Tick> {
        self.complete.back().map(|s| s.tick)
    }

    /// The newest complete snapshot.
    #[must_use]
    pub fn latest(&self) -> Option<&Snapshot> {
        self.complete.back()
    }

    /// Every complete snapshot kept, oldest first.
    pub fn snapshots(&self) -> impl DoubleEndedIterator<Item = &Snapshot> + ExactSizeIterator {
        self.complete.iter()
    }

    /// The complete snapshot at `tick`, if still kept.
    #[must_use]
    pub fn get(&self, tick: Tick) -> Option<&Snapshot> {
        self.complete.iter().rev().find(|s| s.tick == tick)
    }

    /// The entities set by the last part handled (its tick is in the returned [`Received`]),
    /// ascending by index: what an interpolation buffer takes even when a sibling part is
    /// lost.
    #[must_use]
    pub fn last_part(&self) -> &[(u32, EntityState)] {
        &self.decoded.entries
    }

    /// The newest feedback about this client's inputs.
    #[must_use]
    pub fn feedback(&self) -> Option<Feedback> {
        self.feedback
    }

    /// The snapshot tick the newest feedback and own state came from.
    #[must_use]
    pub fn private_tick(&self) -> Option<Tick> {
        self.private_tick
    }

    /// The newest private state of the client's own entity.
    #[must_use]
    pub fn own(&self) -> Option<&[i32; MAX_FIELDS]> {
        self.own.as_ref()
    }

    /// Takes one snapshot datagram.
    ///
    /// Returns `Ok(None)` for a part that is stale (its snapshot is older than the newest
    /// complete one) or a duplicate.
    ///
    /// # Errors
    /// [`SnapshotError`] if the datagram is malformed or coded against a baseline this client
    /// does not hold; the datagram is dropped and nothing changes.
    pub fn handle_datagram(&mut self, bytes: &[u8]) -> Result<Option<Received>, SnapshotError> {
        let (header, reader) = read_header(bytes, self.reference)?;
        if header.part >= MAX_PARTS {
            return Err(SnapshotError::BadCount(u64::from(header.part)));
        }
        if self
            .ack()
            .is_some_and(|newest| !header.tick.is_after(newest))
        {
            return Ok(None);
        }
        let pending_at = self.pending.iter().position(|p| p.tick == header.tick);
        if let Some(p) = pending_at.and_then(|at| self.pending.get(at)) {
            if p.seen & (1 << header.part) != 0 {
                return Ok(None);
            }
            if p.baseline != header.baseline() {
                return Err(SnapshotError::MissingBaseline(
                    header.baseline().unwrap_or(header.tick),
                ));
            }
        }
        let lookup = |t: Option<Tick>| -> Result<Option<&Snapshot>, SnapshotError> {
            t.map(|t| {
                self.complete
                    .iter()
                    .rev()
                    .find(|s| s.tick == t)
                    .ok_or(SnapshotError::MissingBaseline(t))
            })
            .transpose()
        };
        let base = lookup(header.baseline())?;
        let older = lookup(header.predictor())?;
        let oldest = lookup(header.curve())?;
        // A new snapshot starts as a copy of its baseline. Copying before decoding also
        // streams the baseline into cache for the body's lookups: it was written a few
        // snapshots ago and, with many clients in one process, is usually cold by now.
        let fresh = pending_at.is_none().then(|| {
            let mut entities = self.spare.pop().unwrap_or_default();
            entities.clear();
            if let Some(base) = base {
                entities.extend_from_slice(&base.entities);
            }
            entities
        });
        if let Err(e) = read_body(
            reader,
            &self.schema,
            &header,
            Baselines {
                base: base.map(|s| s.entities.as_slice()),
                older: older.map(|s| s.entities.as_slice()),
                oldest: oldest.map(|s| s.entities.as_slice()),
            },
            &mut self.decoded,
        ) {
            self.spare.extend(fresh);
            return Err(e);
        }

        // The part is valid: fold it into its snapshot.
        let at = match (pending_at, fresh) {
            (Some(at), _) => at,
            (None, fresh) => {
                if self.pending.len() >= MAX_PENDING {
                    // Drop the oldest snapshot still being assembled.
                    let oldest = self
                        .pending
                        .iter()
                        .enumerate()
                        .reduce(|a, b| if a.1.tick.is_after(b.1.tick) { b } else { a })
                        .map(|(i, _)| i);
                    if let Some(oldest) = oldest {
                        let p = self.pending.swap_remove(oldest);
                        self.spare.push(p.entities);
                    }
                }
                self.pending.push(Pending {
                    tick: header.tick,
                    baseline: header.baseline(),
                    seen: 0,
                    last: None,
                    entities: fresh.unwrap_or_default(),
                });
                self.pending.len() - 1
            }
        };
        let Some(pending) = self.pending.get_mut(at) else {
            return Ok(None);
        };
        merge(
            &mut pending.entities,
            &self.decoded.removals,
            &self.decoded.entries,
            &mut self.merged,
        );
        pending.seen |= 1 << header.part;
        if header.last {
            pending.last = Some(header.part);
        }
        if header.part == 0 && self.private_tick.is_none_or(|t| header.tick.is_after(t)) {
            self.private_tick = Some(header.tick);
            self.feedback = self.decoded.feedback.or(self.feedback);
            self.own = self.decoded.own.or(self.own);
        }
        if header.tick.is_after(self.reference) {
            self.reference = header.tick;
        }
        let completed = pending
            .last
            .is_some_and(|last| last < 64 && pending.seen == (u64::MAX >> (63 - last)));
        if completed {
            let done = self.pending.swap_remove(at);
            self.finish(done);
        }
        Ok(Some(Received {
            tick: header.tick,
            part: header.part,
            completed,
        }))
    }

    /// Makes a pending snapshot the newest complete one and forgets what it supersedes.
    fn finish(&mut self, done: Pending) {
        let tick = done.tick;
        self.complete.push_back(Snapshot {
            tick,
            entities: done.entities,
        });
        let window = i64::from(self.window_ticks);
        while self.complete.len() > MAX_KEPT
            || self
                .complete
                .front()
                .is_some_and(|s| i64::from(tick.since(s.tick)) >= window)
        {
            if let Some(old) = self.complete.pop_front() {
                self.spare.push(old.entities);
            }
        }
        let mut i = 0;
        while let Some(p) = self.pending.get(i) {
            if tick.is_after(p.tick) {
                let p = self.pending.swap_remove(i);
                self.spare.push(p.entities);
            } else {
                i += 1;
            }
        }
    }
}

/// Applies removals and upserts (both ascending) to a sorted entity list.
fn merge(
    entities: &mut Vec<(u32, EntityState)>,
    removals: &[u32],
    upserts: &[(u32, EntityState)],
    scratch: &mut Vec<(u32, EntityState)>,
) {
    // The common part: only entities already held changed. Update them where they are
    // instead of rebuilding the list (upserts are idempotent, so an index not held part
    // way through just falls through to the full merge).
    if removals.is_empty() {
        let mut from = 0;
        let in_place = upserts.iter().all(|&(index, state)| {
            let rest = entities.get_mut(from..).unwrap_or_default();
            match rest.binary_search_by_key(&index, |(i, _)| *i) {
                Ok(k) => {
                    if let Some(slot) = rest.get_mut(k) {
                        slot.1 = state;
                    }
                    from += k;
                    true
                }
                Err(_) => false,
            }
        });
        if in_place {
            return;
        }
    }
    scratch.clear();
    let mut removals = removals.iter().peekable();
    let mut upserts = upserts.iter().peekable();
    for &(index, state) in entities.iter() {
        while let Some(&&(i, s)) = upserts.peek().filter(|(i, _)| *i < index) {
            scratch.push((i, s));
            upserts.next();
        }
        while removals.next_if(|r| **r < index).is_some() {}
        let removed = removals.next_if(|r| **r == index).is_some();
        match upserts.next_if(|(i, _)| *i == index) {
            Some(&(i, s)) => scratch.push((i, s)),
            None if !removed => scratch.push((index, state)),
            None => {}
        }
    }
    scratch.extend(upserts.copied());
    std::mem::swap(entities, scratch);
}
