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
use sha2::{Digest, Sha256};

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
    /// UDP socket buffer bytes asked of the kernel, each way, by [`crate::udp::socket`].
    pub udp_buffer_bytes: usize,
    /// Streams the peer may open: bidirectional, then one-way. A game connection has its
    /// one control stream and nothing else ([`GameTransport::HTTP3_STREAMS`] for
    /// WebTransport).
    pub peer_streams: (u8, u8),
}

impl Default for GameTransport {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(1),
            // About 4 snapshots' worth at a 32 KB/s budget.
            datagram_send_buffer_bytes: 16 * 1024,
            datagram_receive_buffer_bytes: 64 * 1024,
            udp_buffer_bytes: crate::udp::BUFFER_BYTES,
            peer_streams: (1, 0),
        }
    }
}

impl GameTransport {
    /// The streams an HTTP/3 client opens for a WebTransport session: its control and QPACK
    /// streams (one-way), the session's CONNECT stream and then the game's control stream
    /// inside the session (bidirectional).
    pub const HTTP3_STREAMS: (u8, u8) = (2, 4);

    fn build(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        t.max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok());
        t.keep_alive_interval(Some(self.keep_alive));
        t.datagram_send_buffer_size(self.datagram_send_buffer_bytes);
        t.datagram_receive_buffer_size(Some(self.datagram_receive_buffer_bytes));
        // Both directions carry a datagram every tick or two, so ACKs ride on them: ask the
        // peer to acknowledge at most every few packets or 25 ms rather than sending
        // ACK-only packets (the QUIC ACK frequency extension).
        let mut acks = quinn::AckFrequencyConfig::default();
        acks.ack_eliciting_threshold(quinn::VarInt::from_u32(4))
            .max_ack_delay(Some(Duration::from_millis(25)));
        t.ack_frequency_config(Some(acks));
        // The control stream (and, under WebTransport, HTTP/3's own): nothing else.
        t.max_concurrent_bidi_streams(self.peer_streams.0.into());
        t.max_concurrent_uni_streams(self.peer_streams.1.into());
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
    server_config_for(cert_chain, key, transport, alpn())
}

/// As [`server_config`], for another application protocol: `h3` serves WebTransport (the
/// same game protocol inside HTTP/3 sessions, for browsers; give `transport` the
/// [`GameTransport::HTTP3_STREAMS`] it needs).
///
/// # Errors
/// As [`server_config`].
pub fn server_config_for(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    transport: &GameTransport,
    alpn: Vec<u8>,
) -> Result<quinn::ServerConfig, QuicError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![alpn];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport.build()));
    Ok(config)
}

/// How a client decides the server is the one it meant to reach.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Trust exactly this certificate (the server's self-signed development certificate,
    /// or the CA that signed its chain).
    Certificate(CertificateDer<'static>),
    /// Trust whichever certificate has this SHA-256 (of its DER), as the server logs it:
    /// a development server's certificate changes every start, its fingerprint is one line
    /// to copy. The TLS 1.3 handshake signature is still checked against that certificate.
    Fingerprint([u8; 32]),
}

/// SHA-256 of a certificate's DER as 64 lowercase hex digits, the form servers log and
/// [`parse_fingerprint`] reads.
#[must_use]
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use std::fmt::Write as _;
    Sha256::digest(cert.as_ref())
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// Reads a SHA-256 fingerprint: 64 hex digits, either case, optionally separated by `:`
/// (as `openssl x509 -fingerprint` prints it).
///
/// # Errors
/// [`QuicError::Tls`] saying what is wrong with the text.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], QuicError> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 64 {
        return Err(QuicError::Tls(format!(
            "a SHA-256 fingerprint is 64 hex digits, got {} in {text:?}",
            digits.len()
        )));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).unwrap_or("");
        *byte = u8::from_str_radix(pair, 16)
            .map_err(|_| QuicError::Tls(format!("{pair:?} in fingerprint {text:?} is not hex")))?;
    }
    Ok(out)
}

/// Accepts the one certificate whose SHA-256 is pinned, whatever names it holds, and checks
/// the handshake signatures with it as usual.
#[derive(Debug)]
struct PinnedFingerprint {
    sha256: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedFingerprint {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.sha256 {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            tracing::warn!(
                got = fingerprint(end_entity),
                "server certificate does not match the pinned fingerprint"
            );
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that trusts the server as `trust` says: TLS 1.3, ALPN
/// `tickwire/<version>`, game transport settings.
///
/// # Errors
/// [`QuicError::Tls`] if the certificate is unusable.
pub fn client_config(
    trust: ServerTrust,
    transport: &GameTransport,
) -> Result<quinn::ClientConfig, QuicError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut tls = match trust {
        ServerTrust::Certificate(cert) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(cert).map_err(|e| QuicError::Tls(e.to_string()))?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        ServerTrust::Fingerprint(sha256) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedFingerprint {
                sha256,
                provider: provider(),
            }))
            .with_no_client_auth(),
    };
    tls.alpn_protocols = vec![alpn()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport.build()));
    Ok(config)
}

/// A datagram already received on `connection`, without waiting: `None` when there is
/// none, `Some(Err)` once the connection is closed. For a loop that drains datagrams on its
/// own schedule (a tick thread, a frame) instead of waking a task for each.
pub fn try_read_datagram(
    connection: &quinn::Connection,
) -> Option<Result<bytes::Bytes, quinn::ConnectionError>> {
    poll_now(connection.read_datagram())
}

/// Polls `future` once, with a waker that does nothing: its output if it is ready now. For
/// reading what a connection already holds without waiting (the future must be one that may
/// be dropped unfinished, as quinn's and WebTransport's datagram reads may).
pub fn poll_now<T>(future: impl Future<Output = T>) -> Option<T> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => Some(value),
        std::task::Poll::Pending => None,
    }
}

/// Writes one framed control message.
///
/// # Errors
/// [`QuicError::Stream`] if the stream fails, [`QuicError::Encode`] on an encoding bug.
pub async fn send_control<T: Serialize>(
    stream: &mut (impl tokio::io::AsyncWrite + Unpin + ?Sized),
    message: &T,
) -> Result<(), QuicError> {
    use tokio::io::AsyncWriteExt as _;
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
    stream: &mut (impl tokio::io::AsyncRead + Unpin + ?Sized),
) -> Result<Option<T>, QuicError> {
    use tokio::io::AsyncReadExt as _;
    let stream_error = |e: std::io::Error| QuicError::Stream(e.to_string());
    let mut header = [0u8; 4];
    // A stream finished before a frame starts ends cleanly; one cut inside a frame fails.
    let first = stream
        .read(header.get_mut(..1).unwrap_or_default())
        .await
        .map_err(stream_error)?;
    if first == 0 {
        return Ok(None);
    }
    stream
        .read_exact(header.get_mut(1..).unwrap_or_default())
        .await
        .map_err(stream_error)?;
    let len = control_frame_len(header)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(stream_error)?;
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
