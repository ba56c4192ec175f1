//! A one-shot channel: one value, sent once, from a [`Sender`] to a
//! [`Receiver`] that is itself the future of that value.
//!
//! Dropping the sender unsent makes the receiver finish with
//! [`RecvError`]; dropping the receiver makes [`Sender::send`] give the
//! value back. Both halves are `Send` when `T: Send`, so a value can come
//! from a std thread or a `spawn_blocking` job.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Creates a one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            value: None,
            rx_waker: None,
            tx_gone: false,
            rx_gone: false,
        }),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Option<T>,
    rx_waker: Option<Waker>,
    tx_gone: bool,
    rx_gone: bool,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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

/// The sender was dropped without sending.
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
    /// Sends `value`; gives it back if the receiver is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(inner) = self.inner.take() else {
            return Err(value);
        };
        let waker = {
            let mut st = inner.lock();
            if st.rx_gone {
                return Err(value);
            }
            st.value = Some(value);
            st.tx_gone = true;
            st.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver has been dropped.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.lock().rx_gone)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let waker = {
            let mut st = inner.lock();
            st.tx_gone = true;
            st.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let mut st = inner.lock();
        match st.value.take() {
            Some(v) => {
                drop(st);
                self.inner = None;
                Ok(v)
            }
            None if st.tx_gone => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
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
    /// before this can still be taken with [`try_recv`](Receiver::try_recv).
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            inner.lock().rx_gone = true;
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = &self.inner else {
            return Poll::Ready(Err(RecvError(())));
        };
        let mut st = inner.lock();
        let out = match st.value.take() {
            Some(v) => Ok(v),
            None if st.tx_gone => Err(RecvError(())),
            None => {
                match &mut st.rx_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        };
        drop(st);
        self.inner = None;
        Poll::Ready(out)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let value = {
            let mut st = inner.lock();
            st.rx_gone = true;
            st.rx_waker = None;
            st.value.take()
        };
        // Dropped outside the lock: its destructor may use this channel.
        drop(value);
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
