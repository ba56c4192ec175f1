//! [`TcpListener`] and [`TcpStream`].

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket::{self, Kind, Opt};

/// Backlog of listening sockets.
const BACKLOG: i32 = 1024;

// ===== impl TcpListener =====

/// A TCP server socket.
///
/// ```no_run
/// # tern::block_on(async {
/// let listener = tern::net::TcpListener::bind("127.0.0.1:8080".parse().unwrap())?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     tern::spawn(async move {
///         let mut buf = [0u8; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf).await {
///             if stream.write_all(&buf[..n]).await.is_err() {
///                 break;
///             }
///         }
///         drop(peer);
///     });
/// }
/// # #[allow(unreachable_code)] std::io::Result::Ok(()) });
/// ```
pub struct TcpListener {
    io: IoSource,
}

impl TcpListener {
    /// Binds to `addr` with `SO_REUSEADDR` and listens (backlog 1024).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_opts(addr, false)
    }

    /// Like [`bind`](TcpListener::bind), with `SO_REUSEPORT` as well, so that
    /// several listeners (one per thread and runtime) share the port and the
    /// kernel spreads connections among them.
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_opts(addr, true)
    }

    fn bind_opts(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("listen tcp {addr}: {e}"));
        let fd = socket::socket(&addr, Kind::Stream)?;
        socket::set_opt(fd.as_fd(), Opt::ReuseAddr, 1).map_err(ctx)?;
        if reuse_port {
            socket::set_opt(fd.as_fd(), Opt::ReusePort, 1).map_err(ctx)?;
        }
        socket::bind(fd.as_fd(), &addr).map_err(ctx)?;
        socket::listen(fd.as_fd(), BACKLOG).map_err(ctx)?;
        Ok(TcpListener {
            io: IoSource::new(fd)?,
        })
    }

    /// Takes over a listening std socket (switched to non-blocking mode).
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        let fd = OwnedFd::from(l);
        socket::set_nonblocking(fd.as_fd())?;
        Ok(TcpListener {
            io: IoSource::new(fd)?,
        })
    }

    /// Accepts a connection. Errors such as `EMFILE` (out of fds) are
    /// returned to the caller, not retried in a loop.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = self.io.io(Direction::Read, socket::accept).await?;
        Ok((TcpStream::from_fd(fd)?, addr))
    }

    /// Polls to accept a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.io.poll_io(cx, Direction::Read, socket::accept))?;
        Poll::Ready(Ok((TcpStream::from_fd(fd)?, addr)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.io.as_fd())
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}

// ===== impl TcpStream =====

/// A TCP connection.
///
/// Reading and writing take `&self`, so one task may read while another
/// writes; `TcpStream` and `&TcpStream` implement futures-io's
/// `AsyncRead` and `AsyncWrite`.
pub struct TcpStream {
    io: IoSource,
}

impl TcpStream {
    /// Connects to `addr`. A refused connection is
    /// `ErrorKind::ConnectionRefused`.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("connect tcp {addr}: {e}"));
        let fd = socket::socket(&addr, Kind::Stream)?;
        let pending = match socket::connect(fd.as_fd(), &addr) {
            Ok(()) => false,
            Err(e) if socket::is_in_progress(&e) => true,
            Err(e) => return Err(ctx(e)),
        };
        let stream = TcpStream::from_fd(fd)?;
        if pending {
            // The handshake is running: wait for the writability edge that
            // ends it, then read its outcome.
            stream.io.clear_ready(Direction::Write);
            stream.io.ready(Direction::Write).await?;
            if let Some(e) = socket::take_error(stream.io.as_fd())? {
                return Err(ctx(e));
            }
            socket::peer_addr(stream.io.as_fd()).map_err(ctx)?;
        }
        Ok(stream)
    }

    /// Takes over a connected std stream (switched to non-blocking mode).
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        let fd = OwnedFd::from(s);
        socket::set_nonblocking(fd.as_fd())?;
        TcpStream::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: IoSource::new(fd)?,
        })
    }

    /// Reads some bytes; `Ok(0)` is end of stream (the peer's FIN).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        let n = self
            .io
            .io(Direction::Read, |fd| socket::recv(fd, &mut *buf))
            .await?;
        self.after_read(n, len);
        Ok(n)
    }

    /// Writes some bytes; returns how many were taken.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .io
            .io(Direction::Write, |fd| socket::send(fd, buf))
            .await?;
        self.after_write(n, buf.len());
        Ok(n)
    }

    /// Writes all of `buf`, waiting for room as needed.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Reads until end of stream, appending to `buf`; returns how many
    /// bytes were read.
    pub async fn read_to_end(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let start = buf.len();
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.capacity().clamp(8192, 1 << 20));
            }
            let len = buf.len();
            buf.resize(buf.capacity(), 0);
            let res = self.read(&mut buf[len..]).await;
            match res {
                Ok(0) => {
                    buf.truncate(len);
                    return Ok(len - start);
                }
                Ok(n) => buf.truncate(len + n),
                Err(e) => {
                    buf.truncate(len);
                    return Err(e);
                }
            }
        }
    }

    /// Shuts down the read, write, or both halves. Shutting down writing
    /// sends a FIN; reading still works until the peer closes.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        socket::shutdown(self.io.as_fd(), how)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        socket::set_opt(self.io.as_fd(), Opt::NoDelay, i32::from(on))
    }

    /// Sets `SO_LINGER`; `Some(Duration::ZERO)` makes dropping the stream
    /// reset the connection instead of closing it gracefully.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        socket::set_linger(self.io.as_fd(), linger)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(socket::get_opt(self.io.as_fd(), Opt::NoDelay)? != 0)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.io.as_fd())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(self.io.as_fd())
    }

    /// Polls to read some bytes (the poll form of [`read`](TcpStream::read)).
    fn poll_read_some(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        let n = ready!(self
            .io
            .poll_io(cx, Direction::Read, |fd| socket::recv(fd, buf)))?;
        self.after_read(n, len);
        Poll::Ready(Ok(n))
    }

    /// Polls to write some bytes (the poll form of [`write`](TcpStream::write)).
    fn poll_write_some(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(self
            .io
            .poll_io(cx, Direction::Write, |fd| socket::send(fd, buf)))?;
        self.after_write(n, buf.len());
        Poll::Ready(Ok(n))
    }

    /// A short read drained the receive queue; any later data comes with a
    /// new edge, so the syscall that would say WouldBlock is skipped (the
    /// reactor keeps readability while urgent data is pending, since a
    /// read stops short at the urgent mark).
    fn after_read(&self, n: usize, len: usize) {
        if n > 0 && n < len {
            self.io.clear_ready(Direction::Read);
        }
    }

    /// A short write filled the send buffer; wait for the next edge.
    fn after_write(&self, n: usize, len: usize) {
        if n < len {
            self.io.clear_ready(Direction::Write);
        }
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_some(cx, buf)
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_some(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
