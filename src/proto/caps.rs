//! Capabilities: the optional protocol features a node announces in the `caps` list of its `PING`/`PONG`.
//!
//! Behaviour switches on capabilities, never on the version number: a
//! feature is used on a link only when both ends announce it. A node keeps,
//! of what a peer announces, only the names it implements itself, so a
//! hello listing unknown or junk names costs nothing beyond its frame.

use serde::Serialize;

/// Broadcast along a tree: `IHAVE`, `GRAFT`, `PRUNE` and the per-hop `round`.
pub const TREE: &str = "tree";

/// Signed `BROADCAST`, `DIRECT` and `DIRECT_ACK` (`key`, `sig`, `nonce`, `to_key`).
pub const SIG: &str = "sig";

/// Numbered feeds and catch-up (`epoch`, `seq` and the catch-up frames).
pub const SEQ: &str = "seq";

/// Names set aside for features that later protocol versions add (see
/// docs/PROTOCOL.md). None now: `sig` and `seq` have landed. A name
/// moves to [`IMPLEMENTED`] when its feature lands.
pub const RESERVED: [&str; 0] = [];

/// The capability names this build implements (kept from peers; announced
/// as configuration allows), sorted.
pub const IMPLEMENTED: [&str; 3] = [SEQ, SIG, TREE];

/// A set of capability names this build implements: one bit per name of
/// [`IMPLEMENTED`], so a peer's set costs a byte, not a list of strings
/// (a simulated million nodes keep eight of them each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(u8);

const _: () = assert!(
    IMPLEMENTED.len() <= 8,
    "Caps holds one bit per implemented name"
);

/// The bit of `name` in a [`Caps`], if this build implements it.
fn bit(name: &str) -> Option<u8> {
    IMPLEMENTED.iter().position(|c| *c == name).map(|i| 1 << i)
}

impl Caps {
    /// No capabilities (an original peer, or a version-1 peerchat node).
    pub fn none() -> Caps {
        Caps(0)
    }

    /// Everything this build implements.
    pub fn implemented() -> Caps {
        Caps((1u16 << IMPLEMENTED.len()).wrapping_sub(1) as u8)
    }

    /// What a node announces: `tree` only when it builds trees.
    pub fn announced(tree: bool) -> Caps {
        let caps = Caps::implemented();
        if tree {
            caps
        } else {
            caps.without(TREE)
        }
    }

    /// The set without `name` (a feature switched off, or no key to sign with).
    pub fn without(self, name: &str) -> Caps {
        Caps(self.0 & !bit(name).unwrap_or(0))
    }

    /// Of the names a peer announced, the ones this node implements too.
    pub fn shared_with(announced: Option<&[String]>) -> Caps {
        let bits = announced
            .unwrap_or_default()
            .iter()
            .filter_map(|c| bit(c))
            .fold(0, |acc, b| acc | b);
        Caps(bits)
    }

    /// True when `name` is in the set.
    pub fn has(&self, name: &str) -> bool {
        bit(name).is_some_and(|b| self.0 & b != 0)
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        IMPLEMENTED
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, c)| *c)
    }

    /// The names as a list for the wire.
    pub fn to_wire(&self) -> Vec<String> {
        self.names().map(str::to_string).collect()
    }
}

impl Serialize for Caps {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names this build does not implement are not kept, however many come.
    #[test]
    fn keeps_only_implemented_names() {
        let junk: Vec<String> = (0..10_000).map(|i| format!("x{i}")).collect();
        assert_eq!(Caps::shared_with(Some(junk.as_slice())), Caps::none());
        assert_eq!(Caps::shared_with(None), Caps::none());
        let mut announced: Vec<String> = RESERVED.iter().map(|c| c.to_string()).collect();
        announced.push("tree".into());
        announced.push("tree".into());
        announced.push(SIG.into());
        announced.push("seq".into());
        // Reserved names are not implemented yet, so not kept; repeats are kept once.
        assert_eq!(
            Caps::shared_with(Some(announced.as_slice())),
            Caps::implemented()
        );
        assert!(Caps::implemented().has(TREE) && Caps::implemented().has(SIG));
        assert!(!Caps::implemented().without(SIG).has(SIG));
        assert!(!Caps::implemented().without(SEQ).has(SEQ));
        assert!(Caps::implemented().has(TREE));
        assert!(!Caps::announced(false).has(TREE));
        assert!(Caps::announced(true).has(TREE));
        assert!(!Caps::implemented().has("x1"));
        assert_eq!(
            Caps::implemented().to_wire(),
            IMPLEMENTED.map(str::to_string).to_vec()
        );
        assert_eq!(
            serde_json::to_string(&Caps::announced(false)).unwrap(),
            r#"["seq","sig"]"#
        );
    }
}
