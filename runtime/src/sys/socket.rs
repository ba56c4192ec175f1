//! Socket system calls for tern-net: creation, addressing, and the
//! non-blocking data path.
//!
//! Sockets are created non-blocking and close-on-exec in the same call
//! (`SOCK_NONBLOCK | SOCK_CLOEXEC`); sends use `MSG_NOSIGNAL` so a write to a
//! closed peer returns `BrokenPipe` instead of raising `SIGPIPE`.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The kind of socket to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `SOCK_DGRAM`.
    Datagram,
    /// `SOCK_STREAM`.
    Stream,
}

/// Creates a non-blocking, close-on-exec socket for `addr`'s family.
pub fn socket(addr: &SocketAddr, kind: Kind) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let ty = match kind {
        Kind::Datagram => libc::SOCK_DGRAM,
        Kind::Stream => libc::SOCK_STREAM,
    } | libc::SOCK_NONBLOCK
        | libc::SOCK_CLOEXEC;
    let fd = syscall!(socket(domain, ty, 0))?;
    // SAFETY: socket returned a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A socket address in the C layout.
#[repr(C)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

fn to_raw(addr: &SocketAddr) -> (RawAddr, libc::socklen_t) {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            (
                RawAddr { v4: sin },
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            (
                RawAddr { v6: sin6 },
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

fn from_storage(st: &libc::sockaddr_storage, len: libc::socklen_t) -> io::Result<SocketAddr> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unsupported socket address family",
        )
    };
    match st.ss_family as libc::c_int {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for any address.
            let sin =
                unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(bad()),
    }
}

fn empty_storage() -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let st: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    (st, size_of::<libc::sockaddr_storage>() as libc::socklen_t)
}

/// `bind(2)`.
pub fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let (raw, len) = to_raw(addr);
    syscall!(bind(fd.as_raw_fd(), (&raw as *const RawAddr).cast(), len))?;
    Ok(())
}

/// `connect(2)`. On a non-blocking stream socket this returns
/// `EINPROGRESS` (`raw_os_error() == Some(libc::EINPROGRESS)`) while the
/// handshake runs.
pub fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let (raw, len) = to_raw(addr);
    syscall!(connect(
        fd.as_raw_fd(),
        (&raw as *const RawAddr).cast(),
        len
    ))?;
    Ok(())
}

/// `connect(2)` with an `AF_UNSPEC` address: dissolves a datagram socket's
/// association. A port the kernel picked when the socket was connected
/// (autobound) is released, so the next `connect` picks a new random
/// ephemeral port (so is a port `bind` picked for port 0); a port bound
/// by number is kept.
pub fn disconnect(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: sockaddr is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr = unsafe { MaybeUninit::zeroed().assume_init() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let len = size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr of `len` bytes for the call.
    syscall!(connect(fd.as_raw_fd(), &addr, len))?;
    Ok(())
}

/// Whether `e` is the "connect in progress" error of a non-blocking connect.
pub fn is_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}

