//! Soundness under races and panics: remote wakes racing runtime drop,
//! panics in every place user code runs, resources used from the wrong
//! runtime, the blocking pool after panicking results, the cooperative
//! budget. The CI job also runs this file under AddressSanitizer.

#[path = "common/budget_probe.rs"]
mod budget_probe;

use std::cell::Cell;
use std::future::{pending, poll_fn, Future};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use budget_probe::Probe;
use tern::net::{TcpListener, UdpSocket};
use tern::Runtime;

/// Iterations of the race stress; `TERN_STRESS_ITERS` overrides.
fn iterations(default: usize) -> usize {
    std::env::var("TERN_STRESS_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A pool thread wakes a task (by value, with the task's last outside
/// reference) while the runtime thread shuts down and frees everything:
/// the waker must not touch the runtime's freed state or write to an
/// eventfd number that is closed and reused. AddressSanitizer reported a
/// use-after-free here within 30,000 rounds before remote wakes kept their
/// own count of the runtime's shared state.
#[test]
fn remote_wakes_racing_runtime_drop() {
    for i in 0..iterations(5_000) {
        // The job runs 0-15 us past the moment the runtime starts to
        // return, so that its wake lands during the shutdown in some rounds.
        let work = Duration::from_nanos((i % 16) as u64 * 1_000);
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rt = Runtime::new().unwrap();
        rt.block_on(async move {
            let flag = started.clone();
            let h = tern::spawn(async move {
                tern::spawn_blocking(move || {
                    flag.store(true, Ordering::SeqCst);
                    let start = std::time::Instant::now();
                    while start.elapsed() < work {
                        std::hint::spin_loop();
                    }
                })
                .await
                .unwrap()
            });
            tern::yield_now().await;
            while !started.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            tern::yield_now().await;
            tern::yield_now().await;
            drop(h);
        });
        drop(rt);
    }
}

/// Wakers woken from other threads at the moment the runtime that owns
/// the tasks finishes and is dropped: each task hands its waker to a
/// thread that wakes it at once, by reference and by value.
#[test]
fn wakes_from_many_threads_racing_shutdown() {
    for _ in 0..iterations(5_000) / 10 {
        let mut threads = Vec::new();
        tern::block_on(async {
            for _ in 0..4 {
                let (tx, rx) = mpsc::channel::<Waker>();
                threads.push(std::thread::spawn(move || {
                    if let Ok(w) = rx.recv() {
                        w.wake_by_ref();
                        w.wake();
                    }
                }));
                tern::spawn(poll_fn(move |cx| {
                    let _ = tx.send(cx.waker().clone());
                    Poll::<()>::Pending
                }));
            }
            tern::yield_now().await;
        });
        for t in threads {
            t.join().unwrap();
        }
    }
}

// ===== the panic matrix =====

/// Where the panic comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    TaskBody,
    FutureDrop,
    OutputDrop,
    JoinWaker,
    BlockingResultDrop,
}

/// What the code that spawned the task does with it.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Awaited,
    Detached,
    Aborted,
}

struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A waker that panics when woken.
struct PanickingWaker;

impl futures_task::ArcWake for PanickingWaker {
    fn wake_by_ref(_: &Arc<Self>) {
        panic!("waker panics on wake");
    }
}

