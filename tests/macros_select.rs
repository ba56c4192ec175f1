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
