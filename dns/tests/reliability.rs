//! Reliability of the resolver under faults and hostile input, at sizes
//! that run in seconds (tern-benches' `stress` binary runs the full sizes):
//!
//! - a server that stops mid-query (paused, or gone) and comes back;
//! - a lossy server (10% dropped, 5% forged replies first, 5% SERVFAIL):
//!   every lookup ends with the right answer or the right error in time,
//!   and no fd, reactor slot, task or timer is left;
//! - poisoning: out-of-bailiwick records, look-alike question names, CNAME
//!   chains pointing elsewhere, answers of another type — never returned
//!   under another name, never cached;
//! - lookups and Happy Eyeballs connects dropped after 1, 2, ... polls;
//! - structured fuzzing of compressed names against a model, 64 KiB replies
//!   over TCP (full, junk, cut short), mutated configuration and hosts files.
//!
//! Servers are in-process on 127.0.0.1 and ::1; 192.0.2.0/24 and the other
//! documentation ranges appear only as zone data.

#[path = "../../tests/common/cancel.rs"]
mod cancel;
mod common;
#[path = "../../tests/common/footprint.rs"]
mod footprint;
mod scripted;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cancel::{full_listener, poll_then_drop};
use common::lossy::{self, host_index, Datagram, Fate};
use common::{structured, Rng};
use footprint::{footprint, serial, Footprint};
use scripted::*;
use tern::dns::exchange::{Transport, MAX_ANSWER_RECORDS};
use tern::dns::wire::{Message, Rcode};
use tern::dns::{Config, Error, Hosts, Name, RData, RecordType, Resolver};
use tern::net::TcpListener;
use tern::time::timeout;

// ===== helpers =====

