//! The grids both games keep continuous values on, and how many bits a range of them needs:
//! positions in 1/512 m, velocities in 1/512 m/s (what the wire carries, so a value on the
//! grid is exactly what a client receives).

use glam::Vec2;

/// Position steps per metre.
pub const POS_STEPS_PER_M: f32 = 512.0;
/// Velocity steps per metre per second.
pub const VEL_STEPS_PER_MPS: f32 = 512.0;

/// Metres to position steps (rounded to nearest).
#[must_use]
pub fn quantize_m(metres: f32) -> i32 {
    (metres * POS_STEPS_PER_M).round() as i32
}

/// Position steps to metres.
#[must_use]
pub fn dequantize_m(steps: i32) -> f32 {
    steps as f32 / POS_STEPS_PER_M
}

/// Metres per second to velocity steps.
#[must_use]
pub fn quantize_mps(mps: f32) -> i32 {
    (mps * VEL_STEPS_PER_MPS).round() as i32
}

/// Velocity steps to metres per second.
#[must_use]
pub fn dequantize_mps(steps: i32) -> f32 {
    steps as f32 / VEL_STEPS_PER_MPS
}

/// `pos` moved to the nearest point of the position grid.
#[must_use]
pub fn snap_pos(pos: Vec2) -> Vec2 {
    (pos * POS_STEPS_PER_M).round() / POS_STEPS_PER_M
}

/// `vel` moved to the nearest point of the velocity grid.
#[must_use]
pub fn snap_vel(vel: Vec2) -> Vec2 {
    (vel * VEL_STEPS_PER_MPS).round() / VEL_STEPS_PER_MPS
}

/// Bits a field needs to hold `0..=max`.
#[must_use]
pub fn bits_for(max: i32) -> u8 {
    (32 - max.max(1).leading_zeros()) as u8
}
