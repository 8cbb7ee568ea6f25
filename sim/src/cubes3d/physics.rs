//! The cubes' rigid-body physics: gravity, the floor, walls, each other and the pushers.
//!
//! Small and impulse-based, built to come to rest: each tick an awake cube falls and moves;
//! its corners below the floor take impulses (normal, then Coulomb friction) that stop it
//! sinking, make it bounce a little, slide to a stop and tip over onto a face; other cubes
//! are met as spheres a little larger than the cube's inscribed one; a pusher is a moving box
//! of infinite mass. A cube that has been still for a while sleeps: it stops costing
//! anything to simulate, and its replicated state stops changing, so it costs nothing to
//! send. Whatever touches it hard enough wakes it.
//!
//! A cube has unit mass; its inertia is the same about every axis through its centre
//! (m·s²/6), which keeps every impulse a few lines.

use glam::{Quat, Vec2, Vec3};

use super::rules::CubesRules;

/// One cube's physical state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Body {
    /// Centre (metres; z up, the floor at z = 0).
    pub pos: Vec3,
    /// Velocity (metres per second).
    pub vel: Vec3,
    /// Orientation.
    pub rot: Quat,
    /// Angular velocity (radians per second, about each world axis).
    pub spin: Vec3,
    /// Whether it is simulated (a sleeping cube is frozen until something wakes it).
    pub awake: bool,
    /// Ticks it has been still in a row.
    pub still_ticks: u32,
    /// Where it was when it last started staying in place, and for how many ticks it has
    /// stayed within [`PARKED_DRIFT_M`] of there: a cube that jitters or spins in place
    /// (wedged in a heap, balanced on a corner) goes nowhere, and sleeps too.
    anchor: Vec3,
    parked_ticks: u32,
    /// Ticks in a row it has moved no faster than [`CALM_FACTOR`] times the sleep speeds.
    calm_ticks: u32,
}

impl Body {
    /// A cube at rest, asleep, at `pos` turned by `rot`.
    #[must_use]
    pub fn resting(pos: Vec3, rot: Quat) -> Self {
        Self {
            pos,
            vel: Vec3::ZERO,
            rot,
            spin: Vec3::ZERO,
            awake: false,
            still_ticks: 0,
            anchor: pos,
            parked_ticks: 0,
            calm_ticks: 0,
        }
    }

    /// Wakes it (a sleeping cube starts being simulated).
    pub fn wake(&mut self) {
        self.awake = true;
        self.still_ticks = 0;
        self.anchor = self.pos;
        self.parked_ticks = 0;
        self.calm_ticks = 0;
    }

    /// Applies `impulse` at `arm` from the centre.
    fn apply(&mut self, arm: Vec3, impulse: Vec3, inv_inertia: f32) {
        self.vel += impulse;
        self.spin += inv_inertia * arm.cross(impulse);
    }
}

/// A cube's corners, as ±1 on each axis.
const CORNERS: [Vec3; 8] = [
    Vec3::new(-1.0, -1.0, -1.0),
    Vec3::new(1.0, -1.0, -1.0),
    Vec3::new(-1.0, 1.0, -1.0),
    Vec3::new(1.0, 1.0, -1.0),
    Vec3::new(-1.0, -1.0, 1.0),
    Vec3::new(1.0, -1.0, 1.0),
    Vec3::new(-1.0, 1.0, 1.0),
    Vec3::new(1.0, 1.0, 1.0),
];

/// How much larger than the inscribed sphere a cube is when it meets another or a pusher:
/// between its inscribed (1) and circumscribed (√3) spheres.
const CONTACT_SCALE: f32 = 1.15;
/// Impulse passes over the floor contacts per tick (resting on a face needs more than one).
const FLOOR_PASSES: usize = 2;
/// Closing speed below which a contact does not bounce (metres per second): resting cubes
/// do not jitter.
const BOUNCE_MIN_MPS: f32 = 0.5;
/// How far a cube may wander (metres) and still count as staying in one place.
const PARKED_DRIFT_M: f32 = 0.02;
/// A cube creeping under this many times the sleep speeds counts as calm.
const CALM_FACTOR: f32 = 5.0;
/// Sleep spells a cube may creep, or stay in place, before it sleeps anyway.
const LONG_SPELLS: u32 = 6;
/// How far above a cube's centre a pusher's shove lands, per unit of `push_tumble`, in
/// half-edges.
const PUSH_LEVER: f32 = 0.3;
/// Closing speed at which an awake cube wakes a sleeping one it meets (metres per second).
const WAKE_MPS: f32 = 0.3;

