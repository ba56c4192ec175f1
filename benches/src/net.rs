//! The networking of the three runtimes behind one trait, so the UDP and
//! TCP benchmarks are the same code on each. Each implementation is the
//! idiomatic one for its runtime: `tern::net`, `tokio::net` with
//! `AsyncReadExt`/`AsyncWriteExt`, and smol's `async_io::Async<std::net::..>`
//! with `futures_lite::io`.

use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};

use async_io::Async;

use crate::rt::{Rt, Smol, Tern, Tokio};

/// A runtime's UDP and TCP types.
pub trait NetRt: Rt {
    /// UDP socket.
    type Udp: 'static;
    /// TCP listener.
    type Listener: 'static;
    /// TCP stream.
    type Stream: 'static;

    /// Binds a UDP socket.
    fn udp_bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Udp>>;
    /// Connects a UDP socket.
    fn udp_connect(s: &Self::Udp, addr: SocketAddr) -> impl Future<Output = io::Result<()>>;
    /// Local address of a UDP socket.
    fn udp_local_addr(s: &Self::Udp) -> io::Result<SocketAddr>;
    /// Sends on a connected UDP socket.
    fn udp_send(s: &Self::Udp, buf: &[u8]) -> impl Future<Output = io::Result<usize>>;
    /// Receives on a connected UDP socket.
    fn udp_recv(s: &Self::Udp, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>>;

    /// Binds a TCP listener.
    fn tcp_bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>>;
    /// Local address of a listener.
    fn tcp_local_addr(l: &Self::Listener) -> io::Result<SocketAddr>;
    /// Accepts a connection.
    fn accept(l: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Connects to `addr`.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Sets `TCP_NODELAY`.
    fn set_nodelay(s: &Self::Stream) -> io::Result<()>;
    /// Reads some bytes.
    fn read(s: &mut Self::Stream, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>>;
    /// Writes all of `buf`.
    fn write_all(s: &mut Self::Stream, buf: &[u8]) -> impl Future<Output = io::Result<()>>;
    /// Closes the write half (sends FIN).
    fn shutdown_write(s: &mut Self::Stream) -> impl Future<Output = io::Result<()>>;
}

/// Reads exactly `buf.len()` bytes.
pub async fn read_exact<R: NetRt>(s: &mut R::Stream, buf: &mut [u8]) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match R::read(s, &mut buf[at..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => at += n,
        }
    }
    Ok(())
}

// ===== tern =====

impl NetRt for Tern {
    type Udp = tern::net::UdpSocket;
    type Listener = tern::net::TcpListener;
    type Stream = tern::net::TcpStream;

    async fn udp_bind(addr: SocketAddr) -> io::Result<Self::Udp> {
        tern::net::UdpSocket::bind(addr)
    }
    async fn udp_connect(s: &Self::Udp, addr: SocketAddr) -> io::Result<()> {
        s.connect(addr)
    }
    fn udp_local_addr(s: &Self::Udp) -> io::Result<SocketAddr> {
        s.local_addr()
    }
    async fn udp_send(s: &Self::Udp, buf: &[u8]) -> io::Result<usize> {
        s.send(buf).await
    }
    async fn udp_recv(s: &Self::Udp, buf: &mut [u8]) -> io::Result<usize> {
        s.recv(buf).await
    }
    async fn tcp_bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        tern::net::TcpListener::bind(addr)
    }
    fn tcp_local_addr(l: &Self::Listener) -> io::Result<SocketAddr> {
        l.local_addr()
    }
    async fn accept(l: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(l.accept().await?.0)
    }
    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        tern::net::TcpStream::connect(addr).await
    }
    fn set_nodelay(s: &Self::Stream) -> io::Result<()> {
        s.set_nodelay(true)
    }
    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        s.read(buf).await
    }
    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        s.write_all(buf).await
    }
    async fn shutdown_write(s: &mut Self::Stream) -> io::Result<()> {
        s.shutdown(Shutdown::Write)
    }
}

// ===== tokio =====

impl NetRt for Tokio {
    type Udp = tokio::net::UdpSocket;
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;

    async fn udp_bind(addr: SocketAddr) -> io::Result<Self::Udp> {
        tokio::net::UdpSocket::bind(addr).await
    }
    async fn udp_connect(s: &Self::Udp, addr: SocketAddr) -> io::Result<()> {
        s.connect(addr).await
    }
    fn udp_local_addr(s: &Self::Udp) -> io::Result<SocketAddr> {
        s.local_addr()
    }
    async fn udp_send(s: &Self::Udp, buf: &[u8]) -> io::Result<usize> {
        s.send(buf).await
    }
    async fn udp_recv(s: &Self::Udp, buf: &mut [u8]) -> io::Result<usize> {
        s.recv(buf).await
    }
    async fn tcp_bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }
    fn tcp_local_addr(l: &Self::Listener) -> io::Result<SocketAddr> {
        l.local_addr()
    }
    async fn accept(l: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(l.accept().await?.0)
    }
    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        tokio::net::TcpStream::connect(addr).await
    }
    fn set_nodelay(s: &Self::Stream) -> io::Result<()> {
        s.set_nodelay(true)
    }
    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        tokio::io::AsyncReadExt::read(s, buf).await
    }
    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(s, buf).await
    }
    async fn shutdown_write(s: &mut Self::Stream) -> io::Result<()> {
        tokio::io::AsyncWriteExt::shutdown(s).await
    }
}

// ===== smol =====

impl NetRt for Smol {
    type Udp = Async<std::net::UdpSocket>;
    type Listener = Async<std::net::TcpListener>;
    type Stream = Async<std::net::TcpStream>;

    async fn udp_bind(addr: SocketAddr) -> io::Result<Self::Udp> {
        Async::<std::net::UdpSocket>::bind(addr)
    }
    async fn udp_connect(s: &Self::Udp, addr: SocketAddr) -> io::Result<()> {
        s.get_ref().connect(addr)
    }
    fn udp_local_addr(s: &Self::Udp) -> io::Result<SocketAddr> {
        s.get_ref().local_addr()
    }
    async fn udp_send(s: &Self::Udp, buf: &[u8]) -> io::Result<usize> {
        s.send(buf).await
    }
    async fn udp_recv(s: &Self::Udp, buf: &mut [u8]) -> io::Result<usize> {
        s.recv(buf).await
    }
    async fn tcp_bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        Async::<std::net::TcpListener>::bind(addr)
    }
    fn tcp_local_addr(l: &Self::Listener) -> io::Result<SocketAddr> {
        l.get_ref().local_addr()
    }
    async fn accept(l: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(l.accept().await?.0)
    }
    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        Async::<std::net::TcpStream>::connect(addr).await
    }
    fn set_nodelay(s: &Self::Stream) -> io::Result<()> {
        s.get_ref().set_nodelay(true)
    }
    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        futures_lite::io::AsyncReadExt::read(s, buf).await
    }
    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        futures_lite::io::AsyncWriteExt::write_all(s, buf).await
    }
    async fn shutdown_write(s: &mut Self::Stream) -> io::Result<()> {
        s.get_ref().shutdown(Shutdown::Write)
    }
}
