//! The epoll reactor: readiness of registered file descriptors, cached per
//! source, and the wakers of the tasks waiting on it.
//!
//! # Implementation
//!
//! Each registered fd has a [`ScheduledIo`] behind an `Rc` held by the
//! source itself (its hot path touches nothing else; see
//! `scheduled_io.rs`) and by the reactor's slab: the readiness bits seen
//! so far, plus the tasks waiting to read and to write (`Waiters`;
//! several tasks may wait on one direction, and an edge wakes them all).
//! The epoll registration is made once, edge-triggered for read, write,
//! hang-up and urgent data; the kernel tells us about each new edge and
//! the source remembers it. A datagram socket leaves out write interest
//! until it first has to wait for room (one `EPOLL_CTL_MOD` then, see
//! [`IoSource::new_write_on_demand`](crate::io::IoSource::new_write_on_demand)):
//! otherwise every send would raise an edge nobody waits for.
//!
//! Readiness is only cleared when the kernel has said so: an operation that
//! fails with `WouldBlock` clears its own direction, and a successful one
//! leaves the source ready, so the next one runs the syscall: a ready
//! reader keeps receiving while the kernel has data queued, and no datagram
//! waits for a later edge that an edge-triggered registration would never
//! send. Callers may clear readiness themselves ([`ScheduledIo::clear_ready`])
//! when a result shows the queue empty: a short stream read, or a UDP
//! receive of two that brought one (tern-net's receive-ahead). Readability
//! stays while urgent data is pending, because a read then stops short at
//! the urgent mark with more data behind it; only `WouldBlock` clears it.
//!
//! An event carries a [`Token`]: the slab index in the low 32 bits and a
//! generation in the high 32. A slot reused by a new source gets a new
//! generation, so an event still queued for the old fd is dropped instead of
//! waking the new source's tasks.
//!
//! Wakers are collected while the slab or a waiter list is borrowed and
//! called (or dropped) after the borrow ends, because a waker may re-enter
//! the runtime; a waker that panics is caught ([`crate::unwind`]).
//!
//! The reactor also lends its datagram sockets one scratch buffer
//! ([`Reactor::landing`]): tern-net's receive-ahead lands a second
//! datagram there, so a receive reaches it through its own source instead
//! of a thread-local.

mod loopback;
mod scheduled_io;
mod waiters;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;

use crate::sys::epoll::{flags, Epoll, Events, TimedWait, TIMER_TOKEN};
use crate::unwind;
pub use loopback::HintCache;
use loopback::LoopbackMap;
pub(crate) use scheduled_io::ScheduledIo;
use scheduled_io::{READ_READY, WRITE_READY};

/// Token of the runtime's eventfd (remote wake-ups).
pub(crate) const WAKE_TOKEN: u64 = u64::MAX - 1;

/// Events that wake both directions.
const WAKE_BOTH: u32 = flags::READ_CLOSED | flags::HUP | flags::ERROR;

/// Which half of a source an operation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Receiving, reading, accepting.
    Read,
    /// Sending, writing, connecting.
    Write,
}

/// Identifies a registered source: slab index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    index: u32,
    generation: u32,
}

