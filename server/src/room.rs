//! A room: one match, with its own [`RoomCore`] and the thread that ticks it.
//!
//! Each room's tick loop runs on a dedicated `std::thread` (not a tokio task: an async timer
//! is a millisecond late at best) and sleeps to absolute deadlines with [`SystemClock`].
//! Connection tasks talk to it through a bounded channel of [`RoomCommand`]s (join, leave,
//! retune), drained at the start of every tick (at most [`MAX_COMMANDS_PER_TICK`]). The tick
//! thread reads its clients' datagrams straight from their connections (at most
//! [`MAX_DATAGRAMS_PER_CLIENT_TICK`] each, so a flood cannot stall a tick) and sends
//! snapshots itself (`send_datagram` is synchronous).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tickwire_netcode::protocol::{GoodbyeReason, RejectReason, ServerControl, Welcome};
use tickwire_netcode::{ConfigError, Tick};
use tickwire_sim::Body;
use tickwire_sim::replication::{ArenaEvent, net_id};

use crate::clock::{Clock, SystemClock};
use crate::config::ServerConfig;
use crate::rate_limit::RateLimit;
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
    #[error("invalid room configuration: {0}")]
    Config(#[from] ConfigError),
    /// The OS refused to start the tick thread.
    #[error("cannot start the tick thread: {0}")]
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
}

