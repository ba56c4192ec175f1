//! [`UdpSocket`]; its socket options are in `udp/options.rs` and its
//! batched receive and send (`recvmmsg`/`sendmmsg`) in `udp/batch.rs`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::task::{ready, Context, Poll};

use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket::{self, SocketType};

mod ahead;
mod batch;
mod options;

pub use tern_runtime::sys::socket::RecvMeta;

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
    /// A datagram received ahead of its reader (see `udp/ahead.rs`).
    ahead: ahead::Ahead,
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
        let fd = socket::socket(&addr, SocketType::Datagram)?;
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
        let fd = socket::socket(&peer, SocketType::Datagram)?;
        socket::connect(fd.as_fd(), &peer)
            .map_err(|e| io::Error::new(e.kind(), format!("connect udp {peer}: {e}")))?;
        let sock = UdpSocket::from_fd(fd)?;
        sock.set_peer(Some(peer));
        Ok(sock)
    }

    /// Creates a socket of `peer`'s address family that is not bound yet:
    /// the first [`send_to`](UdpSocket::send_to) binds it to a random
    /// ephemeral port, as `connect` does for [`connected`](UdpSocket::connected),
    /// and [`release_port`](UdpSocket::release_port) gives that port back
    /// so the next send picks a new one. Nothing is sent to `peer`.
    pub fn unbound(peer: SocketAddr) -> io::Result<UdpSocket> {
        let fd = socket::socket(&peer, SocketType::Datagram)?;
        UdpSocket::from_fd(fd)
    }

    /// Takes over a std socket (it is switched to non-blocking mode).
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        let peer = s.peer_addr().ok();
        let local = s.local_addr()?;
        let fd = OwnedFd::from(s);
        socket::set_nonblocking(fd.as_fd())?;
        let sock = UdpSocket::from_fd(fd)?;
        sock.set_peer(peer);
        sock.io.set_local_addr(local);
        Ok(sock)
    }

    fn from_fd(fd: OwnedFd) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: IoSource::new_write_on_demand(fd)?,
            ahead: ahead::Ahead::default(),
        })
    }

    /// Sets the default peer: `send`/`recv` use it, and datagrams from other
    /// addresses are no longer received.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        socket::connect(self.io.as_fd(), &addr)
            .map_err(|e| io::Error::new(e.kind(), format!("connect udp {addr}: {e}")))?;
        self.set_peer(Some(addr));
        Ok(())
    }

    /// Remembers the connected peer (where `send` goes) for the runtime's
    /// loopback hint.
    fn set_peer(&self, peer: Option<SocketAddr>) {
        self.io.set_peer(peer);
    }

    /// Sends a datagram to `target`.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let n = self
            .io
            .io(Direction::Write, |fd| {
                self.reported(socket::send_to(fd, buf, &target))
            })
            .await
            .map_err(send_error("send_to", &target))?;
        self.io.loopback_sent(target);
        Ok(n)
    }

    /// Receives a datagram and its sender's address. A datagram longer than
    /// `buf` is truncated to it.
    ///
    /// Each receive asks the kernel for two datagrams and holds the second
    /// for the next receive: a reader keeps receiving while datagrams are
    /// queued, and waits for an edge only once the kernel has shown its
    /// queue empty (see `udp/ahead.rs`).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .io(Direction::Read, |fd| self.receive(fd, &mut *buf))
            .await
    }

    /// Sends a datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .io
            .io(Direction::Write, |fd| self.reported(socket::send(fd, buf)))
            .await?;
        self.io.loopback_sent_to_peer();
        Ok(n)
    }

    /// Receives a datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io
            .io(Direction::Read, |fd| self.receive_len(fd, &mut *buf))
            .await
    }

    /// Polls to receive a datagram and its sender's address.
    ///
    /// Only the tasks that poll it get woken; as with tokio's poll-based
    /// API, prefer [`recv_from`](UdpSocket::recv_from), whose future also
    /// gives up its place in the wait when dropped.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io
            .poll_io(cx, Direction::Read, |fd| self.receive(fd, buf))
    }

    /// Polls to send a datagram to `target`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        let n = ready!(self.io.poll_io(cx, Direction::Write, |fd| self
            .reported(socket::send_to(fd, buf, &target))))
        .map_err(send_error("send_to", &target))?;
        self.io.loopback_sent(target);
        Poll::Ready(Ok(n))
    }

    /// Polls to receive a datagram from the connected peer.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Read, |fd| self.receive_len(fd, buf))
    }

    /// Polls to send a datagram to the connected peer.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(self.io.poll_io(cx, Direction::Write, |fd| self
            .reported(socket::send(fd, buf))))?;
        self.io.loopback_sent_to_peer();
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
    /// port bound by number (`bind` with a nonzero port) is kept; one the
    /// kernel picked for `bind` with port 0 is released too (Linux keeps
    /// only ports bound by number), leaving the socket on port 0 until its
    /// next `connect` or send.
    pub fn disconnect(&self) -> io::Result<usize> {
        self.dissolve("disconnect")?;
        let fd = self.io.as_fd();
        // Nothing arrives once the association is gone; what came before
        // is read (cut to one byte) and dropped.
        // A pending error (ICMP from the old peer) is taken and dropped
        // too. Bounded: the receive buffer holds a bounded number.
        let mut dropped = usize::from(self.ahead.forget());
        let mut scrap = [0u8; 1];
        for _ in 0..DRAIN_LIMIT {
            match self.reported(socket::recv(fd, &mut scrap)) {
                Ok(_) => dropped += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Only a queue seen empty clears readiness: what the
                    // limit leaves queued is read by the next receive.
                    self.io.clear_ready(Direction::Read);
                    break;
                }
                Err(_) => {}
            }
        }
        Ok(dropped)
    }

    /// Gives back the port the kernel picked for this socket (at its first
    /// send, or at `connect`) with `connect(AF_UNSPEC)`, so the next send
    /// or `connect` picks a new random ephemeral port: a fresh source port
    /// for the price of one syscall, without a new socket or epoll
    /// registration. Unlike [`disconnect`](UdpSocket::disconnect) it does
    /// not drain the receive queue: datagrams already queued stay there
    /// for the next receive (one syscall less; for callers that check
    /// every datagram's sender and content anyway). A port bound by number
    /// is kept.
    pub fn release_port(&self) -> io::Result<()> {
        self.dissolve("release port of")
    }

    /// [`release_port`](UdpSocket::release_port) for a caller that expects
    /// nothing more from the old port: the socket is also marked not
    /// readable, and a datagram held ahead is dropped. What is still queued
    /// stays there, unread, until a receive after the next edge, which any
    /// datagram arriving later raises (each datagram queued on a socket
    /// raises one, even behind others; `net/tests/udp_edges.rs` checks
    /// this kernel behaviour); so a reply to a query sent after this wakes
    /// its reader, and the reader meets the older datagrams first. For
    /// callers that check every datagram's sender and content, and that
    /// would otherwise pay a receive that finds the queue empty after each
    /// exchange (see [`recv_one_now`](UdpSocket::recv_one_now)).
    ///
    /// A datagram the kernel drops raises no edge, and it drops every one
    /// while the receive buffer is full; it also goes on charging the
    /// buffer for datagrams read while others wait behind them. So if what
    /// stays queued fills the buffer, no later datagram wakes a reader:
    /// the socket is deaf until something reads it regardless of readiness
    /// (`recv_one_now` until `WouldBlock`). A caller that waited for a
    /// reply in vain should give the port back with
    /// [`disconnect`](UdpSocket::disconnect) instead, which drops what is
    /// queued.
    pub fn release_port_idle(&self) -> io::Result<()> {
        self.dissolve("release port of")?;
        self.ahead.forget();
        self.io.clear_ready(Direction::Read);
        Ok(())
    }

    /// `connect(AF_UNSPEC)`: the association (and an autobound port) is
    /// gone; errors say `what` was done to which fd.
    fn dissolve(&self, what: &str) -> io::Result<()> {
        let fd = self.io.as_fd();
        socket::disconnect(fd).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{what} udp fd {}: {e}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                ),
            )
        })?;
        self.set_peer(None);
        Ok(())
    }

    /// One non-blocking receive from the connected peer now, whatever the
    /// runtime last saw of the socket's readiness: `WouldBlock` when
    /// nothing is queued. For a reply that may already be there right
    /// after a send (a peer on loopback often answers before the send
    /// returns); waiting is [`recv`](UdpSocket::recv)'s job.
    pub fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive_len_now(self.io.as_fd(), buf)
    }
}

