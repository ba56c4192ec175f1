//! The epoll reactor: readiness of registered file descriptors, cached per
//! source, and the wakers of the tasks waiting on it.
//!
//! # Implementation
//!
//! Each registered fd has a [`ScheduledIo`] in a slab: the readiness bits
//! seen so far, plus the tasks waiting to read and to write ([`Waiters`];
//! several tasks may wait on one direction, and an edge wakes them all).
//! The epoll registration is made once, edge-triggered for read, write,
//! hang-up and urgent data, and never changed; the kernel tells us about
//! each new edge and the slab remembers it.
//!
//! Readiness is only cleared when the kernel has said so: an operation that
//! fails with `WouldBlock` clears its own direction, and a successful one
//! leaves the source ready, so the next one runs the syscall: a ready
//! reader keeps receiving while the kernel has data queued, and no datagram
//! waits for a later edge that an edge-triggered registration would never
//! send. Callers may clear readiness themselves ([`Reactor::clear_ready`])
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
//! Wakers are collected while the slab is borrowed and called after the
//! borrow ends, because a waker may re-enter the runtime; a waker that
//! panics is caught ([`crate::unwind`]).

mod loopback;
mod waiters;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;

use crate::sys::epoll::{flags, Epoll, Events, TimedWait, TIMER_TOKEN};
use crate::unwind;
pub use loopback::HintCache;
use loopback::LoopbackMap;
use waiters::Waiters;

/// Token of the runtime's eventfd (remote wake-ups).
pub(crate) const WAKE_TOKEN: u64 = u64::MAX - 1;

/// Readiness that lets a read make progress (data, EOF or an error).
const READ_READY: u32 = flags::READABLE | flags::READ_CLOSED | flags::HUP | flags::ERROR;
/// Readiness that lets a write make progress (space or an error).
const WRITE_READY: u32 = flags::WRITABLE | flags::HUP | flags::ERROR;
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

/// Per-source state.
#[derive(Debug)]
struct ScheduledIo {
    generation: u32,
    readiness: u32,
    /// The loopback or wildcard address it is bound to, if registered with
    /// `set_local_addr` (see [`loopback`]).
    local: Option<SocketAddr>,
    readers: Waiters,
    writers: Waiters,
}

