//! A room started through the server library ticks a world built from the designer config.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use tickwire_server::Room;
use tickwire_sim::arena::Arena;
use tickwire_tests::config_with;

#[test]
fn a_room_ticks_the_configured_world_and_stops_cleanly() {
    let config = config_with(&[
        "game.prop_count=200",
        "tick.tick_hz=120",
        "tick.snapshot_hz=60",
    ]);
    let room = Room::start::<Arena>("e2e", &config).unwrap();
    // Wait (bounded) for the first once-a-second view of the world.
    let mut view = room.view();
    for _ in 0..100 {
        if view.props > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        view = room.view();
    }
    assert!(room.is_running());
    assert_eq!(view.props, 200, "the world holds the configured props");
    assert!(
        view.tick.get() >= 120,
        "the view is taken after a second of 120 Hz ticks"
    );
    let stats = room.stop();
    assert!(stats.ticks >= u64::from(view.tick.get()));
    assert_eq!(stats.duration_ns.len(), stats.ticks, "every tick was timed");
}

#[test]
fn an_invalid_arena_is_refused_before_any_thread_starts() {
    let mut config = config_with(&[]);
    config.game.max_speed_mps = f32::NAN;
    let err = Room::start::<Arena>("bad", &config).unwrap_err();
    assert!(err.to_string().contains("game.max_speed_mps"), "{err}");
}

#[test]
fn a_client_that_stops_acknowledging_is_sent_fewer_snapshots_until_it_does() {
    use std::collections::HashMap;
    use tickwire_netcode::protocol::{InputDatagram, encode_input};
    use tickwire_server::room_core::RoomCore;

    let mut room =
        RoomCore::<Arena>::new("backoff", &config_with(&["game.prop_count=20"])).unwrap();
    let (silent, _) = room.join(Some(1200)).unwrap();
    let (acking, _) = room.join(Some(1200)).unwrap();
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut snapshots: HashMap<_, u32> = HashMap::new();
    // 3 s at 60 Hz: 90 snapshot ticks. One client acknowledges every snapshot it gets.
    let mut receiver = tickwire_netcode::snapshot::SnapshotReceiver::new(
        room.schema().clone(),
        32 * 2,
        room.game().world().tick(),
    );
    for _ in 0..180 {
        room.tick(&mut |client, bytes| {
            if client == acking {
                parts.push(bytes.to_vec());
            }
            *snapshots.entry(client).or_default() += 1;
        });
        assert!(room.send_failures().is_empty());
        for bytes in parts.drain(..) {
            receiver.handle_datagram(&bytes).unwrap();
        }
        let ack = InputDatagram {
            ack: receiver.ack(),
            newest: room.game().world().tick(),
            inputs: vec![tickwire_netcode::protocol::InputFrame {
                view_ago: 0,
                view_fraction: 0,
                input: tickwire_sim::arena::replication::WireInput::default(),
            }],
        };
        let mut out = Vec::new();
        encode_input(&ack, &mut out).unwrap();
        room.handle_datagram(acking, &out).unwrap();
    }
    let (got_silent, got_acking) = (snapshots[&silent], snapshots[&acking]);
    assert!(
        got_acking >= 88,
        "the acknowledging client got {got_acking} of 90"
    );
    // 16 in full, then one in four of the remaining 74.
    assert!(
        (30..=36).contains(&got_silent),
        "the silent client got {got_silent} of 90"
    );
    assert!(room.stats().snapshots_held_back >= 50);
}

#[test]
fn clients_that_start_lagging_together_take_turns() {
    use std::collections::HashMap;
    use tickwire_server::room_core::RoomCore;

    let mut room = RoomCore::<Arena>::new("turns", &config_with(&["game.prop_count=20"])).unwrap();
    let silent: Vec<_> = (0..8).map(|_| room.join(Some(1200)).unwrap().0).collect();
    // 4 s at 60 Hz: none of them ever acknowledges, so all start lagging on the same tick.
    let mut per_tick = Vec::new();
    let mut per_client: HashMap<_, u32> = HashMap::new();
    for _ in 0..240 {
        let mut sent = 0;
        room.tick(&mut |client, _| {
            sent += 1;
            *per_client.entry(client).or_default() += 1;
        });
        per_tick.push(sent);
    }
    // The last 2 s are all back-off: 60 snapshot ticks, each client sent one in four.
    let lagging = &per_tick[120..];
    assert!(
        lagging.iter().all(|&n| n <= 2),
        "8 lagging clients sent at most 2 per tick, not in one burst: {lagging:?}"
    );
    assert_eq!(lagging.iter().sum::<u32>(), 8 * 60 / 4);
    // 16 in full, then one in four of the other 104 snapshot ticks, whatever the turn.
    for client in &silent {
        assert!((40..=44).contains(&per_client[client]), "{per_client:?}");
    }
}

