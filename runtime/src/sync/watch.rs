//! A watch channel: one value that a [`Sender`] replaces and any number of
//! [`Receiver`]s look at, each told when it changed since it last looked.
//!
//! Receivers see the latest value, not every value. [`Receiver::changed`]
//! fails with [`RecvError`] once the sender is gone (after the last
//! change was seen); [`Sender::send`] fails with [`SendError`] when no
//! receiver is left. `Send` and `Sync` when `T: Send + Sync`.
//!
//! # Implementation
//!
//! The value sits in a `std::sync::RwLock`, so many readers can hold
//! [`Ref`]s at once. Its version is an atomic the sender bumps (while it
//! holds the write lock) *before* it takes the waiter list; a `changed`
//! future registers in that list and reads the version while holding the
//! list's lock, so a change either is seen by that read or wakes it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::task::{Context, Poll, Waker};

/// Creates a watch channel holding `init`.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        version: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        receivers: AtomicUsize::new(1),
        waiters: Mutex::new(Waiters {
            next_id: 0,
            wakers: BTreeMap::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

struct Shared<T> {
    value: RwLock<T>,
    version: AtomicU64,
    closed: AtomicBool,
    receivers: AtomicUsize,
    waiters: Mutex<Waiters>,
}

struct Waiters {
    next_id: u64,
    wakers: BTreeMap<u64, Waker>,
}

impl<T> Shared<T> {
    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_all(&self) {
        let wakers = std::mem::take(&mut self.waiters().wakers);
        for w in wakers.into_values() {
            w.wake();
        }
    }
}

/// The sending half: replaces the value.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half; clone it for more receivers.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

/// A read lock on the current value; other readers may hold one too, the
/// sender waits until all are dropped. Do not hold it across an `.await`.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
}

/// Every receiver is gone; holds the value that was not stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// The sender is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl<T> Sender<T> {
    /// Stores `value` and tells every receiver; fails (giving it back)
    /// when no receiver is left.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.load(Ordering::SeqCst) == 0 {
            return Err(SendError(value));
        }
        drop(self.send_replace(value));
        Ok(())
    }

    /// Stores `value` whether or not receivers exist, returns the old value.
    pub fn send_replace(&self, value: T) -> T {
        let old = {
            let mut guard = self
                .shared
                .value
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let old = std::mem::replace(&mut *guard, value);
            self.shared.version.fetch_add(1, Ordering::SeqCst);
            old
        };
        self.shared.wake_all();
        old
    }

    /// Changes the value in place through `f` and tells every receiver.
    pub fn send_modify(&self, f: impl FnOnce(&mut T)) {
        {
            let mut guard = self
                .shared
                .value
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            f(&mut guard);
            self.shared.version.fetch_add(1, Ordering::SeqCst);
        }
        self.shared.wake_all();
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
        }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Ordering::SeqCst),
        }
    }

    /// Receivers alive now.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::SeqCst)
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake_all();
    }
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
        }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        // Read under the lock: the sender bumps it while holding the write lock.
        self.seen = self.shared.version.load(Ordering::SeqCst);
        Ref { guard }
    }

    /// Whether the value changed since this receiver last looked; fails
    /// once the sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(RecvError(()));
        }
        Ok(self.shared.version.load(Ordering::SeqCst) != self.seen)
    }

    /// Waits until the value changes from the one last seen, and marks the
    /// new one seen. Fails once the sender is gone and every change has
    /// been seen. Cancel-safe.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let Receiver { shared, seen } = self;
        let mut reg = Registration { shared, id: None };
        poll_fn(|cx| reg.poll_changed(cx, seen)).await
    }
}

/// A `changed` future's entry in the waiter list, removed when it drops.
struct Registration<'a, T> {
    shared: &'a Shared<T>,
    id: Option<u64>,
}

impl<T> Registration<'_, T> {
    fn poll_changed(
        &mut self,
        cx: &mut Context<'_>,
        seen: &mut u64,
    ) -> Poll<Result<(), RecvError>> {
        // A value that keeps changing yields after the budget.
        std::task::ready!(crate::context::poll_budget(cx));
        crate::context::charge(self.poll_version(cx, seen))
    }

    fn poll_version(
        &mut self,
        cx: &mut Context<'_>,
        seen: &mut u64,
    ) -> Poll<Result<(), RecvError>> {
        let mut waiters = self.shared.waiters();
        let version = self.shared.version.load(Ordering::SeqCst);
        let res = if version != *seen {
            *seen = version;
            Ok(())
        } else if self.shared.closed.load(Ordering::SeqCst) {
            Err(RecvError(()))
        } else {
            let key = *self.id.get_or_insert_with(|| {
                waiters.next_id += 1;
                waiters.next_id
            });
            waiters.wakers.insert(key, cx.waker().clone());
            return Poll::Pending;
        };
        if let Some(id) = self.id.take() {
            waiters.wakers.remove(&id);
        }
        Poll::Ready(res)
    }
}

impl<T> Drop for Registration<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shared.waiters().wakers.remove(&id);
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .finish()
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel closed: every receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel closed: the sender is gone")
    }
}

impl std::error::Error for RecvError {}
