//! Sender and receiver together: deltas under loss, reordering and duplication, budgets,
//! parts, and hostile bytes.

use std::collections::VecDeque;

use proptest::prelude::*;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::test_util::{deliver, plain};
use super::*;
use crate::schema::{EntityState, FieldSpec, KindSpec, MAX_FIELDS, NetEntity, Schema};
use crate::tick::Tick;

fn schema() -> Schema {
    Schema::new(
        vec![
            KindSpec {
                name: "player".into(),
                fields: vec![
                    FieldSpec::linear("x", 16, 0),
                    FieldSpec::linear("y", 16, 0),
                    FieldSpec::angle("aim", 12),
                    FieldSpec::discrete("health", 8, 0),
                ],
            },
            KindSpec {
                name: "prop".into(),
                fields: vec![
                    FieldSpec::linear("x", 16, 0),
                    FieldSpec::linear("y", 16, 0),
                    FieldSpec::angle("angle", 12),
                ],
            },
        ],
        vec![
            FieldSpec::linear("vx", 17, -65_536),
            FieldSpec::discrete("cooldown", 8, 0),
        ],
    )
    .unwrap()
}

fn state(kind: u8, values: &[i32]) -> EntityState {
    let mut fields = [0; MAX_FIELDS];
    fields[..values.len()].copy_from_slice(values);
    EntityState { kind, fields }
}

const CONFIG: SenderConfig = SenderConfig {
    max_datagram_bytes: 1200,
    budget_bytes_per_snapshot: 1 << 20,
    window_ticks: 64,
};

/// A scripted world: some entities move in straight lines, some turn, some rest, some
/// appear and vanish, health jumps now and then.
struct Scene {
    rng: ChaCha8Rng,
    entities: Vec<(NetEntity, [i32; 3])>, // entity, velocity (x, y, angle) per tick
    next_uid: u32,
}

impl Scene {
    fn new(seed: u64, count: u32) -> Self {
        let mut scene = Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            entities: Vec::new(),
            next_uid: 0,
        };
        for index in 0..count {
            scene.spawn(index);
        }
        scene
    }

    fn spawn(&mut self, index: u32) {
        let kind = u8::from(self.rng.random::<f32>() < 0.7);
        let fields: Vec<i32> = if kind == 0 {
            vec![
                self.rng.random_range(0..65_536),
                self.rng.random_range(0..65_536),
                self.rng.random_range(0..4096),
                100,
            ]
        } else {
            vec![
                self.rng.random_range(0..65_536),
                self.rng.random_range(0..65_536),
                self.rng.random_range(0..4096),
            ]
        };
        self.next_uid += 1;
        let entity = NetEntity {
            index,
            uid: self.next_uid,
            state: state(kind, &fields),
        };
        let at = self.entities.partition_point(|(e, _)| e.index < index);
        self.entities.insert(at, (entity, [0; 3]));
    }

    fn step(&mut self) {
        for (e, vel) in &mut self.entities {
            if self.rng.random::<f32>() < 0.02 {
                *vel = if vel == &[0; 3] {
                    [
                        self.rng.random_range(-30..30),
                        self.rng.random_range(-30..30),
                        self.rng.random_range(-40..40),
                    ]
                } else {
                    [0; 3]
                };
            }
            if e.state.kind == 0 {
                // Players turn: velocity drifts.
                vel[0] += self.rng.random_range(-2..=2);
                vel[1] += self.rng.random_range(-2..=2);
                if self.rng.random::<f32>() < 0.01 {
                    e.state.fields[3] = self.rng.random_range(0..=100);
                }
            }
            e.state.fields[0] = (e.state.fields[0] + vel[0]).clamp(0, 65_535);
            e.state.fields[1] = (e.state.fields[1] + vel[1]).clamp(0, 65_535);
            e.state.fields[2] = (e.state.fields[2] + vel[2]).rem_euclid(4096);
        }
        if self.rng.random::<f32>() < 0.05 && !self.entities.is_empty() {
            let at = self.rng.random_range(0..self.entities.len());
            self.entities.remove(at);
        }
        if self.rng.random::<f32>() < 0.05 {
            // Reuse a free index or grow.
            let index = (0..)
                .find(|i| self.entities.iter().all(|(e, _)| e.index != *i))
                .unwrap();
            self.spawn(index);
        }
    }

    fn world(&self) -> impl Iterator<Item = NetEntity> + '_ {
        self.entities.iter().map(|(e, _)| *e)
    }
}

