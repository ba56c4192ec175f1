//! [`ScheduledIo`]: the readiness and waiters of one registered source,
//! behind an `Rc` shared by the source and the reactor (as tokio's
//! `ScheduledIo`).
//!
//! # Implementation
//!
//! The source's own operations (checking readiness, storing a waker,
//! clearing readiness after `WouldBlock`) go straight to this value: they
//! touch no slab, no generation and no borrow of the whole reactor. The
//! reactor keeps its own `Rc` in a slab under the source's [`Token`] for
//! the events epoll reports, and the loopback map keeps one per bound
//! datagram source for the hint. When the source is deregistered the
//! reactor takes every waker out of it ([`ScheduledIo::take_all`]) and
//! calls them; an `Rc` that outlives the registration (a sender's cached
//! hint, which the map's version makes stale at once) then reaches nobody.
//!
//! Each direction's [`Waiters`] sits in its own `RefCell`, borrowed only
//! for the few instructions that store or take a waker. Wakers are never
//! called and never dropped while one is borrowed, because a waker may
//! re-enter the runtime. A waker is cloned while its list is borrowed
//! (cloning outside would cost a second borrow and a second readiness
//! check on every wait, about 8% of a UDP round trip): a waker whose
//! `clone` itself uses the same direction of the same source panics
//! ("already borrowed") instead of losing a wake-up.
//!
//! [`Token`]: super::Token

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::task::Waker;

use super::waiters::Waiters;
use super::Direction;
use crate::sys::epoll::flags;

/// Readiness that lets a read make progress (data, EOF or an error).
pub(super) const READ_READY: u32 = flags::READABLE | flags::READ_CLOSED | flags::HUP | flags::ERROR;
/// Readiness that lets a write make progress (space or an error).
pub(super) const WRITE_READY: u32 = flags::WRITABLE | flags::HUP | flags::ERROR;

/// Readiness and waiters of one registered source.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    readiness: Cell<u32>,
    /// The loopback or wildcard address it is bound to, if registered with
    /// `set_local_addr` (see the reactor's `loopback` module).
    pub(super) local: Cell<Option<SocketAddr>>,
    readers: RefCell<Waiters>,
    writers: RefCell<Waiters>,
}

impl ScheduledIo {
    /// A fresh source: assumed writable, not readable (see
    /// [`Reactor::register`](super::Reactor::register)).
    pub(super) fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: Cell::new(flags::WRITABLE),
            local: Cell::new(None),
            readers: RefCell::new(Waiters::default()),
            writers: RefCell::new(Waiters::default()),
        }
    }

    #[inline]
    pub(super) fn waiters(&self, dir: Direction) -> &RefCell<Waiters> {
        match dir {
            Direction::Read => &self.readers,
            Direction::Write => &self.writers,
        }
    }

    /// Whether the cached readiness allows progress in `dir`.
    #[inline]
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        self.readiness.get() & ready_mask(dir) != 0
    }

    /// Adds the readiness bits of an edge.
    #[inline]
    pub(super) fn add_readiness(&self, bits: u32) {
        self.readiness.set(self.readiness.get() | bits);
    }

    /// Forgets that `dir` is readable/writable, after a short stream read
    /// or write, or a receive that showed the queue empty. Hang-up and
    /// error bits stay: they are terminal states in which operations no
    /// longer block, and their edges may not come again. Readability also
    /// stays while urgent data is pending (see the reactor's module docs).
    #[inline]
    pub(crate) fn clear_ready(&self, dir: Direction) {
        let r = self.readiness.get();
        if dir == Direction::Read && r & flags::PRIORITY != 0 {
            return;
        }
        self.readiness.set(r & !direction_bit(dir));
    }

    /// Forgets the readiness of `dir` after an operation hit `WouldBlock`.
    /// The kernel answered WouldBlock, so no error is pending either (a
    /// datagram socket's error is consumed by the receive that reports it)
    /// and, for reads, no urgent data is left in front of the reader; a new
    /// one arrives as a new edge.
    #[inline]
    pub(crate) fn clear_would_block(&self, dir: Direction) {
        let mut bits = direction_bit(dir) | flags::ERROR;
        if dir == Direction::Read {
            bits |= flags::PRIORITY;
        }
        self.readiness.set(self.readiness.get() & !bits);
    }

    /// Moves every waker of `dir` into `out`.
    pub(super) fn take_waiters(&self, dir: Direction, out: &mut Vec<Waker>) {
        self.waiters(dir).borrow_mut().take_into(out);
    }

    /// Takes the waiters of both directions, as the source goes away; the
    /// caller wakes them outside any borrow.
    pub(super) fn take_all(&self) -> [Waiters; 2] {
        [self.readers.take(), self.writers.take()]
    }

    /// Wakers stored (both directions).
    pub(super) fn waiter_count(&self) -> usize {
        self.readers.borrow().len() + self.writers.borrow().len()
    }
}

/// Readiness that lets an operation in `dir` make progress.
#[inline]
fn ready_mask(dir: Direction) -> u32 {
    match dir {
        Direction::Read => READ_READY,
        Direction::Write => WRITE_READY,
    }
}

#[inline]
fn direction_bit(dir: Direction) -> u32 {
    match dir {
        Direction::Read => flags::READABLE,
        Direction::Write => flags::WRITABLE,
    }
}