async fn panic_case(source: Source, fate: Fate) {
    let (release, gate) = mpsc::channel::<()>();
    let handle: tern::JoinHandle<Option<PanicOnDrop>> = match source {
        Source::TaskBody => tern::spawn(async {
            tern::yield_now().await;
            panic!("task body panics")
        }),
        Source::FutureDrop => {
            let guard = PanicOnDrop("future's drop panics");
            tern::spawn(async move {
                let _guard = guard;
                tern::yield_now().await;
                None
            })
        }
        Source::OutputDrop => tern::spawn(async {
            tern::yield_now().await;
            Some(PanicOnDrop("output's drop panics"))
        }),
        Source::JoinWaker => {
            let inner = tern::spawn(async {
                tern::yield_now().await;
                None::<PanicOnDrop>
            });
            // Register a panicking waker as the handle's awaiter, then
            // hand the handle to the task under test.
            let mut inner = Box::pin(inner);
            let waker = futures_task::waker(Arc::new(PanickingWaker));
            assert!(inner
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            tern::spawn(async move {
                tern::yield_now().await;
                drop(inner);
                None
            })
        }
        Source::BlockingResultDrop => {
            let blocking = tern::spawn_blocking(move || {
                let _ = gate.recv();
                Some(PanicOnDrop("blocking result's drop panics"))
            });
            let _ = release.send(());
            tern::spawn(async move { blocking.await.unwrap_or(None) })
        }
    };
    match fate {
        Fate::Awaited => {
            if let Ok(out) = handle.await {
                // The output's destructor panics here, in this task: catch it.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(out)));
            }
        }
        Fate::Detached => {
            drop(handle);
            for _ in 0..4 {
                tern::yield_now().await;
            }
        }
        Fate::Aborted => {
            handle.abort();
            for _ in 0..4 {
                tern::yield_now().await;
            }
        }
    }
}

/// The runtime and the blocking pool still work.
async fn still_usable() {
    assert_eq!(tern::spawn(async { 1 + 1 }).await.unwrap(), 2);
    assert_eq!(tern::spawn_blocking(|| 41 + 1).await.unwrap(), 42);
    tern::time::sleep(Duration::from_micros(50)).await;
}

/// Every place user code runs × every fate of its task: the panic is
/// contained (or, for an awaited task's own panic, reported as a
/// JoinError), and the runtime, a later runtime on the same thread and the
/// blocking pool all keep working.
#[test]
fn panic_matrix_leaves_runtime_and_pool_usable() {
    let sources = [
        Source::TaskBody,
        Source::FutureDrop,
        Source::OutputDrop,
        Source::JoinWaker,
        Source::BlockingResultDrop,
    ];
    for source in sources {
        for fate in [Fate::Awaited, Fate::Detached, Fate::Aborted] {
            let rt = Runtime::new().unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(async {
                    panic_case(source, fate).await;
                    still_usable().await;
                })
            }));
            assert!(r.is_ok(), "{source:?} x {fate:?}: the panic escaped");
            assert!(
                !tern::in_runtime(),
                "{source:?} x {fate:?}: context left set"
            );
            rt.block_on(still_usable());
            drop(rt);
            tern::block_on(still_usable());
        }
    }
}

/// A join waker that panics while the runtime shuts down (it is woken when
/// the pending task is cancelled) must neither escape nor leave the
/// thread's runtime context pointing at the freed runtime: every later
/// `spawn`, local wake or socket on the thread would be a use-after-free.
#[test]
fn panicking_join_waker_during_shutdown_leaves_no_dangling_context() {
    let r = catch_unwind(|| {
        tern::block_on(async {
            let mut h = tern::spawn(pending::<()>());
            let waker = futures_task::waker(Arc::new(PanickingWaker));
            assert!(Pin::new(&mut h)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            // The handle outlives block_on: shutdown cancels the task and
            // wakes the panicking waker.
            Some(h)
        })
    });
    let handle = r.expect("the waker's panic escaped the shutdown").unwrap();
    assert!(handle.is_finished());
    drop(handle);
    assert!(!tern::in_runtime());
    let spawn_outside = catch_unwind(|| drop(tern::spawn(async {})));
    assert!(spawn_outside.is_err(), "spawn outside a runtime must panic");
    tern::block_on(still_usable());
}

// ===== resources of another runtime =====

/// A socket bound in one `block_on` and awaited in the next fails at once
/// with an error that says why, instead of waiting on a reactor nobody
/// polls (with a datagram queued, that would hang).
#[test]
fn socket_of_another_runtime_fails_clearly() {
    let sock = tern::block_on(async { UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap() });
    let to = sock.local_addr().unwrap();
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"queued", to)
        .unwrap();
    let r = tern::block_on(async {
        let mut buf = [0u8; 16];
        tern::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await
    });
    let err = r.expect("timed out: the socket hung").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("another block_on"), "unclear error: {msg}");
    let listener =
        tern::block_on(async { TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap() });
    let err = tern::block_on(async { listener.accept().await.map(|_| ()) }).unwrap_err();
    assert!(err.to_string().contains("not running"), "{err}");
    // Outside any runtime, polling fails the same way.
    let mut buf = [0u8; 4];
    let mut fut = Box::pin(sock.recv_from(&mut buf));
    let waker = futures_task::noop_waker();
    match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(Err(e)) => assert!(e.to_string().contains("not running")),
        other => panic!("outside a runtime: {other:?}"),
    }
}

