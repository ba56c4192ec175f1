//! [`IoSource`]: a file descriptor registered with the current runtime's
//! reactor, and the building block of tern-net (tokio calls it `AsyncFd`).
//!
//! ```ignore
//! // A non-blocking receive: the closure runs the syscall; on WouldBlock the
//! // cached readiness is cleared and the task waits for the next edge.
//! let n = source.io(Direction::Read, |fd| sys::socket::recv(fd, buf)).await?;
//! ```
//!
//! # Implementation
//!
//! Every operation first asks the runtime context (`context.rs`) for
//! admission: the source must belong to the runtime running on this thread
//! (a source made in one `block_on` and used in the next fails with an
//! error that says so, instead of waiting on a reactor nobody polls), and
//! the task must have budget left (a task whose I/O is always ready yields
//! after 128 operations (the context's `BUDGET`), so a fast peer
//! cannot starve timers or other tasks). Only an operation that completes
//! spends a unit: one that waits costs nothing, so a task polling more
//! waiting sources than its budget still reaches them all.
//!
//! The source holds its readiness and waiters itself (an `Rc` it shares
//! with the reactor; see the reactor's `scheduled_io` module), so an
//! operation touches no reactor-wide state. The futures of
//! [`IoSource::io`] and [`IoSource::ready`] keep their waiter entry there
//! under a key and remove it when dropped, so a cancelled wait leaves
//! nothing behind. `Io::poll` is inlined into the future awaiting it: a
//! receive or send is then one state machine, with no call per poll.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use crate::context::{self, Admit};
use crate::reactor::{self, Reactor, ScheduledIo, Token};

pub use crate::reactor::Direction;

/// An fd registered (once, edge-triggered) with a runtime's reactor.
///
/// Dropping it removes the fd from epoll and then closes it. It belongs to
/// the runtime it was created in and is neither `Send` nor `Sync`; using
/// it while another runtime runs (or outside any) fails with an error
/// naming the fd.
#[doc(alias = "AsyncFd")]
pub struct IoSource {
    fd: OwnedFd,
    /// Readiness and waiters, shared with the reactor.
    sched: Rc<ScheduledIo>,
    token: Token,
    reactor: Rc<Reactor>,
    /// The last loopback-hint lookup of a send from this source.
    hint: crate::reactor::HintCache,
    /// The loopback-hint lookup of the connected peer (see
    /// [`set_peer`](IoSource::set_peer)).
    peer_hint: crate::reactor::HintCache,
    /// epoll reports writability edges for this source (see
    /// [`new_write_on_demand`](IoSource::new_write_on_demand)).
    write_armed: Cell<bool>,
}

impl IoSource {
    /// Registers `fd` (which must be non-blocking) with the current runtime.
    ///
    /// The source starts out assumed writable and not readable: a first
    /// write is simply tried (a fresh socket almost always has room), while
    /// a first read waits for the kernel's first edge. Code that must wait
    /// for a first writability edge (a non-blocking `connect`) calls
    /// [`clear_ready`](IoSource::clear_ready) first.
    ///
    /// Fails with `ErrorKind::Other` outside a runtime.
    pub fn new(fd: OwnedFd) -> io::Result<IoSource> {
        IoSource::register(fd, true)
    }

    /// As [`new`](IoSource::new), but epoll is asked for writability only
    /// once the source has to wait for it: the first write that hits
    /// `WouldBlock`, or the first [`clear_ready`](IoSource::clear_ready)
    /// of [`Direction::Write`]. Until then the source is taken to be
    /// writable, as every fresh source is.
    ///
    /// For datagram sockets: a send almost never blocks, yet the kernel
    /// reports write space each time a sent datagram is freed, so with
    /// write interest every send raises an edge, and a runtime that parks
    /// right after a send (a DNS query, say) is woken at once for it and
    /// parks again, one `epoll_pwait2` per send for nothing. Error and
    /// hang-up edges come either way.
    pub fn new_write_on_demand(fd: OwnedFd) -> io::Result<IoSource> {
        IoSource::register(fd, false)
    }

    fn register(fd: OwnedFd, write: bool) -> io::Result<IoSource> {
        let reactor = context::reactor().ok_or_else(|| {
            io::Error::other(format!(
                "fd {}: I/O sources must be created inside a tern runtime",
                fd.as_raw_fd()
            ))
        })?;
        let (token, sched) = reactor.register(fd.as_raw_fd(), write)?;
        Ok(IoSource {
            fd,
            sched,
            token,
            reactor,
            hint: Default::default(),
            peer_hint: Default::default(),
            write_armed: Cell::new(write),
        })
    }

