//! The part of a runtime other threads can reach: the inject queue and the
//! eventfd that unparks the reactor.
//!
//! # Implementation
//!
//! Remote wake-ups are coalesced with two flags. `notify_pending` is set by
//! the first remote wake after the runtime last drained the inject queue;
//! only that wake considers writing the eventfd, and only if `parked` says
//! the runtime is (about to be) blocked in epoll. The runtime sets `parked`
//! before it re-checks `notify_pending` and blocks; a waker sets
//! `notify_pending` before it reads `parked`. Both are `SeqCst`, so at least
//! one side sees the other: either the waker writes the eventfd, or the
//! runtime does not block.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sys::eventfd::EventFd;
use crate::task::raw::{self, Header};

#[derive(Debug, Default)]
struct Inject {
    tasks: Vec<NonNull<Header>>,
    closed: bool,
}

/// State shared with wakers on other threads.
#[derive(Debug)]
pub(crate) struct Shared {
    inject: Mutex<Inject>,
    notify_pending: AtomicBool,
    parked: AtomicBool,
    main_woken: AtomicBool,
    wake_fd: EventFd,
    wake_writes: AtomicU64,
}

// SAFETY: the task pointers in the inject queue are counted references that
// other threads only hand over; they are dereferenced (polled) on the
// runtime thread alone, and a remote thread touches only the atomic state
// word (see task::raw). Everything else in Shared is Sync already.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    pub(crate) fn new() -> std::io::Result<Shared> {
        Ok(Shared {
            inject: Mutex::new(Inject::default()),
            notify_pending: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            wake_fd: EventFd::new()?,
            wake_writes: AtomicU64::new(0),
        })
    }

    pub(crate) fn wake_fd(&self) -> &EventFd {
        &self.wake_fd
    }

    /// Number of eventfd writes made by remote wake-ups.
    pub(crate) fn wake_writes(&self) -> u64 {
        self.wake_writes.load(Ordering::Relaxed)
    }

    /// Queues a task woken from outside the runtime (consumes a reference).
    pub(crate) fn push_remote(&self, task: NonNull<Header>) {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if inject.closed {
            drop(inject);
            // SAFETY: the reference given to us is released; the runtime is
            // gone, so nobody will run the task.
            unsafe { raw::drop_ref(task) };
            return;
        }
        inject.tasks.push(task);
        drop(inject);
        // The race tests build with `--cfg tern_widen_races` to make the
        // window between handing the task over and notifying wide enough
        // that a runtime shutting down meanwhile is caught every time.
        #[cfg(tern_widen_races)]
        std::thread::sleep(std::time::Duration::from_micros(20));
        self.notify();
    }

    /// Wakes the `block_on` future from outside the runtime.
    pub(crate) fn wake_main_remote(&self) {
        self.main_woken.store(true, Ordering::SeqCst);
        self.notify();
    }

    fn notify(&self) {
        if !self.notify_pending.swap(true, Ordering::SeqCst) && self.parked.load(Ordering::SeqCst) {
            self.wake_writes.fetch_add(1, Ordering::Relaxed);
            let _ = self.wake_fd.notify();
        }
    }

    /// Whether a remote wake-up is waiting to be drained.
    #[inline]
    pub(crate) fn has_remote(&self) -> bool {
        self.notify_pending.load(Ordering::Relaxed)
    }

    /// Marks the runtime as about to block; returns false if a remote
    /// wake-up arrived meanwhile (then it must not block).
    pub(crate) fn park_begin(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        !self.notify_pending.load(Ordering::SeqCst)
    }

    pub(crate) fn park_end(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Takes what remote wakers queued: tasks are appended to `out`; the
    /// result says whether the `block_on` future was woken.
    pub(crate) fn drain(&self, out: &mut Vec<NonNull<Header>>) -> bool {
        if !self.notify_pending.swap(false, Ordering::AcqRel) {
            return false;
        }
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut inject.tasks);
        drop(inject);
        self.main_woken.swap(false, Ordering::AcqRel)
    }

    /// Refuses further remote pushes and returns what is queued.
    pub(crate) fn close(&self) -> Vec<NonNull<Header>> {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        inject.closed = true;
        std::mem::take(&mut inject.tasks)
    }
}
