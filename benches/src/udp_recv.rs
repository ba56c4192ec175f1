//! UDP receive under load: a std-thread sender blasting one socket at full
//! rate, and a burst of datagrams queued before the reader first runs while
//! another task is always ready.
//!
//! # Blast
//!
//! A std thread sends `n` 32-byte datagrams to the receiving socket as fast
//! as it can (`sendmmsg`, 64 per call, so the sender is faster than any
//! per-datagram receiver), then an end marker every 200 us until the
//! receiver has seen one. The receiver, a task on the runtime under test
//! bound to a fresh port with the default receive buffer, counts the data
//! datagrams until the first end marker: the queue is FIFO, so by then
//! every data datagram was either received or dropped. The rate is data
//! datagrams received per second, from the first datagram to the end
//! marker; the drops are the receiving socket's `drops` column of
//! `/proc/net/udp`. A run is rejected when received + drops falls short of
//! what was sent (a datagram lost without the kernel counting it means the
//! measurement is wrong). tern runs twice: `recv_from` per datagram as the
//! peers do, and `UdpSocket::recv_batch` (up to 64 per `recvmmsg`); the
//! batched row compares it with the peers' per-datagram receive (they have
//! no batched receive).
//!
//! # Queued burst
//!
//! A task that does nothing but yield is spawned, `BURST` datagrams are
//! sent from a std socket (on loopback they are queued when `send_to`
//! returns), then the reader is spawned; the time runs from just before the
//! spawn until the reader holds all of them. The receive buffer is raised
//! to 1 MiB so the burst cannot overflow it. tern drains it twice: with
//! `recv_from` per datagram, as the peers do, and with `recv_batch` (up to
//! 64 per `recvmmsg`), which shows what a batched receive can take when
//! datagrams are waiting (the blast rows cannot: there the sender sets the
//! pace).

use std::cell::Cell;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_io::Async;

use crate::harness::{metric, run_interleaved, Case, Outcome, Rep, Summary};
use crate::net::NetRt;
use crate::report::{Better, Metric, Target};
use crate::rt::{Smol, Tern, Tokio};
use crate::Ctx;

const GROUP: &str = "udp-recv";
const MSG: usize = 32;
/// First byte of a data datagram.
const DATA: u8 = 0;
/// First byte of the end marker.
const END: u8 = 1;
/// Datagrams per `sendmmsg` of the sender and per `recv_batch`.
const BATCH: usize = 64;
/// Datagrams queued before the reader runs.
const BURST: usize = 200;
/// How long one receive loop may take before the run is failed.
const TIMEOUT: Duration = Duration::from_secs(10);

