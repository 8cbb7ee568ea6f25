//! The QUIC endpoint: TLS identity, accepting connections, and each connection's task.
//!
//! A connection opens one bidirectional control stream and says hello; the server answers
//! with a welcome (having placed the player in a room with space) or a reject with a reason,
//! then forwards the client's datagrams to its room until the client leaves or the
//! connection is lost. Snapshots go out from the room's tick thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::Endpoint;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tickwire_netcode::protocol::{
    ClientControl, GoodbyeReason, PROTOCOL_VERSION, RejectReason, ServerControl, close,
};
use tickwire_netcode::quic::{GameTransport, QuicError, recv_control, server_config};
use tickwire_netcode::udp::Drops;

use crate::auth::{Admission, Admitted};
use crate::link::{ControlRecv, ControlSend, PlayerConnection};
use crate::presence::Presence;
use crate::room::{Room, RoomCommand};
use crate::room_core::ClientId;

/// How long a new connection (or WebTransport session) may take to open its control stream
/// and say hello.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Reliable events that may wait for a client's control stream; beyond it the room drops
/// new ones (and counts them) rather than queueing without bound.
const EVENT_QUEUE: usize = 256;

/// The server's TLS identity could not be made or read; file errors name the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A PEM file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (said in the message).
        error: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{} is not a PEM {what}: {error}", path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// The parser's complaint.
        error: String,
    },
    /// The certificate file holds no certificate.
    #[error("{} holds no certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A self-signed certificate could not be made.
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
}

/// The game endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// TLS could not be configured with the identity.
    #[error(transparent)]
    Tls(#[from] QuicError),
    /// The UDP socket could not be bound or set up.
    #[error("cannot bind UDP {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why (said in the message).
        error: std::io::Error,
    },
    /// There is no tokio runtime to run it on.
    #[error("no async runtime to run the endpoint on")]
    NoRuntime,
}

/// The server's TLS identity.
#[derive(Debug)]
pub struct Identity {
    /// The certificate chain, leaf first (DER).
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The private key (DER).
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// A fresh self-signed certificate for `localhost` and `127.0.0.1`, for development.
    ///
    /// # Errors
    /// [`IdentityError::SelfSigned`] if generation fails.
    pub fn self_signed() -> Result<Self, IdentityError> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert = rcgen::generate_simple_self_signed(names)
            .map_err(|e| IdentityError::SelfSigned(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        Ok(Self {
            cert_chain: vec![cert.cert.der().clone()],
            key,
        })
    }

    /// A fresh self-signed ECDSA P-256 certificate valid for 13 days, for `localhost`,
    /// `127.0.0.1` and `::1`: what a browser accepts by its hash
    /// (`serverCertificateHashes`) for a WebTransport server in development.
    ///
    /// # Errors
    /// [`IdentityError::SelfSigned`] if generation fails.
    pub fn self_signed_for_browsers() -> Result<Self, IdentityError> {
        let fail = |e: rcgen::Error| IdentityError::SelfSigned(e.to_string());
        let names = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let mut params = rcgen::CertificateParams::new(names).map_err(fail)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(13);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let cert = params.self_signed(&key).map_err(fail)?;
        Ok(Self {
            cert_chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// The certificate chain and key in the PEM files at `cert` and `key` (as `tls.cert`
    /// and `tls.key` name them).
    ///
    /// # Errors
    /// [`IdentityError`] naming the file and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, IdentityError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| IdentityError::Read {
                path: path.to_owned(),
                error,
            })
        };
        fn not_pem<'a>(
            path: &'a Path,
            what: &'static str,
        ) -> impl FnOnce(rustls::pki_types::pem::Error) -> IdentityError + 'a {
            move |e| IdentityError::NotPem {
                path: path.to_owned(),
                what,
                error: e.to_string(),
            }
        }
        let cert_pem = read(cert)?;
        let cert_chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(not_pem(cert, "certificate chain"))?;
        if cert_chain.is_empty() {
            return Err(IdentityError::NoCertificate {
                path: cert.to_owned(),
            });
        }
        let key =
            PrivateKeyDer::from_pem_slice(&read(key)?).map_err(not_pem(key, "private key"))?;
        Ok(Self { cert_chain, key })
    }

    /// The leaf certificate, which a development client trusts directly.
    #[must_use]
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.cert_chain.first()
    }

    /// SHA-256 of the leaf certificate, hex, for clients that pin it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.leaf()
            .map(tickwire_netcode::quic::fingerprint)
            .unwrap_or_default()
    }
}

