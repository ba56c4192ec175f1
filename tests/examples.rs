//! Runs each example binary (`examples/*.rs`) as a user would, against
//! servers this test starts on 127.0.0.1: a small table-driven DNS server
//! for `resolve` and `dig`, a small HTTP/1.0 server for `http_get`, and
//! the example servers themselves for `rot13` and `udp_echo`.
//!
//! Cargo builds a package's examples before running its integration tests
//! (`cargo test`, `cargo test -p tern`, `cargo test --workspace`), next to
//! the test binary's own directory: `target/<profile>/examples/NAME`.
//! Every child process is killed when its guard drops, and every wait has
//! a deadline.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tern::dns::wire::Message;
use tern::dns::{Name, RData, Record, RecordType};

/// How long any example may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(30);

// ===== running examples =====

/// The path of an example binary built by cargo.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/examples-HASH → target/<profile>/examples/NAME
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary is in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo test -p tern` builds \
         them; `cargo test --test examples` alone does not)",
        path.display()
    );
    path
}

/// Kills the child (if still running) and reaps it when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished example printed.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Starts example `name` with `args`, stdin empty, stdout piped and stderr
/// as given.
fn spawn_example(name: &str, args: &[&str], stderr: Stdio) -> KillOnDrop {
    KillOnDrop(
        Command::new(example(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}")),
    )
}

/// Runs an example to completion, within [`LIMIT`].
fn run(name: &str, args: &[&str]) -> Output {
    let mut child = spawn_example(name, args, Stdio::piped());
    // One thread per pipe reads to EOF, which comes when the child exits.
    let (tx, rx) = mpsc::channel();
    let pipes: [(usize, Box<dyn Read + Send>); 2] = [
        (0, Box::new(child.0.stdout.take().unwrap())),
        (1, Box::new(child.0.stderr.take().unwrap())),
    ];
    for (which, mut pipe) in pipes {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            let _ = tx.send((which, String::from_utf8_lossy(&text).into_owned()));
        });
    }
    let deadline = Instant::now() + LIMIT;
    let mut texts = [String::new(), String::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((which, text)) => texts[which] = text,
            Err(_) => panic!("example {name} {args:?} did not finish within {LIMIT:?}"),
        }
    }
    let status = child.0.wait().expect("wait for example");
    let [stdout, stderr] = texts;
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A long-running example whose first stdout line is `listening on ADDR`.
struct Running {
    child: KillOnDrop,
    addr: SocketAddr,
}

fn start(name: &str, args: &[&str]) -> Running {
    started(name, spawn_example(name, args, Stdio::inherit()))
}

/// Waits for the `listening on ADDR` line of `child`, example `name`.
fn started(name: &str, mut child: KillOnDrop) -> Running {
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Reads every line (so the pipe never fills) and passes them on.
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("{name} printed no `listening on` line"));
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
    Running { child, addr }
}

/// A std stream with read and write deadlines, so no test hangs.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.set_write_timeout(Some(LIMIT)).unwrap();
    s
}

fn help_works(name: &str) {
    let out = run(name, &["--help"]);
    assert!(out.status.success(), "{name} --help: {}", out.stderr);
    assert!(out.stdout.starts_with("usage:"), "{name}: {}", out.stdout);
}

#[test]
fn every_example_has_help() {
    for name in ["resolve", "dig", "http_get", "rot13", "udp_echo"] {
        help_works(name);
        let out = run(name, &["--no-such-flag"]);
        assert!(!out.status.success(), "{name} accepted a bad flag");
        assert!(out.stderr.contains("usage:"), "{name}: {}", out.stderr);
    }
}

// ===== a DNS server for resolve and dig =====

/// A blocking DNS server on 127.0.0.1 (UDP and TCP, same port) answering
/// from a fixed table, in two std threads. It logs each query's transport
/// and whether it carried EDNS.
struct DnsServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<(&'static str, bool)>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn rec(owner: &str, data: RData) -> Record {
    Record {
        name: name(owner),
        ttl: 300,
        data,
    }
}

/// The zone: what each (name, type) answers with.
fn zone() -> HashMap<(Name, RecordType), Vec<Record>> {
    let mut z: HashMap<(Name, RecordType), Vec<Record>> = HashMap::new();
    let mut add = |r: Record| z.entry((r.name.clone(), r.rtype())).or_default().push(r);
    add(rec("www.tern.test", RData::A(Ipv4Addr::new(192, 0, 2, 10))));
    add(rec(
        "www.tern.test",
        RData::AAAA("2001:db8::10".parse().unwrap()),
    ));
    add(rec("alias.tern.test", RData::CNAME(name("www.tern.test"))));
    add(rec("ns.tern.test", RData::A(Ipv4Addr::new(192, 0, 2, 53))));
    add(rec(
        "ns.tern.test",
        RData::AAAA("2001:db8::53".parse().unwrap()),
    ));
    add(rec(
        "77.2.0.192.in-addr.arpa",
        RData::PTR(name("www.tern.test")),
    ));
    for i in 1..=100 {
        add(rec(
            "many.tern.test",
            RData::A(Ipv4Addr::new(198, 51, 100, i)),
        ));
    }
    z
}

fn soa() -> Record {
    rec(
        "tern.test",
        RData::SOA {
            mname: name("ns.tern.test"),
            rname: name("admin.tern.test"),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 60,
        },
    )
}

/// The reply to `query`: the answer (through one CNAME), the zone's NS in
/// authority and its address in additional; NXDOMAIN with the SOA for
/// names the table does not have.
fn answer(zone: &HashMap<(Name, RecordType), Vec<Record>>, query: &Message) -> Message {
    let mut reply = query.clone();
    reply.header.qr = true;
    reply.header.aa = true;
    reply.header.ra = true;
    let Some(q) = query.questions.first() else {
        return reply;
    };
    let mut owner = q.name.clone();
    if let Some(cname) = zone.get(&(owner.clone(), RecordType::CNAME)) {
        reply.answers.extend(cname.iter().cloned());
        if let RData::CNAME(target) = &cname[0].data {
            owner = target.clone();
        }
    }
    let known = zone.keys().any(|(n, _)| *n == owner);
    reply
        .answers
        .extend(zone.get(&(owner, q.qtype)).into_iter().flatten().cloned());
    if !known {
        reply.header.rcode = tern::dns::wire::Rcode::NXDOMAIN;
        reply.authorities.push(soa());
    } else if !reply.answers.is_empty() {
        reply
            .authorities
            .push(rec("tern.test", RData::NS(name("ns.tern.test"))));
        reply
            .additionals
            .extend(zone[&(name("ns.tern.test"), RecordType::A)].clone());
        reply
            .additionals
            .extend(zone[&(name("ns.tern.test"), RecordType::AAAA)].clone());
    } else {
        reply.authorities.push(soa());
    }
    reply
}

impl DnsServer {
    fn start() -> DnsServer {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let udp_thread = thread::spawn(move || {
            let zone = zone();
            let mut buf = [0u8; 65535];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(query) = Message::decode(&buf[..n]) else {
                    continue;
                };
                log2.lock().unwrap().push(("udp", query.edns.is_some()));
                let reply = answer(&zone, &query);
                let mut bytes = reply.encode();
                let room = query
                    .edns
                    .as_ref()
                    .map_or(512, |e| usize::from(e.payload.max(512)));
                if bytes.len() > room {
                    // Too big for a datagram: header and question, TC set.
                    let mut cut = query.clone();
                    cut.header = reply.header;
                    cut.header.tc = true;
                    bytes = cut.encode();
                }
                let _ = udp.send_to(&bytes, from);
            }
        });
        let (log3, stop3) = (log.clone(), stop.clone());
        let tcp_thread = thread::spawn(move || {
            let zone = zone();
            for stream in tcp.incoming() {
                if stop3.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                stream.set_read_timeout(Some(LIMIT)).unwrap();
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut body).is_err() {
                    continue;
                }
                let Ok(query) = Message::decode(&body) else {
                    continue;
                };
                log3.lock().unwrap().push(("tcp", query.edns.is_some()));
                let bytes = answer(&zone, &query).encode();
                let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                let _ = stream.write_all(&framed);
            }
        });
        DnsServer {
            addr,
            log,
            stop,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    fn port(&self) -> String {
        self.addr.port().to_string()
    }

    fn log(&self) -> Vec<(&'static str, bool)> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Wake both threads with a datagram and a connection; they see the
        // flag and return.
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(s) = UdpSocket::bind("127.0.0.1:0") {
            let _ = s.send_to(b"", self.addr);
        }
        let _ = TcpStream::connect(self.addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ===== resolve =====

#[test]
fn resolve_prints_addresses() {
    let dns = DnsServer::start();
    let server = dns.addr.to_string();
    let out = run(
        "resolve",
        &["--server", &server, "www.tern.test", "alias.tern.test"],
    );
    assert!(out.status.success(), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout,
        "www.tern.test\t192.0.2.10\nwww.tern.test\t2001:db8::10\n\
         alias.tern.test\t192.0.2.10\nalias.tern.test\t2001:db8::10\n"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn resolve_reports_a_failed_name_in_one_line() {
    let dns = DnsServer::start();
    let server = dns.addr.to_string();
    let out = run("resolve", &["--server", &server, "example.invalid"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stderr, "example.invalid: no such domain\n");
    assert_eq!(out.stdout, "");

    // The other names still print; the exit code says one failed. The
    // 100 addresses of many.tern.test do not fit a datagram: TCP fallback.
    let args = [
        "--server",
        &server,
        "www.tern.test",
        "example.invalid",
        "many.tern.test",
    ];
    let out = run("resolve", &args);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stderr, "example.invalid: no such domain\n");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2 + 100, "{}", out.stdout);
    assert_eq!(
        lines[..2],
        ["www.tern.test\t192.0.2.10", "www.tern.test\t2001:db8::10"]
    );
    for (i, line) in lines[2..].iter().enumerate() {
        assert_eq!(*line, format!("many.tern.test\t198.51.100.{}", i + 1));
    }
    assert!(dns.log().iter().any(|(transport, _)| *transport == "tcp"));
}

#[test]
fn resolve_fails_clearly_without_a_server() {
    // A port nobody listens on: ICMP port unreachable comes back at once.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run("resolve", &["--server", &port.to_string(), "www.tern.test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.starts_with("www.tern.test: "), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

// ===== dig =====

/// Asserts that `needles` appear in `text` in this order.
fn in_order(text: &str, needles: &[&str]) {
    let mut at = 0;
    for needle in needles {
        match text[at..].find(needle) {
            Some(i) => at += i + needle.len(),
            None => panic!("{needle:?} missing (or out of order) in:\n{text}"),
        }
    }
}

#[test]
fn dig_prints_every_section() {
    let dns = DnsServer::start();
    let at = format!("@{}", dns.addr);
    let out = run("dig", &[&at, "www.tern.test"]);
    assert!(out.status.success(), "{}", out.stderr);
    let port = dns.port();
    in_order(
        &out.stdout,
        &[
            &format!("; <<>> tern dig <<>> {at} www.tern.test\n"),
            ";; Got answer:\n",
            ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: ",
            ";; flags: qr aa rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 1, ADDITIONAL: 3\n",
            ";; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232\n",
            ";; QUESTION SECTION:\n;www.tern.test.\t\tIN\tA\n",
            ";; ANSWER SECTION:\nwww.tern.test.\t300\tIN\tA\t192.0.2.10\n",
            ";; AUTHORITY SECTION:\ntern.test.\t300\tIN\tNS\tns.tern.test.\n",
            ";; ADDITIONAL SECTION:\nns.tern.test.\t300\tIN\tA\t192.0.2.53\n",
            "ns.tern.test.\t300\tIN\tAAAA\t2001:db8::53\n",
            ";; Query time: ",
            &format!(" msec\n;; SERVER: 127.0.0.1#{port}(127.0.0.1) (UDP)\n"),
            ";; MSG SIZE  rcvd: ",
        ],
    );
    assert_eq!(dns.log(), [("udp", true)]);
}

#[test]
fn dig_options() {
    let dns = DnsServer::start();
    let at = format!("@{}", dns.addr);

    let out = run("dig", &[&at, "www.tern.test", "AAAA", "+tcp"]);
    assert!(out.status.success(), "{}", out.stderr);
    in_order(
        &out.stdout,
        &[
            "www.tern.test.\t300\tIN\tAAAA\t2001:db8::10\n",
            "(127.0.0.1) (TCP)\n",
        ],
    );
    assert_eq!(dns.log().last(), Some(&("tcp", true)));

    let out = run("dig", &[&at, "alias.tern.test", "+noedns"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stdout.contains("OPT PSEUDOSECTION"), "{}", out.stdout);
    in_order(
        &out.stdout,
        &[
            "ANSWER: 2, AUTHORITY: 1, ADDITIONAL: 2\n",
            "alias.tern.test.\t300\tIN\tCNAME\twww.tern.test.\n",
            "www.tern.test.\t300\tIN\tA\t192.0.2.10\n",
        ],
    );
    assert_eq!(dns.log().last(), Some(&("udp", false)));

    let out = run("dig", &[&at, "-x", "192.0.2.77"]);
    assert!(out.status.success(), "{}", out.stderr);
    in_order(
        &out.stdout,
        &[
            ";77.2.0.192.in-addr.arpa.\t\tIN\tPTR\n",
            "77.2.0.192.in-addr.arpa.\t300\tIN\tPTR\twww.tern.test.\n",
        ],
    );

    let out = run("dig", &[&at, "nope.tern.test", "MX"]);
    assert!(out.status.success(), "{}", out.stderr);
    in_order(
        &out.stdout,
        &[
            "status: NXDOMAIN",
            ";nope.tern.test.\t\tIN\tMX\n",
            ";; AUTHORITY SECTION:\ntern.test.\t300\tIN\tSOA\tns.tern.test. admin.tern.test. 1 3600 600 86400 60\n",
        ],
    );
}

#[test]
fn dig_retries_a_truncated_reply_over_tcp() {
    let dns = DnsServer::start();
    let at = format!("@{}", dns.addr);
    let out = run("dig", &[&at, "many.tern.test"]);
    assert!(out.status.success(), "{}", out.stderr);
    in_order(
        &out.stdout,
        &[
            ";; Truncated, retrying in TCP mode.\n",
            "ANSWER: 100,",
            "many.tern.test.\t300\tIN\tA\t198.51.100.1\n",
            "many.tern.test.\t300\tIN\tA\t198.51.100.100\n",
            "(TCP)\n",
        ],
    );
    assert_eq!(dns.log(), [("udp", true), ("tcp", true)]);
}

#[test]
fn dig_rejects_a_wait_past_the_clock() {
    // Far enough that now + wait overflows the monotonic clock.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = format!("@{}", silent.local_addr().unwrap());
    for time in ["+time=1e19", "+time=-1", "+time=NaN"] {
        let out = run("dig", &[&at, "www.tern.test", time]);
        assert_eq!(out.status.code(), Some(1), "{time}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("dig: bad {time}\n")),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn dig_without_a_reply_exits_9() {
    // Bound but never answering: the query times out.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = format!("@{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = run("dig", &[&at, "www.tern.test", "+time=0.3"]);
    assert_eq!(out.status.code(), Some(9), "{}", out.stdout);
    assert!(out.stdout.contains("timed out"), "{}", out.stdout);
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ===== http_get =====

/// A tiny HTTP/1.0 server on 127.0.0.1: one thread per connection, the
/// reply chosen by the request path. Keeps every request it read.
struct HttpServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

/// 300 KB that is easy to check.
fn big_body() -> Vec<u8> {
    (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

fn http_reply(mut stream: TcpStream, requests: Arc<Mutex<Vec<String>>>) {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    requests.lock().unwrap().push(head);
    let reply: Vec<u8> = match path.as_str() {
        "/hello" => b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nhello, world!\n".to_vec(),
        // No Content-Length: the body ends when the server closes.
        "/big" => [b"HTTP/1.0 200 OK\r\n\r\n".to_vec(), big_body()].concat(),
        // Bytes past Content-Length are not part of the body.
        "/extra" => b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n12345EXTRA".to_vec(),
        // Which length is right is unknown: the client must give up.
        "/two-lengths" => b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nContent-Length: 10\r\n\r\n0123456789".to_vec(),
        "/same-length-twice" => b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc".to_vec(),
        "/short" => b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".to_vec(),
        "/stall" => {
            // Headers, then nothing until the client gives up and closes.
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n");
            let _ = stream.read(&mut byte);
            return;
        }
        _ => b"HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n".to_vec(),
    };
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(Shutdown::Write);
}

impl HttpServer {
    fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stop2) = (requests.clone(), stop.clone());
        let accept_thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let reqs = reqs.clone();
                    thread::spawn(move || http_reply(stream, reqs));
                }
            }
        });
        HttpServer {
            addr,
            requests,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn http_get_fetches_a_page() {
    let http = HttpServer::start();
    let out = run("http_get", &[&http.url("/hello")]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "hello, world!\n");
    assert_eq!(out.stderr, "HTTP/1.0 200 OK\n");
    let requests = http.requests.lock().unwrap().clone();
    let port = http.addr.port();
    assert!(
        requests[0].starts_with(&format!(
            "GET /hello HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
        )),
        "{requests:?}"
    );
}

#[test]
fn http_get_resolves_localhost() {
    // localhost has both ::1 and 127.0.0.1; the server is on 127.0.0.1
    // only, so Happy Eyeballs must end up there.
    let http = HttpServer::start();
    let url = format!("http://localhost:{}/hello", http.addr.port());
    let out = run("http_get", &["--timeout", "10", &url]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "hello, world!\n");
    let requests = http.requests.lock().unwrap().clone();
    assert!(
        requests[0].contains(&format!("\r\nHost: localhost:{}\r\n", http.addr.port())),
        "{requests:?}"
    );
}

#[test]
fn http_get_body_ends_at_close_or_content_length() {
    let http = HttpServer::start();
    let out = run("http_get", &[&http.url("/big")]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.as_bytes() == big_body(),
        "body of {} bytes",
        out.stdout.len()
    );

    let out = run("http_get", &[&http.url("/extra")]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "12345");

    let out = run("http_get", &[&http.url("/short")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, "0123456789");
    assert!(
        out.stderr.contains("closed after 10 of 100 body bytes"),
        "{}",
        out.stderr
    );

    let out = run("http_get", &[&http.url("/missing")]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stderr, "HTTP/1.0 404 Not Found\n");
    assert_eq!(out.stdout, "not found\n");
}

#[test]
fn http_get_rejects_conflicting_content_lengths() {
    let http = HttpServer::start();
    let out = run("http_get", &[&http.url("/two-lengths")]);
    assert_eq!(out.status.code(), Some(1), "stdout: {:?}", out.stdout);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("conflicting Content-Length"),
        "{}",
        out.stderr
    );

    // The same length twice is one length.
    let out = run("http_get", &[&http.url("/same-length-twice")]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "abc");
}

#[test]
fn http_get_times_out() {
    let http = HttpServer::start();
    let started = Instant::now();
    let out = run("http_get", &["--timeout", "0.3", &http.url("/stall")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ===== rot13 =====

fn rot13(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| match b {
            b'a'..=b'z' => b'a' + (b - b'a' + 13) % 26,
            b'A'..=b'Z' => b'A' + (b - b'A' + 13) % 26,
            _ => b,
        })
        .collect()
}

/// Sends `data` from another thread while reading `expect.len()` bytes
/// back, so neither side's buffers need to hold it all.
fn exchange(stream: &TcpStream, data: Vec<u8>, expect_len: usize) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || writer.write_all(&data));
    let mut back = vec![0u8; expect_len];
    (&*stream).read_exact(&mut back).expect("read the reply");
    sender.join().unwrap().expect("send");
    back
}

#[test]
fn rot13_serves_lines() {
    let server = start("rot13", &["--listen", "127.0.0.1:0"]);
    let s = connect(server.addr);
    let got = exchange(&s, b"Hello, World!\n".to_vec(), 14);
    assert_eq!(got, b"Uryyb, Jbeyq!\n");
    let got = exchange(&s, b"abc\nxyz\nNOP".to_vec(), 8);
    assert_eq!(got, b"nop\nklm\n");

    // A 100 KB line is longer than the server keeps; it still comes back
    // whole, followed by the next line.
    let long: Vec<u8> = (0..100_000u32)
        .map(|i| b"The quick brown fox "[i as usize % 20])
        .collect();
    let mut data = long.clone();
    data.extend_from_slice(b"\nafter\n");
    let got = exchange(&s, data, 3 + 100_000 + 7);
    assert_eq!(&got[..3], b"ABC"); // the NOP left over from before
    assert!(got[3..100_003] == rot13(&long)[..], "long line mangled");
    assert_eq!(&got[100_003..], b"\nnsgre\n");

    // A last line without a newline comes back when the client is done.
    let got = exchange(&s, b"bye".to_vec(), 0);
    assert!(got.is_empty());
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    (&s).read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"olr");
}

/// The high-water mark of a process's resident memory, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn rot13_memory_stays_bounded_on_endless_lines() {
    let server = start("rot13", &["--listen", "127.0.0.1:0"]);
    let s = connect(server.addr);
    assert_eq!(exchange(&s, b"warm up\n".to_vec(), 8), b"jnez hc\n");
    let before = peak_rss_kib(server.child.0.id());
    // 32 MiB without a single newline.
    let data = vec![b'a'; 32 << 20];
    let got = exchange(&s, data, 32 << 20);
    assert!(got.iter().all(|&b| b == b'n'));
    let after = peak_rss_kib(server.child.0.id());
    assert!(
        after < before + 8 * 1024,
        "peak memory grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn rot13_backs_off_when_out_of_fds() {
    // At most 32 open files: a few dozen connections use them all up.
    let child = Command::new("sh")
        .args(["-c", "ulimit -n 32 && exec \"$0\" \"$@\""])
        .arg(example("rot13"))
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rot13 under sh");
    let mut server = started("rot13", KillOnDrop(child));
    let stderr = server.child.0.stderr.take().unwrap();
    let (tx, errors) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("rot13: accept: ") && tx.send(line).is_err() {
                break;
            }
        }
    });

    let s = connect(server.addr);
    assert_eq!(exchange(&s, b"before\n".to_vec(), 7), b"orsber\n");
    // Connections the server cannot accept wait in the backlog and keep
    // the listener readable.
    let flood: Vec<TcpStream> = (0..64).map(|_| connect(server.addr)).collect();
    let first = errors.recv_timeout(LIMIT).expect("no accept error");
    assert!(first.contains("Too many open files"), "{first}");
    // The connection it has is still served, and meanwhile accept is not
    // retried in a tight loop (each retry fails at once and logs a line).
    for _ in 0..100 {
        assert_eq!(exchange(&s, b"during\n".to_vec(), 7), b"qhevat\n");
    }
    let retries = errors.try_iter().count();
    assert!(retries < 20, "{retries} failed accepts while out of fds");
    // Once files are free again, new clients are served.
    drop(flood);
    let late = connect(server.addr);
    assert_eq!(exchange(&late, b"after\n".to_vec(), 6), b"nsgre\n");
}

#[test]
fn rot13_runs_one_loop_per_thread() {
    let server = start("rot13", &["--listen", "127.0.0.1:0", "--threads", "3"]);
    let pid = server.child.0.id();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert!(threads >= 4, "{threads} threads: main and 3 loops expected");
    let clients: Vec<TcpStream> = (0..12).map(|_| connect(server.addr)).collect();
    for (i, s) in clients.iter().enumerate() {
        let line = format!("client {i}\n");
        let got = exchange(s, line.clone().into_bytes(), line.len());
        assert_eq!(got, rot13(line.as_bytes()));
    }
}

// ===== udp_echo =====

#[test]
fn udp_echo_measures_round_trips() {
    let server = start("udp_echo", &["server", "--listen", "127.0.0.1:0"]);
    let addr = server.addr.to_string();
    let out = run(
        "udp_echo",
        &["client", &addr, "--count", "3", "--size", "100"],
    );
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    for seq in 1..=3 {
        let prefix = format!("100 bytes from {addr}: seq={seq} time=");
        assert!(out.stdout.contains(&prefix), "{}", out.stdout);
    }
    in_order(
        &out.stdout,
        &["3 sent, 3 received, 0 lost\n", "rtt min/avg/max = "],
    );
}

#[test]
fn udp_echo_client_reports_losses() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = run(
        "udp_echo",
        &["client", &addr, "--count", "2", "--timeout", "100"],
    );
    assert_eq!(out.status.code(), Some(1));
    in_order(
        &out.stdout,
        &[
            "seq=1 timed out after 100 ms",
            "seq=2 timed out",
            "2 sent, 0 received, 2 lost",
        ],
    );
}

#[test]
fn dig_takes_an_ipv6_server() {
    // Only where ::1 exists: a silent socket there, so the query times out.
    let silent = match UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(s) => s,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("::1 is not available under CI: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED dig_takes_an_ipv6_server: no IPv6 loopback ({e})");
            return;
        }
    };
    let at = format!("@{}", silent.local_addr().unwrap());
    let out = run("dig", &[&at, "www.tern.test", "+time=0.2"]);
    assert_eq!(out.status.code(), Some(9), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("communications error to {}", &at[1..])),
        "{}",
        out.stdout
    );
}
