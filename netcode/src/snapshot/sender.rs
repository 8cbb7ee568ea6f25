//! The server's side of snapshots for one client: baselines, priorities, budget, parts.
//!
//! Each snapshot is a delta against the newest snapshot the client has acknowledged (its
//! *baseline*), with linear prediction from the acknowledged snapshot before that and, kind
//! by kind where it costs less, a curve through a third. Entities
//! that changed compete for the client's byte budget by accumulated priority; those that do
//! not fit wait, gaining priority, and the server remembers that the client still holds the
//! old state for them. The result is split into parts that each fit a datagram and decode on
//! their own.

use std::collections::VecDeque;

use crate::bits::BitWriter;
use crate::schema::{NetEntity, Schema};
use crate::tick::Tick;

use super::budget::{Fill, fill, hold_back, prioritize};
use super::history::WorldHistory;
use super::overrides::Overrides;
use super::parts::{Code, MAX_PARTS, Sections, add_bits, part_overhead_bits, removals_fitting};
use super::shared::{GroupKey, SharedEncoding, View, Work};
use super::wire::{
    Coded, Extras, Feedback, Header, KTable, PartBits, extras_bits, header_bits, write_head,
    write_section,
};

/// Override lists kept for reuse per client, and the largest always kept (bytes): a client
/// behind on a few hundred entities reuses its lists. Larger ones are kept only while the
/// client keeps needing them (four times its recent peak, see `recent_override_bytes`): a client
/// whose budget is always short (a busy physics world) allocates nothing per snapshot,
/// while a burst's lists (the world sent from nothing after a join) are freed once it ends.
const SPARE_OVERRIDE_LISTS: usize = 4;
const SPARE_OVERRIDE_BYTES: usize = 16 * 1024;
/// The predictor baseline is sought at least `NUM/DEN` of the baseline's age further back.
const PREDICTOR_SPAN_NUM: i32 = 1;
const PREDICTOR_SPAN_DEN: i32 = 2;
/// A third baseline is named only while the baseline is within this part of the window
/// (a quarter: 8 snapshot intervals).
const CURVE_WINDOW_PART: u32 = 4;

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
    /// What the budget planned the snapshot to cost (bits): header, extras and each chosen
    /// entry by a fixed code. The written snapshot (`bytes`) is what is charged.
    pub planned_bits: u64,
}

#[derive(Debug)]
struct Record {
    tick: Tick,
    acked: bool,
    /// Entities whose client-side state differs from the world's.
    overrides: Overrides,
}

/// The client's view at the snapshot of `tick`: the world then, corrected by its record's
/// overrides.
fn view_at<'a>(
    records: &'a VecDeque<Record>,
    history: &'a WorldHistory,
    tick: Option<Tick>,
) -> Option<View<'a>> {
    let record = records.iter().rev().find(|r| Some(r.tick) == tick)?;
    history.at(record.tick).map(|world| View {
        tick: record.tick,
        world,
        overrides: &record.overrides,
    })
}

impl Out {
    /// Codes the chosen entries into parts (see [`Sections::split`]); returns how many of
    /// `chosen` the parts carry.
    fn split(&self, sections: &mut Sections, code: &Code<'_>) -> Result<usize, SendError> {
        sections.split(&self.chosen, code)
    }

    /// Writes the snapshot as one part holding the group's shared entity section (written
    /// once per group), if it fits. Returns `None` when it did, else (having split) how many
    /// of `chosen` the parts will carry.
    fn write_shared(
        &mut self,
        sections: &mut Sections,
        code: &Code<'_>,
        shared: &mut SharedEncoding,
        key: GroupKey,
        report: &mut SendReport,
    ) -> Result<Option<usize>, SendError> {
        if shared.section(key).is_none() {
            let w = &mut sections.writer;
            w.start(code.schema, 0, code.changed, code.curved, code.lessons);
            for c in &self.chosen {
                w.push(code.schema, code.changed, c);
            }
            let (coded, bits) = w.finish();
            sections.shared.clear();
            write_section(
                &mut sections.shared,
                self.chosen.len(),
                code.changed.len(),
                0,
                coded,
            );
            shared.store_section(key, &sections.shared, bits);
        }
        if self.parts.is_empty() {
            self.parts
                .push(BitWriter::with_capacity((code.max_bits / 8) as usize));
        }
        if let (Some(w), Some((section, section_bits))) =
            (self.parts.get_mut(0), shared.section(key))
        {
            w.clear();
            write_head(w, code.schema, code.header, Some(code.extras));
            if w.bit_len() + section.bit_len() <= code.max_bits as usize {
                w.append(section.as_bytes(), section.bit_len());
                report.bytes = w.byte_len();
                add_bits(&mut report.bits, section_bits);
                self.used = 1;
                return Ok(None);
            }
        }
        self.split(sections, code).map(Some)
    }

