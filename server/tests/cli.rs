//! The `tickwire-server` binary as a designer uses it: `--check-config`, `--help`, and a
//! short run on the embedded default.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Output};

fn server(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the server binary runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_rejects_a_bad_file_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "zero.toml",
            "[tick]\ntick_hz = 0\n",
            "tick.tick_hz",
            "1..=1000",
        ),
        (
            "fast.toml",
            "[tick]\ntick_hz = 10000\n",
            "tick.tick_hz",
            "1..=1000",
        ),
        (
            "snap.toml",
            "[tick]\nsnapshot_hz = 120\n",
            "tick.snapshot_hz",
            "1..=60",
        ),
        (
            "slow.toml",
            "[game]\nmax_speed_mps = -2.5\n",
            "game.max_speed_mps",
            "0.0..=100.0",
        ),
        (
            "typo.toml",
            "[net]\nmax_rewind = 250\n",
            "net.max_rewind",
            "unknown field",
        ),
        (
            "type.toml",
            "[server]\nrooms = \"two\"\n",
            "server.rooms",
            "invalid type",
        ),
    ];
    for (name, body, key, allowed) in cases {
        let path = write(dir.path(), name, body);
        let out = server(&["--check-config", &path]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(key), "{name}: no key in {stderr}");
        assert!(stderr.contains(allowed), "{name}: no range in {stderr}");
        assert!(stderr.contains(&path), "{name}: no file in {stderr}");
        assert!(out.stdout.is_empty(), "{name}: printed a config anyway");
    }
}

#[test]
fn check_config_prints_the_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ok.toml",
        "[tick]\ntick_hz = 128\nsnapshot_hz = 64\n",
    );
    let out = server(&["--check-config", &path, "--set", "game.max_health=150"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: toml::Table = text(&out.stdout).parse().unwrap();
    assert_eq!(printed["tick"]["tick_hz"].as_integer(), Some(128));
    assert_eq!(printed["tick"]["snapshot_hz"].as_integer(), Some(64));
    assert_eq!(printed["game"]["max_health"].as_integer(), Some(150));
    assert_eq!(printed["net"]["max_rewind_ms"].as_integer(), Some(500));
}

#[test]
fn flags_override_and_are_named_when_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ok.toml", "");
    let out = server(&["--check-config", &path, "--tick-hz", "0"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--tick-hz"),
        "{}",
        text(&out.stderr)
    );
}

/// What a new user met: each error names its real source, says its cause once, and never
/// comes with a stack trace (whatever `RUST_BACKTRACE` says).
#[test]
fn a_new_users_mistakes_are_told_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
            .args(args)
            .env("RUST_LOG", "warn")
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        text(&out.stderr)
    };
    // An unknown section is the file's doing, not the embedded default's.
    let typo = write(dir.path(), "typo.toml", "[tik]\ntick_hz = 128\n");
    let stderr = run(&["--check-config", &typo]);
    assert!(
        stderr.contains("`tik`") && stderr.contains(&typo),
        "{stderr}"
    );
    assert!(!stderr.contains("embedded default"), "{stderr}");
    // A missing file: its OS error once, no backtrace.
    let missing = dir.path().join("nope.toml").display().to_string();
    let stderr = run(&["--config", &missing]);
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
    assert!(stderr.contains(&missing), "{stderr}");
    for stderr in [&stderr, &run(&["--set", "tick.tick_hz=0"])] {
        assert!(!stderr.contains("backtrace"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    // 128 Hz alone: the snapshot rate is named, with the rates that divide it.
    let stderr = run(&["--set", "tick.tick_hz=128", "--duration", "1s"]);
    assert!(
        stderr.contains("tick.snapshot_hz") && stderr.contains("64"),
        "{stderr}"
    );
    // Token mode without a key file says how to make one.
    let stderr = run(&["--set", "auth.mode=token", "--duration", "1s"]);
    assert!(stderr.contains("keygen"), "{stderr}");
}

#[test]
fn keygen_and_token_make_what_a_token_server_admits() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml").display().to_string();
    let ok = |args: &[&str]| {
        let out = server(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        out
    };
    ok(&["keygen", "--out", &keys]);
    // Never overwritten; --add rotates in a second key.
    assert!(!server(&["keygen", "--out", &keys]).status.success());
    ok(&["keygen", "--out", &keys, "--add"]);
    let file = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(file.matches("[[key]]").count(), 2, "{file}");
    let token = text(
        &ok(&[
            "token",
            "--key-file",
            &keys,
            "--user",
            "alice",
            "--room",
            "room-0",
            "--ttl",
            "30s",
        ])
        .stdout,
    );
    let set = tickwire_netcode::token::KeySet::from_toml(&file).unwrap();
    let seat = set
        .verify(token.trim(), tickwire_server::auth::unix_now())
        .unwrap();
    assert_eq!(
        (seat.user.as_str(), seat.room.as_deref()),
        ("alice", Some("room-0"))
    );
    let wrong = server(&["token", "--key-file", &keys, "--user", "a", "--key-id", "9"]);
    assert!(
        text(&wrong.stderr).contains("no key id 9"),
        "{}",
        text(&wrong.stderr)
    );
}

#[test]
fn the_printed_default_is_the_documented_file() {
    let out = server(&["--print-default-config"]);
    assert!(out.status.success());
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
            .unwrap();
    let arena = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sim/config/arena.toml"
    ))
    .unwrap();
    let printed = text(&out.stdout);
    assert!(printed.starts_with(&shipped), "{printed}");
    // Then the arena's own file as the [game] section, its comments intact.
    let game = printed.get(shipped.len()..).unwrap();
    assert!(game.starts_with("\n[game]\n"), "{game}");
    let comments = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(comments(game), comments(&arena));
}

