//! [`Semaphore`]: a fair counting semaphore.
//!
//! Permits go to waiters in the order they started waiting. A cancelled
//! [`acquire`](Semaphore::acquire) leaves the line, and if it had already
//! been handed its permit, passes the permit on, so none is lost.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::wait_queue::{wake_all, Place, WaitQueue};

/// A counting semaphore whose waiters are served first come, first served.
///
/// `Send` and `Sync`: permits may be acquired from tasks and released from
/// any thread.
pub struct Semaphore {
    state: Mutex<State>,
}

struct State {
    permits: usize,
    closed: bool,
    waiters: WaitQueue,
}

/// The semaphore was closed; no permit was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

/// Why [`Semaphore::try_acquire`] took no permit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// No permit is free now (or others are waiting for one first).
    NoPermits,
}

/// A permit from a [`Semaphore`]; dropping it gives the permit back.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

/// A permit from [`Semaphore::acquire_owned`]; dropping it gives the
/// permit back.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(1);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`].
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    id: Option<u64>,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Mutex::new(State {
                permits,
                closed: false,
                waiters: WaitQueue::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a permit. Fails once the semaphore is closed.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            sem: self,
            id: None,
        }
    }

    /// Waits for a permit that owns a reference to the semaphore, so it can
    /// be moved into a spawned task. Cancel-safe as [`acquire`](Semaphore::acquire).
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire().await?.forget();
        Ok(OwnedSemaphorePermit { sem: self })
    }

    /// Takes a permit if one is free and nobody is waiting ahead.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let mut st = self.lock();
        if st.closed {
            Err(TryAcquireError::Closed)
        } else if st.permits > 0 && st.waiters.no_pending() {
            st.permits -= 1;
            Ok(SemaphorePermit {
                sem: self,
                permits: 1,
            })
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Adds `n` permits, waking waiters that can now have one.
    pub fn add_permits(&self, n: usize) {
        let wakers = {
            let mut st = self.lock();
            st.permits = st.permits.saturating_add(n);
            st.hand_out()
        };
        wake_all(wakers);
    }

    /// Permits free now.
    pub fn available_permits(&self) -> usize {
        self.lock().permits
    }

    /// Closes the semaphore: waiting and later `acquire`s fail with
    /// [`AcquireError`]. Permits already held stay valid.
    pub fn close(&self) {
        let wakers = {
            let mut st = self.lock();
            st.closed = true;
            st.waiters.drain_pending()
        };
        wake_all(wakers);
    }

    /// Whether [`close`](Semaphore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn release(&self, n: usize) {
        self.add_permits(n)
    }
}

impl State {
    /// Gives free permits to the oldest waiters, one each.
    fn hand_out(&mut self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while self.permits > 0 {
            match self.waiters.grant_first() {
                Some(w) => {
                    self.permits -= 1;
                    wakers.push(w);
                }
                None => break,
            }
        }
        wakers
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Semaphore")
            .field("permits", &st.permits)
            .field("closed", &st.closed)
            .finish()
    }
}

// ===== impl Acquire =====

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // An acquire that always succeeds at once (a lock nobody else
        // holds) yields like a task whose I/O is always ready.
        std::task::ready!(crate::context::poll_budget(cx));
        crate::context::charge(self.poll_acquire(cx))
    }
}

impl<'a> Acquire<'a> {
    fn poll_acquire(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<SemaphorePermit<'a>, AcquireError>> {
        let sem = self.sem;
        let mut st = sem.lock();
        let granted = match self.id {
            None if st.closed => false,
            None if st.permits > 0 && st.waiters.no_pending() => {
                st.permits -= 1;
                true
            }
            None => {
                self.id = Some(st.waiters.push(cx.waker()));
                return Poll::Pending;
            }
            Some(id) => match st.waiters.poll(id, cx.waker()) {
                Place::Waiting => return Poll::Pending,
                Place::Granted => true,
                Place::Gone => false,
            },
        };
        drop(st);
        self.id = None;
        Poll::Ready(if granted {
            Ok(SemaphorePermit { sem, permits: 1 })
        } else {
            Err(AcquireError(()))
        })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let wakers = {
            let mut st = self.sem.lock();
            if st.waiters.cancel(id) == Place::Granted {
                st.permits += 1;
            }
            st.hand_out()
        };
        wake_all(wakers);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiting", &self.id.is_some())
            .finish()
    }
}

// ===== impl SemaphorePermit =====

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.release(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no semaphore permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}
