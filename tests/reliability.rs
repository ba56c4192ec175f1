//! Reliability of the runtime and its sockets under load, faults and
//! cancellation, at sizes that run in seconds (the `stress` binary of
//! tern-benches runs the full sizes):
//!
//! - many concurrent TCP connections echoing, every byte checked;
//! - many pending timers firing in deadline order; many tasks spawned and
//!   completed, with the heap returned when the runtime goes;
//! - a peer resetting during a write, peers half-closing, `accept` meeting
//!   `EMFILE` (in a child process under a low `RLIMIT_NOFILE`): the error
//!   surfaces and the runtime keeps serving the other connections;
//! - a task panicking while it holds sockets: they are closed and
//!   deregistered, other tasks go on;
//! - `TcpStream::connect` dropped after 1, 2, ... polls leaks nothing.
//!
//! fd counts are per process, so the tests take turns (`SERIAL`).

mod common;
#[path = "common/heap.rs"]
mod heap;

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::cancel::{full_listener, poll_then_drop};
use common::footprint::{footprint, serial, SERIAL};
use common::tcp_echo::{self, pattern};
use heap::net_heap_bytes;
use tern::net::{TcpListener, TcpStream, UdpSocket};
use tern::time::timeout;

// ===== helpers =====

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn metrics() -> tern::Metrics {
    tern::current_metrics().unwrap()
}

/// Echoes until EOF or an error; returns the bytes echoed. Owns `s`, so
/// it can be spawned.
async fn echo(s: TcpStream) -> std::io::Result<usize> {
    tcp_echo::echo(&s, 16 * 1024).await
}

/// One echo round trip of `len` bytes on `s`, checked byte for byte.
async fn round_trip(s: &TcpStream, conn: usize, len: usize) {
    let data: Vec<u8> = (0..len).map(|i| pattern(conn, i)).collect();
    s.write_all(&data).await.unwrap();
    let mut back = vec![0u8; len];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, data, "connection {conn}");
}

// ===== load =====

#[test]
fn many_concurrent_connections_echo_every_byte() {
    const CONNS: usize = 300;
    const BYTES: usize = 16 * 1024;
    const CHUNK: usize = 4096;
    serial(async {
        tern::sys::process::raise_fd_limit().unwrap();
        let start = footprint();
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        let live = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let (l, p) = (live.clone(), peak.clone());
        let server = tern::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.unwrap();
                l.set(l.get() + 1);
                p.set(p.get().max(l.get()));
                let l = l.clone();
                conns.push(tern::spawn(async move {
                    let n = echo(s).await.unwrap();
                    l.set(l.get() - 1);
                    n
                }));
            }
            let mut echoed = 0;
            for c in conns {
                echoed += c.await.unwrap();
            }
            echoed
        });
        // Every connection is open before any data moves.
        let mut clients = Vec::new();
        for _ in 0..CONNS {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        while live.get() < CONNS {
            tern::yield_now().await;
        }
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(conn, s)| {
                tern::spawn(async move {
                    let mut back = vec![0u8; CHUNK];
                    for chunk in 0..BYTES / CHUNK {
                        let data: Vec<u8> = (0..CHUNK)
                            .map(|i| pattern(conn, chunk * CHUNK + i))
                            .collect();
                        s.write_all(&data).await.unwrap();
                        s.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, data, "connection {conn}, chunk {chunk}");
                    }
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut rest = Vec::new();
                    assert_eq!(s.read_to_end(&mut rest).await.unwrap(), 0);
                    BYTES
                })
            })
            .collect();
        let mut verified = 0;
        for t in tasks {
            verified += t.await.unwrap();
        }
        assert_eq!(verified, CONNS * BYTES);
        assert_eq!(server.await.unwrap(), CONNS * BYTES);
        assert_eq!(peak.get(), CONNS, "all connections were open at once");
        assert_eq!(footprint(), start);
    });
}

