//! Thread-per-core: the `rot13` example's server with `--threads 2` (two
//! threads, each with its own tern runtime and `SO_REUSEPORT` listener)
//! against the same line server on tokio's multi-thread runtime with two
//! workers (one listener, work-stealing), both driven by the same client.
//!
//! Each server is its own process: the `rot13` binary of this package (the
//! example's source, built unchanged), and this binary's
//! `__child rot13-tokio WORKERS`; each prints `listening on ADDR` first.
//! The client, in this process, opens `CONNS` connections (not timed),
//! spreads them over `CLIENT_THREADS` std threads, runs one untimed round,
//! then times `rounds` rounds: in a round a thread writes one 64-byte line
//! on each of its connections, then reads each reply and checks that it is
//! the line ROT13-encoded. The figure is lines answered per second.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{metric, run_interleaved, Case, Rep, Summary};
use crate::report::{Better, Metric, Target};
use crate::Ctx;

const GROUP: &str = "thread-per-core";
/// Client connections.
const CONNS: usize = 200;
/// Client threads sharing the connections.
const CLIENT_THREADS: usize = 4;
/// Server threads (tern) or workers (tokio).
const SERVER_THREADS: usize = 2;
/// One request: 63 bytes of text and a newline.
const LINE: &[u8; 64] = b"Why did the chicken cross the road? To get to the other side!!!\n";
#[macro_use]
#[path = "../../examples/common/rot13_lines.rs"]
mod lines;
use lines::rot13;
/// How long a client waits for a reply before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let rounds = ctx.n(200, 3);
    let mut tern: Option<Server> = None;
    let mut tokio: Option<Server> = None;
    let mut cases = [
        Case::new("tern", move || {
            let addr = server_addr(&mut tern, tern_server)?;
            clients(addr, rounds)
        }),
        Case::new("tokio-mt", move || {
            let addr = server_addr(&mut tokio, tokio_server)?;
            clients(addr, rounds)
        }),
    ];
    let o = run_interleaved(ctx.reps, &mut cases);
    drop(cases);
    notes.push(format!(
        "thread-per-core: servers are separate processes (tern: `rot13 --threads \
         {SERVER_THREADS}`, the example; tokio: the same line server on a multi-thread runtime \
         with {SERVER_THREADS} workers); the client is {CLIENT_THREADS} std threads in the \
         benchmark process, each writing one line on each of its connections, then reading \
         every reply"
    ));
    vec![metric(
        GROUP,
        format!(
            "rot13 line server, {SERVER_THREADS} threads, {CONNS} connections x {rounds} \
             lines of 64 B"
        ),
        "requests/s",
        Better::Higher,
        Summary::MedianOfReps,
        &o,
    )
    .target(Target::AtLeastColumn("tokio-mt"))]
}

/// A server process, killed when dropped.
#[derive(Debug)]
struct Server {
    child: Child,
    addr: SocketAddr,
    // Kept open so a late write of the server does not hit a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `cmd` and reads its `listening on ADDR` line.
    fn start(mut cmd: Command, name: &str) -> Result<Server, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("thread-per-core: start {name}: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("thread-per-core: {name}: no stdout"));
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let addr = stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())
            .and_then(|_| parse_listening(&line));
        match addr {
            Ok(addr) => Ok(Server {
                child,
                addr,
                _stdout: stdout,
            }),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("thread-per-core: {name}: {why}"))
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of a `listening on ADDR` line.
fn parse_listening(line: &str) -> Result<SocketAddr, String> {
    line.trim_end()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("expected `listening on ADDR`, got {line:?}"))
}

/// The server in `slot`, started with `start` the first time.
fn server_addr(
    slot: &mut Option<Server>,
    start: fn() -> Result<Server, String>,
) -> Result<SocketAddr, String> {
    if slot.is_none() {
        *slot = Some(start()?);
    }
    slot.as_ref()
        .map(|s| s.addr)
        .ok_or_else(|| "thread-per-core: server not started".into())
}

/// The `rot13` binary: `TERN_BENCH_ROT13`, or the one next to this one,
/// built with cargo first when it is missing (`cargo run` builds only the
/// binary it runs).
fn rot13_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("TERN_BENCH_ROT13") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let bin = exe.with_file_name("rot13");
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let profile = if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        };
        eprintln!("   building the rot13 binary ({profile})");
        let status = Command::new(&cargo)
            .args(["build", "--profile", profile, "-p", "tern-benches"])
            .args(["--bin", "rot13", "--manifest-path", manifest])
            .status()
            .map_err(|e| format!("cargo build --bin rot13: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --bin rot13 failed ({status})"));
        }
    }
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "no rot13 binary at {} (built by `cargo build --release -p tern-benches`)",
            bin.display()
        ))
    }
}

