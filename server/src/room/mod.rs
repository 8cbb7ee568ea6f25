//! A room: one match, with its own [`RoomCore`] and the thread that ticks it.
//!
//! Each room's tick loop runs on a dedicated `std::thread` (not a tokio task: an async timer
//! is a millisecond late at best) and sleeps to absolute deadlines with [`SystemClock`].
//! Connection tasks talk to it through a bounded channel of [`RoomCommand`]s (join, leave,
//! retune), drained at the start of every tick (at most [`MAX_COMMANDS_PER_TICK`]). The tick
//! thread reads its clients' datagrams straight from their connections (at most
//! [`MAX_DATAGRAMS_PER_CLIENT_TICK`] each, so a flood cannot stall a tick) and sends
//! snapshots itself (`send_datagram` is synchronous).
//!
//! The module's parts: this file is a room as the rest of the server uses it ([`Room`], its
//! commands and views); `tick_thread` is the thread and its loop; `ingress` is reading
//! clients' datagrams under their rate limits and disconnecting those that misbehave;
//! `metrics` is the room's metric handles.

mod ingress;
mod metrics;
mod tick_thread;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tickwire_netcode::game::{Game, GameConfig};
use tickwire_netcode::protocol::{RejectReason, ServerControl, Welcome};
use tickwire_netcode::schema::{NetEntity, SchemaDescription};
use tickwire_netcode::{ConfigError, Tick};

use crate::agones::Heartbeat;
use crate::clock::{Clock, SystemClock};
use crate::config::ServerConfig;
use crate::room_core::{ClientId, RoomCore, RoomStats};
use crate::stats::{TickStats, TickSummary};
use crate::tick_loop::TickSchedule;

/// Most commands a room handles per tick; the rest wait for the next tick.
pub const MAX_COMMANDS_PER_TICK: usize = 4096;
/// Malformed datagrams after which a client is disconnected.
pub const MAX_BAD_DATAGRAMS: u64 = 50;
/// Most datagrams read from one client per tick; more wait in quinn's receive buffer (a
/// client sends about one per tick).
pub const MAX_DATAGRAMS_PER_CLIENT_TICK: usize = 32;
/// Commands that may wait for a room before senders are refused.
const COMMAND_QUEUE: usize = 16 * 1024;

/// A room could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The configuration does not make a valid world.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The OS refused to start the tick thread.
    #[error("cannot start the tick thread")]
    Thread(#[from] std::io::Error),
}

/// What a room's world looks like, refreshed about once a second for status displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomView {
    /// The world's current tick.
    pub tick: Tick,
    /// Players in the world.
    pub players: usize,
    /// Props in the world.
    pub props: usize,
    /// Props in motion.
    pub moving_props: usize,
    /// Clients connected.
    pub clients: usize,
    /// Room figures (shots, datagrams and bytes out, bad datagrams).
    pub stats: RoomStats,
}

/// One client as the room sees it, refreshed about once a second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientView {
    /// Its id in the room.
    pub id: u32,
    /// The player's identity: the user id its seat token named, `None` on an open server.
    pub user: Option<String>,
    /// The display name it said hello with.
    pub name: String,
    /// QUIC's smoothed round-trip time (milliseconds).
    pub rtt_ms: f64,
    /// Packets sent to it that QUIC declared lost, over packets sent.
    pub loss: f64,
    /// Its inputs that arrived after their tick.
    pub inputs_late: u32,
    /// Ticks run without its input.
    pub inputs_missing: u32,
    /// Snapshots that pushed an older one out of QUIC's send queue: the client (or its
    /// path) is not keeping up, so it loses its oldest snapshots rather than growing a queue.
    pub datagrams_dropped: u64,
    /// Bytes of datagrams waiting in QUIC's send queue for it (bounded by the transport's
    /// datagram send buffer).
    pub send_queue_bytes: usize,
    /// The network index of its player's entity (what a spectator labels with its name).
    pub entity: u32,
    /// UDP bytes sent to it so far, QUIC included.
    pub bytes_down: u64,
    /// UDP bytes received from it so far, QUIC included.
    pub bytes_up: u64,
    /// How it connected: `quic` (native) or `webtransport` (a browser).
    pub transport: &'static str,
    /// Its player's entity as last replicated: kind and quantized fields (read them with
    /// [`Room::schema`]); `None` before its first snapshot.
    pub state: Option<tickwire_netcode::schema::EntityState>,
}

