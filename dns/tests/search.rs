//! The search list, `localhost` and literals against the scripted server:
//! which names reach the DNS, and when the search list stops (glibc's and
//! c-ares's rules).

mod scripted;

use std::net::IpAddr;
use std::rc::Rc;

use scripted::*;
use tern::dns::wire::Rcode;
use tern::dns::{Error, RData, RecordType, Resolver};

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// Answers names under `bad` with `rcode`, the rest from a zone holding
/// `a.test`.
fn split_script(bad: &'static str, rcode: Rcode) -> Script {
    let zone = Zone::new(vec![a("a.test.", "192.0.2.1")]);
    Rc::new(move |q, _| {
        if q.questions[0].name.is_subdomain_of(&name(bad)) {
            vec![Action::Reply(rcode_reply(q, rcode))]
        } else {
            vec![Action::Reply(zone.answer(q))]
        }
    })
}

fn search_config(server: &Server, search: &[&str]) -> tern::dns::Config {
    let mut c = config(&[server.addr], 1000);
    c.attempts = 1;
    c.search = search.iter().map(|s| s.to_string()).collect();
    c
}

/// Issue 15, defect 9: a refused search domain stops the search, as glibc
/// and c-ares stop; `a.test` must not answer for `a.x.invalid`.
#[tern::test]
async fn refused_stops_the_search_list() {
    let server = Server::start(split_script("x.invalid.", Rcode::REFUSED));
    let r = Resolver::new(search_config(&server, &["x.invalid", "test"]));
    let err = r.lookup_ip("a").await.unwrap_err();
    assert!(matches!(err, Error::Refused), "{err}");
    let err = r.lookup("a", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::Refused), "{err}");
    assert!(server
        .seen()
        .iter()
        .all(|s| s.question.name == name("a.x.invalid.")));
}

/// SERVFAIL goes on to the next candidate (glibc and c-ares do too).
#[tern::test]
async fn servfail_goes_on_to_the_next_candidate() {
    let server = Server::start(split_script("x.invalid.", Rcode::SERVFAIL));
    let r = Resolver::new(search_config(&server, &["x.invalid", "test"]));
    assert_eq!(r.lookup_ip("a").await.unwrap(), ips(&["192.0.2.1"]));
}

/// SERVFAIL and then no later candidate answering is a temporary failure,
/// not NXDOMAIN.
#[tern::test]
async fn servfail_then_nxdomain_is_servfail() {
    let server = Server::start(split_script("x.invalid.", Rcode::SERVFAIL));
    let r = Resolver::new(search_config(&server, &["x.invalid", "test"]));
    let err = r.lookup_ip("nothing").await.unwrap_err();
    assert!(matches!(err, Error::ServFail), "{err}");
    let err = r.connect("nothing", 80).await.unwrap_err();
    assert!(err.to_string().contains("nothing"), "{err}");
}

/// Issue 15, defect 2: `Other(28)` is AAAA.
#[tern::test]
async fn type_28_written_as_other_is_aaaa() {
    let zone = Zone::new(vec![aaaa("six.test.", "2001:db8::6")]);
    let server = Server::start(zone.script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let got = r.lookup("six.test", RecordType::Other(28)).await.unwrap();
    assert_eq!(got[0].data, RData::AAAA("2001:db8::6".parse().unwrap()));
    // The same cache entry serves both spellings.
    r.lookup("six.test", RecordType::AAAA).await.unwrap();
    assert_eq!(server.seen().len(), 1);
    assert_eq!(server.seen()[0].question.qtype, RecordType::AAAA);
}

/// Issue 15, defect 8: `localhost` names, scoped IPv6 literals and IPv4
/// literals with a trailing dot never reach the DNS.
#[tern::test]
async fn local_names_and_literals_stay_local() {
    let server = Server::start(Zone::new(vec![]).script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let a = r.lookup("db.localhost", RecordType::A).await.unwrap();
    assert_eq!(a[0].data, RData::A("127.0.0.1".parse().unwrap()));
    let aaaa = r.lookup("db.localhost.", RecordType::AAAA).await.unwrap();
    assert_eq!(aaaa[0].data, RData::AAAA("::1".parse().unwrap()));
    assert!(matches!(
        r.lookup("db.localhost", RecordType::MX).await,
        Err(Error::NoData)
    ));
    assert_eq!(r.lookup_ip("1.2.3.4.").await.unwrap(), ips(&["1.2.3.4"]));
    assert_eq!(
        tern::dns::resolve("1.2.3.4.").await.unwrap(),
        ips(&["1.2.3.4"])
    );
    for scoped in ["fe80::1%eth0", "[fe80::1%2]"] {
        let err = r.lookup_ip(scoped).await.unwrap_err();
        assert!(matches!(err, Error::InvalidName(_)), "{scoped}: {err}");
    }
    assert_eq!(server.seen().len(), 0);
}
