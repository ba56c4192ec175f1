//! Many lookups against a lossy local server: 10% of queries dropped, 5%
//! answered by forged replies first (wrong ID, wrong question, a forged
//! SERVFAIL, junk) and then the real one, 5% SERVFAIL, the rest answered.
//!
//! The server decides per query (a retry meets fresh luck) and logs its
//! decisions, so the outcome every lookup must have is known: the answer if
//! any attempt was answered, else SERVFAIL or a timeout, as the last
//! attempt met. Afterwards no fd, socket, task or timer may be left.
//!
//! The decisions are those of tern-dns's reliability test
//! (`dns/tests/common/lossy.rs`); this server runs them on its own thread.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern::dns::wire::Message;
use tern::dns::{Config, Error, RData, RecordType, Resolver};

use crate::common::lossy::{self, host_index, host_ips, Datagram, Fate};
use crate::common::Rng;
use crate::{fds, Row, Size};

const PART: &str = "dns";
const TIMEOUT: Duration = Duration::from_millis(250);
const ATTEMPTS: u32 = 2;
const IN_FLIGHT: usize = 256;

struct LossyServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Vec<Fate>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LossyServer {
    fn start(hosts: usize) -> std::io::Result<LossyServer> {
        let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        // Room for every query in flight; the kernel caps it at rmem_max.
        let _ =
            tern::sys::socket::set_opt(sock.as_fd(), tern::sys::socket::Opt::RecvBuffer, 8 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = sock.local_addr()?;
        let log = Arc::new(Mutex::new(vec![Vec::new(); hosts]));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("lossy-dns".into())
            .spawn(move || serve(&sock, &l, &s))?;
        Ok(LossyServer {
            addr,
            log,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LossyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(sock: &UdpSocket, log: &Mutex<Vec<Vec<Fate>>>, stop: &AtomicBool) {
    let mut rng = Rng::new(0x1055);
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(q) = Message::decode(&buf[..n]) else {
            continue;
        };
        let Some(question) = q.questions.first() else {
            continue;
        };
        let Some(i) = host_index(&question.name) else {
            continue;
        };
        let (fate, datagrams) = lossy::decide(&mut rng, &q, i);
        if let Ok(mut log) = log.lock() {
            if let Some(entry) = log.get_mut(i) {
                entry.push(fate);
            }
        }
        for d in datagrams {
            let bytes = match d {
                Datagram::Message(m) => m.encode(),
                Datagram::Raw(bytes) => bytes,
            };
            let _ = sock.send_to(&bytes, from);
        }
    }
}

type Outcome = Option<(Result<Vec<IpAddr>, Error>, Duration)>;

/// Tasks, sources and timers a run left behind.
type Left = (usize, isize, usize);

/// Runs `lookups` lookups, `IN_FLIGHT` at a time, against `server`, each
/// bounded by `bound`; returns each one's outcome and what was left.
fn lookup_all(server: SocketAddr, lookups: usize, bound: Duration) -> (Vec<Outcome>, Left) {
    tern::block_on(async {
        let mut c = Config::default();
        c.nameservers = vec![server];
        c.search = Vec::new();
        c.use_hosts = false;
        c.cache_size = 0;
        c.timeout = TIMEOUT;
        c.attempts = ATTEMPTS;
        let resolver = Resolver::new(c);
        let before = tern::current_metrics().unwrap_or_default();
        let next = Rc::new(Cell::new(0usize));
        let results: Rc<RefCell<Vec<Outcome>>> = Rc::new(RefCell::new(Vec::new()));
        results.borrow_mut().resize_with(lookups, || None);
        let workers: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (r, next, results) = (resolver.clone(), next.clone(), results.clone());
                tern::spawn(async move {
                    loop {
                        let i = next.get();
                        if i >= lookups {
                            return;
                        }
                        next.set(i + 1);
                        let host = format!("h{i}.loss.test.");
                        let started = Instant::now();
                        let res = match tern::time::timeout(bound, r.lookup(&host, RecordType::A))
                            .await
                        {
                            Ok(res) => res.map(|recs| {
                                recs.iter()
                                    .filter_map(|r| match r.data {
                                        RData::A(ip) => Some(IpAddr::V4(ip)),
                                        _ => None,
                                    })
                                    .collect()
                            }),
                            // Still running after the bound: a hung lookup.
                            Err(_) => Err(Error::Io(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("lookup {i} still running after {bound:?}"),
                            ))),
                        };
                        if let Some(slot) = results.borrow_mut().get_mut(i) {
                            *slot = Some((res, started.elapsed()));
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
        // Pooled sockets are the resolver's, not leaks: close them first.
        tern::dns::close_idle_sockets();
        let after = tern::current_metrics().unwrap_or_default();
        let results = std::mem::take(&mut *results.borrow_mut());
        (
            results,
            (
                after.tasks - before.tasks.min(after.tasks),
                after.io_sources as isize - before.io_sources as isize,
                after.timers,
            ),
        )
    })
}

/// Lookups judged against what the server's log says it did.
#[derive(Default)]
struct Tally {
    answers: usize,
    timeouts: usize,
    servfails: usize,
    wrong: usize,
    hung: usize,
    slowest: Duration,
}

/// Judges each lookup's outcome by the server's fates for it.
fn tally(results: Vec<Outcome>, log: &[Vec<Fate>]) -> Tally {
    let mut t = Tally::default();
    for (i, r) in results.into_iter().enumerate() {
        let fates = log.get(i).cloned().unwrap_or_default();
        let Some((res, took)) = r else {
            t.wrong += 1;
            continue;
        };
        t.slowest = t.slowest.max(took);
        let answered = fates
            .iter()
            .any(|f| matches!(f, Fate::Answered | Fate::ForgedFirst));
        let right = match &res {
            Ok(ips) => {
                t.answers += 1;
                answered && ips[..] == host_ips(i).map(IpAddr::V4)[..]
            }
            Err(Error::Timeout) => {
                t.timeouts += 1;
                !answered && fates.last() == Some(&Fate::Dropped)
            }
            Err(Error::ServFail) => {
                t.servfails += 1;
                !answered && fates.last() == Some(&Fate::ServFail)
            }
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                t.hung += 1;
                false
            }
            Err(_) => false,
        };
        if !right {
            t.wrong += 1;
            if t.wrong <= 5 {
                eprintln!("lookup {i}: server did {fates:?}, lookup gave {res:?}");
            }
        }
    }
    t
}

/// Runs the part.
pub fn run(size: Size) -> Vec<Row> {
    let lookups = size.n(100_000, 2_000);
    let server = match LossyServer::start(lookups) {
        Ok(s) => s,
        Err(e) => {
            return vec![Row::check(
                PART,
                format!("start the server: {e}"),
                "-",
                false,
            )]
        }
    };
    let fds_before = fds();
    let bound = TIMEOUT * ATTEMPTS + Duration::from_secs(2);
    let (results, left) = lookup_all(server.addr, lookups, bound);
    let fds_after = fds();
    let log = server.log.lock().map(|l| l.clone()).unwrap_or_default();
    drop(server);
    let queries: usize = log.iter().map(Vec::len).sum();
    let count = |f: Fate| log.iter().flatten().filter(|x| **x == f).count();
    let Tally {
        answers,
        timeouts,
        servfails,
        wrong,
        hung,
        slowest,
    } = tally(results, &log);
    let (tasks_left, sources_left, timers_left) = left;
    vec![
        Row::info(PART, "lookups (A, cache off, 256 in flight)", lookups),
        Row::info(
            PART,
            "queries seen: dropped / forged first / SERVFAIL / answered",
            format!(
                "{queries}: {} / {} / {} / {}",
                count(Fate::Dropped),
                count(Fate::ForgedFirst),
                count(Fate::ServFail),
                count(Fate::Answered)
            ),
        ),
        Row::info(
            PART,
            "outcomes: answer / timeout / SERVFAIL",
            format!("{answers} / {timeouts} / {servfails}"),
        ),
        Row::check(
            PART,
            "lookups with a wrong answer or error",
            wrong,
            wrong == 0,
        ),
        Row::check(
            PART,
            "lookups that outlived attempts x timeout + 2 s",
            hung,
            hung == 0,
        ),
        Row::info(
            PART,
            format!(
                "slowest lookup (attempts x timeout = {:?})",
                TIMEOUT * ATTEMPTS
            ),
            format!("{slowest:.0?}"),
        ),
        Row::check(
            PART,
            "fds leaked",
            fds_after as isize - fds_before as isize,
            fds_after == fds_before,
        ),
        Row::check(
            PART,
            "tasks / sockets / timers left",
            format!("{tasks_left} / {sources_left} / {timers_left}"),
            tasks_left == 0 && sources_left == 0 && timers_left == 0,
        ),
    ]
}