fn err(e: io::Error) -> String {
    format!("udp-recv: {e}")
}

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let mut out = Vec::new();
    let n = ctx.n(300_000, 2_000);
    let mut cases = [
        Case::new("tern", move || blast::<Tern>(n, Receive::PerDatagram)),
        Case::new("tern-batch", move || blast::<Tern>(n, Receive::Batch)),
        Case::new("tokio", move || blast::<Tokio>(n, Receive::PerDatagram)),
        Case::new("smol", move || blast::<Smol>(n, Receive::PerDatagram)),
    ];
    let o = run_interleaved(ctx.reps, &mut cases);
    let (per_datagram, batched) = split_batch(&o);
    let what = format!("std-thread sender blasting {n} x {MSG} B");
    out.push(
        metric(
            GROUP,
            format!("{what}, recv_from per datagram: received"),
            "datagrams/s",
            Better::Higher,
            Summary::MedianOfReps,
            &per_datagram,
        )
        .target(Target::AtLeastRatioToBest(1.0)),
    );
    out.push(metric(
        GROUP,
        format!("{what}, recv_from per datagram: drops"),
        "datagrams",
        Better::Lower,
        Summary::MedianOfReps,
        &drops(&per_datagram),
    ));
    out.push(
        metric(
            GROUP,
            format!("{what}, tern recv_batch vs peers' recv_from: received"),
            "datagrams/s",
            Better::Higher,
            Summary::MedianOfReps,
            &batched,
        )
        .target(Target::AtLeastRatioToBest(2.0)),
    );
    out.push(metric(
        GROUP,
        format!("{what}, tern recv_batch vs peers' recv_from: drops"),
        "datagrams",
        Better::Lower,
        Summary::MedianOfReps,
        &drops(&batched),
    ));
    if let Some((_, Ok(reps))) = o.iter().find(|(c, _)| *c == "tern-batch") {
        let per_call: Vec<f64> = reps
            .iter()
            .filter_map(|r| Some(r.samples.get(1)? / r.samples.get(3)?.max(1.0)))
            .collect();
        notes.push(format!(
            "udp-recv: tern recv_batch took {:.1} datagrams per call (median of repetitions)",
            crate::harness::median(&per_call)
        ));
    }
    let sender_rates: Vec<f64> = o
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .filter_map(|r| r.samples.get(4).copied())
        .collect();
    if !sender_rates.is_empty() {
        notes.push(format!(
            "udp-recv: the blasting sender's own rate was {:.0} datagrams/s (median of all \
             repetitions of every column): a receiver cannot take more than the sender sends, \
             so the blast rows measure whether it keeps up and what it drops, and the queued \
             burst rows measure how fast it takes datagrams that are waiting",
            crate::harness::median(&sender_rates)
        ));
    }
    notes.push(format!(
        "udp-recv: the sender uses sendmmsg ({BATCH} per call) and the receiver the default \
         receive buffer; drops are the socket's drops in /proc/net/udp; the recv_batch row's \
         peers are their per-datagram recv_from"
    ));

    let bursts = ctx.n(50, 3);
    let mut cases = [
        Case::new("tern", move || drain::<Tern>(bursts, Receive::PerDatagram)),
        Case::new("tern-batch", move || drain::<Tern>(bursts, Receive::Batch)),
        Case::new("tokio", move || {
            drain::<Tokio>(bursts, Receive::PerDatagram)
        }),
        Case::new("smol", move || drain::<Smol>(bursts, Receive::PerDatagram)),
        Case::new("std-drain", move || std_drain(bursts, Receive::PerDatagram)),
        Case::new("std-drain-batch", move || std_drain(bursts, Receive::Batch)),
    ];
    let all = run_interleaved(ctx.reps, &mut cases);
    let (o, batched) = split_batch(&all);
    out.push(
        metric(
            GROUP,
            format!(
                "queued burst of {BURST}, tern recv_batch vs peers' recv_from \
                 (mean of {bursts} bursts)"
            ),
            "us",
            Better::Lower,
            Summary::MedianOfReps,
            &batched,
        )
        .target(Target::RatioToBest(0.5)),
    );
    out.push(
        metric(
            GROUP,
            format!(
                "queued burst: {BURST} datagrams queued before the reader runs, \
                 a yielding task always ready (mean of {bursts} bursts)"
            ),
            "us",
            Better::Lower,
            Summary::MedianOfReps,
            &o,
        )
        .target(Target::RatioToBest(1.0)),
    );
    out
}

/// The outcomes with tern's per-datagram column, and with its batched
/// column (`tern-batch`) in tern's place.
/// The burst rows' floors are split the same way: `std-drain` stays with
/// the per-datagram row, `std-drain-batch` goes to the batched row.
fn split_batch(o: &[Outcome]) -> (Vec<Outcome>, Vec<Outcome>) {
    let per_datagram = o
        .iter()
        .filter(|(c, _)| *c != "tern-batch" && *c != "std-drain-batch")
        .cloned()
        .collect();
    let batched = o
        .iter()
        .filter(|(c, _)| *c != "tern" && *c != "std-drain")
        .map(|(c, r)| (if *c == "tern-batch" { "tern" } else { *c }, r.clone()))
        .collect();
    (per_datagram, batched)
}

