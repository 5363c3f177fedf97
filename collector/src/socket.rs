//! The UDP socket module: the only place in the workspace with `unsafe` code.
//!
//! Owns: opening receive sockets (`SO_REUSEPORT` so that several workers share one port and the
//! kernel keeps each exporter's 4-tuple on one of them; a large `SO_RCVBUF`, forced with
//! `SO_RCVBUFFORCE` when the process may, then read back), batched receive with `recvmmsg(2)`
//! into one buffer allocated once and cut into [`BATCH_SIZE`] iovecs, batched send with
//! `sendmmsg(2)` for the replay and load tools, each with a plain one-datagram fallback when the
//! kernel lacks the call (`ENOSYS`), and the kernel's per-socket drop counter (the `drops` column
//! of `/proc/net/udp` and `/proc/net/udp6`, found by the socket's inode).
//!
//! Must never: decode, allocate per datagram, or hide an error: a timeout is reported as an empty
//! batch (so that callers can notice shutdown), anything else is returned.
//!
//! Safety argument, in one place: every pointer handed to the kernel points into a buffer owned by
//! `self` (or a stack array) that lives for the whole call, with the length of that buffer; the
//! kernel writes at most `msg_namelen` bytes of address and `iov_len` bytes of data. The
//! `sockaddr_storage` the kernel fills is read back only as the structure its `ss_family` names.

#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Datagrams received (or sent) per system call at most.
pub const BATCH_SIZE: usize = 64;

/// The largest UDP payload; the default size of one receive slot.
pub const MAX_DATAGRAM: usize = 65_535;

/// How to open a receive socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveOptions {
    /// Requested receive buffer, bytes.
    pub recv_buffer: usize,
    /// Set `SO_REUSEPORT`, so that several sockets (one per worker) can bind the same address.
    pub reuse_port: bool,
    /// How long one receive call blocks before it returns an empty batch.
    pub read_timeout: Duration,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        ReceiveOptions {
            recv_buffer: 32 << 20,
            reuse_port: true,
            read_timeout: Duration::from_millis(100),
        }
    }
}

/// A bound receive socket and what the kernel granted.
#[derive(Debug)]
pub struct OpenedSocket {
    /// The socket, blocking with the requested read timeout.
    pub socket: UdpSocket,
    /// Receive buffer the kernel reports (Linux reports twice the usable payload size it set).
    pub recv_buffer: usize,
    /// Whether the kernel granted at least what was asked.
    pub recv_buffer_ok: bool,
    /// Whether `SO_RCVBUFFORCE` was accepted (the process had `CAP_NET_ADMIN`).
    pub forced: bool,
}

fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives on the stack for the whole call and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Open and bind a UDP receive socket at `addr`.
pub fn bind_receiver(addr: SocketAddr, opts: &ReceiveOptions) -> io::Result<OpenedSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if opts.reuse_port {
        sock.set_reuse_port(true)?;
    }
    let want = opts.recv_buffer.min(i32::MAX as usize / 2);
    let mut forced = false;
    if want > 0 {
        // First try to exceed net.core.rmem_max (needs CAP_NET_ADMIN); then the ordinary option.
        forced = setsockopt_int(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            want as libc::c_int,
        )
        .is_ok();
        if !forced {
            sock.set_recv_buffer_size(want)?;
        }
    }
    let got = sock.recv_buffer_size()?;
    sock.set_read_timeout(Some(opts.read_timeout.max(Duration::from_millis(1))))?;
    sock.bind(&addr.into())?;
    Ok(OpenedSocket {
        socket: sock.into(),
        recv_buffer: got,
        // Linux doubles the value it stores (bookkeeping overhead) and reports the doubled value.
        recv_buffer_ok: got >= want,
        forced,
    })
}

/// One received datagram, borrowed from the receiver's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// Sender address.
    pub from: SocketAddr,
    /// Payload (at most the slot size).
    pub data: &'a [u8],
    /// The datagram was longer than the slot and was cut.
    pub truncated: bool,
}

