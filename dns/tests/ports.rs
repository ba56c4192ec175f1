//! Source ports of UDP queries, as the server sees them
//! (`Config::udp_max_queries`): by default every query leaves from a new
//! port, without a new socket each time; with 0 a socket keeps its port;
//! with n it moves after n queries. A reply that arrives late on a reused
//! socket, for an earlier query, is never taken as the answer to a new one.
//! A pooled channel is never used by a runtime other than its own. Identical
//! lookups in flight share one query (the server sees it once).

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

#[allow(dead_code)]
#[path = "common/reply.rs"]
mod reply;

use tern::dns::wire::Message;
use tern::dns::{Config, Name, RData, Record, RecordType, Resolver};
use tern::net::UdpSocket;

/// One query as the server saw it: the client's source port and the ID.
#[derive(Clone, Debug)]
struct Seen {
    port: u16,
    id: u16,
}

/// What the server sends back for a query, in order.
enum Send {
    /// The answer `ip` to the query.
    Answer(Ipv4Addr),
    /// An answer `ip` with the query's ID but a question for `name`.
    Forged { name: &'static str, ip: Ipv4Addr },
    /// Waits before the next datagram.
    Delay(Duration),
}

type Script = Rc<dyn Fn(&Message) -> Vec<Send>>;

/// A UDP server on 127.0.0.1 in the test's runtime that logs every query.
struct PortServer {
    addr: SocketAddr,
    log: Rc<RefCell<Vec<Seen>>>,
    task: tern::JoinHandle<()>,
}

impl PortServer {
    fn start(script: Script) -> PortServer {
        let sock = Rc::new(UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let addr = sock.local_addr().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let task = tern::spawn({
            let log = log.clone();
            async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let (q, from) = reply::next_query(&sock, &mut buf).await;
                    log.borrow_mut().push(Seen {
                        port: from.port(),
                        id: q.header.id,
                    });
                    let actions = script(&q);
                    let sock = sock.clone();
                    drop(tern::spawn(async move {
                        for a in actions {
                            let m = match a {
                                Send::Answer(ip) => answer(&q, None, ip),
                                Send::Forged { name, ip } => answer(&q, Some(name), ip),
                                Send::Delay(d) => {
                                    tern::time::sleep(d).await;
                                    continue;
                                }
                            };
                            let _ = sock.send_to(&m.encode(), from).await;
                        }
                    }));
                }
            }
        });
        PortServer { addr, log, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.borrow().clone()
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A reply to `q` with one A record `ip`; the question (and the record's
/// owner) is `name` if given, else the query's.
fn answer(q: &Message, name: Option<&str>, ip: Ipv4Addr) -> Message {
    let mut m = reply::reply_to(q);
    if let Some(name) = name {
        m.questions[0].name = name.parse::<Name>().unwrap();
    }
    m.answers.push(Record {
        name: m.questions[0].name.clone(),
        ttl: 60,
        data: RData::A(ip),
    });
    m
}

fn answering(ip: Ipv4Addr) -> Script {
    Rc::new(move |_| vec![Send::Answer(ip)])
}

fn config(server: SocketAddr, udp_max_queries: u32) -> Config {
    let mut c = Config::default();
    c.nameservers = vec![server];
    c.use_hosts = false;
    c.cache_size = 0;
    c.attempts = 1;
    c.timeout = Duration::from_secs(2);
    c.udp_max_queries = udp_max_queries;
    c
}

fn a_addrs(records: &[Record]) -> Vec<Ipv4Addr> {
    records
        .iter()
        .filter_map(|r| match r.data {
            RData::A(ip) => Some(ip),
            _ => None,
        })
        .collect()
}

/// `n` lookups one after another; the ports the server saw, in order.
async fn sequential_ports(r: &Resolver, server: &PortServer, n: usize) -> Vec<u16> {
    for i in 0..n {
        let got = r
            .lookup(&format!("h{i}.test."), RecordType::A)
            .await
            .unwrap();
        assert_eq!(a_addrs(&got), [Ipv4Addr::new(192, 0, 2, 1)]);
    }
    let seen = server.seen();
    assert_eq!(seen.len(), n, "one query per lookup");
    seen.iter().map(|s| s.port).collect()
}

const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

#[tern::test]
async fn default_gives_every_query_a_new_port_without_a_new_socket_each() {
    let server = PortServer::start(answering(IP));
    let r = Resolver::new(config(server.addr, 1));
    assert_eq!(Config::default().udp_max_queries, 1);
    let before = tern::current_metrics().unwrap().io_sources;
    let ports = sequential_ports(&r, &server, 24).await;
    let distinct: HashSet<u16> = ports.iter().copied().collect();
    // Random ephemeral ports: two of 24 may meet by chance (p ~ 1%), three
    // practically never; one port for all (the reused-socket path) fails.
    assert!(distinct.len() >= 22, "ports repeat: {ports:?}");
    // The port just released may come back by chance (p ~ 1/28000 per
    // pair): allow one such pair.
    let same_as_previous = ports.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(same_as_previous <= 1, "a port was kept: {ports:?}");
    // One socket did it all: the pool keeps it and moves it to a new port.
    let after = tern::current_metrics().unwrap().io_sources;
    assert_eq!(
        after,
        before + 1,
        "a socket per query instead of one reused"
    );
    // IDs are fresh too.
    let ids: HashSet<u16> = server.seen().iter().map(|s| s.id).collect();
    assert!(ids.len() >= 23);
}

#[tern::test]
async fn queries_in_flight_together_have_different_ports() {
    let server = PortServer::start(Rc::new(|_| {
        vec![Send::Delay(Duration::from_millis(20)), Send::Answer(IP)]
    }));
    let r = Resolver::new(config(server.addr, 1));
    for round in 0..2 {
        let lookups: Vec<_> = (0..8)
            .map(|i| {
                let r = r.clone();
                tern::spawn(async move {
                    r.lookup(&format!("r{round}-{i}.test."), RecordType::A)
                        .await
                })
            })
            .collect();
        for l in lookups {
            assert_eq!(a_addrs(&l.await.unwrap().unwrap()), [IP]);
        }
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 16);
    for round in seen.chunks(8) {
        let ports: HashSet<u16> = round.iter().map(|s| s.port).collect();
        assert_eq!(ports.len(), 8, "two queries in flight shared a port");
    }
    // The second round reused the first round's sockets on new ports.
    let all: HashSet<u16> = seen.iter().map(|s| s.port).collect();
    assert!(all.len() >= 15, "{seen:?}");
}

#[tern::test]
async fn zero_keeps_one_socket_and_its_port() {
    let server = PortServer::start(answering(IP));
    let r = Resolver::new(config(server.addr, 0));
    let before = tern::current_metrics().unwrap().io_sources;
    let ports = sequential_ports(&r, &server, 12).await;
    assert!(
        ports.iter().all(|&p| p == ports[0]),
        "the port moved: {ports:?}"
    );
    assert_eq!(tern::current_metrics().unwrap().io_sources, before + 1);
    let ids: HashSet<u16> = server.seen().iter().map(|s| s.id).collect();
    assert!(ids.len() >= 11, "IDs are still random per query");
}

#[tern::test]
async fn three_moves_the_port_every_third_query() {
    let server = PortServer::start(answering(IP));
    let r = Resolver::new(config(server.addr, 3));
    let ports = sequential_ports(&r, &server, 21).await;
    let groups: Vec<&[u16]> = ports.chunks(3).collect();
    for g in &groups {
        assert!(
            g.iter().all(|&p| p == g[0]),
            "moved within a group: {ports:?}"
        );
    }
    let distinct: HashSet<u16> = groups.iter().map(|g| g[0]).collect();
    assert!(distinct.len() >= 6, "the port did not move: {ports:?}");
}

/// The peer of the IPv4 UDP socket bound to local port `port`, from
/// `/proc/net/udp` (`0.0.0.0:0` for an unconnected one); `None` if no
/// socket has that port.
fn peer_of(port: u16) -> Option<SocketAddr> {
    let table = std::fs::read_to_string("/proc/net/udp").expect("reading /proc/net/udp");
    let addr = |hex: &str| -> SocketAddr {
        let (ip, port) = hex.split_once(':').expect("address:port");
        let ip = u32::from_str_radix(ip, 16).expect("hex address");
        let port = u16::from_str_radix(port, 16).expect("hex port");
        // The kernel prints the address in host byte order of its
        // network-order bytes.
        SocketAddr::from((Ipv4Addr::from(ip.swap_bytes()), port))
    };
    table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace().skip(1);
        let local = addr(cols.next()?);
        let remote = addr(cols.next()?);
        (local.port() == port).then_some(remote)
    })
}

/// A port that carries more than one query is connected to the server
/// (its sends need no route lookup, and the kernel takes datagrams from
/// the server only); after it moves, the new port is connected again.
#[tern::test]
async fn a_port_for_several_queries_is_connected_to_the_server() {
    let server = PortServer::start(answering(IP));
    let r = Resolver::new(config(server.addr, 0));
    let ports = sequential_ports(&r, &server, 3).await;
    assert_eq!(peer_of(ports[0]), Some(server.addr), "udp_max_queries = 0");

    let server = PortServer::start(answering(IP));
    let r = Resolver::new(config(server.addr, 4));
    let ports = sequential_ports(&r, &server, 6).await;
    assert_ne!(ports[3], ports[4], "the port moved after four queries");
    assert_eq!(peer_of(ports[5]), Some(server.addr), "the new port");
    assert_eq!(peer_of(ports[0]), None, "the first port was given back");

    // One query per port: the port is bound by the send alone, and given
    // back once the reply is in.
    let server = PortServer::start(answering(IP));
    let r = Resolver::new(config(server.addr, 1));
    let ports = sequential_ports(&r, &server, 2).await;
    assert_eq!(peer_of(ports[1]), None, "udp_max_queries = 1");
}

#[tern::test]
async fn late_reply_on_a_reused_socket_is_not_the_next_answer() {
    // The first query is answered, then a late datagram follows on the same
    // port: the first query's ID with the *next* query's question and a
    // wrong address. The second query's real answer comes 20 ms later, so
    // the late datagram is read first.
    let bad = Ipv4Addr::new(203, 0, 113, 66);
    let good = Ipv4Addr::new(192, 0, 2, 2);
    let server = PortServer::start(Rc::new(move |q| {
        if q.questions[0].name.to_string() == "first.test." {
            vec![
                Send::Answer(IP),
                Send::Forged {
                    name: "second.test.",
                    ip: bad,
                },
            ]
        } else {
            vec![Send::Delay(Duration::from_millis(20)), Send::Answer(good)]
        }
    }));
    for max in [0, 2] {
        let r = Resolver::new(config(server.addr, max));
        let first = r.lookup("first.test.", RecordType::A).await.unwrap();
        assert_eq!(a_addrs(&first), [IP]);
        // Let the late datagram land in the socket's queue.
        tern::time::sleep(Duration::from_millis(10)).await;
        let second = r.lookup("second.test.", RecordType::A).await.unwrap();
        assert_eq!(a_addrs(&second), [good], "udp_max_queries = {max}");
        let seen = server.seen();
        let (a, b) = (&seen[seen.len() - 2], &seen[seen.len() - 1]);
        assert_eq!(
            a.port, b.port,
            "the socket was reused (udp_max_queries = {max})"
        );
        assert_ne!(a.id, b.id, "a fresh ID per query");
    }
}

/// A server on a std thread answering every query with [`IP`] until
/// `stop` is set.
fn thread_server(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> SocketAddr {
    reply::answering_thread(IP, stop)
}

#[test]
fn a_pooled_socket_is_never_used_by_another_runtime() {
    // Each block_on is a new runtime, asking the same server: the socket
    // the first one pooled is registered with that runtime's epoll and
    // must not be used by the next (its reply would never wake the next
    // runtime: a timeout).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = thread_server(stop.clone());
    for max in [1, 0] {
        for round in 0..3 {
            let got = tern::block_on(async move {
                let mut c = config(server, max);
                c.timeout = Duration::from_millis(500);
                Resolver::new(c)
                    .lookup(&format!("rt{round}.test."), RecordType::A)
                    .await
            });
            assert_eq!(
                a_addrs(&got.unwrap()),
                [IP],
                "round {round}, udp_max_queries = {max}"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tern::test]
async fn identical_lookups_in_flight_share_one_query() {
    let server = PortServer::start(Rc::new(|_| {
        vec![Send::Delay(Duration::from_millis(30)), Send::Answer(IP)]
    }));
    let r = Resolver::new(config(server.addr, 1));
    let spawn = |name: &'static str, rtype: RecordType| {
        let r = r.clone();
        tern::spawn(async move { r.lookup(name, rtype).await })
    };
    let same: Vec<_> = (0..5).map(|_| spawn("same.test.", RecordType::A)).collect();
    let other_type = spawn("same.test.", RecordType::AAAA);
    let other_name = spawn("other.test.", RecordType::A);
    for l in same {
        assert_eq!(a_addrs(&l.await.unwrap().unwrap()), [IP]);
    }
    // The server answers AAAA queries with an A record, which is no AAAA.
    assert!(other_type.await.unwrap().is_err());
    assert_eq!(a_addrs(&other_name.await.unwrap().unwrap()), [IP]);
    assert_eq!(
        server.seen().len(),
        3,
        "one query per distinct name and type"
    );
}

#[tern::test]
async fn a_cancelled_leader_does_not_strand_the_lookups_sharing_its_query() {
    let server = PortServer::start(Rc::new(|_| {
        vec![Send::Delay(Duration::from_millis(30)), Send::Answer(IP)]
    }));
    let r = Resolver::new(config(server.addr, 1));
    let leader = tern::spawn({
        let r = r.clone();
        async move { r.lookup("shared.test.", RecordType::A).await }
    });
    tern::yield_now().await;
    let follower = tern::spawn({
        let r = r.clone();
        async move { r.lookup("shared.test.", RecordType::A).await }
    });
    tern::yield_now().await;
    leader.abort();
    let got = tern::time::timeout(Duration::from_secs(2), follower)
        .await
        .expect("the follower was stranded");
    assert_eq!(a_addrs(&got.unwrap().unwrap()), [IP]);
    // The follower asked again itself once the leader was gone.
    assert_eq!(server.seen().len(), 2);
}

#[tern::test]
async fn one_socket_carries_many_queries_in_flight_and_each_gets_its_own_answer() {
    // udp_max_queries = 0: 48 lookups share one socket. The server answers
    // each after a delay that sends later queries' replies first, and
    // before each real answer sends one with the query's ID but another
    // query's question (which the channel must not hand to it).
    let server = PortServer::start(Rc::new(|q| {
        let name = q.questions[0].name.to_string();
        let i: u64 = name
            .trim_start_matches('m')
            .trim_end_matches(".test.")
            .parse()
            .unwrap_or(0);
        let ip = Ipv4Addr::new(10, 0, 0, i as u8);
        vec![
            Send::Delay(Duration::from_millis(40 - i % 40)),
            Send::Forged {
                name: if i == 0 { "m1.test." } else { "m0.test." },
                ip: Ipv4Addr::new(203, 0, 113, 1),
            },
            Send::Answer(ip),
        ]
    }));
    let r = Resolver::new(config(server.addr, 0));
    let before = tern::current_metrics().unwrap().io_sources;
    let lookups: Vec<_> = (0..48u8)
        .map(|i| {
            let r = r.clone();
            tern::spawn(async move { r.lookup(&format!("m{i}.test."), RecordType::A).await })
        })
        .collect();
    for (i, l) in lookups.into_iter().enumerate() {
        let got = l.await.unwrap().unwrap();
        assert_eq!(a_addrs(&got), [Ipv4Addr::new(10, 0, 0, i as u8)], "m{i}");
    }
    assert_eq!(
        tern::current_metrics().unwrap().io_sources,
        before + 1,
        "the queries in flight did not share one socket"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 48);
    assert!(seen.iter().all(|s| s.port == seen[0].port));
    let ids: HashSet<u16> = seen.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 48, "IDs in flight on one socket must differ");
}

#[tern::test]
async fn cancelling_the_query_that_reads_the_socket_strands_no_other() {
    // The first lookup on a shared socket becomes its reader; cancel it
    // while all three wait. The others must still get their answers.
    let server = PortServer::start(Rc::new(|_| {
        vec![Send::Delay(Duration::from_millis(30)), Send::Answer(IP)]
    }));
    let r = Resolver::new(config(server.addr, 0));
    let spawn = |name: &'static str| {
        let r = r.clone();
        tern::spawn(async move { r.lookup(name, RecordType::A).await })
    };
    let first = spawn("c1.test.");
    let second = spawn("c2.test.");
    let third = spawn("c3.test.");
    // Let all three send and wait (the server runs in this runtime too).
    for _ in 0..10_000 {
        if server.seen().len() == 3 {
            break;
        }
        tern::yield_now().await;
    }
    assert_eq!(server.seen().len(), 3);
    first.abort();
    for l in [second, third] {
        let got = tern::time::timeout(Duration::from_secs(1), l)
            .await
            .expect("a lookup was stranded when the reader left");
        assert_eq!(a_addrs(&got.unwrap().unwrap()), [IP]);
    }
}

#[tern::test]
async fn a_lookup_whose_task_is_busy_elsewhere_delays_no_other_lookup() {
    // udp_max_queries = 0: both lookups share one socket. The first task
    // starts a lookup that is never answered, polls it a little, then
    // sleeps while holding it (as a task in the middle of other work
    // does). The second lookup's answer comes at once and must be taken.
    let server = PortServer::start(Rc::new(|q| {
        if q.questions[0].name.to_string() == "never.test." {
            vec![]
        } else {
            vec![Send::Answer(IP)]
        }
    }));
    let r = Resolver::new(config(server.addr, 0));
    let busy = tern::spawn({
        let r = r.clone();
        async move {
            let mut stalled = Box::pin(r.lookup("never.test.", RecordType::A));
            // Poll it until it waits for its reply, then leave it alone.
            let _ = tern::time::timeout(Duration::from_millis(5), &mut stalled).await;
            tern::time::sleep(Duration::from_millis(1500)).await;
            drop(stalled);
        }
    });
    let answered = tern::time::timeout(
        Duration::from_secs(1),
        r.lookup("quick.test.", RecordType::A),
    )
    .await
    .expect("a lookup waited on another task's lookup");
    assert_eq!(a_addrs(&answered.unwrap()), [IP]);
    assert_eq!(server.seen().len(), 2);
    busy.abort();
}

#[tern::test]
async fn a_refused_port_fails_every_query_on_the_socket_at_once() {
    // The server port is closed: each query draws an ICMP port
    // unreachable, which an unconnected socket hears only through
    // IP_RECVERR. With early receives off (a slow server earlier made them
    // miss), the error reaches the channel's driver or, if a send comes
    // first, that send; either way both lookups sharing the socket must
    // fail with ConnectionRefused at once, not wait out the 2 s timeout.
    let slow = PortServer::start(Rc::new(|_| {
        vec![Send::Delay(Duration::from_millis(3)), Send::Answer(IP)]
    }));
    let warm = Resolver::new(config(slow.addr, 0));
    for i in 0..16 {
        warm.lookup(&format!("w{i}.test."), RecordType::A)
            .await
            .unwrap();
    }
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let r = Resolver::new(config(closed, 0));
    let first = tern::spawn({
        let r = r.clone();
        async move { r.lookup("x.test.", RecordType::A).await }
    });
    // The second query leaves a few task polls later, in a send of its own:
    // the first one's ICMP error (made while its send ran, on loopback) is
    // then still pending on the socket, and that send takes it.
    for _ in 0..3 {
        tern::yield_now().await;
    }
    let second = tern::spawn({
        let r = r.clone();
        async move { r.lookup("y.test.", RecordType::A).await }
    });
    for l in [first, second] {
        let got = tern::time::timeout(Duration::from_secs(1), l)
            .await
            .expect("a query waited out its timeout after ICMP port unreachable")
            .unwrap();
        match got {
            Err(tern::dns::Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}")
            }
            other => panic!("expected ConnectionRefused, got {other:?}"),
        }
    }
}

#[test]
fn a_runtime_closes_its_pooled_sockets_when_it_ends() {
    let port = tern::block_on(async {
        let server = PortServer::start(answering(IP));
        let r = Resolver::new(config(server.addr, 0));
        let got = r.lookup("gone.test.", RecordType::A).await.unwrap();
        assert_eq!(a_addrs(&got), [IP]);
        server.seen()[0].port
    });
    // With udp_max_queries = 0 a pooled socket keeps its port for as long
    // as it lives: the port is free again only if the socket was closed
    // with its runtime (not left open on this thread, holding the dead
    // runtime's reactor too).
    let rebound = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port));
    assert!(
        rebound.is_ok(),
        "port {port} still held after its runtime ended: {rebound:?}"
    );
}

