//! [`UnixListener`], [`UnixStream`] and the stream's split halves.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::task::{ready, Context, Poll};

use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket::{self, SocketType};
use tern_runtime::sys::unix;

use super::{abstract_name, bound_socket, ctx, path_name, SocketAddr};
use crate::stream;

/// Backlog of listening sockets.
const BACKLOG: i32 = 1024;

// ===== impl UnixListener =====

/// A Unix-domain stream server socket.
///
/// ```no_run
/// # tern::block_on(async {
/// let listener = tern::net::UnixListener::bind("/tmp/tern.sock")?;
/// loop {
///     let (stream, _) = listener.accept().await?;
///     tern::spawn(async move {
///         let mut buf = [0u8; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf).await {
///             if stream.write_all(&buf[..n]).await.is_err() {
///                 break;
///             }
///         }
///     });
/// }
/// # #[allow(unreachable_code)] std::io::Result::Ok(()) });
/// ```
pub struct UnixListener {
    io: IoSource,
}

impl UnixListener {
    /// Binds to the filesystem path `path` (or, if its first byte is NUL,
    /// the abstract name after it) and listens (backlog 1024). The path
    /// must not exist yet; it is not removed when the listener is dropped.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::bind_name(path_name(path.as_ref()))
    }

    /// Binds to `name` in the Linux abstract namespace (no file is made)
    /// and listens.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let listener = tern::net::UnixListener::bind_abstract(b"my-service")?;
    /// let client = tern::net::UnixStream::connect_abstract(b"my-service").await?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixListener> {
        UnixListener::bind_name(&abstract_name(name))
    }

    fn bind_name(name: &[u8]) -> io::Result<UnixListener> {
        let fd = bound_socket(SocketType::Stream, name)?;
        socket::listen(fd.as_fd(), BACKLOG).map_err(ctx("listen", name))?;
        Ok(UnixListener {
            io: IoSource::new(fd)?,
        })
    }

    /// Takes over a listening std socket (switched to non-blocking mode).
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        let fd = OwnedFd::from(l);
        socket::set_nonblocking(fd.as_fd())?;
        Ok(UnixListener {
            io: IoSource::new(fd)?,
        })
    }

    /// Accepts a connection; the address is the client's (usually
    /// unnamed).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, addr) = self.io.io(Direction::Read, unix::accept).await?;
        Ok((UnixStream::from_fd(fd)?, SocketAddr::from_sys(addr)))
    }

    /// Polls to accept a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.io.poll_io(cx, Direction::Read, unix::accept))?;
        Poll::Ready(Ok((UnixStream::from_fd(fd)?, SocketAddr::from_sys(addr))))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix::local_addr(self.io.as_fd()).map(SocketAddr::from_sys)
    }
}

crate::socket_traits::socket_traits!(UnixListener);

// ===== impl UnixStream =====

/// A Unix-domain stream connection.
///
/// Reading and writing take `&self`, so one task may read while another
/// writes; `UnixStream` and `&UnixStream` implement futures-io's
/// `AsyncRead` and `AsyncWrite`, and
/// [`into_split`](UnixStream::into_split) gives owned halves.
pub struct UnixStream {
    io: IoSource,
}

impl UnixStream {
    /// Connects to the socket at `path` (or, if its first byte is NUL, the
    /// abstract name after it). No listener there is
    /// `ErrorKind::NotFound` (no such file) or `ConnectionRefused`; a
    /// listener whose backlog is full is `WouldBlock`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        UnixStream::connect_name(path_name(path.as_ref())).await
    }

    /// Connects to `name` in the Linux abstract namespace.
    pub async fn connect_abstract(name: &[u8]) -> io::Result<UnixStream> {
        UnixStream::connect_name(&abstract_name(name)).await
    }

    async fn connect_name(name: &[u8]) -> io::Result<UnixStream> {
        let fd = unix::socket(SocketType::Stream)?;
        let pending = match unix::connect(fd.as_fd(), name) {
            Ok(()) => false,
            Err(e) if socket::is_in_progress(&e) => true,
            Err(e) => return Err(ctx("connect", name)(e)),
        };
        let stream = UnixStream::from_fd(fd)?;
        if pending {
            stream.io.clear_ready(Direction::Write);
            stream.io.ready(Direction::Write).await?;
            if let Some(e) = socket::take_error(stream.io.as_fd())? {
                return Err(ctx("connect", name)(e));
            }
        } else {
            // Connected at once (the usual case: no handshake), yet under
            // the cooperative budget like every connect: a fresh source is
            // taken to be writable, so this completes now and spends one
            // unit, or yields first if the task's budget is spent.
            stream.io.ready(Direction::Write).await?;
        }
        Ok(stream)
    }

    /// A connected pair of unnamed streams (`socketpair`).
    ///
    /// ```
    /// # tern::block_on(async {
    /// let (a, b) = tern::net::UnixStream::pair()?;
    /// a.write_all(b"hi").await?;
    /// let mut buf = [0u8; 2];
    /// b.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = unix::pair(SocketType::Stream)?;
        Ok((UnixStream::from_fd(a)?, UnixStream::from_fd(b)?))
    }

    /// Takes over a connected std stream (switched to non-blocking mode).
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        let fd = OwnedFd::from(s);
        socket::set_nonblocking(fd.as_fd())?;
        UnixStream::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: IoSource::new(fd)?,
        })
    }

    /// Reads some bytes; `Ok(0)` is end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        stream::read(&self.io, buf).await
    }

    /// Reads exactly `buf.len()` bytes; end of stream first is
    /// `ErrorKind::UnexpectedEof` saying how many bytes came. Not
    /// cancellation-safe (see
    /// [`TcpStream::read_exact`](crate::TcpStream::read_exact)).
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        stream::read_exact(&self.io, buf).await.map_err(|e| {
            let name = self.describe();
            io::Error::new(e.kind(), format!("read unix {name}: {e}"))
        })
    }

    /// Copies received bytes into `buf` without taking them (`MSG_PEEK`);
    /// waits until at least one byte is queued.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        stream::peek(&self.io, buf).await
    }

    /// Splits the stream into owned halves that may live in two tasks (of
    /// this runtime); dropping the write half sends end of stream.
    ///
    /// ```
    /// # tern::block_on(async {
    /// let (a, b) = tern::net::UnixStream::pair()?;
    /// let (rd, wr) = a.into_split();
    /// tern::spawn(async move { wr.write_all(b"ping").await });
    /// let mut buf = [0u8; 4];
    /// b.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"ping");
    /// # drop(rd);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split_owned(self)
    }

    stream::stream_methods!(UnixStream);

    /// The local address (unnamed unless the socket was bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix::local_addr(self.io.as_fd()).map(SocketAddr::from_sys)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        unix::peer_addr(self.io.as_fd()).map(SocketAddr::from_sys)
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        socket::take_error(self.io.as_fd())
    }

    /// The peer's name for messages, or the fd when the peer is unnamed.
    fn describe(&self) -> String {
        match self.peer_addr() {
            Ok(a) if !a.is_unnamed() => a.to_string(),
            _ => format!("socket fd {}", self.io.as_raw_fd()),
        }
    }
}

stream::stream_traits!(UnixStream);

// ===== split halves =====

stream::stream_halves!(UnixStream, SocketAddr);