/// A timer registered in one runtime moves to the runtime that polls it
/// next, and fires there.
#[test]
fn timer_of_another_runtime_moves_and_fires() {
    let rt1 = Runtime::new().unwrap();
    let mut sleep = Box::pin(tern::time::sleep(Duration::from_millis(2)));
    rt1.block_on(poll_fn(|cx| {
        assert!(sleep.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    }));
    assert_eq!(rt1.metrics().timers, 1);
    let rt2 = Runtime::new().unwrap();
    let r = rt2.block_on(tern::time::timeout(Duration::from_secs(5), sleep));
    assert!(r.is_ok(), "the moved timer never fired");
    assert_eq!(rt1.metrics().timers, 0, "the old runtime still holds it");
}

// ===== the blocking pool =====

/// Results whose `Drop` panics on a pool thread (their task was aborted,
/// so the pool drops them) must not kill pool threads without a trace:
/// after 80 of them (more than the pool's 64 threads) a job still runs.
#[test]
fn pool_survives_results_that_panic_on_drop() {
    tern::block_on(async {
        let mut releases = Vec::new();
        for _ in 0..80 {
            let (tx, rx) = mpsc::channel::<()>();
            let h = tern::spawn_blocking(move || {
                let _ = rx.recv();
                PanicOnDrop("result dropped on a pool thread")
            });
            h.abort();
            releases.push(tx);
        }
        tern::yield_now().await;
        drop(releases);
        let r = tern::time::timeout(Duration::from_secs(10), tern::spawn_blocking(|| 41 + 1)).await;
        assert_eq!(r.expect("the pool is wedged").unwrap(), 42);
    });
}

// ===== the cooperative budget =====

/// A task whose reads are always ready (a std-thread peer writing as fast
/// as it can) is made to yield, so an interval on the same runtime keeps
/// ticking while it reads.
#[test]
fn fast_peer_cannot_starve_timers() {
    const TOTAL: usize = 64 << 20;
    tern::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let chunk = vec![0x42u8; 1 << 20];
            let mut sent = 0;
            while sent < TOTAL {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
        });
        let (stream, _) = listener.accept().await.unwrap();
        let ticks = Rc::new(Cell::new(0u32));
        let ticks_when_done = Rc::new(Cell::new(None));
        let reader = {
            let (ticks, done) = (ticks.clone(), ticks_when_done.clone());
            tern::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut got = 0;
                while got < TOTAL {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    got += n;
                }
                done.set(Some(ticks.get()));
            })
        };
        let mut interval = tern::time::interval(Duration::from_millis(1));
        while ticks_when_done.get().is_none() {
            interval.tick().await;
            ticks.set(ticks.get() + 1);
        }
        reader.await.unwrap();
        writer.join().unwrap();
        let seen = ticks_when_done.get().unwrap();
        assert!(seen >= 3, "only {seen} ticks while 64 MiB were read");
    });
}

/// The budget: 128 ready operations per poll, then the task yields once.
#[test]
fn budget_is_128_operations_per_poll() {
    tern::block_on(async {
        let rx = Rc::new(UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..200u32 {
            tx.send_to(&i.to_be_bytes(), rx.local_addr().unwrap())
                .unwrap();
        }
        // Let the edge arrive.
        let mut buf = [0u8; 8];
        rx.recv_from(&mut buf).await.unwrap();
        let polls = Rc::new(AtomicUsize::new(0));
        let received = Rc::new(AtomicUsize::new(0));
        let reader = {
            let (rx, polls, received) = (rx.clone(), polls.clone(), received.clone());
            tern::spawn(async move {
                let mut buf = [0u8; 8];
                CountPolls {
                    polls,
                    fut: Box::pin(async move {
                        for _ in 1..200 {
                            rx.recv_from(&mut buf).await.unwrap();
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }),
                }
                .await;
            })
        };
        tern::yield_now().await;
        // One poll of the reader: it took exactly its budget.
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        assert_eq!(received.load(Ordering::Relaxed), 128);
        reader.await.unwrap();
        assert_eq!(received.load(Ordering::Relaxed), 199);
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    });
}

/// A task that waits on more sources than its budget, polling them in
/// order each time it runs (a hand-written join), still sees the last one:
/// only operations that complete spend the budget. Were every poll to
/// spend it, the first 128 sources, never ready, would spend it all on
/// each run and the task would spin without ever looking at the rest.
#[test]
fn waiting_on_more_sockets_than_the_budget_sees_the_last() {
    tern::block_on(async {
        let socks: Vec<UdpSocket> = (0..200)
            .map(|_| UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap())
            .collect();
        let last = socks[199].local_addr().unwrap();
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(b"last", last)
            .unwrap();
        let mut polls = 0u32;
        let got = poll_fn(|cx| {
            polls += 1;
            if polls > 100 {
                return Poll::Ready(None);
            }
            let mut buf = [0u8; 8];
            for (k, s) in socks.iter().enumerate() {
                if let Poll::Ready(r) = s.poll_recv_from(cx, &mut buf) {
                    return Poll::Ready(Some((k, r.unwrap().0)));
                }
            }
            Poll::Pending
        })
        .await;
        assert_eq!(got, Some((199, 4)), "{polls} polls and no datagram");
    });
}

/// The same with channel receivers: the message to the last one arrives.
#[test]
fn waiting_on_more_channels_than_the_budget_sees_the_last() {
    tern::block_on(async {
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..200)
            .map(|_| tern::sync::mpsc::unbounded_channel::<u32>())
            .unzip();
        txs[199].send(7).unwrap();
        let mut polls = 0u32;
        let got = poll_fn(|cx| {
            polls += 1;
            if polls > 100 {
                return Poll::Ready(None);
            }
            for (k, rx) in rxs.iter_mut().enumerate() {
                if let Poll::Ready(v) = rx.poll_recv(cx) {
                    return Poll::Ready(Some((k, v)));
                }
            }
            Poll::Pending
        })
        .await;
        assert_eq!(got, Some((199, Some(7))), "{polls} polls and no message");
    });
}

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    polls: Rc<AtomicUsize>,
    fut: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.fut.as_mut().poll(cx)
    }
}

