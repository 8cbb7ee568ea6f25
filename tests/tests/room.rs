//! A room started through the server library ticks a world built from the designer config.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use tickwire_server::Room;
use tickwire_server::room_core::RoomCore;
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
    assert!(room.stats().net.snapshots_held_back >= 50);
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

/// A client that knows nothing of `G` but the welcome's bytes: it decodes 120 snapshots of
/// `room` (each tick, `stir` moves the world) with the schema the welcome describes, and
/// each is the server's world bit for bit. Returns the schema and the last snapshot.
fn decoded_from_the_welcome_alone<G: tickwire_netcode::game::Game>(
    room: &mut RoomCore<G>,
    stir: &mut dyn FnMut(&mut G),
) -> (
    tickwire_netcode::schema::Schema,
    tickwire_netcode::snapshot::Snapshot,
) {
    use tickwire_netcode::codec;
    use tickwire_netcode::protocol::{InputDatagram, InputFrame, ServerControl, encode_input};
    use tickwire_netcode::schema::Schema;
    use tickwire_netcode::snapshot::SnapshotReceiver;

    let (client, welcome) = room.join(Some(1200)).unwrap();
    // Over the wire and back: the client has the welcome's bytes and nothing of the game.
    let bytes = codec::encode(&ServerControl::Welcome(welcome)).unwrap();
    let Ok(ServerControl::Welcome(welcome)) = codec::decode::<ServerControl>(&bytes) else {
        panic!("the welcome decodes");
    };
    assert_eq!(welcome.game, G::NAME);
    let schema = Schema::from_description(&welcome.schema).unwrap();
    let mut receiver = SnapshotReceiver::new(
        schema.clone(),
        welcome.baseline_window_ticks,
        welcome.server_tick,
    );
    let (mut parts, mut world) = (Vec::new(), Vec::new());
    let (mut complete, mut deltas) = (0, 0);
    for _ in 0..240 {
        stir(room.game_mut());
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
            world.clear();
            room.game().replicate(&mut world);
            deltas += usize::from(receiver.last_part().len() < world.len());
            let snapshot = receiver.latest().unwrap();
            assert_eq!(snapshot.tick, room.tick_now());
            let server: Vec<_> = world.iter().map(|e| (e.index, e.state)).collect();
            let differs = snapshot
                .entities
                .iter()
                .zip(&server)
                .find(|(client, server)| client != server);
            assert!(
                differs.is_none() && snapshot.entities.len() == server.len(),
                "at {}: the client holds {} entities, the server {}; first difference {differs:?}",
                snapshot.tick,
                snapshot.entities.len(),
                server.len()
            );
        }
        let ack = InputDatagram {
            ack: receiver.ack(),
            newest: room.tick_now(),
            inputs: vec![InputFrame {
                view_ago: 0,
                view_fraction: 0,
                input: G::Input::default(),
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
    (schema, receiver.latest().unwrap().clone())
}

#[test]
fn a_client_that_knows_only_the_welcome_decodes_the_arena_bit_for_bit() {
    let mut room =
        RoomCore::<Arena>::new("generic", &config_with(&["game.prop_count=60"])).unwrap();
    let (schema, last) = decoded_from_the_welcome_alone(&mut room, &mut |_| {});
    let kinds: Vec<_> = schema.kinds().iter().map(|k| k.name.to_string()).collect();
    assert_eq!(kinds, ["player", "prop"]);
    // The description's scale gives the world's metres within half a step.
    for (id, entity) in room.game().world().entities() {
        let held = last
            .get(tickwire_sim::arena::replication::net_id(id).0)
            .unwrap();
        let fields = schema.fields(held.kind).unwrap();
        let x = fields.iter().position(|f| f.name == "x").unwrap();
        assert_eq!(fields[x].unit, "m");
        let metres = fields[x].to_unit(held.fields[x]);
        assert!((metres - f64::from(entity.pos.x)).abs() <= 1.0 / 1024.0 + 1e-6);
    }
}

#[test]
fn a_client_that_knows_only_the_welcome_decodes_cubes3d_bit_for_bit() {
    use tickwire_netcode::rotation;
    use tickwire_netcode::schema::FieldKind;
    use tickwire_sim::cubes3d::Cubes3d;
    // A budget that carries every change: this is about decoding, not prioritizing.
    let config = tickwire_tests::game_config_with(&[
        "server.game=cubes3d",
        "net.client_budget_bytes_per_s=10000000",
    ]);
    let mut room = RoomCore::<Cubes3d>::new("generic", &config).unwrap();
    // Knock a row of cubes spinning into the air now and then: positions and rotations
    // (changing frame as they tumble) all change.
    let mut tick = 0;
    let (schema, last) = decoded_from_the_welcome_alone(&mut room, &mut |game| {
        tick += 1;
        if tick % 40 == 1 {
            for cube in game.world_mut().cubes_mut().iter_mut().step_by(37) {
                cube.body.wake();
                cube.body.vel = glam::Vec3::new(2.0, -1.0, 4.0);
                cube.body.spin = glam::Vec3::new(6.0, 3.0, -4.0);
            }
        }
    });
    let kinds: Vec<_> = schema.kinds().iter().map(|k| k.name.to_string()).collect();
    assert_eq!(kinds, ["pusher", "cube"]);
    // Every cube, read with nothing but the description's units, scales and rotation kinds.
    let fields = schema.fields(1).unwrap();
    let at = |name: &str| fields.iter().position(|f| f.name == name).unwrap();
    let (x, z, q) = (at("x"), at("z"), at("q_largest"));
    assert_eq!(fields[q].kind, FieldKind::RotationIndex);
    let bits = fields[q + 1].bits;
    for (i, cube) in room.game().world().cubes().iter().enumerate() {
        let held = last.get(i as u32).unwrap();
        let metres = |f: usize| fields[f].to_unit(held.fields[f]);
        assert!((metres(x) - f64::from(cube.body.pos.x)).abs() <= 1.0 / 1024.0 + 1e-6);
        assert!((metres(z) - f64::from(cube.body.pos.z)).abs() <= 1.0 / 1024.0 + 1e-6);
        let v = |f: usize| held.fields[f];
        let decoded = rotation::dequantize(v(q), [v(q + 1), v(q + 2), v(q + 3)], bits);
        let r = cube.body.rot;
        let dot = decoded[0] * f64::from(r.x)
            + decoded[1] * f64::from(r.y)
            + decoded[2] * f64::from(r.z)
            + decoded[3] * f64::from(r.w);
        assert!(
            2.0 * dot.abs().min(1.0).acos() < 0.01,
            "cube {i}: {decoded:?} vs {r:?}"
        );
    }
}
