//! The byte format of messages, in one place.
//!
//! Today the format is bincode 2 (serde) with its standard configuration: little-endian,
//! variable-length integers. bincode 2 is marked unmaintained (RUSTSEC-2025-0141), so nothing
//! outside this module names it; swapping the format (wincode, postcard, bitcode) touches
//! only this file.
//!
//! Decoding is safe on hostile input: any byte string decodes to a value or a
//! [`DecodeError`], never a panic. Messages longer than [`MAX_MESSAGE_BYTES`] are refused
//! before decoding, the decoder's allocation limit is that same figure, so a forged length
//! prefix cannot make it allocate more, and trailing bytes after a value are an error.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest message this codec encodes or decodes, in bytes.
///
/// Datagrams are far smaller (≤ 1200 bytes); this bounds control-stream messages.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_MESSAGE_BYTES>,
>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>();

/// A byte string that is not a valid message of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than any message may be.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Length of the input, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// A complete value was read but bytes were left over.
    #[error("{extra} trailing bytes after a complete message")]
    TrailingBytes {
        /// How many bytes were left, in bytes.
        extra: usize,
    },
    /// The bytes do not form a value of the expected type (truncated, bad tag, bad length…).
    #[error("malformed message: {reason}")]
    Malformed {
        /// What the decoder found wrong.
        reason: String,
    },
}

/// A value that could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded value would exceed [`MAX_MESSAGE_BYTES`].
    #[error("encoded message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Encoded length, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The value cannot be represented in the format (e.g. a map with non-serializable keys).
    #[error("cannot encode: {reason}")]
    Unsupported {
        /// What the encoder refused.
        reason: String,
    },
}

/// Appends the encoding of `value` to `buf`, returning the number of bytes written.
///
/// On error `buf` is left as it was.
///
/// # Errors
/// [`EncodeError::TooLong`] if the encoding exceeds [`MAX_MESSAGE_BYTES`];
/// [`EncodeError::Unsupported`] if the value cannot be represented.
pub fn encode_into<T: Serialize>(value: &T, buf: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let start = buf.len();
    let written = bincode::serde::encode_into_std_write(value, buf, CONFIG).map_err(|e| {
        EncodeError::Unsupported {
            reason: e.to_string(),
        }
    });
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            buf.truncate(start);
            return Err(e);
        }
    };
    if written > MAX_MESSAGE_BYTES {
        buf.truncate(start);
        return Err(EncodeError::TooLong {
            len: written,
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(written)
}

/// Encodes `value` into a new buffer.
///
/// # Errors
/// As [`encode_into`].
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::new();
    encode_into(value, &mut buf)?;
    Ok(buf)
}

/// Decodes exactly one value of type `T` from all of `bytes`.
///
/// # Errors
/// [`DecodeError::TooLong`], [`DecodeError::Malformed`] or [`DecodeError::TrailingBytes`];
/// never panics, whatever the input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLong {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, CONFIG).map_err(|e| {
        DecodeError::Malformed {
            reason: e.to_string(),
        }
    })?;
    match bytes.len().checked_sub(used) {
        Some(0) => Ok(value),
        Some(extra) => Err(DecodeError::TrailingBytes { extra }),
        None => Err(DecodeError::Malformed {
            reason: "decoder read past the end".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Hello { version: u16, name: String },
        Numbers(Vec<u32>),
        Empty,
    }

    #[test]
    fn round_trips() {
        for value in [
            Sample::Hello {
                version: 3,
                name: "ada".into(),
            },
            Sample::Numbers(vec![0, 1, u32::MAX]),
            Sample::Empty,
        ] {
            let bytes = encode(&value).unwrap();
            assert_eq!(decode::<Sample>(&bytes).unwrap(), value);
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&Sample::Empty).unwrap();
        bytes.push(0);
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn forged_length_does_not_allocate() {
        // Variant 1 (Numbers) followed by a varint length of u64::MAX.
        let bytes = [1u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(
            decode::<Sample>(&bytes),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn oversized_input_is_refused() {
        let bytes = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            decode::<Sample>(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn failed_encode_leaves_buffer_untouched() {
        let mut buf = vec![7u8; 3];
        let big = Sample::Numbers(vec![u32::MAX; MAX_MESSAGE_BYTES]);
        assert!(matches!(
            encode_into(&big, &mut buf),
            Err(EncodeError::TooLong { .. })
        ));
        assert_eq!(buf, vec![7u8; 3]);
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<Sample>(&bytes);
        }

        #[test]
        fn truncations_are_errors(name in ".{0,40}", cut in 0usize..64) {
            let bytes = encode(&Sample::Hello { version: 1, name }).unwrap();
            let cut = cut.min(bytes.len().saturating_sub(1));
            prop_assert!(decode::<Sample>(&bytes[..cut]).is_err());
        }
    }
}