fn as_pairs(world: &[NetEntity]) -> Vec<(u32, EntityState)> {
    world.iter().map(|e| (e.index, e.state)).collect()
}

/// A seeded lossy link: each datagram may be lost, duplicated, or delayed past later ones.
struct Link {
    rng: ChaCha8Rng,
    loss: f32,
    dup: f32,
    jitter: u32,
    queue: Vec<(u32, Vec<u8>)>, // (deliver at tick, bytes)
}

impl Link {
    fn new(seed: u64, loss: f32, dup: f32, jitter: u32) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss,
            dup,
            jitter,
            queue: Vec::new(),
        }
    }

    fn send(&mut self, now: u32, bytes: &[u8], base_delay: u32) {
        if self.rng.random::<f32>() < self.loss {
            return;
        }
        let copies = if self.rng.random::<f32>() < self.dup {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now + base_delay + self.rng.random_range(0..=self.jitter);
            self.queue.push((at, bytes.to_vec()));
        }
    }

    fn deliver(&mut self, now: u32) -> Vec<Vec<u8>> {
        let (due, rest): (Vec<_>, Vec<_>) = self.queue.drain(..).partition(|(at, _)| *at <= now);
        self.queue = rest;
        due.into_iter().map(|(_, b)| b).collect()
    }
}

/// Runs `ticks` of a scene through sender → link → receiver with acks coming back late.
/// Checks every completed snapshot against the world at its tick; returns how many
/// completed and the total bytes sent.
fn run_chain(
    seed: u64,
    ticks: u32,
    loss: f32,
    dup: f32,
    jitter: u32,
    config: SenderConfig,
) -> (usize, usize) {
    let schema = schema();
    let mut scene = Scene::new(seed, 120);
    let mut history = WorldHistory::new(64);
    let mut sender = SnapshotSender::new(config);
    let mut receiver = SnapshotReceiver::new(schema.clone(), config.window_ticks, Tick::new(0));
    let mut down = Link::new(seed ^ 1, loss, dup, jitter);
    let mut acks: VecDeque<(u32, Tick)> = VecDeque::new();
    let mut worlds: Vec<(Tick, Vec<NetEntity>)> = Vec::new();
    let (mut completed, mut bytes) = (0, 0);
    for t in 1..=ticks {
        scene.step();
        let tick = Tick::new(t);
        history.record_with(tick, |out| out.extend(scene.world()));
        worlds.push((tick, scene.world().collect()));
        while let Some(&(at, ack)) = acks.front() {
            if at > t {
                break;
            }
            sender.on_ack(ack);
            acks.pop_front();
        }
        let report = plain(&mut sender, &schema, &history, tick);
        bytes += report.bytes;
        for part in sender.datagrams() {
            assert!(part.len() <= config.max_datagram_bytes);
            down.send(t, part, 2);
        }
        for datagram in down.deliver(t) {
            match receiver.handle_datagram(&datagram) {
                Ok(Some(r)) if r.completed => {
                    completed += 1;
                    let latest = receiver.latest().unwrap();
                    let (_, world) = worlds.iter().find(|(w, _)| *w == latest.tick).unwrap();
                    assert_eq!(
                        latest.entities,
                        as_pairs(world),
                        "snapshot {} differs from the world",
                        latest.tick
                    );
                }
                Ok(_) => {}
                // A part whose baseline the client already dropped: harmless, and rare.
                Err(SnapshotError::MissingBaseline(_)) => {}
                Err(e) => panic!("valid datagram refused: {e}"),
            }
        }
        if let Some(ack) = receiver.ack() {
            // Acks ride on input datagrams, which are lost too.
            if !down.rng.random_bool(f64::from(loss)) {
                acks.push_back((t + 3, ack));
            }
        }
    }
    (completed, bytes)
}

#[test]
fn a_clean_chain_reproduces_every_snapshot_exactly() {
    let (completed, _) = run_chain(1, 600, 0.0, 0.0, 0, CONFIG);
    assert_eq!(completed, 598, "{completed}");
}

#[test]
fn deltas_survive_loss_reordering_and_duplication() {
    for seed in 0..8 {
        let (completed, _) = run_chain(seed, 600, 0.2, 0.1, 3, CONFIG);
        assert!(
            completed > 300,
            "seed {seed}: only {completed} snapshots completed"
        );
    }
}

