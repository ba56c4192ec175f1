//! The epoll instance behind the reactor.
//!
//! Sources are registered once, edge-triggered, for read, write,
//! read-hang-up and urgent data (`EPOLLIN | EPOLLOUT | EPOLLRDHUP |
//! EPOLLPRI | EPOLLET`) and never re-armed; a source may leave out write
//! interest and have it added once ([`Epoll::modify`]). Timed waits use
//! `epoll_pwait2(2)`, which takes a `timespec` and so honours
//! sub-millisecond timeouts. On kernels without it (before
//! 5.11) a `timerfd` registered in the same epoll set carries the deadline
//! instead; which one is used is decided once per process.
//!
//! # Implementation
//!
//! The timerfd fallback re-programs the timer only when the requested
//! deadline changes, so a runtime that parks repeatedly on the same timer
//! pays one `timerfd_settime` for it. The timerfd's readiness comes back as
//! an event with the reserved token [`TIMER_TOKEN`]; the caller ignores it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::timerfd::TimerFd;

/// The token reported for the fallback timerfd; never a source's token.
pub const TIMER_TOKEN: u64 = u64::MAX;

/// Readiness bits reported by [`Epoll::wait`].
pub mod flags {
    /// The fd is readable.
    pub const READABLE: u32 = libc::EPOLLIN as u32;
    /// The fd is writable.
    pub const WRITABLE: u32 = libc::EPOLLOUT as u32;
    /// The peer closed its writing half (`EPOLLRDHUP`).
    pub const READ_CLOSED: u32 = libc::EPOLLRDHUP as u32;
    /// Both halves hung up (`EPOLLHUP`).
    pub const HUP: u32 = libc::EPOLLHUP as u32;
    /// An error is pending on the fd (`EPOLLERR`).
    pub const ERROR: u32 = libc::EPOLLERR as u32;
    /// Urgent data (`EPOLLPRI`).
    pub const PRIORITY: u32 = libc::EPOLLPRI as u32;
}

/// How timed waits are implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimedWait {
    /// `epoll_pwait2` with a nanosecond timeout.
    Pwait2,
    /// `epoll_wait` plus a timerfd in the epoll set.
    TimerFd,
}

static DETECTED: AtomicU8 = AtomicU8::new(0);

impl TimedWait {
    /// What this kernel supports, probed once per process.
    pub fn detect() -> TimedWait {
        match DETECTED.load(Ordering::Relaxed) {
            1 => TimedWait::Pwait2,
            2 => TimedWait::TimerFd,
            _ => {
                let found = probe_pwait2();
                DETECTED.store(
                    if found == TimedWait::Pwait2 { 1 } else { 2 },
                    Ordering::Relaxed,
                );
                found
            }
        }
    }
}

fn probe_pwait2() -> TimedWait {
    let Ok(ep) = Epoll::create(TimedWait::Pwait2) else {
        return TimedWait::TimerFd;
    };
    let mut events = Events::with_capacity(1);
    choose(&ep.pwait2(&mut events, Some(Duration::ZERO)))
}

/// The mechanism to use given the result of a zero-timeout `epoll_pwait2`.
/// Only a call that worked counts as support: `ENOSYS` (an old kernel),
/// `EPERM` (a seccomp profile that refuses unknown syscalls) or any other
/// error mean the timerfd fallback.
fn choose(probe: &io::Result<()>) -> TimedWait {
    match probe {
        Ok(()) => TimedWait::Pwait2,
        Err(_) => TimedWait::TimerFd,
    }
}

/// A buffer of events filled by [`Epoll::wait`].
pub struct Events {
    buf: Vec<libc::epoll_event>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("len", &self.buf.len())
            .finish()
    }
}

impl Events {
    /// A buffer for up to `cap` events per wait.
    pub fn with_capacity(cap: usize) -> Events {
        Events {
            buf: Vec::with_capacity(cap.max(1)),
        }
    }

    /// The events of the last wait as `(token, readiness flags)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.buf.iter().map(|e| (e.u64, e.events))
    }

    /// Number of events of the last wait.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the last wait returned no events.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
    mode: TimedWait,
    timer: Option<TimerFd>,
    /// Deadline the fallback timerfd is armed for.
    armed: std::cell::Cell<Option<Instant>>,
}

impl Epoll {
    /// Creates an epoll instance using the given timed-wait mechanism.
    pub fn create(mode: TimedWait) -> io::Result<Epoll> {
        // SAFETY: plain integer flags; no memory is passed.
        let fd = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 returned a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut ep = Epoll {
            fd,
            mode,
            timer: None,
            armed: std::cell::Cell::new(None),
        };
        if mode == TimedWait::TimerFd {
            let timer = TimerFd::new()?;
            ep.add(timer.as_raw_fd(), TIMER_TOKEN, false)?;
            ep.timer = Some(timer);
        }
        Ok(ep)
    }

