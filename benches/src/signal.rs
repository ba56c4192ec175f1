//! Tiny hand-written wake-up channels, so the same code runs on every
//! runtime: a local one (`Cell` flag + waker) for ping-pong between tasks,
//! and a thread-safe one for wakes from a std thread.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};

/// A one-bit local channel: `notify` sets the flag and wakes the waiter.
#[derive(Default)]
pub struct LocalFlag {
    set: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl std::fmt::Debug for LocalFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFlag")
            .field("set", &self.set.get())
            .finish()
    }
}

impl LocalFlag {
    /// Sets the flag and wakes the task waiting on it, if any.
    pub fn notify(&self) {
        self.set.set(true);
        let w = self.waker.take();
        if let Some(w) = &w {
            w.wake_by_ref();
        }
        self.waker.set(w);
    }

    /// Waits until the flag is set, then clears it.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.set.replace(false) {
                return Poll::Ready(());
            }
            let w = self.waker.take();
            match w {
                Some(w) if w.will_wake(cx.waker()) => self.waker.set(Some(w)),
                _ => self.waker.set(Some(cx.waker().clone())),
            }
            Poll::Pending
        })
    }
}

/// A one-bit channel that may be notified from any thread.
#[derive(Debug, Default)]
pub struct RemoteFlag {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl RemoteFlag {
    /// Sets the flag and wakes the waiting task, if any.
    pub fn notify(&self) {
        self.set.store(true, Ordering::Release);
        let w = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Waits until the flag is set, then clears it.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.set.swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            if self.set.swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }
}
