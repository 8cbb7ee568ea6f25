//! Predicting the local player with the game's own rules, and reconciling with the server.
//!
//! The client applies each input at once with [`Predict::step`] — the same function the
//! server runs. When a snapshot brings the authoritative state at tick `S` (after the inputs
//! before `S`), the predictor compares it with what it had predicted for `S`. If they differ,
//! it resets to the server's state and replays the inputs from `S` on: a *correction*. The
//! jump this makes on screen is hidden by a visual offset that decays; the offset is for
//! rendering only and never feeds back into the simulation.

use std::collections::VecDeque;
use std::fmt::Debug;

use crate::tick::Tick;

/// The game's rules for the locally controlled entity.
pub trait Predict {
    /// What is predicted (position, velocity …), exactly as the server quantizes it.
    type State: Clone + PartialEq + Debug;
    /// One tick of input.
    type Input: Clone + Debug;

    /// Advances `state` by one tick under `input`: the very rule the server runs.
    fn step(&self, state: &mut Self::State, input: &Self::Input);

    /// Where the state is (game units), for correction sizes and visual smoothing.
    fn position(&self, state: &Self::State) -> [f32; 3];

    /// Whether going from `predicted` to `authoritative` is a deliberate jump the client
    /// could not predict (a respawn, a teleport) rather than a misprediction: it is applied
    /// without smoothing and not counted as a correction.
    fn is_teleport(&self, predicted: &Self::State, authoritative: &Self::State) -> bool {
        let _ = (predicted, authoritative);
        false
    }
}

/// What prediction has had to correct (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PredictionStats {
    /// Authoritative states compared with a prediction.
    pub checked: u64,
    /// Of those, how many differed.
    pub corrections: u64,
    /// Largest difference at the authoritative tick (game units).
    pub max_correction: f32,
    /// Sum of differences (game units), for an average.
    pub total_correction: f64,
    /// Unpredictable jumps (respawns, teleports) applied as they came.
    pub teleports: u64,
    /// Times the prediction restarted from the server's state because it had fallen behind
    /// or had nothing to compare (connect, long stall).
    pub resyncs: u64,
}

/// Longest run of predicted ticks kept for reconciliation.
const MAX_HISTORY: usize = 256;
/// Time constant of the visual correction offset's decay (seconds).
const OFFSET_DECAY_S: f32 = 0.1;

/// Prediction state for one locally controlled entity. See the [module docs](self).
#[derive(Debug)]
pub struct Predictor<P: Predict> {
    /// `(T, state at the start of T)` for unconfirmed ticks, oldest first; the last is the
    /// current state.
    states: VecDeque<(Tick, P::State)>,
    /// `(T, input applied at T)` for unconfirmed ticks.
    inputs: VecDeque<(Tick, P::Input)>,
    offset: [f32; 3],
    stats: PredictionStats,
}

impl<P: Predict> Default for Predictor<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Predict> Predictor<P> {
    /// A predictor that has no state yet.
    #[must_use]
    pub fn new() -> Self {
        Self {
            states: VecDeque::new(),
            inputs: VecDeque::new(),
            offset: [0.0; 3],
            stats: PredictionStats::default(),
        }
    }

    /// The next tick to predict and the state at its start.
    #[must_use]
    pub fn current(&self) -> Option<(Tick, &P::State)> {
        self.states.back().map(|(t, s)| (*t, s))
    }

    /// The corrections so far.
    #[must_use]
    pub fn stats(&self) -> PredictionStats {
        self.stats
    }

    /// The visual offset now (game units): add it to the predicted position when rendering.
    #[must_use]
    pub fn offset(&self) -> [f32; 3] {
        self.offset
    }

    /// Applies the input for the current tick and moves to the next.
    ///
    /// Does nothing before the first authoritative state.
    pub fn predict(&mut self, rules: &P, input: P::Input) {
        let Some((tick, state)) = self.states.back() else {
            return;
        };
        let (tick, mut next) = (*tick, state.clone());
        rules.step(&mut next, &input);
        self.inputs.push_back((tick, input));
        self.states.push_back((tick.next(), next));
        while self.states.len() > MAX_HISTORY {
            self.states.pop_front();
        }
        while self.inputs.len() > MAX_HISTORY {
            self.inputs.pop_front();
        }
    }