    /// Writes the parts `split` coded: each one's head, then its section.
    fn write_parts(&mut self, sections: &Sections, code: &Code<'_>, report: &mut SendReport) {
        let parts = sections.ends.len();
        for (part, (section, bits)) in sections.parts.iter().take(parts).enumerate() {
            if self.parts.len() <= part {
                self.parts
                    .push(BitWriter::with_capacity((code.max_bits / 8) as usize));
            }
            if let Some(w) = self.parts.get_mut(part) {
                w.clear();
                let header = Header {
                    part: part as u32,
                    last: part + 1 == parts,
                    ..*code.header
                };
                write_head(w, code.schema, &header, (part == 0).then_some(code.extras));
                w.append(section.as_bytes(), section.bit_len());
                report.bytes += w.byte_len();
                add_bits(&mut report.bits, bits);
            }
        }
        self.used = parts;
    }
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
    spare_overrides: Vec<Overrides>,
    /// Bytes of the largest override list lately, decaying by an eighth a snapshot.
    recent_override_bytes: usize,
    /// The longest override lists lately (absent, held), decaying the same way: a list
    /// taken for a snapshot is given that room at once.
    recent_override_lens: (usize, usize),
    out: Out,
}

/// A sender's output buffers: the entries chosen for the snapshot and the parts written.
#[derive(Debug, Default)]
struct Out {
    /// The entries sent, in index order.
    chosen: Vec<Coded>,
    parts: Vec<BitWriter>,
    /// Parts of `parts` holding the last snapshot.
    used: usize,
}

