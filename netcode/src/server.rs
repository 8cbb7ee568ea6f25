//! The server's half of the netcode, sans-IO and game-agnostic, mirroring [`crate::client`]:
//! every client's snapshot sender, input buffer, feedback and lagging back-off, and the
//! room's world history and shared coding. It takes bytes and ticks and hands back bytes;
//! the game loop around it (a room) steps the world, and the shell owns sockets and clocks.
//!
//! A tick, as a room drives it:
//! 1. [`ServerNetcode::handle_datagram`] for each datagram a client sent (inputs and acks);
//! 2. [`ServerNetcode::take_inputs`] for the tick about to run: each client's input for it
//!    (its own, or its last repeated);
//! 3. the game steps its world with them;
//! 4. on a snapshot tick ([`ServerNetcode::snapshot_due`]),
//!    [`ServerNetcode::send_snapshots`] with the world's replicated entities and, per
//!    client, what the game says about its view (an [`Audience`]).

use serde::de::DeserializeOwned;

use crate::input_buffer::{InputBuffer, InputSource, InputStats};
use crate::protocol::{InputFrame, ProtocolError, RejectReason, decode_input};
use crate::schema::{MAX_FIELDS, NetEntity, Schema};
use crate::snapshot::{
    Feedback, Private, SendError, SenderConfig, SharedEncoding, SnapshotSender, WorldHistory,
    min_datagram_bytes,
};
use crate::tick::Tick;

/// Snapshots a client must keep as baselines: 32 snapshot intervals (as Quake 3).
pub const BASELINE_SNAPSHOTS: u32 = 32;
/// A client that has acknowledged none of this many snapshots in a row is not keeping up
/// (stalled, or its path is congested): it is sent only every [`LAGGING_EVERY`]th snapshot
/// until it acknowledges again. Deltas against old baselines cost the server the most
/// exactly when a client can least use them; backing off keeps an overloaded room from
/// spiralling and leaves the path room to drain.
pub const LAGGING_SNAPSHOTS: u32 = 16;
/// See [`LAGGING_SNAPSHOTS`].
pub const LAGGING_EVERY: u32 = 4;

/// A client's handle within its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u32);

/// The numbers that shape every client's snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Ticks between two snapshots.
    pub snapshot_interval_ticks: u32,
    /// Each client's budget per snapshot (bytes).
    pub budget_bytes_per_snapshot: usize,
    /// The largest datagram the server sends, whatever a client could take (bytes).
    pub max_datagram_bytes: usize,
}

impl Settings {
    /// How far back (ticks) baselines reach: [`BASELINE_SNAPSHOTS`] intervals.
    #[must_use]
    pub fn window_ticks(&self) -> u32 {
        BASELINE_SNAPSHOTS * self.snapshot_interval_ticks.max(1)
    }
}

/// Cumulative figures of the netcode's side of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Snapshot datagrams produced.
    pub datagrams_out: u64,
    /// Snapshot bytes produced.
    pub bytes_out: u64,
    /// Input datagrams that did not decode.
    pub bad_datagrams: u64,
    /// Inputs for ticks that ran without them (all clients).
    pub inputs_late: u64,
    /// Ticks run on a client's repeated input (all clients).
    pub inputs_missing: u64,
    /// Snapshots not sent to clients that stopped acknowledging (the back-off).
    pub snapshots_held_back: u64,
    /// Snapshots that could not be encoded for a client (a server fault).
    pub send_failures: u64,
}

/// What the game says about each client's view when snapshots go out: monomorphized, so a
/// game's weighting costs no dynamic dispatch per entity.
pub trait Audience {
    /// What a client's view needs for weighing entities (its position, its own index …).
    type Viewer;

    /// The view of `client`, with the private fields of its own entity written into `own`
    /// (in the schema's `own` order); `None` when it has nothing to view now (it gets no
    /// snapshot this time).
    fn viewer(&self, client: ClientId, own: &mut [i32; MAX_FIELDS]) -> Option<Self::Viewer>;

    /// How much `entity` matters to a client with `viewer` (≥ 0; feeds the priority
    /// accumulator).
    fn weight(viewer: &Self::Viewer, entity: &NetEntity) -> f32;
}

