//! What a player asks for in one tick.

use glam::Vec2;
use serde::{Deserialize, Serialize};

/// One tick of a player's controls.
///
/// Inputs come from the network, so the world never trusts them: [`PlayerInput::sanitized`]
/// turns any value (NaN, infinities, an over-long stick) into a usable one, and the world
/// sanitizes every input it is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlayerInput {
    /// Desired direction of motion; length at most 1 (full stick).
    pub movement: Vec2,
    /// Aim direction (radians, counter-clockwise from +x).
    pub aim_rad: f32,
    /// Whether the trigger is held this tick.
    pub fire: bool,
}

impl PlayerInput {
    /// Whether every field is already in range (finite, stick length ≤ 1).
    ///
    /// The server counts inputs that fail this check as malformed.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.movement.is_finite()
            && self.movement.length_squared() <= 1.0 + 1e-4
            && self.aim_rad.is_finite()
    }

    /// A copy with every field made usable: a non-finite stick becomes zero, a long one is
    /// scaled to length 1, a non-finite aim becomes 0 and any aim is wrapped into `-π..=π`.
    #[must_use]
    pub fn sanitized(self) -> Self {
        let movement = if self.movement.is_finite() {
            self.movement.clamp_length_max(1.0)
        } else {
            Vec2::ZERO
        };
        let aim_rad = if self.aim_rad.is_finite() {
            wrap_angle(self.aim_rad)
        } else {
            0.0
        };
        Self {
            movement,
            aim_rad,
            fire: self.fire,
        }
    }
}

/// `angle` wrapped into `-π..=π` (radians). `angle` must be finite.
#[must_use]
pub fn wrap_angle(angle: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    if (-PI..=PI).contains(&angle) {
        return angle;
    }
    let wrapped = (angle + PI).rem_euclid(TAU) - PI;
    // rem_euclid can round up to exactly TAU; keep the result inside the interval.
    wrapped.clamp(-PI, PI)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nan_and_infinity_never_survive() {
        let input = PlayerInput {
            movement: Vec2::new(f32::NAN, 1.0),
            aim_rad: f32::INFINITY,
            fire: true,
        };
        assert!(!input.is_valid());
        let clean = input.sanitized();
        assert_eq!(clean.movement, Vec2::ZERO);
        assert_eq!(clean.aim_rad, 0.0);
        assert!(clean.fire);
        assert!(clean.is_valid());
    }

    #[test]
    fn long_stick_is_clamped() {
        let clean = PlayerInput {
            movement: Vec2::new(3.0, 4.0),
            ..Default::default()
        }
        .sanitized();
        assert!((clean.movement.length() - 1.0).abs() < 1e-6);
        assert!((clean.movement.x - 0.6).abs() < 1e-6);
    }

    proptest! {
        #[test]
        fn sanitized_is_always_valid(x in any::<f32>(), y in any::<f32>(), aim in any::<f32>(), fire in any::<bool>()) {
            let clean = PlayerInput { movement: Vec2::new(x, y), aim_rad: aim, fire }.sanitized();
            prop_assert!(clean.is_valid());
            prop_assert!((-std::f32::consts::PI..=std::f32::consts::PI).contains(&clean.aim_rad));
        }
    }
}
