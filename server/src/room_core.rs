//! One room's game and netcode, sans-IO: inputs in, one tick, snapshot datagrams out.
//!
//! The room's tick thread (and the deterministic network tests) drive this: feed it each
//! client's datagrams, call [`RoomCore::tick`] once per tick, and send what it hands back.
//! It never reads a clock or touches a socket.

use std::cell::RefCell;

use glam::Vec2;
use tickwire_netcode::input_buffer::InputStats;
use tickwire_netcode::lag_compensation::{HitboxHistory, PastHitbox};
use tickwire_netcode::protocol::{ProtocolError, RejectReason, Welcome};
use tickwire_netcode::schema::{MAX_FIELDS, NetEntity, Replicate, Schema};
use tickwire_netcode::server::{Audience, ServerNetcode, Settings};
use tickwire_netcode::snapshot::SendError;
use tickwire_netcode::tunables::{Tunable, flatten};
use tickwire_netcode::{ConfigError, Tick, TickTime};
use tickwire_sim::replication::{
    KIND_PLAYER, WireInput, arena_schema, entity_id, net_id, own_state,
};
use tickwire_sim::{Body, EntityId, GameEvent, Hitbox, HitboxSource, PlayerInput, World};

use crate::config::ServerConfig;

pub use tickwire_netcode::server::ClientId;

/// Figures of a room (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Shots fired.
    pub shots: u64,
    /// Shots judged at the rewind limit because the shooter viewed an older moment.
    pub rewinds_clamped: u64,
    /// Snapshot datagrams produced.
    pub datagrams_out: u64,
    /// Snapshot bytes produced.
    pub bytes_out: u64,
    /// Input datagrams that did not decode.
    pub bad_datagrams: u64,
    /// Inputs that arrived after their tick had run (all clients).
    pub inputs_late: u64,
    /// Ticks a client's input was missing and its last one repeated (all clients).
    pub inputs_missing: u64,
    /// Snapshots not sent to clients that stopped acknowledging (see the back-off).
    pub snapshots_held_back: u64,
    /// Snapshots that could not be encoded for a client (a server fault; the client is
    /// disconnected, the others served).
    pub send_failures: u64,
}

/// One room: the arena world around the server half of its clients' netcode
/// ([`ServerNetcode`]), and the lag-compensation glue between them.
#[derive(Debug)]
pub struct RoomCore {
    name: String,
    world: World,
    config: ServerConfig,
    net: ServerNetcode<WireInput>,
    /// The game's tunables as the welcome tells them, made when the rules change.
    tunables: Vec<Tunable>,
    hitboxes: HitboxHistory,
    /// Each client's player.
    players: Vec<(ClientId, EntityId)>,
    inputs: Vec<(EntityId, PlayerInput)>,
    views: Vec<(EntityId, TickTime)>,
    rewind_scratch: RefCell<Vec<PastHitbox>>,
    shots: u64,
    rewinds_clamped: u64,
    fired: Vec<Shot>,
}

/// A shot the last tick resolved, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shot {
    /// The shooter.
    pub client: ClientId,
    /// The input tick the shot was fired at.
    pub tick: Tick,
    /// The player struck, if any.
    pub hit: Option<EntityId>,
}

/// The arena's configuration as tunables.
fn arena_tunables(config: &ServerConfig) -> Result<Vec<Tunable>, ConfigError> {
    flatten(&config.arena).map_err(|e| ConfigError::invalid("arena", "…", e.to_string()))
}

impl RoomCore {
    /// A room named `name` running `config`'s arena.
    ///
    /// # Errors
    /// [`ConfigError`] if the arena or tick rate is invalid.
    pub fn new(name: &str, config: &ServerConfig) -> Result<Self, ConfigError> {
        let rules = config.rules()?;
        let tunables = arena_tunables(config)?;
        let schema = arena_schema(rules.config());
        let max_rewind_ticks =
            rules
                .tick_rate()
                .ticks_in(std::time::Duration::from_millis(u64::from(
                    config.net.max_rewind_ms,
                )));
        let net = ServerNetcode::new(
            schema,
            Settings {
                snapshot_interval_ticks: config.snapshot_interval_ticks(),
                budget_bytes_per_snapshot: budget_bytes_per_snapshot(config),
                max_datagram_bytes: config.net.max_datagram_bytes as usize,
            },
        );
        Ok(Self {
            name: name.to_owned(),
            world: World::new(rules),
            config: config.clone(),
            net,
            tunables,
            hitboxes: HitboxHistory::new(max_rewind_ticks),
            players: Vec::new(),
            inputs: Vec::new(),
            views: Vec::new(),
            rewind_scratch: RefCell::new(Vec::new()),
            shots: 0,
            rewinds_clamped: 0,
            fired: Vec::new(),
        })
    }

    /// The room's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
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

