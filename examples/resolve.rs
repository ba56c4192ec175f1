//! `resolve`: prints the addresses of each name given, like a tiny `host`.
//!
//! ```text
//! cargo run --example resolve -- example.com www.rust-lang.org
//! cargo run --example resolve -- --server 127.0.0.1:5353 host.example.test
//! ```
//!
//! Each address is printed as `NAME<TAB>ADDRESS`, IPv4 first. A name that
//! fails is reported on stderr as `NAME: why` (for example
//! `example.invalid: no such domain`) and makes the exit code 1.
//!
//! All names are looked up at once, one task per name, on a single
//! thread; the results are printed in the order the names were given.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use tern::dns::{Config, Resolver};

const USAGE: &str = "\
usage: resolve [--server ADDR[:PORT]] NAME...

Prints the IPv4 and IPv6 addresses of each NAME, one `NAME<TAB>ADDRESS`
per line, using the system's resolver configuration (/etc/resolv.conf,
/etc/hosts).

options:
  --server ADDR[:PORT]  ask this name server (port 53 if none is given)
                        instead of the ones in /etc/resolv.conf
  -h, --help            print this help

Exit status: 0 if every name resolved, 1 if any failed, 2 on bad usage.";

fn main() -> ExitCode {
    let Args { server, names } = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("resolve: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    // The system's configuration (search list, ndots, timeouts, hosts
    // file), with the name servers replaced when --server is given.
    let mut config = match Config::from_system() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("resolve: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(server) = server {
        config.nameservers = vec![server];
    }
    let resolver = Resolver::new(config);

    tern::block_on(async move {
        // Start every lookup at once; each task owns a handle to the
        // same resolver (and so shares its cache).
        let lookups: Vec<_> = names
            .into_iter()
            .map(|name| {
                let resolver = resolver.clone();
                tern::spawn(async move {
                    let result = resolver.lookup_ip(&name).await;
                    (name, result)
                })
            })
            .collect();

        let mut status = ExitCode::SUCCESS;
        for lookup in lookups {
            match lookup.await {
                Ok((name, Ok(ips))) => {
                    for ip in ips {
                        println!("{name}\t{ip}");
                    }
                }
                Ok((name, Err(e))) => {
                    eprintln!("{name}: {e}");
                    status = ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("resolve: lookup task failed: {e}");
                    status = ExitCode::FAILURE;
                }
            }
        }
        status
    })
}

/// What the command line asks for.
struct Args {
    server: Option<SocketAddr>,
    names: Vec<String>,
}

/// Reads the command line; `None` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut server = None;
    let mut names = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--server" => {
                let value = args.next().ok_or("--server needs an address")?;
                server = Some(parse_server(&value)?);
            }
            "--" => names.extend(args.by_ref()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => names.push(arg),
        }
    }
    if names.is_empty() {
        return Err("no names given".into());
    }
    Ok(Some(Args { server, names }))
}

/// `192.0.2.1:5353`, `[2001:db8::1]:53`, or a bare address (port 53).
fn parse_server(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("bad server address {text:?} (want ADDR or ADDR:PORT)"))
}