    /// Asks epoll for this source's writability edges, before a task
    /// waits for one. On failure the callers leave the cached writability
    /// set, so the next write is tried again rather than waiting for an
    /// edge that cannot come.
    #[cold]
    #[inline(never)]
    fn arm_write(&self) -> io::Result<()> {
        self.reactor
            .arm_write(self.fd.as_raw_fd(), self.token)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "fd {}: asking epoll for writability: {e}",
                        self.fd.as_raw_fd()
                    ),
                )
            })?;
        self.write_armed.set(true);
        Ok(())
    }

    /// The readiness of `dir` is gone after `WouldBlock` (the scheduled
    /// I/O's `clear_would_block`); a write first makes sure its edge will
    /// come, and fails if it cannot.
    #[inline]
    fn would_block(&self, dir: Direction) -> io::Result<()> {
        if dir == Direction::Write && !self.write_armed.get() {
            self.arm_write()?;
        }
        self.sched.clear_would_block(dir);
        Ok(())
    }

    /// Admission of one operation (see the module docs): `Ready(Ok)` to go
    /// ahead, `Ready(Err)` for a source of another runtime, `Pending` (the
    /// task already re-woken) when its budget is spent.
    #[inline]
    fn admit(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match context::admit_io(&self.reactor) {
            Admit::Go => Poll::Ready(Ok(())),
            Admit::Yield => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Admit::Foreign => Poll::Ready(Err(self.foreign())),
        }
    }

    fn foreign(&self) -> io::Error {
        io::Error::other(format!(
            "fd {}: this I/O source belongs to a tern runtime that is not running \
             on this thread (was it created in another block_on?)",
            self.fd.as_raw_fd()
        ))
    }

    /// Ready when the cached readiness says an operation in `dir` can make
    /// progress; otherwise remembers the task's waker for the next edge
    /// (one waker per waiting task; it is dropped at the next edge).
    pub fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<()>> {
        ready!(self.admit(cx))?;
        context::charge(reactor::poll_ready(&self.sched, dir, cx).map(Ok))
    }

    /// Whether the cached readiness allows progress in `dir` now.
    pub fn is_ready(&self, dir: Direction) -> bool {
        self.sched.is_ready(dir)
    }

    /// Forgets that `dir` is ready (hang-up and error states are kept), so
    /// the next operation waits for a new edge. [`poll_io`](IoSource::poll_io)
    /// does this itself on `WouldBlock`; stream types use it after a short
    /// read or write, when the kernel's buffer is known to be drained or
    /// full. Readability is kept while urgent (`MSG_OOB`) data is pending,
    /// because a read then stops short at the urgent mark.
    ///
    /// On a source made with
    /// [`new_write_on_demand`](IoSource::new_write_on_demand), clearing
    /// [`Direction::Write`] first asks epoll for writability; if that
    /// fails, the writability is kept (the next write is simply tried).
    #[inline]
    pub fn clear_ready(&self, dir: Direction) {
        if dir == Direction::Write && !self.write_armed.get() && self.arm_write().is_err() {
            return;
        }
        self.sched.clear_ready(dir)
    }

    /// An operation in `dir` made outside [`poll_io`](IoSource::poll_io)
    /// (a receive "now", whatever the readiness) hit `WouldBlock`: forgets
    /// the readiness as `poll_io` does then, error and urgent-data bits
    /// included (the kernel had nothing to report either), where
    /// [`clear_ready`](IoSource::clear_ready) keeps them. A reader that
    /// polls readiness again then waits for the next edge instead of
    /// finding a stale error bit and spinning on `WouldBlock`.
    #[inline]
    pub fn note_would_block(&self, dir: Direction) -> io::Result<()> {
        self.would_block(dir)
    }

    /// Runs the non-blocking operation `op` once the cached readiness allows
    /// it. `WouldBlock` clears the readiness and returns `Pending` (the task
    /// is woken by the next edge); `Interrupted` retries; anything else is
    /// returned.
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        ready!(self.admit(cx))?;
        loop {
            ready!(reactor::poll_ready(&self.sched, dir, cx));
            match op(self.fd.as_fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.would_block(dir)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => {
                    context::spend();
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Runs `op` as [`poll_io`](IoSource::poll_io) does, as a future. If
    /// the future is dropped while it waits, its waker is removed at once.
    pub fn io<R, F>(&self, dir: Direction, op: F) -> Io<'_, F>
    where
        F: FnMut(BorrowedFd<'_>) -> io::Result<R>,
    {
        Io {
            waiter: Waiter::new(self, dir),
            op,
        }
    }

    /// Waits until the cached readiness allows progress in `dir`.
    pub fn ready(&self, dir: Direction) -> ReadyFuture<'_> {
        ReadyFuture {
            waiter: Waiter::new(self, dir),
        }
    }

    /// Records that this source, a datagram socket, is bound to `addr`.
    /// Used by tern-net's `UdpSocket` for the loopback fast path (see the
    /// reactor's `loopback` module); not part of the supported API.
    #[doc(hidden)]
    pub fn set_local_addr(&self, addr: SocketAddr) {
        self.reactor.set_local_addr(&self.sched, addr)
    }

    /// Tells the runtime that a datagram was just sent from this source to
    /// `dest` (the loopback fast path); not part of the supported API.
    #[doc(hidden)]
    #[inline]
    pub fn loopback_sent(&self, dest: SocketAddr) {
        self.reactor.loopback_sent(dest, &self.hint)
    }

    /// Scratch space shared by the sources of this runtime, empty until a
    /// caller sizes it: tern-net's UDP receive-ahead lands a second
    /// datagram there. Borrowed for the caller's own few steps (no user
    /// code may run while it is held; a second borrow panics); not part of
    /// the supported API.
    #[doc(hidden)]
    #[inline]
    pub fn landing(&self) -> std::cell::RefMut<'_, Vec<u8>> {
        self.reactor.landing()
    }

    /// Whether this source is registered with the runtime running on this
    /// thread (a source of another runtime cannot be waited on here).
    pub(crate) fn is_current(&self) -> bool {
        crate::context::is_current_reactor(&self.reactor)
    }

    /// Takes the oldest report off this datagram socket's error queue
    /// (`MSG_ERRQUEUE`), if there is one. With `IP_RECVERR` the kernel
    /// queues each ICMP error there, charged to the receive buffer, besides
    /// the pending error a receive reports; tern-net's UDP receives take
    /// one off per error they report, or a few hundred errors would fill
    /// the receive buffer for good. The next report, if any, becomes the
    /// pending error. Not part of the supported API.
    #[doc(hidden)]
    pub fn dequeue_error(&self) {
        // Empty or not, nothing is left to do: the result is not needed.
        let _ = crate::sys::socket::dequeue_error(self.fd.as_fd());
    }

    /// Records that this source, a datagram socket, is connected to
    /// `peer` (or to none), for
    /// [`loopback_sent_to_peer`](IoSource::loopback_sent_to_peer); not part
    /// of the supported API.
    #[doc(hidden)]
    pub fn set_peer(&self, peer: Option<SocketAddr>) {
        self.peer_hint.set_peer(peer)
    }

    /// Tells the runtime that a datagram was just sent from this source to
    /// the peer given to [`set_peer`](IoSource::set_peer) (the loopback fast
    /// path, without comparing addresses); not part of the supported API.
    #[doc(hidden)]
    #[inline]
    pub fn loopback_sent_to_peer(&self) {
        self.reactor.loopback_sent_to_peer(&self.peer_hint)
    }
}

/// A task's place in the wait for one direction of a source.
struct Waiter<'a> {
    source: &'a IoSource,
    dir: Direction,
    key: Option<usize>,
}

