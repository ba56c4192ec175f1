//! The spawn_blocking pool grows to its cap and no further; jobs beyond it
//! wait their turn and still complete. (Its own test binary: the pool is
//! per process.)

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Gate {
    state: Mutex<(usize, usize, bool)>, // (running now, most at once, open)
    changed: Condvar,
}

#[tern::test]
async fn pool_grows_to_its_cap_and_queues_the_rest() {
    const CAP: usize = 64; // tern_runtime's MAX_THREADS
    const JOBS: usize = CAP + 16;
    let gate = Arc::new(Gate::default());
    let handles: Vec<_> = (0..JOBS)
        .map(|i| {
            let gate = gate.clone();
            tern::spawn_blocking(move || {
                let mut st = gate.state.lock().unwrap();
                st.0 += 1;
                st.1 = st.1.max(st.0);
                gate.changed.notify_all();
                while !st.2 {
                    st = gate.changed.wait(st).unwrap();
                }
                st.0 -= 1;
                i
            })
        })
        .collect();
    {
        // Wait (bounded) until the pool is full, then open the gate.
        let mut st = gate.state.lock().unwrap();
        while st.0 < CAP {
            let (next, timeout) = gate
                .changed
                .wait_timeout(st, Duration::from_secs(10))
                .unwrap();
            st = next;
            assert!(!timeout.timed_out(), "only {} jobs ever ran at once", st.0);
        }
        st.2 = true;
        gate.changed.notify_all();
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    assert_eq!(sum, (0..JOBS).sum::<usize>());
    let most = gate.state.lock().unwrap().1;
    assert_eq!(most, CAP, "the pool ran {most} jobs at once");
}