/// The world a room's snapshots were last coded from, for spectators: copied by the tick
/// thread at most [`WORLD_EVERY`] apart, and only while someone watches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorldFrame {
    /// Counts the copies: a reader holding the same version has this frame already.
    pub version: u64,
    /// The tick the world is at.
    pub tick: u32,
    /// Every replicated entity, quantized as the schema says, ascending by index.
    pub entities: Vec<NetEntity>,
}

/// How often at most a watched room copies its world for spectators (20 Hz).
pub const WORLD_EVERY: Duration = Duration::from_millis(50);

/// While held, the room copies its world for spectators ([`Room::world`]).
#[derive(Debug)]
pub struct Watching(Arc<Shared>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request to a room from a connection task.
#[derive(Debug)]
pub enum RoomCommand {
    /// Admit a client; the reply carries its id and welcome, or why not.
    Join {
        /// The client's connection (snapshots are sent on it).
        connection: crate::link::PlayerConnection,
        /// Who the player is: the user id of its seat token (`None` on an open server).
        user: Option<String>,
        /// The name it said hello with.
        name: String,
        /// Where the room posts reliable events for the client's control stream.
        events: tokio::sync::mpsc::Sender<ServerControl>,
        /// Where to answer.
        reply: tokio::sync::oneshot::Sender<Result<(ClientId, Welcome), RejectReason>>,
    },
    /// A client left (or its connection was lost).
    Leave {
        /// Who.
        client: ClientId,
    },
    /// New live tunables (a config reload).
    Retune(RetuneConfig),
    /// An operator removes a client: it is told `Goodbye { Kicked }` with `message`.
    Kick {
        /// Who.
        client: ClientId,
        /// Why, for the player.
        message: String,
    },
    /// A test hook: the tick thread blocks for this long, as a wedged room would (tests of
    /// health checking and of what a stalled room does to the others).
    #[doc(hidden)]
    Stall(Duration),
}

/// What the tick thread shares with the rest of the server.
/// A configuration reload for a room: a [`ServerConfig`] of the room's game, which the
/// room's thread takes back in its own type.
#[derive(Debug)]
pub struct RetuneConfig(Box<dyn std::any::Any + Send>);

impl RetuneConfig {
    /// Carries `config` to a room.
    #[must_use]
    pub fn new<C: GameConfig>(config: ServerConfig<C>) -> Self {
        Self(Box::new(config))
    }

    /// The configuration, if it is for a game configured by a `C`.
    #[must_use]
    pub fn of<C: GameConfig>(&self) -> Option<&ServerConfig<C>> {
        self.0.downcast_ref()
    }
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// The tick figures of the last whole second (swapped in by the tick thread once a
    /// second, when nobody holds the lock).
    last_second: Mutex<TickStats>,
    /// Where the tick thread beats after each tick (Agones health), and as which room.
    heartbeat: OnceLock<(Arc<Heartbeat>, usize)>,
    /// Spectators watching: while any do, the tick thread copies its world into `world`.
    watchers: AtomicUsize,
    world: Mutex<WorldFrame>,
    stats: Mutex<TickStats>,
    view: Mutex<RoomView>,
    clients: Mutex<Vec<ClientView>>,
}

/// A running room. Dropping it stops the tick thread and waits for it.
#[derive(Debug)]
pub struct Room {
    name: String,
    game: &'static str,
    schema: SchemaDescription,
    game_config: serde_json::Value,
    shared: Arc<Shared>,
    commands: SyncSender<RoomCommand>,
    thread: Option<JoinHandle<()>>,
}

impl Room {
    /// Builds a room from `config` and starts ticking it.
    ///
    /// # Errors
    /// [`RoomError::Config`] if the arena or tick rate is invalid, [`RoomError::Thread`] if
    /// the thread cannot be spawned.
    pub fn start<G: Game>(name: &str, config: &ServerConfig<G::Config>) -> Result<Self, RoomError> {
        Self::start_with_phase::<G>(name, config, Duration::ZERO)
    }

    /// As [`start`](Self::start), with the room's tick deadlines offset by `phase`: rooms
    /// of one process spread over the tick interval so their ticks do not all wake at once
    /// and queue for the cores.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_phase<G: Game>(
        name: &str,
        config: &ServerConfig<G::Config>,
        phase: Duration,
    ) -> Result<Self, RoomError> {
        // The metric handles the tick thread makes must bind to the real recorder.
        if let Err(e) = crate::recorder::prometheus() {
            tracing::warn!(error = %e, "metrics recorder unavailable; /metrics will be empty");
        }
        let core = RoomCore::<G>::new(name, config)?;
        let schema = core.schema().describe();
        let game_config = serde_json::to_value(&config.game).unwrap_or_default();
        let rate = config.tick_rate()?;
        let clock = SystemClock::new(config.spin());
        let max_catch_up = config.tick.max_catch_up_ticks;
        let priority = config.tick.realtime_priority;
        let send_buffer = config.transport().datagram_send_buffer_bytes;
        let shared = Arc::new(Shared {
            last_second: Mutex::new(TickStats::coarse()),
            ..Shared::default()
        });
        let (commands, inbox) = sync_channel(COMMAND_QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("room-{name}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    tick_thread::realtime(priority);
                    let schedule =
                        TickSchedule::new(clock.now() + phase, rate, core.tick_now(), max_catch_up);
                    tick_thread::run(
                        core,
                        schedule,
                        &clock,
                        &shared,
                        &inbox,
                        rate.hz(),
                        send_buffer,
                    );
                }
            })?;
        tracing::info!(room = name, tick_hz = rate.hz(), "room started");
        Ok(Self {
            name: name.to_owned(),
            game: G::NAME,
            schema,
            game_config,
            shared,
            commands,
            thread: Some(thread),
        })
    }

    /// The room's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The game it plays (`Game::NAME`).
    #[must_use]
    pub fn game(&self) -> &'static str {
        self.game
    }

    /// The replication schema, described as clients receive it: how to read a
    /// [`WorldFrame`]'s fields.
    #[must_use]
    pub fn schema(&self) -> &SchemaDescription {
        &self.schema
    }

    /// The `[game]` values the room started with, as JSON (the world's size among them,
    /// for a spectator's view).
    #[must_use]
    pub fn game_config(&self) -> &serde_json::Value {
        &self.game_config
    }

    /// Starts watching the room: until the guard drops, the tick thread copies its world
    /// for [`world`](Self::world) about 20 times a second (unwatched, it copies nothing).
    #[must_use]
    pub fn watch(&self) -> Watching {
        self.shared.watchers.fetch_add(1, Ordering::Relaxed);
        Watching(Arc::clone(&self.shared))
    }

    /// Copies the room's world into `out` if the room has a newer one than `out` holds
    /// (needs a [`watch`](Self::watch) held); says whether it did.
    pub fn world(&self, out: &mut WorldFrame) -> bool {
        let frame = self
            .shared
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if frame.version == out.version {
            return false;
        }
        out.version = frame.version;
        out.tick = frame.tick;
        out.entities.clone_from(&frame.entities);
        true
    }

    /// Has the tick thread beat `heartbeat` as room `index` after every tick, from now on
    /// (once; a second heartbeat is ignored).
    pub fn attach_heartbeat(&self, heartbeat: Arc<Heartbeat>, index: usize) {
        let _ = self.shared.heartbeat.set((heartbeat, index));
    }

    /// Sends a command to the room without waiting.
    ///
    /// # Errors
    /// The command back if the room's queue is full or the room has stopped.
    pub fn send(&self, command: RoomCommand) -> Result<(), TrySendError<RoomCommand>> {
        self.commands.try_send(command)
    }

    /// A copy of the tick figures so far (two histograms of about 200 KB: for a summary,
    /// [`summary`](Self::summary) copies nothing).
    #[must_use]
    pub fn stats(&self) -> TickStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The tick figures so far in microseconds.
    #[must_use]
    pub fn summary(&self) -> TickSummary {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .summary()
    }

    /// Adds this room's tick figures to `total` (without copying them first).
    pub fn merge_into(&self, total: &mut TickStats) {
        total.merge(
            &self
                .shared
                .stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// The tick figures of the last second alone (not since start: a spike shows in the
    /// second it happened).
    #[must_use]
    pub fn last_second(&self) -> TickSummary {
        self.shared
            .last_second
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .summary()
    }

    /// Adds this room's last-second figures to `total`.
    pub fn merge_last_second_into(&self, total: &mut TickStats) {
        total.merge(
            &self
                .shared
                .last_second
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// The latest view of the world.
    #[must_use]
    pub fn view(&self) -> RoomView {
        *self
            .shared
            .view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The clients, with their round-trip times and loss, as of the latest refresh.
    #[must_use]
    pub fn clients(&self) -> Vec<ClientView> {
        self.shared
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the tick thread is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the tick thread, waits for it, and returns the final figures.
    #[must_use]
    pub fn stop(mut self) -> TickStats {
        self.halt();
        self.stats()
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(room = %self.name, "tick thread panicked");
            }
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.halt();
    }
}
