//! The contract between a game and the server that runs it: what a game implements to be
//! hosted by Tickwire (`docs/your-game.md` walks through one).
//!
//! A server is generic over one [`Game`]: rooms, the tick loop, the endpoint and the bots are
//! monomorphized for it, so nothing on the hot path goes through dynamic dispatch. The game
//! owns its world and rules; Tickwire owns time, connections, inputs, snapshots and lag
//! compensation. Per tick a room:
//! 1. hands the game each player's input for the tick ([`TickInput`]), with the moment the
//!    player was looking at when it made it;
//! 2. calls [`Game::step`], with [`LagCompensation`] to rewind hitboxes to that moment;
//! 3. records the game's [`Game::hitboxes`] for later rewinds;
//! 4. on snapshot ticks, replicates the world ([`Game::replicate`]) and asks, per client,
//!    what it sees ([`Game::viewer`]) and how much each entity matters to it
//!    ([`Game::weight`]);
//! 5. sends each player its reliable events ([`Game::events`]).
//!
//! The client half of a game is its [`Game::Prediction`]: the same movement rules, run on
//! the player's own entity ([`crate::client::ClientGame`]).

use std::cell::Cell;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::ClientGame;
use crate::config::ConfigError;
use crate::lag_compensation::{HitboxHistory, PastHitbox};
use crate::schema::{MAX_FIELDS, NetEntity, Schema};
use crate::tick::{Tick, TickRate, TickTime};

/// A game's configuration: the `[game]` section of the server's config file, and the
/// tunables its welcome carries to clients.
///
/// Keys in errors are relative to the section (`max_speed_mps`); the server prefixes
/// `game.`.
pub trait GameConfig:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// The `[game]` section of the default configuration as TOML, every key documented in
    /// a comment: what a designer reads and what a server with no file runs.
    const DEFAULT_TOML: &'static str;

    /// Server settings this game runs best with, as TOML over the server's own defaults and
    /// under anything a designer sets (say `[tick]` `snapshot_hz = 60` for a physics game
    /// whose clients draw fast motion). Empty by default.
    const SERVER_TOML: &'static str = "";

    /// Checks every value against its range and the rules that relate keys.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the key, the value and the allowed range.
    fn validate(&self) -> Result<(), ConfigError>;

    /// The keys (relative to `[game]`) that differ between `self` and `new` and that a
    /// running room cannot take live (the world's shape: its size, what is spawned at the
    /// start). Everything else is retuned live. By default any change needs a restart.
    fn restart_keys(&self, new: &Self) -> Vec<&'static str> {
        if self == new {
            Vec::new()
        } else {
            vec!["game"]
        }
    }
}

