//! Review of the fresh-port receive path (`udp_max_queries = 1`): a query
//! reads datagrams one `recvfrom` at a time up to its reply, and giving the
//! port back marks the socket not readable while datagrams queued behind
//! the reply stay unread. These tests drive the server by hand (a plain
//! std socket) so that what is queued, and when, is known.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

#[allow(dead_code)]
#[path = "common/reply.rs"]
mod reply;

use tern::dns::wire::Message;
use tern::dns::{Config, RData, Record, RecordType, Resolver};

const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const STRAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn config(server: SocketAddr, timeout: Duration, udp_max_queries: u32) -> Config {
    let mut c = Config::default();
    c.nameservers = vec![server];
    c.use_hosts = false;
    c.cache_size = 0;
    c.attempts = 1;
    c.timeout = timeout;
    c.udp_max_queries = udp_max_queries;
    c
}

fn answer(q: &Message, ip: Ipv4Addr) -> Message {
    let mut m = reply::reply_to(q);
    m.answers.push(Record {
        name: m.questions[0].name.clone(),
        ttl: 60,
        data: RData::A(ip),
    });
    m
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

/// The next query on the hand-driven server socket, waiting (by yielding)
/// at most 5 s.
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

/// Datagrams from the server's address that answer no query in flight.
fn strays(server: &std::net::UdpSocket, q: &Message, to: SocketAddr, n: u16) {
    for k in 1..=n {
        let mut stray = answer(q, STRAY);
        stray.header.id = q.header.id.wrapping_add(k);
        // Past the client's receive buffer the kernel drops them; the
        // send itself succeeds.
        let _ = server.send_to(&stray.encode(), to);
    }
}

/// A burst that fills the socket's receive buffer, queued behind a reply
/// before the lookup's task runs again: the lookup reads its reply and
/// stops, and the port is given back marked not readable. The kernel
/// holds the memory of datagrams read while more wait in its reader queue,
/// so the buffer stays full: the next replies are dropped and raise no
/// edge, and with readiness cleared nobody reads the queue again. The
/// channel must recover (as it did while the port was given back still
/// readable, which read the burst off on the next query): a lookup a
/// couple of timeouts later is answered. One lookup in between may be
/// lost (its reply met the full buffer, with either receive).
#[tern::test]
async fn a_burst_that_fills_the_buffer_behind_a_reply_does_not_deafen_the_port() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let addr = server.local_addr().unwrap();
    let r = std::rc::Rc::new(Resolver::new(config(addr, Duration::from_millis(300), 1)));
    let mut outcomes = Vec::new();
    for round in 0..4 {
        let lookup = tern::spawn({
            let r = r.clone();
            async move { r.lookup(&format!("f{round}.test."), RecordType::A).await }
        });
        let (q, from) = next_query_by_hand(&server).await;
        server.send_to(&answer(&q, IP).encode(), from).unwrap();
        if round == 0 {
            // Far more than a default receive buffer (212,992 bytes)
            // holds at several hundred bytes of kernel memory each.
            strays(&server, &q, from, 4000);
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

