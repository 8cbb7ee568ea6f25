//! A whole load test: start a [`Swarm`], sample it about once a second (with the server's
//! own `/status` when its admin address is known), stop it, and build the [`Report`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::monitor::{Monitor, SwarmFigures};
use crate::report::{Report, Sample};
use crate::swarm::{BotFigures, BotState, Swarm, SwarmConfig};

/// How long to run and where to read the server's figures.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The whole run, ramp included.
    pub duration: Duration,
    /// The server's admin address, for its `/status`; `None` leaves server figures out.
    pub admin: Option<SocketAddr>,
    /// The network profile's name, for the report.
    pub profile: String,
    /// Time between samples.
    pub sample_every: Duration,
}

/// Runs `config` for `plan.duration` (or until Ctrl-C), calling `on_sample` with each
/// sample and every bot's figures, and returns the report.
///
/// # Errors
/// If the swarm cannot start (sockets, TLS configuration).
pub async fn run(
    config: &SwarmConfig,
    plan: &Plan,
    on_sample: &mut dyn FnMut(&Sample, &[BotFigures]),
) -> anyhow::Result<Report> {
    let swarm = Swarm::start(config)?;
    let mut monitor = Monitor::new(config.bots);
    let mut ticker = tokio::time::interval(plan.sample_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticker.tick().await; // the first tick is immediate
    let end = tokio::time::Instant::now() + plan.duration;
    let mut last_status = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = tokio::time::sleep_until(end) => break,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("Ctrl-C: stopping the bots early");
                break;
            }
        }
        let status = server_status(plan.admin).await;
        if status.is_some() {
            last_status.clone_from(&status);
        }
        let figures = swarm.figures();
        let sample = monitor.sample(&figures, status.as_ref());
        on_sample(&sample, &figures);
    }
    // The server's figures while every bot is still on it, and the bots' figures before
    // the goodbyes (their rates end here).
    let status = server_status(plan.admin).await.or(last_status);
    let ended = std::time::Instant::now();
    let mut figures = swarm.figures();
    let frames = swarm.frames();
    let udp_receive_drops = swarm.udp_receive_drops();
    for (f, end) in figures.iter_mut().zip(swarm.stop().await) {
        if !matches!(end.state, BotState::Done) {
            f.state = end.state;
        }
    }
    Ok(monitor.report(
        ended,
        config.bots,
        SwarmFigures {
            bots: &figures,
            frames: &frames,
            udp_receive_drops,
        },
        status.as_ref(),
        &plan.profile,
    ))
}

async fn server_status(admin: Option<SocketAddr>) -> Option<serde_json::Value> {
    let admin = admin?;
    match crate::status::fetch(admin).await {
        Ok(status) => Some(status),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "no server figures this time");
            None
        }
    }
}
