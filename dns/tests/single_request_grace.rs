//! `single-request` and an AAAA blackhole (review finding, cacherev): once
//! A has answered with addresses, `lookup_ip` gives the AAAA query only
//! `AAAA_GRACE` more, as it does with both queries in flight (DESIGN.md:
//! "`lookup_ip` does not wait out a blackholed AAAA query once A has
//! answered"). It waited out the whole lookup time. On the paused clock.

mod scripted;

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use scripted::*;
use tern::dns::{RecordType, Resolver, AAAA_GRACE};

#[tern::test(start_paused = true)]
async fn single_request_does_not_wait_out_a_blackholed_aaaa() {
    let zone = Zone::new(vec![
        a("dual.test.", "127.0.0.1"),
        aaaa("dual.test.", "::1"),
    ]);
    let server = Server::start(zone.script_dropping_aaaa());
    let mut c = config(&[server.addr], 2000);
    c.single_request = true;
    let lookup_time = c.lookup_time();
    let r = Resolver::new(c);
    let start = tern::time::now();
    let got = r.lookup_ip("dual.test").await.unwrap();
    let took = tern::time::now() - start;
    assert_eq!(got, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    assert!(
        took <= AAAA_GRACE,
        "took {took:?} (lookup time {lookup_time:?})"
    );
    let types: Vec<RecordType> = server.seen().iter().map(|s| s.question.qtype).collect();
    assert_eq!(types, [RecordType::A, RecordType::AAAA], "AAAA not retried");
}

/// The grace period does not cost IPv6 on a slow path: AAAA, asked after
/// A, gets the time A took and then the grace, as it would have had in
/// flight beside A. Both answers here take 1 s.
#[tern::test(start_paused = true)]
async fn single_request_gives_a_slow_aaaa_the_time_a_took() {
    let zone = Zone::new(vec![
        a("dual.test.", "127.0.0.1"),
        aaaa("dual.test.", "::1"),
    ]);
    let script: Script = Rc::new(move |q, _| {
        vec![
            Action::Delay(Duration::from_secs(1)),
            Action::Reply(zone.answer(q)),
        ]
    });
    let server = Server::start(script);
    let mut c = config(&[server.addr], 5000);
    c.single_request = true;
    let r = Resolver::new(c);
    let start = tern::time::now();
    let got = r.lookup_ip("dual.test").await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(tern::time::now() - start, Duration::from_secs(2));
}
