//! tern::join! and tern::select!: outputs, concurrency, branch order,
//! losers dropped before the handler, patterns that disable a branch,
//! preconditions, `else`, and control flow in handlers.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use tern::sync::{mpsc, oneshot};

struct DropCount(Rc<Cell<u32>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A future that records its name in `log` each time it is polled, and is
/// ready with `value` on its `ready_on`-th poll (never if 0).
fn traced<T: Clone>(
    log: &Rc<RefCell<Vec<&'static str>>>,
    name: &'static str,
    ready_on: u32,
    value: T,
) -> impl Future<Output = T> {
    let log = log.clone();
    let mut polls = 0;
    poll_fn(move |cx| {
        log.borrow_mut().push(name);
        polls += 1;
        if polls == ready_on {
            Poll::Ready(value.clone())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

// ===== join! =====

#[tern::test]
async fn join_returns_outputs_in_order() {
    let (a, b, c) = tern::join!(async { 1 }, async { "b" }, async { 3.0 });
    assert_eq!((a, b, c), (1, "b", 3.0));
    let (one,) = tern::join!(async { 'x' });
    assert_eq!(one, 'x');
    let () = tern::join!();
}

#[tern::test]
async fn join_runs_futures_concurrently() {
    // Each waits for the other: run one after the other, this would hang.
    let (tx1, rx1) = oneshot::channel();
    let (tx2, rx2) = oneshot::channel();
    let (a, b) = tern::join!(
        async move {
            tx1.send(1).unwrap();
            rx2.await.unwrap()
        },
        async move {
            let v = rx1.await.unwrap();
            tx2.send(v + 1).unwrap();
            v
        },
    );
    assert_eq!((a, b), (2, 1));
}

#[tern::test]
async fn join_polls_each_unfinished_future_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let out = tern::join!(traced(&log, "a", 1, 'a'), traced(&log, "b", 2, 'b'));
    assert_eq!(out, ('a', 'b'));
    assert_eq!(
        *log.borrow(),
        ["a", "b", "b"],
        "a finished first and is not polled again"
    );
}

/// A future that always has work spends the task's whole cooperative
/// budget each time it is polled; if it were always polled first, those
/// after it would only ever see an empty budget and make no progress until
/// it finished (tokio issue #4612, fixed there by rotating too).
#[tern::test]
async fn join_does_not_let_an_always_ready_future_starve_the_others() {
    const BACKLOG: u32 = 10_000;
    let (tx_busy, mut busy) = mpsc::unbounded_channel::<u32>();
    for i in 0..BACKLOG {
        tx_busy.send(i).unwrap();
    }
    drop(tx_busy);
    let (tx_one, mut one) = mpsc::unbounded_channel::<u32>();
    tx_one.send(1).unwrap();
    let drained = Cell::new(0);
    let (_, drained_when_other_done) = tern::join!(
        async {
            while busy.recv().await.is_some() {
                drained.set(drained.get() + 1);
            }
        },
        async {
            one.recv().await.unwrap();
            drained.get()
        },
    );
    assert_eq!(drained.get(), BACKLOG);
    assert!(
        drained_when_other_done < BACKLOG,
        "the second future's message was ready from the start, yet it got it only \
         after the first had drained its whole backlog"
    );
}

// ===== select! =====

#[tern::test]
async fn select_polls_branches_in_the_order_written() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let v = tern::select! {
        v = traced(&log, "a", 2, 1) => v,
        v = traced(&log, "b", 2, 2) => v,
        v = traced(&log, "c", 1, 3) => v,
    };
    assert_eq!(v, 3);
    assert_eq!(*log.borrow(), ["a", "b", "c"]);

    log.borrow_mut().clear();
    let v = tern::select! {
        v = traced(&log, "a", 1, 1) => v,
        v = traced(&log, "b", 1, 2) => v,
    };
    assert_eq!(v, 1, "both ready: the first written wins");
    assert_eq!(*log.borrow(), ["a"]);

    let v = tern::select! {
        biased;
        v = async { 1 } => v,
        v = async { 2 } => v,
    };
    assert_eq!(v, 1);
}

#[tern::test]
async fn select_drops_losers_before_the_handler() {
    let drops = Rc::new(Cell::new(0));
    let g = DropCount(drops.clone());
    let d = drops.clone();
    tern::select! {
        _ = async move {
            let _g = g;
            pending::<()>().await
        } => unreachable!(),
        _ = async {} => assert_eq!(d.get(), 1, "the loser is gone when the handler runs"),
    }
    assert_eq!(drops.get(), 1);
}

#[tern::test]
async fn select_failed_pattern_disables_the_branch() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let v = tern::select! {
        Some(v) = traced(&log, "none", 1, None::<u32>) => v,
        v = traced(&log, "late", 3, 7) => v,
    };
    assert_eq!(v, 7);
    assert_eq!(
        *log.borrow(),
        ["none", "late", "late", "late"],
        "a branch whose pattern failed is not polled again"
    );
}

#[tern::test]
async fn select_else_runs_when_every_pattern_fails() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    drop(tx);
    let r: Result<u8, ()> = Err(());
    let v = tern::select! {
        Some(v) = rx.recv() => v,
        Ok(v) = async { r } => v,
        else => 99,
    };
    assert_eq!(v, 99);
}

#[tern::test]
#[should_panic(expected = "every branch is disabled")]
async fn select_without_else_panics_when_every_branch_is_disabled() {
    let _: u8 = tern::select! {
        Some(v) = async { None } => v,
    };
}

#[tern::test]
async fn select_false_precondition_never_polls_the_future() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let enabled = false;
    let v = tern::select! {
        v = traced(&log, "off", 1, 1), if enabled => v,
        v = traced(&log, "on", 2, 2), if !enabled => v,
    };
    assert_eq!(v, 2);
    assert_eq!(*log.borrow(), ["on", "on"]);
    let v = tern::select! {
        v = async { 1 }, if false => v,
        else => 0,
    };
    assert_eq!(v, 0);
}

