//! UDP: 32-byte ping-pong over 127.0.0.1 between two tasks on one runtime
//! thread, against the same loop with blocking std sockets on one thread
//! (the floor: two syscalls per message), the std loop receiving as tern
//! does (`recvmmsg` of two slots, non-blocking: the kernel's floor for
//! tern's receive, which knows the queue is empty after each datagram),
//! the same with both sockets in an epoll set (the floor for a runtime
//! whose sockets are registered with epoll), and syscalls per message.
//!
//! tern counts its own syscalls (`tern::sys::syscall_count`); the peers are
//! counted with `strace -c -f` on a child re-exec of this binary
//! (`__child udp COLUMN N`), taking the difference between N round trips
//! and none, so start-up costs cancel.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Instant;

use crate::harness::{metric, metric_with_target, run_interleaved, Case, Outcome, Rep, Summary};
use crate::net::NetRt;
use crate::report::{Better, Metric, Target};
use crate::rt::{Smol, Tern, Tokio};
use crate::Ctx;

const GROUP: &str = "udp";
const MSG: usize = 32;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn err(e: io::Error) -> String {
    format!("udp: {e}")
}

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let n = ctx.n(50_000, 200);
    let mut cases = [
        Case::new("tern", move || ping_pong::<Tern>(n)),
        Case::new("tokio", move || ping_pong::<Tokio>(n)),
        Case::new("smol", move || ping_pong::<Smol>(n)),
        Case::new("std", move || std_ping_pong(n)),
        Case::new("std-mmsg", move || std_mmsg_ping_pong(n, false)),
        Case::new("std-mmsg-epoll", move || std_mmsg_ping_pong(n, true)),
    ];
    let o = run_interleaved(ctx.reps, &mut cases);
    notes.push(paired_ratios(&o));
    let mut out = vec![metric_with_target(
        GROUP,
        format!("{MSG}-byte ping-pong, 2 tasks on 1 thread ({n} round trips)"),
        "us/round trip",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioTo("std", 1.25),
    )];

    // Syscalls per message: tern's own counter (samples of its runs).
    let tern_calls: Vec<Outcome> = o
        .iter()
        .filter(|(c, _)| *c == "tern")
        .map(|(c, r)| (*c, r.clone()))
        .collect();
    let mut m = metric(
        GROUP,
        "syscalls per message (tern: own counter; others: strace -c -f)",
        "syscalls",
        Better::Lower,
        Summary::PooledPercentile(50.0),
        &tern_calls,
    )
    .target(Target::AtMost(4.0));
    let sn = ctx.n(5_000, 100);
    match strace_available() {
        Ok(()) => {
            for col in ["tokio", "smol", "std"] {
                let cell = match strace_per_message(col, sn) {
                    Ok(v) => crate::report::Reading::Value {
                        value: v,
                        reps: vec![v],
                    },
                    Err(e) => crate::report::Reading::Skipped(e),
                };
                m.set(col, cell);
            }
            match strace_per_message("tern", sn) {
                Ok(v) => notes.push(format!(
                    "udp: tern's syscalls per message under strace (cross-check of its counter): {v:.2}"
                )),
                Err(e) => notes.push(format!("udp: strace of tern failed: {e}")),
            }
        }
        Err(why) => {
            notes.push(format!(
                "udp: syscalls of tokio/smol/std not counted: {why}"
            ));
            for col in ["tokio", "smol", "std"] {
                m.set(col, crate::report::Reading::Skipped(why.clone()));
            }
        }
    }
    out.push(m);
    out
}

