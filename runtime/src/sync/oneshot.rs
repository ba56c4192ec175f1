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
//! receiver's waker; there is no lock and no reference count apart from
//! the state word: each half has a *gone* bit (`TX_GONE`, `RX_GONE`) that
//! it sets when it will never touch the allocation again, and the half
//! that sets the second one (or sees the other's already set) frees it,
//! dropping whatever the cells still hold. The other bits say who may
//! touch which cell:
//!
//! - the sender writes the value before it sets `VALUE_SENT` (a
//!   compare-and-swap that fails once `RX_CLOSED` is set, so a value sent
//!   after `close` or the receiver's drop is never seen and is handed
//!   back), and never touches it after; the receiver reads it only after
//!   seeing `VALUE_SENT`;
//! - the receiver writes its waker only while `RX_TASK_SET` is clear, and
//!   clears the bit (a read-modify-write) before replacing a waker; the
//!   sender reads the waker only if its finishing read-modify-write saw
//!   `RX_TASK_SET` set and `RX_CLOSED` clear. The two read-modify-writes
//!   are ordered, so either the receiver sees the sender done and leaves
//!   the cell alone, or the sender sees no waker.
//!
//! The common path costs one atomic read-modify-write in all: the sender's
//! compare-and-swap sets `VALUE_SENT` and `TX_GONE` together (it has no
//! waker to call: the receiver has not polled yet), and the receiver that
//! then loads `VALUE_SENT | TX_GONE` takes the value and frees the
//! allocation without another atomic write, being its only owner. Only a
//! sender that must wake the receiver finishes in two steps, `VALUE_SENT`
//! (or `TX_DROPPED`), the wake, then `TX_GONE`, so the waker it calls
//! cannot be freed under it.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// The receiver's waker is in its cell.
const RX_TASK_SET: usize = 1;
/// The value is in its cell.
const VALUE_SENT: usize = 2;
/// The receiver closed the channel or was dropped.
const RX_CLOSED: usize = 4;
/// The sender was dropped without sending.
const TX_DROPPED: usize = 8;
/// The sender will not touch the allocation again.
const TX_GONE: usize = 16;
/// The receiver will not touch the allocation again.
const RX_GONE: usize = 32;

/// Creates a one-shot channel.
#[inline]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Box::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
    });
    let inner = NonNull::from(Box::leak(inner));
    (
        Sender { inner: Some(inner) },
        Receiver { inner: Some(inner) },
    )
}

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
}

/// Frees the allocation, dropping the value and the waker it still holds.
///
/// # Safety
/// `inner` came from [`channel`], and the caller is its last owner: the
/// other half's gone bit was seen (acquired) or set before the caller's
/// own, and the caller does not use `inner` after this.
unsafe fn free<T>(inner: NonNull<Inner<T>>) {
    // SAFETY: allocated by `Box` in `channel`; nobody else can reach it
    // (the caller's contract).
    drop(unsafe { Box::from_raw(inner.as_ptr()) });
}

/// Whether a sender whose finishing read-modify-write saw `state` must
/// wake the receiver.
#[inline]
fn must_wake(state: usize) -> bool {
    state & (RX_TASK_SET | RX_CLOSED) == RX_TASK_SET
}

/// The sending half; see [`channel`].
pub struct Sender<T> {
    /// `None` once sent (`send` consumes the sender, then drops it).
    inner: Option<NonNull<Inner<T>>>,
}

/// The receiving half, a future of the value; see [`channel`].
pub struct Receiver<T> {
    /// `None` once the receiver has finished (it gave up its hold then).
    inner: Option<NonNull<Inner<T>>>,
}

// SAFETY: the halves hand the cells to each other through the state word
// (module docs), so at most one thread touches a cell at a time; the value
// may cross threads (and be dropped by whichever half frees), hence
// `T: Send`. The waker is `Send + Sync`.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: `&Sender` only loads the state word (`is_closed`).
unsafe impl<T: Send> Sync for Sender<T> {}
// SAFETY: as for `Sender`.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: `&Receiver` touches nothing shared (only `Debug`, which reads
// the handle's own field).
unsafe impl<T: Send> Sync for Receiver<T> {}

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

