//! Builds the DNS floor loop (`src/dns_floor.c`), and the c-ares driver
//! (`src/dns_cares.c`) against the system's
//! libc-ares (Debian `libc-ares-dev`), found with `pkg-config`. Without it
//! the crate still builds: the `tern_cares` cfg stays off and the c-ares
//! column of the DNS group says why it was skipped.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tern_cares)");
    println!("cargo:rerun-if-changed=src/dns_cares.c");
    println!("cargo:rerun-if-changed=src/dns_floor.c");
    // The DNS floor loop needs only libc.
    cc::Build::new()
        .file("src/dns_floor.c")
        .opt_level(2)
        .compile("tern_dns_floor");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let probe = |args: &[&str]| {
        Command::new("pkg-config")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let (cflags, libs) = match (
        probe(&["--cflags", "libcares"]),
        probe(&["--libs", "libcares"]),
    ) {
        (Some(c), Some(l)) => (c, l),
        // No pkg-config: the Debian layout, if the header is there.
        _ if std::path::Path::new("/usr/include/ares.h").exists() => {
            (String::new(), "-lcares".to_string())
        }
        _ => {
            println!("cargo:warning=libc-ares-dev not found: the c-ares column is skipped");
            return;
        }
    };
    let mut build = cc::Build::new();
    build.file("src/dns_cares.c").opt_level(2);
    for flag in cflags.split_whitespace() {
        build.flag(flag);
    }
    build.compile("tern_dns_cares");
    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        }
    }
    println!("cargo:rustc-cfg=tern_cares");
}
