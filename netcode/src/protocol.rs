//! Messages between client and server, apart from snapshot parts (see [`crate::snapshot`]).
//!
//! - The reliable **control stream** (one bidirectional QUIC stream per client) carries
//!   [`ClientControl`] and [`ServerControl`] messages, each framed as a 4-byte little-endian
//!   length followed by that many bytes of [`codec`] encoding.
//! - **Datagrams** start with a type byte: [`INPUT_TAG`] for inputs (client → server),
//!   [`SNAPSHOT_TAG`](crate::snapshot::SNAPSHOT_TAG) for snapshot parts (server → client).
//!
//! Every decoder here accepts any bytes and returns a value or a [`ProtocolError`]; the
//! layout is specified in `docs/protocol.md`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError, EncodeError};
use crate::schema::{Schema, SchemaDescription};
use crate::tick::Tick;
use crate::tunables::{MAX_TUNABLES, Tunable};

/// The protocol version this build speaks; a client of another version is rejected.
/// Version 3 describes the game in the welcome (its schema and tunables); version 2 added
/// the `DatagramTooSmall` reject, the `ServerError` goodbye and seat tokens
/// (`docs/protocol.md` lists the changes).
pub const PROTOCOL_VERSION: u16 = 4;
/// First byte of an input datagram.
pub const INPUT_TAG: u8 = 0x02;
/// Most inputs one input datagram may carry (the newest plus redundant older ones).
pub const MAX_INPUTS_PER_DATAGRAM: usize = 16;
/// Largest control message body (bytes).
pub const MAX_CONTROL_BYTES: usize = 16 * 1024;
/// Longest player name (bytes of UTF-8).
pub const MAX_NAME_BYTES: usize = 32;
/// Longest token, room name, reason or event (bytes).
pub const MAX_TEXT_BYTES: usize = 1024;

/// The QUIC ALPN identifier: `tickwire/<version>`.
#[must_use]
pub fn alpn() -> Vec<u8> {
    format!("tickwire/{PROTOCOL_VERSION}").into_bytes()
}

/// Bytes that are not a valid message, or a valid message that breaks the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Malformed bytes.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An empty datagram.
    #[error("empty datagram")]
    Empty,
    /// A datagram whose type byte this endpoint does not accept.
    #[error("unexpected datagram type {0:#04x}")]
    WrongType(u8),
    /// A well-formed message that breaks a rule (too many inputs, a name too long …).
    #[error("protocol violation: {0}")]
    Violation(&'static str),
}

/// First message a client sends on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Display name (at most [`MAX_NAME_BYTES`]).
    pub name: String,
    /// Room to join; `None` lets the server place the player.
    pub room: Option<String>,
    /// Opaque credential for servers that require one.
    pub token: Option<String>,
}

/// Client → server control messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientControl {
    /// Asks to join; must come first.
    Hello(Hello),
    /// The client is leaving.
    Goodbye {
        /// Why, for the server's log.
        reason: String,
    },
}

/// What the server tells a client it accepted: who it is and the numbers its netcode needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// This connection's client id.
    pub client_id: u32,
    /// The room joined.
    pub room: String,
    /// Network index of the player's own entity.
    pub entity_index: u32,
    /// Simulation rate (Hz).
    pub tick_hz: u32,
    /// Snapshot rate (Hz).
    pub snapshot_hz: u32,
    /// The server's tick when it sent this.
    pub server_tick: Tick,
    /// Starting interpolation delay (milliseconds).
    pub interpolation_delay_ms: u32,
    /// How far back the server compensates for lag (milliseconds).
    pub max_rewind_ms: u32,
    /// The least lead (ticks) the client's inputs should arrive ahead of their tick: its
    /// clock's lead target before jitter and loss margins.
    pub input_buffer_ticks: u32,
    /// How long (ticks) the client must keep complete snapshots as possible baselines.
    pub baseline_window_ticks: u32,
    /// The game the room plays ("arena", "cubes3d"): a client that links one game's code
    /// checks it, a generic client shows it.
    pub game: String,
    /// The game's replication schema: enough to decode its snapshots with no code of the
    /// game's.
    pub schema: SchemaDescription,
    /// The game's tunables (its `[game]` configuration), as flat dotted keys.
    pub tunables: Vec<Tunable>,
}

