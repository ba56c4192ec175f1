//! The byte-stream data path shared by [`TcpStream`](crate::TcpStream) and
//! [`UnixStream`](crate::UnixStream): reads, writes, exact reads and peeks
//! on a registered stream socket, and the macros that give both types the
//! same futures-io impls and split halves.

use std::io;
use std::task::{ready, Context, Poll};

use tern_runtime::io::{Direction, IoSource};
use tern_runtime::sys::socket;

/// Polls to read some bytes; `Ok(0)` is end of stream.
pub(crate) fn poll_read(
    io: &IoSource,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    let n = ready!(io.poll_io(cx, Direction::Read, |fd| socket::recv(fd, buf)))?;
    after_read(io, n, len);
    Poll::Ready(Ok(n))
}

/// Polls to write some bytes.
pub(crate) fn poll_write(
    io: &IoSource,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    let n = ready!(io.poll_io(cx, Direction::Write, |fd| socket::send(fd, buf)))?;
    after_write(io, n, len);
    Poll::Ready(Ok(n))
}

/// Reads some bytes.
pub(crate) async fn read(io: &IoSource, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    let n = io.io(Direction::Read, |fd| socket::recv(fd, buf)).await?;
    after_read(io, n, len);
    Ok(n)
}

/// Writes some bytes.
pub(crate) async fn write(io: &IoSource, buf: &[u8]) -> io::Result<usize> {
    let len = buf.len();
    let n = io.io(Direction::Write, |fd| socket::send(fd, buf)).await?;
    after_write(io, n, len);
    Ok(n)
}

/// After a read of `n` of `len` bytes: a short read drained the receive
/// queue; any later data comes with a new edge, so skip the syscall that
/// would say WouldBlock. (The reactor keeps readability while urgent data
/// is pending: a read then stops short at the urgent mark.)
fn after_read(io: &IoSource, n: usize, len: usize) {
    if n > 0 && n < len {
        io.clear_ready(Direction::Read);
    }
}

/// After a write of `n` of `len` bytes: a short write filled the send
/// buffer; wait for the next edge.
fn after_write(io: &IoSource, n: usize, len: usize) {
    if n < len {
        io.clear_ready(Direction::Write);
    }
}

/// Copies queued bytes into `buf` without taking them, waiting for data
/// first. Readiness is left as it is: the bytes are still queued.
pub(crate) async fn peek(io: &IoSource, buf: &mut [u8]) -> io::Result<usize> {
    io.io(Direction::Read, |fd| socket::peek(fd, buf)).await
}

/// Polls to peek (see [`peek`]).
pub(crate) fn poll_peek(
    io: &IoSource,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    io.poll_io(cx, Direction::Read, |fd| socket::peek(fd, buf))
}

/// Reads exactly `buf.len()` bytes. End of stream first is
/// `UnexpectedEof`, saying how many of the bytes came.
pub(crate) async fn read_exact(io: &IoSource, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match read(io, &mut buf[got..]).await? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "end of stream after {got} of the {} bytes expected",
                        buf.len()
                    ),
                ))
            }
            n => got += n,
        }
    }
    Ok(())
}

/// Writes all of `buf`, waiting for room as needed.
pub(crate) async fn write_all(io: &IoSource, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match write(io, buf).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Reads until end of stream, appending to `buf`; returns how many bytes
/// were read.
pub(crate) async fn read_to_end(io: &IoSource, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity().clamp(8192, 1 << 20));
        }
        let len = buf.len();
        buf.resize(buf.capacity(), 0);
        let res = read(io, &mut buf[len..]).await;
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

// ===== macros for the stream types =====

/// futures-io `AsyncRead` for `$t`, reading the stream at `self.$field`
/// (the type itself, or a reference to it, when no field is given).
macro_rules! async_read {
    ($t:ty $(, $field:tt)?) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_read(&self$(.$field)?.io, cx, buf)
            }
        }
    };
}

