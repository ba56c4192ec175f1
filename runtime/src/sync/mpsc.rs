//! Multi-producer, single-consumer channels: [`channel`] (bounded: a send
//! waits for room) and [`unbounded_channel`].
//!
//! Dropping every sender ends the receiver ([`Receiver::recv`] gives
//! `None` once the buffer is empty). Dropping the receiver (or
//! [`Receiver::close`]) makes sends fail with [`SendError`], which gives
//! the value back, and wakes senders waiting for room. All halves are
//! `Send` when `T: Send`, so a std thread can feed a task.
//!
//! # Implementation
//!
//! The bounded channel: one `std::sync::Mutex` guards the buffer, the receiver's waker and the
//! line of senders waiting for room (a `WaitQueue`). When the receiver
//! takes a message while senders wait, the freed slot is *reserved* for
//! the oldest of them and it is woken; nobody else can take that slot.
//! A send future dropped after its slot was reserved releases the slot to
//! the next waiter, so cancellation never shrinks the channel, and a
//! waiting send that is dropped leaves the line without a trace. Values
//! are always dropped outside the lock (a message may own a sender of
//! its own channel). The bounded receiver pops one message at a time,
//! because each pop frees a slot for a waiting sender.
//!
//! The unbounded channel is a lock-free list of blocks instead (see
//! `unbounded.rs`).

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::wait_queue::{wake_all, Place, WaitQueue};

mod unbounded;

pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Creates a bounded channel holding at most `capacity` messages.
///
/// # Panics
/// If `capacity` is 0.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc::channel: capacity must be at least 1");
    let chan = Chan::new(capacity);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The channel is closed: the receiver is gone or closed it. Holds the
/// value that was not sent.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why [`Sender::try_send`] did not send; holds the value.
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No room now.
    Full(T),
    /// The receiver is gone or closed the channel.
    Closed(T),
}

/// Why [`Receiver::try_recv`] got no message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing buffered now.
    Empty,
    /// Nothing buffered and every sender is gone (or the channel closed).
    Disconnected,
}

struct Chan<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    /// Slots promised to woken senders that have not filled them yet.
    reserved: usize,
    senders: usize,
    closed: bool,
    rx_waker: Option<Waker>,
    send_waiters: WaitQueue,
}

