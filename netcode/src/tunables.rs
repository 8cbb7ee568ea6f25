//! A game's tunables as the welcome carries them: a flat list of dotted keys and plain
//! values that a client in any language can read (`docs/protocol.md`, section 3.4), made
//! from and back into any serde configuration.
//!
//! A struct's fields become keys joined by `.` (`max_speed_mps`, `obstacles.0.x_m`: an
//! array's elements by their index); each leaf is a [`Value`]. An empty array is listed as
//! [`Value::EmptyList`] so that it survives the trip.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Most tunables one welcome may carry.
pub const MAX_TUNABLES: usize = 4096;
/// Longest key (bytes).
pub const MAX_KEY_BYTES: usize = 128;

/// One tunable: a dotted key and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tunable {
    /// The dotted path of the value in the game's configuration.
    pub key: String,
    /// The value.
    pub value: Value,
}

/// A tunable's value. On the wire: the variant index (0..=4), then its content in the codec
/// of `docs/protocol.md` section 5 (a float is 8 bytes, IEEE 754 binary64, little-endian).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// true or false.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Text(String),
    /// An array with no element.
    EmptyList,
}

/// A configuration that cannot be listed as tunables, or tunables that do not make one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunablesError {
    /// The configuration is not a struct of numbers, booleans, text and arrays of them.
    #[error("cannot list the configuration as tunables: {0}")]
    Shape(String),
    /// The tunables do not make the configuration (a key missing, a wrong type).
    #[error("the tunables do not make a configuration: {0}")]
    Config(String),
    /// Too many tunables, or a key too long.
    #[error("tunables over the limit: {0}")]
    TooLarge(&'static str),
}

/// `config` as tunables, keys in the order its fields are declared.
///
/// # Errors
/// [`TunablesError::Shape`] for a configuration with maps keyed by other than text, or
/// with nulls.
pub fn flatten<T: Serialize>(config: &T) -> Result<Vec<Tunable>, TunablesError> {
    let value = serde_json::to_value(config).map_err(|e| TunablesError::Shape(e.to_string()))?;
    let mut out = Vec::new();
    walk(&value, &mut String::new(), &mut out)?;
    Ok(out)
}

fn walk(
    value: &serde_json::Value,
    key: &mut String,
    out: &mut Vec<Tunable>,
) -> Result<(), TunablesError> {
    use serde_json::Value as J;
    let leaf = |v| Tunable {
        key: key.clone(),
        value: v,
    };
    match value {
        J::Bool(b) => out.push(leaf(Value::Bool(*b))),
        J::Number(n) => out.push(leaf(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(f)) => Value::Float(f),
            (None, None) => return Err(TunablesError::Shape(format!("{key}: {n}"))),
        })),
        J::String(s) => out.push(leaf(Value::Text(s.clone()))),
        J::Array(items) if items.is_empty() => out.push(leaf(Value::EmptyList)),
        J::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nested(key, &i.to_string(), |key| walk(item, key, out))?;
            }
        }
        J::Object(fields) => {
            for (name, item) in fields {
                nested(key, name, |key| walk(item, key, out))?;
            }
        }
        J::Null => return Err(TunablesError::Shape(format!("{key} is null"))),
    }
    Ok(())
}

/// Runs `f` with `key` extended by `.name` (or `name` at the top), then restores it.
fn nested<R>(key: &mut String, name: &str, f: impl FnOnce(&mut String) -> R) -> R {
    let len = key.len();
    if !key.is_empty() {
        key.push('.');
    }
    key.push_str(name);
    let result = f(key);
    key.truncate(len);
    result
}