/// The drops (first sample) of each repetition as its value.
fn drops(o: &[Outcome]) -> Vec<Outcome> {
    o.iter()
        .map(|(c, r)| {
            let r = r.as_ref().map(|reps| {
                reps.iter()
                    .map(|rep| Rep::value(rep.samples.first().copied().unwrap_or(f64::NAN)))
                    .collect()
            });
            (*c, r.map_err(Clone::clone))
        })
        .collect()
}

/// How the receiver takes datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Receive {
    /// One `recv_from` per datagram.
    PerDatagram,
    /// tern's `recv_batch`.
    Batch,
}

/// What a receive loop saw.
#[derive(Debug)]
struct Received {
    /// Data datagrams received before the end marker.
    data: usize,
    /// From the first datagram to the end marker.
    elapsed: Duration,
    /// Receive calls that returned datagrams.
    calls: usize,
}

/// The receive side of the three runtimes.
trait RecvRt: NetRt + Sized {
    /// Receives one datagram.
    fn recv_from(
        s: &Self::Udp,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>>;
    /// The socket's descriptor.
    fn fd(s: &Self::Udp) -> BorrowedFd<'_>;
    /// Receives `count` datagrams with `how` (only tern has `Batch`).
    fn drain_n(s: &Self::Udp, count: usize, how: Receive) -> impl Future<Output = io::Result<()>> {
        async move {
            if how != Receive::PerDatagram {
                return Err(io::Error::other(format!(
                    "{} has no batched receive",
                    Self::COLUMN
                )));
            }
            let mut buf = [0u8; 64];
            for _ in 0..count {
                Self::recv_from(s, &mut buf).await?;
            }
            Ok(())
        }
    }
    /// Counts data datagrams until the end marker with `how`.
    fn receive(s: &Self::Udp, how: Receive) -> impl Future<Output = io::Result<Received>> {
        async move {
            if how != Receive::PerDatagram {
                return Err(io::Error::other(format!(
                    "{} has no batched receive",
                    Self::COLUMN
                )));
            }
            per_datagram::<Self>(s).await
        }
    }
}

async fn per_datagram<R: RecvRt>(s: &R::Udp) -> io::Result<Received> {
    let mut buf = [0u8; 64];
    let mut data = 0;
    let mut first = None;
    loop {
        let (k, _) = R::recv_from(s, &mut buf).await?;
        let now = Instant::now();
        let t0 = *first.get_or_insert(now);
        if k > 0 && buf[0] == END {
            return Ok(Received {
                data,
                elapsed: now - t0,
                calls: data + 1,
            });
        }
        data += 1;
    }
}

impl RecvRt for Tern {
    async fn recv_from(s: &Self::Udp, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        s.recv_from(buf).await
    }
    async fn drain_n(s: &Self::Udp, count: usize, how: Receive) -> io::Result<()> {
        let mut buf = [0u8; 64];
        if how == Receive::PerDatagram {
            for _ in 0..count {
                s.recv_from(&mut buf).await?;
            }
            return Ok(());
        }
        let mut storage = [[0u8; 64]; BATCH];
        let mut meta = [tern::net::RecvMeta::default(); BATCH];
        let mut got = 0;
        while got < count {
            let mut bufs = slots(&mut storage);
            let want = (count - got).min(BATCH);
            got += s.recv_batch(&mut bufs[..want], &mut meta[..want]).await?;
        }
        Ok(())
    }
    fn fd(s: &Self::Udp) -> BorrowedFd<'_> {
        s.as_fd()
    }
    async fn receive(s: &Self::Udp, how: Receive) -> io::Result<Received> {
        if how == Receive::PerDatagram {
            return per_datagram::<Self>(s).await;
        }
        let mut storage = vec![[0u8; 64]; BATCH];
        let mut meta = [tern::net::RecvMeta::default(); BATCH];
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let mut data = 0;
        let mut calls = 0;
        let mut first = None;
        loop {
            let got = s.recv_batch(&mut bufs, &mut meta).await?;
            calls += 1;
            let now = Instant::now();
            let t0 = *first.get_or_insert(now);
            for (m, b) in meta[..got].iter().zip(&bufs) {
                if m.len > 0 && b[0] == END {
                    return Ok(Received {
                        data,
                        elapsed: now - t0,
                        calls,
                    });
                }
                data += 1;
            }
        }
    }
}

