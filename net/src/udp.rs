//! [`UdpSocket`].

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{ready, Context, Poll};

use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket::{self, Kind};

/// Most datagrams (and errors) [`UdpSocket::disconnect`] drops in one call.
const DRAIN_LIMIT: usize = 4096;

/// An async UDP socket.
///
/// ```no_run
/// # tern::block_on(async {
/// let sock = tern::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let mut buf = [0u8; 1500];
/// let (n, from) = sock.recv_from(&mut buf).await?;
/// sock.send_to(&buf[..n], from).await?;
/// # std::io::Result::Ok(()) });
/// ```
pub struct UdpSocket {
    io: IoSource,
    /// The peer set by `connect`, if any: where `send` goes.
    peer: Cell<Option<SocketAddr>>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (port 0 picks an ephemeral port).
    ///
    /// A socket bound to a loopback or wildcard address is known to its
    /// runtime by that address: a datagram another socket of the same
    /// runtime sends it over loopback wakes its reader at once, without an
    /// epoll wait (the kernel has normally queued it by then; if not, the
    /// receive waits for the real edge). Learning the port picked for port
    /// 0 costs one `getsockname`.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let fd = socket::socket(&addr, Kind::Datagram)?;
        socket::bind(fd.as_fd(), &addr)
            .map_err(|e| io::Error::new(e.kind(), format!("bind udp {addr}: {e}")))?;
        let sock = UdpSocket::from_fd(fd)?;
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            let bound = if addr.port() == 0 {
                sock.local_addr()?
            } else {
                addr
            };
            sock.io.set_local_addr(bound);
        }
        Ok(sock)
    }

    /// Creates a socket connected to `peer`, bound by the kernel to a fresh
    /// ephemeral port (one syscall fewer than `bind` then `connect`). Only
    /// datagrams from `peer` are received.
    pub fn connected(peer: SocketAddr) -> io::Result<UdpSocket> {
        let fd = socket::socket(&peer, Kind::Datagram)?;
        socket::connect(fd.as_fd(), &peer)
            .map_err(|e| io::Error::new(e.kind(), format!("connect udp {peer}: {e}")))?;
        let sock = UdpSocket::from_fd(fd)?;
        sock.peer.set(Some(peer));
        Ok(sock)
    }

    /// Takes over a std socket (it is switched to non-blocking mode).
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        let peer = s.peer_addr().ok();
        let local = s.local_addr()?;
        let fd = OwnedFd::from(s);
        socket::set_nonblocking(fd.as_fd())?;
        let sock = UdpSocket::from_fd(fd)?;
        sock.peer.set(peer);
        sock.io.set_local_addr(local);
        Ok(sock)
    }

    fn from_fd(fd: OwnedFd) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: IoSource::new(fd)?,
            peer: Cell::new(None),
        })
    }

    /// Sets the default peer: `send`/`recv` use it, and datagrams from other
    /// addresses are no longer received.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        socket::connect(self.io.as_fd(), &addr)
            .map_err(|e| io::Error::new(e.kind(), format!("connect udp {addr}: {e}")))?;
        self.peer.set(Some(addr));
        Ok(())
    }

    /// Sends a datagram to `target`.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Receives a datagram and its sender's address. A datagram longer than
    /// `buf` is truncated to it.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Sends a datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Receives a datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls to receive a datagram and its sender's address.
    ///
    /// After a datagram is received the socket is assumed drained (see
    /// `IoSource::assume_drained`): in a request/response exchange the next
    /// receive waits for the reply's edge instead of first making a call
    /// that would say `WouldBlock`. A datagram that was already queued is
    /// still delivered, once the runtime has no other work or within a few
    /// reactor turns.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll_receive(cx, |fd| socket::recv_from(fd, buf))
    }

    /// Polls to send a datagram to `target`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        let n = ready!(self
            .io
            .poll_io(cx, Direction::Write, |fd| socket::send_to(fd, buf, &target)))?;
        self.io.loopback_sent(target);
        Poll::Ready(Ok(n))
    }

    /// Polls to receive a datagram from the connected peer.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_receive(cx, |fd| socket::recv(fd, buf))
    }

    /// Runs a receive `op` when readable; after a datagram, assumes the
    /// queue drained (see [`poll_recv_from`](UdpSocket::poll_recv_from)).
    fn poll_receive<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let res = ready!(self.io.poll_io(cx, Direction::Read, op));
        if res.is_ok() {
            self.io.assume_drained();
        }
        Poll::Ready(res)
    }

    /// Polls to send a datagram to the connected peer.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(self
            .io
            .poll_io(cx, Direction::Write, |fd| socket::send(fd, buf)))?;
        if let Some(peer) = self.peer.get() {
            self.io.loopback_sent(peer);
        }
        Poll::Ready(Ok(n))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.io.as_fd())
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(self.io.as_fd())
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        socket::take_error(self.io.as_fd())
    }

    /// Dissolves the association set by [`connect`](UdpSocket::connect)
    /// (`connect(AF_UNSPEC)`), then drops the datagrams still queued from
    /// the old peer; returns how many. A socket whose port the kernel
    /// picked at `connect` (as [`connected`](UdpSocket::connected) does)
    /// releases that port, and the next `connect` picks a new random one:
    /// a fresh source port without a new socket or epoll registration. A
    /// port bound by number (`bind` with a nonzero port) is kept.
    pub fn disconnect(&self) -> io::Result<usize> {
        let fd = self.io.as_fd();
        socket::disconnect(fd).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("disconnect udp fd {}: {e}", fd.as_raw_fd()),
            )
        })?;
        self.peer.set(None);
        // Nothing arrives once the association is gone; what came before
        // is read (cut to one byte) and dropped.
        // A pending error (ICMP from the old peer) is taken and dropped
        // too. Bounded: the receive buffer holds a bounded number.
        let mut dropped = 0;
        let mut scrap = [0u8; 1];
        for _ in 0..DRAIN_LIMIT {
            match socket::recv(fd, &mut scrap) {
                Ok(_) => dropped += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {}
            }
        }
        self.io.clear_ready(Direction::Read);
        Ok(dropped)
    }

    /// One non-blocking receive from the connected peer now, whatever the
    /// runtime last saw of the socket's readiness: `WouldBlock` when
    /// nothing is queued. For a reply that may already be there right
    /// after a send (a peer on loopback often answers before the send
    /// returns); waiting is [`recv`](UdpSocket::recv)'s job.
    pub fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        socket::recv(self.io.as_fd(), buf)
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
