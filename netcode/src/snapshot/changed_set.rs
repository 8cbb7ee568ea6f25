//! The changed set: the entities that differ between the two baselines a part is coded
//! against. Both ends hold both baselines, so both can list it without a bit on the wire;
//! the index walk (`section`) then names "the next changed one again" for a fraction of a
//! bit. The client lists it by comparing its two snapshots; the server from the world's
//! change lists and what each client was behind on. The two must agree exactly.

use crate::schema::{EntityState, Schema};

use super::history::WorldHistory;
use super::overrides::Walk;
use super::shared::{View, sort_unique};

/// Whether two states are the same to a client: the kind and the kind's fields.
pub(crate) fn same_state(schema: &Schema, a: &EntityState, b: &EntityState) -> bool {
    let n = schema.fields(a.kind).map_or(0, <[_]>::len);
    a.kind == b.kind && a.fields.get(..n) == b.fields.get(..n)
}

/// The client's changed set: every index held in `b1` that `b2` lacks or holds in another
/// state, ascending, into `out`. Both lists are sorted by index.
pub(crate) fn between_snapshots(
    schema: &Schema,
    b1: &[(u32, EntityState)],
    b2: &[(u32, EntityState)],
    out: &mut Vec<u32>,
) {
    out.clear();
    let mut older = b2.iter().peekable();
    for (index, state) in b1 {
        while older.next_if(|(i, _)| i < index).is_some() {}
        match older.next_if(|(i, _)| i == index) {
            Some((_, s)) if same_state(schema, state, s) => {}
            _ => out.push(*index),
        }
    }
}

/// The server's changed set for one client: the same list as [`between_snapshots`] over the
/// client's views at its two baselines, found from what changed in the world between them
/// and what the client was behind on at either. `scratch` (a list, the stamps and the
/// stamp of [`sort_unique`]) is reused.
pub(crate) fn between_views(
    schema: &Schema,
    history: &WorldHistory,
    v1: View<'_>,
    v2: View<'_>,
    (scratch, seen, stamp): (&mut Vec<u32>, &mut Vec<u32>, &mut u32),
    out: &mut Vec<u32>,
) {
    out.clear();
    scratch.clear();
    if !history.changes_between(v2.tick, v1.tick, scratch) {
        // The world between them is no longer known: compare everything either holds.
        scratch.extend(v1.world.entities().iter().map(|e| e.index));
    }
    scratch.extend(v1.overrides.indices());
    scratch.extend(v2.overrides.indices());
    sort_unique(scratch, seen, stamp);
    let (mut at1, mut at2) = (Walk::default(), Walk::default());
    for &index in scratch.iter() {
        let Some(held) = v1.get_ascending(index, &mut at1) else {
            continue;
        };
        match v2.get_ascending(index, &mut at2) {
            Some(older) if same_state(schema, &held.state, &older.state) => {}
            _ => out.push(index),
        }
    }
}