/// Names the datagram's target (and the call) in a send error; the kind
/// is kept. Only the error path pays for it.
fn send_error<'a>(
    what: &'a str,
    target: &'a SocketAddr,
) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{what} udp {target}: {e}"))
}

// ===== string addresses and peeking =====

impl UdpSocket {
    /// Like [`bind`](UdpSocket::bind), with the address given as a numeric
    /// string such as `"127.0.0.1:0"` or `"[::1]:5353"`. Anything else is
    /// `ErrorKind::InvalidInput` naming the string.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let sock = tern::net::UdpSocket::bind_str("[::1]:0")?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn bind_str(addr: &str) -> io::Result<UdpSocket> {
        UdpSocket::bind(crate::addr::parse(addr)?)
    }

    /// Like [`connect`](UdpSocket::connect), with the address given as a
    /// numeric string such as `"127.0.0.1:53"`.
    pub fn connect_str(&self, addr: &str) -> io::Result<()> {
        self.connect(crate::addr::parse(addr)?)
    }

    /// Copies the next datagram into `buf` and returns its length and
    /// sender, leaving it queued (`MSG_PEEK`): the next receive returns it
    /// again. Waits until a datagram is queued; a datagram longer than
    /// `buf` is cut to it.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let sock = tern::net::UdpSocket::bind_str("127.0.0.1:5353")?;
    /// let mut head = [0u8; 12];
    /// let (_, from) = sock.peek_from(&mut head).await?;
    /// let mut full = vec![0u8; 65535];
    /// let (n, same) = sock.recv_from(&mut full).await?;
    /// assert_eq!(from, same);
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .io(Direction::Read, |fd| self.peek_next(fd, buf))
            .await
    }

    /// Polls to peek at the next datagram (see
    /// [`peek_from`](UdpSocket::peek_from)).
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io
            .poll_io(cx, Direction::Read, |fd| self.peek_next(fd, buf))
    }
}

crate::socket_traits::socket_traits!(UdpSocket);
