//! The wakers of JoinHandles waiting for their task, kept beside the tasks
//! instead of in every task header.
//!
//! # Implementation
//!
//! Most tasks are never awaited while they run (detached tasks, and
//! handles awaited after the task finished), so a waker slot in every
//! header (16 bytes) mostly holds `None`. Instead, a handle that has to
//! wait leaves its waker in a thread-local map keyed by the task's address,
//! and sets the task's `AWAITED` bit so that completion looks the map up
//! only when there is something to find.
//!
//! A JoinHandle is `!Send`, and its task is polled and completed on the
//! runtime thread, which is the handle's thread: so every insert and
//! removal for one task happens on one thread, and a thread-local map
//! needs no lock. An entry lives only while the task's handle does (it is
//! removed at completion or when the handle is dropped, whichever comes
//! first), and the handle keeps the task allocated, so an address is never
//! reused while its entry exists.
//!
//! No user code runs while the map is borrowed: a waker is cloned before
//! and dropped or woken after, by the callers. Once the thread is tearing
//! down its thread-locals the map may be gone: [`insert`] then hands the
//! waker back (the caller wakes it at once, so nothing waits forever) and
//! [`remove`] finds nothing. The wakers still in the map then (handles
//! that wait for a task of a runtime torn down later) are dropped with
//! their panics caught, as everywhere else: a panic may not unwind out of
//! a thread-local's destructor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;
use std::task::Waker;

use super::raw::Header;
use crate::unwind;

/// Map capacity kept once the map is empty again.
const KEEP: usize = 64;

type Map = HashMap<usize, Waker, BuildHasherDefault<AddressHasher>>;

thread_local! {
    static AWAITERS: RefCell<Table> = RefCell::new(Table(Map::default()));
}

/// The map, whose destructor contains the panics of the wakers left in it.
struct Table(Map);

impl Drop for Table {
    fn drop(&mut self) {
        for (_, waker) in self.0.drain() {
            unwind::catch(move || drop(waker));
        }
    }
}

/// Whether the waker stored for `task` would wake the same task as `waker`.
pub(super) fn is_registered(task: NonNull<Header>, waker: &Waker) -> bool {
    AWAITERS
        .try_with(|map| {
            map.borrow()
                .0
                .get(&key(task))
                .is_some_and(|w| w.will_wake(waker))
        })
        .unwrap_or(false)
}

/// Stores `waker` for `task`. Returns the waker it replaced (`Ok`), or
/// `waker` itself (`Err`) if the thread's map is gone.
pub(super) fn insert(task: NonNull<Header>, waker: Waker) -> Result<Option<Waker>, Waker> {
    let mut waker = Some(waker);
    let replaced = AWAITERS.try_with(|map| {
        let waker = waker.take()?;
        map.borrow_mut().0.insert(key(task), waker)
    });
    // The closure did not run (and took nothing) only if the map is gone.
    match waker {
        Some(waker) => Err(waker),
        None => Ok(replaced.unwrap_or(None)),
    }
}

/// Takes the waker stored for `task`, if any.
pub(super) fn remove(task: NonNull<Header>) -> Option<Waker> {
    AWAITERS
        .try_with(|map| {
            let map = &mut map.borrow_mut().0;
            let waker = map.remove(&key(task));
            if map.is_empty() && map.capacity() > KEEP {
                // The room of a past burst of waiting handles goes back.
                *map = Map::default();
            }
            waker
        })
        .ok()
        .flatten()
}

/// Number of stored wakers on this thread (for tests).
#[cfg(test)]
pub(super) fn len() -> usize {
    AWAITERS.with(|map| map.borrow().0.len())
}

fn key(task: NonNull<Header>) -> usize {
    task.as_ptr() as usize
}

/// Hashes a task address: a multiply spreads it, and the high half is
/// folded into the low bits the map indexes with (addresses are aligned,
/// so their own low bits are always zero).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}
