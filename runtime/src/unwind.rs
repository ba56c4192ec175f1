//! Panics that must not escape the runtime: a waker that panics, a
//! destructor that panics, a panic payload whose own `Drop` panics.
//!
//! The runtime's bookkeeping (run queue, task states, the blocking pool's
//! thread count) must stay consistent whatever user code does, so every
//! call into user code that is not the `block_on` future itself goes
//! through [`catch`]. The panic hook has already reported the panic by the
//! time it is caught here.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Waker;

/// Runs `f`, catching a panic; the payload is dropped (see [`drop_payload`]).
#[inline]
pub(crate) fn catch(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// Drops a panic payload; if its destructor panics in turn, that second
/// payload is leaked rather than dropped, so nothing unwinds from here.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Wakes `waker`; a panic in it is caught.
#[inline]
pub(crate) fn wake(waker: Waker) {
    catch(move || waker.wake());
}
