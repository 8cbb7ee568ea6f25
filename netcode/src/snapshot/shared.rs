//! What differs from what a client holds, coded: the candidates of one snapshot (collected
//! in the per-encode scratch, [`Work`]), and the coding shared by every client that holds
//! exactly the same baselines ([`SharedEncoding`]).

use crate::bits::BitWriter;
use crate::schema::{MAX_FIELDS, MAX_KINDS, NetEntity, Schema};
use crate::tick::Tick;

use super::changed_set;
use super::history::{WorldAt, WorldHistory};
use super::overrides::{Overrides, Walk};
use super::parts::Sections;
use super::predict::Span;
use super::section::{Lesson, MAX_LESSONS, lesson};
use super::wire::{Coded, KTable, PartBits};

/// The client's view at one past snapshot: the world then, corrected by what it missed.
#[derive(Debug, Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) tick: Tick,
    pub(super) world: WorldAt<'a>,
    pub(super) overrides: &'a Overrides,
}

impl<'a> View<'a> {
    /// What the client held for entity `index`, for indices asked in ascending order: `walk`
    /// keeps the place in the overrides from one call to the next.
    pub(super) fn get_ascending(&self, index: u32, walk: &mut Walk) -> Option<&'a NetEntity> {
        match self.overrides.get_ascending(index, walk) {
            Some(held) => held,
            None => self.world.find(index),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub(super) coded: Coded,
    /// What the client holds for this index now (kept if the entity is not sent).
    pub(super) held: Option<NetEntity>,
    /// The entity now.
    pub(super) entity: NetEntity,
    pub(super) bits: u32,
}

/// Sorts `list` ascending without repeats. A stamp per call marks each index once in
/// `seen`; then either a scan of the stamps (when many are listed) or a sort of the few
/// indices gives the order: linear in the list, where a sort of a long list with repeats
/// (a lagging client's changes over many ticks) is not.
pub(super) fn sort_unique(list: &mut Vec<u32>, seen: &mut Vec<u32>, stamp: &mut u32) {
    let needed = list.iter().max().map_or(0, |&i| i as usize + 1);
    if seen.len() < needed {
        seen.resize(needed, 0);
    }
    *stamp = stamp.wrapping_add(1);
    if *stamp == 0 {
        seen.fill(0);
        *stamp = 1;
    }
    let stamp = *stamp;
    list.retain(|&index| match seen.get_mut(index as usize) {
        Some(s) if *s != stamp => {
            *s = stamp;
            true
        }
        _ => false,
    });
    if list.len() * 16 >= needed {
        list.clear();
        list.extend(
            (0u32..)
                .zip(seen.iter().take(needed))
                .filter(|(_, s)| **s == stamp)
                .map(|(i, _)| i),
        );
    } else {
        list.sort_unstable();
    }
}

/// Deltas of a kind coded both ways (straight and along a curve) before choosing one.
const CURVE_SAMPLES: u32 = 8;

/// Per-encode scratch space, apart from the records so both can be borrowed at once.
#[derive(Debug, Default)]
pub(super) struct Work {
    pub(super) candidates: Vec<Candidate>,
    /// Priority and place of each candidate, ranked when not all fit.
    pub(super) order: Vec<(f32, u32)>,
    /// Which candidates were chosen, by place.
    pub(super) picked: Vec<bool>,
    pub(super) removals: Vec<u32>,
    /// What the client held at each of `removals` (kept if the removal must wait).
    pub(super) removed_held: Vec<NetEntity>,
    /// The changed set between the client's two baselines, ascending.
    pub(super) changed: Vec<u32>,
    /// A bit per kind whose linear fields are predicted along a curve.
    pub(super) curved: u32,
    /// The sampled deltas' residuals predicted along a curve (place in `candidates`,
    /// values), where they differ from the straight ones.
    bent: Vec<(usize, [u32; MAX_FIELDS])>,
    /// What each section's models learn before its first entry.
    pub(super) lessons: Vec<Lesson>,
    /// Each part's entity section as it is coded (scratch until the parts are written).
    pub(super) sections: Sections,
    pub(super) touched: Vec<u32>,
    /// Per index, the encode that last considered it (dedups `touched`).
    pub(super) seen: Vec<u32>,
    pub(super) stamp: u32,
}

impl Work {
    /// Takes a shared group's removals and changed set as this client's.
    pub(super) fn take_group(&mut self, group: &Group) {
        self.changed.clear();
        self.changed.extend_from_slice(&group.changed);
        self.curved = group.curved;
        self.lessons.clear();
        self.lessons.extend_from_slice(&group.lessons);
        self.removals.clear();
        self.removals.extend_from_slice(&group.removals);
        self.removed_held.clear();
        self.removed_held.extend_from_slice(&group.removed_held);
    }

