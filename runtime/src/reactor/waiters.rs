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
//!   by its owner, which makes stale keys impossible. The first such
//!   future gets the inline entry `first` (key [`FIRST`]) instead of a slab
//!   slot: one task waits on a direction almost always, and each wait (one
//!   per datagram of a ping-pong) then costs no slab insert and remove.
//! - A caller of the poll-based API (`poll_recv_from`, `AsyncRead`) has no
//!   destructor to tell us it is gone. Its waker goes to `polled`, unless it
//!   would wake a task already there; an edge takes them all. Such wakers
//!   live at most until the next edge, and there is one per waiting task.

use std::task::Waker;

use slab::Slab;

/// The key of the inline entry (a slab never hands it out: it would need
/// `usize::MAX` entries).
const FIRST: usize = usize::MAX;

/// The wakers waiting on one direction of a source.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    polled: Vec<Waker>,
    /// The entry of key [`FIRST`]: `Some` while a future holds it.
    first: Option<Option<Waker>>,
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
    /// first use. Returns the waker it replaces, to be dropped by the
    /// caller outside any borrow.
    #[inline]
    #[must_use]
    pub(super) fn register_keyed(
        &mut self,
        key: &mut Option<usize>,
        waker: &Waker,
    ) -> Option<Waker> {
        let first_free = self.first.is_none();
        let slot = match *key {
            Some(FIRST) => self.first.as_mut(),
            Some(k) => self.pending.get_mut(k),
            None => None,
        };
        match slot {
            Some(slot) => match slot {
                Some(w) if w.will_wake(waker) => None,
                _ => slot.replace(waker.clone()),
            },
            None if first_free => {
                self.first = Some(Some(waker.clone()));
                *key = Some(FIRST);
                None
            }
            None => {
                *key = Some(self.pending.insert(Some(waker.clone())));
                None
            }
        }
    }

    /// Forgets the entry of a future that is being dropped; returns its
    /// waker, to be dropped by the caller outside any borrow.
    #[inline]
    pub(super) fn remove_keyed(&mut self, key: usize) -> Option<Waker> {
        if key == FIRST {
            return self.first.take().flatten();
        }
        self.pending.try_remove(key).flatten()
    }

    /// Moves every waiting waker into `out`.
    pub(super) fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.polled);
        if let Some(w) = self.first.as_mut().and_then(Option::take) {
            out.push(w);
        }
        if !self.pending.is_empty() {
            out.extend(self.pending.iter_mut().filter_map(|(_, w)| w.take()));
        }
    }

    /// The one stored waker, taken, if at most one is stored (`Ok(None)`:
    /// none); `Err` if there are more, for [`take_into`](Waiters::take_into).
    #[inline]
    pub(super) fn take_single(&mut self) -> Result<Option<Waker>, ()> {
        if self.polled.is_empty() && self.pending.is_empty() {
            // The usual case: one future, in the inline entry.
            return Ok(self.first.as_mut().and_then(Option::take));
        }
        self.take_single_slow()
    }

    #[cold]
    fn take_single_slow(&mut self) -> Result<Option<Waker>, ()> {
        match (self.polled.len(), self.pending.len()) {
            (1, 0) if self.first.is_none() => Ok(self.polled.pop()),
            (0, 1) if self.first.is_none() => {
                Ok(self.pending.iter_mut().next().and_then(|(_, w)| w.take()))
            }
            _ => Err(()),
        }
    }

    /// Wakers stored (poll-based callers and futures with a waker).
    pub(super) fn len(&self) -> usize {
        self.polled.len()
            + usize::from(matches!(self.first, Some(Some(_))))
            + self.pending.iter().filter(|(_, w)| w.is_some()).count()
    }

    /// Whether no waiter of either kind is registered.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.polled.is_empty() && self.first.is_none() && self.pending.is_empty()
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
        assert!(w.register_keyed(&mut a, &noop_waker()).is_none());
        assert!(w.register_keyed(&mut b, &noop_waker()).is_none());
        let mut out = Vec::new();
        w.take_into(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(w.len(), 0);
        // The entries stay (empty) until dropped: the keys are not reused.
        assert!(!w.is_empty());
        assert!(w.register_keyed(&mut a, &noop_waker()).is_none());
        assert_eq!(w.len(), 1);
        assert!(w.remove_keyed(a.unwrap()).is_some());
        assert!(w.remove_keyed(b.unwrap()).is_none());
        assert!(w.is_empty());
    }

    #[test]
    fn the_inline_entry_is_woken_with_the_others_and_reused() {
        let mut w = Waiters::default();
        let (mut a, mut b) = (None, None);
        assert!(w.register_keyed(&mut a, &noop_waker()).is_none());
        assert!(w.register_keyed(&mut b, &noop_waker()).is_none());
        assert_eq!(a, Some(FIRST));
        assert_ne!(b, Some(FIRST));
        // Two wakers stored: no single one may be taken alone.
        assert!(w.take_single().is_err());
        let mut out = Vec::new();
        w.take_into(&mut out);
        assert_eq!(out.len(), 2);
        w.register_polled(&noop_waker());
        assert!(w.register_keyed(&mut a, &noop_waker()).is_none());
        assert!(w.take_single().is_err());
        out.clear();
        w.take_into(&mut out);
        assert_eq!(out.len(), 2);
        // Freed by its owner, the inline entry goes to the next future.
        assert!(w.remove_keyed(FIRST).is_none());
        assert!(w.remove_keyed(b.unwrap()).is_none());
        let mut c = None;
        assert!(w.register_keyed(&mut c, &noop_waker()).is_none());
        assert_eq!(c, Some(FIRST));
        assert_eq!(w.len(), 1);
        assert!(w.take_single().is_ok_and(|one| one.is_some()));
        assert_eq!(w.len(), 0);
        // The inline entry and one poll-based caller: both must be woken.
        assert!(w.register_keyed(&mut c, &noop_waker()).is_none());
        w.register_polled(&noop_waker());
        assert!(w.take_single().is_err());
        out.clear();
        w.take_into(&mut out);
        assert_eq!(out.len(), 2);
        assert!(w.remove_keyed(FIRST).is_none());
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
