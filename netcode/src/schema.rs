//! What a game replicates: entity kinds, their quantized fields, and how each field predicts.
//!
//! The netcode never names a game type. A game describes its replicated state as a
//! [`Schema`] — kinds of entity, each a short list of integer fields — and hands the server
//! one [`NetEntity`] per entity per snapshot tick. Quantizing (metres to 1/512 m steps,
//! angles to 1/4096 turn …) is the game's job and happens before the netcode sees a value,
//! so the server and client agree exactly on what the client sees.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Most fields an entity kind may have.
pub const MAX_FIELDS: usize = 8;
/// Most entity kinds a schema may have.
pub const MAX_KINDS: usize = 16;
/// Most bits a field may have.
pub const MAX_FIELD_BITS: u8 = 31;

/// How a field behaves over time, which decides how the delta coder predicts it. On the wire
/// (in a [`SchemaDescription`]) its variant index: 0 linear, 1 angle, 2 discrete, 3 rotation
/// index, 4 rotation component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// A coordinate that moves smoothly: predicted by linear extrapolation from the two
    /// newest baselines the client holds. Values outside the field's range are an error.
    Linear,
    /// An angle on a circle of `2^bits` steps: predicted like `Linear`, arithmetic wraps.
    Angle,
    /// A value that jumps (health, flags, a state enum): predicted to stay as it was.
    Discrete,
    /// The index (0..=3: x, y, z, w) of a smallest-three rotation's dropped component
    /// ([`crate::rotation`]): 2 bits, predicted to stay as it was. Three
    /// [`RotationComponent`](Self::RotationComponent) fields follow it.
    RotationIndex,
    /// One of a smallest-three rotation's three components, in the order x, y, z, w without
    /// the dropped one. Predicted like `Linear`, but in the frame of the snapshot's own
    /// rotation index: a baseline whose index differs is first re-expressed in it.
    RotationComponent,
}

/// One quantized field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Name, for docs, errors and clients that display it.
    pub name: Cow<'static, str>,
    /// How it predicts.
    pub kind: FieldKind,
    /// Width of the absolute value on the wire (1..=31 bits).
    pub bits: u8,
    /// Smallest value; the field holds `min ..= min + 2^bits − 1` (0 for angles).
    pub min: i32,
    /// What one step is worth: a client shows `offset + value × scale` (in `unit`).
    pub scale: f64,
    /// Added after scaling.
    pub offset: f64,
    /// The unit of `offset + value × scale` ("m", "rad", "m/s"; empty for a plain count).
    pub unit: Cow<'static, str>,
}

impl FieldSpec {
    /// A smoothly moving coordinate of `bits` bits starting at `min`.
    #[must_use]
    pub const fn linear(name: &'static str, bits: u8, min: i32) -> Self {
        Self::new(name, FieldKind::Linear, bits, min, 1.0, "")
    }

    /// An angle with `2^bits` steps per turn (a step is worth `2π / 2^bits` radians).
    #[must_use]
    pub const fn angle(name: &'static str, bits: u8) -> Self {
        let step = std::f64::consts::TAU / (1u64 << bits) as f64;
        Self::new(name, FieldKind::Angle, bits, 0, step, "rad")
    }

    /// A value that changes in jumps, of `bits` bits starting at `min`.
    #[must_use]
    pub const fn discrete(name: &'static str, bits: u8, min: i32) -> Self {
        Self::new(name, FieldKind::Discrete, bits, min, 1.0, "")
    }

    /// A rotation as smallest three ([`crate::rotation`]): the dropped component's index,
    /// then the three components of `bits` bits each (their scale and offset give the
    /// component's value, within ±1/√2). Named `{name}_largest`, `{name}_a`, `_b`, `_c`.
    #[must_use]
    pub fn rotation(name: &str, bits: u8) -> [Self; 4] {
        let step = std::f64::consts::SQRT_2 / f64::from((1u32 << bits.clamp(1, 30)) - 1);
        let component = |suffix: &str| Self {
            name: Cow::Owned(format!("{name}_{suffix}")),
            kind: FieldKind::RotationComponent,
            bits,
            min: 0,
            scale: step,
            offset: -std::f64::consts::FRAC_1_SQRT_2,
            unit: Cow::Borrowed(""),
        };
        [
            Self {
                name: Cow::Owned(format!("{name}_largest")),
                kind: FieldKind::RotationIndex,
                bits: crate::rotation::INDEX_BITS,
                min: 0,
                scale: 1.0,
                offset: 0.0,
                unit: Cow::Borrowed(""),
            },
            component("a"),
            component("b"),
            component("c"),
        ]
    }

