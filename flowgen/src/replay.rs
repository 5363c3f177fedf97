//! Capture replay (`sluice replay`): resend the export datagrams of a capture to a collector.
//!
//! Owns: reading every UDP datagram of a pcap/pcapng (through [`collector::capture`]), and sending
//! the payloads unchanged, in file order, from an ordinary UDP socket (`tcpreplay` does not reach
//! local sockets), batched with `sendmmsg`. Pacing: as fast as possible (default), a fixed
//! datagram rate (`--rate`), or the capture's own inter-arrival times scaled by `--speed`.
//! Must never: send anywhere but where it is told, or to a non-loopback address without
//! `--allow-remote`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Error;
use crate::error::{IoContext, invalid};
use collector::capture;
use collector::socket::{BATCH_SIZE, send_batch};

/// What to replay, where and how fast (the arguments of `sluice replay`).
#[derive(clap::Args, Debug, Clone)]
pub struct ReplayArgs {
    /// The capture (pcap or pcapng).
    pub file: PathBuf,
    /// Where to send, e.g. 127.0.0.1:2055.
    #[arg(long)]
    pub to: SocketAddr,
    /// Replay at the capture's pace scaled by this factor (2 = twice as fast).
    #[arg(long, conflicts_with = "rate")]
    pub speed: Option<f64>,
    /// Send at this many datagrams per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Send the whole capture this many times.
    #[arg(long = "loop", default_value_t = 1)]
    pub loops: u32,
    /// Only datagrams to (or from) this UDP port in the capture.
    #[arg(long)]
    pub port: Option<u16>,
    /// Source address to send from (default: loopback of the target's family).
    #[arg(long)]
    pub from: Option<IpAddr>,
    /// Allow a target outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    pub allow_remote: bool,
}

/// Refuse targets that are not loopback unless explicitly allowed.
pub fn check_target(to: SocketAddr, allow_remote: bool) -> Result<(), Error> {
    if !to.ip().is_loopback() && !allow_remote {
        invalid!(
            "refusing to send to {to}: not a loopback address (pass --allow-remote if you mean it)"
        );
    }
    if to.port() == 0 {
        invalid!("target port 0");
    }
    Ok(())
}

/// A socket bound to `from` (or the loopback of the target's family) and connected to `to`.
pub fn connected_socket(to: SocketAddr, from: Option<IpAddr>) -> Result<UdpSocket, Error> {
    let local = from.unwrap_or(match to {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    });
    let sock = UdpSocket::bind(SocketAddr::new(local, 0))
        .context_with(|| format!("binding a send socket on {local}"))?;
    sock.connect(to)
        .context_with(|| format!("connecting to {to}"))?;
    Ok(sock)
}

/// Sends `msgs`, retrying once after a refusal (an ICMP error left by an earlier datagram).
/// Returns (sent, failed).
pub fn send_all(sock: &UdpSocket, msgs: &[&[u8]]) -> (u64, u64) {
    let mut sent = 0;
    let mut failed = 0;
    let mut i = 0;
    let mut retried = false;
    while i < msgs.len() {
        match send_batch(sock, &msgs[i..]) {
            Ok(n) => {
                sent += n as u64;
                i += n;
                retried = false;
            }
            Err(_) if !retried => retried = true,
            Err(_) => {
                failed += 1;
                i += 1;
                retried = false;
            }
        }
    }
    (sent, failed)
}

/// Replays the capture as `args` say; prints a summary on stderr.
pub fn run(args: &ReplayArgs) -> Result<(), Error> {
    check_target(args.to, args.allow_remote)?;
    if let Some(r) = args.rate
        && !(r.is_finite() && r > 0.0)
    {
        invalid!("--rate must be a positive number of datagrams per second");
    }
    if let Some(s) = args.speed
        && !(s.is_finite() && s > 0.0)
    {
        invalid!("--speed must be a positive factor");
    }
    let mut datagrams: Vec<(i64, Vec<u8>)> = Vec::new();
    let stats = capture::for_each_datagram(&args.file, args.port, |ts, d| {
        datagrams.push((ts, d.payload.to_vec()));
    })?;
    if stats.truncated_file {
        eprintln!(
            "warning: {} ends in a torn record; sending what came before",
            args.file.display()
        );
    }
    let sock = connected_socket(args.to, args.from)?;
    let t0 = datagrams.first().map_or(0, |d| d.0);
    let span_ms = datagrams.last().map_or(0, |d| d.0) - t0;
    // Due time of each datagram relative to the start of its loop, or None for "now".
    let due = |i: usize| -> Option<Duration> {
        if let Some(rate) = args.rate {
            Some(Duration::from_secs_f64(i as f64 / rate))
        } else {
            args.speed.map(|s| {
                Duration::from_secs_f64(((datagrams[i].0 - t0).max(0) as f64 / 1000.0) / s)
            })
        }
    };
    let loop_len = match (args.rate, args.speed) {
        (Some(r), _) => Duration::from_secs_f64(datagrams.len() as f64 / r),
        (None, Some(s)) => Duration::from_secs_f64(span_ms.max(0) as f64 / 1000.0 / s),
        _ => Duration::ZERO,
    };
    let start = Instant::now();
    let (mut sent, mut failed, mut bytes) = (0u64, 0u64, 0u64);
    let mut batch: Vec<&[u8]> = Vec::with_capacity(BATCH_SIZE);
    for l in 0..args.loops {
        let loop_start = start + loop_len * l;
        let mut i = 0;
        while i < datagrams.len() {
            batch.clear();
            let now = Instant::now();
            while i < datagrams.len() && batch.len() < BATCH_SIZE {
                match due(i) {
                    Some(d) if loop_start + d > now => break,
                    _ => {}
                }
                batch.push(&datagrams[i].1);
                bytes += datagrams[i].1.len() as u64;
                i += 1;
            }
            if batch.is_empty() {
                let next = loop_start + due(i).unwrap_or_default();
                let wait = next.saturating_duration_since(Instant::now());
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                continue;
            }
            let (s, f) = send_all(&sock, &batch);
            sent += s;
            failed += f;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "replayed {} datagrams ({} bytes) from {} to {} in {:.3} s ({:.0} datagrams/s){}",
        sent,
        bytes,
        args.file.display(),
        args.to,
        secs,
        sent as f64 / secs.max(1e-9),
        if failed > 0 {
            format!("; {failed} could not be sent")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        invalid!("{failed} datagrams could not be sent");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_loopback_targets_unless_allowed() {
        let remote: SocketAddr = "192.0.2.1:2055".parse().unwrap();
        assert!(check_target(remote, false).is_err());
        assert!(check_target(remote, true).is_ok());
        assert!(check_target("127.0.0.1:2055".parse().unwrap(), false).is_ok());
        assert!(check_target("[::1]:2055".parse().unwrap(), false).is_ok());
        assert!(check_target("127.0.0.1:0".parse().unwrap(), false).is_err());
    }
}
