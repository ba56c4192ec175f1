//! The operating-system boundary: the only code in tern that calls libc.
//!
//! Every system call goes through `syscall!`, which turns the C convention
//! (`-1` and `errno`) into [`std::io::Result`] and counts the call in a per-thread
//! counter ([`syscall_count`]) so tests can assert how many syscalls an
//! operation costs. File descriptors are [`OwnedFd`](std::os::fd::OwnedFd)
//! from the moment they are created, so nothing leaks on an error path.
//!
//! Higher layers (the reactor, timers, tern-net, tern-dns) use the safe
//! wrappers here and never touch libc themselves.

use std::cell::Cell;

/// Counts a system call and maps its C result (`-1` and `errno`) to an
/// [`std::io::Result`]. The call itself is an `unsafe` block written at the
/// use site, so each one carries its own `// SAFETY:` comment (clippy's
/// `undocumented_unsafe_blocks` checks that):
///
/// ```ignore
/// // SAFETY: `fd` is a descriptor we own; the buffer outlives the call.
/// let n = syscall!(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })?;
/// ```
macro_rules! syscall {
    ($call: expr) => {{
        $crate::sys::count_syscall();
        let res = $call;
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

mod direct;
pub mod epoll;
pub mod eventfd;
pub mod process;
pub mod random;
pub mod signal;
pub mod socket;
pub mod thread;
pub mod timerfd;
pub mod unix;

thread_local! {
    static SYSCALLS: Cell<u64> = const { Cell::new(0) };
}

#[inline]
pub(crate) fn count_syscall() {
    SYSCALLS.with(|c| c.set(c.get() + 1));
}

/// Number of system calls tern has made on the calling thread so far.
///
/// Tests take the difference of two readings to assert the cost of an
/// operation (for example, at most four syscalls per UDP message).
pub fn syscall_count() -> u64 {
    SYSCALLS.with(|c| c.get())
}
