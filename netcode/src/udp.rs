//! The UDP socket under a QUIC endpoint (feature `quic`): buffers sized for a tick's burst
//! of packets, and the kernel's count of packets it dropped because the buffer was full.
//!
//! A server's one socket takes every client's inputs, and each tick's snapshots leave at
//! once; a bot process's sockets take dozens of bots' snapshots in the same instant. What
//! the kernel drops there never reaches quinn, so no QUIC statistic shows it: [`Drops`]
//! reads the kernel's own counter.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Socket buffer bytes a game endpoint asks the kernel for, each way. Linux's default
/// (about 208 KiB) holds ~170 small packets once the kernel's per-packet overhead is
/// counted: less than one tick's burst at a few hundred clients.
pub const BUFFER_BYTES: usize = 4 << 20;

/// A UDP socket bound to `addr` for a QUIC endpoint, with receive and send buffers of
/// `buffer_bytes` each (see [`BUFFER_BYTES`]).
///
/// The kernel caps the sizes (Linux: `net.core.rmem_max` and `wmem_max`); a smaller grant
/// is logged as a warning naming the setting, not an error: the endpoint still works, it
/// only drops more in bursts.
///
/// # Errors
/// If the socket cannot be created or bound.
pub fn socket(addr: SocketAddr, buffer_bytes: usize) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the grant is checked below.
    let _ = socket.set_recv_buffer_size(buffer_bytes);
    let _ = socket.set_send_buffer_size(buffer_bytes);
    // Linux reports twice what it grants (it counts its bookkeeping): a full grant reads at
    // least what was asked.
    let granted = (socket.recv_buffer_size()?, socket.send_buffer_size()?);
    if granted.0 < buffer_bytes || granted.1 < buffer_bytes {
        tracing::warn!(
            asked = buffer_bytes,
            receive = granted.0,
            send = granted.1,
            "the kernel granted smaller UDP buffers than asked: bursts of packets will be \
             dropped; raise net.core.rmem_max and net.core.wmem_max"
        );
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The kernel's count of packets one socket dropped on arrival (its receive buffer full, or
/// out of memory), read from Linux's `/proc/self/net/udp` and `udp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drops {
    /// The socket's inode, which names it in those tables.
    inode: u64,
}

impl Drops {
    /// The counter of `socket`; `None` where there is no procfs (not Linux).
    #[must_use]
    pub fn of(socket: &UdpSocket) -> Option<Self> {
        use std::os::fd::AsRawFd as _;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        let inode = link
            .to_str()?
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        Some(Self { inode })
    }

    /// Packets dropped since the socket was made; `None` if the socket is gone or the
    /// tables cannot be read.
    #[must_use]
    pub fn read(&self) -> Option<u64> {
        ["/proc/self/net/udp", "/proc/self/net/udp6"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .find_map(|table| drops_in(&table, self.inode))
    }
}

/// The `drops` column of the row for socket `inode` in the text of `/proc/net/udp`.
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let this: u64 = fields.get(9)?.parse().ok()?;
        (this == inode).then(|| fields.get(12)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_is_bound_with_the_buffers_asked() {
        // 64 KiB is below every Linux default cap, so the grant must be whole.
        let asked = 64 * 1024;
        let socket = socket(SocketAddr::from(([127, 0, 0, 1], 0)), asked)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = socket.local_addr().unwrap_or_else(|e| panic!("{e}"));
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        let sock = socket2::SockRef::from(&socket);
        let granted = (sock.recv_buffer_size(), sock.send_buffer_size());
        let (Ok(receive), Ok(send)) = granted else {
            panic!("{granted:?}");
        };
        assert!(receive >= asked && send >= asked, "{receive} {send}");
    }

    #[test]
    fn reads_the_drops_column_of_the_sockets_row() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  612: 0100007F:A5C1 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 91234 2 0000000000000000 0
  988: 0100007F:BB01 00000000:0000 07 00000000:00040200 00:00000000 00000000  1000        0 91299 2 0000000000000000 5312
";
        assert_eq!(drops_in(table, 91299), Some(5312));
        assert_eq!(drops_in(table, 91234), Some(0));
        assert_eq!(drops_in(table, 4), None);
        assert_eq!(drops_in("garbage\nrow without columns", 4), None);
    }

    #[test]
    fn counts_what_a_full_buffer_dropped() {
        // The smallest buffer the kernel allows, flooded without reading.
        let rx = socket(SocketAddr::from(([127, 0, 0, 1], 0)), 1024)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let Some(drops) = Drops::of(&rx) else {
            return; // no procfs: nothing to count with
        };
        assert_eq!(drops.read(), Some(0));
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let to = rx.local_addr().unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..1000 {
            tx.send_to(&[7; 200], to).unwrap_or_else(|e| panic!("{e}"));
        }
        let dropped = drops.read().unwrap_or(0);
        assert!(dropped > 0 && dropped < 1000, "{dropped}");
    }
}
