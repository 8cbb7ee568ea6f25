//! Splitting a snapshot into parts: the bounds a part's size is planned with, the smallest
//! datagram that always holds one, and where each part's entries end.

use crate::bits::{BitWriter, exp_golomb_len};
use crate::schema::{FieldSpec, Schema};
use crate::tick::Tick;

use super::section::{Lesson, SectionWriter};
use super::sender::SendError;
use super::wire::{
    Coded, Extras, Feedback, Header, MAX_INDEX, PartBits, extras_bits, gap, header_bits,
    section_head_bits, write_section,
};

/// Most parts one snapshot may have (parts `0..=63`).
pub const MAX_PARTS: u32 = 64;

/// Bytes a range-coded section may take beyond the information coded in it: what
/// [`SectionWriter::len_bound`] adds for the bytes not yet settled.
const SECTION_END_BYTES: u32 = 6;

/// Bits a part spends besides its extras and entries, at most: the header of the last
/// part a snapshot may have (baselines up to `window_ticks` ago), the entry count and the
/// walk's start. An upper bound of what the sender counts when it splits a snapshot.
pub(super) fn part_overhead_bits(window_ticks: u32, entries: usize) -> u32 {
    let header = Header {
        tick: Tick::new(0),
        part: MAX_PARTS - 1,
        last: false,
        baseline_ago: window_ticks.max(1),
        predictor_ago: window_ticks,
        curve_ago: window_ticks,
    };
    header_bits(&header) + section_head_bits(entries.max(1), entries, MAX_INDEX)
}

/// Bits of the first entry of a part at most (its section's end included): the walk to it
/// (it is at the walk's start, so at most a passed decision, a before decision and a gap of
/// zero), the created flag, and the larger of a created body and a delta with the worst
/// residuals of the kind. Every decision of a fresh section costs one bit, so a residual
/// costs what order-0 Exp-Golomb would.
pub(super) fn max_entry_bits(schema: &Schema) -> u32 {
    let body = |fields: &[FieldSpec]| {
        let created = schema.kind_bits() + fields.iter().map(|s| u32::from(s.bits)).sum::<u32>();
        let delta: u32 = fields
            .iter()
            .map(|s| {
                // A residual lies within ±2^bits, so its zigzag below 2^(bits+1).
                let worst =
                    u32::try_from((1u64 << (u32::from(s.bits) + 1)) - 1).unwrap_or(u32::MAX);
                exp_golomb_len(worst, 0)
            })
            .sum();
        created.max(delta)
    };
    let largest = schema
        .kinds()
        .iter()
        .map(|spec| body(&spec.fields))
        .max()
        .unwrap_or(0);
    // The section's curve bits (a bit per kind), the walk, the created flag, the body.
    schema.kinds().len() as u32 + 3 + 1 + largest + 8 * SECTION_END_BYTES
}

/// Bits of part 0's extras at most when it carries no removals: feedback with the largest
/// counts and the client's own fields.
pub(super) fn max_extras_bits(schema: &Schema) -> u32 {
    let worst = Extras {
        feedback: Some(Feedback {
            newest_input: Some(Tick::new(u32::MAX / 2)),
            inputs_late: u32::MAX,
            inputs_missing: u32::MAX,
        }),
        own: Some(&[]),
        removals: &[],
    };
    extras_bits(schema, &worst, Tick::new(0))
}

/// The smallest datagram (bytes) that always holds a snapshot part for `schema`: a part 0
/// with the largest extras and one entry of the largest kind, with baselines up to
/// `window_ticks` old. A client whose QUIC datagram limit is below it cannot be served.
#[must_use]
pub fn min_datagram_bytes(schema: &Schema, window_ticks: u32) -> usize {
    let bits = part_overhead_bits(window_ticks, MAX_INDEX as usize + 1)
        + max_extras_bits(schema)
        + max_entry_bits(schema);
    bits.div_ceil(8) as usize
}

/// How many of `x.removals` (a prefix) part 0 can carry with its other extras in
/// `room_bits`.
pub(super) fn removals_fitting(
    schema: &Schema,
    x: &Extras<'_>,
    tick: Tick,
    room_bits: u32,
) -> usize {
    let none = Extras {
        removals: &[],
        ..*x
    };
    // The count is written for the prefix; the whole list's count bounds it.
    let mut bits = extras_bits(schema, &none, tick) - 1
        + exp_golomb_len(u32::try_from(x.removals.len()).unwrap_or(u32::MAX), 0);
    let mut prev = None;
    for (n, &r) in x.removals.iter().enumerate() {
        bits += exp_golomb_len(gap(prev, r), 0);
        if bits > room_bits {
            return n;
        }
        prev = Some(r);
    }
    x.removals.len()
}