// ===== options =====

/// The timer slack is 1 ns while a runtime exists and restored when the
/// last runtime of the thread is dropped; `timer_slack(false)` leaves it.
#[test]
fn timer_slack_is_restored() {
    std::thread::spawn(|| {
        let before = tern::sys::thread::timer_slack().unwrap();
        assert_ne!(before, 1);
        let a = Runtime::new().unwrap();
        assert_eq!(tern::sys::thread::timer_slack(), Some(1));
        let b = Runtime::new().unwrap();
        drop(a);
        assert_eq!(
            tern::sys::thread::timer_slack(),
            Some(1),
            "b still needs it"
        );
        drop(b);
        assert_eq!(tern::sys::thread::timer_slack(), Some(before));
        let c = Runtime::builder().timer_slack(false).build().unwrap();
        assert_eq!(tern::sys::thread::timer_slack(), Some(before));
        drop(c);
    })
    .join()
    .unwrap();
}

/// With spinning off, timers still fire in order and never early.
#[test]
fn timers_work_without_spinning() {
    let rt = Runtime::builder().spin_before_park(false).build().unwrap();
    rt.block_on(async {
        let start = std::time::Instant::now();
        tern::time::sleep(Duration::from_millis(2)).await;
        assert!(start.elapsed() >= Duration::from_millis(2));
    });
}

/// `interval(Duration::MAX)` ticks once, then waits (it must not tick
/// continuously, the next deadline saturating to the current one).
#[test]
fn interval_of_duration_max_ticks_once() {
    tern::block_on(async {
        let mut iv = tern::time::interval(Duration::MAX);
        iv.tick().await;
        let second = tern::time::timeout(Duration::from_millis(5), iv.tick()).await;
        assert!(second.is_err(), "ticked twice");
    });
}

/// A receiver whose channel always has messages is made to yield too.
#[test]
fn busy_channel_receiver_yields_after_its_budget() {
    tern::block_on(async {
        let (tx, mut rx) = tern::sync::mpsc::unbounded_channel::<u32>();
        for i in 0..300 {
            tx.send(i).unwrap();
        }
        let got = Rc::new(Cell::new(0u32));
        let seen_by_other = Rc::new(Cell::new(None));
        let reader = {
            let got = got.clone();
            tern::spawn(async move {
                while got.get() < 300 {
                    rx.recv().await.unwrap();
                    got.set(got.get() + 1);
                }
            })
        };
        let other = {
            let (got, seen) = (got.clone(), seen_by_other.clone());
            tern::spawn(async move { seen.set(Some(got.get())) })
        };
        other.await.unwrap();
        reader.await.unwrap();
        assert_eq!(seen_by_other.get(), Some(128));
    });
}

