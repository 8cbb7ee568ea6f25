//! The cubes3d world: cubes on a floor, pushers driven by players, stepped one tick at a
//! time.
//!
//! One step, [`World::step`]:
//! 1. every pusher drives with its player's stick ([`pusher::drive`](super::pusher::drive));
//! 2. awake cubes fall, move and turn ([`physics::integrate`]);
//! 3. pushers shove the cubes they overlap, then awake cubes meet their neighbours (found
//!    through a grid over the floor, rebuilt each tick without allocating);
//! 4. awake cubes meet the floor and the walls, and those still long enough fall asleep;
//! 5. the replicated state of whatever moved is refreshed (a sleeping cube's is kept).

use glam::{Quat, Vec2};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use slotmap::SlotMap;
use tickwire_netcode::Tick;
use tickwire_netcode::schema::{EntityState, NetEntity};

use super::physics::{self, Body, contact_radius};
use super::pusher::{Drive, drive};
use super::quantize::{quantize_yaw, snap_pos, yaw_rad};
use super::replication::{
    KIND_CUBE, KIND_PUSHER, MAX_HEIGHT_M, PusherId, body_state, pusher_net_id,
};
use super::rules::CubesRules;

/// A cube and its replicated state.
#[derive(Debug, Clone, PartialEq)]
pub struct Cube {
    /// Its physics.
    pub body: Body,
    /// Its state as last replicated (refreshed when it moved).
    state: EntityState,
}

/// A player's pusher.
#[derive(Debug, Clone, PartialEq)]
pub struct Pusher {
    /// Where it is and where it goes.
    pub drive: Drive,
    /// This tick's stick (cleared after each step: no input, no throttle).
    stick: Vec2,
    state: EntityState,
}

/// The cubes3d world. See the [module docs](self).
#[derive(Debug)]
pub struct World {
    rules: CubesRules,
    tick: Tick,
    cubes: Vec<Cube>,
    pushers: SlotMap<PusherId, Pusher>,
    spawn_points: Vec<Vec2>,
    rng: ChaCha8Rng,
    grid: Grid,
    /// Scratch: neighbours of the cube or pusher being resolved.
    near: Vec<u32>,
    /// Scratch: awake cubes from the lowest up, and each cube's place in that order.
    order: Vec<u32>,
    rank: Vec<u32>,
}

impl World {
    /// A world at tick 0: the cubes asleep in their grid, no pusher yet.
    #[must_use]
    pub fn new(rules: CubesRules) -> Self {
        let c = rules.config();
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let size = Vec2::new(c.floor_width_m, c.floor_depth_m);
        let inset = rules.pusher_half() * 2.0;
        let spawn_points = (0..c.spawn_points)
            .map(|_| {
                // Somewhere along one of the four edges, clear of the wall.
                let along = rng.random_range(0.0..1.0_f32);
                let p = match rng.random_range(0..4u8) {
                    0 => Vec2::new(inset + along * (size.x - 2.0 * inset), inset),
                    1 => Vec2::new(inset + along * (size.x - 2.0 * inset), size.y - inset),
                    2 => Vec2::new(inset, inset + along * (size.y - 2.0 * inset)),
                    _ => Vec2::new(size.x - inset, inset + along * (size.y - 2.0 * inset)),
                };
                snap_pos(p)
            })
            .collect();
        let columns = c.grid_columns();
        let span = (columns.saturating_sub(1)) as f32 * c.cube_spacing_m;
        let origin = (size - Vec2::splat(span)) * 0.5;
        let cubes = (0..c.cube_count)
            .map(|i| {
                let at = Vec2::new((i % columns) as f32, (i / columns) as f32);
                let pos = (origin + at * c.cube_spacing_m).extend(rules.half());
                let body = Body::resting(pos, Quat::IDENTITY);
                Cube {
                    state: body_state(KIND_CUBE, body.pos, body.rot),
                    body,
                }
            })
            .collect();
        let grid = Grid::new(size, 2.0 * contact_radius(&rules));
        Self {
            rules,
            tick: Tick::ZERO,
            cubes,
            pushers: SlotMap::with_key(),
            spawn_points,
            rng,
            grid,
            near: Vec::new(),
            order: Vec::new(),
            rank: Vec::new(),
        }
    }

    /// The rules in force.
    #[must_use]
    pub fn rules(&self) -> &CubesRules {
        &self.rules
    }

    /// New gameplay values (the caller keeps the world's shape: see the restart keys).
    pub fn set_rules(&mut self, rules: CubesRules) {
        self.rules = rules;
    }

    /// The tick the next step runs.
    #[must_use]
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// The cubes, by network index.
    #[must_use]
    pub fn cubes(&self) -> &[Cube] {
        &self.cubes
    }

