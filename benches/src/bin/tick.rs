//! One room's tick, as the server runs it: `cargo run --release -p tickwire-benches --bin tick -- --json`.
//!
//! Sim step, lag-compensation record and snapshot encoding for every client, through the
//! real `RoomCore` (no sockets). Clients send an input each tick (moving and firing, with an
//! ack 100 ms old, as a real client at 100 ms RTT would). The other cases are clients of an
//! overloaded machine: acks 400 ms old (`slow-acks`), 600 ms old (`lagging`, past the
//! server's lag threshold), 150-600 ms spread over the clients (`overloaded`: each holds
//! its own baseline, so none of the coding is shared), and 1500 ms (`stalled`: older than
//! every baseline the server keeps, so each client is sent the world from nothing, a
//! budget's worth at a time, as bots starved of CPU are). Reports, once warm:
//! - `tick µs`: `RoomCore::tick` alone — the sim step, the lag-compensation record and every
//!   client's snapshot encoding — and its heap allocations (a counting allocator wraps the
//!   system one);
//! - `step µs`: the tick thread's whole step around it — every client's input datagram
//!   decoded, the tick, each snapshot datagram copied into `Bytes` for quinn, events encoded
//!   (and the `--agones` / `--watched` extras) — and its allocations, the `Bytes` copies among
//!   them. Only the socket I/O (quinn's own send and receive) is outside it;
//! - the heap the room holds per client (the bench's own buffers are made before the
//!   baseline is read).
//!
//! `--agones` adds what a server in an Agones fleet does per tick: the tick thread beats the
//! health [`Heartbeat`] (inside the timed step), and a health task waits for the pings it
//! asks for. Run with and without, alternately, to see what fleet health costs a tick.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use serde::Serialize;
use tickwire_benches::{print_table, quantile_us, timing_histogram};
use tickwire_netcode::Tick;
use tickwire_netcode::game::Game;
use tickwire_netcode::protocol::{InputDatagram, InputFrame, encode_input};
use tickwire_server::ConfigLayers;
use tickwire_server::agones::Heartbeat;
use tickwire_server::room_core::{ClientId, RoomCore};
use tickwire_sim::arena::Arena;
use tickwire_sim::arena::replication::WireInput;
use tickwire_sim::cubes3d::{Cubes3d, CubesInput};

/// Counts allocations so the benchmark can report them per tick.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed.
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Time one room's tick.
#[derive(Debug, Parser)]
struct Args {
    /// Ticks to time per case (after a 5 s warm-up).
    #[arg(long, default_value_t = 3600)]
    ticks: u32,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
    /// Only this game's cases (arena or cubes3d).
    #[arg(long, value_name = "NAME")]
    game: Option<String>,
    /// Only the case of this name (e.g. 64p-1000e-lagging).
    #[arg(long, value_name = "NAME")]
    case: Option<String>,
    /// Beat an Agones health heartbeat after every tick (timed), with a task taking its
    /// pings, as a server in a fleet does.
    #[arg(long)]
    agones: bool,
    /// Copy the world for a watching spectator (the live monitor) at 20 Hz, inside the
    /// timed step, as the tick thread does while someone watches.
    #[arg(long)]
    watched: bool,
}

/// A game the bench can drive: what client `i` sends at tick `n`.
trait BenchGame: Game {
    /// Config overrides for a scene of `entities` entities with `clients` players.
    fn scene(entities: u32, clients: usize) -> Vec<String>;
    /// Client `i`'s input at tick `n`, its player as `room` holds it.
    fn input(room: &RoomCore<Self>, client: ClientId, i: usize, n: u32) -> Self::Input;
}

impl BenchGame for Arena {
    fn scene(entities: u32, clients: usize) -> Vec<String> {
        vec![format!(
            "game.prop_count={}",
            entities.saturating_sub(clients as u32)
        )]
    }

    /// Moving on a slow circle and firing every seventh tick.
    fn input(_: &RoomCore<Self>, _: ClientId, i: usize, n: u32) -> WireInput {
        let angle = (n as f32 * 0.01 + i as f32) % std::f32::consts::TAU;
        WireInput {
            move_x: (angle.cos() * 127.0) as i8,
            move_y: (angle.sin() * 127.0) as i8,
            aim: (angle / std::f32::consts::TAU * 4096.0) as u16,
            fire: n % 7 == 0,
        }
    }
}

