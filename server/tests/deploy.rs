//! The deployment manifests in `server/deploy/` parse, and agree with the server they run:
//! its default ports, its health and List settings, its config file's keys, the path of
//! the mounted config and keys, and what an allocation may set for a match.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use serde_norway::Value;
use tickwire_server::agones::gameserver::{MATCH_KEY, SET_PREFIX};
use tickwire_server::{ConfigLayers, ServerConfig};
use tickwire_sim::arena::ArenaConfig;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// Every YAML document in `name`.
fn documents(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy(name)).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

/// The document of `kind` in `name`.
fn kind(name: &str, kind: &str) -> Value {
    documents(name)
        .into_iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("{name} has no {kind}"))
}

fn defaults() -> ServerConfig<ArenaConfig> {
    ConfigLayers::new().load::<ArenaConfig>().unwrap()
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// The container's mount path of the volume `volume`.
fn mount_of(pod: &Value, volume: &str) -> String {
    let container = &pod["containers"][0];
    container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some(volume))
        .map(|m| str_of(&m["mountPath"]).to_owned())
        .unwrap_or_else(|| panic!("no mount of {volume}"))
}

/// The value of the container's environment variable `name`.
fn env_of(pod: &Value, name: &str) -> Option<String> {
    pod["containers"][0]["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

/// The server config the ConfigMap mounts, layered over the default as the server does.
fn mounted_config() -> (ServerConfig<ArenaConfig>, String) {
    let map = kind("gameserver.yaml", "ConfigMap");
    let text = str_of(&map["data"]["server.toml"]).to_owned();
    let mut layers = ConfigLayers::new();
    layers.toml_str("server.toml (ConfigMap)", &text).unwrap();
    (layers.load::<ArenaConfig>().unwrap(), text)
}

#[test]
fn the_game_server_matches_the_server_it_runs() {
    let gs = kind("gameserver.yaml", "GameServer");
    let spec = &gs["spec"];
    let defaults = defaults();
    let (config, _) = mounted_config();

    // The game port: the container port is the server's bind port, over UDP.
    let game = &spec["ports"][0];
    assert_eq!(game["protocol"].as_str(), Some("UDP"));
    assert_eq!(
        game["containerPort"].as_u64(),
        Some(u64::from(config.server.bind.port()))
    );
    assert_eq!(config.server.bind.port(), defaults.server.bind.port());
    assert!(
        config.server.bind.ip().is_unspecified(),
        "a pod must listen on every interface"
    );

    // Health: on, with the period the server reads (health_period_s = 0) and pings twice in.
    assert_eq!(spec["health"]["disabled"].as_bool(), Some(false));
    let period = spec["health"]["periodSeconds"].as_u64().unwrap();
    assert!((1..=60).contains(&period));
    assert_eq!(
        config.agones.health_period_s, 0,
        "the server reads the manifest's period"
    );
    assert!(spec["health"]["failureThreshold"].as_u64().unwrap() >= 2);

    // The players List: the name the server keeps, the capacity the server has.
    let list = &config.agones.players_list;
    assert_eq!(list, &defaults.agones.players_list);
    let capacity = u64::from(config.server.rooms) * u64::from(config.server.max_clients_per_room);
    assert_eq!(
        spec["lists"][list.as_str()]["capacity"].as_u64(),
        Some(capacity)
    );

    // The pod: the config the env names is the ConfigMap's file, where it is mounted; the
    // seat-token keys the config names are where the Secret is mounted.
    let pod = &spec["template"]["spec"];
    let config_path = env_of(pod, "TICKWIRE_CONFIG").unwrap();
    assert_eq!(
        config_path,
        format!("{}/server.toml", mount_of(pod, "config"))
    );
    assert!(config.agones.enabled);
    assert_eq!(config.auth.mode, tickwire_server::AuthMode::Token);
    assert!(
        config
            .auth
            .key_file
            .starts_with(&format!("{}/", mount_of(pod, "keys"))),
        "{}",
        config.auth.key_file
    );
    // The admin address, open to the cluster, is guarded by a token from the Secret.
    assert!(
        config
            .server
            .admin_token_file
            .starts_with(&format!("{}/", mount_of(pod, "keys"))),
        "{}",
        config.server.admin_token_file
    );
    // The admin port the container exposes is the one the config binds.
    let admin = &pod["containers"][0]["ports"][0];
    assert_eq!(
        admin["containerPort"].as_u64(),
        Some(u64::from(config.server.admin.port()))
    );
    assert_eq!(config.server.admin.port(), defaults.server.admin.port());
    // Room for the goodbyes and the Shutdown call after SIGTERM.
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 5);
}

#[test]
fn the_fleet_stamps_out_the_game_server_and_the_autoscaler_scales_it() {
    let gs = kind("gameserver.yaml", "GameServer");
    let fleet = kind("fleet.yaml", "Fleet");
    // One definition of a server: the Fleet's template is the GameServer's spec.
    assert_eq!(fleet["spec"]["template"]["spec"], gs["spec"]);
    let name = str_of(&fleet["metadata"]["name"]);

    let autoscaler = kind("fleetautoscaler.yaml", "FleetAutoscaler");
    assert_eq!(str_of(&autoscaler["spec"]["fleetName"]), name);
    let policy = &autoscaler["spec"]["policy"];
    assert_eq!(policy["type"].as_str(), Some("Buffer"));
    let buffer = &policy["buffer"];
    let size = buffer["bufferSize"].as_u64().unwrap();
    let min = buffer["minReplicas"].as_u64().unwrap();
    let max = buffer["maxReplicas"].as_u64().unwrap();
    assert!(size >= 1 && min >= size && max > min, "{buffer:?}");
}

#[test]
fn an_allocation_asks_only_what_a_running_server_can_change() {
    let fleet = kind("fleet.yaml", "Fleet");
    let allocation = kind("gameserverallocation.yaml", "GameServerAllocation");
    assert_eq!(
        allocation["spec"]["selectors"][0]["matchLabels"]["agones.dev/fleet"],
        fleet["metadata"]["name"]
    );
    let annotations = allocation["spec"]["metadata"]["annotations"]
        .as_mapping()
        .unwrap();
    assert!(annotations.contains_key(MATCH_KEY));
    // Each tickwire.dev/set.KEY is a config key a reload can change live.
    let (running, text) = mounted_config();
    let mut layers = ConfigLayers::new();
    layers.toml_str("server.toml (ConfigMap)", &text).unwrap();
    let mut sets = 0;
    for (key, value) in annotations {
        let Some(key) = str_of(key).strip_prefix(SET_PREFIX) else {
            continue;
        };
        layers
            .set(&format!("{key}={}", str_of(value)), "allocation")
            .unwrap();
        sets += 1;
    }
    assert!(sets > 0, "the example shows a setting");
    let matched = layers.load::<ArenaConfig>().unwrap();
    assert_ne!(matched, running);
    assert_eq!(running.live_changes(&matched), Ok(()));
}

#[test]
fn the_bot_job_writes_one_report_per_pod_with_the_fleet_keys() {
    let job = kind("bots-job.yaml", "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let pod = &spec["template"]["spec"];
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let after = |flag: &str| {
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1]
    };
    assert!(after("--report-json").contains("$(JOB_COMPLETION_INDEX)"));
    assert!(after("--report-json").starts_with(&format!("{}/", mount_of(pod, "reports"))));
    let (config, _) = mounted_config();
    assert_eq!(
        after("--token-key"),
        config.auth.key_file,
        "the bots mint with the key the servers check"
    );
    assert!(after("--server").starts_with("$(TICKWIRE_SERVER)"));
    assert!(
        env_of(pod, "TICKWIRE_SERVER")
            .unwrap()
            .ends_with(&format!(":{}", config.server.bind.port()))
    );
    assert!(
        kind("bots-job.yaml", "PersistentVolumeClaim")["spec"]["accessModes"][0] == "ReadWriteMany"
    );
}

#[test]
fn the_matchmaker_sketch_is_valid_shell() {
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(deploy("matchmaker.sh"))
        .status()
        .unwrap();
    assert!(status.success());
}
