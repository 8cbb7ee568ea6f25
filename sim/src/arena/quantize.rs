//! The grids the arena's continuous values are rounded to, shared by the simulation (which
//! keeps its state on them, so what the wire carries is exact) and the replication.
//!
//! Positions are quantized to 1/512 m, angles to 1/4096 of a turn, velocities to 1/512 m/s.

use std::f32::consts::TAU;

use glam::Vec2;

pub use crate::grid::{
    POS_STEPS_PER_M, VEL_STEPS_PER_MPS, dequantize_m, dequantize_mps, quantize_m, quantize_mps,
    snap_pos, snap_vel,
};

/// Angle steps per turn.
pub const ANGLE_STEPS: i32 = 4096;

/// Radians to angle steps in `0..4096`.
#[must_use]
pub fn quantize_angle(rad: f32) -> i32 {
    ((rad / TAU * ANGLE_STEPS as f32).round() as i32).rem_euclid(ANGLE_STEPS)
}

/// Angle steps to radians in `-π..π`.
#[must_use]
pub fn dequantize_angle(steps: i32) -> f32 {
    let rad = steps.rem_euclid(ANGLE_STEPS) as f32 / ANGLE_STEPS as f32 * TAU;
    if rad >= std::f32::consts::PI {
        rad - TAU
    } else {
        rad
    }
}

/// A position quantized to the grid the wire uses.
#[must_use]
pub fn quantize_pos(pos: Vec2) -> [i32; 2] {
    [quantize_m(pos.x), quantize_m(pos.y)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_is_fine_enough_and_round_trips() {
        for m in [0.0f32, 0.001, 12.345, 99.999, 100.0] {
            assert!((dequantize_m(quantize_m(m)) - m).abs() <= 0.5 / 512.0 + 1e-6);
        }
        for rad in [-3.1f32, -1.0, 0.0, 0.5, 3.1] {
            let back = dequantize_angle(quantize_angle(rad));
            assert!((back - rad).abs() <= TAU / 4096.0, "{rad} → {back}");
        }
        assert_eq!(quantize_angle(-0.0001), 0);
        assert_eq!(dequantize_mps(quantize_mps(-5.5)), -5.5);
    }
}
