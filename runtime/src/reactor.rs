//! The epoll reactor: readiness of registered file descriptors, cached per
//! source, and the wakers of the tasks waiting on it.
//!
//! # Implementation
//!
//! Each registered fd has a [`ScheduledIo`] in a slab: the readiness bits
//! seen so far, plus the wakers of the tasks waiting to read and to write
//! (usually one each; several tasks may wait on one socket, and an edge
//! wakes them all). The epoll registration
//! is made once, edge-triggered for read, write and hang-up, and never
//! changed; the kernel tells us about each new edge and the slab remembers
//! it. An operation that fails with `WouldBlock` clears only the readiness of
//! its own direction, so the task waits for the next edge instead of
//! retrying a syscall known to block.
//!
//! An event carries a [`Token`]: the slab index in the low 32 bits and a
//! generation in the high 32. A slot reused by a new source gets a new
//! generation, so an event still queued for the old fd is dropped instead of
//! waking the new source's tasks.
//!
//! Wakers are collected while the slab is borrowed and called after the
//! borrow ends, because a waker may re-enter the runtime.
//!
//! ## Assumed-drained sources
//!
//! After a datagram socket hands out one datagram, more may or may not be
//! queued; an edge-triggered registration says nothing either way. Instead
//! of a receive that would usually just say `WouldBlock`, the socket may be
//! marked *assumed drained* ([`Reactor::assume_drained`]): readability is
//! dropped and the source joins a list of unverified sources. A new edge
//! verifies it (the kernel had news). Otherwise the executor calls
//! [`Reactor::verify`] before it would block and at least every few turns:
//! readability comes back and the waiting reader is woken to find out with
//! a real receive. So a datagram that was already queued is delivered when
//! the runtime runs out of other work, or within a bounded number of turns
//! when it never does, and a request/response exchange saves a syscall per
//! message.
//!
//! ## Loopback delivery between sources of one runtime
//!
//! Over loopback the kernel normally queues a datagram on the receiving
//! socket before the sending call returns (the receive path runs as soon
//! as the send re-enables softirqs). When both ends are sources of this
//! reactor, the sender says so ([`Reactor::loopback_sent`]) and the
//! receiver is made readable and its readers woken at once, as its edge
//! would have done one epoll wait later: an exchange between two sockets of
//! one runtime then costs the send and the receive per message and no wait
//! at all, like the same exchange on blocking sockets. The receiver
//! registers the address it is bound to ([`Reactor::set_local_addr`]).
//!
//! The hint is only a hint. It is wrong when the kernel dropped or filtered
//! the datagram (a full queue, a receiver connected to another peer), and
//! early when the kernel deferred delivery (softirq work handed to
//! ksoftirqd under load, RPS on `lo`, a qdisc on `lo`): the receive then
//! says `WouldBlock`, clears the readiness and waits for the real edge, as
//! after any spurious wake-up; nothing is lost. The datagram's own edge
//! still reaches epoll; if it comes after the datagram was received, it is
//! one spurious wake-up as well.
//!
//! Sockets made by `connect`ing an unbound socket are not registered (that
//! would cost a `getsockname` per socket, e.g. per DNS query), so replies
//! to them still come through epoll.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;

use crate::sys::epoll::{flags, Epoll, Events, TimedWait, TIMER_TOKEN};

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
    /// Readability was dropped by `assume_drained` and not confirmed yet.
    unverified: bool,
    /// The loopback or wildcard address it is bound to, if registered with
    /// `set_local_addr`.
    local: Option<SocketAddr>,
    readers: Waiters,
    writers: Waiters,
}