    /// Finds the entities that differ between the client's view at the baseline and the
    /// world now, coding each, into `self.candidates` and `self.removals`.
    #[allow(clippy::too_many_arguments)] // the pieces of one encode, kept apart for borrowing
    pub(super) fn collect(
        &mut self,
        schema: &Schema,
        history: &WorldHistory,
        tick: Tick,
        world: WorldAt<'_>,
        view1: Option<View<'_>>,
        view2: Option<View<'_>>,
        span: Option<Span>,
        view3: Option<(View<'_>, u32)>,
    ) {
        // Candidates: what changed in the world since the baseline, and what the client was
        // already behind on. Without a baseline, everything.
        self.touched.clear();
        let known = match view1 {
            Some(v1) if history.changes_between(v1.tick, tick, &mut self.touched) => {
                self.touched.extend(v1.overrides.indices());
                true
            }
            _ => false,
        };
        if !known {
            self.touched
                .extend(world.entities().iter().map(|e| e.index));
        }
        self.candidates.clear();
        self.bent.clear();
        self.removals.clear();
        self.removed_held.clear();
        sort_unique(&mut self.touched, &mut self.seen, &mut self.stamp);
        let (mut at1, mut at2, mut at3) = (Walk::default(), Walk::default(), Walk::default());
        // What each kind's deltas would cost (Exp-Golomb bits) predicted straight and bent,
        // over its first CURVE_SAMPLES deltas; then the cheaper way is the kind's, and only
        // it is coded.
        let mut cost = [[0u64; 2]; MAX_KINDS];
        let mut sampled = [0u32; MAX_KINDS];
        for &index in &self.touched {
            let held = view1
                .and_then(|v| v.get_ascending(index, &mut at1))
                .copied();
            let Some(&entity) = world.find(index) else {
                if let Some(held) = held {
                    self.removals.push(index);
                    self.removed_held.push(held);
                }
                continue;
            };
            let coded = match held {
                Some(h) if h.uid == entity.uid && h.state == entity.state => continue,
                Some(h) if h.uid == entity.uid => {
                    let older = view2
                        .and_then(|v| v.get_ascending(index, &mut at2))
                        .zip(span)
                        .map(|(o, s)| (&o.state, s));
                    let oldest = view3
                        .and_then(|(v, between3)| {
                            v.get_ascending(index, &mut at3)
                                .map(|o| (&o.state, between3))
                        })
                        .filter(|_| older.is_some());
                    let kind = usize::from(h.state.kind);
                    let delta = |oldest| {
                        Coded::delta(schema, index, &entity.state, &h.state, older, oldest)
                    };
                    match (oldest, sampled.get_mut(kind), cost.get_mut(kind)) {
                        (Some(o), Some(n), Some(c)) if *n < CURVE_SAMPLES => {
                            *n += 1;
                            let straight = delta(None);
                            let bent = delta(Some(o)).values;
                            // Each way's order-0 Exp-Golomb size: a rough cost, to choose by.
                            let order0 = KTable::default();
                            c[0] += u64::from(straight.body_bits(schema, &order0));
                            c[1] += u64::from(
                                Coded {
                                    values: bent,
                                    ..straight
                                }
                                .body_bits(schema, &order0),
                            );
                            if bent != straight.values {
                                // Kept aside (candidates are many and copied per group).
                                self.bent.push((self.candidates.len(), bent));
                            }
                            straight
                        }
                        (Some(o), _, Some(c)) if c[1] < c[0] => delta(Some(o)),
                        _ => delta(None),
                    }
                }
                _ => Coded::created(schema, index, &entity.state, held.is_some()),
            };
            self.candidates.push(Candidate {
                coded,
                held,
                entity,
                bits: 0,
            });
        }
        // Each kind is predicted the way that costs it less; a bit per kind says which.
        self.curved = 0;
        if view3.is_some() {
            for (kind, [straight, bent]) in cost.iter().enumerate().take(32) {
                if bent < straight {
                    self.curved |= 1 << kind;
                }
            }
            let curved = self.curved;
            // Those coded before their kind's choice was made: the other way is in `bent`.
            for &(at, bent) in &self.bent {
                if let Some(c) = self
                    .candidates
                    .get_mut(at)
                    .filter(|c| curved & (1 << c.coded.kind) != 0)
                {
                    c.coded.values = bent;
                }
            }
        }
        match (view1, view2) {
            (Some(v1), Some(v2)) if span.is_some() => changed_set::between_views(
                schema,
                history,
                v1,
                v2,
                (&mut self.touched, &mut self.seen, &mut self.stamp),
                &mut self.changed,
            ),
            _ => self.changed.clear(),
        }
        self.lessons.clear();
        if let (Some(v1), Some(v2), Some((v3, between3)), Some(span)) = (view1, view2, view3, span)
        {
            let span = Span {
                ahead: span.between,
                between: between3,
            };
            let (mut at1, mut at2, mut at3) = (Walk::default(), Walk::default(), Walk::default());
            for &index in &self.changed {
                if self.lessons.len() >= MAX_LESSONS {
                    break;
                }
                let s1 = v1.get_ascending(index, &mut at1);
                let s2 = v2.get_ascending(index, &mut at2);
                let s3 = v3.get_ascending(index, &mut at3);
                if let (Some(s1), Some(s2), Some(s3)) = (s1, s2, s3) {
                    self.lessons
                        .extend(lesson(schema, &s1.state, &s2.state, &s3.state, span));
                }
            }
        }
    }
}

/// Work shared by every client's [`SnapshotSender`] within one snapshot tick: the coded
/// entities for each pair of baselines that clients hold exactly as the world was. Keep one
/// per room and pass it to every client's encode; it resets itself when the tick changes.
#[derive(Debug, Default)]
pub struct SharedEncoding {
    pub(super) tick: Option<Tick>,
    pub(super) groups: Vec<Group>,
    pub(super) spare: Vec<Group>,
    /// Scratch lent to each client's encode in turn.
    pub(super) work: Work,
}

#[derive(Debug, Default)]
pub(super) struct Group {
    pub(super) key: GroupKey,
    pub(super) candidates: Vec<Candidate>,
    pub(super) removals: Vec<u32>,
    pub(super) removed_held: Vec<NetEntity>,
    pub(super) changed: Vec<u32>,
    pub(super) curved: u32,
    pub(super) lessons: Vec<Lesson>,
    /// The entity section when every candidate is sent, written once (valid if `has_section`).
    pub(super) section: BitWriter,
    pub(super) section_bits: PartBits,
    pub(super) has_section: bool,
}

pub(super) type GroupKey = (Tick, Option<Tick>, Option<Tick>, Option<Tick>);

impl SharedEncoding {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many baseline groups this tick has coded (each coded once, shared by its clients).
    #[must_use]
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    pub(super) fn find(&mut self, key: GroupKey) -> Option<&Group> {
        if self.tick != Some(key.0) {
            self.tick = Some(key.0);
            self.spare.append(&mut self.groups);
        }
        self.get(key)
    }

