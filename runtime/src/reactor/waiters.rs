//! The tasks waiting on one direction of an I/O source.
//!
//! # Implementation
//!
//! Two kinds of waiter, because they end differently:
//!
//! - A future made by [`IoSource::io`](crate::io::IoSource::io) or
//!   [`IoSource::ready`](crate::io::IoSource::ready) holds a key into
//!   `pending`. An edge takes its waker (the entry stays, empty), a new
//!   poll puts one back, and the future's `Drop` removes the entry. So a
//!   future that is cancelled while it waits (every `timeout(d, recv)` that
//!   elapsed) leaves nothing behind, and an entry's key is only ever freed
//!   by its owner, which makes stale keys impossible.
//! - A caller of the poll-based API (`poll_recv_from`, `AsyncRead`) has no
//!   destructor to tell us it is gone. Its waker goes to `polled`, unless it
//!   would wake a task already there; an edge takes them all. Such wakers
//!   live at most until the next edge, and there is one per waiting task.

use std::task::Waker;

use slab::Slab;

/// The wakers waiting on one direction of a source.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    polled: Vec<Waker>,
    pending: Slab<Option<Waker>>,
}

impl Waiters {
    /// Adds the waker of a poll-based caller unless it would wake a task
    /// already waiting.
    pub(super) fn register_polled(&mut self, waker: &Waker) {
        if !self.polled.iter().any(|w| w.will_wake(waker)) {
            self.polled.push(waker.clone());
        }
    }

    /// Stores the waker of the future holding `key`, allocating the key on
    /// first use.
    pub(super) fn register_keyed(&mut self, key: &mut Option<usize>, waker: &Waker) {
        match key.and_then(|k| self.pending.get_mut(k)) {
            Some(slot) => match slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            },
            None => *key = Some(self.pending.insert(Some(waker.clone()))),
        }
    }

    /// Forgets the entry of a future that is being dropped; returns its
    /// waker, to be dropped by the caller outside any borrow.
    pub(super) fn remove_keyed(&mut self, key: usize) -> Option<Waker> {
        self.pending.try_remove(key).flatten()
    }

    /// Moves every waiting waker into `out`.
    pub(super) fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.polled);
        if !self.pending.is_empty() {
            out.extend(self.pending.iter_mut().filter_map(|(_, w)| w.take()));
        }
    }

    /// The one stored waker, taken, if at most one is stored (`Ok(None)`:
    /// none); `Err` if there are more, for [`take_into`](Waiters::take_into).
    pub(super) fn take_single(&mut self) -> Result<Option<Waker>, ()> {
        match (self.polled.len(), self.pending.len()) {
            (0, 0) => Ok(None),
            (1, 0) => Ok(self.polled.pop()),
            (0, 1) => Ok(self.pending.iter_mut().next().and_then(|(_, w)| w.take())),
            _ => Err(()),
        }
    }

    /// Wakers stored (poll-based callers and futures with a waker).
    pub(super) fn len(&self) -> usize {
        self.polled.len() + self.pending.iter().filter(|(_, w)| w.is_some()).count()
    }

    /// Whether no waiter of either kind is registered.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.polled.is_empty() && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker;

    #[test]
    fn keyed_entries_live_until_their_owner_removes_them() {
        let mut w = Waiters::default();
        let (mut a, mut b) = (None, None);
        w.register_keyed(&mut a, &noop_waker());
        w.register_keyed(&mut b, &noop_waker());
        let mut out = Vec::new();
        w.take_into(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(w.len(), 0);
        // The entries stay (empty) until dropped: the keys are not reused.
        assert!(!w.is_empty());
        w.register_keyed(&mut a, &noop_waker());
        assert_eq!(w.len(), 1);
        assert!(w.remove_keyed(a.unwrap()).is_some());
        assert!(w.remove_keyed(b.unwrap()).is_none());
        assert!(w.is_empty());
    }

    #[test]
    fn a_polled_task_is_stored_once() {
        let mut w = Waiters::default();
        let waker = noop_waker();
        w.register_polled(&waker);
        w.register_polled(&waker);
        assert_eq!(w.len(), 1);
    }
}
