//! Runtimes release their fds, memory and tasks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Counts the bytes currently allocated by the whole process.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn open_fds() -> usize {
    tern::sys::socket::open_fd_count().unwrap()
}

/// fd and byte counts are per process; the tests here take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn ten_thousand_runtimes_leak_no_fds_and_no_memory() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up thread-locals and lazy statics.
    tern::block_on(async {});
    let before = open_fds();
    let bytes_before = LIVE.load(Ordering::Relaxed);
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
    let grown = LIVE.load(Ordering::Relaxed) - bytes_before;
    // Nothing per runtime survives it: 10,000 runtimes leaking even one
    // byte each would show here.
    assert!(grown < 4096, "{grown} bytes still allocated after 10,000 runtimes");
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
