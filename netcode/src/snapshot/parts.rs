//! Splitting a snapshot into parts: the bounds a part's size is planned with, the smallest
//! datagram that always holds one, and where each part's entries end.

use crate::bits::exp_golomb_len;
use crate::schema::{FieldSpec, Schema};
use crate::tick::Tick;

use super::sender::SendError;
use super::wire::{
    Coded, Extras, Feedback, Header, KTable, MAX_INDEX, MAX_K, PartBits, extras_bits, gap,
    header_bits, ktable_bits,
};

/// Most parts one snapshot may have (parts `0..=63`).
pub const MAX_PARTS: u32 = 64;

/// Bits a part spends besides its extras and entries, at most: the header of the last
/// part a snapshot may have (baselines up to `window_ticks` ago), the entry count, the
/// index coding's mode and order, and a k table for every kind. An upper bound of what
/// the sender counts when it splits a snapshot.
pub(super) fn part_overhead_bits(schema: &Schema, window_ticks: u32, entries: usize) -> u32 {
    let header = Header {
        tick: Tick::new(0),
        part: MAX_PARTS - 1,
        last: false,
        baseline_ago: window_ticks.max(1),
        predictor_ago: window_ticks,
    };
    let all_kinds = (1u32 << schema.kinds().len()) - 1;
    header_bits(&header)
        + exp_golomb_len(u32::try_from(entries).unwrap_or(u32::MAX), 0)
        + 5
        + ktable_bits(schema, all_kinds)
}

/// Bits of one entry at most, as the sender counts it when splitting: the largest index
/// gap, the created bit, and the larger of a created body and a delta with the worst
/// residuals of the kind.
pub(super) fn max_entry_bits(schema: &Schema) -> u32 {
    let body = |fields: &[FieldSpec]| {
        let created = schema.kind_bits() + fields.iter().map(|s| u32::from(s.bits)).sum::<u32>();
        let delta: u32 = fields
            .iter()
            .map(|s| {
                // A residual lies within ±2^bits, so its zigzag below 2^(bits+1).
                let worst =
                    u32::try_from((1u64 << (u32::from(s.bits) + 1)) - 1).unwrap_or(u32::MAX);
                (0..=MAX_K)
                    .map(|k| exp_golomb_len(worst, k))
                    .max()
                    .unwrap_or(0)
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
    exp_golomb_len(MAX_INDEX, 0) + 1 + largest
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
    let bits = part_overhead_bits(schema, window_ticks, MAX_INDEX as usize + 1)
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

/// Where each part's entries end in `chosen` (into `part_ends`): as many as fit each part
/// by the sender's count (an upper bound of what the writer spends), at most [`MAX_PARTS`]
/// parts. Returns how many of `chosen` the parts carry.
///
/// # Errors
/// [`SendError::DatagramTooSmall`] if a part cannot hold its header (and, past part 0,
/// one entry).
pub(super) fn split(
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

/// Adds one part's bit accounting to a snapshot's.
pub(super) fn add_bits(total: &mut PartBits, part: &PartBits) {
    total.index_bits += part.index_bits;
    total.mask_zero_bits += part.mask_zero_bits;
    total.delta_bits += part.delta_bits;
    total.deltas += part.deltas;
    total.created_bits += part.created_bits;
    total.created += part.created;
}
