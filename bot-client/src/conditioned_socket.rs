//! A UDP socket for quinn that puts every datagram through netcode's
//! [`LinkConditioner`]: the bots' real QUIC packets, on real UDP, get the latency, jitter
//! and loss of the chosen network profile in both directions.
//!
//! Outgoing datagrams wait in the uplink conditioner and leave from a pump task when due;
//! incoming ones are read by another pump task, wait in the downlink conditioner, and are
//! handed to quinn when due. The conditioners carry bytes only, so each datagram travels
//! with its peer address framed in front of it.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tickwire_netcode::link_conditioner::{LinkConditioner, LinkConfig, LinkStats};
use tickwire_netcode::udp::Drops;
use tokio::sync::Notify;

/// Bytes of the peer address framed in front of each conditioned datagram.
const ADDR_BYTES: usize = 18;

/// A quinn socket whose traffic crosses a simulated network. See the [module docs](self).
pub struct ConditionedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    shared: Arc<Shared>,
    pumps: [tokio::task::JoinHandle<()>; 2],
}

struct Shared {
    up: Mutex<LinkConditioner>,
    down: Mutex<LinkConditioner>,
    /// An outgoing datagram was queued: the uplink pump re-plans its wake-up.
    queued: Notify,
    /// Incoming datagrams whose time has come, for quinn.
    arrived: Mutex<VecDeque<(SocketAddr, Vec<u8>)>>,
    /// quinn's receive task, waiting for `arrived`.
    reader: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for ConditionedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionedSocket")
            .field("inner", &self.inner)
            .field("up", lock(&self.shared.up).config())
            .field("down", lock(&self.shared.down).config())
            .finish_non_exhaustive()
    }
}

impl ConditionedSocket {
    /// Wraps `inner` (a socket made by quinn's runtime) with `up` for what it sends and
    /// `down` for what it receives, seeded by `seed`. Starts its pump tasks on the current
    /// tokio runtime.
    #[must_use]
    pub fn new(
        inner: Arc<dyn AsyncUdpSocket>,
        up: LinkConfig,
        down: LinkConfig,
        seed: u64,
    ) -> Self {
        let shared = Arc::new(Shared {
            up: Mutex::new(LinkConditioner::new(
                up,
                seed.wrapping_mul(2).wrapping_add(1),
            )),
            down: Mutex::new(LinkConditioner::new(
                down,
                seed.wrapping_mul(2).wrapping_add(2),
            )),
            queued: Notify::new(),
            arrived: Mutex::new(VecDeque::new()),
            reader: Mutex::new(None),
        });
        let pumps = [
            tokio::spawn(pump_up(Arc::clone(&inner), Arc::clone(&shared))),
            tokio::spawn(pump_down(Arc::clone(&inner), Arc::clone(&shared))),
        ];
        Self {
            inner,
            shared,
            pumps,
        }
    }

    /// What each direction has done so far: (up, down).
    #[must_use]
    pub fn stats(&self) -> (LinkStats, LinkStats) {
        (
            lock(&self.shared.up).stats(),
            lock(&self.shared.down).stats(),
        )
    }

    /// A handle that changes this socket's network while quinn uses it.
    #[must_use]
    pub fn control(&self) -> LinkControl {
        LinkControl(Arc::clone(&self.shared))
    }
}

/// Changes a [`ConditionedSocket`]'s network while it runs: a partition, a path that turns
/// bad and recovers.
#[derive(Clone)]
pub struct LinkControl(Arc<Shared>);

impl fmt::Debug for LinkControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkControl")
            .field("up", lock(&self.0.up).config())
            .field("down", lock(&self.0.down).config())
            .finish()
    }
}

impl LinkControl {
    /// From now on, what the socket sends crosses `up` and what it receives `down`
    /// (datagrams already in flight keep their times).
    pub fn set(&self, up: LinkConfig, down: LinkConfig) {
        lock(&self.0.up).set_config(up);
        lock(&self.0.down).set_config(down);
    }
}

impl Drop for ConditionedSocket {
    fn drop(&mut self) {
        for pump in &self.pumps {
            pump.abort();
        }
    }
}

/// The peer address framed in front of `payload`.
fn frame(addr: SocketAddr, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
    out.extend_from_slice(payload);
}

/// The peer address and payload of a framed datagram.
fn unframe(framed: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let (head, payload) = framed.split_at_checked(ADDR_BYTES)?;
    let (ip, port) = head.split_at_checked(16)?;
    let ip = Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?);
    let port = u16::from_be_bytes(<[u8; 2]>::try_from(port).ok()?);
    let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
    Some((SocketAddr::new(ip, port), payload))
}

/// Sleeps until `at`, or forever when nothing is due.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Sends what the uplink releases, when it releases it.
async fn pump_up(inner: Arc<dyn AsyncUdpSocket>, shared: Arc<Shared>) {
    let mut poller = Arc::clone(&inner).create_io_poller();
    loop {
        let next = lock(&shared.up).next_delivery();
        tokio::select! {
            () = shared.queued.notified() => {}
            () = sleep_until(next) => {}
        }
        loop {
            let Some(datagram) = lock(&shared.up).poll(Instant::now()) else {
                break;
            };
            let Some((destination, contents)) = unframe(&datagram) else {
                continue;
            };
            let transmit = Transmit {
                destination,
                ecn: None,
                contents,
                segment_size: None,
                src_ip: None,
            };
            let mut sent = inner.try_send(&transmit);
            let would_block = sent
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock);
            if would_block
                && std::future::poll_fn(|cx| poller.as_mut().poll_writable(cx))
                    .await
                    .is_ok()
            {
                sent = inner.try_send(&transmit);
            }
            if let Err(e) = sent {
                // Lost, as on a real network: QUIC recovers.
                tracing::debug!(error = %e, "conditioned send failed");
            }
        }
    }
}