#[test]
fn pending_timers_fire_in_deadline_order_never_early() {
    const TIMERS: usize = 20_000;
    serial(async {
        let start = footprint();
        // Far enough ahead that all 20,000 timers (polled 61 at a time
        // between reactor turns, slowly in a debug build) are registered
        // before the first deadline; checked below.
        let base = Instant::now() + Duration::from_millis(400);
        let fired: Rc<RefCell<Vec<Instant>>> = Rc::new(RefCell::new(Vec::with_capacity(TIMERS)));
        let early = Rc::new(Cell::new(0usize));
        let handles: Vec<_> = (0..TIMERS)
            .map(|i| {
                // A permutation of 0..TIMERS, spread over 40 ms with ties.
                let slot = (i * 7919) % TIMERS;
                let deadline = base + Duration::from_micros(2 * (slot as u64 / 2));
                let (fired, early) = (fired.clone(), early.clone());
                tern::spawn(async move {
                    tern::time::sleep_until(deadline).await;
                    if Instant::now() < deadline {
                        early.set(early.get() + 1);
                    }
                    fired.borrow_mut().push(deadline);
                })
            })
            .collect();
        // Let every task register its timer.
        tern::yield_now().await;
        assert!(
            Instant::now() < base,
            "registering the timers took too long"
        );
        let pending = metrics().timers;
        assert_eq!(pending + fired.borrow().len(), TIMERS);
        for h in handles {
            h.await.unwrap();
        }
        let fired = fired.borrow();
        assert_eq!(fired.len(), TIMERS);
        assert!(fired.windows(2).all(|w| w[0] <= w[1]), "out of order");
        assert_eq!(early.get(), 0, "timers fired early");
        assert_eq!(footprint(), start);
    });
}

#[test]
fn many_tasks_complete_and_the_heap_is_returned() {
    const TASKS: usize = 50_000;
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up lazily initialised thread-locals.
    tern::block_on(async { tern::spawn(async {}).await.unwrap() });
    let done = Rc::new(Cell::new(0usize));
    let d = done.clone();
    let net = net_heap_bytes(move || {
        tern::block_on(async move {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| {
                    let d = d.clone();
                    tern::spawn(async move {
                        tern::yield_now().await;
                        d.set(d.get() + 1);
                        i
                    })
                })
                .collect();
            assert_eq!(metrics().tasks, TASKS);
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), i);
            }
            assert_eq!(metrics().tasks, 0);
            // Detached tasks complete too.
            for _ in 0..TASKS {
                let d = d.clone();
                drop(tern::spawn(async move { d.set(d.get() + 1) }));
            }
            while metrics().tasks > 0 {
                tern::yield_now().await;
            }
        });
    });
    assert_eq!(done.get(), 2 * TASKS);
    assert_eq!(net, 0, "heap bytes kept after the runtime is gone");
}

// ===== faults =====

#[test]
fn peer_reset_during_a_write_surfaces_and_other_connections_carry_on() {
    serial(async {
        let start = footprint();
        let listener = Rc::new(TcpListener::bind(any()).unwrap());
        let addr = listener.local_addr().unwrap();
        let victim = TcpStream::connect(addr).await.unwrap();
        let (resetter, _) = listener.accept().await.unwrap();
        let l = listener.clone();
        let server = tern::spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..2 {
                let (s, _) = l.accept().await.unwrap();
                echoes.push(tern::spawn(echo(s)));
            }
            echoes
        });
        let bystander = TcpStream::connect(addr).await.unwrap();
        round_trip(&bystander, 1, 10_000).await;
        // The victim writes far more than the socket buffers hold; the peer
        // reads a little, then resets.
        let writer = tern::spawn(async move {
            let big = vec![0x5au8; 64 << 20];
            let res = victim.write_all(&big).await;
            (res, victim)
        });
        let mut first = [0u8; 1024];
        resetter.read_exact(&mut first).await.unwrap();
        resetter.set_linger(Some(Duration::ZERO)).unwrap();
        drop(resetter);
        let (res, victim) = timeout(Duration::from_secs(10), writer)
            .await
            .expect("the write did not end after the reset")
            .unwrap();
        let err = res.expect_err("a write to a reset peer succeeded");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // Later operations on the dead stream fail too, without hanging.
        let mut buf = [0u8; 8];
        assert!(matches!(victim.read(&mut buf).await, Err(_) | Ok(0)));
        assert!(victim.write(b"x").await.is_err());
        drop(victim);
        // The runtime keeps serving: the old connection and a new one.
        round_trip(&bystander, 1, 100_000).await;
        let newcomer = TcpStream::connect(addr).await.unwrap();
        round_trip(&newcomer, 2, 100_000).await;
        drop((bystander, newcomer));
        let mut echoed = Vec::new();
        for e in server.await.unwrap() {
            echoed.push(e.await.unwrap().unwrap());
        }
        assert_eq!(echoed, [110_000, 100_000]);
        drop(listener);
        assert_eq!(footprint(), start);
    });
}

