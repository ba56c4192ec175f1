//! Runtimes release their fds, memory and tasks.

#[path = "common/heap.rs"]
mod heap;

use std::time::Duration;

fn open_fds() -> usize {
    tern::sys::process::open_fd_count().unwrap()
}

/// fd and byte counts are per process; the tests here take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn ten_thousand_runtimes_leak_no_fds_and_no_memory() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up thread-locals and lazy statics.
    tern::block_on(async {});
    let before = open_fds();
    let grown = heap::net_heap_bytes(|| {
        for i in 0..10_000u32 {
            let v = tern::block_on(async move {
                let h = tern::spawn(async move { i });
                tern::time::sleep(Duration::ZERO).await;
                let _never = tern::spawn(std::future::pending::<()>());
                h.await.unwrap()
            });
            assert_eq!(v, i);
        }
    });
    assert_eq!(open_fds(), before);
    // Nothing per runtime survives it: 10,000 runtimes leaking even one
    // byte each would show here.
    assert!(
        grown < 4096,
        "{grown} bytes still allocated after 10,000 runtimes"
    );
}

#[test]
fn dropping_runtime_drops_spawned_tasks() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tern::Runtime::new().unwrap();
    let flag = std::rc::Rc::new(());
    let f = flag.clone();
    let _h = rt.spawn(async move {
        let _f = f;
        std::future::pending::<()>().await
    });
    assert_eq!(std::rc::Rc::strong_count(&flag), 2);
    drop(rt);
    assert_eq!(std::rc::Rc::strong_count(&flag), 1);
}

/// A task freed on its runtime's thread gives the runtime's count back to
/// the core, and the next spawn takes it. When that second task then
/// outlives its runtime in a waker held by another thread, the runtime's
/// remote half (and its eventfd) must stay until that waker goes, and go
/// then: a spare count taken twice or released twice closes the eventfd
/// under the waker, one never released keeps it open.
#[test]
fn a_reused_runtime_count_lives_on_in_a_remote_waker_after_the_runtime() {
    use std::sync::mpsc;
    use std::task::{Poll, Waker};
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    tern::block_on(async {});
    let before = open_fds();
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let remote = std::thread::spawn(move || {
        let waker = waker_rx.recv().unwrap();
        go_rx.recv().unwrap();
        // The task is complete: this drops the last reference here.
        waker.wake();
    });
    let rt = tern::Runtime::new().unwrap();
    rt.block_on(async move {
        // Freed on the runtime thread (its handle goes last): a spare count.
        tern::spawn(async {}).await.unwrap();
        // Takes the spare, and hands a waker to the other thread.
        drop(tern::spawn(std::future::poll_fn(move |cx| {
            let _ = waker_tx.send(cx.waker().clone());
            Poll::<()>::Pending
        })));
        tern::yield_now().await;
    });
    drop(rt);
    assert_eq!(
        open_fds(),
        before + 1,
        "the eventfd lives as long as the remote waker"
    );
    go_tx.send(()).unwrap();
    remote.join().unwrap();
    assert_eq!(open_fds(), before, "the waker released the runtime");
}

/// A runtime dropped inside another's `block_on` frees its tasks with the
/// other one current: each task's count goes back to its own runtime, not
/// to the spares of the current one.
#[test]
fn tasks_of_a_runtime_dropped_inside_another_release_their_own() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    tern::block_on(async {});
    let before = open_fds();
    let outer = tern::Runtime::new().unwrap();
    outer.block_on(async {
        // One task of the current runtime freed here: a spare of its own.
        tern::spawn(async {}).await.unwrap();
        let inner = tern::Runtime::new().unwrap();
        for _ in 0..3 {
            drop(inner.spawn(async {}));
        }
        drop(inner);
    });
    drop(outer);
    assert_eq!(open_fds(), before, "both runtimes closed their fds");
}