#[test]
fn deltas_are_much_smaller_than_full_snapshots() {
    let (_, delta_bytes) = run_chain(3, 300, 0.0, 0.0, 0, CONFIG);
    let schema = schema();
    let scene = Scene::new(3, 120);
    let mut history = WorldHistory::new(4);
    history.record_with(Tick::new(1), |out| out.extend(scene.world()));
    let mut sender = SnapshotSender::new(CONFIG);
    let full = plain(&mut sender, &schema, &history, Tick::new(1)).bytes;
    assert!(
        delta_bytes / 300 < full / 3,
        "delta {} B/snapshot vs full {full} B",
        delta_bytes / 300
    );
}

#[test]
fn unchanged_entities_cost_nothing() {
    let schema = schema();
    let scene = Scene::new(5, 500);
    let mut history = WorldHistory::new(8);
    let mut sender = SnapshotSender::new(CONFIG);
    let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    for t in 1..=3 {
        history.record_with(Tick::new(t), |out| out.extend(scene.world()));
        let report = plain(&mut sender, &schema, &history, Tick::new(t));
        deliver(&sender, &mut receiver);
        sender.on_ack(receiver.ack().unwrap());
        if t == 3 {
            assert_eq!(report.changed, 0);
            assert_eq!(report.parts, 1);
            assert!(
                report.bytes <= 6,
                "a still world of 500 entities took {} bytes",
                report.bytes
            );
        }
    }
}

#[test]
fn large_snapshots_split_into_parts_that_decode_alone() {
    let schema = schema();
    let scene = Scene::new(9, 2000);
    let mut history = WorldHistory::new(4);
    history.record_with(Tick::new(1), |out| out.extend(scene.world()));
    let mut sender = SnapshotSender::new(SenderConfig {
        max_datagram_bytes: 300,
        ..CONFIG
    });
    let report = sender
        .encode(
            &schema,
            &history,
            &mut SharedEncoding::new(),
            Tick::new(1),
            Private {
                feedback: None,
                own: Some(&[5, 7]),
            },
            &mut |_| 1.0,
        )
        .unwrap();
    assert!(report.parts > 10, "{report:?}");
    let parts: Vec<Vec<u8>> = sender.datagrams().map(<[u8]>::to_vec).collect();
    assert!(parts.iter().all(|p| p.len() <= 300));
    // Lose part 2: every other part still yields its own entities.
    let mut receiver = SnapshotReceiver::new(schema, 64, Tick::new(0));
    let mut seen = Vec::new();
    for (i, part) in parts.iter().enumerate().filter(|(i, _)| *i != 2) {
        let r = receiver.handle_datagram(part).unwrap().unwrap();
        assert_eq!((r.part, r.completed), (i as u32, false));
        seen.extend(receiver.last_part().iter().map(|(index, _)| *index));
    }
    assert_eq!(receiver.own().map(|o| [o[0], o[1]]), Some([5, 7]));
    assert!(
        receiver.ack().is_none(),
        "a snapshot with a lost part must not be acknowledged"
    );
    let world: Vec<u32> = scene.world().map(|e| e.index).collect();
    assert!(seen.len() < world.len() && seen.len() > world.len() * 8 / 10);
    assert!(seen.iter().all(|i| world.contains(i)));
    // The lost part arrives late: the snapshot completes.
    let r = receiver.handle_datagram(&parts[2]).unwrap().unwrap();
    assert!(r.completed);
    assert_eq!(receiver.latest().unwrap().entities.len(), world.len());
}

#[test]
fn a_tight_budget_starves_nobody() {
    let schema = schema();
    let mut scene = Scene::new(11, 400);
    let mut history = WorldHistory::new(64);
    // About 60 bytes a snapshot: a few entities each time.
    let config = SenderConfig {
        budget_bytes_per_snapshot: 60,
        ..CONFIG
    };
    let mut sender = SnapshotSender::new(config);
    let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    let mut t = 0;
    let mut sent_bytes = 0;
    let (mut view, mut held_back) = (Vec::new(), 0);
    // Keep the world moving for a while, then let it settle: the client must converge.
    for phase_ticks in [300, 400] {
        for _ in 0..phase_ticks {
            t += 1;
            if t <= 300 {
                scene.step();
            }
            history.record_with(Tick::new(t), |out| out.extend(scene.world()));
            let report = plain(&mut sender, &schema, &history, Tick::new(t));
            sent_bytes += report.bytes;
            deliver(&sender, &mut receiver);
            // Every snapshot, however much the budget held back, is what the sender says
            // the client holds.
            assert!(sender.client_view(&history, Tick::new(t), &mut view));
            assert_eq!(receiver.latest().unwrap().entities, view, "tick {t}");
            held_back += usize::from(report.sent < report.changed);
            if let Some(ack) = receiver.ack() {
                sender.on_ack(ack);
            }
        }
    }
    assert!(
        held_back > 100,
        "the budget held entities back {held_back} times"
    );
    assert!(
        sent_bytes / t as usize <= 75,
        "average {} bytes per snapshot",
        sent_bytes / t as usize
    );
    let world: Vec<NetEntity> = scene.world().collect();
    assert_eq!(receiver.latest().unwrap().entities, as_pairs(&world));
}