    /// The replication schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        self.net.schema()
    }

    /// Figures so far.
    #[must_use]
    pub fn stats(&self) -> RoomStats {
        let net = self.net.stats();
        RoomStats {
            shots: self.shots,
            rewinds_clamped: self.rewinds_clamped,
            datagrams_out: net.datagrams_out,
            bytes_out: net.bytes_out,
            bad_datagrams: net.bad_datagrams,
            inputs_late: net.inputs_late,
            inputs_missing: net.inputs_missing,
            snapshots_held_back: net.snapshots_held_back,
            send_failures: net.send_failures,
        }
    }

    /// Shots resolved by the last tick.
    #[must_use]
    pub fn shots(&self) -> &[Shot] {
        &self.fired
    }

    /// Clients in the room.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.net.len()
    }

    /// A client's player entity.
    #[must_use]
    pub fn entity_of(&self, id: ClientId) -> Option<EntityId> {
        player_of(&self.players, id)
    }

    /// How many of a client's datagrams did not decode.
    #[must_use]
    pub fn bad_datagrams(&self, id: ClientId) -> u64 {
        self.net.bad_datagrams(id)
    }

    /// A client's input counts.
    #[must_use]
    pub fn input_stats(&self, id: ClientId) -> Option<InputStats> {
        self.net.input_stats(id)
    }

    /// Applies live-tunable values of `config` (gameplay rules, snapshot rate, interpolation
    /// delay) from the next tick. The caller checks [`ServerConfig::live_changes`] first.
    ///
    /// A new snapshot rate takes effect on the next tick that falls on its grid; each
    /// client's budget per snapshot follows it so bytes per second stay the same, baselines
    /// keep their window in ticks, and lag compensation brackets shots with the snapshot
    /// ticks actually sent.
    ///
    /// # Errors
    /// [`ConfigError`] if the new arena values are invalid (nothing changes then).
    pub fn retune(&mut self, config: &ServerConfig) -> Result<(), ConfigError> {
        let rules = config.rules()?;
        self.tunables = arena_tunables(config)?;
        self.world.set_rules(rules);
        self.config.arena = config.arena.clone();
        self.config.net.interpolation_delay_ms = config.net.interpolation_delay_ms;
        if self.config.tick.snapshot_hz != config.tick.snapshot_hz {
            self.config.tick.snapshot_hz = config.tick.snapshot_hz;
            self.net.set_snapshot_interval(
                self.config.snapshot_interval_ticks(),
                budget_bytes_per_snapshot(&self.config),
            );
        }
        Ok(())
    }

    /// The smallest QUIC datagram limit (bytes) a client may have: one snapshot part must
    /// fit.
    #[must_use]
    pub fn min_datagram_bytes(&self) -> usize {
        self.net.min_datagram_bytes()
    }

    /// Admits a client whose connection carries datagrams of at most `max_datagram_bytes`
    /// (`None`: it enabled none): spawns its player and returns the welcome to send it.
    ///
    /// # Errors
    /// [`RejectReason::DatagramTooSmall`] when the client's datagrams cannot hold a snapshot
    /// part, [`RejectReason::RoomFull`] when the room holds `max_clients_per_room`.
    pub fn join(
        &mut self,
        max_datagram_bytes: Option<usize>,
    ) -> Result<(ClientId, Welcome), RejectReason> {
        self.net.admits(max_datagram_bytes)?;
        if self.net.len() >= self.config.server.max_clients_per_room as usize {
            return Err(RejectReason::RoomFull);
        }
        let id = self.net.join(self.world.tick(), max_datagram_bytes)?;
        let entity = self.world.spawn_player();
        self.players.push((id, entity));
        let welcome = Welcome {
            client_id: id.0,
            room: self.name.clone(),
            entity_index: net_id(entity).0,
            tick_hz: self.config.tick.tick_hz,
            snapshot_hz: self.config.tick.snapshot_hz,
            server_tick: self.world.tick(),
            interpolation_delay_ms: self.config.net.interpolation_delay_ms,
            max_rewind_ms: self.config.net.max_rewind_ms,
            input_buffer_ticks: self.config.net.input_buffer_ticks,
            baseline_window_ticks: self.net.window_ticks(),
            game: tickwire_sim::GAME_NAME.to_owned(),
            schema: self.net.schema().describe(),
            tunables: self.tunables.clone(),
        };
        Ok((id, welcome))
    }

    /// Removes a client and its player.
    pub fn leave(&mut self, id: ClientId) {
        self.net.leave(id);
        if let Some(at) = self.players.iter().position(|(c, _)| *c == id) {
            let (_, entity) = self.players.swap_remove(at);
            self.world.remove(entity);
        }
    }

    /// Takes one datagram from a client.
    ///
    /// # Errors
    /// [`ProtocolError`] if it is not a valid input datagram; it is dropped and counted.
    pub fn handle_datagram(&mut self, id: ClientId, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.net.handle_datagram(id, bytes)
    }

    /// Clients whose snapshot the last tick could not encode, with why: each is skipped
    /// (the others are served as usual) and should be disconnected. Only a server fault
    /// puts a client here; joins check what a client's datagrams can hold.
    #[must_use]
    pub fn send_failures(&self) -> &[(ClientId, SendError)] {
        self.net.send_failures()
    }

    /// Runs one tick and hands every snapshot datagram due to `send`. A client whose
    /// snapshot cannot be encoded is listed in [`send_failures`](Self::send_failures); it
    /// never stops the others' snapshots.
    pub fn tick(&mut self, send: &mut dyn FnMut(ClientId, &[u8])) {
        let tick = self.world.tick();
        self.inputs.clear();
        self.views.clear();
        self.fired.clear();
        for (client, frame) in self.net.take_inputs(tick) {
            let Some(entity) = player_of(&self.players, *client) else {
                continue;
            };
            let input = frame.input.to_input();
            if input.fire {
                let view = TickTime::at(tick)
                    .add_ticks(f64::from(frame.view_fraction) / 256.0 - f64::from(frame.view_ago));
                self.views.push((entity, view));
            }
            self.inputs.push((entity, input));
        }
        let source = Rewound {
            hitboxes: &self.hitboxes,
            views: &self.views,
            scratch: &self.rewind_scratch,
            clamped: RefCell::new(0),
        };
        self.world.step_with(&self.inputs, &source);
        self.rewinds_clamped += *source.clamped.borrow();
        for event in self.world.events() {
            if let GameEvent::Fired { shooter, hit } = *event {
                self.shots += 1;
                if let Some((client, _)) = self.players.iter().find(|(_, e)| *e == shooter) {
                    self.fired.push(Shot {
                        client: *client,
                        tick,
                        hit,
                    });
                }
            }
        }
        let now = self.world.tick();
        let radius = self.world.rules().config().player_radius_m;
        let snapshot_due = self.net.snapshot_due(now);
        self.hitboxes.record(
            now,
            snapshot_due,
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
        if snapshot_due {
            let world = &self.world;
            let audience = ArenaAudience {
                world,
                players: &self.players,
            };
            self.net
                .send_snapshots(now, |out| world.replicate(out), &audience, send);
        }
    }
}

