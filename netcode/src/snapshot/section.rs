//! A part's entity section: which entities it sets and their values, range-coded.
//!
//! Indices are coded as a walk through the index space guided by the *changed set* (the
//! entities that differ between the two baselines, which both ends hold): an entity that
//! was moving is usually still moving, so "the next changed one again" costs a fraction of
//! a bit, and only entities that start to change pay for their place. Residuals are coded
//! with an adaptive Exp-Golomb code per field. `docs/protocol.md` §6.4 and §6.6 specify the
//! layout; this file is its one implementation.

use crate::range_coder::{Model, RangeDecoder, RangeEncoder, ValueModel};
use crate::schema::{EntityState, MAX_FIELDS, Schema};

use super::predict::Span;

use super::wire::{Coded, MAX_INDEX, PartBits, SnapshotError};

/// The models of one section, all at even odds at its start.
#[derive(Debug, Default)]
pub(crate) struct Models {
    /// 1 = the entry is not the next changed index.
    other: Model,
    /// 1 = the entry lies before the next changed index; 0 = that index is passed over.
    before: Model,
    created: Model,
    gap: ValueModel,
    /// Two per field slot of the schema (kinds × fields, in order): for residuals in a
    /// *calm* entry and in a *jolted* one (see [`jolted`]).
    fields: Vec<[ValueModel; 2]>,
}

/// A residual at least this large (zigzagged) marks its entry as jolted.
const JOLT: u32 = 32;

/// Which of a field's two models codes its residual: the jolted one if the entity is not
/// in the changed set (for the first field) or if an earlier field's residual in this entry
/// was large. Entities that start, stop or bounce miss their prediction in every field at
/// once; apart, the calm ones' models stay sharp.
fn jolted(field: usize, in_changed: bool, largest_so_far: u32) -> usize {
    usize::from(if field == 0 {
        !in_changed
    } else {
        largest_so_far >= JOLT
    })
}

/// What a section learns from before its first entry: an entity of the changed set as the
/// two older baselines would have predicted the newest, as a delta (its kind and zigzagged
/// residuals). Both ends hold all three, so the field models start out knowing roughly how
/// predictable this world is.
pub(crate) type Lesson = (u8, [u32; MAX_FIELDS]);

/// Most lessons a section learns from: a sample is enough to set the models' odds.
pub(crate) const MAX_LESSONS: usize = 16;

/// The chance (in 1/2048) that an entry is the next changed entity, at a section's start.
const OTHER_START: u32 = 1792;
/// The chance (in 1/2048) that an entry the baseline holds is a delta, at a section's start.
const CREATED_START: u32 = 1984;

/// Updates a field model may count after the lessons: they give way quickly to what is coded.
const SETTLED: u16 = 2;

/// The lesson of one entity from its states in the three baselines, if all three are the
/// same kind.
pub(crate) fn lesson(
    schema: &Schema,
    b1: &EntityState,
    b2: &EntityState,
    b3: &EntityState,
    span: Span,
) -> Option<Lesson> {
    (b1.kind == b2.kind && b2.kind == b3.kind).then(|| {
        (
            b1.kind,
            Coded::delta(schema, 0, b1, b2, Some((b3, span)), None).values,
        )
    })
}

impl Clone for Models {
    fn clone(&self) -> Self {
        let mut copy = Self::default();
        copy.clone_from(self);
        copy
    }

    /// Copies into the existing buffers.
    fn clone_from(&mut self, source: &Self) {
        self.other = source.other;
        self.before = source.before;
        self.created = source.created;
        self.gap = source.gap;
        self.fields.clone_from(&source.fields);
    }
}

impl Models {
    /// Field models learn from `lessons` as if coding them, and the gap model from the gaps
    /// between the first indices of the changed set (an entity that starts to change lies
    /// about as far from its neighbours as changing ones lie from each other).
    fn learn(&mut self, schema: &Schema, lessons: &[Lesson], changed: &[u32]) {
        let mut prev = None;
        for &index in changed.iter().take(MAX_LESSONS) {
            self.gap.learn(super::wire::gap(prev, index));
            prev = Some(index);
        }
        self.gap.settle(SETTLED);
        if lessons.is_empty() {
            return;
        }
        for (kind, values) in lessons {
            let base = schema.slot_base(*kind);
            let n = schema.fields(*kind).map_or(0, <[_]>::len);
            let mut largest = 0;
            for (i, &v) in values.iter().enumerate().take(n) {
                let ctx = jolted(i, true, largest);
                if let Some(m) = self.fields.get_mut(base + i).and_then(|m| m.get_mut(ctx)) {
                    m.learn(v);
                }
                largest = largest.max(v);
            }
        }
        for m in self.fields.iter_mut().flatten() {
            m.settle(SETTLED);
        }
    }