/// `listen(2)`.
pub fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    syscall!(listen(fd.as_raw_fd(), backlog))?;
    Ok(())
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`.
pub fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SocketAddr)> {
    let (mut st, mut len) = empty_storage();
    let new = syscall!(accept4(
        fd.as_raw_fd(),
        (&mut st as *mut libc::sockaddr_storage).cast(),
        &mut len,
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
    ))?;
    // SAFETY: accept4 returned a fresh descriptor nothing else owns.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    let addr = from_storage(&st, len)?;
    Ok((new, addr))
}

/// `sendto(2)` with `MSG_NOSIGNAL`.
pub fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
    let (raw, len) = to_raw(addr);
    let n = syscall!(sendto(
        fd.as_raw_fd(),
        buf.as_ptr().cast(),
        buf.len(),
        libc::MSG_NOSIGNAL,
        (&raw as *const RawAddr).cast(),
        len
    ))?;
    Ok(n as usize)
}

/// `send(2)` with `MSG_NOSIGNAL`.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let n = syscall!(send(
        fd.as_raw_fd(),
        buf.as_ptr().cast(),
        buf.len(),
        libc::MSG_NOSIGNAL
    ))?;
    Ok(n as usize)
}

/// `recvfrom(2)`: one datagram (or stream bytes) and the sender's address.
pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    let (mut st, mut len) = empty_storage();
    let n = syscall!(recvfrom(
        fd.as_raw_fd(),
        buf.as_mut_ptr().cast(),
        buf.len(),
        0,
        (&mut st as *mut libc::sockaddr_storage).cast(),
        &mut len
    ))?;
    Ok((n as usize, from_storage(&st, len)?))
}

/// `recv(2)`.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let n = syscall!(recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0))?;
    Ok(n as usize)
}

/// `getsockname(2)`.
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let (mut st, mut len) = empty_storage();
    syscall!(getsockname(
        fd.as_raw_fd(),
        (&mut st as *mut libc::sockaddr_storage).cast(),
        &mut len
    ))?;
    from_storage(&st, len)
}

/// `getpeername(2)`.
pub fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let (mut st, mut len) = empty_storage();
    syscall!(getpeername(
        fd.as_raw_fd(),
        (&mut st as *mut libc::sockaddr_storage).cast(),
        &mut len
    ))?;
    from_storage(&st, len)
}

/// Socket options tern sets or reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opt {
    /// `SO_REUSEADDR`.
    ReuseAddr,
    /// `SO_REUSEPORT`.
    ReusePort,
    /// `TCP_NODELAY`.
    NoDelay,
    /// `SO_ERROR` (read only).
    Error,
    /// `IPV6_V6ONLY`.
    V6Only,
    /// `SO_RCVBUF`.
    RecvBuffer,
    /// `SO_SNDBUF`.
    SendBuffer,
}

impl Opt {
    fn level_name(self) -> (libc::c_int, libc::c_int) {
        match self {
            Opt::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            Opt::ReusePort => (libc::SOL_SOCKET, libc::SO_REUSEPORT),
            Opt::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            Opt::Error => (libc::SOL_SOCKET, libc::SO_ERROR),
            Opt::V6Only => (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
            Opt::RecvBuffer => (libc::SOL_SOCKET, libc::SO_RCVBUF),
            Opt::SendBuffer => (libc::SOL_SOCKET, libc::SO_SNDBUF),
        }
    }
}

/// `setsockopt(2)` for an integer option.
pub fn set_opt(fd: BorrowedFd<'_>, opt: Opt, value: i32) -> io::Result<()> {
    let (level, name) = opt.level_name();
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&value as *const i32).cast(),
        size_of::<i32>() as libc::socklen_t
    ))?;
    Ok(())
}

/// `getsockopt(2)` for an integer option.
pub fn get_opt(fd: BorrowedFd<'_>, opt: Opt) -> io::Result<i32> {
    let (level, name) = opt.level_name();
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    syscall!(getsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&mut value as *mut i32).cast(),
        &mut len
    ))?;
    Ok(value)
}

/// Takes the pending error of a socket (`SO_ERROR`), if any.
pub fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let code = get_opt(fd, Opt::Error)?;
    Ok((code != 0).then(|| io::Error::from_raw_os_error(code)))
}

/// Sets `SO_LINGER`: `Some(d)` makes close wait up to `d` for unsent data;
/// `Some(ZERO)` makes close reset the connection (RST) at once.
pub fn set_linger(fd: BorrowedFd<'_>, linger: Option<std::time::Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: i32::from(linger.is_some()),
        l_linger: linger.map_or(0, |d| d.as_secs().min(i32::MAX as u64) as i32),
    };
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        (&value as *const libc::linger).cast(),
        size_of::<libc::linger>() as libc::socklen_t
    ))?;
    Ok(())
}

/// `shutdown(2)`.
pub fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    syscall!(shutdown(fd.as_raw_fd(), how))?;
    Ok(())
}

/// Puts an fd into non-blocking mode (`FIONBIO`).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    syscall!(ioctl(fd.as_raw_fd(), libc::FIONBIO, &mut on))?;
    Ok(())
}

/// Raises this process's soft `RLIMIT_NOFILE` to the hard limit and
/// returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim))?;
    }
    Ok(lim.rlim_cur)
}

/// Sets this process's soft `RLIMIT_NOFILE` (tests use it to provoke
/// `EMFILE`).
pub fn set_fd_limit(soft: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    lim.rlim_cur = soft.min(lim.rlim_max);
    syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim))?;
    Ok(())
}

/// Number of open file descriptors of this process (entries of
/// `/proc/self/fd`), for leak checks.
pub fn open_fd_count() -> io::Result<usize> {
    // One of the entries is the directory handle used to list it.
    Ok(std::fs::read_dir("/proc/self/fd")?
        .count()
        .saturating_sub(1))
}