    /// The cubes, to set up a scene.
    pub fn cubes_mut(&mut self) -> &mut [Cube] {
        &mut self.cubes
    }

    /// The pushers.
    pub fn pushers(&self) -> impl Iterator<Item = (PusherId, &Pusher)> {
        self.pushers.iter()
    }

    /// One pusher.
    #[must_use]
    pub fn pusher(&self, id: PusherId) -> Option<&Pusher> {
        self.pushers.get(id)
    }

    /// Cubes awake now.
    #[must_use]
    pub fn awake(&self) -> usize {
        self.cubes.iter().filter(|c| c.body.awake).count()
    }

    /// Adds a pusher at a seeded spawn point, facing the middle of the floor.
    pub fn spawn_pusher(&mut self) -> PusherId {
        let c = self.rules.config();
        let pos = if self.spawn_points.is_empty() {
            Vec2::splat(self.rules.pusher_half())
        } else {
            let i = self.rng.random_range(0..self.spawn_points.len());
            self.spawn_points.get(i).copied().unwrap_or_default()
        };
        let centre = Vec2::new(c.floor_width_m, c.floor_depth_m) * 0.5;
        let to = centre - pos;
        let drive = Drive {
            pos,
            vel: Vec2::ZERO,
            yaw: quantize_yaw(to.y.atan2(to.x)),
        };
        let state = pusher_state(&drive, &self.rules);
        self.pushers.insert(Pusher {
            drive,
            stick: Vec2::ZERO,
            state,
        })
    }

    /// Removes a pusher.
    pub fn remove_pusher(&mut self, id: PusherId) {
        self.pushers.remove(id);
    }

    /// Sets a pusher's stick for the next step.
    pub fn steer(&mut self, id: PusherId, stick: Vec2) {
        if let Some(p) = self.pushers.get_mut(id) {
            p.stick = stick;
        }
    }

    /// Advances one tick. See the [module docs](self).
    pub fn step(&mut self) {
        let rules = &self.rules;
        for p in self.pushers.values_mut() {
            drive(&mut p.drive, p.stick, rules);
            p.stick = Vec2::ZERO;
        }
        for cube in self.cubes.iter_mut().filter(|c| c.body.awake) {
            physics::integrate(&mut cube.body, rules);
        }
        self.grid
            .rebuild(self.cubes.iter().map(|c| c.body.pos.truncate()));
        let r = contact_radius(rules);
        let pusher_reach = rules.pusher_half() * std::f32::consts::SQRT_2 + r;
        for p in self.pushers.values() {
            self.grid.near(p.drive.pos, pusher_reach, &mut self.near);
            let yaw = yaw_rad(p.drive.yaw);
            for &i in &self.near {
                if let Some(cube) = self.cubes.get_mut(i as usize) {
                    physics::push(&mut cube.body, p.drive.pos, p.drive.vel, yaw, rules);
                }
            }
        }
        // The floor first: a stack's bottom cube stops falling before the ones above meet it.
        for cube in self.cubes.iter_mut().filter(|c| c.body.awake) {
            physics::floor(&mut cube.body, rules);
        }
        // Awake cubes from the lowest up, and each one's neighbours from the lowest up: the
        // weight of a stack is carried from the floor upward in one pass.
        self.order.clear();
        self.order.extend(
            self.cubes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.body.awake)
                .map(|(i, _)| i as u32),
        );
        let height = |cubes: &[Cube], i: u32| cubes.get(i as usize).map_or(0.0, |c| c.body.pos.z);
        let cubes = &self.cubes;
        self.order.sort_unstable_by(|&x, &y| {
            height(cubes, x)
                .total_cmp(&height(cubes, y))
                .then(x.cmp(&y))
        });
        self.rank.clear();
        self.rank.resize(self.cubes.len(), u32::MAX);
        for (r, &i) in self.order.iter().enumerate() {
            if let Some(slot) = self.rank.get_mut(i as usize) {
                *slot = r as u32;
            }
        }
        for &a in &self.order {
            let Some(me) = self.cubes.get(a as usize) else {
                continue;
            };
            self.grid
                .near(me.body.pos.truncate(), 2.0 * r, &mut self.near);
            let cubes = &self.cubes;
            self.near.sort_unstable_by(|&x, &y| {
                height(cubes, x)
                    .total_cmp(&height(cubes, y))
                    .then(x.cmp(&y))
            });
            let my_rank = self.rank.get(a as usize).copied().unwrap_or(u32::MAX);
            for &b in &self.near {
                // A pair of awake cubes is met once, from the lower of the two.
                let their_rank = self.rank.get(b as usize).copied().unwrap_or(u32::MAX);
                if b == a || (their_rank != u32::MAX && their_rank < my_rank) {
                    continue;
                }
                if let Some((x, y)) = pair_mut(&mut self.cubes, a as usize, b as usize) {
                    physics::collide(&mut x.body, &mut y.body, rules);
                }
            }
        }
        for cube in self.cubes.iter_mut().filter(|c| c.body.awake) {
            physics::walls(&mut cube.body, rules, MAX_HEIGHT_M);
            physics::settle(&mut cube.body, rules);
            cube.state = body_state(KIND_CUBE, cube.body.pos, cube.body.rot);
        }
        for p in self.pushers.values_mut() {
            p.state = pusher_state(&p.drive, rules);
        }
        self.tick = self.tick.next();
    }

    /// Appends every entity's replicated state, ascending by network index: the cubes, then
    /// the pushers.
    pub fn replicate(&self, out: &mut Vec<NetEntity>) {
        out.extend(self.cubes.iter().enumerate().map(|(i, c)| NetEntity {
            index: i as u32,
            uid: 0,
            state: c.state,
        }));
        let cubes = self.cubes.len() as u32;
        out.extend(self.pushers.iter().map(|(id, p)| {
            let (index, uid) = pusher_net_id(id, cubes);
            NetEntity {
                index,
                uid,
                state: p.state,
            }
        }));
    }

    /// A digest of the whole state, to check that two runs are identical.
    #[must_use]
    pub fn state_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.tick.get().hash(&mut h);
        for c in &self.cubes {
            c.state.hash(&mut h);
            c.body.awake.hash(&mut h);
        }
        for (id, p) in &self.pushers {
            id.hash(&mut h);
            p.state.hash(&mut h);
        }
        h.finish()
    }
}

