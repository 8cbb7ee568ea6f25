//! Adaptive binary range coding: the entropy coder of a snapshot part's entity section.
//!
//! Every decision is one bit coded with the probability its *model* (an 11-bit estimate of
//! the chance of a 0) gives it, and the model then moves toward what was coded. A bit the model expects costs a fraction of a bit; a residual that is usually
//! zero costs almost nothing. The coder is LZMA's (a 32-bit range, carries resolved through
//! a cached byte), with two changes that save bytes on small datagrams: its always-zero
//! first byte is not written, and the end is cut as short as the interval allows, the reader
//! taking zero bytes past the end of its input. `docs/protocol.md` §6.4 specifies it.
//!
//! Models start at even odds at the start of every part and adapt within it, so a lost
//! datagram cannot put the two ends' models out of step.

use crate::bits::{BitError, BitReader};

/// Bits of a model's probability.
const PROB_BITS: u32 = 11;
/// A probability of one.
const PROB_ONE: u16 = 1 << PROB_BITS;
/// Where a model's probability is kept: never certain, so every bit stays codable.
const PROB_MIN: u16 = 31;
const PROB_MAX: u16 = PROB_ONE - 31;
/// The range is renormalised (a byte shifted out) below this.
const TOP: u32 = 1 << 24;
/// Longest unary prefix of a value (its bit width less one, up to 33 bits).
const MAX_PREFIX: usize = 32;
/// Bits coded at even odds in one step: the range (at least 2^24) split into 2^CHUNK parts.
const CHUNK: u32 = 16;
/// Most zero bytes cut from a stream's end (and so read past the end by a decoder).
pub(crate) const MAX_CUT_ZEROS: u32 = 4;

/// The adaptive estimate of the chance that the next bit in one context is a 0.
///
/// It learns fast, then settles: its first 2 updates move it a quarter of the way toward
/// the bit coded, the next 4 an eighth, the next 14 a sixteenth, every later one a
/// thirty-second. A section's models start afresh, so what they learn in its first few
/// entries is what pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Model {
    /// Chance of a 0, in 1/2048.
    p: u16,
    /// Updates so far (saturating).
    seen: u16,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            p: PROB_ONE / 2,
            seen: 0,
        }
    }
}

impl Model {
    /// A model that already leans: a chance of a 0 of `p` in 1/2048 (kept within its
    /// bounds), counted as updated `seen` times.
    pub(crate) fn leaning(p: u32, seen: u16) -> Self {
        Self {
            p: p.clamp(u32::from(PROB_MIN), u32::from(PROB_MAX)) as u16,
            seen,
        }
    }

    fn update(&mut self, bit: bool) {
        const SHIFT: [u8; 21] = [
            2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5,
        ];
        let shift = SHIFT.get(usize::from(self.seen)).copied().unwrap_or(5);
        self.seen = self.seen.saturating_add(1).min(20);
        if bit {
            self.p -= self.p >> shift;
        } else {
            self.p += (PROB_ONE - self.p) >> shift;
        }
        self.p = self.p.clamp(PROB_MIN, PROB_MAX);
    }
}

/// The cost in 1/1024 bit of coding a 0 with a model at `p`, for accounting: `-log2(p /
/// 2048) · 1024` at the middle of each stretch of 16 steps of `p`.
fn cost_table() -> &'static [u32; 129] {
    static TABLE: std::sync::OnceLock<[u32; 129]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 129];
        for (i, slot) in t.iter_mut().enumerate() {
            let p = (i * 16 + 8).min(usize::from(PROB_ONE)) as f64 / f64::from(PROB_ONE);
            *slot = (-p.log2() * 1024.0).round() as u32;
        }
        t
    })
}

/// Models for one kind of unsigned value, coded as an adaptive Exp-Golomb code: the bit
/// width of `v + 1` in unary, each step with its own model; the bit below the leading one
/// with a model per width; the rest at even odds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValueModel {
    prefix: [Model; MAX_PREFIX + 1],
    top: [Model; MAX_PREFIX + 1],
}