    fn reset(&mut self, schema: &Schema) {
        // Most entries are the next changed entity again, and most are deltas.
        self.other = Model::leaning(OTHER_START, 2);
        self.before = Model::default();
        self.created = Model::leaning(CREATED_START, 2);
        self.gap = ValueModel::default();
        self.fields.clear();
        self.fields
            .resize(schema.field_slots(), [ValueModel::default(); 2]);
    }
}

/// Where the index walk stands: the next index it may name and the next changed one.
#[derive(Debug, Clone, Copy, Default)]
struct Walk {
    /// The smallest index the next entry may have.
    next: u32,
    /// Place in the changed set of the first changed index at or after `next`.
    changed_at: usize,
}

impl Walk {
    fn new(start: u32, changed: &[u32]) -> Self {
        Self {
            next: start,
            changed_at: changed.partition_point(|&i| i < start),
        }
    }
}

/// Bits spent, in 1/1024 bit, by what they were spent on.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    index: u64,
    passed_over: u64,
    delta: u64,
    created: u64,
    deltas: u32,
    created_count: u32,
}

impl Spent {
    fn bits(&self) -> PartBits {
        let bits = |c: u64| u32::try_from(c.div_ceil(1024)).unwrap_or(u32::MAX);
        PartBits {
            index_bits: bits(self.index),
            passed_over_bits: bits(self.passed_over),
            delta_bits: bits(self.delta),
            deltas: self.deltas,
            created_bits: bits(self.created),
            created: self.created_count,
        }
    }
}

/// Writes an entity section one entry at a time, so a sender can stop where a datagram is
/// full. Reuse it: a warm writer allocates nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct SectionWriter {
    enc: RangeEncoder,
    models: Models,
    walk: Walk,
    spent: Spent,
}

impl SectionWriter {
    /// Starts a section whose walk begins at index `start`. With a third baseline,
    /// `curved` has a bit for each kind whose linear fields are predicted along a curve.
    pub(crate) fn start(
        &mut self,
        schema: &Schema,
        start: u32,
        changed: &[u32],
        curved: Option<u32>,
        lessons: &[Lesson],
    ) {
        self.enc.clear();
        if let Some(curved) = curved {
            for kind in 0..schema.kinds().len().min(32) {
                self.enc.direct((curved >> kind) & 1, 1);
            }
        }
        self.models.reset(schema);
        self.models.learn(schema, lessons, changed);
        self.walk = Walk::new(start, changed);
        self.spent = Spent::default();
    }

    /// Copies this writer's whole state into `into`, reusing its buffers.
    pub(crate) fn save_to(&self, into: &mut Self) {
        self.enc.save_to(&mut into.enc);
        into.models.clone_from(&self.models);
        into.walk = self.walk;
        into.spent = self.spent;
    }

    /// Bytes the section would take at most, were it ended now.
    pub(crate) fn len_bound(&self) -> usize {
        self.enc.len_bound()
    }

    /// Codes one entry; entries must ascend, the first at or after `start`.
    pub(crate) fn push(&mut self, schema: &Schema, changed: &[u32], e: &Coded) {
        let Self {
            enc,
            models,
            walk,
            spent,
        } = self;
        // The index: a walk through the changed set.
        let mut in_changed = false;
        loop {
            let at = enc.cost();
            match changed.get(walk.changed_at).copied() {
                Some(c) if c == e.index => {
                    enc.bit(&mut models.other, false);
                    walk.changed_at += 1;
                    in_changed = true;
                    spent.index += enc.cost() - at;
                    break;
                }
                Some(c) if c < e.index => {
                    enc.bit(&mut models.other, true);
                    enc.bit(&mut models.before, false);
                    walk.changed_at += 1;
                    walk.next = c + 1;
                    spent.passed_over += enc.cost() - at;
                }
                Some(_) => {
                    enc.bit(&mut models.other, true);
                    enc.bit(&mut models.before, true);
                    enc.value(&mut models.gap, e.index - walk.next);
                    spent.index += enc.cost() - at;
                    break;
                }
                None => {
                    enc.value(&mut models.gap, e.index - walk.next);
                    spent.index += enc.cost() - at;
                    break;
                }
            }
        }
        walk.next = e.index + 1;
        // The entry.
        let at = enc.cost();
        if e.held {
            enc.bit(&mut models.created, e.created);
        }
        let specs = schema.fields(e.kind).unwrap_or(&[]);
        if e.created {
            enc.direct(u32::from(e.kind), schema.kind_bits());
            for (spec, &v) in specs.iter().zip(&e.values) {
                enc.direct(v, u32::from(spec.bits));
            }
            spent.created += enc.cost() - at;
            spent.created_count += 1;
        } else {
            let base = schema.slot_base(e.kind);
            let mut largest = 0;
            for (i, &v) in e.values.iter().enumerate().take(specs.len()) {
                let ctx = jolted(i, in_changed, largest);
                if let Some(m) = models.fields.get_mut(base + i).and_then(|m| m.get_mut(ctx)) {
                    enc.value(m, v);
                }
                largest = largest.max(v);
            }
            spent.delta += enc.cost() - at;
            spent.deltas += 1;
        }
    }

