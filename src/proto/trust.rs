//! Trust in who said it: the pin table (name → key, pinned on first signed contact) and each delivered message's trust.
//!
//! Pure: the executor loads the table (from `DIR/pins`) and saves it when
//! the state reports a change. The text form is one pin a line: 64 hex
//! characters of key, one space, the name (which may hold spaces).

use std::collections::BTreeMap;

use serde::Serialize;

use super::identity::NodeKey;
use super::wire::PeerId;

/// How far a delivered message can be believed to come from the person its name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// Signed by the key pinned for its name.
    Pinned,
    /// Signed, and the first key seen for its name (now pinned).
    New,
    /// Validly signed, but by another key than the one pinned for its name:
    /// someone else using the name. Shown as such, never as the pinned person.
    Conflict,
    /// Not signed (an original peer, or an earlier peerchat node): anyone
    /// could have written it.
    Unsigned,
}

impl Trust {
    /// True for what the chat shows without a warning (`pinned`, `new`).
    pub fn is_trusted(self) -> bool {
        matches!(self, Trust::Pinned | Trust::New)
    }
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trust::Pinned => "pinned",
            Trust::New => "new",
            Trust::Conflict => "conflict",
            Trust::Unsigned => "unsigned",
        })
    }
}

/// Which key each name is pinned to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    by_name: BTreeMap<PeerId, NodeKey>,
}

impl Pins {
    /// No pins.
    pub fn new() -> Pins {
        Pins::default()
    }

    /// The key pinned for `name`.
    pub fn get(&self, name: &PeerId) -> Option<&NodeKey> {
        self.by_name.get(name)
    }

    /// Pins `name` to `key`, replacing any pin (`/trust`). True if it changed.
    pub fn set(&mut self, name: PeerId, key: NodeKey) -> bool {
        self.by_name.insert(name, key) != Some(key)
    }

    /// Forgets the pin of `name` (`/forget`). True if there was one.
    pub fn remove(&mut self, name: &PeerId) -> bool {
        self.by_name.remove(name).is_some()
    }

    /// The trust of a message validly signed by `key` under `name`, pinning
    /// the name on first contact.
    pub fn judge(&mut self, name: &PeerId, key: NodeKey) -> Trust {
        match self.by_name.get(name) {
            Some(pinned) if *pinned == key => Trust::Pinned,
            Some(_) => Trust::Conflict,
            None => {
                self.by_name.insert(name.clone(), key);
                Trust::New
            }
        }
    }

    /// Every pin, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &NodeKey)> {
        self.by_name.iter()
    }

    /// How many names are pinned.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The text form (what `DIR/pins` holds).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, key) in &self.by_name {
            out.push_str(&key.to_hex());
            out.push(' ');
            out.push_str(name.as_str());
            out.push('\n');
        }
        out
    }

    /// Reads the text form; lines that are not a key, a space and a name are skipped.
    pub fn from_text(text: &str) -> Pins {
        let mut pins = Pins::new();
        for line in text.lines() {
            let Some((hex, name)) = line.split_once(' ') else {
                continue;
            };
            if let (Ok(key), false) = (NodeKey::from_hex(hex), name.is_empty()) {
                pins.by_name.insert(PeerId::new(name), key);
            }
        }
        pins
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::identity::Identity;

    fn key(n: u8) -> NodeKey {
        Identity::from_secret([n; 32]).key()
    }

    /// First key pins, the same key is pinned after, another key conflicts
    /// and does not replace the pin.
    #[test]
    fn first_contact_pins() {
        let mut pins = Pins::new();
        let alice = PeerId::new("alice");
        assert_eq!(pins.judge(&alice, key(1)), Trust::New);
        assert_eq!(pins.judge(&alice, key(1)), Trust::Pinned);
        assert_eq!(pins.judge(&alice, key(2)), Trust::Conflict);
        assert_eq!(pins.get(&alice), Some(&key(1)));
        assert!(pins.set(alice.clone(), key(2)));
        assert_eq!(pins.judge(&alice, key(2)), Trust::Pinned);
        assert!(pins.remove(&alice) && pins.is_empty());
    }

    /// The text form round-trips, names with spaces included; junk lines are skipped.
    #[test]
    fn text_round_trip() {
        let mut pins = Pins::new();
        pins.set(PeerId::new("alice b"), key(1));
        pins.set(PeerId::new("bob"), key(2));
        let text = pins.to_text();
        assert_eq!(Pins::from_text(&text), pins);
        let junk = format!("{text}nonsense\nzz bob\n{} \n", key(3).to_hex());
        assert_eq!(Pins::from_text(&junk), pins);
        assert_eq!(
            serde_json::to_string(&Trust::Conflict).unwrap(),
            "\"conflict\""
        );
    }
}
