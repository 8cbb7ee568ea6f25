//! What a client holds where it differs from the world at a past snapshot's tick: the
//! entities a budget-limited snapshot did not send, each either a state the client still
//! holds from before or nothing at all (it never had the entity).
//!
//! The two are kept apart because a client that has fallen behind every baseline is sent
//! the world from nothing, a budget's worth at a time: it holds nothing for almost all of
//! it, and an index costs 4 bytes where a held entity costs 44. (As one list of
//! `(index, Option<entity>)` such a client's records took ~400 KiB.)

use crate::schema::NetEntity;

/// One record's overrides, each list ascending by index.
#[derive(Debug, Default)]
pub(super) struct Overrides {
    /// Indices where the client holds nothing.
    absent: Vec<u32>,
    /// States the client holds instead of the world's.
    held: Vec<NetEntity>,
}

/// A place in [`Overrides`] for a pass that asks indices in ascending order (start it at
/// `Walk::default()`): the pass walks each list once instead of searching it per index.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Walk {
    absent: usize,
    held: usize,
}

impl Overrides {
    /// Empties the lists, keeping their allocations.
    pub(super) fn clear(&mut self) {
        self.absent.clear();
        self.held.clear();
    }

    /// Whether the client holds exactly the world.
    pub(super) fn is_empty(&self) -> bool {
        self.absent.is_empty() && self.held.is_empty()
    }

    /// Bytes the lists have allocated.
    pub(super) fn capacity_bytes(&self) -> usize {
        self.absent.capacity() * size_of::<u32>() + self.held.capacity() * size_of::<NetEntity>()
    }

    /// Bytes the lists hold.
    pub(super) fn len_bytes(&self) -> usize {
        self.absent.len() * size_of::<u32>() + self.held.len() * size_of::<NetEntity>()
    }

    /// How many entries each list holds: (absent, held).
    pub(super) fn lens(&self) -> (usize, usize) {
        (self.absent.len(), self.held.len())
    }

    /// Makes room for `absent` and `held` entries at once (one allocation each instead of a
    /// doubling at a time).
    pub(super) fn reserve(&mut self, (absent, held): (usize, usize)) {
        self.absent
            .reserve(absent.saturating_sub(self.absent.len()));
        self.held.reserve(held.saturating_sub(self.held.len()));
    }

    /// Records what the client holds for `index` (`None`: nothing). Indices must be pushed
    /// in ascending order; `held`, when given, is the entity at `index`.
    pub(super) fn push(&mut self, index: u32, held: Option<NetEntity>) {
        debug_assert!(
            held.is_none_or(|e| e.index == index),
            "held entity of another index"
        );
        match held {
            Some(entity) => self.held.push(entity),
            None => self.absent.push(index),
        }
    }

    /// Every overridden index (each list in order, not merged).
    pub(super) fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.absent
            .iter()
            .copied()
            .chain(self.held.iter().map(|e| e.index))
    }

    /// What the client holds for `index`, asked in ascending order along `walk`: `None` when
    /// it is not overridden (the world's state stands), `Some(None)` when the client holds
    /// nothing there, `Some(Some(entity))` when it holds that.
    pub(super) fn get_ascending(&self, index: u32, walk: &mut Walk) -> Option<Option<&NetEntity>> {
        let absent = self.absent.get(walk.absent..).unwrap_or_default();
        walk.absent += absent.iter().take_while(|&&i| i < index).count();
        if self.absent.get(walk.absent) == Some(&index) {
            return Some(None);
        }
        let held = self.held.get(walk.held..).unwrap_or_default();
        walk.held += held.iter().take_while(|e| e.index < index).count();
        match self.held.get(walk.held) {
            Some(e) if e.index == index => Some(Some(e)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EntityState;
    use proptest::prelude::*;

    fn entity(index: u32, v: i32) -> NetEntity {
        NetEntity {
            index,
            uid: index ^ 0x55,
            state: EntityState {
                kind: 0,
                fields: [v; crate::schema::MAX_FIELDS],
            },
        }
    }

    proptest! {
        #[test]
        fn answers_as_a_list_of_optional_entities_does(
            // Per index 0..200: not overridden, absent, or held with a value.
            plan in proptest::collection::vec(0u8..3, 0..200),
            asked in proptest::collection::btree_set(0u32..220, 0..100),
        ) {
            let mut overrides = Overrides::default();
            let mut model: Vec<(u32, Option<NetEntity>)> = Vec::new();
            for (index, &what) in (0u32..).zip(&plan) {
                let held = match what {
                    0 => continue,
                    1 => None,
                    _ => Some(entity(index, index as i32 * 3)),
                };
                overrides.push(index, held);
                model.push((index, held));
            }
            prop_assert_eq!(overrides.is_empty(), model.is_empty());
            let mut indices: Vec<u32> = overrides.indices().collect();
            indices.sort_unstable();
            prop_assert_eq!(indices, model.iter().map(|(i, _)| *i).collect::<Vec<_>>());
            let mut walk = Walk::default();
            for index in asked {
                let want = model
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map(|(_, held)| held.as_ref());
                prop_assert_eq!(overrides.get_ascending(index, &mut walk), want, "index {}", index);
            }
        }
    }

    #[test]
    fn a_client_behind_everything_costs_an_index_per_entity() {
        let mut overrides = Overrides::default();
        for index in 0..1000 {
            overrides.push(index, None);
        }
        assert!(
            overrides.capacity_bytes() < 1000 * 8,
            "{}",
            overrides.capacity_bytes()
        );
        overrides.clear();
        assert!(overrides.is_empty());
    }
}
