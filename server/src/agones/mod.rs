//! Running as a GameServer of an Agones fleet, through the SDK sidecar's HTTP/JSON gateway.
//!
//! - **Ready** once the game endpoint listens (retried until the sidecar answers).
//! - **Health** from the tick loops ([`Heartbeat`]): pings stop when any room stops ticking.
//! - **Players** in an Agones List, one value per connected player ([`Presence`] events);
//!   its capacity is the server's. After a failed call the List is brought back in line
//!   with who is connected, once a second until it works.
//! - **Allocation** seen on the GameServer's watch stream, with the match's settings
//!   ([`MatchSettings`]), handed to the binary as a [`FleetEvent`].
//! - **Shutdown** when the server stops ([`Agones::shutdown`]), or when an allocated
//!   match's last player leaves (`agones.shutdown_when_empty`, a [`FleetEvent::MatchOver`]).
//!
//! Nothing here runs on a tick thread, and no call to the sidecar is waited for by one: a
//! sidecar that is slow or gone costs logs and retries, never a tick.
//!
//! [`Presence`]: crate::presence::Presence

pub mod gameserver;
pub mod heartbeat;
pub mod local;
pub mod sdk;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

pub use gameserver::{GameServer, MatchSettings};
pub use heartbeat::Heartbeat;
pub use sdk::{SdkClient, SdkError};

use crate::config::AgonesSection;
use crate::presence::PresenceEvent;

/// The sidecar's HTTP port when neither config nor environment names one.
pub const DEFAULT_HTTP_PORT: u16 = 9358;
/// The health period when neither config nor the GameServer says (Agones's default).
pub const DEFAULT_HEALTH_PERIOD: Duration = Duration::from_secs(5);
/// Pause between attempts when the sidecar fails.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What the fleet asks of the running server; the binary acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetEvent {
    /// The GameServer was allocated to a match, which asks for these settings.
    Allocated(MatchSettings),
    /// An allocated match's last player left, and `agones.shutdown_when_empty` is on.
    MatchOver,
}

