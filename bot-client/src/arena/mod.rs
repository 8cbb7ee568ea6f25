//! Bots in the arena: each frame an [`ArenaPilot`] looks at what its client renders, lets
//! its [`Brain`] decide, sends inputs, and notes the shots that hit in its own view (to
//! compare with the server's verdicts).

pub mod brain;
pub mod view;

use std::time::{Duration, Instant};

use glam::Vec2;
use tickwire_netcode::Tick;
use tickwire_netcode::client::ClientNetcode;
use tickwire_sim::arena::client::ArenaPrediction;
use tickwire_sim::arena::replication::{ArenaEvent, WireInput, net_id};
use tickwire_sim::arena::{Arena, ArenaConfig, Hitbox, PlayerInput, hit_test};

pub use brain::Brain;
use view::{Seen, enemies, hitboxes};

use crate::behaviour::Behaviour;
use crate::pilot::{BotGame, Pilot, Script, Verdict};

impl BotGame for Arena {
    type Pilot = ArenaPilot;
}

/// The shots the server judged among a bot's events: (input tick, network index struck).
#[must_use]
pub fn judged_shots(events: &[ArenaEvent]) -> Vec<(Tick, Option<u32>)> {
    events
        .iter()
        .filter_map(|e| match *e {
            ArenaEvent::ShotJudged { tick, target } => Some((tick, target)),
            _ => None,
        })
        .collect()
}

/// How often a bot looks at what it renders to decide (besides when it fires).
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// A bot's decision-making and its record of hits seen.
#[derive(Debug)]
pub struct ArenaPilot {
    script: Script,
    brain: Brain,
    run_dir: Vec2,
    seen: Vec<Seen>,
    /// When `seen` was last refreshed.
    looked_at: Option<Instant>,
    /// This frame's input datagram.
    outgoing: Vec<u8>,
    targets: Vec<Vec2>,
    boxes: Vec<Hitbox>,
    /// Shots that hit in the bot's own view and await the server's verdict:
    /// (input tick, target's network index), oldest first.
    pending: Vec<(Tick, u32)>,
    /// Every hit seen, if kept (simulations inspect them; a live swarm only counts).
    log: Option<Vec<(Tick, u32)>>,
    /// Hits seen in the bot's own view so far.
    pub hits_seen: u64,
}

impl ArenaPilot {
    /// A pilot playing `script`, its randomness seeded by `seed`.
    #[must_use]
    pub fn new(script: Script, seed: u64) -> Self {
        let behaviour = match script {
            Script::Play(b) => b,
            _ => Behaviour::Wander,
        };
        Self {
            script,
            brain: Brain::new(behaviour, seed),
            run_dir: Vec2::from_angle(seed as f32 * 2.4),
            seen: Vec::new(),
            looked_at: None,
            outgoing: Vec::new(),
            targets: Vec::new(),
            boxes: Vec::new(),
            pending: Vec::new(),
            log: None,
            hits_seen: 0,
        }
    }

    /// The same pilot, keeping a log of every hit it sees ([`hits_in_view`](Self::hits_in_view)).
    #[must_use]
    pub fn with_log(mut self) -> Self {
        self.log = Some(Vec::new());
        self
    }

    /// Every hit seen in the bot's own view, (input tick, target's network index), if the
    /// pilot keeps a log; empty otherwise.
    #[must_use]
    pub fn hits_in_view(&self) -> &[(Tick, u32)] {
        self.log.as_deref().unwrap_or_default()
    }

