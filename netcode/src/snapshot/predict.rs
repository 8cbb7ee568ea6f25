//! Predicting a field from the baselines the client holds, and the residual that corrects it.
//!
//! Server and client run exactly this integer arithmetic, so a residual the server computes
//! reconstructs the exact value on the client. Linear and angle fields extrapolate a straight
//! line through the two newest baselines (linear ones, where the sender says so, a parabola
//! through three); discrete fields predict "unchanged".

use crate::rotation;
use crate::schema::{FieldKind, FieldSpec, MAX_FIELDS};

/// Where the baselines sit in time, for extrapolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Ticks from the newest baseline to the snapshot being coded (`S − b1`, ≥ 1).
    pub ahead: u32,
    /// Ticks between the two baselines (`b1 − b2`, ≥ 1).
    pub between: u32,
}

/// The predicted value of `spec` at the snapshot tick, from `v1` (newest baseline) and, when
/// the entity was in the older baseline too, `v2` with its `span`. For a rotation component
/// `v1` and `v2` must already be in the snapshot's frame (see [`predict_field`]).
pub(crate) fn predict(spec: &FieldSpec, v1: i32, older: Option<(i32, Span)>) -> i32 {
    let Some((v2, span)) = older else { return v1 };
    match spec.kind {
        FieldKind::Discrete | FieldKind::RotationIndex => v1,
        FieldKind::Linear | FieldKind::RotationComponent => {
            let step = round_div(
                (i64::from(v1) - i64::from(v2)) * i64::from(span.ahead),
                i64::from(span.between),
            );
            let value = (i64::from(v1) + step).clamp(i64::from(spec.min), i64::from(spec.max()));
            value as i32
        }
        FieldKind::Angle => {
            let turn = 1i64 << spec.bits;
            let diff = wrap_signed(i64::from(v1) - i64::from(v2), turn);
            let step = round_div(diff * i64::from(span.ahead), i64::from(span.between));
            (i64::from(v1) + step).rem_euclid(turn) as i32
        }
    }
}

/// The predicted value of a linear field from three baselines: the parabola through `v1`
/// (newest), `v2` (`span.between` ticks before it) and `v3` (`between3` ticks before that),
/// taken `span.ahead` ticks past `v1`, clamped to the field. Moving things that turn follow
/// it where a straight line cuts the corner.
pub(crate) fn predict_curved(
    spec: &FieldSpec,
    v1: i32,
    v2: i32,
    v3: i32,
    span: Span,
    between3: u32,
) -> i32 {
    let (a, d, e) = (
        i128::from(span.ahead),
        i128::from(span.between),
        i128::from(between3),
    );
    let (v1, v2, v3) = (i128::from(v1), i128::from(v2), i128::from(v3));
    let slope = round_div_wide((v1 - v2) * a, d);
    let bend = round_div_wide(
        ((v1 - v2) * e - (v2 - v3) * d) * a * (a + d),
        d * e * (d + e),
    );
    (v1 + slope + bend).clamp(i128::from(spec.min), i128::from(spec.max())) as i32
}

/// Predicts an entity's fields one after the other (see [`EntityPredictor::field`]),
/// working out a rotation's re-expressed baselines once for its three components.
#[derive(Debug, Default)]
pub(crate) struct EntityPredictor {
    /// The rotation group last framed.
    rotation: Option<Framed>,
    /// The entity's first linear field: its place, its prediction, and its step between
    /// the baselines (`v1 − v2`).
    lead: Option<(usize, i32, i64)>,
}

/// A lead residual (zigzagged) at least this large drags the later fields along with it.
const DRAG: u32 = 16;

/// A rotation group's baselines re-expressed in one frame.
#[derive(Debug, Clone, Copy)]
struct Framed {
    /// The group's index field.
    group: usize,
    /// The frame (the snapshot's rotation index).
    frame: i32,
    /// The newest baseline's three components in the frame.
    newest: [i32; 3],
    /// The older baseline's, if there is one.
    older: Option<[i32; 3]>,
}

