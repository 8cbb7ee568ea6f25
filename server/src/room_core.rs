//! One room's game and netcode, sans-IO: inputs in, one tick, snapshot datagrams out.
//!
//! The room's tick thread (and the deterministic network tests) drive this: feed it each
//! client's datagrams, call [`RoomCore::tick`] once per tick, and send what it hands back.
//! It never reads a clock or touches a socket.

use std::cell::RefCell;

use glam::Vec2;
use tickwire_netcode::input_buffer::{InputBuffer, InputSource, InputStats};
use tickwire_netcode::lag_compensation::{HitboxHistory, PastHitbox};
use tickwire_netcode::protocol::{InputFrame, ProtocolError, RejectReason, Welcome, decode_input};
use tickwire_netcode::schema::{NetEntity, Schema};
use tickwire_netcode::snapshot::{
    Feedback, Private, SendError, SenderConfig, SharedEncoding, SnapshotSender, WorldHistory,
    min_datagram_bytes,
};
use tickwire_netcode::{ConfigError, Tick, TickTime, codec};
use tickwire_sim::replication::{
    KIND_PLAYER, WireInput, arena_schema, entity_id, net_id, own_state,
};
use tickwire_sim::{Body, EntityId, GameEvent, Hitbox, HitboxSource, PlayerInput, World};

use crate::config::ServerConfig;

/// A client's handle within its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u32);

/// Snapshots a client must keep as baselines: 32 snapshot intervals (as Quake 3).
const BASELINE_SNAPSHOTS: u32 = 32;
/// A client that has acknowledged none of this many snapshots in a row is not keeping up
/// (stalled, or its path is congested): it is sent only every [`LAGGING_EVERY`]th snapshot
/// until it acknowledges again. Deltas against old baselines cost the server the most
/// exactly when a client can least use them; backing off keeps an overloaded room from
/// spiralling and leaves the path room to drain.
const LAGGING_SNAPSHOTS: u32 = 16;
/// See [`LAGGING_SNAPSHOTS`].
const LAGGING_EVERY: u32 = 4;

#[derive(Debug)]
struct Client {
    id: ClientId,
    entity: EntityId,
    sender: SnapshotSender,
    inputs: InputBuffer<WireInput>,
    /// Datagrams from this client that did not decode.
    bad_datagrams: u64,
    /// Snapshot ticks since it started lagging (see [`LAGGING_SNAPSHOTS`]).
    lagging_for: u32,
}

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

