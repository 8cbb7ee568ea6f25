//! The arena's whole state and the step that advances it.

use glam::Vec2;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use slotmap::SlotMap;
use tickwire_netcode::Tick;

use crate::arena::collision::overlaps_any;
use crate::arena::entity::{Body, Entity, EntityId, Player, Prop};
use crate::arena::event::GameEvent;
use crate::arena::hit_test::{Hitbox, HitboxSource, PresentHitboxes, hit_test};
use crate::arena::input::PlayerInput;
use crate::arena::movement::move_player;
use crate::arena::props::step_props;
use crate::arena::rules::Rules;

/// Attempts at finding a clear spot before settling for the last one tried.
const PLACEMENT_ATTEMPTS: u32 = 64;

/// The arena: every entity, the rules, the tick, and the seeded random generator.
///
/// Deterministic: two worlds built from the same [`Rules`] and stepped with the same inputs
/// in the same order hold bit-identical state ([`World::state_hash`]).
#[derive(Debug)]
pub struct World {
    rules: Rules,
    tick: Tick,
    entities: SlotMap<EntityId, Entity>,
    spawn_points: Vec<Vec2>,
    rng: ChaCha8Rng,
    events: Vec<GameEvent>,
    // Reused every step so a warm world allocates nothing per tick.
    shooters: Vec<(EntityId, Vec2, f32)>,
    hitboxes: Vec<Hitbox>,
    pushers: Vec<Vec2>,
}

