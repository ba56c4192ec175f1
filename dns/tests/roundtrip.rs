//! Property tests over generated messages and names: what is encoded
//! decodes to the same thing, and encoding is stable across a round trip.

mod common;

use common::Rng;
use tern_dns::wire::Message;
use tern_dns::Name;

const MESSAGES: u64 = 3000;

#[test]
fn messages_round_trip() {
    for seed in 0..MESSAGES {
        let mut rng = Rng::new(seed);
        let message = common::message(&mut rng);
        let bytes = message.encode();
        let decoded =
            Message::decode(&bytes).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{message:?}"));
        assert_eq!(decoded, message, "seed {seed}");
        // Byte-for-byte stable, which also shows that case is preserved.
        assert_eq!(decoded.encode(), bytes, "seed {seed}");
        // The question-only decoder agrees on what it reads.
        let head = Message::decode_question(&bytes).unwrap();
        assert_eq!(
            (head.header, &head.questions),
            (message.header, &message.questions),
            "seed {seed}"
        );
    }
}

#[test]
fn names_round_trip_through_text() {
    for seed in 0..MESSAGES {
        let mut rng = Rng::new(seed);
        let name = common::name(&mut rng);
        let text = name.to_string();
        let parsed: Name = text
            .parse()
            .unwrap_or_else(|e| panic!("seed {seed}: {text:?}: {e}"));
        assert_eq!(parsed.as_wire(), name.as_wire(), "seed {seed}: {text:?}");
        assert!(text.is_ascii() && text.ends_with('.'));
        // Without the trailing dot it is the same name (except the root).
        if !name.is_root() {
            let bare: Name = text[..text.len() - 1].parse().unwrap();
            assert_eq!(bare.as_wire(), name.as_wire());
        }
    }
}

#[test]
fn records_display_without_panicking() {
    for seed in 0..MESSAGES {
        let mut rng = Rng::new(seed);
        let record = common::record(&mut rng);
        let text = record.to_string();
        assert!(text.starts_with(&record.name.to_string()));
    }
}