/// Receives datagrams in batches of up to [`BATCH_SIZE`] with `recvmmsg(2)`.
pub struct BatchReceiver {
    socket: UdpSocket,
    slot: usize,
    buf: Vec<u8>,
    addrs: Box<[libc::sockaddr_storage; BATCH_SIZE]>,
    lens: [usize; BATCH_SIZE],
    truncated: [bool; BATCH_SIZE],
    count: usize,
    single: bool,
}

impl std::fmt::Debug for BatchReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReceiver")
            .field("socket", &self.socket)
            .field("slot", &self.slot)
            .field("count", &self.count)
            .field("single", &self.single)
            .finish()
    }
}

impl BatchReceiver {
    /// Wrap a bound socket; each of the [`BATCH_SIZE`] slots holds `slot` bytes (at least 1).
    pub fn new(socket: UdpSocket, slot: usize) -> Self {
        let slot = slot.clamp(1, MAX_DATAGRAM);
        BatchReceiver {
            socket,
            slot,
            buf: vec![0; slot * BATCH_SIZE],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            addrs: Box::new(unsafe { mem::zeroed() }),
            lens: [0; BATCH_SIZE],
            truncated: [false; BATCH_SIZE],
            count: 0,
            single: false,
        }
    }

    /// Use one `recv_from` per call instead of `recvmmsg` (what happens on kernels without it).
    pub fn force_single(&mut self) {
        self.single = true;
    }

    /// Whether the single-datagram fallback is in use.
    pub fn is_single(&self) -> bool {
        self.single
    }

    /// The socket.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Wait (up to the socket's read timeout) for at least one datagram and take every datagram
    /// already queued, up to [`BATCH_SIZE`]. Returns how many; 0 on timeout or signal.
    pub fn recv(&mut self) -> io::Result<usize> {
        self.count = 0;
        if self.single {
            return self.recv_single();
        }
        // SAFETY: iovec and mmsghdr are plain old data; all zeroes is valid (null pointers).
        let mut iovs: [libc::iovec; BATCH_SIZE] = unsafe { mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH_SIZE] = unsafe { mem::zeroed() };
        let base = self.buf.as_mut_ptr();
        for i in 0..BATCH_SIZE {
            // SAFETY: i * slot + slot <= buf.len(), so the pointer stays inside the buffer.
            iovs[i].iov_base = unsafe { base.add(i * self.slot) }.cast();
            iovs[i].iov_len = self.slot;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live iovec and address slot of the right size (see the
        // module docs); the arrays outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH_SIZE as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOSYS) => {
                    self.single = true;
                    self.recv_single()
                }
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for (i, h) in hdrs.iter().enumerate().take(n) {
            self.lens[i] = (h.msg_len as usize).min(self.slot);
            self.truncated[i] = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        }
        self.count = n;
        Ok(n)
    }

    fn recv_single(&mut self) -> io::Result<usize> {
        match self.socket.recv_from(&mut self.buf[..self.slot]) {
            Ok((len, from)) => {
                self.addrs[0] = to_storage(from);
                self.lens[0] = len;
                self.truncated[0] = len == self.slot && self.slot < MAX_DATAGRAM;
                self.count = 1;
                Ok(1)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Datagrams of the last [`BatchReceiver::recv`], in arrival order. Entries whose sender
    /// address family is unknown are skipped.
    pub fn iter(&self) -> impl Iterator<Item = Received<'_>> + '_ {
        (0..self.count).filter_map(move |i| {
            let from = from_storage(&self.addrs[i])?;
            let start = i * self.slot;
            Some(Received {
                from,
                data: &self.buf[start..start + self.lens[i]],
                truncated: self.truncated[i],
            })
        })
    }
}

fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which is smaller and has
            // weaker alignment than sockaddr_storage.
            let sin: &libc::sockaddr_in = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn to_storage(addr: SocketAddr) -> libc::sockaddr_storage {
    let s: socket2::SockAddr = addr.into();
    // SAFETY: sockaddr_storage is plain old data; SockAddr holds a sockaddr_storage-sized value
    // of `s.len()` bytes, which we copy into a zeroed one.
    unsafe {
        let mut out: libc::sockaddr_storage = mem::zeroed();
        std::ptr::copy_nonoverlapping(
            s.as_ptr().cast::<u8>(),
            (&mut out as *mut libc::sockaddr_storage).cast::<u8>(),
            (s.len() as usize).min(mem::size_of::<libc::sockaddr_storage>()),
        );
        out
    }
}

/// Send `msgs` on a connected socket, up to [`BATCH_SIZE`] per `sendmmsg(2)` call. Returns how
/// many were sent (all of them unless an error stopped it; the error is returned only when none
/// of a call's datagrams went out).
pub fn send_batch(socket: &UdpSocket, msgs: &[&[u8]]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < msgs.len() {
        let chunk = &msgs[sent..msgs.len().min(sent + BATCH_SIZE)];
        // SAFETY: plain old data, zeroes are valid.
        let mut iovs: [libc::iovec; BATCH_SIZE] = unsafe { mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH_SIZE] = unsafe { mem::zeroed() };
        for (i, m) in chunk.iter().enumerate() {
            // The kernel only reads through iov_base on send.
            iovs[i].iov_base = m.as_ptr().cast_mut().cast();
            iovs[i].iov_len = m.len();
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each header points at a live iovec over a live slice; the socket is connected,
        // so no address is given.
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                chunk.len() as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOSYS) {
                for m in chunk {
                    socket.send(m)?;
                    sent += 1;
                }
                continue;
            }
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if sent > 0 {
                return Ok(sent);
            }
            return Err(e);
        }
        sent += n as usize;
    }
    Ok(sent)
}

/// The inode of a socket (how `/proc/net/udp` names it).
pub fn socket_inode(socket: &UdpSocket) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))?;
    Ok(md.ino())
}

