//! The layout of one snapshot part: writing and reading.
//!
//! One snapshot is one or more parts, each a datagram that decodes on its own against the
//! baselines it names. A part is a bit-packed head (header, part 0's extras, the entry count)
//! and a range-coded entity section (`section`). The layout, field by field, is specified in
//! `docs/protocol.md`; this file and `section` are the one implementation of it.

use crate::bits::{BitError, BitReader, BitWriter, exp_golomb_len, unzigzag, zigzag};
use crate::range_coder::RangeDecoder;
use crate::schema::{EntityState, FieldSpec, MAX_FIELDS, MAX_KINDS, Schema};
use crate::tick::Tick;

use super::changed_set;
use super::predict::{EntityPredictor, Span, apply, residual};
use super::section::{self, Lesson, Models, SectionReader};

/// First byte of a snapshot-part datagram.
pub const SNAPSHOT_TAG: u8 = 0x01;
/// Largest entity index on the wire.
pub const MAX_INDEX: u32 = (1 << 24) - 1;
/// Largest Exp-Golomb order the sender's size estimate considers.
pub(super) const MAX_K: u32 = 15;

/// A snapshot part that cannot be used. Every variant drops the one datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bits ran out or held an impossible code.
    #[error(transparent)]
    Bits(#[from] BitError),
    /// The first byte is not [`SNAPSHOT_TAG`].
    #[error("not a snapshot part (type byte {0:#04x})")]
    WrongType(u8),
    /// A created entity names a kind the schema does not have.
    #[error("unknown entity kind {0}")]
    UnknownKind(u64),
    /// An entity index above [`MAX_INDEX`] or not ascending.
    #[error("bad entity index {0}")]
    BadIndex(u64),
    /// A delta for an entity the baseline does not hold.
    #[error("delta for entity {0}, which the baseline does not hold")]
    DeltaWithoutBaseline(u32),
    /// The part is coded against a snapshot this client no longer (or never) held.
    #[error("baseline {0} is not held")]
    MissingBaseline(Tick),
    /// A reconstructed value falls outside its field.
    #[error("value out of range for field {field} of kind {kind}")]
    OutOfRange {
        /// The entity's kind.
        kind: u8,
        /// The field's place in the kind.
        field: u8,
    },
    /// A baseline offset below zero.
    #[error("impossible baseline offset {0}")]
    BadBaseline(i64),
    /// A count larger than the part could possibly hold.
    #[error("count {0} exceeds what the part can hold")]
    BadCount(u64),
    /// The entity section did not end where the datagram did (cut short, or other bytes
    /// after it).
    #[error("the entity section does not end where the part does")]
    SectionEnd,
    /// Non-zero bits, or whole bytes, after a part without entities.
    #[error("trailing data after the last entry")]
    TrailingData,
}

/// What the server tells one client about its own inputs, carried in part 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feedback {
    /// The newest input tick the server has received from this client (in time or late);
    /// ahead of the snapshot's tick when inputs arrive early, as they should.
    pub newest_input: Option<Tick>,
    /// Inputs that arrived after their tick had run (cumulative, this connection).
    pub inputs_late: u32,
    /// Ticks run with no input from this client, repeating the last one (cumulative).
    pub inputs_missing: u32,
}

/// The fixed header of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub tick: Tick,
    pub part: u32,
    pub last: bool,
    /// `S − b1` in ticks; 0 = no baseline.
    pub baseline_ago: u32,
    /// `b1 − b2` in ticks; 0 = no predictor.
    pub predictor_ago: u32,
    /// `b2 − b3` in ticks; 0 = no third baseline (no curved prediction).
    pub curve_ago: u32,
}

impl Header {
    pub(crate) fn baseline(&self) -> Option<Tick> {
        (self.baseline_ago > 0).then(|| self.tick.sub(self.baseline_ago))
    }

    pub(crate) fn predictor(&self) -> Option<Tick> {
        self.baseline()
            .filter(|_| self.predictor_ago > 0)
            .map(|b| b.sub(self.predictor_ago))
    }

