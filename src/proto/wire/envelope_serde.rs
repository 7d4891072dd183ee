//! Reading and writing an [`Envelope`]: known fields typed, unknown ones kept to be written back.
//!
//! Written by hand rather than derived with `#[serde(flatten)]`, which would
//! buffer every field of every frame before typing it: here a known key is
//! matched without allocating, and only an unknown one is kept as a value.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Envelope, MessageId, NodeKey, PeerId, Signature, WireTime};

/// The field names of the envelope, as written on the wire.
pub(crate) mod fields {
    pub const MSG_TYPE: &str = "msg_type";
    pub const MSG: &str = "msg";
    pub const ORIGINATOR: &str = "originator";
    pub const TIME: &str = "time";
    pub const ID: &str = "id";
    pub const V: &str = "v";
    pub const CAPS: &str = "caps";
    pub const TO: &str = "to";
    pub const HOPS: &str = "hops";
    pub const ROUND: &str = "round";
    pub const KEY: &str = "key";
    pub const SIG: &str = "sig";
    pub const NONCE: &str = "nonce";
    pub const TO_KEY: &str = "to_key";
    pub const EPOCH: &str = "epoch";
    pub const SEQ: &str = "seq";
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let optional = [
            self.id.is_some(),
            self.v.is_some(),
            self.caps.is_some(),
            self.to.is_some(),
            self.hops.is_some(),
            self.round.is_some(),
            self.key.is_some(),
            self.sig.is_some(),
            self.nonce.is_some(),
            self.to_key.is_some(),
            self.epoch.is_some(),
            self.seq.is_some(),
        ];
        let len = 4 + optional.iter().filter(|&&set| set).count() + self.extra.len();
        let mut map = s.serialize_map(Some(len))?;
        map.serialize_entry(fields::MSG_TYPE, &self.msg_type)?;
        map.serialize_entry(fields::MSG, &self.msg)?;
        map.serialize_entry(fields::ORIGINATOR, &self.originator)?;
        map.serialize_entry(fields::TIME, &self.time)?;
        if let Some(id) = &self.id {
            map.serialize_entry(fields::ID, id)?;
        }
        if let Some(v) = &self.v {
            map.serialize_entry(fields::V, v)?;
        }
        if let Some(caps) = &self.caps {
            map.serialize_entry(fields::CAPS, caps)?;
        }
        if let Some(to) = &self.to {
            map.serialize_entry(fields::TO, to)?;
        }
        if let Some(hops) = &self.hops {
            map.serialize_entry(fields::HOPS, hops)?;
        }
        if let Some(to_key) = &self.to_key {
            map.serialize_entry(fields::TO_KEY, to_key)?;
        }
        if let Some(nonce) = &self.nonce {
            map.serialize_entry(fields::NONCE, nonce)?;
        }
        if let Some(epoch) = &self.epoch {
            map.serialize_entry(fields::EPOCH, epoch)?;
        }
        if let Some(seq) = &self.seq {
            map.serialize_entry(fields::SEQ, seq)?;
        }
        if let Some(key) = &self.key {
            map.serialize_entry(fields::KEY, key)?;
        }
        if let Some(sig) = &self.sig {
            map.serialize_entry(fields::SIG, sig)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        // Per-hop and last, so a relay can splice it (`Frame::with_round`).
        if let Some(round) = &self.round {
            map.serialize_entry(fields::ROUND, round)?;
        }
        map.end()
    }
}

/// One key of the object: a known field, or another one (kept).
enum Field {
    MsgType,
    Msg,
    Originator,
    Time,
    Id,
    V,
    Caps,
    To,
    Hops,
    Round,
    NodeKey,
    Sig,
    Nonce,
    TargetKey,
    Epoch,
    Seq,
    Other(String),
}