/// Sync operations that complete at once spend the budget as I/O does: a
/// task taking a free lock, a free permit, a sent oneshot value, a changed
/// watch value, a finished task's output (awaited, or from a `JoinSet`) or
/// a sleep (or timeout) that is already over, or a send into a channel with room, in a
/// loop lets another task run after 128 of them (as in tokio). Without it the loop would hold the
/// runtime for all 1,000.
#[test]
fn always_ready_sync_operations_yield_after_the_budget() {
    tern::block_on(async {
        let mutex = tern::sync::Mutex::new(0u32);
        let sem = tern::sync::Semaphore::new(1);
        let (wtx, mut wrx) = tern::sync::watch::channel(0u32);
        // Room for every send of the loop.
        let (btx, _brx) = tern::sync::mpsc::channel::<u32>(1_000);
        for kind in [
            "mutex",
            "semaphore",
            "oneshot",
            "watch",
            "join",
            "join set",
            "sleep(0)",
            "bounded send",
            "elapsed timeout",
        ] {
            let handles: Vec<_> = if kind == "join" {
                (0..1_000u32)
                    .map(|i| tern::spawn(async move { i }))
                    .collect()
            } else {
                Vec::new()
            };
            let mut set = tern::JoinSet::new();
            if kind == "join set" {
                for i in 0..1_000u32 {
                    set.spawn(async move { i });
                }
            }
            // The spawned tasks run before the probe starts.
            let probe = Probe::start().await;
            let mut handles = handles.into_iter();
            for i in 0..1_000u32 {
                match kind {
                    "mutex" => *mutex.lock().await += 1,
                    "semaphore" => drop(sem.acquire().await.unwrap()),
                    "oneshot" => {
                        let (tx, rx) = tern::sync::oneshot::channel();
                        tx.send(i).unwrap();
                        assert_eq!(rx.await.unwrap(), i);
                    }
                    "watch" => {
                        wtx.send(i).unwrap();
                        wrx.changed().await.unwrap();
                    }
                    "join" => assert_eq!(handles.next().unwrap().await.unwrap(), i),
                    "sleep(0)" => tern::time::sleep(Duration::ZERO).await,
                    "bounded send" => btx.send(i).await.unwrap(),
                    // The sleep that elapses spends, as a sleep(0) does.
                    "elapsed timeout" => {
                        assert!(tern::time::timeout(Duration::ZERO, pending::<()>())
                            .await
                            .is_err())
                    }
                    // Outputs in completion order, which is spawn order here.
                    _ => assert_eq!(set.join_next().await.unwrap().unwrap(), i),
                }
                probe.tick();
            }
            assert_eq!(probe.ticks_before_it_ran().await, Some(128), "{kind}");
        }
    });
}

/// A task made to yield for its budget lets the reactor turn before it
/// runs again (tokio defers such a task until its driver has been polled):
/// a socket whose datagram waits for the reactor to be seen is served
/// after one or two budgets of a busy task's operations. Before, the
/// reactor turned only after 61 polls, so the reader waited for 61
/// budgets (7,808 operations) of the busy loop.
#[test]
fn a_task_that_uses_up_its_budget_lets_the_reactor_turn() {
    tern::block_on(async {
        let sock = tern::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = sock.local_addr().unwrap();
        let ops = Rc::new(Cell::new(0u32));
        let seen_at = Rc::new(Cell::new(None));
        let reader = {
            let (ops, seen_at) = (ops.clone(), seen_at.clone());
            tern::spawn(async move {
                let mut buf = [0u8; 8];
                sock.recv_from(&mut buf).await.unwrap();
                seen_at.set(Some(ops.get()));
            })
        };
        // The reader waits on the socket; then a datagram comes from a
        // socket no runtime knows, so only the reactor can tell.
        tern::yield_now().await;
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"ping", addr).unwrap();
        while seen_at.get().is_none() && ops.get() < 100 * 128 {
            tern::cooperative(async {}).await;
            ops.set(ops.get() + 1);
        }
        reader.await.unwrap();
        let seen = seen_at.get().expect("the reader never saw its datagram");
        assert!(
            seen <= 2 * 128,
            "the reader saw its datagram after {seen} operations of the busy task"
        );
    });
}