#[test]
fn reused_indices_are_sent_as_new_entities() {
    let schema = schema();
    let mut history = WorldHistory::new(8);
    let mut sender = SnapshotSender::new(CONFIG);
    let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    let a = NetEntity {
        index: 3,
        uid: 1,
        state: state(0, &[10, 10, 0, 100]),
    };
    let b = NetEntity {
        index: 3,
        uid: 2,
        state: state(1, &[500, 500, 7]),
    };
    for (t, world) in [(1, vec![a]), (2, vec![b]), (3, vec![])] {
        history.record_with(Tick::new(t), |out| out.extend(world.iter().copied()));
        let report = plain(&mut sender, &schema, &history, Tick::new(t));
        deliver(&sender, &mut receiver);
        sender.on_ack(receiver.ack().unwrap());
        assert_eq!(receiver.latest().unwrap().entities, as_pairs(&world));
        if t == 2 {
            assert_eq!(
                report.bits.created, 1,
                "a new incarnation must be created, not patched"
            );
        }
        if t == 3 {
            assert_eq!(report.removed, 1);
        }
    }
}

#[test]
fn feedback_rides_in_part_zero() {
    let schema = schema();
    let mut history = WorldHistory::new(8);
    history.record_with(Tick::new(40), |_| {});
    let mut sender = SnapshotSender::new(CONFIG);
    let feedback = Feedback {
        newest_input: Some(Tick::new(43)),
        inputs_late: 3,
        inputs_missing: 1,
    };
    sender
        .encode(
            &schema,
            &history,
            &mut SharedEncoding::new(),
            Tick::new(40),
            Private {
                feedback: Some(feedback),
                own: Some(&[-65_536, 255]),
            },
            &mut |_| 1.0,
        )
        .unwrap();
    let mut receiver = SnapshotReceiver::new(schema, 64, Tick::new(35));
    receiver
        .handle_datagram(sender.datagrams().next().unwrap())
        .unwrap();
    assert_eq!(receiver.feedback(), Some(feedback));
    assert_eq!(&receiver.own().unwrap()[..2], &[-65_536, 255]);
}

/// Valid parts of a few snapshots, for mutation.
fn sample_parts() -> Vec<Vec<u8>> {
    let schema = schema();
    let mut scene = Scene::new(21, 60);
    let mut history = WorldHistory::new(8);
    let mut sender = SnapshotSender::new(SenderConfig {
        max_datagram_bytes: 200,
        ..CONFIG
    });
    let mut parts = Vec::new();
    for t in 1..=4 {
        scene.step();
        history.record_with(Tick::new(t), |out| out.extend(scene.world()));
        sender
            .encode(
                &schema,
                &history,
                &mut SharedEncoding::new(),
                Tick::new(t),
                Private {
                    feedback: Some(Feedback::default()),
                    own: Some(&[1, 2]),
                },
                &mut |_| 1.0,
            )
            .unwrap();
        parts.extend(sender.datagrams().map(<[u8]>::to_vec));
        sender.on_ack(Tick::new(t));
    }
    parts
}

#[test]
fn nearly_every_truncated_part_is_refused() {
    // A range coder reads zeros past the end, so a cut cannot always be told from a short
    // ending (QUIC delivers datagrams whole, so this guards against a broken writer, not the
    // network): the section's end check must still refuse nearly all of them.
    let parts = sample_parts();
    let (mut cuts, mut refused) = (0, 0);
    for (which, part) in parts.iter().enumerate() {
        for cut in 0..part.len() {
            let mut receiver = primed_receiver(&parts[..which]);
            cuts += 1;
            refused += usize::from(receiver.handle_datagram(&part[..cut]).is_err());
        }
        let mut receiver = primed_receiver(&parts[..which]);
        assert!(receiver.handle_datagram(part).is_ok(), "part {which} whole");
    }
    assert!(
        refused * 100 >= cuts * 95,
        "{refused} of {cuts} cuts refused"
    );
}