    /// The third baseline, which bends the prediction of linear fields.
    pub(crate) fn curve(&self) -> Option<Tick> {
        self.predictor()
            .filter(|_| self.curve_ago > 0)
            .map(|b| b.sub(self.curve_ago))
    }

    /// How the older two baselines predict the newest, for a section's lessons: present
    /// when all three are named.
    pub(crate) fn lesson_span(&self) -> Option<Span> {
        (self.baseline_ago > 0 && self.predictor_ago > 0 && self.curve_ago > 0).then_some(Span {
            ahead: self.predictor_ago,
            between: self.curve_ago,
        })
    }

    pub(crate) fn span(&self) -> Option<Span> {
        (self.baseline_ago > 0 && self.predictor_ago > 0).then_some(Span {
            ahead: self.baseline_ago,
            between: self.predictor_ago,
        })
    }
}

/// One entity ready to write: absolute values if created, zigzagged residuals if a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Coded {
    pub index: u32,
    pub created: bool,
    /// Whether the baseline holds this index (else the entry must be created and says
    /// nothing more about it).
    pub held: bool,
    pub kind: u8,
    pub values: [u32; MAX_FIELDS],
}

impl Coded {
    /// Codes `current` as created (no usable baseline; `held` if the baseline holds another
    /// entity at this index).
    pub(crate) fn created(schema: &Schema, index: u32, current: &EntityState, held: bool) -> Self {
        let mut values = [0; MAX_FIELDS];
        for ((v, spec), cur) in values
            .iter_mut()
            .zip(fields(schema, current.kind))
            .zip(current.fields)
        {
            *v = (i64::from(cur) - i64::from(spec.min)) as u32;
        }
        Self {
            index,
            created: true,
            held,
            kind: current.kind,
            values,
        }
    }

    /// Codes `current` against `base` (same kind), predicting from `older` when it is the
    /// same kind too, and bending linear fields' predictions with `oldest` (a third
    /// baseline and its ticks before `older`) when that is the same kind as well.
    pub(crate) fn delta(
        schema: &Schema,
        index: u32,
        current: &EntityState,
        base: &EntityState,
        older: Option<(&EntityState, Span)>,
        oldest: Option<(&EntityState, u32)>,
    ) -> Self {
        let older = older
            .filter(|(o, _)| o.kind == base.kind)
            .map(|(o, span)| (&o.fields, span));
        let oldest = oldest
            .filter(|(o, _)| o.kind == base.kind && older.is_some())
            .map(|(o, between3)| (&o.fields, between3));
        let mut values = [0; MAX_FIELDS];
        let specs = fields(schema, base.kind);
        let mut predictor = EntityPredictor::default();
        for (i, spec) in specs.iter().enumerate() {
            let (Some(v), Some(&c)) = (values.get_mut(i), current.fields.get(i)) else {
                break;
            };
            let predicted = predictor.field(specs, i, &base.fields, older, oldest, &current.fields);
            *v = zigzag(residual(spec, c, predicted));
        }
        Self {
            index,
            created: false,
            held: true,
            kind: base.kind,
            values,
        }
    }

    /// Estimated bits of the body (after the index and the created flag): what it would
    /// cost with the Exp-Golomb orders `k`, which the range coder usually beats. The budget
    /// is planned with it; parts are cut by what the coder really spends.
    pub(crate) fn body_bits(&self, schema: &Schema, k: &KTable) -> u32 {
        let specs = fields(schema, self.kind);
        if self.created {
            schema.kind_bits() + specs.iter().map(|s| u32::from(s.bits)).sum::<u32>()
        } else {
            let base = schema.slot_base(self.kind);
            (0..specs.len())
                .map(|i| exp_golomb_len(self.values.get(i).copied().unwrap_or(0), k.get(base + i)))
                .sum()
        }
    }
}