#[test]
fn help_lists_the_config_flags() {
    let out = server(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--config",
        "--check-config",
        "--set",
        "--tick-hz",
        "--duration",
        "--print-default-config",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn runs_on_the_embedded_default_and_reports() {
    let out = server(&[
        "--duration",
        "1s",
        "--status-every",
        "0s",
        "--bind",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("Tickwire server report"), "{report}");
    // One room row whose tick count shows the world actually ticked.
    let row = report
        .lines()
        .find(|l| l.starts_with("room-0"))
        .expect("a row for room-0");
    let ticks: u64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(ticks > 0, "{row}");
}

#[test]
fn sighup_applies_tunables_and_refuses_what_needs_a_restart() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "live.toml", "[game]\nmax_speed_mps = 6.0\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args([
            "--config",
            &path,
            "--bind",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--status-every",
            "0s",
            "--duration",
            "4s",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    std::thread::sleep(Duration::from_millis(700));
    write(dir.path(), "live.toml", "[game]\nmax_speed_mps = 7.5\n");
    hup(child.id());
    std::thread::sleep(Duration::from_millis(400));
    write(dir.path(), "live.toml", "[game]\nprop_count = 3\n");
    hup(child.id());
    std::thread::sleep(Duration::from_millis(400));
    write(dir.path(), "live.toml", "[game]\nmax_speed_mps = -1.0\n");
    hup(child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("config reloaded"), "{stderr}");
    assert!(
        stderr.contains("need a restart") && stderr.contains("game.prop_count"),
        "{stderr}"
    );
    assert!(
        stderr.contains("game.max_speed_mps") && stderr.contains("keeping the running config"),
        "{stderr}"
    );
}

/// Open on an address other than loopback: the server says so at start, and says what to
/// set; on loopback (development) it does not.
#[test]
fn an_open_server_on_a_public_address_warns() {
    let run = |bind: &str| {
        let out = server(&[
            "--bind",
            bind,
            "--admin",
            "127.0.0.1:0",
            "--duration",
            "200ms",
            "--status-every",
            "0s",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let public = run("0.0.0.0:0");
    assert!(
        public.contains("auth.mode is \"open\"") && public.contains("mode = \"token\""),
        "{public}"
    );
    assert!(!run("127.0.0.1:0").contains("auth.mode is"));
}

#[test]
fn the_game_flag_picks_a_built_in_game_and_a_wrong_one_lists_them() {
    let out = server(&[
        "--game",
        "cubes3d",
        "--duration",
        "1s",
        "--status-every",
        "0s",
        "--bind",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("60 Hz snapshots"),
        "cubes3d's own default: {report}"
    );
    let said = text(&out.stderr);
    assert!(said.contains("cubes3d room(s)"), "{said}");

    let out = server(&["--game", "chess", "--check-config", "/dev/null"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("\"chess\"") && err.contains("\"arena\"") && err.contains("\"cubes3d\""),
        "{err}"
    );

    let out = server(&["--game", "cubes3d", "--print-default-config"]);
    assert!(out.status.success());
    let printed = text(&out.stdout);
    assert!(printed.contains("\n[game]\n") && printed.contains("cube_count = 901"));
    assert!(
        printed.contains("snapshot_hz = 60  # the game's default"),
        "{printed}"
    );
}
