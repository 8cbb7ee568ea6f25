//! What a game costs on the wire: `cargo run --release -p tickwire-benches --bin bandwidth -- --json`.
//!
//! Runs the seeded benchmark scenes through the real snapshot encoder and decoder (no
//! sockets), with acknowledgements arriving 100 ms after each snapshot is sent, and reports
//! bits per entity, bandwidth per client and encode time. Bandwidth counts payload plus 60
//! bytes per datagram for IP, UDP and QUIC headers, measured after a 2 s warm-up (the initial
//! full snapshot is reported on its own as `full_snapshot_bytes`). Every decoded snapshot is
//! checked against the server's world, so a figure from a broken coder cannot be reported.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use serde::Serialize;
use tickwire_benches::print_table;
use tickwire_benches::scenes::{BenchScene, CubesScene, Scene};
use tickwire_netcode::Tick;
use tickwire_netcode::codec;
use tickwire_netcode::schema::NetEntity;
use tickwire_netcode::snapshot::{
    Private, SenderConfig, SharedEncoding, SnapshotReceiver, SnapshotSender, WorldHistory,
};

/// IP + UDP + QUIC short header and datagram frame, per datagram (bytes).
const OVERHEAD_BYTES: usize = 60;
/// Per-client budget, as the shipped server config sets it (bytes per second).
const BUDGET_BYTES_PER_S: usize = 32_000;
/// Largest datagram (bytes).
const MAX_DATAGRAM_BYTES: usize = 1200;
/// Delay between sending a snapshot and its acknowledgement reaching the server (seconds).
const ACK_DELAY_S: f32 = 0.1;
/// Seconds excluded from the steady-state figures.
const WARMUP_S: u32 = 2;

/// Measure snapshot bandwidth on the benchmark scenes.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds of each scene to measure (after a 2 s warm-up).
    #[arg(long, default_value_t = 60)]
    seconds: u32,
    /// Seed of the scenes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct SceneReport {
    name: &'static str,
    entities: usize,
    clients: usize,
    tick_hz: u32,
    snapshot_hz: u32,
    bits_per_changed_entity: f64,
    bits_per_unchanged_entity: f64,
    full_snapshot_bytes: usize,
    down_kbit_per_client_per_s: f64,
    max_datagram_bytes: usize,
    encode_us_per_client: f64,
    decode_us_per_client: f64,
    changed_per_snapshot: f64,
    datagrams_per_s: f64,
    header_bits_per_snapshot: f64,
    bincode_varint_kbit_per_client_per_s: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let reports = vec![
        measure(Scene::arena_64(args.seed), args.seconds)?,
        measure(Scene::cubes_901(args.seed), args.seconds)?,
        measure(CubesScene::cubes3d_901(args.seed), args.seconds)?,
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.name.to_owned(),
                r.entities.to_string(),
                format!("{}/{}", r.tick_hz, r.snapshot_hz),
                format!("{:.1}", r.bits_per_changed_entity),
                format!("{:.3}", r.bits_per_unchanged_entity),
                r.full_snapshot_bytes.to_string(),
                format!("{:.1}", r.down_kbit_per_client_per_s),
                format!("{:.1}", r.bincode_varint_kbit_per_client_per_s),
                r.max_datagram_bytes.to_string(),
                format!("{:.1}", r.changed_per_snapshot),
                format!("{:.1}", r.encode_us_per_client),
                format!("{:.1}", r.decode_us_per_client),
            ]
        })
        .collect();
    print_table(
        &[
            "scene",
            "entities",
            "tick/snap Hz",
            "bits/changed",
            "bits/unchanged",
            "full B",
            "kbit/s",
            "bincode kbit/s",
            "max dgram B",
            "changed/snap",
            "enc µs",
            "dec µs",
        ],
        &rows,
    );
    println!(
        "(kbit/s per client include {OVERHEAD_BYTES} B of headers per datagram; bincode = the same deltas as plain bincode varints, no prediction or bit packing)"
    );
    if args.json {
        println!("{}", serde_json::json!({ "scenes": reports }));
    }
    Ok(())
}