#[test]
fn half_closing_peers_are_answered_in_both_directions() {
    const CONNS: usize = 40;
    serial(async {
        let start = footprint();
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Even connections: the client half-closes; the server reads to EOF
        // and only then answers. Odd ones: the server half-closes first and
        // keeps reading what the client still sends.
        let server = tern::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.unwrap();
                conns.push(tern::spawn(async move {
                    let mut tag = [0u8; 1];
                    s.read_exact(&mut tag).await.unwrap();
                    let conn = usize::from(tag[0]);
                    if conn % 2 == 0 {
                        let mut req = Vec::new();
                        s.read_to_end(&mut req).await.unwrap();
                        req.reverse();
                        s.write_all(&req).await.unwrap();
                        s.shutdown(Shutdown::Write).unwrap();
                    } else {
                        s.write_all(b"early answer").await.unwrap();
                        s.shutdown(Shutdown::Write).unwrap();
                        let mut rest = Vec::new();
                        s.read_to_end(&mut rest).await.unwrap();
                        assert_eq!(rest.len(), 50_000, "connection {conn}");
                    }
                    conn
                }));
            }
            let mut served = Vec::new();
            for c in conns {
                served.push(c.await.unwrap());
            }
            served.sort_unstable();
            served
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|conn| {
                tern::spawn(async move {
                    let s = TcpStream::connect(addr).await.unwrap();
                    s.write_all(&[conn as u8]).await.unwrap();
                    let data: Vec<u8> = (0..50_000).map(|i| pattern(conn, i)).collect();
                    if conn % 2 == 0 {
                        s.write_all(&data).await.unwrap();
                        s.shutdown(Shutdown::Write).unwrap();
                        let mut reply = Vec::new();
                        s.read_to_end(&mut reply).await.unwrap();
                        reply.reverse();
                        assert_eq!(reply, data, "connection {conn}");
                    } else {
                        let mut reply = Vec::new();
                        s.read_to_end(&mut reply).await.unwrap();
                        assert_eq!(reply, b"early answer");
                        // Still writable after reading EOF.
                        s.write_all(&data).await.unwrap();
                        s.shutdown(Shutdown::Write).unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        assert_eq!(server.await.unwrap(), (0..CONNS).collect::<Vec<_>>());
        assert_eq!(footprint(), start);
    });
}

const CHILD_ENV: &str = "TERN_RELIABILITY_CHILD";

/// Runs this test binary again with only `test` selected and `CHILD_ENV`
/// set to `role`; returns its standard output after checking it succeeded.
fn run_child(test: &str, role: &str) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {role} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The highest open fd number of this process.
fn highest_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap()
}

#[test]
fn accept_hitting_emfile_surfaces_and_serving_goes_on() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("emfile") {
        tern::block_on(emfile_child());
        return;
    }
    // Spawning the child opens pipes, which other tests would count.
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = run_child(
        "accept_hitting_emfile_surfaces_and_serving_goes_on",
        "emfile",
    );
    assert!(out.contains("emfile child: ok"), "{out}");
}

/// In the child: fill the fd table, see `accept` fail with EMFILE while the
/// established connection keeps echoing, then free fds and accept again.
async fn emfile_child() {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let first = TcpStream::connect(addr).await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    let echo_task = tern::spawn(echo(s));
    // Queued in the backlog; accepting them needs fds.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(TcpStream::connect(addr).await.unwrap());
    }
    // No free fd below the limit: fill any hole until opening fails.
    tern::sys::process::set_fd_limit(highest_fd() + 1).unwrap();
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc_emfile()), "{e}");
                break;
            }
        }
    }
    for _ in 0..3 {
        let err = listener
            .accept()
            .await
            .expect_err("accept with no fds left");
        assert_eq!(err.raw_os_error(), Some(libc_emfile()), "{err}");
    }
    // The established connection is still served.
    round_trip(&first, 7, 50_000).await;
    // Free fds: the queued connections are accepted and served, one by one.
    drop(fillers);
    drop(first);
    assert_eq!(echo_task.await.unwrap().unwrap(), 50_000);
    for (i, c) in waiting.iter().enumerate() {
        let (s, _) = listener.accept().await.unwrap();
        let t = tern::spawn(echo(s));
        round_trip(c, i, 10_000).await;
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(t.await.unwrap().unwrap(), 10_000);
    }
    println!("emfile child: ok");
}