/// The tasks waiting on one direction of a source: one without an
/// allocation, more in a vector.
#[derive(Debug, Default)]
struct Waiters {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Waiters {
    /// Adds `waker` unless it would wake a task already waiting.
    fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.rest.iter().any(|w| w.will_wake(waker)) {
                    self.rest.push(waker.clone());
                }
            }
        }
    }

    /// Moves every waiting waker into `out`.
    fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.first.take());
        out.append(&mut self.rest);
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
    unverified: RefCell<Vec<Token>>,
    /// Sources whose `unverified` flag is set (the list may also hold
    /// tokens of sources verified or removed since).
    unverified_live: Cell<usize>,
    /// Datagram sources by the loopback or wildcard address they are bound
    /// to (see the module docs).
    local: RefCell<HashMap<SocketAddr, Token, BuildHasherDefault<AddrHasher>>>,
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
            unverified: RefCell::new(Vec::new()),
            unverified_live: Cell::new(0),
            local: RefCell::new(HashMap::default()),
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

    /// Waits for events (see [`Epoll::wait`] for `timeout`) and wakes the
    /// tasks they concern. Returns the number of events received.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let mut events = self.events.borrow_mut();
        self.epoll.wait(&mut events, timeout)?;
        let n = events.len();
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
                if ready & (READ_READY | WAKE_BOTH) != 0 {
                    self.readers_ready(io, &mut to_wake);
                }
                if ready & (WRITE_READY | WAKE_BOTH) != 0 {
                    io.writers.take_into(&mut to_wake);
                }
            }
        }
        drop(events);
        drop(to_wake);
        self.wake_collected();
        Ok(n)
    }

    /// Calls the wakers collected in `to_wake`, with no borrow held (a
    /// waker may re-enter the runtime), keeping the buffer for next time.
    fn wake_collected(&self) {
        let mut wakers = std::mem::take(&mut *self.to_wake.borrow_mut());
        for w in wakers.drain(..) {
            w.wake();
        }
        let mut to_wake = self.to_wake.borrow_mut();
        if to_wake.capacity() < wakers.capacity() {
            *to_wake = wakers;
        }
    }

    /// Records that datagram source `token` is bound to `addr`, a loopback
    /// or wildcard address, so that datagrams other sources of this reactor
    /// send it over loopback make it readable at once (see the module
    /// docs). A second source bound to the same address (`SO_REUSEPORT`)
    /// takes over the entry; the kernel may pick either, and a wrong guess
    /// only costs a `WouldBlock`.
    pub(crate) fn set_local_addr(&self, token: Token, addr: SocketAddr) {
        let addr = key(addr);
        let mut sources = self.sources.borrow_mut();
        let Some(io) = slot(&mut sources, token) else {
            return;
        };
        if let Some(old) = io.local.replace(addr) {
            self.forget_local(old, token);
        }
        self.local.borrow_mut().insert(addr, token);
    }

    fn forget_local(&self, addr: SocketAddr, token: Token) {
        let mut local = self.local.borrow_mut();
        if local.get(&addr) == Some(&token) {
            local.remove(&addr);
        }
    }

    /// A datagram was just sent to `dest`, a loopback address. If a source
    /// of this reactor is bound there, it is made readable and its readers
    /// are woken, as the datagram's edge would do at the next epoll wait.
    pub(crate) fn loopback_sent(&self, dest: SocketAddr) {
        let target = {
            let local = self.local.borrow();
            if local.is_empty() {
                return;
            }
            let wildcard = SocketAddr::new(unspecified(dest.ip()), dest.port());
            match local.get(&key(dest)).or_else(|| local.get(&wildcard)) {
                Some(&t) => t,
                None => return,
            }
        };
        {
            let mut sources = self.sources.borrow_mut();
            let Some(io) = slot(&mut sources, target) else {
                return;
            };
            io.readiness |= flags::READABLE;
            self.readers_ready(io, &mut self.to_wake.borrow_mut());
        }
        self.wake_collected();
    }

    /// News for the readers of `io` (an edge, or what stands for one): an
    /// assumed-drained source is confirmed, and its readers move to
    /// `to_wake`.
    fn readers_ready(&self, io: &mut ScheduledIo, to_wake: &mut Vec<Waker>) {
        if std::mem::take(&mut io.unverified) {
            self.one_verified();
        }
        io.readers.take_into(to_wake);
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
            unverified: false,
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
            match slot(&mut sources, token).map(|io| (io.unverified, io.local)) {
                Some((unverified, local)) => {
                    if unverified {
                        self.one_verified();
                    }
                    if let Some(addr) = local {
                        self.forget_local(addr, token);
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
    /// stores the task's waker for the next edge.
    pub(crate) fn poll_ready(
        &self,
        token: Token,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut sources = self.sources.borrow_mut();
        let Some(io) = slot(&mut sources, token) else {
            return Poll::Ready(());
        };
        if io.readiness & ready_mask(dir) != 0 {
            return Poll::Ready(());
        }
        match dir {
            Direction::Read => io.readers.register(cx.waker()),
            Direction::Write => io.writers.register(cx.waker()),
        }
        Poll::Pending
    }

    /// Whether the cached readiness allows progress in `dir`.
    pub(crate) fn is_ready(&self, token: Token, dir: Direction) -> bool {
        slot(&mut self.sources.borrow_mut(), token)
            .is_some_and(|io| io.readiness & ready_mask(dir) != 0)
    }

    /// Forgets that `dir` is readable/writable. Hang-up and error bits stay:
    /// they are terminal states in which operations no longer block, and
    /// their edges may not come again.
    pub(crate) fn clear_ready(&self, token: Token, dir: Direction) {
        if let Some(io) = slot(&mut self.sources.borrow_mut(), token) {
            io.readiness &= !direction_bit(dir);
        }
    }

    /// Forgets the readiness of `dir` after an operation hit `WouldBlock`.
    /// The kernel answered WouldBlock, so no error is pending either (a
    /// datagram socket's error is consumed by the receive that reports it);
    /// a new one arrives as a new edge.
    pub(crate) fn clear_would_block(&self, token: Token, dir: Direction) {
        if let Some(io) = slot(&mut self.sources.borrow_mut(), token) {
            io.readiness &= !(direction_bit(dir) | flags::ERROR);
            if dir == Direction::Read && std::mem::take(&mut io.unverified) {
                self.one_verified();
            }
        }
    }

    /// Drops readability after a read that may have drained the source,
    /// pending verification (see the module docs). Hang-up and error bits
    /// stay.
    pub(crate) fn assume_drained(&self, token: Token) {
        let mut sources = self.sources.borrow_mut();
        let Some(io) = slot(&mut sources, token) else {
            return;
        };
        if io.readiness & flags::READABLE == 0 {
            return;
        }
        io.readiness &= !flags::READABLE;
        if !io.unverified {
            io.unverified = true;
            self.unverified_live.set(self.unverified_live.get() + 1);
            self.unverified.borrow_mut().push(token);
        }
    }

    fn one_verified(&self) {
        let live = self.unverified_live.get() - 1;
        self.unverified_live.set(live);
        if live == 0 {
            // Every token left in the list is stale.
            self.unverified.borrow_mut().clear();
        }
    }

    /// Whether some source's readability awaits verification.
    pub(crate) fn has_unverified(&self) -> bool {
        self.unverified_live.get() > 0
    }

    /// Gives every assumed-drained source its readability back and wakes
    /// its waiting readers, which find out with a real read.
    pub(crate) fn verify(&self) {
        let tokens = std::mem::take(&mut *self.unverified.borrow_mut());
        {
            let mut sources = self.sources.borrow_mut();
            let mut to_wake = self.to_wake.borrow_mut();
            for token in tokens {
                let Some(io) = slot(&mut sources, token).filter(|io| io.unverified) else {
                    continue;
                };
                // The next read (now, or whenever one comes) is a real one.
                io.readiness |= flags::READABLE;
                self.readers_ready(io, &mut to_wake);
            }
        }
        self.wake_collected();
    }
}

/// The slot of `token`, if it still belongs to that registration.
fn slot(sources: &mut Slab<ScheduledIo>, token: Token) -> Option<&mut ScheduledIo> {
    sources
        .get_mut(token.index as usize)
        .filter(|io| io.generation == token.generation)
}

/// A cheap hasher for the loopback address map: every send to a loopback
/// address looks it up, and its keys are this runtime's own sockets, so
/// there is nobody to flood it with colliding keys.
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// The loopback map's key for `addr`: address and port only (an IPv6
/// flow label or scope id does not change which socket receives).
fn key(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip(), addr.port())
}

/// The wildcard address of `ip`'s family.
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
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
