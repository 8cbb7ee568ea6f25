//! A room's tick thread: the loop that sleeps to each tick's deadline, takes commands and
//! datagrams, runs the tick, sends what it produced, and publishes its figures and views.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tickwire_netcode::game::Game;
use tickwire_netcode::protocol::{GoodbyeReason, ServerControl};

use super::ingress::{Ingress, Link, client_datagram_limit, disconnect, read_datagrams};
use super::metrics::RoomMetrics;
use super::{ClientView, MAX_COMMANDS_PER_TICK, RoomCommand, RoomView, Shared, WORLD_EVERY};
use crate::clock::Clock;
use crate::rate_limit::RateLimit;
use crate::room_core::{ClientId, RoomCore};
use crate::stats::TickStats;
use crate::tick_loop::TickSchedule;

/// The tick thread's loop.
pub(super) fn run<G: Game>(
    mut core: RoomCore<G>,
    mut schedule: TickSchedule,
    clock: &impl Clock,
    shared: &Shared,
    inbox: &Receiver<RoomCommand>,
    view_every: u32,
    send_buffer: usize,
) {
    let mut connections: HashMap<ClientId, Link> = HashMap::new();
    let mut since_view = 0;
    // This second's tick figures, handed to readers once a second.
    let mut second = TickStats::coarse();
    // Tick figures not yet in the shared stats (a reader held their lock).
    let mut unpublished = Vec::with_capacity(UNPUBLISHED_TICKS);
    let metrics = RoomMetrics::new(core.name());
    let mut ingress = Ingress::new(core.name());
    // When the world was last copied for spectators, and of which tick.
    let mut world_copied: Option<(std::time::Instant, tickwire_netcode::Tick)> = None;
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
                    metrics.snapshots_dropped.increment(1);
                }
                let _ = link.connection.send_datagram(Bytes::copy_from_slice(bytes));
            }
        });
        for (client, event) in core.events() {
            if let Some(link) = connections.get(&client) {
                let sent = tickwire_netcode::codec::encode(event)
                    .map(ServerControl::Event)
                    .map(|message| link.events.try_send(message).is_ok());
                if sent.ok() != Some(true) {
                    metrics.events_dropped.increment(1);
                }
            }
        }
        metrics.count(&before, &core.stats(), core.clients());
        for (client, e) in core.send_failures().to_vec() {
            metrics.snapshot_failures.increment(1);
            tracing::error!(room = core.name(), client = client.0, error = %e, "snapshot encoding failed");
            disconnect(
                &mut core,
                &mut connections,
                client,
                GoodbyeReason::ServerError,
                format!("the server cannot send this client snapshots: {e}"),
            );
        }
        let ended = clock.now();
        let took = ended.saturating_duration_since(began);
        if let Some((heartbeat, index)) = shared.heartbeat.get() {
            heartbeat.beat(*index, ended);
        }
        if shared.watchers.load(Ordering::Relaxed) > 0 {
            copy_world(&core, shared, ended, &mut world_copied);
        }
        unpublished.push((took, start.lateness, start.skipped));
        second.record(took, start.lateness, start.skipped);
        publish(&shared.stats, &mut unpublished);
        metrics.tick_duration.record(took.as_secs_f64());
        metrics.tick_lateness.record(start.lateness.as_secs_f64());
        metrics.ticks_skipped.increment(start.skipped);
        since_view += 1;
        if since_view >= view_every {
            since_view = 0;
            // Readers never make the tick wait: if one holds the last second, this one
            // grows by another second.
            if let Ok(mut last) = shared.last_second.try_lock() {
                std::mem::swap(&mut *last, &mut second);
                second.reset();
            }
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
                    entity,
                    ..
                },
            ) in &connections
            {
                let stats = connection.quic().stats();
                let path = stats.path;
                let inputs = core.input_stats(*id).unwrap_or_default();
                metrics.rtt.record(connection.quic().rtt().as_secs_f64());
                clients.push(ClientView {
                    id: id.0,
                    user: user.clone(),
                    name: name.clone(),
                    rtt_ms: connection.quic().rtt().as_secs_f64() * 1000.0,
                    loss: path.lost_packets as f64 / path.sent_packets.max(1) as f64,
                    inputs_late: inputs.late,
                    inputs_missing: inputs.missing,
                    datagrams_dropped: *dropped,
                    send_queue_bytes: send_buffer
                        .saturating_sub(connection.datagram_send_buffer_space()),
                    entity: *entity,
                    bytes_down: stats.udp_tx.bytes,
                    bytes_up: stats.udp_rx.bytes,
                    transport: connection.transport(),
                    state: core.latest_world().and_then(|(_, world)| {
                        world
                            .binary_search_by_key(entity, |e| e.index)
                            .ok()
                            .and_then(|at| world.get(at))
                            .map(|e| e.state)
                    }),
                });
            }
            clients.sort_unstable_by_key(|c| c.id);
        }
    }
}

/// Copies the world the snapshots were coded from for spectators, at most every
/// [`WORLD_EVERY`] and never waiting: a reader holding the lock costs this copy, not a tick.
/// The frame's buffer is reused (no allocation once it has held a full world).
fn copy_world<G: Game>(
    core: &RoomCore<G>,
    shared: &Shared,
    now: std::time::Instant,
    copied: &mut Option<(std::time::Instant, tickwire_netcode::Tick)>,
) {
    let Some((tick, entities)) = core.latest_world() else {
        return;
    };
    if copied.is_some_and(|(at, t)| t == tick || now.saturating_duration_since(at) < WORLD_EVERY) {
        return;
    }
    if let Ok(mut frame) = shared.world.try_lock() {
        frame.version += 1;
        frame.tick = tick.get();
        frame.entities.clear();
        frame.entities.extend_from_slice(entities);
        *copied = Some((now, tick));
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
pub(super) fn realtime(priority: u32) {
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

fn handle<G: Game>(
    core: &mut RoomCore<G>,
    connections: &mut HashMap<ClientId, Link>,
    command: RoomCommand,
) {
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
                let entity = result
                    .as_ref()
                    .map_or(0, |(_, welcome)| welcome.entity_index);
                connections.insert(
                    id,
                    Link {
                        connection,
                        limit: RateLimit::for_inputs(),
                        events,
                        dropped: 0,
                        user,
                        name,
                        entity,
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
        RoomCommand::Retune(config) => {
            let Some(config) = config.of::<G::Config>() else {
                tracing::error!(room = core.name(), "tunables for another game; ignored");
                return;
            };
            match core.retune(config) {
                Ok(()) => tracing::info!(room = core.name(), "tunables applied"),
                Err(e) => tracing::warn!(room = core.name(), error = %e, "tunables refused"),
            }
        }
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
        RoomCommand::Stall(how_long) => {
            tracing::warn!(
                room = core.name(),
                ?how_long,
                "stalling the tick thread (test hook)"
            );
            std::thread::sleep(how_long);
        }
        RoomCommand::Leave { client } => {
            core.leave(client);
            connections.remove(&client);
            tracing::info!(room = core.name(), client = client.0, "client left");
        }
    }
}

fn view_of<G: Game>(core: &RoomCore<G>) -> RoomView {
    let census = core.census();
    RoomView {
        tick: core.tick_now(),
        players: census.players,
        props: census.props,
        moving_props: census.moving_props,
        clients: core.clients(),
        stats: core.stats(),
    }
}
