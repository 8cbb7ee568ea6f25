//! Criterion micro-benchmarks of the snapshot coder: `cargo bench -p tickwire-benches`.
//!
//! Encode and decode of one steady-state delta for one client on the benchmark scenes, and
//! of a full snapshot.

#![allow(missing_docs)]
// criterion's macros generate undocumented items
// Benchmark code: a panic is a failed run, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{Criterion, criterion_group, criterion_main};
use tickwire_benches::scenes::Scene;
use tickwire_netcode::Tick;
use tickwire_netcode::schema::Schema;
use tickwire_netcode::snapshot::{
    Private, SenderConfig, SharedEncoding, SnapshotReceiver, SnapshotSender, WorldHistory,
};
use tickwire_sim::arena::ArenaConfig;
use tickwire_sim::arena::replication::arena_schema;

const CONFIG: SenderConfig = SenderConfig {
    max_datagram_bytes: 1200,
    budget_bytes_per_snapshot: 1 << 20,
    window_ticks: 64,
};

/// `clients` senders and one receiver warmed up on `scene` for two seconds with acks 100 ms
/// late (every client acknowledging alike).
fn warm(
    schema: &Schema,
    scene: &mut Scene,
    clients: usize,
) -> (WorldHistory, Vec<SnapshotSender>, u32) {
    let interval = scene.tick_hz / scene.snapshot_hz;
    let mut history = WorldHistory::new(33);
    let mut senders: Vec<SnapshotSender> =
        (0..clients).map(|_| SnapshotSender::new(CONFIG)).collect();
    let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    let mut acks = Vec::new();
    let mut t = 0;
    while t < scene.tick_hz * 2 {
        t += 1;
        scene.step();
        if t % interval != 0 {
            continue;
        }
        history.record(Tick::new(t), &*scene);
        let mut shared = SharedEncoding::new();
        for (i, sender) in senders.iter_mut().enumerate() {
            for &(_, a) in acks.iter().filter(|(at, _)| *at <= t) {
                sender.on_ack(a);
            }
            sender
                .encode(
                    schema,
                    &history,
                    &mut shared,
                    Tick::new(t),
                    Private::default(),
                    &mut |_| 1.0,
                )
                .unwrap();
            if i == 0 {
                for part in sender.datagrams() {
                    receiver.handle_datagram(part).unwrap();
                }
            }
        }
        acks.retain(|(at, _)| *at > t);
        acks.push((t + 6, receiver.ack().unwrap()));
    }
    (history, senders, t)
}

fn bench(c: &mut Criterion) {
    let schema = arena_schema(&ArenaConfig::default());
    for make in [Scene::arena_64 as fn(u64) -> Scene, Scene::cubes_901] {
        let mut scene = make(1);
        let name = scene.name;
        let (mut history, mut senders, t) = warm(&schema, &mut scene, 64);
        scene.step();
        history.record(Tick::new(t + 1), &scene);
        let tick = Tick::new(t + 1);
        let sender = &mut senders[0];
        c.bench_function(&format!("{name}/encode_delta"), |b| {
            b.iter(|| {
                sender
                    .encode(
                        &schema,
                        &history,
                        &mut SharedEncoding::new(),
                        tick,
                        Private::default(),
                        &mut |_| 1.0,
                    )
                    .unwrap()
            });
        });
        c.bench_function(&format!("{name}/encode_delta_64_clients_shared"), |b| {
            b.iter(|| {
                let mut shared = SharedEncoding::new();
                for sender in &mut senders {
                    sender
                        .encode(
                            &schema,
                            &history,
                            &mut shared,
                            tick,
                            Private::default(),
                            &mut |_| 1.0,
                        )
                        .unwrap();
                }
            });
        });
        let mut fresh = SnapshotSender::new(CONFIG);
        c.bench_function(&format!("{name}/encode_full"), |b| {
            b.iter(|| {
                fresh
                    .encode(
                        &schema,
                        &history,
                        &mut SharedEncoding::new(),
                        Tick::new(t + 1),
                        Private::default(),
                        &mut |_| 1.0,
                    )
                    .unwrap()
            });
        });
        let full: Vec<Vec<u8>> = fresh.datagrams().map(<[u8]>::to_vec).collect();
        c.bench_function(&format!("{name}/decode_full"), |b| {
            b.iter(|| {
                let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(t));
                for part in &full {
                    receiver.handle_datagram(part).unwrap();
                }
                receiver.ack()
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