/// The sidecar's HTTP port if the server should talk to Agones: when `[agones] enabled`,
/// or when the sidecar's environment (`AGONES_SDK_HTTP_PORT`, `AGONES_SDK_GRPC_PORT`) is
/// there. `env` reads an environment variable.
///
/// # Errors
/// `AGONES_SDK_HTTP_PORT` is set but is not a port number.
pub fn sdk_port(
    section: &AgonesSection,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<u16>, tickwire_netcode::ConfigError> {
    let http = env("AGONES_SDK_HTTP_PORT");
    let on = section.enabled || http.is_some() || env("AGONES_SDK_GRPC_PORT").is_some();
    if !on {
        return Ok(None);
    }
    if section.sdk_http_port != 0 {
        return Ok(Some(section.sdk_http_port));
    }
    match http {
        Some(text) => text.trim().parse().map(Some).map_err(|_| {
            tickwire_netcode::ConfigError::invalid(
                "AGONES_SDK_HTTP_PORT",
                format!("{text:?}"),
                "a port number (the environment Agones gives the game server)",
            )
        }),
        None => Ok(Some(DEFAULT_HTTP_PORT)),
    }
}

/// What [`Agones::start`] needs to know.
#[derive(Clone, Debug)]
pub struct AgonesOptions {
    /// The sidecar's HTTP port on localhost.
    pub port: u16,
    /// The health period from config; `None` reads the GameServer's.
    pub health_period: Option<Duration>,
    /// The List holding the players.
    pub players_list: String,
    /// The List's capacity: the most players the server takes.
    pub capacity: u64,
    /// Shut down when an allocated match's last player leaves.
    pub shutdown_when_empty: bool,
}

impl AgonesOptions {
    /// The options `section` configures for a server of `capacity` players, talking to the
    /// sidecar on `port`.
    #[must_use]
    pub fn new(section: &AgonesSection, port: u16, capacity: u64) -> Self {
        Self {
            port,
            health_period: (section.health_period_s > 0)
                .then(|| Duration::from_secs(u64::from(section.health_period_s))),
            players_list: section.players_list.clone(),
            capacity,
            shutdown_when_empty: section.shutdown_when_empty,
        }
    }
}

/// The server's side of Agones: tasks on the tokio runtime that talk to the sidecar.
#[derive(Debug)]
pub struct Agones {
    sdk: SdkClient,
    tasks: Vec<JoinHandle<()>>,
}

impl Agones {
    /// Starts talking to the sidecar (call once the game endpoint listens, inside a tokio
    /// runtime): Ready, health pings as `heartbeat` asks, the players List from
    /// `presence`, and the GameServer's watch, whose allocations arrive on `fleet`.
    #[must_use]
    pub fn start(
        options: AgonesOptions,
        heartbeat: Arc<Heartbeat>,
        presence: UnboundedReceiver<PresenceEvent>,
        fleet: UnboundedSender<FleetEvent>,
    ) -> Self {
        let sdk = SdkClient::new(options.port);
        tracing::info!(
            port = options.port,
            list = options.players_list,
            "Agones: talking to the SDK server"
        );
        let allocated = Arc::new(AtomicBool::new(false));
        let tasks = vec![
            tokio::spawn(lifecycle(
                sdk.clone(),
                options.clone(),
                Arc::clone(&heartbeat),
                Arc::clone(&allocated),
                fleet.clone(),
            )),
            tokio::spawn(health(sdk.clone(), heartbeat)),
            tokio::spawn(players(sdk.clone(), options, presence, allocated, fleet)),
        ];
        Self { sdk, tasks }
    }

    /// Tells Agones the server is shutting down (after the players had their goodbyes),
    /// trying for a few seconds, and stops talking to the sidecar.
    pub async fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
        for attempt in 1..=3 {
            match self.sdk.shutdown().await {
                Ok(()) => {
                    tracing::info!("Agones: Shutdown");
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "Agones: Shutdown failed");
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        }
    }
}

impl Drop for Agones {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Counts a failed call to the sidecar.
fn count_failure(call: &'static str) {
    metrics::counter!("tickwire_agones_failures_total", "call" => call).increment(1);
}

/// Ready (retried until it works), the health period, then the GameServer's watch for ever.
async fn lifecycle(
    sdk: SdkClient,
    options: AgonesOptions,
    heartbeat: Arc<Heartbeat>,
    allocated: Arc<AtomicBool>,
    fleet: UnboundedSender<FleetEvent>,
) {
    let mut attempt = 0u32;
    while let Err(e) = sdk.ready().await {
        count_failure("ready");
        attempt += 1;
        if attempt == 1 || attempt % 30 == 0 {
            tracing::warn!(attempt, error = %e, "Agones: Ready not delivered yet; retrying every second and serving meanwhile");
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
    tracing::info!("Agones: Ready");
    let mut watcher = Watcher {
        allocated,
        fleet,
        last_state: String::new(),
    };
    match sdk.game_server().await {
        Ok(server) => {
            let period =
                options
                    .health_period
                    .unwrap_or_else(|| match server.spec.health.period_seconds {
                        0 => DEFAULT_HEALTH_PERIOD,
                        s => Duration::from_secs(s),
                    });
            heartbeat.set_period(period);
            tracing::info!(
                game_server = server.object_meta.name,
                state = server.status.state,
                health_period = ?period,
                "Agones: GameServer"
            );
        }
        Err(e) => {
            count_failure("gameserver");
            tracing::warn!(error = %e, health_period = ?heartbeat.period(), "Agones: cannot read the GameServer; keeping the health period");
        }
    }
    loop {
        match sdk.watch().await {
            Ok(mut watch) => {
                // A change between Ready and the watch's start would otherwise go unseen.
                if let Ok(server) = sdk.game_server().await {
                    watcher.saw(&server);
                }
                while let Some(update) = watch.next().await {
                    match update {
                        Ok(server) => watcher.saw(&server),
                        Err(e) => {
                            tracing::warn!(error = %e, "Agones: watch stream error");
                            break;
                        }
                    }
                }
                tracing::debug!("Agones: watch stream ended; watching again");
            }
            Err(e) => {
                count_failure("watch");
                tracing::warn!(error = %e, "Agones: cannot watch the GameServer; retrying");
            }
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Turns the GameServer's updates into fleet events.
struct Watcher {
    allocated: Arc<AtomicBool>,
    fleet: UnboundedSender<FleetEvent>,
    last_state: String,
}

impl Watcher {
    fn saw(&mut self, server: &GameServer) {
        let state = &server.status.state;
        if *state == self.last_state {
            return;
        }
        tracing::info!(from = self.last_state, to = %state, "Agones: GameServer state");
        self.last_state.clone_from(state);
        let allocated = state == "Allocated";
        if allocated && !self.allocated.swap(true, Ordering::Relaxed) {
            let settings = MatchSettings::of(server);
            tracing::info!(
                game_server = server.object_meta.name,
                match_id = settings.match_id.as_deref(),
                settings = settings.assignments.join(" "),
                "Agones: allocated"
            );
            let _ = self.fleet.send(FleetEvent::Allocated(settings));
        }
        // Once allocated, a server stays its match's: it never calls Ready again, so a
        // `Ready` seen afterwards is an older update arriving late (the watch stream replays
        // what queued up before the first read), not a new match.
    }
}

/// A health ping each time the tick loops ask for one.
async fn health(sdk: SdkClient, heartbeat: Arc<Heartbeat>) {
    let mut failing = false;
    loop {
        heartbeat.ping_wanted().await;
        match sdk.health().await {
            Ok(()) => {
                metrics::counter!("tickwire_agones_health_pings_total").increment(1);
                if std::mem::take(&mut failing) {
                    tracing::info!("Agones: health pings delivered again");
                }
            }
            Err(e) => {
                count_failure("health");
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "Agones: health ping not delivered; retrying with the next one");
                }
            }
        }
    }
}

/// Keeps the players List equal to who is connected.
async fn players(
    sdk: SdkClient,
    options: AgonesOptions,
    mut presence: UnboundedReceiver<PresenceEvent>,
    allocated: Arc<AtomicBool>,
    fleet: UnboundedSender<FleetEvent>,
) {
    let list = options.players_list.as_str();
    // Connections per player name (a user may hold two seats).
    let mut connected: BTreeMap<String, u32> = BTreeMap::new();
    // The List may differ from `connected`: bring it in line before trusting single calls.
    let mut out_of_step = true;
    let mut sync_failures = 0u32;
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = presence.recv() => {
                let Some(event) = event else { return };
                let result = match event {
                    PresenceEvent::Joined(player) => {
                        let count = connected.entry(player.clone()).or_insert(0);
                        *count += 1;
                        if *count == 1 && !out_of_step {
                            sdk.add_list_value(list, &player).await
                        } else {
                            Ok(())
                        }
                    }
                    PresenceEvent::Left(player) => {
                        let mut result = Ok(());
                        if let Some(count) = connected.get_mut(&player) {
                            *count = count.saturating_sub(1);
                            if *count == 0 {
                                connected.remove(&player);
                                if !out_of_step {
                                    result = sdk.remove_list_value(list, &player).await;
                                }
                            }
                        }
                        if connected.is_empty()
                            && options.shutdown_when_empty
                            && allocated.load(Ordering::Relaxed)
                        {
                            tracing::info!("Agones: the match's last player left (agones.shutdown_when_empty)");
                            let _ = fleet.send(FleetEvent::MatchOver);
                        }
                        result
                    }
                };
                if let Err(e) = result {
                    count_failure("players");
                    tracing::warn!(error = %e, list, "Agones: players List not updated; bringing it in line every second until it works");
                    out_of_step = true;
                }
            }
            _ = retry.tick(), if out_of_step => {
                match sync_list(&sdk, list, options.capacity, &connected).await {
                    Ok(()) => {
                        out_of_step = false;
                        sync_failures = 0;
                    }
                    Err(e) => {
                        count_failure("players");
                        sync_failures += 1;
                        if sync_failures == 1 || sync_failures % 60 == 0 {
                            tracing::warn!(error = %e, list, attempts = sync_failures, "Agones: players List still out of step; retrying every second");
                        }
                    }
                }
            }
        }
    }
}

/// Sets the List's capacity and makes its values exactly `connected`'s names.
async fn sync_list(
    sdk: &SdkClient,
    list: &str,
    capacity: u64,
    connected: &BTreeMap<String, u32>,
) -> Result<(), SdkError> {
    if let Err(e) = sdk.set_list_capacity(list, capacity).await {
        // The values matter more than the bound: keep them in step regardless.
        count_failure("players_capacity");
        tracing::warn!(error = %e, list, capacity, "Agones: cannot set the players List's capacity (declare it in the GameServer's spec.lists); keeping its values in step anyway");
    }
    let current = sdk.list(list).await?;
    for stale in current
        .values
        .iter()
        .filter(|v| !connected.contains_key(*v))
    {
        sdk.remove_list_value(list, stale).await?;
    }
    for missing in connected.keys().filter(|p| !current.values.contains(p)) {
        sdk.add_list_value(list, missing).await?;
    }
    tracing::info!(
        list,
        players = connected.len(),
        capacity,
        "Agones: players List in step"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(enabled: bool, port: u16) -> AgonesSection {
        AgonesSection {
            enabled,
            sdk_http_port: port,
            health_period_s: 0,
            players_list: "players".to_owned(),
            shutdown_when_empty: false,
        }
    }

    #[test]
    fn on_where_the_sidecar_environment_is_or_when_enabled() {
        let none = |_: &str| None;
        assert_eq!(sdk_port(&section(false, 0), none).ok(), Some(None));
        assert_eq!(
            sdk_port(&section(true, 0), none).ok(),
            Some(Some(DEFAULT_HTTP_PORT))
        );
        let agones = |k: &str| (k == "AGONES_SDK_HTTP_PORT").then(|| "9400".to_owned());
        assert_eq!(sdk_port(&section(false, 0), agones).ok(), Some(Some(9400)));
        assert_eq!(
            sdk_port(&section(false, 9500), agones).ok(),
            Some(Some(9500))
        );
        let grpc_only = |k: &str| (k == "AGONES_SDK_GRPC_PORT").then(|| "9357".to_owned());
        assert_eq!(
            sdk_port(&section(false, 0), grpc_only).ok(),
            Some(Some(DEFAULT_HTTP_PORT))
        );
        let bad = |k: &str| (k == "AGONES_SDK_HTTP_PORT").then(|| "nine".to_owned());
        let err = sdk_port(&section(false, 0), bad).unwrap_err().to_string();
        assert!(err.contains("AGONES_SDK_HTTP_PORT"), "{err}");
    }
}