/// The baselines one snapshot is coded against, as [`SnapshotSender::baselines`] chose them.
#[derive(Debug, Clone, Copy)]
struct Baselines {
    /// The newest snapshot the client acknowledged (deltas are against it).
    b1: Option<Tick>,
    /// The acknowledged snapshot moving fields are predicted from.
    b2: Option<Tick>,
    /// The acknowledged snapshot before `b2` that bends linear fields' predictions.
    b3: Option<Tick>,
    /// Records older than this will not be chosen again.
    keep_from: Option<Tick>,
    /// The snapshot's header (part 0).
    header: Header,
    /// Whether the client holds exactly the world at both (so its coding can be shared).
    exact: bool,
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
            spare_overrides: Vec::new(),
            recent_override_bytes: 0,
            recent_override_lens: (0, 0),
            out: Out::default(),
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
        if overrides.capacity_bytes() == 0 {
            return; // nothing to reuse: it must not take a useful spare's place
        }
        let keep = SPARE_OVERRIDE_BYTES.max(4 * self.recent_override_bytes);
        if self.spare_overrides.len() < SPARE_OVERRIDE_LISTS && overrides.capacity_bytes() <= keep {
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

    /// What the client holds once it has decoded the snapshot of `tick` (the world then,
    /// less what the budget held back or what it never got): every entity as `(index,
    /// state)`, ascending, into `out`. `false` when `tick` is no longer kept. For checking a
    /// decoder against the sender in tests and benchmarks, budget-limited snapshots included.
    pub fn client_view(
        &self,
        history: &WorldHistory,
        tick: Tick,
        out: &mut Vec<(u32, crate::schema::EntityState)>,
    ) -> bool {
        out.clear();
        let Some(view) = view_at(&self.records, history, Some(tick)) else {
            return false;
        };
        let mut indices: Vec<u32> = view
            .world
            .entities()
            .iter()
            .map(|e| e.index)
            .chain(view.overrides.indices())
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let mut walk = Default::default();
        for index in indices {
            if let Some(entity) = view.get_ascending(index, &mut walk) {
                out.push((index, entity.state));
            }
        }
        true
    }

    /// The datagrams of the last [`encode`](Self::encode), in part order.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.out
            .parts
            .iter()
            .take(self.out.used)
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
        let world = history.at(tick).ok_or(SendError::NoWorldState(tick))?;
        let window = i64::from(self.config.window_ticks);
        self.drop_records_while(|r| i64::from(tick.since(r.tick)) >= window);
        let base = self.baselines(history, tick);

        // What differs from what the client holds, coded. Clients that hold exactly the
        // world at both baselines share this work through `shared`.
        let key = (tick, base.b1, base.b2, base.b3);
        let from_group = base.exact && shared.find(key).is_some();
        if !from_group {
            let view = |tick| view_at(&self.records, history, tick);
            let span = base.header.span();
            self.work.collect(
                schema,
                history,
                tick,
                world,
                view(base.b1),
                view(base.b2),
                span,
                view(base.b3).map(|v| (v, base.header.curve_ago)),
            );
            // The budget is planned with an estimate of each entry's size.
            let k = KTable::fit(schema, self.work.candidates.iter().map(|c| c.coded));
            for c in &mut self.work.candidates {
                c.bits = 1 + c.coded.body_bits(schema, &k);
            }
            if base.exact {
                shared.insert(key, &self.work);
            }
        }
        // A group's candidates are read where they are (a lagging client's can be the whole
        // world: copying them per client cost more than coding them once).
        let candidates = match shared.get(key).filter(|_| from_group) {
            Some(group) => {
                self.work.take_group(group);
                group.candidates.as_slice()
            }
            None => self.work.candidates.as_slice(),
        };
        let changed = self.work.changed.as_slice();
        let curved = (base.header.curve_ago > 0).then_some(self.work.curved);
        prioritize(&mut self.priority, &mut self.work.order, candidates, weight);

        // Part 0 carries the removals. Those that would leave it no room wait for a later
        // snapshot (the client keeps the entity until then), so any number fits.
        let max_bits =
            u32::try_from(self.config.max_datagram_bytes.saturating_mul(8)).unwrap_or(u32::MAX);
        let overhead = part_overhead_bits(self.config.window_ticks, candidates.len());
        let Private { feedback, own } = private;
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

        // Fill the budget by priority; whatever does not fit waits. No snapshot has more than
        // MAX_PARTS parts: what they cannot carry waits too, so a client with a small datagram
        // limit gets the world over several snapshots.
        let header = header_bits(&base.header);
        let per_snapshot = i64::try_from(self.config.budget_bytes_per_snapshot.saturating_mul(8))
            .unwrap_or(i64::MAX)
            .min(1 << 60); // beyond 2^60 bits is "unlimited": far from overflow
        self.credit_bits = (self.credit_bits + per_snapshot).min(2 * per_snapshot);
        let available = self.credit_bits;
        let part_room = i64::from(max_bits.saturating_sub(overhead));
        let credit = self
            .credit_bits
            .min(i64::from(header) + i64::from(MAX_PARTS) * part_room);
        let Fill { all_fit, spend } = fill(
            candidates,
            &mut self.work.order,
            &mut self.work.picked,
            &mut self.out.chosen,
            i64::from(header + extras_bits(schema, &extras, tick)),
            credit,
        );

        // Everything fits and the coding is shared: the entity section is the same bits for
        // every client of the group and is written once; try it as one part before paying for
        // a split per client. Otherwise split first: what the parts cannot carry waits.
        let mut overrides = self.spare_overrides.pop().unwrap_or_default();
        overrides.clear();
        overrides.reserve(self.recent_override_lens);
        let deferred = self
            .work
            .removed_held
            .get(removals_sent..)
            .unwrap_or_default();
        let picked = &self.work.picked;
        let chosen_at = |at: usize| all_fit || picked.get(at).copied().unwrap_or(false);
        let shared_first = base.exact && all_fit;
        let code = Code {
            schema,
            header: &base.header,
            extras: &extras,
            changed,
            curved,
            lessons: &self.work.lessons,
            max_bits,
        };
        if !shared_first {
            let placed = self.out.split(&mut self.work.sections, &code)?;
            let cut = self.out.chosen.get(placed).map(|c| c.index);
            self.out.chosen.truncate(placed);
            hold_back(
                candidates,
                chosen_at,
                cut,
                deferred,
                &mut self.priority,
                &mut overrides,
            );
        } else {
            hold_back(
                candidates,
                chosen_at,
                None,
                deferred,
                &mut self.priority,
                &mut overrides,
            );
        }
        let mut report = SendReport {
            tick,
            baseline: base.b1,
            changed: candidates.len(),
            removed: extras.removals.len(),
            entities: world.entities().len(),
            ..SendReport::default()
        };
        self.out.used = 0;
        let written = if shared_first {
            self.out
                .write_shared(&mut self.work.sections, &code, shared, key, &mut report)?
        } else {
            None
        };
        if let Some(placed) = written.filter(|&placed| placed < self.out.chosen.len()) {
            // A shared snapshot more than the parts carry (a budget beyond 64 datagrams):
            // the rest waits after all, its priority starting afresh.
            let cut = self.out.chosen.get(placed).map(|c| c.index);
            self.out.chosen.truncate(placed);
            let candidates = shared
                .get(key)
                .map_or(self.work.candidates.as_slice(), |g| g.candidates.as_slice());
            overrides.clear();
            hold_back(
                candidates,
                |_| true,
                cut,
                deferred,
                &mut self.priority,
                &mut overrides,
            );
        }
        if self.out.used == 0 {
            self.out
                .write_parts(&self.work.sections, &code, &mut report);
        }
        report.sent = self.out.chosen.len();
        report.parts = self.out.used;
        report.planned_bits = u64::try_from(spend).unwrap_or(0);
        // The budget is charged what was written: the plan counts each entry by a fixed code,
        // which the range coder beats, so charging the plan would leave budget unused.
        self.credit_bits = available - i64::try_from(report.bytes * 8).unwrap_or(i64::MAX / 4);

        // Encoding a tick again (a retry, a benchmark) replaces the earlier encoding.
        if self.records.back().is_some_and(|r| r.tick == tick) {
            if let Some(old) = self.records.pop_back() {
                self.recycle(old.overrides);
            }
        }
        self.recent_override_bytes = (self.recent_override_bytes - self.recent_override_bytes / 8)
            .max(overrides.len_bytes());
        let decay = |recent: usize, now: usize| (recent - recent / 8).max(now);
        let (absent, held) = overrides.lens();
        self.recent_override_lens = (
            decay(self.recent_override_lens.0, absent),
            decay(self.recent_override_lens.1, held),
        );
        self.drop_records_while(|r| base.keep_from.is_some_and(|k| k.is_after(r.tick)));
        // A record of nothing held back keeps no list: its buffer goes back to the spares for
        // the next snapshot, rather than each of a client's records pinning one.
        let overrides = if overrides.is_empty() {
            self.recycle(overrides);
            Overrides::default()
        } else {
            overrides
        };
        self.records.push_back(Record {
            tick,
            acked: false,
            overrides,
        });
        self.heard.get_or_insert(tick);
        Ok(report)
    }

