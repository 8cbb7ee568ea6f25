//! The hitscan weapon's hit test, against explicit hitboxes.
//!
//! The test takes hitbox positions as arguments rather than reading the world, so the server
//! can run it against positions rewound to the moment the shooter saw (lag compensation).

use glam::Vec2;

use crate::arena::config::Obstacle;
use crate::arena::entity::EntityId;
use crate::arena::world::World;

/// A circle that can be shot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hitbox {
    /// The entity the circle belongs to.
    pub entity: EntityId,
    /// Centre (metres).
    pub center: Vec2,
    /// Radius (metres).
    pub radius: f32,
}

/// The nearest hitbox a shot struck.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The entity struck.
    pub target: EntityId,
    /// Distance from the muzzle to the point struck (metres).
    pub distance_m: f32,
}

/// Where the hitboxes a shot is tested against come from.
///
/// [`PresentHitboxes`] uses the world as it is; the server supplies one that rewinds the
/// other players to the tick the shooter was viewing.
pub trait HitboxSource {
    /// Appends to `out` every hitbox `shooter` may hit (never the shooter's own).
    fn hitboxes(&self, world: &World, shooter: EntityId, out: &mut Vec<Hitbox>);
}

/// Hitboxes of every living player other than the shooter, where they are now.
#[derive(Clone, Copy, Debug, Default)]
pub struct PresentHitboxes;

impl HitboxSource for PresentHitboxes {
    fn hitboxes(&self, world: &World, shooter: EntityId, out: &mut Vec<Hitbox>) {
        let radius = world.rules().config().player_radius_m;
        out.extend(
            world
                .players()
                .filter(|(id, _, player)| *id != shooter && player.is_alive())
                .map(|(entity, e, _)| Hitbox {
                    entity,
                    center: e.pos,
                    radius,
                }),
        );
    }
}

/// Casts a ray from `origin` along `aim_rad` for `range_m` and returns the nearest hitbox it
/// strikes before any obstacle, if one.
#[must_use]
pub fn hit_test(
    origin: Vec2,
    aim_rad: f32,
    range_m: f32,
    hitboxes: &[Hitbox],
    obstacles: &[Obstacle],
) -> Option<Hit> {
    let dir = Vec2::from_angle(aim_rad);
    let wall = obstacles
        .iter()
        .filter_map(|o| ray_vs_box(origin, dir, o.min(), o.max()))
        .fold(range_m, f32::min);
    hitboxes
        .iter()
        .filter_map(|h| ray_vs_circle(origin, dir, h.center, h.radius).map(|t| (t, h.entity)))
        .filter(|(t, _)| *t <= wall)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(distance_m, target)| Hit { target, distance_m })
}

/// Distance along a unit ray to where it enters a circle (0 if it starts inside).
fn ray_vs_circle(origin: Vec2, dir: Vec2, center: Vec2, radius: f32) -> Option<f32> {
    let m = origin - center;
    let b = m.dot(dir);
    let c = m.length_squared() - radius * radius;
    if c > 0.0 && b > 0.0 {
        return None; // outside and pointing away
    }
    let disc = b * b - c;
    if disc < 0.0 {
        return None;
    }
    Some((-b - disc.sqrt()).max(0.0))
}

/// Distance along a unit ray to where it enters a box (slab method), if it does.
fn ray_vs_box(origin: Vec2, dir: Vec2, min: Vec2, max: Vec2) -> Option<f32> {
    let inv = dir.recip();
    let t1 = (min - origin) * inv;
    let t2 = (max - origin) * inv;
    let near = t1.min(t2).max_element();
    let far = t1.max(t2).min_element();
    // A ray parallel to a slab and outside it gives near = +inf or far = -inf: no hit.
    (far >= 0.0 && near <= far).then_some(near.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotmap::SlotMap;

    fn ids() -> (EntityId, EntityId) {
        let mut map = SlotMap::<EntityId, ()>::with_key();
        (map.insert(()), map.insert(()))
    }

    #[test]
    fn nearest_hitbox_on_the_ray_is_hit() {
        let (a, b) = ids();
        let boxes = [
            Hitbox {
                entity: a,
                center: Vec2::new(20.0, 0.0),
                radius: 0.5,
            },
            Hitbox {
                entity: b,
                center: Vec2::new(10.0, 0.3),
                radius: 0.5,
            },
        ];
        let hit = hit_test(Vec2::ZERO, 0.0, 60.0, &boxes, &[]).unwrap();
        assert_eq!(hit.target, b);
        assert!((hit.distance_m - 9.6).abs() < 0.01, "{hit:?}");
    }

    #[test]
    fn misses_beside_behind_and_beyond_range() {
        let (a, _) = ids();
        let beside = [Hitbox {
            entity: a,
            center: Vec2::new(10.0, 0.6),
            radius: 0.5,
        }];
        assert_eq!(hit_test(Vec2::ZERO, 0.0, 60.0, &beside, &[]), None);
        let behind = [Hitbox {
            entity: a,
            center: Vec2::new(-10.0, 0.0),
            radius: 0.5,
        }];
        assert_eq!(hit_test(Vec2::ZERO, 0.0, 60.0, &behind, &[]), None);
        let far = [Hitbox {
            entity: a,
            center: Vec2::new(70.0, 0.0),
            radius: 0.5,
        }];
        assert_eq!(hit_test(Vec2::ZERO, 0.0, 60.0, &far, &[]), None);
    }

    #[test]
    fn obstacles_block_shots() {
        let (a, _) = ids();
        let target = [Hitbox {
            entity: a,
            center: Vec2::new(20.0, 0.0),
            radius: 0.5,
        }];
        let wall = Obstacle {
            x_m: 10.0,
            y_m: 0.0,
            width_m: 1.0,
            height_m: 4.0,
        };
        assert_eq!(hit_test(Vec2::ZERO, 0.0, 60.0, &target, &[wall]), None);
        // A shot that grazes the wall's end is still blocked; one that clears it hits.
        let aim = (3.0f32).atan2(20.0);
        let target = [Hitbox {
            entity: a,
            center: Vec2::new(20.0, 3.0),
            radius: 0.5,
        }];
        assert!(hit_test(Vec2::ZERO, aim, 60.0, &target, &[wall]).is_none());
        let high = [Hitbox {
            entity: a,
            center: Vec2::new(20.0, 6.0),
            radius: 0.5,
        }];
        let aim = (6.0f32).atan2(20.0);
        assert!(hit_test(Vec2::ZERO, aim, 60.0, &high, &[wall]).is_some());
        // A wall behind the target does not matter.
        let behind = Obstacle {
            x_m: 30.0,
            y_m: 0.0,
            width_m: 1.0,
            height_m: 4.0,
        };
        let target = [Hitbox {
            entity: a,
            center: Vec2::new(20.0, 0.0),
            radius: 0.5,
        }];
        assert!(hit_test(Vec2::ZERO, 0.0, 60.0, &target, &[behind]).is_some());
    }

    #[test]
    fn axis_aligned_rays_beside_a_box_do_not_hit_it() {
        let wall = Obstacle {
            x_m: 10.0,
            y_m: 5.0,
            width_m: 2.0,
            height_m: 2.0,
        };
        assert_eq!(
            ray_vs_box(Vec2::ZERO, Vec2::X, wall.min(), wall.max()),
            None
        );
        assert!(ray_vs_box(Vec2::new(0.0, 5.0), Vec2::X, wall.min(), wall.max()).is_some());
    }
}
