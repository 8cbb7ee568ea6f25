//! Rotations through the delta coder: exact, and cheaper with the rotation field kinds than
//! the same values coded as plain linear fields.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::test_util::{deliver, plain};
use super::*;
use crate::rotation;
use crate::schema::{EntityState, FieldKind, FieldSpec, KindSpec, MAX_FIELDS, NetEntity, Schema};
use crate::tick::Tick;

fn schema(rotation_kinds: bool) -> Schema {
    let mut fields = vec![FieldSpec::linear("x", 16, 0)];
    let mut q = FieldSpec::rotation("q", 9).to_vec();
    if !rotation_kinds {
        for f in &mut q {
            f.kind = if f.kind == FieldKind::RotationIndex {
                FieldKind::Discrete
            } else {
                FieldKind::Linear
            };
        }
    }
    fields.extend(q);
    Schema::new(
        vec![KindSpec {
            name: "tumbler".into(),
            fields,
        }],
        vec![],
    )
    .unwrap()
}

/// Bodies spinning about random axes at up to `max_spin` radians per tick.
fn tumblers(seed: u64, count: u32, ticks: u32, max_spin: f64) -> Vec<Vec<NetEntity>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut bodies: Vec<([f64; 4], [f64; 3])> = (0..count)
        .map(|_| {
            let q = normalize([
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
            ]);
            let spin = [0; 3].map(|_: i32| rng.random_range(-max_spin..max_spin));
            (q, spin)
        })
        .collect();
    (0..ticks)
        .map(|_| {
            bodies
                .iter_mut()
                .enumerate()
                .map(|(i, (q, w))| {
                    // q += ½ (w, 0) ⊗ q
                    let [x, y, z, s] = *q;
                    let [a, b, c] = *w;
                    *q = normalize([
                        x + 0.5 * (a * s + b * z - c * y),
                        y + 0.5 * (b * s + c * x - a * z),
                        z + 0.5 * (c * s + a * y - b * x),
                        s + 0.5 * (-a * x - b * y - c * z),
                    ]);
                    let (largest, [qa, qb, qc]) = rotation::quantize(*q, 9);
                    let mut fields = [0; MAX_FIELDS];
                    fields[..5].copy_from_slice(&[1000 + i as i32, i32::from(largest), qa, qb, qc]);
                    NetEntity {
                        index: i as u32,
                        uid: 0,
                        state: EntityState { kind: 0, fields },
                    }
                })
                .collect()
        })
        .collect()
}

fn normalize(q: [f64; 4]) -> [f64; 4] {
    let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    q.map(|c| c / n)
}

/// Sends `worlds` with acks 3 ticks late; checks every snapshot; returns the delta bits.
fn run(schema: &Schema, worlds: &[Vec<NetEntity>]) -> u64 {
    let config = SenderConfig {
        max_datagram_bytes: 1200,
        budget_bytes_per_snapshot: 1 << 20,
        window_ticks: 64,
    };
    let mut history = WorldHistory::new(64);
    let mut sender = SnapshotSender::new(config);
    let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
    let mut bits = 0;
    for (t, world) in worlds.iter().enumerate() {
        let tick = Tick::new(t as u32 + 1);
        history.record_with(tick, |out| out.extend(world.iter().copied()));
        if t >= 3 {
            sender.on_ack(Tick::new(t as u32 - 2));
        }
        let report = plain(&mut sender, schema, &history, tick);
        bits += u64::from(report.bits.delta_bits);
        deliver(&sender, &mut receiver);
        let latest = receiver.latest().unwrap();
        assert_eq!(latest.tick, tick);
        let expected: Vec<(u32, EntityState)> = world.iter().map(|e| (e.index, e.state)).collect();
        assert_eq!(latest.entities, expected, "tick {tick}");
    }
    bits
}

#[test]
fn spinning_bodies_round_trip_exactly_through_every_change_of_frame() {
    for seed in 0..4 {
        let worlds = tumblers(seed, 60, 240, 0.15);
        let switches = worlds
            .windows(2)
            .flat_map(|w| w[0].iter().zip(&w[1]))
            .filter(|(a, b)| a.state.fields[1] != b.state.fields[1])
            .count();
        assert!(switches > 100, "the scene changes frame often: {switches}");
        run(&schema(true), &worlds);
    }
}

#[test]
fn predicting_in_the_snapshots_frame_beats_predicting_each_component_alone() {
    let worlds = tumblers(7, 80, 300, 0.1);
    let framed = run(&schema(true), &worlds);
    let plain_linear = run(&schema(false), &worlds);
    assert!(
        (framed as f64) < 0.85 * plain_linear as f64,
        "rotation kinds {framed} bits, as linear fields {plain_linear}"
    );
}

#[test]
fn rotation_groups_must_be_whole() {
    let kind = |fields: Vec<FieldSpec>| {
        Schema::new(
            vec![KindSpec {
                name: "k".into(),
                fields,
            }],
            vec![],
        )
    };
    assert!(kind(FieldSpec::rotation("q", 9).to_vec()).is_ok());
    let [index, a, b, _] = FieldSpec::rotation("q", 9);
    assert!(
        kind(vec![index.clone(), a.clone(), b.clone()]).is_err(),
        "a component short"
    );
    assert!(kind(vec![a.clone()]).is_err(), "a component alone");
    let mut wide = FieldSpec::rotation("q", 9);
    wide[2].bits = 10;
    assert!(
        kind(wide.to_vec()).is_err(),
        "components of different widths"
    );
    let mut index3 = index;
    index3.bits = 3;
    assert!(kind(vec![index3, a.clone(), b, a]).is_err());
}