impl ScheduledIo {
    fn waiters(&mut self, dir: Direction) -> &mut Waiters {
        match dir {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

/// The reactor of one runtime.
#[derive(Debug)]
pub(crate) struct Reactor {
    epoll: Epoll,
    events: RefCell<Events>,
    sources: RefCell<Slab<ScheduledIo>>,
    next_generation: Cell<u32>,
    to_wake: RefCell<Vec<Waker>>,
    loopback: RefCell<LoopbackMap>,
}

impl Reactor {
    /// Creates the epoll instance and registers the runtime's eventfd.
    pub(crate) fn new(mode: TimedWait, wake_fd: RawFd) -> io::Result<Reactor> {
        let epoll = Epoll::create(mode)?;
        epoll.add(wake_fd, WAKE_TOKEN)?;
        Ok(Reactor {
            epoll,
            events: RefCell::new(Events::with_capacity(1024)),
            sources: RefCell::new(Slab::new()),
            next_generation: Cell::new(0),
            to_wake: RefCell::new(Vec::new()),
            loopback: RefCell::new(LoopbackMap::default()),
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
            .map(|(_, io)| io.readers.len() + io.writers.len())
            .sum()
    }

    /// Waits for events (see [`Epoll::wait`] for `timeout`) and wakes the
    /// tasks they concern.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        self.epoll.wait(&mut events, timeout)?;
        let mut to_wake = self.to_wake.borrow_mut();
        {
            let mut sources = self.sources.borrow_mut();
            for (token, ready) in events.iter() {
                if token == WAKE_TOKEN || token == TIMER_TOKEN {
                    continue;
                }
                let Some(io) = slot(&mut sources, Token::from_u64(token)) else {
                    continue;
                };
                io.readiness |= ready;
                if ready & (READ_READY | flags::PRIORITY | WAKE_BOTH) != 0 {
                    io.readers.take_into(&mut to_wake);
                }
                if ready & (WRITE_READY | WAKE_BOTH) != 0 {
                    io.writers.take_into(&mut to_wake);
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

    /// Registers `fd`. It starts out assumed writable (a fresh socket
    /// almost always is, and the first send then costs only its own
    /// syscall) and not readable until the first edge says so.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<Token> {
        let generation = self.next_generation.get();
        self.next_generation.set(generation.wrapping_add(1));
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let index = u32::try_from(entry.key())
            .map_err(|_| io::Error::other("too many registered I/O sources"))?;
        let token = Token { index, generation };
        self.epoll.add(fd, token.to_u64())?;
        entry.insert(ScheduledIo {
            generation,
            readiness: flags::WRITABLE,
            local: None,
            readers: Waiters::default(),
            writers: Waiters::default(),
        });
        Ok(token)
    }

    /// Removes `fd` from epoll and frees its slot. Wakers stored for it are
    /// dropped without being called.
    pub(crate) fn deregister(&self, fd: RawFd, token: Token) {
        let _ = self.epoll.delete(fd);
        let removed = {
            let mut sources = self.sources.borrow_mut();
            match slot(&mut sources, token).map(|io| io.local) {
                Some(local) => {
                    if let Some(addr) = local {
                        self.loopback.borrow_mut().forget(addr, token);
                    }
                    Some(sources.remove(token.index as usize))
                }
                None => None,
            }
        };
        // The wakers (if any) are dropped here, outside the borrow.
        drop(removed);
    }

    /// Ready if the cached readiness allows progress in `dir`; otherwise
    /// stores the waker of a poll-based caller for the next edge.
    pub(crate) fn poll_ready(
        &self,
        token: Token,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.poll_ready_with(token, dir, |w| w.register_polled(cx.waker()))
    }

    /// Like [`poll_ready`](Reactor::poll_ready) for a future holding
    /// `key`: its waker is kept until the future calls
    /// [`remove_waiter`](Reactor::remove_waiter).
    #[inline]
    pub(crate) fn poll_ready_keyed(
        &self,
        token: Token,
        dir: Direction,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.poll_ready_with(token, dir, |w| w.register_keyed(key, cx.waker()))
    }

    #[inline(always)]
    fn poll_ready_with(
        &self,
        token: Token,
        dir: Direction,
        register: impl FnOnce(&mut Waiters),
    ) -> Poll<()> {
        let mut sources = self.sources.borrow_mut();
        let Some(io) = slot(&mut sources, token) else {
            return Poll::Ready(());
        };
        if io.readiness & ready_mask(dir) != 0 {
            return Poll::Ready(());
        }
        register(io.waiters(dir));
        Poll::Pending
    }

    /// Makes `token` readable and wakes its readers, as an edge would (the
    /// loopback hint).
    pub(crate) fn wake_readers(&self, token: Token) {
        let single = {
            let mut sources = self.sources.borrow_mut();
            let Some(io) = slot(&mut sources, token) else {
                return;
            };
            io.readiness |= flags::READABLE;
            match io.readers.take_single() {
                Ok(single) => single,
                Err(()) => {
                    io.readers.take_into(&mut self.to_wake.borrow_mut());
                    None
                }
            }
        };
        match single {
            // One reader (the usual case): woken without the list.
            Some(w) => unwind::wake(w),
            None => self.wake_collected(),
        }
    }

    /// Forgets the waiter entry `key` of a future that is being dropped.
    #[inline]
    pub(crate) fn remove_waiter(&self, token: Token, dir: Direction, key: usize) {
        let waker = slot(&mut self.sources.borrow_mut(), token)
            .and_then(|io| io.waiters(dir).remove_keyed(key));
        // Dropped outside the borrow: dropping a waker may run user code.
        drop(waker);
    }

    /// Whether the cached readiness allows progress in `dir`.
    pub(crate) fn is_ready(&self, token: Token, dir: Direction) -> bool {
        slot(&mut self.sources.borrow_mut(), token)
            .is_some_and(|io| io.readiness & ready_mask(dir) != 0)
    }

    /// Forgets that `dir` is readable/writable, after a short stream read
    /// or write. Hang-up and error bits stay: they are terminal states in
    /// which operations no longer block, and their edges may not come
    /// again. Readability also stays while urgent data is pending (see the
    /// module docs).
    #[inline]
    pub(crate) fn clear_ready(&self, token: Token, dir: Direction) {
        if let Some(io) = slot(&mut self.sources.borrow_mut(), token) {
            if dir == Direction::Read && io.readiness & flags::PRIORITY != 0 {
                return;
            }
            io.readiness &= !direction_bit(dir);
        }
    }

    /// Forgets the readiness of `dir` after an operation hit `WouldBlock`.
    /// The kernel answered WouldBlock, so no error is pending either (a
    /// datagram socket's error is consumed by the receive that reports it)
    /// and, for reads, no urgent data is left in front of the reader; a new
    /// one arrives as a new edge.
    pub(crate) fn clear_would_block(&self, token: Token, dir: Direction) {
        if let Some(io) = slot(&mut self.sources.borrow_mut(), token) {
            let mut bits = direction_bit(dir) | flags::ERROR;
            if dir == Direction::Read {
                bits |= flags::PRIORITY;
            }
            io.readiness &= !bits;
        }
    }
}

/// The slot of `token`, if it still belongs to that registration.
#[inline]
fn slot(sources: &mut Slab<ScheduledIo>, token: Token) -> Option<&mut ScheduledIo> {
    sources
        .get_mut(token.index as usize)
        .filter(|io| io.generation == token.generation)
}

/// Readiness that lets an operation in `dir` make progress.
fn ready_mask(dir: Direction) -> u32 {
    match dir {
        Direction::Read => READ_READY,
        Direction::Write => WRITE_READY,
    }
}

fn direction_bit(dir: Direction) -> u32 {
    match dir {
        Direction::Read => flags::READABLE,
        Direction::Write => flags::WRITABLE,
    }
}
