//! The games Tickwire ships, each a [`tickwire_netcode::game::Game`]:
//!
//! - [`arena`]: the reference game, a top-down 2D arena with runners, a hitscan weapon and
//!   drifting props (lag compensation, prediction with shooting);
//! - [`cubes3d`]: players drive pusher cubes through hundreds of cubes on a 3D floor, which
//!   come to rest and sleep (3D positions, quaternions, no shooting).
//!
//! Both are pure and deterministic: no I/O, no clocks, no threads; randomness only from a
//! seeded generator in the world.
#![forbid(unsafe_code)]

pub mod arena;
pub mod cubes3d;
pub mod grid;

/// The games built in, by the name `[server] game` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// [`arena::Arena`].
    Arena,
    /// [`cubes3d::Cubes3d`].
    Cubes3d,
}

impl Builtin {
    /// Every built-in game.
    pub const ALL: [Self; 2] = [Self::Arena, Self::Cubes3d];

    /// Its name in configuration and welcomes.
    #[must_use]
    pub fn name(self) -> &'static str {
        use tickwire_netcode::game::Game;
        match self {
            Self::Arena => arena::Arena::NAME,
            Self::Cubes3d => cubes3d::Cubes3d::NAME,
        }
    }
}

/// A name that is no built-in game.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no game is called {0:?}; the games built in are {names}", names = Builtin::names())]
pub struct UnknownGame(pub String);

impl Builtin {
    fn names() -> String {
        Self::ALL
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::str::FromStr for Builtin {
    type Err = UnknownGame;

    fn from_str(name: &str) -> Result<Self, UnknownGame> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| UnknownGame(name.to_owned()))
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
