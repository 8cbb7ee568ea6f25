//! One room's game and netcode, sans-IO: inputs in, one tick, snapshot datagrams out.
//!
//! The room's tick thread (and the deterministic network tests) drive this: feed it each
//! client's datagrams, call [`RoomCore::tick`] once per tick, and send what it hands back.
//! It never reads a clock or touches a socket.

use tickwire_netcode::game::{Census, Game, LagCompensation, TickInput};
use tickwire_netcode::input_buffer::InputStats;
use tickwire_netcode::lag_compensation::{HitboxHistory, PastHitbox};
use tickwire_netcode::protocol::{ProtocolError, RejectReason, Welcome};
use tickwire_netcode::schema::{MAX_FIELDS, NetEntity, Schema};
use tickwire_netcode::server::{Audience, ServerNetcode, Settings};
use tickwire_netcode::snapshot::SendError;
use tickwire_netcode::tunables::{Tunable, flatten};
use tickwire_netcode::{ConfigError, TickTime};

use crate::config::ServerConfig;

pub use tickwire_netcode::server::{ClientId, NetStats};

/// Figures of a room (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Shots judged with lag compensation (the game asked for a rewind).
    pub shots: u64,
    /// Shots judged at the rewind limit because the shooter viewed an older moment.
    pub rewinds_clamped: u64,
    /// The netcode's side: datagrams and bytes out, bad datagrams, late and missing
    /// inputs, snapshots held back, send failures.
    pub net: NetStats,
}

/// One room: a game's world around the server half of its clients' netcode
/// ([`ServerNetcode`]), and the lag-compensation glue between them.
#[derive(Debug)]
pub struct RoomCore<G: Game> {
    name: String,
    game: G,
    config: ServerConfig<G::Config>,
    net: ServerNetcode<G::Input>,
    /// The game's tunables as the welcome tells them, made when the rules change.
    tunables: Vec<Tunable>,
    hitboxes: HitboxHistory,
    /// Scratch for the game's hitboxes of one tick.
    boxes: Vec<PastHitbox>,
    /// Each client's player.
    players: Vec<(ClientId, G::Player)>,
    inputs: Vec<TickInput<G::Player, G::Input>>,
    shots: u64,
    rewinds_clamped: u64,
    /// The events of the last tick, by client.
    events: Vec<(ClientId, usize)>,
}

/// A game configuration as tunables.
fn tunables_of<C: serde::Serialize>(config: &C) -> Result<Vec<Tunable>, ConfigError> {
    flatten(config).map_err(|e| ConfigError::invalid("game", "…", e.to_string()))
}

impl<G: Game> RoomCore<G> {
    /// A room named `name` running `config`'s game.
    ///
    /// # Errors
    /// [`ConfigError`] if the game's values or the tick rate are invalid.
    pub fn new(name: &str, config: &ServerConfig<G::Config>) -> Result<Self, ConfigError> {
        let rate = config.tick_rate()?;
        let game = G::new(&config.game, rate).map_err(|e| e.in_section("game"))?;
        Self::with_game(name, config, game)
    }

    /// A room around `game` (a scene set up by hand), run by `config`'s netcode values.
    ///
    /// # Errors
    /// [`ConfigError`] if the game's values cannot be listed as tunables.
    pub fn with_game(
        name: &str,
        config: &ServerConfig<G::Config>,
        game: G,
    ) -> Result<Self, ConfigError> {
        let rate = config.tick_rate()?;
        let max_rewind_ticks = rate.ticks_in(std::time::Duration::from_millis(u64::from(
            config.net.max_rewind_ms,
        )));
        let net = ServerNetcode::new(
            G::schema(&config.game),
            Settings {
                snapshot_interval_ticks: config.snapshot_interval_ticks(),
                budget_bytes_per_snapshot: budget_bytes_per_snapshot(config),
                max_datagram_bytes: config.net.max_datagram_bytes as usize,
            },
        );
        Ok(Self {
            name: name.to_owned(),
            tunables: tunables_of(&config.game)?,
            game,
            config: config.clone(),
            net,
            hitboxes: HitboxHistory::new(max_rewind_ticks),
            boxes: Vec::new(),
            players: Vec::new(),
            inputs: Vec::new(),
            shots: 0,
            rewinds_clamped: 0,
            events: Vec::new(),
        })
    }

    /// The room's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The game.
    #[must_use]
    pub fn game(&self) -> &G {
        &self.game
    }

