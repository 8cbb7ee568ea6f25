//! A swarm of live bots: each one a full game client over real QUIC — clock sync,
//! prediction, interpolation and lag-compensated shooting through `tickwire-netcode` — so a
//! load test costs the server what real players cost.
//!
//! Bots are tokio tasks on the caller's runtime and share a few client endpoints (one UDP
//! socket each), never a thread per bot. Each bot publishes its cumulative figures into a
//! [`BotSlot`]; whoever runs the swarm samples the slots (about once a second) for progress
//! and the report.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tickwire_netcode::client::{ClientConfig, ClientNetcode};
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_netcode::protocol::{ClientControl, Hello, PROTOCOL_VERSION, ServerControl};
use tickwire_netcode::quic::{GameTransport, JoinError, ServerTrust, client_config, join};
use tickwire_netcode::{TickRate, codec};
use tickwire_sim::client::ArenaPrediction;
use tickwire_sim::replication::{ArenaEvent, arena_schema};
use tickwire_sim::{ArenaConfig, Rules};

use crate::behaviour::Behaviour;
use crate::conditioned_socket::client_endpoint;
use crate::pilot::{Pilot, Script, Verdict};

/// Bots sharing one client endpoint (one UDP socket): enough sockets that a snapshot burst
/// to every bot does not overflow one socket's receive buffer.
pub const BOTS_PER_ENDPOINT: usize = 64;
/// Longest wait for a connection and welcome.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// The server's QUIC address.
    pub server: SocketAddr,
    /// The name the server's certificate is checked against (unused with a fingerprint).
    pub server_name: String,
    /// How the server's certificate is trusted.
    pub trust: ServerTrust,
    /// Bots to connect.
    pub bots: usize,
    /// Connections are spread evenly over this long.
    pub ramp: Duration,
    /// A room to join by name; `None` lets the server place each bot.
    pub room: Option<String>,
    /// Seeds behaviours and network conditions.
    pub seed: u64,
    /// Network conditions (bot → server, server → bot) applied to the bots' sockets;
    /// `None` for the plain network.
    pub links: Option<(LinkConfig, LinkConfig)>,
    /// Frames per second each bot renders and samples input at.
    pub fps: u32,
    /// Transport settings.
    pub transport: GameTransport,
}

/// Where a bot is in its life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BotState {
    /// Not started yet (ramping).
    #[default]
    Waiting,
    /// Connecting and waiting for the welcome.
    Joining,
    /// Playing.
    Connected,
    /// Could not join, with why.
    Failed(String),
    /// Was playing and lost the connection (not by the swarm's choice), with why.
    Dropped(String),
    /// Left when the swarm stopped.
    Done,
}

/// A bot's cumulative figures, as it last published them.
#[derive(Debug, Clone, Default)]
pub struct BotFigures {
    /// Lifecycle.
    pub state: BotState,
    /// When it was welcomed.
    pub joined_at: Option<Instant>,
    /// The room it was placed in.
    pub room: String,
    /// Tick and snapshot rates from the welcome (snapshot rate as last retuned).
    pub rates: (u32, u32),
    /// Complete snapshots received.
    pub snapshots: u64,
    /// UDP bytes received and sent, QUIC overhead included (what the network carries).
    pub bytes_down: u64,
    /// See `bytes_down`.
    pub bytes_up: u64,
    /// QUIC's smoothed RTT (milliseconds).
    pub rtt_ms: f64,
    /// Prediction corrections.
    pub corrections: u64,
    /// Frames rendered, and of those extrapolated.
    pub frames: u64,
    /// See `frames`.
    pub extrapolated_frames: u64,
    /// Hits seen in the bot's own view that the server judged.
    pub hits_judged: u64,
    /// Of those, confirmed on the same target.
    pub hits_confirmed: u64,
}

/// Where one bot publishes its figures.
#[derive(Debug, Default)]
pub struct BotSlot(Mutex<BotFigures>);

