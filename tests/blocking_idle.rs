//! The spawn_blocking pool once it has gone idle: a burst of jobs that can
//! only finish together gets a thread each instead of queueing behind the
//! one idle thread, and idle threads exit after the keep-alive, not before.
//! (Its own test binary: the pool is per process.)

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The keep-alive this test gives idle pool threads (the default is 10 s).
const KEEP_ALIVE: Duration = Duration::from_millis(600);

/// Threads of this process named like the pool's.
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "tern-blocking")
        .count()
}

/// Counts arrivals; `arrive_and_wait` returns true once `n` jobs are in at
/// the same time, false if that does not happen within `limit`.
#[derive(Default)]
struct Rendezvous {
    arrived: Mutex<usize>,
    changed: Condvar,
}

impl Rendezvous {
    fn arrive_and_wait(&self, n: usize, limit: Duration) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.changed.notify_all();
        let deadline = Instant::now() + limit;
        while *arrived < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            arrived = self.changed.wait_timeout(arrived, left).unwrap().0;
        }
        true
    }
}

#[test]
fn burst_after_idle_runs_at_once_and_idle_threads_exit_after_keep_alive() {
    let rt = tern::Runtime::builder()
        .thread_keep_alive(KEEP_ALIVE)
        .build()
        .unwrap();
    rt.block_on(burst_then_idle());
}

async fn burst_then_idle() {
    const BURST: usize = 4;
    // One pool thread, which goes idle after its job.
    tern::spawn_blocking(|| ()).await.unwrap();
    let first_idle = Instant::now();
    assert_eq!(pool_threads(), 1);

    // BURST jobs that can only finish if they all run at the same time.
    let meet = Arc::new(Rendezvous::default());
    let handles: Vec<_> = (0..BURST)
        .map(|_| {
            let meet = meet.clone();
            tern::spawn_blocking(move || meet.arrive_and_wait(BURST, Duration::from_secs(10)))
        })
        .collect();
    for h in handles {
        assert!(
            h.await.unwrap(),
            "the jobs of a burst did not all run at once"
        );
    }
    let last_job = Instant::now();
    let mut threads = pool_threads();
    assert!(
        (BURST..=BURST + 1).contains(&threads),
        "{threads} pool threads"
    );

    // Idle threads stay for KEEP_ALIVE after their last job, then exit. No
    // thread went idle before `first_idle`, so none may exit before
    // KEEP_ALIVE after it; all must be gone soon after KEEP_ALIVE past the
    // last job.
    // There is no event to wait for, so the thread list is checked every
    // 20 ms (bounded: 3 s past the keep-alive, well short of the default
    // 10 s, so a keep-alive the builder failed to set is caught).
    let margin = Duration::from_millis(150);
    loop {
        let (alive, t) = (pool_threads(), last_job.elapsed());
        if first_idle.elapsed() < KEEP_ALIVE - margin {
            // A thread counts once it has named itself, which it does when
            // it starts: one spawned for the burst but beaten to its job
            // may show up late. The count may rise (to BURST + 1 at most)
            // but not fall.
            assert!(
                alive >= threads,
                "a pool thread exited {t:?} after its last job, before the keep-alive \
                 ({alive} of {threads} left)"
            );
            threads = alive;
            assert!(alive <= BURST + 1, "{alive} pool threads");
        } else if alive == 0 {
            break;
        }
        assert!(
            t < KEEP_ALIVE + Duration::from_secs(3),
            "{alive} pool threads still alive {t:?} after their last job"
        );
        tern::time::sleep(Duration::from_millis(20)).await;
    }
}
