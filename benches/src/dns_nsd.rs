//! nsd (NLnet Labs' authoritative server, Debian package `nsd`) as a DNS
//! server for the benchmarks: started on a free port of 127.0.0.1 with a
//! configuration and a zone written to a temporary directory, serving
//! `bench.test` with a wildcard `* A 192.0.2.1` (TTL 60, minimal
//! responses), so every `host{N}.bench.test.` gets one address. Response
//! rate limiting is off (nsd's default of 200 replies/s per client network
//! would drop or truncate most of a benchmark's replies). One server
//! process; stopped and its directory removed when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nsd.
#[derive(Debug)]
pub struct Nsd {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

const ZONE: &str = "$ORIGIN bench.test.
$TTL 60
@ IN SOA ns.bench.test. admin.bench.test. 1 3600 600 86400 60
@ IN NS ns.bench.test.
ns IN A 127.0.0.1
* IN A 192.0.2.1
";

impl Nsd {
    /// Starts nsd, trying a few ports (a UDP port found free may be taken
    /// for TCP, which makes nsd fail to start).
    pub fn start() -> Result<Nsd, String> {
        let mut last = String::new();
        for attempt in 0..5 {
            match Nsd::start_once(attempt) {
                Ok(d) => return Ok(d),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Where nsd answers.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn start_once(attempt: u32) -> Result<Nsd, String> {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir =
            std::env::temp_dir().join(format!("tern-bench-nsd-{}-{attempt}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let d = dir.display();
        let conf = format!(
            "server:
  ip-address: 127.0.0.1@{port}
  server-count: 1
  username: \"\"
  chroot: \"\"
  zonesdir: \"{d}\"
  pidfile: \"{d}/nsd.pid\"
  database: \"\"
  zonelistfile: \"{d}/zone.list\"
  xfrdfile: \"{d}/xfrd.state\"
  xfrdir: \"{d}\"
  logfile: \"{d}/nsd.log\"
  verbosity: 0
  do-ip6: no
  reuseport: no
  minimal-responses: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.test.zone
"
        );
        let conf_path = dir.join("nsd.conf");
        std::fs::write(dir.join("bench.test.zone"), ZONE)
            .and_then(|()| std::fs::write(&conf_path, conf))
            .map_err(|e| format!("{d}: {e}"))?;
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nsd not available ({e}); apt-get install nsd"))?;
        let mut nsd = Nsd {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        nsd.wait_ready()?;
        Ok(nsd)
    }

    /// Waits until nsd answers a query (at most 5 s).
    fn wait_ready(&mut self) -> Result<(), String> {
        let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let query = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'h', b'o', b's', b't', b'0', 5, b'b',
            b'e', b'n', b'c', b'h', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1,
        ];
        let mut buf = [0u8; 512];
        for _ in 0..50 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("nsd.log")).unwrap_or_default();
                return Err(format!("nsd exited at start ({status}): {}", log.trim()));
            }
            let _ = probe.send_to(&query, self.addr);
            if let Ok(n) = probe.recv(&mut buf) {
                // ID echoed and one answer.
                if n > 12 && buf[..2] == [0x12, 0x34] && buf[6..8] == [0, 1] {
                    return Ok(());
                }
            }
        }
        Err("nsd did not answer within 5 s".into())
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        // SIGTERM, so that nsd stops its server and xfrd processes too (a
        // SIGKILL would leave them running); SIGKILL if it lingers.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child, which has not been reaped
            // yet (so the pid cannot have been reused); no memory involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
