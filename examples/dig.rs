//! `dig`: sends one DNS query and prints the whole reply the way dig does.
//!
//! ```text
//! cargo run --example dig -- example.com AAAA
//! cargo run --example dig -- @127.0.0.1:5353 host.example.test MX +tcp
//! cargo run --example dig -- -x 192.0.2.1
//! ```
//!
//! Unlike `resolve`, this does not use the resolver: it builds the query
//! with [`tern::dns::wire::Message`], sends it over UDP (or TCP with
//! `+tcp`, or when the UDP reply comes back truncated), checks the reply
//! with [`tern::dns::exchange::validate_reply`], and prints every section
//! with the message's dig-style `Display`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tern::dns::exchange::{validate_reply, Transport};
use tern::dns::wire::{frame_tcp, tcp_frame_len, Message};
use tern::dns::{Config, Name, RecordType, EDNS_PAYLOAD};
use tern::net::{TcpStream, UdpSocket};

const USAGE: &str = "\
usage: dig [@SERVER[:PORT]] NAME [TYPE] [+tcp] [+noedns] [+time=SECS]
       dig [@SERVER[:PORT]] -x ADDR

Sends one query and prints the reply in dig's layout: header, question,
answer, authority and additional sections, then the query time.

  @SERVER[:PORT]  name server to ask (an IP address; [v6]:port for a port);
                  default: the first nameserver in /etc/resolv.conf
  TYPE            A (default), AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, TYPEnn
  -x ADDR         reverse lookup: PTR of ADDR under in-addr.arpa / ip6.arpa
  -p PORT         server port (default 53)
  +tcp            query over TCP (UDP otherwise, with TCP when truncated)
  +noedns         send no EDNS(0) OPT record
  +time=SECS      wait this long for a reply (default 5, at most 65535)
  -h, --help      print this help

Exit status: 0 on a reply (whatever its status), 1 on bad usage,
9 when no reply came.";

/// What the command line asks for.
struct Query {
    server: Option<SocketAddr>,
    port: Option<u16>,
    name: Name,
    rtype: RecordType,
    tcp: bool,
    edns: bool,
    wait: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let q = match parse_args(&args) {
        Ok(Some(q)) => q,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("dig: {why}\n\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    let mut server = match q.server {
        Some(server) => server,
        None => match Config::from_system().map(|c| c.nameservers.first().copied()) {
            Ok(Some(server)) => server,
            Ok(None) => SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            Err(e) => {
                eprintln!("dig: {e}");
                return ExitCode::from(10);
            }
        },
    };
    if let Some(port) = q.port {
        server.set_port(port);
    }

    println!("\n; <<>> tern dig <<>> {}", args.join(" "));
    println!(";; global options: +cmd");
    let started = Instant::now();
    let outcome = tern::block_on(ask(server, &q));
    let elapsed = started.elapsed();
    match outcome {
        Ok((reply, size, transport)) => {
            println!(";; Got answer:");
            print!("{reply}");
            println!("\n;; Query time: {} msec", elapsed.as_millis());
            let proto = if transport == Transport::Tcp {
                "TCP"
            } else {
                "UDP"
            };
            let ip = server.ip();
            println!(";; SERVER: {ip}#{}({ip}) ({proto})", server.port());
            println!(";; MSG SIZE  rcvd: {size}\n");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!(";; communications error to {server}: {why}");
            println!(";; no servers could be reached\n");
            ExitCode::from(9)
        }
    }
}

/// Sends the query and returns the reply, its size and how it came.
async fn ask(server: SocketAddr, q: &Query) -> Result<(Message, usize, Transport), String> {
    let id = tern::sys::random::u16().map_err(|e| format!("getrandom: {e}"))?;
    let edns = q.edns.then_some(EDNS_PAYLOAD);
    let query = Message::query(id, &q.name, q.rtype, edns);
    let deadline = Instant::now() + q.wait;
    let timed_out = || format!("timed out after {} s", q.wait.as_secs_f64());
    if !q.tcp {
        let udp = tern::time::timeout_at(deadline, ask_udp(server, &query));
        let (reply, size) = udp.await.map_err(|_| timed_out())??;
        if !reply.header.tc {
            return Ok((reply, size, Transport::Udp));
        }
        println!(";; Truncated, retrying in TCP mode.");
    }
    let tcp = tern::time::timeout_at(deadline, ask_tcp(server, &query));
    let (reply, size) = tcp.await.map_err(|_| timed_out())??;
    Ok((reply, size, Transport::Tcp))
}

async fn ask_udp(server: SocketAddr, query: &Message) -> Result<(Message, usize), String> {
    let any: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).map_err(|e| e.to_string())?;
    // Connected: the kernel hands us datagrams from the server only.
    socket.connect(server).map_err(|e| e.to_string())?;
    socket
        .send(&query.encode())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        // Anything that is not the reply (wrong ID, junk) is dropped.
        match validate_reply(query, &buf[..n], Transport::Udp) {
            Ok(reply) => return Ok((reply, n)),
            Err(why) => println!(";; Warning: dropped a datagram: {why}"),
        }
    }
}