/// Why a client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The client speaks another protocol version.
    VersionMismatch {
        /// The version the server speaks.
        server: u16,
    },
    /// Every room is full.
    ServerFull,
    /// The requested room is full.
    RoomFull,
    /// The requested room does not exist.
    NoSuchRoom,
    /// The hello was malformed or broke a rule.
    BadHello,
    /// The token was refused.
    Unauthorized,
    /// The server is shutting down.
    ShuttingDown,
    /// The client's QUIC datagram limit (its `max_datagram_frame_size` transport
    /// parameter) is below what a snapshot part needs, or it did not enable datagrams.
    DatagramTooSmall {
        /// The largest datagram the client accepts (bytes; 0 when it accepts none).
        client_bytes: u32,
        /// The smallest the server needs (bytes).
        needed_bytes: u32,
    },
}

/// Why a connection is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoodbyeReason {
    /// The server is shutting down.
    ServerShutdown,
    /// The client sent malformed or abusive traffic.
    Misbehaving,
    /// Nothing heard from the client for too long.
    TimedOut,
    /// An operator removed the client.
    Kicked,
    /// The client asked to leave.
    ClientLeft,
    /// The server could not serve this client (a server fault, logged there).
    ServerError,
}

/// QUIC application close codes the server ends connections with. The close frame's reason
/// repeats the message of the `Goodbye` or `Reject` sent before it on the control stream
/// (when the client could still be told there).
pub mod close {
    /// A normal end: the client left, or the server shut down (`Goodbye` sent).
    pub const NORMAL: u32 = 0;
    /// The client broke the control stream's rules (a frame over the limit, bytes that do
    /// not decode, a second hello); `Goodbye { Misbehaving }` sent when the stream allows.
    pub const PROTOCOL_VIOLATION: u32 = 1;
    /// The client was refused at join (`Reject` sent).
    pub const REJECTED: u32 = 2;
    /// The client's datagrams were malformed or too many (`Goodbye { Misbehaving }` sent).
    pub const MISBEHAVING: u32 = 3;
    /// The client said nothing in time: no control stream or hello soon after connecting.
    pub const TIMED_OUT: u32 = 4;
    /// An operator removed the client (`Goodbye { Kicked }` sent).
    pub const KICKED: u32 = 5;
    /// The server could not serve the client (`Goodbye { ServerError }` sent).
    pub const SERVER_ERROR: u32 = 6;
}

impl GoodbyeReason {
    /// The QUIC close code that follows this goodbye.
    #[must_use]
    pub fn close_code(self) -> u32 {
        match self {
            Self::ServerShutdown | Self::ClientLeft => close::NORMAL,
            Self::TimedOut => close::TIMED_OUT,
            Self::Misbehaving => close::MISBEHAVING,
            Self::Kicked => close::KICKED,
            Self::ServerError => close::SERVER_ERROR,
        }
    }
}

/// Server → client control messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerControl {
    /// The client is in.
    Welcome(Welcome),
    /// The client is refused; the connection closes after this.
    Reject {
        /// Why, for the client's logic.
        reason: RejectReason,
        /// Why, for a person.
        message: String,
    },
    /// The connection is ending; nothing follows.
    Goodbye {
        /// Why, for the client's logic.
        reason: GoodbyeReason,
        /// Why, for a person.
        message: String,
    },
    /// New tunables while running (a designer changed the config).
    Tunables {
        /// Snapshot rate (Hz).
        snapshot_hz: u32,
        /// Starting interpolation delay (milliseconds).
        interpolation_delay_ms: u32,
        /// The game's tunables, whole.
        tunables: Vec<Tunable>,
    },
    /// A reliable game event, encoded by the game.
    Event(Vec<u8>),
}