fn measure(mut scene: impl BenchScene, seconds: u32) -> Result<SceneReport> {
    let schema = &scene.schema();
    let interval = scene.tick_hz() / scene.snapshot_hz();
    let window_ticks = 32 * interval;
    let config = SenderConfig {
        max_datagram_bytes: MAX_DATAGRAM_BYTES,
        budget_bytes_per_snapshot: BUDGET_BYTES_PER_S / scene.snapshot_hz() as usize,
        window_ticks,
    };
    let ack_delay_ticks = (ACK_DELAY_S * scene.tick_hz() as f32).round() as u32;
    let mut history = WorldHistory::new(33);
    let mut sender = SnapshotSender::new(config);
    let mut receiver = SnapshotReceiver::new(schema.clone(), window_ticks, Tick::new(0));
    let mut worlds: Vec<(Tick, Vec<NetEntity>)> = Vec::new();
    let mut acks: Vec<(u32, Tick)> = Vec::new();

    let full_snapshot_bytes = {
        let mut h = WorldHistory::new(1);
        h.record(Tick::new(0), &scene);
        let mut fresh = SnapshotSender::new(SenderConfig {
            budget_bytes_per_snapshot: usize::MAX / 16,
            ..config
        });
        fresh
            .encode(
                schema,
                &h,
                &mut SharedEncoding::new(),
                Tick::new(0),
                Private::default(),
                &mut |_| 1.0,
            )?
            .bytes
    };

    let (mut bytes, mut datagrams, mut snapshots, mut max_datagram) =
        (0usize, 0usize, 0usize, 0usize);
    let (
        mut delta_bits,
        mut deltas,
        mut index_bits,
        mut entries,
        mut mask_zero_bits,
        mut unchanged,
    ) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut changed, mut encode_ns, mut decode_ns, mut varint_bytes) =
        (0usize, 0u128, 0u128, 0usize);
    let total_ticks = (WARMUP_S + seconds) * scene.tick_hz();
    for t in 1..=total_ticks {
        scene.step();
        if t % interval != 0 {
            continue;
        }
        let tick = Tick::new(t);
        history.record(tick, &scene);
        let mut world = Vec::new();
        scene.replicate(&mut world);
        for &(_, ack) in acks.iter().filter(|(at, _)| *at <= t) {
            sender.on_ack(ack);
        }
        acks.retain(|(at, _)| *at > t);
        let started = Instant::now();
        let report = sender.encode(
            schema,
            &history,
            &mut SharedEncoding::new(),
            tick,
            Private::default(),
            &mut |_| 1.0,
        )?;
        let encode = started.elapsed().as_nanos();
        let started = Instant::now();
        for part in sender.datagrams() {
            receiver.handle_datagram(part)?;
        }
        let decode = started.elapsed().as_nanos();
        let Some(latest) = receiver.latest().filter(|s| s.tick == tick) else {
            bail!("snapshot {tick} did not complete")
        };
        if report.sent == report.changed && !same(&latest.entities, &world) {
            bail!(
                "{}: the client's snapshot {tick} differs from the server's world",
                scene.name()
            );
        }
        acks.push((t + ack_delay_ticks, tick));
        if t > WARMUP_S * scene.tick_hz() {
            snapshots += 1;
            datagrams += report.parts;
            bytes += report.bytes + OVERHEAD_BYTES * report.parts;
            max_datagram = max_datagram.max(sender.datagrams().map(<[u8]>::len).max().unwrap_or(0));
            delta_bits += u64::from(report.bits.delta_bits);
            deltas += u64::from(report.bits.deltas);
            index_bits += u64::from(report.bits.index_bits);
            entries += u64::from(report.bits.deltas + report.bits.created);
            mask_zero_bits += u64::from(report.bits.mask_zero_bits);
            unchanged += (report.entities - report.changed) as u64;
            changed += report.changed;
            encode_ns += encode;
            decode_ns += decode;
            varint_bytes += varint_size(
                report
                    .baseline
                    .and_then(|b| worlds.iter().find(|(t, _)| *t == b))
                    .map(|(_, w)| w.as_slice()),
                &world,
                tick,
            );
        }
        worlds.push((tick, world));
        if worlds.len() > 40 {
            worlds.remove(0);
        }
    }
    let secs = f64::from(seconds);
    // Index bits belong to the entries they locate; share them out by count.
    let delta_index_bits = if entries > 0 {
        index_bits as f64 * deltas as f64 / entries as f64
    } else {
        0.0
    };
    let header_bits =
        (bytes - OVERHEAD_BYTES * datagrams) as f64 * 8.0 - delta_bits as f64 - delta_index_bits;
    Ok(SceneReport {
        name: scene.name(),
        entities: scene.entities(),
        clients: 1,
        tick_hz: scene.tick_hz(),
        snapshot_hz: scene.snapshot_hz(),
        bits_per_changed_entity: (delta_bits as f64 + delta_index_bits) / deltas.max(1) as f64,
        bits_per_unchanged_entity: mask_zero_bits as f64 / unchanged.max(1) as f64,
        full_snapshot_bytes,
        down_kbit_per_client_per_s: bytes as f64 * 8.0 / secs / 1000.0,
        max_datagram_bytes: max_datagram,
        encode_us_per_client: encode_ns as f64 / snapshots.max(1) as f64 / 1000.0,
        decode_us_per_client: decode_ns as f64 / snapshots.max(1) as f64 / 1000.0,
        changed_per_snapshot: changed as f64 / snapshots.max(1) as f64,
        datagrams_per_s: datagrams as f64 / secs,
        header_bits_per_snapshot: header_bits / snapshots.max(1) as f64,
        bincode_varint_kbit_per_client_per_s: varint_bytes as f64 * 8.0 / secs / 1000.0,
    })
}

fn same(client: &[(u32, tickwire_netcode::schema::EntityState)], world: &[NetEntity]) -> bool {
    client.len() == world.len()
        && client
            .iter()
            .zip(world)
            .all(|((i, s), e)| *i == e.index && *s == e.state)
}

/// Bytes (with per-datagram overhead) of the same delta as plain bincode varints: each
/// changed entity as its index gap and the field differences from the baseline.
fn varint_size(baseline: Option<&[NetEntity]>, world: &[NetEntity], tick: Tick) -> usize {
    #[derive(Serialize)]
    struct Delta {
        tick: u32,
        baseline: u32,
        entries: Vec<(u32, Vec<i32>)>,
    }
    let mut entries = Vec::new();
    let mut prev = 0;
    for e in world {
        let base = baseline.and_then(|b| b.iter().find(|x| x.index == e.index));
        let diffs: Vec<i32> = match base {
            Some(b) if b.state == e.state => continue,
            Some(b) => e
                .state
                .fields
                .iter()
                .zip(b.state.fields)
                .map(|(c, b)| c - b)
                .collect(),
            None => e.state.fields.to_vec(),
        };
        entries.push((e.index - prev, diffs));
        prev = e.index;
    }
    let delta = Delta {
        tick: tick.get(),
        baseline: 0,
        entries,
    };
    let len = codec::encode(&delta).map_or(0, |b| b.len());
    len + OVERHEAD_BYTES * len.div_ceil(MAX_DATAGRAM_BYTES).max(1)
}
