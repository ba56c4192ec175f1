//! The timer queue: sorted runs for the usual deadlines, a binary min-heap
//! for the rest, each with back-pointers so a timer can be cancelled or
//! moved in place.
//!
//! # Implementation
//!
//! Why not a hierarchical wheel: deadlines here have nanosecond resolution
//! (tern promises sub-millisecond sleeps), and a wheel at that resolution
//! either needs many levels or rounds deadlines to a tick, which would make
//! timers late. Runs and the heap order exact deadlines.
//!
//! Most timers are `now + constant` (a timeout per request, a retry
//! delay), so their deadlines come in order. Such a timer is appended to a
//! *run*: a doubly linked list, sorted because a timer joins a run only if
//! its deadline is not before the run's last one. Each of [`RUNS`] runs
//! takes one such stream (say, lookup timeouts and per-attempt timeouts
//! interleaved); a timer joins the run whose last deadline is the latest
//! one not after its own, or an empty run. Insert and cancel are O(1)
//! there: timeouts are usually cancelled in the order they were made, which
//! in a heap is the worst case (the root goes, and the last entry sinks
//! through every level).
//!
//! A run whose last timer is far in the future (an idle timeout of a
//! minute, say) takes no nearer timer while that one lives; with every run
//! so held, timers go to the heap, at what they cost before the runs.
//!
//! A timer that fits no run goes to the heap: O(log n) insert and cancel
//! (the last entry fills the hole and sifts). There are no tombstones in
//! either, so memory tracks the live timer count even with 1,000,000
//! timers created and dropped. The next deadline is the earliest of the
//! heap's root and the runs' heads.
//!
//! Each timer owns a slot in a slab (deadline, sequence number, waker, and
//! where it is: a heap position, or a run and its neighbours); the heap
//! holds `(deadline, sequence, slot)`. The sequence number makes equal
//! deadlines fire in creation order across the runs and the heap. A fired
//! timer keeps its slot (marked fired) until its owner, a
//! [`Sleep`](super::Sleep), removes it, so a slot key is never reused
//! behind its owner's back.

use std::task::Waker;
use std::time::Instant;

use slab::Slab;

/// Runs kept for in-order deadlines.
const RUNS: usize = 4;
/// No slot: the end of a run, or an empty run.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct HeapEntry {
    /// The deadline itself: comparing instants costs less than turning
    /// each into nanoseconds since a base.
    when: Instant,
    seq: u64,
    slot: u32,
}

impl HeapEntry {
    fn key(&self) -> (Instant, u64) {
        (self.when, self.seq)
    }
}

/// Where a timer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// In the heap, at this position.
    Heap(u32),
    /// In run `run`, between the slots `prev` and `next` ([`NONE`] at the
    /// ends).
    Run { run: u8, prev: u32, next: u32 },
    /// Fired (or not placed yet).
    Fired,
}

#[derive(Debug)]
struct Slot {
    when: Instant,
    seq: u64,
    place: Place,
    waker: Option<Waker>,
}

impl Slot {
    fn key(&self) -> (Instant, u64) {
        (self.when, self.seq)
    }
}

/// A sorted run: its first and last slots.
#[derive(Clone, Copy, Debug)]
struct Run {
    head: u32,
    tail: u32,
}

/// Pending timers of one runtime.
#[derive(Debug)]
pub(crate) struct TimerHeap {
    heap: Vec<HeapEntry>,
    runs: [Run; RUNS],
    /// Timers in the runs.
    in_runs: usize,
    slots: Slab<Slot>,
    seq: u64,
}

