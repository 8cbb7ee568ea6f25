//! Bit-level writing and reading, and the integer codes snapshots use.
//!
//! Bits are written most-significant first into bytes, first byte first; a message that does
//! not fill its last byte is padded with zero bits. The reader checks every read against the
//! end of its input and reports [`BitError`] instead of panicking, whatever the bytes.
//!
//! Codes:
//! - fixed width: `n` bits, unsigned;
//! - Exp-Golomb of order `k` ([`BitWriter::exp_golomb`]): small values cost few bits, large
//!   ones grow logarithmically; `k` trades the cost of 0 against the cost of large values;
//! - zigzag ([`zigzag`]): maps signed residuals 0, −1, 1, −2 … to 0, 1, 2, 3 … for Exp-Golomb.

/// Longest run of leading zeros an Exp-Golomb code may have; longer input is malformed.
const MAX_EG_PREFIX: u32 = 32;

/// Reading ran off the end of the input or met an impossible code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitError {
    /// The input ended inside a value.
    #[error("input ended after {at_bit} bits while reading {wanted} more")]
    UnexpectedEnd {
        /// Bits consumed before the failed read.
        at_bit: usize,
        /// Bits the read needed.
        wanted: u32,
    },
    /// An Exp-Golomb code with more than 32 leading zeros (or a value beyond `u32`).
    #[error("Exp-Golomb code too long at bit {at_bit}")]
    CodeTooLong {
        /// Bit position of the code.
        at_bit: usize,
    },
}

/// Appends bits to a byte buffer it owns; reuse it with [`clear`](Self::clear).
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    partial: u32,
}

impl BitWriter {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `bytes` bytes.
    #[must_use]
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            partial: 0,
        }
    }

    /// Empties the writer, keeping its allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.partial = 0;
    }

    /// Bits written so far.
    #[must_use]
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8
            - if self.partial == 0 {
                0
            } else {
                (8 - self.partial) as usize
            }
    }

    /// Bytes the message occupies (bits rounded up).
    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The bytes written, the last one zero-padded.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Cuts the message back to `bits` bits (to undo a tentative write).
    pub fn truncate_bits(&mut self, bits: usize) {
        if bits >= self.bit_len() {
            return;
        }
        self.bytes.truncate(bits.div_ceil(8));
        self.partial = (bits % 8) as u32;
        if let Some(last) = self.bytes.last_mut().filter(|_| self.partial != 0) {
            *last &= 0xFFu8 << (8 - self.partial);
        }
    }

    /// Writes the low `n` bits of `value`, most significant first (`n` ≤ 64).
    pub fn bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut left = n;
        while left > 0 {
            if self.partial == 0 {
                self.bytes.push(0);
            }
            let room = 8 - self.partial;
            let take = room.min(left);
            let chunk = ((value >> (left - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (room - take);
            }
            self.partial = (self.partial + take) % 8;
            left -= take;
        }
    }

    /// Writes one bit.
    pub fn bit(&mut self, value: bool) {
        self.bits(u64::from(value), 1);
    }

    /// Writes `value` as Exp-Golomb of order `k` (k ≤ 31).
    pub fn exp_golomb(&mut self, value: u32, k: u32) {
        let shifted = (u64::from(value) >> k) + 1;
        let width = 64 - shifted.leading_zeros(); // bits of `shifted`
        let total = 2 * width - 1 + k;
        if total <= 64 {
            // Leading zeros are implicit in a wider write of the same value.
            let low = u64::from(value) & ((1u64 << k) - 1);
            self.bits((shifted << k) | low, total);
        } else {
            self.bits(0, width - 1);
            self.bits(shifted, width);
            self.bits(u64::from(value), k);
        }
    }

    /// Appends the first `bits` bits of another writer's message.
    pub fn append(&mut self, other: &[u8], bits: usize) {
        // Whole bytes a byte at a time (a shared snapshot section is appended to every
        // client's datagram), then the last few bits.
        let whole = bits / 8;
        let bytes = other.get(..whole).unwrap_or(other);
        if self.partial == 0 {
            self.bytes.extend_from_slice(bytes);
        } else {
            let used = self.partial;
            for &b in bytes {
                if let Some(last) = self.bytes.last_mut() {
                    *last |= b >> used;
                }
                self.bytes.push(b << (8 - used));
            }
        }
        // The source holds at least `bits` bits by contract; a short one appends zeros.
        for _ in bytes.len()..whole {
            self.bits(0, 8);
        }
        let tail = (bits % 8) as u32;
        if tail > 0 {
            let last = other.get(whole).copied().unwrap_or(0);
            self.bits(u64::from(last >> (8 - tail)), tail);
        }
    }
}

