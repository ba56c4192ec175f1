//! The paused clock: `#[tern::test(start_paused = true)]`, `pause`,
//! `advance`, `resume`, and auto-advance to the next timer.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use std::time::Instant;
use tern::time;

#[tern::test(start_paused = true)]
async fn a_thirty_second_sleep_takes_exactly_thirty_seconds_of_clock() {
    let start = time::now();
    time::sleep(Duration::from_secs(30)).await;
    assert_eq!(time::now() - start, Duration::from_secs(30));
}

#[tern::test(start_paused = true)]
async fn a_timeout_elapses_at_its_deadline() {
    let start = time::now();
    let r = time::timeout(Duration::from_secs(5), std::future::pending::<()>()).await;
    assert!(r.is_err());
    assert_eq!(time::now() - start, Duration::from_secs(5));
}

#[tern::test(start_paused = true)]
async fn timers_fire_in_deadline_order_every_time() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let start = time::now();
    let hs: Vec<_> = [7u64, 3, 5, 1]
        .into_iter()
        .map(|s| {
            let order = order.clone();
            tern::spawn(async move {
                time::sleep(Duration::from_secs(s)).await;
                order.borrow_mut().push((s, time::now() - start));
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    let expect: Vec<_> = [1u64, 3, 5, 7]
        .into_iter()
        .map(|s| (s, Duration::from_secs(s)))
        .collect();
    assert_eq!(*order.borrow(), expect);
}

#[tern::test(start_paused = true)]
async fn interval_ticks_on_schedule() {
    let start = time::now();
    let mut iv = time::interval(Duration::from_millis(250));
    let mut ticks = Vec::new();
    for _ in 0..4 {
        ticks.push(iv.tick().await - start);
    }
    let expect: Vec<_> = (0..4).map(|i| Duration::from_millis(250 * i)).collect();
    assert_eq!(ticks, expect);
}

#[tern::test]
async fn advance_fires_due_timers_and_resume_runs_on() {
    time::pause();
    let start = time::now();
    let h = tern::spawn(async {
        time::sleep(Duration::from_secs(10)).await;
        time::now()
    });
    tern::yield_now().await; // the task registers its timer
    time::advance(Duration::from_secs(4)).await;
    assert!(!h.is_finished());
    time::advance(Duration::from_secs(6)).await;
    assert!(h.is_finished(), "advance did not fire the due timer");
    assert_eq!(h.await.unwrap() - start, Duration::from_secs(10));
    time::resume();
    let before: Instant = time::now();
    time::sleep(Duration::from_millis(1)).await;
    assert!(time::now() >= before + Duration::from_millis(1));
}

#[tern::test(start_paused = true)]
async fn io_is_still_served_while_paused() {
    // A ready socket is polled before the clock jumps: the datagram wins
    // over a 60 s timeout.
    let rx = tern::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let sender = std::thread::spawn(move || tx.send_to(b"hi", to).unwrap());
    sender.join().unwrap();
    let mut buf = [0u8; 4];
    let r = time::timeout(Duration::from_secs(60), rx.recv_from(&mut buf)).await;
    assert_eq!(
        r.expect("the clock jumped past a ready datagram")
            .unwrap()
            .0,
        2
    );
}
