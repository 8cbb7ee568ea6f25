//! Rotations as *smallest three*: a unit quaternion `(x, y, z, w)` sent as the index of its
//! largest component (2 bits) and the other three, each within ±1/√2, quantized to `bits`
//! bits. `q` and `−q` are the same rotation, so the largest component is made positive and
//! rebuilt as `√(1 − a² − b² − c²)`.
//!
//! A schema marks such a group with [`FieldKind::RotationIndex`] followed by three
//! [`FieldKind::RotationComponent`] fields, and the delta coder then predicts the components
//! in the frame of the snapshot's own largest index ([`in_frame`]), so a rotation whose
//! largest component changes costs no more than one whose does not. Every client must get
//! the same integers as the server: the arithmetic is IEEE 754 binary64 in the order written
//! here, and rounding is `floor(x + 0.5)` (`docs/protocol.md`, section 6.6, spells it out
//! for other languages).
//!
//! [`FieldKind::RotationIndex`]: crate::schema::FieldKind::RotationIndex
//! [`FieldKind::RotationComponent`]: crate::schema::FieldKind::RotationComponent

use std::f64::consts::SQRT_2;

/// Bits of the largest component's index.
pub const INDEX_BITS: u8 = 2;

/// The largest value of a `bits`-bit component.
fn top(bits: u8) -> f64 {
    f64::from((1u32 << bits.clamp(1, 30)) - 1)
}

/// A component in ±1 (after scaling by √2) to its quantized value, clamped to the field.
fn quantize_unit(unit: f64, bits: u8) -> i32 {
    let max = top(bits);
    ((unit + 1.0) / 2.0 * max + 0.5).floor().clamp(0.0, max) as i32
}

/// A quantized component back to the quaternion's scale (±1/√2).
fn dequantize_component(value: i32, bits: u8) -> f64 {
    (f64::from(value) / top(bits) * 2.0 - 1.0) / SQRT_2
}

/// Quantizes the unit quaternion `q = [x, y, z, w]`: the index of its largest component
/// (the first on ties) and the other three, in order, with the largest made positive.
#[must_use]
pub fn quantize(q: [f64; 4], bits: u8) -> (u8, [i32; 3]) {
    let mut largest = 0;
    let mut big = 0.0_f64;
    for (i, &c) in q.iter().enumerate() {
        if c.abs() > big.abs() {
            largest = i;
            big = c;
        }
    }
    (
        largest as u8,
        in_frame_signed(q, largest as u8, big < 0.0, bits),
    )
}

/// The three components of `q` other than `largest`, in order, quantized as if `largest`
/// were the dropped one (`q` negated when that component is negative). Outside ±1/√2 a
/// component is clamped: this is for prediction, which only needs to be close.
#[must_use]
pub fn in_frame(q: [f64; 4], largest: u8, bits: u8) -> [i32; 3] {
    let negative = q.get(usize::from(largest)).is_some_and(|c| *c < 0.0);
    in_frame_signed(q, largest, negative, bits)
}

/// [`in_frame`] for a rotation taken in the hemisphere of `toward` (negated when their dot
/// product is negative) instead of by the sign of its own `largest` component: two
/// rotations that are close stay close in every component, even where that component is
/// near zero and its sign flips.
#[must_use]
pub fn in_frame_toward(q: [f64; 4], toward: [f64; 4], largest: u8, bits: u8) -> [i32; 3] {
    let dot = q[0] * toward[0] + q[1] * toward[1] + q[2] * toward[2] + q[3] * toward[3];
    in_frame_signed(q, largest, dot < 0.0, bits)
}

/// `q` with the sign that makes its `largest` component non-negative.
#[must_use]
pub fn signed_for(q: [f64; 4], largest: u8) -> [f64; 4] {
    if q.get(usize::from(largest)).is_some_and(|c| *c < 0.0) {
        q.map(|c| -c)
    } else {
        q
    }
}

fn in_frame_signed(q: [f64; 4], largest: u8, negate: bool, bits: u8) -> [i32; 3] {
    let sign = if negate { -1.0 } else { 1.0 };
    let mut out = [0; 3];
    let mut slots = out.iter_mut();
    for (i, &c) in q.iter().enumerate() {
        if i == usize::from(largest) {
            continue;
        }
        if let Some(slot) = slots.next() {
            *slot = quantize_unit(sign * c * SQRT_2, bits);
        }
    }
    out
}

/// The unit quaternion `[x, y, z, w]` a largest index and three components encode (the
/// index is taken modulo 4).
#[must_use]
pub fn dequantize(largest: i32, components: [i32; 3], bits: u8) -> [f64; 4] {
    let [a, b, c] = components.map(|v| dequantize_component(v, bits));
    let big = (1.0 - (a * a + b * b + c * c)).max(0.0).sqrt();
    match largest.rem_euclid(4) {
        0 => [big, a, b, c],
        1 => [a, big, b, c],
        2 => [a, b, big, c],
        _ => [a, b, c, big],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(q: [f64; 4]) -> [f64; 4] {
        let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
        q.map(|c| c / n)
    }

    fn angle_between(a: [f64; 4], b: [f64; 4]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        2.0 * dot.abs().min(1.0).acos()
    }

    #[test]
    fn nine_bits_keep_a_rotation_within_a_fraction_of_a_degree() {
        let mut worst = 0.0_f64;
        for i in 0..5000 {
            let t = f64::from(i) * 0.731;
            let q = unit([t.sin(), (t * 1.7).cos(), (t * 0.37).sin(), (t * 2.3).cos()]);
            let (l, c) = quantize(q, 9);
            worst = worst.max(angle_between(q, dequantize(i32::from(l), c, 9)));
        }
        assert!(worst.to_degrees() < 0.5, "{}°", worst.to_degrees());
    }

    #[test]
    fn a_rotation_requantized_in_its_own_frame_is_unchanged() {
        for i in 0..2000 {
            let t = f64::from(i) * 0.311;
            let q = unit([(t * 0.9).cos(), t.sin(), (t * 1.3).sin(), (t * 0.5).cos()]);
            let (l, c) = quantize(q, 9);
            let back = dequantize(i32::from(l), c, 9);
            assert_eq!(in_frame(back, l, 9), c, "{q:?}");
        }
    }

    #[test]
    fn another_frame_names_the_same_rotation_closely() {
        // Near the switch between x and w being largest.
        let q = unit([0.70, 0.1, -0.05, 0.705]);
        let (l, c) = quantize(q, 9);
        let other = if l == 0 { 3 } else { 0 };
        let moved = in_frame(dequantize(i32::from(l), c, 9), other, 9);
        let again = dequantize(i32::from(other), moved, 9);
        assert!(angle_between(q, again).to_degrees() < 0.5);
    }

    #[test]
    fn minus_q_is_q() {
        let q = unit([0.2, -0.6, 0.3, 0.7]);
        assert_eq!(quantize(q, 9), quantize(q.map(|c| -c), 9));
    }
}
