//! Heap cost of tasks: what an idle task keeps allocated, and what a burst
//! of tasks leaves behind once it has run.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

#[path = "common/heap.rs"]
mod heap;

use heap::{start_counting, stop_counting};

const TASKS: usize = 10_000;

/// Yields until `done` reaches `n` (bounded), then checks that it did.
async fn yield_until(done: &Cell<usize>, n: usize) {
    for _ in 0..TASKS {
        if done.get() == n {
            break;
        }
        tern::yield_now().await;
    }
    assert_eq!(done.get(), n, "the tasks did not all run");
}

/// The benchmark `tasks` / `idle_heap`: 10,000 detached tasks that each
/// capture an `Rc`, run once and then wait forever; the net heap bytes per
/// task once all of them have run (the run queue has drained by then).
#[test]
fn an_idle_task_keeps_at_most_64_bytes() {
    let per_task = tern::block_on(async {
        let started = Rc::new(Cell::new(0usize));
        start_counting();
        for _ in 0..TASKS {
            let started = started.clone();
            drop(tern::spawn(async move {
                started.set(started.get() + 1);
                std::future::pending::<()>().await;
            }));
        }
        yield_until(&started, TASKS).await;
        let bytes = stop_counting();
        bytes as f64 / TASKS as f64
    });
    eprintln!("heap per idle task: {per_task} bytes");
    assert!(
        per_task <= 64.0,
        "an idle task costs {per_task} bytes of heap (at most 64 expected)"
    );
}

/// A burst of 10,000 tasks that complete gives back what it took: neither
/// the tasks nor the run queue's room for them stay allocated.
#[test]
fn a_drained_burst_leaves_no_run_queue_memory() {
    let left = tern::block_on(async {
        let done = Rc::new(Cell::new(0usize));
        start_counting();
        for _ in 0..TASKS {
            let done = done.clone();
            drop(tern::spawn(async move { done.set(done.get() + 1) }));
        }
        yield_until(&done, TASKS).await;
        // One more turn of the queue after the last task ran.
        tern::yield_now().await;
        stop_counting()
    });
    eprintln!("heap left after a drained burst: {left} bytes");
    // Today's queue alone would keep 16,384 slots of 8 bytes (128 KiB).
    assert!(
        left <= 4096,
        "{left} bytes still allocated after 10,000 tasks completed"
    );
}

/// 10,000 handles that each wait for their task keep their wakers aside
/// (not in every task) and give that room back once all are joined.
#[test]
fn joined_waiting_handles_leave_no_waker_memory() {
    let left = tern::block_on(async {
        let go = Rc::new(Cell::new(false));
        start_counting();
        let mut handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let go = go.clone();
                tern::spawn(async move {
                    while !go.get() {
                        tern::yield_now().await;
                    }
                    i
                })
            })
            .collect();
        // Every handle waits once, so every one leaves a waker.
        std::future::poll_fn(|cx| {
            for h in &mut handles {
                assert!(std::pin::Pin::new(h).poll(cx).is_pending());
            }
            std::task::Poll::Ready(())
        })
        .await;
        go.set(true);
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, TASKS * (TASKS - 1) / 2);
        tern::yield_now().await;
        stop_counting()
    });
    eprintln!("heap left after joining waiting handles: {left} bytes");
    assert!(
        left <= 4096,
        "{left} bytes still allocated after 10,000 waiting handles were joined"
    );
}
