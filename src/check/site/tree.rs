//! A TOML value tree where every value and key keeps its byte range, so the site file can be
//! checked entry by entry (every error in one run) instead of stopping at serde's first surprise.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// toml's private key for a date-time value (it arrives as a one-entry map).
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A value and where it is written.
pub(super) struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

/// The value kinds the site file uses; anything else is kept only as its kind's name.
pub(super) enum Value {
    Str(String),
    Int(i64),
    Array(Vec<Node>),
    /// Entries in document order.
    Table(Vec<(Key, Node)>),
    Other(&'static str),
}

pub(super) struct Key {
    pub name: String,
    pub span: Range<usize>,
}

impl Value {
    /// "a string", "an array", ... for "found ..." labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
            Value::Other(k) => k,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let s = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            span: s.span(),
            value: s.into_inner(),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Other("a too large integer"), Value::Int))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Other("a float"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Other("a boolean"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            if k.get_ref() == DATETIME_KEY {
                map.next_value::<serde::de::IgnoredAny>()?;
                return Ok(Value::Other("a date-time"));
            }
            let key = Key {
                span: k.span(),
                name: k.into_inner(),
            };
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Value::Table(entries))
    }
}
