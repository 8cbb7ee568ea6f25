//! What a bot does each frame, whatever the game: look at what its client renders, decide,
//! send inputs; and what it makes of the server's verdicts on its shots.
//!
//! The same pilot flies a bot in the simulated [`netsim`](crate::netsim) and over real QUIC
//! in the [`swarm`](crate::swarm). Each game brings its own ([`BotGame`]): the arena's
//! [`ArenaPilot`](crate::arena::ArenaPilot), cubes3d's
//! [`CubesPilot`](crate::cubes3d::CubesPilot).

use std::fmt::Debug;
use std::time::Instant;

use tickwire_netcode::client::ClientNetcode;
use tickwire_netcode::game::Game;

use crate::behaviour::Behaviour;

/// What a bot does each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Play: one of the seeded styles.
    Play(Behaviour),
    /// Move in a fixed direction, bouncing between walls, never firing.
    Run,
    /// Stand still and do nothing.
    Idle,
}

/// How the server's verdict on a shot compares with what the shooter saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a verdict, or the shooter did not see this shot hit.
    NotSeen,
    /// The shooter saw it hit and the server agrees.
    Confirmed,
    /// The shooter saw it hit, the server says otherwise.
    Denied,
}

/// A bot's decision-making in game `G`.
pub trait Pilot<G: Game>: Debug + Send + Sized + 'static {
    /// A pilot playing `script`, its randomness seeded by `seed`.
    fn new(script: Script, seed: u64) -> Self;

    /// The same pilot, keeping a log of what it saw for a simulation to inspect (no-op by
    /// default).
    #[must_use]
    fn logging(self) -> Self {
        self
    }

    /// One frame at `now`: renders, then for every input tick due decides an input and
    /// hands the input datagram to `send`. `config` is the game's, from the welcome.
    fn frame(
        &mut self,
        net: &mut ClientNetcode<G::Prediction>,
        now: Instant,
        config: &G::Config,
        send: &mut dyn FnMut(&[u8]),
    );

    /// A reliable event from the server: a verdict on a shot, if it is one.
    fn on_event(&mut self, event: &G::Event) -> Verdict {
        let _ = event;
        Verdict::NotSeen
    }

    /// Hits seen in the bot's own view so far.
    fn hits_seen(&self) -> u64 {
        0
    }
}

/// A game bots can play: its pilot.
pub trait BotGame: Game {
    /// How a bot plays it.
    type Pilot: Pilot<Self>;
}
