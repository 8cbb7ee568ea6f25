//! What lives in the world: players and props, keyed by generational ids.

use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::arena::input::PlayerInput;

slotmap::new_key_type! {
    /// A generational handle to an entity; a stale id never aliases a newer entity.
    pub struct EntityId;
}

/// One thing in the arena.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Centre position (metres; the arena spans `0..width_m` × `0..height_m`).
    pub pos: Vec2,
    /// Velocity (metres per second).
    pub vel: Vec2,
    /// What kind of thing this is, with its own state.
    pub body: Body,
}

impl Entity {
    /// The player state, if this entity is a player.
    #[must_use]
    pub fn as_player(&self) -> Option<&Player> {
        match &self.body {
            Body::Player(p) => Some(p),
            Body::Prop(_) => None,
        }
    }

    /// The prop state, if this entity is a prop.
    #[must_use]
    pub fn as_prop(&self) -> Option<&Prop> {
        match &self.body {
            Body::Prop(p) => Some(p),
            Body::Player(_) => None,
        }
    }
}

/// The kind-specific part of an [`Entity`].
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A player controlled by inputs.
    Player(Player),
    /// A drifting orb.
    Prop(Prop),
}

/// A player's state beyond position and velocity.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Player {
    /// Aim direction (radians, counter-clockwise from +x, in `-π..=π`).
    pub aim_rad: f32,
    /// Hit points; 0 means dead and waiting to respawn.
    pub health: u8,
    /// Kills scored.
    pub score: u32,
    /// Deaths suffered.
    pub deaths: u32,
    /// Ticks left before a dead player respawns (0 while alive).
    pub respawn_ticks: u32,
    /// Ticks left before the weapon can fire again.
    pub cooldown_ticks: u32,
    /// Ticks since death (0 while alive).
    pub dead_ticks: u32,
    /// During the trade window after death: where the player would be had they lived, moved
    /// by their inputs, so a trade shot leaves from where the player saw themselves.
    pub ghost_pos: Vec2,
    /// The ghost's velocity (metres per second).
    pub ghost_vel: Vec2,
    /// Input handed to the current step; always `None` between steps.
    #[serde(skip)]
    pub(crate) pending_input: Option<PlayerInput>,
}

impl Player {
    /// Whether the player is alive (can move, fire and be hit).
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.health > 0
    }
}

/// A prop's state beyond position and velocity.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Prop {
    /// Orientation (radians, in `-π..=π`).
    pub angle_rad: f32,
    /// Angular velocity (radians per second).
    pub spin_radps: f32,
}