/// The keys whose pair says "changed": a helper for [`GameConfig::restart_keys`].
#[must_use]
pub fn changed_keys<const N: usize>(checks: [(&'static str, bool); N]) -> Vec<&'static str> {
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

/// One player's input for the tick being run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickInput<P, I> {
    /// The player.
    pub player: P,
    /// The input (its own for this tick, or its last one repeated when it did not arrive).
    pub input: I,
    /// The moment (fractional tick) the player was looking at when it made the input: what
    /// its client rendered. Shots are judged against hitboxes rewound to it.
    pub view: TickTime,
}

/// How many of what a room's world holds, for the status page and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    /// Player entities.
    pub players: usize,
    /// Entities that are not players (the arena's orbs, the cubes).
    pub props: usize,
    /// Those of them moving now (the rest rest, or sleep).
    pub moving_props: usize,
}

/// Lag compensation as a game sees it while stepping: the hitboxes recorded at past ticks,
/// rewound to the moment a shooter was looking at. It counts the rewinds (shots judged)
/// and those clamped at the rewind limit.
#[derive(Debug)]
pub struct LagCompensation<'a> {
    history: Option<&'a HitboxHistory>,
    rewinds: Cell<u64>,
    clamped: Cell<u64>,
}

impl<'a> LagCompensation<'a> {
    /// Rewinds over `history`.
    #[must_use]
    pub fn new(history: &'a HitboxHistory) -> Self {
        Self {
            history: Some(history),
            rewinds: Cell::new(0),
            clamped: Cell::new(0),
        }
    }

    /// No lag compensation: every rewind finds nothing (a game stepped outside a room).
    #[must_use]
    pub fn none() -> Self {
        Self {
            history: None,
            rewinds: Cell::new(0),
            clamped: Cell::new(0),
        }
    }

    /// Appends to `out` the hitboxes as they were at `view` (interpolated between the
    /// snapshots a client drew, clamped to the maximum rewind; see
    /// [`HitboxHistory::rewind`]). Returns `false` when there is no history to rewind (the
    /// game then judges against the present).
    pub fn rewind(&self, view: TickTime, out: &mut Vec<PastHitbox>) -> bool {
        let Some(history) = self.history else {
            return false;
        };
        self.rewinds.set(self.rewinds.get() + 1);
        if history.rewind(view, out).clamped {
            self.clamped.set(self.clamped.get() + 1);
        }
        true
    }

    /// Rewinds asked for so far.
    #[must_use]
    pub fn rewinds(&self) -> u64 {
        self.rewinds.get()
    }

    /// Rewinds that asked for a moment older than the limit and were judged at it.
    #[must_use]
    pub fn clamped(&self) -> u64 {
        self.clamped.get()
    }
}

/// A game Tickwire can host. See the [module docs](self) for how a room drives it.
///
/// Implementations must be deterministic given their configuration and inputs where clients
/// predict: [`Game::Prediction`] runs the same movement rules on the client.
pub trait Game: Sized + Send + 'static {
    /// Its name: `[server] game = "..."` selects it, and the welcome tells clients.
    const NAME: &'static str;

    /// Its configuration (the `[game]` section).
    type Config: GameConfig;
    /// What a client sends each tick, as it travels (compact, integers: a NaN cannot be
    /// encoded). The game must accept any value that decodes, clamping what it uses.
    type Input: Copy + Default + Debug + Serialize + DeserializeOwned + Send + 'static;
    /// A handle to a player's entity.
    type Player: Copy + Eq + Debug + Send + 'static;
    /// A reliable event for one player (sent on its control stream, codec-encoded).
    type Event: Serialize + DeserializeOwned + Clone + Debug + Send + 'static;
    /// What weighing entities for one client needs (its position, its own index).
    type Viewer;
    /// The client's prediction rules.
    type Prediction: ClientGame<Input = Self::Input, State: Send> + Clone + Debug + Send + 'static;

    /// A world at tick 0 for `config`, stepped at `rate`.
    ///
    /// # Errors
    /// [`ConfigError`] if `config` is invalid at this tick rate.
    fn new(config: &Self::Config, rate: TickRate) -> Result<Self, ConfigError>;

    /// Takes new gameplay values live (only keys [`GameConfig::restart_keys`] allows).
    ///
    /// # Errors
    /// [`ConfigError`] if they are invalid; nothing changes then.
    fn retune(&mut self, config: &Self::Config) -> Result<(), ConfigError>;

    /// The client's prediction rules for `config` at `rate` (what a client builds from the
    /// welcome's tunables).
    ///
    /// # Errors
    /// [`ConfigError`] if `config` is invalid at this tick rate.
    fn prediction(config: &Self::Config, rate: TickRate) -> Result<Self::Prediction, ConfigError>;

    /// The replication schema for `config`: entity kinds, their fields and quantization.
    /// Only keys [`GameConfig::restart_keys`] names may change it.
    fn schema(config: &Self::Config) -> Schema;

    /// The tick the next step runs (0 for a new world).
    fn tick(&self) -> Tick;

    /// Spawns a player for a joining client; `None` if the world has no room for one.
    fn spawn_player(&mut self) -> Option<Self::Player>;

    /// Removes a leaving client's player.
    fn despawn_player(&mut self, player: Self::Player);

    /// The network index of a player's entity (what the welcome tells its client).
    fn net_index(&self, player: Self::Player) -> u32;

    /// Advances the world one tick with this tick's inputs (at most one per player;
    /// players without one get none). Shots are judged with `lag`.
    fn step(&mut self, inputs: &[TickInput<Self::Player, Self::Input>], lag: &LagCompensation<'_>);

    /// Appends every replicated entity, as the schema quantizes it.
    fn replicate(&self, out: &mut Vec<NetEntity>);

    /// What `player` sees now, with its private fields (the schema's `own` order) written
    /// into `own`; `None` when it has nothing to view (it gets no snapshot this time).
    fn viewer(&self, player: Self::Player, own: &mut [i32; MAX_FIELDS]) -> Option<Self::Viewer>;

    /// How much `entity` matters to a client with `viewer` (≥ 0): how often it is sent
    /// when the budget cannot carry every change.
    fn weight(viewer: &Self::Viewer, entity: &NetEntity) -> f32;

    /// Appends the hitboxes lag compensation should remember for this tick. A game without
    /// shooting has none (the default).
    fn hitboxes(&self, out: &mut Vec<PastHitbox>) {
        let _ = out;
    }

    /// The reliable events the last step made for players.
    fn events(&self) -> &[(Self::Player, Self::Event)] {
        &[]
    }

    /// How many players and other entities the world holds.
    fn census(&self) -> Census;
}
