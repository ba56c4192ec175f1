//! Footprint: stripped release binary size and dependency count of tern's
//! `resolve` example against a tokio + hickory-resolver program that does
//! the same (`src/bin/tokio_hickory_resolve.rs`).

use crate::report::Metric;
use crate::Ctx;

/// Runs the group.
pub fn run(_ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    notes.push("footprint: not written yet".into());
    Vec::new()
}