/// Two distinct elements of `v`, mutably.
fn pair_mut<T>(v: &mut [T], a: usize, b: usize) -> Option<(&mut T, &mut T)> {
    let (low, high) = (a.min(b), a.max(b));
    let (left, right) = v.split_at_mut_checked(high)?;
    let (l, h) = (left.get_mut(low)?, right.first_mut()?);
    match (a < b, a == b) {
        (_, true) => None,
        (true, false) => Some((l, h)),
        (false, false) => Some((h, l)),
    }
}

/// A pusher's replicated state: on the floor, turned by its heading.
fn pusher_state(d: &Drive, rules: &CubesRules) -> EntityState {
    let pos = d.pos.extend(rules.pusher_half());
    body_state(KIND_PUSHER, pos, Quat::from_rotation_z(yaw_rad(d.yaw)))
}

/// Cells over the floor and which cubes are in each, rebuilt each tick by counting (no
/// allocation once warm).
#[derive(Debug)]
struct Grid {
    cell_m: f32,
    columns: usize,
    rows: usize,
    /// Where each cell's cubes start in `items` (one more entry than cells).
    start: Vec<u32>,
    items: Vec<u32>,
    cell_of: Vec<u32>,
}

impl Grid {
    fn new(floor: Vec2, cell_m: f32) -> Self {
        let cell_m = cell_m.max(0.01);
        let columns = ((floor.x / cell_m).ceil() as usize).max(1);
        let rows = ((floor.y / cell_m).ceil() as usize).max(1);
        Self {
            cell_m,
            columns,
            rows,
            start: vec![0; columns * rows + 1],
            items: Vec::new(),
            cell_of: Vec::new(),
        }
    }

    fn cell(&self, p: Vec2) -> (usize, usize) {
        let at = |v: f32, n: usize| ((v / self.cell_m).floor().max(0.0) as usize).min(n - 1);
        (at(p.x, self.columns), at(p.y, self.rows))
    }

    fn rebuild(&mut self, positions: impl Iterator<Item = Vec2>) {
        self.cell_of.clear();
        for p in positions {
            let (x, y) = self.cell(p);
            self.cell_of.push((y * self.columns + x) as u32);
        }
        self.start.fill(0);
        for &c in &self.cell_of {
            if let Some(n) = self.start.get_mut(c as usize + 1) {
                *n += 1;
            }
        }
        for i in 1..self.start.len() {
            let before = self.start.get(i - 1).copied().unwrap_or(0);
            if let Some(n) = self.start.get_mut(i) {
                *n += before;
            }
        }
        self.items.clear();
        self.items.resize(self.cell_of.len(), 0);
        // Fill each cell from its start; `start[c]` walks forward, then is restored below.
        for (i, &c) in self.cell_of.iter().enumerate() {
            if let Some(slot) = self.start.get_mut(c as usize) {
                if let Some(item) = self.items.get_mut(*slot as usize) {
                    *item = i as u32;
                }
                *slot += 1;
            }
        }
        // Each cell's start walked to the next cell's start: shift back by one cell.
        for i in (1..self.start.len()).rev() {
            let before = self.start.get(i - 1).copied().unwrap_or(0);
            if let Some(n) = self.start.get_mut(i) {
                *n = before;
            }
        }
        if let Some(first) = self.start.first_mut() {
            *first = 0;
        }
    }

