//! What the resolver remembers about its servers: health (failed servers
//! are asked after healthy ones) and EDNS (a server that refuses or drops
//! EDNS is asked without it from then on).

mod scripted;

use std::rc::Rc;

use scripted::*;
use tern::dns::{RecordType, Resolver};

fn zone() -> Zone {
    Zone::new(
        (0..8)
            .map(|i| a(&format!("h{i}.test."), &format!("192.0.2.{i}")))
            .collect(),
    )
}

fn edns_flags(server: &Server) -> Vec<bool> {
    server.seen().iter().map(|s| s.edns).collect()
}

/// Issue 15, defect 7: a server that answered FORMERR to EDNS is asked
/// without EDNS from then on, not first with EDNS on every query.
#[tern::test]
async fn edns_refusal_is_remembered_per_server() {
    let server = Server::start(zone().script_refusing_edns());
    let r = Resolver::new(config(&[server.addr], 1000));
    for i in 0..3 {
        r.lookup(&format!("h{i}.test"), RecordType::A)
            .await
            .unwrap();
    }
    assert_eq!(edns_flags(&server), [true, false, false, false]);
}

/// Issue 15, defect 7: a firewall that drops EDNS queries. After the EDNS
/// query times out, the next attempt goes without EDNS and is answered;
/// later lookups go without EDNS at once.
#[tern::test]
async fn edns_query_timing_out_is_retried_plain_and_remembered() {
    let zone = zone();
    let script: Script = Rc::new(move |q, _| {
        if q.edns.is_some() {
            vec![]
        } else {
            vec![Action::Reply(zone.answer(q))]
        }
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 100));
    let got = r.lookup("h1.test", RecordType::A).await.unwrap();
    assert_eq!(got.len(), 1);
    r.lookup("h2.test", RecordType::A).await.unwrap();
    assert_eq!(edns_flags(&server), [true, false, false]);
}

/// A server that answers EDNS normally keeps getting EDNS.
#[tern::test]
async fn edns_servers_keep_edns() {
    let server = Server::start(zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    for i in 0..3 {
        r.lookup(&format!("h{i}.test"), RecordType::A)
            .await
            .unwrap();
    }
    assert_eq!(edns_flags(&server), [true, true, true]);
}

/// Server health: the first of two servers drops everything. The first
/// lookup waits it out; later lookups go to the healthy server first and
/// never wait for the dead one.
#[tern::test]
async fn failed_server_is_asked_after_the_healthy_one() {
    let dead = Server::start(Rc::new(|_, _| vec![]));
    let good = Server::start(zone().script());
    let r = Resolver::new(config(&[dead.addr, good.addr], 100));
    assert_eq!(r.lookup_ip("h0.test").await.unwrap().len(), 1);
    let asked_dead = dead.seen().len();
    assert_eq!(asked_dead, 2, "A and AAAA went to the dead server first");
    for i in 1..6 {
        assert_eq!(r.lookup_ip(&format!("h{i}.test")).await.unwrap().len(), 1);
    }
    assert_eq!(dead.seen().len(), asked_dead, "the dead server was skipped");
    assert_eq!(good.seen().len(), 12);
}

/// A timeout counts against a server only if the server had the whole
/// attempt timeout: one cut short by the lookup's deadline says nothing
/// about it. The dead server is first; the lookup may last 40 ms and an
/// attempt 1 s, so the dead server's attempt is cut short, the lookup
/// times out, and the next lookup still asks the dead server first.
#[tern::test]
async fn an_attempt_cut_short_by_the_lookup_deadline_does_not_count() {
    let dead = Server::start(Rc::new(|_, _| vec![]));
    let good = Server::start(zone().script());
    let mut c = config(&[dead.addr, good.addr], 1000);
    c.lookup_timeout = Some(std::time::Duration::from_millis(40));
    let r = Resolver::new(c);
    for i in 0..2 {
        let got = r.lookup(&format!("h{i}.test"), RecordType::A).await;
        assert!(
            matches!(got, Err(tern::dns::Error::Timeout)),
            "lookup {i}: {got:?}"
        );
    }
    assert_eq!(
        dead.seen().len(),
        2,
        "the dead server was asked first both times"
    );
    assert_eq!(good.seen().len(), 0);
}