/// The ping-pong ratios taken within each round (the cases run one after
/// another), then the median over rounds: a slow spell of the VM then
/// moves both sides of a ratio alike.
fn paired_ratios(o: &[Outcome]) -> String {
    let reps = |col: &str| -> Option<Vec<f64>> {
        let (_, r) = o.iter().find(|(c, _)| *c == col)?;
        r.as_ref()
            .ok()
            .map(|v| v.iter().map(|rep| rep.value).collect())
    };
    let ratio = |top: &str, bottom: &str| -> String {
        match (reps(top), reps(bottom)) {
            (Some(t), Some(b)) if !t.is_empty() && t.len() == b.len() => {
                let mut r: Vec<f64> = t.iter().zip(&b).map(|(t, b)| t / b).collect();
                r.sort_by(f64::total_cmp);
                let (lo, hi) = (r[0], r[r.len() - 1]);
                format!("{top} / {bottom} {:.2} ({lo:.2}-{hi:.2})", r[r.len() / 2])
            }
            _ => format!("{top} / {bottom}: no figures"),
        }
    };
    format!(
        "udp: ping-pong ratios paired within each round, median (range) over rounds: {}; {}; {}; {}",
        ratio("tern", "std"),
        ratio("std-mmsg", "std"),
        ratio("std-mmsg-epoll", "std"),
        ratio("tern", "std-mmsg-epoll"),
    )
}

/// One repetition: `n` round trips. The value is us per round trip; the
/// one sample is tern's syscalls per message (0 for the others).
fn ping_pong<R: NetRt>(n: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let a = R::udp_bind(loopback()).await.map_err(err)?;
        let b = R::udp_bind(loopback()).await.map_err(err)?;
        R::udp_connect(&a, R::udp_local_addr(&b).map_err(err)?)
            .await
            .map_err(err)?;
        R::udp_connect(&b, R::udp_local_addr(&a).map_err(err)?)
            .await
            .map_err(err)?;
        let echo = R::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..n {
                let k = R::udp_recv(&b, &mut buf).await?;
                R::udp_send(&b, &buf[..k]).await?;
            }
            Ok::<_, io::Error>(())
        });
        let msg = [7u8; MSG];
        let mut buf = [0u8; 64];
        let calls = tern::sys::syscall_count();
        let start = Instant::now();
        for _ in 0..n {
            R::udp_send(&a, &msg).await.map_err(err)?;
            let k = R::udp_recv(&a, &mut buf).await.map_err(err)?;
            if k != MSG {
                return Err(format!("udp: short reply of {k} bytes"));
            }
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        let calls = (tern::sys::syscall_count() - calls) as f64 / (2 * n) as f64;
        echo.await.map_err(err)?;
        Ok(Rep {
            value: us,
            samples: vec![calls],
        })
    })
}

fn std_pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind(loopback())?;
    let b = UdpSocket::bind(loopback())?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    Ok((a, b))
}

fn std_loop(a: &UdpSocket, b: &UdpSocket, n: usize) -> io::Result<()> {
    let msg = [7u8; MSG];
    let mut buf = [0u8; 64];
    for _ in 0..n {
        a.send(&msg)?;
        let k = b.recv(&mut buf)?;
        b.send(&buf[..k])?;
        a.recv(&mut buf)?;
    }
    Ok(())
}

fn std_ping_pong(n: usize) -> Result<Rep, String> {
    let (a, b) = std_pair().map_err(err)?;
    let start = Instant::now();
    std_loop(&a, &b, n).map_err(err)?;
    Ok(Rep::value(start.elapsed().as_secs_f64() * 1e6 / n as f64))
}

/// Receives one datagram with tern's own receive, a `recvmmsg` of two
/// slots (the second tells that the queue is empty) on a non-blocking
/// socket, asking no sender, as a connected tern socket's `recv` does.
fn recv_two(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsFd;
    let mut spare = [0u8; 64];
    match tern::sys::socket::recv_two(sock.as_fd(), buf, &mut spare, false)? {
        tern::sys::socket::Two {
            first_len,
            second: None,
            ..
        } => Ok(first_len),
        _ => Err(io::Error::other("recvmmsg took two datagrams")),
    }
}

