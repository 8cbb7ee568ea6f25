//! What a bot sees: the other players as its client renders them, itself as predicted.

use glam::Vec2;
use tickwire_netcode::client::ClientNetcode;
use tickwire_netcode::interpolation::RenderFrame;
use tickwire_sim::arena::client::ArenaPrediction;
use tickwire_sim::arena::replication::{KIND_PLAYER, alive, rendered_position};
use tickwire_sim::arena::{EntityId, Hitbox};

/// One rendered enemy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Its network index.
    pub index: u32,
    /// Where it is drawn (metres).
    pub pos: Vec2,
}

/// Appends every living player other than the bot's own, as `frame` renders them.
pub fn enemies(
    client: &ClientNetcode<ArenaPrediction>,
    frame: &RenderFrame<'_>,
    out: &mut Vec<Seen>,
) {
    out.clear();
    let Some(latest) = client.receiver().latest() else {
        return;
    };
    let own = client.config().entity_index;
    for &(index, state) in &latest.entities {
        if state.kind != KIND_PLAYER || index == own {
            continue;
        }
        // Alive in both snapshots the frame is drawn between: a player who dies (or
        // respawns) between them is not a target until the change is on screen.
        let alive = |s: Option<&tickwire_netcode::schema::EntityState>| s.is_none_or(alive);
        let (from, to) = frame.states(index);
        if from.is_none() || !alive(from) || !alive(to) {
            continue;
        }
        if let Some((_, f)) = frame.entity(client.schema(), index) {
            {
                out.push(Seen {
                    index,
                    pos: rendered_position(&f),
                });
            }
        }
    }
}

/// The enemies as hitboxes, for judging a shot in the bot's own view.
pub fn hitboxes(seen: &[Seen], radius: f32, out: &mut Vec<Hitbox>) {
    out.clear();
    out.extend(seen.iter().map(|s| Hitbox {
        entity: index_id(s.index),
        center: s.pos,
        radius,
    }));
}

/// A stand-in entity id carrying a network index (views only need to tell targets apart).
#[must_use]
pub fn index_id(index: u32) -> EntityId {
    tickwire_sim::arena::replication::entity_id(index, 1)
}