    pub(super) fn get(&self, key: GroupKey) -> Option<&Group> {
        self.groups.iter().find(|g| g.key == key)
    }

    pub(super) fn section(&self, key: GroupKey) -> Option<(&BitWriter, &PartBits)> {
        self.groups
            .iter()
            .find(|g| g.key == key && g.has_section)
            .map(|g| (&g.section, &g.section_bits))
    }

    pub(super) fn store_section(&mut self, key: GroupKey, section: &BitWriter, bits: PartBits) {
        if let Some(group) = self.groups.iter_mut().find(|g| g.key == key) {
            group.section.clear();
            group.section.append(section.as_bytes(), section.bit_len());
            group.section_bits = bits;
            group.has_section = true;
        }
    }

    pub(super) fn insert(&mut self, key: GroupKey, work: &Work) {
        let mut group = self.spare.pop().unwrap_or_default();
        group.has_section = false;
        group.key = key;
        group.candidates.clear();
        group.candidates.extend_from_slice(&work.candidates);
        group.removals.clear();
        group.removals.extend_from_slice(&work.removals);
        group.removed_held.clear();
        group.removed_held.extend_from_slice(&work.removed_held);
        group.changed.clear();
        group.changed.extend_from_slice(&work.changed);
        group.curved = work.curved;
        group.lessons.clear();
        group.lessons.extend_from_slice(&work.lessons);
        self.groups.push(group);
    }
}