// ===== impl Sender =====

/// The sender's last steps once its finishing read-modify-write succeeded
/// on state `prev` without setting `TX_GONE` (because `must_wake(prev)`):
/// wakes the receiver, then gives up the sender's hold.
///
/// # Safety
/// The caller is the sender, holds the allocation (`TX_GONE` not set) and
/// does not use `inner` after this.
#[cold]
unsafe fn wake_rx_and_leave<T>(inner: NonNull<Inner<T>>) {
    {
        // SAFETY: the sender has not set TX_GONE, so the allocation lives.
        let i = unsafe { inner.as_ref() };
        // SAFETY: RX_TASK_SET was set before the sender's finishing
        // read-modify-write, which also made it done: the receiver will not
        // write the cell again, only read it (module docs).
        if let Some(w) = unsafe { &*i.rx_waker.get() } {
            w.wake_by_ref();
        }
        // Make the window between the wake and TX_GONE, where the receiver
        // may finish and leave first, wide in the race tests.
        #[cfg(tern_widen_races)]
        std::thread::yield_now();
        if i.state.fetch_or(TX_GONE, Ordering::AcqRel) & RX_GONE == 0 {
            return;
        }
    }
    // SAFETY: RX_GONE was set before our TX_GONE (acquired by the
    // read-modify-write): we are the last owner, and the borrow above ended.
    unsafe { free(inner) };
}

/// Gives up the sender's hold without waking anybody (the sender already
/// set `TX_DROPPED` or never needs to): sets `TX_GONE` and frees if the
/// receiver left first.
///
/// # Safety
/// As [`wake_rx_and_leave`].
unsafe fn tx_leave<T>(inner: NonNull<Inner<T>>, bits: usize) {
    // SAFETY: the sender has not set TX_GONE, so the allocation lives.
    let prev = unsafe { inner.as_ref() }
        .state
        .fetch_or(bits | TX_GONE, Ordering::AcqRel);
    if prev & RX_GONE != 0 {
        // SAFETY: RX_GONE was set before our TX_GONE: we are the last owner.
        unsafe { free(inner) };
    }
}