/// Which queue holds the earliest timer.
#[derive(Clone, Copy)]
enum Source {
    Heap,
    Run(usize),
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: Vec::new(),
            runs: [Run {
                head: NONE,
                tail: NONE,
            }; RUNS],
            in_runs: 0,
            slots: Slab::new(),
            seq: 0,
        }
    }

    /// Number of timers waiting to fire.
    pub(crate) fn len(&self) -> usize {
        self.heap.len() + self.in_runs
    }

    /// Adds a timer; returns its slot key.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> usize {
        let key = self.slots.insert(Slot {
            when: deadline,
            seq: 0,
            place: Place::Fired,
            waker: Some(waker),
        });
        self.place(key, deadline);
        key
    }

    /// Puts the timer in slot `key` (not placed) at `deadline`, with the
    /// next sequence number: on the run it extends, else in the heap.
    fn place(&mut self, key: usize, deadline: Instant) {
        let seq = self.seq;
        self.seq += 1;
        if let Some(slot) = self.slots.get_mut(key) {
            slot.when = deadline;
            slot.seq = seq;
        }
        match self.run_for(deadline) {
            Some(run) => self.append(run, key),
            None => self.push(key, deadline, seq),
        }
    }

    /// The run a timer due at `deadline` extends: the one whose last
    /// deadline is the latest not after it, or else an empty one.
    fn run_for(&self, deadline: Instant) -> Option<usize> {
        let mut best: Option<(usize, Instant)> = None;
        let mut empty = None;
        for (i, run) in self.runs.iter().enumerate() {
            match self.slots.get(run.tail as usize) {
                Some(tail) if tail.when <= deadline => {
                    if best.is_none_or(|(_, at)| tail.when > at) {
                        best = Some((i, tail.when));
                    }
                }
                Some(_) => {}
                None => {
                    if empty.is_none() {
                        empty = Some(i);
                    }
                }
            }
        }
        best.map(|(i, _)| i).or(empty)
    }

    /// Appends slot `key` to run `run`, whose last deadline is not after
    /// its own.
    fn append(&mut self, run: usize, key: usize) {
        let Some(r) = self.runs.get_mut(run) else {
            return;
        };
        let prev = r.tail;
        r.tail = key as u32;
        if prev == NONE {
            r.head = key as u32;
        } else {
            self.set_link(prev as usize, None, Some(key as u32));
        }
        if let Some(slot) = self.slots.get_mut(key) {
            slot.place = Place::Run {
                run: run as u8,
                prev,
                next: NONE,
            };
        }
        self.in_runs += 1;
    }

    /// Sets the neighbours of slot `key`, which is in a run.
    fn set_link(&mut self, key: usize, new_prev: Option<u32>, new_next: Option<u32>) {
        if let Some(Slot {
            place: Place::Run { prev, next, .. },
            ..
        }) = self.slots.get_mut(key)
        {
            if let Some(p) = new_prev {
                *prev = p;
            }
            if let Some(n) = new_next {
                *next = n;
            }
        }
    }

    /// Takes slot `key` out of its run (it stays in the slab, not placed).
    fn unlink(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let Place::Run { run, prev, next } = slot.place else {
            return;
        };
        slot.place = Place::Fired;
        self.in_runs -= 1;
        let Some(r) = self.runs.get_mut(usize::from(run)) else {
            return;
        };
        if prev == NONE {
            r.head = next;
        }
        if next == NONE {
            r.tail = prev;
        }
        if prev != NONE {
            self.set_link(prev as usize, None, Some(next));
        }
        if next != NONE {
            self.set_link(next as usize, Some(prev), None);
        }
    }

    /// Takes slot `key` out of the run or the heap it is in.
    fn unplace(&mut self, key: usize) {
        match self.slots.get(key).map(|s| s.place) {
            Some(Place::Heap(pos)) => {
                self.remove_at(pos as usize);
                if let Some(slot) = self.slots.get_mut(key) {
                    slot.place = Place::Fired;
                }
            }
            Some(Place::Run { .. }) => self.unlink(key),
            Some(Place::Fired) | None => {}
        }
    }

    fn push(&mut self, key: usize, deadline: Instant, seq: u64) {
        let entry = HeapEntry {
            when: deadline,
            seq,
            slot: key as u32,
        };
        self.heap.push(entry);
        let pos = self.heap.len() - 1;
        self.sift_up(pos);
    }

    /// Whether the timer has fired.
    pub(crate) fn is_fired(&self, key: usize) -> bool {
        self.slots.get(key).is_none_or(|s| s.place == Place::Fired)
    }

    /// Replaces the timer's waker unless it would wake the same task.
    /// Returns the old waker, to be dropped by the caller outside borrows.
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) -> Option<Waker> {
        let slot = self.slots.get_mut(key)?;
        match &slot.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.waker.replace(waker.clone()),
        }
    }

    /// Removes the timer (fired or not); returns its waker to be dropped by
    /// the caller outside borrows.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Waker> {
        self.unplace(key);
        let slot = self.slots.try_remove(key)?;
        self.give_back_memory();
        slot.waker
    }

    /// Returns memory after a peak (say, a million timers, then few): the
    /// heap's buffer shrinks when it is three-quarters empty, and the slab
    /// is replaced when no timer is left (its keys cannot be moved while
    /// timers hold them).
    fn give_back_memory(&mut self) {
        const KEEP: usize = 1024;
        let cap = self.heap.capacity();
        if cap > KEEP && self.heap.len() < cap / 4 {
            self.heap.shrink_to((cap / 2).max(KEEP));
        }
        if self.slots.is_empty() && self.slots.capacity() > KEEP {
            self.slots = Slab::with_capacity(KEEP);
        }
    }

    /// Bytes held by the heap and the slab (for tests).
    #[cfg(test)]
    fn footprint(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<HeapEntry>()
            + self.slots.capacity() * (std::mem::size_of::<Slot>() + 8)
    }

    /// Moves the timer to a new deadline; it is pending again.
    pub(crate) fn reschedule(&mut self, key: usize, deadline: Instant) {
        if !self.slots.contains(key) {
            return;
        }
        self.unplace(key);
        self.place(key, deadline);
    }

    /// The earliest pending timer: its deadline, sequence number and queue.
    fn earliest(&self) -> Option<((Instant, u64), Source)> {
        let mut best = self.heap.first().map(|e| (e.key(), Source::Heap));
        for (i, run) in self.runs.iter().enumerate() {
            if let Some(head) = self.slots.get(run.head as usize) {
                if best.is_none_or(|(key, _)| head.key() < key) {
                    best = Some((head.key(), Source::Run(i)));
                }
            }
        }
        best
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.earliest().map(|((when, _), _)| when)
    }

    /// Fires every timer whose deadline is at or before `now`, in deadline
    /// order, appending their wakers to `out`. Returns how many fired.
    pub(crate) fn fire(&mut self, now: Instant, out: &mut Vec<Waker>) -> usize {
        let mut n = 0;
        while let Some(((when, _), source)) = self.earliest() {
            if when > now {
                break;
            }
            let slot = match source {
                Source::Heap => {
                    let slot = self.heap.first().map_or(NONE, |e| e.slot) as usize;
                    self.remove_at(0);
                    slot
                }
                Source::Run(run) => {
                    let slot = self.runs.get(run).map_or(NONE, |r| r.head) as usize;
                    self.unlink(slot);
                    slot
                }
            };
            if let Some(s) = self.slots.get_mut(slot) {
                s.place = Place::Fired;
                out.extend(s.waker.take());
            }
            n += 1;
        }
        if n > 0 {
            self.give_back_memory();
        }
        n
    }

    /// Removes the entry at `pos`: the last entry fills the hole and moves
    /// up or down to its place.
    fn remove_at(&mut self, pos: usize) {
        let Some(last) = self.heap.pop() else {
            return;
        };
        if pos >= self.heap.len() {
            // It was the last entry.
            return;
        }
        if pos > 0 && last.key() < self.heap[(pos - 1) / 2].key() {
            self.place_up(pos, last);
        } else {
            self.place_down(pos, last);
        }
    }

    fn set_pos(&mut self, pos: usize) {
        let slot = self.heap[pos].slot as usize;
        if let Some(s) = self.slots.get_mut(slot) {
            s.place = Place::Heap(pos as u32);
        }
    }

    fn sift_up(&mut self, pos: usize) {
        let entry = self.heap[pos];
        self.place_up(pos, entry);
    }

    /// Puts `entry` into the hole at `pos` or above it: parents with a
    /// later key move down into the hole (one write each, no swaps).
    fn place_up(&mut self, mut pos: usize, entry: HeapEntry) {
        let key = entry.key();
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let above = self.heap[parent];
            if key >= above.key() {
                break;
            }
            self.heap[pos] = above;
            self.set_pos(pos);
            pos = parent;
        }
        self.heap[pos] = entry;
        self.set_pos(pos);
    }

    /// Puts `entry` into the hole at `pos` or below it: the earlier child
    /// moves up into the hole while its key is before `entry`'s.
    fn place_down(&mut self, mut pos: usize, entry: HeapEntry) {
        let len = self.heap.len();
        let key = entry.key();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].key() < self.heap[left].key() {
                right
            } else {
                left
            };
            let below = self.heap[child];
            if below.key() >= key {
                break;
            }
            self.heap[pos] = below;
            self.set_pos(pos);
            pos = child;
        }
        self.heap[pos] = entry;
        self.set_pos(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_order_then_creation_order() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let keys: Vec<usize> = [5, 1, 3, 1, 4]
            .iter()
            .map(|&d| h.insert(ms(base, d), noop_waker()))
            .collect();
        assert_eq!(h.next_deadline(), Some(ms(base, 1)));
        let mut out = Vec::new();
        assert_eq!(h.fire(ms(base, 2), &mut out), 2);
        assert!(h.is_fired(keys[1]) && h.is_fired(keys[3]));
        assert!(!h.is_fired(keys[2]));
        assert_eq!(h.fire(ms(base, 4), &mut out), 2);
        assert!(h.is_fired(keys[2]) && h.is_fired(keys[4]) && !h.is_fired(keys[0]));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn never_fires_early() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let d = base + Duration::from_nanos(1_000_001);
        let k = h.insert(d, noop_waker());
        let mut out = Vec::new();
        assert_eq!(h.fire(base + Duration::from_nanos(1_000_000), &mut out), 0);
        assert!(!h.is_fired(k));
        assert_eq!(h.fire(d, &mut out), 1);
    }

    /// A waker that logs its key when woken.
    struct Logged {
        key: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }

    impl futures_task::ArcWake for Logged {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.log.lock().unwrap().push(arc_self.key);
        }
    }

    #[test]
    fn remove_and_reschedule_keep_heap_valid() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut seed = 0x2545F4914F6CDD1Du64;
        // (key, deadline in ms, creation order) of every timer.
        let mut timers = Vec::new();
        for i in 0..10_000usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let key = h.slots.vacant_key();
            let waker = futures_task::waker(Arc::new(Logged {
                key,
                log: log.clone(),
            }));
            assert_eq!(h.insert(ms(base, seed % 1000), waker), key);
            timers.push((key, seed % 1000, i));
        }
        // Remove a third, move a third to 500 ms (they then sort after the
        // timers created at 500 ms, in the order they were moved).
        let mut removed = Vec::new();
        let mut expected = Vec::new();
        for (n, &(key, at, i)) in timers.iter().enumerate() {
            match n % 3 {
                0 => {
                    assert!(h.remove(key).is_some());
                    removed.push(key);
                }
                1 => {
                    h.reschedule(key, ms(base, 500));
                    expected.push((500, 10_000 + i, key));
                }
                _ => expected.push((at, i, key)),
            }
        }
        expected.sort();
        let mut out = Vec::new();
        for t in 0..=1000u64 {
            h.fire(ms(base, t), &mut out);
            out.drain(..).for_each(Waker::wake);
        }
        assert_eq!(h.len(), 0);
        let order: Vec<usize> = expected.iter().map(|&(_, _, key)| key).collect();
        assert_eq!(
            *log.lock().unwrap(),
            order,
            "timers fired out of deadline order"
        );
        for key in removed {
            assert!(
                h.slots.get(key).is_none(),
                "removed timer {key} still has a slot"
            );
        }
    }

    /// A xorshift generator: `rand(n)` is in `0..n`.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// Checks every run is sorted and linked both ways, and the counts.
    fn check_runs(h: &TimerHeap) {
        let mut total = 0;
        for (i, run) in h.runs.iter().enumerate() {
            let mut prev = NONE;
            let mut at = run.head;
            let mut last: Option<(Instant, u64)> = None;
            while at != NONE {
                let slot = &h.slots[at as usize];
                let Place::Run {
                    run: r,
                    prev: p,
                    next,
                } = slot.place
                else {
                    panic!("slot {at} on run {i} is placed {:?}", slot.place);
                };
                assert_eq!((usize::from(r), p), (i, prev), "links of slot {at}");
                assert!(last.is_none_or(|k| k < slot.key()), "run {i} out of order");
                last = Some(slot.key());
                total += 1;
                prev = at;
                at = next;
            }
            assert_eq!(run.tail, prev, "tail of run {i}");
        }
        assert_eq!(total, h.in_runs);
    }

    /// Runs and heap together fire exactly what a sorted model fires, in
    /// its order, under inserts in order (two interleaved timeouts) and out
    /// of order, cancels from anywhere, moves, and fires at every step.
    #[test]
    fn runs_and_heap_fire_in_model_order() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut rand = xorshift(0x9E37_79B9_7F4A_7C15);
        // The model: live timers as (deadline, sequence, key).
        let mut live: Vec<(Instant, u64, usize)> = Vec::new();
        let mut seq = 0u64;
        let mut fired = Vec::new();
        let mut now = 0u64;
        for _ in 0..20_000 {
            match rand(10) {
                0..=5 => {
                    let at = match rand(4) {
                        0 => now + 5_000,
                        1 => now + 2_000,
                        2 => now + rand(3_000),
                        _ => now + 5_000 + rand(3),
                    };
                    let key = h.slots.vacant_key();
                    let waker = futures_task::waker(Arc::new(Logged {
                        key,
                        log: log.clone(),
                    }));
                    assert_eq!(h.insert(ms(base, at), waker), key);
                    live.push((ms(base, at), seq, key));
                    seq += 1;
                }
                6 | 7 if !live.is_empty() => {
                    let (_, _, key) = live.swap_remove(rand(live.len() as u64) as usize);
                    assert!(h.remove(key).is_some());
                }
                8 if !live.is_empty() => {
                    let i = rand(live.len() as u64) as usize;
                    let at = ms(base, now + rand(6_000));
                    h.reschedule(live[i].2, at);
                    live[i].0 = at;
                    live[i].1 = seq;
                    seq += 1;
                }
                _ => {
                    now += rand(40);
                    let mut out = Vec::new();
                    h.fire(ms(base, now), &mut out);
                    out.drain(..).for_each(Waker::wake);
                    live.sort();
                    let due = live.partition_point(|t| t.0 <= ms(base, now));
                    for (_, _, key) in live.drain(..due) {
                        fired.push(key);
                        // Its owner removes it after the wake.
                        assert!(h.is_fired(key));
                        h.remove(key);
                    }
                }
            }
            assert_eq!(h.len(), live.len());
            check_runs(&h);
        }
        assert_eq!(*log.lock().unwrap(), fired, "fired out of model order");
        assert!(fired.len() > 1_000, "{} fired", fired.len());
    }

    /// Interleaved `now + constant` timeouts, cancelled in the order made
    /// (a request timeout and a per-attempt one), never touch the heap.
    #[test]
    fn in_order_timeouts_stay_off_the_heap() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let mut keys = std::collections::VecDeque::new();
        for t in 0..10_000u64 {
            keys.push_back(h.insert(ms(base, t + 5_000), noop_waker()));
            keys.push_back(h.insert(ms(base, t + 2_000), noop_waker()));
            while keys.len() > 128 {
                let k = keys.pop_front().unwrap();
                h.remove(k);
            }
            assert!(h.heap.is_empty(), "timer {t} went to the heap");
        }
        assert_eq!(h.next_deadline(), Some(ms(base, 9_936 + 2_000)));
        check_runs(&h);
    }

    #[test]
    fn memory_is_given_back_after_a_peak() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let keys: Vec<usize> = (0..100_000)
            .map(|i| h.insert(base + Duration::from_nanos(i), noop_waker()))
            .collect();
        let peak = h.footprint();
        for k in keys {
            h.remove(k);
        }
        assert!(
            h.footprint() * 10 < peak,
            "{} bytes held after the peak of {peak}",
            h.footprint()
        );
    }

    /// The model run again, with fired timers removed or moved again (as
    /// `Sleep::reset` and intervals do, with a new waker), many equal
    /// deadlines, and instants far in the past and the future; after every
    /// step the count, the next deadline and the links are checked.
    #[test]
    fn fired_timers_moved_again_and_extreme_deadlines_follow_the_model() {
        let base = Instant::now();
        let far_future = base + Duration::from_secs(86_400 * 365 * 1000);
        let far_past = base.checked_sub(Duration::from_secs(1000)).unwrap_or(base);
        for round in 0..20u64 {
            let mut h = TimerHeap::new();
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut rand = xorshift(0x9E37_79B9_7F4A_7C15 ^ (round * 0x1234_5678_9abc));
            // live (pending) timers: (deadline, seq, key); fired-but-kept keys.
            let mut live: Vec<(Instant, u64, usize)> = Vec::new();
            let mut kept: Vec<usize> = Vec::new();
            let mut seq = 0u64;
            let mut fired = Vec::new();
            let mut now = 0u64;
            let pick = |rand: &mut dyn FnMut(u64) -> u64, now: u64| match rand(8) {
                0 => ms(base, now + 50),
                1 => ms(base, now + 50 + rand(2)),
                2 => ms(base, now),
                3 => far_future,
                4 => far_past,
                5 => ms(base, now + rand(100)),
                _ => ms(base, now + 20),
            };
            for _ in 0..5_000 {
                match rand(12) {
                    0..=4 => {
                        let at = pick(&mut rand, now);
                        let key = h.slots.vacant_key();
                        let waker = futures_task::waker(Arc::new(Logged {
                            key,
                            log: log.clone(),
                        }));
                        assert_eq!(h.insert(at, waker), key);
                        live.push((at, seq, key));
                        seq += 1;
                    }
                    5 if !live.is_empty() => {
                        let (_, _, key) = live.swap_remove(rand(live.len() as u64) as usize);
                        assert!(h.remove(key).is_some());
                    }
                    6 if !kept.is_empty() => {
                        let key = kept.swap_remove(rand(kept.len() as u64) as usize);
                        assert!(h.remove(key).is_none());
                    }
                    7 if !live.is_empty() => {
                        let i = rand(live.len() as u64) as usize;
                        let at = pick(&mut rand, now);
                        h.reschedule(live[i].2, at);
                        live[i].0 = at;
                        live[i].1 = seq;
                        seq += 1;
                    }
                    8 if !kept.is_empty() => {
                        // A fired timer reset, with a new waker (as poll gives).
                        let key = kept.swap_remove(rand(kept.len() as u64) as usize);
                        let at = pick(&mut rand, now);
                        h.reschedule(key, at);
                        assert!(!h.is_fired(key));
                        let w = futures_task::waker(Arc::new(Logged {
                            key,
                            log: log.clone(),
                        }));
                        drop(h.set_waker(key, &w));
                        live.push((at, seq, key));
                        seq += 1;
                    }
                    _ => {
                        now += rand(30);
                        let mut out = Vec::new();
                        let n = h.fire(ms(base, now), &mut out);
                        out.drain(..).for_each(Waker::wake);
                        live.sort();
                        let due = live.partition_point(|t| t.0 <= ms(base, now));
                        assert_eq!(n, due);
                        for (_, _, key) in live.drain(..due) {
                            fired.push(key);
                            assert!(h.is_fired(key));
                            if rand(2) == 0 {
                                h.remove(key);
                            } else {
                                kept.push(key);
                            }
                        }
                    }
                }
                assert_eq!(h.len(), live.len());
                let want_next = live.iter().map(|t| (t.0, t.1)).min().map(|t| t.0);
                assert_eq!(h.next_deadline(), want_next);
                check_runs(&h);
                for &(_, _, k) in &live {
                    assert!(!h.is_fired(k));
                }
            }
            assert_eq!(*log.lock().unwrap(), fired, "fired out of model order");
            for k in kept.drain(..) {
                h.remove(k);
            }
            for (_, _, k) in live.drain(..) {
                h.remove(k);
            }
            assert_eq!(h.len(), 0);
            assert!(h.heap.is_empty() && h.in_runs == 0 && h.slots.is_empty());
            assert!(h.runs.iter().all(|r| r.head == NONE && r.tail == NONE));
        }
    }
}
