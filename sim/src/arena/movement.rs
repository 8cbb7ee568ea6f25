//! How a player moves in one tick: the rule the server runs and the client predicts with.

use glam::Vec2;

use crate::arena::collision::collide_circle;
use crate::arena::quantize::{snap_pos, snap_vel};
use crate::arena::rules::Rules;

/// Advances a player's position and velocity by one tick under `stick` (length ≤ 1).
///
/// Acceleration along the stick, then friction against the motion, then the speed cap, then
/// collision with the bounds and obstacles (players slide along walls, they do not bounce).
/// The client calls this same function to predict its own player, so prediction matches the
/// server bit for bit when it starts from the same state.
pub fn move_player(pos: &mut Vec2, vel: &mut Vec2, stick: Vec2, rules: &Rules) {
    let c = rules.config();
    let dt = rules.dt_s();
    *vel += stick * (c.accel_mps2 * dt);
    let speed = vel.length();
    if speed > 0.0 {
        let slowed = (speed - c.friction_mps2 * dt).clamp(0.0, c.max_speed_mps);
        *vel *= slowed / speed;
    }
    *pos += *vel * dt;
    let arena = Vec2::new(c.width_m, c.height_m);
    collide_circle(pos, vel, c.player_radius_m, arena, &c.obstacles, 0.0);
    // Snap to the grid the wire uses, so a client that resets to a snapshot and replays its
    // inputs computes exactly what the server did.
    *pos = snap_pos(*pos);
    *vel = snap_vel(*vel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::config::ArenaConfig;
    use tickwire_netcode::TickRate;

    fn open_field() -> Rules {
        let config = ArenaConfig {
            obstacles: Vec::new(),
            ..ArenaConfig::default()
        };
        Rules::new(config, TickRate::new(60).unwrap()).unwrap()
    }

    #[test]
    fn reaches_max_speed_and_never_exceeds_it() {
        let rules = open_field();
        let (mut pos, mut vel) = (Vec2::new(10.0, 50.0), Vec2::ZERO);
        let mut reached = None;
        for tick in 0..120 {
            move_player(&mut pos, &mut vel, Vec2::X, &rules);
            assert!(vel.length() <= 6.0 + 1e-5);
            if reached.is_none() && vel.length() >= 6.0 - 1e-4 {
                reached = Some(tick);
            }
        }
        // 40 m/s² less 20 m/s² friction reaches 6 m/s in 0.3 s = 18 ticks.
        let reached = reached.expect("never reached max speed");
        assert!((16..=20).contains(&reached), "reached at tick {reached}");
        assert_eq!(vel.y, 0.0);
    }

    #[test]
    fn friction_stops_a_released_player() {
        let rules = open_field();
        let (mut pos, mut vel) = (Vec2::new(50.0, 50.0), Vec2::new(6.0, 0.0));
        for _ in 0..18 {
            move_player(&mut pos, &mut vel, Vec2::ZERO, &rules);
        }
        assert_eq!(vel, Vec2::ZERO);
        // Slid 0.9 m: 6²/(2·20), within a tick's discretisation.
        assert!((pos.x - 50.9).abs() < 0.1, "{pos}");
    }

    #[test]
    fn walls_stop_the_player_at_its_radius() {
        let rules = open_field();
        let (mut pos, mut vel) = (Vec2::new(2.0, 50.0), Vec2::ZERO);
        for _ in 0..120 {
            move_player(&mut pos, &mut vel, Vec2::NEG_X, &rules);
        }
        assert_eq!(pos.x, 0.5);
        assert_eq!(vel.x, 0.0);
    }
}
