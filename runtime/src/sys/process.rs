//! Process-level system calls: `pidfd_open(2)` to wait for a child
//! through the reactor, plain `read`/`write` on its pipes, and this
//! process's file-descriptor limit and count.
//!
//! Forking, `exec` and reaping are left to `std::process`, which does
//! them carefully (close-on-exec pipes, async-signal-safe code between
//! `fork` and `exec`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Opens a pidfd for process `pid` (close-on-exec; Linux 5.3 or later).
///
/// It becomes readable when the process exits. The caller must make sure
/// `pid` is its own unreaped child, so that the number cannot have been
/// reused. On kernels without the call the error says so.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("pid {pid} out of range"),
        )
    })?;
    // SAFETY: pidfd_open takes a pid and flags, no memory.
    let res = syscall!(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) });
    match res {
        Ok(fd) => {
            let fd = libc::c_int::try_from(fd).map_err(|_| {
                io::Error::other(format!("pidfd_open({pid}) returned an invalid fd {fd}"))
            })?;
            // SAFETY: pidfd_open returned a fresh descriptor nothing else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("pidfd_open({pid}): not supported by this kernel (Linux 5.3 or later is needed to wait for a child process)"),
        )),
        Err(e) => Err(io::Error::new(e.kind(), format!("pidfd_open({pid}): {e}"))),
    }
}

/// `read(2)` into `buf`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = syscall!(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `write(2)` from `buf`.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = syscall!(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// Raises this process's soft `RLIMIT_NOFILE` to the hard limit and
/// returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: writes an rlimit into `lim`, alive for the call.
    syscall!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: reads an rlimit from `lim`, alive for the call.
        syscall!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
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
    // SAFETY: writes an rlimit into `lim`, alive for the call.
    syscall!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: reads an rlimit from `lim`, alive for the call.
    syscall!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
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
