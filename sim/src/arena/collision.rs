//! Circles against the arena's bounds and its rectangular obstacles.

use glam::Vec2;

use crate::arena::config::Obstacle;

/// Keeps a circle of `radius` inside the arena and out of every obstacle.
///
/// Pushes `pos` out of any overlap and removes the part of `vel` that points into the
/// surface, reflecting it by `restitution` (0 = slide along, 1 = elastic bounce).
pub fn collide_circle(
    pos: &mut Vec2,
    vel: &mut Vec2,
    radius: f32,
    arena: Vec2,
    obstacles: &[Obstacle],
    restitution: f32,
) {
    for obstacle in obstacles {
        if let Some((normal, depth)) = circle_vs_box(*pos, radius, obstacle.min(), obstacle.max()) {
            *pos += normal * depth;
            reflect(vel, normal, restitution);
        }
    }
    // Bounds last, so a push out of an obstacle never leaves the arena.
    let lo = Vec2::splat(radius);
    let hi = (arena - Vec2::splat(radius)).max(lo);
    if pos.x < lo.x {
        pos.x = lo.x;
        reflect(vel, Vec2::X, restitution);
    } else if pos.x > hi.x {
        pos.x = hi.x;
        reflect(vel, Vec2::NEG_X, restitution);
    }
    if pos.y < lo.y {
        pos.y = lo.y;
        reflect(vel, Vec2::Y, restitution);
    } else if pos.y > hi.y {
        pos.y = hi.y;
        reflect(vel, Vec2::NEG_Y, restitution);
    }
}

/// Whether a circle overlaps any obstacle.
#[must_use]
pub fn overlaps_any(pos: Vec2, radius: f32, obstacles: &[Obstacle]) -> bool {
    obstacles
        .iter()
        .any(|o| circle_vs_box(pos, radius, o.min(), o.max()).is_some())
}

/// Removes the velocity component into a surface with outward `normal`, scaled by restitution.
fn reflect(vel: &mut Vec2, normal: Vec2, restitution: f32) {
    let into = vel.dot(normal);
    if into < 0.0 {
        *vel -= (1.0 + restitution) * into * normal;
    }
}

/// The outward normal and depth of a circle's overlap with a box, if they overlap.
fn circle_vs_box(center: Vec2, radius: f32, min: Vec2, max: Vec2) -> Option<(Vec2, f32)> {
    let closest = center.clamp(min, max);
    let offset = center - closest;
    let dist_sq = offset.length_squared();
    if dist_sq > 0.0 {
        if dist_sq >= radius * radius {
            return None;
        }
        let dist = dist_sq.sqrt();
        return Some((offset / dist, radius - dist));
    }
    // The centre is inside the box: leave by the nearest face.
    let exits = [
        (center.x - min.x, Vec2::NEG_X),
        (max.x - center.x, Vec2::X),
        (center.y - min.y, Vec2::NEG_Y),
        (max.y - center.y, Vec2::Y),
    ];
    let (dist, normal) = exits.into_iter().fold((f32::INFINITY, Vec2::X), |best, e| {
        if e.0 < best.0 { e } else { best }
    });
    Some((normal, dist + radius))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARENA: Vec2 = Vec2::new(100.0, 100.0);
    const WALL: Obstacle = Obstacle {
        x_m: 50.0,
        y_m: 50.0,
        width_m: 10.0,
        height_m: 10.0,
    };

    #[test]
    fn bounds_stop_a_player_and_bounce_a_prop() {
        let (mut pos, mut vel) = (Vec2::new(0.2, 50.0), Vec2::new(-5.0, 1.0));
        collide_circle(&mut pos, &mut vel, 0.5, ARENA, &[], 0.0);
        assert_eq!(pos, Vec2::new(0.5, 50.0));
        assert_eq!(vel, Vec2::new(0.0, 1.0));

        let (mut pos, mut vel) = (Vec2::new(99.9, 50.0), Vec2::new(4.0, 0.0));
        collide_circle(&mut pos, &mut vel, 0.5, ARENA, &[], 0.5);
        assert_eq!(pos.x, 99.5);
        assert_eq!(vel.x, -2.0);
    }

    #[test]
    fn obstacle_pushes_out_along_the_nearest_face() {
        // Just left of the wall's left face (x = 45), moving right into it.
        let (mut pos, mut vel) = (Vec2::new(44.8, 50.0), Vec2::new(3.0, 0.0));
        collide_circle(&mut pos, &mut vel, 0.5, ARENA, &[WALL], 0.0);
        assert!((pos.x - 44.5).abs() < 1e-5, "{pos}");
        assert_eq!(vel, Vec2::ZERO);

        // Centre inside the wall, nearest the top face (y = 55).
        let (mut pos, mut vel) = (Vec2::new(50.0, 54.0), Vec2::ZERO);
        collide_circle(&mut pos, &mut vel, 0.5, ARENA, &[WALL], 0.0);
        assert!((pos.y - 55.5).abs() < 1e-5, "{pos}");
        assert!(!overlaps_any(pos, 0.49, &[WALL]));
    }

    #[test]
    fn sliding_along_a_wall_keeps_the_tangent() {
        let (mut pos, mut vel) = (Vec2::new(44.8, 50.0), Vec2::new(3.0, 2.0));
        collide_circle(&mut pos, &mut vel, 0.5, ARENA, &[WALL], 0.0);
        assert_eq!(vel, Vec2::new(0.0, 2.0));
    }
}