fn fields(schema: &Schema, kind: u8) -> &[FieldSpec] {
    schema.fields(kind).unwrap_or(&[])
}

/// An Exp-Golomb order for every field slot (kinds × fields), fitted to one snapshot's
/// residuals: the sender's estimate of what an entry costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KTable {
    k: [u8; MAX_KINDS * MAX_FIELDS],
}

impl Default for KTable {
    fn default() -> Self {
        Self {
            k: [0; MAX_KINDS * MAX_FIELDS],
        }
    }
}

impl KTable {
    pub(crate) fn get(&self, slot: usize) -> u32 {
        u32::from(self.k.get(slot).copied().unwrap_or(0))
    }

    /// The orders that minimise the total size of `entries`' deltas.
    ///
    /// Values are bucketed by bit width; within a bucket the cost of an order is taken at
    /// the bucket's smallest value, which is exact or one bit short — close enough to choose
    /// well, and the writer counts real sizes.
    pub(crate) fn fit(schema: &Schema, entries: impl Iterator<Item = Coded>) -> Self {
        const WIDTHS: usize = 33;
        let slots = schema.field_slots().min(MAX_KINDS * MAX_FIELDS);
        let mut widths = [[0u32; WIDTHS]; MAX_KINDS * MAX_FIELDS];
        for e in entries.filter(|e| !e.created) {
            let base = schema.slot_base(e.kind);
            for (i, &v) in e
                .values
                .iter()
                .enumerate()
                .take(fields(schema, e.kind).len())
            {
                if let Some(bucket) = widths
                    .get_mut(base + i)
                    .and_then(|w| w.get_mut((32 - v.leading_zeros()) as usize))
                {
                    *bucket += 1;
                }
            }
        }
        let mut table = Self::default();
        for (slot, histogram) in widths.iter().enumerate().take(slots) {
            let mut best = (u64::MAX, 0u32);
            for k in 0..=MAX_K {
                let cost: u64 = histogram
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(width, n)| {
                        let smallest = if width == 0 { 0 } else { 1u32 << (width - 1) };
                        u64::from(*n) * u64::from(exp_golomb_len(smallest, k))
                    })
                    .sum();
                if cost < best.0 {
                    best = (cost, k);
                }
            }
            if let Some(k) = table.k.get_mut(slot) {
                *k = best.1 as u8;
            }
        }
        table
    }
}

/// What part 0 carries besides entities.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extras<'a> {
    pub feedback: Option<Feedback>,
    pub own: Option<&'a [i32]>,
    pub removals: &'a [u32],
}

/// Bits of a header (excluding extras and entries).
pub(crate) fn header_bits(h: &Header) -> u32 {
    8 + 16
        + exp_golomb_len(h.part, 0)
        + 1
        + exp_golomb_len(h.baseline_ago, 0)
        + if h.baseline_ago > 0 {
            exp_golomb_len(h.predictor_ago, 0)
        } else {
            0
        }
        + if h.baseline_ago > 0 && h.predictor_ago > 0 {
            exp_golomb_len(curve_code(h), 0)
        } else {
            0
        }
}

