//! Starting a whole server from a configuration: its rooms, the QUIC endpoint and the admin
//! address. The binary, the bot demo and the end-to-end tests all start servers this way.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::agones::{Agones, AgonesOptions, FleetEvent, Heartbeat};
use crate::auth::{Admission, KeyFileError, read_key_file};
use crate::config::{AuthMode, ServerConfig};
use crate::endpoint::{EndpointError, GameEndpoint, Identity, IdentityError};
use crate::presence::Presence;
use crate::room::{RetuneConfig, Room, RoomCommand};
use crate::stats::TickStats;
use crate::webtransport::{Signals, WebTransportEndpoint};
use tickwire_netcode::game::{Game, GameConfig};
use tickwire_netcode::protocol::ServerControl;

/// A server could not start; each variant says which part (and the config key behind it),
/// its source what went wrong there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration does not make a valid server (tick rate).
    #[error(transparent)]
    Config(#[from] tickwire_netcode::ConfigError),
    /// `auth.key_file` cannot be used.
    #[error("auth.key_file")]
    Keys(#[from] KeyFileError),
    /// A room could not start.
    #[error("cannot start rooms")]
    Room(#[from] crate::room::RoomError),
    /// The TLS identity (`tls.cert` / `tls.key`, or the development certificate).
    #[error("tls.cert / tls.key")]
    Identity(#[from] IdentityError),
    /// The game endpoint (`server.bind`).
    #[error("cannot listen for players")]
    Endpoint(#[from] EndpointError),
    /// The admin address (`server.admin`).
    #[error("cannot serve the admin address")]
    Admin(#[from] crate::admin::AdminError),
    /// `server.game` names another game than the one this server was built to host.
    #[error("server.game = {configured:?}, but this server hosts {hosted:?}")]
    WrongGame {
        /// What the configuration asks for.
        configured: String,
        /// The game this server runs.
        hosted: &'static str,
    },
}

/// A running server. Stop it with [`shutdown`](Self::shutdown) so clients get a goodbye.
#[derive(Debug)]
pub struct Server {
    rooms: Arc<Vec<Room>>,
    endpoint: GameEndpoint,
    identity: Identity,
    admin: SocketAddr,
    admission: Arc<Admission>,
    /// The Agones sidecar's side, when running in a fleet.
    agones: Option<Agones>,
    /// Where browsers play, when `server.webtransport` is set.
    webtransport: Option<WebTransportEndpoint>,
    /// What the fleet asks (allocations, a match over), until the binary takes it.
    fleet_events: Option<tokio::sync::mpsc::UnboundedReceiver<FleetEvent>>,
}

impl Server {
    /// Starts `config.server.rooms` rooms named `room-0`, `room-1` …, the game endpoint on
    /// `server.bind` and the admin HTTP address on `server.admin` (port 0 picks a free
    /// port; see [`game_addr`](Self::game_addr)). Call inside a tokio runtime.
    ///
    /// # Errors
    /// If a room, the certificate, the game socket or the admin socket cannot be set up,
    /// saying which.
    pub async fn start<G: Game>(config: &ServerConfig<G::Config>) -> Result<Self, StartError> {
        if config.server.game != G::NAME {
            return Err(StartError::WrongGame {
                configured: config.server.game.clone(),
                hosted: G::NAME,
            });
        }
        let admission = Arc::new(Admission::from_config(config)?);
        if admission.mode() == AuthMode::Open && !config.server.bind.ip().is_loopback() {
            tracing::warn!(
                bind = %config.server.bind,
                "auth.mode is \"open\": anyone who reaches this address can join any room; \
                 set [auth] mode = \"token\" to admit only players your matchmaker invited"
            );
        }
        // Spread the rooms' deadlines over one tick interval.
        let dt = config.tick_rate()?.dt();
        let rooms = (0..config.server.rooms)
            .map(|i| {
                Room::start_with_phase::<G>(
                    &format!("room-{i}"),
                    config,
                    dt * i / config.server.rooms,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let agones_port = crate::agones::sdk_port(&config.agones, |key| std::env::var(key).ok())?;
        let heartbeat = agones_port.map(|_| {
            let period = match config.agones.health_period_s {
                0 => crate::agones::DEFAULT_HEALTH_PERIOD,
                s => std::time::Duration::from_secs(u64::from(s)),
            };
            let heartbeat = Arc::new(Heartbeat::new(rooms.len(), period));
            for (index, room) in rooms.iter().enumerate() {
                room.attach_heartbeat(Arc::clone(&heartbeat), index);
            }
            heartbeat
        });
        let (presence, presence_events) = match agones_port {
            Some(_) => {
                let (presence, events) = Presence::channel();
                (presence, Some(events))
            }
            None => (Presence::default(), None),
        };
        let rooms = Arc::new(rooms);
        let identity = if config.tls.cert.is_empty() {
            Identity::self_signed()?
        } else {
            Identity::from_pem_files(config.tls.cert.as_ref(), config.tls.key.as_ref())?
        };
        let endpoint = GameEndpoint::start(
            config.server.bind,
            &identity,
            &config.transport(),
            Arc::clone(&rooms),
            Arc::clone(&admission),
            presence.clone(),
        )?;
        let webtransport = match config.webtransport_addr() {
            Some(addr) => {
                // A real certificate serves browsers too; without one, a short-lived one
                // they pin by its hash.
                let identity = if config.tls.cert.is_empty() {
                    Identity::self_signed_for_browsers()?
                } else {
                    Identity {
                        cert_chain: identity.cert_chain.clone(),
                        key: identity.key.clone_key(),
                    }
                };
                let (stopping, retuned) = endpoint.signals();
                Some(WebTransportEndpoint::start(
                    addr,
                    &identity,
                    &config.transport(),
                    Arc::clone(&rooms),
                    Arc::clone(&admission),
                    presence.clone(),
                    Signals { stopping, retuned },
                )?)
            }
            None => None,
        };
        let token = match config.server.admin_token_file.as_str() {
            "" => None,
            path => Some(crate::admin::read_token(path.as_ref())?),
        };
        let play = match &webtransport {
            Some(web) => Some(crate::admin::Play {
                port: web
                    .local_addr()
                    .map_err(|error| EndpointError::Bind {
                        addr: config.server.bind,
                        error,
                    })?
                    .port(),
                certificate_hash: config.tls.cert.is_empty().then(|| web.certificate_hash()),
                game: G::NAME,
            }),
            None => None,
        };
        let admin = crate::admin::serve_with(
            config.server.admin,
            Arc::clone(&rooms),
            endpoint.udp_drops(),
            crate::admin::AdminOptions { token, play },
        )
        .await?;
        let (fleet, fleet_events) = tokio::sync::mpsc::unbounded_channel();
        let agones = match (agones_port, heartbeat, presence_events) {
            (Some(port), Some(heartbeat), Some(presence)) => {
                let capacity =
                    u64::from(config.server.rooms) * u64::from(config.server.max_clients_per_room);
                let options = AgonesOptions::new(&config.agones, port, capacity);
                Some(Agones::start(options, heartbeat, presence, fleet))
            }
            _ => None,
        };
        Ok(Self {
            rooms,
            endpoint,
            identity,
            admin,
            admission,
            fleet_events: agones.is_some().then_some(fleet_events),
            agones,
            webtransport,
        })
    }

    /// The rooms.
    #[must_use]
    pub fn rooms(&self) -> &Arc<Vec<Room>> {
        &self.rooms
    }

    /// The game endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &GameEndpoint {
        &self.endpoint
    }

    /// The certificate clients must trust (or pin by [`Identity::fingerprint`]).
    #[must_use]
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The QUIC address actually bound.
    ///
    /// # Errors
    /// If the socket is gone.
    pub fn game_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The WebTransport endpoint browsers play through, if it is on.
    #[must_use]
    pub fn webtransport(&self) -> Option<&WebTransportEndpoint> {
        self.webtransport.as_ref()
    }

    /// The admin HTTP address actually bound.
    #[must_use]
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Who may join.
    #[must_use]
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Applies the live tunables of `config` in every room and tells every client
    /// (the caller checked [`ServerConfig::live_changes`]), and reads the seat-token key
    /// file again.
    ///
    /// # Errors
    /// The key file cannot be read (nothing changes then).
    pub fn retune<C: GameConfig>(&self, config: &ServerConfig<C>) -> Result<(), KeyFileError> {
        if config.auth.mode == AuthMode::Token {
            self.admission
                .set_keys(read_key_file(config.auth.key_file.as_ref())?);
        }
        for room in self.rooms.iter() {
            if room
                .send(RoomCommand::Retune(RetuneConfig::new(config.clone())))
                .is_err()
            {
                tracing::warn!(room = room.name(), "room busy; tunables not delivered");
            }
        }
        match tickwire_netcode::tunables::flatten(&config.game) {
            Ok(tunables) => self.endpoint.broadcast_tunables(ServerControl::Tunables {
                snapshot_hz: config.tick.snapshot_hz,
                interpolation_delay_ms: config.net.interpolation_delay_ms,
                tunables,
            }),
            // The rooms refused the same configuration and said why.
            Err(e) => tracing::error!(error = %e, "tunables not sent to clients"),
        }
        Ok(())
    }

    /// Each room's tick figures so far, by name.
    #[must_use]
    pub fn room_stats(&self) -> Vec<(String, TickStats)> {
        self.rooms
            .iter()
            .map(|r| (r.name().to_owned(), r.stats()))
            .collect()
    }

    /// What the fleet asks of this server (allocations with their match settings, a match
    /// over), once: `None` when not running under Agones or already taken.
    pub fn take_fleet_events(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<FleetEvent>> {
        self.fleet_events.take()
    }

    /// Whether the server talks to an Agones sidecar.
    #[must_use]
    pub fn in_fleet(&self) -> bool {
        self.agones.is_some()
    }

    /// Says goodbye to every client with `reason`, closes the endpoint, tells Agones the
    /// server is shutting down (in a fleet) and returns each room's final tick figures (the
    /// rooms stop when the last handle drops).
    pub async fn shutdown(self, reason: &str) -> Vec<(String, TickStats)> {
        self.endpoint.shutdown(reason).await;
        if let Some(web) = &self.webtransport {
            web.shutdown(reason).await;
        }
        if let Some(agones) = &self.agones {
            agones.shutdown().await;
        }
        self.room_stats()
    }
}