impl EntityPredictor {
    /// The predicted value of field `i` of an entity of `specs`, from its values in the
    /// newest baseline (`base`), in the older one when it was there with the same kind
    /// (`older`), and the values of its fields before `i` in the snapshot being coded
    /// (`current`): a rotation component is predicted in the frame of the snapshot's own
    /// rotation index, each baseline re-expressed in that frame where its index differs
    /// ([`rotation::in_frame`]).
    ///
    /// `oldest` (the values in a third baseline and its ticks before the older one), when
    /// given, bends the prediction of linear fields ([`predict_curved`]).
    pub(crate) fn field(
        &mut self,
        specs: &[FieldSpec],
        i: usize,
        base: &[i32; MAX_FIELDS],
        older: Option<(&[i32; MAX_FIELDS], Span)>,
        oldest: Option<(&[i32; MAX_FIELDS], u32)>,
        current: &[i32; MAX_FIELDS],
    ) -> i32 {
        let at = |values: &[i32; MAX_FIELDS], j: usize| values.get(j).copied().unwrap_or(0);
        let Some(spec) = specs.get(i) else {
            return 0;
        };
        if matches!(spec.kind, FieldKind::Linear | FieldKind::Angle) {
            let p = match (spec.kind, older, oldest) {
                (FieldKind::Linear, Some((o, span)), Some((o3, between3))) => {
                    predict_curved(spec, at(base, i), at(o, i), at(o3, i), span, between3)
                }
                _ => predict(spec, at(base, i), older.map(|(o, span)| (at(o, i), span))),
            };
            let Some((o, _)) = older else { return p };
            let step = match spec.kind {
                FieldKind::Angle => wrap_signed(
                    i64::from(at(base, i)) - i64::from(at(o, i)),
                    1i64 << spec.bits,
                ),
                _ => i64::from(at(base, i)) - i64::from(at(o, i)),
            };
            return match self.lead {
                None if spec.kind == FieldKind::Linear => {
                    self.lead = Some((i, p, step));
                    p
                }
                Some((f, pf, sf)) if f < i && sf != 0 => {
                    let Some(lead_spec) = specs.get(f) else {
                        return p;
                    };
                    let miss = residual(lead_spec, at(current, f), pf);
                    if crate::bits::zigzag(miss) < DRAG {
                        return p;
                    }
                    // A stop or a change of speed moves every field along the entity's path:
                    // the lead field's miss, scaled by each field's share of the step.
                    let drag = round_div_wide(
                        i128::from(miss) * i128::from(step) * i128::from(sf.signum()),
                        i128::from(sf.abs()),
                    )
                    .clamp(i128::from(i32::MIN), i128::from(i32::MAX))
                        as i64;
                    match spec.kind {
                        FieldKind::Angle => {
                            (i64::from(p) + drag).rem_euclid(1i64 << spec.bits) as i32
                        }
                        _ => {
                            (i64::from(p) + drag).clamp(i64::from(spec.min), i64::from(spec.max()))
                                as i32
                        }
                    }
                }
                _ => p,
            };
        } else if spec.kind != FieldKind::RotationComponent {
            return predict(spec, at(base, i), older.map(|(o, span)| (at(o, i), span)));
        }
        // The group's index field; a schema guarantees one within the three fields before.
        let Some(g) = (i.saturating_sub(3)..i).rev().find(|&j| {
            specs
                .get(j)
                .is_some_and(|s| s.kind == FieldKind::RotationIndex)
        }) else {
            return at(base, i);
        };
        let frame = at(current, g);
        let (p1, p2) = match self.rotation {
            Some(f) if f.group == g && f.frame == frame => (f.newest, f.older),
            _ => {
                let (newest, older) = framed(g, frame, spec.bits, base, older.map(|(o, _)| o));
                self.rotation = Some(Framed {
                    group: g,
                    frame,
                    newest,
                    older,
                });
                (newest, older)
            }
        };
        let slot = i - g - 1;
        let component = |values: [i32; 3]| values.get(slot).copied().unwrap_or(0);
        predict(
            spec,
            component(p1),
            older.zip(p2).map(|((_, span), p2)| (component(p2), span)),
        )
    }
}

