//! 0x20 case randomisation and the EDNS fallback: a reply whose question
//! differs from ours in letter case is not to be believed (it fails the
//! attempt, `resolver/case.rs`), so it must not make the resolver drop
//! EDNS (and with it the COOKIE option) for the server either.

mod scripted;

use std::rc::Rc;

use scripted::*;
use tern::dns::wire::{Message, Rcode};
use tern::dns::{Error, Problem, RecordType, Resolver};

/// `text` with the case of every ASCII letter swapped.
fn swapped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The server answers plain queries from its zone, echoing the question
/// exactly; to an EDNS query comes a FORMERR without OPT (what a server
/// without EDNS sends) whose question is ours in the other case, as a
/// forger who guessed the ID and port but not the case would send it.
/// The attempt must fail on the case, as any other reply in the wrong
/// case does. It was taken as the server refusing EDNS: the query went
/// again without EDNS at once, and the server was asked without EDNS (and
/// cookies) from then on (`EDNS_MEMORY`, an hour).
#[tern::test]
async fn a_formerr_in_the_wrong_case_does_not_turn_edns_off() {
    let zone = Zone::new(vec![a("www.test.", "192.0.2.1")]);
    let server = Server::start(Rc::new(move |q: &Message, _| {
        if q.edns.is_some() {
            let mut m = rcode_reply(q, Rcode::FORMERR);
            m.edns = None;
            m.questions[0].name = name(&swapped(&q.questions[0].name.to_string()));
            vec![Action::Reply(m)]
        } else {
            vec![Action::Reply(zone.answer(q))]
        }
    }));
    let mut c = config(&[server.addr], 1000);
    c.case_randomization = true;
    c.cache_size = 0;
    c.attempts = 1;
    let r = Resolver::new(c);
    let result = r.lookup("www.test", RecordType::A).await;
    let seen = server.seen();
    assert!(
        seen.iter().all(|s| s.edns),
        "a query went without EDNS: {seen:?}, {result:?}"
    );
    match result {
        Err(Error::Malformed(e)) => assert_eq!(e.problem(), Problem::CaseMismatch),
        other => panic!("the attempt must fail on the case: {other:?}"),
    }
}
