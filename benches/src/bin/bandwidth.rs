//! What a game costs on the wire: `cargo run --release -p tickwire-benches --bin bandwidth -- --json`.
//!
//! Runs the seeded benchmark scenes through the real snapshot encoder and decoder (no
//! sockets), with acknowledgements arriving 100 ms after each snapshot is sent, and reports
//! bits per entity, bandwidth per client and encode time. Bandwidth counts payload plus 60
//! bytes per datagram for IP, UDP and QUIC headers, measured after a 2 s warm-up (the initial
//! full snapshot is reported on its own as `full_snapshot_bytes`). Every decoded snapshot is
//! checked entity by entity against what the sender says the client holds (the world, less
//! what the budget held back), and against the world itself when nothing was held back, so a
//! figure from a broken coder cannot be reported. The real per-datagram overhead is measured
//! beside the fixed 60 B from quinn's counters on a loopback connection.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use serde::Serialize;
use tickwire_benches::print_table;
use tickwire_benches::scenes::{BenchScene, CubesScene, Scene};
use tickwire_netcode::Tick;
use tickwire_netcode::codec;
use tickwire_netcode::schema::{NetEntity, Schema};
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
    /// Snapshots the client decoded (after the warm-up and during it).
    snapshots_decoded: usize,
    /// Of those, checked entity by entity against what the sender says the client holds.
    snapshots_verified: usize,
    /// What a datagram costs on the wire besides its payload, measured: IP and UDP headers
    /// plus everything QUIC sends per datagram (its header, frame, tag, and its share of
    /// acknowledgements and pings), from quinn's counters over loopback with the game's
    /// transport settings (bytes).
    measured_overhead_bytes_per_datagram: f64,
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
                format!("{}/{}", r.snapshots_verified, r.snapshots_decoded),
                format!("{:.1}", r.measured_overhead_bytes_per_datagram),
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
            "verified",
            "overhead B",
        ],
        &rows,
    );
    println!(
        "(kbit/s per client include {OVERHEAD_BYTES} B of headers per datagram; overhead B = what a datagram of the scene's mean size really costs besides its payload, measured from quinn's counters over loopback; bincode = the same deltas as plain bincode varints of each kind's fields, no prediction or bit packing; verified = snapshots checked against what the sender says the client holds, of those decoded)"
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
    let mut expected = Vec::new();
    let (mut decoded, mut verified) = (0usize, 0usize);

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
        mut passed_over_bits,
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
        decoded += 1;
        let Some(latest) = receiver.latest().filter(|s| s.tick == tick) else {
            bail!("snapshot {tick} did not complete")
        };
        // Every snapshot, budget-limited ones included: what the client decoded is what the
        // sender says it holds (the world, less what was held back or never sent).
        if !sender.client_view(&history, tick, &mut expected) {
            bail!(
                "{}: snapshot {tick} is no longer kept to verify",
                scene.name()
            );
        }
        if latest.entities != expected {
            bail!(
                "{}: the client's snapshot {tick} differs from what the server sent it",
                scene.name()
            );
        }
        if report.sent == report.changed && !same(&latest.entities, &world) {
            bail!(
                "{}: the client's snapshot {tick} differs from the server's world",
                scene.name()
            );
        }
        verified += 1;
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
            passed_over_bits += u64::from(report.bits.passed_over_bits);
            unchanged += (report.entities - report.changed) as u64;
            changed += report.changed;
            encode_ns += encode;
            decode_ns += decode;
            varint_bytes += varint_size(
                schema,
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
    // Index bits: what the walk spends passing over entities that did not change is what
    // unchanged entities cost (`bits_per_unchanged_entity`); the rest locate the entries,
    // shared out by count. Each index bit is counted once.
    let locating_bits = index_bits;
    let delta_index_bits = if entries > 0 {
        locating_bits as f64 * deltas as f64 / entries as f64
    } else {
        0.0
    };
    let header_bits = (bytes - OVERHEAD_BYTES * datagrams) as f64 * 8.0
        - delta_bits as f64
        - delta_index_bits
        - passed_over_bits as f64;
    Ok(SceneReport {
        name: scene.name(),
        entities: scene.entities(),
        clients: 1,
        tick_hz: scene.tick_hz(),
        snapshot_hz: scene.snapshot_hz(),
        bits_per_changed_entity: (delta_bits as f64 + delta_index_bits) / deltas.max(1) as f64,
        bits_per_unchanged_entity: passed_over_bits as f64 / unchanged.max(1) as f64,
        full_snapshot_bytes,
        down_kbit_per_client_per_s: bytes as f64 * 8.0 / secs / 1000.0,
        max_datagram_bytes: max_datagram,
        encode_us_per_client: encode_ns as f64 / snapshots.max(1) as f64 / 1000.0,
        decode_us_per_client: decode_ns as f64 / snapshots.max(1) as f64 / 1000.0,
        changed_per_snapshot: changed as f64 / snapshots.max(1) as f64,
        datagrams_per_s: datagrams as f64 / secs,
        header_bits_per_snapshot: header_bits / snapshots.max(1) as f64,
        bincode_varint_kbit_per_client_per_s: varint_bytes as f64 * 8.0 / secs / 1000.0,
        snapshots_decoded: decoded,
        snapshots_verified: verified,
        measured_overhead_bytes_per_datagram: measured_overhead(
            (bytes - OVERHEAD_BYTES * datagrams) / datagrams.max(1),
            scene.snapshot_hz(),
        )?,
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
fn varint_size(
    schema: &Schema,
    baseline: Option<&[NetEntity]>,
    world: &[NetEntity],
    tick: Tick,
) -> usize {
    #[derive(Serialize)]
    struct Delta {
        tick: u32,
        baseline: u32,
        entries: Vec<(u32, Vec<i32>)>,
    }
    let mut entries = Vec::new();
    let mut prev = 0;
    for e in world {
        // Only the fields the entity's kind has, not every slot of the state.
        let fields = schema
            .kinds()
            .get(usize::from(e.state.kind))
            .map_or(0, |k| k.fields.len());
        let base = baseline.and_then(|b| b.iter().find(|x| x.index == e.index));
        let diffs: Vec<i32> = match base {
            Some(b) if b.state == e.state => continue,
            Some(b) => e
                .state
                .fields
                .iter()
                .zip(b.state.fields)
                .take(fields)
                .map(|(c, b)| c - b)
                .collect(),
            None => e.state.fields.iter().take(fields).copied().collect(),
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

/// What each datagram of `payload` bytes costs on the wire besides the payload, measured:
/// a server sends them at `rate_hz` for 2 s to a client over loopback QUIC with the game's
/// transport settings, and quinn's own counters say how many UDP bytes and packets the
/// server sent for them — acknowledgements, pings and every header included — plus 28 bytes
/// of IPv4 and UDP header per packet.
fn measured_overhead(payload: usize, rate_hz: u32) -> Result<f64> {
    use tickwire_netcode::quic::{GameTransport, ServerTrust, client_config, server_config};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let identity = tickwire_server::endpoint::Identity::self_signed()?;
        let transport = GameTransport::default();
        let server = quinn::Endpoint::server(
            server_config(
                identity.cert_chain.clone(),
                identity.key.clone_key(),
                &transport,
            )?,
            "127.0.0.1:0".parse()?,
        )?;
        let mut client = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
        let leaf = identity
            .leaf()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no certificate"))?;
        client
            .set_default_client_config(client_config(ServerTrust::Certificate(leaf), &transport)?);
        let addr = server.local_addr()?;
        let (connecting, accepted) = tokio::join!(
            async {
                client
                    .connect(addr, "localhost")?
                    .await
                    .map_err(anyhow::Error::from)
            },
            async {
                let incoming = server
                    .accept()
                    .await
                    .ok_or_else(|| anyhow::anyhow!("no connection"))?;
                incoming.await.map_err(anyhow::Error::from)
            }
        );
        let (to_client, at_server) = (connecting?, accepted?);
        // The client reads and acknowledges, as a game client does.
        let reader = tokio::spawn(async move {
            let mut n = 0u32;
            while to_client.read_datagram().await.is_ok() {
                n += 1;
            }
            n
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let before = at_server.stats().udp_tx;
        let sends = 2 * rate_hz;
        let every = std::time::Duration::from_secs(1) / rate_hz;
        let datagram = bytes::Bytes::from(vec![0xA5u8; payload.max(1)]);
        for _ in 0..sends {
            at_server.send_datagram(datagram.clone())?;
            tokio::time::sleep(every).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let after = at_server.stats().udp_tx;
        at_server.close(0u32.into(), b"done");
        let _ = reader.await;
        let wire = (after.bytes - before.bytes) + 28 * (after.datagrams - before.datagrams);
        Ok(wire as f64 / f64::from(sends) - payload as f64)
    })
}
