//! The live monitor in a real browser (the machine's headless Chromium, over the DevTools
//! protocol): the page lists the rooms and the bots playing, and its spectator canvas draws
//! the watched room's entities with the players labelled. Saves a screenshot to
//! `target/screenshots/monitor.png`. Skips, saying why, where there is no Chromium.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use tickwire_bot::swarm::Swarm;
use tickwire_server::Server;
use tickwire_sim::arena::Arena;
use tickwire_tests::browser::{self, Browser};

fn screenshots() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_lists_the_room_and_its_bots_and_draws_them() {
    let chromium = match browser::find() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let config = tickwire_tests::config_with(&[
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "server.rooms=2",
        "game.prop_count=60",
    ]);
    let server = Server::start::<Arena>(&config).await.unwrap();
    let swarm =
        tickwire_tests::swarm_for(&server, 6, Duration::from_millis(300), Some("room-0"), 3);
    let bots = Swarm::start::<Arena>(&swarm).unwrap();

    let mut page = Browser::launch(&chromium).await;
    page.goto(&format!("http://{}/?room=room-0", server.admin_addr()))
        .await;
    // Both rooms listed, the six bots among the clients, with figures.
    page.wait_for(
        "document.querySelectorAll('#rooms tbody tr').length === 2",
        Duration::from_secs(10),
        "the rooms table",
    )
    .await;
    page.wait_for(
        "document.querySelectorAll('#clients tbody tr').length === 6",
        Duration::from_secs(10),
        "the six bots in the clients table",
    )
    .await;
    // RTT and bandwidth cells filled in (kbit/s needs two status messages).
    page.wait_for(
        "[...document.querySelectorAll('#clients tbody tr')].every(r => parseFloat(r.cells[6].textContent) > 0)",
        Duration::from_secs(10),
        "every bot's kbit/s down",
    )
    .await;
    // The spectator canvas draws the room: 60 props and 6 players, all six labelled.
    page.wait_for(
        "Number(document.getElementById('view').dataset.drawn) === 66 && Number(document.getElementById('view').dataset.labelled) === 6",
        Duration::from_secs(10),
        "the spectator view",
    )
    .await;
    // Pixels, not just counts: the canvas is not blank.
    let painted = page
        .eval(
            "(() => { const c = document.getElementById('view'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()",
        )
        .await;
    assert!(painted.as_u64().unwrap() > 500, "{painted} painted pixels");
    // The per-second charts are drawn with ticks on their axes.
    page.wait_for(
        "document.querySelectorAll('#tickchart svg path[data-series=\"p99\"]').length === 1 && document.querySelectorAll('#tickchart svg text').length > 6",
        Duration::from_secs(10),
        "the tick chart",
    )
    .await;
    let shot = screenshots().join("monitor.png");
    page.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    drop(page);
    bots.stop().await;
    server.shutdown("test over").await;
}

/// The bot report's page in a real browser: every chart drawn by the shared chart code, the
/// server's tick figures as one-second windows, the CDFs with their curves. Saves
/// `target/screenshots/report.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_report_draws_per_second_windows_and_distributions() {
    let chromium = match browser::find() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let config = tickwire_tests::config_with(&[
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "game.prop_count=40",
    ]);
    let server = Server::start::<Arena>(&config).await.unwrap();
    let swarm = tickwire_tests::swarm_for(&server, 8, Duration::from_millis(300), None, 5);
    let plan = tickwire_bot::load_test::Plan {
        duration: Duration::from_secs(6),
        admin: Some(server.admin_addr()),
        profile: "browser".to_owned(),
        sample_every: Duration::from_secs(1),
    };
    let report = tickwire_bot::load_test::run::<Arena>(&swarm, &plan, &mut |_, _| {})
        .await
        .unwrap();
    server.shutdown("test over").await;
    // The samples carry the server's last second, not only its figures since start.
    assert!(
        report
            .timeline
            .iter()
            .filter(|s| s.server_tick_us_1s_p99.is_some_and(|v| v > 0.0))
            .count()
            >= 3,
        "{:?}",
        report.timeline
    );
    assert!(report.server.as_ref().unwrap().tick_lateness_us_cdf.len() > 3);
    let page_path = screenshots().join("report.html");
    std::fs::write(&page_path, report.html()).unwrap();

    let mut page = Browser::launch(&chromium).await;
    page.goto(&format!(
        "file://{}",
        page_path.canonicalize().unwrap().display()
    ))
    .await;
    page.wait_for(
        "document.querySelectorAll('svg.chart').length === 10",
        Duration::from_secs(10),
        "ten charts",
    )
    .await;
    for (chart, series) in [
        ("tick", "max"),
        ("lateness", "p99"),
        ("rtt-cdf", "RTT"),
        ("lateness-cdf", "lateness"),
        ("frames-cdf", "frames"),
    ] {
        let drawn = page
            .eval(&format!(
                "(document.querySelector('#{chart} path[data-series=\"{series}\"]') || {{getAttribute: () => ''}}).getAttribute('d').length"
            ))
            .await;
        assert!(drawn.as_u64().unwrap() > 20, "{chart}/{series}: {drawn}");
    }
    // Axes carry value ticks: more than the title and the two axis labels.
    let texts = page
        .eval("document.querySelectorAll('#tick svg text').length")
        .await;
    assert!(texts.as_u64().unwrap() > 8, "{texts}");
    let shot = screenshots().join("report.png");
    page.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": 1280, "height": 1900, "deviceScaleFactor": 1, "mobile": false}),
    )
    .await;
    page.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());
}