    /// The game, to set up a scene (tests, scripted starts).
    pub fn game_mut(&mut self) -> &mut G {
        &mut self.game
    }

    /// The tick the next step runs.
    #[must_use]
    pub fn tick_now(&self) -> tickwire_netcode::Tick {
        self.game.tick()
    }

    /// What the world holds.
    #[must_use]
    pub fn census(&self) -> Census {
        self.game.census()
    }

    /// The replication schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        self.net.schema()
    }

    /// The newest world its snapshots were coded from, and its tick (a spectator's view).
    #[must_use]
    pub fn latest_world(&self) -> Option<(tickwire_netcode::Tick, &[NetEntity])> {
        self.net.latest_world()
    }

    /// Figures so far.
    #[must_use]
    pub fn stats(&self) -> RoomStats {
        RoomStats {
            shots: self.shots,
            rewinds_clamped: self.rewinds_clamped,
            net: self.net.stats(),
        }
    }

    /// The reliable events the last tick made, with the client each is for.
    pub fn events(&self) -> impl Iterator<Item = (ClientId, &G::Event)> {
        let all = self.game.events();
        self.events
            .iter()
            .filter_map(move |&(client, at)| Some((client, &all.get(at)?.1)))
    }

    /// Clients in the room.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.net.len()
    }

    /// A client's player.
    #[must_use]
    pub fn player_of(&self, id: ClientId) -> Option<G::Player> {
        player_of(&self.players, id)
    }

    /// How many of a client's datagrams did not decode.
    #[must_use]
    pub fn bad_datagrams(&self, id: ClientId) -> u64 {
        self.net.bad_datagrams(id)
    }

    /// A client's input counts.
    #[must_use]
    pub fn input_stats(&self, id: ClientId) -> Option<InputStats> {
        self.net.input_stats(id)
    }

    /// Applies live-tunable values of `config` (gameplay values, snapshot rate,
    /// interpolation delay) from the next tick. The caller checks
    /// [`ServerConfig::live_changes`] first.
    ///
    /// A new snapshot rate takes effect on the next tick that falls on its grid; each
    /// client's budget per snapshot follows it so bytes per second stay the same, baselines
    /// keep their window in ticks, and lag compensation brackets shots with the snapshot
    /// ticks actually sent.
    ///
    /// # Errors
    /// [`ConfigError`] if the new game values are invalid (nothing changes then).
    pub fn retune(&mut self, config: &ServerConfig<G::Config>) -> Result<(), ConfigError> {
        let tunables = tunables_of(&config.game)?;
        self.game
            .retune(&config.game)
            .map_err(|e| e.in_section("game"))?;
        self.tunables = tunables;
        self.config.game = config.game.clone();
        self.config.net.interpolation_delay_ms = config.net.interpolation_delay_ms;
        if self.config.tick.snapshot_hz != config.tick.snapshot_hz {
            self.config.tick.snapshot_hz = config.tick.snapshot_hz;
            self.net.set_snapshot_interval(
                self.config.snapshot_interval_ticks(),
                budget_bytes_per_snapshot(&self.config),
            );
        }
        Ok(())
    }

    /// The smallest QUIC datagram limit (bytes) a client may have: one snapshot part must
    /// fit.
    #[must_use]
    pub fn min_datagram_bytes(&self) -> usize {
        self.net.min_datagram_bytes()
    }

    /// Admits a client whose connection carries datagrams of at most `max_datagram_bytes`
    /// (`None`: it enabled none): spawns its player and returns the welcome to send it.
    ///
    /// # Errors
    /// [`RejectReason::DatagramTooSmall`] when the client's datagrams cannot hold a snapshot
    /// part, [`RejectReason::RoomFull`] when the room holds `max_clients_per_room` or the
    /// game has no room for another player.
    pub fn join(
        &mut self,
        max_datagram_bytes: Option<usize>,
    ) -> Result<(ClientId, Welcome), RejectReason> {
        self.net.admits(max_datagram_bytes)?;
        if self.net.len() >= self.config.server.max_clients_per_room as usize {
            return Err(RejectReason::RoomFull);
        }
        let player = self.game.spawn_player().ok_or(RejectReason::RoomFull)?;
        let id = match self.net.join(self.game.tick(), max_datagram_bytes) {
            Ok(id) => id,
            Err(reason) => {
                self.game.despawn_player(player);
                return Err(reason);
            }
        };
        self.players.push((id, player));
        let welcome = Welcome {
            client_id: id.0,
            room: self.name.clone(),
            entity_index: self.game.net_index(player),
            tick_hz: self.config.tick.tick_hz,
            snapshot_hz: self.config.tick.snapshot_hz,
            server_tick: self.game.tick(),
            interpolation_delay_ms: self.config.net.interpolation_delay_ms,
            max_rewind_ms: self.config.net.max_rewind_ms,
            input_buffer_ticks: self.config.net.input_buffer_ticks,
            baseline_window_ticks: self.net.window_ticks(),
            game: G::NAME.to_owned(),
            schema: self.net.schema().describe(),
            tunables: self.tunables.clone(),
        };
        Ok((id, welcome))
    }

    /// Removes a client and its player.
    pub fn leave(&mut self, id: ClientId) {
        self.net.leave(id);
        if let Some(at) = self.players.iter().position(|(c, _)| *c == id) {
            let (_, player) = self.players.swap_remove(at);
            self.game.despawn_player(player);
        }
    }

    /// Takes one datagram from a client.
    ///
    /// # Errors
    /// [`ProtocolError`] if it is not a valid input datagram; it is dropped and counted.
    pub fn handle_datagram(&mut self, id: ClientId, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.net.handle_datagram(id, bytes)
    }

    /// Clients whose snapshot the last tick could not encode, with why: each is skipped
    /// (the others are served as usual) and should be disconnected. Only a server fault
    /// puts a client here; joins check what a client's datagrams can hold.
    #[must_use]
    pub fn send_failures(&self) -> &[(ClientId, SendError)] {
        self.net.send_failures()
    }

    /// Runs one tick and hands every snapshot datagram due to `send`. A client whose
    /// snapshot cannot be encoded is listed in [`send_failures`](Self::send_failures); it
    /// never stops the others' snapshots.
    pub fn tick(&mut self, send: &mut dyn FnMut(ClientId, &[u8])) {
        let tick = self.game.tick();
        self.inputs.clear();
        for (client, frame) in self.net.take_inputs(tick) {
            let Some(player) = player_of(&self.players, *client) else {
                continue;
            };
            let view = TickTime::at(tick)
                .add_ticks(f64::from(frame.view_fraction) / 256.0 - f64::from(frame.view_ago));
            self.inputs.push(TickInput {
                player,
                input: frame.input,
                view,
            });
        }
        let lag = LagCompensation::new(&self.hitboxes);
        self.game.step(&self.inputs, &lag);
        self.shots += lag.rewinds();
        self.rewinds_clamped += lag.clamped();
        self.events.clear();
        for (at, (player, _)) in self.game.events().iter().enumerate() {
            if let Some((client, _)) = self.players.iter().find(|(_, p)| p == player) {
                self.events.push((*client, at));
            }
        }
        let now = self.game.tick();
        let snapshot_due = self.net.snapshot_due(now);
        self.boxes.clear();
        self.game.hitboxes(&mut self.boxes);
        self.hitboxes
            .record(now, snapshot_due, self.boxes.drain(..));
        if snapshot_due {
            let game = &self.game;
            let audience = GameAudience {
                game,
                players: &self.players,
            };
            self.net
                .send_snapshots(now, |out| game.replicate(out), &audience, send);
        }
    }
}

/// Each client's budget per snapshot at `config`'s snapshot rate (bytes).
fn budget_bytes_per_snapshot<C>(config: &ServerConfig<C>) -> usize {
    (config.net.client_budget_bytes_per_s / config.tick.snapshot_hz.max(1)) as usize
}

/// The player of `client`.
fn player_of<P: Copy>(players: &[(ClientId, P)], client: ClientId) -> Option<P> {
    players
        .iter()
        .find(|(c, _)| *c == client)
        .map(|(_, player)| *player)
}

/// What the game says about each client's view.
struct GameAudience<'a, G: Game> {
    game: &'a G,
    players: &'a [(ClientId, G::Player)],
}

impl<G: Game> Audience for GameAudience<'_, G> {
    type Viewer = G::Viewer;

    fn viewer(&self, client: ClientId, own: &mut [i32; MAX_FIELDS]) -> Option<G::Viewer> {
        self.game.viewer(player_of(self.players, client)?, own)
    }

    fn weight(viewer: &G::Viewer, entity: &NetEntity) -> f32 {
        G::weight(viewer, entity)
    }
}
