//! TCP: [`TcpListener`], [`TcpStream`], and the stream's split halves
//! ([`OwnedReadHalf`]/[`OwnedWriteHalf`] from
//! [`TcpStream::into_split`], [`ReadHalf`]/[`WriteHalf`] from
//! [`TcpStream::split`]).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::task::{ready, Context, Poll};

use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket::{self, Opt, SocketType};

use crate::{sockopt, stream};

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

    /// Like [`bind`](TcpListener::bind), with the address given as a
    /// numeric string such as `"127.0.0.1:8080"` or `"[::1]:53"`. Anything
    /// else (a host name, a missing port) is `ErrorKind::InvalidInput`
    /// naming the string.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let listener = tern::net::TcpListener::bind_str("127.0.0.1:8080")?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn bind_str(addr: &str) -> io::Result<TcpListener> {
        TcpListener::bind(crate::addr::parse(addr)?)
    }

    /// Like [`bind`](TcpListener::bind), with `SO_REUSEPORT` as well, so that
    /// several listeners (one per thread and runtime) share the port and the
    /// kernel spreads connections among them.
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_opts(addr, true)
    }

    fn bind_opts(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("listen tcp {addr}: {e}"));
        let fd = socket::socket(&addr, SocketType::Stream)?;
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

crate::socket_traits::socket_traits!(TcpListener);

// ===== impl TcpStream =====

/// A TCP connection.
///
/// Reading and writing take `&self`, so one task may read while another
/// writes; `TcpStream` and `&TcpStream` implement futures-io's
/// `AsyncRead` and `AsyncWrite`. [`into_split`](TcpStream::into_split)
/// gives owned halves for two tasks that each own one.
pub struct TcpStream {
    io: IoSource,
}

impl TcpStream {
    /// Connects to `addr`. A refused connection is
    /// `ErrorKind::ConnectionRefused`.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("connect tcp {addr}: {e}"));
        let fd = socket::socket(&addr, SocketType::Stream)?;
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

    /// Like [`connect`](TcpStream::connect), with the address given as a
    /// numeric string such as `"127.0.0.1:8080"` or `"[::1]:53"`. Anything
    /// else is `ErrorKind::InvalidInput` naming the string; to connect to a
    /// host name use `tern::dns::connect`.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let stream = tern::net::TcpStream::connect_str("[::1]:8080").await?;
    /// stream.write_all(b"hello").await?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn connect_str(addr: &str) -> io::Result<TcpStream> {
        TcpStream::connect(crate::addr::parse(addr)?).await
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
        stream::read(&self.io, buf).await
    }

    /// Reads exactly `buf.len()` bytes, waiting as needed. End of stream
    /// first is `ErrorKind::UnexpectedEof` saying how many bytes came (what
    /// `buf` then holds is unspecified). Not cancellation-safe: dropping
    /// the future part way loses the bytes read so far.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let stream = tern::net::TcpStream::connect_str("127.0.0.1:53").await?;
    /// let mut len = [0u8; 2];
    /// stream.read_exact(&mut len).await?;
    /// let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    /// stream.read_exact(&mut body).await?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        stream::read_exact(&self.io, buf)
            .await
            .map_err(|e| self.ctx(e))
    }

    /// Copies received bytes into `buf` without taking them (`MSG_PEEK`):
    /// the next read returns them again. Waits until at least one byte is
    /// queued; `Ok(0)` is end of stream.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// # let stream = tern::net::TcpStream::connect_str("127.0.0.1:8080").await?;
    /// let mut first = [0u8; 1];
    /// if stream.peek(&mut first).await? == 1 && first[0] == 0x16 {
    ///     // a TLS handshake follows
    /// }
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        stream::peek(&self.io, buf).await
    }

    /// Splits the stream into owned halves that may live in two tasks (of
    /// this runtime). Dropping the write half sends end of stream;
    /// [`OwnedReadHalf::reunite`] puts them back together.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let stream = tern::net::TcpStream::connect_str("127.0.0.1:8080").await?;
    /// let (rd, wr) = stream.into_split();
    /// let writer = tern::spawn(async move { wr.write_all(b"ping").await });
    /// let mut buf = [0u8; 4];
    /// rd.read_exact(&mut buf).await?;
    /// writer.await.unwrap()?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split_owned(self)
    }

    stream::stream_methods!(TcpStream);

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

    /// Turns `SO_KEEPALIVE` on or off: when on, the kernel probes an idle
    /// connection (after `tcp_keepalive_time`, two hours by default) and
    /// fails reads with `TimedOut` once the peer stops answering.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.io.as_fd(), Opt::KeepAlive, "SO_KEEPALIVE", on)
    }

    /// Whether `SO_KEEPALIVE` is on.
    pub fn keepalive(&self) -> io::Result<bool> {
        sockopt::get_bool(self.io.as_fd(), Opt::KeepAlive, "SO_KEEPALIVE")
    }

    /// Sets the TTL of outgoing packets (`IP_TTL`; on an IPv6 socket the
    /// unicast hop limit, `IPV6_UNICAST_HOPS`).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sockopt::set_ttl(self.io.as_fd(), ttl)
    }

    /// The TTL of outgoing packets (see [`set_ttl`](TcpStream::set_ttl)).
    pub fn ttl(&self) -> io::Result<u32> {
        sockopt::ttl(self.io.as_fd())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(self.io.as_fd())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(self.io.as_fd())
    }

    /// Adds the peer's address to a read error.
    fn ctx(&self, e: io::Error) -> io::Error {
        match self.peer_addr() {
            Ok(peer) => io::Error::new(e.kind(), format!("read tcp {peer}: {e}")),
            Err(_) => e,
        }
    }
}

stream::stream_traits!(TcpStream);

// ===== split halves =====

stream::stream_halves!(TcpStream, SocketAddr);
