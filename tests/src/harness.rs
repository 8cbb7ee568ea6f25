//! A real game server on 127.0.0.1 and the client-side pieces the end-to-end tests drive it
//! with: connecting, joining, playing, reading `/status` and `/metrics`.

// Test helpers: a failure is the test's failure, with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_panics_doc
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_netcode::TickRate;
use tickwire_netcode::client::{ClientConfig, ClientNetcode};
use tickwire_netcode::protocol::{ClientControl, Hello, PROTOCOL_VERSION, ServerControl, Welcome};
use tickwire_netcode::quic::{
    GameTransport, Joined, ServerTrust, client_config, recv_control, send_control,
};
use tickwire_netcode::schema::Schema;
use tickwire_netcode::tunables;
use tickwire_server::auth::Admission;
use tickwire_server::endpoint::{GameEndpoint, Identity};
use tickwire_server::presence::Presence;
use tickwire_server::room::Room;
use tickwire_sim::arena::Arena;
use tickwire_sim::arena::client::ArenaPrediction;
use tickwire_sim::arena::replication::{WireInput, arena_schema};
use tickwire_sim::arena::{ArenaConfig, Rules};

use crate::config_with;

/// A game server on loopback: its endpoint, certificate and rooms.
#[derive(Debug)]
pub struct Harness {
    /// The QUIC endpoint.
    pub endpoint: GameEndpoint,
    /// Its certificate.
    pub identity: Identity,
    /// Its rooms.
    pub rooms: Arc<Vec<Room>>,
}

/// A server with one room of 50 props.
pub fn start_server() -> Harness {
    start_rooms(&["room-0"], &["game.prop_count=50"])
}

/// A server with a room for each of `names`, on the default config with `overrides`.
pub fn start_rooms(names: &[&str], overrides: &[&str]) -> Harness {
    let config = config_with(overrides);
    let rooms = Arc::new(
        names
            .iter()
            .map(|name| Room::start::<Arena>(name, &config).unwrap())
            .collect::<Vec<_>>(),
    );
    let identity = Identity::self_signed().unwrap();
    let endpoint = GameEndpoint::start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        &config.transport(),
        Arc::clone(&rooms),
        Arc::new(Admission::from_config(&config).unwrap()),
        Presence::default(),
    )
    .unwrap();
    Harness {
        endpoint,
        identity,
        rooms,
    }
}

impl Harness {
    /// Serves this server's admin address (on a free port).
    pub async fn admin(&self) -> std::net::SocketAddr {
        tickwire_server::admin::serve(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&self.rooms),
            self.endpoint.udp_drops(),
        )
        .await
        .unwrap()
    }
}

/// A connection to the harness with its control stream opened (nothing said yet).
pub async fn connect(h: &Harness) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let client = client_endpoint(h.identity.leaf().unwrap());
    let connection = client
        .connect(h.endpoint.local_addr().unwrap(), "localhost")
        .unwrap()
        .await
        .unwrap();
    let (send, recv) = connection.open_bi().await.unwrap();
    (connection, send, recv)
}

/// A client endpoint on 127.0.0.1 that trusts `cert`.
pub fn client_endpoint(cert: &rustls::pki_types::CertificateDer<'static>) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(
            ServerTrust::Certificate(cert.clone()),
            &GameTransport::default(),
        )
        .unwrap(),
    );
    endpoint
}

/// A hello speaking protocol `version`.
pub fn hello(version: u16) -> ClientControl {
    ClientControl::Hello(Hello {
        version,
        name: "test".into(),
        room: None,
        token: None,
    })
}

/// The client netcode a welcome describes, for the arena: the rules from its tunables, the
/// decoder from the schema it describes (not the sim's own, so the description is tested).
pub fn client_for(welcome: &Welcome) -> ClientNetcode<ArenaPrediction> {
    let arena: ArenaConfig = tunables::unflatten(&welcome.tunables).unwrap();
    let rules = Rules::new(arena, TickRate::new(welcome.tick_hz).unwrap()).unwrap();
    let schema = Schema::from_description(&welcome.schema).unwrap();
    assert_eq!(schema, arena_schema(rules.config()), "the welcome's schema");
    ClientNetcode::new(
        ArenaPrediction::new(rules),
        schema,
        ClientConfig::from_welcome(welcome).unwrap(),
        Instant::now(),
    )
}

/// A plain HTTP/1.1 GET over TCP: what Prometheus does when it scrapes.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let response = http_request(addr, "GET", path, &[]).await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// One plain HTTP/1.1 request over TCP, with `headers` (`name: value`) besides `host` and
/// `connection: close`; the whole response, head and body.
pub async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nhost: tickwire\r\nconnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// Joins and returns the connection once welcomed.
pub async fn joined(h: &Harness) -> Joined {
    let (connection, mut send, mut recv) = connect(h).await;
    send_control(&mut send, &hello(PROTOCOL_VERSION))
        .await
        .unwrap();
    let Some(ServerControl::Welcome(welcome)) =
        recv_control::<ServerControl>(&mut recv).await.unwrap()
    else {
        panic!("expected a welcome");
    };
    Joined {
        connection,
        send,
        recv,
        welcome,
    }
}

/// The reason the server gave for closing `connection` (waits at most 5 s).
pub async fn close_reason(connection: &quinn::Connection) -> String {
    match tokio::time::timeout(Duration::from_secs(5), connection.closed())
        .await
        .expect("the server never closed")
    {
        quinn::ConnectionError::ApplicationClosed(close) => {
            String::from_utf8_lossy(&close.reason).into_owned()
        }
        other => format!("{other}"),
    }
}

/// A hello asking for `room` (or to be placed), with no token.
pub fn hello_to(room: Option<&str>) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        name: "player".into(),
        room: room.map(str::to_owned),
        token: None,
    }
}

/// Plays as a client for `time`: takes snapshots, sends inputs (which acknowledge them).
pub async fn play(
    connection: &quinn::Connection,
    client: &mut ClientNetcode<ArenaPrediction>,
    time: Duration,
) {
    let until = Instant::now() + time;
    while Instant::now() < until {
        if let Ok(Ok(datagram)) =
            tokio::time::timeout(Duration::from_millis(5), connection.read_datagram()).await
        {
            let _ = client.handle_datagram(Instant::now(), &datagram);
        }
        let now = Instant::now();
        while let Some(tick) = client.next_input_tick(now) {
            let datagram = client
                .submit_input(tick, WireInput::default())
                .unwrap()
                .to_vec();
            let _ = connection.send_datagram(datagram.into());
        }
        client.frame(now);
    }
}

/// A client endpoint that trusts the harness's server and advertises `max_datagram` as its
/// QUIC datagram limit (its `max_datagram_frame_size` transport parameter).
pub fn limited_endpoint(h: &Harness, max_datagram: usize) -> quinn::Endpoint {
    let transport = GameTransport {
        datagram_receive_buffer_bytes: max_datagram,
        ..GameTransport::default()
    };
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(
            ServerTrust::Certificate(h.identity.leaf().unwrap().clone()),
            &transport,
        )
        .unwrap(),
    );
    endpoint
}

/// Sums a counter's samples (over rooms and labels) whose line contains `filter`.
pub fn metric_sum(metrics: &str, name: &str, filter: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Counts the datagrams `connection` receives over `time`.
pub async fn datagrams_within(connection: &quinn::Connection, time: Duration) -> u32 {
    let mut received = 0;
    let until = Instant::now() + time;
    while Instant::now() < until {
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(50), connection.read_datagram()).await
        {
            received += 1;
        }
    }
    received
}
