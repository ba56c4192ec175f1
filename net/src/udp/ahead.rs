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
//! - The second datagram lands in a per-thread buffer of 64 KiB, larger
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
use tern_runtime::sys::socket::{self, RecvMeta};

use super::UdpSocket;

/// Larger than any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6).
const LANDING: usize = 65_536;

thread_local! {
    /// Where the second datagram of a receive lands (allocated on first
    /// use). A receive takes it out and puts it back, so each thread-local
    /// access is a small, inlined one; a receive nested inside another
    /// (none is today) would only allocate a landing buffer of its own.
    static SECOND: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Bytes of held-datagram storage a socket keeps between datagrams; a
/// longer one's storage is given back once it is taken.
const KEEP: usize = 2048;

/// A datagram received ahead of its reader.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    held: RefCell<Held>,
    /// The last receive of two found a second datagram: datagrams are
    /// coming faster than they are read, and plain receives (cheaper per
    /// datagram in the kernel) run until one finds the queue empty.
    bursting: Cell<bool>,
}

/// The held datagram's bytes (storage reused from one to the next, so a
/// burst costs no allocation per datagram) and its sender, if one is held.
#[derive(Debug, Default)]
struct Held {
    data: Vec<u8>,
    from: Option<SocketAddr>,
}

impl Held {
    /// Gives back storage grown past [`KEEP`] by a long datagram.
    fn shrink(&mut self) {
        if self.data.capacity() > KEEP {
            self.data = Vec::new();
        }
    }
}

impl Ahead {
    /// Holds `data` from `from`.
    fn hold(&self, data: &[u8], from: SocketAddr) {
        let mut held = self.held.borrow_mut();
        held.data.clear();
        held.data.extend_from_slice(data);
        held.from = Some(from);
    }

    /// Moves the held datagram into `buf` (cut to it); its real length and
    /// sender.
    fn take(&self, buf: &mut [u8]) -> Option<(usize, usize, SocketAddr)> {
        let mut held = self.held.borrow_mut();
        let from = held.from.take()?;
        let got = (copy(&held.data, buf), held.data.len(), from);
        held.shrink();
        Some(got)
    }

    /// Copies the held datagram into `buf` (cut to it), keeping it.
    fn peek(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let held = self.held.borrow();
        let from = held.from?;
        Some((copy(&held.data, buf), from))
    }

    /// Drops the held datagram; whether there was one.
    pub(super) fn forget(&self) -> bool {
        self.bursting.set(false);
        let mut held = self.held.borrow_mut();
        held.shrink();
        held.from.take().is_some()
    }
}

fn copy(data: &[u8], buf: &mut [u8]) -> usize {
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    n
}

impl UdpSocket {
    /// One receive into `buf`: the held datagram, else a receive of two.
    /// A datagram longer than `buf` is cut to it, as `recvfrom` does.
    pub(super) fn receive(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr)> {
        if let Some((n, _, from)) = self.ahead.take(buf) {
            return Ok((n, from));
        }
        if self.ahead.bursting.get() {
            // Readiness stays set after a datagram, so the next receive
            // runs the syscall again; the one that finds the queue empty
            // (WouldBlock) clears it and ends the burst. The sender is
            // asked for: after a `connect` to a new peer, datagrams from
            // the old one may still be queued.
            let got = socket::recv_from(fd, buf);
            if matches!(&got, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                self.ahead.bursting.set(false);
            }
            return got;
        }
        let mut second = SECOND.with(Cell::take);
        if second.len() < LANDING {
            second.resize(LANDING, 0);
        }
        let got = socket::recv_two(fd, buf, &mut second);
        if let Ok((got, meta)) = &got {
            if *got >= 2 {
                // Readiness stays set: the next receive finds it.
                self.ahead
                    .hold(&second[..meta[1].len.min(LANDING)], meta[1].addr);
                self.ahead.bursting.set(true);
            } else {
                // The queue was empty when the call returned.
                self.io.clear_ready(Direction::Read);
            }
        }
        SECOND.with(|s| s.set(second));
        let (_, meta) = got?;
        Ok((meta[0].len, meta[0].addr))
    }

    /// Peeks at the next datagram: the held one, else the kernel's.
    pub(super) fn peek_next(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr)> {
        match self.ahead.peek(buf) {
            Some(r) => Ok(r),
            None => socket::peek_from(fd, buf),
        }
    }

    /// Whether a datagram is held ahead of its reader.
    pub(super) fn ahead_is_held(&self) -> bool {
        self.ahead.held.borrow().from.is_some()
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