async fn ask_tcp(server: SocketAddr, query: &Message) -> Result<(Message, usize), String> {
    let stream = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let framed = frame_tcp(&query.encode()).map_err(|e| e.to_string())?;
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    let mut prefix = [0u8; 2];
    stream
        .read_exact(&mut prefix)
        .await
        .map_err(|e| e.to_string())?;
    let mut body = vec![0u8; tcp_frame_len(&prefix).unwrap_or(0)];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    let reply = validate_reply(query, &body, Transport::Tcp).map_err(|e| e.to_string())?;
    Ok((reply, body.len()))
}

/// Reads the command line; `None` means `--help`.
fn parse_args(args: &[String]) -> Result<Option<Query>, String> {
    let mut q = Query {
        server: None,
        port: None,
        name: Name::root(),
        rtype: RecordType::A,
        tcp: false,
        edns: true,
        wait: Duration::from_secs(5),
    };
    let (mut name, mut rtype) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "+tcp" | "+vc" => q.tcp = true,
            "+notcp" => q.tcp = false,
            "+noedns" => q.edns = false,
            "+edns" => q.edns = true,
            "-x" => {
                let text = args.next().ok_or("-x needs an address")?;
                let ip: IpAddr = text.parse().map_err(|_| format!("bad address {text:?}"))?;
                name = Some(Name::reverse_of(ip));
                rtype = Some(RecordType::PTR);
            }
            "-p" => {
                let text = args.next().ok_or("-p needs a port")?;
                q.port = Some(text.parse().map_err(|_| format!("bad port {text:?}"))?);
            }
            a if a.starts_with("+time=") => {
                // Capped as in BIND's dig: the deadline must fit the clock.
                let secs = a[6..].parse::<f64>().ok();
                let secs = secs.filter(|s| (0.0..=65535.0).contains(s));
                q.wait = Duration::from_secs_f64(secs.ok_or_else(|| format!("bad {a}"))?);
            }
            a if a.starts_with('@') => q.server = Some(parse_server(&a[1..])?),
            a if a.starts_with(['-', '+']) => return Err(format!("unknown option {a}")),
            a if name.is_none() => name = Some(a.parse().map_err(|e| format!("{e}"))?),
            a if rtype.is_none() => rtype = Some(a.parse().map_err(|e| format!("{e}"))?),
            a => return Err(format!("unexpected argument {a:?}")),
        }
    }
    q.name = name.ok_or("no name given")?;
    q.rtype = rtype.unwrap_or(RecordType::A);
    Ok(Some(q))
}

/// `192.0.2.53`, `::1`, `192.0.2.53:5353` or `[::1]:5353` (port 53 if none).
fn parse_server(text: &str) -> Result<SocketAddr, String> {
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .or_else(|_| text.parse::<SocketAddr>())
        .map_err(|_| format!("bad server {text:?}: want an IP address, with :PORT if not 53"))
}