/// The three components of a rotation group (index field `g`) in each baseline, in frame
/// `frame`: the newest with that component made non-negative, the older one in the same
/// hemisphere as the newest, so the two stay close in every component even where the
/// frame's component is near zero.
fn framed(
    g: usize,
    frame: i32,
    bits: u8,
    base: &[i32; MAX_FIELDS],
    older: Option<&[i32; MAX_FIELDS]>,
) -> ([i32; 3], Option<[i32; 3]>) {
    let at = |values: &[i32; MAX_FIELDS], j: usize| values.get(j).copied().unwrap_or(0);
    let stored =
        |values: &[i32; MAX_FIELDS]| [at(values, g + 1), at(values, g + 2), at(values, g + 3)];
    let quaternion =
        |values: &[i32; MAX_FIELDS]| rotation::dequantize(at(values, g), stored(values), bits);
    let to_frame = frame.rem_euclid(4) as u8;
    let base_in_frame = at(base, g) == frame;
    let older_in_frame = older.is_none_or(|o| at(o, g) == frame);
    if base_in_frame && older_in_frame {
        return (stored(base), older.map(stored));
    }
    let q1 = quaternion(base);
    let p1 = if base_in_frame {
        stored(base)
    } else {
        rotation::in_frame(q1, to_frame, bits)
    };
    let toward = rotation::signed_for(q1, to_frame);
    let p2 = older.map(|o| rotation::in_frame_toward(quaternion(o), toward, to_frame, bits));
    (p1, p2)
}

