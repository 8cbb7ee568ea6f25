//! Hostile clients: what an attacker or a broken client does to a server, over real QUIC,
//! each in a loop (reconnecting after every refusal or disconnect) until told to stop, so
//! the pressure lasts the whole run. A robustness benchmark runs them beside well-behaved
//! bots and checks that the bots never notice.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tickwire_netcode::protocol::{ClientControl, Hello, INPUT_TAG, PROTOCOL_VERSION};
use tickwire_netcode::quic::{GameTransport, JoinError, ServerTrust, client_config, join};
use tickwire_netcode::token::Key;

/// A way of misbehaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hostility {
    /// Advertises an 8-byte datagram limit (QUIC `max_datagram_frame_size`).
    TinyDatagramLimit,
    /// Joins, then sends datagrams that do not decode.
    Garbage,
    /// Joins, then sends datagrams as fast as it can.
    Flood,
    /// Joins, then writes 16 MiB on its control stream with no frame boundary in it.
    HugeStreamWrite,
    /// Connects and never says hello.
    IdleNoHello,
    /// Joins once with a token, then presents the same token again and again.
    ReplayedToken,
    /// Presents tokens signed with a key the server does not have.
    ForgedToken,
}

impl Hostility {
    /// Ten hostile clients: every kind, the noisiest twice.
    pub const TEN: [Self; 10] = [
        Self::TinyDatagramLimit,
        Self::Garbage,
        Self::Garbage,
        Self::Flood,
        Self::Flood,
        Self::HugeStreamWrite,
        Self::IdleNoHello,
        Self::IdleNoHello,
        Self::ReplayedToken,
        Self::ForgedToken,
    ];

    /// Its name in tables and JSON.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::TinyDatagramLimit => "tiny_datagram_limit",
            Self::Garbage => "garbage_datagrams",
            Self::Flood => "datagram_flood",
            Self::HugeStreamWrite => "huge_stream_write",
            Self::IdleNoHello => "idle_no_hello",
            Self::ReplayedToken => "replayed_token",
            Self::ForgedToken => "forged_token",
        }
    }
}

/// Where the hostile clients go and what they hold.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's QUIC address.
    pub server: SocketAddr,
    /// How its certificate is trusted.
    pub trust: ServerTrust,
    /// A key the server accepts, for the kinds that must join first (an insider gone bad);
    /// `None` on an open server.
    pub key: Option<Arc<Key>>,
}

/// What each kind of hostile client ran into, by outcome, counted over the run.
#[derive(Debug, Default)]
pub struct Outcomes(Mutex<BTreeMap<(&'static str, String), u64>>);

impl Outcomes {
    fn count(&self, kind: Hostility, outcome: impl Into<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((kind.name(), outcome.into()))
            .or_default() += 1;
    }

    /// Every (kind, outcome) with its count.
    #[must_use]
    pub fn read(&self) -> BTreeMap<(&'static str, String), u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Runs one hostile client of `kind` against `target` until `stop` says so, counting what
/// happened to it in `outcomes`. Call on a tokio runtime.
pub async fn run(
    kind: Hostility,
    n: usize,
    target: Target,
    outcomes: Arc<Outcomes>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut attempt = 0u64;
    while !*stop.borrow() {
        attempt += 1;
        let round = once(kind, n, attempt, &target, &outcomes);
        tokio::select! {
            () = round => {}
            _ = stop.changed() => break,
        }
        // A pause between attempts, as a retrying client would make.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => break,
        }
    }
}

/// A client endpoint that trusts the server and advertises `max_datagram` bytes.
fn endpoint(target: &Target, max_datagram: Option<usize>) -> Option<quinn::Endpoint> {
    let mut transport = GameTransport::default();
    if let Some(max) = max_datagram {
        transport.datagram_receive_buffer_bytes = max;
    }
    let bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut endpoint = quinn::Endpoint::client(bind).ok()?;
    endpoint.set_default_client_config(client_config(target.trust.clone(), &transport).ok()?);
    Some(endpoint)
}

fn hello(n: usize, token: Option<String>) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        name: format!("hostile-{n}"),
        room: None,
        token,
    }
}

/// A fresh token from the target's key (`None` on an open server).
fn token(target: &Target, user: &str) -> Option<String> {
    let key = target.key.as_ref()?;
    key.mint_for(
        user,
        None,
        Duration::from_secs(60),
        tickwire_server::auth::unix_now(),
    )
    .ok()
}

/// A message without its particulars (the part in parentheses), so outcomes group.
fn gist(message: &str) -> &str {
    message.split(" (").next().unwrap_or(message)
}

/// How a join ended, as an outcome name.
fn refusal(e: &JoinError) -> String {
    match e {
        JoinError::Rejected { reason, message } => {
            let reason = format!("{reason:?}");
            let reason = reason.split(' ').next().unwrap_or_default();
            format!("rejected {reason}: {}", gist(message))
        }
        other => format!("join failed: {}", gist(&other.to_string())),
    }
}

/// How a connection was ended by the server.
fn ended(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => format!(
            "closed, code {}: {}",
            c.error_code,
            gist(&String::from_utf8_lossy(&c.reason))
        ),
        other => format!("connection ended: {other}"),
    }
}

