//! Many concurrent TCP connections on one runtime thread, each echoing
//! data that the other side checks byte for byte.
//!
//! The server (this process) and the clients (a child process, also one
//! tern thread) each hold one fd per connection, so each fits its own
//! `RLIMIT_NOFILE`. All connections are open before any data moves; the
//! server records how many were open at once.

use std::cell::Cell;
use std::net::{Shutdown, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::rc::Rc;
use std::time::Duration;

use tern::net::{TcpListener, TcpStream};

use crate::tcp_echo::{echo, pattern};
use crate::{fds, Row, Size};

/// The argument that makes the binary run as the client side.
pub const CHILD: &str = "__tcp_clients";

const PART: &str = "tcp";
/// Bytes each connection sends and gets back.
const BYTES: usize = 16 * 1024;
const CHUNK: usize = 4096;
/// Connects in flight at once while opening connections.
const CONNECTING: usize = 256;
/// fds kept free for the runtime, stdio and the like.
const SPARE_FDS: u64 = 64;

/// Runs the part: this process serves, a child process connects.
pub fn run(size: Size) -> Vec<Row> {
    let limit = match tern::sys::process::raise_fd_limit() {
        Ok(l) => l,
        Err(e) => {
            return vec![Row::check(
                PART,
                format!("raise RLIMIT_NOFILE: {e}"),
                "-",
                false,
            )]
        }
    };
    let wanted = size.n(10_000, 500);
    let conns = wanted.min(limit.saturating_sub(SPARE_FDS) as usize);
    let mut rows = vec![Row::info(PART, "RLIMIT_NOFILE (soft = hard)", limit)];
    if conns < wanted {
        rows.push(Row::info(
            PART,
            format!("connections limited by RLIMIT_NOFILE (wanted {wanted})"),
            conns,
        ));
    }
    let fds_before = fds();
    let outcome = tern::block_on(serve(conns));
    match outcome {
        Ok(s) => {
            rows.push(Row::check(
                PART,
                "connections open at once on one runtime thread",
                s.peak,
                s.peak == conns,
            ));
            rows.push(Row::check(
                PART,
                "bytes echoed by the server",
                s.echoed,
                s.echoed == conns * BYTES,
            ));
            rows.push(Row::check(
                PART,
                "bytes verified by the clients (child process)",
                s.client.verified,
                s.client.verified == conns * BYTES && s.client.mismatches == 0,
            ));
            rows.push(Row::check(
                PART,
                "connection errors (server + clients)",
                s.errors + s.client.errors,
                s.errors + s.client.errors == 0,
            ));
            rows.push(Row::check(
                PART,
                "tasks / registered sockets left after",
                format!("{} / {}", s.tasks_after, s.sources_after),
                s.tasks_after == 0 && s.sources_after == 0,
            ));
        }
        Err(e) => rows.push(Row::check(PART, "run", e, false)),
    }
    let fds_after = fds();
    rows.push(Row::check(
        PART,
        "fds leaked",
        fds_after as isize - fds_before as isize,
        fds_after == fds_before,
    ));
    rows
}

struct ServerStats {
    peak: usize,
    echoed: usize,
    errors: usize,
    client: ClientStats,
    tasks_after: usize,
    sources_after: usize,
}

#[derive(Default)]
struct ClientStats {
    verified: usize,
    mismatches: usize,
    errors: usize,
}

async fn serve(conns: usize) -> Result<ServerStats, String> {
    let listener =
        TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args([CHILD, &addr.to_string(), &conns.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start the client process: {e}"))?;
    let waiter = tern::spawn_blocking(move || child.wait_with_output());
    let live = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let mut echoes = Vec::with_capacity(conns);
    let mut errors = 0;
    let accepting = async {
        while echoes.len() < conns {
            match listener.accept().await {
                Ok((s, _)) => {
                    live.set(live.get() + 1);
                    peak.set(peak.get().max(live.get()));
                    let live = live.clone();
                    echoes.push(tern::spawn(async move {
                        let res = echo(&s, CHUNK).await;
                        live.set(live.get() - 1);
                        res
                    }));
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("accept: {e}");
                    if errors > 100 {
                        return Err(format!("accept keeps failing: {e}"));
                    }
                }
            }
        }
        Ok(())
    };
    tern::time::timeout(Duration::from_secs(300), accepting)
        .await
        .map_err(|_| "accepting timed out".to_string())??;
    let mut echoed = 0;
    for e in echoes {
        match e.await {
            Ok(Ok(n)) => echoed += n,
            _ => errors += 1,
        }
    }
    drop(listener);
    let out = waiter
        .await
        .map_err(|e| format!("client waiter: {e:?}"))?
        .map_err(|e| format!("client process: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("client process failed: {text}"));
    }
    let field = |key: &str| -> usize {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(usize::MAX)
    };
    let m = tern::current_metrics().unwrap_or_default();
    Ok(ServerStats {
        peak: peak.get(),
        echoed,
        errors,
        client: ClientStats {
            verified: field("verified"),
            mismatches: field("mismatches"),
            errors: field("errors"),
        },
        tasks_after: m.tasks,
        sources_after: m.io_sources,
    })
}

/// The client process: `__tcp_clients ADDR CONNS`.
pub fn child(args: &[String]) -> ExitCode {
    let (Some(addr), Some(conns)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("bad client arguments {args:?}");
        return ExitCode::FAILURE;
    };
    if let Err(e) = tern::sys::process::raise_fd_limit() {
        eprintln!("raise RLIMIT_NOFILE: {e}");
        return ExitCode::FAILURE;
    }
    let stats = tern::block_on(clients(addr, conns));
    println!(
        "verified={} mismatches={} errors={}",
        stats.verified, stats.mismatches, stats.errors
    );
    ExitCode::SUCCESS
}

async fn clients(addr: SocketAddr, conns: usize) -> ClientStats {
    let mut stats = ClientStats::default();
    // Open every connection first, CONNECTING at a time.
    let next = Rc::new(Cell::new(0usize));
    let openers: Vec<_> = (0..CONNECTING.min(conns))
        .map(|_| {
            let next = next.clone();
            tern::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.get();
                    if i >= conns {
                        return mine;
                    }
                    next.set(i + 1);
                    mine.push((i, TcpStream::connect(addr).await));
                }
            })
        })
        .collect();
    let mut streams = Vec::with_capacity(conns);
    for o in openers {
        for (i, s) in o.await.unwrap_or_default() {
            match s {
                Ok(s) => streams.push((i, s)),
                Err(e) => {
                    eprintln!("connect {i}: {e}");
                    stats.errors += 1;
                }
            }
        }
    }
    // All open: now every connection sends and checks its echo at once.
    let talkers: Vec<_> = streams
        .into_iter()
        .map(|(conn, s)| tern::spawn(async move { talk(conn, &s).await }))
        .collect();
    for t in talkers {
        match t.await {
            Ok(Ok((verified, mismatches))) => {
                stats.verified += verified;
                stats.mismatches += mismatches;
            }
            _ => stats.errors += 1,
        }
    }
    stats
}

/// Sends BYTES in chunks, checking each echoed chunk; returns the bytes
/// that matched and the chunks that did not.
async fn talk(conn: usize, s: &TcpStream) -> std::io::Result<(usize, usize)> {
    let mut back = vec![0u8; CHUNK];
    let (mut verified, mut mismatches) = (0, 0);
    for chunk in 0..BYTES / CHUNK {
        let data: Vec<u8> = (0..CHUNK)
            .map(|i| pattern(conn, chunk * CHUNK + i))
            .collect();
        s.write_all(&data).await?;
        s.read_exact(&mut back).await?;
        if back == data {
            verified += CHUNK;
        } else {
            mismatches += 1;
        }
    }
    s.shutdown(Shutdown::Write)?;
    let mut rest = [0u8; 16];
    if s.read(&mut rest).await? != 0 {
        mismatches += 1;
    }
    Ok((verified, mismatches))
}
