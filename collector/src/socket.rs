//! The UDP socket module: the only place in the workspace with `unsafe` code.
//!
//! Owns: opening receive sockets (`SO_REUSEPORT` so that several workers share one port; a large
//! `SO_RCVBUF`, forced with `SO_RCVBUFFORCE` when the process may, then read back), steering a
//! reuseport group by source address alone (a classic BPF program attached with
//! `SO_ATTACH_REUSEPORT_CBPF`: template state is per exporter address, and the kernel's default
//! 4-tuple hash would split an exporter that sends from several source ports), batched receive with `recvmmsg(2)`
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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
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

// ---------------------------------------------------------------------------------------------
// Steering by source address

/// `SO_ATTACH_REUSEPORT_CBPF` (`asm-generic/socket.h`; the `libc` crate lists it for Android only).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// The `SKF_NET_OFF` base: an absolute load at `NET_OFF + n` reads byte `n` of the IP header.
const NET_OFF: u32 = libc::SKF_NET_OFF as u32;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The classic BPF program that picks the receive socket of a `SO_REUSEPORT` group of `workers`
/// sockets from the datagram's source address alone, so that every datagram of one exporter
/// reaches one socket (and one decoder) whatever its source port.
///
/// A reuseport program sees the packet from its UDP payload on (the kernel pulls the UDP header
/// before running it), so the IP header is read through the `SKF_NET_OFF` base: the version
/// nibble at byte 0, the IPv4 source at bytes 12..16, the IPv6 source at bytes 8..24 (its four
/// words XORed). IPv4 datagrams on a dual-stack IPv6 socket carry an IPv4 header, so they are
/// keyed like IPv4 (the same index as [`source_steering_index`] of the unmapped address). The key
/// is mixed (Wellons' `lowbias32`) so that addresses that differ in any bit spread, then taken
/// modulo `workers`: the return value is an index into the group, in the order its sockets were
/// bound. A read outside the packet ends the program with 0 (the first socket).
pub fn source_steering_program(workers: u32) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_A, BPF_ABS, BPF_ALU, BPF_AND, BPF_B, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_MISC,
        BPF_MOD, BPF_MUL, BPF_RET, BPF_RSH, BPF_TAX, BPF_W, BPF_X, BPF_XOR,
    };
    let ld_w = |off: u32| stmt(BPF_LD | BPF_W | BPF_ABS, NET_OFF.wrapping_add(off));
    let xor_x = stmt(BPF_ALU | BPF_XOR | BPF_X, 0);
    let tax = stmt(BPF_MISC | BPF_TAX, 0);
    let mut p = vec![
        // A = IP version.
        stmt(BPF_LD | BPF_B | BPF_ABS, NET_OFF),
        stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0),
        // IPv6: fall through; anything else: the IPv4 load below the IPv6 block.
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0x60, 0, 11),
        ld_w(8),
        tax,
        ld_w(12),
        xor_x,
        tax,
        ld_w(16),
        xor_x,
        tax,
        ld_w(20),
        xor_x,
        // Skip the IPv4 load.
        jump(BPF_JMP | BPF_JA, 1, 0, 0),
        ld_w(12),
    ];
    // A = lowbias32(A): x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16.
    for (shift, mul) in [(16, Some(0x7feb_352d)), (15, Some(0x846c_a68b)), (16, None)] {
        p.push(tax);
        p.push(stmt(BPF_ALU | BPF_RSH | BPF_K, shift));
        p.push(xor_x);
        if let Some(m) = mul {
            p.push(stmt(BPF_ALU | BPF_MUL | BPF_K, m));
        }
    }
    p.push(stmt(BPF_ALU | BPF_MOD | BPF_K, workers.max(1)));
    p.push(stmt(BPF_RET | BPF_A, 0));
    p
}

/// The key the steering program computes from a source address (before the modulo).
fn steering_key(addr: IpAddr) -> u32 {
    let mut x = match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => u32::from(v4),
            None => a
                .octets()
                .chunks_exact(4)
                .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
                .fold(0, |k, w| k ^ w),
        },
    };
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The socket index (bind order) that [`source_steering_program`] picks for datagrams from
/// `addr` in a group of `workers` sockets. An IPv4-mapped IPv6 address (how a dual-stack socket
/// reports an IPv4 sender) gives the index of its IPv4 address, as the kernel sees an IPv4 header.
pub fn source_steering_index(addr: IpAddr, workers: usize) -> usize {
    (steering_key(addr) % (workers.max(1) as u32)) as usize
}