/// `curve_ago` as written: `zz(curve_ago − predictor_ago)`, usually the same spacing.
fn curve_code(h: &Header) -> u32 {
    let diff = i64::from(h.curve_ago) - i64::from(h.predictor_ago);
    zigzag(diff.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

/// Bits of part 0's extras.
pub(crate) fn extras_bits(schema: &Schema, x: &Extras<'_>, tick: Tick) -> u32 {
    let mut bits = 2;
    if let Some(f) = x.feedback {
        bits += 1 + exp_golomb_len(f.inputs_late, 0) + exp_golomb_len(f.inputs_missing, 0);
        if let Some(t) = f.newest_input {
            bits += exp_golomb_len(zigzag(t.since(tick)), 0);
        }
    }
    if x.own.is_some() {
        bits += schema.own().iter().map(|s| u32::from(s.bits)).sum::<u32>();
    }
    bits += exp_golomb_len(x.removals.len() as u32, 0);
    let mut prev = None;
    for &r in x.removals {
        bits += exp_golomb_len(gap(prev, r), 0);
        prev = Some(r);
    }
    bits
}

pub(super) fn gap(prev: Option<u32>, index: u32) -> u32 {
    prev.map_or(index, |p| index.wrapping_sub(p).wrapping_sub(1))
}

/// Statistics of one written part, for benchmarks. Range-coded bits are counted as the
/// information they carry (what each decision cost), rounded up per part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartBits {
    /// Bits spent locating the entries (the index walk, less what `passed_over_bits` counts).
    pub index_bits: u32,
    /// Bits the index walk spent passing over entities of the changed set that did not
    /// change this time: what unchanged entities cost.
    pub passed_over_bits: u32,
    /// Bits of delta entries' bodies and created flags.
    pub delta_bits: u32,
    /// Delta entries written.
    pub deltas: u32,
    /// Bits of created entries' bodies and created flags.
    pub created_bits: u32,
    /// Created entries written.
    pub created: u32,
}

/// Writes the header and, for part 0, the extras: everything before the entity section.
pub(crate) fn write_head(
    w: &mut BitWriter,
    schema: &Schema,
    header: &Header,
    extras: Option<&Extras<'_>>,
) {
    w.bits(u64::from(SNAPSHOT_TAG), 8);
    w.bits(u64::from(header.tick.get() & 0xFFFF), 16);
    w.exp_golomb(header.part, 0);
    w.bit(header.last);
    w.exp_golomb(header.baseline_ago, 0);
    if header.baseline_ago > 0 {
        w.exp_golomb(header.predictor_ago, 0);
        if header.predictor_ago > 0 {
            w.exp_golomb(curve_code(header), 0);
        }
    }
    if let Some(x) = extras {
        w.bit(x.feedback.is_some());
        if let Some(f) = x.feedback {
            w.bit(f.newest_input.is_some());
            if let Some(t) = f.newest_input {
                w.exp_golomb(zigzag(t.since(header.tick)), 0);
            }
            w.exp_golomb(f.inputs_late, 0);
            w.exp_golomb(f.inputs_missing, 0);
        }
        w.bit(x.own.is_some());
        if let Some(own) = x.own {
            for (spec, &v) in schema.own().iter().zip(own) {
                w.bits(
                    (i64::from(spec.fit(v)) - i64::from(spec.min)) as u64,
                    u32::from(spec.bits),
                );
            }
        }
        w.exp_golomb(x.removals.len() as u32, 0);
        let mut prev = None;
        for &r in x.removals {
            w.exp_golomb(gap(prev, r), 0);
            prev = Some(r);
        }
    }
}

/// Writes an entity section: the entry count (as its difference from the size of the
/// changed set, `changed`, which it is usually close to) and, if there are entries, the index
/// the walk starts at and the range-coded entries (`coded`, from a [`SectionWriter`]). It
/// depends only on the entries and the baselines, so clients that get the same entities
/// against the same baselines can share its bits.
///
/// [`SectionWriter`]: super::section::SectionWriter
pub(crate) fn write_section(
    w: &mut BitWriter,
    count: usize,
    changed: usize,
    start: u32,
    coded: &[u8],
) {
    w.exp_golomb(count_code(count, changed), 0);
    if count > 0 {
        w.exp_golomb(start, 0);
        w.append(coded, coded.len() * 8);
    }
}

/// The count as written: `zz(count − changed)`.
fn count_code(count: usize, changed: usize) -> u32 {
    let diff = i64::try_from(count).unwrap_or(i64::MAX) - i64::try_from(changed).unwrap_or(0);
    zigzag(diff.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

/// Bits of an entity section's count and start (before its range-coded bytes), at most,
/// for any count up to `count`.
pub(crate) fn section_head_bits(count: usize, changed: usize, start: u32) -> u32 {
    exp_golomb_len(count_code(count, changed), 0).max(exp_golomb_len(count_code(0, changed), 0))
        + if count > 0 {
            exp_golomb_len(start, 0)
        } else {
            0
        }
}

/// A part's contents after reading, resolved against its baselines. Buffers are reused.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecodedPart {
    pub feedback: Option<Feedback>,
    pub own: Option<[i32; MAX_FIELDS]>,
    pub removals: Vec<u32>,
    /// Entities this part sets, ascending by index, with their full state.
    pub entries: Vec<(u32, EntityState)>,
    /// The changed set between the part's baselines.
    changed: Vec<u32>,
    /// What the section's models learn before its first entry.
    lessons: Vec<Lesson>,
    models: Models,
}

/// Reads a part's header; `reference` is a tick near the snapshot's (the newest one known),
/// from which the 16 low bits on the wire are widened.
pub(crate) fn read_header<'a>(
    bytes: &'a [u8],
    reference: Tick,
) -> Result<(Header, BitReader<'a>), SnapshotError> {
    let mut r = BitReader::new(bytes);
    let tag = r.bits(8)? as u8;
    if tag != SNAPSHOT_TAG {
        return Err(SnapshotError::WrongType(tag));
    }
    let low = r.bits(16)? as u16;
    let offset = low.wrapping_sub(reference.get() as u16) as i16;
    let tick = reference.add(offset as i32 as u32);
    let part = r.exp_golomb(0)?;
    let last = r.bit()?;
    let baseline_ago = r.exp_golomb(0)?;
    let predictor_ago = if baseline_ago > 0 {
        r.exp_golomb(0)?
    } else {
        0
    };
    let curve_ago = if predictor_ago > 0 {
        let ago = i64::from(predictor_ago) + i64::from(unzigzag(r.exp_golomb(0)?));
        u32::try_from(ago).map_err(|_| SnapshotError::BadBaseline(ago))?
    } else {
        0
    };
    Ok((
        Header {
            tick,
            part,
            last,
            baseline_ago,
            predictor_ago,
            curve_ago,
        },
        r,
    ))
}

/// The snapshots a part is coded against, sorted by index: `B1`, `B2` and `B3` as its
/// header names them (`None` where it names none).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Baselines<'a> {
    pub base: Option<&'a [(u32, EntityState)]>,
    pub older: Option<&'a [(u32, EntityState)]>,
    pub oldest: Option<&'a [(u32, EntityState)]>,
}