/// One tick of input inside an input datagram, with what the player was looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFrame<I> {
    /// Ticks between this input's tick and the snapshot tick the player saw rendered when
    /// they gave it (interpolation shows the past); lag compensation rewinds this far.
    pub view_ago: u16,
    /// Where between that snapshot tick and the next the render was, in 1/256ths.
    pub view_fraction: u8,
    /// The game's input.
    pub input: I,
}

/// An input datagram: the newest inputs (newest first) and the client's ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDatagram<I> {
    /// The newest complete snapshot the client holds.
    pub ack: Option<Tick>,
    /// The tick of `inputs[0]`; `inputs[n]` is for `newest − n`.
    pub newest: Tick,
    /// Inputs, newest first; older ones repeat what earlier datagrams carried.
    pub inputs: Vec<InputFrame<I>>,
}

impl<I> InputDatagram<I> {
    /// Each input with its tick, newest first.
    pub fn ticks(&self) -> impl Iterator<Item = (Tick, &InputFrame<I>)> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(n, f)| (self.newest.sub(n as u32), f))
    }
}

/// Appends an input datagram to `out`.
///
/// # Errors
/// [`EncodeError`] if the game input cannot be encoded; `out` keeps only what it had.
pub fn encode_input<I: Serialize>(
    datagram: &InputDatagram<I>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(INPUT_TAG);
    codec::encode_into(datagram, out).inspect_err(|_| out.truncate(start))?;
    Ok(())
}

/// Decodes an input datagram.
///
/// # Errors
/// [`ProtocolError`] for a wrong type byte, malformed bytes, no inputs, or more than
/// [`MAX_INPUTS_PER_DATAGRAM`].
pub fn decode_input<I: DeserializeOwned>(bytes: &[u8]) -> Result<InputDatagram<I>, ProtocolError> {
    let (&tag, body) = bytes.split_first().ok_or(ProtocolError::Empty)?;
    if tag != INPUT_TAG {
        return Err(ProtocolError::WrongType(tag));
    }
    let datagram: InputDatagram<I> = codec::decode(body)?;
    if datagram.inputs.is_empty() {
        return Err(ProtocolError::Violation("input datagram without inputs"));
    }
    if datagram.inputs.len() > MAX_INPUTS_PER_DATAGRAM {
        return Err(ProtocolError::Violation("too many inputs in one datagram"));
    }
    Ok(datagram)
}

/// The type byte of a datagram, if it has one.
#[must_use]
pub fn datagram_type(bytes: &[u8]) -> Option<u8> {
    bytes.first().copied()
}

/// Appends one framed control message (length, then body) to `out`.
///
/// # Errors
/// [`EncodeError::TooLong`] past [`MAX_CONTROL_BYTES`]; `out` keeps only what it had.
pub fn encode_control<T: Serialize>(message: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let len = codec::encode_into(message, out).inspect_err(|_| out.truncate(start))?;
    if len > MAX_CONTROL_BYTES {
        out.truncate(start);
        return Err(EncodeError::TooLong {
            len,
            max: MAX_CONTROL_BYTES,
        });
    }
    if let Some(prefix) = out.get_mut(start..start + 4) {
        prefix.copy_from_slice(&(len as u32).to_le_bytes());
    }
    Ok(())
}

/// The body length a frame header announces.
///
/// # Errors
/// [`ProtocolError::Violation`] if it exceeds [`MAX_CONTROL_BYTES`] (the stream should be
/// closed: nothing after it can be trusted).
pub fn control_frame_len(header: [u8; 4]) -> Result<usize, ProtocolError> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_CONTROL_BYTES {
        return Err(ProtocolError::Violation(
            "control message longer than the limit",
        ));
    }
    Ok(len)
}

