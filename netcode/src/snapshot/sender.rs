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

use super::history::{WorldAt, WorldHistory};
use super::overrides::{Overrides, Walk};
use super::wire::{
    Coded, Extras, Feedback, Header, KTable, MAX_PARTS, PartBits, extras_bits, header_bits,
    ktable_bits, part_overhead_bits, removals_fitting, write_entries, write_head, write_part,
};
use crate::bits::exp_golomb_len;

/// Override lists kept for reuse per client, and the largest kept (bytes): a client behind
/// on a few hundred entities, or on a whole world it holds nothing of, reuses its lists; a
/// burst's larger lists are freed.
const SPARE_OVERRIDE_LISTS: usize = 4;
const SPARE_OVERRIDE_BYTES: usize = 16 * 1024;
/// The predictor baseline is sought at least `NUM/DEN` of the baseline's age further back.
const PREDICTOR_SPAN_NUM: i32 = 1;
const PREDICTOR_SPAN_DEN: i32 = 3;

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

/// What part 0 tells only this client: feedback on its inputs and its own entity's
/// private fields (in the schema's `own` order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Private<'a> {
    /// Input feedback.
    pub feedback: Option<Feedback>,
    /// The private fields of the client's own entity.
    pub own: Option<&'a [i32]>,
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

#[derive(Debug)]
struct Record {
    tick: Tick,
    acked: bool,
    /// Entities whose client-side state differs from the world's.
    overrides: Overrides,
}

/// The client's view at one past snapshot: the world then, corrected by what it missed.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    tick: Tick,
    world: WorldAt<'a>,
    overrides: &'a Overrides,
}

impl<'a> View<'a> {
    /// What the client held for entity `index`, for indices asked in ascending order: `walk`
    /// keeps the place in the overrides from one call to the next.
    fn get_ascending(&self, index: u32, walk: &mut Walk) -> Option<&'a NetEntity> {
        match self.overrides.get_ascending(index, walk) {
            Some(held) => held,
            None => self.world.find(index),
        }
    }
}

fn view_at<'a>(history: &'a WorldHistory, record: &'a Record) -> Option<View<'a>> {
    history.at(record.tick).map(|world| View {
        tick: record.tick,
        world,
        overrides: &record.overrides,
    })
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    coded: Coded,
    /// What the client holds for this index now (kept if the entity is not sent).
    held: Option<NetEntity>,
    /// The entity now.
    entity: NetEntity,
    bits: u32,
}

/// Per-client snapshot state on the server. Feed it acks with [`on_ack`](Self::on_ack); call
/// [`encode`](Self::encode) once per snapshot tick after recording the world in the
/// [`WorldHistory`]; send every datagram in [`datagrams`](Self::datagrams).
#[derive(Debug)]
pub struct SnapshotSender {
    config: SenderConfig,
    records: VecDeque<Record>,
    /// The newest tick the client acknowledged, or else the first one sent to it.
    heard: Option<Tick>,
    priority: Vec<f32>,
    credit_bits: i64,
    // Reused buffers: a warm sender allocates nothing per snapshot.
    work: Work,
    chosen: Vec<Coded>,
    /// Scratch for a shared entity section.
    section: BitWriter,
    indices: Vec<u32>,
    spare_overrides: Vec<Overrides>,
    parts: Vec<BitWriter>,
    parts_used: usize,
    /// Where each part's entries end in `chosen` (reused).
    part_ends: Vec<usize>,
}

impl SnapshotSender {
    /// A sender for a client that holds nothing yet.
    #[must_use]
    pub fn new(config: SenderConfig) -> Self {
        Self {
            config,
            records: VecDeque::new(),
            heard: None,
            priority: Vec::new(),
            credit_bits: 0,
            work: Work::default(),
            chosen: Vec::new(),
            section: BitWriter::new(),
            indices: Vec::new(),
            spare_overrides: Vec::new(),
            parts: Vec::new(),
            parts_used: 0,
            part_ends: Vec::new(),
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
            if self.heard.is_none_or(|h| tick.is_after(h)) {
                self.heard = Some(tick);
            }
        }
    }