impl Default for ValueModel {
    fn default() -> Self {
        Self {
            prefix: [Model::default(); MAX_PREFIX + 1],
            top: [Model::default(); MAX_PREFIX + 1],
        }
    }
}

impl ValueModel {
    /// Adapts the models as coding `value` would, without coding it: how a section learns
    /// from data both ends hold before its first entry.
    pub(crate) fn learn(&mut self, value: u32) {
        self.modelled_bits(value, |m, bit| m.update(bit));
    }

    /// Passes each modelled decision of `value` (the unary steps of its bit width, the stop
    /// unless the width is the largest, the bit under the leading one) to `decide` with its
    /// model, in order; returns the bits below those, and how many, that go at even odds.
    fn modelled_bits(
        &mut self,
        value: u32,
        mut decide: impl FnMut(&mut Model, bool),
    ) -> (u32, u32) {
        let w = u64::from(value) + 1;
        let n = (63 - w.leading_zeros()) as usize;
        for m in self.prefix.iter_mut().take(n) {
            decide(m, true);
        }
        if n < MAX_PREFIX {
            if let Some(m) = self.prefix.get_mut(n) {
                decide(m, false);
            }
        }
        if n == 0 {
            return (0, 0);
        }
        if let Some(m) = self.top.get_mut(n) {
            decide(m, (w >> (n - 1)) & 1 == 1);
        }
        let rest = n as u32 - 1;
        ((w & ((1u64 << rest) - 1)) as u32, rest)
    }

    /// Counts every model as updated at most `seen` times, so what was learnt beforehand
    /// gives way quickly to what is coded.
    pub(crate) fn settle(&mut self, seen: u16) {
        for m in self.prefix.iter_mut().chain(self.top.iter_mut()) {
            m.seen = m.seen.min(seen);
        }
    }
}

/// Writes range-coded bits into a byte buffer it owns; reuse it with [`clear`](Self::clear).
#[derive(Debug, Clone)]
pub(crate) struct RangeEncoder {
    low: u64,
    range: u32,
    /// The byte waiting for a possible carry, and how many bytes (it and 0xFF bytes after
    /// it) wait with it.
    cache: u8,
    pending: u32,
    /// The first byte LZMA's coder would write is always zero: it is not written.
    first: bool,
    out: Vec<u8>,
    /// Information coded so far, in 1/1024 bit (for accounting).
    cost: u64,
    costs: &'static [u32; 129],
}

impl Default for RangeEncoder {
    fn default() -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            first: true,
            out: Vec::new(),
            cost: 0,
            costs: cost_table(),
        }
    }
}

impl RangeEncoder {
    /// Starts a new stream, keeping the buffer's allocation.
    pub(crate) fn clear(&mut self) {
        let out = std::mem::take(&mut self.out);
        *self = Self {
            out,
            ..Self::default()
        };
        self.out.clear();
    }

    /// Copies this encoder's whole state into `into`, reusing its buffer.
    pub(crate) fn save_to(&self, into: &mut Self) {
        into.low = self.low;
        into.range = self.range;
        into.cache = self.cache;
        into.pending = self.pending;
        into.first = self.first;
        into.out.clone_from(&self.out);
        into.cost = self.cost;
    }

    /// Information coded so far, in 1/1024 bit.
    pub(crate) fn cost(&self) -> u64 {
        self.cost
    }

    /// Bytes [`finish`](Self::finish) would leave at most, were the stream ended now.
    pub(crate) fn len_bound(&self) -> usize {
        self.out.len() + self.pending as usize + 4
    }

    /// Codes `bit` with `model`, then adapts the model.
    pub(crate) fn bit(&mut self, model: &mut Model, bit: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(model.p);
        let p = if bit { PROB_ONE - model.p } else { model.p };
        self.cost += u64::from(self.costs.get(usize::from(p >> 4)).copied().unwrap_or(0));
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        model.update(bit);
        self.normalize();
    }

    /// Codes the low `n` bits of `value` (most significant first) at even odds.
    pub(crate) fn direct(&mut self, value: u32, n: u32) {
        // In chunks of up to CHUNK bits, each one split of the range into 2^k equal parts.
        let mut left = n.min(32);
        while left > 0 {
            let k = left.min(CHUNK);
            left -= k;
            let chunk = (u64::from(value) >> left) & ((1u64 << k) - 1);
            self.range >>= k;
            self.low += chunk * u64::from(self.range);
            self.normalize();
        }
        self.cost += u64::from(n) * 1024;
    }

