//! JoinHandle: output, abort, panics, detach, awaiting from another task.

#[path = "common/drop_count.rs"]
mod drop_count;

use std::cell::Cell;
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use drop_count::DropCount;

#[tern::test]
async fn returns_output() {
    let h = tern::spawn(async { String::from("out") });
    assert_eq!(h.await.unwrap(), "out");
}

#[tern::test]
async fn abort_before_first_poll_drops_future_once() {
    let drops = Rc::new(Cell::new(0));
    let g = DropCount(drops.clone());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = tern::spawn(async move {
        let _g = g;
        r.set(true);
    });
    h.abort();
    let err = h.await.unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic());
    assert!(!ran.get(), "an aborted task must not run");
    assert_eq!(drops.get(), 1);
}

#[tern::test]
async fn abort_while_pending_drops_future_once() {
    let drops = Rc::new(Cell::new(0));
    let g = DropCount(drops.clone());
    let h = tern::spawn(async move {
        let _g = g;
        pending::<()>().await;
    });
    tern::yield_now().await; // let it start and park
    assert_eq!(drops.get(), 0);
    assert!(!h.is_finished());
    h.abort();
    h.abort(); // twice is harmless
    let err = h.await.unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(drops.get(), 1);
    assert_eq!(tern::current_metrics().unwrap().tasks, 0);
}

#[tern::test]
async fn abort_after_completion_keeps_output() {
    let h = tern::spawn(async { 3 });
    tern::yield_now().await;
    assert!(h.is_finished());
    h.abort();
    assert_eq!(h.await.unwrap(), 3);
}

#[tern::test]
async fn panic_is_caught_and_reported() {
    let h = tern::spawn(async {
        panic!("task exploded");
    });
    let err = h.await.unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("task exploded"), "{err}");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"task exploded"));
    // The runtime keeps working.
    assert_eq!(tern::spawn(async { 1 }).await.unwrap(), 1);
}

#[tern::test]
async fn detached_task_keeps_running() {
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    drop(tern::spawn(async move {
        tern::time::sleep(Duration::from_millis(1)).await;
        d.set(true);
    }));
    while !done.get() {
        tern::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tern::test]
async fn detached_output_is_dropped() {
    let drops = Rc::new(Cell::new(0));
    let g = DropCount(drops.clone());
    let h = tern::spawn(async move { g });
    drop(h);
    tern::yield_now().await;
    assert_eq!(drops.get(), 1);
}

#[tern::test]
async fn handle_awaited_from_another_task() {
    let inner = tern::spawn(async {
        tern::time::sleep(Duration::from_millis(1)).await;
        21
    });
    let outer = tern::spawn(async move { inner.await.unwrap() * 2 });
    assert_eq!(outer.await.unwrap(), 42);
}

#[tern::test]
async fn join_error_display_and_debug() {
    let h = tern::spawn(pending::<()>());
    h.abort();
    let e = h.await.unwrap_err();
    assert_eq!(e.to_string(), "task was cancelled");
    assert_eq!(format!("{e:?}"), "JoinError::Cancelled");
    let e: std::io::Error = e.into();
    assert!(e.to_string().contains("cancelled"));
}

#[tern::test]
async fn many_tasks_complete() {
    let hs: Vec<_> = (0..10_000u64)
        .map(|i| tern::spawn(async move { i }))
        .collect();
    let mut sum = 0;
    for h in hs {
        sum += h.await.unwrap();
    }
    assert_eq!(sum, (0..10_000).sum::<u64>());
    assert_eq!(tern::current_metrics().unwrap().tasks, 0);
}
