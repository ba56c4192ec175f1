//! Sharing one query between identical lookups in flight (same name, type
//! and class), as hickory does: the first lookup of a name and type asks
//! the servers; lookups of the same name and type that start while it is
//! in flight wait for its result instead of sending queries of their own.
//!
//! # Implementation
//!
//! The resolver keeps a map from (name, type) to a [`Shared`] slot. The
//! first lookup holds a [`Leader`] guard: it fills the slot when it has the
//! result and wakes the followers. If the leader is dropped before that
//! (its lookup cancelled), the entry is removed and the followers are woken
//! with no result: each of them tries again, and one becomes the new
//! leader, so a cancelled lookup never strands the others. The class is
//! always IN: the resolver asks nothing else.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

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

/// Lookups in flight, by name and type.
#[derive(Default)]
pub(crate) struct InFlight {
    /// The slot is made when the first follower comes: a lookup nobody
    /// shares costs no allocation for it.
    map: RefCell<HashMap<(Name, RecordType), Slot, Seeded>>,
}

/// A multiply-rotate hash with a random key per map: a few instructions per
/// eight bytes instead of SipHash's rounds. The names are the program's own
/// lookups in flight, and the random key keeps their collisions unplannable.
#[derive(Clone, Copy)]
struct Seeded(u64);

impl Default for Seeded {
    fn default() -> Seeded {
        use std::hash::BuildHasher;
        Seeded(std::collections::hash_map::RandomState::new().hash_one(0x7465_726e_u64) | 1)
    }
}

impl std::hash::BuildHasher for Seeded {
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
    key: Option<(Name, RecordType)>,
}

/// A lookup waiting for a leader.
pub(crate) struct Follower {
    shared: Rc<Shared>,
}

impl InFlight {
    /// Joins the lookup of `name`/`rtype` in flight, or leads a new one.
    pub(crate) fn enter(&self, name: &Name, rtype: RecordType) -> Role<'_> {
        let key = (name.clone(), rtype);
        let mut map = self.map.borrow_mut();
        match map.entry(key) {
            Entry::Occupied(mut e) => Role::Follower(Follower {
                shared: e.get_mut().get_or_insert_with(Rc::default).clone(),
            }),
            Entry::Vacant(e) => {
                let key = e.key().clone();
                e.insert(None);
                Role::Leader(Leader {
                    flight: self,
                    key: Some(key),
                })
            }
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
        let key = self.key.take()?;
        self.flight.map.borrow_mut().remove(&key).flatten()
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
    /// The leader's outcome, or `None` if it was cancelled.
    pub(crate) async fn outcome(self) -> Option<Outcome> {
        poll_fn(|cx| {
            if let Some(done) = self.shared.done.borrow().as_ref() {
                return Poll::Ready(done.as_ref().map(copy));
            }
            let mut waiters = self.shared.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
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

    #[test]
    fn second_lookup_follows_and_a_dropped_leader_frees_the_slot() {
        let f = InFlight::default();
        let name: Name = "a.test".parse().unwrap();
        let leader = match f.enter(&name, RecordType::A) {
            Role::Leader(l) => l,
            Role::Follower(_) => panic!("first lookup must lead"),
        };
        assert!(matches!(f.enter(&name, RecordType::A), Role::Follower(_)));
        assert!(matches!(f.enter(&name, RecordType::AAAA), Role::Leader(_)));
        assert_eq!(f.len(), 1, "the AAAA leader was dropped at once");
        drop(leader);
        assert_eq!(f.len(), 0);
        assert!(matches!(f.enter(&name, RecordType::A), Role::Leader(_)));
    }
}