/// `EMFILE` on Linux.
fn libc_emfile() -> i32 {
    24
}

#[test]
fn a_task_panicking_with_sockets_closes_and_deregisters_them() {
    serial(async {
        let start = footprint();
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        // A bystander connection and a timer task, both unaffected.
        let bystander = TcpStream::connect(addr).await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let bystander_echo = tern::spawn(echo(s));
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = tern::spawn(async move {
            let mut interval = tern::time::interval(Duration::from_millis(1));
            for _ in 0..20 {
                interval.tick().await;
                t.set(t.get() + 1);
            }
        });
        let udp_addr = Rc::new(Cell::new(None));
        let u = udp_addr.clone();
        let doomed = tern::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let udp = UdpSocket::bind(any()).unwrap();
            u.set(Some(udp.local_addr().unwrap()));
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).await.unwrap();
            panic!("task holding {stream:?} and {udp:?} gives up");
        });
        let (peer, _) = listener.accept().await.unwrap();
        while udp_addr.get().is_none() {
            tern::yield_now().await;
        }
        let held = footprint();
        // listener, bystander pair, peer, and the doomed task's two sockets
        assert_eq!(held.io_sources - start.io_sources, 6);
        peer.write_all(b"!").await.unwrap();
        let err = doomed.await.unwrap_err();
        assert!(err.is_panic());
        // Its sockets are gone from the reactor and the fd table...
        let after = footprint();
        assert_eq!(held.io_sources - after.io_sources, 2);
        assert_eq!(held.fds - after.fds, 2);
        // ...and really closed: the peer sees EOF.
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).await.unwrap(), 0);
        // Everyone else carries on.
        round_trip(&bystander, 3, 100_000).await;
        ticker.await.unwrap();
        assert_eq!(ticks.get(), 20);
        drop(bystander);
        assert_eq!(bystander_echo.await.unwrap().unwrap(), 100_000);
        drop((peer, listener));
        assert_eq!(footprint(), start);
    });
}

// ===== cancellation =====

#[test]
fn tcp_connect_dropped_after_each_poll_leaks_nothing() {
    serial(async {
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        let start = footprint();
        let mut completed = None;
        for polls in 1..10 {
            let done = poll_then_drop(TcpStream::connect(addr), polls, false).await;
            let finished = done.is_some();
            if let Some(res) = done {
                drop(res.unwrap());
            }
            assert_eq!(footprint(), start, "after {polls} polls");
            if finished {
                completed = Some(polls);
                break;
            }
        }
        assert!(completed.is_some(), "connect never completed");
        // Connects that the server never completes (its accept queue is
        // full, so SYNs are dropped), polled spuriously then dropped.
        let full = full_listener(any());
        let target = tern::sys::socket::local_addr(full.0.as_fd()).unwrap();
        let start = footprint();
        for polls in 1..8 {
            let done = poll_then_drop(TcpStream::connect(target), polls, true).await;
            assert!(done.is_none(), "a connect to a full queue completed");
            assert_eq!(footprint(), start, "after {polls} polls");
        }
        drop(full);
    });
}