impl BotSlot {
    /// A copy of the figures now.
    #[must_use]
    pub fn read(&self) -> BotFigures {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut BotFigures)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// A running swarm.
#[derive(Debug)]
pub struct Swarm {
    /// One slot per bot, in start order.
    pub slots: Vec<Arc<BotSlot>>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Kept so the sockets outlive every bot.
    _endpoints: Vec<quinn::Endpoint>,
}

impl Swarm {
    /// Starts `config.bots` bots on the current runtime, spread over the ramp.
    ///
    /// # Errors
    /// If a client endpoint cannot be made (socket, TLS configuration).
    pub fn start(config: &SwarmConfig) -> anyhow::Result<Self> {
        let client = client_config(config.trust.clone(), &config.transport)?;
        let bind: SocketAddr = if config.server.is_ipv6() {
            "[::]:0".parse()?
        } else {
            "0.0.0.0:0".parse()?
        };
        let endpoints = (0..config.bots.div_ceil(BOTS_PER_ENDPOINT).max(1))
            .map(|i| {
                let mut endpoint = client_endpoint(bind, config.links, config.seed ^ i as u64)?;
                endpoint.set_default_client_config(client.clone());
                Ok(endpoint)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let config = Arc::new(config.clone());
        let started = tokio::time::Instant::now();
        let mut slots = Vec::with_capacity(config.bots);
        let mut tasks = Vec::with_capacity(config.bots);
        for index in 0..config.bots {
            let slot = Arc::new(BotSlot::default());
            slots.push(Arc::clone(&slot));
            let endpoint = endpoints
                .get(index / BOTS_PER_ENDPOINT)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no endpoint for bot {index}"))?;
            let start_at = started
                + config
                    .ramp
                    .mul_f64(index as f64 / config.bots.max(1) as f64);
            let (config, stopping) = (Arc::clone(&config), stopping.clone());
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep_until(start_at) => {}
                    _ = wait_stop(stopping.clone()) => return,
                }
                let end = run_bot(&config, index, &endpoint, &slot, stopping).await;
                slot.update(|f| f.state = end);
            }));
        }
        Ok(Self {
            slots,
            stop,
            tasks,
            _endpoints: endpoints,
        })
    }

    /// Every bot's figures now.
    #[must_use]
    pub fn figures(&self) -> Vec<BotFigures> {
        self.slots.iter().map(|s| s.read()).collect()
    }

    /// Tells every bot to say goodbye and waits (bounded) for them to finish.
    pub async fn stop(self) -> Vec<BotFigures> {
        let _ = self.stop.send(true);
        let all = futures_join(self.tasks);
        let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
        self.slots.iter().map(|s| s.read()).collect()
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

async fn wait_stop(mut stopping: tokio::sync::watch::Receiver<bool>) {
    while !*stopping.borrow_and_update() {
        if stopping.changed().await.is_err() {
            return;
        }
    }
}

/// Why a join failed, in a few words a person can act on.
fn join_failure(e: &JoinError) -> String {
    match e {
        JoinError::Connect(m) if m.contains("timed out") => "timeout".to_owned(),
        JoinError::Connect(m) if m.contains("certificate") || m.contains("TLS") => {
            format!("TLS: {m}")
        }
        JoinError::Connect(m) if m.contains("refused") => format!("refused: {m}"),
        JoinError::Rejected { reason, message } => format!("rejected ({reason:?}): {message}"),
        other => other.to_string(),
    }
}

/// One bot from connect to goodbye; returns how it ended.
async fn run_bot(
    config: &SwarmConfig,
    index: usize,
    endpoint: &quinn::Endpoint,
    slot: &BotSlot,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> BotState {
    slot.update(|f| f.state = BotState::Joining);
    let hello = Hello {
        version: PROTOCOL_VERSION,
        name: format!("bot-{index}"),
        room: config.room.clone(),
        token: None,
    };
    let joining = tokio::time::timeout(
        JOIN_TIMEOUT,
        join(endpoint, config.server, &config.server_name, hello),
    );
    let joined = tokio::select! {
        joined = joining => match joined {
            Ok(Ok(joined)) => joined,
            Ok(Err(e)) => return BotState::Failed(join_failure(&e)),
            Err(_) => return BotState::Failed("timeout".to_owned()),
        },
        () = wait_stop(stopping.clone()) => {
            return BotState::Failed("still connecting when the run ended".to_owned());
        }
    };
    let welcome = joined.welcome;
    let (mut net, mut arena) = match client_from_welcome(&welcome) {
        Ok(built) => built,
        Err(e) => return BotState::Failed(format!("bad welcome: {e}")),
    };
    slot.update(|f| {
        f.state = BotState::Connected;
        f.joined_at = Some(Instant::now());
        f.room.clone_from(&welcome.room);
        f.rates = (welcome.tick_hz, welcome.snapshot_hz);
    });
    let connection = joined.connection;
    let mut send = joined.send;
    // Control messages are read on their own task: a read cut short by select! would lose
    // bytes of a frame.
    let (control_in, mut control) = tokio::sync::mpsc::channel(64);
    let mut recv = joined.recv;
    let reader = tokio::spawn(async move {
        loop {
            let message = tickwire_netcode::quic::recv_control::<ServerControl>(&mut recv).await;
            let end = !matches!(message, Ok(Some(_)));
            if control_in.send(message).await.is_err() || end {
                break;
            }
        }
    });
    let seed = config
        .seed
        .wrapping_mul(1_000_003)
        .wrapping_add(index as u64);
    let mut pilot = Pilot::new(Script::Play(Behaviour::mixed(index)), seed);
    let mut frames =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(config.fps.max(1))));
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut judged, mut confirmed) = (0u64, 0u64);
    let mut frame_count = 0u32;
    let mut stop = std::pin::pin!(wait_stop(stopping));
    let end = loop {
        tokio::select! {
            datagram = connection.read_datagram() => match datagram {
                Ok(bytes) => {
                    // Malformed snapshots are counted by the client and dropped.
                    let _ = net.handle_datagram(Instant::now(), &bytes);
                }
                Err(e) => break BotState::Dropped(format!("connection lost: {e}")),
            },
            _ = frames.tick() => {
                let now = Instant::now();
                pilot.frame(&mut net, now, &arena, &mut |d| {
                    // Too large or no datagram support: a bug, surfaced in the counts.
                    let _ = connection.send_datagram(Bytes::copy_from_slice(d));
                });
                frame_count += 1;
                // Figures once every few frames: enough for once-a-second sampling.
                if frame_count % 8 == 0 {
                    publish(slot, &net, &connection, judged, confirmed);
                }
            }
            message = control.recv() => match message {
                Some(Ok(Some(ServerControl::Event(bytes)))) => {
                    if let Ok(ArenaEvent::ShotJudged { tick, target }) = codec::decode::<ArenaEvent>(&bytes) {
                        match pilot.judged(tick, target) {
                            Verdict::Confirmed => { judged += 1; confirmed += 1; }
                            Verdict::Denied => judged += 1,
                            Verdict::NotSeen => {}
                        }
                    }
                }
                Some(Ok(Some(ServerControl::Tunables { snapshot_hz, interpolation_delay_ms, game }))) => {
                    match retuned(&net, &game).and_then(|(game, new_arena)| {
                        net.retune(snapshot_hz, interpolation_delay_ms, game)?;
                        Ok(new_arena)
                    }) {
                        Ok(new_arena) => {
                            arena = new_arena;
                            slot.update(|f| f.rates.1 = snapshot_hz);
                        }
                        Err(e) => tracing::warn!(bot = index, error = %e, "tunables refused"),
                    }
                }
                Some(Ok(Some(ServerControl::Goodbye { reason, message }))) => {
                    break BotState::Dropped(format!("server said goodbye ({reason:?}): {message}"));
                }
                Some(Ok(Some(_))) => {}
                Some(Ok(None)) | None => break BotState::Dropped("control stream closed".to_owned()),
                Some(Err(e)) => break BotState::Dropped(format!("control stream: {e}")),
            },
            () = &mut stop => {
                let goodbye = ClientControl::Goodbye { reason: "load test over".to_owned() };
                let _ = tickwire_netcode::quic::send_control(&mut send, &goodbye).await;
                let _ = send.finish();
                publish(slot, &net, &connection, judged, confirmed);
                let _ = tokio::time::timeout(Duration::from_millis(300), send.stopped()).await;
                connection.close(quinn::VarInt::from_u32(0), b"load test over");
                break BotState::Done;
            }
        }
    };
    publish(slot, &net, &connection, judged, confirmed);
    reader.abort();
    end
}