/// Decodes one control message body and checks its rules.
///
/// # Errors
/// [`ProtocolError`] for malformed bytes or a message that breaks a rule.
pub fn decode_control<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ProtocolError> {
    if body.len() > MAX_CONTROL_BYTES {
        return Err(ProtocolError::Violation(
            "control message longer than the limit",
        ));
    }
    let message: T = codec::decode(body)?;
    message.validate()?;
    Ok(message)
}

/// Rules a decoded message must follow beyond being well-formed.
pub trait Validate {
    /// Checks the rules.
    ///
    /// # Errors
    /// [`ProtocolError::Violation`] naming the broken rule.
    fn validate(&self) -> Result<(), ProtocolError>;
}

fn text(s: &str, max: usize, what: &'static str) -> Result<(), ProtocolError> {
    if s.len() > max {
        Err(ProtocolError::Violation(what))
    } else {
        Ok(())
    }
}

impl Validate for ClientControl {
    fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Hello(h) => {
                text(&h.name, MAX_NAME_BYTES, "name longer than 32 bytes")?;
                if h.name.chars().any(char::is_control) {
                    return Err(ProtocolError::Violation("control characters in name"));
                }
                text(
                    h.room.as_deref().unwrap_or(""),
                    MAX_TEXT_BYTES,
                    "room name too long",
                )?;
                text(
                    h.token.as_deref().unwrap_or(""),
                    MAX_TEXT_BYTES,
                    "token too long",
                )
            }
            Self::Goodbye { reason } => text(reason, MAX_TEXT_BYTES, "reason too long"),
        }
    }
}

