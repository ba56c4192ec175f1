//! The futures a lookup awaits stay small: every lookup moves its future
//! into place and polls through it, so bytes held twice (a future kept next
//! to the timeout that wraps it, a rare TCP path inline) cost every lookup.

use tern::dns::{Config, RecordType, Resolver};

#[test]
fn lookup_futures_stay_small() {
    tern::block_on(async {
        let resolver = Resolver::new(Config::default());
        let lookup = resolver.lookup("a.example.", RecordType::A);
        let lookup_ip = resolver.lookup_ip("a.example.");
        let (one, both) = (size_of_val(&lookup), size_of_val(&lookup_ip));
        // 1,792 and 6,520 bytes when written; twice that before the inner
        // futures stopped being stored beside their timeouts.
        assert!(one <= 2_048, "Resolver::lookup's future is {one} bytes");
        assert!(
            both <= 7_168,
            "Resolver::lookup_ip's future is {both} bytes"
        );
    });
}
