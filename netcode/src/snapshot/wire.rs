//! The bit layout of one snapshot part: writing and reading.
//!
//! One snapshot is one or more parts, each a datagram that decodes on its own against the
//! baselines it names. The layout, field by field, is specified in `docs/protocol.md`; this
//! file is the one implementation of it.

use crate::bits::{BitError, BitReader, BitWriter, exp_golomb_len, unzigzag, zigzag};
use crate::schema::{EntityState, FieldSpec, MAX_FIELDS, MAX_KINDS, Schema};
use crate::tick::Tick;

use super::predict::{EntityPredictor, Span, apply, residual};

/// First byte of a snapshot-part datagram.
pub const SNAPSHOT_TAG: u8 = 0x01;
/// Largest entity index on the wire.
pub const MAX_INDEX: u32 = (1 << 24) - 1;
/// Width of an Exp-Golomb order in a header.
const K_BITS: u32 = 4;
/// Largest Exp-Golomb order a header may choose.
pub(super) const MAX_K: u32 = (1 << K_BITS) - 1;

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
    /// A count larger than the part could possibly hold.
    #[error("count {0} exceeds what the part can hold")]
    BadCount(u64),
    /// An index mask whose set bits disagree with the entry count.
    #[error("index mask does not match the entry count")]
    MaskMismatch,
    /// Non-zero bits, or whole bytes, after the last entry.
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
    pub kind: u8,
    pub values: [u32; MAX_FIELDS],
}

impl Coded {
    /// Codes `current` as created (no usable baseline).
    pub(crate) fn created(schema: &Schema, index: u32, current: &EntityState) -> Self {
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
            kind: current.kind,
            values,
        }
    }

    /// Codes `current` against `base` (same kind), predicting from `older` when it is the
    /// same kind too.
    pub(crate) fn delta(
        schema: &Schema,
        index: u32,
        current: &EntityState,
        base: &EntityState,
        older: Option<(&EntityState, Span)>,
    ) -> Self {
        let older = older
            .filter(|(o, _)| o.kind == base.kind)
            .map(|(o, span)| (&o.fields, span));
        let mut values = [0; MAX_FIELDS];
        let specs = fields(schema, base.kind);
        let mut predictor = EntityPredictor::default();
        for (i, spec) in specs.iter().enumerate() {
            let (Some(v), Some(&c)) = (values.get_mut(i), current.fields.get(i)) else {
                break;
            };
            let predicted = predictor.field(specs, i, &base.fields, older, &current.fields);
            *v = zigzag(residual(spec, c, predicted));
        }
        Self {
            index,
            created: false,
            kind: base.kind,
            values,
        }
    }

    /// Bits of the body (after the index and the created bit).
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

/// The Exp-Golomb order of every field slot (kinds × fields), chosen per snapshot.
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

/// Bits of the k table for a part whose deltas use `kinds_present` (a bit per kind).
pub(crate) fn ktable_bits(schema: &Schema, kinds_present: u32) -> u32 {
    let mut bits = schema.kinds().len() as u32;
    for (kind, spec) in schema.kinds().iter().enumerate() {
        if kinds_present & (1 << kind) != 0 {
            bits += K_BITS * spec.fields.len() as u32;
        }
    }
    bits
}

pub(super) fn gap(prev: Option<u32>, index: u32) -> u32 {
    prev.map_or(index, |p| index.wrapping_sub(p).wrapping_sub(1))
}

/// How a part codes its entry indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexMode {
    /// Each index as the Exp-Golomb(k) gap from the previous one.
    Gaps(u32),
    /// A bitmap from the first index to the last.
    Mask,
}

/// The cheaper index coding for `indices` (ascending), with its cost in bits.
fn choose_index_mode(indices: &[u32]) -> (IndexMode, u32) {
    let (Some(&first), Some(&last)) = (indices.first(), indices.last()) else {
        return (IndexMode::Gaps(0), 0);
    };
    let mut best = (
        IndexMode::Mask,
        1 + exp_golomb_len(first, 0) + exp_golomb_len(last - first, 0) + (last - first),
    );
    for k in 0..=MAX_K {
        let mut prev = None;
        let mut cost = 1 + K_BITS;
        for &i in indices {
            cost += exp_golomb_len(gap(prev, i), k);
            prev = Some(i);
        }
        if cost < best.1 {
            best = (IndexMode::Gaps(k), cost);
        }
    }
    best
}

