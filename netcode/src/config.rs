//! The error every configuration layer reports, and the range check that makes one.
//!
//! A designer reads these messages, so each names the key, the value and what is allowed.
//! Layers validate their own keys with names relative to their section; the layer that owns
//! the section prefixes it with [`ConfigError::in_section`].

use std::fmt::{Debug, Display};
use std::ops::RangeInclusive;

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside the range the setting allows.
    #[error("`{key}` = {value} is out of range: allowed {allowed}")]
    OutOfRange {
        /// The dotted key, e.g. `tick.tick_hz`.
        key: String,
        /// The value as given.
        value: String,
        /// The allowed range or set, as a person reads it.
        allowed: String,
    },
    /// A value that is in range on its own but breaks a rule (often one relating two keys).
    #[error("`{key}` = {value} is invalid: {reason}")]
    Invalid {
        /// The dotted key, e.g. `tick.snapshot_hz`.
        key: String,
        /// The value as given.
        value: String,
        /// Why it cannot be used, naming the other keys involved.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key this error is about.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::OutOfRange { key, .. } | Self::Invalid { key, .. } => key,
        }
    }

    /// The same error with its key placed under `section` (`max_speed` → `arena.max_speed`).
    #[must_use]
    pub fn in_section(mut self, section: &str) -> Self {
        match &mut self {
            Self::OutOfRange { key, .. } | Self::Invalid { key, .. } => {
                *key = format!("{section}.{key}");
            }
        }
        self
    }

    /// An [`Invalid`](Self::Invalid) error for `key` = `value`.
    pub fn invalid(key: &str, value: impl Display, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value` lies in `range`; NaN is never in range.
///
/// # Errors
/// [`ConfigError::OutOfRange`] naming `key`, the value and the range.
pub fn check_range<T>(key: &str, value: T, range: RangeInclusive<T>) -> Result<(), ConfigError>
where
    T: PartialOrd + Debug,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            key: key.to_owned(),
            value: format!("{value:?}"),
            allowed: format!("{range:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_errors_name_key_value_and_range() {
        let err = check_range("max_speed_mps", -1.5f32, 0.0..=50.0).unwrap_err();
        assert_eq!(err.key(), "max_speed_mps");
        let err = err.in_section("arena");
        assert_eq!(err.key(), "arena.max_speed_mps");
        assert_eq!(
            err.to_string(),
            "`arena.max_speed_mps` = -1.5 is out of range: allowed 0.0..=50.0"
        );
    }

    #[test]
    fn nan_and_infinity_are_out_of_range() {
        assert!(check_range("x", f32::NAN, 0.0..=1.0).is_err());
        assert!(check_range("x", f32::INFINITY, 0.0..=1.0).is_err());
        assert!(check_range("x", 1.0f32, 0.0..=1.0).is_ok());
    }
}
