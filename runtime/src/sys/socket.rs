//! Socket system calls for tern-net: creation, addressing, and the
//! non-blocking data path.
//!
//! Sockets are created non-blocking and close-on-exec in the same call
//! (`SOCK_NONBLOCK | SOCK_CLOEXEC`); sends use `MSG_NOSIGNAL` so a write to a
//! closed peer returns `BrokenPipe` instead of raising `SIGPIPE`.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The kind of socket to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketType {
    /// `SOCK_DGRAM`.
    Datagram,
    /// `SOCK_STREAM`.
    Stream,
}

/// Creates a non-blocking, close-on-exec socket for `addr`'s family.
pub fn socket(addr: &SocketAddr, kind: SocketType) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let ty = match kind {
        SocketType::Datagram => libc::SOCK_DGRAM,
        SocketType::Stream => libc::SOCK_STREAM,
    } | libc::SOCK_NONBLOCK
        | libc::SOCK_CLOEXEC;
    // SAFETY: plain integer arguments; no memory is passed.
    let fd = syscall!(unsafe { libc::socket(domain, ty, 0) })?;
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

/// The address the kernel wrote into `name` at a receive: only its first
/// `len` bytes are initialised (the slot is not zeroed beforehand, which
/// saves clearing 128 bytes per datagram), and only fields inside them are
/// read. Fails as [`from_storage`] does.
#[inline]
fn from_written(
    name: &MaybeUninit<libc::sockaddr_storage>,
    len: libc::socklen_t,
) -> io::Result<SocketAddr> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unsupported socket address family",
        )
    };
    let len = len as usize;
    let p = name.as_ptr();
    if len < size_of::<libc::sa_family_t>() {
        return Err(bad());
    }
    // SAFETY: the kernel wrote the first `len` bytes, and the family (the
    // first field of every socket address) lies inside them.
    let family = unsafe { std::ptr::addr_of!((*p).ss_family).read() };
    match family as libc::c_int {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            let sin = p.cast::<libc::sockaddr_in>();
            // SAFETY: the kernel wrote a whole sockaddr_in (`len` covers
            // it); the storage is large and aligned enough for it, and
            // only its named fields are read.
            let (ip, port) = unsafe {
                (
                    std::ptr::addr_of!((*sin).sin_addr.s_addr).read(),
                    std::ptr::addr_of!((*sin).sin_port).read(),
                )
            };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(ip.to_ne_bytes()),
                u16::from_be(port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            let sin6 = p.cast::<libc::sockaddr_in6>();
            // SAFETY: as above, for a whole sockaddr_in6.
            let (ip, port, flow, scope) = unsafe {
                (
                    std::ptr::addr_of!((*sin6).sin6_addr.s6_addr).read(),
                    std::ptr::addr_of!((*sin6).sin6_port).read(),
                    std::ptr::addr_of!((*sin6).sin6_flowinfo).read(),
                    std::ptr::addr_of!((*sin6).sin6_scope_id).read(),
                )
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                u16::from_be(port),
                flow,
                scope,
            )))
        }
        _ => Err(bad()),
    }
}

/// `bind(2)`.
pub fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let (raw, len) = to_raw(addr);
    // SAFETY: `raw` is a live address of `len` bytes that the kernel only reads.
    syscall!(unsafe { libc::bind(fd.as_raw_fd(), (&raw as *const RawAddr).cast(), len) })?;
    Ok(())
}

/// `connect(2)`. On a non-blocking stream socket this returns
/// `EINPROGRESS` (`raw_os_error() == Some(libc::EINPROGRESS)`) while the
/// handshake runs.
pub fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let (raw, len) = to_raw(addr);
    // SAFETY: `raw` is a live address of `len` bytes that the kernel only reads.
    syscall!(unsafe {
        super::direct::connect(fd.as_raw_fd(), (&raw as *const RawAddr).cast(), len)
    })?;
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
    syscall!(unsafe { super::direct::connect(fd.as_raw_fd(), &addr, len) })?;
    Ok(())
}

/// Whether `e` is the "connect in progress" error of a non-blocking connect.
pub fn is_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}

