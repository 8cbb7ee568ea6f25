//! What a player costs in QUIC alone: `cargo run --release -p tickwire-benches --bin transport -- --json`.
//!
//! No game code: a server endpoint and a client endpoint in this process, each on its own
//! two-worker tokio runtime (as the demo's server and bots run in two processes), over real
//! UDP on 127.0.0.1, with the same TLS and transport settings as the game. Each player sends
//! an input datagram every 60 Hz frame and receives a snapshot datagram every other server
//! tick (30 Hz), polled the way the real loops poll them: server rooms of 64 connections
//! drain and send once per tick, bot groups of 32 once per frame. The sizes default to what
//! the demo's bots measure on the wire.
//!
//! It prints what that traffic costs this machine — CPU (both ends, this whole process) per
//! player-second and per packet, packets per player-second each way (with the server's
//! ACK-only packets apart) — and the kernel's own share: one UDP packet sent and received
//! over loopback with a plain socket, one system call each. Together with the game code's
//! cost this says how many players a machine can host and test at once.
//!
//! `--rtt-ms` delays the clients' datagrams through the bots' link conditioner (how often
//! acknowledgements need packets of their own depends on the round trip);
//! `--single-thread` runs each end on one thread instead of two workers.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use clap::Parser;
use serde::Serialize;
use tickwire_benches::print_table;
use tickwire_bot::conditioned_socket::client_endpoint;
use tickwire_bot::cpu::CpuTimes;
use tickwire_netcode::link_conditioner::LinkConfig;
use tickwire_netcode::quic::{GameTransport, ServerTrust, client_config, server_config};
use tickwire_netcode::udp;
use tickwire_server::endpoint::Identity;

/// Game ticks per second: inputs go out once per tick, snapshots every other tick.
const TICK_HZ: f64 = 60.0;
/// Connections a server room serves from one loop (as `server.max_clients_per_room`).
const ROOM: usize = 64;
/// Connections a bot group steps in one task (as the swarm's groups).
const GROUP: usize = 32;
/// Packets timed for the kernel's share.
const KERNEL_PACKETS: usize = 200_000;

/// Measure the CPU cost of the game's QUIC traffic per player.
#[derive(Debug, Parser)]
struct Args {
    /// Players (connections) of each case, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 400])]
    players: Vec<usize>,
    /// Seconds measured per case, after every player is connected and 2 s of warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Bytes of each input datagram (client to server), 60 per second.
    #[arg(long, default_value_t = 40)]
    input_bytes: usize,
    /// Bytes of each snapshot datagram (server to client), 30 per second.
    #[arg(long, default_value_t = 100)]
    snapshot_bytes: usize,
    /// UDP socket buffer bytes each endpoint asks for, each way (the game's default).
    #[arg(long, default_value_t = udp::BUFFER_BYTES)]
    udp_buffer_bytes: usize,
    /// Round trip added by delaying the clients' datagrams each way (the bots' link
    /// conditioner), in milliseconds: how often acknowledgements need packets of their own
    /// depends on it.
    #[arg(long, default_value_t = 0)]
    rtt_ms: u64,
    /// Run each end on one thread (a current-thread runtime) instead of two workers.
    #[arg(long)]
    single_thread: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct CaseReport {
    players: usize,
    seconds: f64,
    /// Input datagrams the server received per player-second (60 when nothing is lost).
    inputs_per_player_s: f64,
    /// Snapshot datagrams the clients received per player-second (30 when nothing is lost).
    snapshots_per_player_s: f64,
    /// UDP packets per player-second, client to server.
    up_packets_per_player_s: f64,
    /// UDP packets per player-second, server to client.
    down_packets_per_player_s: f64,
    /// Of those, packets carrying no datagram (acknowledgements, keep-alives).
    down_ack_only_per_player_s: f64,
    up_kbit_per_player_s: f64,
    down_kbit_per_player_s: f64,
    /// This process's CPU (both ends) per player-second of traffic, milliseconds.
    cpu_ms_per_player_s: f64,
    /// The same per UDP packet, sent and received (microseconds).
    cpu_us_per_packet: f64,
    /// Cores this traffic would take for 1000 players at the same cost (the same number as
    /// `cpu_ms_per_player_s`, read as cores: kept for scripts sizing a host).
    cores_for_1000_players: f64,
    /// Of the whole machine's CPU time, the fraction busy during the case.
    machine_busy_fraction: f64,
}

/// Per-connection counters summed over the clients.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    up_packets: u64,
    down_packets: u64,
    up_bytes: u64,
    down_bytes: u64,
    snapshots: u64,
    inputs: u64,
}

