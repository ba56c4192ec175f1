//! [`IoSource`]: a file descriptor registered with the current runtime's
//! reactor, and the building block of tern-net.
//!
//! ```ignore
//! // A non-blocking receive: the closure runs the syscall; on WouldBlock the
//! // cached readiness is cleared and the task waits for the next edge.
//! source.poll_io(cx, Direction::Read, |fd| sys::socket::recv(fd, buf))
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use crate::executor::current_reactor;
use crate::reactor::{Reactor, Token};

pub use crate::reactor::Direction;

/// An fd registered (once, edge-triggered) with a runtime's reactor.
///
/// Dropping it removes the fd from epoll and then closes it. It belongs to
/// the runtime it was created in and is neither `Send` nor `Sync`.
pub struct IoSource {
    fd: OwnedFd,
    token: Token,
    reactor: Rc<Reactor>,
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
        let reactor = current_reactor().ok_or_else(|| {
            io::Error::other(format!(
                "fd {}: I/O sources must be created inside a tern runtime",
                fd.as_raw_fd()
            ))
        })?;
        let token = reactor.register(fd.as_raw_fd())?;
        Ok(IoSource { fd, token, reactor })
    }

    /// Ready when the cached readiness says an operation in `dir` can make
    /// progress; otherwise remembers the task's waker for the next edge.
    pub fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<()> {
        self.reactor.poll_ready(self.token, dir, cx)
    }

    /// Whether the cached readiness allows progress in `dir` now.
    pub fn is_ready(&self, dir: Direction) -> bool {
        self.reactor.is_ready(self.token, dir)
    }

    /// Forgets that `dir` is ready (hang-up and error states are kept), so
    /// the next operation waits for a new edge. [`poll_io`](IoSource::poll_io)
    /// does this itself on `WouldBlock`; callers use it when they know the
    /// kernel queue is drained, e.g. after a short stream read.
    pub fn clear_ready(&self, dir: Direction) {
        self.reactor.clear_ready(self.token, dir)
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
        loop {
            ready!(self.poll_ready(cx, dir));
            match op(self.fd.as_fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor.clear_would_block(self.token, dir)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return Poll::Ready(res),
            }
        }
    }

    /// Drops readability after a read that may have emptied a datagram
    /// socket's queue, without the read that would confirm it. The reactor
    /// restores it and wakes the reader before the runtime sleeps and at
    /// least every few turns, so nothing queued is left behind; a new edge
    /// confirms it sooner.
    pub fn assume_drained(&self) {
        self.reactor.assume_drained(self.token)
    }

    /// Records that this source, a datagram socket, is bound to `addr`, a
    /// loopback or wildcard address. A datagram another source of the same
    /// runtime sends there over loopback
    /// ([`loopback_sent`](IoSource::loopback_sent)) then makes it readable
    /// at once, without an epoll wait: the kernel has normally queued it
    /// by the time the send returns (when it has not, the receive says
    /// `WouldBlock` and waits for the real edge). Other addresses are
    /// ignored. Only for datagram sockets: the map does not tell protocols
    /// apart, and a stream listener registered here would get spurious
    /// wake-ups from datagrams sent to its port.
    pub fn set_local_addr(&self, addr: SocketAddr) {
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            self.reactor.set_local_addr(self.token, addr)
        }
    }

    /// Tells the runtime that a datagram was just sent from this source to
    /// `dest`. If `dest` is a loopback address where another source of the
    /// same runtime is bound (see [`set_local_addr`](IoSource::set_local_addr)),
    /// that source becomes readable and its readers are woken. Costs no
    /// syscall; does nothing for other addresses.
    pub fn loopback_sent(&self, dest: SocketAddr) {
        if dest.ip().is_loopback() {
            self.reactor.loopback_sent(dest)
        }
    }

    /// Async form of [`poll_io`](IoSource::poll_io).
    pub async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        poll_fn(|cx| self.poll_io(cx, dir, &mut op)).await
    }

    /// Waits until the cached readiness allows progress in `dir`.
    pub async fn ready(&self, dir: Direction) {
        poll_fn(|cx| self.poll_ready(cx, dir)).await
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
