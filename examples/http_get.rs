//! `http_get`: fetches a URL with HTTP/1.0 and streams the body to stdout.
//!
//! ```text
//! cargo run --example http_get -- http://example.com/ > page.html
//! cargo run --example http_get -- --timeout 2 http://127.0.0.1:8080/file
//! ```
//!
//! The host is resolved and connected to with [`tern::dns::connect`]
//! (Happy Eyeballs: IPv6 and IPv4 raced); an IP literal is used as it is.
//! The status line goes to stderr, the body to stdout as it arrives. With
//! a `Content-Length` exactly that many bytes are read; without one, the
//! body ends when the server closes the connection, as HTTP/1.0 allows.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use tern::net::TcpStream;
use tern::time::timeout;

const USAGE: &str = "\
usage: http_get [--timeout SECS] http://HOST[:PORT][/PATH]

Sends `GET /PATH HTTP/1.0` to HOST and writes the response body to stdout;
the status line goes to stderr.

options:
  --timeout SECS  give up when connecting, or any single read, takes
                  longer than this (default 30)
  -h, --help      print this help

Exit status: 0 when the whole response arrived, 1 on any failure
(bad URL, DNS, connection, timeout, short body), 2 on bad usage.";

/// The largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

fn main() -> ExitCode {
    let (url, limit) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("http_get: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match tern::block_on(get(&url, limit)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_get: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn get(url: &str, limit: Duration) -> io::Result<()> {
    let (host, port, path) = split_url(url)?;
    let timed_out =
        |what: &str| io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"));

    // Resolve and connect in one call; IP literals skip the DNS.
    let connect = tern::dns::connect(host.trim_matches(['[', ']']), port);
    let stream = timeout(limit, connect)
        .await
        .map_err(|_| timed_out("connecting"))??;

    let host_header = if port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: tern-http_get\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;

    // Read until the blank line that ends the head; whatever came after
    // it is the start of the body.
    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    let body_start = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > MAX_HEAD {
            return Err(invalid("response head is over 64 KiB"));
        }
        let n = read(&stream, &mut buf, limit).await?;
        if n == 0 {
            return Err(invalid("connection closed before the end of the headers"));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let text = String::from_utf8_lossy(&head[..body_start]);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/") {
        return Err(invalid("the reply is not HTTP"));
    }
    eprintln!("{status}");
    // Two different lengths leave the body's end unknown: an error
    // (RFC 9112, section 6.3), not a guess.
    let mut lengths = lines
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<u64>());
    let content_length = lengths
        .next()
        .transpose()
        .map_err(|_| invalid("bad Content-Length"))?;
    if lengths.any(|other| other.ok() != content_length) {
        return Err(invalid("conflicting Content-Length headers"));
    }

    // Stream the body: no more than Content-Length bytes, or until EOF.
    let mut stdout = io::stdout().lock();
    let mut received = 0u64;
    let mut chunk = &head[body_start..];
    loop {
        let wanted = content_length.map_or(chunk.len() as u64, |len| len - received);
        let take = chunk
            .len()
            .min(usize::try_from(wanted).unwrap_or(usize::MAX));
        stdout.write_all(&chunk[..take])?;
        received += take as u64;
        if content_length == Some(received) {
            break;
        }
        let n = read(&stream, &mut buf, limit).await?;
        if n == 0 {
            match content_length {
                Some(len) => {
                    let why = format!("connection closed after {received} of {len} body bytes");
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, why));
                }
                None => break,
            }
        }
        chunk = &buf[..n];
    }
    stdout.flush()
}

/// One read that must complete within `limit`.
async fn read(stream: &TcpStream, buf: &mut [u8], limit: Duration) -> io::Result<usize> {
    timeout(limit, stream.read(buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reading timed out"))?
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// `http://host:port/path` → (`host`, port, `/path`). An IPv6 host keeps
/// its brackets (`[::1]`), as the Host header wants.
fn split_url(url: &str) -> io::Result<(String, u16, String)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let path = path.split('#').next().unwrap_or("/").to_string();
    // The port follows the last ':' outside brackets.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => {
            let port = authority[i + 1..].parse().map_err(|_| bad("bad port"))?;
            (&authority[..i], port)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad("no host in the URL"));
    }
    Ok((host.to_string(), port, path))
}

/// Returns the URL and the timeout, or `None` for `--help`.
fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<Option<(String, Duration)>, String> {
    let mut url = None;
    let mut limit = Duration::from_secs(30);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--timeout" => {
                let text = args.next().ok_or("--timeout needs a number of seconds")?;
                limit = text
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or_else(|| format!("bad timeout {text:?}"))?;
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Some((url.ok_or("no URL given")?, limit)))
}
