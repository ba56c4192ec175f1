//! tern-net: async UDP, TCP and Unix-domain sockets on tern's epoll reactor.
//!
//! [`UdpSocket`], [`TcpListener`], [`TcpStream`], [`UnixStream`],
//! [`UnixListener`] and [`UnixDatagram`] wrap non-blocking, close-on-exec
//! sockets (created so in one syscall) registered once with the current
//! runtime's reactor. Operations try the syscall when the cached readiness
//! allows it, and wait for the next edge only after the kernel said
//! `WouldBlock`: a receive or send that succeeds costs exactly that
//! syscall, and no operation calls `epoll_ctl`.
//!
//! Sockets belong to the runtime they were created in: create them inside
//! `tern::block_on` (they are neither `Send` nor `Sync`).
//!
//! The split halves of the stream types live in [`tcp`] and [`unix`]
//! (`tern::net::tcp::OwnedReadHalf`, `tern::net::unix::OwnedReadHalf`...),
//! as in tokio.

#![forbid(unsafe_code)]

mod addr;
mod socket_traits;
mod sockopt;
mod stream;
pub mod tcp;
mod udp;
pub mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::{RecvMeta, UdpSocket};
pub use unix::{UnixDatagram, UnixListener, UnixStream};