    /// Forgets the oldest records while `old` says so.
    fn drop_records_while(&mut self, old: impl Fn(&Record) -> bool) {
        while self.records.front().is_some_and(&old) {
            if let Some(record) = self.records.pop_front() {
                self.recycle(record.overrides);
            }
        }
    }

    /// Keeps an override list's allocation for reuse, unless enough are kept already (a
    /// burst, such as the first snapshots after joining, must not pin its peak for good).
    fn recycle(&mut self, mut overrides: Overrides) {
        if self.spare_overrides.len() < SPARE_OVERRIDE_LISTS
            && overrides.capacity_bytes() <= SPARE_OVERRIDE_BYTES
        {
            overrides.clear();
            self.spare_overrides.push(overrides);
        }
    }

    /// Ticks from the newest snapshot the client acknowledged (or, before any, the first
    /// one sent to it) to `now`: how far behind the client has fallen. `None` before the
    /// first snapshot.
    #[must_use]
    pub fn ticks_unheard(&self, now: Tick) -> Option<u32> {
        self.heard.map(|h| now.since(h).max(0).unsigned_abs())
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
        shared: &mut SharedEncoding,
        tick: Tick,
        private: Private<'_>,
        weight: &mut dyn FnMut(&NetEntity) -> f32,
    ) -> Result<SendReport, SendError> {
        // The per-encode scratch (sized for every entity) is the room's, lent to each client
        // in turn, rather than one per client.
        std::mem::swap(&mut self.work, &mut shared.work);
        let report = self.encode_with_work(schema, history, shared, tick, private, weight);
        std::mem::swap(&mut self.work, &mut shared.work);
        report
    }

