//! `rot13`: the classic line server. Each line a client sends comes back
//! ROT13-encoded.
//!
//! ```text
//! cargo run --example rot13                       # 127.0.0.1:40713
//! cargo run --example rot13 -- --threads 4 --listen 0.0.0.0:40713
//! nc 127.0.0.1 40713
//! ```
//!
//! Each connection is a task on the runtime. A connection holds at most
//! one line of [`MAX_LINE`](lines::MAX_LINE) bytes: a longer line is encoded and sent back
//! in pieces as it arrives, so no client can make the server buffer
//! without bound.
//!
//! With `--threads N`, N threads each run their own runtime and their own
//! listener on the same port (`SO_REUSEPORT`); the kernel spreads new
//! connections among them. Nothing is shared between the threads.
//!
//! The first line on stdout is `listening on ADDR`, with the real port
//! when `--listen` asked for port 0.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tern::net::{TcpListener, TcpStream};

#[macro_use]
#[path = "common/rot13_lines.rs"]
mod lines;

const USAGE: &str = "\
usage: rot13 [--listen ADDR:PORT] [--threads N]

Serves ROT13 over TCP: every line a client sends comes back encoded.

options:
  --listen ADDR:PORT  where to listen (default 127.0.0.1:40713; port 0
                      picks a free port, printed on the first line)
  --threads N         run N event loops, one per thread, each with its
                      own SO_REUSEPORT listener (default 1)
  -h, --help          print this help";

fn main() -> ExitCode {
    let (addr, threads) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("rot13: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    // The first loop binds the address asked for; the others bind the
    // address it got, so `--listen 127.0.0.1:0` shares one port too.
    let reuse_port = threads > 1;
    let mut loops = Vec::new();
    let mut bound = addr;
    for i in 0..threads {
        let (ready_tx, ready_rx) = mpsc::channel();
        loops.push(thread::spawn(move || {
            event_loop(bound, reuse_port, ready_tx)
        }));
        match ready_rx.recv() {
            Ok(Ok(local)) => bound = local,
            Ok(Err(e)) => {
                eprintln!("rot13: thread {i}: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("rot13: thread {i} died while starting");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("listening on {bound}");

    for handle in loops {
        if handle.join().is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// One thread's runtime: binds, reports the bound address (or the error)
/// on `ready`, then accepts connections forever.
fn event_loop(addr: SocketAddr, reuse_port: bool, ready: mpsc::Sender<io::Result<SocketAddr>>) {
    tern::block_on(async move {
        let bind = if reuse_port {
            TcpListener::bind_reuseport(addr)
        } else {
            TcpListener::bind(addr)
        };
        let listener = match bind.and_then(|l| l.local_addr().map(|a| (l, a))) {
            Ok((listener, local)) => {
                let _ = ready.send(Ok(local));
                listener
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    // Detached: the task ends when the client goes away.
                    drop(tern::spawn(async move {
                        let _ = serve(stream).await;
                    }));
                }
                // EMFILE and friends: report, and pause before trying
                // again. The waiting connection keeps the listener
                // readable, so an immediate retry would fail at once, in
                // a loop that burns a core and floods stderr.
                Err(e) => {
                    eprintln!("rot13: accept: {e}");
                    tern::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

/// Serves one client until it closes the connection.
async fn serve(stream: TcpStream) -> io::Result<()> {
    serve_lines!(stream)
}

/// Returns the address and thread count, or `None` for `--help`.
fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<Option<(SocketAddr, usize)>, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 40713));
    let mut threads = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let text = args.next().ok_or("--listen needs ADDR:PORT")?;
                addr = text.parse().map_err(|_| format!("bad address {text:?}"))?;
            }
            "--threads" => {
                let text = args.next().ok_or("--threads needs a number")?;
                threads = text
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("bad thread count {text:?}"))?;
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Some((addr, threads)))
}
