//! Cubes3d as a client predicts it: its own pusher, driven by the same rule the server runs.

use glam::Vec2;
use tickwire_netcode::client::ClientGame;
use tickwire_netcode::prediction::Predict;
use tickwire_netcode::schema::{EntityState, MAX_FIELDS};

use super::pusher::{Drive, drive};
use super::quantize::{dequantize_m, dequantize_mps};
use super::replication::{CubesInput, KIND_PUSHER, field, own};
use super::rules::CubesRules;

/// Cubes3d's prediction rules for a client: [`drive`], as the server runs it.
#[derive(Debug, Clone)]
pub struct CubesPrediction {
    rules: CubesRules,
}

impl CubesPrediction {
    /// Prediction under `rules` (the server's, from its welcome).
    #[must_use]
    pub fn new(rules: CubesRules) -> Self {
        Self { rules }
    }

    /// The rules.
    #[must_use]
    pub fn rules(&self) -> &CubesRules {
        &self.rules
    }
}

impl Predict for CubesPrediction {
    type State = Drive;
    type Input = CubesInput;

    fn step(&self, state: &mut Drive, input: &CubesInput) {
        drive(state, input.stick(), &self.rules);
    }

    fn position(&self, state: &Drive) -> [f32; 3] {
        [state.pos.x, state.pos.y, self.rules.pusher_half()]
    }
}

impl ClientGame for CubesPrediction {
    fn authoritative(&self, entity: &EntityState, own_fields: &[i32; MAX_FIELDS]) -> Option<Drive> {
        if entity.kind != KIND_PUSHER {
            return None;
        }
        let f = |i: usize| entity.fields.get(i).copied().unwrap_or(0);
        let o = |i: usize| own_fields.get(i).copied().unwrap_or(0);
        Some(Drive {
            pos: Vec2::new(dequantize_m(f(field::X)), dequantize_m(f(field::Y))),
            vel: Vec2::new(dequantize_mps(o(own::VX)), dequantize_mps(o(own::VY))),
            yaw: o(own::YAW),
        })
    }
}