impl<'a> Waiter<'a> {
    fn new(source: &'a IoSource, dir: Direction) -> Waiter<'a> {
        Waiter {
            source,
            dir,
            key: None,
        }
    }

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        reactor::poll_ready_keyed(&self.source.sched, self.dir, &mut self.key, cx)
    }
}

impl Drop for Waiter<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key {
            reactor::remove_waiter(&self.source.sched, self.dir, key);
        }
    }
}

/// Future of [`IoSource::io`].
#[must_use = "futures do nothing unless awaited"]
pub struct Io<'a, F> {
    waiter: Waiter<'a>,
    op: F,
}

impl<F> Unpin for Io<'_, F> {}

impl<R, F> Future for Io<'_, F>
where
    F: FnMut(BorrowedFd<'_>) -> io::Result<R>,
{
    type Output = io::Result<R>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = self.get_mut();
        let source = this.waiter.source;
        ready!(source.admit(cx))?;
        loop {
            ready!(this.waiter.poll_ready(cx));
            match (this.op)(source.fd.as_fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    source.would_block(this.waiter.dir)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => {
                    context::spend();
                    return Poll::Ready(res);
                }
            }
        }
    }
}

impl<F> fmt::Debug for Io<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("source", self.waiter.source)
            .field("dir", &self.waiter.dir)
            .finish()
    }
}

/// Future of [`IoSource::ready`].
#[must_use = "futures do nothing unless awaited"]
pub struct ReadyFuture<'a> {
    waiter: Waiter<'a>,
}

impl Future for ReadyFuture<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.waiter.source.admit(cx))?;
        context::charge(this.waiter.poll_ready(cx).map(Ok))
    }
}

impl fmt::Debug for ReadyFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyFuture")
            .field("source", self.waiter.source)
            .field("dir", &self.waiter.dir)
            .finish()
    }
}

impl AsFd for IoSource {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for IoSource {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for IoSource {
    fn drop(&mut self) {
        // Deregister before `self.fd` is closed (fields drop after this).
        self.reactor.deregister(self.fd.as_raw_fd(), self.token);
    }
}

impl fmt::Debug for IoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoSource")
            .field("fd", &self.fd.as_raw_fd())
            .field("token", &self.token)
            .finish()
    }
}