/// The listening endpoint and the rooms it places players in.
#[derive(Debug)]
pub struct GameEndpoint {
    endpoint: Endpoint,
    /// The kernel's count of packets dropped on the game socket.
    udp_drops: Option<Drops>,
    /// Tells every connection task to say goodbye (the reason travels with it).
    shutdown: tokio::sync::watch::Sender<Option<String>>,
    /// The newest tunables every connected client is told (a config reload).
    tunables: tokio::sync::watch::Sender<Option<ServerControl>>,
}

impl GameEndpoint {
    /// Binds `addr` with `identity` and starts accepting connections into `rooms` as
    /// `admission` allows (on the current tokio runtime).
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
    ) -> Result<Self, EndpointError> {
        let config = server_config(
            identity.cert_chain.clone(),
            identity.key.clone_key(),
            transport,
        )?;
        let bind = |error| EndpointError::Bind { addr, error };
        let (endpoint, udp_drops) = bind_endpoint(addr, config, transport)?;
        tracing::info!(addr = %endpoint.local_addr().map_err(bind)?, fingerprint = identity.fingerprint(), "listening");
        let accepting = endpoint.clone();
        let (shutdown, stopping) = tokio::sync::watch::channel(None);
        let (tunables, retuned) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let rooms = Arc::clone(&rooms);
                let admission = Arc::clone(&admission);
                let presence = presence.clone();
                let stopping = stopping.clone();
                let mut retuned = retuned.clone();
                retuned.mark_unchanged();
                tokio::spawn(async move {
                    if let Err(e) =
                        serve(incoming, rooms, admission, presence, stopping, retuned).await
                    {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
        });
        Ok(Self {
            endpoint,
            udp_drops,
            shutdown,
            tunables,
        })
    }

    /// What every connection task listens to: the shutdown's reason and new tunables (for
    /// another endpoint serving the same rooms, the WebTransport one).
    #[must_use]
    pub fn signals(
        &self,
    ) -> (
        tokio::sync::watch::Receiver<Option<String>>,
        tokio::sync::watch::Receiver<Option<ServerControl>>,
    ) {
        let mut retuned = self.tunables.subscribe();
        retuned.mark_unchanged();
        (self.shutdown.subscribe(), retuned)
    }

    /// Tells every connected client the new tunables (after the rooms took them).
    pub fn broadcast_tunables(&self, message: ServerControl) {
        let _ = self.tunables.send(Some(message));
    }

    /// The kernel's counter of packets it dropped on the game socket before the server read
    /// them (a receive buffer overflowed); `None` where it cannot be read (not Linux).
    #[must_use]
    pub fn udp_drops(&self) -> Option<Drops> {
        self.udp_drops
    }

    /// The address actually bound (port 0 picks a free port).
    ///
    /// # Errors
    /// If the socket is gone.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Sends every client a goodbye with `reason`, then closes the endpoint, waiting
    /// (bounded) for the goodbyes to leave.
    pub async fn shutdown(&self, reason: &str) {
        let _ = self.shutdown.send(Some(reason.to_owned()));
        close_after_goodbyes(&self.endpoint, reason).await;
    }
}

/// A quinn endpoint serving `config` on `addr`, its UDP socket's buffers as `transport`
/// asks, and the kernel's drop counter for that socket.
pub(crate) fn bind_endpoint(
    addr: SocketAddr,
    config: quinn::ServerConfig,
    transport: &GameTransport,
) -> Result<(Endpoint, Option<Drops>), EndpointError> {
    let bind = |error| EndpointError::Bind { addr, error };
    let socket = tickwire_netcode::udp::socket(addr, transport.udp_buffer_bytes).map_err(bind)?;
    let udp_drops = Drops::of(&socket);
    let runtime = quinn::default_runtime().ok_or(EndpointError::NoRuntime)?;
    let endpoint = Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        runtime,
    )
    .map_err(bind)?;
    Ok((endpoint, udp_drops))
}

/// Gives the connection tasks a moment (at most 500 ms) to write their goodbyes and finish
/// their streams — the caller told them to — then closes `endpoint` and waits (bounded) for
/// it to go idle.
pub(crate) async fn close_after_goodbyes(endpoint: &Endpoint, reason: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while endpoint.open_connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    endpoint.close(quinn::VarInt::from_u32(0), reason.as_bytes());
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
}

