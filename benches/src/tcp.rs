//! TCP over 127.0.0.1: 64-byte ping-pong round trip, bulk throughput on
//! one connection, and many concurrent echo connections.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use crate::harness::{metric, run_interleaved, Rep, Summary};
use crate::net::{read_exact, NetRt};
use crate::report::{Better, Metric, Target};
use crate::signal::LocalFlag;
use crate::{per_runtime, Ctx};

const GROUP: &str = "tcp";

fn err(e: io::Error) -> String {
    format!("tcp: {e}")
}

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let mut out = Vec::new();
    let n = ctx.n(50_000, 200);
    let o = run_interleaved(ctx.reps, &mut per_runtime!(ping_pong(n)));
    out.push(metric(
        GROUP,
        format!("64-byte ping-pong RTT ({n} round trips)"),
        "us",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
    ));

    let mib = ctx.n(1024, 2);
    let o = run_interleaved(ctx.reps, &mut per_runtime!(bulk(mib)));
    out.push(
        metric(
            GROUP,
            format!("bulk, one connection, {mib} MiB in 64 KiB writes"),
            "GiB/s",
            Better::Higher,
            Summary::MedianOfReps,
            &o,
        )
        .target(Target::AtLeastRatioToBest(1.0)),
    );

    let limit = fd_soft_limit().unwrap_or(1024);
    let conns = ctx.n(1000, 20).min(limit.saturating_sub(64) / 2);
    if conns < ctx.n(1000, 20) {
        notes.push(format!(
            "tcp: open-file limit {limit} allows only {conns} concurrent connections"
        ));
    }
    let reqs = ctx.n(50, 5);
    let o = run_interleaved(ctx.reps, &mut per_runtime!(many(conns, reqs)));
    out.push(metric(
        GROUP,
        format!("{conns} concurrent echo connections x {reqs} requests of 64 B"),
        "requests/s",
        Better::Higher,
        Summary::MedianOfReps,
        &o,
    ));
    out
}

fn fd_soft_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

async fn pair<R: NetRt>() -> io::Result<(R::Stream, R::Stream)> {
    let l = R::tcp_bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = R::tcp_local_addr(&l)?;
    let accept = R::spawn(async move { R::accept(&l).await });
    let c = R::connect(addr).await?;
    let s = accept.await?;
    R::set_nodelay(&c)?;
    R::set_nodelay(&s)?;
    Ok((c, s))
}

async fn echo<R: NetRt>(mut s: R::Stream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let k = R::read(&mut s, &mut buf).await?;
        if k == 0 {
            return Ok(());
        }
        R::write_all(&mut s, &buf[..k]).await?;
    }
}

fn ping_pong<R: NetRt>(n: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let (mut c, s) = pair::<R>().await.map_err(err)?;
        let server = R::spawn(echo::<R>(s));
        let msg = [5u8; 64];
        let mut buf = [0u8; 64];
        let start = Instant::now();
        for _ in 0..n {
            R::write_all(&mut c, &msg).await.map_err(err)?;
            read_exact::<R>(&mut c, &mut buf).await.map_err(err)?;
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        R::shutdown_write(&mut c).await.map_err(err)?;
        server.await.map_err(err)?;
        Ok(Rep::value(us))
    })
}

/// `__child tcp-bulk COLUMN MIB`: one bulk transfer of `MIB` MiB on
/// `COLUMN` (`tern`, `tokio`, `smol`), for strace or perf.
pub fn child(column: &str, mib: usize) -> Result<(), String> {
    let r = match column {
        "tern" => bulk::<crate::rt::Tern>(mib),
        "tokio" => bulk::<crate::rt::Tokio>(mib),
        "smol" => bulk::<crate::rt::Smol>(mib),
        other => return Err(format!("unknown column {other}")),
    }?;
    println!("{column}: {:.2} GiB/s", r.value);
    Ok(())
}

fn bulk<R: NetRt>(mib: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let (mut c, mut s) = pair::<R>().await.map_err(err)?;
        let total = mib << 20;
        let start = Instant::now();
        let writer = R::spawn(async move {
            let chunk = vec![1u8; 64 << 10];
            let mut sent = 0;
            while sent < total {
                R::write_all(&mut c, &chunk).await?;
                sent += chunk.len();
            }
            R::shutdown_write(&mut c).await?;
            Ok::<_, io::Error>(c)
        });
        let mut buf = vec![0u8; 64 << 10];
        let mut got = 0;
        loop {
            match R::read(&mut s, &mut buf).await.map_err(err)? {
                0 => break,
                k => got += k,
            }
        }
        let secs = start.elapsed().as_secs_f64();
        drop(writer.await.map_err(err)?);
        if got != total {
            return Err(format!("tcp: bulk received {got} of {total} bytes"));
        }
        Ok(Rep::value(got as f64 / secs / (1u64 << 30) as f64))
    })
}

fn many<R: NetRt>(conns: usize, reqs: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let l = R::tcp_bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(err)?;
        let addr = R::tcp_local_addr(&l).map_err(err)?;
        let acceptor = R::spawn(async move {
            for _ in 0..conns {
                let s = R::accept(&l).await?;
                R::set_nodelay(&s)?;
                R::detach(async move {
                    let _ = echo::<R>(s).await;
                });
            }
            Ok::<_, io::Error>(())
        });
        let mut clients = Vec::with_capacity(conns);
        for _ in 0..conns {
            let c = R::connect(addr).await.map_err(err)?;
            R::set_nodelay(&c).map_err(err)?;
            clients.push(c);
        }
        acceptor.await.map_err(err)?;
        let finished = Rc::new(Cell::new(0usize));
        let failed = Rc::new(Cell::new(false));
        let done = Rc::new(LocalFlag::default());
        let start = Instant::now();
        for mut c in clients {
            let (finished, failed, done) = (finished.clone(), failed.clone(), done.clone());
            R::detach(async move {
                let msg = [9u8; 64];
                let mut buf = [0u8; 64];
                for _ in 0..reqs {
                    if R::write_all(&mut c, &msg).await.is_err()
                        || read_exact::<R>(&mut c, &mut buf).await.is_err()
                    {
                        failed.set(true);
                        break;
                    }
                }
                finished.set(finished.get() + 1);
                if finished.get() == conns {
                    done.notify();
                }
            });
        }
        done.wait().await;
        let secs = start.elapsed().as_secs_f64();
        if failed.get() {
            return Err("tcp: an echo connection failed".into());
        }
        Ok(Rep::value((conns * reqs) as f64 / secs))
    })
}