    /// The timed-wait mechanism of this instance.
    pub fn mode(&self) -> TimedWait {
        self.mode
    }

    /// Registers `fd` edge-triggered with `token`, for read, urgent data
    /// and hang-up, and for write too if `write` is set.
    pub fn add(&self, fd: RawFd, token: u64, write: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, write)
    }

    /// Changes the registration of `fd` (made by [`add`](Epoll::add)) to
    /// include write interest or not. The kernel checks the fd's readiness
    /// against the new interest at once, so an fd that is already writable
    /// is reported by the next wait: no edge is lost.
    pub fn modify(&self, fd: RawFd, token: u64, write: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, write)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, write: bool) -> io::Result<()> {
        let mut events = libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET;
        if write {
            events |= libc::EPOLLOUT;
        }
        let mut ev = libc::epoll_event {
            events: events as u32,
            u64: token,
        };
        // SAFETY: `ev` is a live epoll_event the kernel only reads; `fd` is the caller's open descriptor.
        syscall!(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Removes `fd` from the set. Must happen before `fd` is closed.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: EPOLL_CTL_DEL takes no event (null is allowed since Linux 2.6.9).
        syscall!(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })?;
        Ok(())
    }

    /// Waits for events. `None` waits without a limit; `Some(ZERO)` only
    /// collects what is ready. `EINTR` comes back as an empty wait.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let res = match (self.mode, timeout) {
            (_, Some(d)) if d.is_zero() => self.epoll_wait(events, 0),
            (TimedWait::Pwait2, t) => self.pwait2(events, t),
            (TimedWait::TimerFd, None) => self.epoll_wait(events, -1),
            (TimedWait::TimerFd, Some(d)) => {
                let deadline = Instant::now() + d;
                self.arm(deadline, d)?;
                self.epoll_wait(events, -1)
            }
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                events.buf.clear();
                Ok(())
            }
            other => other,
        }
    }

    fn arm(&self, deadline: Instant, d: Duration) -> io::Result<()> {
        let Some(timer) = &self.timer else {
            return Ok(());
        };
        // Re-arm only if the deadline moved by more than the timer's
        // resolution; the timerfd fires once and stays readable until reset,
        // and an early expiry is harmless (the caller re-checks its timers).
        if let Some(armed) = self.armed.get() {
            if armed > Instant::now() && armed <= deadline {
                return Ok(());
            }
        }
        timer.set_relative(d)?;
        self.armed.set(Some(deadline));
        Ok(())
    }

    fn epoll_wait(&self, events: &mut Events, timeout_ms: i32) -> io::Result<()> {
        events.buf.clear();
        let cap = events.buf.capacity() as i32;
        // SAFETY: the kernel writes at most `cap` events into the buffer's spare capacity, which is `capacity()` entries long;
        // `cap` is never more: a capacity past `i32::MAX` is cut by the cast to a smaller count or to a negative one (`EINVAL`).
        let n = syscall!(unsafe {
            super::direct::epoll_wait(
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr(),
                cap,
                timeout_ms,
            )
        })?;
        // SAFETY: the kernel initialised the first `n` (<= capacity) entries.
        unsafe { events.buf.set_len(n as usize) };
        Ok(())
    }

    fn pwait2(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.buf.clear();
        let cap = events.buf.capacity() as libc::c_int;
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = match &ts {
            Some(ts) => ts as *const libc::timespec,
            None => std::ptr::null(),
        };
        // SAFETY: as for epoll_wait; `ts_ptr` is null or points at `ts`, alive for the call; no signal mask (null, size 0).
        let n = syscall!(unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.fd.as_raw_fd() as libc::c_long,
                events.buf.as_mut_ptr(),
                cap as libc::c_long,
                ts_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0 as libc::size_t,
            )
        })?;
        // SAFETY: the kernel initialised the first `n` (<= capacity) entries.
        unsafe { events.buf.set_len(n as usize) };
        Ok(())
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_probe_error_means_the_timerfd_fallback() {
        assert_eq!(choose(&Ok(())), TimedWait::Pwait2);
        for errno in [libc::ENOSYS, libc::EPERM, libc::EACCES, libc::EINVAL] {
            let err = Err(io::Error::from_raw_os_error(errno));
            assert_eq!(choose(&err), TimedWait::TimerFd, "errno {errno}");
        }
    }

    #[test]
    fn the_fallback_waits_with_a_timerfd() {
        let ep = Epoll::create(TimedWait::TimerFd).unwrap();
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        ep.wait(&mut events, Some(Duration::from_millis(2)))
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(2));
        assert!(events.iter().any(|(token, _)| token == TIMER_TOKEN));
    }
}