    /// Ends the section: its bytes and what they were spent on.
    pub(crate) fn finish(&mut self) -> (&[u8], PartBits) {
        let bits = self.spent.bits();
        (self.enc.finish(), bits)
    }
}

/// Reads an entity section, one decision at a time, for `wire::read_body` to resolve
/// against the baselines.
#[derive(Debug)]
pub(crate) struct SectionReader<'a> {
    dec: RangeDecoder<'a>,
    walk: Walk,
    /// Whether the last index read was the next changed one.
    in_changed: bool,
    /// A bit per kind whose linear fields are predicted along a curve.
    curved: u32,
    /// The largest residual of the entry so far.
    largest: u32,
}

impl<'a> SectionReader<'a> {
    /// Starts reading; `curve` says whether the part names a third baseline (and so
    /// whether the section starts with a bit per kind saying which kinds use it).
    pub(crate) fn new(
        mut dec: RangeDecoder<'a>,
        models: &mut Models,
        schema: &Schema,
        start: u32,
        changed: &[u32],
        curve: bool,
        lessons: &[Lesson],
    ) -> Self {
        let mut curved = 0;
        if curve {
            for kind in 0..schema.kinds().len().min(32) {
                curved |= dec.direct(1) << kind;
            }
        }
        models.reset(schema);
        models.learn(schema, lessons, changed);
        Self {
            dec,
            walk: Walk::new(start, changed),
            curved,
            in_changed: false,
            largest: 0,
        }
    }

    /// The next entry's index.
    pub(crate) fn index(
        &mut self,
        models: &mut Models,
        changed: &[u32],
    ) -> Result<u32, SnapshotError> {
        let walk = &mut self.walk;
        self.in_changed = false;
        self.largest = 0;
        let index = loop {
            let Some(c) = changed.get(walk.changed_at).copied() else {
                break at_gap(walk.next, self.dec.value(&mut models.gap)?, u32::MAX)?;
            };
            if !self.dec.bit(&mut models.other) {
                walk.changed_at += 1;
                self.in_changed = true;
                break c;
            }
            if !self.dec.bit(&mut models.before) {
                walk.changed_at += 1;
                walk.next = c + 1;
                continue;
            }
            break at_gap(walk.next, self.dec.value(&mut models.gap)?, c)?;
        };
        walk.next = index + 1;
        Ok(index)
    }

    /// Whether the entry is created: read when the baseline holds its index, else it must be.
    pub(crate) fn created(&mut self, models: &mut Models, held: bool) -> bool {
        !held || self.dec.bit(&mut models.created)
    }

    /// Whether entities of `kind` have their linear fields predicted along a curve.
    pub(crate) fn curved(&self, kind: u8) -> bool {
        kind < 32 && self.curved & (1 << kind) != 0
    }

    /// Whether the section ended where the part did (see [`RangeDecoder::ended_cleanly`]).
    pub(crate) fn ended_cleanly(&self) -> bool {
        self.dec.ended_cleanly()
    }

    /// `n` bits at even odds (a created entry's kind and fields).
    pub(crate) fn direct(&mut self, n: u32) -> u32 {
        self.dec.direct(n)
    }

    /// A delta entry's zigzagged residual for field `field` (slot `slot`); fields are read
    /// in order.
    pub(crate) fn residual(
        &mut self,
        models: &mut Models,
        field: usize,
        slot: usize,
    ) -> Result<u32, SnapshotError> {
        let ctx = jolted(field, self.in_changed, self.largest);
        let v = match models.fields.get_mut(slot).and_then(|m| m.get_mut(ctx)) {
            Some(m) => self.dec.value(m)?,
            None => return Err(SnapshotError::UnknownKind(slot as u64)),
        };
        self.largest = self.largest.max(v);
        Ok(v)
    }
}

/// The index `gap` past `next`, which must be below `limit` (the next changed index) and
/// [`MAX_INDEX`].
fn at_gap(next: u32, gap: u32, limit: u32) -> Result<u32, SnapshotError> {
    let index = u64::from(next) + u64::from(gap);
    if index >= u64::from(limit) || index > u64::from(MAX_INDEX) {
        return Err(SnapshotError::BadIndex(index));
    }
    Ok(index as u32)
}
