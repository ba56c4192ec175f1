//! The hot socket syscalls made with `syscall(2)` instead of glibc's
//! wrappers.
//!
//! glibc's `sendto`, `recvfrom`, `sendmmsg`, `recvmmsg` (and `send` and
//! `recv`, which are `sendto` and `recvfrom` on x86-64), `connect` (a
//! fresh DNS port is given back with one per query) and `epoll_wait` are
//! cancellation points: in a process with more than one thread they switch
//! asynchronous cancellation on and off around every call, about 40
//! instructions each time, 15 % of a queued datagram's receive here.
//! tern never cancels threads (Rust code cannot be cancelled soundly), so
//! these calls go to the kernel directly. Each function has the C
//! function's contract and result: the byte or message count, or `-1`
//! with `errno` set (glibc's `syscall` sets it).

use libc::{c_int, c_long, c_uint, c_void, epoll_event, mmsghdr, sockaddr, socklen_t};

/// `sendto(2)`.
///
/// # Safety
/// As `libc::sendto`: `buf` is readable for `len` bytes, and `addr` (or
/// null with `addrlen` 0) readable for `addrlen` bytes.
#[inline]
pub(crate) unsafe fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> isize {
    // SAFETY: forwarded; every argument is passed at its register width.
    unsafe {
        libc::syscall(
            libc::SYS_sendto,
            c_long::from(fd),
            buf,
            len,
            c_long::from(flags),
            addr,
            c_long::from(addrlen),
        ) as isize
    }
}

/// `recvfrom(2)`.
///
/// # Safety
/// As `libc::recvfrom`: `buf` is writable for `len` bytes, and `addr`
/// (or null, with `addrlen` null) writable for `*addrlen` bytes.
#[inline]
pub(crate) unsafe fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> isize {
    // SAFETY: forwarded; every argument is passed at its register width.
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            c_long::from(fd),
            buf,
            len,
            c_long::from(flags),
            addr,
            addrlen,
        ) as isize
    }
}

/// `recvmmsg(2)` without a timeout.
///
/// # Safety
/// As `libc::recvmmsg` with a null timeout: the first `vlen` headers are
/// initialised and point at live, writable buffers and address slots.
#[inline]
pub(crate) unsafe fn recvmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    // SAFETY: forwarded; a null timeout means none.
    unsafe {
        libc::syscall(
            libc::SYS_recvmmsg,
            c_long::from(fd),
            msgs,
            c_long::from(vlen),
            c_long::from(flags),
            std::ptr::null_mut::<libc::timespec>(),
        ) as c_int
    }
}

/// `sendmmsg(2)`.
///
/// # Safety
/// As `libc::sendmmsg`: the first `vlen` headers are initialised and point
/// at live buffers and addresses.
#[inline]
pub(crate) unsafe fn sendmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        libc::syscall(
            libc::SYS_sendmmsg,
            c_long::from(fd),
            msgs,
            c_long::from(vlen),
            c_long::from(flags),
        ) as c_int
    }
}

/// `connect(2)`.
///
/// # Safety
/// As `libc::connect`: `addr` is readable for `addrlen` bytes.
#[inline]
pub(crate) unsafe fn connect(fd: c_int, addr: *const sockaddr, addrlen: socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        libc::syscall(
            libc::SYS_connect,
            c_long::from(fd),
            addr,
            c_long::from(addrlen),
        ) as c_int
    }
}

/// `epoll_wait(2)`.
///
/// # Safety
/// As `libc::epoll_wait`: `events` is writable for `maxevents` entries.
#[inline]
pub(crate) unsafe fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout_ms: c_int,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        libc::syscall(
            libc::SYS_epoll_wait,
            c_long::from(epfd),
            events,
            c_long::from(maxevents),
            c_long::from(timeout_ms),
        ) as c_int
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn results_and_errno_are_the_c_functions() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        // SAFETY: the buffer is live and readable; no address.
        let sent = unsafe {
            sendto(
                a.as_raw_fd(),
                b"hey".as_ptr().cast(),
                3,
                0,
                std::ptr::null(),
                0,
            )
        };
        assert_eq!(sent, 3);
        let mut buf = [0u8; 8];
        // SAFETY: the buffer is live and writable; no address.
        let got = unsafe {
            recvfrom(
                b.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!((got, &buf[..3]), (3, &b"hey"[..]));
        // Nothing queued: -1 and EAGAIN, as from libc::recvfrom.
        // SAFETY: as above.
        let got = unsafe {
            recvfrom(
                b.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(got, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EAGAIN)
        );
        // A bad fd: EBADF.
        // SAFETY: nothing is written; the fd is invalid on purpose.
        let got = unsafe { recvmmsg(-1, std::ptr::null_mut(), 0, 0) };
        assert_eq!(got, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
