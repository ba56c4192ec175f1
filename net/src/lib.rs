//! tern-net
