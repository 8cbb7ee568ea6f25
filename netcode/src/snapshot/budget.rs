//! Filling a client's byte budget: which of a snapshot's candidates go now, by accumulated
//! priority, and what the client holds instead of those that wait.

use crate::schema::NetEntity;

use super::overrides::Overrides;
use super::shared::Candidate;
use super::wire::Coded;

/// Adds each candidate's weight for this client to its accumulated priority (`priority` is
/// by entity index; created entities count double), and lists `(priority, place)` in `order`.
pub(super) fn prioritize(
    priority: &mut Vec<f32>,
    order: &mut Vec<(f32, u32)>,
    candidates: &[Candidate],
    weight: &mut dyn FnMut(&NetEntity) -> f32,
) {
    let needed = candidates
        .iter()
        .map(|c| c.coded.index as usize + 1)
        .max()
        .unwrap_or(0);
    if priority.len() < needed {
        priority.resize(needed, 0.0);
    }
    order.clear();
    for (at, c) in candidates.iter().enumerate() {
        if let Some(p) = priority.get_mut(c.coded.index as usize) {
            *p += weight(&c.entity).max(0.0) * if c.coded.created { 2.0 } else { 1.0 };
            order.push((*p, at as u32));
        }
    }
}

/// What [`fill`] chose.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fill {
    /// Every candidate fits (none was ranked).
    pub(super) all_fit: bool,
    /// Bits the snapshot spends, by the budget's count.
    pub(super) spend: i64,
}

/// Chooses the candidates that fit `credit` bits after `fixed` (header and extras), by
/// priority (`order`, from [`prioritize`]); marks them in `picked` (unless all fit) and lists
/// their codings in `chosen`, in index order.
pub(super) fn fill(
    candidates: &[Candidate],
    order: &mut [(f32, u32)],
    picked: &mut Vec<bool>,
    chosen: &mut Vec<Coded>,
    fixed: i64,
    credit: i64,
) -> Fill {
    chosen.clear();
    let total: i64 = candidates.iter().map(rough_cost).sum();
    if fixed + total <= credit {
        // Everything fits: no ranking needed (candidates are in index order already).
        chosen.extend(candidates.iter().map(|c| c.coded));
        return Fill {
            all_fit: true,
            spend: fixed + total,
        };
    }
    picked.clear();
    picked.resize(candidates.len(), false);
    let spend = fill_by_priority(
        order,
        |at| candidates.get(at as usize).map_or(i64::MAX / 4, rough_cost),
        credit,
        fixed,
        picked,
    );
    // Chosen in index order, as the candidates are.
    chosen.extend(
        candidates
            .iter()
            .zip(picked.iter())
            .filter(|(_, chosen)| **chosen)
            .map(|(c, _)| c.coded),
    );
    Fill {
        all_fit: false,
        spend,
    }
}

/// What the budget counts for a candidate (bits): its coding, and a rough index cost (the
/// exact index coding is chosen per part and is usually cheaper).
pub(super) fn rough_cost(c: &Candidate) -> i64 {
    i64::from(c.bits) + 6
}

/// Records what the client will hold where it differs from the world after this snapshot:
/// the candidates not sent — not chosen, or chosen at or past `cut` (what the parts could
/// not carry) — and the deferred removals, merged in index order into `overrides`. Sent
/// candidates start gaining priority afresh.
pub(super) fn hold_back(
    candidates: &[Candidate],
    chosen: impl Fn(usize) -> bool,
    cut: Option<u32>,
    deferred: &[NetEntity],
    priority: &mut [f32],
    overrides: &mut Overrides,
) {
    let mut deferred = deferred.iter().peekable();
    for (at, c) in candidates.iter().enumerate() {
        let chosen = chosen(at);
        if chosen && cut.is_none_or(|cut| c.coded.index < cut) {
            if let Some(p) = priority.get_mut(c.coded.index as usize) {
                *p = 0.0;
            }
            continue;
        }
        while let Some(r) = deferred.next_if(|r| r.index < c.coded.index) {
            overrides.push(r.index, Some(*r));
        }
        overrides.push(c.coded.index, c.held);
    }
    for r in deferred {
        overrides.push(r.index, Some(*r));
    }
}

/// Fills a budget by priority: highest first (ties by place), each place taken if its
/// `cost` still fits between `spent` and `credit` (bits), the first whatever it costs. Marks
/// the places taken in `picked` and returns the bits spent.
///
/// Only as much of the ranking as can still fit is sorted — a lagging client's candidates
/// can be the whole world, of which a budget takes a tenth — and the result is the same as
/// ranking everything: once the credit left is below the cheapest cost, nothing else fits.
pub(super) fn fill_by_priority(
    order: &mut [(f32, u32)],
    cost: impl Fn(u32) -> i64,
    credit: i64,
    mut spent: i64,
    picked: &mut [bool],
) -> i64 {
    let by_priority = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let cheapest = order
        .iter()
        .map(|&(_, at)| cost(at))
        .min()
        .unwrap_or(1)
        .max(1);
    let (mut from, mut taken) = (0, false);
    while from < order.len() && (credit - spent >= cheapest || !taken) {
        let rest = order.get_mut(from..).unwrap_or_default();
        // Each takes at least `cheapest`: no more than this many of the rest fit.
        let fit = usize::try_from((credit - spent).max(0) / cheapest)
            .map_or(rest.len(), |n| n + 1)
            .min(rest.len());
        if fit < rest.len() {
            rest.select_nth_unstable_by(fit, by_priority);
        }
        let ranked = rest.get_mut(..fit).unwrap_or_default();
        ranked.sort_unstable_by(by_priority);
        for &(_, at) in &*ranked {
            if spent + cost(at) <= credit || !taken {
                spent += cost(at);
                taken = true;
                if let Some(slot) = picked.get_mut(at as usize) {
                    *slot = true;
                }
            }
        }
        from += fit;
    }
    spent
}

#[cfg(test)]
mod fill_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn filling_by_priority_matches_ranking_everything(
            items in proptest::collection::vec((0u8..6, 1i64..200), 0..300),
            credit in -100i64..4000,
            spent in 0i64..200,
        ) {
            let priority = |p: u8| f32::from(p) * 0.5;
            let cost = |at: u32| items.get(at as usize).map_or(0, |&(_, c)| c);
            let mut order: Vec<(f32, u32)> =
                (0u32..).zip(&items).map(|(at, &(p, _))| (priority(p), at)).collect();
            let mut picked = vec![false; items.len()];
            let got = fill_by_priority(&mut order, cost, credit, spent, &mut picked);

            // The plain way: rank all, then take greedily.
            let mut all: Vec<(f32, u32)> =
                (0u32..).zip(&items).map(|(at, &(p, _))| (priority(p), at)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let (mut want_spent, mut want) = (spent, vec![false; items.len()]);
            for (n, &(_, at)) in all.iter().enumerate() {
                if want_spent + cost(at) <= credit || n == 0 {
                    want_spent += cost(at);
                    want[at as usize] = true;
                }
            }
            prop_assert_eq!(got, want_spent);
            prop_assert_eq!(picked, want);
        }
    }
}
