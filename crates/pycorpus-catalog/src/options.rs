//! What an options struct of the options layer accepts, read from its serde derive: the field
//! names in order and the kind of value each takes. Front ends that receive text (Python
//! keyword arguments, a query string) route and convert their arguments by these, and tests
//! compare each front end's options with them; so adding a field to a struct is all it takes.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

/// The field names of an options struct, in order, as serde's derive lists them.
pub fn struct_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    /// Takes the field names serde's derive hands to `deserialize_struct`, and stops there.
    struct Fields(std::cell::Cell<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &Fields {
        type Error = serde::de::value::Error;
        fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(serde::de::Error::custom("fields taken"))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        serde::forward_to_deserialize_any! { bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any }
    }
    let fields = Fields(std::cell::Cell::new(&[]));
    let _ = T::deserialize(&fields);
    fields.0.get()
}

/// Each field of an options struct with the kind of value it takes: `flag`, `whole` (a whole
/// number), `number`, `text`, `list`, `choice` (one of an enum's names) or `any`; an optional
/// field has the kind of its value.
pub fn field_kinds<'de, T: serde::Deserialize<'de>>() -> Vec<(&'static str, &'static str)> {
    struct_fields::<T>()
        .iter()
        .map(|&field| {
            let probe = Probe(std::cell::Cell::new("any"));
            // The derive asks for the one field's value, and the probe notes how.
            let _ = T::deserialize(OneField { field, probe: &probe, done: false });
            (field, probe.0.get())
        })
        .collect()
}

/// A struct's map with one key, `field`, whose value is the probe.
struct OneField<'p> {
    field: &'static str,
    probe: &'p Probe,
    done: bool,
}

impl<'de> Deserializer<'de> for OneField<'_> {
    type Error = serde::de::value::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }
    serde::forward_to_deserialize_any! { bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any }
}

impl<'de> MapAccess<'de> for OneField<'_> {
    type Error = serde::de::value::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        seed.deserialize(serde::de::value::StrDeserializer::new(self.field)).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        seed.deserialize(self.probe)
    }
}

/// Notes the kind of the first request a field's deserialiser makes, then fails it.
struct Probe(std::cell::Cell<&'static str>);

impl Probe {
    fn kind<T>(&self, kind: &'static str) -> Result<T, serde::de::value::Error> {
        self.0.set(kind);
        Err(serde::de::Error::custom("kind taken"))
    }
}

impl<'de> Deserializer<'de> for &Probe {
    type Error = serde::de::value::Error;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("any")
    }
    fn deserialize_bool<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("flag")
    }
    fn deserialize_u64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("whole")
    }
    fn deserialize_u32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("whole")
    }
    fn deserialize_u16<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("whole")
    }
    fn deserialize_i64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("whole")
    }
    fn deserialize_f64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("number")
    }
    fn deserialize_str<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("text")
    }
    fn deserialize_string<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("text")
    }
    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.kind("list")
    }
    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], _: V) -> Result<V::Value, Self::Error> {
        self.kind("choice")
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }
    serde::forward_to_deserialize_any! { i8 i16 i32 i128 u8 u128 f32 char bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct map struct identifier ignored_any }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default)]
    #[allow(dead_code)]
    enum Colour {
        #[default]
        Red,
    }

    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Example {
        on: bool,
        count: usize,
        most: Option<u64>,
        share: f64,
        name: String,
        path: Option<std::path::PathBuf>,
        names: Vec<String>,
        colour: Option<Colour>,
    }

    #[test]
    fn kinds_of_every_field() {
        assert_eq!(struct_fields::<Example>(), ["on", "count", "most", "share", "name", "path", "names", "colour"]);
        assert_eq!(field_kinds::<Example>(), [("on", "flag"), ("count", "whole"), ("most", "whole"), ("share", "number"), ("name", "text"), ("path", "text"), ("names", "list"), ("colour", "choice")]);
    }
}
