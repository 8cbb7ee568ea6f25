//! Layering: the embedded default, then files, then single-key overrides.
//!
//! Layers merge as TOML tables (a later layer's value replaces an earlier one's, key by key;
//! arrays are replaced whole). Every value remembers which layer set it, so an error can say
//! "set in my.toml" or "set by --tick-hz" instead of leaving the designer to guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tickwire_netcode::ConfigError;
use tickwire_netcode::game::GameConfig;
use toml::{Table, Value};

use super::{DEFAULT_TOML, ServerConfig};

/// What the embedded default layer is called in messages.
const DEFAULT_ORIGIN: &str = "the embedded default";

/// A configuration that could not be loaded; every variant says where the problem came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigLoadError {
    /// A config file could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed (said in the message, so not a separate cause).
        error: std::io::Error,
    },
    /// A layer is not valid TOML.
    #[error("{origin} is not valid TOML: {message}")]
    Syntax {
        /// The file or flag.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A `key=value` override that cannot be applied.
    #[error("cannot apply `{assignment}` from {origin}: {reason}")]
    Override {
        /// The override as given.
        assignment: String,
        /// The flag it came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An unknown key, or a value of the wrong type.
    #[error("`{key}` (set in {origin}): {message}")]
    Shape {
        /// The dotted key.
        key: String,
        /// The layer that set it.
        origin: String,
        /// What is wrong, with what was expected.
        message: String,
    },
    /// A value of the right type but outside its range, or breaking a rule between keys.
    #[error("{error} (set in {origin})")]
    Invalid {
        /// The layer that set the offending key.
        origin: String,
        /// The key, value and allowed range.
        error: ConfigError,
    },
}

impl ConfigLoadError {
    /// The dotted key at fault, when the error is about one key.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Shape { key, .. } => Some(key),
            Self::Invalid { error, .. } => Some(error.key()),
            _ => None,
        }
    }
}

/// The configuration being assembled: the embedded default with layers merged on top.
#[derive(Debug, Clone)]
pub struct ConfigLayers {
    merged: Table,
    /// The layers over the embedded default, in order (a game's own server defaults go
    /// between the two when the configuration is loaded for it).
    layers: Vec<Table>,
    /// Dotted key of every leaf value → the layer that set it last.
    origins: BTreeMap<String, String>,
}

impl Default for ConfigLayers {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigLayers {
    /// Starts from the embedded default.
    ///
    /// # Panics
    /// Never in a released build: a unit test parses the embedded default.
    #[must_use]
    #[allow(clippy::expect_used)] // the embedded file is checked by `default_loads_and_matches_the_sim`
    pub fn new() -> Self {
        let mut layers = Self {
            merged: Table::new(),
            layers: Vec::new(),
            origins: BTreeMap::new(),
        };
        layers
            .toml_str(DEFAULT_ORIGIN, DEFAULT_TOML)
            .expect("the embedded default is valid TOML");
        layers.layers.clear();
        layers
    }

