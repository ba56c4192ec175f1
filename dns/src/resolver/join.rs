//! Running two futures at once on the current task, with
//! [`join_with_grace`]: it stops waiting for the slower one a grace period
//! after the faster one answered (`lookup_ip`'s AAAA blackhole rule).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use tern_runtime::time::{sleep, Sleep};

/// Polls `a` and `b` together until both are done, or until `grace` after
/// one of them finished with an output `answered` accepts while the other
/// is still running; that one is then dropped and comes back as `None`.
pub(crate) async fn join_with_grace<T, A, B>(
    a: A,
    b: B,
    grace: Duration,
    answered: impl Fn(&T) -> bool,
) -> (Option<T>, Option<T>)
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut out_a = None;
    let mut out_b = None;
    let mut timer: Option<Sleep> = None;
    poll_fn(|cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        let done = |o: &Option<T>| o.as_ref().is_some_and(&answered);
        let one_waiting = out_a.is_none() != out_b.is_none();
        let mut expired = false;
        if one_waiting && (done(&out_a) || done(&out_b)) {
            let timer = timer.get_or_insert_with(|| sleep(grace));
            expired = Pin::new(timer).poll(cx).is_ready();
        }
        if (out_a.is_some() && out_b.is_some()) || expired {
            Poll::Ready((out_a.take(), out_b.take()))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_late_one_is_dropped_after_the_grace_period() {
        tern_runtime::block_on(async {
            let never = std::future::pending::<u32>();
            let (a, b) =
                join_with_grace(async { 1 }, never, Duration::from_millis(5), |_| true).await;
            assert_eq!((a, b), (Some(1), None));
            // An output that is not an answer starts no grace period.
            let late = async {
                sleep(Duration::from_millis(20)).await;
                2
            };
            let (a, b) =
                join_with_grace(async { 0 }, late, Duration::from_millis(1), |v| *v != 0).await;
            assert_eq!((a, b), (Some(0), Some(2)));
        });
    }
}
