//! Channel benchmarks: a bounded mpsc between two tasks, oneshot
//! create+send+await, a std thread feeding a task, and heap bytes per
//! channel.
//!
//! Each runtime uses its own channels: tern's `tern::sync`, tokio's
//! `tokio::sync`, and for smol `async-channel` (mpsc) and
//! `futures-channel`'s oneshot (the oneshot most used outside tokio;
//! async-channel has none). The [`Chans`] trait puts them behind one
//! interface so every benchmark is the same code on each runtime.

use std::future::Future;
use std::thread;
use std::time::Instant;

use crate::harness::{metric_with_target, run_interleaved, Rep, Summary};
use crate::report::{Better, Metric, Target};
use crate::rt::{Rt, Smol, Tern, Tokio};
use crate::{alloc, per_runtime, Ctx};

const GROUP: &str = "sync";

/// Capacity of the channel in the task-to-task benchmark.
const TASK_CAPACITY: usize = 1024;
/// Capacity of the channels whose heap size is measured.
const HEAP_CAPACITY: usize = 16;

/// Runs the group.
pub fn run(ctx: &Ctx) -> Vec<Metric> {
    let mut out = Vec::new();
    let reps = ctx.reps;

    let n = ctx.n(1_000_000, 10_000);
    let o = run_interleaved(reps, &mut per_runtime!(task_to_task(n)));
    out.push(metric_with_target(
        GROUP,
        format!("mpsc bounded({TASK_CAPACITY}), 1 producer task -> 1 consumer task, {n} messages"),
        "ns/message",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioToBest(0.67),
    ));

    let n = ctx.n(1_000_000, 10_000);
    let o = run_interleaved(reps, &mut per_runtime!(oneshots(n)));
    out.push(metric_with_target(
        GROUP,
        format!("oneshot create+send+await x{n} in one task"),
        "ns/oneshot",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioToBest(0.67),
    ));

    let n = ctx.n(100_000, 1_000);
    let o = run_interleaved(reps, &mut per_runtime!(thread_to_task(n)));
    out.push(metric_with_target(
        GROUP,
        format!("mpsc unbounded, std thread -> task, {n} messages"),
        "us/message",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioToBest(1.0),
    ));

    let n = ctx.n(10_000, 100);
    let o = run_interleaved(reps, &mut per_runtime!(channel_heap(n, false)));
    out.push(metric_with_target(
        GROUP,
        format!("heap per mpsc bounded({HEAP_CAPACITY}) channel, empty ({n} channels)"),
        "bytes/channel",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioToBest(1.0),
    ));
    let o = run_interleaved(reps, &mut per_runtime!(channel_heap(n, true)));
    out.push(metric_with_target(
        GROUP,
        format!(
            "heap per mpsc bounded({HEAP_CAPACITY}) channel holding {HEAP_CAPACITY} u64 ({n} channels)"
        ),
        "bytes/channel",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioToBest(1.0),
    ));
    let o = run_interleaved(reps, &mut per_runtime!(oneshot_heap(n)));
    out.push(metric_with_target(
        GROUP,
        format!("heap per oneshot ({n} oneshots)"),
        "bytes/oneshot",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::RatioToBest(1.0),
    ));
    out
}

// ===== the channels of each runtime =====

/// A runtime's channels, carrying `u64`. Sends report `false` when the
/// receiver is gone; receives give `None` once every sender is gone.
pub trait Chans: Rt {
    /// Bounded sender.
    type Tx: 'static;
    /// Bounded receiver.
    type Rx: 'static;
    /// Unbounded sender, usable from a std thread.
    type UnboundedTx: Send + 'static;
    /// Unbounded receiver.
    type UnboundedRx: 'static;
    /// Oneshot sender.
    type OneTx: 'static;
    /// Oneshot receiver.
    type OneRx: 'static;

    /// A bounded channel.
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// Sends, waiting for room.
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = bool>;
    /// Sends if there is room now.
    fn try_send(tx: &Self::Tx, v: u64) -> bool;
    /// The next message.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>>;

    /// An unbounded channel.
    fn unbounded() -> (Self::UnboundedTx, Self::UnboundedRx);
    /// Sends without waiting (from any thread).
    fn unbounded_send(tx: &Self::UnboundedTx, v: u64) -> bool;
    /// The next message.
    fn unbounded_recv(rx: &mut Self::UnboundedRx) -> impl Future<Output = Option<u64>>;

