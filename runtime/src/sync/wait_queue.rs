//! [`WaitQueue`]: the FIFO of parked futures behind `Semaphore`, `Notify`
//! and the bounded `mpsc` sender.
//!
//! # Implementation
//!
//! The queue is plain data; its owner keeps it inside the same
//! `std::sync::Mutex` as the state it guards (permits, a channel's buffer),
//! so one lock covers "is there room?" and "take my place in line". Each
//! waiter is known by a number handed out in increasing order, so a
//! `BTreeMap` keyed by it is the line itself: the first key is the oldest
//! waiter, and a cancelled future removes its own entry in `O(log n)`.
//!
//! A waiter moves from `pending` to `granted` when the owner gives it what
//! it waited for (a permit, a notification, a slot in a channel). A future
//! dropped in the granted state hands the grant back to its owner, which
//! passes it on; that is how a cancelled `acquire`, `notified` or `send`
//! never loses a permit.

use std::collections::{BTreeMap, BTreeSet};
use std::task::Waker;

/// A waiter's place as its future sees it on the next poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Still in line; the waker was updated.
    Waiting,
    /// Given what it waited for (and now out of the queue).
    Granted,
    /// Neither: the queue was closed or drained under it.
    Gone,
}

/// The line of parked waiters; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct WaitQueue {
    next_id: u64,
    pending: BTreeMap<u64, Waker>,
    granted: BTreeSet<u64>,
}

impl WaitQueue {
    /// An empty queue.
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            next_id: 0,
            pending: BTreeMap::new(),
            granted: BTreeSet::new(),
        }
    }

    /// Whether nobody is waiting in line (granted waiters do not count).
    pub(crate) fn no_pending(&self) -> bool {
        self.pending.is_empty()
    }

    /// Puts a new waiter at the back of the line.
    pub(crate) fn push(&mut self, waker: &Waker) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, waker.clone());
        id
    }

    /// What became of waiter `id`; a granted waiter leaves the queue here.
    pub(crate) fn poll(&mut self, id: u64, waker: &Waker) -> Place {
        if let Some(w) = self.pending.get_mut(&id) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
            Place::Waiting
        } else if self.granted.remove(&id) {
            Place::Granted
        } else {
            Place::Gone
        }
    }

    /// Grants the oldest waiter; returns its waker, to be woken once the
    /// owner's lock is released.
    pub(crate) fn grant_first(&mut self) -> Option<Waker> {
        let (id, waker) = self.pending.pop_first()?;
        self.granted.insert(id);
        Some(waker)
    }

    /// Removes waiter `id` because its future was dropped, and says where it
    /// was: a `Granted` result means the caller must pass the grant on.
    pub(crate) fn cancel(&mut self, id: u64) -> Place {
        if self.pending.remove(&id).is_some() {
            Place::Waiting
        } else if self.granted.remove(&id) {
            Place::Granted
        } else {
            Place::Gone
        }
    }

    /// Empties the line (on close); granted waiters keep their grant. The
    /// wakers are returned to be woken outside the lock.
    pub(crate) fn drain_pending(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.pending).into_values().collect()
    }
}

/// Wakes every waker in `wakers` (called after the owner's lock is released).
pub(crate) fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker;

    #[test]
    fn fifo_grant_cancel_and_drain() {
        let w = noop_waker();
        let mut q = WaitQueue::new();
        let a = q.push(&w);
        let b = q.push(&w);
        let c = q.push(&w);
        assert_eq!(q.cancel(a), Place::Waiting);
        assert!(q.grant_first().is_some()); // b, the oldest left
        assert_eq!(q.poll(c, &w), Place::Waiting);
        assert_eq!(q.cancel(b), Place::Granted);
        assert_eq!(q.drain_pending().len(), 1);
        assert_eq!(q.poll(c, &w), Place::Gone);
        assert!(q.no_pending());
    }
}
