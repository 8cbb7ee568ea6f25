//! Rendering other entities in the past: between the two complete snapshots that bracket the
//! render tick, or, when the newest has been passed, a short and bounded extrapolation, then
//! holding still.

use crate::schema::{EntityState, FieldKind, MAX_FIELDS, Schema};
use crate::snapshot::{Snapshot, SnapshotReceiver};
use crate::tick::TickTime;

/// How a frame was rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameMode {
    /// Between two snapshots: what the server really had.
    Interpolated,
    /// Past the newest snapshot, continuing its motion (bounded).
    Extrapolated,
    /// Past the extrapolation limit (or before the oldest snapshot): standing still.
    Held,
}

/// One frame's view of the world: two snapshots and where between (or past) them to sample.
#[derive(Debug, Clone, Copy)]
pub struct RenderFrame<'a> {
    from: &'a Snapshot,
    to: Option<&'a Snapshot>,
    t: f64,
    mode: FrameMode,
}

impl<'a> RenderFrame<'a> {
    /// Picks the snapshots around `render`, extrapolating at most `max_extrapolation`
    /// ticks past the newest. `None` before the first complete snapshot.
    #[must_use]
    pub fn at(
        receiver: &'a SnapshotReceiver,
        render: TickTime,
        max_extrapolation: f64,
    ) -> Option<Self> {
        let mut snapshots = receiver.snapshots();
        let oldest = snapshots.next()?;
        // Where the render moment is relative to a snapshot, in ticks (wrap-aware).
        let ahead_of = |s: &Snapshot| render.since_tick(s.tick);
        let span = |a: &Snapshot, b: &Snapshot| f64::from(b.tick.since(a.tick));
        if ahead_of(oldest) < 0.0 {
            return Some(Self {
                from: oldest,
                to: None,
                t: 0.0,
                mode: FrameMode::Held,
            });
        }
        let mut from = oldest;
        for s in snapshots {
            if ahead_of(s) < 0.0 {
                let t = ahead_of(from) / span(from, s);
                return Some(Self {
                    from,
                    to: Some(s),
                    t,
                    mode: FrameMode::Interpolated,
                });
            }
            from = s;
        }
        // Past the newest: continue the motion from the one before, briefly.
        let newest = from;
        let previous = receiver.snapshots().rev().nth(1);
        let past = ahead_of(newest);
        let (mode, past) = if past <= max_extrapolation {
            (FrameMode::Extrapolated, past)
        } else {
            (FrameMode::Held, max_extrapolation)
        };
        Some(match previous {
            Some(p) => Self {
                from: p,
                to: Some(newest),
                t: 1.0 + past / span(p, newest),
                mode,
            },
            None => Self {
                from: newest,
                to: None,
                t: 0.0,
                mode,
            },
        })
    }

    /// How this frame was rendered.
    #[must_use]
    pub fn mode(&self) -> FrameMode {
        self.mode
    }

    /// The snapshot tick this frame starts from and the fraction toward the next (for a
    /// fire input's view stamp).
    #[must_use]
    pub fn view(&self) -> TickTime {
        match self.to {
            Some(to) => {
                let span = f64::from(to.tick.since(self.from.tick));
                TickTime::at(self.from.tick).add_ticks(self.t * span)
            }
            None => TickTime::at(self.from.tick),
        }
    }

    /// Entity `index` in the two snapshots this frame is drawn between (the older first;
    /// the newer is `None` when holding a single snapshot).
    #[must_use]
    pub fn states(&self, index: u32) -> (Option<&'a EntityState>, Option<&'a EntityState>) {
        (self.from.get(index), self.to.and_then(|s| s.get(index)))
    }

    /// Entity `index` as this frame shows it: its kind and each field in quantized units
    /// (fractional), angles unwrapped along the shorter arc.
    #[must_use]
    pub fn entity(&self, schema: &Schema, index: u32) -> Option<(u8, [f32; MAX_FIELDS])> {
        let a = self.from.get(index);
        let b = self.to.and_then(|s| s.get(index));
        match (a, b) {
            (Some(a), Some(b)) if a.kind == b.kind => Some((a.kind, blend(schema, a, b, self.t))),
            (_, Some(b)) => Some((b.kind, as_f32(b))),
            (Some(a), None) if self.to.is_none() => Some((a.kind, as_f32(a))),
            // In the older snapshot only: removed by the newer one.
            _ => None,
        }
    }
}

fn as_f32(s: &EntityState) -> [f32; MAX_FIELDS] {
    s.fields.map(|v| v as f32)
}

