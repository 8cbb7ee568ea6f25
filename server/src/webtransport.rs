//! The WebTransport endpoint: browsers play over HTTP/3 WebTransport on a UDP port of its own
//! (`server.webtransport`), with the same protocol as native QUIC — the control stream is
//! the session's first bidirectional stream, snapshots and inputs are the session's
//! datagrams — into the same rooms. A browser player is a player like any other.
//!
//! In development the endpoint makes a self-signed ECDSA certificate valid for 13 days,
//! which Chromium accepts for a loopback server when the page names its SHA-256 in
//! `serverCertificateHashes` ([`WebTransportEndpoint::certificate_hash`]).

use std::net::SocketAddr;
use std::sync::Arc;

use tickwire_netcode::protocol::ServerControl;
use tickwire_netcode::quic::{GameTransport, server_config_for};

use crate::auth::Admission;
use crate::endpoint::{
    EndpointError, HELLO_TIMEOUT, Identity, bind_endpoint, close_after_goodbyes, serve_player,
};
use crate::link::{ControlRecv, ControlSend, PlayerConnection};
use crate::presence::Presence;
use crate::room::Room;

/// The URL path browsers open a session at: `https://HOST:PORT/tickwire`.
pub const PATH: &str = "/tickwire";

/// What the endpoint's connection tasks listen to besides their session.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The server is shutting down, with the reason.
    pub stopping: tokio::sync::watch::Receiver<Option<String>>,
    /// New tunables after a config reload.
    pub retuned: tokio::sync::watch::Receiver<Option<ServerControl>>,
}

/// The listening WebTransport endpoint.
#[derive(Debug)]
pub struct WebTransportEndpoint {
    endpoint: quinn::Endpoint,
    certificate_hash: [u8; 32],
}

impl WebTransportEndpoint {
    /// Listens on `addr` with `identity` and serves sessions into `rooms` as `admission`
    /// allows (on the current tokio runtime).
    ///
    /// # Errors
    /// [`EndpointError`] if TLS cannot be configured or the socket cannot be bound.
    pub fn start(
        addr: SocketAddr,
        identity: &Identity,
        transport: &GameTransport,
        rooms: Arc<Vec<Room>>,
        admission: Arc<Admission>,
        presence: Presence,
        signals: Signals,
    ) -> Result<Self, EndpointError> {
        let transport = GameTransport {
            peer_streams: GameTransport::HTTP3_STREAMS,
            ..*transport
        };
        let config = server_config_for(
            identity.cert_chain.clone(),
            identity.key.clone_key(),
            &transport,
            web_transport_quinn::ALPN.as_bytes().to_vec(),
        )?;
        let bind = |error| EndpointError::Bind { addr, error };
        let (endpoint, _) = bind_endpoint(addr, config, &transport)?;
        let certificate_hash = identity
            .leaf()
            .map(|leaf| {
                use sha2::Digest as _;
                sha2::Sha256::digest(leaf.as_ref()).into()
            })
            .unwrap_or_default();
        tracing::info!(
            addr = %endpoint.local_addr().map_err(bind)?,
            path = PATH,
            certificate_sha256 = identity.fingerprint(),
            "listening for browsers (WebTransport)"
        );
        let mut server = web_transport_quinn::Server::new(endpoint.clone());
        tokio::spawn(async move {
            while let Some(request) = server.accept().await {
                let rooms = Arc::clone(&rooms);
                let admission = Arc::clone(&admission);
                let presence = presence.clone();
                let signals = signals.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(request, rooms, admission, presence, signals).await {
                        tracing::debug!(error = %e, "WebTransport session ended");
                    }
                });
            }
        });
        Ok(Self {
            endpoint,
            certificate_hash,
        })
    }

    /// The address actually bound.
    ///
    /// # Errors
    /// If the socket is gone.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// SHA-256 of the endpoint's certificate: what a page passes as
    /// `serverCertificateHashes` to trust a self-signed development server.
    #[must_use]
    pub fn certificate_hash(&self) -> [u8; 32] {
        self.certificate_hash
    }

    /// Closes the endpoint once its sessions had their goodbyes (the game endpoint's
    /// shutdown signals them), waiting (bounded) for them to leave.
    pub async fn shutdown(&self, reason: &str) {
        close_after_goodbyes(&self.endpoint, reason).await;
    }
}

/// One browser: accept the session at [`PATH`], take its control stream, then serve it as
/// any player.
async fn session(
    request: web_transport_quinn::Request,
    rooms: Arc<Vec<Room>>,
    admission: Arc<Admission>,
    presence: Presence,
    signals: Signals,
) -> anyhow::Result<()> {
    let remote = request.conn().remote_address();
    if request.url.path() != PATH {
        tracing::info!(%remote, path = request.url.path(), "WebTransport session refused: not {PATH}");
        request.reject(axum::http::StatusCode::NOT_FOUND).await?;
        return Ok(());
    }
    let session = request.ok().await?;
    let (send, recv) = match tokio::time::timeout(HELLO_TIMEOUT, session.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "closed before a control stream");
            return Ok(());
        }
        Err(_) => {
            tracing::info!(%remote, "closed: no control stream within {HELLO_TIMEOUT:?}");
            session.close(
                tickwire_netcode::protocol::close::TIMED_OUT,
                b"no control stream opened in time",
            );
            return Ok(());
        }
    };
    let recv: ControlRecv = Box::new(recv);
    serve_player(
        PlayerConnection::WebTransport(Box::new(session)),
        ControlSend::WebTransport(send),
        recv,
        remote,
        &rooms,
        &admission,
        &presence,
        signals.stopping,
        signals.retuned,
    )
    .await
}
