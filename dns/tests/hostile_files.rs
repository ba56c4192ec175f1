//! Hostile resolv.conf and hosts files: sizes and values that must not
//! make tern misbehave.

use std::fs;
use std::net::IpAddr;
use std::time::Duration;

use tern::dns::{Config, Hosts, Name, RecordType, Resolver};

/// A blocklist-style hosts file: `names` names on one address, and one
/// name with `names / 5` addresses.
fn blocklist(names: usize) -> String {
    let mut text = String::new();
    for i in 0..names {
        text.push_str(&format!("0.0.0.0 ads{i}.tracker.example\n"));
    }
    for i in 0..(names / 5) as u32 {
        let [_, _, hi, lo] = i.to_be_bytes();
        text.push_str(&format!("10.1.{hi}.{lo} many.example\n"));
    }
    text
}

/// A blocklist-style hosts file (tens of thousands of names on one
/// address, as ad-blocking lists ship) is read whole, each name once. That
/// its parse is linear is counted (name comparisons per line) by a unit
/// test in `hosts.rs`, not timed here.
#[test]
fn blocklist_hosts_file_is_read_whole() {
    let mut text = blocklist(25_000);
    // Duplicates are still entered once.
    text.push_str("0.0.0.0 ads7.tracker.example ADS7.tracker.example.\n");
    let hosts = Hosts::parse(&text);
    let zero: IpAddr = "0.0.0.0".parse().unwrap();
    assert_eq!(hosts.reverse(zero).len(), 25_000);
    let many: Name = "many.example".parse().unwrap();
    assert_eq!(hosts.lookup(&many).len(), 5_000);
    let ads7: Name = "ads7.tracker.example".parse().unwrap();
    assert_eq!(hosts.lookup(&ads7), [zero]);
}

/// resolv.conf replaced between `Config::from_file` and `Resolver::new`
/// (a config read once and handed to resolvers made later, or a DHCP
/// client rewriting the file while `Resolver::system` reads the hosts
/// file) must be picked up: a watch that took the file's stamp when the
/// resolver is made, not when the file was read, would never see it.
/// `Config::from_file` (config.rs) keeps the stamp of what it read (fstat
/// of the file it read) for `Watch::new` to start from, and
/// `Resolver::new` (resolver/mod.rs) stats the hosts file before it reads
/// it.
#[tern::test]
async fn a_change_before_the_resolver_is_made_is_not_lost() {
    let dir = std::env::temp_dir().join(format!("tern-dnsrev-stale-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resolv.conf");
    fs::write(&path, "search old.test\n").unwrap();
    let mut c = Config::from_file(&path).unwrap();
    c.use_hosts = false;
    c.reload_interval = Duration::ZERO;
    // Renamed into place, as editors and DHCP clients do.
    let new = dir.join("resolv.conf.new");
    fs::write(&new, "search new.test\n").unwrap();
    fs::rename(&new, &path).unwrap();
    let r = Resolver::new(c);
    // localhost is answered locally, after the files are checked.
    r.lookup("localhost", RecordType::A).await.unwrap();
    let search = r.config().search.clone();
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(search, ["new.test"]);
}
