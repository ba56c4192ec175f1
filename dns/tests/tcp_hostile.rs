//! The TCP fallback against hostile servers on 127.0.0.1: every UDP query
//! gets a truncated reply, and the TCP side misbehaves in one way per test.
//! Each lookup must end within the configured timeout and attempts, with
//! the right answer or a clear error, and never panic.

mod scripted;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use scripted::*;
use tern::dns::wire::Message;
use tern::dns::{Error, RData, RecordType, Resolver};
use tern::net::{TcpListener, TcpStream, UdpSocket};

/// What the TCP side does with one connection.
type Behaviour = Rc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = ()>>>>;

/// A server on 127.0.0.1: UDP answers every query with TC set; each TCP
/// connection is handed to `tcp`.
struct Hostile {
    addr: SocketAddr,
    tasks: Vec<tern::JoinHandle<()>>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn start(tcp_side: Behaviour) -> Hostile {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp_task = tern::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let Ok(q) = Message::decode(&buf[..n]) else {
                continue;
            };
            let mut m = reply_to(&q);
            m.header.tc = true;
            let _ = udp.send_to(&m.encode(), from).await;
        }
    });
    let tcp_task = tern::spawn(async move {
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                continue;
            };
            drop(tern::spawn(tcp_side(stream)));
        }
    });
    Hostile {
        addr,
        tasks: vec![udp_task, tcp_task],
    }
}

/// Reads one framed query from `s`.
async fn read_query(s: &TcpStream) -> Option<Message> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).await.ok()?;
    Message::decode(&body).ok()
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// The right answer to `q`: one A record.
fn answer(q: &Message) -> Message {
    let mut m = reply_to(q);
    let owner = q.questions[0].name.to_string();
    m.answers.push(a(&owner, "192.0.2.7"));
    m
}

const TIMEOUT_MS: u64 = 300;

/// One A lookup of `host` against `server`: 300 ms per attempt, 2
/// attempts, over UDP then TCP or (`vc`) over TCP only; it must end.
async fn lookup_with(server: &Hostile, host: &str, vc: bool) -> Result<Vec<Ipv4Addr>, Error> {
    let mut c = config(&[server.addr], TIMEOUT_MS);
    c.cache_size = 0;
    c.use_vc = vc;
    let r = Resolver::new(c);
    // A hang guard, five times what the attempts allow: the test checks
    // that the lookup ends, and how, not how fast.
    let got = tern::time::timeout(Duration::from_secs(3), r.lookup(host, RecordType::A))
        .await
        .expect("lookup hung past its timeouts");
    got.map(|records| {
        records
            .into_iter()
            .filter_map(|r| match r.data {
                RData::A(ip) => Some(ip),
                _ => None,
            })
            .collect()
    })
}

/// [`lookup_with`] both ways; the two must agree on the outcome.
async fn lookup(server: &Hostile, host: &str) -> Result<Vec<Ipv4Addr>, Error> {
    let udp_first = lookup_with(server, host, false).await;
    let vc = lookup_with(server, host, true).await;
    assert_eq!(
        outcome(&udp_first),
        outcome(&vc),
        "{host}: UDP then TCP {udp_first:?}, TCP only {vc:?}"
    );
    udp_first
}

/// The addresses, or the kind of error.
fn outcome(r: &Result<Vec<Ipv4Addr>, Error>) -> String {
    match r {
        Ok(ips) => format!("{ips:?}"),
        Err(e) => format!("{e:?}").split('(').next().unwrap_or("").to_string(),
    }
}

fn behaviour<F, Fut>(f: F) -> Behaviour
where
    F: Fn(TcpStream) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Rc::new(move |s| Box::pin(f(s)))
}

#[tern::test]
async fn tcp_accepts_and_never_writes() {
    let server = start(behaviour(|s: TcpStream| async move {
        let _q = read_query(&s).await;
        std::future::pending::<()>().await;
    }));
    let got = lookup(&server, "silent.test").await;
    assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
}

#[tern::test]
async fn tcp_length_prefix_then_stall() {
    let server = start(behaviour(|s: TcpStream| async move {
        let _q = read_query(&s).await;
        let _ = s.write_all(&[0, 60]).await;
        std::future::pending::<()>().await;
    }));
    let got = lookup(&server, "stall.test").await;
    assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
}

#[tern::test]
async fn tcp_zero_or_max_length_then_close() {
    for prefix in [[0u8, 0], [0xff, 0xff], [0, 1]] {
        let server = start(behaviour(move |s: TcpStream| async move {
            let _q = read_query(&s).await;
            let _ = s.write_all(&prefix).await;
        }));
        let got = lookup(&server, "close.test").await;
        assert!(matches!(got, Err(Error::Io(_))), "{prefix:?}: {got:?}");
    }
}