/// The number of bits [`BitWriter::exp_golomb`] spends on `value` with order `k`.
#[must_use]
pub fn exp_golomb_len(value: u32, k: u32) -> u32 {
    let shifted = (u64::from(value) >> k) + 1;
    2 * (64 - shifted.leading_zeros()) - 1 + k
}

/// Maps a signed value to an unsigned one, small magnitudes to small codes.
#[must_use]
pub fn zigzag(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// The inverse of [`zigzag`].
#[must_use]
pub fn unzigzag(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// Reads bits from a byte slice, checking every read against the end.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bits consumed so far.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bits left to read (including any zero padding).
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }

    /// Reads `n` bits (≤ 64) as an unsigned value, most significant first.
    ///
    /// # Errors
    /// [`BitError::UnexpectedEnd`] if fewer than `n` bits remain.
    pub fn bits(&mut self, n: u32) -> Result<u64, BitError> {
        if n as usize > self.remaining() || n > 64 {
            return Err(BitError::UnexpectedEnd {
                at_bit: self.pos,
                wanted: n,
            });
        }
        let mut value = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes.get(self.pos / 8).copied().unwrap_or(0);
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(left);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            value = if take == 64 {
                chunk
            } else {
                (value << take) | chunk
            };
            self.pos += take as usize;
            left -= take;
        }
        Ok(value)
    }

    /// Reads one bit.
    ///
    /// # Errors
    /// [`BitError::UnexpectedEnd`] at the end of input.
    pub fn bit(&mut self) -> Result<bool, BitError> {
        Ok(self.bits(1)? == 1)
    }

    /// Reads an Exp-Golomb value of order `k`.
    ///
    /// # Errors
    /// [`BitError::UnexpectedEnd`] at the end of input, [`BitError::CodeTooLong`] for a
    /// prefix past 32 zeros or a value beyond `u32`.
    pub fn exp_golomb(&mut self, k: u32) -> Result<u32, BitError> {
        let at_bit = self.pos;
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > MAX_EG_PREFIX {
                return Err(BitError::CodeTooLong { at_bit });
            }
        }
        let rest = self.bits(zeros)?;
        let shifted = ((1u64 << zeros) | rest) - 1;
        let low = self.bits(k)?;
        let value = (shifted << k) | low;
        u32::try_from(value).map_err(|_| BitError::CodeTooLong { at_bit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_width_values_round_trip_across_byte_boundaries() {
        let mut w = BitWriter::new();
        w.bits(0b101, 3);
        w.bits(0xABCD, 16);
        w.bit(true);
        w.bits(u64::MAX, 64);
        assert_eq!(w.bit_len(), 84);
        assert_eq!(w.byte_len(), 11);
        let mut r = BitReader::new(w.as_bytes());
        assert_eq!(r.bits(3).unwrap(), 0b101);
        assert_eq!(r.bits(16).unwrap(), 0xABCD);
        assert!(r.bit().unwrap());
        assert_eq!(r.bits(64).unwrap(), u64::MAX);
        assert_eq!(r.remaining(), 4); // padding
        assert!(matches!(r.bits(5), Err(BitError::UnexpectedEnd { .. })));
    }

    #[test]
    fn exp_golomb_lengths_match_the_code() {
        // Order 0: 0 → "1", 1 → "010", 2 → "011", 3 → "00100".
        assert_eq!(exp_golomb_len(0, 0), 1);
        assert_eq!(exp_golomb_len(1, 0), 3);
        assert_eq!(exp_golomb_len(3, 0), 5);
        assert_eq!(exp_golomb_len(0, 3), 4);
        let mut w = BitWriter::new();
        w.exp_golomb(3, 0);
        assert_eq!(w.as_bytes(), &[0b0010_0000]);
        assert_eq!(exp_golomb_len(u32::MAX, 0), 65);
    }

    #[test]
    fn a_run_of_zeros_is_malformed_not_a_hang() {
        let zeros = [0u8; 16];
        assert!(matches!(
            BitReader::new(&zeros).exp_golomb(0),
            Err(BitError::CodeTooLong { .. })
        ));
        assert!(matches!(
            BitReader::new(&[0u8; 2]).exp_golomb(0),
            Err(BitError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn truncate_undoes_a_tentative_write() {
        let mut w = BitWriter::new();
        w.bits(0b1011, 4);
        let mark = w.bit_len();
        w.bits(0xFFFF, 13);
        w.truncate_bits(mark);
        w.bits(0b01, 2);
        assert_eq!(w.bit_len(), 6);
        assert_eq!(w.as_bytes(), &[0b1011_0100]);
    }

    proptest! {
        #[test]
        fn codes_round_trip_and_declared_sizes_hold(values in proptest::collection::vec((any::<u32>(), 0u32..12, any::<i32>()), 0..64)) {
            let mut w = BitWriter::new();
            let mut declared = 0usize;
            for &(v, k, s) in &values {
                w.exp_golomb(v, k);
                w.exp_golomb(zigzag(s), k);
                declared += (exp_golomb_len(v, k) + exp_golomb_len(zigzag(s), k)) as usize;
            }
            prop_assert_eq!(w.bit_len(), declared);
            let mut r = BitReader::new(w.as_bytes());
            for &(v, k, s) in &values {
                prop_assert_eq!(r.exp_golomb(k).unwrap(), v);
                prop_assert_eq!(unzigzag(r.exp_golomb(k).unwrap()), s);
            }
        }

        #[test]
        fn append_copies_bits_exactly(a in proptest::collection::vec(any::<u8>(), 0..40), a_bits in 0usize..320, prefix in 0u32..8) {
            let a_bits = a_bits.min(a.len() * 8);
            let mut w = BitWriter::new();
            w.bits(0, prefix);
            w.append(&a, a_bits);
            prop_assert_eq!(w.bit_len(), prefix as usize + a_bits);
            let mut r = BitReader::new(w.as_bytes());
            r.bits(prefix).unwrap();
            let mut src = BitReader::new(&a);
            for _ in 0..a_bits {
                prop_assert_eq!(r.bit().unwrap(), src.bit().unwrap());
            }
            // Padding stays zero: a decoder checks it.
            while let Ok(bit) = r.bit() {
                prop_assert!(!bit);
            }
        }

        #[test]
        fn append_of_a_short_source_appends_zeros(a in proptest::collection::vec(any::<u8>(), 0..8), extra in 1usize..40, prefix in 0u32..8) {
            let bits = a.len() * 8 + extra;
            let mut w = BitWriter::new();
            w.bits(0, prefix);
            w.append(&a, bits);
            prop_assert_eq!(w.bit_len(), prefix as usize + bits);
            let mut r = BitReader::new(w.as_bytes());
            r.bits(prefix).unwrap();
            let mut src = BitReader::new(&a);
            for _ in 0..a.len() * 8 {
                prop_assert_eq!(r.bit().unwrap(), src.bit().unwrap());
            }
            for _ in 0..extra {
                prop_assert!(!r.bit().unwrap());
            }
        }

        #[test]
        fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), k in 0u32..16) {
            let mut r = BitReader::new(&bytes);
            while r.exp_golomb(k).is_ok() {}
        }
    }
}