impl Field {
    fn of(name: &str) -> Option<Field> {
        Some(match name {
            fields::MSG_TYPE => Field::MsgType,
            fields::MSG => Field::Msg,
            fields::ORIGINATOR => Field::Originator,
            fields::TIME => Field::Time,
            fields::ID => Field::Id,
            fields::V => Field::V,
            fields::CAPS => Field::Caps,
            fields::TO => Field::To,
            fields::HOPS => Field::Hops,
            fields::ROUND => Field::Round,
            fields::KEY => Field::NodeKey,
            fields::SIG => Field::Sig,
            fields::NONCE => Field::Nonce,
            fields::TO_KEY => Field::TargetKey,
            fields::EPOCH => Field::Epoch,
            fields::SEQ => Field::Seq,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::of(v).unwrap_or_else(|| Field::Other(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
                Ok(Field::of(&v).unwrap_or(Field::Other(v)))
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

/// Stores `value` in `slot`, refusing a field given twice.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Envelope, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = Envelope;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message envelope (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
                let mut msg_type: Option<String> = None;
                let mut msg: Option<Value> = None;
                let mut originator: Option<PeerId> = None;
                let mut time: Option<WireTime> = None;
                // Optional fields: `null` reads as absent, as before.
                let mut id: Option<Option<MessageId>> = None;
                let mut v: Option<Option<u32>> = None;
                let mut caps: Option<Option<Vec<String>>> = None;
                let mut to: Option<Option<PeerId>> = None;
                let mut hops: Option<Option<u32>> = None;
                let mut round: Option<Option<u32>> = None;
                let mut node_key: Option<Option<NodeKey>> = None;
                let mut sig: Option<Option<Signature>> = None;
                let mut nonce: Option<Option<u64>> = None;
                let mut to_key: Option<Option<NodeKey>> = None;
                let mut epoch: Option<Option<u64>> = None;
                let mut seq: Option<Option<u64>> = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<Field>()? {
                    match key {
                        Field::MsgType => once(&mut msg_type, map.next_value()?, fields::MSG_TYPE)?,
                        Field::Msg => once(&mut msg, map.next_value()?, fields::MSG)?,
                        Field::Originator => {
                            once(&mut originator, map.next_value()?, fields::ORIGINATOR)?
                        }
                        Field::Time => once(&mut time, map.next_value()?, fields::TIME)?,
                        Field::Id => once(&mut id, map.next_value()?, fields::ID)?,
                        Field::V => once(&mut v, map.next_value()?, fields::V)?,
                        Field::Caps => once(&mut caps, map.next_value()?, fields::CAPS)?,
                        Field::To => once(&mut to, map.next_value()?, fields::TO)?,
                        Field::Hops => once(&mut hops, map.next_value()?, fields::HOPS)?,
                        Field::Round => once(&mut round, map.next_value()?, fields::ROUND)?,
                        Field::NodeKey => once(&mut node_key, map.next_value()?, fields::KEY)?,
                        Field::Sig => once(&mut sig, map.next_value()?, fields::SIG)?,
                        Field::Nonce => once(&mut nonce, map.next_value()?, fields::NONCE)?,
                        Field::TargetKey => once(&mut to_key, map.next_value()?, fields::TO_KEY)?,
                        Field::Epoch => once(&mut epoch, map.next_value()?, fields::EPOCH)?,
                        Field::Seq => once(&mut seq, map.next_value()?, fields::SEQ)?,
                        Field::Other(name) => {
                            let value: Value = map.next_value()?;
                            if extra.insert(name.clone(), value).is_some() {
                                return Err(de::Error::custom(format!("duplicate field `{name}`")));
                            }
                        }
                    }
                }
                Ok(Envelope {
                    msg_type: msg_type.ok_or_else(|| de::Error::missing_field(fields::MSG_TYPE))?,
                    msg: msg.ok_or_else(|| de::Error::missing_field(fields::MSG))?,
                    originator: originator
                        .ok_or_else(|| de::Error::missing_field(fields::ORIGINATOR))?,
                    time: time.ok_or_else(|| de::Error::missing_field(fields::TIME))?,
                    id: id.flatten(),
                    v: v.flatten(),
                    caps: caps.flatten(),
                    to: to.flatten(),
                    hops: hops.flatten(),
                    round: round.flatten(),
                    key: node_key.flatten(),
                    sig: sig.flatten(),
                    nonce: nonce.flatten(),
                    to_key: to_key.flatten(),
                    epoch: epoch.flatten(),
                    seq: seq.flatten(),
                    extra,
                })
            }
        }
        d.deserialize_map(EnvelopeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unknown fields are kept unchanged and written back after the known ones.
    #[test]
    fn unknown_fields_round_trip() {
        let raw = r#"{"msg_type":"DIRECT","msg":"hi","originator":"a","time":"t","id":"00000000-0000-0000-0000-000000000001","to":"b","hops":3,"sigma":"abc","zz":{"nested":[1,2]},"aa":null}"#;
        let env: Envelope = serde_json::from_str(raw).unwrap();
        assert_eq!(env.extra.len(), 3);
        assert_eq!(env.extra["zz"], serde_json::json!({"nested": [1, 2]}));
        assert_eq!(env.extra["aa"], Value::Null);
        let again = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&again).unwrap();
        assert_eq!(back, env);
    }

    /// A known field given twice is an error, and so is an unknown one.
    #[test]
    fn duplicate_fields_are_refused() {
        for raw in [
            r#"{"msg_type":"TEST","msg":"a","msg":"b","originator":"a","time":"t"}"#,
            r#"{"msg_type":"TEST","msg":"a","originator":"a","time":"t","x":1,"x":2}"#,
        ] {
            assert!(serde_json::from_str::<Envelope>(raw).is_err(), "{raw}");
        }
    }

    /// A missing required field names itself; `null` optional fields read as absent.
    #[test]
    fn missing_and_null_fields() {
        let err = serde_json::from_str::<Envelope>(r#"{"msg_type":"TEST","msg":"a","time":"t"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("originator"), "{err}");
        let env: Envelope = serde_json::from_str(
            r#"{"msg_type":"TEST","msg":"a","originator":"o","time":"t","id":null,"v":null}"#,
        )
        .unwrap();
        assert_eq!((env.id, env.v), (None, None));
        assert!(env.extra.is_empty());
    }
}