/// Statistics of one written part, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartBits {
    /// Bits spent on entity indices.
    pub index_bits: u32,
    /// Entities the index coding skipped over (mask zeros), i.e. unchanged ones it paid for.
    pub mask_zero_bits: u32,
    /// Bits of delta entries' bodies and created bits.
    pub delta_bits: u32,
    /// Delta entries written.
    pub deltas: u32,
    /// Bits of created entries' bodies and created bits.
    pub created_bits: u32,
    /// Created entries written.
    pub created: u32,
}

/// Writes one part. `entries` must be ascending by index.
pub(crate) fn write_part(
    w: &mut BitWriter,
    schema: &Schema,
    header: &Header,
    extras: Option<&Extras<'_>>,
    entries: &[Coded],
    k: &KTable,
    indices: &mut Vec<u32>,
) -> PartBits {
    write_head(w, schema, header, extras);
    write_entries(w, schema, header, entries, k, indices)
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

/// Writes the entity section (count, index coding, k table, entries). It depends only on
/// the entries, the orders and whether there is a baseline, so clients that get the same
/// entities against the same baselines can share its bits.
pub(crate) fn write_entries(
    w: &mut BitWriter,
    schema: &Schema,
    header: &Header,
    entries: &[Coded],
    k: &KTable,
    indices: &mut Vec<u32>,
) -> PartBits {
    let mut stats = PartBits::default();
    w.exp_golomb(entries.len() as u32, 0);
    if entries.is_empty() {
        return stats;
    }
    indices.clear();
    indices.extend(entries.iter().map(|e| e.index));
    let (mode, cost) = choose_index_mode(indices);
    stats.index_bits = cost;
    match mode {
        IndexMode::Gaps(k) => {
            w.bit(false);
            w.bits(u64::from(k), K_BITS);
        }
        IndexMode::Mask => {
            w.bit(true);
            let (first, last) = (
                indices.first().copied().unwrap_or(0),
                indices.last().copied().unwrap_or(0),
            );
            w.exp_golomb(first, 0);
            w.exp_golomb(last - first, 0);
            let mut members = indices.iter().skip(1).peekable();
            for i in first + 1..=last {
                let hit = members.next_if_eq(&&i).is_some();
                stats.mask_zero_bits += u32::from(!hit);
                w.bit(hit);
            }
        }
    }
    if header.baseline_ago > 0 {
        let present = entries
            .iter()
            .filter(|e| !e.created)
            .fold(0u32, |m, e| m | (1 << e.kind));
        for (kind, spec) in schema.kinds().iter().enumerate() {
            let here = present & (1 << kind) != 0;
            w.bit(here);
            if here {
                let base = schema.slot_base(kind as u8);
                for i in 0..spec.fields.len() {
                    w.bits(u64::from(k.get(base + i)), K_BITS);
                }
            }
        }
    }
    let mut prev = None;
    for e in entries {
        if let IndexMode::Gaps(k) = mode {
            w.exp_golomb(gap(prev, e.index), k);
        }
        prev = Some(e.index);
        let start = w.bit_len();
        w.bit(e.created);
        let specs = fields(schema, e.kind);
        if e.created {
            w.bits(u64::from(e.kind), schema.kind_bits());
            for (spec, &v) in specs.iter().zip(&e.values) {
                w.bits(u64::from(v), u32::from(spec.bits));
            }
        } else {
            let base = schema.slot_base(e.kind);
            for (i, &v) in e.values.iter().enumerate().take(specs.len()) {
                w.exp_golomb(v, k.get(base + i));
            }
        }
        let bits = (w.bit_len() - start) as u32;
        if e.created {
            stats.created += 1;
            stats.created_bits += bits;
        } else {
            stats.deltas += 1;
            stats.delta_bits += bits;
        }
    }
    stats
}

/// A part's contents after reading, resolved against its baselines. Buffers are reused.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecodedPart {
    pub feedback: Option<Feedback>,
    pub own: Option<[i32; MAX_FIELDS]>,
    pub removals: Vec<u32>,
    /// Entities this part sets, ascending by index, with their full state.
    pub entries: Vec<(u32, EntityState)>,
    indices: Vec<u32>,
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
    Ok((
        Header {
            tick,
            part,
            last,
            baseline_ago,
            predictor_ago,
        },
        r,
    ))
}

