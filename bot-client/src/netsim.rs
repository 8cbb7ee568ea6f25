//! A room and a swarm of bots on simulated time over seeded bad networks, in one thread.
//!
//! The server ([`RoomCore`]), every bot's full client netcode and a [`LinkConditioner`] per
//! direction per bot run on a simulated clock advanced in 1 ms steps: no sockets, no sleeps.
//! The same seed gives the same run, so a failure reproduces exactly.

use std::time::{Duration, Instant};

use tickwire_netcode::client::{ClientConfig, ClientNetcode};
use tickwire_netcode::link_conditioner::{LinkConditioner, LinkConfig};
use tickwire_netcode::testing;
use tickwire_server::ServerConfig;
use tickwire_server::room_core::{ClientId, RoomCore};

pub use crate::pilot::Script;
use crate::pilot::{BotGame, Pilot, Verdict};

/// Simulation step.
const STEP: Duration = Duration::from_millis(1);
/// Client frame rate (Hz).
const FRAME_HZ: u64 = 120;

/// One simulated bot.
#[derive(Debug)]
pub struct SimBot<G: BotGame> {
    /// Its id in the room.
    pub id: ClientId,
    /// Its full client netcode.
    pub net: ClientNetcode<G::Prediction>,
    /// Its decisions and the hits it saw.
    pub pilot: G::Pilot,
    up: LinkConditioner,
    down: LinkConditioner,
    next_frame: Instant,
    /// Hits seen in its own view the server confirmed (same target).
    pub hits_confirmed: u64,
    /// Every event the server sent this bot (the arena's: each shot it judged).
    pub events: Vec<G::Event>,
}

/// A room and its bots on one simulated clock.
#[derive(Debug)]
pub struct NetSim<G: BotGame> {
    /// The server's room.
    pub room: RoomCore<G>,
    /// The bots.
    pub bots: Vec<SimBot<G>>,
    t0: Instant,
    now: Instant,
    next_tick: u64,
    dt: Duration,
    max_datagram: usize,
    /// The configuration in force (the bots' game values).
    config: ServerConfig<G::Config>,
}

impl<G: BotGame> NetSim<G> {
    /// A room on `config` with no bots yet.
    ///
    /// # Errors
    /// If the configuration does not make a valid room.
    pub fn new(config: &ServerConfig<G::Config>) -> Result<Self, tickwire_netcode::ConfigError> {
        let room = RoomCore::new("sim", config)?;
        let t0 = testing::epoch();
        Ok(Self {
            room,
            bots: Vec::new(),
            t0,
            now: t0,
            next_tick: 0,
            dt: config.tick_rate()?.dt(),
            max_datagram: 1200,
            config: config.clone(),
        })
    }

    /// Simulated time since the start.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Adds a bot playing `script` behind links `up` (bot → server) and `down`.
    ///
    /// # Errors
    /// If the room is full.
    pub fn add_bot(
        &mut self,
        script: Script,
        up: LinkConfig,
        down: LinkConfig,
        seed: u64,
    ) -> Result<usize, tickwire_netcode::protocol::RejectReason> {
        let (id, welcome) = self.room.join(Some(self.max_datagram))?;
        let bad = |_| tickwire_netcode::protocol::RejectReason::BadHello;
        let rate = self.config.tick_rate().map_err(bad)?;
        let prediction = G::prediction(&self.config.game, rate).map_err(bad)?;
        let config = ClientConfig::from_welcome(&welcome).map_err(bad)?;
        let net = ClientNetcode::new(prediction, self.room.schema().clone(), config, self.now);
        self.bots.push(SimBot {
            id,
            net,
            pilot: G::Pilot::new(script, seed).logging(),
            up: LinkConditioner::new(up, seed.wrapping_mul(2).wrapping_add(1)),
            down: LinkConditioner::new(down, seed.wrapping_mul(2).wrapping_add(2)),
            next_frame: self.now,
            hits_confirmed: 0,
            events: Vec::new(),
        });
        Ok(self.bots.len() - 1)
    }

    /// A config reload: the room applies `config`'s live tunables and every bot is told at
    /// once (as `ServerControl::Tunables` would tell it, minus the control stream's delay).
    ///
    /// # Errors
    /// If the new values do not make a valid room or client (nothing changes then).
    pub fn retune(
        &mut self,
        config: &ServerConfig<G::Config>,
    ) -> Result<(), tickwire_netcode::ConfigError> {
        self.room.retune(config)?;
        let prediction = G::prediction(&config.game, config.tick_rate()?)?;
        for bot in &mut self.bots {
            bot.net.retune(
                config.tick.snapshot_hz,
                config.net.interpolation_delay_ms,
                prediction.clone(),
            )?;
        }
        self.config = config.clone();
        Ok(())
    }

    /// Runs until `elapsed()` reaches `until`.
    pub fn run_until(&mut self, until: Duration) {
        while self.elapsed() < until {
            self.step();
        }
    }

    /// Advances simulated time by one step: deliveries, server ticks, bot frames.
    pub fn step(&mut self) {
        self.now += STEP;
        let now = self.now;
        // Uplink deliveries and due server ticks.
        while self.t0 + self.dt * self.next_tick as u32 <= now {
            for bot in &mut self.bots {
                while let Some(d) = bot.up.poll(now) {
                    let _ = self.room.handle_datagram(bot.id, &d);
                }
            }
            let bots = &mut self.bots;
            self.room.tick(&mut |id, bytes| {
                if let Some(bot) = bots.iter_mut().find(|b| b.id == id) {
                    bot.down.send(now, bytes);
                }
            });
            for (client, event) in self.room.events() {
                let Some(bot) = self.bots.iter_mut().find(|b| b.id == client) else {
                    continue;
                };
                bot.events.push(event.clone());
                if bot.pilot.on_event(event) == Verdict::Confirmed {
                    bot.hits_confirmed += 1;
                }
            }
            self.next_tick += 1;
        }
        let frame_every = Duration::from_nanos(1_000_000_000 / FRAME_HZ);
        let game = &self.config.game;
        for bot in &mut self.bots {
            while let Some(d) = bot.down.poll(now) {
                let _ = bot.net.handle_datagram(now, &d);
            }
            if now < bot.next_frame {
                continue;
            }
            bot.next_frame += frame_every;
            let up = &mut bot.up;
            bot.pilot
                .frame(&mut bot.net, now, game, &mut |d| up.send(now, d));
        }
    }
}

impl<G: BotGame> SimBot<G> {
    /// The bot's link toward the server.
    #[must_use]
    pub fn uplink(&self) -> &LinkConditioner {
        &self.up
    }

    /// The bot's link from the server.
    #[must_use]
    pub fn downlink(&self) -> &LinkConditioner {
        &self.down
    }

    /// Changes both links (an RTT step, a worse network).
    pub fn set_links(&mut self, up: LinkConfig, down: LinkConfig) {
        self.up.set_config(up);
        self.down.set_config(down);
    }
}