/// Two framed forgeries of the answer to `q`: one with the ID off by one,
/// one with its question changed by `forge_question`.
fn forgeries(q: &Message, forge_question: impl Fn(&mut Message)) -> Vec<u8> {
    let mut wrong_id = answer(q);
    wrong_id.header.id ^= 1;
    let mut wrong_q = answer(q);
    forge_question(&mut wrong_q);
    let mut bytes = framed(&wrong_id.encode());
    bytes.extend(framed(&wrong_q.encode()));
    bytes
}

#[tern::test]
async fn tcp_wrong_id_or_question_then_the_answer() {
    let server = start(behaviour(|s: TcpStream| async move {
        let Some(q) = read_query(&s).await else {
            return;
        };
        let mut bytes = forgeries(&q, |m| m.questions[0].name = name("other.test."));
        let mut right = answer(&q);
        right.answers[0].data = RData::A("192.0.2.8".parse().unwrap());
        bytes.extend(framed(&right.encode()));
        let _ = s.write_all(&bytes).await;
        std::future::pending::<()>().await;
    }));
    let got = lookup(&server, "forged.test").await.unwrap();
    assert_eq!(got, ["192.0.2.8".parse::<Ipv4Addr>().unwrap()]);
}

#[tern::test]
async fn tcp_only_forged_replies_time_out() {
    let server = start(behaviour(|s: TcpStream| async move {
        let Some(q) = read_query(&s).await else {
            return;
        };
        let bytes = forgeries(&q, |m| m.questions[0].qtype = RecordType::AAAA);
        let _ = s.write_all(&bytes).await;
        std::future::pending::<()>().await;
    }));
    let got = lookup(&server, "forged.test").await;
    assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
}

#[tern::test]
async fn tcp_two_replies_first_counts() {
    let server = start(behaviour(|s: TcpStream| async move {
        let Some(q) = read_query(&s).await else {
            return;
        };
        let mut bytes = framed(&answer(&q).encode());
        let mut second = answer(&q);
        second.answers[0].data = RData::A("198.51.100.1".parse().unwrap());
        bytes.extend(framed(&second.encode()));
        let _ = s.write_all(&bytes).await;
    }));
    let got = lookup(&server, "two.test").await.unwrap();
    assert_eq!(got, ["192.0.2.7".parse::<Ipv4Addr>().unwrap()]);
}

#[tern::test]
async fn tcp_reset() {
    // Closed with the query unread: the kernel answers with a RST.
    let server = start(behaviour(|s: TcpStream| async move {
        drop(s);
    }));
    let got = lookup(&server, "reset.test").await;
    assert!(matches!(got, Err(Error::Io(_))), "{got:?}");
}

#[tern::test]
async fn tcp_drip_one_byte_at_a_time() {
    let server = start(behaviour(|s: TcpStream| async move {
        let Some(q) = read_query(&s).await else {
            return;
        };
        let bytes = framed(&answer(&q).encode());
        let host = q.questions[0].name.to_string();
        let pause = if host.starts_with("slow") {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(1)
        };
        for b in bytes {
            if s.write_all(&[b]).await.is_err() {
                return;
            }
            tern::time::sleep(pause).await;
        }
        std::future::pending::<()>().await;
    }));
    let got = lookup(&server, "drip.test").await.unwrap();
    assert_eq!(got, ["192.0.2.7".parse::<Ipv4Addr>().unwrap()]);
    let got = lookup(&server, "slow.test").await;
    assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
}

/// A UDP query with EDNS that was answered (truncated) proves the server
/// takes EDNS; a TCP retry that then times out once says nothing about
/// EDNS. Were the timeout to send the next attempt without EDNS, then,
/// when that one is answered, the server would be asked without EDNS (and
/// so without cookies) for `EDNS_MEMORY`, an hour. Only a UDP step that
/// timed out may put a server on `plain_next` (`resolver/attempts.rs`).
#[tern::test]
async fn a_tcp_timeout_does_not_turn_edns_off() {
    let tcp_queries = Rc::new(std::cell::Cell::new(0usize));
    let seen_tcp = tcp_queries.clone();
    let script: Script = Rc::new(move |q, t| {
        if t == tern::dns::exchange::Transport::Udp {
            let mut m = reply_to(q);
            m.header.tc = true;
            return vec![Action::Reply(m)];
        }
        seen_tcp.set(seen_tcp.get() + 1);
        if seen_tcp.get() == 1 {
            // The first TCP query goes unanswered (a lost SYN-ACK, say).
            Vec::new()
        } else {
            vec![Action::Reply(answer(q))]
        }
    });
    let server = Server::start(script);
    let mut c = config(&[server.addr], TIMEOUT_MS);
    c.cache_size = 0;
    let r = Resolver::new(c);
    r.lookup("first.test", RecordType::A).await.unwrap();
    assert_eq!(tcp_queries.get(), 2);
    r.lookup("second.test", RecordType::A).await.unwrap();
    let second: Vec<bool> = server
        .seen()
        .iter()
        .filter(|s| s.question.name == name("second.test."))
        .map(|s| s.edns)
        .collect();
    assert_eq!(second, [true, true], "UDP and TCP queries carry EDNS");
}