/// One room: the arena world and the server side of every client's netcode.
#[derive(Debug)]
pub struct RoomCore {
    name: String,
    world: World,
    schema: Schema,
    config: ServerConfig,
    history: WorldHistory,
    /// How far back (ticks) baselines reach, fixed when the room starts (clients are told at
    /// welcome), so it stays valid when the snapshot rate changes live.
    window_ticks: u32,
    shared: SharedEncoding,
    hitboxes: HitboxHistory,
    clients: Vec<Client>,
    next_id: u32,
    inputs: Vec<(EntityId, PlayerInput)>,
    views: Vec<(EntityId, TickTime)>,
    rewind_scratch: RefCell<Vec<PastHitbox>>,
    stats: RoomStats,
    fired: Vec<Shot>,
    failures: Vec<(ClientId, SendError)>,
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

impl RoomCore {
    /// A room named `name` running `config`'s arena.
    ///
    /// # Errors
    /// [`ConfigError`] if the arena or tick rate is invalid.
    pub fn new(name: &str, config: &ServerConfig) -> Result<Self, ConfigError> {
        let rules = config.rules()?;
        let schema = arena_schema(rules.config());
        let max_rewind_ticks =
            rules
                .tick_rate()
                .ticks_in(std::time::Duration::from_millis(u64::from(
                    config.net.max_rewind_ms,
                )));
        Ok(Self {
            name: name.to_owned(),
            world: World::new(rules),
            schema,
            config: config.clone(),
            history: WorldHistory::new(BASELINE_SNAPSHOTS as usize + 1),
            window_ticks: BASELINE_SNAPSHOTS * config.snapshot_interval_ticks(),
            shared: SharedEncoding::new(),
            hitboxes: HitboxHistory::new(max_rewind_ticks),
            clients: Vec::new(),
            next_id: 1,
            inputs: Vec::new(),
            views: Vec::new(),
            rewind_scratch: RefCell::new(Vec::new()),
            stats: RoomStats::default(),
            fired: Vec::new(),
            failures: Vec::new(),
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
        &self.schema
    }

    /// Figures so far.
    #[must_use]
    pub fn stats(&self) -> RoomStats {
        self.stats
    }

    /// Shots resolved by the last tick.
    #[must_use]
    pub fn shots(&self) -> &[Shot] {
        &self.fired
    }

    /// Clients in the room.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// A client's player entity.
    #[must_use]
    pub fn entity_of(&self, id: ClientId) -> Option<EntityId> {
        self.client(id).map(|c| c.entity)
    }

    /// How many of a client's datagrams did not decode.
    #[must_use]
    pub fn bad_datagrams(&self, id: ClientId) -> u64 {
        self.client(id).map_or(0, |c| c.bad_datagrams)
    }

    /// A client's input counts.
    #[must_use]
    pub fn input_stats(&self, id: ClientId) -> Option<InputStats> {
        self.client(id).map(|c| c.inputs.stats())
    }

    fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    fn snapshot_interval(&self) -> u32 {
        self.config.snapshot_interval_ticks()
    }

    /// Each client's byte budget per snapshot at the current snapshot rate.
    fn budget_bytes_per_snapshot(&self) -> usize {
        (self.config.net.client_budget_bytes_per_s / self.config.tick.snapshot_hz.max(1)) as usize
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
        self.world.set_rules(rules);
        self.config.arena = config.arena.clone();
        self.config.net.interpolation_delay_ms = config.net.interpolation_delay_ms;
        if self.config.tick.snapshot_hz != config.tick.snapshot_hz {
            self.config.tick.snapshot_hz = config.tick.snapshot_hz;
            let budget_bytes_per_snapshot = self.budget_bytes_per_snapshot();
            for client in &mut self.clients {
                let sizes = SenderConfig {
                    budget_bytes_per_snapshot,
                    ..*client.sender.config()
                };
                client.sender.set_config(sizes);
            }
        }
        Ok(())
    }

    /// The smallest QUIC datagram limit (bytes) a client may have: one snapshot part must
    /// fit (see [`min_datagram_bytes`]).
    #[must_use]
    pub fn min_datagram_bytes(&self) -> usize {
        min_datagram_bytes(&self.schema, self.window_ticks)
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
        let needed = self.min_datagram_bytes();
        let max_datagram_bytes = max_datagram_bytes.unwrap_or(0);
        if max_datagram_bytes < needed {
            return Err(RejectReason::DatagramTooSmall {
                client_bytes: u32::try_from(max_datagram_bytes).unwrap_or(u32::MAX),
                needed_bytes: u32::try_from(needed).unwrap_or(u32::MAX),
            });
        }
        if self.clients.len() >= self.config.server.max_clients_per_room as usize {
            return Err(RejectReason::RoomFull);
        }
        let id = ClientId(self.next_id);
        self.next_id += 1;
        let entity = self.world.spawn_player();
        let window_ticks = self.window_ticks;
        let sender = SnapshotSender::new(SenderConfig {
            max_datagram_bytes: max_datagram_bytes.min(self.config.net.max_datagram_bytes as usize),
            budget_bytes_per_snapshot: self.budget_bytes_per_snapshot(),
            window_ticks,
        });
        self.clients.push(Client {
            id,
            entity,
            sender,
            inputs: InputBuffer::new(self.world.tick()),
            bad_datagrams: 0,
            lagging_for: 0,
        });
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
            baseline_window_ticks: window_ticks,
            game: codec::encode(self.world.rules().config()).unwrap_or_default(),
        };
        Ok((id, welcome))
    }

    /// Removes a client and its player.
    pub fn leave(&mut self, id: ClientId) {
        if let Some(at) = self.clients.iter().position(|c| c.id == id) {
            let client = self.clients.swap_remove(at);
            self.world.remove(client.entity);
        }
    }

    /// Takes one datagram from a client.
    ///
    /// # Errors
    /// [`ProtocolError`] if it is not a valid input datagram; it is dropped and counted.
    pub fn handle_datagram(&mut self, id: ClientId, bytes: &[u8]) -> Result<(), ProtocolError> {
        let Some(client) = self.clients.iter_mut().find(|c| c.id == id) else {
            return Ok(());
        };
        match decode_input::<WireInput>(bytes) {
            Ok(datagram) => {
                let late = client.inputs.stats().late;
                client.inputs.receive(&datagram);
                self.stats.inputs_late += u64::from(client.inputs.stats().late - late);
                if let Some(ack) = datagram.ack {
                    client.sender.on_ack(ack);
                }
                Ok(())
            }
            Err(e) => {
                client.bad_datagrams += 1;
                self.stats.bad_datagrams += 1;
                Err(e)
            }
        }
    }

    /// Clients whose snapshot the last tick could not encode, with why: each is skipped
    /// (the others are served as usual) and should be disconnected. Only a server fault
    /// puts a client here; joins check what a client's datagrams can hold.
    #[must_use]
    pub fn send_failures(&self) -> &[(ClientId, SendError)] {
        &self.failures
    }

    /// Runs one tick and hands every snapshot datagram due to `send`. A client whose
    /// snapshot cannot be encoded is listed in [`send_failures`](Self::send_failures); it
    /// never stops the others' snapshots.
    pub fn tick(&mut self, send: &mut dyn FnMut(ClientId, &[u8])) {
        let tick = self.world.tick();
        self.inputs.clear();
        self.views.clear();
        self.fired.clear();
        self.failures.clear();
        for client in &mut self.clients {
            let (frame, source) = client.inputs.take(tick, || InputFrame {
                view_ago: 0,
                view_fraction: 0,
                input: WireInput::default(),
            });
            self.stats.inputs_missing += u64::from(source == InputSource::Repeated);
            let input = frame.input.to_input();
            if input.fire {
                let view = TickTime::at(tick)
                    .add_ticks(f64::from(frame.view_fraction) / 256.0 - f64::from(frame.view_ago));
                self.views.push((client.entity, view));
            }
            self.inputs.push((client.entity, input));
        }
        let source = Rewound {
            hitboxes: &self.hitboxes,
            views: &self.views,
            scratch: &self.rewind_scratch,
            clamped: RefCell::new(0),
        };
        self.world.step_with(&self.inputs, &source);
        self.stats.rewinds_clamped += *source.clamped.borrow();
        for event in self.world.events() {
            if let GameEvent::Fired { shooter, hit } = *event {
                self.stats.shots += 1;
                if let Some(c) = self.clients.iter().find(|c| c.entity == shooter) {
                    self.fired.push(Shot {
                        client: c.id,
                        tick,
                        hit,
                    });
                }
            }
        }
        let now = self.world.tick();
        let radius = self.world.rules().config().player_radius_m;
        // Snapshots fall on a grid of tick numbers (the protocol says so: section 3.2).
        let snapshot_due = now.get() % self.snapshot_interval() == 0;
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
            self.send_snapshots(now, send);
        }
    }