/// One connection, from hello to goodbye.
async fn serve(
    incoming: quinn::Incoming,
    rooms: Arc<Vec<Room>>,
    admission: Arc<Admission>,
    presence: Presence,
    stopping: tokio::sync::watch::Receiver<Option<String>>,
    retuned: tokio::sync::watch::Receiver<Option<ServerControl>>,
) -> anyhow::Result<()> {
    let connection = incoming.await?;
    let remote = connection.remote_address();
    let (send, recv) = match tokio::time::timeout(HELLO_TIMEOUT, connection.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        // It closed before saying anything (a load tester's reachability probe).
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "closed before a control stream");
            return Ok(());
        }
        Err(_) => {
            tracing::info!(%remote, "closed: no control stream within {HELLO_TIMEOUT:?}");
            count_disconnect("no_hello");
            connection.close(
                quinn::VarInt::from_u32(close::TIMED_OUT),
                b"no control stream opened in time",
            );
            return Ok(());
        }
    };
    let connection = PlayerConnection::Quic(connection);
    let send = ControlSend::Quic(send);
    let recv: ControlRecv = Box::new(recv);
    serve_player(
        connection, send, recv, remote, &rooms, &admission, &presence, stopping, retuned,
    )
    .await
}

/// A player's connection, native or WebTransport, from its hello to its goodbye: the hello
/// and its checks, joining a room, then forwarding until the end.
#[allow(clippy::too_many_arguments)] // the connection's parts and the server's shared parts
pub(crate) async fn serve_player(
    connection: PlayerConnection,
    mut send: ControlSend,
    mut recv: ControlRecv,
    remote: SocketAddr,
    rooms: &[Room],
    admission: &Admission,
    presence: &Presence,
    stopping: tokio::sync::watch::Receiver<Option<String>>,
    retuned: tokio::sync::watch::Receiver<Option<ServerControl>>,
) -> anyhow::Result<()> {
    let hello =
        match tokio::time::timeout(HELLO_TIMEOUT, recv_control::<ClientControl>(&mut recv)).await {
            Ok(Ok(Some(ClientControl::Hello(hello)))) => hello,
            Ok(Ok(Some(ClientControl::Goodbye { .. }) | None)) => {
                let refusal = Refusal::new(RejectReason::BadHello, "expected a hello first");
                return refuse(&mut send, &connection, remote, refusal).await;
            }
            Ok(Err(e)) => {
                let refusal = Refusal::new(RejectReason::BadHello, format!("bad hello: {e}"));
                return refuse(&mut send, &connection, remote, refusal).await;
            }
            Err(_) => {
                let refusal = Refusal {
                    code: close::TIMED_OUT,
                    ..Refusal::new(
                        RejectReason::BadHello,
                        format!("no hello within {HELLO_TIMEOUT:?}"),
                    )
                };
                return refuse(&mut send, &connection, remote, refusal).await;
            }
        };
    if hello.version != PROTOCOL_VERSION {
        let refusal = Refusal::new(
            RejectReason::VersionMismatch {
                server: PROTOCOL_VERSION,
            },
            format!(
                "this server speaks protocol {PROTOCOL_VERSION}, the client {}",
                hello.version
            ),
        );
        return refuse(&mut send, &connection, remote, refusal).await;
    }
    let admitted = match admission.check(&hello) {
        Ok(admitted) => admitted,
        Err(e) => {
            let refusal = Refusal::new(RejectReason::Unauthorized, e.to_string());
            return refuse(&mut send, &connection, remote, refusal).await;
        }
    };
    let (events, mut events_out) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    let (room, client, welcome) =
        match join(rooms, &connection, &hello.name, &admitted, &events).await {
            Ok(joined) => joined,
            Err(refusal) => {
                admission.release(&admitted);
                return refuse(&mut send, &connection, remote, refusal).await;
            }
        };
    let user = admitted.user();
    let player = Presence::player_name(room.name(), client.0, user);
    if let Err(e) = send.send(&ServerControl::Welcome(welcome)).await {
        let _ = room.send(RoomCommand::Leave { client });
        return Err(e.into());
    }
    presence.joined(&player);
    // Control messages are read on their own task: a read cut short by `select!` would
    // lose the bytes already taken from the stream.
    let (control_in, mut control) = tokio::sync::mpsc::channel(4);
    let reader = tokio::spawn(async move {
        loop {
            let message = recv_control::<ClientControl>(&mut recv).await;
            let end = !matches!(message, Ok(Some(_)));
            if control_in.send(message).await.is_err() || end {
                break;
            }
        }
    });
    let channels = Channels {
        control: &mut control,
        events: &mut events_out,
        stopping,
        retuned,
    };
    let ending = forward(&connection, &mut send, channels).await;
    reader.abort();
    let _ = room.send(RoomCommand::Leave { client });
    presence.left(&player);
    count_disconnect(ending.label());
    match ending {
        Ending::Goodbye(reason, message) => {
            tracing::info!(%remote, client = client.0, user, ?reason, message, "client disconnected");
            say_goodbye(&mut send, &connection, reason, &message).await;
        }
        Ending::Left(why) => {
            tracing::info!(%remote, client = client.0, user, why, "client left");
            connection.close(close::NORMAL, b"goodbye");
        }
        Ending::Lost(e) => {
            tracing::info!(%remote, client = client.0, user, error = %e, "client connection lost");
        }
    }
    Ok(())
}