/// A receiver holding the baselines the sample parts refer to.
fn primed_receiver(parts: &[Vec<u8>]) -> SnapshotReceiver {
    let mut receiver = SnapshotReceiver::new(schema(), 64, Tick::new(0));
    for p in parts {
        let _ = receiver.handle_datagram(p);
    }
    receiver
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut receiver = SnapshotReceiver::new(schema(), 64, Tick::new(0));
        let _ = receiver.handle_datagram(&bytes);
        let mut tagged = bytes.clone();
        if let Some(first) = tagged.first_mut() { *first = SNAPSHOT_TAG; }
        let _ = receiver.handle_datagram(&tagged);
    }

    #[test]
    fn truncated_and_flipped_parts_never_panic(which in 0usize..64, cut in 0usize..400, flip in 0usize..3200) {
        let parts = sample_parts();
        let part = &parts[which % parts.len()];
        let mut receiver = primed_receiver(&parts[..which % parts.len()]);
        let cut = cut.min(part.len().saturating_sub(1));
        let _ = receiver.clone().handle_datagram(&part[..cut]);
        let mut flipped = part.clone();
        let bit = flip % (flipped.len() * 8);
        flipped[bit / 8] ^= 0x80 >> (bit % 8);
        let _ = receiver.handle_datagram(&flipped);
    }

    #[test]
    fn random_scenes_round_trip(seed in any::<u64>(), count in 0u32..300, ticks in 1u32..12) {
        let schema = schema();
        let mut scene = Scene::new(seed, count);
        let mut history = WorldHistory::new(16);
        let mut sender = SnapshotSender::new(SenderConfig { max_datagram_bytes: 400, ..CONFIG });
        let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
        for t in 1..=ticks {
            scene.step();
            history.record_with(Tick::new(t), |out| out.extend(scene.world()));
            plain(&mut sender, &schema, &history, Tick::new(t));
            deliver(&sender, &mut receiver);
            let world: Vec<NetEntity> = scene.world().collect();
            prop_assert_eq!(&receiver.latest().unwrap().entities, &as_pairs(&world));
            sender.on_ack(receiver.ack().unwrap());
        }
    }
}

#[test]
fn clients_with_the_same_baselines_share_one_coding_and_get_the_same_bytes() {
    let schema = schema();
    let mut scene = Scene::new(31, 300);
    let mut history = WorldHistory::new(64);
    let mut shared = SharedEncoding::new();
    let mut alone: Vec<SnapshotSender> = (0..3).map(|_| SnapshotSender::new(CONFIG)).collect();
    let mut together: Vec<SnapshotSender> = (0..3).map(|_| SnapshotSender::new(CONFIG)).collect();
    // A fourth client on a tight budget holds stale entities and must not use the cache.
    let mut tight = SnapshotSender::new(SenderConfig {
        budget_bytes_per_snapshot: 40,
        ..CONFIG
    });
    let mut tight_receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    for t in 1..=60 {
        scene.step();
        let tick = Tick::new(t);
        history.record_with(tick, |out| out.extend(scene.world()));
        for (a, b) in alone.iter_mut().zip(&mut together) {
            plain(a, &schema, &history, tick);
            b.encode(
                &schema,
                &history,
                &mut shared,
                tick,
                Private::default(),
                &mut |_| 1.0,
            )
            .unwrap();
            let (x, y): (Vec<&[u8]>, Vec<&[u8]>) =
                (a.datagrams().collect(), b.datagrams().collect());
            assert_eq!(x, y, "shared coding changed the bytes at {tick}");
        }
        tight
            .encode(
                &schema,
                &history,
                &mut shared,
                tick,
                Private::default(),
                &mut |_| 1.0,
            )
            .unwrap();
        deliver(&tight, &mut tight_receiver);
        let world: Vec<NetEntity> = scene.world().collect();
        let latest = tight_receiver.latest().unwrap();
        // The tight client lags but never decodes garbage: every entity it holds is the
        // world's state at some recent tick (checked loosely: same kind, in range).
        assert!(latest.entities.iter().all(|(i, s)| {
            world
                .iter()
                .all(|e| e.index != *i || e.state.kind == s.kind)
        }));
        if t > 2 {
            // The three share one group; the tight one codes alone, or in a group of its
            // own on a tick when it happens to hold the world exactly.
            assert!(
                (1..=2).contains(&shared.groups()),
                "{} groups",
                shared.groups()
            );
        }
        let ack = Tick::new(t.saturating_sub(2));
        for s in alone.iter_mut().chain(&mut together) {
            s.on_ack(ack);
        }
        tight.on_ack(tight_receiver.ack().unwrap());
    }
}

