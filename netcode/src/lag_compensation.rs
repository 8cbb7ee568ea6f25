//! The server's memory of where hitboxes were, so a shot is judged against what the shooter
//! saw: positions rewound to the (fractional) tick the shooter was viewing, interpolated
//! between stored ticks and clamped to the maximum rewind.

use std::collections::VecDeque;

use crate::tick::{Tick, TickTime};

/// One hitbox at one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastHitbox {
    /// Network index of its entity.
    pub index: u32,
    /// Incarnation of that index (so a respawned entity is not mistaken for the old one).
    pub uid: u32,
    /// Centre (game units, usually metres).
    pub center: [f32; 3],
    /// Radius (game units).
    pub radius: f32,
}

/// Where a rewind landed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rewind {
    /// The moment the hitboxes were taken at.
    pub tick: TickTime,
    /// Whether the requested moment was older than the maximum rewind (or than the history)
    /// and was moved forward to the limit.
    pub clamped: bool,
}

/// A ring of hitboxes for the last `max_rewind_ticks` + 1 ticks.
#[derive(Debug)]
pub struct HitboxHistory {
    ticks: VecDeque<Record>,
    max_rewind_ticks: u32,
    spare: Vec<Vec<PastHitbox>>,
}

/// The hitboxes of one tick.
#[derive(Debug)]
struct Record {
    tick: Tick,
    /// Whether a snapshot was taken at this tick (clients only ever see those).
    snapshot: bool,
    /// Sorted by index.
    boxes: Vec<PastHitbox>,
}

impl HitboxHistory {
    /// A history that can rewind at most `max_rewind_ticks`.
    #[must_use]
    pub fn new(max_rewind_ticks: u32) -> Self {
        Self {
            ticks: VecDeque::new(),
            max_rewind_ticks,
            spare: Vec::new(),
        }
    }

    /// The furthest rewind, in ticks.
    #[must_use]
    pub fn max_rewind_ticks(&self) -> u32 {
        self.max_rewind_ticks
    }

    /// Records the hitboxes at `tick`, newest last; `snapshot` says whether clients are
    /// sent a snapshot of this tick (the ticks they interpolate between).
    pub fn record(
        &mut self,
        tick: Tick,
        snapshot: bool,
        hitboxes: impl IntoIterator<Item = PastHitbox>,
    ) {
        while self.ticks.len() > self.max_rewind_ticks as usize {
            if let Some(old) = self.ticks.pop_front() {
                self.spare.push(old.boxes);
            }
        }
        let mut boxes = self.spare.pop().unwrap_or_default();
        boxes.clear();
        boxes.extend(hitboxes);
        boxes.sort_unstable_by_key(|h| h.index);
        self.ticks.push_back(Record {
            tick,
            snapshot,
            boxes,
        });
    }

    /// The hitboxes as the shooter saw them at fractional tick `view`, appended to `out`.
    /// A moment older than the maximum rewind is judged at the limit; one newer than the
    /// newest record at the newest.
    ///
    /// Clients see the world only in snapshots and draw an entity between the two snapshots
    /// around the moment, so the server does the same: positions are interpolated between
    /// the records of those two snapshot ticks (found by their flag, so a snapshot rate
    /// changed mid-match is followed), and a hitbox counts only when both hold it (nobody
    /// is hit who was not on the shooter's screen: just respawned, or already dead in the
    /// newer snapshot).
    pub fn rewind(&self, view: TickTime, out: &mut Vec<PastHitbox>) -> Rewind {
        let (Some(newest), Some(oldest)) = (
            self.ticks.back().map(|r| r.tick),
            self.ticks.front().map(|r| r.tick),
        ) else {
            return Rewind {
                tick: view,
                clamped: false,
            };
        };
        // How far back from the newest record the moment is (ticks), and how far back the
        // history reaches.
        let reach = f64::from(self.max_rewind_ticks).min(f64::from(newest.since(oldest)));
        let back = -view.since_tick(newest);
        let clamped = back > reach;
        let at = TickTime::at(newest).add_ticks(-back.clamp(0.0, reach));
        let base = at.tick();
        // The newest snapshot at or before the moment (or the moment's own record when the
        // history holds no snapshot that old), and the snapshot after it.
        let Some(from) = self
            .ticks
            .iter()
            .rposition(|r| r.snapshot && !r.tick.is_after(base))
            .or_else(|| self.ticks.iter().position(|r| r.tick == base))
        else {
            return Rewind { tick: at, clamped };
        };
        let Some(a) = self.ticks.get(from) else {
            return Rewind { tick: at, clamped };
        };
        let b = self.ticks.range(from + 1..).find(|r| r.snapshot);
        let frac = b.map_or(0.0, |b| {
            (at.since_tick(a.tick) / f64::from(b.tick.since(a.tick).max(1))) as f32
        });
        let b = b.map(|b| b.boxes.as_slice());
        for h in &a.boxes {
            let later = b.map(|b| find(b, h));
            if later == Some(None) {
                continue; // gone (or replaced) by the newer snapshot
            }
            let mut center = h.center;
            if let Some(Some(l)) = later {
                for ((c, from), to) in center.iter_mut().zip(h.center).zip(l.center) {
                    *c = from + (to - from) * frac;
                }
            }
            out.push(PastHitbox { center, ..*h });
        }
        Rewind { tick: at, clamped }
    }
}

