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
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tickwire_netcode::protocol::{
    ClientControl, GoodbyeReason, Hello, PROTOCOL_VERSION, RejectReason, ServerControl,
};
use tickwire_netcode::quic::{GameTransport, QuicError, recv_control, send_control, server_config};
use tickwire_netcode::udp::Drops;

use crate::room::{Room, RoomCommand};
use crate::room_core::ClientId;

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Reliable events that may wait for a client's control stream; beyond it the room drops
/// new ones (and counts them) rather than queueing without bound.
const EVENT_QUEUE: usize = 256;

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
    /// [`QuicError::Tls`] if generation fails.
    pub fn self_signed() -> Result<Self, QuicError> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert =
            rcgen::generate_simple_self_signed(names).map_err(|e| QuicError::Tls(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        Ok(Self {
            cert_chain: vec![cert.cert.der().clone()],
            key,
        })
    }

    /// The certificate chain and key in the PEM files at `cert` and `key` (as `tls.cert`
    /// and `tls.key` name them).
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let cert_pem = read(cert)?;
        let cert_chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} is not a PEM certificate chain: {e}", cert.display()))?;
        if cert_chain.is_empty() {
            return Err(format!("{} holds no certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_slice(&read(key)?)
            .map_err(|e| format!("{} is not a PEM private key: {e}", key.display()))?;
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
    /// Binds `addr` with `identity` and starts accepting connections into `rooms` (on the
    /// current tokio runtime).
    ///
    /// # Errors
    /// If TLS cannot be configured or the socket cannot be bound.
    pub fn start(
        addr: SocketAddr,
        identity: &Identity,
        transport: &GameTransport,
        rooms: Arc<Vec<Room>>,
    ) -> anyhow::Result<Self> {
        let config = server_config(
            identity.cert_chain.clone(),
            identity.key.clone_key(),
            transport,
        )?;
        let socket = tickwire_netcode::udp::socket(addr, transport.udp_buffer_bytes)?;
        let udp_drops = Drops::of(&socket);
        let runtime = quinn::default_runtime()
            .ok_or_else(|| anyhow::anyhow!("no async runtime to run the endpoint on"))?;
        let endpoint = Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(config),
            socket,
            runtime,
        )?;
        tracing::info!(addr = %endpoint.local_addr()?, fingerprint = identity.fingerprint(), "listening");
        let accepting = endpoint.clone();
        let (shutdown, stopping) = tokio::sync::watch::channel(None);
        let (tunables, retuned) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let rooms = Arc::clone(&rooms);
                let stopping = stopping.clone();
                let mut retuned = retuned.clone();
                retuned.mark_unchanged();
                tokio::spawn(async move {
                    if let Err(e) = serve(incoming, rooms, stopping, retuned).await {
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
        // Give connection tasks a moment to write their goodbyes and finish their streams.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while self.endpoint.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.endpoint
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// One connection, from hello to goodbye.
async fn serve(
    incoming: quinn::Incoming,
    rooms: Arc<Vec<Room>>,
    stopping: tokio::sync::watch::Receiver<Option<String>>,
    retuned: tokio::sync::watch::Receiver<Option<ServerControl>>,
) -> anyhow::Result<()> {
    let connection = incoming.await?;
    let remote = connection.remote_address();
    let (mut send, mut recv) =
        tokio::time::timeout(HELLO_TIMEOUT, connection.accept_bi()).await??;
    let hello =
        tokio::time::timeout(HELLO_TIMEOUT, recv_control::<ClientControl>(&mut recv)).await??;
    let Some(ClientControl::Hello(hello)) = hello else {
        reject(
            &mut send,
            &connection,
            RejectReason::BadHello,
            "expected a hello first",
        )
        .await;
        return Ok(());
    };
    if hello.version != PROTOCOL_VERSION {
        let message = format!(
            "this server speaks protocol {PROTOCOL_VERSION}, the client {}",
            hello.version
        );
        tracing::info!(%remote, client_version = hello.version, "rejected: protocol version");
        reject(
            &mut send,
            &connection,
            RejectReason::VersionMismatch {
                server: PROTOCOL_VERSION,
            },
            &message,
        )
        .await;
        return Ok(());
    }
    let (events, mut events_out) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    let Some((room, client, welcome)) = join(&rooms, &connection, &hello, &events).await else {
        let (reason, message) = match hello.room.as_deref() {
            Some(name) if !rooms.iter().any(|r| r.name() == name) => (
                RejectReason::NoSuchRoom,
                format!("there is no room named {name:?}"),
            ),
            Some(name) => (RejectReason::RoomFull, format!("room {name:?} is full")),
            None => (RejectReason::ServerFull, "every room is full".to_owned()),
        };
        tracing::info!(%remote, ?reason, "rejected");
        reject(&mut send, &connection, reason, &message).await;
        return Ok(());
    };
    send_control(&mut send, &ServerControl::Welcome(welcome)).await?;
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
    let reason = forward(&connection, &mut send, channels).await;
    reader.abort();
    let _ = room.send(RoomCommand::Leave { client });
    tracing::info!(%remote, client = client.0, %reason, "client disconnected");
    Ok(())
}

/// Places the client in the first room with space.
async fn join<'r>(
    rooms: &'r [Room],
    connection: &quinn::Connection,
    hello: &Hello,
    events: &tokio::sync::mpsc::Sender<ServerControl>,
) -> Option<(&'r Room, ClientId, tickwire_netcode::protocol::Welcome)> {
    let wanted = hello.room.as_deref();
    for room in rooms
        .iter()
        .filter(|r| wanted.is_none_or(|w| w == r.name()))
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if room
            .send(RoomCommand::Join {
                connection: connection.clone(),
                events: events.clone(),
                reply,
            })
            .is_err()
        {
            continue;
        }
        if let Ok(Ok((client, welcome))) = answer.await {
            return Some((room, client, welcome));
        }
    }
    None
}

/// What a connection task listens to besides the connection itself.
struct Channels<'a> {
    /// Control messages from the client, read on their own task.
    control: &'a mut tokio::sync::mpsc::Receiver<Result<Option<ClientControl>, QuicError>>,
    /// Reliable events from the room for this client.
    events: &'a mut tokio::sync::mpsc::Receiver<ServerControl>,
    /// The server is shutting down, with the reason.
    stopping: tokio::sync::watch::Receiver<Option<String>>,
    /// New tunables after a config reload.
    retuned: tokio::sync::watch::Receiver<Option<ServerControl>>,
}

/// Forwards events and tunables to the client until it leaves or the server stops;
/// returns why it ended. (Its datagrams are read by the room's tick thread.)
async fn forward(
    connection: &quinn::Connection,
    send: &mut quinn::SendStream,
    channels: Channels<'_>,
) -> String {
    let Channels {
        control,
        events,
        mut stopping,
        mut retuned,
    } = channels;
    // Datagrams are read by the room's tick thread (see `room`): no wake-up here for each.
    loop {
        tokio::select! {
            Some(event) = events.recv() => {
                if send_control(send, &event).await.is_err() {
                    return "control stream lost".to_owned();
                }
            }
            Ok(()) = retuned.changed() => {
                let message = retuned.borrow_and_update().clone();
                if let Some(message) = message {
                    if send_control(send, &message).await.is_err() {
                        return "control stream lost".to_owned();
                    }
                }
            }
            _ = stopping.changed() => {
                let message = stopping.borrow().clone().unwrap_or_else(|| "server shutting down".to_owned());
                let goodbye = ServerControl::Goodbye { reason: GoodbyeReason::ServerShutdown, message: message.clone() };
                let _ = send_control(send, &goodbye).await;
                let _ = send.finish();
                let _ = tokio::time::timeout(Duration::from_millis(400), send.stopped()).await;
                connection.close(quinn::VarInt::from_u32(0), message.as_bytes());
                return format!("server shutting down: {message}");
            }
            e = connection.closed() => return format!("connection closed: {e}"),
            message = control.recv() => match message {
                Some(Ok(Some(ClientControl::Goodbye { reason }))) => return format!("client left: {reason}"),
                Some(Ok(Some(ClientControl::Hello(_)))) => return "a second hello".to_owned(),
                Some(Ok(None)) | None => return "control stream finished".to_owned(),
                Some(Err(e)) => {
                    connection.close(quinn::VarInt::from_u32(1), b"protocol violation");
                    return format!("bad control message: {e}");
                }
            },
        }
    }
}

async fn reject(
    send: &mut quinn::SendStream,
    connection: &quinn::Connection,
    reason: RejectReason,
    message: &str,
) {
    let _ = send_control(
        send,
        &ServerControl::Reject {
            reason,
            message: message.to_owned(),
        },
    )
    .await;
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
    connection.close(quinn::VarInt::from_u32(2), message.as_bytes());
}