/// The configuration `tunables` list.
///
/// # Errors
/// [`TunablesError::Config`] when they do not make a `T`; [`TunablesError::TooLarge`] past
/// [`MAX_TUNABLES`] or [`MAX_KEY_BYTES`].
pub fn unflatten<T: DeserializeOwned>(tunables: &[Tunable]) -> Result<T, TunablesError> {
    use serde_json::Value as J;
    if tunables.len() > MAX_TUNABLES {
        return Err(TunablesError::TooLarge("more tunables than allowed"));
    }
    let mut root = J::Object(serde_json::Map::new());
    for t in tunables {
        if t.key.len() > MAX_KEY_BYTES {
            return Err(TunablesError::TooLarge("a key longer than allowed"));
        }
        let leaf = match &t.value {
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| TunablesError::Config(format!("{} is not finite", t.key)))?,
            Value::Text(s) => J::String(s.clone()),
            Value::EmptyList => J::Array(Vec::new()),
        };
        insert(&mut root, &t.key, leaf)
            .ok_or_else(|| TunablesError::Config(format!("{} clashes with another key", t.key)))?;
    }
    serde_json::from_value(root).map_err(|e| TunablesError::Config(e.to_string()))
}

/// Puts `leaf` at the dotted `key` under `root`, making objects (or arrays, for numeric
/// segments) on the way; `None` when the key runs through a leaf or skips array places.
fn insert(root: &mut serde_json::Value, key: &str, leaf: serde_json::Value) -> Option<()> {
    use serde_json::Value as J;
    let mut at = root;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let next_is_index = segments.peek().is_some_and(|s| s.parse::<usize>().is_ok());
        let make = || {
            if last {
                J::Null
            } else if next_is_index {
                J::Array(Vec::new())
            } else {
                J::Object(serde_json::Map::new())
            }
        };
        at = match at {
            J::Object(map) => map.entry(segment.to_owned()).or_insert_with(make),
            J::Array(items) => {
                let i: usize = segment.parse().ok()?;
                if i == items.len() {
                    items.push(make());
                }
                items.get_mut(i)?
            }
            _ => return None,
        };
    }
    *at = leaf;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Wall {
        x_m: f32,
        solid: bool,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Config {
        seed: u64,
        speed_mps: f32,
        name: String,
        walls: Vec<Wall>,
        none: Vec<Wall>,
        ticks: Vec<u32>,
    }

    #[test]
    fn any_config_round_trips_through_flat_keys() {
        let config = Config {
            seed: 7,
            speed_mps: 6.5,
            name: "arena".into(),
            walls: vec![
                Wall {
                    x_m: 1.5,
                    solid: true,
                },
                Wall {
                    x_m: -2.0,
                    solid: false,
                },
            ],
            none: vec![],
            ticks: vec![3, 4],
        };
        let flat = flatten(&config).unwrap();
        let keys: Vec<&str> = flat.iter().map(|t| t.key.as_str()).collect();
        assert!(keys.contains(&"walls.1.x_m"), "{keys:?}");
        assert!(keys.contains(&"ticks.0"), "{keys:?}");
        let none = flat.iter().find(|t| t.key == "none").unwrap();
        assert_eq!(none.value, Value::EmptyList);
        let seed = flat.iter().find(|t| t.key == "seed").unwrap();
        assert_eq!(seed.value, Value::Int(7));
        assert_eq!(unflatten::<Config>(&flat).unwrap(), config);
        // Through the wire codec too.
        let bytes = crate::codec::encode(&flat).unwrap();
        let back: Vec<Tunable> = crate::codec::decode(&bytes).unwrap();
        assert_eq!(unflatten::<Config>(&back).unwrap(), config);
    }

    #[test]
    fn tunables_that_make_no_config_say_why() {
        let mut flat = flatten(&Config {
            seed: 1,
            speed_mps: 1.0,
            name: String::new(),
            walls: vec![],
            none: vec![],
            ticks: vec![],
        })
        .unwrap();
        flat.retain(|t| t.key != "seed");
        assert!(matches!(
            unflatten::<Config>(&flat),
            Err(TunablesError::Config(_))
        ));
        // A key through a leaf, an index that skips places, a float that is not one.
        for bad in [
            vec![
                Tunable {
                    key: "a".into(),
                    value: Value::Int(1),
                },
                Tunable {
                    key: "a.b".into(),
                    value: Value::Int(2),
                },
            ],
            vec![Tunable {
                key: "list.3".into(),
                value: Value::Int(1),
            }],
            vec![Tunable {
                key: "f".into(),
                value: Value::Float(f64::NAN),
            }],
        ] {
            assert!(unflatten::<serde_json::Value>(&bad).is_err(), "{bad:?}");
        }
    }
}
