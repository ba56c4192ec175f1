//! tern's resolver against a real DNS server: dnsmasq on 127.0.0.1 at a
//! free high port, with no upstream, serving names the test configures
//! (a hosts file and `--address`, `--cname`, `--mx-host`, `--txt-record`,
//! `--srv-host`, `--ptr-record` entries). Each test checks tern's answers
//! against that configuration.
//!
//! dnsmasq comes from the `dnsmasq-base` package (`.ci/run` installs it).
//! When it is missing the tests fail if the `CI` environment variable is
//! set, and otherwise print a skip notice and pass.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tern::dns::wire::Message;
use tern::dns::{Config, Error, Name, RData, RecordType, Resolver};

/// How long dnsmasq may take to start answering.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The addresses of `many.tern.test`: 100 A records, 1600 bytes of
/// answer, more than a 1232-byte EDNS datagram holds.
fn many_addresses() -> Vec<Ipv4Addr> {
    (1..=100).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect()
}

/// The hosts file dnsmasq reads with `--addn-hosts`.
fn hosts_file() -> String {
    let mut text = String::from(
        "192.0.2.1 host.tern.test\n\
         2001:db8::1 host.tern.test\n\
         192.0.2.25 mail1.tern.test\n",
    );
    for ip in many_addresses() {
        text.push_str(&format!("{ip} many.tern.test\n"));
    }
    text
}

/// The rest of the zone, as dnsmasq options.
const ZONE: &[&str] = &[
    // Names under tern.test that nothing defines are NXDOMAIN.
    "--local=/tern.test/",
    "--address=/addr.tern.test/192.0.2.3",
    "--address=/addr.tern.test/2001:db8::3",
    // alias1 → alias2 → host.tern.test (from the hosts file).
    "--cname=alias1.tern.test,alias2.tern.test",
    "--cname=alias2.tern.test,host.tern.test",
    "--mx-host=tern.test,mail1.tern.test,10",
    "--mx-host=tern.test,mail2.tern.test,20",
    "--txt-record=txt.tern.test,v=spf1 -all,hello world",
    "--srv-host=_sip._tcp.tern.test,sip1.tern.test,5060,10,20",
    "--srv-host=_sip._tcp.tern.test,sip2.tern.test,5061,20,5",
    "--ptr-record=10.2.0.192.in-addr.arpa,ptr.tern.test",
];

