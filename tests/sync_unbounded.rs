//! tern::sync::mpsc's unbounded channel under races: std threads sending
//! while the receiver drains, cancels its `recv`, is dropped mid-stream,
//! or goes down with its runtime. Every message is counted: received,
//! handed back by a failed send, or dropped by the channel, exactly once.
//! The CI job also runs this file under AddressSanitizer (with
//! `--cfg tern_widen_races`, which leaves claimed slots unwritten for a
//! while).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tern::sync::mpsc::{self, SendError, TryRecvError};

/// Where every message of a run ended.
struct Ledger {
    /// Drops per message id.
    drops: Vec<AtomicU32>,
    /// Messages dropped by the channel itself (neither received nor
    /// handed back).
    by_channel: AtomicUsize,
}

impl Ledger {
    fn new(n: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            drops: (0..n).map(|_| AtomicU32::new(0)).collect(),
            by_channel: AtomicUsize::new(0),
        })
    }

    /// Every message was dropped exactly once.
    fn assert_each_dropped_once(&self) {
        for (id, d) in self.drops.iter().enumerate() {
            assert_eq!(
                d.load(SeqCst),
                1,
                "message {id} dropped {} times",
                d.load(SeqCst)
            );
        }
    }
}

/// A message that owns heap memory (so the sanitizer sees a double drop
/// or a leak) and tells its ledger how it ended.
struct Msg {
    sender: usize,
    seq: usize,
    id: usize,
    _heap: Box<[u8; 24]>,
    /// Received, or handed back by a failed send.
    accounted: bool,
    ledger: Arc<Ledger>,
}

impl Msg {
    fn new(ledger: &Arc<Ledger>, sender: usize, seq: usize, per_sender: usize) -> Msg {
        Msg {
            sender,
            seq,
            id: sender * per_sender + seq,
            _heap: Box::new([sender as u8; 24]),
            accounted: false,
            ledger: ledger.clone(),
        }
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, SeqCst);
        if !self.accounted {
            self.ledger.by_channel.fetch_add(1, SeqCst);
        }
    }
}

/// Checks per-sender order and marks the message received.
struct Order(Vec<usize>);

impl Order {
    fn new(senders: usize) -> Order {
        Order(vec![0; senders])
    }

    fn take(&mut self, mut m: Msg) {
        // Failed sends come only after the accepted ones, so each sender's
        // messages arrive exactly in sequence.
        assert_eq!(
            m.seq, self.0[m.sender],
            "sender {}: message out of sequence (lost, duplicated or reordered)",
            m.sender
        );
        self.0[m.sender] += 1;
        m.accounted = true;
    }
}

/// Sends `per_sender` messages (or until a send fails; every later send
/// must fail too) and returns how many were accepted. Once `rx_gone` is
/// seen set, sends must fail.
fn send_all(
    tx: mpsc::UnboundedSender<Msg>,
    ledger: Arc<Ledger>,
    k: usize,
    per_sender: usize,
    rx_gone: Arc<AtomicBool>,
    start: Arc<Barrier>,
) -> (usize, bool) {
    start.wait();
    let mut ok = 0;
    let mut failed = false;
    for seq in 0..per_sender {
        let gone = rx_gone.load(SeqCst);
        match tx.send(Msg::new(&ledger, k, seq, per_sender)) {
            Ok(()) => {
                assert!(!failed, "sender {k}: a send succeeded after one failed");
                assert!(
                    !gone,
                    "sender {k}: a send succeeded after the receiver's drop"
                );
                ok += 1;
            }
            Err(SendError(mut m)) => {
                assert!(tx.is_closed());
                failed = true;
                m.accounted = true;
            }
        }
        if seq % 64 == 0 {
            std::thread::yield_now();
        }
    }
    (ok, failed)
}

#[test]
fn unbounded_receiver_dropped_mid_stream_by_racing_threads() {
    const SENDERS: usize = 4;
    const PER: usize = 1_500;
    for round in 0..24 {
        let ledger = Ledger::new(SENDERS * PER);
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let rx_gone = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(SENDERS + 1));
        let threads: Vec<_> = (0..SENDERS)
            .map(|k| {
                let (tx, ledger, gone, start) =
                    (tx.clone(), ledger.clone(), rx_gone.clone(), start.clone());
                std::thread::spawn(move || send_all(tx, ledger, k, PER, gone, start))
            })
            .collect();
        drop(tx);
        // Received before the drop: from none to about all of them.
        let keep = round * 263 % (SENDERS * PER);
        let received = tern::block_on(async {
            start.wait();
            let mut order = Order::new(SENDERS);
            for _ in 0..keep {
                let Some(m) = rx.recv().await else { break };
                order.take(m);
            }
            order.0.iter().sum::<usize>()
        });
        drop(rx);
        rx_gone.store(true, SeqCst);
        // Every message accepted before the drop was dropped by it: none is
        // left in the channel for later.
        let by_drop = ledger.by_channel.load(SeqCst);
        let mut accepted = 0;
        for t in threads {
            let (ok, _) = t.join().unwrap();
            accepted += ok;
        }
        ledger.assert_each_dropped_once();
        assert_eq!(
            ledger.by_channel.load(SeqCst),
            by_drop,
            "round {round}: messages left in the channel after the receiver's drop"
        );
        assert_eq!(
            accepted,
            received + by_drop,
            "round {round}: accepted sends = received + dropped with the receiver"
        );
    }
}

