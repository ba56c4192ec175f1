//! Bounds a server cannot push the resolver past: records per answer, the
//! time one lookup takes, and configurations at their extremes.

mod scripted;

use std::rc::Rc;
use std::time::Duration;

use scripted::*;
use tern::dns::exchange::MAX_ANSWER_RECORDS;
use tern::dns::wire::Rcode;
use tern::dns::{Error, RecordType, Resolver};

/// Issue 15, defect 3: a reply of 1,000 A records gives at most
/// MAX_ANSWER_RECORDS.
#[tern::test]
async fn records_per_answer_are_capped() {
    let script: Script = Rc::new(|q, _| {
        let mut m = reply_to(q);
        let owner = q.questions[0].name.to_string();
        for i in 0..1000u32 {
            m.answers
                .push(a(&owner, &format!("10.0.{}.{}", i / 256, i % 256)));
        }
        vec![Action::Reply(m)]
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 1000));
    let got = r.lookup("many.test", RecordType::A).await.unwrap();
    assert_eq!(got.len(), MAX_ANSWER_RECORDS);
    // The 16 KB datagram is longer than a UDP receive slot, so it was
    // asked again over TCP: two queries.
    assert_eq!(server.seen().len(), 2);
    // The cache keeps no more than was returned, and answers the next.
    let again = r.lookup("many.test", RecordType::A).await.unwrap();
    assert_eq!(again.len(), MAX_ANSWER_RECORDS);
    assert_eq!(server.seen().len(), 2);
}

/// Issue 15, defect 6: a server that answers SERVFAIL just before each
/// timeout cannot drag a lookup through every search candidate; the
/// per-lookup deadline (timeout × attempts × servers) ends it.
#[tern::test]
async fn slow_servfail_cannot_drag_through_the_search_list() {
    let script: Script = Rc::new(|q, _| {
        vec![
            Action::Delay(Duration::from_millis(150)),
            Action::Reply(rcode_reply(q, Rcode::SERVFAIL)),
        ]
    });
    let server = Server::start(script);
    let mut c = config(&[server.addr], 200);
    c.attempts = 1;
    c.search = (0..6).map(|i| format!("s{i}.test")).collect();
    let r = Resolver::new(c);
    let err = r.lookup("host", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err}");
    // 150 ms per candidate against a 200 ms lookup: two candidates at most
    // were asked, not all seven.
    let asked = server.seen().len();
    assert!((1..=2).contains(&asked), "{asked} queries");
}

/// `timeout = Duration::MAX` and `attempts = u32::MAX` neither panic nor
/// allocate per attempt; the lookup deadline ends the lookup.
#[tern::test]
async fn extreme_timeouts_and_attempts_are_fine() {
    let server = Server::start(Rc::new(|_, _| vec![]));
    let mut c = config(&[server.addr], 1000);
    c.timeout = Duration::MAX;
    c.attempts = u32::MAX;
    c.lookup_timeout = Some(Duration::from_millis(100));
    let r = Resolver::new(c.clone());
    let err = r.lookup("www.test", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err}");
    assert_eq!(server.seen().len(), 1, "one attempt ran into the deadline");
    let err = r.lookup_ip("www.test").await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err}");
    // A refusing server with u32::MAX attempts: every attempt fails at
    // once, and the deadline still ends the loop.
    let refusing = Server::start(Rc::new(|q, _| {
        vec![Action::Reply(rcode_reply(q, Rcode::SERVFAIL))]
    }));
    let mut c2 = config(&[refusing.addr], 1000);
    c2.attempts = u32::MAX;
    c2.timeout = Duration::MAX;
    c2.lookup_timeout = Some(Duration::from_millis(50));
    let r = Resolver::new(c2);
    let err = r.lookup("www.test", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::Timeout | Error::ServFail), "{err}");
    assert!(refusing.seen().len() > 1);
}
