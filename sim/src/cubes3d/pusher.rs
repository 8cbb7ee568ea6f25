//! How a pusher drives: the one rule the server and a predicting client both run.
//!
//! A pusher is heavier than anything: cubes never slow it and pushers pass through each
//! other, so where it goes depends only on its own state and its driver's stick, and a
//! client predicts it exactly. Its state lives on the wire's grids (1/512 m, 1/512 m/s,
//! 1/4096 turn) after every step.

use glam::Vec2;

use super::quantize::{YAW_STEPS, quantize_yaw, snap_pos, snap_vel};
use super::rules::CubesRules;

/// A pusher's driving state.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Drive {
    /// Centre on the floor (metres; on the position grid).
    pub pos: Vec2,
    /// Velocity (metres per second; on the velocity grid).
    pub vel: Vec2,
    /// Heading (1/4096 turns, `0..4096`): where its front faces.
    pub yaw: i32,
}

/// Speed under which a pusher keeps its heading (metres per second): a pusher nudged to a
/// stop does not spin to face a rounding error.
const TURN_MIN_SPEED_MPS: f32 = 0.5;

/// One tick of driving with `stick` (each axis in `-1..=1`; longer than 1 is cut to 1).
pub fn drive(state: &mut Drive, stick: Vec2, rules: &CubesRules) {
    let c = rules.config();
    let dt = rules.dt_s();
    let stick = if stick.is_finite() {
        stick.clamp_length_max(1.0)
    } else {
        Vec2::ZERO
    };
    let want = stick * c.pusher_max_speed_mps;
    let change = (want - state.vel).clamp_length_max(c.pusher_accel_mps2 * dt);
    let mut vel = state.vel + change;
    let mut pos = state.pos + vel * dt;
    // Walls: a pusher stops against the floor's edge.
    let half = rules.pusher_half();
    let max = Vec2::new(c.floor_width_m, c.floor_depth_m) - half;
    for axis in 0..2 {
        if pos[axis] < half {
            pos[axis] = half;
            vel[axis] = vel[axis].max(0.0);
        } else if pos[axis] > max[axis] {
            pos[axis] = max[axis];
            vel[axis] = vel[axis].min(0.0);
        }
    }
    state.pos = snap_pos(pos);
    state.vel = snap_vel(vel);
    if state.vel.length() >= TURN_MIN_SPEED_MPS {
        let target = quantize_yaw(state.vel.y.atan2(state.vel.x));
        let max_turn =
            ((c.pusher_turn_radps * dt) / std::f32::consts::TAU * YAW_STEPS as f32).round() as i32;
        // The shorter way round, at most `max_turn` steps.
        let diff = (target - state.yaw + YAW_STEPS / 2).rem_euclid(YAW_STEPS) - YAW_STEPS / 2;
        state.yaw = (state.yaw + diff.clamp(-max_turn, max_turn)).rem_euclid(YAW_STEPS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cubes3d::config::CubesConfig;
    use tickwire_netcode::TickRate;

    fn rules() -> CubesRules {
        CubesRules::new(CubesConfig::default(), TickRate::new(60).unwrap()).unwrap()
    }

    #[test]
    fn a_full_stick_reaches_top_speed_and_turns_to_face_it() {
        let rules = rules();
        let mut d = Drive {
            pos: Vec2::new(10.0, 10.0),
            ..Drive::default()
        };
        for _ in 0..60 {
            drive(&mut d, Vec2::new(0.0, 1.0), &rules);
        }
        assert!((d.vel.y - 8.0).abs() < 0.01, "{d:?}");
        assert_eq!(d.yaw, YAW_STEPS / 4, "facing +y");
        assert_eq!(d.pos, snap_pos(d.pos), "on the grid");
    }

    #[test]
    fn walls_stop_a_pusher_and_nan_sticks_are_nothing() {
        let rules = rules();
        let mut d = Drive {
            pos: Vec2::new(2.0, 2.0),
            ..Drive::default()
        };
        for _ in 0..120 {
            drive(&mut d, Vec2::new(-1.0, -1.0), &rules);
        }
        assert_eq!(d.pos, Vec2::splat(1.0));
        let before = d;
        drive(&mut d, Vec2::new(f32::NAN, 0.0), &rules);
        assert_eq!(d.pos, before.pos);
    }

    #[test]
    fn the_same_state_and_stick_give_the_same_next_state() {
        let rules = rules();
        let mut a = Drive {
            pos: Vec2::new(30.0, 12.5),
            ..Drive::default()
        };
        let mut b = a;
        for i in 0..300 {
            let stick = Vec2::from_angle(i as f32 * 0.05) * 0.8;
            drive(&mut a, stick, &rules);
            drive(&mut b, stick, &rules);
        }
        assert_eq!(a, b);
    }
}