/// Datagrams the kernel dropped on the sockets with these inodes (receive buffer full), summed
/// over `/proc/net/udp` and `/proc/net/udp6`.
pub fn kernel_drops(inodes: &[u64]) -> io::Result<u64> {
    let mut total = 0;
    for f in ["/proc/net/udp", "/proc/net/udp6"] {
        match std::fs::read_to_string(f) {
            Ok(text) => total += drops_in_proc_net_udp(&text, inodes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Sum the `drops` column of the lines of a `/proc/net/udp` text whose `inode` is in `inodes`.
pub fn drops_in_proc_net_udp(text: &str, inodes: &[u64]) -> u64 {
    let mut total = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        let (Some(inode), Some(drops)) = (cols.get(9), cols.get(12)) else {
            continue;
        };
        let (Ok(inode), Ok(drops)) = (inode.parse::<u64>(), drops.parse::<u64>()) else {
            continue;
        };
        if inodes.contains(&inode) {
            total += drops;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_receiver(slot: usize) -> BatchReceiver {
        let opened = bind_receiver(
            "127.0.0.1:0".parse().unwrap(),
            &ReceiveOptions {
                recv_buffer: 4 << 20,
                reuse_port: true,
                read_timeout: Duration::from_millis(200),
            },
        )
        .unwrap();
        BatchReceiver::new(opened.socket, slot)
    }

    fn sender_to(rx: &BatchReceiver) -> UdpSocket {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.socket().local_addr().unwrap()).unwrap();
        tx
    }

    /// Receive until `n` datagrams arrived or the socket stayed silent for 20 timeouts.
    fn collect(rx: &mut BatchReceiver, n: usize) -> (Vec<(SocketAddr, Vec<u8>)>, usize) {
        let mut got = Vec::new();
        let mut calls_with_many = 0;
        let mut idle = 0;
        while got.len() < n && idle < 20 {
            let k = rx.recv().unwrap();
            if k == 0 {
                idle += 1;
            }
            if k > 1 {
                calls_with_many += 1;
            }
            got.extend(rx.iter().map(|r| (r.from, r.data.to_vec())));
        }
        (got, calls_with_many)
    }

    #[test]
    fn recvmmsg_receives_a_batch_sent_to_itself() {
        let mut rx = loopback_receiver(2048);
        let tx = sender_to(&rx);
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
        assert_eq!(send_batch(&tx, &refs).unwrap(), 100);
        let (got, many) = collect(&mut rx, 100);
        assert_eq!(got.len(), 100);
        assert!(many > 0, "the queued datagrams came in batches");
        for (i, (from, data)) in got.iter().enumerate() {
            assert_eq!(*from, tx.local_addr().unwrap());
            assert_eq!(data, &payloads[i], "datagram {i} in order and intact");
        }
        assert!(!rx.is_single());
    }

    #[test]
    fn single_recv_fallback_receives_the_same_datagrams() {
        let mut rx = loopback_receiver(2048);
        rx.force_single();
        let tx = sender_to(&rx);
        for i in 0..5u8 {
            tx.send(&[i, i, i]).unwrap();
        }
        let (got, many) = collect(&mut rx, 5);
        assert_eq!(many, 0);
        let data: Vec<Vec<u8>> = got.into_iter().map(|g| g.1).collect();
        assert_eq!(data, (0..5u8).map(|i| vec![i, i, i]).collect::<Vec<_>>());
    }

    #[test]
    fn datagrams_longer_than_a_slot_are_flagged_truncated() {
        let mut rx = loopback_receiver(16);
        let tx = sender_to(&rx);
        tx.send(&[7u8; 100]).unwrap();
        tx.send(&[8u8; 16]).unwrap();
        let mut seen = Vec::new();
        let mut idle = 0;
        while seen.len() < 2 && idle < 20 {
            if rx.recv().unwrap() == 0 {
                idle += 1;
            }
            seen.extend(rx.iter().map(|r| (r.data.len(), r.truncated)));
        }
        assert_eq!(seen, vec![(16, true), (16, false)]);
    }

    #[test]
    fn an_idle_socket_returns_an_empty_batch_after_its_timeout() {
        let mut rx = loopback_receiver(64);
        assert_eq!(rx.recv().unwrap(), 0);
        assert_eq!(rx.iter().count(), 0);
    }

    #[test]
    fn two_reuseport_sockets_share_one_port() {
        let opts = ReceiveOptions::default();
        let a = bind_receiver("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        let addr = a.socket.local_addr().unwrap();
        let b = bind_receiver(addr, &opts).unwrap();
        assert_eq!(b.socket.local_addr().unwrap(), addr);
    }

    #[test]
    fn receive_buffer_is_read_back() {
        let opened = bind_receiver(
            "127.0.0.1:0".parse().unwrap(),
            &ReceiveOptions {
                recv_buffer: 1 << 20,
                ..ReceiveOptions::default()
            },
        )
        .unwrap();
        assert!(opened.recv_buffer > 0);
        if opened.forced {
            assert!(opened.recv_buffer_ok);
        }
    }

    #[test]
    fn proc_net_udp_drops_are_summed_for_our_inodes_only() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  2: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 5\n\
  3: 00000000:1283 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 1000\n\
  garbage line\n";
        assert_eq!(drops_in_proc_net_udp(text, &[4242, 4243]), 22);
        assert_eq!(drops_in_proc_net_udp(text, &[]), 0);
    }

    #[test]
    fn kernel_drops_finds_a_live_socket() {
        let rx = loopback_receiver(64);
        let inode = socket_inode(rx.socket()).unwrap();
        assert!(inode > 0);
        assert_eq!(kernel_drops(&[inode]).unwrap(), 0);
    }
}
