//! Any bytes fed to a snapshot receiver: an error or a part, never a panic. The receiver is
//! primed with a few real snapshots first so deltas against held baselines are reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_netcode::Tick;
use tickwire_netcode::schema::{NetEntity, Replicate};
use tickwire_netcode::snapshot::{
    Private, SenderConfig, SharedEncoding, SnapshotReceiver, SnapshotSender, WorldHistory,
};
use tickwire_sim::arena::replication::arena_schema;
use tickwire_sim::arena::{ArenaConfig, Rules, World};

/// A receiver holding three real snapshots, made once: each input gets a fresh copy.
fn primed() -> SnapshotReceiver {
    let config = ArenaConfig {
        prop_count: 40,
        ..ArenaConfig::default()
    };
    let schema = arena_schema(&config);
    let rules = Rules::new(config, tickwire_netcode::TickRate::new(60).unwrap()).unwrap();
    let mut world = World::new(rules);
    world.spawn_player();
    let mut history = WorldHistory::new(8);
    let mut sender = SnapshotSender::new(SenderConfig {
        max_datagram_bytes: 1200,
        budget_bytes_per_snapshot: 1 << 16,
        window_ticks: 64,
    });
    let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    for t in 1..=3 {
        world.step(&[]);
        history.record_with(Tick::new(t), |out: &mut Vec<NetEntity>| {
            world.replicate(out)
        });
        sender
            .encode(
                &schema,
                &history,
                &mut SharedEncoding::new(),
                Tick::new(t),
                Private::default(),
                &mut |_| 1.0,
            )
            .unwrap();
        for part in sender.datagrams() {
            let _ = receiver.handle_datagram(part);
        }
        if let Some(ack) = receiver.ack() {
            sender.on_ack(ack);
        }
    }
    receiver
}

static PRIMED: std::sync::OnceLock<SnapshotReceiver> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mut receiver = PRIMED.get_or_init(primed).clone();
    let _ = receiver.handle_datagram(data);
});