/// The std loop with tern's receive: the kernel's floor for the correct
/// receive path (a floor for reference, not a peer). With `epoll`, both
/// sockets are also in an epoll set, edge-triggered, as a runtime's are
/// (never waited on): each datagram that arrives then also runs epoll's
/// wake-up callback, which is the kernel's floor for an epoll runtime.
fn std_mmsg_ping_pong(n: usize, epoll: bool) -> Result<Rep, String> {
    use std::os::fd::AsRawFd;
    let (a, b) = std_pair().map_err(err)?;
    // The receive never waits: loopback has queued the datagram when the
    // send returns.
    for sock in [&a, &b] {
        sock.set_nonblocking(true).map_err(err)?;
    }
    let set = if epoll {
        let ep =
            tern::sys::epoll::Epoll::create(tern::sys::epoll::TimedWait::detect()).map_err(err)?;
        for (token, sock) in [&a, &b].into_iter().enumerate() {
            // Read interest only, as tern registers datagram sockets.
            ep.add(sock.as_raw_fd(), token as u64, false).map_err(err)?;
        }
        Some(ep)
    } else {
        None
    };
    let msg = [7u8; MSG];
    let mut buf = [0u8; 64];
    let start = Instant::now();
    for _ in 0..n {
        a.send(&msg).map_err(err)?;
        let k = recv_two(&b, &mut buf).map_err(err)?;
        b.send(&buf[..k]).map_err(err)?;
        recv_two(&a, &mut buf).map_err(err)?;
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    drop(set);
    Ok(Rep::value(per))
}

/// The child side of the strace measurement: `n` round trips on `column`.
pub fn child(column: &str, n: usize) -> Result<(), String> {
    match column {
        "tern" => ping_pong::<Tern>(n).map(drop),
        "tokio" => ping_pong::<Tokio>(n).map(drop),
        "smol" => ping_pong::<Smol>(n).map(drop),
        "std" => std_pair()
            .and_then(|(a, b)| std_loop(&a, &b, n))
            .map_err(err),
        other => Err(format!("unknown column {other}")),
    }
}

pub(crate) fn strace_available() -> Result<(), String> {
    match Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "strace cannot trace here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("strace not installed ({e})")),
    }
}

/// Total syscalls of a child run under `strace -c -f`.
fn strace_calls(column: &str, n: usize) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out_file = std::env::temp_dir().join(format!(
        "tern-bench-strace-{}-{column}-{n}",
        std::process::id()
    ));
    let status = Command::new("strace")
        .arg("-c")
        .arg("-f")
        .arg("-o")
        .arg(&out_file)
        .arg(&exe)
        .args(["__child", "udp", column, &n.to_string()])
        .status()
        .map_err(|e| format!("strace: {e}"))?;
    let text = std::fs::read_to_string(&out_file).map_err(|e| format!("strace output: {e}"));
    let _ = std::fs::remove_file(&out_file);
    let text = text?;
    if !status.success() {
        return Err(format!("child under strace failed ({status})"));
    }
    parse_strace_total(&text).ok_or_else(|| "no total line in strace -c output".into())
}

/// The `calls` column of the `total` line of `strace -c` output.
pub fn parse_strace_total(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("total"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // % time, seconds, usecs/call, calls, [errors], "total"
    fields.get(3)?.parse().ok()
}

fn strace_per_message(column: &str, n: usize) -> Result<f64, String> {
    let base = strace_calls(column, 0)?;
    let full = strace_calls(column, n)?;
    Ok(full.saturating_sub(base) as f64 / (2 * n) as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_strace_total() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
                    ------ ----------- ----------- --------- --------- ----------------\n\
                     60.00    0.000300           3       100           sendto\n\
                    ------ ----------- ----------- --------- --------- ----------------\n\
                    100.00    0.000500           2       254         3 total\n";
        assert_eq!(super::parse_strace_total(text), Some(254));
    }
}