#[derive(Debug)]
struct Client<I> {
    id: ClientId,
    sender: SnapshotSender,
    inputs: InputBuffer<I>,
    /// Datagrams from this client that did not decode.
    bad_datagrams: u64,
    /// Snapshot ticks since it started lagging (see [`LAGGING_SNAPSHOTS`]).
    lagging_for: u32,
}

/// The server half of the netcode for one room. `I` is the game's wire input. See the
/// [module docs](self).
#[derive(Debug)]
pub struct ServerNetcode<I> {
    schema: Schema,
    settings: Settings,
    /// Fixed when the room starts (clients are told at welcome), so it stays valid when the
    /// snapshot rate changes live.
    window_ticks: u32,
    history: WorldHistory,
    shared: SharedEncoding,
    clients: Vec<Client<I>>,
    next_id: u32,
    stats: NetStats,
    /// Each client's input for the tick being run (reused).
    inputs: Vec<(ClientId, InputFrame<I>)>,
    failures: Vec<(ClientId, SendError)>,
}

impl<I: Clone + Default + DeserializeOwned> ServerNetcode<I> {
    /// A room's netcode for a game replicating `schema`.
    #[must_use]
    pub fn new(schema: Schema, settings: Settings) -> Self {
        Self {
            schema,
            window_ticks: settings.window_ticks(),
            settings,
            history: WorldHistory::new(BASELINE_SNAPSHOTS as usize + 1),
            shared: SharedEncoding::new(),
            clients: Vec::new(),
            next_id: 1,
            stats: NetStats::default(),
            inputs: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The replication schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The newest world recorded for snapshots (what every client's snapshot was coded
    /// from) and its tick: what a spectator draws.
    #[must_use]
    pub fn latest_world(&self) -> Option<(Tick, &[NetEntity])> {
        self.history.latest()
    }

    /// How long (ticks) clients must keep complete snapshots as baselines.
    #[must_use]
    pub fn window_ticks(&self) -> u32 {
        self.window_ticks
    }

    /// Figures so far.
    #[must_use]
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Clients in the room.
    #[must_use]
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether the room has no client.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The smallest QUIC datagram limit (bytes) a client may have: one snapshot part must
    /// fit (see [`min_datagram_bytes`]).
    #[must_use]
    pub fn min_datagram_bytes(&self) -> usize {
        min_datagram_bytes(&self.schema, self.window_ticks)
    }

    /// Whether a client whose datagrams hold at most `max_datagram_bytes` (`None`: it
    /// enabled none) can be served; returns that limit.
    ///
    /// # Errors
    /// [`RejectReason::DatagramTooSmall`] when its datagrams cannot hold a snapshot part.
    pub fn admits(&self, max_datagram_bytes: Option<usize>) -> Result<usize, RejectReason> {
        let needed = self.min_datagram_bytes();
        let max_datagram_bytes = max_datagram_bytes.unwrap_or(0);
        if max_datagram_bytes < needed {
            return Err(RejectReason::DatagramTooSmall {
                client_bytes: u32::try_from(max_datagram_bytes).unwrap_or(u32::MAX),
                needed_bytes: u32::try_from(needed).unwrap_or(u32::MAX),
            });
        }
        Ok(max_datagram_bytes)
    }

    /// Follows a new snapshot rate (from the next tick on its grid): each client's budget
    /// per snapshot follows it so bytes per second stay the same; baselines keep their
    /// window in ticks.
    pub fn set_snapshot_interval(&mut self, ticks: u32, budget_bytes_per_snapshot: usize) {
        self.settings.snapshot_interval_ticks = ticks.max(1);
        self.settings.budget_bytes_per_snapshot = budget_bytes_per_snapshot;
        for client in &mut self.clients {
            let sizes = SenderConfig {
                budget_bytes_per_snapshot,
                ..*client.sender.config()
            };
            client.sender.set_config(sizes);
        }
    }

    /// Admits a client whose connection carries datagrams of at most `max_datagram_bytes`
    /// (`None`: it enabled none) at tick `now` (its first tick to run).
    ///
    /// # Errors
    /// [`RejectReason::DatagramTooSmall`] when its datagrams cannot hold a snapshot part.
    pub fn join(
        &mut self,
        now: Tick,
        max_datagram_bytes: Option<usize>,
    ) -> Result<ClientId, RejectReason> {
        let max_datagram_bytes = self.admits(max_datagram_bytes)?;
        let id = ClientId(self.next_id);
        self.next_id += 1;
        self.clients.push(Client {
            id,
            sender: SnapshotSender::new(SenderConfig {
                max_datagram_bytes: max_datagram_bytes.min(self.settings.max_datagram_bytes),
                budget_bytes_per_snapshot: self.settings.budget_bytes_per_snapshot,
                window_ticks: self.window_ticks,
            }),
            inputs: InputBuffer::new(now),
            bad_datagrams: 0,
            lagging_for: 0,
        });
        Ok(id)
    }

    /// Forgets a client.
    pub fn leave(&mut self, id: ClientId) {
        if let Some(at) = self.clients.iter().position(|c| c.id == id) {
            self.clients.swap_remove(at);
        }
    }

    fn client(&self, id: ClientId) -> Option<&Client<I>> {
        self.clients.iter().find(|c| c.id == id)
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

    /// Takes one datagram from a client: its inputs wait for their ticks, its ack moves its
    /// baseline.
    ///
    /// # Errors
    /// [`ProtocolError`] if it is not a valid input datagram; it is dropped and counted.
    pub fn handle_datagram(&mut self, id: ClientId, bytes: &[u8]) -> Result<(), ProtocolError> {
        let Some(client) = self.clients.iter_mut().find(|c| c.id == id) else {
            return Ok(());
        };
        match decode_input::<I>(bytes) {
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

    /// Each client's input for `tick`, the tick about to run: its own, or its last one
    /// repeated (counted as missing), or the default before it sent any.
    pub fn take_inputs(&mut self, tick: Tick) -> &[(ClientId, InputFrame<I>)] {
        self.inputs.clear();
        for client in &mut self.clients {
            let (frame, source) = client.inputs.take(tick, || InputFrame {
                view_ago: 0,
                view_fraction: 0,
                input: I::default(),
            });
            self.stats.inputs_missing += u64::from(source == InputSource::Repeated);
            self.inputs.push((client.id, frame));
        }
        &self.inputs
    }

    /// Whether `tick` is a snapshot tick: snapshots fall on a grid of tick numbers (the
    /// protocol says so: section 3.2).
    #[must_use]
    pub fn snapshot_due(&self, tick: Tick) -> bool {
        tick.get() % self.settings.snapshot_interval_ticks.max(1) == 0
    }

    /// Clients whose snapshot the last [`send_snapshots`](Self::send_snapshots) could not
    /// encode, with why: each was skipped (the others served) and should be disconnected.
    #[must_use]
    pub fn send_failures(&self) -> &[(ClientId, SendError)] {
        &self.failures
    }

    /// Records the world at `now` (the entities `replicate` lists, ascending by index) and
    /// hands every client's snapshot datagrams to `send`, each coded for what `audience` says
    /// of its view. A client lagging behind is sent only some (the back-off); one whose
    /// snapshot cannot be encoded is listed in [`send_failures`](Self::send_failures).
    pub fn send_snapshots<A: Audience>(
        &mut self,
        now: Tick,
        replicate: impl FnOnce(&mut Vec<NetEntity>),
        audience: &A,
        send: &mut dyn FnMut(ClientId, &[u8]),
    ) {
        self.failures.clear();
        self.history.record_with(now, replicate);
        let lagging = LAGGING_SNAPSHOTS * self.settings.snapshot_interval_ticks;
        let mut own = [0; MAX_FIELDS];
        for (slot, client) in self.clients.iter_mut().enumerate() {
            let Some(viewer) = audience.viewer(client.id, &mut own) else {
                continue;
            };
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
            let stats = client.inputs.stats();
            let private = Private {
                feedback: Some(Feedback {
                    newest_input: client.inputs.newest_received(),
                    inputs_late: stats.late,
                    inputs_missing: stats.missing,
                }),
                own: Some(own.get(..self.schema.own().len()).unwrap_or(&own)),
            };
            match client.sender.encode(
                &self.schema,
                &self.history,
                &mut self.shared,
                now,
                private,
                &mut |e| A::weight(&viewer, e),
            ) {
                Ok(report) => {
                    self.stats.datagrams_out += report.parts as u64;
                    self.stats.bytes_out += report.bytes as u64;
                    for datagram in client.sender.datagrams() {
                        send(client.id, datagram);
                    }
                }
                Err(e) => {
                    self.stats.send_failures += 1;
                    self.failures.push((client.id, e));
                }
            }
        }
    }
}