/// futures-io `AsyncWrite` for `$t`, writing the stream at `self.$field`
/// (see [`async_read`]): flushing does nothing, closing shuts down the
/// writing direction.
macro_rules! async_write {
    ($t:ty $(, $field:tt)?) => {
        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write(&self$(.$field)?.io, cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self$(.$field)?.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

/// The methods of a stream type `$t` (with an `io: IoSource` field) that
/// read the same for TCP and Unix-domain streams: `poll_peek`, `write`,
/// `write_all`, `read_to_end`, `split` and `shutdown`. Invoked inside
/// `impl $t`.
macro_rules! stream_methods {
    ($t:ident) => {
        #[doc = concat!("Polls to peek (see [`peek`](", stringify!($t), "::peek)).")]
        pub fn poll_peek(
            &self,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            $crate::stream::poll_peek(&self.io, cx, buf)
        }

        /// Writes some bytes; returns how many were taken.
        pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
            $crate::stream::write(&self.io, buf).await
        }

        /// Writes all of `buf`, waiting for room as needed.
        pub async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
            $crate::stream::write_all(&self.io, buf).await
        }

        /// Reads until end of stream, appending to `buf`; returns how many
        /// bytes were read.
        pub async fn read_to_end(&self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
            $crate::stream::read_to_end(&self.io, buf).await
        }

        /// Borrows the stream as a read half and a write half, e.g. to hand
        /// them to two futures joined in one task. (A shared reference
        /// reads and writes as well; the halves say which direction each
        /// side uses.)
        ///
        /// With futures-util's `AsyncReadExt` in scope, `stream.split()`
        /// picks that trait's `split(self)`; write
        #[doc = concat!("`", stringify!($t), "::split(&stream)` then.")]
        pub fn split(&self) -> (ReadHalf<'_>, WriteHalf<'_>) {
            split_borrowed(self)
        }

        /// Shuts down the read, write, or both halves. Shutting down
        /// writing sends end of stream; reading still works until the peer
        /// closes.
        pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            tern_runtime::sys::socket::shutdown(std::os::fd::AsFd::as_fd(&self.io), how)
        }
    };
}

/// futures-io `AsyncRead`/`AsyncWrite` for `$t` and `&$t`, and
/// `AsRawFd`/`AsFd`/`Debug` (see [`socket_traits`](crate::socket_traits)),
/// for a stream type with an `io: IoSource` field.
macro_rules! stream_traits {
    ($t:ident) => {
        $crate::stream::async_read!(&$t);
        $crate::stream::async_write!(&$t);
        $crate::stream::async_read!($t);
        $crate::stream::async_write!($t);
        $crate::socket_traits::socket_traits!($t, peer_addr);
    };
}

/// The reading methods of a split half: `read`, `read_exact` and `peek`
/// of the stream at `self.$field`.
macro_rules! half_read_methods {
    ($field:tt) => {
        /// Reads some bytes; `Ok(0)` is end of stream.
        pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.$field.read(buf).await
        }

        /// Reads exactly `buf.len()` bytes; end of stream first is
        /// `UnexpectedEof`.
        pub async fn read_exact(&self, buf: &mut [u8]) -> std::io::Result<()> {
            self.$field.read_exact(buf).await
        }

        /// Copies queued bytes into `buf` without taking them.
        pub async fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.$field.peek(buf).await
        }
    };
}

/// The writing methods of a split half: `write` and `write_all` of the
/// stream at `self.$field`.
macro_rules! half_write_methods {
    ($field:tt) => {
        /// Writes some bytes; returns how many were taken.
        pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.$field.write(buf).await
        }

        /// Writes all of `buf`, waiting for room as needed.
        pub async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
            self.$field.write_all(buf).await
        }
    };
}

/// The address methods of an owned half: `local_addr` and `peer_addr` of
/// the stream, returning `$addr`.
macro_rules! half_addr_methods {
    ($addr:ty) => {
        /// The local address.
        pub fn local_addr(&self) -> std::io::Result<$addr> {
            self.inner.local_addr()
        }

        /// The peer's address.
        pub fn peer_addr(&self) -> std::io::Result<$addr> {
            self.inner.peer_addr()
        }
    };
}

