//! `udp_echo`: a UDP echo server, and a client that measures round trips.
//!
//! ```text
//! cargo run --example udp_echo -- server --listen 127.0.0.1:7007
//! cargo run --example udp_echo -- client 127.0.0.1:7007 --count 5
//! ```
//!
//! The server sends every datagram back to where it came from. The client
//! sends numbered datagrams one at a time, waits for each echo (up to a
//! timeout), and prints its round-trip time, then a summary like ping's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tern::net::UdpSocket;

const USAGE: &str = "\
usage: udp_echo server [--listen ADDR:PORT]
       udp_echo client ADDR:PORT [--count N] [--size BYTES] [--timeout MS]

server: echoes every datagram back to its sender (default listen address
        127.0.0.1:7007; port 0 picks a free one). The first line printed
        is `listening on ADDR`.
client: sends N datagrams (default 5) of BYTES bytes (default 64, at
        least 8) one after the other, waiting up to MS milliseconds
        (default 1000) for each echo, and prints each round-trip time.

Exit status (client): 0 if every echo came back, 1 if any was lost.";

/// The client's settings.
struct Client {
    server: SocketAddr,
    count: u64,
    size: usize,
    wait: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = match args.first().map(String::as_str) {
        Some("server") => parse_server(&args[1..]).map(|addr| tern::block_on(server(addr))),
        Some("client") => parse_client(&args[1..]).map(|c| tern::block_on(client(c))),
        _ => Err("say `server` or `client`".to_string()),
    };
    result.unwrap_or_else(|why| {
        eprintln!("udp_echo: {why}\n\n{USAGE}");
        ExitCode::from(2)
    })
}

async fn server(addr: SocketAddr) -> ExitCode {
    let socket = match UdpSocket::bind(addr).and_then(|s| s.local_addr().map(|a| (s, a))) {
        Ok((socket, local)) => {
            println!("listening on {local}");
            socket
        }
        Err(e) => {
            eprintln!("udp_echo: bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = vec![0u8; 65_535];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                if let Err(e) = socket.send_to(&buf[..n], from).await {
                    eprintln!("udp_echo: send to {from}: {e}");
                }
            }
            Err(e) => eprintln!("udp_echo: receive: {e}"),
        }
    }
}

async fn client(c: Client) -> ExitCode {
    let any: IpAddr = match c.server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = match UdpSocket::bind(SocketAddr::new(any, 0)).and_then(|s| {
        s.connect(c.server)?;
        Ok(s)
    }) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("udp_echo: {}: {e}", c.server);
            return ExitCode::FAILURE;
        }
    };
    let mut out = vec![0u8; c.size];
    let mut back = vec![0u8; 65_535];
    let mut rtts = Vec::new();
    for seq in 1..=c.count {
        // The sequence number leads the datagram, so a late echo of an
        // earlier one is told apart and skipped.
        out[..8].copy_from_slice(&seq.to_be_bytes());
        let sent = Instant::now();
        if let Err(e) = socket.send(&out).await {
            println!("seq={seq} error: {e}");
            continue;
        }
        let echo = async {
            loop {
                let n = socket.recv(&mut back).await?;
                if back[..n] == out[..] {
                    return Ok::<_, std::io::Error>(n);
                }
            }
        };
        match tern::time::timeout(c.wait, echo).await {
            Ok(Ok(n)) => {
                let rtt = sent.elapsed();
                println!(
                    "{n} bytes from {}: seq={seq} time={:.3} ms",
                    c.server,
                    ms(rtt)
                );
                rtts.push(rtt);
            }
            Ok(Err(e)) => println!("seq={seq} error: {e}"),
            Err(_) => println!("seq={seq} timed out after {} ms", c.wait.as_millis()),
        }
    }

    let lost = c.count - rtts.len() as u64;
    println!("--- {} udp echo statistics ---", c.server);
    println!("{} sent, {} received, {lost} lost", c.count, rtts.len());
    if let (Some(min), Some(max)) = (rtts.iter().min(), rtts.iter().max()) {
        let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
        println!(
            "rtt min/avg/max = {:.3}/{:.3}/{:.3} ms",
            ms(*min),
            ms(avg),
            ms(*max)
        );
    }
    if lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn parse_server(args: &[String]) -> Result<SocketAddr, String> {
    match args {
        [] => Ok(SocketAddr::from(([127, 0, 0, 1], 7007))),
        [flag, addr] if flag == "--listen" => parse_addr(addr),
        _ => Err(format!("bad server arguments {args:?}")),
    }
}

fn parse_client(args: &[String]) -> Result<Client, String> {
    let (server, mut rest) = match args.split_first() {
        Some((addr, rest)) => (parse_addr(addr)?, rest.iter()),
        None => return Err("client needs the server's ADDR:PORT".into()),
    };
    let mut c = Client {
        server,
        count: 5,
        size: 64,
        wait: Duration::from_secs(1),
    };
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(format!("{flag} needs a value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("bad number {value:?} for {flag}"))?;
        match flag.as_str() {
            "--count" => c.count = number,
            "--size" if (8..=65_507).contains(&number) => c.size = number as usize,
            "--size" => return Err("--size must be 8 to 65507".into()),
            "--timeout" => c.wait = Duration::from_millis(number),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(c)
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("bad address {text:?} (want ADDR:PORT)"))
}