impl BenchGame for Cubes3d {
    fn scene(entities: u32, clients: usize) -> Vec<String> {
        vec![
            "server.game=cubes3d".to_owned(),
            format!(
                "game.cube_count={}",
                entities.saturating_sub(clients as u32)
            ),
        ]
    }

    /// Driving full stick on a slow turn, and back toward the middle from the edge of the
    /// cube field: every pusher keeps ploughing through the cubes (none parks at a wall).
    fn input(room: &RoomCore<Self>, client: ClientId, i: usize, n: u32) -> CubesInput {
        let middle = glam::Vec2::splat(32.0);
        let at = room
            .player_of(client)
            .and_then(|p| room.game().world().pusher(p))
            .map_or(middle, |p| p.drive.pos);
        let stick = if at.distance(middle) > 22.0 {
            (middle - at).normalize_or_zero()
        } else {
            glam::Vec2::from_angle((n as f32 * 0.02 + i as f32) % std::f32::consts::TAU)
        };
        CubesInput::from_stick(stick)
    }
}

#[derive(Debug, Serialize)]
struct Case {
    name: &'static str,
    clients: usize,
    entities: usize,
    tick_hz: u32,
    /// How old each client's acknowledgement is (milliseconds): the youngest and the
    /// oldest (clients are spread between them).
    ack_age_ms: (u32, u32),
    tick_us_p50: f64,
    tick_us_p99: f64,
    tick_us_max: f64,
    alloc_per_tick: f64,
    /// The tick thread's whole step (µs): input datagrams decoded, `RoomCore::tick`, each
    /// snapshot datagram copied into `Bytes` for quinn, events encoded, and the `--agones` /
    /// `--watched` extras. Not the socket I/O itself (quinn's send and receive).
    step_us_p50: f64,
    step_us_p99: f64,
    step_us_max: f64,
    /// Heap allocations per step (the `Bytes` copies among them: one per datagram).
    step_alloc_per_tick: f64,
    snapshot_bytes_per_client_per_s: f64,
    /// Heap the room holds per client once warm (its player entity, its snapshot sender,
    /// input buffer …): the room's live heap with the clients less the same room's without.
    heap_bytes_per_client: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let heartbeat = args
        .agones
        .then(|| Arc::new(Heartbeat::new(1, std::time::Duration::from_secs(1))));
    // The health task: waits for the pings the beats ask for, as the server's does.
    let pings = Arc::new(AtomicU64::new(0));
    if let Some(heartbeat) = &heartbeat {
        let (heartbeat, pings) = (Arc::clone(heartbeat), Arc::clone(&pings));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    loop {
                        heartbeat.ping_wanted().await;
                        pings.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
    }
    let cases = [
        (
            "64p-1000e-60hz",
            64usize,
            1000u32,
            60u32,
            30u32,
            (100u32, 100u32),
        ),
        ("10p-128hz", 10, 500, 128, 64, (100, 100)),
        ("64p-1000e-slow-acks", 64, 1000, 60, 30, (400, 400)),
        ("64p-1000e-lagging", 64, 1000, 60, 30, (600, 600)),
        ("64p-1000e-overloaded", 64, 1000, 60, 30, (150, 600)),
        ("64p-1000e-stalled", 64, 1000, 60, 30, (1500, 1500)),
    ];
    let mut results = Vec::new();
    for (name, clients, entities, hz, snap, ack_ms) in cases {
        if args.game.as_deref().is_some_and(|g| g != Arena::NAME)
            || args.case.as_deref().is_some_and(|c| c != name)
        {
            continue;
        }
        results.push(run::<Arena>(
            name,
            clients,
            entities,
            (hz, snap),
            ack_ms,
            args.ticks,
            Extras {
                heartbeat: heartbeat.as_deref(),
                watched: args.watched,
            },
        )?);
    }
    // Cubes3d: 901 cubes and the pushers shoving them about, every tick a snapshot.
    for (name, clients, ack_ms) in [
        ("cubes3d-16p-901", 16usize, (100u32, 100u32)),
        ("cubes3d-64p-901", 64, (100, 100)),
    ] {
        if args.game.as_deref().is_some_and(|g| g != Cubes3d::NAME)
            || args.case.as_deref().is_some_and(|c| c != name)
        {
            continue;
        }
        results.push(run::<Cubes3d>(
            name,
            clients,
            901 + clients as u32,
            (60, 60),
            ack_ms,
            args.ticks,
            Extras {
                heartbeat: heartbeat.as_deref(),
                watched: args.watched,
            },
        )?);
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|c| {
            vec![
                c.name.to_owned(),
                c.clients.to_string(),
                c.entities.to_string(),
                c.tick_hz.to_string(),
                if c.ack_age_ms.0 == c.ack_age_ms.1 {
                    c.ack_age_ms.0.to_string()
                } else {
                    format!("{}-{}", c.ack_age_ms.0, c.ack_age_ms.1)
                },
                format!("{:.1}", c.tick_us_p50),
                format!("{:.1}", c.tick_us_p99),
                format!("{:.1}", c.tick_us_max),
                format!("{:.2}", c.alloc_per_tick),
                format!("{:.1}", c.step_us_p99),
                format!("{:.2}", c.step_alloc_per_tick),
                format!("{:.0}", c.snapshot_bytes_per_client_per_s),
                format!("{:.1}", c.heap_bytes_per_client / 1024.0),
            ]
        })
        .collect();
    print_table(
        &[
            "case",
            "clients",
            "entities",
            "tick_hz",
            "ack ms",
            "tick µs p50",
            "p99",
            "max",
            "allocs/tick",
            "step µs p99",
            "step allocs",
            "B/s/client",
            "heap KiB/client",
        ],
        &rows,
    );
    if args.agones {
        println!(
            "(--agones: every tick beat the fleet health heartbeat; {} health pings asked for)",
            pings.load(Ordering::Relaxed)
        );
    }
    if args.watched {
        println!("(--watched: every case copied its world for a spectator at 20 Hz)");
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "agones": args.agones, "watched": args.watched, "cases": results })
        );
    }
    Ok(())
}

