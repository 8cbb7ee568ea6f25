use super::*;
use tickwire_sim::arena::ArenaConfig;

type Config = ServerConfig<ArenaConfig>;

#[track_caller]
fn load_with(origin: &str, text: &str) -> Result<Config, ConfigLoadError> {
    ConfigLayers::new().toml_str(origin, text)?.load()
}

fn embedded() -> Config {
    ConfigLayers::new().load().unwrap()
}

#[track_caller]
fn bad_key(origin: &str, text: &str) -> (String, String) {
    let err = load_with(origin, text).expect_err("the config should be refused");
    let message = err.to_string();
    (
        err.key()
            .unwrap_or_else(|| panic!("no key in: {message}"))
            .to_owned(),
        message,
    )
}

#[test]
fn default_loads_and_matches_the_sim() {
    let config = embedded();
    assert_eq!(config.tick.tick_hz, 60);
    assert_eq!(config.tick.snapshot_hz, 30);
    assert_eq!(config.snapshot_interval_ticks(), 2);
    assert_eq!(
        config.server.admin.ip().to_string(),
        "127.0.0.1",
        "admin must default to loopback"
    );
    assert_eq!(config.server.game, "arena");
    // The sim's own Default and the shipped file must not drift apart.
    assert_eq!(config.game, ArenaConfig::default());
}