    fn encode_with_work(
        &mut self,
        schema: &Schema,
        history: &WorldHistory,
        shared: &mut SharedEncoding,
        tick: Tick,
        private: Private<'_>,
        weight: &mut dyn FnMut(&NetEntity) -> f32,
    ) -> Result<SendReport, SendError> {
        let Private { feedback, own } = private;
        let world = history.at(tick).ok_or(SendError::NoWorldState(tick))?;
        let window = i64::from(self.config.window_ticks);
        self.drop_records_while(|r| i64::from(tick.since(r.tick)) >= window);
        let usable =
            |r: &&Record| r.acked && tick.since(r.tick) > 0 && history.get(r.tick).is_some();
        let b1 = self.records.iter().rev().find(usable);
        // The predictor: an acknowledged snapshot at least as far before the baseline as the
        // baseline is before now, so extrapolation does not magnify quantization noise
        // (each step of 1/512 m in the slope would otherwise grow by `ahead / between`).
        let b2 = b1.and_then(|b1| {
            let ahead = tick.since(b1.tick);
            let mut older = self
                .records
                .iter()
                .rev()
                .filter(usable)
                .filter(|r| b1.tick.since(r.tick) > 0);
            let first = older.clone().next();
            older
                .find(|r| b1.tick.since(r.tick) >= ahead * PREDICTOR_SPAN_NUM / PREDICTOR_SPAN_DEN)
                .or(first)
        });
        // Records older than the predictor (by as much again) will not be chosen again: the
        // acknowledged baseline only moves forward. Dropping them keeps a client's records
        // (and their override lists) to a handful instead of the whole window.
        let keep_from = match (b1, b2) {
            (Some(b1), Some(b2)) => Some(b2.tick.sub(b1.tick.since(b2.tick).unsigned_abs())),
            (Some(b1), None) => Some(b1.tick),
            _ => None,
        };
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

        // What differs from what the client holds, coded. Clients that hold exactly the
        // world at both baselines share this work through `shared`.
        let exact = |r: Option<&Record>| r.is_none_or(|r| r.overrides.is_empty());
        let key = (tick, b1.map(|r| r.tick), b2.map(|r| r.tick));
        let sharing = exact(b1) && exact(b2);
        let from_group = sharing && shared.find(key).is_some();
        let mut k = KTable::default();
        if !from_group {
            self.work
                .collect(schema, history, tick, world, view1, view2, span);
            k = KTable::fit(schema, self.work.candidates.iter().map(|c| c.coded));
            for c in &mut self.work.candidates {
                c.bits = 1 + c.coded.body_bits(schema, &k);
            }
            if sharing {
                shared.insert(key, &self.work, k);
            }
        }
        // A group's candidates are read where they are (a lagging client's can be the whole
        // world: copying them per client cost more than coding them once).
        let group = shared.get(key).filter(|_| from_group);
        let (candidates, k) = match group {
            Some(group) => {
                self.work.removals.clear();
                self.work.removals.extend_from_slice(&group.removals);
                self.work.removed_held.clear();
                self.work
                    .removed_held
                    .extend_from_slice(&group.removed_held);
                (group.candidates.as_slice(), group.k)
            }
            None => (self.work.candidates.as_slice(), k),
        };
        let needed = candidates
            .iter()
            .map(|c| c.coded.index as usize + 1)
            .max()
            .unwrap_or(0);
        if self.priority.len() < needed {
            self.priority.resize(needed, 0.0);
        }
        let order = &mut self.work.order;
        order.clear();
        for (at, c) in candidates.iter().enumerate() {
            if let Some(p) = self.priority.get_mut(c.coded.index as usize) {
                *p += weight(&c.entity).max(0.0) * if c.coded.created { 2.0 } else { 1.0 };
                order.push((*p, at as u32));
            }
        }

        // Part 0 carries the removals. Those that would leave it no room wait for a later
        // snapshot (the client keeps the entity until then), so any number fits.
        let max_bits =
            u32::try_from(self.config.max_datagram_bytes.saturating_mul(8)).unwrap_or(u32::MAX);
        let overhead = part_overhead_bits(schema, self.config.window_ticks, candidates.len());
        let all_removals = &self.work.removals;
        let removals_sent = removals_fitting(
            schema,
            &Extras {
                feedback,
                own,
                removals: all_removals,
            },
            tick,
            max_bits.saturating_sub(overhead),
        );
        let extras = Extras {
            feedback,
            own,
            removals: all_removals.get(..removals_sent).unwrap_or(all_removals),
        };
        let header = header_bits(&header_base);
        let fixed = header + extras_bits(schema, &extras, tick);
        // Budgets beyond 2^60 bits are "unlimited"; keep the arithmetic far from overflow.
        let per_snapshot = i64::try_from(self.config.budget_bytes_per_snapshot.saturating_mul(8))
            .unwrap_or(i64::MAX)
            .min(1 << 60);
        self.credit_bits = (self.credit_bits + per_snapshot).min(2 * per_snapshot);
        // No snapshot has more than MAX_PARTS parts: what they cannot carry waits too, so a
        // client with a small datagram limit gets the world over several snapshots.
        let part_room = i64::from(max_bits.saturating_sub(overhead));
        let credit = self
            .credit_bits
            .min(i64::from(header) + i64::from(MAX_PARTS) * part_room);

        // Fill the budget by priority; whatever does not fit waits.
        let mut spend = i64::from(fixed);
        self.chosen.clear();
        let cost = rough_cost;
        let total: i64 = candidates.iter().map(cost).sum();
        let all_fit = spend + total <= credit;
        if all_fit {
            // Everything fits: no ranking needed (candidates are in index order already).
            spend += total;
            self.chosen.extend(candidates.iter().map(|c| c.coded));
        } else {
            let picked = &mut self.work.picked;
            picked.clear();
            picked.resize(candidates.len(), false);
            spend = fill_by_priority(
                order,
                |at| candidates.get(at as usize).map_or(i64::MAX / 4, cost),
                credit,
                spend,
                picked,
            );
            // Chosen in index order, as the candidates are.
            self.chosen.extend(
                candidates
                    .iter()
                    .zip(picked.iter())
                    .filter(|(_, chosen)| **chosen)
                    .map(|(c, _)| c.coded),
            );
        }

        let changed = candidates.len();
        let mut overrides = self.spare_overrides.pop().unwrap_or_default();
        overrides.clear();
        let deferred = self
            .work
            .removed_held
            .get(removals_sent..)
            .unwrap_or_default();
        let picked = &self.work.picked;
        let chosen_at = |at: usize| all_fit || picked.get(at).copied().unwrap_or(false);
        // Everything fits and the coding is shared: the entity section is the same bits for
        // every client of the group and is written once; try it as one part before paying
        // for a split per client.
        let shared_first = sharing && all_fit;
        if shared_first {
            spend -= hold_back(
                candidates,
                chosen_at,
                None,
                deferred,
                &mut self.priority,
                &mut overrides,
            );
        } else {
            let placed = split(
                &self.chosen,
                &mut self.part_ends,
                schema,
                &header_base,
                &extras,
                &k,
                max_bits,
            )?;
            let cut = self.chosen.get(placed).map(|c| c.index);
            spend -= hold_back(
                candidates,
                chosen_at,
                cut,
                deferred,
                &mut self.priority,
                &mut overrides,
            );
            self.chosen.truncate(placed);
        }
        self.credit_bits -= spend;

        let mut report = SendReport {
            tick,
            baseline: b1.map(|b| b.tick),
            changed,
            removed: extras.removals.len(),
            entities: world.entities().len(),
            ..SendReport::default()
        };
        self.parts_used = 0;
        if shared_first {
            if self.parts.is_empty() {
                self.parts
                    .push(BitWriter::with_capacity(self.config.max_datagram_bytes));
            }
            if shared.section(key).is_none() {
                self.section.clear();
                let bits = write_entries(
                    &mut self.section,
                    schema,
                    &header_base,
                    &self.chosen,
                    &k,
                    &mut self.indices,
                );
                shared.store_section(key, &self.section, bits);
            }
            if let (Some(w), Some((section, section_bits))) =
                (self.parts.get_mut(0), shared.section(key))
            {
                w.clear();
                write_head(w, schema, &header_base, Some(&extras));
                if w.bit_len() + section.bit_len() <= max_bits as usize {
                    w.append(section.as_bytes(), section.bit_len());
                    report.bytes = w.byte_len();
                    add_bits(&mut report.bits, section_bits);
                    self.parts_used = 1;
                }
            }
            if self.parts_used == 0 {
                let placed = split(
                    &self.chosen,
                    &mut self.part_ends,
                    schema,
                    &header_base,
                    &extras,
                    &k,
                    max_bits,
                )?;
                if placed < self.chosen.len() {
                    // More than the parts carry (a budget beyond 64 datagrams): the rest
                    // waits after all, its priority starting afresh.
                    let cut = self.chosen.get(placed).map(|c| c.index);
                    let candidates = shared
                        .get(key)
                        .map_or(self.work.candidates.as_slice(), |g| g.candidates.as_slice());
                    overrides.clear();
                    self.credit_bits += hold_back(
                        candidates,
                        |_| true,
                        cut,
                        deferred,
                        &mut self.priority,
                        &mut overrides,
                    );
                    self.chosen.truncate(placed);
                }
            }
        }
        if self.parts_used == 0 {
            let mut start = 0;
            let parts = self.part_ends.len();
            for (part, &end) in self.part_ends.iter().enumerate() {
                if self.parts.len() <= part {
                    self.parts
                        .push(BitWriter::with_capacity(self.config.max_datagram_bytes));
                }
                let entries = self.chosen.get(start..end).unwrap_or(&[]);
                if let Some(w) = self.parts.get_mut(part) {
                    w.clear();
                    let header = Header {
                        part: part as u32,
                        last: part + 1 == parts,
                        ..header_base
                    };
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
                start = end;
            }
            self.parts_used = parts;
        }
        report.sent = self.chosen.len();
        report.parts = self.parts_used;
        // Encoding a tick again (a retry, a benchmark) replaces the earlier encoding.
        if self.records.back().is_some_and(|r| r.tick == tick) {
            if let Some(old) = self.records.pop_back() {
                self.recycle(old.overrides);
            }
        }
        self.drop_records_while(|r| keep_from.is_some_and(|k| k.is_after(r.tick)));
        self.records.push_back(Record {
            tick,
            acked: false,
            overrides,
        });
        self.heard.get_or_insert(tick);
        Ok(report)
    }
}

/// What the budget counts for a candidate (bits): its coding, and a rough index cost (the
/// exact index coding is chosen per part and is usually cheaper).
fn rough_cost(c: &Candidate) -> i64 {
    i64::from(c.bits) + 6
}

/// Where each part's entries end in `chosen` (into `part_ends`): as many as fit each part
/// by the sender's count (an upper bound of what the writer spends), at most [`MAX_PARTS`]
/// parts. Returns how many of `chosen` the parts carry.
///
/// # Errors
/// [`SendError::DatagramTooSmall`] if a part cannot hold its header (and, past part 0,
/// one entry).
fn split(
    chosen: &[Coded],
    part_ends: &mut Vec<usize>,
    schema: &Schema,
    header_base: &Header,
    extras: &Extras<'_>,
    k: &KTable,
    max_bits: u32,
) -> Result<usize, SendError> {
    let all_kinds = (1u32 << schema.kinds().len()) - 1;
    let too_small = || SendError::DatagramTooSmall((max_bits / 8) as usize);
    part_ends.clear();
    let mut start = 0;
    loop {
        let part = part_ends.len() as u32;
        let mut bits = header_bits(&Header {
            part,
            ..*header_base
        }) + exp_golomb_len(chosen.len() as u32, 0)
            + 5
            + ktable_bits(schema, all_kinds);
        if part == 0 {
            bits += extras_bits(schema, extras, header_base.tick);
        }
        let mut end = start;
        let mut prev = None;
        while let Some(c) = chosen.get(end) {
            let gap = prev.map_or(c.index, |p: u32| c.index - p - 1);
            let entry = exp_golomb_len(gap, 0) + 1 + c.body_bits(schema, k);
            if bits + entry > max_bits {
                break;
            }
            bits += entry;
            prev = Some(c.index);
            end += 1;
        }
        // Part 0 may hold only its extras; any other part holds at least one entry.
        if bits > max_bits || (end == start && start < chosen.len() && part > 0) {
            return Err(too_small());
        }
        part_ends.push(end);
        if end >= chosen.len() || part + 1 >= MAX_PARTS {
            return Ok(end);
        }
        start = end;
    }
}

/// Records what the client will hold where it differs from the world after this snapshot:
/// the candidates not sent — not chosen, or chosen at or past `cut` (what the parts could
/// not carry) — and the deferred removals, merged in index order into `overrides`. Sent
/// candidates start gaining priority afresh. Returns the estimated bits of the chosen
/// candidates that were not sent (to give back to the budget).
fn hold_back(
    candidates: &[Candidate],
    chosen: impl Fn(usize) -> bool,
    cut: Option<u32>,
    deferred: &[NetEntity],
    priority: &mut [f32],
    overrides: &mut Overrides,
) -> i64 {
    let mut unsent = 0;
    let mut deferred = deferred.iter().peekable();
    for (at, c) in candidates.iter().enumerate() {
        let chosen = chosen(at);
        if chosen && cut.is_none_or(|cut| c.coded.index < cut) {
            if let Some(p) = priority.get_mut(c.coded.index as usize) {
                *p = 0.0;
            }
            continue;
        }
        if chosen {
            unsent += rough_cost(c);
        }
        while let Some(r) = deferred.next_if(|r| r.index < c.coded.index) {
            overrides.push(r.index, Some(*r));
        }
        overrides.push(c.coded.index, c.held);
    }
    for r in deferred {
        overrides.push(r.index, Some(*r));
    }
    unsent
}

/// Fills a budget by priority: highest first (ties by place), each place taken if its
/// `cost` still fits between `spent` and `credit` (bits), the first whatever it costs. Marks
/// the places taken in `picked` and returns the bits spent.
///
/// Only as much of the ranking as can still fit is sorted — a lagging client's candidates
/// can be the whole world, of which a budget takes a tenth — and the result is the same as
/// ranking everything: once the credit left is below the cheapest cost, nothing else fits.
fn fill_by_priority(
    order: &mut [(f32, u32)],
    cost: impl Fn(u32) -> i64,
    credit: i64,
    mut spent: i64,
    picked: &mut [bool],
) -> i64 {
    let by_priority = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let cheapest = order
        .iter()
        .map(|&(_, at)| cost(at))
        .min()
        .unwrap_or(1)
        .max(1);
    let (mut from, mut taken) = (0, false);
    while from < order.len() && (credit - spent >= cheapest || !taken) {
        let rest = order.get_mut(from..).unwrap_or_default();
        // Each takes at least `cheapest`: no more than this many of the rest fit.
        let fit = usize::try_from((credit - spent).max(0) / cheapest)
            .map_or(rest.len(), |n| n + 1)
            .min(rest.len());
        if fit < rest.len() {
            rest.select_nth_unstable_by(fit, by_priority);
        }
        let ranked = rest.get_mut(..fit).unwrap_or_default();
        ranked.sort_unstable_by(by_priority);
        for &(_, at) in &*ranked {
            if spent + cost(at) <= credit || !taken {
                spent += cost(at);
                taken = true;
                if let Some(slot) = picked.get_mut(at as usize) {
                    *slot = true;
                }
            }
        }
        from += fit;
    }
    spent
}

#[cfg(test)]
mod fill_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn filling_by_priority_matches_ranking_everything(
            items in proptest::collection::vec((0u8..6, 1i64..200), 0..300),
            credit in -100i64..4000,
            spent in 0i64..200,
        ) {
            let priority = |p: u8| f32::from(p) * 0.5;
            let cost = |at: u32| items.get(at as usize).map_or(0, |&(_, c)| c);
            let mut order: Vec<(f32, u32)> =
                (0u32..).zip(&items).map(|(at, &(p, _))| (priority(p), at)).collect();
            let mut picked = vec![false; items.len()];
            let got = fill_by_priority(&mut order, cost, credit, spent, &mut picked);

            // The plain way: rank all, then take greedily.
            let mut all: Vec<(f32, u32)> =
                (0u32..).zip(&items).map(|(at, &(p, _))| (priority(p), at)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let (mut want_spent, mut want) = (spent, vec![false; items.len()]);
            for (n, &(_, at)) in all.iter().enumerate() {
                if want_spent + cost(at) <= credit || n == 0 {
                    want_spent += cost(at);
                    want[at as usize] = true;
                }
            }
            prop_assert_eq!(got, want_spent);
            prop_assert_eq!(picked, want);
        }
    }
}

