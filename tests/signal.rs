//! tern::signal: process-directed signals reach their streams while other
//! threads (blocking-pool threads, a std thread) are alive; every stream of
//! a kind gets each delivery, also across runtimes; bad kinds are refused.
//!
//! Signal handlers are process-wide and the tests of this file run in
//! parallel, so each test uses a signal no other test raises.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tern::signal::{signal, SignalKind};
use tern::sys::signal::raise_process;

/// Bound on every wait, so a lost delivery fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(10);

async fn recv_within(s: &mut tern::signal::Signal) {
    tern::time::timeout(LIMIT, s.recv())
        .await
        .unwrap_or_else(|_| panic!("{:?} not delivered within {LIMIT:?}", s.kind()))
        .expect("stream ended");
}

#[tern::test]
async fn delivered_while_pool_and_std_threads_are_alive() {
    let kind = SignalKind::user_defined1();
    let mut sig = signal(kind).unwrap();

    // Four pool threads and one std thread, all parked until the end.
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let release_rx = std::sync::Arc::new(std::sync::Mutex::new(release_rx));
    let (started_tx, started_rx) = std_mpsc::channel::<()>();
    let jobs: Vec<_> = (0..4)
        .map(|_| {
            let (rx, started) = (release_rx.clone(), started_tx.clone());
            tern::spawn_blocking(move || {
                started.send(()).unwrap();
                let _ = rx.lock().unwrap().recv();
            })
        })
        .collect();
    let (raise_tx, raise_rx) = std_mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // Raises the signal for the process from this thread when asked.
        while raise_rx.recv().is_ok() {
            raise_process(kind.as_raw_value()).unwrap();
        }
    });
    for _ in 0..4 {
        started_rx.recv().unwrap();
    }

    raise_process(kind.as_raw_value()).unwrap();
    recv_within(&mut sig).await;

    raise_tx.send(()).unwrap();
    recv_within(&mut sig).await;

    drop(raise_tx);
    thread.join().unwrap();
    drop(release_tx);
    for j in jobs {
        j.await.unwrap();
    }
}

#[tern::test]
async fn every_stream_of_a_kind_gets_each_delivery() {
    let kind = SignalKind::hangup();
    let mut a = signal(kind).unwrap();
    let mut b = signal(kind).unwrap();

    // A third stream in another runtime, on another thread, reporting
    // through a channel between the runtimes.
    let (ready_tx, ready_rx) = tern::sync::oneshot::channel::<()>();
    let (got_tx, mut got_rx) = tern::sync::mpsc::unbounded_channel::<u32>();
    let other = std::thread::spawn(move || {
        tern::block_on(async move {
            let mut c = signal(kind).unwrap();
            ready_tx.send(()).unwrap();
            for round in 1..=2 {
                recv_within(&mut c).await;
                got_tx.send(round).unwrap();
            }
        })
    });
    ready_rx.await.unwrap();

    for round in 1..=2 {
        raise_process(kind.as_raw_value()).unwrap();
        recv_within(&mut a).await;
        recv_within(&mut b).await;
        let got = tern::time::timeout(LIMIT, got_rx.recv()).await.unwrap();
        assert_eq!(
            got,
            Some(round),
            "the other runtime's stream got round {round}"
        );
    }
    other.join().unwrap();
}

#[tern::test]
async fn a_dropped_stream_does_not_stop_the_others() {
    let kind = SignalKind::window_change();
    let mut keep = signal(kind).unwrap();
    let gone = signal(kind).unwrap();
    drop(gone);
    raise_process(kind.as_raw_value()).unwrap();
    recv_within(&mut keep).await;
}

#[tern::test]
async fn ctrl_c_resolves_on_sigint() {
    let waiter = tern::spawn(tern::signal::ctrl_c());
    // Let it install the handler before SIGINT is sent (else the default
    // action would end the test process).
    tern::yield_now().await;
    raise_process(SignalKind::interrupt().as_raw_value()).unwrap();
    tern::time::timeout(LIMIT, waiter)
        .await
        .expect("ctrl_c() did not resolve")
        .unwrap()
        .unwrap();
}

#[tern::test]
async fn signals_that_cannot_be_handled_are_refused() {
    for raw in [9, 19, 11, 0, -1, 65, 1000] {
        let err = signal(SignalKind::from_raw(raw)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{raw}");
        assert!(err.to_string().contains(&raw.to_string()), "{err}");
    }
}

#[test]
fn signal_outside_a_runtime_is_an_error() {
    let err = signal(SignalKind::user_defined1()).unwrap_err();
    assert!(err.to_string().contains("inside a tern runtime"), "{err}");
}