type Lookup =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Record>, tern::dns::Error>>>>;

thread_local! {
    /// A lookup that [`DropVictim`]'s waker drops when woken.
    static VICTIM: RefCell<Option<Lookup>> = const { RefCell::new(None) };
}

/// A waker that runs code: it drops [`VICTIM`].
struct DropVictim;

impl std::task::Wake for DropVictim {
    fn wake(self: std::sync::Arc<Self>) {
        VICTIM.with(|v| drop(v.borrow_mut().take()));
    }
}

#[tern::test]
async fn a_waker_that_drops_another_lookup_leaves_the_socket_working() {
    // udp_max_queries = 0: one socket. Lookup A is polled with a waker
    // that drops lookup R (another query on that socket) when A's reply is
    // handed out. R must be withdrawn cleanly: the socket keeps serving,
    // and nothing of R lingers.
    let server = PortServer::start(Rc::new(|q| {
        if q.questions[0].name.to_string() == "r.test." {
            vec![]
        } else {
            vec![Send::Delay(Duration::from_millis(5)), Send::Answer(IP)]
        }
    }));
    let r = Resolver::new(config(server.addr, 0));
    let tasks_before = tern::current_metrics().unwrap().tasks;
    let mut victim: Lookup = Box::pin({
        let r = r.clone();
        async move { r.lookup("r.test.", RecordType::A).await }
    });
    let mut a: Lookup = Box::pin({
        let r = r.clone();
        async move { r.lookup("a.test.", RecordType::A).await }
    });
    let waker = std::task::Waker::from(std::sync::Arc::new(DropVictim));
    let mut got = None;
    for _ in 0..100_000 {
        if VICTIM.with(|v| v.borrow().is_none()) && got.is_none() && server.seen().is_empty() {
            // R is polled with this task's waker until it is in flight.
            std::future::poll_fn(|cx| {
                let _ = victim.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
        }
        let mut cx = std::task::Context::from_waker(&waker);
        if let std::task::Poll::Ready(res) = a.as_mut().poll(&mut cx) {
            got = Some(res);
            break;
        }
        if server.seen().len() == 2 && VICTIM.with(|v| v.borrow().is_none()) {
            // Both queries are out: hand R to the waker.
            let placeholder: Lookup = Box::pin(std::future::pending());
            VICTIM.with(|v| *v.borrow_mut() = Some(std::mem::replace(&mut victim, placeholder)));
        }
        tern::yield_now().await;
    }
    assert_eq!(
        a_addrs(&got.expect("lookup A never finished").unwrap()),
        [IP]
    );
    assert!(
        VICTIM.with(|v| v.borrow().is_none()),
        "the waker did not run"
    );
    // The socket still serves, and R left nothing behind (no query, so no
    // driver task kept alive for it).
    let e = r.lookup("e.test.", RecordType::A).await.unwrap();
    assert_eq!(a_addrs(&e), [IP]);
    for _ in 0..10_000 {
        if tern::current_metrics().unwrap().tasks == tasks_before {
            break;
        }
        tern::yield_now().await;
    }
    assert_eq!(tern::current_metrics().unwrap().tasks, tasks_before);
}

thread_local! {
    /// Lookups that [`counting_waker`]'s clones drop, one each time the
    /// armed count of their drops runs out.
    static DROP_VICTIMS: RefCell<Vec<Lookup>> = const { RefCell::new(Vec::new()) };
    /// Drops of armed clones left before the next victim goes; 0: disarmed.
    static FIRE_IN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The count armed again once a victim goes, if another is left.
    static REFIRE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A waker (no-op on wake) whose every clone, when dropped while armed,
/// counts down [`FIRE_IN`] and drops the first of [`DROP_VICTIMS`] when it
/// reaches 0: code that a waker's drop runs, wherever the clone was kept.
fn counting_waker() -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    fn drop_one(_: *const ()) {
        let left = FIRE_IN.get();
        if left == 0 {
            return;
        }
        FIRE_IN.set(left - 1);
        if left == 1 {
            let (victim, more) = DROP_VICTIMS.with(|v| {
                let mut v = v.borrow_mut();
                let victim = (!v.is_empty()).then(|| v.remove(0));
                (victim, !v.is_empty())
            });
            if more {
                FIRE_IN.set(REFIRE.get());
            }
            drop(victim);
        }
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, drop_one);
    // SAFETY: the vtable's functions ignore the data pointer.
    unsafe { std::task::Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

#[tern::test]
async fn lookups_dropped_by_wakers_inside_the_channel_are_withdrawn() {
    // Three lookups share a port (udp_max_queries = 3, so the port is full
    // and no later query comes to poll the channel) that the server never
    // answers; their channel has a driver. Lookups V and T were polled
    // with a waker whose drops drop T, then U. Dropping V drops that
    // waker's clones, one of them while the channel's state is borrowed
    // (V's ticket withdraws its query): T's ticket is then queued for
    // withdrawal, and withdrawing it drops T's clones, which may drop U
    // the same way. Every query must still be withdrawn, so the channel
    // settles and its driver ends, whichever clones' drops drop T and U.
    let server = PortServer::start(Rc::new(|_| vec![]));
    let tasks_before = tern::current_metrics().unwrap().tasks;
    for fire_at in 1..=8 {
        for refire in 1..=8 {
            let r = Resolver::new(config(server.addr, 3));
            let seen_before = server.seen().len();
            let lookup = |name: &'static str| -> Lookup {
                let r = r.clone();
                Box::pin(async move { r.lookup(name, RecordType::A).await })
            };
            let (mut v, mut t, mut u) = (lookup("v.test."), lookup("t.test."), lookup("u.test."));
            let waker = counting_waker();
            for _ in 0..10_000 {
                if server.seen().len() == seen_before + 3 {
                    break;
                }
                std::future::poll_fn(|cx| {
                    assert!(u.as_mut().poll(cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
                let mut cx = std::task::Context::from_waker(&waker);
                assert!(v.as_mut().poll(&mut cx).is_pending());
                assert!(t.as_mut().poll(&mut cx).is_pending());
                tern::yield_now().await;
            }
            assert_eq!(server.seen().len(), seen_before + 3, "all queries out");
            // Let the driver run and wait for the socket.
            for _ in 0..10 {
                tern::yield_now().await;
            }
            DROP_VICTIMS.with(|d| d.borrow_mut().extend([t, u]));
            REFIRE.set(refire);
            FIRE_IN.set(fire_at);
            drop(v);
            FIRE_IN.set(0);
            // What no clone's drop dropped goes now.
            let left = DROP_VICTIMS.with(|d| std::mem::take(&mut *d.borrow_mut()));
            drop(left);
            drop(waker);
            for _ in 0..10_000 {
                if tern::current_metrics().unwrap().tasks == tasks_before {
                    break;
                }
                tern::yield_now().await;
            }
            assert_eq!(
                tern::current_metrics().unwrap().tasks,
                tasks_before,
                "a channel's driver outlived its queries (drops {fire_at}, {refire})"
            );
        }
    }
}

#[tern::test]
async fn a_lookup_left_unpolled_does_not_make_others_of_its_name_time_out() {
    // A lookup is polled until its query is out, then held and never
    // polled again (a future kept after a select, say). A lookup of the
    // same name that starts while it is in flight follows it, but must
    // stop waiting once the held lookup's deadline has passed (it will
    // never finish) and ask itself, within its own later deadline; lookups
    // that start after that must not wait for it at all. The server
    // answers at once.
    let server = PortServer::start(answering(IP));
    let mut c = config(server.addr, 1);
    c.timeout = Duration::from_millis(300);
    let r = Resolver::new(c);
    let mut held: Lookup = Box::pin({
        let r = r.clone();
        async move { r.lookup("held.test.", RecordType::A).await }
    });
    for _ in 0..10_000 {
        if !server.seen().is_empty() {
            break;
        }
        std::future::poll_fn(|cx| {
            assert!(held.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        tern::yield_now().await;
    }
    assert_eq!(server.seen().len(), 1, "the held lookup's query is out");
    // Halfway through the held lookup's 300 ms: this one follows it, with
    // 150 ms of its own left after the held lookup's deadline.
    tern::time::sleep(Duration::from_millis(150)).await;
    let follower = r.lookup("held.test.", RecordType::A).await;
    assert_eq!(
        a_addrs(&follower.expect("a follower waited for a lookup never polled again")),
        [IP]
    );
    assert_eq!(server.seen().len(), 2, "the follower asked itself");
    for i in 0..3 {
        let got = r.lookup("held.test.", RecordType::A).await;
        assert_eq!(
            a_addrs(&got.expect("a lookup waited for one that was never polled again")),
            [IP],
            "lookup {i}"
        );
    }
    drop(held);
}

#[tern::test]
async fn a_leader_on_a_shared_socket_dropped_at_every_point_strands_nothing() {
    // udp_max_queries = 0 and 3: one port carries the queries, so the
    // channel's driver runs. The victim leads the query for d.test, which
    // a second lookup follows, while a third lookup of another name shares
    // the socket. The victim is dropped after n polls, for every n: the
    // others still get their answers, and nothing (driver task, socket)
    // is left once they are done.
    let server = PortServer::start(Rc::new(|_| {
        vec![Send::Delay(Duration::from_millis(3)), Send::Answer(IP)]
    }));
    let base = tern::current_metrics().unwrap();
    for max in [0, 3] {
        let mut completed = false;
        for stop_after in 1..200u32 {
            let r = Resolver::new(config(server.addr, max));
            let mut victim: Lookup = Box::pin({
                let r = r.clone();
                async move { r.lookup("d.test.", RecordType::A).await }
            });
            let mut polls = 0;
            let mut others = Vec::new();
            let done = std::future::poll_fn(|cx| {
                polls += 1;
                let polled = victim.as_mut().poll(cx);
                if others.is_empty() {
                    for name in ["d.test.", "o.test."] {
                        let r = r.clone();
                        others.push(tern::spawn(
                            async move { r.lookup(name, RecordType::A).await },
                        ));
                    }
                }
                match polled {
                    std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
                    std::task::Poll::Pending if polls >= stop_after => std::task::Poll::Ready(None),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            })
            .await;
            drop(victim);
            for l in others {
                let got = tern::time::timeout(Duration::from_secs(1), l)
                    .await
                    .unwrap_or_else(|_| panic!("a lookup was stranded ({max}, {stop_after})"));
                assert_eq!(a_addrs(&got.unwrap().unwrap()), [IP]);
            }
            if let Some(v) = done {
                assert_eq!(a_addrs(&v.unwrap()), [IP]);
                println!(
                    "victim completed after {stop_after} polls (udp_max_queries = {max}); server saw {}",
                    server.seen().len()
                );
                completed = true;
            }
            tern::dns::close_idle_sockets();
            for _ in 0..10_000 {
                if tern::current_metrics().unwrap().tasks == base.tasks {
                    break;
                }
                tern::yield_now().await;
            }
            let now = tern::current_metrics().unwrap();
            assert_eq!(now.tasks, base.tasks, "tasks ({max}, {stop_after})");
            assert_eq!(
                now.io_sources, base.io_sources,
                "sockets ({max}, {stop_after})"
            );
            if completed {
                break;
            }
        }
        assert!(
            completed,
            "the victim never completed (udp_max_queries = {max})"
        );
    }
}

/// Counts the polls of the future it wraps.
struct Counted<F> {
    polls: Rc<std::cell::Cell<usize>>,
    inner: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for Counted<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

/// Spawns a task that makes `n` A lookups one after another
/// (`{prefix}-{i}.test.`, each answered with `IP`), its polls counted in
/// `polls`.
fn counted_lookups(
    r: &Rc<Resolver>,
    polls: &Rc<std::cell::Cell<usize>>,
    prefix: String,
    n: usize,
) -> tern::JoinHandle<()> {
    let r = r.clone();
    tern::spawn(Counted {
        polls: polls.clone(),
        inner: Box::pin(async move {
            for i in 0..n {
                let got = r
                    .lookup(&format!("{prefix}-{i}.test."), RecordType::A)
                    .await
                    .unwrap();
                assert_eq!(a_addrs(&got), [IP]);
            }
        }),
    })
}

/// A lookup alone on its socket reads its reply in its own task, and then
/// does not wake that task again: lookups one after another cost one poll
/// each (the poll that takes a reply sends the next query), plus the
/// first, with a fresh port per query and on a socket kept for many
/// queries alike (with no other task ready a query does not wait for a
/// turn). A lookup that woke itself with its own reply cost one more,
/// empty poll of the whole lookup's future every time, and so did a
/// query on a kept socket that yielded before it left.
#[tern::test]
async fn a_lookup_reading_its_own_reply_does_not_wake_itself() {
    const N: usize = 16;
    let server = PortServer::start(answering(IP));
    for max in [1, 0] {
        let r = Rc::new(Resolver::new(config(server.addr, max)));
        let polls = Rc::new(std::cell::Cell::new(0));
        let task = counted_lookups(&r, &polls, format!("w{max}"), N);
        tern::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("lookups finish")
            .unwrap();
        // Anything still queued for the finished task would show here.
        for _ in 0..8 {
            tern::yield_now().await;
        }
        assert!(
            polls.get() <= N + 2,
            "udp_max_queries = {max}: {} polls for {N} lookups one after another",
            polls.get()
        );
    }
}

/// Lookups sharing one socket, several in flight: the channel's driver
/// sends what they queue after the other ready tasks have run, so a
/// lookup's task is polled once per lookup (the poll that takes a reply
/// starts the next lookup) and no query waits for a turn of its own. A
/// query that yielded before it left cost each lookup a second poll of its
/// whole future.
#[tern::test]
async fn lookups_on_a_driven_socket_are_polled_once_each() {
    const TASKS: usize = 8;
    const EACH: usize = 16;
    let server = PortServer::start(answering(IP));
    let r = Rc::new(Resolver::new(config(server.addr, 0)));
    let polls = Rc::new(std::cell::Cell::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| counted_lookups(&r, &polls, format!("d{t}"), EACH))
        .collect();
    for task in tasks {
        tern::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("lookups finish")
            .unwrap();
    }
    let lookups = TASKS * EACH;
    // One poll per lookup and the first of each task, and one for each
    // task's first query, started before the driver ran (it starts with
    // the second query in flight) and so yielded; slack for a few more.
    // Yielding before every query made it 264.
    assert!(
        polls.get() <= lookups + 4 * TASKS,
        "{} polls for {lookups} lookups in {TASKS} tasks",
        polls.get()
    );
}

/// Queries that lookups start in one pass of the run queue, on a socket
/// whose driver runs, leave together in one `sendmmsg` after the pass.
/// Behind each lookup a task looks at the server's socket: no query may
/// be there yet. On loopback every datagram of the send is in the
/// server's queue when the call returns, so the next look finds them all.
/// The server is a plain socket the test reads.
#[tern::test]
async fn queries_started_together_on_a_driven_socket_leave_in_one_send() {
    const K: usize = 12;
    let server = Rc::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    server.set_nonblocking(true).unwrap();
    let r = Rc::new(Resolver::new(config(server.local_addr().unwrap(), 0)));
    let spawn_lookup = |name: String| {
        let r = r.clone();
        tern::spawn(async move { r.lookup(&name, RecordType::A).await })
    };
    fn drain(server: &std::net::UdpSocket) -> usize {
        let mut buf = [0u8; 512];
        let mut n = 0;
        while server.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    }
    // The queries arrived, read between turns until `n` have (a bounded
    // number of turns).
    async fn arrived(server: &std::net::UdpSocket, n: usize) -> usize {
        let mut got = 0;
        for _ in 0..1000 {
            got += drain(server);
            if got >= n {
                break;
            }
            tern::yield_now().await;
        }
        got
    }
    // Two lookups in flight on the socket bring its driver.
    let warm: Vec<_> = (0..2)
        .map(|i| spawn_lookup(format!("warm{i}.test.")))
        .collect();
    assert_eq!(arrived(&server, 2).await, 2);
    let mut lookups = Vec::new();
    let mut looks = Vec::new();
    for i in 0..K {
        lookups.push(spawn_lookup(format!("q{i}.test.")));
        let server = server.clone();
        looks.push(tern::spawn(async move { drain(&server) }));
    }
    let mut seen = Vec::new();
    for look in looks {
        seen.push(look.await.unwrap());
    }
    assert_eq!(seen, [0; K], "queries at the server behind each lookup");
    assert_eq!(arrived(&server, K).await, K);
    drop(lookups);
    drop(warm);
}

/// A query on a port of its own leaves at once when its lookup is the
/// only task ready, but after the other ready tasks when there are any,
/// so the sends of one pass go back to back. Here a task queued behind
/// the lookup looks at the server's socket: the query must not be there
/// yet. The server is a plain socket the test drives, so nothing else
/// runs in between.
#[tern::test]
async fn a_fresh_port_query_waits_for_the_other_ready_tasks() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let addr = server.local_addr().unwrap();
    let r = Rc::new(Resolver::new(config(addr, 1)));
    let lookup = tern::spawn({
        let r = r.clone();
        async move { r.lookup("order.test.", RecordType::A).await }
    });
    let server = Rc::new(server);
    let early = tern::spawn({
        let server = server.clone();
        async move {
            let mut buf = [0u8; 512];
            server.recv_from(&mut buf).map(|(n, _)| n)
        }
    });
    let seen = early.await.unwrap();
    assert!(
        seen.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the query left before the task queued behind its lookup ran: {seen:?}"
    );
    // Now it leaves; answer it.
    let (q, from) = next_query_by_hand(&server).await;
    server
        .send_to(&answer(&q, None, IP).encode(), from)
        .unwrap();
    let got = lookup.await.unwrap().unwrap();
    assert_eq!(a_addrs(&got), [IP]);
}

/// The server socket of a test that drives it by hand: the next query,
/// waiting (by yielding) at most 5 s.
async fn next_query_by_hand(server: &std::net::UdpSocket) -> (Message, SocketAddr) {
    let mut buf = [0u8; 512];
    let (n, from) = tern::time::timeout(Duration::from_secs(5), async {
        loop {
            match server.recv_from(&mut buf) {
                Ok(got) => return got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => tern::yield_now().await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the query leaves");
    (Message::decode(&buf[..n]).unwrap(), from)
}

/// `n` datagrams to `to` from the server's address that answer no query in
/// flight: `q`'s answer under other IDs. Past the receiver's buffer the
/// kernel drops them; the sends succeed.
fn send_strays(server: &std::net::UdpSocket, q: &Message, to: SocketAddr, n: u16) {
    for k in 1..=n {
        let mut stray = answer(q, None, Ipv4Addr::new(203, 0, 113, 9));
        stray.header.id = q.header.id.wrapping_add(k);
        server.send_to(&stray.encode(), to).unwrap();
    }
}

/// A query on a port of its own reads one datagram at a time and stops at
/// its reply, and giving the port back marks the socket not readable
/// without a receive that finds the queue empty. So stray datagrams
/// queued behind the reply stay in the socket for the next query on it,
/// which must read past them to its own reply (raised by that reply's
/// edge) instead of waiting for an edge that never comes. The server is a
/// plain socket the test drives: the reply and the stray are both queued
/// before the lookup's task runs again.
#[tern::test]
async fn a_stray_datagram_left_on_a_released_port_does_not_hide_the_next_reply() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let addr = server.local_addr().unwrap();
    let r = Rc::new(Resolver::new(config(addr, 1)));
    let mut ports = Vec::new();
    for round in 0..3 {
        let lookup = tern::spawn({
            let r = r.clone();
            async move { r.lookup(&format!("s{round}.test."), RecordType::A).await }
        });
        let (q, from) = next_query_by_hand(&server).await;
        ports.push(from.port());
        server
            .send_to(&answer(&q, None, IP).encode(), from)
            .unwrap();
        // Three, so that some are still queued whether or not the next
        // query's receive right after its send takes one.
        send_strays(&server, &q, from, 3);
        let got = lookup.await.unwrap();
        assert_eq!(
            a_addrs(&got.unwrap_or_else(|e| panic!("round {round}: {e}"))),
            [IP],
            "round {round}"
        );
    }
    assert!(
        ports.windows(2).all(|w| w[0] != w[1]),
        "a new port per query: {ports:?}"
    );
}

/// Syscalls per lookup on a port of its own, against a server on another
/// thread: the send, the receive of the reply, the wait, and giving the
/// port back. A receive right after the send saves the wait when the reply
/// is already in and costs one more when it is not; it is tried while
/// such receives have been finding replies lately (at least about one in
/// three), so it adds a third of a syscall at most. A port given back
/// with its socket still marked readable costs a receive that only finds
/// the queue empty on every lookup: five.
#[tern::test]
async fn a_fresh_port_lookup_makes_at_most_four_syscalls() {
    const N: u64 = 64;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = thread_server(stop.clone());
    let r = Resolver::new(config(server, 1));
    // Warm: the socket is made and registered.
    r.lookup("warm.test.", RecordType::A).await.unwrap();
    let before = tern::sys::syscall_count();
    for i in 0..N {
        let got = r
            .lookup(&format!("c{i}.test."), RecordType::A)
            .await
            .unwrap();
        assert_eq!(a_addrs(&got), [IP]);
    }
    let per_lookup = (tern::sys::syscall_count() - before) as f64 / N as f64;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        per_lookup <= 4.5,
        "{per_lookup} syscalls per lookup on a fresh port"
    );
}

/// A burst that fills the socket's receive buffer, queued behind a reply
/// before the lookup's task runs again: the lookup reads its reply and
/// stops, and the port is given back marked not readable. The kernel
/// holds the memory of datagrams read while more wait in its reader queue,
/// so the buffer stays full: the next replies are dropped and raise no
/// edge, and with readiness cleared nobody reads the queue again. The
/// channel must recover: the lookup that meets the full buffer times out,
/// its channel is then drained, and the lookups after it are answered.
#[tern::test]
async fn a_burst_that_fills_the_buffer_behind_a_reply_does_not_deafen_the_port() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let addr = server.local_addr().unwrap();
    let mut c = config(addr, 1);
    c.timeout = Duration::from_millis(300);
    let r = Rc::new(Resolver::new(c));
    let mut outcomes = Vec::new();
    for round in 0..4 {
        let lookup = tern::spawn({
            let r = r.clone();
            async move { r.lookup(&format!("f{round}.test."), RecordType::A).await }
        });
        let (q, from) = next_query_by_hand(&server).await;
        server
            .send_to(&answer(&q, None, IP).encode(), from)
            .unwrap();
        if round == 0 {
            // Far more than a default receive buffer (212,992 bytes)
            // holds at several hundred bytes of kernel memory each.
            send_strays(&server, &q, from, 4000);
        }
        let got = lookup.await.unwrap();
        outcomes.push(got.map(|got| a_addrs(&got)).map_err(|e| e.to_string()));
    }
    assert_eq!(outcomes[0], Ok(vec![IP]), "round 0: {outcomes:?}");
    assert_eq!(
        outcomes[2..],
        [Ok(vec![IP]), Ok(vec![IP])],
        "the port recovers after the burst: {outcomes:?}"
    );
}