/// Per-encode scratch space, apart from the records so both can be borrowed at once.
#[derive(Debug, Default)]
struct Work {
    candidates: Vec<Candidate>,
    /// Priority and place of each candidate, ranked when not all fit.
    order: Vec<(f32, u32)>,
    /// Which candidates were chosen, by place.
    picked: Vec<bool>,
    removals: Vec<u32>,
    /// What the client held at each of `removals` (kept if the removal must wait).
    removed_held: Vec<NetEntity>,
    touched: Vec<u32>,
    /// Per index, the encode that last considered it (dedups `touched`).
    seen: Vec<u32>,
    stamp: u32,
}

impl Work {
    /// Finds the entities that differ between the client's view at the baseline and the
    /// world now, coding each, into `self.candidates` and `self.removals`.
    #[allow(clippy::too_many_arguments)] // the pieces of one encode, kept apart for borrowing
    fn collect(
        &mut self,
        schema: &Schema,
        history: &WorldHistory,
        tick: Tick,
        world: WorldAt<'_>,
        view1: Option<View<'_>>,
        view2: Option<View<'_>>,
        span: Option<super::predict::Span>,
    ) {
        // Candidates: what changed in the world since the baseline, and what the client was
        // already behind on. Without a baseline, everything.
        self.touched.clear();
        let known = match view1 {
            Some(v1) if history.changes_between(v1.tick, tick, &mut self.touched) => {
                self.touched.extend(v1.overrides.indices());
                true
            }
            _ => false,
        };
        if !known {
            self.touched
                .extend(world.entities().iter().map(|e| e.index));
        }
        self.candidates.clear();
        self.removals.clear();
        self.removed_held.clear();
        let needed = self.touched.iter().max().map_or(0, |&i| i as usize + 1);
        if self.seen.len() < needed {
            self.seen.resize(needed, 0);
        }
        // Each index once, in ascending order: a stamp per encode marks them, then either a
        // scan of the stamps (when many are touched) or a sort of the few indices gives the
        // order, so the candidates (large) are never sorted themselves.
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        let seen = &mut self.seen;
        self.touched
            .retain(|&index| match seen.get_mut(index as usize) {
                Some(s) if *s != stamp => {
                    *s = stamp;
                    true
                }
                _ => false,
            });
        if self.touched.len() * 16 >= needed {
            self.touched.clear();
            self.touched.extend(
                (0u32..)
                    .zip(self.seen.iter().take(needed))
                    .filter(|(_, s)| **s == stamp)
                    .map(|(i, _)| i),
            );
        } else {
            self.touched.sort_unstable();
        }
        let (mut at1, mut at2) = (Walk::default(), Walk::default());
        for &index in &self.touched {
            let held = view1
                .and_then(|v| v.get_ascending(index, &mut at1))
                .copied();
            let Some(&entity) = world.find(index) else {
                if let Some(held) = held {
                    self.removals.push(index);
                    self.removed_held.push(held);
                }
                continue;
            };
            let coded = match held {
                Some(h) if h.uid == entity.uid && h.state == entity.state => continue,
                Some(h) if h.uid == entity.uid => {
                    let older = view2
                        .and_then(|v| v.get_ascending(index, &mut at2))
                        .zip(span)
                        .map(|(o, s)| (&o.state, s));
                    Coded::delta(schema, index, &entity.state, &h.state, older)
                }
                _ => Coded::created(schema, index, &entity.state),
            };
            self.candidates.push(Candidate {
                coded,
                held,
                entity,
                bits: 0,
            });
        }
    }
}

