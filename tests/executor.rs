//! Executor behaviour: poll order traces, fairness, the reactor budget,
//! block_on semantics.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use tern::io::{Direction, IoSource};

type Trace = Rc<RefCell<Vec<&'static str>>>;

fn trace() -> Trace {
    Rc::new(RefCell::new(Vec::new()))
}

#[test]
fn spawned_tasks_run_in_fifo_order() {
    let t = trace();
    let got = tern::block_on({
        let t = t.clone();
        async move {
            let names = ["a", "b", "c", "d", "e"];
            let handles: Vec<_> = names
                .iter()
                .map(|&n| {
                    let t = t.clone();
                    tern::spawn(async move { t.borrow_mut().push(n) })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            t.borrow().clone()
        }
    });
    assert_eq!(got, ["a", "b", "c", "d", "e"]);
}

#[test]
fn yield_now_runs_every_other_ready_task_first() {
    let t = trace();
    tern::block_on({
        let t = t.clone();
        async move {
            let mut hs = Vec::new();
            for n in ["a", "b", "c"] {
                let t = t.clone();
                hs.push(tern::spawn(async move {
                    for _ in 0..3 {
                        t.borrow_mut().push(n);
                        tern::yield_now().await;
                    }
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
        }
    });
    assert_eq!(*t.borrow(), ["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
}

#[test]
fn block_on_future_takes_its_turn_behind_ready_tasks() {
    let t = trace();
    tern::block_on({
        let t = t.clone();
        async move {
            let t2 = t.clone();
            let _h = tern::spawn(async move { t2.borrow_mut().push("task") });
            t.borrow_mut().push("main before yield");
            tern::yield_now().await;
            t.borrow_mut().push("main after yield");
        }
    });
    assert_eq!(
        *t.borrow(),
        ["main before yield", "task", "main after yield"]
    );
}

fn readable_pair() -> (IoSource, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (IoSource::new(OwnedFd::from(a)).unwrap(), b)
}

/// A task that yields forever until `stop` is set, counting its polls.
fn busy(count: Rc<Cell<u64>>, stop: Rc<Cell<bool>>) -> tern::JoinHandle<()> {
    tern::spawn(async move {
        while !stop.get() && count.get() < 50_000_000 {
            count.set(count.get() + 1);
            tern::yield_now().await;
        }
    })
}

#[test]
fn busy_task_cannot_starve_a_ready_fd_and_reactor_runs_every_61_polls() {
    tern::block_on(async {
        let (src, mut peer) = readable_pair();
        std::io::Write::write_all(&mut peer, b"x").unwrap();
        let count = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let seen_at = Rc::new(Cell::new(None));
        let reader = tern::spawn({
            let (count, stop, seen_at) = (count.clone(), stop.clone(), seen_at.clone());
            async move {
                src.ready(Direction::Read).await.unwrap();
                seen_at.set(Some(count.get()));
                stop.set(true);
            }
        });
        let b = busy(count.clone(), stop.clone());
        reader.await.unwrap();
        b.await.unwrap();
        // The reader is polled once (pending), then the busy task runs until
        // the budget of 61 polls ends and the reactor reports the fd.
        let at = seen_at.get().expect("reader never saw the fd");
        assert!(at <= 61, "fd was reported after {at} busy polls");
    });
}

#[test]
fn busy_task_cannot_starve_a_timer() {
    tern::block_on(async {
        let count = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let b = busy(count.clone(), stop.clone());
        tern::time::sleep(Duration::from_millis(2)).await;
        let at = count.get();
        stop.set(true);
        b.await.unwrap();
        assert!(
            at > 0 && at < 50_000_000,
            "timer fired after {at} busy polls"
        );
    });
}

#[test]
fn reactor_turns_at_least_every_61_polls() {
    let rt = tern::Runtime::new().unwrap();
    rt.block_on(async {
        // Keep one fd registered so that each turn is a real epoll wait.
        let (_src, _peer) = readable_pair();
        let before = tern::current_metrics().unwrap();
        for _ in 0..6100 {
            tern::yield_now().await;
        }
        let after = tern::current_metrics().unwrap();
        let polls = after.polls - before.polls;
        let turns = after.reactor_turns - before.reactor_turns;
        assert!(polls >= 6100);
        assert!(
            turns >= polls / 61,
            "{turns} reactor turns for {polls} polls"
        );
    });
}

#[test]
fn pending_tasks_are_dropped_when_block_on_returns() {
    struct Guard(Rc<Cell<u32>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let handle = tern::block_on(async move {
        let g = Guard(d);
        let h = tern::spawn(async move {
            let _g = g;
            pending::<()>().await
        });
        Some(h)
    })
    .unwrap();
    assert_eq!(drops.get(), 1, "the pending task's future must be dropped");
    assert!(handle.is_finished());
    let rt = tern::Runtime::new().unwrap();
    let err = rt.block_on(handle).unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
#[should_panic(expected = "inside a running tern runtime")]
fn nested_block_on_panics() {
    tern::block_on(async {
        tern::block_on(async {});
    });
}

#[test]
#[should_panic(expected = "outside a tern runtime")]
fn spawn_outside_runtime_panics() {
    drop(tern::spawn(async {}));
}

#[test]
#[should_panic(expected = "boom in block_on")]
fn panic_in_block_on_future_propagates() {
    tern::block_on(async { panic!("boom in block_on") });
}

#[test]
fn runtime_is_reusable_after_a_panic() {
    let rt = tern::Runtime::new().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let _h = tern::spawn(pending::<()>());
            panic!("first")
        })
    }));
    assert!(r.is_err());
    assert_eq!(rt.metrics().tasks, 0);
    assert_eq!(
        rt.block_on(async { tern::spawn(async { 7 }).await.unwrap() }),
        7
    );
}

#[test]
fn runtime_spawn_before_block_on_runs_in_it() {
    let rt = tern::Runtime::new().unwrap();
    let h = rt.spawn(async { 5 });
    assert!(!h.is_finished());
    assert_eq!(rt.block_on(h).unwrap(), 5);
}

#[test]
fn block_on_polls_its_future_only_when_woken() {
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    tern::block_on(async move {
        let h = tern::spawn(async {
            for _ in 0..100 {
                tern::yield_now().await;
            }
        });
        let mut h = Some(h);
        poll_fn(|cx| {
            p.set(p.get() + 1);
            match std::pin::Pin::new(h.as_mut().unwrap()).poll(cx) {
                Poll::Ready(r) => {
                    r.unwrap();
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
    });
    // Once before the task ran, once when it completed.
    assert_eq!(polls.get(), 2);
}

// ===== event traces, in embassy's style =====

type Events = Rc<RefCell<Vec<String>>>;

/// Wraps a future so that its polls and completion are logged as
/// `poll NAME` and `done NAME`.
struct Traced<F> {
    name: &'static str,
    log: Events,
    fut: std::pin::Pin<Box<F>>,
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<F::Output> {
        self.log.borrow_mut().push(format!("poll {}", self.name));
        let r = self.fut.as_mut().poll(cx);
        if r.is_ready() {
            self.log.borrow_mut().push(format!("done {}", self.name));
        }
        r
    }
}

fn spawn_traced<F>(log: &Events, name: &'static str, fut: F) -> tern::JoinHandle<F::Output>
where
    F: Future + 'static,
{
    log.borrow_mut().push(format!("spawn {name}"));
    tern::spawn(Traced {
        name,
        log: log.clone(),
        fut: Box::pin(fut),
    })
}

fn events(log: &Events) -> Vec<String> {
    log.borrow().clone()
}

#[test]
fn trace_of_yield() {
    let log = Events::default();
    tern::block_on({
        let log = log.clone();
        async move {
            let a = spawn_traced(&log, "a", async { tern::yield_now().await });
            let b = spawn_traced(&log, "b", async {});
            a.await.unwrap();
            b.await.unwrap();
        }
    });
    assert_eq!(
        events(&log),
        ["spawn a", "spawn b", "poll a", "poll b", "done b", "poll a", "done a"]
    );
}

#[test]
fn trace_of_wake_by_ref_inside_poll() {
    let log = Events::default();
    tern::block_on({
        let log = log.clone();
        async move {
            let polls = Rc::new(Cell::new(0));
            let inner_log = log.clone();
            let a = spawn_traced(
                &log,
                "a",
                poll_fn(move |cx| {
                    polls.set(polls.get() + 1);
                    if polls.get() == 1 {
                        inner_log.borrow_mut().push("wake a".into());
                        // Twice: the second finds the task already queued.
                        cx.waker().wake_by_ref();
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    Poll::Ready(())
                }),
            );
            let b = spawn_traced(&log, "b", async {});
            a.await.unwrap();
            b.await.unwrap();
        }
    });
    // The woken task goes to the back of the queue, once.
    assert_eq!(
        events(&log),
        ["spawn a", "spawn b", "poll a", "wake a", "poll b", "done b", "poll a", "done a"]
    );
}

#[test]
fn trace_of_abort() {
    let log = Events::default();
    tern::block_on({
        let log = log.clone();
        async move {
            let a = spawn_traced(&log, "a", pending::<()>());
            let b = spawn_traced(&log, "b", async {});
            tern::yield_now().await;
            a.abort();
            log.borrow_mut().push("abort a".into());
            assert!(a.await.unwrap_err().is_cancelled());
            log.borrow_mut().push("joined a".into());
            b.await.unwrap();
        }
    });
    // An aborted task is not polled again: its future is dropped.
    assert_eq!(
        events(&log),
        ["spawn a", "spawn b", "poll a", "poll b", "done b", "abort a", "joined a"]
    );
}

#[test]
fn trace_of_the_budget() {
    let log = Events::default();
    tern::block_on({
        let log = log.clone();
        async move {
            let (s, peer) = UnixStream::pair().unwrap();
            s.set_nonblocking(true).unwrap();
            let src = Rc::new(IoSource::new(OwnedFd::from(s)).unwrap());
            // Make the source readable and keep it so: 300 ready reads.
            use std::io::Write;
            (&peer).write_all(&[0u8; 300]).unwrap();
            src.ready(Direction::Read).await.unwrap();
            let reads = Rc::new(Cell::new(0u32));
            let a = {
                let (src, reads, log2) = (src.clone(), reads.clone(), log.clone());
                spawn_traced(&log, "a", async move {
                    for _ in 0..200 {
                        src.io(Direction::Read, |fd| {
                            let mut b = [0u8; 1];
                            tern::sys::socket::recv(fd, &mut b)
                        })
                        .await
                        .unwrap();
                        reads.set(reads.get() + 1);
                        if reads.get() % 128 == 0 {
                            log2.borrow_mut().push(format!("{} reads", reads.get()));
                        }
                    }
                })
            };
            let b = spawn_traced(&log, "b", async {});
            a.await.unwrap();
            b.await.unwrap();
            drop(peer);
        }
    });
    // 128 reads, then the budget makes `a` yield and `b` runs.
    assert_eq!(
        events(&log),
        [
            "spawn a",
            "spawn b",
            "poll a",
            "128 reads",
            "poll b",
            "done b",
            "poll a",
            "done a"
        ]
    );
}

#[test]
fn shutdown_hooks_run_once_per_runtime_with_it_current() {
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<Option<u64>>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    fn hook() {
        SEEN.with(|s| s.borrow_mut().push(tern::current_runtime_id()));
    }
    fn panicking() {
        panic!("a hook that panics");
    }
    let first = tern::block_on(async {
        tern::on_shutdown(panicking);
        tern::on_shutdown(hook);
        tern::on_shutdown(hook);
        tern::current_runtime_id()
    });
    assert!(first.is_some());
    assert_eq!(
        SEEN.with(|s| s.take()),
        [first],
        "once, with its runtime current"
    );
    // Registered for the thread: the next runtime runs it too.
    let second = tern::block_on(async { tern::current_runtime_id() });
    assert_ne!(first, second);
    assert_eq!(SEEN.with(|s| s.take()), [second]);
}

/// A source made with `new_write_on_demand` asks epoll for writability
/// when its writability is cleared by hand: a task that then waits for it
/// is woken (here at once: the socket has room).
#[test]
fn write_on_demand_source_waits_for_writability_after_clear_ready() {
    tern::block_on(async {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let src = IoSource::new_write_on_demand(OwnedFd::from(sock)).unwrap();
        assert!(src.is_ready(Direction::Write), "assumed writable at first");
        src.clear_ready(Direction::Write);
        assert!(!src.is_ready(Direction::Write));
        tern::time::timeout(Duration::from_secs(10), src.ready(Direction::Write))
            .await
            .expect("writability edge never came")
            .unwrap();
        assert!(src.is_ready(Direction::Write));
    });
}

/// `others_ready` says whether a task yielding now would let others run
/// first: false outside a runtime and for a task alone, true while another
/// task is queued, and false again once that one has run.
#[test]
fn others_ready_tells_whether_other_tasks_are_queued() {
    assert!(!tern::others_ready(), "outside a runtime");
    tern::block_on(async {
        assert!(!tern::others_ready(), "the main task alone");
        let alone = tern::spawn(async { tern::others_ready() });
        assert!(tern::others_ready(), "the spawned task is queued");
        assert!(!alone.await.unwrap(), "it ran with nobody else queued");
        assert!(!tern::others_ready(), "nobody queued any more");
        let first = tern::spawn(async { tern::others_ready() });
        let second = tern::spawn(async { tern::others_ready() });
        // Waiting on the second: nothing wakes this task before it ends.
        assert!(!second.await.unwrap(), "the second ran last");
        assert!(
            first.await.unwrap(),
            "the second was queued behind the first"
        );
    });
}
