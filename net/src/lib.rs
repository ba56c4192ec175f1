//! tern-net: async UDP and TCP sockets on tern's epoll reactor.
//!
//! [`UdpSocket`], [`TcpListener`] and [`TcpStream`] wrap non-blocking,
//! close-on-exec sockets (created so in one syscall) registered once with
//! the current runtime's reactor. Operations try the syscall when the
//! cached readiness allows it, and wait for the next edge only after the
//! kernel said `WouldBlock`: a receive or send that succeeds costs exactly
//! that syscall, and no operation calls `epoll_ctl`.
//!
//! Sockets belong to the runtime they were created in: create them inside
//! `tern::block_on` (they are neither `Send` nor `Sync`).

#![forbid(unsafe_code)]

mod tcp;
mod udp;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
