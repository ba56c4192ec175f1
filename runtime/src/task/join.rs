//! [`JoinHandle`] and [`JoinError`].

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::raw::{self, Header};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked
/// or was cancelled (by [`abort`](JoinHandle::abort) or because its runtime
/// shut down first). Dropping the handle detaches the task: it keeps
/// running and its output is dropped.
///
/// A handle belongs to the thread of the runtime that spawned the task; it
/// is neither `Send` nor `Sync`.
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _marker: PhantomData<(T, *const ())>,
}

impl<T> JoinHandle<T> {
    /// Wraps the handle's reference to a freshly allocated task.
    pub(crate) fn new(raw: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _marker: PhantomData,
        }
    }

    /// Cancels the task. Its future is dropped the next time the runtime
    /// gets to it, and awaiting this handle then gives a cancelled
    /// [`JoinError`]. Does nothing if the task has already completed.
    pub fn abort(&self) {
        // SAFETY: the handle holds a reference, so the task is live.
        unsafe { raw::abort(self.raw) }
    }

    /// Whether the task has finished: completed, panicked or cancelled.
    pub fn is_finished(&self) -> bool {
        // SAFETY: the handle holds a reference, so the task is live.
        unsafe { raw::is_complete(self.raw) }
    }
}

impl<T> JoinHandle<T> {
    /// The task's output, or `cx`'s waker registered for it, outside the
    /// cooperative budget: for a [`JoinSet`](crate::JoinSet), which polls
    /// its handles with wakers of its own and spends the budget itself
    /// (a handle refused for the budget would wake the set's own waker and
    /// be polled again at once).
    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: the handle is !Send, so this runs on the thread of the
        // task's runtime; `out` has the type the task's vtable writes.
        unsafe { raw::poll_join(self.raw, cx.waker(), (&mut out as *mut Poll<_>).cast()) };
        out
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Awaiting tasks that have finished yields after the budget, like
        // a task whose I/O is always ready.
        std::task::ready!(crate::context::poll_budget(cx));
        crate::context::charge(self.poll_output(cx))
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: the handle gives up its reference; runtime thread (!Send).
        unsafe { raw::drop_handle(self.raw) }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task did not produce its output.
pub struct JoinError {
    repr: Repr,
}

/// Eight bytes: the payload's fat pointer is boxed once more, so that a
/// task's `Result<(), JoinError>` (stored in place of its future, see
/// `task::raw`) takes 16 bytes, not 24. Panics are rare; tasks are not.
enum Repr {
    Cancelled,
    Panic(Box<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Box::new(payload)),
        }
    }

    /// The task was cancelled before it completed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see
    /// [`try_into_panic`](JoinError::try_into_panic).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(_) => panic!("JoinError::into_panic on a cancelled task"),
        }
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(*p),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({msg:?})"),
            (Repr::Panic(_), None) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}
