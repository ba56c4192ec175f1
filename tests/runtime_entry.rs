//! Runtime entry points: a refused nested `block_on` leaves the outer
//! runtime alone.

use std::cell::RefCell;

thread_local! {
    static SHUTDOWNS: RefCell<Vec<Option<u64>>> = const { RefCell::new(Vec::new()) };
}

fn record_shutdown() {
    SHUTDOWNS.with(|s| s.borrow_mut().push(tern::current_runtime_id()));
}

/// A nested `block_on` panics; if that panic is caught, the refused inner
/// runtime must not run the thread's shutdown hooks while the outer runtime
/// is current (they would take it for the outer one shutting down and drop
/// its per-runtime caches, such as the DNS resolver's sockets).
#[test]
fn refused_nested_block_on_runs_no_shutdown_hook_for_the_outer_runtime() {
    let outer = tern::block_on(async {
        tern::on_shutdown(record_shutdown);
        let nested = std::panic::catch_unwind(|| tern::block_on(async {}));
        assert!(nested.is_err(), "a nested block_on panics");
        let rt = tern::Runtime::new().unwrap();
        let nested =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(async {})));
        assert!(nested.is_err(), "a nested Runtime::block_on panics");
        drop(rt);
        assert_eq!(
            SHUTDOWNS.with(|s| s.take()),
            [],
            "no runtime shut down: the outer one is still running"
        );
        // The outer runtime still works.
        tern::spawn(async { 7 }).await.unwrap();
        tern::current_runtime_id()
    });
    assert_eq!(SHUTDOWNS.with(|s| s.take()), [outer]);
}