impl RecvRt for Tokio {
    async fn recv_from(s: &Self::Udp, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        s.recv_from(buf).await
    }
    fn fd(s: &Self::Udp) -> BorrowedFd<'_> {
        s.as_fd()
    }
}

impl RecvRt for Smol {
    async fn recv_from(s: &Self::Udp, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        Async::<UdpSocket>::recv_from(s, buf).await
    }
    fn fd(s: &Self::Udp) -> BorrowedFd<'_> {
        s.get_ref().as_fd()
    }
}

/// Fails with `TimedOut` if `f` takes longer than `d` on runtime `R`.
async fn within<R: RecvRt, T, F: Future<Output = io::Result<T>>>(
    d: Duration,
    what: &str,
    f: F,
) -> io::Result<T> {
    futures_lite::future::or(f, async {
        R::sleep(d).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what}: not done after {d:?}"),
        ))
    })
    .await
}

/// One receive slot of `storage` per datagram of a batch.
fn slots(storage: &mut [[u8; 64]; BATCH]) -> [IoSliceMut<'_>; BATCH] {
    storage.each_mut().map(|b| IoSliceMut::new(b))
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// What the sender thread sent.
#[derive(Debug)]
struct Sent {
    data: usize,
    /// Data datagrams per second over the send loop: the pace the
    /// receivers are held to.
    rate: f64,
}

/// Sends `n` data datagrams on the connected `sock` in batches, then end
/// markers until `seen` is set (or `TIMEOUT` passes).
fn blast_sender(sock: &UdpSocket, n: usize, seen: &AtomicBool) -> io::Result<Sent> {
    let mut data = [DATA; MSG];
    data[1] = 0xa5;
    let bufs = [IoSlice::new(&data); BATCH];
    let mut sent = 0;
    let began = Instant::now();
    while sent < n {
        let k = (n - sent).min(BATCH);
        sent += tern::sys::socket::send_batch(sock.as_fd(), &bufs[..k], None)
            .map_err(|e| io::Error::new(e.kind(), format!("sendmmsg: {e}")))?;
    }
    let rate = sent as f64 / began.elapsed().as_secs_f64().max(1e-9);
    let start = Instant::now();
    while !seen.load(Ordering::Acquire) && start.elapsed() < TIMEOUT {
        // The receiver may be gone already (ECONNREFUSED): it reports why.
        if sock.send(&[END; MSG]).is_err() {
            break;
        }
        thread::sleep(Duration::from_micros(200));
    }
    Ok(Sent { data: sent, rate })
}

/// One repetition of the blast. The value is data datagrams received per
/// second; the samples are drops, received, sent, receive calls and the
/// sender's own rate.
fn blast<R: RecvRt>(n: usize, how: Receive) -> Result<Rep, String> {
    R::block_on(async move {
        let rx = R::udp_bind(loopback()).await.map_err(err)?;
        let rx_addr = R::udp_local_addr(&rx).map_err(err)?;
        let tx = UdpSocket::bind(loopback()).map_err(err)?;
        tx.connect(rx_addr).map_err(err)?;
        let seen = Arc::new(AtomicBool::new(false));
        let sender = {
            let seen = seen.clone();
            thread::spawn(move || blast_sender(&tx, n, &seen))
        };
        let got = within::<R, _, _>(TIMEOUT, "blast receiver", R::receive(&rx, how)).await;
        seen.store(true, Ordering::Release);
        let dropped = udp_drops(rx_addr);
        let sent = sender
            .join()
            .map_err(|_| "udp-recv: sender thread panicked".to_string())?
            .map_err(err)?;
        let got = got.map_err(err)?;
        let dropped = dropped?;
        if (got.data as u64 + dropped) < sent.data as u64 {
            return Err(format!(
                "udp-recv: {} sent, {} received, only {dropped} counted as dropped",
                sent.data, got.data
            ));
        }
        let secs = got.elapsed.as_secs_f64().max(1e-9);
        Ok(Rep {
            value: got.data as f64 / secs,
            samples: vec![
                dropped as f64,
                got.data as f64,
                sent.data as f64,
                got.calls as f64,
                sent.rate,
            ],
        })
    })
}

/// The `drops` column of the socket bound to `addr` (IPv4) in
/// `/proc/net/udp`. The file is read in pages and other sockets come and
/// go between them, so a line can be missed: a few reads are tried.
fn udp_drops(addr: SocketAddr) -> Result<u64, String> {
    for _ in 0..10 {
        let text = std::fs::read_to_string("/proc/net/udp")
            .map_err(|e| format!("udp-recv: /proc/net/udp: {e}"))?;
        if let Some(d) = parse_drops(&text, addr.port()) {
            return Ok(d);
        }
    }
    Err(format!("udp-recv: no drops for {addr} in /proc/net/udp"))
}

/// The `drops` field of the line whose local address is 127.0.0.1:`port`.
fn parse_drops(text: &str, port: u16) -> Option<u64> {
    let want = format!(":{port:04X}");
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local = f.get(1)?;
        let (ip, _) = local.split_once(':')?;
        let is_loopback = ip == "0100007F" || ip == "7F000001";
        (is_loopback && local.ends_with(&want))
            .then(|| f.last()?.parse().ok())
            .flatten()
    })
}

