//! The client's netcode in one state machine: snapshots in, inputs out, a frame to render.
//!
//! Call order, each frame:
//! 1. [`handle_datagram`](ClientNetcode::handle_datagram) for every datagram received;
//! 2. while [`next_input_tick`](ClientNetcode::next_input_tick) returns a tick, sample the
//!    input for it and pass it to [`submit_input`](ClientNetcode::submit_input), sending the
//!    datagram it returns;
//! 3. [`frame`](ClientNetcode::frame), then [`render_frame`](ClientNetcode::render_frame)
//!    for what to draw: other entities interpolated, the local one predicted (plus
//!    [`visual_offset`](ClientNetcode::visual_offset)).

use std::collections::VecDeque;
use std::time::Duration;

use web_time::Instant;

use serde::Serialize;

use crate::clock::{ClientClock, ClockConfig};
use crate::interpolation::{FrameMode, RenderFrame};
use crate::prediction::{Predict, PredictionStats, Predictor};
use crate::protocol::{InputDatagram, InputFrame, Welcome, encode_input};
use crate::schema::{EntityState, MAX_FIELDS, Schema};
use crate::snapshot::{SnapshotError, SnapshotReceiver};
use crate::tick::{Tick, TickRate, TickTime};

/// Most ticks predicted in one frame when catching up after a stall or a clock jump.
const MAX_CATCH_UP_TICKS: u32 = 16;

/// The game's side of a client: prediction rules and how to read its own entity.
pub trait ClientGame: Predict {
    /// The authoritative predicted state from the own entity's replicated state and its
    /// private fields (in the schema's `own` order), if the entity can be predicted now.
    fn authoritative(&self, entity: &EntityState, own: &[i32; MAX_FIELDS]) -> Option<Self::State>;
}

/// Numbers a client needs, mostly from the server's welcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientConfig {
    /// The simulation rate.
    pub tick_rate: TickRate,
    /// Ticks between snapshots.
    pub snapshot_interval_ticks: u32,
    /// How long complete snapshots are kept as baselines (ticks).
    pub baseline_window_ticks: u32,
    /// Interpolation delay before any jitter has been measured.
    pub initial_delay: Duration,
    /// Longest extrapolation before holding still.
    pub max_extrapolation: Duration,
    /// Inputs per datagram: the newest plus this many − 1 older ones again.
    pub inputs_per_datagram: usize,
    /// Smallest input lead to aim for (ticks): the welcome's `input_buffer_ticks`.
    pub min_lead_ticks: f64,
    /// The network index of the local player's entity.
    pub entity_index: u32,
    /// The server's tick at welcome.
    pub server_tick: Tick,
}

impl ClientConfig {
    /// The configuration a welcome describes, with defaults for the rest.
    ///
    /// # Errors
    /// [`crate::ConfigError`] if the welcome's tick rate is out of range.
    pub fn from_welcome(welcome: &Welcome) -> Result<Self, crate::ConfigError> {
        Ok(Self {
            tick_rate: TickRate::new(welcome.tick_hz)?,
            snapshot_interval_ticks: (welcome.tick_hz / welcome.snapshot_hz.max(1)).max(1),
            baseline_window_ticks: welcome.baseline_window_ticks,
            initial_delay: Duration::from_millis(u64::from(welcome.interpolation_delay_ms)),
            max_extrapolation: Duration::from_millis(100),
            inputs_per_datagram: 6,
            min_lead_ticks: f64::from(welcome.input_buffer_ticks),
            entity_index: welcome.entity_index,
            server_tick: welcome.server_tick,
        })
    }
}

/// What the client saw (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Snapshot parts accepted.
    pub parts: u64,
    /// Snapshots completed.
    pub snapshots: u64,
    /// Datagrams refused (malformed, or against a baseline no longer held).
    pub bad_datagrams: u64,
    /// Frames rendered (counting from the first interpolated one: before it the client is
    /// still connecting).
    pub frames: u64,
    /// Frames rendered past the newest snapshot, extrapolating.
    pub extrapolated_frames: u64,
    /// Frames rendered standing still (past the extrapolation limit).
    pub held_frames: u64,
    /// Input datagrams produced.
    pub inputs_sent: u64,
}

/// A game client's netcode. See the [module docs](self).
#[derive(Debug)]
pub struct ClientNetcode<G: ClientGame>
where
    G::Input: Serialize,
{
    game: G,
    schema: Schema,
    config: ClientConfig,
    receiver: SnapshotReceiver,
    clock: ClientClock,
    predictor: Predictor<G>,
    recent: VecDeque<(Tick, InputFrame<G::Input>)>,
    last_snapshot: Option<Tick>,
    last_frame: Option<Instant>,
    rendering: bool,
    synced: bool,
    stats: ClientStats,
    out: Vec<u8>,
    /// The input list of the last input datagram, kept for its allocation.
    inputs: Vec<InputFrame<G::Input>>,
}

