//! An in-process scripted DNS server for tests, on 127.0.0.1.
//!
//! It serves UDP and TCP on one port, runs on the test's own tern runtime,
//! and answers each query with whatever the test's script says: replies
//! from a zone table, delays, silence, truncation, SERVFAIL, forged replies
//! (wrong ID, wrong question, another source port), garbage bytes. It logs
//! every query it receives.

#![allow(dead_code)]

// The reliability test loads this file through `common` too; it holds
// functions only, so the two copies cannot disagree on a type.
#[allow(clippy::duplicate_mod)]
#[path = "../common/reply.rs"]
mod reply;
#[path = "../../../tests/common/tcp_echo.rs"]
mod tcp_echo;

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use tern::dns::exchange::Transport;
use tern::dns::wire::{Message, Question, Rcode};
use tern::dns::{Name, RData, Record, RecordType};
use tern::net::{TcpListener, TcpStream, UdpSocket};

// Not every test uses both.
#[allow(unused_imports)]
pub use reply::{rcode_reply, reply_to};

/// What the server does for one query, in order.
#[derive(Clone, Debug)]
pub enum Action {
    /// Encode and send this message on the query's transport.
    Reply(Message),
    /// Send these bytes as they are.
    Raw(Vec<u8>),
    /// UDP only: send these bytes from another socket (another port).
    FromOtherPort(Vec<u8>),
    /// Wait before the next action.
    Delay(Duration),
}

/// Decides the actions for a query.
pub type Script = Rc<dyn Fn(&Message, Transport) -> Vec<Action>>;

/// One query as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub question: Question,
    pub transport: Transport,
    pub edns: bool,
}

/// A running server; dropping it stops it.
pub struct Server {
    pub addr: SocketAddr,
    log: Rc<RefCell<Vec<Seen>>>,
    tcp_open: Rc<std::cell::Cell<usize>>,
    tasks: Vec<tern::JoinHandle<()>>,
    conns: Rc<RefCell<Vec<tern::JoinHandle<()>>>>,
}

impl Server {
    /// Starts a server on 127.0.0.1 (UDP and TCP on the same port).
    pub fn start(script: Script) -> Server {
        let (udp, tcp) = bind_pair();
        Server::serve(udp, tcp, script)
    }

    /// Starts a server on `addr` (UDP and TCP), or says why it cannot.
    pub fn start_at(addr: SocketAddr, script: Script) -> std::io::Result<Server> {
        let udp = UdpSocket::bind(addr)?;
        let tcp = TcpListener::bind(addr)?;
        Ok(Server::serve(udp, tcp, script))
    }

    fn serve(udp: UdpSocket, tcp: TcpListener, script: Script) -> Server {
        let addr = udp.local_addr().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let tcp_open = Rc::new(std::cell::Cell::new(0));
        let conns: Rc<RefCell<Vec<tern::JoinHandle<()>>>> = Rc::new(RefCell::new(Vec::new()));
        let udp = Rc::new(udp);
        let mut tasks = Vec::new();
        {
            let (script, log, udp) = (script.clone(), log.clone(), udp.clone());
            tasks.push(tern::spawn(async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let (query, from) = reply::next_query(&udp, &mut buf).await;
                    note(&log, &query, Transport::Udp);
                    let actions = script(&query, Transport::Udp);
                    let udp = udp.clone();
                    drop(tern::spawn(async move {
                        for a in actions {
                            match a {
                                Action::Reply(m) => {
                                    let _ = udp.send_to(&m.encode(), from).await;
                                }
                                Action::Raw(b) => {
                                    let _ = udp.send_to(&b, from).await;
                                }
                                Action::FromOtherPort(b) => {
                                    let other =
                                        UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                                    let _ = other.send_to(&b, from).await;
                                }
                                Action::Delay(d) => tern::time::sleep(d).await,
                            }
                        }
                    }));
                }
            }));
        }
        {
            let (script, log, open) = (script.clone(), log.clone(), tcp_open.clone());
            let conns = conns.clone();
            tasks.push(tern::spawn(async move {
                loop {
                    let Ok((stream, _)) = tcp.accept().await else {
                        continue;
                    };
                    let (script, log, open) = (script.clone(), log.clone(), open.clone());
                    open.set(open.get() + 1);
                    let conn = tern::spawn(async move {
                        let _ = serve_tcp(stream, script, log).await;
                        open.set(open.get() - 1);
                    });
                    let mut conns = conns.borrow_mut();
                    conns.retain(|c| !c.is_finished());
                    conns.push(conn);
                }
            }));
        }
        Server {
            addr,
            log,
            tcp_open,
            tasks,
            conns,
        }
    }

    /// Every query received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.borrow().clone()
    }

    /// TCP connections the server holds open (each is a registered socket).
    pub fn tcp_open(&self) -> usize {
        self.tcp_open.get()
    }

    /// Number of queries received over `transport`.
    pub fn count(&self, transport: Transport) -> usize {
        self.log
            .borrow()
            .iter()
            .filter(|s| s.transport == transport)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in self.tasks.iter().chain(self.conns.borrow().iter()) {
            t.abort();
        }
    }
}