/// The radius a cube meets others with (metres).
#[must_use]
pub fn contact_radius(rules: &CubesRules) -> f32 {
    rules.half() * CONTACT_SCALE
}

/// Gravity, damping and motion for one tick of an awake cube.
pub fn integrate(b: &mut Body, rules: &CubesRules) {
    let dt = rules.dt_s();
    b.vel.z -= rules.config().gravity_mps2 * dt;
    b.vel *= rules.keep_vel();
    b.spin *= rules.keep_spin();
    b.pos += b.vel * dt;
    let turn = Quat::from_xyzw(b.spin.x, b.spin.y, b.spin.z, 0.0) * b.rot;
    b.rot = Quat::from_xyzw(
        b.rot.x + 0.5 * dt * turn.x,
        b.rot.y + 0.5 * dt * turn.y,
        b.rot.z + 0.5 * dt * turn.z,
        b.rot.w + 0.5 * dt * turn.w,
    )
    .normalize();
}

/// Corners below the floor take impulses, and the cube is lifted out of it.
pub fn floor(b: &mut Body, rules: &CubesRules) {
    let c = rules.config();
    let (h, inv_i) = (rules.half(), rules.inv_inertia());
    let arms = CORNERS.map(|corner| b.rot * (corner * h));
    let lowest = arms.iter().map(|a| b.pos.z + a.z).fold(f32::MAX, f32::min);
    if lowest > 0.0 {
        return;
    }
    for _ in 0..FLOOR_PASSES {
        for &arm in &arms {
            if b.pos.z + arm.z > 0.0 {
                continue;
            }
            let v = b.vel + b.spin.cross(arm);
            if v.z >= 0.0 {
                continue;
            }
            let k = 1.0 + inv_i * arm.cross(Vec3::Z).length_squared();
            let bounce = if -v.z > BOUNCE_MIN_MPS {
                c.cube_restitution
            } else {
                0.0
            };
            let j = -(1.0 + bounce) * v.z / k;
            b.apply(arm, Vec3::Z * j, inv_i);
            let v = b.vel + b.spin.cross(arm);
            let slide = Vec2::new(v.x, v.y);
            let speed = slide.length();
            if speed > 1e-6 {
                let t = (slide / speed).extend(0.0);
                let kt = 1.0 + inv_i * arm.cross(t).length_squared();
                let jt = (speed / kt).min(c.cube_friction * j);
                b.apply(arm, -t * jt, inv_i);
            }
        }
    }
    b.pos.z -= lowest;
}

/// Keeps a cube inside the floor's walls and under the ceiling of the height field.
pub fn walls(b: &mut Body, rules: &CubesRules, max_height_m: f32) {
    let c = rules.config();
    let r = contact_radius(rules);
    let max = Vec2::new(c.floor_width_m, c.floor_depth_m) - r;
    for axis in 0..2 {
        if b.pos[axis] < r {
            b.pos[axis] = r;
            b.vel[axis] = b.vel[axis].abs() * c.cube_restitution;
        } else if b.pos[axis] > max[axis] {
            b.pos[axis] = max[axis];
            b.vel[axis] = -b.vel[axis].abs() * c.cube_restitution;
        }
    }
    let top = max_height_m - rules.half();
    if b.pos.z > top {
        b.pos.z = top;
        b.vel.z = b.vel.z.min(0.0);
    }
}