/// The residual `actual − predicted`, wrapped for angles into `−turn/2 .. turn/2`.
pub(crate) fn residual(spec: &FieldSpec, actual: i32, predicted: i32) -> i32 {
    let diff = i64::from(actual) - i64::from(predicted);
    let diff = if spec.kind == FieldKind::Angle {
        wrap_signed(diff, 1i64 << spec.bits)
    } else {
        diff
    };
    // Both values lie in a field of at most 31 bits, so the difference fits an i32.
    diff.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The value a residual reconstructs, or `None` if it falls outside the field (a corrupt or
/// hostile message).
pub(crate) fn apply(spec: &FieldSpec, predicted: i32, residual: i32) -> Option<i32> {
    let value = i64::from(predicted) + i64::from(residual);
    match spec.kind {
        FieldKind::Angle => Some(value.rem_euclid(1i64 << spec.bits) as i32),
        FieldKind::Linear
        | FieldKind::Discrete
        | FieldKind::RotationIndex
        | FieldKind::RotationComponent => i32::try_from(value).ok().filter(|v| spec.contains(*v)),
    }
}

/// `a / b` rounded to nearest, halves toward +∞ (`b` > 0).
fn round_div(a: i64, b: i64) -> i64 {
    (a + b / 2).div_euclid(b)
}

/// [`round_div`] in 128 bits, for the parabola's products.
fn round_div_wide(a: i128, b: i128) -> i128 {
    (a + b / 2).div_euclid(b)
}

/// `v` wrapped into `−turn/2 .. turn/2`.
fn wrap_signed(v: i64, turn: i64) -> i64 {
    (v + turn / 2).rem_euclid(turn) - turn / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const X: FieldSpec = FieldSpec::linear("x", 16, 0);
    const A: FieldSpec = FieldSpec::angle("a", 12);
    const H: FieldSpec = FieldSpec::discrete("h", 8, 0);

    #[test]
    fn straight_lines_extrapolate_exactly() {
        let span = Span {
            ahead: 4,
            between: 2,
        };
        // Moving +10 per tick: 100 at b2, 120 at b1, 160 four ticks later.
        assert_eq!(predict(&X, 120, Some((100, span))), 160);
        assert_eq!(predict(&X, 120, None), 120);
        assert_eq!(predict(&H, 50, Some((75, span))), 50);
        // Clamped to the field.
        assert_eq!(predict(&X, 65_530, Some((65_000, span))), 65_535);
    }

    #[test]
    fn angles_extrapolate_across_the_wrap() {
        let span = Span {
            ahead: 2,
            between: 1,
        };
        // 4090 → 4094 is +4 per tick; two ticks on is 4102 ≡ 6.
        assert_eq!(predict(&A, 4094, Some((4090, span))), 6);
        assert_eq!(residual(&A, 2, 6), -4);
        assert_eq!(residual(&A, 4095, 1), -2);
        assert_eq!(apply(&A, 1, -2), Some(4095));
    }

    #[test]
    fn out_of_range_reconstructions_are_refused() {
        assert_eq!(apply(&X, 10, -11), None);
        assert_eq!(apply(&H, 250, 6), None);
        assert_eq!(apply(&X, 10, i32::MAX), None);
    }

    #[test]
    fn turning_paths_extrapolate_along_the_parabola() {
        let span = Span {
            ahead: 4,
            between: 2,
        };
        // x = 1000 + t² at t = −8, −6, −4: at t = 0 the parabola gives 1000 exactly, where
        // a straight line through the two newest gives 976.
        let at = |t: i32| 1000 + t * t;
        assert_eq!(predict_curved(&X, at(-4), at(-6), at(-8), span, 2), at(0));
        assert_eq!(predict(&X, at(-4), Some((at(-6), span))), 976);
        // Unequal spacing: t = −4, −6, −9.
        assert_eq!(predict_curved(&X, at(-4), at(-6), at(-9), span, 3), at(0));
        // A straight line stays straight.
        assert_eq!(predict_curved(&X, 120, 100, 80, span, 2), 160);
        // Clamped to the field.
        assert_eq!(predict_curved(&X, 65_000, 60_000, 56_000, span, 2), 65_535);
    }

    #[test]
    fn a_stop_drags_the_later_fields_along_with_the_first() {
        let y = FieldSpec::linear("y", 16, 0);
        let specs = [X, y, A];
        let span = Span {
            ahead: 4,
            between: 2,
        };
        // Moving +10, +5 and +2 steps per tick; stopped since b1, so x misses by −40.
        let mut b1 = [0; MAX_FIELDS];
        b1[..3].copy_from_slice(&[1000, 2000, 100]);
        let mut b2 = [0; MAX_FIELDS];
        b2[..3].copy_from_slice(&[980, 1990, 96]);
        let mut now = b1;
        let mut p = EntityPredictor::default();
        assert_eq!(p.field(&specs, 0, &b1, Some((&b2, span)), None, &now), 1040);
        // y: straight on would be 2020; dragged by −40 · 10/20 = −20 back to where it stopped.
        assert_eq!(p.field(&specs, 1, &b1, Some((&b2, span)), None, &now), 2000);
        assert_eq!(p.field(&specs, 2, &b1, Some((&b2, span)), None, &now), 100);
        // A small miss (noise) drags nothing.
        now[0] = 1043;
        let mut p = EntityPredictor::default();
        p.field(&specs, 0, &b1, Some((&b2, span)), None, &now);
        assert_eq!(p.field(&specs, 1, &b1, Some((&b2, span)), None, &now), 2020);
    }

    proptest! {
        #[test]
        fn curved_residuals_reconstruct_exactly(v1 in 0i32..65_536, v2 in 0i32..65_536, v3 in 0i32..65_536, actual in 0i32..65_536, ahead in 1u32..64, between in 1u32..64, between3 in 1u32..64) {
            let p = predict_curved(&X, v1, v2, v3, Span { ahead, between }, between3);
            prop_assert!(X.contains(p));
            prop_assert_eq!(apply(&X, p, residual(&X, actual, p)), Some(actual));
        }

        #[test]
        fn residuals_reconstruct_exactly(v1 in 0i32..65_536, v2 in 0i32..65_536, actual in 0i32..65_536, ahead in 1u32..64, between in 1u32..64) {
            for spec in [X, FieldSpec::angle("a", 16), FieldSpec::discrete("d", 16, 0)] {
                let p = predict(&spec, v1, Some((v2, Span { ahead, between })));
                prop_assert!(spec.contains(p));
                let r = residual(&spec, actual, p);
                prop_assert_eq!(apply(&spec, p, r), Some(actual));
            }
        }
    }
}
