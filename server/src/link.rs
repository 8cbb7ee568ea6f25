//! A player's connection, whichever way it came: native QUIC (the game endpoint) or a
//! WebTransport session (a browser). Both carry the same protocol — the control stream's
//! frames and the same datagrams — and a room treats them alike; only the framing under
//! the datagrams and the close codes' space differ, and this module hides that.

use std::net::SocketAddr;

use bytes::Bytes;

/// The connection a room sends a player's snapshots on and reads its inputs from.
#[derive(Debug, Clone)]
pub enum PlayerConnection {
    /// A native client over the game endpoint (ALPN `tickwire/4`).
    Quic(quinn::Connection),
    /// A browser over the WebTransport endpoint (HTTP/3). Boxed: a session carries its
    /// HTTP/3 state, a QUIC connection is one pointer.
    WebTransport(Box<web_transport_quinn::Session>),
}

impl PlayerConnection {
    /// The QUIC connection under it (for its statistics, round-trip time and address).
    #[must_use]
    pub fn quic(&self) -> &quinn::Connection {
        match self {
            Self::Quic(c) => c,
            Self::WebTransport(s) => s,
        }
    }

    /// Which transport, for logs and `/status`.
    #[must_use]
    pub fn transport(&self) -> &'static str {
        match self {
            Self::Quic(_) => "quic",
            Self::WebTransport(_) => "webtransport",
        }
    }

    /// Queues a datagram; `false` if the connection cannot take it (closed, or too large).
    pub fn send_datagram(&self, datagram: Bytes) -> bool {
        match self {
            Self::Quic(c) => c.send_datagram(datagram).is_ok(),
            Self::WebTransport(s) => s.send_datagram(datagram).is_ok(),
        }
    }

    /// Bytes free in the datagram send queue: a datagram larger than this pushes out the
    /// oldest queued one.
    #[must_use]
    pub fn datagram_send_buffer_space(&self) -> usize {
        match self {
            Self::Quic(c) => c.datagram_send_buffer_space(),
            Self::WebTransport(s) => s.datagram_send_buffer_space(),
        }
    }

    /// The largest datagram payload the peer takes now, if it takes datagrams at all (the
    /// WebTransport session's framing already taken off).
    #[must_use]
    pub fn max_datagram_size(&self) -> Option<usize> {
        match self {
            Self::Quic(c) => c.max_datagram_size(),
            Self::WebTransport(s) => {
                let quic: &quinn::Connection = s;
                quic.max_datagram_size().map(|_| s.max_datagram_size())
            }
        }
    }

    /// A datagram already received, without waiting: `None` when there is none, `Some(Err)`
    /// once the connection is closed (for a tick thread draining on its own schedule).
    pub fn try_read_datagram(&self) -> Option<Result<Bytes, ()>> {
        match self {
            Self::Quic(c) => tickwire_netcode::quic::try_read_datagram(c).map(|r| r.map_err(drop)),
            Self::WebTransport(s) => {
                tickwire_netcode::quic::poll_now(s.read_datagram()).map(|r| r.map_err(drop))
            }
        }
    }

    /// Closes with `code` and `reason` (QUIC application close; a WebTransport session
    /// close, whose codes are its own space).
    pub fn close(&self, code: u32, reason: &[u8]) {
        match self {
            Self::Quic(c) => c.close(quinn::VarInt::from_u32(code), reason),
            Self::WebTransport(s) => s.close(code, reason),
        }
    }

    /// Waits until the connection is closed, by either side or lost; says how.
    pub async fn closed(&self) -> quinn::ConnectionError {
        match self {
            Self::Quic(c) => c.closed().await,
            Self::WebTransport(s) => {
                let _ = s.closed().await;
                let quic: &quinn::Connection = s;
                quic.close_reason()
                    .unwrap_or(quinn::ConnectionError::LocallyClosed)
            }
        }
    }

    /// Why it closed, if it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<quinn::ConnectionError> {
        self.quic().close_reason()
    }

    /// The peer's address.
    #[must_use]
    pub fn remote_address(&self) -> SocketAddr {
        self.quic().remote_address()
    }
}

/// The server's half of a player's control stream.
#[derive(Debug)]
pub enum ControlSend {
    /// On a native QUIC connection.
    Quic(quinn::SendStream),
    /// On a WebTransport session.
    WebTransport(web_transport_quinn::SendStream),
}

impl ControlSend {
    /// Writes one framed control message.
    ///
    /// # Errors
    /// As [`tickwire_netcode::quic::send_control`].
    pub async fn send<T: serde::Serialize>(
        &mut self,
        message: &T,
    ) -> Result<(), tickwire_netcode::quic::QuicError> {
        match self {
            Self::Quic(s) => tickwire_netcode::quic::send_control(s, message).await,
            Self::WebTransport(s) => tickwire_netcode::quic::send_control(s, message).await,
        }
    }

    /// Finishes the stream and waits until the peer has everything written (or stopped).
    pub async fn finish_and_wait(&mut self) {
        match self {
            Self::Quic(s) => {
                if s.finish().is_ok() {
                    let _ = s.stopped().await;
                }
            }
            Self::WebTransport(s) => {
                if s.finish().is_ok() {
                    let _ = s.stopped().await;
                }
            }
        }
    }
}

/// The client's half of a control stream, read by the server.
pub type ControlRecv = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