fn tern_server() -> Result<Server, String> {
    let bin = rot13_binary().map_err(|e| format!("thread-per-core: {e}"))?;
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--threads",
        &SERVER_THREADS.to_string(),
        "--listen",
        "127.0.0.1:0",
    ]);
    Server::start(cmd, &bin.display().to_string())
}

fn tokio_server() -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["__child", "rot13-tokio", &SERVER_THREADS.to_string()]);
    Server::start(cmd, "tokio rot13 server")
}

// ===== client =====

/// One repetition: `rounds` timed rounds over `CONNS` fresh connections.
fn clients(addr: SocketAddr, rounds: usize) -> Result<Rep, String> {
    let e = |what: &str, e: io::Error| format!("thread-per-core: {what} {addr}: {e}");
    let mut streams = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let s = TcpStream::connect(addr).map_err(|x| e("connect", x))?;
        s.set_nodelay(true).map_err(|x| e("nodelay", x))?;
        s.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|x| e("timeout", x))?;
        s.set_write_timeout(Some(IO_TIMEOUT))
            .map_err(|x| e("timeout", x))?;
        streams.push(s);
    }
    let barrier = Arc::new(Barrier::new(CLIENT_THREADS + 1));
    let per_thread = CONNS.div_ceil(CLIENT_THREADS);
    let mut threads = Vec::new();
    while !streams.is_empty() {
        let mut mine: Vec<TcpStream> = streams.drain(..per_thread.min(streams.len())).collect();
        let barrier = barrier.clone();
        threads.push(thread::spawn(move || {
            let warm = round(&mut mine);
            barrier.wait();
            warm?;
            for _ in 0..rounds {
                round(&mut mine)?;
            }
            Ok::<_, io::Error>(())
        }));
    }
    // Fewer threads than planned only if CONNS < CLIENT_THREADS.
    for _ in threads.len()..CLIENT_THREADS {
        let barrier = barrier.clone();
        threads.push(thread::spawn(move || {
            barrier.wait();
            Ok(())
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let mut failed = None;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(x)) => failed = Some(e("client", x)),
            Err(_) => failed = Some("thread-per-core: a client thread panicked".into()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(why) = failed {
        return Err(why);
    }
    Ok(Rep::value((CONNS * rounds) as f64 / secs))
}

/// One line on each connection, then every reply, checked.
fn round(streams: &mut [TcpStream]) -> io::Result<()> {
    let mut want = *LINE;
    rot13(&mut want);
    for s in streams.iter_mut() {
        s.write_all(LINE)?;
    }
    let mut buf = [0u8; LINE.len()];
    for s in streams.iter_mut() {
        s.read_exact(&mut buf)?;
        if buf != want {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "reply {:?} is not the line ROT13-encoded",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
    }
    Ok(())
}

// ===== tokio server =====

/// `__child rot13-tokio WORKERS`: the rot13 line server on tokio's
/// multi-thread runtime; prints `listening on ADDR`, then serves until
/// killed.
pub fn child(args: &[String]) -> Result<(), String> {
    let workers = match args.first() {
        Some(n) => n
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .ok_or_else(|| format!("rot13-tokio: bad worker count {n:?}"))?,
        None => SERVER_THREADS,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .build()
        .map_err(|e| format!("rot13-tokio: runtime: {e}"))?;
    rt.block_on(listen_and_serve())
}

/// Binds, prints the address, then accepts connections forever.
async fn listen_and_serve() -> Result<(), String> {
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("rot13-tokio: bind {listen}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("rot13-tokio: local address: {e}"))?;
    println!("listening on {local}");
    let _ = io::stdout().flush();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(async move {
                    let _ = serve(stream).await;
                });
            }
            // EMFILE and friends: report and keep serving the others.
            Err(e) => eprintln!("rot13-tokio: accept: {e}"),
        }
    }
}

/// The example's `serve`, on tokio (the same loop and line handling).
async fn serve(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    serve_lines!(stream)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_listening_line() {
        assert_eq!(
            super::parse_listening("listening on 127.0.0.1:40713\n"),
            Ok("127.0.0.1:40713".parse().unwrap())
        );
        assert!(super::parse_listening("rot13: bad address\n").is_err());
    }

    #[test]
    fn line_is_64_bytes_and_rot13_inverts() {
        let mut l = *super::LINE;
        super::rot13(&mut l);
        assert_ne!(&l, super::LINE);
        super::rot13(&mut l);
        assert_eq!(&l, super::LINE);
    }
}