    /// A oneshot channel.
    fn oneshot() -> (Self::OneTx, Self::OneRx);
    /// Sends the value.
    fn oneshot_send(tx: Self::OneTx, v: u64) -> bool;
    /// Awaits the value.
    fn oneshot_recv(rx: Self::OneRx) -> impl Future<Output = Option<u64>>;
}

/// `Chans` for a runtime whose channels have tokio's API (tern's and
/// tokio's do): the same code on both, only the module differs.
macro_rules! tokio_like_chans {
    ($rt:ty, $($sync:ident)::+) => {
        impl Chans for $rt {
            type Tx = $($sync)::+::mpsc::Sender<u64>;
            type Rx = $($sync)::+::mpsc::Receiver<u64>;
            type UnboundedTx = $($sync)::+::mpsc::UnboundedSender<u64>;
            type UnboundedRx = $($sync)::+::mpsc::UnboundedReceiver<u64>;
            type OneTx = $($sync)::+::oneshot::Sender<u64>;
            type OneRx = $($sync)::+::oneshot::Receiver<u64>;

            fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
                $($sync)::+::mpsc::channel(capacity)
            }
            async fn send(tx: &Self::Tx, v: u64) -> bool {
                tx.send(v).await.is_ok()
            }
            fn try_send(tx: &Self::Tx, v: u64) -> bool {
                tx.try_send(v).is_ok()
            }
            async fn recv(rx: &mut Self::Rx) -> Option<u64> {
                rx.recv().await
            }
            fn unbounded() -> (Self::UnboundedTx, Self::UnboundedRx) {
                $($sync)::+::mpsc::unbounded_channel()
            }
            fn unbounded_send(tx: &Self::UnboundedTx, v: u64) -> bool {
                tx.send(v).is_ok()
            }
            async fn unbounded_recv(rx: &mut Self::UnboundedRx) -> Option<u64> {
                rx.recv().await
            }
            fn oneshot() -> (Self::OneTx, Self::OneRx) {
                $($sync)::+::oneshot::channel()
            }
            fn oneshot_send(tx: Self::OneTx, v: u64) -> bool {
                tx.send(v).is_ok()
            }
            async fn oneshot_recv(rx: Self::OneRx) -> Option<u64> {
                rx.await.ok()
            }
        }
    };
}

tokio_like_chans!(Tern, tern::sync);
tokio_like_chans!(Tokio, tokio::sync);