/// A request to a room from a connection task.
#[derive(Debug)]
pub enum RoomCommand {
    /// Admit a client; the reply carries its id and welcome, or why not.
    Join {
        /// The client's connection (snapshots are sent on it).
        connection: quinn::Connection,
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
    Retune(Box<ServerConfig>),
    /// An operator removes a client: it is told `Goodbye { Kicked }` with `message`.
    Kick {
        /// Who.
        client: ClientId,
        /// Why, for the player.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    stats: Mutex<TickStats>,
    view: Mutex<RoomView>,
    clients: Mutex<Vec<ClientView>>,
}

/// A running room. Dropping it stops the tick thread and waits for it.
#[derive(Debug)]
pub struct Room {
    name: String,
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
    pub fn start(name: &str, config: &ServerConfig) -> Result<Self, RoomError> {
        Self::start_with_phase(name, config, Duration::ZERO)
    }

    /// As [`start`](Self::start), with the room's tick deadlines offset by `phase`: rooms
    /// of one process spread over the tick interval so their ticks do not all wake at once
    /// and queue for the cores.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_phase(
        name: &str,
        config: &ServerConfig,
        phase: Duration,
    ) -> Result<Self, RoomError> {
        // The metric handles the tick thread makes must bind to the real recorder.
        if let Err(e) = crate::admin::prometheus() {
            tracing::warn!(error = %e, "metrics recorder unavailable; /metrics will be empty");
        }
        let core = RoomCore::new(name, config)?;
        let rate = config.tick_rate()?;
        let clock = SystemClock::new(config.spin());
        let max_catch_up = config.tick.max_catch_up_ticks;
        let priority = config.tick.realtime_priority;
        let send_buffer = config.transport().datagram_send_buffer_bytes;
        let shared = Arc::new(Shared::default());
        let (commands, inbox) = sync_channel(COMMAND_QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("room-{name}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    realtime(priority);
                    let schedule = TickSchedule::new(
                        clock.now() + phase,
                        rate,
                        core.world().tick(),
                        max_catch_up,
                    );
                    run(
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

/// The tick thread's loop.
fn run(
    mut core: RoomCore,
    mut schedule: TickSchedule,
    clock: &impl Clock,
    shared: &Shared,
    inbox: &Receiver<RoomCommand>,
    view_every: u32,
    send_buffer: usize,
) {
    let mut connections: HashMap<ClientId, Link> = HashMap::new();
    let mut since_view = 0;
    // Tick figures not yet in the shared stats (a reader held their lock).
    let mut unpublished = Vec::with_capacity(UNPUBLISHED_TICKS);
    // Metric handles made once: recording through them does not allocate.
    let labels = [("room", core.name().to_owned())];
    let tick_duration = metrics::histogram!("tickwire_tick_duration_seconds", &labels);
    let tick_lateness = metrics::histogram!("tickwire_tick_lateness_seconds", &labels);
    let ticks_skipped = metrics::counter!("tickwire_ticks_skipped_total", &labels);
    let clients = metrics::gauge!("tickwire_clients", &labels);
    let datagrams_out = metrics::counter!("tickwire_datagrams_out_total", &labels);
    let bytes_out = metrics::counter!("tickwire_bytes_out_total", &labels);
    let decode_errors = metrics::counter!("tickwire_decode_errors_total", &labels);
    let shots = metrics::counter!("tickwire_shots_total", &labels);
    let rtt = metrics::histogram!("tickwire_client_rtt_seconds", &labels);
    let inputs_late = metrics::counter!("tickwire_inputs_late_total", &labels);
    let inputs_missing = metrics::counter!("tickwire_inputs_missing_total", &labels);
    let snapshots_dropped = metrics::counter!("tickwire_snapshots_dropped_total", &labels);
    let held_back = metrics::counter!("tickwire_snapshots_held_back_total", &labels);
    let events_dropped = metrics::counter!("tickwire_events_dropped_total", &labels);
    let snapshot_failures = metrics::counter!("tickwire_snapshot_failures_total", &labels);
    let mut ingress = Ingress {
        datagrams: metrics::counter!("tickwire_datagrams_in_total", &labels),
        bytes: metrics::counter!("tickwire_bytes_in_total", &labels),
        refused: metrics::counter!("tickwire_datagrams_dropped_total", &labels),
        closing: Vec::new(),
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let start = schedule.wait(clock);
        if start.skipped > 0 {
            tracing::warn!(skipped = start.skipped, tick = %start.tick, "tick loop fell behind; skipped ticks");
        }
        let began = clock.now();
        // Commands change figures too (malformed datagrams, late inputs): count from here.
        let before = core.stats();
        for command in inbox.try_iter().take(MAX_COMMANDS_PER_TICK) {
            handle(&mut core, &mut connections, command);
        }
        read_datagrams(&mut core, &mut connections, began, &mut ingress);
        core.tick(&mut |client, bytes| {
            if let Some(link) = connections.get_mut(&client) {
                // quinn drops the oldest queued datagram when its buffer is full: count it.
                if link.connection.datagram_send_buffer_space() < bytes.len() {
                    link.dropped += 1;
                    snapshots_dropped.increment(1);
                }
                let _ = link.connection.send_datagram(Bytes::copy_from_slice(bytes));
            }
        });
        for shot in core.shots() {
            if let Some(link) = connections.get(&shot.client) {
                let event = ArenaEvent::ShotJudged {
                    tick: shot.tick,
                    target: shot.hit.map(|e| net_id(e).0),
                };
                let sent = tickwire_netcode::codec::encode(&event)
                    .map(ServerControl::Event)
                    .map(|message| link.events.try_send(message).is_ok());
                if sent.ok() != Some(true) {
                    events_dropped.increment(1);
                }
            }
        }
        let after = core.stats();
        datagrams_out.increment(after.datagrams_out - before.datagrams_out);
        bytes_out.increment(after.bytes_out - before.bytes_out);
        decode_errors.increment(after.bad_datagrams - before.bad_datagrams);
        shots.increment(after.shots - before.shots);
        inputs_late.increment(after.inputs_late - before.inputs_late);
        inputs_missing.increment(after.inputs_missing - before.inputs_missing);
        held_back.increment(after.snapshots_held_back - before.snapshots_held_back);
        clients.set(core.clients() as f64);
        for (client, e) in core.send_failures().to_vec() {
            snapshot_failures.increment(1);
            tracing::error!(room = core.name(), client = client.0, error = %e, "snapshot encoding failed");
            disconnect(
                &mut core,
                &mut connections,
                client,
                GoodbyeReason::ServerError,
                format!("the server cannot send this client snapshots: {e}"),
            );
        }
        let took = clock.now().saturating_duration_since(began);
        unpublished.push((took, start.lateness, start.skipped));
        publish(&shared.stats, &mut unpublished);
        tick_duration.record(took.as_secs_f64());
        tick_lateness.record(start.lateness.as_secs_f64());
        ticks_skipped.increment(start.skipped);
        since_view += 1;
        if since_view >= view_every {
            since_view = 0;
            *shared.view.lock().unwrap_or_else(PoisonError::into_inner) = view_of(&core);
            let mut clients = shared
                .clients
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            clients.clear();
            for (
                id,
                Link {
                    connection,
                    dropped,
                    user,
                    name,
                    ..
                },
            ) in &connections
            {
                let path = connection.stats().path;
                let inputs = core.input_stats(*id).unwrap_or_default();
                rtt.record(connection.rtt().as_secs_f64());
                clients.push(ClientView {
                    id: id.0,
                    user: user.clone(),
                    name: name.clone(),
                    rtt_ms: connection.rtt().as_secs_f64() * 1000.0,
                    loss: path.lost_packets as f64 / path.sent_packets.max(1) as f64,
                    inputs_late: inputs.late,
                    inputs_missing: inputs.missing,
                    datagrams_dropped: *dropped,
                    send_queue_bytes: send_buffer
                        .saturating_sub(connection.datagram_send_buffer_space()),
                });
            }
            clients.sort_unstable_by_key(|c| c.id);
        }
    }
}

/// Tick figures the tick thread may hold back while readers have the shared stats.
const UNPUBLISHED_TICKS: usize = 256;

/// Moves the tick figures in `unpublished` into the shared stats if nobody is reading them:
/// a reader (a `/status` request, the status line) never delays a tick. Only when the held
/// figures fill their buffer does the tick thread wait for the lock.
fn publish(stats: &Mutex<TickStats>, unpublished: &mut Vec<(Duration, Duration, u64)>) {
    let mut shared = match stats.try_lock() {
        Ok(shared) => shared,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) if unpublished.len() < UNPUBLISHED_TICKS => {
            return;
        }
        Err(std::sync::TryLockError::WouldBlock) => {
            stats.lock().unwrap_or_else(PoisonError::into_inner)
        }
    };
    for (took, lateness, skipped) in unpublished.drain(..) {
        shared.record(took, lateness, skipped);
    }
}

/// Puts the calling (tick) thread under SCHED_FIFO at `priority` (0: leave it); says once
/// per process when the OS refuses.
fn realtime(priority: u32) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if priority == 0 {
        return;
    }
    let value = u8::try_from(priority)
        .ok()
        .and_then(|p| thread_priority::ThreadPriorityValue::try_from(p).ok());
    let result = value
        .ok_or_else(|| "out of range".to_owned())
        .and_then(|value| {
            thread_priority::unix::set_thread_priority_and_policy(
                thread_priority::unix::thread_native_id(),
                thread_priority::ThreadPriority::Crossplatform(value),
                thread_priority::unix::ThreadSchedulePolicy::Realtime(
                    thread_priority::unix::RealtimeThreadSchedulePolicy::Fifo,
                ),
            )
            .map_err(|e| format!("{e:?}"))
        });
    if let Err(e) = result {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                priority,
                error = e,
                "tick threads run with normal scheduling: real-time priority (tick.realtime_priority) needs root or CAP_SYS_NICE"
            );
        }
    }
}

/// Hands one datagram to the room; says what the client did wrong when it has sent too
/// many bad ones.
fn take_datagram(core: &mut RoomCore, client: ClientId, bytes: &[u8]) -> Option<String> {
    let Err(e) = core.handle_datagram(client, bytes) else {
        return None;
    };
    tracing::debug!(client = client.0, error = %e, "dropped a bad datagram");
    (core.bad_datagrams(client) >= MAX_BAD_DATAGRAMS)
        .then(|| format!("misbehaving: {MAX_BAD_DATAGRAMS} malformed datagrams (the last: {e})"))
}

/// Removes a client from the room and has its connection task say goodbye with `reason`
/// and `message` on the control stream, then close; closes at once (with the same code and
/// message) when that task cannot take it.
fn disconnect(
    core: &mut RoomCore,
    connections: &mut HashMap<ClientId, Link>,
    client: ClientId,
    reason: GoodbyeReason,
    message: String,
) {
    tracing::warn!(
        room = core.name(),
        client = client.0,
        user = connections.get(&client).and_then(|l| l.user.as_deref()),
        ?reason,
        message,
        "disconnecting"
    );
    if let Some(link) = connections.remove(&client) {
        let code = quinn::VarInt::from_u32(reason.close_code());
        let goodbye = ServerControl::Goodbye {
            reason,
            message: message.clone(),
        };
        if link.events.try_send(goodbye).is_err() {
            link.connection.close(code, message.as_bytes());
        }
    }
    core.leave(client);
}

/// Per-tick counters of datagrams read on the tick thread.
struct Ingress {
    datagrams: metrics::Counter,
    bytes: metrics::Counter,
    refused: metrics::Counter,
    /// Clients to disconnect after this tick's reads, with what they did (reused).
    closing: Vec<(ClientId, Option<String>)>,
}

/// Reads every client's waiting datagrams (at most [`MAX_DATAGRAMS_PER_CLIENT_TICK`] each)
/// straight from its connection: no task wakes for each datagram, and a flood stays in
/// quinn's bounded receive buffer, which drops the oldest.
fn read_datagrams(
    core: &mut RoomCore,
    connections: &mut HashMap<ClientId, Link>,
    now: std::time::Instant,
    ingress: &mut Ingress,
) {
    for (&id, link) in connections.iter_mut() {
        for _ in 0..MAX_DATAGRAMS_PER_CLIENT_TICK {
            let bytes = match tickwire_netcode::quic::try_read_datagram(&link.connection) {
                None => break,
                Some(Err(_)) => {
                    // Lost: its connection task says why and sends Leave as well.
                    ingress.closing.push((id, None));
                    break;
                }
                Some(Ok(bytes)) => bytes,
            };
            ingress.datagrams.increment(1);
            ingress.bytes.increment(bytes.len() as u64);
            if !link.limit.allow(now, bytes.len()) {
                ingress.refused.increment(1);
                if link.limit.flooding() {
                    let what = format!(
                        "misbehaving: datagram flood ({} datagrams refused for size or rate)",
                        link.limit.dropped
                    );
                    ingress.closing.push((id, Some(what)));
                    break;
                }
                continue;
            }
            if let Some(why) = take_datagram(core, id, &bytes) {
                ingress.closing.push((id, Some(why)));
                break;
            }
        }
    }
    for (id, why) in ingress.closing.drain(..) {
        match why {
            Some(why) => disconnect(core, connections, id, GoodbyeReason::Misbehaving, why),
            None => {
                connections.remove(&id);
                core.leave(id);
            }
        }
    }
}

/// A client's connection as the tick thread holds it.
#[derive(Debug)]
struct Link {
    connection: quinn::Connection,
    /// Its incoming datagrams' size and rate limit.
    limit: RateLimit,
    /// Reliable events for the client's control stream (bounded: a client that does not
    /// read them loses the newest, counted in `tickwire_events_dropped_total`).
    events: tokio::sync::mpsc::Sender<ServerControl>,
    /// Snapshots that displaced an older one from QUIC's send queue.
    dropped: u64,
    /// The player's user id (seat token), if the server checks tokens.
    user: Option<String>,
    /// The name it said hello with.
    name: String,
}

fn handle(core: &mut RoomCore, connections: &mut HashMap<ClientId, Link>, command: RoomCommand) {
    match command {
        RoomCommand::Join {
            connection,
            user,
            name,
            events,
            reply,
        } => {
            let result = core.join(client_datagram_limit(&connection));
            let joined = result.as_ref().ok().map(|(id, _)| *id);
            if let Some(id) = joined {
                tracing::info!(
                    room = core.name(),
                    client = id.0,
                    user = user.as_deref(),
                    name,
                    remote = %connection.remote_address(),
                    "client joined"
                );
                connections.insert(
                    id,
                    Link {
                        connection,
                        limit: RateLimit::for_inputs(),
                        events,
                        dropped: 0,
                        user,
                        name,
                    },
                );
            }
            if reply.send(result).is_err() {
                // The connection task is gone: undo the join.
                if let Some(id) = joined {
                    core.leave(id);
                    connections.remove(&id);
                }
            }
        }
        RoomCommand::Retune(config) => match core.retune(&config) {
            Ok(()) => tracing::info!(room = core.name(), "tunables applied"),
            Err(e) => tracing::warn!(room = core.name(), error = %e, "tunables refused"),
        },
        RoomCommand::Kick { client, message } => {
            if connections.contains_key(&client) {
                disconnect(core, connections, client, GoodbyeReason::Kicked, message);
            } else {
                tracing::info!(
                    room = core.name(),
                    client = client.0,
                    "kick: no such client"
                );
            }
        }
        RoomCommand::Leave { client } => {
            core.leave(client);
            connections.remove(&client);
            tracing::info!(room = core.name(), client = client.0, "client left");
        }
    }
}

/// Bytes quinn receivers count against their advertised datagram limit beyond the
/// payload: 32 bytes of bookkeeping per datagram, where the sender's limit allows for the
/// frame's 9. A client whose own limit binds would otherwise close the connection on a
/// datagram that limit allowed ("oversized datagram").
const RECEIVER_BOOKKEEPING_BYTES: usize = 23;
/// Below this, a datagram limit is the client's own (a QUIC path carries at least 1200-byte
/// packets, about 1160 bytes of datagram), not the path's.
const PATH_DATAGRAM_BYTES: usize = 1100;

/// The largest snapshot datagram a client can take: what its transport parameters and the
/// path allow (`None` when it enabled no datagrams), less quinn's receive bookkeeping when
/// the client's own limit is the one that binds.
fn client_datagram_limit(connection: &quinn::Connection) -> Option<usize> {
    connection.max_datagram_size().map(|max| {
        if max < PATH_DATAGRAM_BYTES {
            max.saturating_sub(RECEIVER_BOOKKEEPING_BYTES)
        } else {
            max
        }
    })
}

fn view_of(core: &RoomCore) -> RoomView {
    let world = core.world();
    let mut view = RoomView {
        tick: world.tick(),
        clients: core.clients(),
        stats: core.stats(),
        ..RoomView::default()
    };
    for (_, e) in world.entities() {
        match e.body {
            Body::Player(_) => view.players += 1,
            Body::Prop(_) => {
                view.props += 1;
                view.moving_props += usize::from(e.vel != glam::Vec2::ZERO);
            }
        }
    }
    view
}