fn note(log: &Rc<RefCell<Vec<Seen>>>, q: &Message, transport: Transport) {
    if let Some(question) = q.questions.first() {
        log.borrow_mut().push(Seen {
            question: question.clone(),
            transport,
            edns: q.edns.is_some(),
        });
    }
}

async fn serve_tcp(
    stream: TcpStream,
    script: Script,
    log: Rc<RefCell<Vec<Seen>>>,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).await?;
        let Ok(query) = Message::decode(&body) else {
            return Ok(());
        };
        note(&log, &query, Transport::Tcp);
        for a in script(&query, Transport::Tcp) {
            match a {
                Action::Reply(m) => {
                    let bytes = m.encode();
                    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&bytes);
                    stream.write_all(&framed).await?;
                }
                Action::Raw(b) | Action::FromOtherPort(b) => stream.write_all(&b).await?,
                Action::Delay(d) => tern::time::sleep(d).await,
            }
        }
    }
}

fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

// ===== building replies =====

pub fn name(s: &str) -> Name {
    s.parse().unwrap()
}

pub fn rec(owner: &str, ttl: u32, data: RData) -> Record {
    Record {
        name: name(owner),
        ttl,
        data,
    }
}

pub fn a(owner: &str, ip: &str) -> Record {
    rec(owner, 300, RData::A(ip.parse::<Ipv4Addr>().unwrap()))
}

pub fn aaaa(owner: &str, ip: &str) -> Record {
    rec(owner, 300, RData::AAAA(ip.parse::<Ipv6Addr>().unwrap()))
}

pub fn cname(owner: &str, target: &str) -> Record {
    rec(owner, 300, RData::CNAME(name(target)))
}

pub fn soa(zone: &str, minimum: u32) -> Record {
    rec(
        zone,
        3600,
        RData::SOA {
            mname: name(&format!("ns.{zone}")),
            rname: name(&format!("admin.{zone}")),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum,
        },
    )
}

/// Records of an authoritative zone, answering like a server would: the
/// CNAME chain from the question name, then records of the type; NODATA or
/// NXDOMAIN with the SOA otherwise.
#[derive(Clone, Debug, Default)]
pub struct Zone {
    pub records: Vec<Record>,
    pub soa: Option<Record>,
}

impl Zone {
    pub fn new(records: Vec<Record>) -> Zone {
        Zone {
            records,
            soa: Some(soa("test.", 60)),
        }
    }

    pub fn answer(&self, q: &Message) -> Message {
        let mut m = reply_to(q);
        m.header.aa = true;
        let Some(question) = q.questions.first() else {
            m.header.rcode = Rcode::FORMERR;
            return m;
        };
        let mut owner = question.name.clone();
        for _ in 0..16 {
            let here: Vec<&Record> = self.records.iter().filter(|r| r.name == owner).collect();
            let wanted: Vec<Record> = here
                .iter()
                .filter(|r| r.rtype() == question.qtype)
                .map(|r| (*r).clone())
                .collect();
            if !wanted.is_empty() {
                m.answers.extend(wanted);
                return m;
            }
            if let Some(c) = here.iter().find(|r| r.rtype() == RecordType::CNAME) {
                m.answers.push((*c).clone());
                if let RData::CNAME(target) = &c.data {
                    owner = target.clone();
                    continue;
                }
            }
            if here.is_empty() && m.answers.is_empty() {
                m.header.rcode = Rcode::NXDOMAIN;
            }
            break;
        }
        if m.answers.is_empty() {
            m.authorities.extend(self.soa.clone());
        }
        m
    }

    /// A script that answers everything from this zone.
    pub fn script(self) -> Script {
        Rc::new(move |q, _| vec![Action::Reply(self.answer(q))])
    }

    /// A script that answers from this zone but drops every AAAA query
    /// (an AAAA blackhole).
    pub fn script_dropping_aaaa(self) -> Script {
        Rc::new(move |q, _| {
            if q.questions[0].qtype == RecordType::AAAA {
                vec![]
            } else {
                vec![Action::Reply(self.answer(q))]
            }
        })
    }

    /// A script that answers EDNS queries with FORMERR (and no OPT), as a
    /// server without EDNS does, and plain ones from this zone.
    pub fn script_refusing_edns(self) -> Script {
        Rc::new(move |q, _| {
            if q.edns.is_some() {
                let mut m = rcode_reply(q, Rcode::FORMERR);
                m.edns = None;
                vec![Action::Reply(m)]
            } else {
                vec![Action::Reply(self.answer(q))]
            }
        })
    }
}

/// A resolver config pointing at `servers`, with a short timeout.
pub fn config(servers: &[SocketAddr], timeout_ms: u64) -> tern::dns::Config {
    let mut c = tern::dns::Config::default();
    c.nameservers = servers.to_vec();
    c.timeout = Duration::from_millis(timeout_ms);
    c.attempts = 2;
    c.use_hosts = false;
    c.search = Vec::new();
    c
}
