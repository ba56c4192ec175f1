//! The task state word: a handful of flags and a reference count.
//!
//! Layout of the `AtomicUsize` in every task header:
//!
//! ```text
//!   bit 0  SCHEDULED  the task is in a run queue (or about to be pushed)
//!   bit 1  COMPLETE   the future is gone; the output (if any) is stored
//!   bit 2  HANDLE     a JoinHandle exists
//!   bit 3  CANCEL     abort() was called; the next run drops the future
//!   bit 4  AWAITED    the JoinHandle left a waker in the join-waker table
//!   bit 5  OUTPUT     the stage holds the output (COMPLETE, not yet taken)
//!   bits 6.. references: run-queue entry, live-task list, handle, wakers
//! ```
//!
//! COMPLETE and OUTPUT also say what the stage holds: the future while
//! COMPLETE is clear, the output while OUTPUT is set, nothing otherwise.
//!
//! Only wakers touch the state from other threads, and they only set
//! SCHEDULED and change the reference count; every other transition happens
//! on the runtime thread.

/// The task is queued to run.
pub(crate) const SCHEDULED: usize = 1 << 0;
/// The future has finished (or was cancelled) and was dropped.
pub(crate) const COMPLETE: usize = 1 << 1;
/// A [`JoinHandle`](super::JoinHandle) is alive.
pub(crate) const HANDLE: usize = 1 << 2;
/// Cancellation was requested.
pub(crate) const CANCEL: usize = 1 << 3;
/// The JoinHandle's waker is in the join-waker table (see `task::raw`).
pub(crate) const AWAITED: usize = 1 << 4;
/// The output is stored in the stage.
pub(crate) const OUTPUT: usize = 1 << 5;
/// One reference.
pub(crate) const REF_ONE: usize = 1 << 6;
/// The reference-count bits.
pub(crate) const REF_MASK: usize = !(REF_ONE - 1);
