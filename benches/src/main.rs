//! tern-benches: comparisons of tern with its peers.
fn main() {}