/// Reads the rest of a part against the baselines its header names.
pub(crate) fn read_body(
    mut r: BitReader<'_>,
    schema: &Schema,
    header: &Header,
    baselines: Baselines<'_>,
    out: &mut DecodedPart,
) -> Result<(), SnapshotError> {
    let Baselines {
        base,
        older,
        oldest,
    } = baselines;
    out.feedback = None;
    out.own = None;
    out.removals.clear();
    out.entries.clear();
    if header.part == 0 {
        if r.bit()? {
            let newest_input = if r.bit()? {
                let lead = unzigzag(r.exp_golomb(0)?);
                Some(header.tick.add(lead as u32))
            } else {
                None
            };
            out.feedback = Some(Feedback {
                newest_input,
                inputs_late: r.exp_golomb(0)?,
                inputs_missing: r.exp_golomb(0)?,
            });
        }
        if r.bit()? {
            let mut own = [0; MAX_FIELDS];
            for (slot, spec) in own.iter_mut().zip(schema.own()) {
                *slot = (i64::from(spec.min) + r.bits(u32::from(spec.bits))? as i64) as i32;
            }
            out.own = Some(own);
        }
        let count = r.exp_golomb(0)?;
        if count as usize > r.remaining() {
            return Err(SnapshotError::BadCount(u64::from(count)));
        }
        let mut prev = None;
        for _ in 0..count {
            let index = next_index(prev, r.exp_golomb(0)?)?;
            out.removals.push(index);
            prev = Some(index);
        }
    }
    match (base, older) {
        (Some(b1), Some(b2)) if header.predictor_ago > 0 => {
            changed_set::between_snapshots(schema, b1, b2, &mut out.changed);
        }
        _ => out.changed.clear(),
    }
    let count = i64::from(out.changed.len() as u32) + i64::from(unzigzag(r.exp_golomb(0)?));
    let count = u32::try_from(count).map_err(|_| SnapshotError::BadCount(count as u64))?;
    if count == 0 {
        return finish(&r);
    }
    // A range-coded decision costs at least 1/94 of a bit (a model at its most certain).
    if u64::from(count) > (r.remaining() as u64 + 64) * 94 || count > MAX_INDEX {
        return Err(SnapshotError::BadCount(u64::from(count)));
    }
    let start = r.exp_golomb(0)?;
    out.lessons.clear();
    if let (Some(b1), Some(b2), Some(b3), Some(span)) = (base, older, oldest, header.lesson_span())
    {
        let (mut c1, mut c2, mut c3) = (Cursor::new(b1), Cursor::new(b2), Cursor::new(b3));
        for &index in &out.changed {
            if out.lessons.len() >= section::MAX_LESSONS {
                break;
            }
            if let (Some(s1), Some(s2), Some(s3)) = (c1.seek(index), c2.seek(index), c3.seek(index))
            {
                out.lessons
                    .extend(section::lesson(schema, s1, s2, s3, span));
            }
        }
    }
    let DecodedPart {
        entries,
        changed,
        lessons,
        models,
        ..
    } = out;
    let mut section = SectionReader::new(
        RangeDecoder::new(r),
        models,
        schema,
        start,
        changed,
        header.curve_ago > 0,
        lessons,
    );
    let span = header.span();
    // Entries come in ascending index order, so lookups in the baselines move forward:
    // galloping from the last hit touches a few neighbouring cache lines instead of a
    // binary search's worth of cold ones.
    let mut base = base.map(Cursor::new);
    let mut older = older.map(Cursor::new);
    let mut oldest = oldest.map(Cursor::new);
    for _ in 0..count {
        let index = section.index(models, changed)?;
        let b = base.as_mut().and_then(|b| b.seek(index));
        let state = if section.created(models, b.is_some()) {
            let kind = section.direct(schema.kind_bits());
            let specs = schema
                .fields(kind as u8)
                .ok_or_else(|| SnapshotError::UnknownKind(u64::from(kind)))?;
            let mut state = EntityState {
                kind: kind as u8,
                fields: [0; MAX_FIELDS],
            };
            for (slot, spec) in state.fields.iter_mut().zip(specs) {
                *slot =
                    (i64::from(spec.min) + i64::from(section.direct(u32::from(spec.bits)))) as i32;
            }
            state
        } else {
            let b = b.ok_or(SnapshotError::DeltaWithoutBaseline(index))?;
            let o = older
                .as_mut()
                .and_then(|o| o.seek(index))
                .filter(|o| o.kind == b.kind);
            let specs = fields(schema, b.kind);
            let slot_base = schema.slot_base(b.kind);
            let mut state = EntityState {
                kind: b.kind,
                fields: [0; MAX_FIELDS],
            };
            let older = o.zip(span).map(|(o, s)| (&o.fields, s));
            let o3 = oldest
                .as_mut()
                .filter(|_| older.is_some() && section.curved(b.kind))
                .and_then(|o| o.seek(index))
                .filter(|o| o.kind == b.kind)
                .map(|o| (&o.fields, header.curve_ago));
            let mut predictor = EntityPredictor::default();
            for (i, spec) in specs.iter().enumerate() {
                let res = unzigzag(section.residual(models, i, slot_base + i)?);
                // Fields before `i` are decoded already: what a rotation's frame needs.
                let predicted = predictor.field(specs, i, &b.fields, older, o3, &state.fields);
                let value = apply(spec, predicted, res).ok_or(SnapshotError::OutOfRange {
                    kind: b.kind,
                    field: i as u8,
                })?;
                if let Some(slot) = state.fields.get_mut(i) {
                    *slot = value;
                }
            }
            state
        };
        entries.push((index, state));
    }
    if !section.ended_cleanly() {
        return Err(SnapshotError::SectionEnd);
    }
    Ok(())
}