/// tokio evaluates every precondition before creating any future, so a
/// condition may read what the branch's future borrows mutably (tokio's
/// `&mut sleep, if !sleep.is_elapsed()` idiom). Evaluated alongside the
/// futures, this does not compile (E0502).
#[tern::test(start_paused = true)]
async fn select_conditions_may_read_what_the_futures_borrow() {
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    tx.send(1).unwrap();
    let mut sleep = tern::time::sleep(Duration::from_secs(5));
    let mut log = Vec::new();
    loop {
        tern::select! {
            Some(v) = rx.recv(), if !rx.is_empty() => log.push(v),
            () = &mut sleep, if !sleep.is_elapsed() => {
                log.push(0);
                tx.send(2).unwrap();
            }
            else => break,
        }
    }
    assert_eq!(log, [1, 0, 2]);
}

#[tern::test]
async fn select_handlers_await_and_control_the_loop() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 1..=3 {
        tx.send(i).unwrap();
    }
    drop(tx);
    let mut sum = 0;
    let mut timer = tern::time::sleep(Duration::from_secs(30));
    loop {
        tern::select! {
            Some(v) = rx.recv() => {
                // The handler may borrow what the futures borrowed, and await.
                assert!(rx.len() <= 2);
                tern::yield_now().await;
                sum += v;
                if v == 2 { continue }
            }
            _ = &mut timer, if sum < 6 => panic!("timer fired"),
            else => break,
        }
    }
    assert_eq!(sum, 6);
}

#[tern::test]
async fn select_returns_from_the_enclosing_fn() {
    async fn first_even(mut rx: mpsc::Receiver<u32>) -> Option<u32> {
        loop {
            tern::select! {
                Some(v) = rx.recv() => if v % 2 == 0 { return Some(v) },
                else => return None,
            }
        }
    }
    let (tx, rx) = mpsc::channel(4);
    for v in [1, 3, 4, 5] {
        tx.send(v).await.unwrap();
    }
    drop(tx);
    assert_eq!(first_even(rx).await, Some(4));
}

#[tern::test]
async fn select_with_a_timeout_loses_no_message() {
    let (tx, mut rx) = mpsc::channel(8);
    let producer = tern::spawn(async move {
        for i in 0..50u32 {
            tx.send(i).await.unwrap();
            if i % 7 == 0 {
                tern::time::sleep(Duration::from_micros(300)).await;
            }
        }
    });
    let mut got = Vec::new();
    let mut timeouts = 0;
    while got.len() < 50 {
        tern::select! {
            Some(v) = rx.recv() => got.push(v),
            _ = tern::time::sleep(Duration::from_micros(100)) => timeouts += 1,
        }
    }
    producer.await.unwrap();
    assert_eq!(
        got,
        (0..50).collect::<Vec<_>>(),
        "cancelled recv() loses nothing"
    );
    let _ = timeouts;
}