/// A running dnsmasq; dropping it kills it and removes its files.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq, or returns `None` (after saying so) when it is not
    /// installed and `CI` is unset.
    fn start(test: &str) -> Option<Dnsmasq> {
        let installed = match Command::new("dnsmasq").arg("--version").output() {
            Ok(out) => out.status.success(),
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => panic!("cannot run dnsmasq: {e}"),
        };
        if !installed {
            if std::env::var_os("CI").is_some() {
                panic!("dnsmasq is not installed but CI is set: `apt-get install -y dnsmasq-base`");
            }
            // Straight to stderr, past the test harness's output capture,
            // so the notice shows even though the test passes.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: dnsmasq is not installed \
                 (`apt-get install -y dnsmasq-base`; with CI set this test fails instead)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("tern-interop-{}-{test}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let hosts = dir.join("hosts");
        fs::write(&hosts, hosts_file()).unwrap();
        // The port is free when we look; if something takes it before
        // dnsmasq binds, dnsmasq exits and we try another.
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .unwrap()
                .port();
            let log = dir.join("log");
            let child = Command::new("dnsmasq")
                .args([
                    "--keep-in-foreground",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    &format!("--port={port}"),
                    &format!("--user={}", user()),
                    "--pid-file=",
                    "--no-resolv",
                    "--no-hosts",
                    &format!("--addn-hosts={}", hosts.display()),
                    &format!("--log-facility={}", log.display()),
                ])
                .args(ZONE)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start dnsmasq");
            let mut d = Dnsmasq {
                child,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                dir: dir.clone(),
            };
            match d.wait_until_answering() {
                Ok(()) => return Some(d),
                Err(why) => {
                    let log = fs::read_to_string(&log).unwrap_or_default();
                    failures.push(format!("port {port}: {why}\n{log}"));
                    d.dir = PathBuf::new(); // keep the directory for the next try
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("dnsmasq did not start:\n{}", failures.join("\n"));
    }

    /// Probes with a query every 100 ms until dnsmasq answers.
    fn wait_until_answering(&mut self) -> Result<(), String> {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.connect(self.addr).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let name: Name = "host.tern.test".parse().unwrap();
        let query = Message::query(0x7e57, &name, RecordType::A, None).encode();
        let deadline = Instant::now() + START_LIMIT;
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return Err(format!("dnsmasq exited ({status}): {stderr}"));
            }
            let _ = probe.send(&query);
            // Recv waits for the answer, or 100 ms (a refused port returns
            // at once, so pace the loop by the read timeout then).
            match probe.recv(&mut buf) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    let _ = probe.set_read_timeout(Some(Duration::from_millis(100)));
                    let _ = probe.recv(&mut buf);
                }
                Err(_) => {}
            }
        }
        Err(format!("no answer within {START_LIMIT:?}"))
    }

    /// A resolver that asks this dnsmasq only: no hosts file, no search
    /// list, no cache.
    fn resolver(&self, edns: bool) -> Resolver {
        let mut config = Config::default();
        config.nameservers = vec![self.addr];
        config.use_hosts = false;
        config.search = Vec::new();
        config.timeout = Duration::from_secs(3);
        config.cache_size = 0;
        config.edns = edns;
        Resolver::new(config)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The user dnsmasq should run as: ourselves (root keeps root rather than
/// dropping to `nobody`, who could not read our files).
fn user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

#[tern::test]
async fn a_and_aaaa() {
    let Some(dnsmasq) = Dnsmasq::start("a_and_aaaa") else {
        return;
    };
    let r = dnsmasq.resolver(true);
    // From the hosts file.
    assert_eq!(
        r.lookup_ip("host.tern.test").await.unwrap(),
        [ip("192.0.2.1"), ip("2001:db8::1")]
    );
    let a = r.lookup("host.tern.test", RecordType::A).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].name, name("host.tern.test"));
    assert_eq!(a[0].data, RData::A(Ipv4Addr::new(192, 0, 2, 1)));
    let aaaa = r.lookup("host.tern.test", RecordType::AAAA).await.unwrap();
    assert_eq!(aaaa.len(), 1);
    assert_eq!(
        aaaa[0].data,
        RData::AAAA("2001:db8::1".parse::<Ipv6Addr>().unwrap())
    );
    // From --address, which covers the subdomains too.
    for host in ["addr.tern.test", "deep.sub.addr.tern.test"] {
        assert_eq!(
            r.lookup_ip(host).await.unwrap(),
            [ip("192.0.2.3"), ip("2001:db8::3")],
            "{host}"
        );
    }
    // A name without MX records: NODATA, not NXDOMAIN.
    let err = r
        .lookup("host.tern.test", RecordType::MX)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoData), "{err:?}");
}

#[tern::test]
async fn cname_chain() {
    let Some(dnsmasq) = Dnsmasq::start("cname_chain") else {
        return;
    };
    let r = dnsmasq.resolver(true);
    assert_eq!(
        r.lookup_ip("alias1.tern.test").await.unwrap(),
        [ip("192.0.2.1"), ip("2001:db8::1")]
    );
    // The records come from the end of the chain.
    let a = r.lookup("alias1.tern.test", RecordType::A).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].name, name("host.tern.test"));
    // Asked for the CNAME itself, only the first link comes back.
    let cname = r
        .lookup("alias1.tern.test", RecordType::CNAME)
        .await
        .unwrap();
    assert_eq!(cname.len(), 1);
    assert_eq!(cname[0].name, name("alias1.tern.test"));
    assert_eq!(cname[0].data, RData::CNAME(name("alias2.tern.test")));
}

