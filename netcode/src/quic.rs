//! The QUIC glue for both ends (feature `quic`): TLS and transport settings tuned for a game,
//! and the control-stream framing over quinn streams.
//!
//! Everything else in this crate is sans-IO; this module is the one that knows quinn.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::protocol::{
    ProtocolError, Validate, alpn, control_frame_len, decode_control, encode_control,
};

/// Something went wrong setting up or using a QUIC connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    /// TLS could not be configured (a bad certificate or key).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The stream failed (closed, reset, or the connection was lost).
    #[error("control stream: {0}")]
    Stream(String),
    /// The peer sent something that is not a valid control message.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// Encoding a message failed (a bug on this side).
    #[error(transparent)]
    Encode(#[from] crate::EncodeError),
}

/// Transport settings for a game connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameTransport {
    /// Close the connection after this long without hearing from the peer.
    pub idle_timeout: Duration,
    /// Send a keep-alive this often when nothing else is sent.
    pub keep_alive: Duration,
    /// Bytes of outgoing datagrams quinn may queue; beyond it the oldest are dropped, so a
    /// slow client loses old snapshots instead of growing a queue.
    pub datagram_send_buffer_bytes: usize,
    /// Bytes of incoming datagrams quinn may buffer before dropping.
    pub datagram_receive_buffer_bytes: usize,
}

impl Default for GameTransport {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(1),
            // About 4 snapshots' worth at a 32 KB/s budget.
            datagram_send_buffer_bytes: 16 * 1024,
            datagram_receive_buffer_bytes: 64 * 1024,
        }
    }
}

impl GameTransport {
    fn build(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        t.max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok());
        t.keep_alive_interval(Some(self.keep_alive));
        t.datagram_send_buffer_size(self.datagram_send_buffer_bytes);
        t.datagram_receive_buffer_size(Some(self.datagram_receive_buffer_bytes));
        // One control stream per client: nothing else may be opened.
        t.max_concurrent_uni_streams(0u8.into());
        t.max_concurrent_bidi_streams(1u8.into());
        t
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration: TLS 1.3 with `cert_chain` and `key` (DER), ALPN
/// `tickwire/<version>`, game transport settings.
///
/// # Errors
/// [`QuicError::Tls`] if the certificate or key is unusable.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    transport: &GameTransport,
) -> Result<quinn::ServerConfig, QuicError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![alpn()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport.build()));
    Ok(config)
}

/// A client configuration that trusts exactly `server_cert` (the server's self-signed
/// development certificate, or its CA).
///
/// # Errors
/// [`QuicError::Tls`] if the certificate is unusable.
pub fn client_config(
    server_cert: CertificateDer<'static>,
    transport: &GameTransport,
) -> Result<quinn::ClientConfig, QuicError> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(server_cert)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport.build()));
    Ok(config)
}

/// Writes one framed control message.
///
/// # Errors
/// [`QuicError::Stream`] if the stream fails, [`QuicError::Encode`] on an encoding bug.
pub async fn send_control<T: Serialize>(
    stream: &mut quinn::SendStream,
    message: &T,
) -> Result<(), QuicError> {
    let mut frame = Vec::new();
    encode_control(message, &mut frame)?;
    stream
        .write_all(&frame)
        .await
        .map_err(|e| QuicError::Stream(e.to_string()))
}

/// Reads one framed control message; `Ok(None)` when the peer finished the stream.
///
/// # Errors
/// [`QuicError::Stream`] if the stream fails, [`QuicError::Protocol`] if the frame is too long
/// or does not decode (close the connection: nothing after it can be trusted).
pub async fn recv_control<T: DeserializeOwned + Validate>(
    stream: &mut quinn::RecvStream,
) -> Result<Option<T>, QuicError> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(QuicError::Stream(e.to_string())),
    }
    let len = control_frame_len(header)?;
    let mut body = vec![0u8; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| QuicError::Stream(e.to_string()))?;
    Ok(Some(decode_control(&body)?))
}

/// A client connected and welcomed: the connection, its control stream, and the welcome.
#[derive(Debug)]
pub struct Joined {
    /// The QUIC connection (datagrams go both ways on it).
    pub connection: quinn::Connection,
    /// The control stream, client → server.
    pub send: quinn::SendStream,
    /// The control stream, server → client.
    pub recv: quinn::RecvStream,
    /// What the server said about this session.
    pub welcome: crate::protocol::Welcome,
}

/// Why a client could not join.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The connection could not be made (refused, unreachable, TLS failure, timeout).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server refused the client, with its reason.
    #[error("refused: {reason:?}: {message}")]
    Rejected {
        /// Why, for logic.
        reason: crate::protocol::RejectReason,
        /// Why, for a person.
        message: String,
    },
    /// The handshake failed on the control stream.
    #[error(transparent)]
    Control(#[from] QuicError),
    /// The server answered with something other than a welcome or a reject.
    #[error("unexpected answer to hello")]
    Unexpected,
}

/// Connects to `addr` (whose certificate names `server_name`) through `endpoint`, says
/// `hello`, and waits for the welcome.
///
/// # Errors
/// [`JoinError`] saying what failed: the connection, a reject with its reason, or the
/// handshake.
pub async fn join(
    endpoint: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    server_name: &str,
    hello: crate::protocol::Hello,
) -> Result<Joined, JoinError> {
    use crate::protocol::{ClientControl, ServerControl};
    let connecting = endpoint
        .connect(addr, server_name)
        .map_err(|e| JoinError::Connect(e.to_string()))?;
    let connection = connecting
        .await
        .map_err(|e| JoinError::Connect(e.to_string()))?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| JoinError::Connect(e.to_string()))?;
    send_control(&mut send, &ClientControl::Hello(hello)).await?;
    match recv_control::<ServerControl>(&mut recv).await? {
        Some(ServerControl::Welcome(welcome)) => Ok(Joined {
            connection,
            send,
            recv,
            welcome,
        }),
        Some(ServerControl::Reject { reason, message }) => {
            Err(JoinError::Rejected { reason, message })
        }
        _ => Err(JoinError::Unexpected),
    }
}
