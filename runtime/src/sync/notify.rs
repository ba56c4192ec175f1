//! [`Notify`]: wakes one waiting task, or all of them, without data.
//!
//! As tokio's: [`notify_one`](Notify::notify_one) with nobody waiting
//! stores one permit that the next [`notified`](Notify::notified) consumes
//! at once; [`notify_waiters`](Notify::notify_waiters) wakes every
//! `Notified` future created before the call and stores nothing. A
//! `Notified` future dropped after `notify_one` chose it passes the
//! notification on to the next waiter (or stores it), so none is lost.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::wait_queue::{Place, WaitQueue};

/// Notifies tasks; see the module docs. `Send` and `Sync`.
pub struct Notify {
    state: Mutex<State>,
}

struct State {
    permit: bool,
    /// Number of `notify_waiters` calls so far.
    rounds: u64,
    waiters: WaitQueue,
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    rounds: u64,
    id: Option<u64>,
    done: bool,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub const fn new() -> Notify {
        Notify {
            state: Mutex::new(State {
                permit: false,
                rounds: 0,
                waiters: WaitQueue::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a notification.
    pub fn notified(&self) -> Notified<'_> {
        let rounds = self.lock().rounds;
        Notified {
            notify: self,
            rounds,
            id: None,
            done: false,
        }
    }

    /// Wakes the oldest waiter, or stores a permit if nobody waits (at most
    /// one permit is stored).
    pub fn notify_one(&self) {
        let waker = self.lock().notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every `Notified` future created before this call; stores no
    /// permit.
    pub fn notify_waiters(&self) {
        let wakers = {
            let mut st = self.lock();
            st.rounds += 1;
            st.waiters.drain_pending()
        };
        super::wait_queue::wake_all(wakers);
    }
}

impl State {
    fn notify_one(&mut self) -> Option<Waker> {
        let w = self.waiters.grant_first();
        if w.is_none() {
            self.permit = true;
        }
        w
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.lock().permit)
            .finish()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let mut st = self.notify.lock();
        let ready = match self.id {
            // notify_waiters ran since this future was made. If notify_one
            // had chosen it too, that grant is consumed with it.
            Some(id) if st.rounds != self.rounds => {
                let _ = st.waiters.cancel(id);
                true
            }
            _ if st.rounds != self.rounds => true,
            None if st.permit => {
                st.permit = false;
                true
            }
            None => {
                self.id = Some(st.waiters.push(cx.waker()));
                false
            }
            Some(id) => st.waiters.poll(id, cx.waker()) != Place::Waiting,
        };
        drop(st);
        if ready {
            self.id = None;
            self.done = true;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let waker = {
            let mut st = self.notify.lock();
            match st.waiters.cancel(id) {
                // Chosen by notify_one but never saw it: pass it on.
                Place::Granted => st.notify_one(),
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("waiting", &self.id.is_some())
            .field("done", &self.done)
            .finish()
    }
}
