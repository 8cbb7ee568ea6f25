//! The parts of an Agones GameServer the server reads, as the SDK sidecar's JSON gateway
//! writes them (protobuf field names; 64-bit integers as strings), and what an allocation
//! asks of the match.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// A GameServer as the sidecar reports it (`GET /gameserver`, `/watch/gameserver`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GameServer {
    /// Name, labels and annotations.
    pub object_meta: ObjectMeta,
    /// What the fleet asked for.
    pub spec: Spec,
    /// What Agones sees.
    pub status: Status,
}

/// A GameServer's metadata.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ObjectMeta {
    /// The GameServer's name.
    pub name: String,
    /// Kubernetes labels (an allocation may add some).
    pub labels: BTreeMap<String, String>,
    /// Kubernetes annotations (an allocation may add some).
    pub annotations: BTreeMap<String, String>,
}

/// A GameServer's spec, as far as the server uses it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Spec {
    /// Health checking.
    pub health: Health,
}

/// `spec.health`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Health checking is off.
    pub disabled: bool,
    /// Seconds between the pings Agones expects.
    #[serde(deserialize_with = "integer")]
    pub period_seconds: u64,
    /// Periods without a ping before the GameServer is Unhealthy.
    #[serde(deserialize_with = "integer")]
    pub failure_threshold: u64,
}

/// A GameServer's status.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Status {
    /// `Scheduled`, `RequestReady`, `Ready`, `Allocated`, `Reserved`, `Shutdown`, …
    pub state: String,
    /// The address players reach it at.
    pub address: String,
    /// Its Lists, by name.
    pub lists: BTreeMap<String, List>,
}

/// An Agones List: a bounded set of strings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct List {
    /// Most values it may hold.
    #[serde(deserialize_with = "integer")]
    pub capacity: u64,
    /// Its values.
    pub values: Vec<String>,
}

/// The JSON gateway writes 64-bit integers as strings and 32-bit ones as numbers.
fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Integer {
        Number(i64),
        Text(String),
    }
    match Integer::deserialize(d)? {
        Integer::Number(n) => Ok(u64::try_from(n).unwrap_or(0)),
        Integer::Text(s) => s
            .parse::<i64>()
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(serde::de::Error::custom),
    }
}

/// The annotation (or label) naming the match a GameServer was allocated for.
pub const MATCH_KEY: &str = "tickwire.dev/match";
/// The prefix of annotations (or labels) that set a config key for the match:
/// `tickwire.dev/set.game.round_time_s: "300"` is `--set game.round_time_s=300`.
pub const SET_PREFIX: &str = "tickwire.dev/set.";

/// What an allocation asks of the match, read from the GameServer's annotations and labels
/// (annotations win where both name a key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchSettings {
    /// `tickwire.dev/match`: the matchmaker's id of the match, for logs.
    pub match_id: Option<String>,
    /// `tickwire.dev/set.KEY`: config assignments `KEY=VALUE`, in key order.
    pub assignments: Vec<String>,
}

impl MatchSettings {
    /// The settings `server` carries.
    #[must_use]
    pub fn of(server: &GameServer) -> Self {
        let meta = &server.object_meta;
        let mut merged: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, value) in meta.labels.iter().chain(&meta.annotations) {
            merged.insert(key, value);
        }
        Self {
            match_id: merged.get(MATCH_KEY).map(|v| (*v).to_owned()),
            assignments: merged
                .iter()
                .filter_map(|(key, value)| {
                    let key = key.strip_prefix(SET_PREFIX)?;
                    Some(format!("{key}={value}"))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the real SDK server (local mode) wrote for `GET /gameserver`.
    const LOCAL: &str = r#"{"object_meta":{"name":"tickwire-test", "namespace":"", "uid":"",
        "resource_version":"", "generation":"0", "creation_timestamp":"-62135596800",
        "deletion_timestamp":"0", "annotations":{"tickwire.dev/match":"m-42",
        "tickwire.dev/set.game.round_time_s":"300"}, "labels":{"tickwire.dev/set.game.round_time_s":"60",
        "tickwire.dev/set.tick.snapshot_hz":"20"}},
        "spec":{"health":{"disabled":false, "period_seconds":1, "failure_threshold":0, "initial_delay_seconds":0}},
        "status":{"state":"Scheduled", "address":"", "addresses":[], "ports":[], "players":null,
        "counters":{}, "lists":{"players":{"capacity":"10", "values":["a"]}}}}"#;

    #[test]
    fn reads_what_the_sdk_server_writes() {
        let gs: GameServer = serde_json::from_str(LOCAL).unwrap();
        assert_eq!(gs.object_meta.name, "tickwire-test");
        assert_eq!(gs.spec.health.period_seconds, 1);
        assert_eq!(gs.status.state, "Scheduled");
        let players = &gs.status.lists["players"];
        assert_eq!(
            (players.capacity, players.values.clone()),
            (10, vec!["a".to_owned()])
        );
    }

    #[test]
    fn an_allocation_names_the_match_and_its_settings_annotations_first() {
        let gs: GameServer = serde_json::from_str(LOCAL).unwrap();
        let settings = MatchSettings::of(&gs);
        assert_eq!(settings.match_id.as_deref(), Some("m-42"));
        assert_eq!(
            settings.assignments,
            vec!["game.round_time_s=300", "tick.snapshot_hz=20"]
        );
    }
}