/// Counts a connection's end in `tickwire_disconnects_total` by why it ended.
fn count_disconnect(reason: &'static str) {
    metrics::counter!("tickwire_disconnects_total", "reason" => reason).increment(1);
}

/// Why a client is refused, as it is told.
#[derive(Debug)]
struct Refusal {
    reason: RejectReason,
    message: String,
    /// The QUIC close code after the reject.
    code: u32,
}

impl Refusal {
    fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            code: close::REJECTED,
        }
    }
}

/// Places the client in the room its hello (or its seat token) names, or the first with
/// space.
async fn join<'r>(
    rooms: &'r [Room],
    connection: &PlayerConnection,
    name: &str,
    admitted: &Admitted,
    events: &tokio::sync::mpsc::Sender<ServerControl>,
) -> Result<(&'r Room, ClientId, tickwire_netcode::protocol::Welcome), Refusal> {
    let wanted = admitted.room.as_deref();
    if let Some(name) = wanted.filter(|w| !rooms.iter().any(|r| r.name() == *w)) {
        return Err(Refusal::new(
            RejectReason::NoSuchRoom,
            format!("there is no room named {name:?}"),
        ));
    }
    for room in rooms
        .iter()
        .filter(|r| wanted.is_none_or(|w| w == r.name()))
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = RoomCommand::Join {
            connection: connection.clone(),
            user: admitted.user().map(str::to_owned),
            name: name.to_owned(),
            events: events.clone(),
            reply,
        };
        if room.send(command).is_err() {
            continue;
        }
        match answer.await {
            Ok(Ok((client, welcome))) => return Ok((room, client, welcome)),
            Ok(Err(RejectReason::RoomFull)) | Err(_) => {}
            Ok(Err(
                reason @ RejectReason::DatagramTooSmall {
                    client_bytes,
                    needed_bytes,
                },
            )) => {
                return Err(Refusal::new(
                    reason,
                    format!(
                        "this client accepts QUIC datagrams of at most {client_bytes} bytes \
                         (its max_datagram_frame_size transport parameter); snapshots need \
                         at least {needed_bytes}"
                    ),
                ));
            }
            Ok(Err(reason)) => return Err(Refusal::new(reason, format!("{reason:?}"))),
        }
    }
    Err(match wanted {
        Some(name) => Refusal::new(RejectReason::RoomFull, format!("room {name:?} is full")),
        None => Refusal::new(RejectReason::ServerFull, "every room is full"),
    })
}

/// What a connection task listens to besides the connection itself.
struct Channels<'a> {
    /// Control messages from the client, read on their own task.
    control: &'a mut tokio::sync::mpsc::Receiver<Result<Option<ClientControl>, QuicError>>,
    /// Reliable events from the room for this client (a goodbye among them ends it).
    events: &'a mut tokio::sync::mpsc::Receiver<ServerControl>,
    /// The server is shutting down, with the reason.
    stopping: tokio::sync::watch::Receiver<Option<String>>,
    /// New tunables after a config reload.
    retuned: tokio::sync::watch::Receiver<Option<ServerControl>>,
}

/// How a joined client's connection ends.
#[derive(Debug)]
enum Ending {
    /// The server ends it: say this goodbye, then close.
    Goodbye(GoodbyeReason, String),
    /// The client left: its goodbye, or it finished its control stream.
    Left(String),
    /// The connection is gone: closed by the client, timed out, or lost.
    Lost(quinn::ConnectionError),
}

impl Ending {
    /// The `reason` label of `tickwire_disconnects_total`.
    fn label(&self) -> &'static str {
        match self {
            Self::Goodbye(GoodbyeReason::ServerShutdown, _) => "shutdown",
            Self::Goodbye(GoodbyeReason::Misbehaving, _) => "misbehaving",
            Self::Goodbye(GoodbyeReason::TimedOut, _)
            | Self::Lost(quinn::ConnectionError::TimedOut) => "timed_out",
            Self::Goodbye(GoodbyeReason::Kicked, _) => "kicked",
            Self::Goodbye(GoodbyeReason::ServerError, _) => "server_error",
            Self::Goodbye(GoodbyeReason::ClientLeft, _) | Self::Left(_) => "client_left",
            Self::Lost(
                quinn::ConnectionError::ApplicationClosed(_)
                | quinn::ConnectionError::ConnectionClosed(_),
            ) => "client_closed",
            Self::Lost(_) => "lost",
        }
    }
}

