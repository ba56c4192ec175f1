//! Unix signal handling at the OS boundary: a `sigaction` handler that
//! records the signal and writes one byte to a process-wide self-pipe.
//!
//! # Implementation
//!
//! The handler does only async-signal-safe things: an atomic store into
//! a per-signal flag and a `write(2)` to the pipe's non-blocking write end
//! (a full pipe just drops the byte: a wake-up is pending anyway), saving
//! and restoring `errno` around them. Because signals are directed at the
//! process, any thread may run the handler (a blocking-pool thread, a
//! user's thread); the pipe carries the news to the reactor either way,
//! which a `signalfd` would not unless the signal were blocked in every
//! thread. The pipe is made once and lives as long as the process.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};

/// One more than the largest signal number on Linux (`SIGRTMAX` is 64).
pub const NSIG: usize = 65;

/// Signals no program may catch, or must not catch and return from.
const FORBIDDEN: [libc::c_int; 5] = [
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGKILL,
    libc::SIGSEGV,
    libc::SIGSTOP,
];

static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

struct Setup {
    read: Option<OwnedFd>,
    installed: [bool; NSIG],
}

static SETUP: Mutex<Setup> = Mutex::new(Setup {
    read: None,
    installed: [false; NSIG],
});

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(flag) = usize::try_from(sig).ok().and_then(|s| PENDING.get(s)) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is a valid 1-byte
        // buffer; `fd` is the pipe's write end, which is never closed.
        let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Makes the self-pipe if it does not exist yet; returns its read end.
fn pipe(setup: &mut Setup) -> io::Result<RawFd> {
    if let Some(fd) = &setup.read {
        return Ok(fd.as_raw_fd());
    }
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    syscall!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })
        .map_err(|e| io::Error::new(e.kind(), format!("signal self-pipe: {e}")))?;
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The write end is leaked on purpose: a handler may run at any time
    // for the rest of the process's life.
    WAKE_FD.store(
        std::mem::ManuallyDrop::new(write).as_raw_fd(),
        Ordering::SeqCst,
    );
    let raw = read.as_raw_fd();
    setup.read = Some(read);
    Ok(raw)
}

/// Installs the handler for `sig` (once per process; it stays installed,
/// so the signal's default action is gone from then on) and returns a new
/// descriptor for the self-pipe's read end (non-blocking, close-on-exec),
/// which becomes readable when any handled signal arrives.
pub fn listen(sig: i32) -> io::Result<OwnedFd> {
    let idx = usize::try_from(sig)
        .ok()
        .filter(|&s| s > 0 && s < NSIG && !FORBIDDEN.contains(&sig));
    let Some(idx) = idx else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {sig} cannot be handled"),
        ));
    };
    let mut setup = SETUP.lock().unwrap_or_else(PoisonError::into_inner);
    let read = pipe(&mut setup)?;
    if !setup.installed[idx] {
        // SAFETY: an all-zero sigaction is a valid value (no flags, empty mask).
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa` is a valid sigaction; the handler only does
        // async-signal-safe work; no old action is asked for.
        syscall!(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) })
            .map_err(|e| io::Error::new(e.kind(), format!("sigaction for signal {sig}: {e}")))?;
        setup.installed[idx] = true;
    }
    // SAFETY: F_DUPFD_CLOEXEC on an open descriptor; no memory is passed.
    let dup = syscall!(unsafe { libc::fcntl(read, libc::F_DUPFD_CLOEXEC, 0) })
        .map_err(|e| io::Error::new(e.kind(), format!("dup of the signal self-pipe: {e}")))?;
    // SAFETY: fcntl returned a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Whether `sig` arrived since the last call (clears the flag).
pub fn take_pending(sig: i32) -> bool {
    usize::try_from(sig)
        .ok()
        .and_then(|s| PENDING.get(s))
        .is_some_and(|f| f.swap(false, Ordering::SeqCst))
}

/// Reads and discards what the self-pipe holds; `Ok(0)` never happens
/// (the write end stays open), `WouldBlock` once it is empty.
pub fn drain(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<usize> {
    let mut buf = [0u8; 64];
    super::process::read(fd.as_fd(), &mut buf)
}

/// Sends `sig` to this whole process (`kill(getpid(), sig)`), so any of
/// its threads may take it.
pub fn raise_process(sig: i32) -> io::Result<()> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: kill takes a pid and a signal number, no memory.
    syscall!(unsafe { libc::kill(pid, sig) })
        .map_err(|e| io::Error::new(e.kind(), format!("kill({pid}, {sig}): {e}")))?;
    Ok(())
}
