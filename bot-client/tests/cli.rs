//! The `tickwire-bot` binary as a person or a CI job runs it.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::{Command, Output};

fn bot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire-bot"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn the_demo_runs_a_server_and_bots_and_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let html = dir.path().join("r.html");
    let out = bot(&[
        "demo",
        "--bots",
        "6",
        "--duration",
        "4s",
        "--ramp",
        "500ms",
        "--set",
        "game.prop_count=30",
        "--report-json",
        json.to_str().unwrap(),
        "--report-html",
        html.to_str().unwrap(),
        "--fail-if",
        "server.ticks_skipped>1000000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("what players felt"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["bots"]["connected"], 6, "{report}");
    assert!(report["server"]["rss_bytes_per_client"].as_u64().unwrap() > 0);
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("TickwireCharts.line")
    );
    // It carries its distributions, so reports of several processes merge exactly: the
    // run merged with itself is twice the bots with the same percentiles.
    assert_eq!(
        report["distributions"]["snapshots_per_s_per_bot"]
            .as_array()
            .map(Vec::len),
        Some(6),
        "{report}"
    );
    let merged_json = dir.path().join("m.json");
    let merged_html = dir.path().join("m.html");
    let j = json.to_str().unwrap();
    let out = bot(&[
        "merge",
        j,
        j,
        "--report-json",
        merged_json.to_str().unwrap(),
        "--report-html",
        merged_html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("merged 2 reports"), "{stdout}");
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_json).unwrap()).unwrap();
    assert_eq!(merged["bots"]["connected"], 12, "{merged}");
    assert_eq!(
        merged["snapshots_per_s_per_bot"], report["snapshots_per_s_per_bot"],
        "{merged}"
    );
    assert_eq!(merged["rtt_ms"], report["rtt_ms"], "{merged}");
    assert!(
        std::fs::read_to_string(&merged_html)
            .unwrap()
            .contains("TickwireCharts.cdf")
    );
    // A file that is not a report is named.
    let out = bot(&["merge", j, html.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a tickwire-bot report"), "{stderr}");
}

/// With a key file the demo's server admits only seat tokens and each bot mints its own:
/// all join, and the server names them by their token's user id.
#[test]
fn the_demo_with_a_token_key_admits_bots_that_mint_their_own_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let mut set = tickwire_netcode::token::KeySet::default();
    set.add_new().unwrap();
    std::fs::write(&keys, set.to_toml()).unwrap();
    let json = dir.path().join("r.json");
    let out = bot(&[
        "demo",
        "--bots",
        "4",
        "--duration",
        "3s",
        "--ramp",
        "300ms",
        "--set",
        "game.prop_count=20",
        "--token-key",
        keys.to_str().unwrap(),
        "--report-json",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["bots"]["connected"], 4, "{report}");
    assert_eq!(report["bots"]["failed"], 0, "{report}");
    // Without the key, the same server would refuse them: the demo did run in token mode.
    let out = bot(&[
        "demo",
        "--bots",
        "1",
        "--duration",
        "2s",
        "--set",
        "auth.mode=token",
        "--set",
        &format!("auth.key_file={}", keys.display()),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("missing seat token"), "{stdout}");
}

#[test]
fn the_demo_in_process_leaves_the_shared_memory_out() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = bot(&[
        "demo",
        "--in-process",
        "--bots",
        "3",
        "--duration",
        "3s",
        "--ramp",
        "0s",
        "--set",
        "game.prop_count=10",
        "--report-json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ran in the bots' process"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["bots"]["connected"], 3, "{report}");
    assert_eq!(report["server"]["clients"], 3, "{report}");
    assert_eq!(report["server"]["shares_process_with_bots"], true);
    assert!(report["server"]["rss_bytes"].is_null(), "{report}");
}

#[test]
fn a_crossed_threshold_fails_the_run_and_says_which() {
    let out = bot(&[
        "demo",
        "--bots",
        "2",
        "--duration",
        "2s",
        "--ramp",
        "0s",
        "--set",
        "game.prop_count=10",
        "--fail-if",
        "bots.connected<3",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED: bots.connected<3"), "{stderr}");
}

#[test]
fn bad_arguments_are_refused_with_the_reason() {
    let out = bot(&[
        "--fail-if",
        "server.tick_us.p42>1",
        "--server",
        "127.0.0.1:4433",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number in the report"));
    let out = bot(&["demo", "--set", "tick.tick_hz=0", "--duration", "1s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tick.tick_hz"));
    let out = bot(&["--bots", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
    let out = bot(&[
        "--server",
        "127.0.0.1:9",
        "--fingerprint",
        "00",
        "--duration",
        "1s",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex digits"));
}

#[test]
fn a_server_that_is_not_there_fails_in_seconds_naming_the_address() {
    // A port nobody listens on: QUIC gets no answer. The run does not wait out its
    // --duration: it says within seconds that nothing answered there.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    drop(socket);
    let fingerprint = "ab".repeat(32);
    let started = std::time::Instant::now();
    let out = bot(&[
        "--server",
        &addr,
        "--fingerprint",
        &fingerprint,
        "--bots",
        "2",
        "--duration",
        "60s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no answer from") && stderr.contains(&addr),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    // A host name is taken, and one that does not resolve is named.
    let out = bot(&["--server", "nowhere.invalid:4433", "--bots", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nowhere.invalid:4433"), "{stderr}");
}
