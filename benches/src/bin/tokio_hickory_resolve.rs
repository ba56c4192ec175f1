//! The tokio + hickory-resolver equivalent of tern's `resolve` example,
//! built only to compare binary size and dependency count
//! (`tern-benches footprint`): resolves the host names given as arguments
//! with the system configuration and prints their addresses.

use std::process::ExitCode;

use hickory_resolver::TokioResolver;

fn main() -> ExitCode {
    let hosts: Vec<String> = std::env::args().skip(1).collect();
    if hosts.is_empty() {
        eprintln!("usage: tokio-hickory-resolve HOST...");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let resolver = match TokioResolver::builder_tokio().and_then(|b| b.build()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("resolver: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut status = ExitCode::SUCCESS;
        for host in &hosts {
            match resolver.lookup_ip(host.as_str()).await {
                Ok(ips) => {
                    for ip in ips.iter() {
                        println!("{host}\t{ip}");
                    }
                }
                Err(e) => {
                    eprintln!("{host}: {e}");
                    status = ExitCode::FAILURE;
                }
            }
        }
        status
    })
}
