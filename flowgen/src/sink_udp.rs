//! The bare receive limit (`sluice dev sink-udp`): `recvmmsg` into nothing, counting datagrams.
//!
//! Owns: the physical limit that `benches/ingest.sh` compares collectors with, through the same
//! socket module as `sluice run`.
//! Must never: decode, or do anything per datagram beyond counting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use collector::socket::{self, BatchReceiver, ReceiveOptions};

use crate::Error;
use crate::error::IoContext;

/// Arguments of `sluice dev sink-udp`.
#[derive(clap::Args, Debug, Clone)]
pub struct SinkUdpArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1:2055")]
    pub listen: SocketAddr,
    /// Receive threads (SO_REUSEPORT sockets).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Receive buffer per socket, bytes.
    #[arg(long, default_value_t = 32 << 20)]
    pub recv_buffer: usize,
    /// Stop after this many idle seconds once something arrived (and on SIGINT/SIGTERM).
    #[arg(long, default_value_t = 2.0)]
    pub idle_exit: f64,
}

/// Receives until `term` is set, or until the socket was idle for `idle_exit` seconds after the
/// first datagram; prints `datagrams=N bytes=N kernel_drops=N` on stdout.
pub fn run(a: &SinkUdpArgs, term: &AtomicBool) -> Result<(), Error> {
    let opts = ReceiveOptions {
        recv_buffer: a.recv_buffer,
        reuse_port: true,
        read_timeout: Duration::from_millis(100),
    };
    let count = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut inodes = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..a.workers.max(1) {
        let opened = socket::bind_receiver(a.listen, &opts)
            .context_with(|| format!("binding {}", a.listen))?;
        inodes.push(socket::socket_inode(&opened.socket).unwrap_or(0));
        let mut rx = BatchReceiver::new(opened.socket, collector::listen::DEFAULT_MAX_DATAGRAM);
        let (count, bytes, stop) = (count.clone(), bytes.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = rx.recv()
                    && n > 0
                {
                    let b: usize = rx.iter().map(|r| r.data.len()).sum();
                    count.fetch_add(n as u64, Ordering::Relaxed);
                    bytes.fetch_add(b as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    eprintln!("sink-udp listening on {} ({} workers)", a.listen, a.workers);
    let mut last = 0;
    let mut idle_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let c = count.load(Ordering::Relaxed);
        if c != last {
            last = c;
            idle_since = Instant::now();
        }
        if term.load(Ordering::SeqCst)
            || (c > 0 && idle_since.elapsed().as_secs_f64() >= a.idle_exit)
        {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let drops = socket::kernel_drops(&inodes).unwrap_or(0);
    println!(
        "datagrams={} bytes={} kernel_drops={drops}",
        count.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed)
    );
    Ok(())
}
