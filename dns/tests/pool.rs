//! The pool of UDP channels a thread keeps: after a burst it keeps at most
//! 64 idle sockets, and lookups in waves reuse the sockets the last wave
//! left instead of opening new ones. One test in its own binary, so that
//! nothing else opens descriptors while it counts them.

use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

#[allow(dead_code)]
#[path = "common/reply.rs"]
mod reply;

use tern::dns::{Config, RData, Record, RecordType, Resolver};
use tern::net::UdpSocket;

const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// Answers every query after `delay`, so the lookups of a wave are in
/// flight together.
fn start_server(delay: Duration) -> SocketAddr {
    let sock = Rc::new(UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap());
    let addr = sock.local_addr().unwrap();
    drop(tern::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let (q, from) = reply::next_query(&sock, &mut buf).await;
            let sock = sock.clone();
            drop(tern::spawn(async move {
                tern::time::sleep(delay).await;
                let mut m = reply::reply_to(&q);
                m.answers.push(Record {
                    name: m.questions[0].name.clone(),
                    ttl: 60,
                    data: RData::A(IP),
                });
                let _ = sock.send_to(&m.encode(), from).await;
            }));
        }
    }));
    addr
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// `n` lookups at once, each for its own name; all must be answered.
async fn wave(r: &Resolver, tag: &str, n: usize) {
    let lookups: Vec<_> = (0..n)
        .map(|i| {
            let r = r.clone();
            let name = format!("{tag}-{i}.test.");
            tern::spawn(async move { r.lookup(&name, RecordType::A).await })
        })
        .collect();
    for l in lookups {
        assert_eq!(l.await.unwrap().unwrap().len(), 1);
    }
}

#[tern::test]
async fn the_pool_keeps_at_most_64_idle_sockets_and_reuses_them() {
    let server = start_server(Duration::from_millis(5));
    let mut c = Config::default();
    c.nameservers = vec![server];
    c.use_hosts = false;
    c.cache_size = 0;
    c.attempts = 1;
    c.timeout = Duration::from_secs(5);
    let r = Resolver::new(c);
    // Everything the runtime and the resolver open once.
    wave(&r, "warm", 1).await;
    tern::dns::close_idle_sockets();

    // A burst of 200 queries in flight needs 200 sockets (a fresh port
    // each); once it is over, 64 stay open for the next lookups.
    let before = open_fds();
    wave(&r, "burst", 200).await;
    let kept = open_fds() - before;
    assert!(kept <= 64, "{kept} sockets left open after the burst");
    assert!(kept >= 32, "only {kept} sockets kept for reuse");

    // Waves of 20 reuse the sockets the last wave left.
    tern::dns::close_idle_sockets();
    let before = open_fds();
    for w in 0..10 {
        wave(&r, &format!("wave{w}"), 20).await;
    }
    let grew = open_fds() - before;
    assert!(grew <= 22, "{grew} sockets for waves of 20 lookups");
}
