//! Helpers behind `tern::join!` and `tern::select!` (not a public API).
//!
//! The macros pin each future in place with `core::pin::pin!` and wrap it
//! in one of these enums, whose pinned projections (from
//! pin-project-lite) let the macros poll, finish and drop a branch without
//! `unsafe` in the expanded code.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

pin_project! {
    /// A `join!` future: running, or finished with its output kept.
    #[project = MaybeDoneProj]
    #[derive(Debug)]
    pub enum MaybeDone<F: Future> {
        /// Still running.
        Running { #[pin] fut: F },
        /// Finished; the output until it is taken.
        Done { out: Option<F::Output> },
    }
}

impl<F: Future> MaybeDone<F> {
    /// Wraps a future that has not run yet.
    pub fn new(fut: F) -> MaybeDone<F> {
        MaybeDone::Running { fut }
    }

    /// Polls the future if it still runs; `true` once it has finished.
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let out = match self.as_mut().project() {
            MaybeDoneProj::Running { fut } => match fut.poll(cx) {
                Poll::Ready(out) => out,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } => return true,
        };
        self.set(MaybeDone::Done { out: Some(out) });
        true
    }

    /// The output of a finished future.
    ///
    /// # Panics
    /// If it has not finished or the output was taken already.
    pub fn take_output(self: Pin<&mut Self>) -> F::Output {
        match self.project() {
            MaybeDoneProj::Done { out } => match out.take() {
                Some(out) => out,
                None => panic!("join!: output taken twice"),
            },
            MaybeDoneProj::Running { .. } => panic!("join!: output taken before it finished"),
        }
    }
}

pin_project! {
    /// A `select!` branch: its future while it may still win, or disabled
    /// (its precondition was false, or its output did not match the
    /// pattern) and its future dropped.
    #[project = BranchProj]
    #[derive(Debug)]
    pub enum Branch<F> {
        /// May still win.
        Active { #[pin] fut: F },
        /// Out of the race.
        Disabled,
    }
}

impl<F: Future> Branch<F> {
    /// A branch for `fut`, disabled at once unless `enabled`.
    pub fn new(fut: F, enabled: bool) -> Branch<F> {
        if enabled {
            Branch::Active { fut }
        } else {
            Branch::Disabled
        }
    }

    /// Polls an active branch; `None` if it is disabled.
    pub fn poll_branch(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<Poll<F::Output>> {
        match self.project() {
            BranchProj::Active { fut } => Some(fut.poll(cx)),
            BranchProj::Disabled => None,
        }
    }

    /// Takes the branch out of the race and drops its future.
    pub fn disable(mut self: Pin<&mut Self>) {
        self.set(Branch::Disabled);
    }
}