    /// Codes `value` with the adaptive Exp-Golomb code of `models`.
    pub(crate) fn value(&mut self, models: &mut ValueModel, value: u32) {
        let (rest, bits) = models.modelled_bits(value, |m, bit| self.bit(m, bit));
        self.direct(rest, bits);
    }

    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || self.low >> 32 != 0 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            loop {
                if self.first {
                    self.first = false;
                } else {
                    self.out.push(byte.wrapping_add(carry));
                }
                byte = 0xFF;
                self.pending -= 1;
                if self.pending == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    /// Ends the stream and returns its bytes: the value that decodes to every bit coded with
    /// the most trailing zeros, less up to [`MAX_CUT_ZEROS`] zero bytes at its end (the
    /// reader supplies them).
    pub(crate) fn finish(&mut self) -> &[u8] {
        // The value in [low, low + range) with the most trailing zero bits.
        let end = self.low + u64::from(self.range);
        for s in (0..=32).rev() {
            let mask = (1u64 << s) - 1;
            let candidate = (self.low + mask) & !mask;
            if candidate < end {
                self.low = candidate;
                break;
            }
        }
        for _ in 0..5 {
            self.shift_low();
        }
        for _ in 0..MAX_CUT_ZEROS {
            if self.out.last() != Some(&0) {
                break;
            }
            self.out.pop();
        }
        &self.out
    }
}

/// Reads range-coded bits from a bit reader's position to the end of its input, taking zero
/// bytes past the end.
#[derive(Debug, Clone)]
pub(crate) struct RangeDecoder<'a> {
    reader: BitReader<'a>,
    range: u32,
    code: u32,
    /// Bytes read wholly past the end of the input.
    past_end: u32,
}

