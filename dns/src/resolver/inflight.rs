//! Sharing one query between identical lookups in flight (same name, type
//! and class), as hickory does: the first lookup of a name and type asks
//! the servers; lookups of the same name and type that start while it is
//! in flight wait for its result instead of sending queries of their own.
//!
//! # Implementation
//!
//! The resolver keeps a map from the keyed hash of (name, type) to the
//! name, the type and a [`Shared`] slot; the leader keeps the hash, so
//! leaving the map costs no hashing and no name comparison. Two lookups
//! whose keys collide but differ are not shared: the second leads a query
//! of its own, outside the map. The first lookup holds a [`Leader`]
//! guard: it fills the slot when it has the result and wakes the
//! followers. If the leader is dropped before that
//! (its lookup cancelled), the entry is removed and the followers are woken
//! with no result: each of them tries again, and one becomes the new
//! leader, so a cancelled lookup never strands the others. A leader still
//! in flight past its deadline is one nobody polls any more (polled, its
//! lookup would have timed out): its followers stop waiting then and ask
//! the servers themselves, outside the map. The class is always IN: the
//! resolver asks nothing else.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use tern_runtime::time::timeout_at;

use crate::error::Error;
use crate::name::Name;
use crate::record::{Record, RecordType};

/// What a lookup gets: the records or the error.
pub(crate) type Outcome = Result<Vec<Record>, Error>;

#[derive(Default)]
struct Shared {
    /// The result, once the leader has it; `Some(None)` if the leader was
    /// dropped without one.
    done: RefCell<Option<Option<Outcome>>>,
    waiters: RefCell<Vec<Waker>>,
}

impl Shared {
    fn finish(&self, outcome: Option<Outcome>) {
        *self.done.borrow_mut() = Some(outcome);
        for w in self.waiters.take() {
            w.wake();
        }
    }
}

/// The followers' share of a lookup in flight, made when the first comes.
type Slot = Option<Rc<Shared>>;

/// A lookup in flight: its name and type, its leader's deadline, and the
/// followers' slot.
type Flight = (Name, RecordType, Instant, Slot);

/// Lookups in flight, by name and type.
#[derive(Default)]
pub(crate) struct InFlight {
    /// By the hash of name and type (keyed with `seed`). The slot is made
    /// when the first follower comes: a lookup nobody shares costs no
    /// allocation for it.
    map: RefCell<HashMap<u64, Flight, BuildHasherDefault<Spent>>>,
    seed: Seeded,
}

/// The map's hasher: its keys are hashes already.
#[derive(Default)]
struct Spent(u64);

impl std::hash::Hasher for Spent {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A multiply-rotate hash with a random key per map: a few instructions per
/// eight bytes instead of SipHash's rounds. The names are the program's own
/// lookups in flight, and the random key keeps their collisions unplannable.
#[derive(Clone, Copy)]
struct Seeded(u64);

impl Default for Seeded {
    fn default() -> Seeded {
        Seeded(std::collections::hash_map::RandomState::new().hash_one(0x7465_726e_u64) | 1)
    }
}

impl BuildHasher for Seeded {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

/// The hasher of [`Seeded`].
struct SeededHasher(u64);

impl SeededHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl std::hash::Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        w[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(w) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 32)
    }
}

/// What [`InFlight::enter`] decided.
pub(crate) enum Role<'a> {
    /// Ask the servers, then [`Leader::finish`].
    Leader(Leader<'a>),
    /// Another lookup is asking: wait for its outcome with [`Follower::outcome`].
    Follower(Follower),
}

/// The lookup that asks the servers for everyone.
pub(crate) struct Leader<'a> {
    flight: &'a InFlight,
    /// Its entry's key; `None` once it has left the map, or if it leads
    /// outside it (a colliding key).
    key: Option<u64>,
}

/// A lookup waiting for a leader.
pub(crate) struct Follower {
    shared: Rc<Shared>,
    /// The leader's deadline.
    until: Instant,
}

/// What a follower got from its leader.
pub(crate) enum Waited {
    /// The leader's outcome.
    Done(Outcome),
    /// The leader was dropped without one: try again.
    Cancelled,
    /// The leader is still in flight past its deadline, so nobody polls
    /// it: ask alone ([`InFlight::alone`]).
    Stuck,
}

