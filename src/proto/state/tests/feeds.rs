//! Unit tests of feeds.