impl<'a> RangeDecoder<'a> {
    /// Starts decoding at the reader's position.
    pub(crate) fn new(reader: BitReader<'a>) -> Self {
        let mut d = Self {
            reader,
            range: u32::MAX,
            code: 0,
            past_end: 0,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    /// Whether the stream ended where its input did: every byte read, and no more zeros
    /// read past the end than a writer cuts. A stream cut short or followed by other bytes
    /// mostly fails this (a range coder cannot always tell).
    pub(crate) fn ended_cleanly(&self) -> bool {
        self.reader.remaining() == 0 && self.past_end <= MAX_CUT_ZEROS
    }

    fn next_byte(&mut self) -> u8 {
        let left = self.reader.remaining().min(8) as u32;
        if left == 0 {
            self.past_end = self.past_end.saturating_add(1);
        }
        let bits = self.reader.bits(left).unwrap_or(0);
        (bits << (8 - left)) as u8
    }

    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.next_byte());
        }
    }

    /// Decodes one bit with `model`, then adapts the model.
    pub(crate) fn bit(&mut self, model: &mut Model) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(model.p);
        let bit = self.code >= bound;
        if bit {
            self.code -= bound;
            self.range -= bound;
        } else {
            self.range = bound;
        }
        model.update(bit);
        self.normalize();
        bit
    }

    /// Decodes `n` (≤ 32) bits coded at even odds.
    pub(crate) fn direct(&mut self, n: u32) -> u32 {
        let mut value = 0u64;
        let mut left = n.min(32);
        while left > 0 {
            let k = left.min(CHUNK);
            left -= k;
            self.range >>= k;
            // A malformed stream can hold a code past the last part: take the last.
            let chunk = (self.code / self.range).min((1 << k) - 1);
            self.code -= chunk * self.range;
            value = (value << k) | u64::from(chunk);
            self.normalize();
        }
        value as u32
    }

    /// Decodes a value coded with [`RangeEncoder::value`].
    ///
    /// # Errors
    /// [`BitError::CodeTooLong`] for a value beyond `u32`.
    pub(crate) fn value(&mut self, models: &mut ValueModel) -> Result<u32, BitError> {
        let mut n = 0;
        while n < MAX_PREFIX {
            let Some(m) = models.prefix.get_mut(n) else {
                break;
            };
            if !self.bit(m) {
                break;
            }
            n += 1;
        }
        let w = if n == 0 {
            1
        } else {
            let top = models.top.get_mut(n).is_some_and(|m| self.bit(m));
            let rest = n as u32 - 1;
            (1u64 << n) | (u64::from(top) << rest) | u64::from(self.direct(rest))
        };
        u32::try_from(w - 1).map_err(|_| BitError::CodeTooLong {
            at_bit: self.reader.position(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bits::BitWriter;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Bit(usize, bool),
        Direct(u32, u32),
        Value(usize, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..4, any::<bool>()).prop_map(|(m, b)| Op::Bit(m, b)),
            (0u32..=32).prop_flat_map(|n| {
                let max = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
                (0..=max).prop_map(move |v| Op::Direct(v, n))
            }),
            (0usize..3, prop_oneof![0u32..8, 0u32..1000, any::<u32>()])
                .prop_map(|(m, v)| Op::Value(m, v)),
        ]
    }

    fn encode(ops: &[Op], prefix_bits: u32) -> Vec<u8> {
        let mut e = RangeEncoder::default();
        let mut bits = [Model::default(); 4];
        let mut values = [ValueModel::default(); 3];
        for op in ops {
            match *op {
                Op::Bit(m, b) => e.bit(&mut bits[m], b),
                Op::Direct(v, n) => e.direct(v, n),
                Op::Value(m, v) => e.value(&mut values[m], v),
            }
        }
        let mut w = BitWriter::new();
        w.bits(0b1, prefix_bits);
        let section = e.finish().to_vec();
        w.append(&section, section.len() * 8);
        w.as_bytes().to_vec()
    }

    proptest! {
        #[test]
        fn what_is_coded_decodes_after_any_bit_offset(
            ops in proptest::collection::vec(op(), 0..200),
            prefix_bits in 1u32..16,
        ) {
            let bytes = encode(&ops, prefix_bits);
            let mut r = BitReader::new(&bytes);
            r.bits(prefix_bits).unwrap();
            let mut d = RangeDecoder::new(r);
            let mut bits = [Model::default(); 4];
            let mut values = [ValueModel::default(); 3];
            for op in &ops {
                match *op {
                    Op::Bit(m, b) => prop_assert_eq!(d.bit(&mut bits[m]), b),
                    Op::Direct(v, n) => prop_assert_eq!(d.direct(n), v),
                    Op::Value(m, v) => prop_assert_eq!(d.value(&mut values[m]).unwrap(), v),
                }
            }
            prop_assert!(d.ended_cleanly());
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = RangeDecoder::new(BitReader::new(&bytes));
            let mut m = Model::default();
            let mut v = ValueModel::default();
            for _ in 0..100 {
                d.bit(&mut m);
                let _ = d.value(&mut v);
                d.direct(32);
            }
        }
    }

    #[test]
    fn expected_bits_cost_a_fraction_of_a_bit() {
        let mut e = RangeEncoder::default();
        let mut m = Model::default();
        let mut v = ValueModel::default();
        for _ in 0..1000 {
            e.bit(&mut m, false);
            e.value(&mut v, 0);
        }
        let bytes = e.finish().len();
        // 2000 decisions that each cost 1 bit with a fixed code: adapted, about 0.01 each.
        assert!(bytes < 8, "{bytes} bytes");
    }

    #[test]
    fn an_empty_stream_is_no_bytes_and_accounting_matches_the_length() {
        let mut e = RangeEncoder::default();
        assert!(e.finish().is_empty());
        let mut e = RangeEncoder::default();
        let mut v = ValueModel::default();
        for i in 0..500u32 {
            e.value(&mut v, (i * 7919) % 37);
        }
        let cost_bytes = e.cost() as f64 / 1024.0 / 8.0;
        let len = e.finish().len() as f64;
        assert!(
            (len - cost_bytes).abs() < 3.0,
            "{len} bytes for {cost_bytes:.1} of information"
        );
    }
}