/// The same entity (index and incarnation) in a sorted hitbox list.
fn find<'a>(boxes: &'a [PastHitbox], h: &PastHitbox) -> Option<&'a PastHitbox> {
    boxes
        .binary_search_by_key(&h.index, |x| x.index)
        .ok()
        .and_then(|i| boxes.get(i))
        .filter(|x| x.uid == h.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moment(ticks: f64) -> TickTime {
        TickTime::new(Tick::ZERO, ticks)
    }

    #[test]
    fn rewinds_across_the_wrap_of_the_tick_counter() {
        let mut h = HitboxHistory::new(15);
        let start = Tick::new(u32::MAX - 9);
        for n in 0..20u32 {
            h.record(start.add(n), true, [at(n as f32)]);
        }
        let mut out = Vec::new();
        // 4.5 ticks before the newest record (n = 19): after the counter wrapped at n = 10.
        let r = h.rewind(TickTime::at(start.add(19)).add_ticks(-4.5), &mut out);
        assert!(!r.clamped);
        assert!((out[0].center[0] - 14.5).abs() < 1e-5, "{out:?}");
        // A view from before the wrap, further back than the limit: clamped, not taken
        // for a moment 2^32 ticks ahead.
        out.clear();
        let r = h.rewind(TickTime::at(start), &mut out);
        assert!(r.clamped);
        assert!((out[0].center[0] - 4.0).abs() < 1e-5, "{out:?}");
    }

    fn at(x: f32) -> PastHitbox {
        PastHitbox {
            index: 1,
            uid: 1,
            center: [x, 0.0, 0.0],
            radius: 0.5,
        }
    }

    #[test]
    fn rewinds_interpolate_between_ticks() {
        let mut h = HitboxHistory::new(15);
        for t in 0..30u32 {
            h.record(Tick::new(t), true, [at(t as f32)]);
        }
        let mut out = Vec::new();
        let r = h.rewind(moment(20.25), &mut out);
        assert!(!r.clamped);
        assert_eq!(out.len(), 1);
        assert!((out[0].center[0] - 20.25).abs() < 1e-5);
    }

    #[test]
    fn rewinds_past_the_limit_are_clamped_and_flagged() {
        let mut h = HitboxHistory::new(15);
        for t in 0..30u32 {
            h.record(Tick::new(t), true, [at(t as f32)]);
        }
        let mut out = Vec::new();
        let r = h.rewind(moment(3.0), &mut out);
        assert!(r.clamped);
        assert_eq!(r.tick, moment(14.0));
        assert!((out[0].center[0] - 14.0).abs() < 1e-5);
        out.clear();
        let r = h.rewind(moment(99.0), &mut out);
        assert!(!r.clamped);
        assert_eq!(r.tick, moment(29.0));
    }

    #[test]
    fn only_what_both_bracketing_snapshots_held_can_be_hit() {
        let mut h = HitboxHistory::new(15);
        // Entity 1 exists from tick 0; entity 2 appears at tick 3 (snapshots every 2 ticks).
        for t in 0..8u32 {
            let mut boxes = vec![at(t as f32)];
            if t >= 3 {
                boxes.push(PastHitbox {
                    index: 2,
                    uid: 1,
                    center: [50.0, 0.0, 0.0],
                    radius: 0.5,
                });
            }
            h.record(Tick::new(t), t % 2 == 0, boxes);
        }
        let mut out = Vec::new();
        h.rewind(moment(3.5), &mut out); // between snapshots 2 (without it) and 4 (with it)
        assert_eq!(out.iter().map(|b| b.index).collect::<Vec<_>>(), vec![1]);
        out.clear();
        h.rewind(moment(4.5), &mut out); // between 4 and 6: both hold it
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_replaced_incarnation_is_neither_interpolated_nor_hit() {
        let mut h = HitboxHistory::new(4);
        h.record(Tick::new(0), true, [at(0.0)]);
        h.record(Tick::new(1), true, [PastHitbox { uid: 2, ..at(50.0) }]);
        let mut out = Vec::new();
        h.rewind(moment(0.5), &mut out);
        assert!(out.is_empty(), "{out:?}");
        h.rewind(moment(1.0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].center[0], 50.0);
    }

    #[test]
    fn a_snapshot_rate_changed_mid_history_is_followed() {
        // Snapshots every 2 ticks up to tick 8, then every 4; x = t² so interpolating
        // between the wrong pair of ticks shows.
        let mut h = HitboxHistory::new(30);
        for t in 0..20u32 {
            let snapshot = if t <= 8 { t % 2 == 0 } else { t % 4 == 0 };
            h.record(Tick::new(t), snapshot, [at((t * t) as f32)]);
        }
        let mut out = Vec::new();
        for (view, x) in [
            (5.0, 26.0),   // 4 → 6, halfway: 16 + 20 / 2
            (9.0, 84.0),   // 8 → 12, a quarter: 64 + 80 / 4
            (13.0, 172.0), // 12 → 16, a quarter: 144 + 112 / 4
        ] {
            out.clear();
            h.rewind(moment(view), &mut out);
            assert!((out[0].center[0] - x).abs() < 1e-3, "at {view}: {out:?}");
        }
    }
}
