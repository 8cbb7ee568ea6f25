//! Reading a room's clients' datagrams on its tick thread, under each client's size and
//! rate limit, and disconnecting — with a goodbye saying why — those that misbehave.

use crate::link::PlayerConnection;
use std::collections::HashMap;

use tickwire_netcode::protocol::{GoodbyeReason, ServerControl};

use super::MAX_BAD_DATAGRAMS;
use super::MAX_DATAGRAMS_PER_CLIENT_TICK;
use crate::rate_limit::RateLimit;
use tickwire_netcode::game::Game;

use crate::room_core::{ClientId, RoomCore};

/// A client's connection as the tick thread holds it.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) connection: PlayerConnection,
    /// Its incoming datagrams' size and rate limit.
    pub(super) limit: RateLimit,
    /// Reliable events for the client's control stream (bounded: a client that does not
    /// read them loses the newest, counted in `tickwire_events_dropped_total`).
    pub(super) events: tokio::sync::mpsc::Sender<ServerControl>,
    /// Snapshots that displaced an older one from QUIC's send queue.
    pub(super) dropped: u64,
    /// The player's user id (seat token), if the server checks tokens.
    pub(super) user: Option<String>,
    /// The name it said hello with.
    pub(super) name: String,
    /// Its player's entity index.
    pub(super) entity: u32,
}

/// Hands one datagram to the room; says what the client did wrong when it has sent too
/// many bad ones.
fn take_datagram<G: Game>(
    core: &mut RoomCore<G>,
    client: ClientId,
    bytes: &[u8],
) -> Option<String> {
    let Err(e) = core.handle_datagram(client, bytes) else {
        return None;
    };
    tracing::debug!(client = client.0, error = %e, "dropped a bad datagram");
    (core.bad_datagrams(client) >= MAX_BAD_DATAGRAMS)
        .then(|| format!("misbehaving: {MAX_BAD_DATAGRAMS} malformed datagrams (the last: {e})"))
}

/// Removes a client from the room and has its connection task say goodbye with `reason`
/// and `message` on the control stream, then close; closes at once (with the same code and
/// message) when that task cannot take it.
pub(super) fn disconnect<G: Game>(
    core: &mut RoomCore<G>,
    connections: &mut HashMap<ClientId, Link>,
    client: ClientId,
    reason: GoodbyeReason,
    message: String,
) {
    tracing::warn!(
        room = core.name(),
        client = client.0,
        user = connections.get(&client).and_then(|l| l.user.as_deref()),
        ?reason,
        message,
        "disconnecting"
    );
    if let Some(link) = connections.remove(&client) {
        let code = reason.close_code();
        let goodbye = ServerControl::Goodbye {
            reason,
            message: message.clone(),
        };
        if link.events.try_send(goodbye).is_err() {
            link.connection.close(code, message.as_bytes());
        }
    }
    core.leave(client);
}

/// Per-tick counters of datagrams read on the tick thread.
pub(super) struct Ingress {
    datagrams: metrics::Counter,
    bytes: metrics::Counter,
    refused: metrics::Counter,
    /// Clients to disconnect after this tick's reads, with what they did (reused).
    closing: Vec<(ClientId, Option<String>)>,
}

impl Ingress {
    /// The counters of room `room`.
    pub(super) fn new(room: &str) -> Self {
        let labels = [("room", room.to_owned())];
        Self {
            datagrams: metrics::counter!("tickwire_datagrams_in_total", &labels),
            bytes: metrics::counter!("tickwire_bytes_in_total", &labels),
            refused: metrics::counter!("tickwire_datagrams_dropped_total", &labels),
            closing: Vec::new(),
        }
    }
}

/// Reads every client's waiting datagrams (at most [`MAX_DATAGRAMS_PER_CLIENT_TICK`] each)
/// straight from its connection: no task wakes for each datagram, and a flood stays in
/// quinn's bounded receive buffer, which drops the oldest.
pub(super) fn read_datagrams<G: Game>(
    core: &mut RoomCore<G>,
    connections: &mut HashMap<ClientId, Link>,
    now: std::time::Instant,
    ingress: &mut Ingress,
) {
    for (&id, link) in connections.iter_mut() {
        for _ in 0..MAX_DATAGRAMS_PER_CLIENT_TICK {
            let bytes = match link.connection.try_read_datagram() {
                None => break,
                Some(Err(_)) => {
                    // Lost: its connection task says why and sends Leave as well.
                    ingress.closing.push((id, None));
                    break;
                }
                Some(Ok(bytes)) => bytes,
            };
            ingress.datagrams.increment(1);
            ingress.bytes.increment(bytes.len() as u64);
            if !link.limit.allow(now, bytes.len()) {
                ingress.refused.increment(1);
                if link.limit.flooding() {
                    let what = format!(
                        "misbehaving: datagram flood ({} datagrams refused for size or rate)",
                        link.limit.dropped
                    );
                    ingress.closing.push((id, Some(what)));
                    break;
                }
                continue;
            }
            if let Some(why) = take_datagram(core, id, &bytes) {
                ingress.closing.push((id, Some(why)));
                break;
            }
        }
    }
    for (id, why) in ingress.closing.drain(..) {
        match why {
            Some(why) => disconnect(core, connections, id, GoodbyeReason::Misbehaving, why),
            None => {
                connections.remove(&id);
                core.leave(id);
            }
        }
    }
}

/// Bytes quinn receivers count against their advertised datagram limit beyond the
/// payload: 32 bytes of bookkeeping per datagram, where the sender's limit allows for the
/// frame's 9. A client whose own limit binds would otherwise close the connection on a
/// datagram that limit allowed ("oversized datagram").
const RECEIVER_BOOKKEEPING_BYTES: usize = 23;
/// Below this, a datagram limit is the client's own (a QUIC path carries at least 1200-byte
/// packets, about 1160 bytes of datagram), not the path's.
const PATH_DATAGRAM_BYTES: usize = 1100;

/// The largest snapshot datagram a client can take: what its transport parameters and the
/// path allow (`None` when it enabled no datagrams), less quinn's receive bookkeeping when
/// the client's own limit is the one that binds.
pub(super) fn client_datagram_limit(connection: &PlayerConnection) -> Option<usize> {
    connection.max_datagram_size().map(|max| {
        if max < PATH_DATAGRAM_BYTES {
            max.saturating_sub(RECEIVER_BOOKKEEPING_BYTES)
        } else {
            max
        }
    })
}