impl Counts {
    /// Counts from the clients' ends, and the inputs the server's ends received.
    fn of(clients: &[quinn::Connection], server_side: &[quinn::Connection]) -> Self {
        let mut c = clients.iter().fold(Self::default(), |mut c, conn| {
            let s = conn.stats();
            c.up_packets += s.udp_tx.datagrams;
            c.down_packets += s.udp_rx.datagrams;
            c.up_bytes += s.udp_tx.bytes;
            c.down_bytes += s.udp_rx.bytes;
            c.snapshots += s.frame_rx.datagram;
            c
        });
        c.inputs = server_side
            .iter()
            .map(|s| s.stats().frame_rx.datagram)
            .sum();
        c
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            up_packets: self.up_packets - earlier.up_packets,
            down_packets: self.down_packets - earlier.down_packets,
            up_bytes: self.up_bytes - earlier.up_bytes,
            down_bytes: self.down_bytes - earlier.down_bytes,
            snapshots: self.snapshots - earlier.snapshots,
            inputs: self.inputs - earlier.inputs,
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.players.is_empty() || args.players.contains(&0) {
        bail!("--players needs one or more counts above zero");
    }
    // The kernel's share first, while nothing else runs in this process.
    // The input's size on the wire: QUIC's header, datagram frame and tag add about 36 bytes.
    let kernel_us = kernel_us_per_packet(args.input_bytes + 36)?;
    let mut reports = Vec::new();
    for &players in &args.players {
        reports.push(measure(&args, players)?);
    }
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.players.to_string(),
                format!("{:.1}", r.inputs_per_player_s),
                format!("{:.1}", r.snapshots_per_player_s),
                format!("{:.1}", r.up_packets_per_player_s),
                format!(
                    "{:.1} ({:.1})",
                    r.down_packets_per_player_s, r.down_ack_only_per_player_s
                ),
                format!(
                    "{:.1} / {:.1}",
                    r.up_kbit_per_player_s, r.down_kbit_per_player_s
                ),
                format!("{:.2}", r.cpu_ms_per_player_s),
                format!("{:.2}", r.cpu_us_per_packet),
                format!("{:.0}%", r.machine_busy_fraction * 100.0),
            ]
        })
        .collect();
    print_table(
        &[
            "players",
            "inputs/s",
            "snaps/s",
            "pkts/s up",
            "down (ack-only)",
            "kbit/s up/down",
            "CPU ms/player-s",
            "µs/packet",
            "machine",
        ],
        &rows,
    );
    println!("(CPU ms per player-second is also the cores 1000 players would take)");
    println!(
        "kernel alone: {kernel_us:.2} µs of CPU per UDP packet sent and received over loopback \
         (one system call each way)"
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "cases": reports,
                "input_bytes": args.input_bytes,
                "snapshot_bytes": args.snapshot_bytes,
                "rtt_ms": args.rtt_ms,
                "single_thread": args.single_thread,
                "kernel_us_per_packet": kernel_us,
            })
        );
    }
    Ok(())
}