fn next_index(prev: Option<u32>, gap: u32) -> Result<u32, SnapshotError> {
    let index = match prev {
        None => u64::from(gap),
        Some(p) => u64::from(p) + u64::from(gap) + 1,
    };
    u32::try_from(index)
        .ok()
        .filter(|i| *i <= MAX_INDEX)
        .ok_or(SnapshotError::BadIndex(index))
}

/// A part without entities ends at its count: the padding after it must be under a byte and
/// all zeros.
fn finish(r: &BitReader<'_>) -> Result<(), SnapshotError> {
    let left = r.remaining();
    let mut rest = r.clone();
    if left >= 8 || !rest.bits(left as u32).is_ok_and(|v| v == 0) {
        return Err(SnapshotError::TrailingData);
    }
    Ok(())
}

/// Looks up ascending indices in a snapshot sorted by index, each search starting where the
/// last one ended.
struct Cursor<'a> {
    entries: &'a [(u32, EntityState)],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(entries: &'a [(u32, EntityState)]) -> Self {
        Self { entries, at: 0 }
    }

    /// The state of entity `index`; indices before the last one sought are searched from
    /// the start.
    fn seek(&mut self, index: u32) -> Option<&'a EntityState> {
        let entries = self.entries;
        if entries.get(self.at).is_some_and(|(i, _)| *i > index) {
            self.at = 0;
        }
        // Indices are unique and ascending, so `index` is at most `index - i` places past an
        // entry holding `i`, and exactly there where the indices run without gaps (as
        // entity indices mostly do): one probe, one cache line, instead of a gallop's few.
        if let Some(ahead) = entries
            .get(self.at)
            .and_then(|(i, _)| index.checked_sub(*i))
        {
            let guess = self.at + ahead as usize;
            if let Some((_, state)) = entries.get(guess).filter(|(i, _)| *i == index) {
                self.at = guess;
                return Some(state);
            }
        }
        // Gallop: double the step until past `index`, then search that stretch.
        let mut step = 1;
        while entries.get(self.at + step).is_some_and(|(i, _)| *i < index) {
            self.at += step;
            step *= 2;
        }
        let end = (self.at + step + 1).min(entries.len());
        let stretch = entries.get(self.at..end)?;
        match stretch.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(k) => {
                self.at += k;
                entries.get(self.at).map(|(_, s)| s)
            }
            Err(k) => {
                self.at += k.saturating_sub(1);
                None
            }
        }
    }
}

/// The state of entity `index` in a snapshot sorted by index.
pub(crate) fn find(snapshot: &[(u32, EntityState)], index: u32) -> Option<&EntityState> {
    snapshot
        .binary_search_by_key(&index, |(i, _)| *i)
        .ok()
        .and_then(|at| snapshot.get(at))
        .map(|(_, s)| s)
}

#[cfg(test)]
mod cursor_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_cursor_finds_what_a_binary_search_finds(
            mut held in proptest::collection::vec(0u32..400, 0..120),
            mut sought in proptest::collection::vec(0u32..420, 0..60),
            restart in 0u32..420,
        ) {
            held.sort_unstable();
            held.dedup();
            sought.sort_unstable();
            sought.push(restart); // out of order: searched from the start
            let entries: Vec<(u32, EntityState)> = held
                .iter()
                .map(|&i| (i, EntityState { kind: (i % 3) as u8, fields: [i as i32; MAX_FIELDS] }))
                .collect();
            let mut cursor = Cursor::new(&entries);
            for index in sought {
                prop_assert_eq!(cursor.seek(index), find(&entries, index));
            }
        }
    }
}
