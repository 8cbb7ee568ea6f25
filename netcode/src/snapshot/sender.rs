//! The server's side of snapshots for one client: baselines, priorities, budget, parts.
//!
//! Each snapshot is a delta against the newest snapshot the client has acknowledged (its
//! *baseline*), with linear prediction from the acknowledged snapshot before that. Entities
//! that changed compete for the client's byte budget by accumulated priority; those that do
//! not fit wait, gaining priority, and the server remembers that the client still holds the
//! old state for them. The result is split into parts that each fit a datagram and decode on
//! their own.

use std::collections::VecDeque;

use crate::bits::BitWriter;
use crate::schema::{NetEntity, Schema};
use crate::tick::Tick;

use super::history::WorldHistory;
use super::wire::{
    Coded, Extras, Feedback, Header, KTable, PartBits, extras_bits, header_bits, ktable_bits,
    write_part,
};
use crate::bits::exp_golomb_len;

/// Sizes that shape one client's snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Largest datagram (bytes). quinn reports 1162 at connect and more after MTU discovery.
    pub max_datagram_bytes: usize,
    /// Payload bytes the client may receive per snapshot on average (its budget per second
    /// divided by the snapshot rate). Unused budget carries over for one snapshot.
    pub budget_bytes_per_snapshot: usize,
    /// How far back (ticks) a baseline may be. The client keeps its snapshots this long.
    pub window_ticks: u32,
}

/// Why a snapshot could not be encoded: a server-side bug, not the client's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The history holds nothing at the requested tick.
    #[error("no world state recorded for {0}")]
    NoWorldState(Tick),
    /// The datagram size cannot hold even a header and one entity.
    #[error("max_datagram_bytes {0} is too small for a snapshot part")]
    DatagramTooSmall(usize),
}

/// What one encoded snapshot cost, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    /// The snapshot's tick.
    pub tick: Tick,
    /// The baseline it was coded against, if any.
    pub baseline: Option<Tick>,
    /// Parts (datagrams) written.
    pub parts: usize,
    /// Payload bytes of all parts.
    pub bytes: usize,
    /// Entities that differed from the client's baseline.
    pub changed: usize,
    /// Of those, how many fit the budget this time.
    pub sent: usize,
    /// Entities removed.
    pub removed: usize,
    /// Entities in the world at this tick.
    pub entities: usize,
    /// Bit accounting summed over parts.
    pub bits: PartBits,
}

/// What the client holds for an entity where that differs from the world at a tick.
type Override = (u32, Option<NetEntity>);

#[derive(Debug)]
struct Record {
    tick: Tick,
    acked: bool,
    /// Sorted by index: entities whose client-side state differs from the world's.
    overrides: Vec<Override>,
}

/// The client's view at one past snapshot: the world then, corrected by what it missed.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    world: &'a [NetEntity],
    overrides: &'a [Override],
}

impl<'a> View<'a> {
    fn get(&self, index: u32) -> Option<&'a NetEntity> {
        if let Ok(at) = self.overrides.binary_search_by_key(&index, |(i, _)| *i) {
            return self.overrides.get(at).and_then(|(_, e)| e.as_ref());
        }
        find(self.world, index)
    }

    /// Every entity the client holds in this view, in index order.
    fn for_each(&self, mut f: impl FnMut(&NetEntity)) {
        let mut overrides = self.overrides.iter().peekable();
        for e in self.world {
            while let Some((_, o)) = overrides.next_if(|(i, _)| *i < e.index) {
                if let Some(o) = o {
                    f(o);
                }
            }
            match overrides.next_if(|(i, _)| *i == e.index) {
                Some((_, Some(o))) => f(o),
                Some((_, None)) => {}
                None => f(e),
            }
        }
        for (_, o) in overrides {
            if let Some(o) = o {
                f(o);
            }
        }
    }
}

fn view_at<'a>(history: &'a WorldHistory, record: &'a Record) -> Option<View<'a>> {
    history.get(record.tick).map(|world| View {
        world,
        overrides: &record.overrides,
    })
}

fn find(world: &[NetEntity], index: u32) -> Option<&NetEntity> {
    world
        .binary_search_by_key(&index, |e| e.index)
        .ok()
        .and_then(|at| world.get(at))
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    coded: Coded,
    /// What the client holds for this index now (kept if the entity is not sent).
    held: Option<NetEntity>,
    priority: f32,
    bits: u32,
}