impl Token {
    fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    fn from_u64(v: u64) -> Token {
        Token {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

/// A slab slot: the registration's generation and its shared state.
#[derive(Debug)]
struct Slot {
    generation: u32,
    io: Rc<ScheduledIo>,
}

/// The reactor of one runtime.
#[derive(Debug)]
pub(crate) struct Reactor {
    epoll: Epoll,
    events: RefCell<Events>,
    sources: RefCell<Slab<Slot>>,
    next_generation: Cell<u32>,
    to_wake: RefCell<Vec<Waker>>,
    loopback: LoopbackMap,
    /// Scratch space of the runtime's datagram sockets (see
    /// [`IoSource::landing`](crate::io::IoSource::landing)).
    landing: RefCell<Vec<u8>>,
}

impl Reactor {
    /// Creates the epoll instance and registers the runtime's eventfd.
    pub(crate) fn new(mode: TimedWait, wake_fd: RawFd) -> io::Result<Reactor> {
        let epoll = Epoll::create(mode)?;
        epoll.add(wake_fd, WAKE_TOKEN, false)?;
        Ok(Reactor {
            epoll,
            events: RefCell::new(Events::with_capacity(1024)),
            sources: RefCell::new(Slab::new()),
            next_generation: Cell::new(0),
            to_wake: RefCell::new(Vec::new()),
            loopback: LoopbackMap::default(),
            landing: RefCell::new(Vec::new()),
        })
    }

    /// The timed-wait mechanism in use.
    pub(crate) fn mode(&self) -> TimedWait {
        self.epoll.mode()
    }

    /// Number of registered sources.
    pub(crate) fn source_count(&self) -> usize {
        self.sources.borrow().len()
    }

    /// Number of wakers stored for tasks waiting on sources.
    pub(crate) fn waiter_count(&self) -> usize {
        self.sources
            .borrow()
            .iter()
            .map(|(_, slot)| slot.io.waiter_count())
            .sum()
    }

    /// Waits for events (see [`Epoll::wait`] for `timeout`) and wakes the
    /// tasks they concern.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        self.epoll.wait(&mut events, timeout)?;
        let mut to_wake = self.to_wake.borrow_mut();
        {
            let sources = self.sources.borrow();
            for (token, ready) in events.iter() {
                if token == WAKE_TOKEN || token == TIMER_TOKEN {
                    continue;
                }
                let Some(io) = slot(&sources, Token::from_u64(token)) else {
                    continue;
                };
                io.add_readiness(ready);
                if ready & (READ_READY | flags::PRIORITY | WAKE_BOTH) != 0 {
                    io.take_waiters(Direction::Read, &mut to_wake);
                }
                if ready & (WRITE_READY | WAKE_BOTH) != 0 {
                    io.take_waiters(Direction::Write, &mut to_wake);
                }
            }
        }
        drop(events);
        drop(to_wake);
        self.wake_collected();
        Ok(())
    }

    /// Calls the wakers collected in `to_wake`, with no borrow held (a
    /// waker may re-enter the runtime), keeping the buffer for next time.
    fn wake_collected(&self) {
        let mut wakers = std::mem::take(&mut *self.to_wake.borrow_mut());
        for w in wakers.drain(..) {
            unwind::wake(w);
        }
        let mut to_wake = self.to_wake.borrow_mut();
        if to_wake.capacity() < wakers.capacity() {
            *to_wake = wakers;
        }
    }

    /// Registers `fd`, with write interest if `write` is set (see
    /// [`arm_write`](Reactor::arm_write) otherwise). It starts out assumed
    /// writable (a fresh socket almost always is, and the first send then
    /// costs only its own syscall) and not readable until the first edge
    /// says so.
    pub(crate) fn register(&self, fd: RawFd, write: bool) -> io::Result<(Token, Rc<ScheduledIo>)> {
        let generation = self.next_generation.get();
        self.next_generation.set(generation.wrapping_add(1));
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let index = u32::try_from(entry.key())
            .map_err(|_| io::Error::other("too many registered I/O sources"))?;
        let token = Token { index, generation };
        self.epoll.add(fd, token.to_u64(), write)?;
        let io = Rc::new(ScheduledIo::new());
        entry.insert(Slot {
            generation,
            io: io.clone(),
        });
        Ok((token, io))
    }

    /// Adds write interest to the registration of `fd`, made without it.
    /// If `fd` is writable already, the next wait reports it.
    pub(crate) fn arm_write(&self, fd: RawFd, token: Token) -> io::Result<()> {
        self.epoll.modify(fd, token.to_u64(), true)
    }

    /// Removes `fd` from epoll and frees its slot. Wakers stored for it
    /// (poll-based callers: a future waiting on the source borrows it, so
    /// none can be left) are called, so a task that reaches the source
    /// through shared state finds it gone instead of waiting forever.
    pub(crate) fn deregister(&self, fd: RawFd, token: Token) {
        let _ = self.epoll.delete(fd);
        let removed = {
            let mut sources = self.sources.borrow_mut();
            match slot(&sources, token) {
                Some(io) => {
                    if let Some(addr) = io.local.take() {
                        self.loopback.forget(addr, io);
                    }
                    Some(sources.remove(token.index as usize))
                }
                None => None,
            }
        };
        // The wakers (if any) are called here, outside the borrows.
        let mut wakers = Vec::new();
        if let Some(slot) = &removed {
            for mut w in slot.io.take_all() {
                w.take_into(&mut wakers);
            }
        }
        drop(removed);
        for w in wakers {
            unwind::wake(w);
        }
    }

    /// The scratch buffer (empty until a caller sizes it).
    #[inline]
    pub(crate) fn landing(&self) -> std::cell::RefMut<'_, Vec<u8>> {
        self.landing.borrow_mut()
    }

    /// Makes `io` readable and takes its readers' wakers, as an edge
    /// would (the loopback hint); [`wake`](Reactor::wake) calls them.
    #[inline]
    fn make_readable(&self, io: &ScheduledIo) -> Woken {
        io.add_readiness(flags::READABLE);
        let mut readers = io.waiters(Direction::Read).borrow_mut();
        match readers.take_single() {
            Ok(Some(w)) => Woken::One(w),
            Ok(None) => Woken::Nobody,
            Err(()) => {
                readers.take_into(&mut self.to_wake.borrow_mut());
                Woken::Collected
            }
        }
    }

    /// Calls the wakers [`make_readable`](Reactor::make_readable) took.
    #[inline]
    fn wake(&self, woken: Woken) {
        match woken {
            // One reader (the usual case): woken without the list.
            Woken::One(w) => unwind::wake(w),
            Woken::Collected => self.wake_collected(),
            Woken::Nobody => {}
        }
    }
}

/// The wakers taken from a source's readers, not yet called.
enum Woken {
    One(Waker),
    Collected,
    Nobody,
}

// ===== the source's side =====

/// Ready if the cached readiness allows progress in `dir`; otherwise
/// stores the waker of a poll-based caller for the next edge.
pub(crate) fn poll_ready(io: &ScheduledIo, dir: Direction, cx: &mut Context<'_>) -> Poll<()> {
    if io.is_ready(dir) {
        return Poll::Ready(());
    }
    io.waiters(dir).borrow_mut().register_polled(cx.waker());
    Poll::Pending
}

/// Like [`poll_ready`] for a future holding `key`: its waker is kept until
/// the future calls [`remove_waiter`].
#[inline(always)]
pub(crate) fn poll_ready_keyed(
    io: &ScheduledIo,
    dir: Direction,
    key: &mut Option<usize>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if io.is_ready(dir) {
        return Poll::Ready(());
    }
    let old = io.waiters(dir).borrow_mut().register_keyed(key, cx.waker());
    // Dropped outside the borrow: dropping a waker may run user code.
    drop(old);
    Poll::Pending
}

/// Forgets the waiter entry `key` of a future that is being dropped.
#[inline]
pub(crate) fn remove_waiter(io: &ScheduledIo, dir: Direction, key: usize) {
    let waker = io.waiters(dir).borrow_mut().remove_keyed(key);
    // Dropped outside the borrow: dropping a waker may run user code.
    drop(waker);
}

/// The state of `token`, if it still belongs to that registration.
#[inline]
fn slot(sources: &Slab<Slot>, token: Token) -> Option<&Rc<ScheduledIo>> {
    sources
        .get(token.index as usize)
        .filter(|slot| slot.generation == token.generation)
        .map(|slot| &slot.io)
}