/// Reads the rest of a part. `base` and `older` are the snapshots the header names (sorted by
/// index), `None` when it names none.
pub(crate) fn read_body(
    mut r: BitReader<'_>,
    schema: &Schema,
    header: &Header,
    base: Option<&[(u32, EntityState)]>,
    older: Option<&[(u32, EntityState)]>,
    out: &mut DecodedPart,
) -> Result<(), SnapshotError> {
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
        let count = bounded_count(&mut r)?;
        let mut prev = None;
        for _ in 0..count {
            let index = next_index(prev, r.exp_golomb(0)?)?;
            out.removals.push(index);
            prev = Some(index);
        }
    }
    let count = bounded_count(&mut r)?;
    if count == 0 {
        return finish(&r);
    }
    let mode = if r.bit()? {
        IndexMode::Mask
    } else {
        IndexMode::Gaps(r.bits(K_BITS)? as u32)
    };
    out.indices.clear();
    if mode == IndexMode::Mask {
        let first = r.exp_golomb(0)?;
        let span = r.exp_golomb(0)?;
        if u64::from(first) + u64::from(span) > u64::from(MAX_INDEX)
            || span as usize > r.remaining()
        {
            return Err(SnapshotError::BadIndex(u64::from(first) + u64::from(span)));
        }
        out.indices.push(first);
        for i in first + 1..=first + span {
            if r.bit()? {
                out.indices.push(i);
            }
        }
        if out.indices.len() != count || out.indices.last() != Some(&(first + span)) {
            return Err(SnapshotError::MaskMismatch);
        }
    }
    let mut k = KTable::default();
    if header.baseline_ago > 0 {
        for (kind, spec) in schema.kinds().iter().enumerate() {
            if r.bit()? {
                let base = schema.slot_base(kind as u8);
                for i in 0..spec.fields.len() {
                    if let Some(slot) = k.k.get_mut(base + i) {
                        *slot = r.bits(K_BITS)? as u8;
                    }
                }
            }
        }
    }
    let span = header.span();
    let mut prev = None;
    // Entries come in ascending index order, so lookups in the baselines move forward:
    // galloping from the last hit touches a few neighbouring cache lines instead of a
    // binary search's worth of cold ones.
    let mut base = base.map(Cursor::new);
    let mut older = older.map(Cursor::new);
    for n in 0..count {
        let index = match mode {
            IndexMode::Gaps(k) => next_index(prev, r.exp_golomb(k)?)?,
            IndexMode::Mask => out
                .indices
                .get(n)
                .copied()
                .ok_or(SnapshotError::MaskMismatch)?,
        };
        prev = Some(index);
        let state = if r.bit()? {
            let kind = r.bits(schema.kind_bits())?;
            let specs = schema
                .fields(kind as u8)
                .ok_or(SnapshotError::UnknownKind(kind))?;
            let mut state = EntityState {
                kind: kind as u8,
                fields: [0; MAX_FIELDS],
            };
            for (slot, spec) in state.fields.iter_mut().zip(specs) {
                *slot = (i64::from(spec.min) + r.bits(u32::from(spec.bits))? as i64) as i32;
            }
            state
        } else {
            let b = base
                .as_mut()
                .and_then(|b| b.seek(index))
                .ok_or(SnapshotError::DeltaWithoutBaseline(index))?;
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
            let mut predictor = EntityPredictor::default();
            for (i, spec) in specs.iter().enumerate() {
                let res = unzigzag(r.exp_golomb(k.get(slot_base + i))?);
                // Fields before `i` are decoded already: what a rotation's frame needs.
                let predicted = predictor.field(specs, i, &b.fields, older, &state.fields);
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
        out.entries.push((index, state));
    }
    finish(&r)
}

/// An entity count, refused when it exceeds the bits left (each entry takes at least one).
fn bounded_count(r: &mut BitReader<'_>) -> Result<usize, SnapshotError> {
    let count = r.exp_golomb(0)?;
    if count as usize > r.remaining() {
        return Err(SnapshotError::BadCount(u64::from(count)));
    }
    Ok(count as usize)
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

/// The padding after the last entry must be under a byte and all zeros.
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