/// What every part of one snapshot is written with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Code<'a> {
    pub(super) schema: &'a Schema,
    /// Part 0's header (the others differ in their number and `last`).
    pub(super) header: &'a Header,
    /// Part 0's extras.
    pub(super) extras: &'a Extras<'a>,
    /// The changed set between the baselines, which the index walk follows.
    pub(super) changed: &'a [u32],
    /// With a third baseline, a bit per kind predicted along a curve.
    pub(super) curved: Option<u32>,
    /// What each section's models learn before its first entry.
    pub(super) lessons: &'a [Lesson],
    /// The most bits a part may have.
    pub(super) max_bits: u32,
}

/// A snapshot's entity sections, one per part, and the coder that writes them.
#[derive(Debug, Default)]
pub(super) struct Sections {
    /// Each part's section (count, start, coded entries) and what its bits were spent on.
    pub(super) parts: Vec<(BitWriter, PartBits)>,
    /// Where each part's entries end in the chosen entries.
    pub(super) ends: Vec<usize>,
    pub(super) writer: SectionWriter,
    /// A group's whole entity section as one part, before the group keeps it.
    pub(super) shared: BitWriter,
    /// The writer as it was before the last entry, near the end of a part.
    checkpoint: SectionWriter,
}

/// Within this many bytes of a part's end, the writer is saved before each entry.
const NEAR_END_BYTES: usize = 96;

impl Sections {
    /// Codes `chosen` (ascending) into as many parts as it takes, each filled until the next
    /// entry would overflow its datagram, at most [`MAX_PARTS`]. Returns how many of `chosen`
    /// the parts carry.
    ///
    /// # Errors
    /// [`SendError::DatagramTooSmall`] if a part cannot hold its header (and, past part 0,
    /// one entry).
    pub(super) fn split(&mut self, chosen: &[Coded], code: &Code<'_>) -> Result<usize, SendError> {
        let Code {
            schema,
            header: header_base,
            extras,
            changed,
            curved,
            lessons,
            max_bits,
        } = *code;
        let too_small = || SendError::DatagramTooSmall((max_bits / 8) as usize);
        self.ends.clear();
        let mut start = 0;
        loop {
            let part = self.ends.len();
            let mut head = header_bits(&Header {
                part: part as u32,
                ..*header_base
            });
            if part == 0 {
                head += extras_bits(schema, extras, header_base.tick);
            }
            // Part 0's walk starts at index 0; a later part's at its first entry.
            let first = match chosen.get(start) {
                Some(c) if part > 0 => c.index,
                _ => 0,
            };
            let fixed = head + section_head_bits(chosen.len() - start, changed.len(), first);
            if fixed > max_bits {
                return Err(too_small());
            }
            let room = ((max_bits - fixed) / 8) as usize;
            let w = &mut self.writer;
            w.start(schema, first, changed, curved, lessons);
            let mut end = start;
            while let Some(c) = chosen.get(end) {
                // Near the end of the room, keep a copy to go back to: the coder cannot take
                // an entry back.
                let saved = w.len_bound() + NEAR_END_BYTES > room;
                if saved {
                    w.save_to(&mut self.checkpoint);
                }
                w.push(schema, changed, c);
                if w.len_bound() > room {
                    if saved {
                        std::mem::swap(w, &mut self.checkpoint);
                    } else {
                        // An entry bigger than the margin: code the part again without it.
                        w.start(schema, first, changed, curved, lessons);
                        for c in chosen.get(start..end).unwrap_or_default() {
                            w.push(schema, changed, c);
                        }
                    }
                    break;
                }
                end += 1;
            }
            // Part 0 may hold only its extras; any other part holds at least one entry.
            if end == start && start < chosen.len() && part > 0 {
                return Err(too_small());
            }
            if self.parts.len() <= part {
                self.parts.push(Default::default());
            }
            if let Some((section, bits)) = self.parts.get_mut(part) {
                let (coded, spent) = w.finish();
                section.clear();
                write_section(section, end - start, changed.len(), first, coded);
                *bits = spent;
            }
            self.ends.push(end);
            if end >= chosen.len() || part as u32 + 1 >= MAX_PARTS {
                return Ok(end);
            }
            start = end;
        }
    }
}

/// Adds one part's bit accounting to a snapshot's.
pub(super) fn add_bits(total: &mut PartBits, part: &PartBits) {
    total.index_bits += part.index_bits;
    total.passed_over_bits += part.passed_over_bits;
    total.delta_bits += part.delta_bits;
    total.deltas += part.deltas;
    total.created_bits += part.created_bits;
    total.created += part.created;
}