/// The queued burst's floor: the same sends, then a non-blocking std
/// socket drained with `recv_from` per datagram, or with `recvmmsg` of up
/// to 64 (`how`), timed from the last send to the last datagram: the
/// kernel's share of the drain, with no runtime (a floor, not a peer).
fn std_drain(bursts: usize, how: Receive) -> Result<Rep, String> {
    let rx = UdpSocket::bind(loopback()).map_err(err)?;
    rx.set_nonblocking(true).map_err(err)?;
    tern::sys::socket::set_opt(rx.as_fd(), tern::sys::socket::Opt::RecvBuffer, 1 << 20)
        .map_err(err)?;
    let rx_addr = rx.local_addr().map_err(err)?;
    let tx = UdpSocket::bind(loopback()).map_err(err)?;
    let msg = [DATA; MSG];
    let mut storage = [[0u8; 64]; BATCH];
    let mut meta = [tern::net::RecvMeta::default(); BATCH];
    let mut total = Duration::ZERO;
    for _ in 0..bursts {
        for _ in 0..BURST {
            tx.send_to(&msg, rx_addr).map_err(err)?;
        }
        let start = Instant::now();
        let mut got = 0;
        while got < BURST {
            let res = match how {
                Receive::PerDatagram => rx.recv_from(&mut storage[0]).map(|_| 1),
                Receive::Batch => {
                    let mut bufs = slots(&mut storage);
                    let want = (BURST - got).min(BATCH);
                    tern::sys::socket::recv_batch(rx.as_fd(), &mut bufs[..want], &mut meta[..want])
                }
            };
            match res {
                Ok(k) => got += k,
                // On loopback a datagram is queued when `send_to` returns.
                Err(e) => return Err(format!("udp-recv: floor drain after {got}: {e}")),
            }
        }
        total += start.elapsed();
    }
    let dropped = udp_drops(rx_addr)?;
    if dropped != 0 {
        return Err(format!(
            "udp-recv: {dropped} burst datagrams dropped on {rx_addr}"
        ));
    }
    Ok(Rep::value(total.as_secs_f64() * 1e6 / bursts.max(1) as f64))
}

