//! A swarm of live bots: each one a full game client over real QUIC — clock sync,
//! prediction, interpolation and lag-compensated shooting through `tickwire-netcode` — so a
//! load test costs the server what real players cost.
//!
//! Bots run on the caller's runtime, never a thread per bot. Up to [`BOTS_PER_ENDPOINT`]
//! share one client endpoint (one UDP socket) and one task that steps them all each frame:
//! each bot reads the datagrams that arrived, plays a frame and sends its input, as a game
//! reads its socket once a frame, so a swarm costs a wake-up per group per frame rather than
//! one per datagram. Joining runs on a task per bot. Each bot publishes its cumulative
//! figures into a [`BotSlot`]; whoever runs the swarm samples the slots (about once a
//! second) for progress and the report.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tickwire_netcode::client::{ClientConfig, ClientNetcode};
use tickwire_netcode::game::Game;
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_netcode::protocol::{ClientControl, Hello, PROTOCOL_VERSION, ServerControl};
use tickwire_netcode::quic::{GameTransport, JoinError, ServerTrust, client_config, join};
use tickwire_netcode::tunables::{self, Tunable};
use tickwire_netcode::udp::Drops;
use tickwire_netcode::{TickRate, codec};

use crate::behaviour::Behaviour;
use crate::conditioned_socket::client_endpoint;
use crate::pilot::{BotGame, Pilot, Script, Verdict};

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
    /// A seat-token key: each bot mints its own token (user `bot-N`, for `room` or any),
    /// for a server that checks tokens; `None` joins without one.
    pub token_key: Option<Arc<tickwire_netcode::token::Key>>,
}

/// How long a bot's own seat token stays valid.
const TOKEN_TTL: Duration = Duration::from_secs(60);

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

/// How well the bots kept to their frame clock, all groups together: the load generator's
/// own health. Bots that fall behind it are short of CPU, and then a run measures the
/// machine the bots run on, not the server.
#[derive(Debug, Clone)]
pub struct FrameFigures {
    /// Frames stepped.
    pub frames: u64,
    /// Of those, stepped a whole frame interval or more after they were due.
    pub late: u64,
    /// Frames never stepped because the group was still busy when they were due.
    pub skipped: u64,
    /// How long after its due time each frame was stepped (microseconds).
    pub lateness_us: Histogram<u64>,
}

impl Default for FrameFigures {
    #[allow(clippy::expect_used)] // constant, valid histogram bounds
    fn default() -> Self {
        Self {
            frames: 0,
            late: 0,
            skipped: 0,
            lateness_us: Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"),
        }
    }
}

impl FrameFigures {
    /// Frames stepped within a frame interval of their due time, of all that were due.
    #[must_use]
    pub fn on_time_fraction(&self) -> f64 {
        let due = self.frames + self.skipped;
        if due == 0 {
            return 1.0;
        }
        self.frames.saturating_sub(self.late) as f64 / due as f64
    }

    fn merge(&mut self, other: &mut Self) {
        self.frames += other.frames;
        self.late += other.late;
        self.skipped += other.skipped;
        let _ = self.lateness_us.add(&other.lateness_us);
        other.frames = 0;
        other.late = 0;
        other.skipped = 0;
        other.lateness_us.reset();
    }
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
    frames: Arc<Mutex<FrameFigures>>,
    /// Kept so the sockets outlive every bot.
    _endpoints: Vec<quinn::Endpoint>,
    /// The kernel's drop counters of the endpoints' sockets.
    udp_drops: Vec<Drops>,
}

