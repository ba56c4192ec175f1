//! Socket options shared by the socket types: booleans, sizes and the TTL,
//! with errors that name the option and the socket.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use tern_runtime::sys::socket::{self, Opt};

/// Adds what was being done, and to which fd, to an option error.
pub(crate) fn ctx(what: &str, fd: BorrowedFd<'_>) -> impl FnOnce(io::Error) -> io::Error {
    let fd = fd.as_raw_fd();
    let what = what.to_string();
    move |e| io::Error::new(e.kind(), format!("{what} on socket fd {fd}: {e}"))
}

pub(crate) fn set_bool(fd: BorrowedFd<'_>, opt: Opt, name: &str, on: bool) -> io::Result<()> {
    socket::set_opt(fd, opt, i32::from(on)).map_err(ctx(&format!("set {name}"), fd))
}

pub(crate) fn get_bool(fd: BorrowedFd<'_>, opt: Opt, name: &str) -> io::Result<bool> {
    Ok(socket::get_opt(fd, opt).map_err(ctx(&format!("get {name}"), fd))? != 0)
}

pub(crate) fn set_u32(fd: BorrowedFd<'_>, opt: Opt, name: &str, value: u32) -> io::Result<()> {
    let v = i32::try_from(value).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "set {name} on socket fd {}: {value} out of range",
                fd.as_raw_fd()
            ),
        )
    })?;
    socket::set_opt(fd, opt, v).map_err(ctx(&format!("set {name} to {value}"), fd))
}

pub(crate) fn get_u32(fd: BorrowedFd<'_>, opt: Opt, name: &str) -> io::Result<u32> {
    let v = socket::get_opt(fd, opt).map_err(ctx(&format!("get {name}"), fd))?;
    Ok(u32::try_from(v).unwrap_or(0))
}

/// `set_ttl` of TCP and UDP sockets: `IP_TTL`, or the unicast hop limit
/// on IPv6 sockets.
pub(crate) fn set_ttl(fd: BorrowedFd<'_>, ttl: u32) -> io::Result<()> {
    set_u32(fd, socket::ttl_opt(fd)?, "TTL", ttl)
}

/// `ttl` of TCP and UDP sockets (see [`set_ttl`]).
pub(crate) fn ttl(fd: BorrowedFd<'_>) -> io::Result<u32> {
    get_u32(fd, socket::ttl_opt(fd)?, "TTL")
}

/// `set_recv_buffer_size` / `set_send_buffer_size`.
pub(crate) fn set_buffer_size(fd: BorrowedFd<'_>, opt: Opt, size: usize) -> io::Result<()> {
    let name = if opt == Opt::RecvBuffer {
        "SO_RCVBUF"
    } else {
        "SO_SNDBUF"
    };
    let size = u32::try_from(size).unwrap_or(u32::MAX).min(i32::MAX as u32);
    set_u32(fd, opt, name, size)
}

/// `recv_buffer_size` / `send_buffer_size`.
pub(crate) fn buffer_size(fd: BorrowedFd<'_>, opt: Opt) -> io::Result<usize> {
    let name = if opt == Opt::RecvBuffer {
        "SO_RCVBUF"
    } else {
        "SO_SNDBUF"
    };
    Ok(get_u32(fd, opt, name)? as usize)
}
