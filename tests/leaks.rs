//! Runtimes release their fds, memory and tasks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

/// Counts, per thread, the bytes allocated minus the bytes freed, so the
/// test harness's own allocations on other threads do not count.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add_live(delta: isize) {
    // try_with: the allocator may run while thread-locals are torn down.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add_live(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add_live(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let bytes_before = live();
    for i in 0..10_000u32 {
        let v = tern::block_on(async move {
            let h = tern::spawn(async move { i });
            tern::time::sleep(Duration::ZERO).await;
            let _never = tern::spawn(std::future::pending::<()>());
            h.await.unwrap()
        });
        assert_eq!(v, i);
    }
    assert_eq!(open_fds(), before);
    let grown = live() - bytes_before;
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
