//! The grids cubes3d's values travel on.
//!
//! Positions in 1/512 m steps, velocities in 1/512 m/s, a pusher's heading in 1/4096 of a
//! turn, and orientations as *smallest three*: a unit quaternion's largest component is
//! dropped (its index sent instead, its sign made positive: `q` and `-q` are the same
//! rotation) and the other three, each within ±1/√2, sent in [`QUAT_BITS`] bits. The
//! pushers' state lives on these grids (so a client predicts it exactly); the cubes' does
//! not (only the server simulates them), and is rounded when replicated.

use std::f32::consts::TAU;

use glam::{Quat, Vec3};
use tickwire_netcode::rotation;

pub use crate::grid::{
    POS_STEPS_PER_M, VEL_STEPS_PER_MPS, dequantize_m, dequantize_mps, quantize_m, quantize_mps,
    snap_pos, snap_vel,
};

/// Heading steps per turn.
pub const YAW_STEPS: i32 = 4096;
/// Bits of each of the three smallest quaternion components.
pub const QUAT_BITS: u8 = 9;
/// Largest value of a quantized quaternion component.
pub const QUAT_MAX: i32 = (1 << QUAT_BITS) - 1;

/// Heading steps to radians.
#[must_use]
pub fn yaw_rad(steps: i32) -> f32 {
    steps.rem_euclid(YAW_STEPS) as f32 / YAW_STEPS as f32 * TAU
}

/// Radians to heading steps in `0..4096`.
#[must_use]
pub fn quantize_yaw(rad: f32) -> i32 {
    ((rad / TAU * YAW_STEPS as f32).round() as i32).rem_euclid(YAW_STEPS)
}

/// A rotation as smallest three: `[largest index (0..=3, x y z w), a, b, c]`, each of
/// `a b c` in `0..=QUAT_MAX` ([`tickwire_netcode::rotation`], whose arithmetic the delta
/// coder's prediction shares).
#[must_use]
pub fn quantize_quat(q: Quat) -> [i32; 4] {
    let q = q.normalize();
    let (largest, [a, b, c]) = rotation::quantize([q.x, q.y, q.z, q.w].map(f64::from), QUAT_BITS);
    [i32::from(largest), a, b, c]
}

/// The rotation smallest three encode (normalized; a component out of range is clamped).
#[must_use]
pub fn dequantize_quat(largest: i32, a: i32, b: i32, c: i32) -> Quat {
    let clamp = |v: i32| v.clamp(0, QUAT_MAX);
    let [x, y, z, w] = rotation::dequantize(largest, [clamp(a), clamp(b), clamp(c)], QUAT_BITS);
    Quat::from_xyzw(x as f32, y as f32, z as f32, w as f32).normalize()
}

/// A point as the wire's position grid holds it (x, y, z steps).
#[must_use]
pub fn quantize_pos(p: Vec3) -> [i32; 3] {
    [quantize_m(p.x), quantize_m(p.y), quantize_m(p.z)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_three_keeps_a_rotation_within_a_fraction_of_a_degree() {
        let mut worst: f32 = 0.0;
        for i in 0..2000 {
            let t = i as f32 * 0.37;
            let axis = Vec3::new(t.sin(), (t * 1.3).cos(), (t * 0.7).sin() + 0.1).normalize();
            let q = Quat::from_axis_angle(axis, t * 2.1);
            let [l, a, b, c] = quantize_quat(q);
            assert!((0..=3).contains(&l));
            assert!([a, b, c].iter().all(|v| (0..=QUAT_MAX).contains(v)));
            let back = dequantize_quat(l, a, b, c);
            worst = worst.max(q.angle_between(back));
        }
        // 9 bits over ±1/√2: about 0.16° of error at worst.
        assert!(worst.to_degrees() < 0.5, "worst {}°", worst.to_degrees());
    }

    #[test]
    fn q_and_minus_q_quantize_the_same() {
        let q = Quat::from_rotation_y(2.5);
        assert_eq!(quantize_quat(q), quantize_quat(-q));
    }
}
