//! resolv.conf and the hosts file re-read when they change, checked at
//! most once per `Config::reload_interval` (files in a temp dir).

mod scripted;

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use scripted::*;
use tern::dns::{Config, RecordType, Resolver};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-reload-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tern::test]
async fn hosts_file_is_reread_when_it_changes() {
    let dir = temp_dir("hosts");
    let hosts = dir.join("hosts");
    fs::write(&hosts, "192.0.2.1 pinned.test\n").unwrap();
    let server = Server::start(Zone::new(vec![a("new.test.", "198.51.100.1")]).script());
    let mut c = config(&[server.addr], 1000);
    c.use_hosts = true;
    c.hosts_file = hosts.clone();
    c.reload_interval = Duration::ZERO;
    let r = Resolver::new(c);
    assert_eq!(r.lookup_ip("pinned.test").await.unwrap(), [ip("192.0.2.1")]);
    assert_eq!(r.lookup_ip("new.test").await.unwrap(), [ip("198.51.100.1")]);
    fs::write(&hosts, "192.0.2.2 pinned.test\n192.0.2.3 new.test\n").unwrap();
    assert_eq!(r.lookup_ip("pinned.test").await.unwrap(), [ip("192.0.2.2")]);
    assert_eq!(r.lookup_ip("new.test").await.unwrap(), [ip("192.0.2.3")]);
    // Removed: an empty table; the DNS answers again.
    fs::remove_file(&hosts).unwrap();
    assert_eq!(r.lookup_ip("new.test").await.unwrap(), [ip("198.51.100.1")]);
    fs::remove_dir_all(&dir).unwrap();
}

#[tern::test]
async fn resolv_conf_is_reread_when_it_changes() {
    let dir = temp_dir("conf");
    let path = dir.join("resolv.conf");
    fs::write(&path, "nameserver 192.0.2.53\nsearch a.test\n").unwrap();
    let mut c = Config::from_file(&path).unwrap();
    c.use_hosts = false;
    c.reload_interval = Duration::ZERO;
    c.cache_size = 64;
    let r = Resolver::new(c);
    assert_eq!(r.config().search, ["a.test"]);
    // Fill the cache (localhost is answered locally but checks the files).
    r.lookup("localhost", RecordType::A).await.unwrap();
    fs::write(
        &path,
        "nameserver 192.0.2.54\nsearch b.test c.test\noptions ndots:3 no-aaaa\n",
    )
    .unwrap();
    r.lookup("localhost", RecordType::A).await.unwrap();
    let now = r.config();
    assert_eq!(now.search, ["b.test", "c.test"]);
    assert_eq!(now.ndots, 3);
    assert_eq!(now.nameservers, ["192.0.2.54:53".parse().unwrap()]);
    assert_eq!(now.ip_family, tern::dns::IpFamily::V4Only);
    // Settings a resolv.conf does not hold stay as they were set.
    assert_eq!((now.use_hosts, now.cache_size), (false, 64));
    assert_eq!(now.reload_interval, Duration::ZERO);
    fs::remove_dir_all(&dir).unwrap();
}

/// Within the interval, a change is not looked for.
#[tern::test]
async fn files_are_not_checked_within_the_interval() {
    let dir = temp_dir("interval");
    let path = dir.join("resolv.conf");
    fs::write(&path, "search a.test\n").unwrap();
    let mut c = Config::from_file(&path).unwrap();
    c.use_hosts = false;
    c.reload_interval = Duration::from_secs(3600);
    let r = Resolver::new(c);
    fs::write(&path, "search b.test\n").unwrap();
    r.lookup("localhost", RecordType::A).await.unwrap();
    assert_eq!(r.config().search, ["a.test"]);
    fs::remove_dir_all(&dir).unwrap();
}

/// Settings a program set in code on a configuration read from a file
/// stay while the file is unchanged: the first check compares the file
/// with what `Config::from_file` read, and does not re-read it blindly.
#[tern::test]
async fn settings_set_in_code_stay_while_the_file_is_unchanged() {
    let dir = temp_dir("code");
    let path = dir.join("resolv.conf");
    fs::write(&path, "nameserver 192.0.2.53\nsearch file.test\n").unwrap();
    let mut c = Config::from_file(&path).unwrap();
    c.use_hosts = false;
    c.reload_interval = Duration::ZERO;
    c.search = vec!["code.test".to_string()];
    let r = Resolver::new(c);
    r.lookup("localhost", RecordType::A).await.unwrap();
    r.lookup("localhost", RecordType::A).await.unwrap();
    assert_eq!(r.config().search, ["code.test"]);
    fs::remove_dir_all(&dir).unwrap();
}

/// A resolv.conf that keeps changing its servers (a DHCP client on a
/// flapping network, say) does not grow what the resolver keeps per
/// server: a reload forgets the servers no longer configured.
#[tern::test]
async fn servers_no_longer_configured_are_forgotten() {
    let dir = temp_dir("servers");
    let path = dir.join("resolv.conf");
    let servers = |i: usize| -> Vec<SocketAddr> {
        [
            "127.0.0.2:53".to_string(),
            format!("127.0.0.{}:53", 100 + i),
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
    };
    // Renamed into place, one byte longer each time, so that no version
    // can carry the stamp of the one before.
    let write = |i: usize| {
        let new = dir.join("resolv.conf.new");
        let mut text: String = servers(i)
            .iter()
            .map(|s| format!("nameserver {}\n", s.ip()))
            .collect();
        text.push_str("options timeout:1 attempts:1\n#");
        text.push_str(&"#".repeat(i));
        fs::write(&new, text).unwrap();
        fs::rename(&new, &path).unwrap();
    };
    write(0);
    let mut c = Config::from_file(&path).unwrap();
    c.use_hosts = false;
    c.reload_interval = Duration::ZERO;
    c.cache_size = 0;
    // Nothing listens on port 53 of these loopback addresses, so each
    // query is refused at once (ICMP); the deadline bounds it otherwise.
    // Every query leaves something known about its server (its cookie).
    c.lookup_timeout = Some(Duration::from_millis(200));
    let r = Resolver::new(c);
    for i in 0..40 {
        write(i);
        let _ = r.lookup("a.test.", RecordType::A).await;
        assert_eq!(r.config().nameservers, servers(i), "re-read {i}");
        let known = r.server_states();
        assert!(
            (1..=2).contains(&known),
            "{known} servers known after {i} changes, 2 configured"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}
