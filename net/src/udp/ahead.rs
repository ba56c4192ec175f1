//! Receive-ahead: every receive asks the kernel for two datagrams
//! (`recvmmsg` of two). The second, if one was queued, is held on the
//! socket and handed to the next receive without a syscall.
//!
//! # Why
//!
//! An edge-triggered registration says nothing about how many datagrams
//! are queued, so after a plain receive the runtime must keep the socket
//! readable and try again, and in a request/response exchange that try is
//! a syscall that only says `WouldBlock`. A receive of two that returns one
//! tells for certain that the queue was empty when the call returned: the
//! socket's readiness is then cleared, and a datagram that arrives later
//! raises a new edge (or, from a socket of the same runtime, a loopback
//! hint; see the reactor's `loopback` module). So a ping-pong costs the
//! send and the receive per message, and a burst is taken two datagrams
//! per syscall, with nothing left behind.
//!
//! When a receive of two finds a second datagram, datagrams are coming
//! faster than they are read: the next receives are plain `recvfrom`s
//! (cheaper per datagram in the kernel than `recvmmsg`), which keep the
//! socket readable, so each next receive runs the syscall again; the one
//! that finds the queue empty clears readiness and goes back to receives
//! of two. A burst costs one `WouldBlock` at its end; a request/response
//! exchange never enters this mode.
//!
//! # Invariants
//!
//! - The second datagram lands in a per-runtime buffer of 64 KiB, larger
//!   than any datagram, so it is never cut; it is then copied to storage
//!   the socket keeps from one held datagram to the next (no allocation
//!   per datagram; storage over 2 KiB is given back once taken).
//! - While a datagram is held, the socket stays readable (readiness is
//!   cleared only by a receive that found the queue empty, and then
//!   nothing is held), so a reader never waits while one is there: a
//!   reader waits only on a socket that is not readable, and the edge that
//!   makes it readable wakes every waiting reader. Each receive path
//!   (plain, connected, poll, peek, batch, `recv_now`) looks at the held
//!   datagram first, and `disconnect` drops it with the rest.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use tern_runtime::io::Direction;
use tern_runtime::sys::socket::{self, RecvMeta, Two};

use super::UdpSocket;

/// Larger than any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6).
const LANDING: usize = 65_536;

/// Bytes of held-datagram storage a socket keeps between datagrams; a
/// longer one's storage is given back once it is taken.
const KEEP: usize = 2048;

/// A datagram received ahead of its reader.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    /// The held datagram's sender, if one is held.
    from: Cell<Option<SocketAddr>>,
    /// The held datagram's bytes (storage reused from one to the next, so
    /// a burst costs no allocation per datagram).
    data: RefCell<Vec<u8>>,
    /// The last receive of two found a second datagram: datagrams are
    /// coming faster than they are read, and plain receives (cheaper per
    /// datagram in the kernel) run until one finds the queue empty.
    bursting: Cell<bool>,
}

impl Ahead {
    /// Whether a datagram is held.
    #[inline]
    fn is_held(&self) -> bool {
        self.from.get().is_some()
    }

    /// Holds `data` from `from`: datagrams are coming faster than they
    /// are read (see the module docs).
    #[cold]
    #[inline(never)]
    fn hold(&self, data: &[u8], from: SocketAddr) {
        let mut held = self.data.borrow_mut();
        held.clear();
        held.extend_from_slice(data);
        self.from.set(Some(from));
        self.bursting.set(true);
    }

    /// Moves the held datagram into `buf` (cut to it); its real length and
    /// sender.
    fn take(&self, buf: &mut [u8]) -> Option<(usize, usize, SocketAddr)> {
        let from = self.from.take()?;
        let mut data = self.data.borrow_mut();
        let got = (copy(&data, buf), data.len(), from);
        shrink(&mut data);
        Some(got)
    }

    /// Copies the held datagram into `buf` (cut to it), keeping it.
    fn peek(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let from = self.from.get()?;
        Some((copy(&self.data.borrow(), buf), from))
    }

    /// Drops the held datagram; whether there was one.
    pub(super) fn forget(&self) -> bool {
        self.bursting.set(false);
        shrink(&mut self.data.borrow_mut());
        self.from.take().is_some()
    }
}

/// Gives back storage grown past [`KEEP`] by a long datagram.
fn shrink(data: &mut Vec<u8>) {
    if data.capacity() > KEEP {
        *data = Vec::new();
    }
}

/// Sizes the landing buffer on its runtime's first receive.
#[cold]
#[inline(never)]
fn grow_landing(second: &mut Vec<u8>) {
    second.resize(LANDING, 0);
}

