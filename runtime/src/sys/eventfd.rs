//! `eventfd(2)`: the remote wake-up signal of a runtime.
//!
//! The reactor registers the eventfd once, edge-triggered. Every write makes
//! the kernel wake the epoll instance again, so the counter never has to be
//! read back in the steady state; it would take 2^64 - 1 writes to saturate.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd created non-blocking and close-on-exec.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// Creates a new eventfd with a zero counter.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain integer flags; no memory is passed.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: eventfd returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, waking any epoll instance watching it.
    pub fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: reads 8 bytes from `one`, a live u64.
        let res = syscall!(unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        });
        match res {
            Ok(_) => Ok(()),
            // The counter is saturated: a wake-up is pending anyway. Drain it
            // so later writes produce edges again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.drain();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Resets the counter to zero.
    pub fn drain(&self) {
        let mut buf: u64 = 0;
        // SAFETY: writes at most 8 bytes into `buf`, a live u64.
        let _ = syscall!(unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut buf as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        });
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