    /// The items in the cells within `reach` of `p`, into `out`.
    fn near(&self, p: Vec2, reach: f32, out: &mut Vec<u32>) {
        out.clear();
        let (x0, y0) = self.cell(p - Vec2::splat(reach));
        let (x1, y1) = self.cell(p + Vec2::splat(reach));
        for y in y0..=y1 {
            let row = y * self.columns;
            let from = self.start.get(row + x0).copied().unwrap_or(0) as usize;
            let to = self.start.get(row + x1 + 1).copied().unwrap_or(0) as usize;
            out.extend_from_slice(self.items.get(from..to).unwrap_or_default());
        }
    }
}

/// The direction `yaw` steps face, for bots and views.
#[must_use]
pub fn facing(yaw: i32) -> Vec2 {
    Vec2::from_angle(yaw_rad(yaw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cubes3d::config::CubesConfig;
    use glam::Vec3;
    use tickwire_netcode::TickRate;

    fn world(config: CubesConfig) -> World {
        World::new(CubesRules::new(config, TickRate::new(60).unwrap()).unwrap())
    }

    #[test]
    fn the_grid_finds_every_cube_near_a_point() {
        let mut w = world(CubesConfig::default());
        w.grid
            .rebuild(w.cubes.iter().map(|c| c.body.pos.truncate()));
        let p = Vec2::new(31.0, 33.0);
        let mut near = Vec::new();
        w.grid.near(p, 2.0, &mut near);
        let brute: Vec<u32> = (0..w.cubes.len() as u32)
            .filter(|&i| w.cubes[i as usize].body.pos.truncate().distance(p) <= 2.0)
            .collect();
        assert!(!brute.is_empty());
        assert!(
            brute.iter().all(|i| near.contains(i)),
            "{brute:?} ⊄ {near:?}"
        );
    }

    #[test]
    fn a_pusher_driving_through_the_field_wakes_cubes_that_later_sleep_again() {
        let mut w = world(CubesConfig::default());
        let p = w.spawn_pusher();
        let start = w.pusher(p).unwrap().drive.pos;
        let before: Vec<Vec3> = w.cubes().iter().map(|c| c.body.pos).collect();
        // Across the floor through the middle, and beyond.
        let through = Vec2::splat(32.0) + (Vec2::splat(32.0) - start);
        let mut most_awake = 0;
        for _ in 0..300 {
            let to = (through - w.pusher(p).unwrap().drive.pos).normalize_or_zero();
            w.steer(p, to);
            w.step();
            most_awake = most_awake.max(w.awake());
        }
        assert!(w.pusher(p).unwrap().drive.pos.distance(start) > 30.0);
        assert!(
            most_awake > 20,
            "the pusher woke at most {most_awake} cubes at once"
        );
        // Let go: everything comes to rest and sleeps.
        for _ in 0..60 * 15 {
            w.step();
        }
        let stuck: Vec<_> = w.cubes().iter().filter(|c| c.body.awake).collect();
        assert!(stuck.is_empty(), "cubes still awake after 15 s: {stuck:?}");
        let moved = w
            .cubes()
            .iter()
            .zip(&before)
            .filter(|(c, b)| c.body.pos.distance(**b) > 0.5)
            .count();
        assert!(moved > 20, "only {moved} cubes were shoved aside");
        for c in w.cubes() {
            assert!(c.body.pos.z >= 0.4 && c.body.pos.z < MAX_HEIGHT_M, "{c:?}");
        }
    }

    #[test]
    fn the_same_seed_and_sticks_give_the_same_world() {
        let run = || {
            let mut w = world(CubesConfig::default());
            let a = w.spawn_pusher();
            let b = w.spawn_pusher();
            for i in 0..600 {
                w.steer(a, Vec2::from_angle(i as f32 * 0.01));
                w.steer(b, Vec2::from_angle(-(i as f32) * 0.02));
                w.step();
            }
            w.state_hash()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn replication_is_sorted_and_in_range() {
        let mut w = world(CubesConfig::default());
        let p = w.spawn_pusher();
        w.steer(p, Vec2::X);
        w.step();
        let mut out = Vec::new();
        w.replicate(&mut out);
        assert_eq!(out.len(), 902);
        assert!(out.windows(2).all(|x| x[0].index < x[1].index));
        let schema = super::super::replication::cubes_schema(w.rules().config());
        for e in &out {
            let specs = schema.fields(e.state.kind).unwrap();
            assert!(
                specs.iter().zip(e.state.fields).all(|(s, v)| s.contains(v)),
                "{e:?}"
            );
        }
    }
}