/// `__child udp-burst COLUMN N`: `N` queued bursts drained by `COLUMN`
/// (`tern`, `tern-batch`, `tokio`, `smol`, `std-drain`,
/// `std-drain-batch`), or with `COLUMN` `blast-tern` (`-tern-batch`,
/// `-tokio`, `-smol`) one blast of `N` datagrams, for strace, perf or
/// callgrind.
pub fn child(column: &str, n: usize) -> Result<(), String> {
    if let Some(col) = column.strip_prefix("blast-") {
        let how = if col == "tern-batch" {
            Receive::Batch
        } else {
            Receive::PerDatagram
        };
        let r = match col {
            "tern" | "tern-batch" => blast::<Tern>(n, how),
            "tokio" => blast::<Tokio>(n, how),
            "smol" => blast::<Smol>(n, how),
            other => return Err(format!("unknown column {other}")),
        }?;
        println!(
            "{col}: {:.0} datagrams/s, {} dropped, sender {:.0}/s, {} receive calls",
            r.value, r.samples[0], r.samples[4], r.samples[3]
        );
        return Ok(());
    }
    let us = match column {
        "tern" => drain::<Tern>(n, Receive::PerDatagram),
        "tern-batch" => drain::<Tern>(n, Receive::Batch),
        "tokio" => drain::<Tokio>(n, Receive::PerDatagram),
        "smol" => drain::<Smol>(n, Receive::PerDatagram),
        "std-drain" => std_drain(n, Receive::PerDatagram),
        "std-drain-batch" => std_drain(n, Receive::Batch),
        other => return Err(format!("unknown column {other}")),
    }?;
    println!("{column}: {:.1} us per burst", us.value);
    Ok(())
}

/// One repetition of the queued burst, `bursts` times: mean us per burst.
fn drain<R: RecvRt>(bursts: usize, how: Receive) -> Result<Rep, String> {
    R::block_on(async move {
        let rx = Rc::new(R::udp_bind(loopback()).await.map_err(err)?);
        tern::sys::socket::set_opt(R::fd(&rx), tern::sys::socket::Opt::RecvBuffer, 1 << 20)
            .map_err(err)?;
        let rx_addr = R::udp_local_addr(&rx).map_err(err)?;
        let tx = UdpSocket::bind(loopback()).map_err(err)?;
        let mut total = Duration::ZERO;
        for _ in 0..bursts {
            let stop = Rc::new(Cell::new(false));
            let spinner = {
                let stop = stop.clone();
                R::spawn(async move {
                    while !stop.get() {
                        R::yield_now().await;
                    }
                })
            };
            // Let the spinner run once, so it is the task always ready.
            R::yield_now().await;
            let msg = [DATA; MSG];
            for _ in 0..BURST {
                tx.send_to(&msg, rx_addr).map_err(err)?;
            }
            let start = Instant::now();
            let reader = {
                let rx = rx.clone();
                R::spawn(async move {
                    within::<R, _, _>(TIMEOUT, "burst reader", R::drain_n(&rx, BURST, how)).await?;
                    Ok::<_, io::Error>(start.elapsed())
                })
            };
            let took = reader.await;
            stop.set(true);
            spinner.await;
            total += took.map_err(err)?;
        }
        let dropped = udp_drops(rx_addr)?;
        if dropped != 0 {
            return Err(format!(
                "udp-recv: {dropped} burst datagrams dropped on {rx_addr}"
            ));
        }
        Ok(Rep::value(total.as_secs_f64() * 1e6 / bursts.max(1) as f64))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_proc_net_udp_drops() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    \x20 12: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1234 2 0000000000000000 0\n\
                    \x20 13: 0100007F:9C41 0100007F:A001 01 00000000:00033900 00:00000000 00000000  1000        0 5678 2 0000000000000000 9615\n";
        assert_eq!(super::parse_drops(text, 0x9c41), Some(9615));
        assert_eq!(super::parse_drops(text, 53), Some(0));
        assert_eq!(super::parse_drops(text, 0x9c42), None);
    }
}