#[tern::test]
async fn mx_txt_srv() {
    let Some(dnsmasq) = Dnsmasq::start("mx_txt_srv") else {
        return;
    };
    let r = dnsmasq.resolver(true);

    let mut mx: Vec<(u16, Name)> = r
        .lookup("tern.test", RecordType::MX)
        .await
        .unwrap()
        .into_iter()
        .map(|rec| match rec.data {
            RData::MX {
                preference,
                exchange,
            } => (preference, exchange),
            other => panic!("not MX: {other:?}"),
        })
        .collect();
    mx.sort();
    assert_eq!(
        mx,
        [(10, name("mail1.tern.test")), (20, name("mail2.tern.test"))]
    );

    let txt = r.lookup("txt.tern.test", RecordType::TXT).await.unwrap();
    assert_eq!(txt.len(), 1);
    assert_eq!(
        txt[0].data,
        RData::TXT(vec![b"v=spf1 -all".to_vec(), b"hello world".to_vec()])
    );

    let srv: BTreeSet<(u16, u16, u16, Name)> = r
        .lookup("_sip._tcp.tern.test", RecordType::SRV)
        .await
        .unwrap()
        .into_iter()
        .map(|rec| match rec.data {
            RData::SRV {
                priority,
                weight,
                port,
                target,
            } => (priority, weight, port, target),
            other => panic!("not SRV: {other:?}"),
        })
        .collect();
    assert_eq!(
        srv,
        BTreeSet::from([
            (10, 20, 5060, name("sip1.tern.test")),
            (20, 5, 5061, name("sip2.tern.test")),
        ])
    );
}

#[tern::test]
async fn ptr() {
    let Some(dnsmasq) = Dnsmasq::start("ptr") else {
        return;
    };
    let r = dnsmasq.resolver(true);
    // --ptr-record
    assert_eq!(
        r.reverse(ip("192.0.2.10")).await.unwrap(),
        [name("ptr.tern.test")]
    );
    // dnsmasq answers PTR for hosts-file addresses, both families.
    assert_eq!(
        r.reverse(ip("192.0.2.1")).await.unwrap(),
        [name("host.tern.test")]
    );
    assert_eq!(
        r.reverse(ip("2001:db8::1")).await.unwrap(),
        [name("host.tern.test")]
    );
}

#[tern::test]
async fn nxdomain() {
    let Some(dnsmasq) = Dnsmasq::start("nxdomain") else {
        return;
    };
    let r = dnsmasq.resolver(true);
    let err = r.lookup_ip("nope.tern.test").await.unwrap_err();
    assert!(matches!(err, Error::NxDomain), "{err:?}");
    assert_eq!(err.to_string(), "no such domain");
    let err = r
        .lookup("nope.tern.test", RecordType::TXT)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NxDomain), "{err:?}");
}

#[tern::test]
async fn many_addresses_fall_back_to_tcp() {
    let Some(dnsmasq) = Dnsmasq::start("many_addresses") else {
        return;
    };
    // First, that a UDP reply cannot hold them: dnsmasq sets TC even with
    // EDNS's 1232 bytes.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.connect(dnsmasq.addr).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let query = Message::query(0x1232, &name("many.tern.test"), RecordType::A, Some(1232));
    probe.send(&query.encode()).unwrap();
    let mut buf = [0u8; 65535];
    let n = probe.recv(&mut buf).expect("dnsmasq answers over UDP");
    let header = tern::dns::wire::Header::decode(&buf[..n]).unwrap();
    assert!(header.tc, "a {n}-byte UDP reply was not truncated");

    // Then tern gets all of them, over TCP, with and without EDNS.
    let want: BTreeSet<IpAddr> = many_addresses().into_iter().map(IpAddr::V4).collect();
    for edns in [true, false] {
        let got = dnsmasq
            .resolver(edns)
            .lookup_ip("many.tern.test")
            .await
            .unwrap();
        assert_eq!(got.len(), 100, "edns {edns}");
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            want,
            "edns {edns}"
        );
    }
}