/// Reads the real socket and lets the downlink release datagrams to quinn when due.
async fn pump_down(inner: Arc<dyn AsyncUdpSocket>, shared: Arc<Shared>) {
    let segments = inner.max_receive_segments().max(1);
    let mut storage = vec![0u8; 65_535 * segments];
    let mut framed = Vec::with_capacity(2048);
    loop {
        let next = lock(&shared.down).next_delivery();
        let mut meta = [RecvMeta {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
            stride: 0,
            ecn: None,
            dst_ip: None,
        }];
        let received = tokio::select! {
            r = std::future::poll_fn(|cx| {
                let mut bufs = [IoSliceMut::new(&mut storage)];
                inner.poll_recv(cx, &mut bufs, &mut meta)
            }) => Some(r),
            () = sleep_until(next) => None,
        };
        let now = Instant::now();
        match received {
            Some(Ok(n)) if n > 0 => {
                let [meta] = meta;
                let data = storage.get(..meta.len).unwrap_or_default();
                let mut down = lock(&shared.down);
                for datagram in data.chunks(meta.stride.max(1)) {
                    frame(meta.addr, datagram, &mut framed);
                    down.send(now, &framed);
                }
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) => {
                tracing::debug!(error = %e, "conditioned receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        let mut delivered = false;
        {
            let mut down = lock(&shared.down);
            let mut arrived = lock(&shared.arrived);
            while let Some(datagram) = down.poll(now) {
                if let Some((addr, payload)) = unframe(&datagram) {
                    arrived.push_back((addr, payload.to_vec()));
                    delivered = true;
                }
            }
        }
        if delivered {
            if let Some(waker) = lock(&shared.reader).take() {
                waker.wake();
            }
        }
    }
}

/// Writes never block: datagrams queue in the uplink conditioner.
#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncUdpSocket for ConditionedSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let now = Instant::now();
        let mut framed = Vec::with_capacity(transmit.contents.len() + ADDR_BYTES);
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        {
            let mut up = lock(&self.shared.up);
            for datagram in transmit.contents.chunks(size) {
                frame(transmit.destination, datagram, &mut framed);
                up.send(now, &framed);
            }
        }
        self.shared.queued.notify_one();
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut arrived = lock(&self.shared.arrived);
        if arrived.is_empty() {
            *lock(&self.shared.reader) = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut n = 0;
        for (buf, meta) in bufs.iter_mut().zip(meta.iter_mut()) {
            let Some((addr, payload)) = arrived.pop_front() else {
                break;
            };
            let len = payload.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..len), payload.get(..len)) {
                dst.copy_from_slice(src);
            }
            *meta = RecvMeta {
                addr,
                len,
                stride: len,
                ecn: None,
                dst_ip: None,
            };
            n += 1;
        }
        Poll::Ready(Ok(n))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

/// A client endpoint on a fresh UDP socket bound to `bind` with buffers of `buffer_bytes`
/// each way, its traffic conditioned by `up` and `down` when given (`None`: the plain
/// socket), and the kernel's drop counter of that socket (`None` where it cannot be read).
///
/// # Errors
/// If the socket cannot be bound or there is no tokio runtime.
pub fn client_endpoint(
    bind: SocketAddr,
    buffer_bytes: usize,
    links: Option<(LinkConfig, LinkConfig)>,
    seed: u64,
) -> io::Result<(quinn::Endpoint, Option<Drops>)> {
    endpoint_on(bind, buffer_bytes, links, seed).map(|(endpoint, drops, _)| (endpoint, drops))
}

/// A client endpoint on a fresh UDP socket bound to `bind` whose traffic crosses `up` and
/// `down`, with the handle that changes them while it runs.
///
/// # Errors
/// If the socket cannot be bound or there is no tokio runtime.
pub fn controlled_endpoint(
    bind: SocketAddr,
    up: LinkConfig,
    down: LinkConfig,
    seed: u64,
) -> io::Result<(quinn::Endpoint, LinkControl)> {
    let (endpoint, _, control) = endpoint_on(
        bind,
        tickwire_netcode::udp::BUFFER_BYTES,
        Some((up, down)),
        seed,
    )?;
    let control = control.ok_or_else(|| io::Error::other("the socket is not conditioned"))?;
    Ok((endpoint, control))
}

fn endpoint_on(
    bind: SocketAddr,
    buffer_bytes: usize,
    links: Option<(LinkConfig, LinkConfig)>,
    seed: u64,
) -> io::Result<(quinn::Endpoint, Option<Drops>, Option<LinkControl>)> {
    let socket = tickwire_netcode::udp::socket(bind, buffer_bytes)?;
    let drops = Drops::of(&socket);
    let runtime = quinn::default_runtime()
        .ok_or_else(|| io::Error::other("no async runtime to run the endpoint on"))?;
    let inner = runtime.wrap_udp_socket(socket)?;
    let (socket, control): (Arc<dyn AsyncUdpSocket>, _) = match links {
        Some((up, down)) => {
            let conditioned = ConditionedSocket::new(inner, up, down, seed);
            let control = conditioned.control();
            (Arc::new(conditioned), Some(control))
        }
        None => (inner, None),
    };
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        socket,
        runtime,
    )?;
    Ok((endpoint, drops, control))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_framing() {
        let mut out = Vec::new();
        for addr in ["127.0.0.1:4433", "[::1]:9", "[2001:db8::7]:65535"] {
            let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
            frame(addr, b"quic", &mut out);
            assert_eq!(unframe(&out), Some((addr, &b"quic"[..])));
        }
        assert_eq!(unframe(&[0; 5]), None);
    }
}
