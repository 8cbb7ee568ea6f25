//! Starting a whole server from a configuration: its rooms, the QUIC endpoint and the admin
//! address. The binary, the bot demo and the end-to-end tests all start servers this way.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::{Admission, KeyFileError, read_key_file};
use crate::config::{AuthMode, ServerConfig};
use crate::endpoint::{EndpointError, GameEndpoint, Identity, IdentityError};
use crate::room::{RetuneConfig, Room, RoomCommand};
use crate::stats::TickStats;
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
        )?;
        let admin = crate::admin::serve(
            config.server.admin,
            Arc::clone(&rooms),
            endpoint.udp_drops(),
        )
        .await?;
        Ok(Self {
            rooms,
            endpoint,
            identity,
            admin,
            admission,
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

    /// Says goodbye to every client with `reason`, closes the endpoint and returns each
    /// room's final tick figures (the rooms stop when the last handle drops).
    pub async fn shutdown(self, reason: &str) -> Vec<(String, TickStats)> {
        self.endpoint.shutdown(reason).await;
        self.room_stats()
    }
}