fn blend(schema: &Schema, a: &EntityState, b: &EntityState, t: f64) -> [f32; MAX_FIELDS] {
    let mut out = as_f32(a);
    let specs = schema.fields(a.kind).unwrap_or(&[]);
    // A rotation whose dropped component differs between the two snapshots is blended in
    // the older one's frame: the newer is re-expressed in it first.
    let mut b = *b;
    for (g, spec) in specs.iter().enumerate() {
        if spec.kind != FieldKind::RotationIndex {
            continue;
        }
        let at = |s: &EntityState, j: usize| s.fields.get(j).copied().unwrap_or(0);
        let (fa, fb) = (at(a, g), at(&b, g));
        let bits = specs.get(g + 1).map_or(0, |c| c.bits);
        if fa != fb && bits > 0 {
            let q = crate::rotation::dequantize(
                fb,
                [at(&b, g + 1), at(&b, g + 2), at(&b, g + 3)],
                bits,
            );
            let moved = crate::rotation::in_frame(q, fa.rem_euclid(4) as u8, bits);
            for (slot, v) in b
                .fields
                .iter_mut()
                .skip(g)
                .zip([fa, moved[0], moved[1], moved[2]])
            {
                *slot = v;
            }
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        let (Some(&va), Some(&vb), Some(o)) = (a.fields.get(i), b.fields.get(i), out.get_mut(i))
        else {
            break;
        };
        let (va, vb) = (f64::from(va), f64::from(vb));
        *o = match spec.kind {
            FieldKind::Linear | FieldKind::RotationComponent => va + (vb - va) * t,
            FieldKind::Angle => {
                let turn = f64::from(1u32 << spec.bits);
                let d = (vb - va + turn / 2.0).rem_euclid(turn) - turn / 2.0;
                (va + d * t).rem_euclid(turn)
            }
            FieldKind::Discrete | FieldKind::RotationIndex => {
                if t < 1.0 {
                    va
                } else {
                    vb
                }
            }
        } as f32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tick;
    use crate::schema::{FieldSpec, KindSpec, NetEntity};
    use crate::snapshot::test_util::{deliver, plain};
    use crate::snapshot::{SenderConfig, SnapshotSender, WorldHistory};

    fn schema() -> Schema {
        Schema::new(
            vec![KindSpec {
                name: "k".into(),
                fields: vec![FieldSpec::linear("x", 16, 0), FieldSpec::angle("a", 12)],
            }],
            vec![],
        )
        .unwrap()
    }

    /// A receiver holding snapshots at ticks 2, 4, 6, 8 of one entity moving +10 per tick and
    /// turning −100 steps per tick across the wrap.
    fn receiver() -> SnapshotReceiver {
        let schema = schema();
        let mut history = WorldHistory::new(16);
        let config = SenderConfig {
            max_datagram_bytes: 1200,
            budget_bytes_per_snapshot: 1 << 20,
            window_ticks: 64,
        };
        let mut sender = SnapshotSender::new(config);
        let mut receiver = SnapshotReceiver::new(schema.clone(), 64, Tick::new(0));
        for t in [2u32, 4, 6, 8] {
            let mut state = EntityState::default();
            state.fields[0] = 10 * t as i32;
            state.fields[1] = (100 - 100 * t as i32).rem_euclid(4096);
            history.record_with(Tick::new(t), |out| {
                out.push(NetEntity {
                    index: 0,
                    uid: 1,
                    state,
                })
            });
            plain(&mut sender, &schema, &history, Tick::new(t));
            deliver(&sender, &mut receiver);
            sender.on_ack(Tick::new(t));
        }
        receiver
    }

    fn moment(ticks: f64) -> TickTime {
        TickTime::new(Tick::ZERO, ticks)
    }

    #[test]
    fn between_snapshots_is_interpolated_exactly() {
        let (schema, receiver) = (schema(), receiver());
        let frame = RenderFrame::at(&receiver, moment(5.0), 4.0).unwrap();
        assert_eq!(frame.mode(), FrameMode::Interpolated);
        let (_, f) = frame.entity(&schema, 0).unwrap();
        assert!((f[0] - 50.0).abs() < 1e-4);
        assert!(
            (f[1] - (100.0 - 500.0f32).rem_euclid(4096.0)).abs() < 1e-3,
            "{}",
            f[1]
        );
        assert_eq!(frame.view(), TickTime::at(Tick::new(5)));
    }

    #[test]
    fn past_the_newest_extrapolates_briefly_then_holds() {
        let (schema, receiver) = (schema(), receiver());
        let frame = RenderFrame::at(&receiver, moment(9.0), 4.0).unwrap();
        assert_eq!(frame.mode(), FrameMode::Extrapolated);
        assert!((frame.entity(&schema, 0).unwrap().1[0] - 90.0).abs() < 1e-4);
        let frame = RenderFrame::at(&receiver, moment(20.0), 4.0).unwrap();
        assert_eq!(frame.mode(), FrameMode::Held);
        assert!((frame.entity(&schema, 0).unwrap().1[0] - 120.0).abs() < 1e-4);
        assert_eq!(
            RenderFrame::at(&receiver, moment(1.0), 4.0).unwrap().mode(),
            FrameMode::Held
        );
    }
}