/// Joins as `user` with a fresh token (an insider about to misbehave); counts a refusal.
async fn join_as(
    endpoint: &quinn::Endpoint,
    target: &Target,
    n: usize,
    user: &str,
    kind: Hostility,
    outcomes: &Outcomes,
) -> Option<tickwire_netcode::quic::Joined> {
    join(
        endpoint,
        target.server,
        "localhost",
        hello(n, token(target, user)),
    )
    .await
    .inspect_err(|e| outcomes.count(kind, refusal(e)))
    .ok()
}

async fn once(kind: Hostility, n: usize, attempt: u64, target: &Target, outcomes: &Outcomes) {
    let tiny = (kind == Hostility::TinyDatagramLimit).then_some(8);
    let Some(endpoint) = endpoint(target, tiny) else {
        outcomes.count(kind, "no endpoint");
        return;
    };
    let user = format!("hostile-{n}-{attempt}");
    match kind {
        Hostility::TinyDatagramLimit => {
            match join(
                &endpoint,
                target.server,
                "localhost",
                hello(n, token(target, &user)),
            )
            .await
            {
                Ok(_) => outcomes.count(kind, "joined (should not have)"),
                Err(e) => outcomes.count(kind, refusal(&e)),
            }
        }
        Hostility::Garbage | Hostility::Flood => {
            let Some(joined) = join_as(&endpoint, target, n, &user, kind, outcomes).await else {
                return;
            };
            let connection = joined.connection.clone();
            let sending = async {
                for i in 0u64.. {
                    let datagram: Vec<u8> = if kind == Hostility::Garbage {
                        vec![INPUT_TAG, 0xFF, i as u8, 0xFF, 0xFF, 0xFF]
                    } else {
                        vec![INPUT_TAG; 600]
                    };
                    if connection.send_datagram(datagram.into()).is_err() {
                        break;
                    }
                    let pause = if kind == Hostility::Garbage {
                        5_000
                    } else {
                        50
                    };
                    tokio::time::sleep(Duration::from_micros(pause)).await;
                }
            };
            tokio::select! {
                () = sending => {}
                e = connection.closed() => outcomes.count(kind, ended(&e)),
            }
            drop(joined);
        }
        Hostility::HugeStreamWrite => {
            let Some(mut joined) = join_as(&endpoint, target, n, &user, kind, outcomes).await
            else {
                return;
            };
            // A frame that claims less than the limit, then 16 MiB that never ends it.
            let mut junk = vec![0xA5u8; 16 * 1024 * 1024];
            if let Some(head) = junk.get_mut(..4) {
                head.copy_from_slice(&16_000u32.to_le_bytes());
            }
            let writing = joined.send.write_all(&junk);
            tokio::select! {
                _ = writing => {}
                _ = joined.connection.closed() => {}
            }
            let e = joined.connection.closed().await;
            outcomes.count(kind, ended(&e));
        }
        Hostility::IdleNoHello => {
            let Ok(connecting) = endpoint.connect(target.server, "localhost") else {
                return outcomes.count(kind, "cannot connect");
            };
            match connecting.await {
                Ok(connection) => {
                    let e = connection.closed().await;
                    outcomes.count(kind, ended(&e));
                }
                Err(e) => outcomes.count(kind, format!("handshake failed: {e}")),
            }
        }
        Hostility::ReplayedToken => {
            // One token for the whole run: its first join succeeds, every later one is a
            // replay.
            let user = format!("hostile-{n}");
            let token = REPLAYED
                .get_or_init(|| token(target, &user).unwrap_or_default())
                .clone();
            match join(&endpoint, target.server, "localhost", hello(n, Some(token))).await {
                Ok(joined) => {
                    outcomes.count(kind, "joined (first use)");
                    let goodbye = ClientControl::Goodbye {
                        reason: "replay next".to_owned(),
                    };
                    let mut send = joined.send;
                    let _ = tickwire_netcode::quic::send_control(&mut send, &goodbye).await;
                    let _ = send.finish();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => outcomes.count(kind, refusal(&e)),
            }
        }
        Hostility::ForgedToken => {
            let forged = Key::new(target.key.as_ref().map_or(1, |k| k.id()), [0x42; 32])
                .mint_for(
                    &user,
                    None,
                    Duration::from_secs(60),
                    tickwire_server::auth::unix_now(),
                )
                .ok();
            match join(&endpoint, target.server, "localhost", hello(n, forged)).await {
                Ok(_) => outcomes.count(kind, "joined (should not have)"),
                Err(e) => outcomes.count(kind, refusal(&e)),
            }
        }
    }
    endpoint.close(quinn::VarInt::from_u32(0), b"");
}

/// The one token the replaying client presents all run long.
static REPLAYED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
