//! Unit tests of catch-up.