fn copy(data: &[u8], buf: &mut [u8]) -> usize {
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    n
}

impl UdpSocket {
    /// One receive into `buf`: the held datagram, else a receive of two.
    /// A datagram longer than `buf` is cut to it, as `recvfrom` does.
    #[inline]
    pub(super) fn receive(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr)> {
        if self.ahead.is_held() || self.ahead.bursting.get() {
            return self.receive_queued(fd, buf);
        }
        let two = self.receive_two(fd, buf, true)?;
        match two.first_from {
            Some(from) => Ok((two.first_len, from)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "udp receive: the kernel gave no sender address",
            )),
        }
    }

    /// As [`receive`](UdpSocket::receive), for a caller that has no use
    /// for the sender (a connected socket's `recv`): the kernel is not
    /// asked for the address.
    #[inline]
    pub(super) fn receive_len(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        if self.ahead.is_held() || self.ahead.bursting.get() {
            return self.receive_queued(fd, buf).map(|(n, _)| n);
        }
        Ok(self.receive_two(fd, buf, false)?.first_len)
    }

    /// As [`receive_len`](UdpSocket::receive_len), for a receive made
    /// whatever the runtime saw of readiness (`recv_now`). A second
    /// datagram is held only on a socket the runtime sees readable: on one
    /// it does not, the edge those datagrams raised may be dropped by
    /// epoll once the kernel's queue is empty, and the held one would wait
    /// for a later datagram. There a plain receive leaves the rest queued
    /// in the kernel, and its edge comes.
    pub(super) fn receive_len_now(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        if self.ahead.is_held() || self.ahead.bursting.get() || self.io.is_ready(Direction::Read) {
            return self.receive_len(fd, buf);
        }
        self.reported(socket::recv(fd, buf))
    }

    /// `got`, after taking the report of an error it carries off the
    /// socket's error queue: with `IP_RECVERR` an ICMP error is queued
    /// there too, charged to the receive buffer, and the receive or send
    /// that reports it (a send takes a pending error as a receive does)
    /// leaves it there (see `IoSource::dequeue_error`).
    #[inline]
    pub(super) fn reported<T>(&self, got: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &got {
            if !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                self.io.dequeue_error();
            }
        }
        got
    }

    /// A receive of two (see the module docs); the first datagram's sender
    /// is asked for only with `sender`.
    #[inline]
    fn receive_two(&self, fd: BorrowedFd<'_>, buf: &mut [u8], sender: bool) -> io::Result<Two> {
        // The runtime's scratch buffer, borrowed only around the syscall
        // and the copy of a second datagram into this socket's storage.
        let mut second = self.io.landing();
        if second.len() < LANDING {
            grow_landing(&mut second);
        }
        let got = self.reported(socket::recv_two(fd, buf, &mut second, sender));
        match &got {
            // Readiness stays set: the next receive finds it.
            Ok(Two {
                second: Some((len, from)),
                ..
            }) => self.ahead.hold(&second[..(*len).min(LANDING)], *from),
            // The queue was empty when the call returned.
            Ok(_) => self.io.clear_ready(Direction::Read),
            Err(_) => {}
        }
        got
    }

    /// A receive while datagrams are coming faster than they are read:
    /// the held one, else a plain receive.
    #[cold]
    #[inline(never)]
    fn receive_queued(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr)> {
        if let Some((n, _, from)) = self.ahead.take(buf) {
            return Ok((n, from));
        }
        // Readiness stays set after a datagram, so the next receive runs
        // the syscall again; the one that finds the queue empty
        // (WouldBlock) clears it and ends the burst. The sender is asked
        // for: after a `connect` to a new peer, datagrams from the old one
        // may still be queued.
        let got = self.reported(socket::recv_from(fd, buf));
        if matches!(&got, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.ahead.bursting.set(false);
        }
        got
    }

    /// Peeks at the next datagram: the held one, else the kernel's.
    pub(super) fn peek_next(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr)> {
        match self.ahead.peek(buf) {
            Some(r) => Ok(r),
            None => self.reported(socket::peek_from(fd, buf)),
        }
    }

    /// Whether a datagram is held ahead of its reader.
    pub(super) fn ahead_is_held(&self) -> bool {
        self.ahead.is_held()
    }

    /// The held datagram as the one result of a batch receive, if there
    /// is one.
    pub(super) fn take_ahead_into(&self, buf: &mut [u8], meta: &mut RecvMeta) -> bool {
        match self.ahead.take(buf) {
            Some((n, len, from)) => {
                meta.len = n;
                meta.addr = from;
                meta.truncated = len > n;
                true
            }
            None => false,
        }
    }
}
