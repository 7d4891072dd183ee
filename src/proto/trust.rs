//! Trust in who said it: the pin table (name → key, pinned on first signed contact) and each delivered message's trust.
//!
//! Pure: the executor loads the table (from `DIR/pins`) and saves it when
//! the state reports a change. The text form is one pin a line: 64 hex
//! characters of key, one space, the name (which may hold spaces).

use std::collections::BTreeMap;

use serde::Serialize;

use super::identity::NodeKey;
use super::wire::PeerId;
use crate::config::OTHER_KEYS_PER_NAME;

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

/// Which key each name is pinned to, and a few other keys seen under pinned names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    by_name: BTreeMap<PeerId, NodeKey>,
    /// Keys that signed under a pinned name and are not its pin (not saved).
    others: BTreeMap<PeerId, Vec<NodeKey>>,
    /// Most names pinned on first contact (`max_pins`).
    capacity: usize,
    /// Most other keys remembered per pinned name (`other_keys_per_name`).
    others_per_name: usize,
}

impl Default for Pins {
    fn default() -> Self {
        Pins {
            by_name: BTreeMap::new(),
            others: BTreeMap::new(),
            capacity: usize::MAX,
            others_per_name: OTHER_KEYS_PER_NAME,
        }
    }
}

impl Pins {
    /// No pins.
    pub fn new() -> Pins {
        Pins::default()
    }

    /// The same table, pinning at most `capacity` names on first contact:
    /// past it a new name's messages are still `new`, but not pinned.
    pub fn with_capacity(mut self, capacity: usize) -> Pins {
        self.capacity = capacity;
        self
    }

    /// The same table, remembering at most `n` other keys per pinned name
    /// (the oldest is forgotten first).
    pub fn with_others_per_name(mut self, n: usize) -> Pins {
        self.others_per_name = n;
        self
    }

    /// Other keys seen signing under `name` (not its pin), oldest first.
    pub fn others(&self, name: &PeerId) -> &[NodeKey] {
        self.others.get(name).map_or(&[], Vec::as_slice)
    }

    /// The key pinned for, or seen under, `name` whose fingerprint (or hex) is `text`.
    pub fn find(&self, name: &PeerId, text: &str) -> Option<NodeKey> {
        let text = text.trim().to_ascii_lowercase();
        self.get(name)
            .into_iter()
            .chain(self.others(name))
            .find(|k| k.fingerprint() == text || k.to_hex() == text)
            .copied()
    }

    /// The key pinned for `name`.
    pub fn get(&self, name: &PeerId) -> Option<&NodeKey> {
        self.by_name.get(name)
    }

    /// Pins `name` to `key`, replacing any pin (`/trust`). True if it changed.
    pub fn set(&mut self, name: PeerId, key: NodeKey) -> bool {
        if let Some(others) = self.others.get_mut(&name) {
            others.retain(|k| *k != key);
        }
        self.by_name.insert(name, key) != Some(key)
    }

    /// Forgets the pin of `name` (`/forget`). True if there was one.
    pub fn remove(&mut self, name: &PeerId) -> bool {
        self.others.remove(name);
        self.by_name.remove(name).is_some()
    }

    /// The trust of a message validly signed by `key` under `name`, pinning
    /// the name on first contact.
    pub fn judge(&mut self, name: &PeerId, key: NodeKey) -> Trust {
        match self.by_name.get(name) {
            Some(pinned) if *pinned == key => Trust::Pinned,
            Some(_) => {
                let others = self.others.entry(name.clone()).or_default();
                if !others.contains(&key) && self.others_per_name > 0 {
                    if others.len() >= self.others_per_name {
                        others.remove(0);
                    }
                    others.push(key);
                }
                Trust::Conflict
            }
            None => {
                if self.by_name.len() < self.capacity {
                    self.by_name.insert(name.clone(), key);
                }
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

    /// The text form (what `DIR/pins` holds). A name with a line break is
    /// left out (kept in memory only): written, it could forge a second
    /// line, a pin for another name.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, key) in &self.by_name {
            if name.as_str().contains(['\n', '\r']) {
                continue;
            }
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
        // Loaded pins are the person's: all kept, whatever the capacity.
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

    /// Keys conflicting with a pin are remembered (a few per name) and can
    /// be found by fingerprint; trusting one moves the pin to it.
    #[test]
    fn other_keys_are_remembered() {
        let mut pins = Pins::new();
        let alice = PeerId::new("alice");
        pins.judge(&alice, key(1));
        for n in 2..=(OTHER_KEYS_PER_NAME as u8 + 2) {
            assert_eq!(pins.judge(&alice, key(n)), Trust::Conflict);
        }
        assert_eq!(pins.others(&alice).len(), OTHER_KEYS_PER_NAME);
        assert_eq!(pins.others(&alice)[0], key(3));
        let last = key(OTHER_KEYS_PER_NAME as u8 + 2);
        assert_eq!(pins.find(&alice, &last.fingerprint()), Some(last));
        assert_eq!(pins.find(&alice, &key(1).to_hex()), Some(key(1)));
        assert_eq!(pins.find(&alice, "0000:0000:0000:0000"), None);
        pins.set(alice.clone(), last);
        assert!(!pins.others(&alice).contains(&last));
    }

    /// Past its capacity the table pins no more names on first contact:
    /// their messages are still `new`.
    #[test]
    fn capacity_bounds_first_contact_pins() {
        let mut pins = Pins::new().with_capacity(2);
        for n in 1..=3u8 {
            assert_eq!(
                pins.judge(&PeerId::new(format!("p{n}")), key(n)),
                Trust::New
            );
        }
        assert_eq!(pins.len(), 2);
        assert_eq!(pins.judge(&PeerId::new("p3"), key(3)), Trust::New);
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

    /// A name carrying a line break and a forged second line is not
    /// written, so it cannot plant a pin for another name in the file.
    #[test]
    fn names_with_line_breaks_are_not_written() {
        let mut pins = Pins::new();
        let forged = format!("x\n{} bob", key(9).to_hex());
        pins.judge(&PeerId::new(forged), key(9));
        pins.judge(&PeerId::new("carol\r"), key(8));
        assert_eq!(pins.len(), 2);
        assert_eq!(pins.to_text(), "");
        assert!(Pins::from_text(&pins.to_text()).is_empty());
    }
}
