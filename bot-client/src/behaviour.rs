//! Styles of play a bot can be given. Each game's pilot plays a style its own way (the
//! arena's [`Brain`](crate::arena::Brain) wanders, strafes or chases and shoots; a cubes3d
//! bot bulldozes whatever the style).

use serde::{Deserialize, Serialize};

/// A style of play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Runs on smooth random paths, shoots at whoever crosses its sights.
    Wander,
    /// Circles the nearest visible enemy sideways, switching direction now and then, firing.
    Strafe,
    /// Runs at the nearest visible enemy and fires when in range.
    Chase,
}

impl Behaviour {
    /// Every behaviour, in the order a default mix cycles through them.
    pub const ALL: [Self; 3] = [Self::Wander, Self::Strafe, Self::Chase];

    /// The behaviour of bot number `index` in the default mix.
    #[must_use]
    pub fn mixed(index: usize) -> Self {
        Self::ALL
            .get(index % Self::ALL.len())
            .copied()
            .unwrap_or(Self::Wander)
    }
}
