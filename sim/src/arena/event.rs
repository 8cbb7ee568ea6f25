//! Things that happened during a step, for the server to report and the tests to check.

use crate::arena::entity::EntityId;

/// Something that happened during the last [`World::step`](crate::arena::World::step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GameEvent {
    /// A player fired; `hit` is the player struck, if any.
    Fired {
        /// Who fired.
        shooter: EntityId,
        /// Who was struck, if anyone.
        hit: Option<EntityId>,
    },
    /// A shot dealt damage.
    Damaged {
        /// Who fired.
        shooter: EntityId,
        /// Who was struck.
        target: EntityId,
        /// Hit points taken.
        damage: u8,
    },
    /// A shot killed its target.
    Killed {
        /// Who fired (and scored).
        shooter: EntityId,
        /// Who died.
        target: EntityId,
    },
    /// A dead player came back at a spawn point.
    Respawned {
        /// Who respawned.
        player: EntityId,
    },
}
