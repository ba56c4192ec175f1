//! Child processes: [`Command`] spawns, [`Child`] waits through a pidfd
//! on the reactor, and the child's pipes are async streams.
//!
//! ```no_run
//! # tern_runtime::block_on(async {
//! let out = tern_runtime::process::Command::new("echo").arg("hi").output().await?;
//! assert_eq!(out.stdout, b"hi\n");
//! # std::io::Result::Ok(()) });
//! ```
//!
//! # Implementation
//!
//! `std::process::Command` does the fork and exec; this module takes the
//! child's pipes, makes them non-blocking and registers them with the
//! reactor ([`ChildStdin`] is a futures-io `AsyncWrite`, [`ChildStdout`] and
//! [`ChildStderr`] are `AsyncRead`). [`Child::wait`] opens a pidfd for the
//! child (Linux 5.3 or later), waits until it is readable, which the
//! kernel makes it when the child exits, and then reaps the child with a
//! non-blocking `waitpid` (std's `try_wait`). No `SIGCHLD` handler is
//! involved.
//!
//! A `Child` dropped before its process was reaped is handed to a detached
//! task of its runtime that waits on the pidfd and reaps it as soon as it
//! exits. If that is not possible (no pidfd, or the runtime ends first),
//! the child goes on a process-wide orphan list, which is swept (one
//! non-blocking `waitpid` per orphan) on every spawn, every finished wait
//! and every drop of a `Child`, as tokio's orphan queue is; such an exited
//! orphan is a zombie only until the next of those.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::io::{Direction, IoSource};
use crate::sys;

/// Children dropped before they were reaped; see the module docs.
static ORPHANS: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());

/// Reaps every orphan that has exited (never waits).
fn reap_orphans() {
    let mut orphans = ORPHANS.lock().unwrap_or_else(PoisonError::into_inner);
    // An error (ECHILD: someone else reaped it) also ends our interest.
    orphans.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
}

/// The number of dropped children not yet reaped (their processes are
/// still running, or exited since the last sweep).
pub fn orphan_count() -> usize {
    reap_orphans();
    ORPHANS.lock().unwrap_or_else(PoisonError::into_inner).len()
}

// ===== impl Command =====

/// A process to spawn, configured as `std::process::Command` is.
///
/// Spawning needs a running tern runtime (the pipes are registered with
/// it). By default the child inherits this process's stdin, stdout and
/// stderr, except in [`output`](Command::output), which captures stdout
/// and stderr and gives the child an empty stdin.
pub struct Command {
    std: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    kill_on_drop: bool,
}