/// `listen(2)`.
pub fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    syscall!(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`.
pub fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SocketAddr)> {
    let (new, st, len) = accept_into::<libc::sockaddr_storage>(fd)?;
    let addr = from_storage(&st, len)?;
    Ok((new, addr))
}

/// `sendto(2)` with `MSG_NOSIGNAL`.
pub fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
    let (raw, len) = to_raw(addr);
    send_to_raw(fd, buf, &raw, len)
}

/// `sendto(2)` with `MSG_NOSIGNAL` to the socket address `addr` (a
/// `sockaddr_*` value), of which the first `len` bytes count; shared with
/// sys::unix.
pub(super) fn send_to_raw<A>(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    addr: &A,
    len: libc::socklen_t,
) -> io::Result<usize> {
    let len = len.min(size_of::<A>() as libc::socklen_t);
    // SAFETY: `buf` and `addr` are live for the call and only read; the
    // kernel reads at most `len` bytes of `addr`, no more than it has.
    let n = syscall!(unsafe {
        super::direct::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            (addr as *const A).cast(),
            len,
        )
    })?;
    Ok(n as usize)
}

/// `send(2)` with `MSG_NOSIGNAL`.
#[inline]
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is live for the call and only read.
    let n = syscall!(unsafe {
        super::direct::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null(),
            0,
        )
    })?;
    Ok(n as usize)
}

/// `recvfrom(2)`: one datagram (or stream bytes) and the sender's address.
pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    recv_from_flags(fd, buf, 0)
}

/// `recvfrom(2)` of one datagram with `MSG_TRUNC`: its length (cut to
/// `buf`), sender and whether it was longer than `buf`, as
/// [`recv_batch`] reports them, for the price of a plain receive.
pub fn recv_meta(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let (n, addr) = recv_from_flags(fd, buf, libc::MSG_TRUNC)?;
    Ok(RecvMeta {
        len: n.min(buf.len()),
        addr,
        truncated: n > buf.len(),
    })
}

/// `recvfrom(2)` with `MSG_PEEK`: the next datagram and its sender, left
/// in the queue.
pub fn peek_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    recv_from_flags(fd, buf, libc::MSG_PEEK)
}

fn recv_from_flags(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: libc::c_int,
) -> io::Result<(usize, SocketAddr)> {
    // Not zeroed: `from_written` reads only what the kernel wrote.
    let mut st = MaybeUninit::<libc::sockaddr_storage>::uninit();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf` and at
    // most `len` into `st`, which is live and writable for the call.
    let n = syscall!(unsafe {
        super::direct::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            st.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok((n as usize, from_written(&st, len)?))
}

/// `recv(2)`.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    recv_flags(fd, buf, 0)
}

/// `recv(2)` with `MSG_PEEK`: copies queued bytes (or the next datagram)
/// without taking them.
pub fn peek(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    recv_flags(fd, buf, libc::MSG_PEEK)
}

/// `recv(2)` with `MSG_ERRQUEUE`: takes the oldest report off a datagram
/// socket's error queue (nothing is copied); `WouldBlock` when it is empty.
pub fn dequeue_error(fd: BorrowedFd<'_>) -> io::Result<usize> {
    recv_flags(fd, &mut [], libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT)
}

#[inline]
fn recv_flags(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`; no
    // address is asked for.
    let n = syscall!(unsafe {
        super::direct::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    })?;
    Ok(n as usize)
}

// ===== batched datagrams =====

/// Most datagrams one [`recv_batch`] or [`send_batch`] call moves; longer
/// slices are cut to this many (the caller calls again for the rest).
pub const BATCH_MAX: usize = 64;

/// What [`recv_batch`] learned about one received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvMeta {
    /// Bytes written to the datagram's buffer.
    pub len: usize,
    /// The sender.
    pub addr: SocketAddr,
    /// The datagram was longer than its buffer and was cut to `len` bytes
    /// (`MSG_TRUNC`); the rest is lost.
    pub truncated: bool,
}

impl Default for RecvMeta {
    fn default() -> RecvMeta {
        RecvMeta {
            len: 0,
            addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
            truncated: false,
        }
    }
}

/// `recvmmsg(2)`: receives up to `min(bufs.len(), meta.len(), BATCH_MAX)`
/// datagrams in one call, datagram `i` into `bufs[i]` with its length,
/// sender and truncation in `meta[i]`. Returns how many were received; a
/// non-blocking socket returns as soon as its queue is empty, and
/// `WouldBlock` only when nothing was queued. Empty slices return `Ok(0)`
/// without a syscall.
pub fn recv_batch(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    let n = bufs.len().min(meta.len()).min(BATCH_MAX);
    if n == 0 {
        return Ok(0);
    }
    // Only the first `n` slots are initialised (zeroed, then pointed at):
    // a small batch does not pay for clearing all BATCH_MAX of them.
    let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; BATCH_MAX];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; BATCH_MAX];
    for ((hdr, name), buf) in hdrs
        .iter_mut()
        .zip(names.iter_mut())
        .zip(bufs.iter_mut())
        .take(n)
    {
        let name = name.write(libc::sockaddr_storage::zeroed());
        // SAFETY: mmsghdr is plain old data (pointers, lengths, flags);
        // all-zero is a valid value (null pointers, zero lengths).
        let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        h.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
        h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // IoSliceMut is ABI compatible with iovec on Unix (std guarantees it).
        h.msg_hdr.msg_iov = (buf as *mut IoSliceMut<'_>).cast();
        h.msg_hdr.msg_iovlen = 1;
        hdr.write(h);
    }
    // SAFETY: the first `n` headers are initialised and point at `n` live,
    // writable address slots and buffers that outlive the call; the kernel
    // touches no header past `n`; a null timeout means none.
    let got = syscall!(unsafe {
        super::direct::recvmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            n as libc::c_uint,
            0,
        )
    })? as usize;
    for ((m, hdr), name) in meta.iter_mut().zip(&hdrs).zip(&names).take(got.min(n)) {
        // SAFETY: the first `n` headers and names were initialised above
        // (the kernel only wrote into them), and `got <= n`.
        let (hdr, name) = unsafe { (hdr.assume_init_ref(), name.assume_init_ref()) };
        *m = RecvMeta {
            len: hdr.msg_len as usize,
            addr: from_storage(name, hdr.msg_hdr.msg_namelen)?,
            truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        };
    }
    Ok(got)
}

/// What [`recv_two`] received: the first datagram's length (cut to its
/// buffer) and sender (if asked for), and the same for a second one, if
/// one was queued right behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Two {
    /// The first datagram's length.
    pub first_len: usize,
    /// The first datagram's sender; `None` when it was not asked for.
    pub first_from: Option<SocketAddr>,
    /// The second datagram, if one came.
    pub second: Option<(usize, SocketAddr)>,
}

/// `recvmmsg(2)` of at most two datagrams: the first into `first`, a
/// second, if one is queued right behind it, into `second`
/// (`WouldBlock` when none was queued). With one, the socket's queue was
/// empty when the call returned, which a plain receive cannot tell: a
/// datagram that arrives later raises a new readiness edge. The first
/// datagram's sender is asked of the kernel only with `first_sender` (a
/// connected socket's `recv` has no use for it); the second's always is,
/// since it is held for a receive that may report it.
#[inline]
pub fn recv_two(
    fd: BorrowedFd<'_>,
    first: &mut [u8],
    second: &mut [u8],
    first_sender: bool,
) -> io::Result<Two> {
    // Address slots are not zeroed: `from_written` reads only what the
    // kernel wrote.
    let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; 2];
    let mut iov = [
        libc::iovec {
            iov_base: first.as_mut_ptr().cast(),
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_mut_ptr().cast(),
            iov_len: second.len(),
        },
    ];
    // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
    let mut hdrs: [libc::mmsghdr; 2] = unsafe { MaybeUninit::zeroed().assume_init() };
    for (i, ((hdr, name), v)) in hdrs
        .iter_mut()
        .zip(names.iter_mut())
        .zip(iov.iter_mut())
        .enumerate()
    {
        // A null name (and length 0) asks for no address.
        if i == 1 || first_sender {
            hdr.msg_hdr.msg_name = name.as_mut_ptr().cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        hdr.msg_hdr.msg_iov = v;
        hdr.msg_hdr.msg_iovlen = 1;
    }
    let got = syscall!(
        // SAFETY: both headers point at iovecs over `first` and `second`
        // and at live, writable address slots of the size they give (or at
        // none), all of which outlive the call.
        unsafe { super::direct::recvmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), 2, 0) }
    )?;
    // The kernel wrote `msg_namelen` bytes of each sender's address it
    // was asked for, and `msg_len` bytes of data (no more than the buffer).
    let from = |i: usize| from_written(&names[i], hdrs[i].msg_hdr.msg_namelen);
    Ok(Two {
        first_len: hdrs[0].msg_len as usize,
        first_from: if first_sender { Some(from(0)?) } else { None },
        second: if got >= 2 {
            Some((hdrs[1].msg_len as usize, from(1)?))
        } else {
            None
        },
    })
}

/// `sendmmsg(2)` with `MSG_NOSIGNAL`: sends `bufs[i]` as one datagram to
/// `targets[i]` (or, with `targets` `None`, to the connected peer), up to
/// `BATCH_MAX` of them. Returns how many were sent: fewer than asked when
/// the send buffer filled up or a later datagram failed (its error is then
/// reported by the next call). Empty slices return `Ok(0)` without a
/// syscall.
pub fn send_batch(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    targets: Option<&[SocketAddr]>,
) -> io::Result<usize> {
    let n = bufs
        .len()
        .min(targets.map_or(usize::MAX, <[SocketAddr]>::len))
        .min(BATCH_MAX);
    if n == 0 {
        return Ok(0);
    }
    // Only the first `n` slots are initialised, as in `recv_batch`.
    let mut names = [const { MaybeUninit::<RawAddr>::uninit() }; BATCH_MAX];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; BATCH_MAX];
    for (i, ((hdr, name), buf)) in hdrs
        .iter_mut()
        .zip(names.iter_mut())
        .zip(bufs)
        .take(n)
        .enumerate()
    {
        // SAFETY: as in `recv_batch`, all-zero is a valid mmsghdr.
        let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        if let Some(target) = targets.and_then(|t| t.get(i)) {
            let (raw, len) = to_raw(target);
            let raw = name.write(raw);
            h.msg_hdr.msg_name = (raw as *mut RawAddr).cast();
            h.msg_hdr.msg_namelen = len;
        }
        // IoSlice is ABI compatible with iovec; the kernel only reads it.
        h.msg_hdr.msg_iov = (buf as *const IoSlice<'_>).cast_mut().cast();
        h.msg_hdr.msg_iovlen = 1;
        hdr.write(h);
    }
    // SAFETY: the first `n` headers are initialised and point at live
    // addresses and buffers that outlive the call; the kernel touches no
    // header past `n`.
    let sent = syscall!(unsafe {
        super::direct::sendmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            n as libc::c_uint,
            libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(sent as usize)
}

/// `getsockname(2)`.
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let (st, len) = get_name::<libc::sockaddr_storage>(fd, libc::getsockname)?;
    from_storage(&st, len)
}

/// `getpeername(2)`.
pub fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let (st, len) = get_name::<libc::sockaddr_storage>(fd, libc::getpeername)?;
    from_storage(&st, len)
}

// ===== address buffers, shared with sys::unix =====

/// A `sockaddr_*` type the kernel may fill in: plain old data for which
/// every byte pattern, all-zero included, is a valid value.
///
/// # Safety
///
/// Implement it only for such types.
pub(super) unsafe trait AddrBuf: Sized {
    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: the trait's contract: all-zero is a valid value.
        unsafe { MaybeUninit::zeroed().assume_init() }
    }
}

// SAFETY: sockaddr_storage is plain old data (integers and byte arrays).
unsafe impl AddrBuf for libc::sockaddr_storage {}

// SAFETY: sockaddr_un is plain old data (an integer and a byte array).
unsafe impl AddrBuf for libc::sockaddr_un {}

/// The signature of `getsockname(2)` and `getpeername(2)`.
pub(super) type GetName =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// Calls `get` (`getsockname` or `getpeername`) on `fd`: the address it
/// wrote and its length.
pub(super) fn get_name<A: AddrBuf>(
    fd: BorrowedFd<'_>,
    get: GetName,
) -> io::Result<(A, libc::socklen_t)> {
    let mut addr = A::zeroed();
    let mut len = size_of::<A>() as libc::socklen_t;
    // SAFETY: `addr` and `len` are live; the kernel writes at most `len`
    // bytes into `addr`, and any bytes make a valid `A` (AddrBuf).
    syscall!(unsafe { get(fd.as_raw_fd(), (&mut addr as *mut A).cast(), &mut len) })?;
    Ok((addr, len))
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: the new descriptor,
/// and the peer's address and its length.
pub(super) fn accept_into<A: AddrBuf>(
    fd: BorrowedFd<'_>,
) -> io::Result<(OwnedFd, A, libc::socklen_t)> {
    let mut addr = A::zeroed();
    let mut len = size_of::<A>() as libc::socklen_t;
    // SAFETY: `addr` and `len` are live; the kernel writes at most `len`
    // bytes into `addr`, and any bytes make a valid `A` (AddrBuf).
    let new = syscall!(unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            (&mut addr as *mut A).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 returned a fresh descriptor nothing else owns.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    Ok((new, addr, len))
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
    /// `SO_BROADCAST`.
    Broadcast,
    /// `SO_KEEPALIVE`.
    KeepAlive,
    /// `IP_TTL`.
    TtlV4,
    /// `IPV6_UNICAST_HOPS`.
    UnicastHopsV6,
    /// `IP_MULTICAST_LOOP`.
    MulticastLoopV4,
    /// `IPV6_MULTICAST_LOOP`.
    MulticastLoopV6,
    /// `IP_MULTICAST_TTL`.
    MulticastTtlV4,
    /// `IP_RECVERR`.
    RecvErrorsV4,
    /// `IPV6_RECVERR`.
    RecvErrorsV6,
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
            Opt::Broadcast => (libc::SOL_SOCKET, libc::SO_BROADCAST),
            Opt::KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            Opt::TtlV4 => (libc::IPPROTO_IP, libc::IP_TTL),
            Opt::UnicastHopsV6 => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
            Opt::MulticastLoopV4 => (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
            Opt::MulticastLoopV6 => (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP),
            Opt::MulticastTtlV4 => (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL),
            Opt::RecvErrorsV4 => (libc::IPPROTO_IP, libc::IP_RECVERR),
            Opt::RecvErrorsV6 => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
        }
    }
}

/// `setsockopt(2)` with `value` as the option's value (a plain C struct or
/// integer: the kernel reads `size_of::<T>()` bytes from it).
fn set_raw<T: Copy>(fd: BorrowedFd<'_>, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: reads `size_of::<T>()` bytes from `value`, alive for the call.
    syscall!(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `setsockopt(2)` for an integer option.
pub fn set_opt(fd: BorrowedFd<'_>, opt: Opt, value: i32) -> io::Result<()> {
    let (level, name) = opt.level_name();
    set_raw(fd, level, name, &value)
}

/// `getsockopt(2)` for an integer option.
pub fn get_opt(fd: BorrowedFd<'_>, opt: Opt) -> io::Result<i32> {
    let (level, name) = opt.level_name();
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: writes at most `len` (4) bytes into `value`, alive for the call.
    syscall!(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// The option that holds the unicast TTL of `fd`'s family: `IP_TTL` for
/// IPv4 sockets, `IPV6_UNICAST_HOPS` (the hop limit) for IPv6 ones.
pub fn ttl_opt(fd: BorrowedFd<'_>) -> io::Result<Opt> {
    Ok(match local_addr(fd)? {
        SocketAddr::V4(_) => Opt::TtlV4,
        SocketAddr::V6(_) => Opt::UnicastHopsV6,
    })
}

/// Joins (`join`) or leaves the IPv4 multicast group `group` on the
/// interface with address `interface` (`0.0.0.0`: the kernel picks one).
pub fn multicast_v4(
    fd: BorrowedFd<'_>,
    group: Ipv4Addr,
    interface: Ipv4Addr,
    join: bool,
) -> io::Result<()> {
    let mreq = libc::ip_mreq {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_interface: libc::in_addr {
            s_addr: u32::from_ne_bytes(interface.octets()),
        },
    };
    let name = if join {
        libc::IP_ADD_MEMBERSHIP
    } else {
        libc::IP_DROP_MEMBERSHIP
    };
    set_raw(fd, libc::IPPROTO_IP, name, &mreq)
}

/// Joins (`join`) or leaves the IPv6 multicast group `group` on the
/// interface with index `interface` (0: the kernel picks one).
pub fn multicast_v6(
    fd: BorrowedFd<'_>,
    group: &Ipv6Addr,
    interface: u32,
    join: bool,
) -> io::Result<()> {
    let mreq = libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: group.octets(),
        },
        ipv6mr_interface: interface,
    };
    let name = if join {
        libc::IPV6_ADD_MEMBERSHIP
    } else {
        libc::IPV6_DROP_MEMBERSHIP
    };
    set_raw(fd, libc::IPPROTO_IPV6, name, &mreq)
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
    set_raw(fd, libc::SOL_SOCKET, libc::SO_LINGER, &value)
}

/// `shutdown(2)`.
pub fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: integer arguments only.
    syscall!(unsafe { libc::shutdown(fd.as_raw_fd(), how) })?;
    Ok(())
}

/// Puts an fd into non-blocking mode (`FIONBIO`).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    // SAFETY: FIONBIO reads a c_int from `on`, alive for the call.
    syscall!(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONBIO, &mut on) })?;
    Ok(())
}
