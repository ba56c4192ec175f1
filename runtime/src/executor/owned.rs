//! The list of a runtime's live tasks, so that shutdown can drop every
//! future that has not completed.
//!
//! # Implementation
//!
//! An intrusive doubly linked list through the task headers: O(1) insert at
//! spawn and O(1) removal at completion, no allocation, and 16 bytes per
//! task. It is only touched on the runtime thread; the list holds one
//! reference to each task in it.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::task::raw::Header;

#[derive(Debug, Default)]
pub(crate) struct OwnedTasks {
    head: Cell<Option<NonNull<Header>>>,
    len: Cell<usize>,
}

impl OwnedTasks {
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Links a new task at the head (the caller transfers a reference).
    pub(crate) fn push(&self, task: NonNull<Header>) {
        // SAFETY: the list's reference keeps `task` alive; headers are only
        // linked and unlinked on the runtime thread.
        let h = unsafe { task.as_ref() };
        h.prev.set(None);
        h.next.set(self.head.get());
        if let Some(old) = self.head.get() {
            // SAFETY: `old` is in the list, so the list holds a reference.
            unsafe { old.as_ref() }.prev.set(Some(task));
        }
        self.head.set(Some(task));
        self.len.set(self.len.get() + 1);
    }

    /// Unlinks `task`; the caller takes over the list's reference.
    pub(crate) fn remove(&self, task: NonNull<Header>) {
        // SAFETY: `task` is in the list, which holds a reference to it and
        // to its neighbours.
        let h = unsafe { task.as_ref() };
        let (prev, next) = (h.prev.take(), h.next.take());
        match prev {
            // SAFETY: neighbours are in the list too.
            Some(p) => unsafe { p.as_ref() }.next.set(next),
            None => self.head.set(next),
        }
        if let Some(n) = next {
            // SAFETY: neighbours are in the list too.
            unsafe { n.as_ref() }.prev.set(prev);
        }
        self.len.set(self.len.get() - 1);
    }

    /// Unlinks and returns the first task (with the list's reference).
    pub(crate) fn pop(&self) -> Option<NonNull<Header>> {
        let head = self.head.get()?;
        self.remove(head);
        Some(head)
    }
}