    /// Chooses the baselines for the snapshot at `tick`: the newest acknowledged snapshot
    /// still in `history`, and a predictor before it.
    fn baselines(&self, history: &WorldHistory, tick: Tick) -> Baselines {
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
        // The third baseline, which lets linear fields follow a curve: at least as far
        // before the predictor as the predictor is before the baseline, for the same reason.
        // Only for a client that keeps up and holds exactly the world at both: a curve through
        // snapshots long past says little of now, and a client behind on entities codes its
        // snapshot on its own (not shared), so its coding is kept cheap.
        let recent = b1.is_some_and(|b1| {
            tick.since(b1.tick)
                <= i32::try_from(self.config.window_ticks / CURVE_WINDOW_PART).unwrap_or(i32::MAX)
        });
        let exact = |r: Option<&Record>| r.is_none_or(|r| r.overrides.is_empty());
        let b3 = b1
            .zip(b2)
            .filter(|_| recent && exact(b1) && exact(b2))
            .and_then(|(b1, b2)| {
                let between = b1.tick.since(b2.tick);
                self.records
                    .iter()
                    .rev()
                    .filter(usable)
                    .find(|r| b2.tick.since(r.tick) >= between)
            });
        // Records older than the predictor (by as much again) or the third baseline will not
        // be chosen again: the acknowledged baseline only moves forward. Dropping them keeps a client's
        // records (and their override lists) to a handful instead of the whole window.
        let keep_from = match (b1, b2, b3) {
            // The third baseline is a nicety: when acknowledgements stall and the predictor
            // moves back past it, a snapshot goes without a curve rather than every client
            // keeping more records (and their override lists) for it.
            (Some(_), Some(_), Some(b3)) => Some(b3.tick),
            (Some(b1), Some(b2), None) => Some(b2.tick.sub(b1.tick.since(b2.tick).unsigned_abs())),
            (Some(b1), None, _) => Some(b1.tick),
            _ => None,
        };
        Baselines {
            b1: b1.map(|r| r.tick),
            b2: b2.map(|r| r.tick),
            b3: b3.map(|r| r.tick),
            keep_from,
            header: Header {
                tick,
                part: 0,
                last: true,
                baseline_ago: b1.map_or(0, |b| tick.since(b.tick) as u32),
                predictor_ago: match (b1, b2) {
                    (Some(b1), Some(b2)) => b1.tick.since(b2.tick) as u32,
                    _ => 0,
                },
                curve_ago: match (b2, b3) {
                    (Some(b2), Some(b3)) => b2.tick.since(b3.tick) as u32,
                    _ => 0,
                },
            },
            exact: exact(b1) && exact(b2) && exact(b3),
        }
    }
}