/// Per-client snapshot state on the server. Feed it acks with [`on_ack`](Self::on_ack); call
/// [`encode`](Self::encode) once per snapshot tick after recording the world in the
/// [`WorldHistory`]; send every datagram in [`datagrams`](Self::datagrams).
#[derive(Debug)]
pub struct SnapshotSender {
    config: SenderConfig,
    records: VecDeque<Record>,
    priority: Vec<f32>,
    credit_bits: i64,
    // Reused buffers: a warm sender allocates nothing per snapshot.
    candidates: Vec<Candidate>,
    chosen: Vec<Coded>,
    removals: Vec<u32>,
    indices: Vec<u32>,
    spare_overrides: Vec<Vec<Override>>,
    parts: Vec<BitWriter>,
    parts_used: usize,
}

impl SnapshotSender {
    /// A sender for a client that holds nothing yet.
    #[must_use]
    pub fn new(config: SenderConfig) -> Self {
        Self {
            config,
            records: VecDeque::new(),
            priority: Vec::new(),
            credit_bits: 0,
            candidates: Vec::new(),
            chosen: Vec::new(),
            removals: Vec::new(),
            indices: Vec::new(),
            spare_overrides: Vec::new(),
            parts: Vec::new(),
            parts_used: 0,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// Changes the sizes (a new datagram size after MTU discovery, a new budget).
    pub fn set_config(&mut self, config: SenderConfig) {
        self.config = config;
    }

    /// The client reports holding every part of snapshot `tick`. Unknown ticks are ignored.
    pub fn on_ack(&mut self, tick: Tick) {
        if let Some(record) = self.records.iter_mut().rev().find(|r| r.tick == tick) {
            record.acked = true;
        }
    }

    /// The datagrams of the last [`encode`](Self::encode), in part order.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.parts
            .iter()
            .take(self.parts_used)
            .map(BitWriter::as_bytes)
    }

    /// Encodes the snapshot at `tick` (already recorded in `history`) for this client.
    ///
    /// `feedback` and `own` (the private fields of the client's own entity) ride in part 0.
    /// `weight` rates how much an entity matters to this client (≥ 0; e.g. higher when near
    /// or when it is the client's own entity); it feeds the priority accumulator.
    ///
    /// # Errors
    /// [`SendError::NoWorldState`] if `history` has no state at `tick`,
    /// [`SendError::DatagramTooSmall`] if a part cannot hold a header and one entity.
    pub fn encode(
        &mut self,
        schema: &Schema,
        history: &WorldHistory,
        tick: Tick,
        feedback: Option<Feedback>,
        own: Option<&[i32]>,
        weight: &mut dyn FnMut(&NetEntity) -> f32,
    ) -> Result<SendReport, SendError> {
        let world = history.get(tick).ok_or(SendError::NoWorldState(tick))?;
        let window = i64::from(self.config.window_ticks);
        while self
            .records
            .front()
            .is_some_and(|r| i64::from(tick.since(r.tick)) >= window)
        {
            if let Some(mut old) = self.records.pop_front() {
                old.overrides.clear();
                self.spare_overrides.push(old.overrides);
            }
        }
        let usable =
            |r: &&Record| r.acked && tick.since(r.tick) > 0 && history.get(r.tick).is_some();
        let b1 = self.records.iter().rev().find(usable);
        let b2 = b1.and_then(|b1| {
            self.records
                .iter()
                .rev()
                .filter(usable)
                .find(|r| b1.tick.since(r.tick) > 0)
        });
        let view1 = b1.and_then(|r| view_at(history, r));
        let view2 = b2.and_then(|r| view_at(history, r));
        let header_base = Header {
            tick,
            part: 0,
            last: true,
            baseline_ago: b1.map_or(0, |b| tick.since(b.tick) as u32),
            predictor_ago: match (b1, b2) {
                (Some(b1), Some(b2)) => b1.tick.since(b2.tick) as u32,
                _ => 0,
            },
        };
        let span = header_base.span();

        // Which entities differ from what the client holds, and how they code.
        self.candidates.clear();
        if let Some(max) = world.last().map(|e| e.index as usize + 1) {
            if self.priority.len() < max {
                self.priority.resize(max, 0.0);
            }
        }
        for e in world {
            let held = view1.and_then(|v| v.get(e.index)).copied();
            let coded = match held {
                Some(h) if h.uid == e.uid && h.state == e.state => continue,
                Some(h) if h.uid == e.uid => {
                    let older = view2
                        .and_then(|v| v.get(e.index))
                        .zip(span)
                        .map(|(o, s)| (&o.state, s));
                    Coded::delta(schema, e.index, &e.state, &h.state, older)
                }
                _ => Coded::created(schema, e.index, &e.state),
            };
            let acc = self.priority.get_mut(e.index as usize);
            let priority = acc.map_or(0.0, |p| {
                *p += weight(e).max(0.0) * if coded.created { 2.0 } else { 1.0 };
                *p
            });
            self.candidates.push(Candidate {
                coded,
                held,
                priority,
                bits: 0,
            });
        }
        self.removals.clear();
        if let Some(v1) = view1 {
            v1.for_each(|h| {
                if find(world, h.index).is_none() {
                    self.removals.push(h.index);
                }
            });
        }

        // Choose the Exp-Golomb orders, then price every candidate.
        let k = KTable::fit(schema, self.candidates.iter().map(|c| c.coded));
        for c in &mut self.candidates {
            c.bits = 1 + c.coded.body_bits(schema, &k);
        }

        // Fill the budget by priority; whatever does not fit waits.
        let extras = Extras {
            feedback,
            own,
            removals: &self.removals,
        };
        let fixed = header_bits(&header_base) + extras_bits(schema, &extras, tick);
        // Budgets beyond 2^60 bits are "unlimited"; keep the arithmetic far from overflow.
        let per_snapshot = i64::try_from(self.config.budget_bytes_per_snapshot.saturating_mul(8))
            .unwrap_or(i64::MAX)
            .min(1 << 60);
        self.credit_bits = (self.credit_bits + per_snapshot).min(2 * per_snapshot);
        let mut spend = i64::from(fixed);
        self.candidates.sort_unstable_by(|a, b| {
            b.priority
                .total_cmp(&a.priority)
                .then(a.coded.index.cmp(&b.coded.index))
        });
        self.chosen.clear();
        let mut overrides = self.spare_overrides.pop().unwrap_or_default();
        overrides.clear();
        for c in &self.candidates {
            // A rough index cost: the exact coding is chosen per part and is usually cheaper.
            let cost = i64::from(c.bits) + 6;
            if spend + cost <= self.credit_bits || self.chosen.is_empty() {
                spend += cost;
                self.chosen.push(c.coded);
                if let Some(p) = self.priority.get_mut(c.coded.index as usize) {
                    *p = 0.0;
                }
            } else {
                overrides.push((c.coded.index, c.held));
            }
        }
        self.credit_bits -= spend;
        overrides.sort_unstable_by_key(|(i, _)| *i);
        self.chosen.sort_unstable_by_key(|c| c.index);

        // Split into parts that each fit a datagram.
        let max_bits = self.config.max_datagram_bytes.saturating_mul(8);
        let all_kinds = (1u32 << schema.kinds().len()) - 1;
        let mut report = SendReport {
            tick,
            baseline: b1.map(|b| b.tick),
            changed: self.candidates.len(),
            sent: self.chosen.len(),
            removed: self.removals.len(),
            entities: world.len(),
            ..SendReport::default()
        };
        self.parts_used = 0;
        let mut start = 0;
        loop {
            let part = self.parts_used as u32;
            let header = Header {
                part,
                ..header_base
            };
            let mut bits = header_bits(&header)
                + exp_golomb_len(self.chosen.len() as u32, 0)
                + 5
                + ktable_bits(schema, all_kinds);
            if part == 0 {
                bits += extras_bits(schema, &extras, tick);
            }
            let mut end = start;
            let mut prev = None;
            while let Some(c) = self.chosen.get(end) {
                let gap = prev.map_or(c.index, |p: u32| c.index - p - 1);
                let entry = exp_golomb_len(gap, 0) + 1 + c.body_bits(schema, &k);
                if bits + entry > max_bits as u32 {
                    break;
                }
                bits += entry;
                prev = Some(c.index);
                end += 1;
            }
            if end == start && start < self.chosen.len() {
                return Err(SendError::DatagramTooSmall(self.config.max_datagram_bytes));
            }
            let last = end >= self.chosen.len();
            if self.parts.len() <= self.parts_used {
                self.parts
                    .push(BitWriter::with_capacity(self.config.max_datagram_bytes));
            }
            let entries = self.chosen.get(start..end).unwrap_or(&[]);
            if let Some(w) = self.parts.get_mut(self.parts_used) {
                w.clear();
                let header = Header { last, ..header };
                let part_bits = write_part(
                    w,
                    schema,
                    &header,
                    (part == 0).then_some(&extras),
                    entries,
                    &k,
                    &mut self.indices,
                );
                report.bytes += w.byte_len();
                add_bits(&mut report.bits, &part_bits);
            }
            self.parts_used += 1;
            start = end;
            if last {
                break;
            }
        }
        report.parts = self.parts_used;
        self.records.push_back(Record {
            tick,
            acked: false,
            overrides,
        });
        Ok(report)
    }
}

fn add_bits(total: &mut PartBits, part: &PartBits) {
    total.index_bits += part.index_bits;
    total.mask_zero_bits += part.mask_zero_bits;
    total.delta_bits += part.delta_bits;
    total.deltas += part.deltas;
    total.created_bits += part.created_bits;
    total.created += part.created;
}