impl Swarm {
    /// Starts `config.bots` bots playing `G` on the current runtime, spread over the ramp.
    ///
    /// # Errors
    /// If a client endpoint cannot be made (socket, TLS configuration).
    pub fn start<G: BotGame>(config: &SwarmConfig) -> anyhow::Result<Self> {
        let client = client_config(config.trust.clone(), &config.transport)?;
        let bind: SocketAddr = if config.server.is_ipv6() {
            "[::]:0".parse()?
        } else {
            "0.0.0.0:0".parse()?
        };
        let (endpoints, udp_drops): (Vec<_>, Vec<_>) =
            (0..config.bots.div_ceil(BOTS_PER_ENDPOINT).max(1))
                .map(|i| {
                    let (mut endpoint, drops) = client_endpoint(
                        bind,
                        config.transport.udp_buffer_bytes,
                        config.links,
                        config.seed ^ i as u64,
                    )?;
                    endpoint.set_default_client_config(client.clone());
                    Ok((endpoint, drops))
                })
                .collect::<std::io::Result<Vec<_>>>()?
                .into_iter()
                .unzip();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let config = Arc::new(config.clone());
        let started = tokio::time::Instant::now();
        let mut slots = Vec::with_capacity(config.bots);
        let mut tasks = Vec::with_capacity(config.bots + endpoints.len());
        let mut groups = Vec::with_capacity(endpoints.len());
        let frames = Arc::new(Mutex::new(FrameFigures::default()));
        for _ in &endpoints {
            let (arrive, arrivals) = tokio::sync::mpsc::unbounded_channel();
            groups.push(arrive);
            tasks.push(tokio::spawn(run_group::<G>(
                arrivals,
                config.fps,
                stopping.clone(),
                Arc::clone(&frames),
            )));
        }
        for index in 0..config.bots {
            let slot = Arc::new(BotSlot::default());
            slots.push(Arc::clone(&slot));
            let group = index / BOTS_PER_ENDPOINT;
            let (Some(endpoint), Some(arrive)) =
                (endpoints.get(group).cloned(), groups.get(group).cloned())
            else {
                anyhow::bail!("no endpoint for bot {index}");
            };
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
                match connect::<G>(&config, index, &endpoint, slot, stopping).await {
                    Ok(bot) => {
                        // The group ended (the run is over): dropping the bot closes it.
                        let _ = arrive.send(bot);
                    }
                    Err((slot, end)) => slot.update(|f| f.state = end),
                }
            }));
        }
        Ok(Self {
            slots,
            stop,
            tasks,
            frames,
            _endpoints: endpoints,
            udp_drops: udp_drops.into_iter().flatten().collect(),
        })
    }

    /// Packets the kernel dropped on the bots' sockets before they were read (their
    /// receive buffers overflowed: the bots fell behind); `None` where it cannot be read.
    #[must_use]
    pub fn udp_receive_drops(&self) -> Option<u64> {
        if self.udp_drops.is_empty() {
            return None;
        }
        self.udp_drops.iter().map(Drops::read).sum()
    }

    /// Every bot's figures now.
    #[must_use]
    pub fn figures(&self) -> Vec<BotFigures> {
        self.slots.iter().map(|s| s.read()).collect()
    }

    /// How the bots have kept to their frame clock so far (groups report about once a
    /// second).
    #[must_use]
    pub fn frames(&self) -> FrameFigures {
        self.frames
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

/// Most datagrams a bot takes per frame; more wait in quinn's receive buffer.
const MAX_DATAGRAMS_PER_FRAME: usize = 16;

/// A bot that is in: its connection and its client.
struct LiveBot<G: BotGame> {
    index: usize,
    slot: Arc<BotSlot>,
    connection: quinn::Connection,
    send: quinn::SendStream,
    control: tokio::sync::mpsc::Receiver<ControlRead>,
    reader: tokio::task::JoinHandle<()>,
    net: ClientNetcode<G::Prediction>,
    /// The game's values, as the welcome (or the last retune) said.
    game: G::Config,
    pilot: G::Pilot,
    judged: u64,
    confirmed: u64,
    frames: u32,
}

type ControlRead = Result<Option<ServerControl>, tickwire_netcode::quic::QuicError>;

/// Connects bot `index`, says hello, and returns it playing, or its slot and why not.
async fn connect<G: BotGame>(
    config: &SwarmConfig,
    index: usize,
    endpoint: &quinn::Endpoint,
    slot: Arc<BotSlot>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<LiveBot<G>, (Arc<BotSlot>, BotState)> {
    slot.update(|f| f.state = BotState::Joining);
    let name = format!("bot-{index}");
    let token = match &config.token_key {
        Some(key) => {
            let now = tickwire_server::auth::unix_now();
            match key.mint_for(&name, config.room.as_deref(), TOKEN_TTL, now) {
                Ok(token) => Some(token),
                Err(e) => return Err((slot, BotState::Failed(format!("no seat token: {e}")))),
            }
        }
        None => None,
    };
    let hello = Hello {
        version: PROTOCOL_VERSION,
        name,
        room: config.room.clone(),
        token,
    };
    let joining = tokio::time::timeout(
        JOIN_TIMEOUT,
        join(endpoint, config.server, &config.server_name, hello),
    );
    let joined = tokio::select! {
        joined = joining => match joined {
            Ok(Ok(joined)) => joined,
            Ok(Err(e)) => return Err((slot, BotState::Failed(join_failure(&e)))),
            Err(_) => return Err((slot, BotState::Failed("timeout".to_owned()))),
        },
        () = wait_stop(stopping) => {
            return Err((slot, BotState::Failed("still connecting when the run ended".to_owned())));
        }
    };
    let welcome = joined.welcome;
    let (net, game) = match client_from_welcome::<G>(&welcome) {
        Ok(built) => built,
        Err(e) => return Err((slot, BotState::Failed(format!("bad welcome: {e}")))),
    };
    slot.update(|f| {
        f.state = BotState::Connected;
        f.joined_at = Some(Instant::now());
        f.room.clone_from(&welcome.room);
        f.rates = (welcome.tick_hz, welcome.snapshot_hz);
    });
    // Control messages are read on their own task: a read cut short would lose bytes of a
    // frame, and they are rare (shot verdicts, tunables, goodbye).
    let (control_in, control) = tokio::sync::mpsc::channel(64);
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
    Ok(LiveBot {
        index,
        slot,
        connection: joined.connection,
        send: joined.send,
        control,
        reader,
        net,
        game,
        pilot: G::Pilot::new(Script::Play(Behaviour::mixed(index)), seed),
        judged: 0,
        confirmed: 0,
        frames: 0,
    })
}

/// The bots of one endpoint, all stepped by one frame timer: each frame every bot takes
/// the datagrams that arrived (as a game reads its socket once a frame), plays a frame and
/// sends its input. One wake-up per frame for the group, none per datagram.
async fn run_group<G: BotGame>(
    mut arrivals: tokio::sync::mpsc::UnboundedReceiver<LiveBot<G>>,
    fps: u32,
    stopping: tokio::sync::watch::Receiver<bool>,
    shared_frames: Arc<Mutex<FrameFigures>>,
) {
    let mut bots: Vec<LiveBot<G>> = Vec::new();
    let period = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
    let mut frames = tokio::time::interval(period);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop = std::pin::pin!(wait_stop(stopping));
    let mut clock = FrameFigures::default();
    let mut last_due: Option<tokio::time::Instant> = None;
    loop {
        let due = tokio::select! {
            due = frames.tick() => due,
            () = &mut stop => break,
        };
        while let Ok(bot) = arrivals.try_recv() {
            bots.push(bot);
        }
        let now = Instant::now();
        // Only frames with bots to step say anything about the generator.
        if !bots.is_empty() {
            let late = tokio::time::Instant::now().saturating_duration_since(due);
            clock.frames += 1;
            clock.late += u64::from(late >= period);
            clock
                .lateness_us
                .saturating_record(u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
            if let Some(last) = last_due {
                let periods =
                    due.saturating_duration_since(last).as_secs_f64() / period.as_secs_f64();
                clock.skipped += (periods.round() as u64).saturating_sub(1);
            }
            last_due = Some(due);
            if clock.frames >= u64::from(fps) {
                shared_frames
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .merge(&mut clock);
            }
        }
        bots.retain_mut(|bot| match bot.frame(now) {
            None => true,
            Some(end) => {
                bot.publish();
                bot.reader.abort();
                bot.slot.update(|f| f.state = end);
                false
            }
        });
    }
    shared_frames
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .merge(&mut clock);
    while let Ok(bot) = arrivals.try_recv() {
        bots.push(bot);
    }
    let goodbye = ClientControl::Goodbye {
        reason: "load test over".to_owned(),
    };
    for bot in &mut bots {
        bot.publish();
        let _ = tokio::time::timeout(
            Duration::from_millis(50),
            tickwire_netcode::quic::send_control(&mut bot.send, &goodbye),
        )
        .await;
        let _ = bot.send.finish();
    }
    // Let the goodbyes leave before the connections close.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for bot in bots {
        bot.connection
            .close(quinn::VarInt::from_u32(0), b"load test over");
        bot.reader.abort();
        bot.slot.update(|f| f.state = BotState::Done);
    }
}

impl<G: BotGame> LiveBot<G> {
    /// One frame at `now`; `Some` with how the bot ended when it did.
    fn frame(&mut self, now: Instant) -> Option<BotState> {
        for _ in 0..MAX_DATAGRAMS_PER_FRAME {
            match tickwire_netcode::quic::try_read_datagram(&self.connection) {
                None => break,
                // Malformed snapshots are counted by the client and dropped.
                Some(Ok(bytes)) => drop(self.net.handle_datagram(now, &bytes)),
                Some(Err(e)) => return Some(BotState::Dropped(format!("connection lost: {e}"))),
            }
        }
        while let Ok(message) = self.control.try_recv() {
            if let Some(end) = self.on_control(message) {
                return Some(end);
            }
        }
        let connection = &self.connection;
        self.pilot.frame(&mut self.net, now, &self.game, &mut |d| {
            // Too large or no datagram support: a bug, surfaced in the counts.
            let _ = connection.send_datagram(Bytes::copy_from_slice(d));
        });
        self.frames += 1;
        // Figures every few frames: enough for once-a-second sampling.
        if self.frames % 8 == 0 {
            self.publish();
        }
        None
    }

    fn on_control(&mut self, message: ControlRead) -> Option<BotState> {
        match message {
            Ok(Some(ServerControl::Event(bytes))) => {
                if let Ok(event) = codec::decode::<G::Event>(&bytes) {
                    match self.pilot.on_event(&event) {
                        Verdict::Confirmed => {
                            self.judged += 1;
                            self.confirmed += 1;
                        }
                        Verdict::Denied => self.judged += 1,
                        Verdict::NotSeen => {}
                    }
                }
                None
            }
            Ok(Some(ServerControl::Tunables {
                snapshot_hz,
                interpolation_delay_ms,
                tunables,
            })) => {
                let applied = retuned::<G>(&self.net, &tunables).and_then(|(rules, game)| {
                    self.net
                        .retune(snapshot_hz, interpolation_delay_ms, rules)?;
                    Ok(game)
                });
                match applied {
                    Ok(game) => {
                        self.game = game;
                        self.slot.update(|f| f.rates.1 = snapshot_hz);
                    }
                    Err(e) => tracing::warn!(bot = self.index, error = %e, "tunables refused"),
                }
                None
            }
            Ok(Some(ServerControl::Goodbye { reason, message })) => Some(BotState::Dropped(
                format!("server said goodbye ({reason:?}): {message}"),
            )),
            Ok(Some(_)) => None,
            Ok(None) => Some(BotState::Dropped("control stream closed".to_owned())),
            Err(e) => Some(BotState::Dropped(format!("control stream: {e}"))),
        }
    }

    fn publish(&self) {
        let stats = self.net.stats();
        let quic = self.connection.stats();
        let corrections = self.net.prediction_stats().corrections;
        let rtt_ms = self.connection.rtt().as_secs_f64() * 1000.0;
        let (judged, confirmed) = (self.judged, self.confirmed);
        self.slot.update(|f| {
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
}

/// The client netcode and game values a welcome describes, for a bot playing `G`.
fn client_from_welcome<G: BotGame>(
    welcome: &tickwire_netcode::protocol::Welcome,
) -> anyhow::Result<(ClientNetcode<G::Prediction>, G::Config)> {
    // A server playing another game (or another version of it) says so; decoding its
    // snapshots as this game's would be nonsense.
    if welcome.game != G::NAME {
        anyhow::bail!(
            "the server plays {:?}; these bots play {:?} (--game)",
            welcome.game,
            G::NAME
        );
    }
    let game: G::Config = tunables::unflatten(&welcome.tunables)?;
    let rate = TickRate::new(welcome.tick_hz)?;
    let prediction = G::prediction(&game, rate)?;
    let schema = G::schema(&game);
    if schema.describe() != welcome.schema {
        anyhow::bail!(
            "the server's {} replicates other fields than this bot's (another version?)",
            G::NAME
        );
    }
    let net = ClientNetcode::new(
        prediction,
        schema,
        ClientConfig::from_welcome(welcome)?,
        Instant::now(),
    );
    Ok((net, game))
}

/// New prediction rules and game values from a `Tunables` message's game tunables.
fn retuned<G: Game>(
    net: &ClientNetcode<G::Prediction>,
    game: &[Tunable],
) -> Result<(G::Prediction, G::Config), tickwire_netcode::ConfigError> {
    let config: G::Config = tunables::unflatten(game)
        .map_err(|e| tickwire_netcode::ConfigError::invalid("tunables", "…", e.to_string()))?;
    let rules = G::prediction(&config, net.config().tick_rate)?;
    Ok((rules, config))
}