/// Lets the server's short-lived tasks finish (bounded), then returns the
/// footprint once it equals `want()`, or the last one seen.
async fn settle(want: impl Fn() -> Footprint) -> Footprint {
    for _ in 0..10_000 {
        if footprint() == want() {
            break;
        }
        tern::yield_now().await;
    }
    footprint()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn a_data(records: &[tern::dns::Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match r.data {
            RData::A(ip) => Some(IpAddr::V4(ip)),
            RData::AAAA(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        })
        .collect()
}

// ===== a server on its own thread, that can be paused or stopped =====

#[derive(Default)]
struct Control {
    /// Stop answering (and reading) after the next query.
    pause_after_next: bool,
    paused: bool,
    stop: bool,
    /// Names asked, in arrival order.
    seen: Vec<Name>,
}

/// A UDP server on a std thread answering every A query with 192.0.2.1.
/// Paused, it leaves queries unread in the socket (a hung server: no ICMP,
/// the client can only time out); stopped, its socket is closed.
struct ThreadServer {
    addr: SocketAddr,
    control: Arc<(Mutex<Control>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadServer {
    fn start(addr: SocketAddr) -> ThreadServer {
        let sock = std::net::UdpSocket::bind(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let control = Arc::new((Mutex::new(Control::default()), Condvar::new()));
        let c = control.clone();
        let thread = std::thread::spawn(move || serve_thread(sock, &c));
        ThreadServer {
            addr,
            control,
            thread: Some(thread),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Control) -> R) -> R {
        let (lock, cv) = &*self.control;
        let r = f(&mut lock.lock().unwrap());
        cv.notify_all();
        r
    }

    fn seen(&self, name: &str) -> usize {
        let name: Name = name.parse().unwrap();
        self.with(|c| c.seen.iter().filter(|n| **n == name).count())
    }

    /// Stops the thread and closes the socket.
    fn stop(mut self) {
        self.with(|c| c.stop = true);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        self.with(|c| c.stop = true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_thread(sock: std::net::UdpSocket, control: &(Mutex<Control>, Condvar)) {
    let (lock, cv) = control;
    let mut buf = [0u8; 1500];
    loop {
        {
            let mut c = lock.lock().unwrap();
            while c.paused && !c.stop {
                c = cv.wait(c).unwrap();
            }
            if c.stop {
                return;
            }
        }
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue; // read timeout: look at the controls again
        };
        let Ok(q) = Message::decode(&buf[..n]) else {
            continue;
        };
        let Some(question) = q.questions.first() else {
            continue;
        };
        {
            let mut c = lock.lock().unwrap();
            c.seen.push(question.name.clone());
            if c.pause_after_next {
                c.pause_after_next = false;
                c.paused = true;
                cv.notify_all();
                continue;
            }
        }
        let mut reply = reply_to(&q);
        if question.qtype == RecordType::A {
            reply
                .answers
                .push(a(&question.name.to_string(), "192.0.2.1"));
        }
        let _ = sock.send_to(&reply.encode(), from);
    }
}

// ===== faults =====

#[test]
fn paused_server_times_out_after_every_attempt_then_recovers() {
    serial(async {
        let server = ThreadServer::start("127.0.0.1:0".parse().unwrap());
        let mut c = config(&[server.addr], 100);
        c.attempts = 3;
        let r = Resolver::new(c);
        let start = footprint();
        server.with(|c| c.pause_after_next = true);
        let res = timeout(
            Duration::from_secs(10),
            r.lookup("stalled.test", RecordType::A),
        )
        .await
        .expect("the lookup hung");
        assert!(matches!(res, Err(Error::Timeout)), "{res:?}");
        assert!(server.with(|c| c.paused));
        // The channel's driver task ends at its next poll.
        assert_eq!(
            settle(|| start).await,
            start,
            "the failed lookup left something"
        );
        // The server comes back; it finds the two later attempts queued,
        // then the next lookup's query, which it answers.
        server.with(|c| c.paused = false);
        let got = timeout(
            Duration::from_secs(10),
            r.lookup("back.test", RecordType::A),
        )
        .await
        .expect("the lookup hung")
        .unwrap();
        assert_eq!(a_data(&got), ips(&["192.0.2.1"]));
        assert_eq!(server.seen("stalled.test"), 3, "one query per attempt");
        assert_eq!(server.seen("back.test"), 1);
        // Timeouts are not cached: the stalled name is asked again.
        let got = r.lookup("stalled.test", RecordType::A).await.unwrap();
        assert_eq!(a_data(&got), ips(&["192.0.2.1"]));
        assert_eq!(footprint(), start);
    });
}

#[test]
fn server_gone_mid_query_fails_fast_and_a_restarted_server_answers() {
    serial(async {
        let start = footprint();
        let server = ThreadServer::start("127.0.0.1:0".parse().unwrap());
        let addr = server.addr;
        let r = Resolver::new(config(&[addr], 200));
        // The server reads the query and goes away without answering.
        server.with(|c| c.pause_after_next = true);
        let lookup = tern::spawn({
            let r = r.clone();
            async move { r.lookup("gone.test", RecordType::A).await }
        });
        while !server.with(|c| c.paused) {
            tern::yield_now().await;
        }
        server.stop();
        // The attempt in flight times out; the next one meets a closed port
        // (ICMP port unreachable) and fails at once instead of waiting.
        let res = timeout(Duration::from_secs(10), lookup)
            .await
            .expect("the lookup hung")
            .unwrap();
        match res {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
            other => panic!("expected a refused second attempt, got {other:?}"),
        }
        // Back on the same port: the next lookup succeeds.
        let server = ThreadServer::start(addr);
        let got = timeout(
            Duration::from_secs(10),
            r.lookup("gone.test", RecordType::A),
        )
        .await
        .expect("the lookup hung")
        .unwrap();
        assert_eq!(a_data(&got), ips(&["192.0.2.1"]));
        assert_eq!(server.seen("gone.test"), 1);
        drop(server);
        assert_eq!(settle(|| start).await, start);
    });
}

// ===== a lossy server =====

/// The addresses of host number `i` in the lossy zone.
fn host_ips(i: usize) -> Vec<IpAddr> {
    lossy::host_ips(i).map(IpAddr::V4).to_vec()
}

/// The 10% dropped / 5% forged-first / 5% SERVFAIL mix, decided per query
/// (so retries meet fresh luck), with a log of every decision per name.
fn lossy_script(seed: u64, log: Rc<RefCell<HashMap<Name, Vec<Fate>>>>) -> Script {
    let rng = RefCell::new(Rng::new(seed));
    Rc::new(move |q, _| {
        let question = &q.questions[0];
        let Some(i) = host_index(&question.name) else {
            return vec![Action::Reply(rcode_reply(q, Rcode::NXDOMAIN))];
        };
        let (fate, datagrams) = lossy::decide(&mut rng.borrow_mut(), q, i);
        log.borrow_mut()
            .entry(question.name.clone())
            .or_default()
            .push(fate);
        datagrams
            .into_iter()
            .map(|d| match d {
                Datagram::Message(m) => Action::Reply(m),
                Datagram::Raw(bytes) => Action::Raw(bytes),
            })
            .collect()
    })
}

/// What a lookup must return given what the server did with each attempt.
fn expected(i: usize, fates: &[Fate]) -> Result<Vec<IpAddr>, &'static str> {
    match fates
        .iter()
        .find(|f| matches!(f, Fate::Answered | Fate::ForgedFirst))
    {
        Some(_) => Ok(host_ips(i)),
        None => match fates.last() {
            Some(Fate::ServFail) => Err("servfail"),
            _ => Err("timeout"),
        },
    }
}

#[test]
fn lossy_server_two_thousand_lookups_each_right_and_nothing_left() {
    const LOOKUPS: usize = 2000;
    const IN_FLIGHT: usize = 100;
    serial(async {
        let log = Rc::new(RefCell::new(HashMap::new()));
        let server = Server::start(lossy_script(0x1055, log.clone()));
        let mut c = config(&[server.addr], 300);
        c.attempts = 2;
        c.cache_size = 0;
        let r = Resolver::new(c);
        let start = footprint();
        let next = Rc::new(Cell::new(0usize));
        type Outcome = Option<Result<Vec<IpAddr>, Error>>;
        let results: Rc<RefCell<Vec<Outcome>>> =
            Rc::new(RefCell::new((0..LOOKUPS).map(|_| None).collect()));
        let workers: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (r, next, results) = (r.clone(), next.clone(), results.clone());
                tern::spawn(async move {
                    loop {
                        let i = next.get();
                        if i >= LOOKUPS {
                            return;
                        }
                        next.set(i + 1);
                        let host = format!("h{i}.loss.test.");
                        // Two attempts of 300 ms each, and room to spare.
                        let res = timeout(Duration::from_secs(5), r.lookup(&host, RecordType::A))
                            .await
                            .unwrap_or_else(|_| panic!("lookup {i} hung"));
                        results.borrow_mut()[i] = Some(res.map(|recs| a_data(&recs)));
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let log = std::mem::take(&mut *log.borrow_mut());
        let results = std::mem::take(&mut *results.borrow_mut());
        let mut tally: HashMap<&'static str, usize> = HashMap::new();
        for (i, res) in results.into_iter().enumerate() {
            let res = res.unwrap();
            let fates = log
                .get(&name(&format!("h{i}.loss.test.")))
                .cloned()
                .unwrap_or_default();
            assert!(!fates.is_empty() && fates.len() <= 2, "{i}: {fates:?}");
            let want = expected(i, &fates);
            // An attempt is made only while no answer has come.
            if want.is_ok() {
                assert!(matches!(
                    fates.last(),
                    Some(Fate::Answered | Fate::ForgedFirst)
                ));
            }
            match (&want, &res) {
                (Ok(w), Ok(got)) => assert_eq!(w, got, "lookup {i}"),
                (Err("timeout"), Err(Error::Timeout)) | (Err("servfail"), Err(Error::ServFail)) => {
                }
                _ => panic!("lookup {i}: server did {fates:?}, lookup gave {res:?}"),
            }
            *tally.entry(want.err().unwrap_or("answer")).or_default() += 1;
        }
        let queries: usize = log.values().map(Vec::len).sum();
        let forged = log
            .values()
            .flatten()
            .filter(|f| **f == Fate::ForgedFirst)
            .count();
        println!(
            "{LOOKUPS} lookups, {queries} queries ({forged} with forged replies first): {tally:?}"
        );
        assert!(forged > 0 && tally.contains_key("timeout") && tally.contains_key("servfail"));
        let after = settle(|| start).await;
        assert_eq!(after, start, "fds, sockets, tasks or timers left");
    });
}

// ===== poisoning =====

fn true_zone() -> Zone {
    Zone::new(vec![
        a("www.test.", "192.0.2.1"),
        aaaa("www.test.", "2001:db8::1"),
        a("bank.test.", "192.0.2.80"),
        a("target.test.", "192.0.2.70"),
        a("other.test.", "192.0.2.71"),
        rec("test.", 300, RData::NS(name("ns.test."))),
        a("x@y.test.", "192.0.2.90"),
        a("x`y.test.", "192.0.2.91"),
    ])
}

/// A server that answers `poisoned` (by name and type) with the given
/// reply builder, and everything else truthfully.
fn poisoning_server(
    poisoned: &'static str,
    qtype: RecordType,
    build: impl Fn(&Message) -> Vec<Action> + 'static,
) -> Server {
    let zone = true_zone();
    let target = name(poisoned);
    Server::start(Rc::new(move |q, _| {
        let question = &q.questions[0];
        if question.name == target && question.qtype == qtype {
            build(q)
        } else {
            vec![Action::Reply(zone.answer(q))]
        }
    }))
}

#[test]
fn out_of_bailiwick_records_are_never_returned_or_cached() {
    serial(async {
        let server = poisoning_server("www.test.", RecordType::A, |q| {
            let mut m = reply_to(q);
            m.answers = vec![
                a("bank.test.", "203.0.113.66"),
                a("www.test.", "192.0.2.1"),
                a("www.example.", "203.0.113.67"),
                aaaa("www.test.", "2001:db8::666"),
            ];
            m.authorities = vec![rec("test.", 300, RData::NS(name("ns.evil.example.")))];
            m.additionals = vec![
                a("ns.evil.example.", "203.0.113.53"),
                a("bank.test.", "203.0.113.68"),
            ];
            vec![Action::Reply(m)]
        });
        let r = Resolver::new(config(&[server.addr], 1000));
        let got = r.lookup("www.test", RecordType::A).await.unwrap();
        assert_eq!(a_data(&got), ips(&["192.0.2.1"]));
        assert_eq!(r.cache_len(), 1, "only the question's answer is cached");
        // Every other name and type still goes to the server and gets the
        // truth.
        let asked = server.seen().len();
        let bank = r.lookup("bank.test", RecordType::A).await.unwrap();
        assert_eq!(a_data(&bank), ips(&["192.0.2.80"]));
        let six = r.lookup("www.test", RecordType::AAAA).await.unwrap();
        assert_eq!(a_data(&six), ips(&["2001:db8::1"]));
        let ns = r.lookup("test.", RecordType::NS).await.unwrap();
        assert_eq!(ns[0].data, RData::NS(name("ns.test.")));
        assert!(matches!(
            r.lookup("ns.evil.example", RecordType::A).await,
            Err(Error::NxDomain)
        ));
        assert_eq!(server.seen().len(), asked + 4);
        // lookup_ip mixes the cached A with a fresh AAAA, never the planted one.
        assert_eq!(
            r.lookup_ip("www.test").await.unwrap(),
            ips(&["192.0.2.1", "2001:db8::1"])
        );
    });
}

#[test]
fn question_names_are_compared_by_ascii_case_only() {
    serial(async {
        // '@' and '`' differ only in bit 0x20, as do the UTF-8 bytes of
        // "É" and "é": folding them like letters would accept a forged
        // reply for another name. The look-alike replies come first, the
        // real one last.
        let server = poisoning_server("x@y.test.", RecordType::A, |q| {
            let mut look_alike = reply_to(q);
            look_alike.questions[0].name = name("x`y.test.");
            look_alike.answers = vec![a("x`y.test.", "203.0.113.1")];
            let mut also = look_alike.clone();
            also.questions[0].name = name("X`Y.TEST.");
            let mut real = reply_to(q);
            real.questions[0].name = name("X@Y.Test.");
            real.answers = vec![a("x@y.test.", "192.0.2.90")];
            vec![
                Action::Reply(look_alike),
                Action::Reply(also),
                Action::Reply(real),
            ]
        });
        let r = Resolver::new(config(&[server.addr], 1000));
        let got = r.lookup("x@y.test", RecordType::A).await.unwrap();
        assert_eq!(a_data(&got), ips(&["192.0.2.90"]));
        // Differently cased, the same name: from the cache.
        let asked = server.seen().len();
        let again = r.lookup("X@Y.TEST", RecordType::A).await.unwrap();
        assert_eq!(a_data(&again), ips(&["192.0.2.90"]));
        assert_eq!(server.seen().len(), asked);
        // The look-alike was not cached.
        let other = r.lookup("x`y.test", RecordType::A).await.unwrap();
        assert_eq!(a_data(&other), ips(&["192.0.2.91"]));
        assert_eq!(server.seen().len(), asked + 1);

        // The same at the byte level, for non-ASCII labels.
        let query_name = Name::from_labels([&b"caf\xc3\x89"[..], b"test"]).unwrap();
        let look_alike = Name::from_labels([&b"caf\xc3\xa9"[..], b"test"]).unwrap();
        assert_ne!(query_name, look_alike);
        let query = Message::query(7, &query_name, RecordType::A, None);
        let mut forged = reply_to(&query);
        forged.questions[0].name = look_alike;
        assert!(
            tern::dns::exchange::validate_reply(&query, &forged.encode(), Transport::Udp).is_err()
        );
        let mut upper = reply_to(&query);
        upper.questions[0].name = Name::from_labels([&b"CAF\xc3\x89"[..], b"TEST"]).unwrap();
        assert!(
            tern::dns::exchange::validate_reply(&query, &upper.encode(), Transport::Udp).is_ok()
        );
    });
}

#[test]
fn cname_chains_pointing_elsewhere_poison_nothing() {
    serial(async {
        let server = poisoning_server("alias.test.", RecordType::A, |q| {
            let mut m = reply_to(q);
            m.answers = vec![
                // Not on the chain from alias.test.
                cname("other.test.", "evil.example."),
                a("evil.example.", "203.0.113.9"),
                // The chain, and the data at its end.
                cname("alias.test.", "target.test."),
                a("target.test.", "198.51.100.7"),
                a("bank.test.", "203.0.113.10"),
            ];
            vec![Action::Reply(m)]
        });
        let r = Resolver::new(config(&[server.addr], 1000));
        let got = r.lookup("alias.test", RecordType::A).await.unwrap();
        assert_eq!(a_data(&got), ips(&["198.51.100.7"]));
        assert_eq!(r.cache_len(), 1);
        // The chain's target, the off-chain alias and the stray name are
        // not cached: each is asked and answered truthfully.
        let asked = server.seen().len();
        for (host, want) in [
            ("target.test", "192.0.2.70"),
            ("other.test", "192.0.2.71"),
            ("bank.test", "192.0.2.80"),
        ] {
            let got = r.lookup(host, RecordType::A).await.unwrap();
            assert_eq!(a_data(&got), ips(&[want]), "{host}");
        }
        assert_eq!(server.seen().len(), asked + 3);

        // A chain leading out of the reply is no answer, and no negative
        // answer is cached for it (there is no SOA to say for how long).
        let server = poisoning_server("www.test.", RecordType::A, |q| {
            let mut m = reply_to(q);
            m.answers = vec![
                cname("www.test.", "nowhere.example."),
                a("www.test.evil.example.", "203.0.113.11"),
            ];
            vec![Action::Reply(m)]
        });
        let r = Resolver::new(config(&[server.addr], 1000));
        for _ in 0..2 {
            assert!(matches!(
                r.lookup("www.test", RecordType::A).await,
                Err(Error::NoData)
            ));
        }
        assert_eq!(server.seen().len(), 2);
        assert_eq!(r.cache_len(), 0);
    });
}

#[test]
fn answers_of_another_type_are_never_returned_or_cached() {
    serial(async {
        let server = poisoning_server("www.test.", RecordType::A, |q| {
            let mut m = reply_to(q);
            m.answers = vec![
                aaaa("www.test.", "2001:db8::666"),
                rec("www.test.", 300, RData::TXT(vec![b"planted".to_vec()])),
            ];
            vec![Action::Reply(m)]
        });
        let r = Resolver::new(config(&[server.addr], 1000));
        assert!(matches!(
            r.lookup("www.test", RecordType::A).await,
            Err(Error::NoData)
        ));
        assert_eq!(r.cache_len(), 0);
        let six = r.lookup("www.test", RecordType::AAAA).await.unwrap();
        assert_eq!(a_data(&six), ips(&["2001:db8::1"]));
        assert!(matches!(
            r.lookup("www.test", RecordType::TXT).await,
            Err(Error::NoData)
        ));
        // lookup_ip: the AAAA from the cache, A still NODATA: never the
        // planted address.
        assert_eq!(
            r.lookup_ip("www.test").await.unwrap(),
            ips(&["2001:db8::1"])
        );
        assert_eq!(server.seen().len(), 4);
    });
}

// ===== cancellation =====

#[test]
fn lookup_over_udp_then_tcp_dropped_at_every_point_leaks_nothing() {
    serial(async {
        let zone = true_zone();
        // UDP replies are truncated, so every lookup goes on over TCP.
        let server = Server::start(Rc::new(move |q, t| {
            if t == Transport::Udp {
                let mut m = reply_to(q);
                m.header.tc = true;
                vec![Action::Reply(m)]
            } else {
                vec![Action::Reply(zone.answer(q))]
            }
        }));
        let base = footprint();
        // The server's TCP connections (a socket and a task each) come and go.
        let want = || Footprint {
            fds: base.fds + server.tcp_open(),
            io_sources: base.io_sources + server.tcp_open(),
            tasks: base.tasks + server.tcp_open(),
            ..base
        };
        for spurious in [false, true] {
            let mut completed = false;
            // Every count up to 60, then coarser: spurious polls come much
            // faster than the server's replies.
            for step in 1..500u32 {
                let polls = if step <= 60 {
                    step
                } else {
                    60 + (step - 60) * 17
                };
                let r = Resolver::new(config(&[server.addr], 1000));
                let done = poll_then_drop(
                    async move { r.lookup("www.test", RecordType::A).await },
                    polls,
                    spurious,
                )
                .await;
                let finished = done.is_some();
                if let Some(res) = done {
                    assert_eq!(a_data(&res.unwrap()), ips(&["192.0.2.1"]));
                }
                let after = settle(want).await;
                assert_eq!(after, want(), "after {polls} polls (spurious: {spurious})");
                if finished {
                    println!("lookup completed after {polls} polls (spurious: {spurious})");
                    completed = true;
                    break;
                }
            }
            assert!(completed, "the lookup never completed");
        }
        assert!(server.count(Transport::Tcp) >= 2);
    });
}

#[test]
fn happy_eyeballs_dropped_at_every_point_leaks_nothing() {
    serial(async {
        let zone = Zone::new(vec![
            aaaa("dual.test.", "::1"),
            a("dual.test.", "127.0.0.1"),
        ]);
        let server = Server::start(zone.script());
        // IPv6 hangs (full accept queue), IPv4 accepts: every stage of the
        // race is reached — both lookups, the IPv6 attempt, the 250 ms
        // attempt delay, the IPv4 attempt.
        let (hung, v4, port) = loop {
            let hung = full_listener("[::1]:0".parse().unwrap());
            let port = tern::sys::socket::local_addr(hung.0.as_fd())
                .unwrap()
                .port();
            if let Ok(v4) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
                break (hung, v4, port);
            }
        };
        let base = footprint();
        let mut completed = false;
        for polls in 1..100 {
            let r = Resolver::new(config(&[server.addr], 1000));
            let done = poll_then_drop(
                async move { r.connect("dual.test", port).await },
                polls,
                false,
            )
            .await;
            let finished = done.is_some();
            if let Some(res) = done {
                let stream = res.unwrap();
                assert!(stream.peer_addr().unwrap().is_ipv4());
            }
            let after = settle(|| base).await;
            assert_eq!(after, base, "after {polls} polls");
            if finished {
                println!("connect completed after {polls} polls");
                completed = true;
                break;
            }
        }
        assert!(completed, "connect never completed");
        drop((hung, v4));
    });
}

// ===== structured fuzzing of names =====

#[test]
fn structured_name_fuzzing_agrees_with_the_model() {
    let mut rng = Rng::new(0x5eed);
    let (mut valid, mut invalid, mut unknown) = (0, 0, 0);
    for case in 0..100_000 {
        let (packet, want, known) = structured::message(&mut rng);
        let got = Message::decode(&packet);
        if !known {
            unknown += 1;
            continue;
        }
        match (want, got) {
            (Some(want), Ok(m)) => {
                let got: Vec<Vec<u8>> = m
                    .questions
                    .iter()
                    .map(|q| q.name.as_wire().to_vec())
                    .collect();
                assert_eq!(got, want, "case {case}: {packet:02x?}");
                valid += 1;
            }
            (None, Err(Error::Malformed(_))) => invalid += 1,
            (want, got) => panic!("case {case}: model {want:?}, decoder {got:?}: {packet:02x?}"),
        }
    }
    println!("names: {valid} valid, {invalid} invalid, {unknown} unmodelled");
    assert!(valid > 10_000 && invalid > 10_000);
}

// ===== 64 KiB replies over TCP =====

/// A reply to `q` of 65,530 bytes: 4,094 compressed A records.
fn max_reply(q: &Message) -> Message {
    let owner = q.questions[0].name.to_string();
    let mut m = reply_to(q);
    m.edns = None;
    for i in 0..4094usize {
        let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
        m.answers.push(a(&owner, &format!("{net}.{}", i % 256)));
    }
    assert!(m.encode().len() <= 65535, "{owner} is too long a name");
    m
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn sixty_four_kib_replies_over_tcp() {
    serial(async {
        let start = footprint();
        let rng = Rc::new(RefCell::new(Rng::new(64)));
        let r2 = rng.clone();
        let server = Server::start(Rc::new(move |q, t| {
            if t == Transport::Udp {
                let mut m = reply_to(q);
                m.header.tc = true;
                return vec![Action::Reply(m)];
            }
            let full = max_reply(q).encode();
            let host = q.questions[0].name.to_string();
            if host.starts_with("full.") {
                vec![Action::Reply(max_reply(q))]
            } else if host.starts_with("junk.") {
                // A 65,535-byte frame of junk carrying our ID, then the reply.
                let mut junk = r2.borrow_mut().bytes(65535);
                junk[..2].copy_from_slice(&q.header.id.to_be_bytes());
                vec![Action::Raw(framed(&junk)), Action::Raw(framed(&full))]
            } else if host.starts_with("cut.") {
                // The length says 65,531; the server stalls after 1,000.
                let mut v = framed(&full);
                v.truncate(1000);
                vec![Action::Raw(v)]
            } else {
                // mutated: a few bytes of the full reply damaged.
                let mut body = full;
                let mut rng = r2.borrow_mut();
                for _ in 0..1 + rng.below(8) {
                    let at = 12 + rng.below(body.len() - 12);
                    body[at] = rng.u8();
                }
                vec![Action::Raw(framed(&body))]
            }
        }));
        let mut c = config(&[server.addr], 500);
        c.cache_size = 0;
        let r = Resolver::new(c);
        let in_time = Duration::from_secs(10);
        for host in ["full.test", "junk.test"] {
            let got = timeout(in_time, r.lookup(host, RecordType::A))
                .await
                .expect("hung")
                .unwrap();
            // The whole 64 KiB reply is read and decoded; the lookup keeps
            // the first MAX_ANSWER_RECORDS of its 4,094 records.
            assert_eq!(got.len(), MAX_ANSWER_RECORDS, "{host}");
            assert_eq!(
                a_data(&got)[MAX_ANSWER_RECORDS - 1],
                "192.0.2.255".parse::<IpAddr>().unwrap()
            );
        }
        let cut = timeout(in_time, r.lookup("cut.test", RecordType::A))
            .await
            .expect("hung");
        assert!(matches!(cut, Err(Error::Timeout)), "{cut:?}");
        // Mutated 64 KiB replies: an answer or an error, never a panic or a
        // hang.
        let lookups: Vec<_> = (0..30)
            .map(|i| {
                let r = r.clone();
                tern::spawn(async move {
                    timeout(in_time, r.lookup(&format!("m{i}.test"), RecordType::A))
                        .await
                        .expect("hung")
                })
            })
            .collect();
        let mut outcomes = HashMap::new();
        for l in lookups {
            let key = match l.await.unwrap() {
                Ok(_) => "answer".to_string(),
                Err(e) => format!("{e}").chars().take(20).collect(),
            };
            *outcomes.entry(key).or_insert(0) += 1;
        }
        println!("mutated 64 KiB replies: {outcomes:?}");
        drop(server);
        let after = settle(|| start).await;
        assert_eq!(after, start);
    });
}

// ===== hostile configuration files =====

const CONF_SEED: &str = "# resolv.conf\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n\
    nameserver fe80::1%2\nsearch a.example b.example\ndomain c.example\n\
    options ndots:2 timeout:3 attempts:4 rotate edns0 single-request\n";
const HOSTS_SEED: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n\
    192.0.2.5 box.example box # comment\n2001:db8::5 box.example\n\
    fe80::1%eth0 link.example\n";

/// Mutates text at the byte level (the result may not be UTF-8; parsers
/// get it the way `from_file` does, lossily decoded).
fn mutate_text(rng: &mut Rng, seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(6) {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            0 if at < len => bytes[at] = rng.u8(),
            1 => bytes.insert(at, *rng.pick(b"\0\n\r\t #;:%.[]")),
            2 => bytes.truncate(at),
            3 => {
                let run = rng.below(5000);
                let b = *rng.pick(b"a9:.\0 \n");
                bytes.splice(at..at, std::iter::repeat_n(b, run));
            }
            4 => {
                let word = *rng.pick(&[
                    &b"nameserver "[..],
                    b"search ",
                    b"options ",
                    b"ndots:",
                    b"timeout:99999999999999999999",
                    b"attempts:-1",
                    b"0::00:00:00/2",
                    b"\xff\xfe",
                    b"\\",
                    b"::ffff:1.2.3.4",
                ]);
                bytes.splice(at..at, word.iter().copied());
            }
            5 if len > 1 => {
                let from = rng.below(len);
                let to = (from + rng.below(64)).min(len);
                let chunk = bytes[from..to].to_vec();
                bytes.splice(at..at, chunk);
            }
            _ => {
                let n = rng.below(32);
                let junk = rng.bytes(n);
                bytes.splice(at..at, junk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_resolv_conf_and_hosts_files_never_panic() {
    let mut rng = Rng::new(0xc0f);
    for _ in 0..4_000 {
        let text = mutate_text(&mut rng, CONF_SEED);
        let c = Config::parse_resolv_conf(&text).expect("parsing never fails");
        assert!((1..=3).contains(&c.nameservers.len()), "{c:?}");
        assert!(c.ndots <= 15 && (1..=5).contains(&c.attempts), "{c:?}");
        assert!(c.timeout >= Duration::from_secs(1) && c.timeout <= Duration::from_secs(30));
        assert!(c.search.len() <= 6, "{c:?}");
        for d in &c.search {
            let _ = d.parse::<Name>();
        }
        let mut c2 = c.clone();
        c2.apply_env(
            Some(&mutate_text(&mut rng, "ndots:3 attempts:2")),
            Some(&text),
        );

        let text = mutate_text(&mut rng, HOSTS_SEED);
        let hosts = Hosts::parse(&text);
        for word in text.split_ascii_whitespace() {
            if let Ok(n) = word.parse::<Name>() {
                for ip in hosts.lookup(&n) {
                    assert!(hosts.reverse(*ip).contains(&n), "{n} -> {ip} one way only");
                }
            }
        }
    }
}

#[test]
fn unreadable_and_binary_files_are_handled() {
    serial(async {
        let dir = std::env::temp_dir().join(format!("tern-rel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("binary");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        std::fs::write(&binary, &bytes).unwrap();
        let mixed = dir.join("mixed");
        std::fs::write(
            &mixed,
            b"192.0.2.9 ok.test\n192.0.2.10 bad\xff.test\nnameserver 127.0.0.1\n\xc3\x28\n",
        )
        .unwrap();
        // resolv.conf from files.
        let c = Config::from_file(&binary).unwrap();
        assert_eq!(c.nameservers.len(), 1);
        let c = Config::from_file(&mixed).unwrap();
        assert_eq!(c.nameservers, ["127.0.0.1:53".parse().unwrap()]);
        assert!(matches!(Config::from_file(&dir), Err(Error::Io(_))));
        // Hosts files, directly and through a resolver.
        assert!(Hosts::load(&binary).is_ok());
        let hosts = Hosts::load(&mixed).unwrap();
        assert_eq!(hosts.lookup(&name("ok.test")), ips(&["192.0.2.9"]));
        let server = Server::start(true_zone().script());
        for (file, pinned) in [(&mixed, true), (&binary, false), (&dir, false)] {
            let mut c = config(&[server.addr], 1000);
            c.use_hosts = true;
            c.hosts_file = file.clone();
            let r = Resolver::new(c);
            let want = if pinned { "192.0.2.9" } else { "192.0.2.1" };
            let host = if pinned { "ok.test" } else { "www.test" };
            let got = r.lookup_ip(host).await.unwrap();
            assert_eq!(got[0], want.parse::<IpAddr>().unwrap(), "{file:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
