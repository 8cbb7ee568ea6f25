//! Starting a whole server from a configuration: its rooms, the QUIC endpoint and the admin
//! address. The binary, the bot demo and the end-to-end tests all start servers this way.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::{Admission, read_key_file};
use crate::config::{AuthMode, ServerConfig};
use crate::endpoint::{GameEndpoint, Identity};
use crate::room::{Room, RoomCommand};
use crate::stats::TickStats;
use tickwire_netcode::protocol::ServerControl;

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
    pub async fn start(config: &ServerConfig) -> anyhow::Result<Self> {
        let admission = Arc::new(Admission::from_config(config).context("auth.key_file")?);
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
                Room::start_with_phase(&format!("room-{i}"), config, dt * i / config.server.rooms)
            })
            .collect::<Result<Vec<_>, _>>()
            .context("cannot start rooms")?;
        let rooms = Arc::new(rooms);
        let identity = if config.tls.cert.is_empty() {
            Identity::self_signed().context("cannot make the development certificate")?
        } else {
            Identity::from_pem_files(config.tls.cert.as_ref(), config.tls.key.as_ref())
                .map_err(anyhow::Error::msg)
                .context("tls.cert / tls.key")?
        };
        let endpoint = GameEndpoint::start(
            config.server.bind,
            &identity,
            &config.transport(),
            Arc::clone(&rooms),
            Arc::clone(&admission),
        )
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let admin = crate::admin::serve(
            config.server.admin,
            Arc::clone(&rooms),
            endpoint.udp_drops(),
        )
        .await
        .with_context(|| format!("cannot serve the admin address {}", config.server.admin))?;
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
    pub fn retune(&self, config: &ServerConfig) -> anyhow::Result<()> {
        if config.auth.mode == AuthMode::Token {
            self.admission
                .set_keys(read_key_file(config.auth.key_file.as_ref())?);
        }
        for room in self.rooms.iter() {
            if room
                .send(RoomCommand::Retune(Box::new(config.clone())))
                .is_err()
            {
                tracing::warn!(room = room.name(), "room busy; tunables not delivered");
            }
        }
        self.endpoint.broadcast_tunables(ServerControl::Tunables {
            snapshot_hz: config.tick.snapshot_hz,
            interpolation_delay_ms: config.net.interpolation_delay_ms,
            game: tickwire_netcode::codec::encode(&config.arena).unwrap_or_default(),
        });
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