    const fn new(
        name: &'static str,
        kind: FieldKind,
        bits: u8,
        min: i32,
        scale: f64,
        unit: &'static str,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            kind,
            bits,
            min,
            scale,
            offset: 0.0,
            unit: Cow::Borrowed(unit),
        }
    }

    /// This field with each step worth `scale` `unit`s, offset by `offset`.
    #[must_use]
    pub fn scaled(self, scale: f64, offset: f64, unit: &'static str) -> Self {
        Self {
            scale,
            offset,
            unit: Cow::Borrowed(unit),
            ..self
        }
    }

    /// A quantized value in the field's unit.
    #[must_use]
    pub fn to_unit(&self, value: i32) -> f64 {
        self.offset + f64::from(value) * self.scale
    }

    /// The largest value the field holds.
    #[must_use]
    pub fn max(&self) -> i32 {
        let span = (1i64 << self.bits) - 1;
        i32::try_from(i64::from(self.min) + span).unwrap_or(i32::MAX)
    }

    /// Whether `value` fits the field.
    #[must_use]
    pub fn contains(&self, value: i32) -> bool {
        (self.min..=self.max()).contains(&value)
    }

    /// `value` brought into the field: clamped for linear and discrete fields, wrapped for
    /// angles.
    #[must_use]
    pub fn fit(&self, value: i32) -> i32 {
        match self.kind {
            FieldKind::Angle => value.rem_euclid(1 << self.bits),
            FieldKind::Linear
            | FieldKind::Discrete
            | FieldKind::RotationIndex
            | FieldKind::RotationComponent => value.clamp(self.min, self.max()),
        }
    }
}