    /// Overlays the TOML file at `path`.
    ///
    /// # Errors
    /// [`ConfigLoadError::Read`] or [`ConfigLoadError::Syntax`].
    pub fn file(&mut self, path: &Path) -> Result<&mut Self, ConfigLoadError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigLoadError::Read {
            path: path.to_owned(),
            error,
        })?;
        self.toml_str(&path.display().to_string(), &text)
    }

    /// Overlays TOML text; `origin` names it in messages.
    ///
    /// # Errors
    /// [`ConfigLoadError::Syntax`] if `text` is not TOML.
    pub fn toml_str(&mut self, origin: &str, text: &str) -> Result<&mut Self, ConfigLoadError> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigLoadError::Syntax {
                origin: origin.to_owned(),
                message: e.to_string(),
            })?;
        self.layers.push(table.clone());
        merge(&mut self.merged, table, "", origin, &mut self.origins);
        Ok(self)
    }

    /// Overrides one key from an assignment such as `tick.tick_hz=128`.
    ///
    /// The value is read as a TOML value (`128`, `1.5`, `true`, `"text"`, `[]`); anything that
    /// is not one is taken as a string, so `server.bind=127.0.0.1:5000` needs no quotes.
    ///
    /// # Errors
    /// [`ConfigLoadError::Override`] if there is no `=` or the key is empty or malformed.
    pub fn set(&mut self, assignment: &str, origin: &str) -> Result<&mut Self, ConfigLoadError> {
        let bad = |reason: &str| ConfigLoadError::Override {
            assignment: assignment.to_owned(),
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        let (key, raw) = assignment
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE, e.g. tick.tick_hz=128"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|part| part.trim().is_empty()) {
            return Err(bad("the key must be dotted names such as tick.tick_hz"));
        }
        let raw = raw.trim();
        let value = format!("v = {raw}")
            .parse::<Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| Value::String(raw.to_owned()));
        // Build `{a = {b = value}}` and merge it like any other layer.
        let mut parts: Vec<&str> = key.split('.').map(str::trim).collect();
        let last = parts.pop().unwrap_or_default();
        let mut layer = Table::new();
        layer.insert(last.to_owned(), value);
        for part in parts.into_iter().rev() {
            let mut outer = Table::new();
            outer.insert(part.to_owned(), Value::Table(layer));
            layer = outer;
        }
        self.layers.push(layer.clone());
        merge(&mut self.merged, layer, "", origin, &mut self.origins);
        Ok(self)
    }

    /// Which layer set `key` (dotted, array indices allowed: `game.obstacles[1].x_m`).
    #[must_use]
    pub fn origin_of(&self, key: &str) -> &str {
        // The longest recorded key that is `key` itself or an ancestor of it.
        let mut probe = key;
        loop {
            if let Some(origin) = self.origins.get(probe) {
                return origin;
            }
            match probe.rfind(['.', '[']) {
                Some(cut) => probe = probe.get(..cut).unwrap_or_default(),
                None => break,
            }
        }
        // A table (a whole section, say) is set by whoever set the values in it.
        self.origins
            .range(key.to_owned()..)
            .take_while(|(k, _)| k.starts_with(key))
            .find(|(k, _)| matches!(k.as_bytes().get(key.len()), Some(b'.' | b'[')))
            .map_or(DEFAULT_ORIGIN, |(_, origin)| origin.as_str())
    }

    /// The game the layers select (`server.game`), if set to text.
    #[must_use]
    pub fn game(&self) -> Option<&str> {
        self.merged
            .get("server")
            .and_then(|server| server.get("game"))
            .and_then(Value::as_str)
    }

    /// Deserializes and validates the merged layers for a game whose `[game]` section is a
    /// `C`. Under the files and flags lie the embedded default, then the game's own server
    /// defaults ([`GameConfig::SERVER_TOML`]: cubes3d sends 60 snapshots a second) and its
    /// documented `[game]` defaults ([`GameConfig::DEFAULT_TOML`]).
    ///
    /// # Errors
    /// [`ConfigLoadError::Shape`] for an unknown key or a wrong type,
    /// [`ConfigLoadError::Invalid`] for a value out of range; both name the key and its layer.
    pub fn load<C: GameConfig>(&self) -> Result<ServerConfig<C>, ConfigLoadError> {
        let game = self.game().unwrap_or("game");
        let parse = |text: &str| {
            text.parse::<Table>()
                .map_err(|e: toml::de::Error| ConfigLoadError::Syntax {
                    origin: format!("the {game} defaults"),
                    message: e.to_string(),
                })
        };
        let mut merged: Table = parse(DEFAULT_TOML)?;
        // Origins are the layers' own (`origin_of`): a key no layer set is a default.
        let mut ignored = BTreeMap::new();
        merge(&mut merged, parse(C::SERVER_TOML)?, "", "", &mut ignored);
        let mut game_section = Table::new();
        game_section.insert("game".to_owned(), Value::Table(parse(C::DEFAULT_TOML)?));
        merge(&mut merged, game_section, "", "", &mut ignored);
        for layer in &self.layers {
            merge(&mut merged, layer.clone(), "", "", &mut ignored);
        }
        let config: ServerConfig<C> = serde_path_to_error::deserialize(Value::Table(merged))
            .map_err(|e| {
                let key = e.path().to_string();
                let mut message = e.into_inner().to_string().trim_end().to_owned();
                if key == "arena" || message.contains("unknown field `arena`") {
                    message.push_str(
                        "; the arena's values moved to [game] (with [server] game = \"arena\")",
                    );
                }
                ConfigLoadError::Shape {
                    origin: self.origin_of(&key).to_owned(),
                    message,
                    key,
                }
            })?;
        config
            .validate()
            .map_err(|error| ConfigLoadError::Invalid {
                origin: self.origin_of(error.key()).to_owned(),
                error,
            })?;
        Ok(config)
    }
}

/// Merges `src` into `dst`, recording the origin of every leaf it sets.
fn merge(
    dst: &mut Table,
    src: Table,
    prefix: &str,
    origin: &str,
    origins: &mut BTreeMap<String, String>,
) {
    for (key, value) in src {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (dst.get_mut(&key), value) {
            (Some(Value::Table(inner)), Value::Table(value)) => {
                merge(inner, value, &path, origin, origins)
            }
            (_, Value::Table(value)) => {
                let mut fresh = Table::new();
                merge(&mut fresh, value, &path, origin, origins);
                dst.insert(key, Value::Table(fresh));
            }
            (_, value) => {
                // Whatever this key held before, and everything under it, now comes from here.
                let stale: Vec<String> = origins
                    .range(path.clone()..)
                    .take_while(|(k, _)| k.starts_with(&path))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    origins.remove(&k);
                }
                origins.insert(path, origin.to_owned());
                dst.insert(key, value);
            }
        }
    }
}
