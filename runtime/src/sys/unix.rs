//! Unix-domain socket system calls for tern-net: creation, pairs, and
//! `sockaddr_un` addressing (filesystem paths, the Linux abstract
//! namespace, unnamed sockets).
//!
//! Addresses cross this boundary as the raw bytes of `sun_path`: a
//! filesystem path's bytes, or a NUL byte followed by an abstract name.
//! Sockets are created non-blocking and close-on-exec in the same call;
//! the data path (`recv`, `send`, `shutdown`, `listen`) is the one in
//! [`socket`](super::socket), which does not depend on the family.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::socket::{self, AddrBuf, SocketType};

/// A Unix-domain socket address as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// No name (an unbound socket, a `socketpair` end, the client end of a
    /// connection).
    Unnamed,
    /// A filesystem path's bytes (without the trailing NUL).
    Pathname(Vec<u8>),
    /// An abstract-namespace name (without the leading NUL).
    Abstract(Vec<u8>),
}

fn ty(kind: SocketType) -> libc::c_int {
    let base = match kind {
        SocketType::Datagram => libc::SOCK_DGRAM,
        SocketType::Stream => libc::SOCK_STREAM,
    };
    base | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
}

/// Creates a non-blocking, close-on-exec `AF_UNIX` socket.
pub fn socket(kind: SocketType) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments; no memory is passed.
    let fd = syscall!(unsafe { libc::socket(libc::AF_UNIX, ty(kind), 0) })?;
    // SAFETY: socket returned a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `socketpair(2)`: two connected, non-blocking, close-on-exec sockets.
pub fn pair(kind: SocketType) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    syscall!(unsafe { libc::socketpair(libc::AF_UNIX, ty(kind), 0, fds.as_mut_ptr()) })?;
    // SAFETY: socketpair returned two fresh descriptors nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Builds the `sockaddr_un` for `name`: a path's bytes, or NUL and an
/// abstract name. A path must be non-empty, free of NUL bytes and shorter
/// than `sun_path` (107 bytes); an abstract name fits in 107 bytes after
/// its NUL. Violations are `InvalidInput`.
fn to_raw(name: &[u8]) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    let mut un = libc::sockaddr_un::zeroed();
    un.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let abstract_name = name.first() == Some(&0);
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
    if name.is_empty() {
        return Err(invalid("empty Unix socket path"));
    }
    if !abstract_name && name.contains(&0) {
        return Err(invalid("Unix socket path contains a NUL byte"));
    }
    // A path needs room for its trailing NUL; an abstract name does not.
    let room = un.sun_path.len() - usize::from(!abstract_name);
    if name.len() > room {
        return Err(invalid(
            "Unix socket path longer than the 108 bytes of sun_path",
        ));
    }
    for (dst, &src) in un.sun_path.iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    let len = offset_of!(libc::sockaddr_un, sun_path) + name.len() + usize::from(!abstract_name);
    Ok((un, len as libc::socklen_t))
}

fn from_raw(un: &libc::sockaddr_un, len: libc::socklen_t) -> UnixAddr {
    let offset = offset_of!(libc::sockaddr_un, sun_path);
    let path_len = (len as usize).saturating_sub(offset).min(un.sun_path.len());
    let bytes: Vec<u8> = un.sun_path[..path_len].iter().map(|&c| c as u8).collect();
    match bytes.split_first() {
        None => UnixAddr::Unnamed,
        Some((0, rest)) => UnixAddr::Abstract(rest.to_vec()),
        Some(_) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            UnixAddr::Pathname(bytes[..end].to_vec())
        }
    }
}

/// `bind(2)` to `name` (see the module docs for its form).
pub fn bind(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let (un, len) = to_raw(name)?;
    // SAFETY: `un` is a live sockaddr_un of at least `len` bytes, only read.
    syscall!(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&un as *const libc::sockaddr_un).cast(),
            len,
        )
    })?;
    Ok(())
}

/// `connect(2)` to `name`. On a non-blocking stream socket whose listener's
/// backlog is full this is `WouldBlock` (Unix sockets do not queue a
/// pending connect the way TCP does).
pub fn connect(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let (un, len) = to_raw(name)?;
    // SAFETY: `un` is a live sockaddr_un of at least `len` bytes, only read.
    syscall!(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&un as *const libc::sockaddr_un).cast(),
            len,
        )
    })?;
    Ok(())
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`.
pub fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, UnixAddr)> {
    let (new, un, len) = socket::accept_into::<libc::sockaddr_un>(fd)?;
    Ok((new, from_raw(&un, len)))
}

/// `getsockname(2)`.
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<UnixAddr> {
    let (un, len) = socket::get_name::<libc::sockaddr_un>(fd, libc::getsockname)?;
    Ok(from_raw(&un, len))
}

/// `getpeername(2)`.
pub fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<UnixAddr> {
    let (un, len) = socket::get_name::<libc::sockaddr_un>(fd, libc::getpeername)?;
    Ok(from_raw(&un, len))
}

/// `sendto(2)` with `MSG_NOSIGNAL` to `name`.
pub fn send_to(fd: BorrowedFd<'_>, buf: &[u8], name: &[u8]) -> io::Result<usize> {
    let (un, len) = to_raw(name)?;
    socket::send_to_raw(fd, buf, &un, len)
}

/// `recvfrom(2)`: one datagram and its sender's address.
pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, UnixAddr)> {
    let mut un = libc::sockaddr_un::zeroed();
    let mut len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf` and at most `len` into `un`.
    let n = syscall!(unsafe {
        super::direct::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut un as *mut libc::sockaddr_un).cast(),
            &mut len,
        )
    })?;
    Ok((n as usize, from_raw(&un, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_abstract_names_round_trip() {
        let (un, len) = to_raw(b"/tmp/x.sock").unwrap();
        assert_eq!(
            from_raw(&un, len),
            UnixAddr::Pathname(b"/tmp/x.sock".to_vec())
        );
        let (un, len) = to_raw(b"\0tern").unwrap();
        assert_eq!(from_raw(&un, len), UnixAddr::Abstract(b"tern".to_vec()));
        let un = libc::sockaddr_un::zeroed();
        assert_eq!(from_raw(&un, 2), UnixAddr::Unnamed);
    }

    #[test]
    fn bad_paths_are_invalid_input() {
        for bad in [&b""[..], b"/tmp/a\0b", &[b'a'; 108][..], &[0u8; 109][..]] {
            let e = to_raw(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(to_raw(&[b'a'; 107]).is_ok());
        assert!(to_raw(&[0u8; 108]).is_ok());
    }
}