impl Chans for Smol {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    type UnboundedTx = async_channel::Sender<u64>;
    type UnboundedRx = async_channel::Receiver<u64>;
    type OneTx = futures_channel::oneshot::Sender<u64>;
    type OneRx = futures_channel::oneshot::Receiver<u64>;

    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(capacity)
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    fn try_send(tx: &Self::Tx, v: u64) -> bool {
        tx.try_send(v).is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
    fn unbounded() -> (Self::UnboundedTx, Self::UnboundedRx) {
        async_channel::unbounded()
    }
    fn unbounded_send(tx: &Self::UnboundedTx, v: u64) -> bool {
        // An unbounded channel is never full: this fails only when closed.
        tx.try_send(v).is_ok()
    }
    async fn unbounded_recv(rx: &mut Self::UnboundedRx) -> Option<u64> {
        rx.recv().await.ok()
    }
    fn oneshot() -> (Self::OneTx, Self::OneRx) {
        futures_channel::oneshot::channel()
    }
    fn oneshot_send(tx: Self::OneTx, v: u64) -> bool {
        tx.send(v).is_ok()
    }
    async fn oneshot_recv(rx: Self::OneRx) -> Option<u64> {
        rx.await.ok()
    }
}

// ===== benchmarks =====

fn per(start: Instant, n: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Sum of `0..n`, what a receiver of every message must add up to.
fn sum_below(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

/// Checks that the receiver got every message, in any order.
fn check(what: &str, n: usize, got: usize, sum: u64) -> Result<(), String> {
    if got == n && sum == sum_below(n) {
        Ok(())
    } else {
        Err(format!(
            "{what}: received {got} messages summing to {sum}, expected {n} summing to {}",
            sum_below(n)
        ))
    }
}

/// One task sends `n` messages through a bounded channel to another.
fn task_to_task<R: Chans>(n: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let (tx, mut rx) = R::bounded(TASK_CAPACITY);
        let start = Instant::now();
        let producer = R::spawn(async move {
            for i in 0..n as u64 {
                if !R::send(&tx, i).await {
                    return false;
                }
            }
            true
        });
        let consumer = R::spawn(async move {
            let (mut got, mut sum) = (0usize, 0u64);
            while let Some(v) = R::recv(&mut rx).await {
                got += 1;
                sum += v;
            }
            (got, sum)
        });
        let sent = producer.await;
        let (got, sum) = consumer.await;
        let r = per(start, n);
        if !sent {
            return Err("mpsc task-to-task: the receiver went away".into());
        }
        check("mpsc task-to-task", n, got, sum)?;
        Ok(Rep::value(r))
    })
}

/// `n` times: create a oneshot, send, await the receiver.
fn oneshots<R: Chans>(n: usize) -> Result<Rep, String> {
    R::block_on(async move {
        R::spawn(async move {
            let start = Instant::now();
            let mut sum = 0u64;
            for i in 0..n as u64 {
                let (tx, rx) = R::oneshot();
                if !R::oneshot_send(tx, i) {
                    return Err("oneshot: send failed".to_string());
                }
                match R::oneshot_recv(rx).await {
                    Some(v) => sum += v,
                    None => return Err("oneshot: no value".to_string()),
                }
            }
            let r = per(start, n);
            check("oneshot", n, n, sum)?;
            Ok(Rep::value(r))
        })
        .await
    })
}

/// A std thread sends `n` messages through an unbounded channel to a task.
fn thread_to_task<R: Chans>(n: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let (tx, mut rx) = R::unbounded();
        let consumer = R::spawn(async move {
            let (mut got, mut sum) = (0usize, 0u64);
            while let Some(v) = R::unbounded_recv(&mut rx).await {
                got += 1;
                sum += v;
            }
            (got, sum)
        });
        let start = Instant::now();
        let peer = thread::spawn(move || (0..n as u64).all(|i| R::unbounded_send(&tx, i)));
        let (got, sum) = consumer.await;
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        match peer.join() {
            Ok(true) => {}
            Ok(false) => return Err("mpsc thread-to-task: the receiver went away".into()),
            Err(_) => return Err("mpsc thread-to-task: the sending thread panicked".into()),
        }
        check("mpsc thread-to-task", n, got, sum)?;
        Ok(Rep::value(us))
    })
}

/// Net heap bytes of `n` live bounded channels (both halves kept), empty or
/// each holding `HEAP_CAPACITY` messages.
fn channel_heap<R: Chans>(n: usize, fill: bool) -> Result<Rep, String> {
    R::block_on(async move {
        let mut keep = Vec::with_capacity(n);
        alloc::set_counting(true);
        let before = alloc::net_bytes();
        for _ in 0..n {
            let (tx, rx) = R::bounded(HEAP_CAPACITY);
            if fill {
                for i in 0..HEAP_CAPACITY as u64 {
                    if !R::try_send(&tx, i) {
                        alloc::set_counting(false);
                        return Err(format!(
                            "mpsc bounded({HEAP_CAPACITY}): message {i} refused"
                        ));
                    }
                }
            }
            keep.push((tx, rx));
        }
        let after = alloc::net_bytes();
        alloc::set_counting(false);
        drop(keep);
        Ok(Rep::value((after - before) as f64 / n as f64))
    })
}

/// Net heap bytes of `n` live oneshot channels (both halves kept, unsent).
fn oneshot_heap<R: Chans>(n: usize) -> Result<Rep, String> {
    R::block_on(async move {
        let mut keep = Vec::with_capacity(n);
        alloc::set_counting(true);
        let before = alloc::net_bytes();
        for _ in 0..n {
            keep.push(R::oneshot());
        }
        let after = alloc::net_bytes();
        alloc::set_counting(false);
        drop(keep);
        Ok(Rep::value((after - before) as f64 / n as f64))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_check() {
        assert_eq!(sum_below(0), 0);
        assert_eq!(sum_below(4), 6);
        assert!(check("x", 4, 4, 6).is_ok());
        assert!(check("x", 4, 3, 6).is_err());
        assert!(check("x", 4, 4, 5).is_err());
    }
}