/// The split halves of a stream type `$stream` (which has `read`,
/// `read_exact`, `peek`, `write`, `write_all`, `shutdown`, `local_addr`
/// and `peer_addr` returning `$addr`, and the futures-io impls of
/// [`stream_traits`], in the calling module): `ReadHalf`, `WriteHalf`, `OwnedReadHalf`,
/// `OwnedWriteHalf` and `ReuniteError`, defined in the calling module.
macro_rules! stream_halves {
    ($stream:ident, $addr:ty) => {
        #[doc = concat!("The read half of a borrowed [`", stringify!($stream), "`], from [`", stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct ReadHalf<'a>(&'a $stream);

        #[doc = concat!("The write half of a borrowed [`", stringify!($stream), "`], from [`", stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct WriteHalf<'a>(&'a $stream);

        #[doc = concat!("The owned read half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::into_split`].")]
        ///
        /// It may move into another task than the write half (of the same
        /// runtime: neither half is `Send`).
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            inner: std::rc::Rc<$stream>,
        }

        #[doc = concat!("The owned write half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::into_split`].")]
        ///
        /// Dropping it shuts down the writing direction (the peer reads end
        /// of stream), as tokio's does; [`reunite`](OwnedReadHalf::reunite)
        /// does not.
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            inner: std::rc::Rc<$stream>,
            shutdown_on_drop: bool,
        }

        /// The two halves given to [`OwnedReadHalf::reunite`] came from
        /// different streams; they are handed back.
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(
                    "tried to reunite halves of two different ",
                    stringify!($stream),
                    "s"
                ))
            }
        }

        impl std::error::Error for ReuniteError {}

        pub(crate) fn split_owned(stream: $stream) -> (OwnedReadHalf, OwnedWriteHalf) {
            let inner = std::rc::Rc::new(stream);
            (
                OwnedReadHalf {
                    inner: inner.clone(),
                },
                OwnedWriteHalf {
                    inner,
                    shutdown_on_drop: true,
                },
            )
        }

        pub(crate) fn split_borrowed(stream: &$stream) -> (ReadHalf<'_>, WriteHalf<'_>) {
            (ReadHalf(stream), WriteHalf(stream))
        }

        impl ReadHalf<'_> {
            $crate::stream::half_read_methods!(0);
        }

        impl WriteHalf<'_> {
            $crate::stream::half_write_methods!(0);
        }

        impl OwnedReadHalf {
            $crate::stream::half_read_methods!(inner);
            $crate::stream::half_addr_methods!($addr);

            #[doc = concat!("Puts the halves back together into the [`", stringify!($stream), "`]; fails, returning both, if they came from different streams.")]
            pub fn reunite(self, write: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !std::rc::Rc::ptr_eq(&self.inner, &write.inner) {
                    return Err(ReuniteError(self, write));
                }
                let mut write = write;
                write.shutdown_on_drop = false;
                drop(write);
                match std::rc::Rc::try_unwrap(self.inner) {
                    Ok(stream) => Ok(stream),
                    Err(_) => unreachable!("a stream's two halves hold its only references"),
                }
            }
        }

        impl OwnedWriteHalf {
            $crate::stream::half_write_methods!(inner);

            /// Shuts down the writing direction now (sends end of stream).
            pub fn shutdown(&self) -> std::io::Result<()> {
                self.inner.shutdown(std::net::Shutdown::Write)
            }

            $crate::stream::half_addr_methods!($addr);
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    // The peer may be gone already; nothing to report then.
                    let _ = self.inner.shutdown(std::net::Shutdown::Write);
                }
            }
        }

        $crate::stream::async_read!(ReadHalf<'_>, 0);
        $crate::stream::async_read!(OwnedReadHalf, inner);
        $crate::stream::async_write!(WriteHalf<'_>, 0);
        $crate::stream::async_write!(OwnedWriteHalf, inner);
    };
}

pub(crate) use {
    async_read, async_write, half_addr_methods, half_read_methods, half_write_methods,
    stream_halves, stream_methods, stream_traits,
};