#[test]
fn a_client_that_knows_only_the_welcome_decodes_every_snapshot_bit_for_bit() {
    use tickwire_netcode::codec;
    use tickwire_netcode::protocol::{InputDatagram, ServerControl, encode_input};
    use tickwire_netcode::schema::Schema;
    use tickwire_netcode::snapshot::SnapshotReceiver;
    use tickwire_server::room_core::RoomCore;
    use tickwire_sim::arena::replication::{entity_state, net_id};

    let mut room =
        RoomCore::<Arena>::new("generic", &config_with(&["game.prop_count=60"])).unwrap();
    let (client, welcome) = room.join(Some(1200)).unwrap();
    // Over the wire and back: the client has the welcome's bytes and nothing of the sim.
    let bytes = codec::encode(&ServerControl::Welcome(welcome)).unwrap();
    let Ok(ServerControl::Welcome(welcome)) = codec::decode::<ServerControl>(&bytes) else {
        panic!("the welcome decodes");
    };
    assert_eq!(welcome.game, "arena");
    let schema = Schema::from_description(&welcome.schema).unwrap();
    let kinds: Vec<_> = schema.kinds().iter().map(|k| k.name.to_string()).collect();
    assert_eq!(kinds, ["player", "prop"]);
    let mut receiver = SnapshotReceiver::new(
        schema.clone(),
        welcome.baseline_window_ticks,
        welcome.server_tick,
    );
    let mut parts = Vec::new();
    let (mut complete, mut deltas) = (0, 0);
    for _ in 0..240 {
        room.tick(&mut |to, bytes| {
            if to == client {
                parts.push(bytes.to_vec());
            }
        });
        for bytes in parts.drain(..) {
            let received = receiver.handle_datagram(&bytes).unwrap().unwrap();
            if !received.completed {
                continue;
            }
            complete += 1;
            deltas +=
                usize::from(receiver.last_part().len() < room.game().world().entities().count());
            let snapshot = receiver.latest().unwrap();
            assert_eq!(snapshot.tick, room.game().world().tick());
            assert_eq!(
                snapshot.entities.len(),
                room.game().world().entities().count()
            );
            for (id, entity) in room.game().world().entities() {
                let held = snapshot.get(net_id(id).0).unwrap();
                assert_eq!(*held, entity_state(entity), "bit for bit, {id:?}");
                // The description's scale gives the world's metres within half a step.
                let fields = schema.fields(held.kind).unwrap();
                let x = fields.iter().position(|f| f.name == "x").unwrap();
                assert_eq!(fields[x].unit, "m");
                let metres = fields[x].to_unit(held.fields[x]);
                assert!(
                    (metres - f64::from(entity.pos.x)).abs() <= 1.0 / 1024.0 + 1e-6,
                    "{metres} m vs {}",
                    entity.pos.x
                );
            }
        }
        let ack = InputDatagram {
            ack: receiver.ack(),
            newest: room.game().world().tick(),
            inputs: vec![tickwire_netcode::protocol::InputFrame {
                view_ago: 0,
                view_fraction: 0,
                input: tickwire_sim::arena::replication::WireInput::default(),
            }],
        };
        let mut out = Vec::new();
        encode_input(&ack, &mut out).unwrap();
        room.handle_datagram(client, &out).unwrap();
    }
    assert!(complete >= 100, "{complete} complete snapshots");
    assert!(
        deltas >= 50,
        "most were deltas against an acknowledged baseline: {deltas}"
    );
}