/// CPU per packet for the kernel alone: plain UDP sends to a socket on loopback, drained
/// as they arrive (`bytes` each).
fn kernel_us_per_packet(bytes: usize) -> Result<f64> {
    let rx = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket")?;
    rx.set_nonblocking(true)?;
    let tx = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket")?;
    tx.connect(rx.local_addr()?)?;
    let payload = vec![0x5a; bytes];
    let mut buf = vec![0; 2048];
    let (mut sent, mut received) = (0, 0);
    let before = CpuTimes::now().context("reading /proc for CPU times")?;
    let start = Instant::now();
    while sent < KERNEL_PACKETS {
        // A burst smaller than the socket's receive buffer, then drain it.
        for _ in 0..32 {
            tx.send(&payload)?;
            sent += 1;
        }
        while rx.recv(&mut buf).is_ok() {
            received += 1;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let used = CpuTimes::now()
        .and_then(|now| now.since(&before, wall))
        .context("reading /proc for CPU times")?;
    if received < sent * 9 / 10 {
        bail!("loopback lost {} of {sent} packets", sent - received);
    }
    Ok(used.process_cores * wall / sent as f64 * 1e6)
}

/// One end's tokio runtime, driven from a thread of its own until dropped.
struct End {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl End {
    /// A multi-threaded runtime of two workers (the machine's cores), as each process
    /// has; or with `single`, one thread running everything.
    fn start(name: &str, single: bool) -> Result<Self> {
        let runtime = if single {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()
        }
        .context("starting a tokio runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .context("starting a runtime thread")?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for End {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn measure(args: &Args, players: usize) -> Result<CaseReport> {
    let server_rt = End::start("server", args.single_thread)?;
    let client_rt = End::start("bots", args.single_thread)?;
    let identity = Identity::self_signed()?;
    let cert = identity.leaf().cloned().context("no certificate")?;
    let transport = GameTransport::default();
    let server_cfg = server_config(identity.cert_chain, identity.key, &transport)?;
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = {
        let _guard = server_rt.handle.enter();
        quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_cfg),
            udp::socket(any_port, args.udp_buffer_bytes)?,
            Arc::new(quinn::TokioRuntime),
        )?
    };
    let addr = server.local_addr()?;
    // The clients' endpoint as the swarm makes its bots' (conditioned when asked).
    let links = (args.rtt_ms > 0).then(|| {
        let link = LinkConfig::symmetric(Duration::from_millis(args.rtt_ms), Duration::ZERO, 0.0);
        (link, link)
    });
    let mut client = {
        let _guard = client_rt.handle.enter();
        client_endpoint(any_port, args.udp_buffer_bytes, links, 1)?.0
    };
    client.set_default_client_config(client_config(ServerTrust::Certificate(cert), &transport)?);

    // Connect everyone: the server accepts and hands each connection to a room.
    let accepted = server_rt.handle.spawn({
        let server = server.clone();
        async move {
            let mut connections = Vec::with_capacity(players);
            while connections.len() < players {
                let Some(incoming) = server.accept().await else {
                    break;
                };
                if let Ok(connection) = incoming.await {
                    connections.push(connection);
                }
            }
            connections
        }
    });
    let clients: Vec<quinn::Connection> = client_rt.handle.block_on(async {
        let mut clients = Vec::with_capacity(players);
        // A few handshakes at a time, as a ramp does.
        for chunk in (0..players).collect::<Vec<_>>().chunks(16) {
            let connecting: Vec<_> = chunk
                .iter()
                .map(|_| client.connect(addr, "localhost"))
                .collect::<Result<_, _>>()?;
            for c in connecting {
                clients.push(c.await?);
            }
        }
        anyhow::Ok(clients)
    })?;
    let server_side = server_rt.handle.block_on(accepted)?;
    if server_side.len() < players {
        bail!("{} of {players} connections accepted", server_side.len());
    }

    let period = Duration::from_secs_f64(1.0 / TICK_HZ);
    for room in server_side.chunks(ROOM) {
        let room = room.to_vec();
        let snapshot = vec![0xa5; args.snapshot_bytes];
        server_rt.handle.spawn(async move {
            let mut tick = tokio::time::interval(period);
            for n in 0u64.. {
                tick.tick().await;
                for c in &room {
                    while let Some(Ok(_)) = tickwire_netcode::quic::try_read_datagram(c) {}
                    if n % 2 == 0 {
                        let _ = c.send_datagram(Bytes::copy_from_slice(&snapshot));
                    }
                }
            }
        });
    }
    for group in clients.chunks(GROUP) {
        let group = group.to_vec();
        let input = vec![0x3c; args.input_bytes];
        client_rt.handle.spawn(async move {
            let mut frame = tokio::time::interval(period);
            frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                frame.tick().await;
                for c in &group {
                    while let Some(Ok(_)) = tickwire_netcode::quic::try_read_datagram(c) {}
                    let _ = c.send_datagram(Bytes::copy_from_slice(&input));
                }
            }
        });
    }

    std::thread::sleep(Duration::from_secs(2));
    let (counts_before, cpu_before, start) = (
        Counts::of(&clients, &server_side),
        CpuTimes::now().context("reading /proc for CPU times")?,
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(args.seconds));
    let counts = Counts::of(&clients, &server_side).since(counts_before);
    let wall = start.elapsed().as_secs_f64();
    let cpu = CpuTimes::now()
        .and_then(|now| now.since(&cpu_before, wall))
        .context("reading /proc for CPU times")?;

    for c in &clients {
        c.close(0u32.into(), b"done");
    }
    server.close(0u32.into(), b"done");
    drop((server_rt, client_rt));

    let player_s = players as f64 * wall;
    let per = |n: u64| n as f64 / player_s;
    let kbit = |bytes: u64| bytes as f64 * 8.0 / 1000.0 / player_s;
    let cpu_ms = cpu.process_cores * 1000.0 / players as f64;
    let packets = per(counts.up_packets + counts.down_packets);
    Ok(CaseReport {
        players,
        seconds: wall,
        inputs_per_player_s: per(counts.inputs),
        snapshots_per_player_s: per(counts.snapshots),
        up_packets_per_player_s: per(counts.up_packets),
        down_packets_per_player_s: per(counts.down_packets),
        down_ack_only_per_player_s: per(counts.down_packets.saturating_sub(counts.snapshots)),
        up_kbit_per_player_s: kbit(counts.up_bytes),
        down_kbit_per_player_s: kbit(counts.down_bytes),
        cpu_ms_per_player_s: cpu_ms,
        cpu_us_per_packet: if packets > 0.0 {
            cpu_ms * 1000.0 / packets
        } else {
            0.0
        },
        cores_for_1000_players: cpu_ms,
        machine_busy_fraction: cpu.machine_busy,
    })
}