impl Command {
    /// A command to run `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin; `Stdio::piped()` gives [`Child::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout; `Stdio::piped()` gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr; `Stdio::piped()` gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] before it was reaped kills it
    /// (SIGKILL). Off by default: the child runs on and is reaped later.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// The std command underneath, for settings not mirrored here
    /// (`std::os::unix::process::CommandExt`: uid, process group...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child.
    ///
    /// Fails outside a tern runtime, and with the program's name in the
    /// message when it cannot be started (not found, not executable).
    pub fn spawn(&mut self) -> io::Result<Child> {
        if !crate::in_runtime() {
            return Err(io::Error::other(format!(
                "spawning {:?}: child processes must be spawned inside a tern runtime",
                self.std.get_program()
            )));
        }
        reap_orphans();
        let mut child = self.std.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("spawning {:?}: {e}", self.std.get_program()),
            )
        })?;
        // Register the pipes; on failure the Child built so far is dropped,
        // which kills nothing but reaps through the orphan list.
        let stdin = child.stdin.take().map(OwnedFd::from);
        let stdout = child.stdout.take().map(OwnedFd::from);
        let stderr = child.stderr.take().map(OwnedFd::from);
        let mut out = Child {
            child: Some(child),
            status: None,
            pidfd: None,
            kill_on_drop: self.kill_on_drop,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        out.stdin = stdin.map(|fd| Pipe::new(fd).map(ChildStdin)).transpose()?;
        out.stdout = stdout
            .map(|fd| Pipe::new(fd).map(ChildStdout))
            .transpose()?;
        out.stderr = stderr
            .map(|fd| Pipe::new(fd).map(ChildStderr))
            .transpose()?;
        Ok(out)
    }

    /// Runs the child to completion with inherited stdio (unless set) and
    /// returns its exit status.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        // Pipes the caller asked for are closed so the child is not stuck
        // on them.
        child.stdin = None;
        child.stdout = None;
        child.stderr = None;
        child.wait().await
    }

    /// Runs the child to completion, capturing stdout and stderr (unless
    /// set otherwise) with stdin empty (unless set).
    pub async fn output(&mut self) -> io::Result<Output> {
        self.fill_unset_stdio(Stdio::null, Stdio::piped, Stdio::piped);
        let spawned = self.spawn();
        // Back to spawn()'s defaults for later use of this Command.
        self.fill_unset_stdio(Stdio::inherit, Stdio::inherit, Stdio::inherit);
        spawned?.wait_with_output().await
    }

    /// Sets stdin, stdout and stderr to what `stdin`, `stdout` and
    /// `stderr` make, each only where the caller has not set it.
    fn fill_unset_stdio(
        &mut self,
        stdin: fn() -> Stdio,
        stdout: fn() -> Stdio,
        stderr: fn() -> Stdio,
    ) {
        if !self.stdin_set {
            self.std.stdin(stdin());
        }
        if !self.stdout_set {
            self.std.stdout(stdout());
        }
        if !self.stderr_set {
            self.std.stderr(stderr());
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}

// ===== impl Child =====

/// A spawned child process.
///
/// Dropping it does not kill the process (unless
/// [`Command::kill_on_drop`]); it is reaped later (see the module docs).
pub struct Child {
    child: Option<std::process::Child>,
    status: Option<ExitStatus>,
    /// The pidfd a wait registered.
    pidfd: Option<IoSource>,
    kill_on_drop: bool,
    /// The child's stdin, if it was `Stdio::piped()`.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was `Stdio::piped()`.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was `Stdio::piped()`.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The process id, until the child has been reaped.
    pub fn id(&self) -> Option<u32> {
        match (&self.child, self.status) {
            (Some(c), None) => Some(c.id()),
            _ => None,
        }
    }

    /// Sends SIGKILL to the child (it still has to be waited for). Does
    /// nothing if the child has already been reaped.
    pub fn kill(&mut self) -> io::Result<()> {
        match (&mut self.child, self.status) {
            (Some(c), None) => c
                .kill()
                .map_err(|e| io::Error::new(e.kind(), format!("killing child {}: {e}", c.id()))),
            _ => Ok(()),
        }
    }

    /// The exit status if the child has exited (reaping it), without
    /// waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let Some(child) = &mut self.child else {
            return Err(io::Error::other("child process handle is gone"));
        };
        let pid = child.id();
        let st = child
            .try_wait()
            .map_err(|e| io::Error::new(e.kind(), format!("waiting for child {pid}: {e}")))?;
        if st.is_some() {
            self.status = st;
            self.pidfd = None;
            reap_orphans();
        }
        Ok(st)
    }

    /// Waits for the child to exit and reaps it. Closes the child's stdin
    /// first (so a child reading it sees end of file). Cancel-safe.
    ///
    /// A child that writes more than a pipe holds to a piped stdout or
    /// stderr nobody reads never exits; read them alongside, or use
    /// [`wait_with_output`](Child::wait_with_output).
    ///
    /// Fails with `ErrorKind::Unsupported` on kernels without
    /// `pidfd_open` (before Linux 5.3).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(st);
            }
            // A pidfd left by a wait cancelled in another runtime cannot be
            // waited on here: open a fresh one.
            if self.pidfd.as_ref().is_some_and(|src| !src.is_current()) {
                self.pidfd = None;
            }
            if self.pidfd.is_none() {
                let Some(pid) = self.id() else {
                    return Err(io::Error::other("child process handle is gone"));
                };
                let fd = sys::process::pidfd_open(pid)?;
                self.pidfd = Some(IoSource::new(fd)?);
            }
            if let Some(src) = &self.pidfd {
                src.ready(Direction::Read).await?;
            }
        }
    }

    /// Waits for the child while reading all of its stdout and stderr (the
    /// pipes that were set up), and returns them with the exit status.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        self.stdin = None;
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (out, err, status) = crate_join3(
            read_all(stdout.map(|s| s.0)),
            read_all(stderr.map(|s| s.0)),
            self.wait(),
        )
        .await;
        Ok(Output {
            status: status?,
            stdout: out?,
            stderr: err?,
        })
    }
}