/// Each client's budget per snapshot at `config`'s snapshot rate (bytes).
fn budget_bytes_per_snapshot(config: &ServerConfig) -> usize {
    (config.net.client_budget_bytes_per_s / config.tick.snapshot_hz.max(1)) as usize
}

/// The player entity of `client`.
fn player_of(players: &[(ClientId, EntityId)], client: ClientId) -> Option<EntityId> {
    players
        .iter()
        .find(|(c, _)| *c == client)
        .map(|(_, entity)| *entity)
}

/// What the arena says about each client's view: where its player is (near entities
/// matter more) and its own private fields.
struct ArenaAudience<'a> {
    world: &'a World,
    players: &'a [(ClientId, EntityId)],
}

impl Audience for ArenaAudience<'_> {
    /// The player's position and its network index.
    type Viewer = (Vec2, u32);

    fn viewer(&self, client: ClientId, own: &mut [i32; MAX_FIELDS]) -> Option<Self::Viewer> {
        let entity = player_of(self.players, client)?;
        let me = self.world.get(entity)?;
        for (slot, v) in own.iter_mut().zip(own_state(me)) {
            *slot = v;
        }
        Some((me.pos, net_id(entity).0))
    }

    fn weight(&(viewer, own_index): &Self::Viewer, entity: &NetEntity) -> f32 {
        priority(viewer, own_index, entity)
    }
}

/// How much an entity matters to a viewer: its own player most, other players more than
/// props, near more than far.
fn priority(viewer: Vec2, own_index: u32, e: &NetEntity) -> f32 {
    if e.index == own_index {
        return 16.0;
    }
    let pos = tickwire_sim::replication::position(&e.state);
    let near = 1.0 / (1.0 + pos.distance(viewer) / 20.0);
    if e.state.kind == KIND_PLAYER {
        4.0 * near
    } else {
        near
    }
}

/// Hitboxes rewound to what each shooter saw.
struct Rewound<'a> {
    hitboxes: &'a HitboxHistory,
    views: &'a [(EntityId, TickTime)],
    scratch: &'a RefCell<Vec<PastHitbox>>,
    clamped: RefCell<u64>,
}

impl HitboxSource for Rewound<'_> {
    fn hitboxes(&self, world: &World, shooter: EntityId, out: &mut Vec<Hitbox>) {
        let Some(&(_, view)) = self.views.iter().find(|(e, _)| *e == shooter) else {
            tickwire_sim::PresentHitboxes.hitboxes(world, shooter, out);
            return;
        };
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        if self.hitboxes.rewind(view, &mut scratch).clamped {
            *self.clamped.borrow_mut() += 1;
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