impl InFlight {
    /// Joins the lookup of `name`/`rtype` in flight, or leads a new one
    /// that ends by `deadline`.
    pub(crate) fn enter(&self, name: &Name, rtype: RecordType, deadline: Instant) -> Role<'_> {
        let key = self.seed.hash_one((name, rtype));
        let mut map = self.map.borrow_mut();
        match map.entry(key) {
            Entry::Occupied(mut e) => {
                let (their_name, their_type, until, slot) = e.get_mut();
                // Another lookup's key collides, or a stuck leader's (see
                // [`Waited::Stuck`]): not shared.
                if *their_name != *name
                    || *their_type != rtype
                    || *until <= tern_runtime::time::now()
                {
                    return Role::Leader(Leader {
                        flight: self,
                        key: None,
                    });
                }
                Role::Follower(Follower {
                    shared: slot.get_or_insert_with(Rc::default).clone(),
                    until: *until,
                })
            }
            Entry::Vacant(e) => {
                e.insert((name.clone(), rtype, deadline, None));
                Role::Leader(Leader {
                    flight: self,
                    key: Some(key),
                })
            }
        }
    }

    /// A leader outside the map, for a follower whose leader is stuck.
    pub(crate) fn alone(&self) -> Leader<'_> {
        Leader {
            flight: self,
            key: None,
        }
    }

    /// Lookups in flight now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.borrow().len()
    }
}

impl Leader<'_> {
    /// Hands a copy of `outcome` to the followers.
    pub(crate) fn finish(mut self, outcome: &Outcome) {
        if let Some(shared) = self.remove() {
            shared.finish(Some(copy(outcome)));
        }
    }

    /// Leaves the map; the followers' slot, if any came.
    fn remove(&mut self) -> Option<Rc<Shared>> {
        // Only the leader removes its entry, so the one under its key is
        // still its own.
        let key = self.key.take()?;
        self.flight.map.borrow_mut().remove(&key)?.3
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        // Cancelled before finishing: the followers try again.
        if let Some(shared) = self.remove() {
            shared.finish(None);
        }
    }
}

impl Follower {
    /// The leader's outcome, unless it was cancelled or is stuck.
    pub(crate) async fn outcome(self) -> Waited {
        let wait = poll_fn(|cx| {
            if let Some(waited) = self.waited() {
                return Poll::Ready(waited);
            }
            let mut waiters = self.shared.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        });
        if let Ok(waited) = timeout_at(self.until, wait).await {
            return waited;
        }
        // The leader's own timeout elapses at this instant too: it runs
        // first if it is polled at all.
        tern_runtime::yield_now().await;
        self.waited().unwrap_or(Waited::Stuck)
    }

    /// What the leader left, if it is done.
    fn waited(&self) -> Option<Waited> {
        let done = self.shared.done.borrow();
        Some(match done.as_ref()?.as_ref().map(copy) {
            Some(outcome) => Waited::Done(outcome),
            None => Waited::Cancelled,
        })
    }
}

/// A copy of an outcome for another lookup (an I/O error is copied as its
/// kind and message).
fn copy(outcome: &Outcome) -> Outcome {
    match outcome {
        Ok(records) => Ok(records.clone()),
        Err(e) => Err(match e {
            Error::NxDomain => Error::NxDomain,
            Error::NoData => Error::NoData,
            Error::ServFail => Error::ServFail,
            Error::Refused => Error::Refused,
            Error::Timeout => Error::Timeout,
            Error::InvalidName(s) => Error::InvalidName(s.clone()),
            Error::Malformed(d) => Error::Malformed(*d),
            Error::NoNameservers => Error::NoNameservers,
            Error::FallbackFailed { server, transport } => Error::FallbackFailed {
                server: *server,
                transport: *transport,
            },
            Error::Io(io) => Error::Io(io::Error::new(io.kind(), io.to_string())),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    #[test]
    fn second_lookup_follows_and_a_dropped_leader_frees_the_slot() {
        let f = InFlight::default();
        let name: Name = "a.test".parse().unwrap();
        let leader = match f.enter(&name, RecordType::A, far()) {
            Role::Leader(l) => l,
            Role::Follower(_) => panic!("first lookup must lead"),
        };
        assert!(matches!(
            f.enter(&name, RecordType::A, far()),
            Role::Follower(_)
        ));
        assert!(matches!(
            f.enter(&name, RecordType::AAAA, far()),
            Role::Leader(_)
        ));
        assert_eq!(f.len(), 1, "the AAAA leader was dropped at once");
        drop(leader);
        assert_eq!(f.len(), 0);
        assert!(matches!(
            f.enter(&name, RecordType::A, far()),
            Role::Leader(_)
        ));
    }

    #[test]
    fn colliding_keys_are_not_shared() {
        let f = InFlight::default();
        let name: Name = "a.test".parse().unwrap();
        let other: Name = "b.test".parse().unwrap();
        // Plant another lookup under the key `name` hashes to.
        let key = f.seed.hash_one((&name, RecordType::A));
        f.map
            .borrow_mut()
            .insert(key, (other.clone(), RecordType::A, far(), None));
        let first = f.enter(&name, RecordType::A, far());
        assert!(matches!(first, Role::Leader(Leader { key: None, .. })));
        assert!(
            matches!(f.enter(&name, RecordType::A, far()), Role::Leader(_)),
            "a lookup of a.test must not follow b.test's"
        );
        drop(first);
        // The planted lookup still owns its entry.
        assert_eq!(f.len(), 1);
        assert!(f.map.borrow().get(&key).is_some_and(|e| e.0 == other));
    }
}