/// The client netcode and arena a welcome describes.
fn client_from_welcome(
    welcome: &tickwire_netcode::protocol::Welcome,
) -> anyhow::Result<(ClientNetcode<ArenaPrediction>, ArenaConfig)> {
    let arena: ArenaConfig = codec::decode(&welcome.game)?;
    let rules = Rules::new(arena.clone(), TickRate::new(welcome.tick_hz)?)?;
    let schema = arena_schema(rules.config());
    let net = ClientNetcode::new(
        ArenaPrediction::new(rules),
        schema,
        ClientConfig::from_welcome(welcome)?,
        Instant::now(),
    );
    Ok((net, arena))
}

/// New prediction rules from a `Tunables` message's game bytes.
fn retuned(
    net: &ClientNetcode<ArenaPrediction>,
    game: &[u8],
) -> Result<(ArenaPrediction, ArenaConfig), tickwire_netcode::ConfigError> {
    let arena: ArenaConfig = codec::decode(game)
        .map_err(|e| tickwire_netcode::ConfigError::invalid("game", "…", e.to_string()))?;
    let rules = Rules::new(arena.clone(), net.config().tick_rate)?;
    Ok((ArenaPrediction::new(rules), arena))
}

fn publish(
    slot: &BotSlot,
    net: &ClientNetcode<ArenaPrediction>,
    connection: &quinn::Connection,
    judged: u64,
    confirmed: u64,
) {
    let stats = net.stats();
    let quic = connection.stats();
    let corrections = net.prediction_stats().corrections;
    let rtt_ms = connection.rtt().as_secs_f64() * 1000.0;
    slot.update(|f| {
        f.snapshots = stats.snapshots;
        f.frames = stats.frames;
        f.extrapolated_frames = stats.extrapolated_frames;
        f.bytes_down = quic.udp_rx.bytes;
        f.bytes_up = quic.udp_tx.bytes;
        f.rtt_ms = rtt_ms;
        f.corrections = corrections;
        f.hits_judged = judged;
        f.hits_confirmed = confirmed;
    });
}