/// Attach [`source_steering_program`] to the `SO_REUSEPORT` group `socket` belongs to. Call it
/// once all `workers` sockets of the group are bound (their bind order is their index). An error
/// (an old kernel, a seccomp filter) leaves the kernel's 4-tuple hash in place.
pub fn attach_source_steering(socket: &UdpSocket, workers: usize) -> io::Result<()> {
    let n = u32::try_from(workers.max(1)).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut prog = source_steering_program(n);
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `prog`, which lives on this frame for the whole call, with its
    // length; the kernel copies the program and keeps no pointer into it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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

    /// Runs a classic BPF program of the instructions [`source_steering_program`] uses over an
    /// IP header, as the kernel does for a reuseport group (loads from `SKF_NET_OFF`).
    fn run_cbpf(prog: &[libc::sock_filter], ip_header: &[u8]) -> u32 {
        use libc::*;
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |k: u32, size: usize| -> Option<u32> {
            let off = k.wrapping_sub(NET_OFF) as usize;
            let b = ip_header.get(off..off + size)?;
            Some(b.iter().fold(0, |v, &byte| (v << 8) | u32::from(byte)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            let code = u32::from(i.code);
            match code {
                c if c == BPF_LD | BPF_B | BPF_ABS => match load(i.k, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_W | BPF_ABS => match load(i.k, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= i.k,
                c if c == BPF_ALU | BPF_XOR | BPF_X => a ^= x,
                c if c == BPF_ALU | BPF_RSH | BPF_K => a >>= i.k,
                c if c == BPF_ALU | BPF_MUL | BPF_K => a = a.wrapping_mul(i.k),
                c if c == BPF_ALU | BPF_MOD | BPF_K => a %= i.k,
                c if c == BPF_MISC | BPF_TAX => x = a,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf })
                }
                c if c == BPF_RET | BPF_A => return a,
                c => panic!("instruction {c:#x} not modelled"),
            }
        }
    }

    fn ipv4_header(src: Ipv4Addr) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0];
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&[127, 0, 0, 1]);
        h
    }

    fn ipv6_header(src: Ipv6Addr) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        h
    }

    #[test]
    fn steering_program_computes_the_documented_index() {
        for workers in [1u32, 2, 3, 8, 64] {
            let prog = source_steering_program(workers);
            for i in 0..500u32 {
                let v4 = Ipv4Addr::from(0x0a00_0000 ^ i.wrapping_mul(0x0101_0107));
                let want = source_steering_index(IpAddr::V4(v4), workers as usize) as u32;
                assert_eq!(run_cbpf(&prog, &ipv4_header(v4)), want, "{v4} of {workers}");
                let v6 = Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 17 | 1);
                let want = source_steering_index(IpAddr::V6(v6), workers as usize) as u32;
                assert_eq!(run_cbpf(&prog, &ipv6_header(v6)), want, "{v6} of {workers}");
                assert!(want < workers);
            }
        }
        // A dual-stack socket names an IPv4 sender by its mapped address; the kernel sees IPv4.
        let v4: Ipv4Addr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            source_steering_index(IpAddr::V6(v4.to_ipv6_mapped()), 7),
            source_steering_index(IpAddr::V4(v4), 7)
        );
    }

    #[test]
    fn steering_spreads_neighbouring_and_sparse_addresses() {
        for step in [1u32, 2, 4, 256, 1 << 24] {
            let mut per_worker = [0usize; 2];
            for i in 0..64u32 {
                let a = Ipv4Addr::from(0x0a00_0001_u32.wrapping_add(i.wrapping_mul(step)));
                per_worker[source_steering_index(IpAddr::V4(a), 2)] += 1;
            }
            assert!(
                per_worker.iter().all(|&n| n >= 16),
                "step {step}: {per_worker:?}"
            );
        }
    }

    /// `n` reuseport sockets on one port of `ip` with the steering program attached to the first
    /// once all are bound.
    fn steered_group(ip: &str, n: usize) -> (Vec<BatchReceiver>, SocketAddr) {
        let opts = ReceiveOptions {
            recv_buffer: 1 << 20,
            reuse_port: true,
            read_timeout: Duration::from_millis(50),
        };
        let first = bind_receiver(format!("{ip}:0").parse().unwrap(), &opts).unwrap();
        let addr = first.socket.local_addr().unwrap();
        let mut group = vec![first.socket];
        for _ in 1..n {
            group.push(bind_receiver(addr, &opts).unwrap().socket);
        }
        attach_source_steering(&group[0], n).unwrap();
        let rx = group
            .into_iter()
            .map(|s| BatchReceiver::new(s, 64))
            .collect();
        (rx, addr)
    }

    /// For every sender address: the indices of the sockets its datagrams arrived on.
    fn drain(
        group: &mut [BatchReceiver],
        expect: usize,
    ) -> std::collections::BTreeMap<IpAddr, std::collections::BTreeSet<usize>> {
        let mut seen = std::collections::BTreeMap::new();
        let mut got = 0;
        for _ in 0..20 {
            for (i, rx) in group.iter_mut().enumerate() {
                while rx.recv().unwrap() > 0 {
                    for r in rx.iter() {
                        let ip = match r.from.ip() {
                            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
                            v4 => v4,
                        };
                        seen.entry(ip)
                            .or_insert_with(std::collections::BTreeSet::new)
                            .insert(i);
                        got += 1;
                    }
                }
            }
            if got >= expect {
                break;
            }
        }
        assert_eq!(got, expect, "every datagram arrived");
        seen
    }

    /// Send 4 datagrams from each of 8 source ports of each sender address.
    fn send_from_many_ports(senders: &[&str], to: SocketAddr) -> usize {
        let mut sent = 0;
        for ip in senders {
            for _ in 0..8 {
                let tx = UdpSocket::bind(format!("{ip}:0").parse::<SocketAddr>().unwrap()).unwrap();
                for k in 0..4u8 {
                    tx.send_to(&[k], to).unwrap();
                    sent += 1;
                }
            }
        }
        sent
    }

    #[test]
    fn reuseport_group_steers_each_source_address_to_one_socket() {
        let (mut group, addr) = steered_group("127.0.0.1", 2);
        let senders: Vec<String> = (1..=24).map(|i| format!("127.0.0.{i}")).collect();
        let senders: Vec<&str> = senders.iter().map(String::as_str).collect();
        let sent = send_from_many_ports(&senders, addr);
        let seen = drain(&mut group, sent);
        assert_eq!(seen.len(), senders.len());
        for (ip, sockets) in &seen {
            let want = std::collections::BTreeSet::from([source_steering_index(*ip, 2)]);
            assert_eq!(
                sockets, &want,
                "{ip}: every source port on one socket, the documented one"
            );
        }
        let used: std::collections::BTreeSet<usize> = seen.values().flatten().copied().collect();
        assert_eq!(used.len(), 2, "both sockets take some exporters");
    }

    #[test]
    fn ipv6_and_ipv4_mapped_senders_are_steered_by_address() {
        // IPv6 over ::1 from many ports.
        let (mut group, addr) = steered_group("[::1]", 3);
        let sent = send_from_many_ports(&["[::1]"], addr);
        let seen = drain(&mut group, sent);
        let ip: IpAddr = "::1".parse().unwrap();
        assert_eq!(
            seen[&ip],
            std::collections::BTreeSet::from([source_steering_index(ip, 3)])
        );
        // IPv4 senders on a dual-stack socket: keyed by the IPv4 header, like an IPv4 socket.
        let (mut group, addr) = steered_group("[::]", 2);
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()));
        let sent = send_from_many_ports(&["127.0.0.3", "127.0.0.4", "127.0.0.5"], to);
        for (ip, sockets) in drain(&mut group, sent) {
            assert!(ip.is_ipv4(), "{ip}");
            assert_eq!(
                sockets,
                std::collections::BTreeSet::from([source_steering_index(ip, 2)]),
                "{ip}"
            );
        }
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
