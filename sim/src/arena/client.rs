//! The arena as a client predicts it: the local player's state and the rule that moves it.

use glam::Vec2;
use tickwire_netcode::client::ClientGame;
use tickwire_netcode::prediction::Predict;
use tickwire_netcode::schema::{EntityState, MAX_FIELDS};

use crate::arena::movement::move_player;
use crate::arena::quantize::{dequantize_m, dequantize_mps};
use crate::arena::replication::{KIND_PLAYER, WireInput};
use crate::arena::rules::Rules;

/// What the client predicts about its own player: exactly the server's values, which live
/// on the wire's grid (1/512 m, 1/512 m/s).
#[derive(Debug, Clone, Copy)]
pub struct PredictedPlayer {
    /// Position (metres).
    pub pos: Vec2,
    /// Velocity (metres per second).
    pub vel: Vec2,
    /// Alive (dead players do not move).
    pub alive: bool,
    /// Ticks before the weapon can fire again.
    pub cooldown_ticks: u32,
    /// Whether the last predicted step fired the weapon (an output, not compared).
    pub fired: bool,
}

impl PartialEq for PredictedPlayer {
    fn eq(&self, other: &Self) -> bool {
        let Self {
            pos,
            vel,
            alive,
            cooldown_ticks,
            fired: _,
        } = *self;
        // While dead only where the body lies matters: the server's trigger then follows its
        // count of ticks since death (the trade window), which the client does not track.
        pos == other.pos
            && vel == other.vel
            && alive == other.alive
            && (!alive || cooldown_ticks == other.cooldown_ticks)
    }
}

/// The arena's prediction rules for a client: the same [`move_player`] the server runs.
#[derive(Debug, Clone)]
pub struct ArenaPrediction {
    rules: Rules,
}

impl ArenaPrediction {
    /// Prediction under `rules` (the server's, from its welcome).
    #[must_use]
    pub fn new(rules: Rules) -> Self {
        Self { rules }
    }

    /// The rules.
    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
}

impl Predict for ArenaPrediction {
    type State = PredictedPlayer;
    type Input = WireInput;

    fn step(&self, state: &mut PredictedPlayer, input: &WireInput) {
        // The server's order (World::step): cooldown, movement, then the trigger.
        state.cooldown_ticks = state.cooldown_ticks.saturating_sub(1);
        state.fired = false;
        if !state.alive {
            return;
        }
        let input = input.to_input();
        move_player(&mut state.pos, &mut state.vel, input.movement, &self.rules);
        if input.fire && state.cooldown_ticks == 0 {
            state.cooldown_ticks = self.rules.fire_cooldown_ticks();
            state.fired = true;
        }
    }

    fn is_teleport(&self, predicted: &PredictedPlayer, authoritative: &PredictedPlayer) -> bool {
        // Deaths and respawns: the server decides them, the client cannot see them coming.
        predicted.alive != authoritative.alive
    }

    fn position(&self, state: &PredictedPlayer) -> [f32; 3] {
        [state.pos.x, state.pos.y, 0.0]
    }
}

impl ClientGame for ArenaPrediction {
    fn authoritative(
        &self,
        entity: &EntityState,
        own: &[i32; MAX_FIELDS],
    ) -> Option<PredictedPlayer> {
        if entity.kind != KIND_PLAYER {
            return None;
        }
        let [x, y, _aim, health, ..] = entity.fields;
        let [vx, vy, cooldown, ..] = *own;
        Some(PredictedPlayer {
            pos: Vec2::new(dequantize_m(x), dequantize_m(y)),
            vel: Vec2::new(dequantize_mps(vx), dequantize_mps(vy)),
            alive: health > 0,
            cooldown_ticks: u32::try_from(cooldown).unwrap_or(0),
            fired: false,
        })
    }
}