/// A timeout whose future spends the whole budget on every poll (here a
/// receiver whose channel never runs dry) still elapses: the deadline is
/// looked at even though the future used up the budget, as in tokio
/// (tokio#4314). Were the sleep refused for the budget after each poll of
/// the future, it would never see its deadline and the future would run
/// to its end (forever, for a loop that does not end).
#[test]
fn timeout_elapses_when_its_future_spends_the_whole_budget() {
    tern::block_on(async {
        let (tx, mut rx) = tern::sync::mpsc::unbounded_channel::<u32>();
        let received = Rc::new(Cell::new(0u32));
        let busy = {
            let received = received.clone();
            async move {
                // Never runs dry: each receive sends the next message.
                tx.send(0).unwrap();
                while received.get() < 100 * 128 {
                    rx.recv().await.unwrap();
                    tx.send(0).unwrap();
                    received.set(received.get() + 1);
                }
            }
        };
        // The deadline is over already: the first look at it elapses.
        let res = tern::time::timeout_at(tern::time::now(), busy).await;
        assert!(
            res.is_err(),
            "never elapsed: the future ran to its end ({} receives)",
            received.get()
        );
        // One poll of the future: its budget, then the deadline.
        assert_eq!(received.get(), 128);
    });
}

/// `JoinSet::try_join_next` gives a finished task's output even when the
/// calling task has spent its budget: it never waits, so it has nothing to
/// yield for (tokio's runs unconstrained). Under the budget it said
/// "nothing finished" (`None`) after 128 operations of the caller.
#[test]
fn try_join_next_ignores_a_spent_budget() {
    tern::block_on(async {
        let mut set = tern::JoinSet::new();
        set.spawn(async { 7u32 });
        // The task finishes; the caller comes back with a fresh budget.
        tern::yield_now().await;
        assert_eq!(set.len(), 1);
        // Spend all of it (the 128th completes, so no yield comes).
        for _ in 0..128 {
            tern::cooperative(async {}).await;
        }
        assert_eq!(set.try_join_next().map(Result::unwrap), Some(7));
        assert!(set.is_empty());
    });
}

/// Connects that complete at once (a Unix listener with room in its
/// backlog: a Unix stream connect never waits for a handshake) spend the
/// budget like every other operation, so a loop of them lets another task
/// run after 128. Without it the loop held the runtime for all of them.
#[test]
fn unix_connects_that_complete_at_once_yield_after_the_budget() {
    tern::block_on(async {
        let name = format!("tern-budget-connect-{}", std::process::id());
        let listener = tern::net::UnixListener::bind_abstract(name.as_bytes()).unwrap();
        let probe = Probe::start().await;
        let mut conns = Vec::new();
        for _ in 0..300 {
            conns.push(
                tern::net::UnixStream::connect_abstract(name.as_bytes())
                    .await
                    .unwrap(),
            );
            probe.tick();
        }
        assert_eq!(probe.ticks_before_it_ran().await, Some(128));
        // Every connect reached the listener.
        for _ in 0..300 {
            listener.accept().await.unwrap();
        }
    });
}

/// The lock-free oneshot under races: a std thread sends (or drops the
/// sender) while the receiving task polls with changing wakers, closes or
/// drops the receiver. Every value is either received or handed back, and
/// nothing is dropped twice (AddressSanitizer watches this in CI).
#[test]
fn oneshot_races_lose_or_duplicate_nothing() {
    use std::sync::atomic::AtomicUsize;
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    struct Counted(u32);
    impl Counted {
        fn new(v: u32) -> Counted {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Counted(v)
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    tern::block_on(async {
        for i in 0..iterations(5_000) as u32 {
            let (tx, mut rx) = tern::sync::oneshot::channel::<Counted>();
            let sender = std::thread::spawn(move || {
                if i % 5 == 4 {
                    drop(tx);
                    None
                } else {
                    tx.send(Counted::new(i)).err().map(|c| c.0)
                }
            });
            let got = match i % 3 {
                0 => rx.await.ok().map(|c| c.0),
                1 => {
                    // Poll with two different wakers, then await.
                    let w = futures_task::noop_waker();
                    match Pin::new(&mut rx).poll(&mut Context::from_waker(&w)) {
                        Poll::Ready(r) => r.ok().map(|c| c.0),
                        Poll::Pending => rx.await.ok().map(|c| c.0),
                    }
                }
                _ => {
                    rx.close();
                    rx.try_recv().ok().map(|c| c.0)
                }
            };
            let handed_back = sender.join().unwrap();
            if i % 5 != 4 {
                assert!(
                    got.is_some() != handed_back.is_some(),
                    "round {i}: received {got:?}, handed back {handed_back:?}"
                );
            }
        }
    });
    assert_eq!(
        LIVE.load(Ordering::SeqCst),
        0,
        "values leaked or dropped twice"
    );
}