/// The browser client in a real browser: `/play` joins at once over WebTransport with the
/// client netcode compiled to WebAssembly, sees the bots, moves with WASD, and is not
/// corrected on a clean link; the server's `/status` confirms the browser player moved.
/// Saves `target/screenshots/play.png`. Skips, saying why, without Chromium or without the
/// built client (`netcode/web/build.sh`, which `.ci/run` runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_client_joins_moves_and_sees_the_bots() {
    let chromium = match browser::find() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../netcode/web/pkg/tickwire_web_bg.wasm");
    if !pkg.exists() {
        eprintln!(
            "skipped: the browser client is not built ({}): run netcode/web/build.sh",
            pkg.display()
        );
        return;
    }
    let config = tickwire_tests::config_with(&[
        "server.bind=127.0.0.1:0",
        "server.admin=127.0.0.1:0",
        "game.prop_count=30",
        // The bots do shoot the browser player; weak shots keep it alive (and in place)
        // while the test checks where it walked.
        "game.weapon_damage=1",
    ]);
    let server = Server::start::<Arena>(&config).await.unwrap();
    let swarm =
        tickwire_tests::swarm_for(&server, 4, Duration::from_millis(200), Some("room-0"), 9);
    let bots = Swarm::start::<Arena>(&swarm).unwrap();

    let mut page = Browser::launch(&chromium).await;
    page.goto(&format!("http://{}/play?name=webby", server.admin_addr()))
        .await;
    page.wait_for(
        "window.tickwire && window.tickwire.status === 'playing' && window.tickwire.state && window.tickwire.state.synced && window.tickwire.state.stats.snapshots > 30",
        Duration::from_secs(15),
        "joined and synced over WebTransport",
    )
    .await;
    // It sees the four bots.
    page.wait_for(
        "window.tickwire.state.players.length === 4",
        Duration::from_secs(5),
        "the bots on screen",
    )
    .await;
    let status_x = |status: &serde_json::Value| {
        status["rooms"][0]["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "webby")
            .and_then(|c| c["state"]["x"].as_f64())
    };
    let status = || async {
        let (_, body) = tickwire_tests::harness::http_get(server.admin_addr(), "/status").await;
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    // /status refreshes once a second: wait for the player's state, then move right.
    let mut before = None;
    for _ in 0..30 {
        before = status_x(&status().await);
        if before.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = before.expect("the browser player's state in /status");
    let seen = status().await;
    let me = seen["rooms"][0]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "webby")
        .unwrap()
        .clone();
    assert_eq!(me["transport"], "webtransport", "{me}");
    page.key("d", true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    page.key("d", false).await;
    let mut after = before;
    for _ in 0..30 {
        after = status_x(&status().await).unwrap_or(before);
        if after > before + 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after > before + 2.0, "x {before} → {after}");
    // The client predicted every step the server took: no corrections on a clean link.
    let corrections = page.eval("window.tickwire.state.stats.corrections").await;
    let checked = page.eval("window.tickwire.state.stats.checked").await;
    assert_eq!(corrections, 0, "checked {checked}");
    assert!(checked.as_u64().unwrap() > 30, "{checked}");
    // The bots shoot it like anyone (lag compensation judging each shot): its health, as
    // the server replicates it, drops.
    let mut hit = false;
    for _ in 0..200 {
        let seen = status().await;
        hit = seen["rooms"][0]["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "webby")
            .and_then(|c| c["state"]["health"].as_f64())
            .is_some_and(|h| h < 100.0);
        if hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hit, "no bot hit the browser player in 20 s");
    let shot = screenshots().join("play.png");
    page.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());
    drop(page);
    bots.stop().await;
    server.shutdown("test over").await;
}