/// Reads a pipe to its end (an absent pipe reads as empty).
async fn read_all(pipe: Option<Pipe>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let Some(pipe) = pipe else { return Ok(buf) };
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = pipe
            .source
            .io(Direction::Read, |fd| sys::process::read(fd, &mut chunk))
            .await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Awaits three futures at once (the facade's `join!` lives upstream).
async fn crate_join3<A, B, C>(
    a: impl std::future::Future<Output = A>,
    b: impl std::future::Future<Output = B>,
    c: impl std::future::Future<Output = C>,
) -> (A, B, C) {
    use crate::macro_support::MaybeDone;
    let mut a = std::pin::pin!(MaybeDone::new(a));
    let mut b = std::pin::pin!(MaybeDone::new(b));
    let mut c = std::pin::pin!(MaybeDone::new(c));
    std::future::poll_fn(|cx| {
        let done = a.as_mut().poll_done(cx) & b.as_mut().poll_done(cx) & c.as_mut().poll_done(cx);
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (
        a.as_mut().take_output(),
        b.as_mut().take_output(),
        c.as_mut().take_output(),
    )
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.status.is_none() {
            if self.kill_on_drop {
                let _ = child.kill();
            }
            if let Ok(None) = child.try_wait() {
                // A fresh pidfd, registered with the runtime current now
                // (the Child may be dropped in another one than it waited in).
                self.pidfd = None;
                match pidfd_source(child.id()) {
                    Ok(pidfd) => spawn_reaper(child, pidfd),
                    Err(_) => push_orphan(child),
                }
            }
        }
        reap_orphans();
    }
}

fn push_orphan(child: std::process::Child) {
    ORPHANS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(child);
}

fn pidfd_source(pid: u32) -> io::Result<IoSource> {
    IoSource::new(sys::process::pidfd_open(pid)?)
}

/// Reaps a dropped child as soon as it exits, from a detached task of the
/// child's runtime; if that task is dropped first (the runtime ends), the
/// child goes on the orphan list.
fn spawn_reaper(child: std::process::Child, pidfd: IoSource) {
    if crate::in_runtime() {
        drop(crate::spawn(Reaper {
            child: Some(child),
            pidfd,
        }));
    } else {
        push_orphan(child);
    }
}

struct Reaper {
    child: Option<std::process::Child>,
    pidfd: IoSource,
}

impl std::future::Future for Reaper {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let Some(child) = &mut self.child else {
                return Poll::Ready(());
            };
            match child.try_wait() {
                Ok(None) => {}
                // Reaped, or no longer ours to reap (ECHILD).
                Ok(Some(_)) | Err(_) => {
                    self.child = None;
                    return Poll::Ready(());
                }
            }
            if std::task::ready!(self.pidfd.poll_ready(cx, Direction::Read)).is_err() {
                // The pidfd cannot be waited on here: the orphan list
                // (Drop) takes the child.
                return Poll::Ready(());
            }
            // Readable means exited; try_wait above reaps it next turn.
            if let Some(child) = &mut self.child {
                if let Ok(None) = child.try_wait() {
                    // Not expected once the pidfd is readable; wait for
                    // another edge rather than spin.
                    self.pidfd.clear_ready(Direction::Read);
                }
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            push_orphan(child);
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

// ===== pipes =====

/// One end of a pipe to the child, non-blocking, on the reactor.
struct Pipe {
    source: IoSource,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        sys::socket::set_nonblocking(fd.as_fd())?;
        Ok(Pipe {
            source: IoSource::new(fd)?,
        })
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.source
            .poll_io(cx, Direction::Read, |fd| sys::process::read(fd, buf))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.source
            .poll_io(cx, Direction::Write, |fd| sys::process::write(fd, buf))
    }
}

/// The child's stdin: a futures-io `AsyncWrite`. Closing or dropping it
/// gives the child end of file.
pub struct ChildStdin(Pipe);

/// The child's stdout: a futures-io `AsyncRead`.
pub struct ChildStdout(Pipe);

/// The child's stderr: a futures-io `AsyncRead`.
pub struct ChildStderr(Pipe);

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to flush; the pipe closes when the `ChildStdin` is dropped
    /// (drop it, or set `child.stdin = None`, to give the child EOF).
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `AsyncRead` for the child's output pipes.
macro_rules! output_pipe_read {
    ($($ty:ident),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.0.poll_read(cx, buf)
            }
        }
    )*};
}

output_pipe_read!(ChildStdout, ChildStderr);

macro_rules! pipe_impls {
    ($($ty:ident),*) => {$(
        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.source.as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.0.source.as_raw_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.0.source.as_raw_fd())
                    .finish()
            }
        }
    )*};
}

pipe_impls!(ChildStdin, ChildStdout, ChildStderr);