/// Forwards events and tunables to the client until it leaves, the room or the server
/// ends it, or the connection is lost. (Its datagrams are read by the room's tick thread.)
async fn forward(
    connection: &PlayerConnection,
    send: &mut ControlSend,
    channels: Channels<'_>,
) -> Ending {
    let Channels {
        control,
        events,
        mut stopping,
        mut retuned,
    } = channels;
    // The control stream failed: the connection's own end if it has one.
    let lost = |e: QuicError| {
        tracing::debug!(error = %e, "control stream failed");
        Ending::Lost(
            connection
                .close_reason()
                .unwrap_or(quinn::ConnectionError::LocallyClosed),
        )
    };
    loop {
        tokio::select! {
            Some(event) = events.recv() => {
                if let ServerControl::Goodbye { reason, message } = event {
                    return Ending::Goodbye(reason, message);
                }
                if let Err(e) = send.send(&event).await {
                    return lost(e);
                }
            }
            Ok(()) = retuned.changed() => {
                let message = retuned.borrow_and_update().clone();
                if let Some(message) = message {
                    if let Err(e) = send.send(&message).await {
                        return lost(e);
                    }
                }
            }
            _ = stopping.changed() => {
                let message = stopping.borrow().clone().unwrap_or_else(|| "server shutting down".to_owned());
                return Ending::Goodbye(GoodbyeReason::ServerShutdown, message);
            }
            e = connection.closed() => return Ending::Lost(e),
            message = control.recv() => match message {
                Some(Ok(Some(ClientControl::Goodbye { reason }))) => return Ending::Left(format!("goodbye: {reason}")),
                Some(Ok(Some(ClientControl::Hello(_)))) => {
                    return Ending::Goodbye(GoodbyeReason::Misbehaving, "misbehaving: a second hello".to_owned());
                }
                Some(Ok(None)) | None => return Ending::Left("control stream finished".to_owned()),
                Some(Err(QuicError::Protocol(e))) => {
                    return Ending::Goodbye(GoodbyeReason::Misbehaving, format!("misbehaving: bad control message: {e}"));
                }
                Some(Err(e)) => return lost(e),
            },
        }
    }
}

/// Writes a goodbye, then closes with the reason's close code and the message.
async fn say_goodbye(
    send: &mut ControlSend,
    connection: &PlayerConnection,
    reason: GoodbyeReason,
    message: &str,
) {
    let goodbye = ServerControl::Goodbye {
        reason,
        message: message.to_owned(),
    };
    last_word(send, connection, &goodbye, reason.close_code(), message).await;
}

/// Tells the client why it is refused, then closes the connection.
async fn refuse(
    send: &mut ControlSend,
    connection: &PlayerConnection,
    remote: SocketAddr,
    refusal: Refusal,
) -> anyhow::Result<()> {
    let Refusal {
        reason,
        message,
        code,
    } = refusal;
    tracing::info!(%remote, ?reason, message, "rejected");
    metrics::counter!("tickwire_rejects_total", "reason" => reject_label(reason)).increment(1);
    let reject = ServerControl::Reject {
        reason,
        message: message.clone(),
    };
    last_word(send, connection, &reject, code, &message).await;
    Ok(())
}

/// Writes the connection's last control message, finishes the stream, waits (bounded) for
/// the client to have it — a close that overtook it would lose it — and closes with `code`
/// and `message` as the close frame's phrase.
async fn last_word(
    send: &mut ControlSend,
    connection: &PlayerConnection,
    last: &ServerControl,
    code: u32,
    message: &str,
) {
    let wait = Duration::from_millis(400);
    if let Ok(Ok(())) = tokio::time::timeout(wait, send.send(last)).await {
        let _ = tokio::time::timeout(wait, send.finish_and_wait()).await;
    }
    connection.close(code, message.as_bytes());
}

/// The `reason` label of `tickwire_rejects_total`.
fn reject_label(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::VersionMismatch { .. } => "version_mismatch",
        RejectReason::ServerFull => "server_full",
        RejectReason::RoomFull => "room_full",
        RejectReason::NoSuchRoom => "no_such_room",
        RejectReason::BadHello => "bad_hello",
        RejectReason::Unauthorized => "unauthorized",
        RejectReason::ShuttingDown => "shutting_down",
        RejectReason::DatagramTooSmall { .. } => "datagram_too_small",
    }
}
