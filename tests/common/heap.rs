//! A global allocator that counts the net heap bytes of one thread while
//! switched on: [`net_heap_bytes`]. Not a module of `common`: a test that
//! wants the allocator includes this file by `#[path]`.

use std::cell::Cell;

#[macro_use]
#[path = "forwarding_alloc.rs"]
mod forwarding_alloc;

/// The system allocator, counting net bytes per thread while switched on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static NET: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = NET.try_with(|n| n.set(n.get() + delta));
    }
}

forwarding_allocator!(Counting, note);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Net heap bytes this thread allocated while `f` ran.
#[allow(dead_code)]
pub fn net_heap_bytes(f: impl FnOnce()) -> isize {
    start_counting();
    f();
    stop_counting()
}

/// Starts counting this thread's net heap bytes from zero (for a count
/// that spans awaits, where a closure cannot).
pub fn start_counting() {
    NET.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
}

/// Stops counting and returns the net bytes since [`start_counting`].
pub fn stop_counting() -> isize {
    COUNTING.with(|c| c.set(false));
    NET.with(Cell::get)
}
