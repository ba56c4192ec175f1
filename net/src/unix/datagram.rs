//! [`UnixDatagram`].

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::task::{Context, Poll};

use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket::{self, SocketType};
use tern_runtime::sys::unix;

use super::{abstract_name, bound_socket, ctx, path_name, SocketAddr};

/// A Unix-domain datagram socket.
///
/// Datagrams keep their boundaries and, unlike UDP, are never dropped
/// for lack of room: a send waits while the receiver's queue is full.
///
/// ```
/// # tern::block_on(async {
/// let (a, b) = tern::net::UnixDatagram::pair()?;
/// a.send(b"one").await?;
/// let mut buf = [0u8; 16];
/// let n = b.recv(&mut buf).await?;
/// assert_eq!(&buf[..n], b"one");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct UnixDatagram {
    io: IoSource,
}

impl UnixDatagram {
    /// Creates a socket bound to the filesystem path `path` (or, if its
    /// first byte is NUL, the abstract name after it). The path must not
    /// exist yet; it is not removed when the socket is dropped.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_name(path_name(path.as_ref()))
    }

    /// Creates a socket bound to `name` in the Linux abstract namespace.
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_name(&abstract_name(name))
    }

    fn bind_name(name: &[u8]) -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(bound_socket(SocketType::Datagram, name)?)
    }

    /// Creates an unbound socket: it can send, and receive replies only
    /// once connected (its peers see it as unnamed).
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(unix::socket(SocketType::Datagram)?)
    }

    /// A connected pair of unnamed datagram sockets (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = unix::pair(SocketType::Datagram)?;
        Ok((UnixDatagram::from_fd(a)?, UnixDatagram::from_fd(b)?))
    }

    /// Takes over a std socket (switched to non-blocking mode).
    pub fn from_std(s: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        let fd = OwnedFd::from(s);
        socket::set_nonblocking(fd.as_fd())?;
        UnixDatagram::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: IoSource::new_write_on_demand(fd)?,
        })
    }

    /// Sets the default peer to the socket at `path`: `send`/`recv` use it,
    /// and datagrams from others are no longer received.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let name = path_name(path.as_ref());
        unix::connect(self.io.as_fd(), name).map_err(ctx("connect", name))
    }

    /// Sets the default peer to `name` in the abstract namespace.
    pub fn connect_abstract(&self, name: &[u8]) -> io::Result<()> {
        let name = abstract_name(name);
        unix::connect(self.io.as_fd(), &name).map_err(ctx("connect", &name))
    }

    /// Sends a datagram to the socket at `path` (abstract if its first byte
    /// is NUL).
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let name = path_name(path.as_ref());
        self.send_to_name(buf, name).await
    }

    /// Sends a datagram to `target`, e.g. the sender a
    /// [`recv_from`](UnixDatagram::recv_from) returned (whether it is a
    /// path or an abstract name). An unnamed target is `InvalidInput`.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let sock = tern::net::UnixDatagram::bind_abstract(b"echo")?;
    /// let mut buf = [0u8; 1024];
    /// let (n, from) = sock.recv_from(&mut buf).await?;
    /// sock.send_to_addr(&buf[..n], &from).await?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn send_to_addr(&self, buf: &[u8], target: &SocketAddr) -> io::Result<usize> {
        let name = target.name()?;
        self.send_to_name(buf, &name).await
    }

    async fn send_to_name(&self, buf: &[u8], name: &[u8]) -> io::Result<usize> {
        self.io
            .io(Direction::Write, |fd| unix::send_to(fd, buf, name))
            .await
            .map_err(ctx("send to", name))
    }

    /// Receives a datagram and its sender's address (unnamed for an unbound
    /// sender). A datagram longer than `buf` is cut to it.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .io
            .io(Direction::Read, |fd| unix::recv_from(fd, buf))
            .await?;
        Ok((n, SocketAddr::from_sys(from)))
    }

    /// Polls to receive a datagram and its sender's address.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io
            .poll_io(cx, Direction::Read, |fd| unix::recv_from(fd, buf))
            .map_ok(|(n, a)| (n, SocketAddr::from_sys(a)))
    }

    /// Sends a datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .io(Direction::Write, |fd| socket::send(fd, buf))
            .await
    }

    /// Polls to send a datagram to the connected peer.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Write, |fd| socket::send(fd, buf))
    }

    /// Receives a datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io
            .io(Direction::Read, |fd| socket::recv(fd, buf))
            .await
    }

    /// Polls to receive a datagram from the connected peer.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Read, |fd| socket::recv(fd, buf))
    }

    /// Shuts down the read, write, or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        socket::shutdown(self.io.as_fd(), how)
    }

    /// The local address (unnamed if the socket is not bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix::local_addr(self.io.as_fd()).map(SocketAddr::from_sys)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        unix::peer_addr(self.io.as_fd()).map(SocketAddr::from_sys)
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        socket::take_error(self.io.as_fd())
    }
}

crate::socket_traits::socket_traits!(UnixDatagram);