impl<T> Chan<T> {
    fn new(capacity: usize) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                capacity,
                reserved: 0,
                senders: 1,
                closed: false,
                rx_waker: None,
                send_waiters: WaitQueue::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pushes and wakes the receiver (outside the lock).
    fn push(&self, mut st: MutexGuard<'_, State<T>>, value: T) {
        st.queue.push_back(value);
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn add_sender(&self) {
        self.lock().senders += 1;
    }

    fn drop_sender(&self) {
        let waker = {
            let mut st = self.lock();
            st.senders -= 1;
            if st.senders == 0 {
                st.rx_waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A receiver whose channel always has messages yields like a task
        // whose I/O is always ready (the cooperative budget).
        std::task::ready!(crate::context::poll_budget(cx));
        let mut st = match self.pop() {
            Ok(v) => {
                crate::context::spend();
                return Poll::Ready(Some(v));
            }
            Err(st) => st,
        };
        crate::context::charge(st.end_or_wait(cx))
    }

    /// Takes the oldest message, waking a sender that waits for the slot it
    /// frees; an empty queue gives the lock back.
    fn pop(&self) -> Result<T, MutexGuard<'_, State<T>>> {
        let mut st = self.lock();
        match st.queue.pop_front() {
            Some(v) => {
                let waker = st.free_slot();
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(v)
            }
            None => Err(st),
        }
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.pop() {
            Ok(v) => Ok(v),
            Err(st) if st.senders == 0 || st.closed => Err(TryRecvError::Disconnected),
            Err(_) => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel for senders; waiting senders fail.
    fn close(&self) {
        let wakers = {
            let mut st = self.lock();
            st.closed = true;
            st.send_waiters.drain_pending()
        };
        wake_all(wakers);
    }

    fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

impl<T> State<T> {
    /// With the queue empty: the end of the stream once no sender is left
    /// (or the channel is closed), else the receiver's waker is kept.
    fn end_or_wait<V>(&mut self, cx: &mut Context<'_>) -> Poll<Option<V>> {
        if self.senders == 0 || self.closed {
            return Poll::Ready(None);
        }
        match &mut self.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn has_room(&self) -> bool {
        self.queue.len() + self.reserved < self.capacity
    }

    /// A slot became free: reserve it for the oldest waiting sender.
    fn free_slot(&mut self) -> Option<Waker> {
        if !self.has_room() {
            return None;
        }
        let w = self.send_waiters.grant_first()?;
        self.reserved += 1;
        Some(w)
    }
}

// ===== impl Sender =====

/// The sending half of a bounded channel; cheap to clone.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room; senders that wait are served in the
    /// order they started. Fails (giving the value back) once the receiver
    /// is gone or closed the channel.
    ///
    /// Dropping the future before it finishes drops the value, never sends
    /// it, and gives up its place in line.
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            chan: &self.chan,
            value: Some(value),
            id: None,
        }
    }

    /// Sends `value` from a thread outside any runtime, parking the thread
    /// while the channel is full.
    ///
    /// # Panics
    /// Inside a tern runtime.
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        super::park::wait("mpsc::Sender::blocking_send", self.send(value))
    }

    /// Sends `value` if there is room now and no sender is waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let st = self.chan.lock();
        if st.closed {
            Err(TrySendError::Closed(value))
        } else if st.has_room() && st.send_waiters.no_pending() {
            self.chan.push(st, value);
            Ok(())
        } else {
            Err(TrySendError::Full(value))
        }
    }

    /// Whether the receiver is gone or closed the channel.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The channel's capacity.
    pub fn max_capacity(&self) -> usize {
        self.chan.lock().capacity
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

/// One sender fewer: the last wakes the receiver, which then sees the end
/// of the channel.
impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless polled"]
pub struct Send<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    id: Option<u64>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A sender whose channel always has room yields after the budget,
        // like a receiver whose channel always has messages.
        std::task::ready!(crate::context::poll_budget(cx));
        crate::context::charge(self.poll_send(cx))
    }
}

impl<T> Send<'_, T> {
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let this = self;
        let Some(value) = this.value.take() else {
            panic!("mpsc::Send polled after it completed");
        };
        let mut st = this.chan.lock();
        let place = match this.id {
            None if st.closed => Place::Gone,
            None if st.has_room() && st.send_waiters.no_pending() => Place::Granted,
            None => {
                this.id = Some(st.send_waiters.push(cx.waker()));
                Place::Waiting
            }
            Some(_) if st.closed => Place::Gone,
            Some(id) => match st.send_waiters.poll(id, cx.waker()) {
                Place::Granted => {
                    st.reserved -= 1;
                    Place::Granted
                }
                p => p,
            },
        };
        match place {
            Place::Waiting => {
                this.value = Some(value);
                Poll::Pending
            }
            Place::Granted => {
                this.id = None;
                this.chan.push(st, value);
                Poll::Ready(Ok(()))
            }
            Place::Gone => {
                // A reserved slot is released by Drop (the id is kept).
                drop(st);
                Poll::Ready(Err(SendError(value)))
            }
        }
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let waker = {
            let mut st = self.chan.lock();
            if st.send_waiters.cancel(id) == Place::Granted {
                st.reserved -= 1;
                st.free_slot()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Send")
            .field("waiting", &self.id.is_some())
            .finish()
    }
}

// ===== impl Receiver =====

/// The receiving half of a bounded channel.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once the buffer is empty and every sender
    /// is gone (or the channel was closed). Cancel-safe: a dropped `recv`
    /// takes nothing.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.chan.poll_recv(cx)).await
    }

    /// Receives from a thread outside any runtime, parking the thread until
    /// a message comes or every sender is gone.
    ///
    /// # Panics
    /// Inside a tern runtime.
    pub fn blocking_recv(&mut self) -> Option<T> {
        super::park::wait("mpsc::Receiver::blocking_recv", self.recv())
    }

    /// Polls for the next message (the poll form of [`recv`](Receiver::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// Takes a message if one is buffered.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Closes the channel: sends fail from now on, waiting senders are
    /// woken with an error; buffered messages can still be received.
    pub fn close(&mut self) {
        self.chan.close()
    }

    /// Messages buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.close();
        let queue = std::mem::take(&mut self.chan.lock().queue);
        drop(queue);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver")
            .field("len", &self.len())
            .finish()
    }
}

// ===== errors =====

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed: the receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("channel closed: the receiver is gone"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => f.write_str("channel closed: every sender is gone"),
        }
    }
}

impl std::error::Error for TryRecvError {}