/// Encodes snapshots of `world` (frozen) until the receiver holds it exactly, checking every
/// datagram against the sender's limit and the part count against the protocol's; returns
/// how many snapshots that took (at most `max_snapshots`).
fn converge(
    sender: &mut SnapshotSender,
    receiver: &mut SnapshotReceiver,
    history: &mut WorldHistory,
    world: &[NetEntity],
    first_tick: u32,
    max_snapshots: u32,
) -> u32 {
    let schema = schema();
    let limit = sender.config().max_datagram_bytes;
    for n in 0..max_snapshots {
        let tick = Tick::new(first_tick + n);
        history.record_with(tick, |out| out.extend_from_slice(world));
        let report = plain(sender, &schema, history, tick);
        assert!(report.parts as u32 <= MAX_PARTS, "{report:?}");
        for part in sender.datagrams() {
            assert!(part.len() <= limit, "{} B part over {limit}", part.len());
        }
        deliver(sender, receiver);
        if let Some(ack) = receiver.ack() {
            sender.on_ack(ack);
        }
        if receiver.latest().map(|s| &s.entities) == Some(&as_pairs(world)) {
            return n + 1;
        }
    }
    panic!(
        "the client never caught up with a world of {} entities",
        world.len()
    );
}

#[test]
fn the_smallest_datagram_serves_a_big_world_over_several_snapshots_and_its_removals() {
    let schema = schema();
    let min = min_datagram_bytes(&schema, CONFIG.window_ticks);
    assert!((40..=120).contains(&min), "min datagram {min} B");
    let config = SenderConfig {
        max_datagram_bytes: min,
        ..CONFIG
    };
    let mut sender = SnapshotSender::new(config);
    let mut receiver = SnapshotReceiver::new(schema, config.window_ticks, Tick::new(0));
    let mut history = WorldHistory::new(64);
    let mut world: Vec<NetEntity> = Scene::new(41, 3000).world().collect();
    // 64 parts of ~70 bytes carry a few hundred entities: the world takes several snapshots.
    let snapshots = converge(&mut sender, &mut receiver, &mut history, &world, 1, 200);
    assert!(snapshots > 3, "{snapshots}");
    // Removing most of it at once: more removals than part 0 can carry wait their turn.
    world.retain(|e| e.index % 5 == 0);
    let snapshots = converge(&mut sender, &mut receiver, &mut history, &world, 1000, 200);
    assert!(snapshots > 1, "{snapshots}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_datagram_limit_at_or_above_the_minimum_is_kept(
        seed in any::<u64>(),
        count in 0u32..1500,
        extra in 0usize..600,
        ticks in 1u32..6,
    ) {
        let schema = schema();
        let config = SenderConfig {
            max_datagram_bytes: min_datagram_bytes(&schema, CONFIG.window_ticks) + extra,
            ..CONFIG
        };
        let mut scene = Scene::new(seed, count);
        let mut sender = SnapshotSender::new(config);
        let mut receiver = SnapshotReceiver::new(schema.clone(), config.window_ticks, Tick::new(0));
        let mut history = WorldHistory::new(64);
        for t in 1..=ticks {
            scene.step();
            history.record_with(Tick::new(t), |out| out.extend(scene.world()));
            let report = plain(&mut sender, &schema, &history, Tick::new(t));
            prop_assert!(report.parts as u32 <= MAX_PARTS);
            for part in sender.datagrams() {
                prop_assert!(part.len() <= config.max_datagram_bytes);
            }
            deliver(&sender, &mut receiver);
            if let Some(ack) = receiver.ack() {
                sender.on_ack(ack);
            }
        }
        let world: Vec<NetEntity> = scene.world().collect();
        converge(&mut sender, &mut receiver, &mut history, &world, ticks + 1, 400);
    }
}