/// Two cubes that overlap are pushed apart and exchange an impulse. A sleeping cube is
/// woken by a hard enough hit; otherwise it stands firm (infinite mass) and only the awake
/// one moves. Returns whether they touched.
pub fn collide(a: &mut Body, b: &mut Body, rules: &CubesRules) -> bool {
    let c = rules.config();
    let r = contact_radius(rules);
    let d = b.pos - a.pos;
    let reach = 2.0 * r;
    let across = d.truncate().length();
    // One on top of the other: they meet face to face, as on the floor, so a stack rests
    // instead of sliding off a sphere.
    let stacked = d.z.abs() >= across;
    let (n, overlap) = if stacked {
        if across >= reach {
            return false;
        }
        (Vec3::Z * d.z.signum(), 2.0 * rules.half() - d.z.abs())
    } else {
        let dist2 = d.length_squared();
        if dist2 >= reach * reach || dist2 < 1e-12 {
            return false;
        }
        let dist = dist2.sqrt();
        (d / dist, reach - dist)
    };
    if overlap <= 0.0 {
        return false;
    }
    let vn = (b.vel - a.vel).dot(n);
    for body in [&mut *a, &mut *b] {
        if !body.awake && -vn > WAKE_MPS {
            body.wake();
        }
    }
    let (mut ia, mut ib) = (f32::from(u8::from(a.awake)), f32::from(u8::from(b.awake)));
    // Weight goes down a stack: the lower cube (which the floor, or the stack under it,
    // holds) stands firm against the one on top, so a stack settles in one pass.
    if stacked {
        if d.z > 0.0 {
            ia = 0.0;
        } else {
            ib = 0.0;
        }
    }
    let total = ia + ib;
    if total == 0.0 {
        return true;
    }
    a.pos -= n * overlap * ia / total;
    b.pos += n * overlap * ib / total;
    if vn >= 0.0 {
        return true;
    }
    let bounce = if -vn > BOUNCE_MIN_MPS {
        c.cube_restitution
    } else {
        0.0
    };
    let j = -(1.0 + bounce) * vn / total;
    a.vel -= n * j * ia;
    b.vel += n * j * ib;
    // Friction at the contact turns a scrape into spin.
    let rel = b.vel - a.vel;
    let slide = rel - n * rel.dot(n);
    let speed = slide.length();
    if speed > 1e-6 {
        let t = slide / speed;
        let jt = (speed / total).min(c.cube_friction * j);
        let inv_i = rules.inv_inertia();
        if a.awake {
            a.apply(n * r, t * jt, inv_i);
        }
        if b.awake {
            b.apply(-n * r, -t * jt, inv_i);
        }
    }
    true
}

/// A pusher (a box on the floor at `centre`, turned `yaw_rad` about z, moving at `vel`)
/// shoves a cube it overlaps out of its way, waking it. Returns whether they touched.
pub fn push(b: &mut Body, centre: Vec2, vel: Vec2, yaw_rad: f32, rules: &CubesRules) -> bool {
    let c = rules.config();
    let ph = rules.pusher_half();
    let r = contact_radius(rules);
    let turn = Quat::from_rotation_z(yaw_rad);
    let local = turn.inverse() * (b.pos - centre.extend(ph));
    let closest = local.clamp(Vec3::splat(-ph), Vec3::splat(ph));
    let d = local - closest;
    let dist2 = d.length_squared();
    if dist2 >= r * r {
        return false;
    }
    let dist = dist2.sqrt();
    let (normal, depth) = if dist > 1e-6 {
        (d / dist, r - dist)
    } else {
        // The centre is inside the box: out through the nearest face.
        let room = Vec3::splat(ph) - local.abs();
        let axis = if room.x <= room.y && room.x <= room.z {
            Vec3::X * local.x.signum()
        } else if room.y <= room.z {
            Vec3::Y * local.y.signum()
        } else {
            Vec3::Z * local.z.signum()
        };
        (axis, room.min_element() + r)
    };
    let n = turn * normal;
    b.wake();
    b.pos += n * depth;
    let pusher_vel = vel.extend(0.0);
    let rel = b.vel - pusher_vel;
    let vn = rel.dot(n);
    if vn < 0.0 {
        let j = -vn * (1.0 + c.push_restitution);
        b.vel += n * j;
        // The pusher's face meets the cube above its centre (the pusher is the taller) and
        // drags it sideways: the shove tips it over, the scrape turns it.
        let high = Vec3::Z * (c.push_tumble * PUSH_LEVER * rules.half());
        let rel = b.vel - pusher_vel;
        let slide = rel - n * rel.dot(n);
        let inv_i = rules.inv_inertia();
        b.spin += inv_i * high.cross(n * j);
        b.spin += inv_i * (-n * r).cross(-slide) * c.push_tumble * PUSH_LEVER;
    }
    true
}

