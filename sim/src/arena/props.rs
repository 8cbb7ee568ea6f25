//! Props: orbs that get kicked or pushed, slide, spin, bounce and come to rest.

use glam::Vec2;
use rand::RngExt;
use slotmap::SlotMap;

use crate::arena::collision::collide_circle;
use crate::arena::entity::{Body, Entity, EntityId};
use crate::arena::input::wrap_angle;
use crate::arena::rules::Rules;

/// Below this speed (metres per second) a prop stops dead, so a resting prop's state is
/// exactly unchanged from tick to tick — what delta compression relies on.
const REST_SPEED_MPS: f32 = 0.05;
/// Below this spin (radians per second) a prop stops turning.
const REST_SPIN_RADPS: f32 = 0.05;

/// Advances every prop by one tick.
///
/// `pushers` are the living players' positions; a player touching a prop
/// shoves it away along the contact normal.
pub(crate) fn step_props(
    entities: &mut SlotMap<EntityId, Entity>,
    rules: &Rules,
    rng: &mut impl rand::Rng,
    pushers: &[Vec2],
) {
    let c = rules.config();
    let dt = rules.dt_s();
    let arena = Vec2::new(c.width_m, c.height_m);
    let touch = c.player_radius_m + c.prop_radius_m;
    for entity in entities.values_mut() {
        let Body::Prop(prop) = &mut entity.body else {
            continue;
        };
        if entity.vel == Vec2::ZERO && rng.random::<f32>() < rules.prop_kick_chance_per_tick() {
            let heading = rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
            entity.vel = Vec2::from_angle(heading) * c.prop_kick_speed_mps;
            prop.spin_radps = rng.random_range(-1.0..=1.0) * c.prop_kick_spin_radps;
        }
        for &pusher in pushers {
            let offset = entity.pos - pusher;
            let dist_sq = offset.length_squared();
            if dist_sq >= touch * touch {
                continue;
            }
            let dist = dist_sq.sqrt();
            let normal = if dist > 0.0 { offset / dist } else { Vec2::X };
            entity.pos = pusher + normal * touch;
            let along = entity.vel.dot(normal);
            if along < c.prop_push_mps {
                entity.vel += normal * (c.prop_push_mps - along);
            }
        }
        if entity.vel == Vec2::ZERO && prop.spin_radps == 0.0 {
            continue;
        }
        entity.pos += entity.vel * dt;
        prop.angle_rad = wrap_angle(prop.angle_rad + prop.spin_radps * dt);
        let speed = entity.vel.length();
        let slowed = (speed - c.prop_friction_mps2 * dt).max(0.0);
        entity.vel = if slowed < REST_SPEED_MPS {
            Vec2::ZERO
        } else {
            entity.vel * (slowed / speed)
        };
        let spin = prop.spin_radps.abs() - c.prop_spin_friction_radps2 * dt;
        prop.spin_radps = if spin < REST_SPIN_RADPS {
            0.0
        } else {
            spin.copysign(prop.spin_radps)
        };
        collide_circle(
            &mut entity.pos,
            &mut entity.vel,
            c.prop_radius_m,
            arena,
            &c.obstacles,
            c.prop_restitution,
        );
    }
}
