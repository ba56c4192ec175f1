//! A one-shot channel: one value, sent once, from a [`Sender`] to a
//! [`Receiver`] that is itself the future of that value.
//!
//! Dropping the sender unsent makes the receiver finish with
//! [`RecvError`]; dropping the receiver makes [`Sender::send`] give the
//! value back. Both halves are `Send` when `T: Send`, so a value can come
//! from a std thread or a `spawn_blocking` job.
//!
//! # Implementation
//!
//! One allocation holds a state word and two cells, the value and the
//! receiver's waker, as tokio's oneshot does; there is no lock. The state
//! bits say who may touch which cell:
//!
//! - the sender writes the value before it sets `VALUE_SENT` (a
//!   compare-and-swap that fails once `RX_CLOSED` is set, so a value sent
//!   after `close` or the receiver's drop is never seen and is handed
//!   back), and never touches it after; the receiver reads it only after
//!   seeing `VALUE_SENT`;
//! - the receiver writes its waker only while `RX_TASK_SET` is clear, and
//!   clears the bit (a read-modify-write) before replacing a waker; the
//!   sender reads the waker only if its own final read-modify-write saw
//!   `RX_TASK_SET` set and `RX_CLOSED` clear. The two read-modify-writes
//!   are ordered, so either the receiver sees the sender done and leaves
//!   the cell alone, or the sender sees no waker.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The receiver's waker is in its cell.
const RX_TASK_SET: usize = 1;
/// The value is in its cell.
const VALUE_SENT: usize = 2;
/// The receiver closed the channel or was dropped.
const RX_CLOSED: usize = 4;
/// The sender was dropped without sending.
const TX_DROPPED: usize = 8;

/// Creates a one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are handed between the two halves by the state word
// (module docs), so at most one thread touches a cell at a time; the value
// crosses threads, hence `T: Send`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// Wakes the receiver if `prev` (the state before the caller's final
    /// read-modify-write) says it registered a waker and is still there.
    fn wake_rx(&self, prev: usize) {
        if prev & (RX_TASK_SET | RX_CLOSED) == RX_TASK_SET {
            // SAFETY: RX_TASK_SET was set before our read-modify-write,
            // which also made us done: the receiver will not write the
            // cell again (module docs).
            if let Some(w) = unsafe { &*self.rx_waker.get() } {
                w.wake_by_ref();
            }
        }
    }

    /// Takes the value; the caller saw `VALUE_SENT`.
    ///
    /// # Safety
    /// Only the receiver calls this, after an acquire load that saw
    /// `VALUE_SENT`.
    unsafe fn take_value(&self) -> Option<T> {
        // SAFETY: the sender wrote the value before setting VALUE_SENT
        // (released) and never touches it again; we are the only reader.
        unsafe { (*self.value.get()).take() }
    }
}

/// The sending half; see [`channel`].
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

/// The receiving half, a future of the value; see [`channel`].
pub struct Receiver<T> {
    inner: Option<Arc<Inner<T>>>,
}

/// The sender was dropped without sending (or the receiver closed the
/// channel before a value came).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

/// Why [`Receiver::try_recv`] got no value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing sent yet.
    Empty,
    /// The sender was dropped without sending, or the value was taken.
    Closed,
}

impl<T> Sender<T> {
    /// Sends `value`; gives it back if the receiver is gone or closed the
    /// channel.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(inner) = self.inner.take() else {
            return Err(value);
        };
        if inner.state.load(Ordering::Acquire) & RX_CLOSED != 0 {
            return Err(value);
        }
        // SAFETY: VALUE_SENT is not set, so the receiver does not read the
        // cell, and only this (consumed) sender writes it.
        unsafe { *inner.value.get() = Some(value) };
        let mut cur = inner.state.load(Ordering::Acquire);
        loop {
            if cur & RX_CLOSED != 0 {
                // SAFETY: VALUE_SENT was never set: the cell is still ours.
                let v = unsafe { (*inner.value.get()).take() };
                return Err(v.expect("the value just written"));
            }
            match inner.state.compare_exchange_weak(
                cur,
                cur | VALUE_SENT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(prev) => {
                    inner.wake_rx(prev);
                    return Ok(());
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Whether the receiver has been dropped or closed the channel.
    pub fn is_closed(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|i| i.state.load(Ordering::Acquire) & RX_CLOSED != 0)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let prev = inner.state.fetch_or(TX_DROPPED, Ordering::AcqRel);
            inner.wake_rx(prev);
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let state = inner.state.load(Ordering::Acquire);
        if state & VALUE_SENT != 0 {
            // SAFETY: the receiver, after an acquire load saw VALUE_SENT.
            let v = unsafe { inner.take_value() };
            self.inner = None;
            return v.ok_or(TryRecvError::Closed);
        }
        if state & (TX_DROPPED | RX_CLOSED) != 0 {
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Waits for the value from a thread outside any runtime, parking the
    /// thread.
    ///
    /// # Panics
    /// Inside a tern runtime.
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        super::park::wait("oneshot::Receiver::blocking_recv", self)
    }

    /// Stops the channel: a later [`Sender::send`] fails. A value sent
    /// before this can still be taken with [`try_recv`](Receiver::try_recv)
    /// or by awaiting the receiver.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            inner.state.fetch_or(RX_CLOSED, Ordering::AcqRel);
        }
    }

    /// The outcome if the channel is done, from state `s`.
    fn finished(&mut self, s: usize) -> Option<Result<T, RecvError>> {
        let inner = self.inner.as_ref()?;
        let out = if s & VALUE_SENT != 0 {
            // SAFETY: the receiver, after an acquire read saw VALUE_SENT.
            unsafe { inner.take_value() }.ok_or(RecvError(()))
        } else if s & (TX_DROPPED | RX_CLOSED) != 0 {
            Err(RecvError(()))
        } else {
            return None;
        };
        self.inner = None;
        Some(out)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.clone() else {
            return Poll::Ready(Err(RecvError(())));
        };
        let s = inner.state.load(Ordering::Acquire);
        if let Some(out) = self.finished(s) {
            return Poll::Ready(out);
        }
        if s & RX_TASK_SET != 0 {
            // SAFETY: the bit is set, so the sender only ever reads the
            // cell; reading it here as well is fine.
            let same = unsafe { &*inner.rx_waker.get() }
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()));
            if same {
                return Poll::Pending;
            }
            let prev = inner.state.fetch_and(!RX_TASK_SET, Ordering::AcqRel);
            if prev & (VALUE_SENT | TX_DROPPED) != 0 {
                // The sender finished first and may be using the waker:
                // leave the cell alone.
                return Poll::Ready(self.finished(prev).unwrap_or(Err(RecvError(()))));
            }
        }
        // SAFETY: RX_TASK_SET is clear, so the sender does not read the
        // cell, and only this receiver writes it.
        unsafe { *inner.rx_waker.get() = Some(cx.waker().clone()) };
        let prev = inner.state.fetch_or(RX_TASK_SET, Ordering::AcqRel);
        match self.finished(prev) {
            Some(out) => Poll::Ready(out),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let prev = inner.state.fetch_or(RX_CLOSED, Ordering::AcqRel);
        if prev & VALUE_SENT != 0 {
            // SAFETY: the receiver, and VALUE_SENT was set (acquired by
            // the read-modify-write). Dropped here, outside any borrow.
            drop(unsafe { inner.take_value() });
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver")
            .field("done", &self.inner.is_none())
            .finish()
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("oneshot channel empty"),
            TryRecvError::Closed => f.write_str("oneshot channel closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}