impl Validate for ServerControl {
    fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Welcome(w)
                if w.tick_hz == 0 || w.snapshot_hz == 0 || w.snapshot_hz > w.tick_hz =>
            {
                Err(ProtocolError::Violation("welcome with impossible rates"))
            }
            Self::Welcome(w) if w.game.len() > crate::schema::MAX_NAME_BYTES => Err(
                ProtocolError::Violation("welcome with a game name too long"),
            ),
            Self::Welcome(w) if Schema::from_description(&w.schema).is_err() => Err(
                ProtocolError::Violation("welcome with an impossible schema"),
            ),
            Self::Welcome(Welcome { tunables, .. }) | Self::Tunables { tunables, .. }
                if tunables.len() > MAX_TUNABLES =>
            {
                Err(ProtocolError::Violation("too many tunables"))
            }
            Self::Tunables { snapshot_hz: 0, .. } => {
                Err(ProtocolError::Violation("zero snapshot rate"))
            }
            Self::Reject { message, .. } | Self::Goodbye { message, .. } => {
                text(message, MAX_TEXT_BYTES, "message too long")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hello() -> ClientControl {
        ClientControl::Hello(Hello {
            version: PROTOCOL_VERSION,
            name: "ada".into(),
            room: None,
            token: None,
        })
    }

    fn welcome() -> ServerControl {
        ServerControl::Welcome(Welcome {
            client_id: 7,
            room: "room-0".into(),
            entity_index: 512,
            tick_hz: 60,
            snapshot_hz: 30,
            server_tick: Tick::new(123_456),
            interpolation_delay_ms: 100,
            max_rewind_ms: 250,
            input_buffer_ticks: 2,
            baseline_window_ticks: 64,
            game: "pinball".into(),
            schema: Schema::new(
                vec![crate::schema::KindSpec {
                    name: "ball".into(),
                    fields: vec![
                        crate::schema::FieldSpec::linear("x", 16, 0).scaled(0.01, -300.0, "m"),
                        crate::schema::FieldSpec::angle("spin", 10),
                    ],
                }],
                vec![crate::schema::FieldSpec::discrete("ammo", 6, 0)],
            )
            .unwrap()
            .describe(),
            tunables: vec![Tunable {
                key: "gravity_mps2".into(),
                value: crate::tunables::Value::Float(9.81),
            }],
        })
    }

    fn inputs() -> InputDatagram<(i8, i8, u16, bool)> {
        InputDatagram {
            ack: Some(Tick::new(98)),
            newest: Tick::new(104),
            inputs: vec![
                InputFrame {
                    view_ago: 8,
                    view_fraction: 128,
                    input: (127, -3, 4095, true),
                },
                InputFrame {
                    view_ago: 8,
                    view_fraction: 0,
                    input: (0, 0, 17, false),
                },
            ],
        }
    }

    #[test]
    fn control_messages_frame_and_round_trip() {
        let mut stream = Vec::new();
        encode_control(&hello(), &mut stream).unwrap();
        encode_control(&welcome(), &mut stream).unwrap();
        let len = control_frame_len(stream[..4].try_into().unwrap()).unwrap();
        assert_eq!(
            decode_control::<ClientControl>(&stream[4..4 + len]).unwrap(),
            hello()
        );
        let rest = &stream[4 + len..];
        let len = control_frame_len(rest[..4].try_into().unwrap()).unwrap();
        assert_eq!(
            decode_control::<ServerControl>(&rest[4..4 + len]).unwrap(),
            welcome()
        );
    }

    #[test]
    fn inputs_round_trip_with_their_ticks() {
        let mut bytes = Vec::new();
        encode_input(&inputs(), &mut bytes).unwrap();
        assert_eq!(bytes[0], INPUT_TAG);
        assert!(bytes.len() < 32, "{} bytes for two inputs", bytes.len());
        let back = decode_input::<(i8, i8, u16, bool)>(&bytes).unwrap();
        assert_eq!(back, inputs());
        let ticks: Vec<Tick> = back.ticks().map(|(t, _)| t).collect();
        assert_eq!(ticks, vec![Tick::new(104), Tick::new(103)]);
    }

    #[test]
    fn rule_breaking_messages_are_refused() {
        let long = ClientControl::Hello(Hello {
            version: 1,
            name: "x".repeat(33),
            room: None,
            token: None,
        });
        let mut framed = Vec::new();
        encode_control(&long, &mut framed).unwrap();
        assert!(matches!(
            decode_control::<ClientControl>(&framed[4..]),
            Err(ProtocolError::Violation(_))
        ));
        let too_many = InputDatagram {
            inputs: vec![inputs().inputs[0]; MAX_INPUTS_PER_DATAGRAM + 1],
            ..inputs()
        };
        let mut bytes = Vec::new();
        encode_input(&too_many, &mut bytes).unwrap();
        assert!(matches!(
            decode_input::<(i8, i8, u16, bool)>(&bytes),
            Err(ProtocolError::Violation(_))
        ));
        assert!(control_frame_len((MAX_CONTROL_BYTES as u32 + 1).to_le_bytes()).is_err());
        assert_eq!(decode_input::<u8>(&[]), Err(ProtocolError::Empty));
        assert_eq!(
            decode_input::<u8>(&[0x01, 0]),
            Err(ProtocolError::WrongType(0x01))
        );
    }

    #[test]
    fn alpn_names_the_version() {
        assert_eq!(alpn(), b"tickwire/4".to_vec());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_input::<(i8, i8, u16, bool)>(&bytes);
            let _ = decode_control::<ClientControl>(&bytes);
            let _ = decode_control::<ServerControl>(&bytes);
        }

        #[test]
        fn truncations_and_flips_never_panic(cut in 0usize..200, flip in 0usize..1600) {
            let mut framed = Vec::new();
            encode_control(&welcome(), &mut framed).unwrap();
            let body = &framed[4..];
            prop_assert!(decode_control::<ServerControl>(&body[..cut.min(body.len() - 1)]).is_err());
            let mut flipped = body.to_vec();
            let bit = flip % (flipped.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = decode_control::<ServerControl>(&flipped);
            let mut bytes = Vec::new();
            encode_input(&inputs(), &mut bytes).unwrap();
            prop_assert!(decode_input::<(i8, i8, u16, bool)>(&bytes[..cut.min(bytes.len() - 1)]).is_err());
        }
    }
}