/// Rotation groups must be whole: a 2-bit rotation index from 0, then three components of
/// equal width (2..=16 bits) from 0, and no component outside such a group.
fn check_rotations(fields: &[FieldSpec]) -> Result<(), ConfigError> {
    let mut i = 0;
    while let Some(field) = fields.get(i) {
        match field.kind {
            FieldKind::RotationIndex => {
                let group = fields.get(i + 1..i + 4).unwrap_or_default();
                let bits = group.first().map_or(0, |c| c.bits);
                let whole = field.bits == crate::rotation::INDEX_BITS
                    && field.min == 0
                    && group.len() == 3
                    && (2..=16).contains(&bits)
                    && group.iter().all(|c| {
                        c.kind == FieldKind::RotationComponent && c.bits == bits && c.min == 0
                    });
                if !whole {
                    return Err(ConfigError::invalid(
                        &field.name,
                        "a rotation index",
                        "needs 2 bits from 0, then three rotation components of 2..=16 bits \
                         each, from 0",
                    ));
                }
                i += 4;
            }
            FieldKind::RotationComponent => {
                return Err(ConfigError::invalid(
                    &field.name,
                    "a rotation component",
                    "must follow a rotation index (three in a row)",
                ));
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// One kind of entity and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSpec {
    /// Name, for docs, errors and clients that display it.
    pub name: Cow<'static, str>,
    /// Its fields, in wire order (at most [`MAX_FIELDS`]).
    pub fields: Vec<FieldSpec>,
}

/// Every replicated kind, plus the private fields only the controlling client receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    kinds: Vec<KindSpec>,
    own: Vec<FieldSpec>,
    kind_bits: u32,
}

impl Schema {
    /// A schema of `kinds` (indexed by position) and `own` fields sent only to a player
    /// about their own entity (velocity, cooldowns … what prediction needs).
    ///
    /// # Errors
    /// [`ConfigError`] if there are no kinds or more than [`MAX_KINDS`], a kind has more than
    /// [`MAX_FIELDS`] fields, or a field is wider than [`MAX_FIELD_BITS`] or zero bits.
    pub fn new(kinds: Vec<KindSpec>, own: Vec<FieldSpec>) -> Result<Self, ConfigError> {
        if kinds.is_empty() || kinds.len() > MAX_KINDS {
            return Err(ConfigError::invalid(
                "schema.kinds",
                kinds.len(),
                format!("need 1..={MAX_KINDS} kinds"),
            ));
        }
        for kind in &kinds {
            if kind.fields.len() > MAX_FIELDS {
                return Err(ConfigError::invalid(
                    &kind.name,
                    kind.fields.len(),
                    format!("at most {MAX_FIELDS} fields"),
                ));
            }
        }
        if own.len() > MAX_FIELDS {
            return Err(ConfigError::invalid(
                "schema.own",
                own.len(),
                format!("at most {MAX_FIELDS} fields"),
            ));
        }
        for field in kinds.iter().flat_map(|k| &k.fields).chain(&own) {
            if field.bits == 0 || field.bits > MAX_FIELD_BITS {
                return Err(ConfigError::invalid(
                    &field.name,
                    field.bits,
                    format!("bits must be 1..={MAX_FIELD_BITS}"),
                ));
            }
        }
        for fields in kinds.iter().map(|k| &k.fields).chain([&own]) {
            check_rotations(fields)?;
        }
        let kind_bits = usize::BITS - (kinds.len() - 1).leading_zeros();
        Ok(Self {
            kinds,
            own,
            kind_bits,
        })
    }

    /// The kinds, indexed by kind number.
    #[must_use]
    pub fn kinds(&self) -> &[KindSpec] {
        &self.kinds
    }

    /// One kind's fields, if the kind exists.
    #[must_use]
    pub fn fields(&self, kind: u8) -> Option<&[FieldSpec]> {
        self.kinds
            .get(usize::from(kind))
            .map(|k| k.fields.as_slice())
    }

    /// The private fields of a player's own entity.
    #[must_use]
    pub fn own(&self) -> &[FieldSpec] {
        &self.own
    }

    /// Bits a kind number takes on the wire.
    #[must_use]
    pub fn kind_bits(&self) -> u32 {
        self.kind_bits
    }

    /// The schema as a client is told it (in the welcome): every kind and field, owned and
    /// serializable.
    #[must_use]
    pub fn describe(&self) -> SchemaDescription {
        let field = |f: &FieldSpec| FieldDescription {
            name: f.name.to_string(),
            kind: f.kind,
            bits: f.bits,
            min: f.min,
            scale: f.scale,
            offset: f.offset,
            unit: f.unit.to_string(),
        };
        SchemaDescription {
            kinds: self
                .kinds
                .iter()
                .map(|k| KindDescription {
                    name: k.name.to_string(),
                    fields: k.fields.iter().map(field).collect(),
                })
                .collect(),
            own: self.own.iter().map(field).collect(),
        }
    }

    /// The schema a description gives (a client building its decoder from the welcome).
    ///
    /// # Errors
    /// [`ConfigError`] as [`Schema::new`] says, or for a scale that is not finite and
    /// non-zero, or names longer than [`MAX_NAME_BYTES`].
    pub fn from_description(description: &SchemaDescription) -> Result<Self, ConfigError> {
        let field = |f: &FieldDescription| {
            if !(f.scale.is_finite() && f.scale != 0.0 && f.offset.is_finite()) {
                return Err(ConfigError::invalid(
                    &f.name,
                    f.scale,
                    "scale must be finite and non-zero, offset finite",
                ));
            }
            if f.name.len() > MAX_NAME_BYTES || f.unit.len() > MAX_NAME_BYTES {
                return Err(ConfigError::invalid(
                    &f.name,
                    f.name.len(),
                    format!("names and units are at most {MAX_NAME_BYTES} bytes"),
                ));
            }
            Ok(FieldSpec {
                name: Cow::Owned(f.name.clone()),
                kind: f.kind,
                bits: f.bits,
                min: f.min,
                scale: f.scale,
                offset: f.offset,
                unit: Cow::Owned(f.unit.clone()),
            })
        };
        let kinds = description
            .kinds
            .iter()
            .map(|k| {
                Ok(KindSpec {
                    name: Cow::Owned(k.name.clone()),
                    fields: k.fields.iter().map(field).collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let own = description
            .own
            .iter()
            .map(field)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(kinds, own)
    }

    /// Total number of fields across kinds: the size of a per-field table.
    #[must_use]
    pub fn field_slots(&self) -> usize {
        self.kinds.iter().map(|k| k.fields.len()).sum()
    }

    /// The first table slot of `kind`'s fields.
    #[must_use]
    pub fn slot_base(&self, kind: u8) -> usize {
        self.kinds
            .iter()
            .take(usize::from(kind))
            .map(|k| k.fields.len())
            .sum()
    }
}

/// Longest name of a kind, field or unit in a [`SchemaDescription`] (bytes).
pub const MAX_NAME_BYTES: usize = 64;

/// A [`Schema`] as the welcome carries it to a client: enough to decode every snapshot of
/// the game with no code of the game's (`docs/protocol.md`, section 3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaDescription {
    /// The entity kinds, by kind number.
    pub kinds: Vec<KindDescription>,
    /// The private fields a player receives about its own entity.
    pub own: Vec<FieldDescription>,
}

/// One kind of entity in a [`SchemaDescription`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindDescription {
    /// Its name.
    pub name: String,
    /// Its fields, in wire order.
    pub fields: Vec<FieldDescription>,
}

/// One field in a [`SchemaDescription`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDescription {
    /// Its name.
    pub name: String,
    /// How the delta coder predicts it.
    pub kind: FieldKind,
    /// Its width on the wire (bits).
    pub bits: u8,
    /// Its smallest value.
    pub min: i32,
    /// What one step is worth (in `unit`).
    pub scale: f64,
    /// Added after scaling.
    pub offset: f64,
    /// The unit.
    pub unit: String,
}

/// An entity's quantized state: its kind and the values of that kind's fields.
///
/// Fields past the kind's count are zero, so equality compares only meaningful values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EntityState {
    /// Kind number (index into [`Schema::kinds`]).
    pub kind: u8,
    /// Field values, in the kind's order.
    pub fields: [i32; MAX_FIELDS],
}

/// One replicated entity at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetEntity {
    /// Network index: small, dense, reused after removal (e.g. a slot index).
    pub index: u32,
    /// Incarnation of this index; a new entity in a reused slot has a new `uid`, so the
    /// server sends it as created rather than as a delta. Never sent on the wire.
    pub uid: u32,
    /// The quantized state.
    pub state: EntityState,
}

/// A game's world, as the server's snapshot machinery sees it.
pub trait Replicate {
    /// Appends every replicated entity's quantized state, sorted by ascending index.
    fn replicate(&self, out: &mut Vec<NetEntity>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_fit_their_ranges() {
        let x = FieldSpec::linear("x", 16, 0);
        assert_eq!(x.max(), 65_535);
        assert_eq!(x.fit(-5), 0);
        assert_eq!(x.fit(70_000), 65_535);
        let aim = FieldSpec::angle("aim", 12);
        assert_eq!(aim.fit(-1), 4095);
        assert_eq!(aim.fit(4096 + 7), 7);
        let v = FieldSpec::linear("vx", 17, -65_536);
        assert!(v.contains(-65_536) && v.contains(65_535) && !v.contains(65_536));
    }

    #[test]
    fn schemas_are_bounded() {
        let kind = |n: usize| KindSpec {
            name: "k".into(),
            fields: vec![FieldSpec::discrete("f", 8, 0); n],
        };
        assert!(Schema::new(vec![], vec![]).is_err());
        assert!(Schema::new(vec![kind(MAX_FIELDS + 1)], vec![]).is_err());
        assert!(Schema::new(vec![kind(2); MAX_KINDS + 1], vec![]).is_err());
        let wide = KindSpec {
            name: "w".into(),
            fields: vec![FieldSpec::linear("x", 32, 0)],
        };
        assert!(Schema::new(vec![wide], vec![]).is_err());
        let schema = Schema::new(vec![kind(3), kind(2), kind(1)], vec![]).unwrap();
        assert_eq!(schema.kind_bits(), 2);
        assert_eq!(schema.field_slots(), 6);
        assert_eq!(schema.slot_base(2), 5);
        assert_eq!(Schema::new(vec![kind(1)], vec![]).unwrap().kind_bits(), 0);
    }
}