impl World {
    /// A world at tick 0 with seeded spawn points and `prop_count` resting props.
    #[must_use]
    pub fn new(rules: Rules) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(rules.config().seed);
        let c = rules.config();
        let spawn_points = (0..c.spawn_points)
            // On the wire's grid, so a respawned player's state is exactly what clients see.
            .map(|_| {
                crate::arena::quantize::snap_pos(clear_spot(
                    &mut rng,
                    &rules,
                    c.player_radius_m * 2.0,
                ))
            })
            .collect();
        let mut entities = SlotMap::with_capacity_and_key(c.prop_count as usize + 64);
        for _ in 0..c.prop_count {
            let pos = clear_spot(&mut rng, &rules, c.prop_radius_m);
            let angle_rad = rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
            let prop = Prop {
                angle_rad,
                spin_radps: 0.0,
            };
            entities.insert(Entity {
                pos,
                vel: Vec2::ZERO,
                body: Body::Prop(prop),
            });
        }
        Self {
            rules,
            tick: Tick::ZERO,
            entities,
            spawn_points,
            rng,
            events: Vec::new(),
            shooters: Vec::new(),
            hitboxes: Vec::new(),
            pushers: Vec::new(),
        }
    }

    /// The rules in force.
    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Replaces the rules (live tuning). Takes effect from the next step; the prop count and
    /// spawn points stay as they were built.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// The tick of the current state: the number of steps taken.
    #[must_use]
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// Where players (re)spawn (metres).
    #[must_use]
    pub fn spawn_points(&self) -> &[Vec2] {
        &self.spawn_points
    }

    /// What happened during the last step.
    #[must_use]
    pub fn events(&self) -> &[GameEvent] {
        &self.events
    }

    /// Number of entities (players and props).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether the world holds no entity at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Every entity, in a deterministic order.
    pub fn entities(&self) -> impl Iterator<Item = (EntityId, &Entity)> {
        self.entities.iter()
    }

    /// Every player, in a deterministic order.
    pub fn players(&self) -> impl Iterator<Item = (EntityId, &Entity, &Player)> {
        self.entities
            .iter()
            .filter_map(|(id, e)| e.as_player().map(|p| (id, e, p)))
    }

    /// One entity, if it exists.
    #[must_use]
    pub fn get(&self, id: EntityId) -> Option<&Entity> {
        self.entities.get(id)
    }

    /// One entity, mutably, to set up a scene (tests, benchmarks, scripted starts).
    pub fn get_mut(&mut self, id: EntityId) -> Option<&mut Entity> {
        self.entities.get_mut(id)
    }

    /// Adds a player at a seeded spawn point, alive and at full health.
    pub fn spawn_player(&mut self) -> EntityId {
        let pos = self.pick_spawn_point();
        let player = Player {
            health: self.rules.config().max_health,
            ..Player::default()
        };
        let id = self.entities.insert(Entity {
            pos,
            vel: Vec2::ZERO,
            body: Body::Player(player),
        });
        self.reserve_for_players();
        id
    }

    /// Sizes the per-step buffers for the worst tick the current players can produce, so
    /// stepping never allocates: each player fires at most once and can cause at most four
    /// events (fired, damaged, killed, respawned).
    fn reserve_for_players(&mut self) {
        let players = self.players().count();
        fn at_least<T>(v: &mut Vec<T>, n: usize) {
            v.reserve(n.saturating_sub(v.len()));
        }
        at_least(&mut self.events, 4 * players);
        at_least(&mut self.shooters, players);
        at_least(&mut self.hitboxes, players);
        at_least(&mut self.pushers, players);
    }

    /// Removes an entity (a player who left), returning it.
    pub fn remove(&mut self, id: EntityId) -> Option<Entity> {
        self.entities.remove(id)
    }

    /// Advances one tick with hit tests against the present positions.
    ///
    /// `inputs` pairs players with their input for this tick; inputs for unknown or dead
    /// players are ignored, every input is sanitized, and a player with no input neither
    /// moves under its own power nor fires.
    pub fn step(&mut self, inputs: &[(EntityId, PlayerInput)]) {
        self.step_with(inputs, &PresentHitboxes);
    }

    /// Advances one tick, testing shots against hitboxes from `hitboxes` (for example the
    /// other players rewound to what the shooter saw).
    pub fn step_with(&mut self, inputs: &[(EntityId, PlayerInput)], hitboxes: &dyn HitboxSource) {
        self.events.clear();
        for (id, input) in inputs {
            if let Some(Entity {
                body: Body::Player(player),
                ..
            }) = self.entities.get_mut(*id)
            {
                player.pending_input = Some(input.sanitized());
            }
        }
        self.update_players();
        self.resolve_shots(hitboxes);
        self.pushers.clear();
        let alive = self
            .entities
            .values()
            .filter(|e| e.as_player().is_some_and(Player::is_alive));
        self.pushers.extend(alive.map(|e| e.pos));
        step_props(
            &mut self.entities,
            &self.rules,
            &mut self.rng,
            &self.pushers,
        );
        self.tick = self.tick.next();
    }

    /// Timers, respawns, aim and movement; queues this tick's shots.
    fn update_players(&mut self) {
        self.shooters.clear();
        let ids: &mut Vec<(EntityId, Vec2, f32)> = &mut self.shooters;
        for (id, entity) in &mut self.entities {
            let Body::Player(player) = &mut entity.body else {
                continue;
            };
            let input = player.pending_input.take();
            player.cooldown_ticks = player.cooldown_ticks.saturating_sub(1);
            if !player.is_alive() {
                player.dead_ticks += 1;
                // A trade: shots fired before the player could know they were dead count.
                let trigger = input.is_some_and(|i| i.fire) && player.cooldown_ticks == 0;
                if player.dead_ticks <= self.rules.trade_window_ticks() {
                    let movement = input.map_or(Vec2::ZERO, |i| i.movement);
                    move_player(
                        &mut player.ghost_pos,
                        &mut player.ghost_vel,
                        movement,
                        &self.rules,
                    );
                    if trigger {
                        player.cooldown_ticks = self.rules.fire_cooldown_ticks();
                        let aim = input.map_or(player.aim_rad, |i| i.aim_rad);
                        ids.push((id, player.ghost_pos, aim));
                    }
                }
                if player.respawn_ticks > 1 {
                    player.respawn_ticks -= 1;
                } else {
                    let spot = self.rng.random_range(0..self.spawn_points.len().max(1));
                    entity.pos = self.spawn_points.get(spot).copied().unwrap_or_default();
                    entity.vel = Vec2::ZERO;
                    player.respawn_ticks = 0;
                    player.dead_ticks = 0;
                    player.health = self.rules.config().max_health;
                    self.events.push(GameEvent::Respawned { player: id });
                }
                continue;
            }
            let input = input.unwrap_or_else(|| PlayerInput {
                aim_rad: player.aim_rad,
                ..PlayerInput::default()
            });
            player.aim_rad = input.aim_rad;
            move_player(
                &mut entity.pos,
                &mut entity.vel,
                input.movement,
                &self.rules,
            );
            if input.fire && player.cooldown_ticks == 0 {
                player.cooldown_ticks = self.rules.fire_cooldown_ticks();
                ids.push((id, entity.pos, player.aim_rad));
            }
        }
    }

    /// Tests each queued shot and applies damage, deaths and score.
    fn resolve_shots(&mut self, source: &dyn HitboxSource) {
        let shooters = std::mem::take(&mut self.shooters);
        let mut boxes = std::mem::take(&mut self.hitboxes);
        let c = self.rules.config();
        let (damage, range, respawn) = (
            c.weapon_damage,
            c.weapon_range_m,
            self.rules.respawn_ticks(),
        );
        for &(shooter, origin, aim) in &shooters {
            boxes.clear();
            source.hitboxes(self, shooter, &mut boxes);
            let hit = hit_test(origin, aim, range, &boxes, &self.rules.config().obstacles);
            let target = hit.map(|h| h.target);
            self.events.push(GameEvent::Fired {
                shooter,
                hit: target,
            });
            let Some(target) = target else { continue };
            let Some(Entity {
                body: Body::Player(victim),
                vel,
                pos,
            }) = self.entities.get_mut(target)
            else {
                continue;
            };
            if !victim.is_alive() {
                continue; // killed by an earlier shot this tick
            }
            victim.health = victim.health.saturating_sub(damage);
            self.events.push(GameEvent::Damaged {
                shooter,
                target,
                damage,
            });
            if victim.is_alive() {
                continue;
            }
            victim.deaths += 1;
            victim.respawn_ticks = respawn.max(1);
            victim.ghost_pos = *pos;
            victim.ghost_vel = *vel;
            *vel = Vec2::ZERO;
            self.events.push(GameEvent::Killed { shooter, target });
            if let Some(Entity {
                body: Body::Player(killer),
                ..
            }) = self.entities.get_mut(shooter)
            {
                killer.score += 1;
            }
        }
        self.shooters = shooters;
        self.hitboxes = boxes;
    }

    fn pick_spawn_point(&mut self) -> Vec2 {
        let spot = self.rng.random_range(0..self.spawn_points.len().max(1));
        self.spawn_points.get(spot).copied().unwrap_or_default()
    }

    /// A 64-bit FNV-1a hash of the whole simulated state (tick, every entity's every field,
    /// bit for bit). Equal hashes after equal steps are the determinism check.
    #[must_use]
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv1a::default();
        h.u32(self.tick.get());
        for (id, e) in &self.entities {
            h.u64(slotmap::Key::data(&id).as_ffi());
            h.vec2(e.pos);
            h.vec2(e.vel);
            match &e.body {
                Body::Player(p) => {
                    h.u32(0);
                    h.u32(p.aim_rad.to_bits());
                    h.u32(u32::from(p.health));
                    h.u32(p.score);
                    h.u32(p.deaths);
                    h.u32(p.respawn_ticks);
                    h.u32(p.cooldown_ticks);
                    h.u32(p.dead_ticks);
                    h.vec2(p.ghost_pos);
                    h.vec2(p.ghost_vel);
                }
                Body::Prop(p) => {
                    h.u32(1);
                    h.u32(p.angle_rad.to_bits());
                    h.u32(p.spin_radps.to_bits());
                }
            }
        }
        h.0
    }
}

/// A random spot inside the arena, `clearance` metres from every wall and obstacle if one is
/// found within [`PLACEMENT_ATTEMPTS`].
fn clear_spot(rng: &mut ChaCha8Rng, rules: &Rules, clearance: f32) -> Vec2 {
    let c = rules.config();
    let lo = Vec2::splat(clearance);
    let hi = (Vec2::new(c.width_m, c.height_m) - lo).max(lo + Vec2::splat(f32::EPSILON));
    let mut spot = (lo + hi) * 0.5;
    for _ in 0..PLACEMENT_ATTEMPTS {
        spot = Vec2::new(rng.random_range(lo.x..hi.x), rng.random_range(lo.y..hi.y));
        if !overlaps_any(spot, clearance, &c.obstacles) {
            break;
        }
    }
    spot
}

/// FNV-1a, 64-bit: tiny, stable across Rust versions (unlike `DefaultHasher`).
#[derive(Debug)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn vec2(&mut self, v: Vec2) {
        self.u32(v.x.to_bits());
        self.u32(v.y.to_bits());
    }
}

#[cfg(test)]
#[path = "world_tests.rs"]
mod tests;