    /// The server's state at the start of `tick`. Returns whether it was a correction.
    pub fn reconcile(&mut self, rules: &P, tick: Tick, authoritative: P::State) -> bool {
        let Some(&(current, _)) = self.states.back() else {
            self.states.push_back((tick, authoritative));
            return false;
        };
        if tick.is_after(current)
            || self
                .states
                .front()
                .is_some_and(|(oldest, _)| oldest.is_after(tick))
        {
            if tick.is_after(current) {
                // The server is ahead of what was predicted: start again from its state.
                self.stats.resyncs += 1;
                self.states.clear();
                self.inputs.clear();
                self.states.push_back((tick, authoritative));
            }
            return false;
        }
        self.stats.checked += 1;
        let predicted = self.states.iter().find(|(t, _)| *t == tick).map(|(_, s)| s);
        let corrected = predicted != Some(&authoritative);
        if corrected {
            let before = self
                .states
                .back()
                .map(|(_, s)| rules.position(s))
                .unwrap_or_default();
            let teleport = predicted.is_some_and(|p| rules.is_teleport(p, &authoritative));
            if teleport {
                self.stats.teleports += 1;
            } else {
                let error = predicted.map_or(0.0, |p| {
                    distance(rules.position(p), rules.position(&authoritative))
                });
                self.stats.corrections += 1;
                self.stats.max_correction = self.stats.max_correction.max(error);
                self.stats.total_correction += f64::from(error);
            }
            // Replay the inputs after `tick` from the server's state.
            let mut state = authoritative;
            self.states.clear();
            self.states.push_back((tick, state.clone()));
            for (t, input) in self.inputs.iter().filter(|(t, _)| !tick.is_after(*t)) {
                rules.step(&mut state, input);
                self.states.push_back((t.next(), state.clone()));
            }
            let after = rules.position(&state);
            for ((o, b), a) in self.offset.iter_mut().zip(before).zip(after) {
                *o = if teleport { 0.0 } else { *o + b - a };
            }
        }
        // Everything before `tick` is settled.
        while self.states.front().is_some_and(|(t, _)| tick.is_after(*t)) {
            self.states.pop_front();
        }
        while self.inputs.front().is_some_and(|(t, _)| tick.is_after(*t)) {
            self.inputs.pop_front();
        }
        corrected
    }

    /// Lets the visual offset decay for `dt_s` seconds.
    pub fn decay(&mut self, dt_s: f32) {
        let keep = (-dt_s / OFFSET_DECAY_S).exp();
        for o in &mut self.offset {
            *o *= keep;
            if o.abs() < 1e-4 {
                *o = 0.0;
            }
        }
    }
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f32>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1D body: position and velocity, input is acceleration.
    struct Body;
    impl Predict for Body {
        type State = (i32, i32);
        type Input = i32;
        fn step(&self, s: &mut (i32, i32), a: &i32) {
            s.1 += a;
            s.0 += s.1;
        }
        fn position(&self, s: &(i32, i32)) -> [f32; 3] {
            [s.0 as f32, 0.0, 0.0]
        }
    }

    #[test]
    fn agreeing_states_are_not_corrections() {
        let mut p = Predictor::new();
        p.reconcile(&Body, Tick::new(10), (0, 0));
        for a in [1, 1, 0, -1] {
            p.predict(&Body, a);
        }
        assert_eq!(p.current(), Some((Tick::new(14), &(6, 1))));
        // The server applied the same inputs: its state at 12 is (3, 2).
        assert!(!p.reconcile(&Body, Tick::new(12), (3, 2)));
        assert_eq!(p.stats().corrections, 0);
        assert_eq!(p.current(), Some((Tick::new(14), &(6, 1))));
    }

    #[test]
    fn a_disagreement_replays_inputs_and_offsets_the_view() {
        let mut p = Predictor::new();
        p.reconcile(&Body, Tick::new(0), (0, 0));
        for _ in 0..5 {
            p.predict(&Body, 1);
        }
        // Predicted at tick 2: (3, 2). The server says (2, 2) — it was nudged.
        assert!(p.reconcile(&Body, Tick::new(2), (2, 2)));
        // Replayed: 2 → (2,2) +1 → (5,3) → (9,4) → (14,5).
        assert_eq!(p.current(), Some((Tick::new(5), &(14, 5))));
        assert_eq!(p.stats().corrections, 1);
        assert_eq!(p.stats().max_correction, 1.0);
        assert_eq!(p.offset()[0], 1.0, "the old view was 1 ahead");
        p.decay(1.0);
        assert_eq!(p.offset()[0], 0.0);
    }

    #[test]
    fn a_server_ahead_of_the_prediction_resyncs() {
        let mut p = Predictor::new();
        p.reconcile(&Body, Tick::new(0), (0, 0));
        p.predict(&Body, 1);
        p.reconcile(&Body, Tick::new(40), (100, 0));
        assert_eq!(p.current(), Some((Tick::new(40), &(100, 0))));
        assert_eq!(p.stats().resyncs, 1);
        // A stale state is ignored.
        assert!(!p.reconcile(&Body, Tick::new(3), (0, 0)));
    }
}
