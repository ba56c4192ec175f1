//! Wakes from other threads: the round trip of a wake from a std thread,
//! and a burst of remote wakes of many tasks.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Instant;

use crate::harness::{metric, run_interleaved, Rep, Summary};
use crate::report::{Better, Metric};
use crate::rt::Rt;
use crate::signal::{LocalFlag, RemoteFlag};
use crate::{per_runtime, Ctx};

const GROUP: &str = "cross-thread";

/// Runs the group.
pub fn run(ctx: &Ctx) -> Vec<Metric> {
    let mut out = Vec::new();
    let n = ctx.n(5_000, 100);
    let o = run_interleaved(ctx.reps, &mut per_runtime!(round_trip(n)));
    out.push(metric(
        GROUP,
        format!("wake round trip with a std thread ({n} trips)"),
        "us/round trip",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
    ));
    let n = ctx.n(100_000, 1_000);
    let o = run_interleaved(ctx.reps, &mut per_runtime!(burst(n)));
    out.push(metric(
        GROUP,
        format!("burst of {n} remote wakes of {n} tasks"),
        "ms total",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
    ));
    out
}

/// The task notifies a parked std thread, which wakes the task back.
fn round_trip<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let back = Arc::new(RemoteFlag::default());
        let request = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, rq, st) = (back.clone(), request.clone(), stop.clone());
        let peer = thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                if rq.swap(false, Ordering::AcqRel) {
                    b.notify();
                } else {
                    thread::park();
                }
            }
        });
        let t = peer.thread().clone();
        let start = Instant::now();
        for _ in 0..n {
            request.store(true, Ordering::Release);
            t.unpark();
            back.wait().await;
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        stop.store(true, Ordering::Release);
        t.unpark();
        let _ = peer.join();
        Rep::value(us)
    }))
}

/// `n` tasks each wait on their own flag; a std thread notifies them all.
fn burst<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let flags: Vec<Arc<RemoteFlag>> = (0..n).map(|_| Arc::new(RemoteFlag::default())).collect();
        let waiting = Rc::new(Cell::new(0usize));
        let finished = Rc::new(Cell::new(0usize));
        let all_done = Rc::new(LocalFlag::default());
        for f in &flags {
            let (f, waiting, finished, all_done) = (
                f.clone(),
                waiting.clone(),
                finished.clone(),
                all_done.clone(),
            );
            R::detach(async move {
                waiting.set(waiting.get() + 1);
                f.wait().await;
                finished.set(finished.get() + 1);
                if finished.get() == n {
                    all_done.notify();
                }
            });
        }
        for _ in 0..10_000 {
            if waiting.get() == n {
                break;
            }
            R::yield_now().await;
        }
        let (tx, rx) = mpsc::channel();
        let peer = thread::spawn(move || {
            let start = Instant::now();
            for f in &flags {
                f.notify();
            }
            let _ = tx.send(start);
        });
        all_done.wait().await;
        let end = Instant::now();
        let _ = peer.join();
        let start = rx.recv().unwrap_or(end);
        Rep::value((end - start).as_secs_f64() * 1e3)
    }))
}
