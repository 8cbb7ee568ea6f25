//! The arena as a Tickwire server hosts it: the [`Game`] implementation around [`World`].
//!
//! What it adds to the world is the glue with the room: inputs off the wire, shots judged
//! against hitboxes rewound to what each shooter saw, the hitboxes to remember, each
//! client's view and the weight of entities in it, and the `ShotJudged` event a shooter is
//! sent.

use std::cell::RefCell;

use glam::Vec2;
use tickwire_netcode::game::{Census, Game, LagCompensation, TickInput};
use tickwire_netcode::lag_compensation::PastHitbox;
use tickwire_netcode::schema::{MAX_FIELDS, NetEntity, Replicate, Schema};
use tickwire_netcode::{ConfigError, Tick, TickRate, TickTime};

use super::client::ArenaPrediction;
use super::config::ArenaConfig;
use super::entity::{Body, EntityId};
use super::event::GameEvent;
use super::hit_test::{Hitbox, HitboxSource, PresentHitboxes};
use super::input::PlayerInput;
use super::replication::{
    ArenaEvent, KIND_PLAYER, WireInput, arena_schema, entity_id, net_id, own_state, position,
};
use super::rules::Rules;
use super::world::World;

/// The arena, hosted: its [`World`] and what stepping it in a room needs, reused every tick.
#[derive(Debug)]
pub struct Arena {
    world: World,
    inputs: Vec<(EntityId, PlayerInput)>,
    /// The moment each shooter of this tick was looking at.
    views: Vec<(EntityId, TickTime)>,
    scratch: RefCell<Vec<PastHitbox>>,
    events: Vec<(EntityId, ArenaEvent)>,
}

impl Arena {
    /// The arena around `world` (a scene set up by hand).
    #[must_use]
    pub fn from_world(world: World) -> Self {
        Self {
            world,
            inputs: Vec::new(),
            views: Vec::new(),
            scratch: RefCell::new(Vec::new()),
            events: Vec::new(),
        }
    }

    /// The world.
    #[must_use]
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to set up a scene (tests, scripted starts).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

impl Game for Arena {
    const NAME: &'static str = "arena";

    type Config = ArenaConfig;
    type Input = WireInput;
    type Player = EntityId;
    type Event = ArenaEvent;
    /// The player's position and its network index.
    type Viewer = (Vec2, u32);
    type Prediction = ArenaPrediction;

    fn new(config: &ArenaConfig, rate: TickRate) -> Result<Self, ConfigError> {
        Ok(Self::from_world(World::new(Rules::new(
            config.clone(),
            rate,
        )?)))
    }

    fn retune(&mut self, config: &ArenaConfig) -> Result<(), ConfigError> {
        let rules = Rules::new(config.clone(), self.world.rules().tick_rate())?;
        self.world.set_rules(rules);
        Ok(())
    }

    fn prediction(config: &ArenaConfig, rate: TickRate) -> Result<ArenaPrediction, ConfigError> {
        Ok(ArenaPrediction::new(Rules::new(config.clone(), rate)?))
    }

    fn schema(config: &ArenaConfig) -> Schema {
        arena_schema(config)
    }

    fn tick(&self) -> Tick {
        self.world.tick()
    }

    fn spawn_player(&mut self) -> Option<EntityId> {
        Some(self.world.spawn_player())
    }

    fn despawn_player(&mut self, player: EntityId) {
        self.world.remove(player);
    }

    fn net_index(&self, player: EntityId) -> u32 {
        net_id(player).0
    }

    fn step(&mut self, inputs: &[TickInput<EntityId, WireInput>], lag: &LagCompensation<'_>) {
        let tick = self.world.tick();
        self.inputs.clear();
        self.views.clear();
        self.events.clear();
        for i in inputs {
            let input = i.input.to_input();
            if input.fire {
                self.views.push((i.player, i.view));
            }
            self.inputs.push((i.player, input));
        }
        let source = Rewound {
            lag,
            views: &self.views,
            scratch: &self.scratch,
        };
        self.world.step_with(&self.inputs, &source);
        for event in self.world.events() {
            if let GameEvent::Fired { shooter, hit } = *event {
                let target = hit.map(|e| net_id(e).0);
                self.events
                    .push((shooter, ArenaEvent::ShotJudged { tick, target }));
            }
        }
    }

    fn replicate(&self, out: &mut Vec<NetEntity>) {
        self.world.replicate(out);
    }

    fn viewer(&self, player: EntityId, own: &mut [i32; MAX_FIELDS]) -> Option<(Vec2, u32)> {
        let me = self.world.get(player)?;
        for (slot, v) in own.iter_mut().zip(own_state(me)) {
            *slot = v;
        }
        Some((me.pos, net_id(player).0))
    }

    /// Its own player most, other players more than props, near more than far.
    fn weight(&(viewer, own_index): &(Vec2, u32), e: &NetEntity) -> f32 {
        if e.index == own_index {
            return 16.0;
        }
        let near = 1.0 / (1.0 + position(&e.state).distance(viewer) / 20.0);
        if e.state.kind == KIND_PLAYER {
            4.0 * near
        } else {
            near
        }
    }

    fn hitboxes(&self, out: &mut Vec<PastHitbox>) {
        let radius = self.world.rules().config().player_radius_m;
        out.extend(
            self.world
                .players()
                .filter(|(_, _, p)| p.is_alive())
                .map(|(id, e, _)| {
                    let (index, uid) = net_id(id);
                    PastHitbox {
                        index,
                        uid,
                        center: [e.pos.x, e.pos.y, 0.0],
                        radius,
                    }
                }),
        );
    }

    fn events(&self) -> &[(EntityId, ArenaEvent)] {
        &self.events
    }

    fn census(&self) -> Census {
        let mut census = Census::default();
        for (_, e) in self.world.entities() {
            match e.body {
                Body::Player(_) => census.players += 1,
                Body::Prop(_) => {
                    census.props += 1;
                    census.moving_props += usize::from(e.vel != Vec2::ZERO);
                }
            }
        }
        census
    }
}

/// Hitboxes rewound to what each shooter saw.
struct Rewound<'a> {
    lag: &'a LagCompensation<'a>,
    views: &'a [(EntityId, TickTime)],
    scratch: &'a RefCell<Vec<PastHitbox>>,
}

impl HitboxSource for Rewound<'_> {
    fn hitboxes(&self, world: &World, shooter: EntityId, out: &mut Vec<Hitbox>) {
        let Some(&(_, view)) = self.views.iter().find(|(e, _)| *e == shooter) else {
            PresentHitboxes.hitboxes(world, shooter, out);
            return;
        };
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        if !self.lag.rewind(view, &mut scratch) {
            PresentHitboxes.hitboxes(world, shooter, out);
            return;
        }
        let me = net_id(shooter);
        for h in scratch.iter().filter(|h| (h.index, h.uid) != me) {
            let entity = entity_id(h.index, h.uid);
            if world
                .get(entity)
                .is_some_and(|e| matches!(e.body, Body::Player(_)))
            {
                out.push(Hitbox {
                    entity,
                    center: Vec2::new(h.center[0], h.center[1]),
                    radius: h.radius,
                });
            }
        }
    }
}