    fn send_snapshots(&mut self, now: Tick, send: &mut dyn FnMut(ClientId, &[u8])) {
        let world = &self.world;
        self.history.record_with(now, |out| {
            tickwire_netcode::schema::Replicate::replicate(world, out)
        });
        for (slot, client) in self.clients.iter_mut().enumerate() {
            let Some(me) = world.get(client.entity) else {
                continue;
            };
            let lagging = LAGGING_SNAPSHOTS * self.config.snapshot_interval_ticks();
            if client
                .sender
                .ticks_unheard(now)
                .is_some_and(|t| t >= lagging)
            {
                client.lagging_for += 1;
                // Clients that start lagging together (a machine or a path overloaded) take
                // turns by slot, so their snapshots do not all land on the same tick.
                if client.lagging_for.wrapping_add(slot as u32) % LAGGING_EVERY != 1 {
                    self.stats.snapshots_held_back += 1;
                    continue;
                }
            } else {
                client.lagging_for = 0;
            }
            let own = own_state(me);
            let stats = client.inputs.stats();
            let private = Private {
                feedback: Some(Feedback {
                    newest_input: client.inputs.newest_received(),
                    inputs_late: stats.late,
                    inputs_missing: stats.missing,
                }),
                own: Some(&own),
            };
            let viewer = me.pos;
            let own_index = net_id(client.entity).0;
            let report = match client.sender.encode(
                &self.schema,
                &self.history,
                &mut self.shared,
                now,
                private,
                &mut |e| priority(viewer, own_index, e),
            ) {
                Ok(report) => report,
                Err(e) => {
                    self.stats.send_failures += 1;
                    self.failures.push((client.id, e));
                    continue;
                }
            };
            self.stats.datagrams_out += report.parts as u64;
            self.stats.bytes_out += report.bytes as u64;
            for datagram in client.sender.datagrams() {
                send(client.id, datagram);
            }
        }
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