impl<G: ClientGame> ClientNetcode<G>
where
    G::Input: Serialize,
{
    /// A client that has just been welcomed at `now`.
    #[must_use]
    pub fn new(game: G, schema: Schema, config: ClientConfig, now: Instant) -> Self {
        let dt_s = config.tick_rate.dt().as_secs_f64();
        let clock = ClientClock::new(
            ClockConfig {
                dt_s,
                snapshot_interval_ticks: config.snapshot_interval_ticks,
                initial_delay_ticks: config.initial_delay.as_secs_f64() / dt_s,
                min_lead_ticks: config.min_lead_ticks,
                jump_ticks: 4.0,
            },
            now,
        );
        Self {
            receiver: SnapshotReceiver::new(
                schema.clone(),
                config.baseline_window_ticks,
                config.server_tick,
            ),
            game,
            schema,
            config,
            clock,
            predictor: Predictor::new(),
            recent: VecDeque::new(),
            last_snapshot: None,
            last_frame: None,
            rendering: false,
            synced: false,
            stats: ClientStats::default(),
            out: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Takes one snapshot datagram.
    ///
    /// # Errors
    /// [`SnapshotError`] if it is malformed or coded against a baseline no longer held; it
    /// is counted and dropped, nothing else changes.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Result<(), SnapshotError> {
        let received = match self.receiver.handle_datagram(bytes) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.stats.bad_datagrams += 1;
                return Err(e);
            }
        };
        self.stats.parts += 1;
        if self.last_snapshot.is_none_or(|t| received.tick.is_after(t)) {
            self.last_snapshot = Some(received.tick);
            self.clock.on_snapshot(now, received.tick);
        }
        if received.part == 0 && self.receiver.private_tick() == Some(received.tick) {
            if let Some(f) = self.receiver.feedback() {
                self.clock.on_feedback(
                    now,
                    received.tick,
                    f.newest_input,
                    f.inputs_late,
                    f.inputs_missing,
                );
                let clock = &self.clock;
                self.synced |= clock
                    .lead()
                    .is_some_and(|lead| (lead - clock.target_lead()).abs() <= 1.0);
            }
        }
        if received.completed {
            self.stats.snapshots += 1;
            self.reconcile(received.tick);
        }
        Ok(())
    }

    fn reconcile(&mut self, tick: Tick) {
        let Some(latest) = self.receiver.latest().filter(|s| s.tick == tick) else {
            return;
        };
        let Some(entity) = latest.get(self.config.entity_index) else {
            return;
        };
        let own = match self.receiver.own() {
            Some(own) if self.receiver.private_tick() == Some(tick) => *own,
            _ => return,
        };
        if let Some(state) = self.game.authoritative(entity, &own) {
            self.predictor.reconcile(&self.game, tick, state);
        }
    }

    /// Applies tunables the server sent mid-session (`ServerControl::Tunables`, after a
    /// config reload): its new snapshot rate (Hz), which the clocks follow, the
    /// interpolation delay to start from (milliseconds; the render clock keeps measuring
    /// jitter), and `game`, the prediction rules the game built from the message's bytes.
    /// Predictions already made under the old rules are corrected by the next snapshot.
    ///
    /// # Errors
    /// [`crate::ConfigError`] if `snapshot_hz` is 0 or does not divide the tick rate;
    /// nothing changes then.
    pub fn retune(
        &mut self,
        snapshot_hz: u32,
        interpolation_delay_ms: u32,
        game: G,
    ) -> Result<(), crate::ConfigError> {
        let tick_hz = self.config.tick_rate.hz();
        if snapshot_hz == 0 || tick_hz % snapshot_hz != 0 {
            return Err(crate::ConfigError::invalid(
                "snapshot_hz",
                snapshot_hz,
                format!("must divide the tick rate, {tick_hz} Hz"),
            ));
        }
        self.config.snapshot_interval_ticks = tick_hz / snapshot_hz;
        self.config.initial_delay = Duration::from_millis(u64::from(interpolation_delay_ms));
        self.clock
            .set_snapshot_interval(self.config.snapshot_interval_ticks);
        self.game = game;
        Ok(())
    }

    /// The next tick whose input is due by `now`, if any: call repeatedly until `None`.
    pub fn next_input_tick(&mut self, now: Instant) -> Option<Tick> {
        self.clock.advance(now);
        let (current, _) = self.predictor.current()?;
        let due = self.clock.predict_tick().tick();
        let Ok(behind) = u32::try_from(due.since(current)) else {
            return None;
        };
        if self.stats.inputs_sent == 0 && behind >= 1 {
            // The first input: the ticks before the clock's are already past for the server
            // (it ran them with no input), so start predicting at the clock's tick.
            if let Some((_, state)) = self.predictor.current() {
                let state = state.clone();
                self.predictor
                    .reconcile(&self.game, current.add(behind), state);
            }
        } else if behind > MAX_CATCH_UP_TICKS * 4 {
            // Far behind the clock (a stall): predict from where the clock is now.
            let jump = behind - MAX_CATCH_UP_TICKS;
            if let Some((_, state)) = self.predictor.current() {
                let state = state.clone();
                self.predictor
                    .reconcile(&self.game, current.add(jump), state);
            }
        }
        self.predictor.current().map(|(t, _)| t)
    }

    /// Applies `input` for `tick` (from [`next_input_tick`](Self::next_input_tick)) and
    /// returns the input datagram to send.
    ///
    /// # Errors
    /// [`crate::EncodeError`] if the input cannot be encoded (a game bug).
    pub fn submit_input(
        &mut self,
        tick: Tick,
        input: G::Input,
    ) -> Result<&[u8], crate::EncodeError> {
        let viewed = self.view();
        let view_ago = u16::try_from(tick.since(viewed.tick()).max(0)).unwrap_or(u16::MAX);
        let frame = InputFrame {
            view_ago,
            view_fraction: (viewed.fraction() * 256.0).clamp(0.0, 255.0) as u8,
            input: input.clone(),
        };
        self.predictor.predict(&self.game, input);
        self.clock.on_input_sent(tick);
        self.recent.push_front((tick, frame));
        self.recent.truncate(self.config.inputs_per_datagram.max(1));
        // The datagram's input list is reused from tick to tick.
        let mut datagram = InputDatagram {
            ack: self.receiver.ack(),
            newest: tick,
            inputs: std::mem::take(&mut self.inputs),
        };
        datagram.inputs.clear();
        // Consecutive ticks only: a gap (after a jump) ends the redundancy.
        datagram.inputs.extend(
            self.recent
                .iter()
                .enumerate()
                .take_while(|(n, (t, _))| *t == tick.sub(*n as u32))
                .map(|(_, (_, f))| f.clone()),
        );
        self.out.clear();
        let encoded = encode_input(&datagram, &mut self.out);
        self.inputs = datagram.inputs;
        encoded?;
        self.stats.inputs_sent += 1;
        Ok(&self.out)
    }

    /// The snapshot tick and fraction being rendered now (a fire input's view stamp).
    fn view(&self) -> TickTime {
        self.render_frame()
            .map_or_else(TickTime::default, |f| f.view())
    }

    /// Advances to `now` and counts one rendered frame in [`stats`](Self::stats); returns how
    /// it renders. `None` before the first complete snapshot. Read it with
    /// [`render_frame`](Self::render_frame).
    pub fn frame(&mut self, now: Instant) -> Option<FrameMode> {
        self.clock.advance(now);
        if let Some(last) = self.last_frame.replace(now) {
            self.predictor
                .decay(now.saturating_duration_since(last).as_secs_f32());
        }
        let mode = self.render_frame()?.mode();
        // Until the interpolation buffer first fills (connecting), nothing is on screen yet.
        self.rendering |= mode == FrameMode::Interpolated;
        if !self.rendering {
            return Some(mode);
        }
        self.stats.frames += 1;
        match mode {
            FrameMode::Interpolated => {}
            FrameMode::Extrapolated => self.stats.extrapolated_frames += 1,
            FrameMode::Held => self.stats.held_frames += 1,
        }
        Some(mode)
    }

    /// What to draw at the render clock's current tick.
    #[must_use]
    pub fn render_frame(&self) -> Option<RenderFrame<'_>> {
        let max =
            self.config.max_extrapolation.as_secs_f64() / self.config.tick_rate.dt().as_secs_f64();
        RenderFrame::at(&self.receiver, self.clock.render_tick(), max)
    }

    /// The next tick to predict, once prediction has started.
    #[must_use]
    pub fn predicted_tick(&self) -> Option<Tick> {
        self.predictor.current().map(|(t, _)| t)
    }

    /// Whether the input clock has reached its target lead at least once since connecting:
    /// from then on inputs arrive in time. A game can hold the player's trigger until then.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The predicted local state (at the start of the next tick to predict).
    #[must_use]
    pub fn predicted(&self) -> Option<&G::State> {
        self.predictor.current().map(|(_, s)| s)
    }

    /// The visual offset hiding the last corrections (game units); render only.
    #[must_use]
    pub fn visual_offset(&self) -> [f32; 3] {
        self.predictor.offset()
    }

    /// The game rules.
    #[must_use]
    pub fn game(&self) -> &G {
        &self.game
    }

    /// The replication schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The snapshot reassembler (complete snapshots, own state, feedback).
    #[must_use]
    pub fn receiver(&self) -> &SnapshotReceiver {
        &self.receiver
    }

    /// The clocks.
    #[must_use]
    pub fn clock(&self) -> &ClientClock {
        &self.clock
    }

    /// What the client saw.
    #[must_use]
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// What prediction had to correct.
    #[must_use]
    pub fn prediction_stats(&self) -> PredictionStats {
        self.predictor.stats()
    }
}