/// What a server adds to each tick besides `RoomCore::tick`, timed with it when asked.
#[derive(Debug, Clone, Copy)]
struct Extras<'a> {
    /// Beat this Agones health heartbeat (`--agones`).
    heartbeat: Option<&'a Heartbeat>,
    /// Copy the world for a spectator at 20 Hz (`--watched`).
    watched: bool,
}

fn run<G: BenchGame>(
    name: &'static str,
    clients: usize,
    entities: u32,
    (hz, snapshot_hz): (u32, u32),
    ack_ms: (u32, u32),
    ticks: u32,
    Extras { heartbeat, watched }: Extras<'_>,
) -> Result<Case> {
    let mut layers = ConfigLayers::new();
    for set in [
        format!("tick.tick_hz={hz}"),
        format!("tick.snapshot_hz={snapshot_hz}"),
        format!("server.max_clients_per_room={clients}"),
    ]
    .into_iter()
    .chain(G::scene(entities, clients))
    {
        layers.set(&set, "bench")?;
    }
    let config = layers.load::<G::Config>()?;
    // The bench's own buffers first, so the heap the room holds is measured alone.
    let mut histogram = timing_histogram();
    let mut step_histogram = timing_histogram();
    let mut spectator = Vec::new();
    let mut inputs: Vec<Vec<u8>> = (0..clients).map(|_| Vec::with_capacity(256)).collect();
    let live_before = LIVE.load(Ordering::Relaxed);
    let mut room = RoomCore::<G>::new("bench", &config)?;
    let ids: Vec<_> = (0..clients)
        .map(|_| room.join(Some(1200)).map(|(id, _)| id))
        .collect::<Result<_, _>>()
        .map_err(|r| anyhow::anyhow!("{r:?}"))?;
    // Client i acknowledges this many ticks late: spread over the range, so clients of an
    // overloaded machine hold different baselines.
    let ack_delay = |i: usize| {
        let spread = (ack_ms.1 - ack_ms.0) * (i as u32 * 37 % 64) / 63;
        hz * (ack_ms.0 + spread) / 1000
    };
    let interval = hz / snapshot_hz;
    let (mut allocations, mut step_allocations, mut bytes) = (0u64, 0u64, 0u64);
    let warmup = hz * 5;
    for n in 0..warmup + ticks {
        let tick = room.tick_now();
        // Each client's input for this tick, acking the snapshot sent `ack_delay` ago (the
        // clients' side: encoded before the timed step).
        for ((i, &id), datagram) in ids.iter().enumerate().zip(inputs.iter_mut()) {
            let acked = tick.get().saturating_sub(ack_delay(i)) / interval * interval;
            let input = G::input(&room, id, i, n);
            datagram.clear();
            let frame = InputFrame {
                view_ago: 8,
                view_fraction: 0,
                input,
            };
            encode_input(
                &InputDatagram {
                    ack: (acked > 0).then_some(Tick::new(acked)),
                    newest: tick,
                    inputs: vec![frame],
                },
                datagram,
            )?;
        }
        let step_before = ALLOCATIONS.load(Ordering::Relaxed);
        let step_started = Instant::now();
        // The tick thread's step: decode every input datagram …
        for (&id, datagram) in ids.iter().zip(&inputs) {
            room.handle_datagram(id, datagram)?;
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let started = Instant::now();
        // … run the tick, each snapshot datagram copied into `Bytes` for quinn as the tick
        // thread does (the copies' allocations are the step's, not `RoomCore::tick`'s) …
        let mut copy_allocations = 0;
        room.tick(&mut |_, d| {
            bytes += d.len() as u64;
            let at = ALLOCATIONS.load(Ordering::Relaxed);
            std::hint::black_box(bytes::Bytes::copy_from_slice(d));
            copy_allocations += ALLOCATIONS.load(Ordering::Relaxed) - at;
        });
        let took = started.elapsed();
        let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before - copy_allocations;
        // … and encode the events for the control streams.
        for (_, event) in room.events() {
            std::hint::black_box(tickwire_netcode::codec::encode(event).ok());
        }
        if let Some(heartbeat) = heartbeat {
            heartbeat.beat(0, Instant::now());
        }
        // 20 Hz of a 60 Hz tick: every third tick, what the tick thread copies for the
        // monitor into the buffer it reuses.
        if watched && n % (hz / 20).max(1) == 0 {
            if let Some((_, world)) = room.latest_world() {
                spectator.clear();
                spectator.extend_from_slice(world);
            }
        }
        let step_took = step_started.elapsed();
        let step_allocated = ALLOCATIONS.load(Ordering::Relaxed) - step_before;
        if let Some((client, e)) = room.send_failures().first() {
            anyhow::bail!("snapshot for client {} failed: {e}", client.0);
        }
        if n >= warmup {
            histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
            step_histogram.saturating_record(
                u64::try_from(step_took.as_nanos())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
            allocations += allocated;
            step_allocations += step_allocated;
        } else {
            bytes = 0;
        }
    }
    let with_clients = LIVE.load(Ordering::Relaxed) - live_before;
    let without = {
        let before = LIVE.load(Ordering::Relaxed);
        let mut empty = RoomCore::<G>::new("bench-empty", &config)?;
        for _ in 0..warmup {
            empty.tick(&mut |_, _| {});
        }
        LIVE.load(Ordering::Relaxed) - before
    };
    Ok(Case {
        name,
        heap_bytes_per_client: (with_clients - without) as f64 / clients as f64,
        clients,
        entities: {
            let census = room.census();
            census.players + census.props
        },
        tick_hz: hz,
        ack_age_ms: ack_ms,
        tick_us_p50: quantile_us(&histogram, 0.5),
        tick_us_p99: quantile_us(&histogram, 0.99),
        tick_us_max: histogram.max() as f64 / 1000.0,
        alloc_per_tick: allocations as f64 / f64::from(ticks),
        step_us_p50: quantile_us(&step_histogram, 0.5),
        step_us_p99: quantile_us(&step_histogram, 0.99),
        step_us_max: step_histogram.max() as f64 / 1000.0,
        step_alloc_per_tick: step_allocations as f64 / f64::from(ticks),
        snapshot_bytes_per_client_per_s: bytes as f64
            / clients as f64
            / (f64::from(ticks) / f64::from(hz)),
    })
}