#[test]
fn the_printed_default_is_the_default_every_key_documented() {
    let printed = default_toml::<ArenaConfig>();
    let config: Config = ConfigLayers::new()
        .toml_str("printed", &printed)
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(config, embedded());
    assert!(printed.contains("[[game.obstacles]]"), "{printed}");
    // Every game key has a comment above it (since the last blank line); the keys of
    // [[game.obstacles]] tables are documented by the comment above the first.
    let mut bare = Vec::new();
    let mut commented = false;
    for line in printed
        .lines()
        .skip_while(|l| *l != "[game]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
    {
        if line.starts_with('#') {
            commented = true;
        } else if line.trim().is_empty() {
            commented = false;
        } else if !commented {
            bare.push(line.to_owned());
        }
    }
    assert!(bare.is_empty(), "undocumented: {bare:?}");
}

#[test]
fn an_old_arena_section_says_where_its_values_went() {
    let (_, message) = bad_key("old.toml", "[arena]\nprop_count = 10\n");
    assert!(message.contains("moved to [game]"), "{message}");
}

#[test]
fn effective_config_round_trips_through_toml() {
    let config = embedded();
    let text = config.to_toml().unwrap();
    assert_eq!(load_with("printed", &text).unwrap(), config);
}

#[test]
fn a_file_overlays_only_the_keys_it_names() {
    let config = load_with("fast.toml", "[tick]\ntick_hz = 128\nsnapshot_hz = 64\n").unwrap();
    assert_eq!((config.tick.tick_hz, config.tick.snapshot_hz), (128, 64));
    assert_eq!(config.net, embedded().net);
    assert_eq!(config.game.obstacles.len(), 4);
    let config = load_with("open.toml", "[game]\nobstacles = []\n").unwrap();
    assert!(config.game.obstacles.is_empty());
}

#[test]
fn unknown_keys_are_named_with_their_file() {
    let (key, message) = bad_key("my.toml", "[tick]\ntick_hzz = 61\n");
    assert_eq!(key, "tick.tick_hzz");
    assert!(
        message.contains("my.toml") && message.contains("unknown field"),
        "{message}"
    );
    let (key, _) = bad_key("my.toml", "[graphics]\nvsync = true\n");
    assert_eq!(key, "graphics");
}

#[test]
fn wrong_types_are_named() {
    let (key, message) = bad_key("my.toml", "[tick]\ntick_hz = \"fast\"\n");
    assert_eq!(key, "tick.tick_hz");
    assert!(
        message.contains("fast") && message.contains("u32"),
        "{message}"
    );
    let (key, _) = bad_key("my.toml", "[game]\nspawn_points = -1\n");
    assert_eq!(key, "game.spawn_points");
    let (key, _) = bad_key("my.toml", "[server]\nbind = \"not an address\"\n");
    assert_eq!(key, "server.bind");
    let (key, _) = bad_key("my.toml", "[[game.obstacles]]\nx_m = 1.0\n");
    assert_eq!(key, "game.obstacles[0]");
}

#[test]
fn out_of_range_values_name_key_value_range_and_file() {
    let (key, message) = bad_key("my.toml", "[tick]\ntick_hz = 0\n");
    assert_eq!(key, "tick.tick_hz");
    assert_eq!(
        message,
        "`tick.tick_hz` = 0 is out of range: allowed 1..=1000 (set in my.toml)"
    );
    let (key, _) = bad_key("my.toml", "[tick]\ntick_hz = 10000\n");
    assert_eq!(key, "tick.tick_hz");
    let (key, message) = bad_key("my.toml", "[tick]\nsnapshot_hz = 90\n");
    assert_eq!(key, "tick.snapshot_hz");
    assert!(message.contains("1..=60"), "{message}");
    let (key, message) = bad_key("my.toml", "[game]\nmax_speed_mps = -6.0\n");
    assert_eq!(key, "game.max_speed_mps");
    assert!(
        message.contains("-6.0") && message.contains("0.0..=100.0"),
        "{message}"
    );
    let (key, _) = bad_key("my.toml", "[game]\nmax_speed_mps = nan\n");
    assert_eq!(key, "game.max_speed_mps");
    let (key, message) = bad_key(
        "walls.toml",
        "[[game.obstacles]]\nx_m = 500.0\ny_m = 1.0\nwidth_m = 1.0\nheight_m = 1.0\n",
    );
    assert_eq!(key, "game.obstacles[0].x_m");
    assert!(message.contains("walls.toml"), "{message}");
}

#[test]
fn tls_cert_and_key_come_together() {
    let (key, message) = bad_key("prod.toml", "[tls]\ncert = \"/etc/tickwire/cert.pem\"\n");
    assert_eq!(key, "tls.cert");
    assert!(
        message.contains("tls.key must be set too") && message.contains("prod.toml"),
        "{message}"
    );
    let (key, _) = bad_key("prod.toml", "[tls]\nkey = \"/etc/tickwire/key.pem\"\n");
    assert_eq!(key, "tls.key");
    load_with("prod.toml", "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").unwrap();
}

#[test]
fn snapshot_rate_must_divide_tick_rate() {
    let (key, message) = bad_key("my.toml", "[tick]\nsnapshot_hz = 25\n");
    assert_eq!(key, "tick.snapshot_hz");
    assert!(
        message.contains("1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60"),
        "{message}"
    );
}

#[test]
fn every_range_check_fires() {
    let cases = [
        ("server.rooms", "0"),
        ("server.max_clients_per_room", "5000"),
        ("tick.tick_hz", "1001"),
        ("tick.snapshot_hz", "0"),
        ("tick.max_catch_up_ticks", "61"),
        ("tick.spin_us", "2001"),
        ("net.interpolation_delay_ms", "1001"),
        ("net.max_rewind_ms", "1001"),
        ("net.input_buffer_ticks", "17"),
        ("net.client_budget_bytes_per_s", "999"),
        ("net.max_datagram_bytes", "9000"),
        ("game.width_m", "5.0"),
        ("game.prop_restitution", "2.0"),
        ("game.max_health", "0"),
        ("net.idle_timeout_ms", "500"),
        ("net.keep_alive_ms", "6000"),
        ("net.udp_buffer_bytes", "1024"),
    ];
    for (key, value) in cases {
        let err = ConfigLayers::new()
            .set(&format!("{key}={value}"), "--set")
            .unwrap()
            .load::<ArenaConfig>()
            .expect_err(key);
        assert_eq!(err.key(), Some(key), "{err}");
        assert!(err.to_string().contains("--set"), "{err}");
    }
}

#[test]
fn overrides_set_single_keys_and_win_over_files() {
    let mut layers = ConfigLayers::new();
    layers
        .toml_str("my.toml", "[tick]\ntick_hz = 128\nsnapshot_hz = 64\n")
        .unwrap();
    layers.set("tick.snapshot_hz=32", "--snapshot-hz").unwrap();
    layers.set("server.bind=127.0.0.1:5000", "--bind").unwrap();
    let config = layers.load::<ArenaConfig>().unwrap();
    assert_eq!((config.tick.tick_hz, config.tick.snapshot_hz), (128, 32));
    assert_eq!(config.server.bind.port(), 5000);
    assert_eq!(layers.origin_of("tick.tick_hz"), "my.toml");
    assert_eq!(layers.origin_of("tick.snapshot_hz"), "--snapshot-hz");
    assert_eq!(
        layers.origin_of("game.obstacles[2].x_m"),
        "the embedded default"
    );
}

#[test]
fn malformed_overrides_and_files_are_refused() {
    let mut layers = ConfigLayers::new();
    assert!(matches!(
        layers.set("tick.tick_hz", "--set"),
        Err(ConfigLoadError::Override { .. })
    ));
    assert!(matches!(
        layers.set("tick..x=1", "--set"),
        Err(ConfigLoadError::Override { .. })
    ));
    let err = layers
        .toml_str("broken.toml", "[tick\ntick_hz = 1")
        .unwrap_err();
    assert!(matches!(err, ConfigLoadError::Syntax { .. }));
    assert!(err.to_string().contains("broken.toml"), "{err}");
    let err = layers
        .file(Path::new("/nonexistent/tickwire.toml"))
        .unwrap_err();
    assert!(matches!(err, ConfigLoadError::Read { .. }), "{err}");
}

use std::path::Path;

#[test]
fn only_tunables_change_live() {
    let running = embedded();
    let tuned = load_with(
        "tuned.toml",
        "[game]\nmax_speed_mps = 7.5\nweapon_damage = 30\n[net]\ninterpolation_delay_ms = 120\n[tick]\nsnapshot_hz = 20\n",
    )
    .unwrap();
    assert_eq!(running.live_changes(&tuned), Ok(()));
    let moved = load_with("moved.toml", "[server]\nbind = \"0.0.0.0:5000\"\n[tick]\ntick_hz = 128\nsnapshot_hz = 64\n[game]\nprop_count = 10\n").unwrap();
    let keys = running.live_changes(&moved).unwrap_err();
    assert_eq!(
        keys,
        vec!["server", "tick (other than snapshot_hz)", "game.prop_count"]
    );
}

#[test]
fn a_game_brings_its_own_defaults_under_the_designers_values() {
    use tickwire_sim::cubes3d::CubesConfig;
    let cubes: ServerConfig<CubesConfig> = ConfigLayers::new()
        .set("server.game=cubes3d", "--game")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(cubes.game, CubesConfig::default());
    assert_eq!(cubes.tick.snapshot_hz, 60, "cubes3d's own server default");
    let set: ServerConfig<CubesConfig> = ConfigLayers::new()
        .set("tick.snapshot_hz=20", "--snapshot-hz")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(set.tick.snapshot_hz, 20, "the designer's value wins");
    // The printed default says so, and loads as the same configuration.
    let printed = default_toml::<CubesConfig>();
    assert!(
        printed.contains("snapshot_hz = 60  # the game's default"),
        "{printed}"
    );
    let reloaded: ServerConfig<CubesConfig> = ConfigLayers::new()
        .toml_str("printed", &printed)
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(reloaded.game, cubes.game);
    assert_eq!(reloaded.tick, cubes.tick);
    // A game's keys are its own: the arena's are unknown to cubes3d.
    let err = ConfigLayers::new()
        .toml_str("mixed.toml", "[game]\nprop_count = 5\n")
        .unwrap()
        .load::<CubesConfig>()
        .unwrap_err();
    assert_eq!(err.key(), Some("game.prop_count"), "{err}");
}
