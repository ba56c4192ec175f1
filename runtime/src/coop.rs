//! Cooperative scheduling for futures that complete without waiting.
//!
//! A future built on the runtime's I/O sources and channels yields once
//! its task has spent its budget (see the crate's behaviour notes), but
//! one that often completes at once for reasons of its own (a cache hit, a
//! reply already queued when it looks) never reaches those checks. Wrapped
//! in [`cooperative`], it takes part in the same budget: each completion
//! spends one unit, and once the task has spent its budget the wrapper
//! yields (waking its task) before polling the future again. A wait costs
//! nothing. This is tokio's `task::coop::cooperative`.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::context;

pin_project! {
    /// Future of [`cooperative`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Cooperative<F> {
        #[pin]
        fut: F,
    }
}

/// `fut`, made to spend one unit of its task's budget when it completes and
/// to yield first when the budget is spent. Outside a runtime it is `fut`.
///
/// ```
/// # tern_runtime::block_on(async {
/// // A loop of futures that are always ready still lets other tasks run.
/// let other = tern_runtime::spawn(async {});
/// for _ in 0..1_000 {
///     tern_runtime::cooperative(async {}).await;
/// }
/// assert!(other.is_finished());
/// # });
/// ```
pub fn cooperative<F: Future>(fut: F) -> Cooperative<F> {
    Cooperative { fut }
}

impl<F: Future> Future for Cooperative<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        ready!(context::poll_budget(cx));
        context::charge(self.project().fut.poll(cx))
    }
}