    /// One frame at `now`: renders, then for every input tick due decides an input and hands
    /// the input datagram to `send`.
    pub fn frame(
        &mut self,
        net: &mut ClientNetcode<ArenaPrediction>,
        now: Instant,
        arena: &ArenaConfig,
        send: &mut dyn FnMut(&[u8]),
    ) {
        let radius = arena.player_radius_m;
        let dt_s = net.config().tick_rate.dt().as_secs_f32();
        // Looking around is the costly part of a bot (every entity interpolated); people
        // react in a tenth of a second or more, so the bot looks that often, and again
        // exactly when it fires.
        let look = self
            .looked_at
            .is_none_or(|t| now.saturating_duration_since(t) >= LOOK_EVERY);
        if net.frame(now).is_some() && look {
            if let Some(frame) = net.render_frame() {
                enemies(net, &frame, &mut self.seen);
                self.looked_at = Some(now);
            }
        }
        self.outgoing.clear();
        while let Some(tick) = net.next_input_tick(now) {
            let Some(me) = net.predicted().copied() else {
                break;
            };
            let input = self.decide(me.pos, arena, dt_s);
            // Like a player who has just spawned in, hold fire until inputs arrive in time.
            let input = PlayerInput {
                fire: input.fire && net.is_synced(),
                ..input
            };
            let wire = WireInput::from_input(&input);
            let Ok(datagram) = net.submit_input(tick, wire) else {
                break;
            };
            // One datagram per frame: the newest carries this frame's earlier ticks too.
            self.outgoing.clear();
            self.outgoing.extend_from_slice(datagram);
            if net.predicted().is_some_and(|p| p.fired) {
                // Judge the shot in the bot's own view: from where it now predicts itself,
                // against the enemies as rendered this frame.
                if let Some(frame) = net.render_frame() {
                    enemies(net, &frame, &mut self.seen);
                    self.looked_at = Some(now);
                }
                let origin = net.predicted().map_or(me.pos, |p| p.pos);
                hitboxes(&self.seen, radius, &mut self.boxes);
                if let Some(hit) = hit_test(
                    origin,
                    wire.to_input().aim_rad,
                    arena.weapon_range_m,
                    &self.boxes,
                    &arena.obstacles,
                ) {
                    let hit = (tick, net_id(hit.target).0);
                    self.pending.push(hit);
                    self.hits_seen += 1;
                    if let Some(log) = &mut self.log {
                        log.push(hit);
                    }
                }
            }
        }
        if !self.outgoing.is_empty() {
            send(&self.outgoing);
        }
    }

    fn decide(&mut self, pos: Vec2, arena: &ArenaConfig, dt_s: f32) -> PlayerInput {
        match self.script {
            Script::Idle => PlayerInput::default(),
            Script::Run => {
                let margin = 5.0;
                if pos.x < margin || pos.x > arena.width_m - margin {
                    self.run_dir.x = self.run_dir.x.abs() * if pos.x < margin { 1.0 } else { -1.0 };
                }
                if pos.y < margin || pos.y > arena.height_m - margin {
                    self.run_dir.y = self.run_dir.y.abs() * if pos.y < margin { 1.0 } else { -1.0 };
                }
                PlayerInput {
                    movement: self.run_dir.normalize_or_zero(),
                    aim_rad: 0.0,
                    fire: false,
                }
            }
            Script::Play(_) => {
                self.targets.clear();
                self.targets.extend(self.seen.iter().map(|s| s.pos));
                self.brain.think(pos, &self.targets, arena, dt_s)
            }
        }
    }

    /// The server's verdict on a shot fired at input `tick`: whether it was a hit in this
    /// bot's view that the server confirmed on the same target. Verdicts arrive in tick
    /// order, so older unanswered hits are dropped.
    pub fn judged(&mut self, tick: Tick, target: Option<u32>) -> Verdict {
        let seen = self.pending.iter().find(|&&(t, _)| t == tick).copied();
        self.pending.retain(|&(t, _)| t.is_after(tick));
        match seen {
            None => Verdict::NotSeen,
            Some((_, index)) if target == Some(index) => Verdict::Confirmed,
            Some(_) => Verdict::Denied,
        }
    }
}

impl Pilot<Arena> for ArenaPilot {
    fn new(script: Script, seed: u64) -> Self {
        Self::new(script, seed)
    }

    fn logging(self) -> Self {
        self.with_log()
    }

    fn frame(
        &mut self,
        net: &mut ClientNetcode<ArenaPrediction>,
        now: Instant,
        config: &ArenaConfig,
        send: &mut dyn FnMut(&[u8]),
    ) {
        Self::frame(self, net, now, config, send);
    }

    fn on_event(&mut self, event: &ArenaEvent) -> Verdict {
        match *event {
            ArenaEvent::ShotJudged { tick, target } => self.judged(tick, target),
            _ => Verdict::NotSeen,
        }
    }

    fn hits_seen(&self) -> u64 {
        self.hits_seen
    }
}