/// Work shared by every client's [`SnapshotSender`] within one snapshot tick: the coded
/// entities for each pair of baselines that clients hold exactly as the world was. Keep one
/// per room and pass it to every client's encode; it resets itself when the tick changes.
#[derive(Debug, Default)]
pub struct SharedEncoding {
    tick: Option<Tick>,
    groups: Vec<Group>,
    spare: Vec<Group>,
    /// Scratch lent to each client's encode in turn.
    work: Work,
}

#[derive(Debug, Default)]
struct Group {
    key: GroupKey,
    candidates: Vec<Candidate>,
    removals: Vec<u32>,
    removed_held: Vec<NetEntity>,
    k: KTable,
    /// The entity section when every candidate is sent, written once (valid if `has_section`).
    section: BitWriter,
    section_bits: PartBits,
    has_section: bool,
}

type GroupKey = (Tick, Option<Tick>, Option<Tick>);

impl SharedEncoding {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many baseline groups this tick has coded (each coded once, shared by its clients).
    #[must_use]
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    fn find(&mut self, key: GroupKey) -> Option<&Group> {
        if self.tick != Some(key.0) {
            self.tick = Some(key.0);
            self.spare.append(&mut self.groups);
        }
        self.get(key)
    }

    fn get(&self, key: GroupKey) -> Option<&Group> {
        self.groups.iter().find(|g| g.key == key)
    }

    fn section(&self, key: GroupKey) -> Option<(&BitWriter, &PartBits)> {
        self.groups
            .iter()
            .find(|g| g.key == key && g.has_section)
            .map(|g| (&g.section, &g.section_bits))
    }

    fn store_section(&mut self, key: GroupKey, section: &BitWriter, bits: PartBits) {
        if let Some(group) = self.groups.iter_mut().find(|g| g.key == key) {
            group.section.clear();
            group.section.append(section.as_bytes(), section.bit_len());
            group.section_bits = bits;
            group.has_section = true;
        }
    }

    fn insert(&mut self, key: GroupKey, work: &Work, k: KTable) {
        let mut group = self.spare.pop().unwrap_or_default();
        group.has_section = false;
        group.key = key;
        group.candidates.clear();
        group.candidates.extend_from_slice(&work.candidates);
        group.removals.clear();
        group.removals.extend_from_slice(&work.removals);
        group.removed_held.clear();
        group.removed_held.extend_from_slice(&work.removed_held);
        group.k = k;
        self.groups.push(group);
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
