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
