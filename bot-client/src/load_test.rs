//! A whole load test: start a [`Swarm`], sample it about once a second (with the server's
//! own `/status` when its admin address is known), stop it, and build the [`Report`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::monitor::{Monitor, SwarmFigures};
use crate::pilot::BotGame;
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

/// Runs `config` with bots playing `G` for `plan.duration` (or until Ctrl-C), calling
/// `on_sample` with each sample and every bot's figures, and returns the report.
///
/// # Errors
/// If the swarm cannot start (sockets, TLS configuration).
pub async fn run<G: BotGame>(
    config: &SwarmConfig,
    plan: &Plan,
    on_sample: &mut dyn FnMut(&Sample, &[BotFigures]),
) -> anyhow::Result<Report> {
    probe(config).await?;
    let swarm = Swarm::start::<G>(config)?;
    let mut monitor = Monitor::new(config.bots);
    let mut ticker = tokio::time::interval(plan.sample_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticker.tick().await; // the first tick is immediate
    let end = tokio::time::Instant::now() + plan.duration;
    let mut last_status = None;
    // The last failure of the server's admin address, said once when it starts failing.
    let mut admin_error = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = tokio::time::sleep_until(end) => break,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("Ctrl-C: stopping the bots early");
                break;
            }
        }
        let status = server_status(plan.admin, &mut admin_error).await;
        if status.is_some() {
            last_status.clone_from(&status);
        }
        let figures = swarm.figures();
        let sample = monitor.sample(&figures, status.as_ref());
        on_sample(&sample, &figures);
    }
    // The server's figures while every bot is still on it, and the bots' figures before
    // the goodbyes (their rates end here).
    let status = server_status(plan.admin, &mut admin_error)
        .await
        .or(last_status);
    let ended = std::time::Instant::now();
    let mut figures = swarm.figures();
    let frames = swarm.frames();
    let udp_receive_drops = swarm.udp_receive_drops();
    for (f, end) in figures.iter_mut().zip(swarm.stop().await) {
        if !matches!(end.state, BotState::Done) {
            f.state = end.state;
        }
    }
    let mut report = monitor.report(
        ended,
        config.bots,
        SwarmFigures {
            bots: &figures,
            frames: &frames,
            udp_receive_drops,
        },
        status.as_ref(),
        &plan.profile,
    );
    if report.server.is_none() {
        report.server_unreachable = admin_error;
    }
    Ok(report)
}

/// How long the first connection may take before the run is called off: a server that is
/// there completes a QUIC handshake on a LAN or the internet well within it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Checks that a Tickwire server answers at the swarm's address (a QUIC handshake, no
/// hello: the connection closes at once), so that bots aimed at nothing fail in seconds
/// with the address named instead of timing out one by one.
///
/// # Errors
/// Nothing answered within [`PROBE_TIMEOUT`], or the handshake failed (a certificate that
/// does not match, another protocol).
async fn probe(config: &SwarmConfig) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut endpoint = quinn::Endpoint::client(if config.server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    })
    .context("cannot open a socket to reach the server")?;
    endpoint.set_default_client_config(tickwire_netcode::quic::client_config(
        config.trust.clone(),
        &config.transport,
    )?);
    let connecting = endpoint
        .connect(config.server, &config.server_name)
        .with_context(|| format!("cannot connect to {}", config.server))?;
    let connection = tokio::time::timeout(PROBE_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no answer from {} within {PROBE_TIMEOUT:?}: is a Tickwire server listening \
                 there (UDP)?",
                config.server
            )
        })?
        .with_context(|| format!("cannot connect to {}", config.server))?;
    connection.close(quinn::VarInt::from_u32(0), b"probe");
    endpoint.wait_idle().await;
    Ok(())
}

async fn server_status(
    admin: Option<SocketAddr>,
    last_error: &mut Option<String>,
) -> Option<serde_json::Value> {
    let admin = admin?;
    match crate::status::fetch(admin).await {
        Ok(status) => {
            *last_error = None;
            Some(status)
        }
        Err(e) => {
            let e = format!("{e:#}");
            if last_error.is_none() {
                tracing::warn!(error = e, "no server figures from its admin address");
            }
            *last_error = Some(e);
            None
        }
    }
}