#[tern::test]
async fn unbounded_cancelled_recvs_lose_nothing() {
    // The receiver's `recv` is cut short by timeouts of 0-20 µs, often
    // while it is parked on a slot that a sender is about to write; now
    // and then it uses try_recv. Nothing is lost or duplicated.
    const SENDERS: usize = 4;
    const PER: usize = 4_000;
    let ledger = Ledger::new(SENDERS * PER);
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let never = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(SENDERS + 1));
    let threads: Vec<_> = (0..SENDERS)
        .map(|k| {
            let (tx, ledger, never, start) =
                (tx.clone(), ledger.clone(), never.clone(), start.clone());
            std::thread::spawn(move || send_all(tx, ledger, k, PER, never, start))
        })
        .collect();
    drop(tx);
    let start2 = start.clone();
    tern::spawn_blocking(move || start2.wait()).await.unwrap();
    let mut order = Order::new(SENDERS);
    let (mut cancelled, mut i) = (0u32, 0u64);
    loop {
        i += 1;
        if i % 7 == 0 {
            match rx.try_recv() {
                Ok(m) => order.take(m),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
            continue;
        }
        let d = Duration::from_micros(i % 3 * 10);
        match tern::time::timeout(d, rx.recv()).await {
            Ok(Some(m)) => order.take(m),
            Ok(None) => break,
            Err(_) => cancelled += 1,
        }
    }
    for t in threads {
        assert_eq!(t.join().unwrap(), (PER, false));
    }
    assert_eq!(
        order.0, [PER; SENDERS],
        "every message arrived once, in order"
    );
    assert!(
        cancelled > 0,
        "no recv was cancelled: the test tests nothing"
    );
    ledger.assert_each_dropped_once();
    assert_eq!(ledger.by_channel.load(SeqCst), 0);
}

#[test]
fn unbounded_senders_racing_runtime_shutdown() {
    // The receiving task parks and wakes while std threads send; the
    // runtime ends under it (dropping the task and its receiver) while
    // the threads go on sending and waking it. Every thread then sees its
    // sends fail, and every message is accounted for.
    const SENDERS: usize = 3;
    const PER: usize = 50_000;
    for round in 0..16usize {
        let ledger = Ledger::new(SENDERS * PER);
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let never = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(SENDERS + 1));
        let threads: Vec<_> = (0..SENDERS)
            .map(|k| {
                let (tx, ledger, never, start) =
                    (tx.clone(), ledger.clone(), never.clone(), start.clone());
                std::thread::spawn(move || send_all(tx, ledger, k, PER, never, start))
            })
            .collect();
        drop(tx);
        let received = Arc::new(AtomicUsize::new(0));
        let got = received.clone();
        tern::block_on(async move {
            let (enough_tx, enough_rx) = tern::sync::oneshot::channel();
            tern::spawn(async move {
                let mut order = Order::new(SENDERS);
                let mut enough = Some(enough_tx);
                while let Some(m) = rx.recv().await {
                    order.take(m);
                    got.fetch_add(1, SeqCst);
                    if got.load(SeqCst) == 1 + round * 97 {
                        let _ = enough.take().map(|e| e.send(()));
                    }
                }
            });
            start.wait();
            let _ = enough_rx.await;
        });
        let mut accepted = 0;
        for (k, t) in threads.into_iter().enumerate() {
            let (ok, failed) = t.join().unwrap();
            assert!(
                failed,
                "round {round}: sender {k} never saw the receiver go"
            );
            accepted += ok;
        }
        ledger.assert_each_dropped_once();
        assert_eq!(
            accepted,
            received.load(SeqCst) + ledger.by_channel.load(SeqCst),
            "round {round}"
        );
    }
}

#[tern::test]
async fn unbounded_order_and_len_across_blocks() {
    // Fills and drains across many block boundaries (a block holds 31),
    // so emptied blocks come back as spares and are filled again.
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut next_out = 0u32;
    let mut next_in = 0u32;
    for n in [0usize, 1, 30, 31, 32, 62, 63, 64, 100, 31, 1, 500, 93] {
        for _ in 0..n {
            tx.send(next_in.to_string()).unwrap();
            next_in += 1;
        }
        assert_eq!(rx.len(), n);
        // Half by recv, half by try_recv, sending one more every 5th.
        let mut left = n;
        while left > 0 {
            let v = if left % 2 == 0 {
                rx.recv().await
            } else {
                rx.try_recv().ok()
            };
            assert_eq!(v, Some(next_out.to_string()));
            next_out += 1;
            left -= 1;
            if next_out % 5 == 4 && left > 0 {
                tx.send(next_in.to_string()).unwrap();
                next_in += 1;
                left += 1;
            }
            assert_eq!(rx.len(), left);
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty());
    }
    // A receiver parked on an empty channel is woken by the last sender's
    // drop and sees the end.
    let end = tern::spawn(async move { rx.recv().await });
    tern::yield_now().await;
    drop(tx);
    assert_eq!(end.await.unwrap(), None);
}