impl<T> Sender<T> {
    /// Sends `value`; gives it back if the receiver is gone or closed the
    /// channel.
    #[inline]
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(inner) = self.inner.take() else {
            return Err(value);
        };
        // SAFETY: the sender has not set TX_GONE, so the allocation lives.
        let i = unsafe { inner.as_ref() };
        // SAFETY: VALUE_SENT is not set, so the receiver does not read the
        // cell, and only this (consumed) sender writes it.
        unsafe { *i.value.get() = Some(value) };
        // A fresh channel's state is 0: try that before loading it.
        let mut cur = 0;
        loop {
            if cur & RX_CLOSED != 0 {
                // SAFETY: VALUE_SENT was never set: the cell is still ours.
                let v = unsafe { (*i.value.get()).take() };
                // SAFETY: the sender, still holding; `inner` is not used
                // after this.
                unsafe { tx_leave(inner, TX_DROPPED) };
                return Err(v.expect("the value just written"));
            }
            let wake = must_wake(cur);
            let new = cur | VALUE_SENT | if wake { 0 } else { TX_GONE };
            match i
                .state
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if wake => {
                    // SAFETY: the sender, still holding (TX_GONE not set);
                    // `inner` is not used after this.
                    unsafe { wake_rx_and_leave(inner) };
                    return Ok(());
                }
                // TX_GONE is set and RX_GONE was not (it comes with
                // RX_CLOSED, checked above): the receiver frees.
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Whether the receiver has been dropped or closed the channel.
    pub fn is_closed(&self) -> bool {
        self.inner.is_none_or(|inner| {
            // SAFETY: a live sender holds the allocation.
            unsafe { inner.as_ref() }.state.load(Ordering::Acquire) & RX_CLOSED != 0
        })
    }
}

impl<T> Drop for Sender<T> {
    #[inline]
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // SAFETY: the sender has not set TX_GONE, so the allocation lives.
        let state = &unsafe { inner.as_ref() }.state;
        let mut cur = state.load(Ordering::Relaxed);
        loop {
            let wake = must_wake(cur);
            let new = cur | TX_DROPPED | if wake { 0 } else { TX_GONE };
            match state.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if wake => {
                    // SAFETY: the sender, still holding; `inner` is not
                    // used after this.
                    unsafe { wake_rx_and_leave(inner) };
                    return;
                }
                Ok(_) => {
                    if cur & RX_GONE != 0 {
                        // SAFETY: RX_GONE was set before our TX_GONE: we
                        // are the last owner.
                        unsafe { free(inner) };
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }
}

// ===== impl Receiver =====

/// Gives up the receiver's hold, freeing the allocation if the sender
/// left first. `seen` is a state the receiver acquired: if it has
/// `TX_GONE`, the receiver is the only owner and frees without a
/// read-modify-write.
///
/// # Safety
/// The caller is the receiver, holds the allocation (`RX_GONE` not set)
/// and does not use `inner` after this.
#[inline]
unsafe fn rx_leave<T>(inner: NonNull<Inner<T>>, seen: usize) {
    let last = seen & TX_GONE != 0 || {
        // SAFETY: the receiver has not set RX_GONE, so the allocation lives.
        let prev = unsafe { inner.as_ref() }
            .state
            .fetch_or(RX_CLOSED | RX_GONE, Ordering::AcqRel);
        prev & TX_GONE != 0
    };
    if last {
        // SAFETY: TX_GONE was set (and acquired) before we left: the
        // sender never touches the allocation again; we are its last owner.
        unsafe { free(inner) };
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = self.inner else {
            return Err(TryRecvError::Closed);
        };
        // SAFETY: the receiver has not set RX_GONE, so the allocation lives.
        let state = unsafe { inner.as_ref() }.state.load(Ordering::Acquire);
        if state & VALUE_SENT != 0 {
            return self
                .finished(state)
                .and_then(Result::ok)
                .ok_or(TryRecvError::Closed);
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
        if let Some(inner) = self.inner {
            // SAFETY: the receiver has not set RX_GONE, so the allocation
            // lives.
            unsafe { inner.as_ref() }
                .state
                .fetch_or(RX_CLOSED, Ordering::AcqRel);
        }
    }

    /// The outcome if the channel is done, from state `s` (acquired by the
    /// receiver); a done receiver takes the value and leaves.
    #[inline]
    fn finished(&mut self, s: usize) -> Option<Result<T, RecvError>> {
        let inner = self.inner?;
        let out = if s & VALUE_SENT != 0 {
            // SAFETY: the receiver holds the allocation, and an acquire
            // read saw VALUE_SENT: the sender wrote the value before and
            // never touches it again; we are the only reader.
            unsafe { (*inner.as_ref().value.get()).take() }.ok_or(RecvError(()))
        } else if s & (TX_DROPPED | RX_CLOSED) != 0 {
            Err(RecvError(()))
        } else {
            return None;
        };
        self.inner = None;
        // SAFETY: the receiver, holding until now; `inner` is not used
        // after this (the field is cleared).
        unsafe { rx_leave(inner, s) };
        Some(out)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A loop of values that are always there yields after the budget.
        std::task::ready!(crate::context::poll_budget(cx));
        crate::context::charge(self.poll_value(cx))
    }
}

impl<T> Receiver<T> {
    #[inline]
    fn poll_value(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let Some(inner) = self.inner else {
            return Poll::Ready(Err(RecvError(())));
        };
        // SAFETY: the receiver has not set RX_GONE, so the allocation lives
        // at least until `finished` gives it up (then we return at once).
        let i = unsafe { inner.as_ref() };
        let s = i.state.load(Ordering::Acquire);
        if let Some(out) = self.finished(s) {
            return Poll::Ready(out);
        }
        if s & RX_TASK_SET != 0 {
            // SAFETY: the bit is set, so the sender only ever reads the
            // cell; reading it here as well is fine.
            let same = unsafe { &*i.rx_waker.get() }
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()));
            if same {
                return Poll::Pending;
            }
            let prev = i.state.fetch_and(!RX_TASK_SET, Ordering::AcqRel);
            if prev & (VALUE_SENT | TX_DROPPED) != 0 {
                // The sender finished first and may be using the waker:
                // leave the cell alone.
                return Poll::Ready(self.finished(prev).unwrap_or(Err(RecvError(()))));
            }
        }
        // SAFETY: RX_TASK_SET is clear, so the sender does not read the
        // cell, and only this receiver writes it.
        unsafe { *i.rx_waker.get() = Some(cx.waker().clone()) };
        let prev = i.state.fetch_or(RX_TASK_SET, Ordering::AcqRel);
        match self.finished(prev) {
            Some(out) => Poll::Ready(out),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for Receiver<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // SAFETY: the receiver has not set RX_GONE, so the allocation
            // lives.
            let seen = unsafe { inner.as_ref() }.state.load(Ordering::Acquire);
            // SAFETY: the receiver, holding until now; `inner` is not used
            // after this.
            unsafe { rx_leave(inner, seen) };
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

#[cfg(test)]
mod tests {
    //! Who frees the allocation, in every order and under races. A value
    //! and a waker that hold an `Arc` each tell when everything the
    //! channel held was dropped: their count is back to 1 only if the
    //! allocation was freed, and a double free shows as a count below it
    //! (or an AddressSanitizer report, where CI runs these).

    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct CountWake(AtomicUsize);

    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountWake>, Waker) {
        let w = Arc::new(CountWake(AtomicUsize::new(0)));
        (w.clone(), Waker::from(w))
    }

    fn poll<T>(rx: &mut Receiver<T>, w: &Waker) -> Poll<Result<T, RecvError>> {
        Pin::new(rx).poll(&mut Context::from_waker(w))
    }

    #[test]
    fn last_owner_frees_in_every_order() {
        let value = Arc::new(());
        let (count, w) = counting_waker();

        // Sent, then received: the receiver frees without a second RMW.
        let (tx, mut rx) = channel();
        assert!(tx.send(value.clone()).is_ok());
        assert!(matches!(poll(&mut rx, &w), Poll::Ready(Ok(_))));
        assert_eq!(Arc::strong_count(&value), 1, "received value dropped");
        drop(rx);

        // Receiver waiting, then sent (the two-step wake), then received.
        let (tx, mut rx) = channel();
        assert!(poll(&mut rx, &w).is_pending());
        assert!(tx.send(value.clone()).is_ok());
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake");
        assert!(matches!(poll(&mut rx, &w), Poll::Ready(Ok(_))));
        drop(rx);
        assert_eq!(Arc::strong_count(&count), 2, "registered waker freed");

        // Sent, receiver dropped unreceived: the value goes with it.
        let (tx, rx) = channel();
        assert!(tx.send(value.clone()).is_ok());
        drop(rx);
        assert_eq!(Arc::strong_count(&value), 1);

        // Receiver waiting and dropped, then sent: the value comes back and
        // the sender frees.
        let (tx, mut rx) = channel();
        assert!(poll(&mut rx, &w).is_pending());
        drop(rx);
        assert_eq!(Arc::strong_count(&count), 3, "the cell still holds a waker");
        assert!(tx.send(value.clone()).is_err());
        assert_eq!(Arc::strong_count(&count), 2, "the sender freed the cell");

        // Closed, then sent: handed back; then the receiver leaves.
        let (tx, mut rx) = channel::<Arc<()>>();
        rx.close();
        assert!(tx.send(value.clone()).is_err());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        drop(rx);

        // Waiting, sender dropped: woken with an error.
        let (tx, mut rx) = channel::<Arc<()>>();
        assert!(poll(&mut rx, &w).is_pending());
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(matches!(poll(&mut rx, &w), Poll::Ready(Err(_))));
        drop(rx);

        // Waker replaced by another, then sent: the new one is woken.
        let (count_b, w_b) = counting_waker();
        let (tx, mut rx) = channel();
        assert!(poll(&mut rx, &w).is_pending());
        assert!(poll(&mut rx, &w_b).is_pending());
        assert!(tx.send(value.clone()).is_ok());
        assert_eq!(count_b.0.load(Ordering::SeqCst), 1, "the newest waker");
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "not the replaced one");
        assert_eq!(rx.try_recv().map(drop), Ok(()));
        drop(rx);

        drop((w, w_b));
        assert_eq!(Arc::strong_count(&value), 1, "a value leaked");
        assert_eq!(Arc::strong_count(&count), 1, "a waker leaked");
        assert_eq!(Arc::strong_count(&count_b), 1, "a waker leaked");
    }

    /// A std thread sends or drops the sender while this thread drops,
    /// closes or polls the receiver, started together each round: whoever
    /// leaves last frees, exactly once, whatever the interleaving.
    #[test]
    fn sender_thread_racing_receiver_drop_frees_once() {
        let rounds: usize = std::env::var("TERN_STRESS_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let value = Arc::new(());
        let (count, w) = counting_waker();
        let (_, w_b) = counting_waker();

        let slot: Arc<Mutex<Option<Sender<Arc<()>>>>> = Arc::default();
        let go = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (slot, go, done, stop, value) = (
                slot.clone(),
                go.clone(),
                done.clone(),
                stop.clone(),
                value.clone(),
            );
            std::thread::spawn(move || {
                let mut round = 0;
                loop {
                    round += 1;
                    while go.load(Ordering::Acquire) < round {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        std::hint::spin_loop();
                    }
                    let tx = slot.lock().unwrap().take().expect("a sender each round");
                    if round % 3 == 0 {
                        drop(tx);
                    } else {
                        // Handed back or not, the value is dropped by
                        // whoever holds it last.
                        let _ = tx.send(value.clone());
                    }
                    done.store(round, Ordering::Release);
                }
            })
        };

        for round in 1..=rounds {
            let (tx, mut rx) = channel();
            *slot.lock().unwrap() = Some(tx);
            go.store(round, Ordering::Release);
            match round % 5 {
                0 => drop(rx),
                1 => {
                    let _ = poll(&mut rx, &w);
                    drop(rx);
                }
                2 => {
                    let _ = poll(&mut rx, &w);
                    let _ = poll(&mut rx, &w_b);
                    drop(rx);
                }
                3 => {
                    rx.close();
                    let _ = rx.try_recv();
                    drop(rx);
                }
                _ => {
                    // Receive to the end: the value or the error.
                    while poll(&mut rx, &w).is_pending() {
                        std::hint::spin_loop();
                    }
                    drop(rx);
                }
            }
            while done.load(Ordering::Acquire) < round {
                std::hint::spin_loop();
            }
            assert_eq!(
                Arc::strong_count(&value),
                2,
                "round {round}: value leaked or freed twice"
            );
        }
        stop.store(true, Ordering::Release);
        worker.join().unwrap();
        drop((w, w_b));
        assert_eq!(
            Arc::strong_count(&count),
            1,
            "a waker leaked or was freed twice"
        );
    }

    /// Send and Sync follow `T: Send`, as for tokio's oneshot.
    #[test]
    fn halves_are_send_and_sync_for_send_values() {
        fn send_sync<X: Send + Sync>() {}
        send_sync::<Sender<std::sync::mpsc::Sender<u8>>>();
        send_sync::<Receiver<std::sync::mpsc::Sender<u8>>>();
    }
}