/// Counts still ticks and puts the cube to sleep after enough of them: a sleep spell of
/// moving and turning slower than the sleep speeds; or [`LONG_SPELLS`] of them creeping
/// (under [`CALM_FACTOR`] times those speeds) or staying within [`PARKED_DRIFT_M`] of one
/// place whatever it does there.
pub fn settle(b: &mut Body, rules: &CubesRules) {
    let c = rules.config();
    let (speed, spin) = (b.vel.length(), b.spin.length());
    let slow = speed < c.sleep_speed_mps && spin < c.sleep_spin_radps;
    let calm = speed < CALM_FACTOR * c.sleep_speed_mps && spin < CALM_FACTOR * c.sleep_spin_radps;
    b.still_ticks = if slow { b.still_ticks + 1 } else { 0 };
    b.calm_ticks = if calm { b.calm_ticks + 1 } else { 0 };
    if b.pos.distance(b.anchor) < PARKED_DRIFT_M {
        b.parked_ticks += 1;
    } else {
        b.anchor = b.pos;
        b.parked_ticks = 0;
    }
    let long = LONG_SPELLS * rules.sleep_ticks();
    if b.still_ticks >= rules.sleep_ticks() || b.calm_ticks >= long || b.parked_ticks >= long {
        b.awake = false;
        b.vel = Vec3::ZERO;
        b.spin = Vec3::ZERO;
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

    fn step(b: &mut Body, rules: &CubesRules) {
        if b.awake {
            integrate(b, rules);
            floor(b, rules);
            walls(b, rules, 16.0);
            settle(b, rules);
        }
    }

    #[test]
    fn a_tumbling_cube_lands_on_a_face_and_sleeps() {
        let rules = rules();
        let mut b = Body::resting(
            Vec3::new(20.0, 20.0, 3.0),
            Quat::from_rotation_x(0.6) * Quat::from_rotation_y(0.3),
        );
        b.vel = Vec3::new(3.0, 1.0, 2.0);
        b.spin = Vec3::new(2.0, -4.0, 1.0);
        b.wake();
        let mut ticks = 0;
        while b.awake && ticks < 60 * 20 {
            step(&mut b, &rules);
            ticks += 1;
        }
        assert!(!b.awake, "still awake after 20 s: {b:?}");
        assert!(ticks < 60 * 6, "slept after {ticks} ticks");
        // On a face: one local axis points straight up, and the centre is half an edge up.
        let up = [Vec3::X, Vec3::Y, Vec3::Z]
            .map(|axis| (b.rot * axis).z.abs())
            .into_iter()
            .fold(0.0, f32::max);
        assert!(up > 0.99, "resting on an edge: {b:?}");
        assert!((b.pos.z - 0.5).abs() < 0.02, "{b:?}");
    }

    #[test]
    fn a_pusher_shoves_a_cube_ahead_and_wakes_it() {
        let rules = rules();
        let mut b = Body::resting(Vec3::new(10.0, 10.0, 0.5), Quat::IDENTITY);
        // The pusher's front face reaches the cube.
        let centre = Vec2::new(10.0 - 1.0 - 0.5, 10.0);
        assert!(push(&mut b, centre, Vec2::new(4.0, 0.0), 0.0, &rules));
        assert!(b.awake);
        assert!(b.vel.x > 4.0, "{b:?}");
        assert!(b.pos.x > 10.0);
    }

    #[test]
    fn a_slow_touch_does_not_wake_a_sleeper_and_a_hard_one_does() {
        let rules = rules();
        let mut sleeper = Body::resting(Vec3::new(10.0, 10.0, 0.5), Quat::IDENTITY);
        let mut mover = Body::resting(Vec3::new(8.9, 10.0, 0.5), Quat::IDENTITY);
        mover.wake();
        mover.vel = Vec3::new(0.1, 0.0, 0.0);
        assert!(collide(&mut mover, &mut sleeper, &rules));
        assert!(!sleeper.awake);
        assert_eq!(
            sleeper.pos,
            Vec3::new(10.0, 10.0, 0.5),
            "a sleeper stands firm"
        );
        mover.vel = Vec3::new(3.0, 0.0, 0.0);
        mover.pos = Vec3::new(8.9, 10.0, 0.5);
        assert!(collide(&mut mover, &mut sleeper, &rules));
        assert!(sleeper.awake && sleeper.vel.x > 1.0);
    }
}
