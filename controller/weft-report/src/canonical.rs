//! Canonical JSON and digests: the same value always gives the same bytes.
//!
//! Rules (also in `docs/isolation-report.md`): UTF-8; no whitespace outside
//! strings; object keys sorted by their UTF-8 bytes, each once; strings
//! escaped as `serde_json` writes them (only `"`, `\` and control
//! characters: `\b \f \n \r \t`, others `\u00xx` in lowercase hex; no other
//! escapes, `/` and non-ASCII are literal); integers in plain decimal,
//! arbitrary `u64`/`i64` range, no floats at all.
//!
//! The keys are sorted here, by this serializer, rather than trusting
//! `serde_json::Map`'s order: a dependency enabling serde_json's
//! `preserve_order` feature anywhere in the build would otherwise change
//! the signed bytes silently.

use std::io::Write as _;

use serde::{Serialize, ser};
use serde_json::Value;

/// `value` as canonical JSON. Fails on values JSON cannot hold as this
/// crate requires: floats, and maps with keys that are not strings or
/// integers.
pub fn to_canonical_json_checked<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(4096);
    value.serialize(Canon { out: &mut out })?;
    Ok(out)
}

/// `value` as canonical JSON, for the report's own types (which hold no
/// floats and only string-keyed maps, so this cannot fail for them).
///
/// # Panics
///
/// On a value [`to_canonical_json_checked`] rejects: a float, or a map
/// with keys that are not strings or integers.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match to_canonical_json_checked(value) {
        Ok(bytes) => bytes,
        Err(e) => panic!("value has no canonical JSON form: {e}"),
    }
}

type Error = serde_json::Error;

fn error(msg: &str) -> Error {
    <Error as ser::Error>::custom(msg)
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), Error> {
    serde_json::to_writer(out, s)
}

fn write_int(out: &mut Vec<u8>, v: impl std::fmt::Display) -> Result<(), Error> {
    write!(out, "{v}").map_err(Error::io)
}

/// A serializer straight to canonical JSON bytes. Objects are written
/// value by value at the end of the buffer, then put in key order once
/// complete: one copy per nesting level, instead of building a
/// `serde_json::Value` tree of the whole report (tens of megabytes of
/// small allocations for a large fabric).
struct Canon<'a> {
    out: &'a mut Vec<u8>,
}

/// An object being written: its values so far, in arrival order, from
/// `start` on; each with its key and byte range.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    entries: Vec<(String, usize, usize)>,
    pending_key: Option<String>,
    /// For variants: `{"name": <object>}` around it.
    variant: Option<&'static str>,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, variant: Option<&'static str>) -> Self {
        let start = out.len();
        Object {
            out,
            start,
            entries: Vec::new(),
            pending_key: None,
            variant,
        }
    }

    fn value<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), Error> {
        let from = self.out.len();
        value.serialize(Canon {
            out: &mut *self.out,
        })?;
        self.entries.push((key, from, self.out.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<(), Error> {
        let tail = self.out.split_off(self.start);
        self.entries
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        if self.entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(error("an object has the same key twice"));
        }
        if let Some(name) = self.variant {
            self.out.push(b'{');
            write_str(self.out, name)?;
            self.out.push(b':');
        }
        self.out.push(b'{');
        for (i, (key, from, to)) in self.entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, key)?;
            self.out.push(b':');
            self.out
                .extend_from_slice(&tail[from - self.start..to - self.start]);
        }
        self.out.push(b'}');
        if self.variant.is_some() {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array being written.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    variant: bool,
}

impl<'a> Array<'a> {
    fn new(out: &'a mut Vec<u8>, variant: Option<&'static str>) -> Result<Self, Error> {
        if let Some(name) = variant {
            out.push(b'{');
            write_str(out, name)?;
            out.push(b':');
        }
        out.push(b'[');
        Ok(Array {
            out,
            first: true,
            variant: variant.is_some(),
        })
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canon {
            out: &mut *self.out,
        })
    }

    fn finish(self) -> Result<(), Error> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for Canon<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        write_int(self.out, v)
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(error("canonical JSON holds integers only, not floats"))
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(error("canonical JSON holds integers only, not floats"))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut a = Array::new(self.out, None)?;
        for b in v {
            a.element(b)?;
        }
        a.finish()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant)?;
        self.out.push(b':');
        value.serialize(Canon {
            out: &mut *self.out,
        })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Error> {
        Array::new(self.out, None)
    }
    fn serialize_tuple(self, _: usize) -> Result<Array<'a>, Error> {
        Array::new(self.out, None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Array<'a>, Error> {
        Array::new(self.out, None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Array<'a>, Error> {
        Array::new(self.out, Some(variant))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out, None))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out, None))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out, Some(variant)))
    }
}

/// The four sequence-like serde traits all append an element.
macro_rules! array_impl {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

array_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.pending_key = Some(map_key(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| error("a map value came without its key"))?;
        self.value(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Struct fields and struct-variant fields are object members.
macro_rules! object_impl {
    ($($trait:ident),* $(,)?) => {$(
        impl ser::$trait for Object<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.value(key.to_owned(), value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

object_impl!(SerializeStruct, SerializeStructVariant);

/// A map key as JSON writes it: a string, or an integer as its decimal
/// string (as `serde_json` does).
fn map_key<T: Serialize + ?Sized>(key: &T) -> Result<String, Error> {
    match serde_json::to_value(key)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        _ => Err(error("map keys must be strings or integers")),
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    #[derive(Serialize)]
    struct Unsorted {
        zeta: u64,
        alpha: &'static str,
        mid: Vec<i64>,
    }

    #[test]
    fn keys_are_sorted_and_whitespace_is_gone() {
        let v = Unsorted {
            zeta: u64::MAX,
            alpha: "a\"b\\c\n\u{1}é/",
            mid: vec![-1, 0, i64::MIN],
        };
        let s = String::from_utf8(to_canonical_json(&v)).unwrap();
        assert_eq!(
            s,
            r#"{"alpha":"a\"b\\c\n\u0001é/","mid":[-1,0,-9223372036854775808],"zeta":18446744073709551615}"#
        );
    }

    #[test]
    fn map_order_does_not_matter() {
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        for i in 0..50u32 {
            a.insert(format!("k{i}"), i);
        }
        for i in (0..50u32).rev() {
            b.insert(format!("k{i}"), i);
        }
        assert_eq!(to_canonical_json(&a), to_canonical_json(&b));
    }

    /// The reference: through a `serde_json::Value`, keys sorted on output.
    fn via_value(v: &impl Serialize) -> Vec<u8> {
        fn write(out: &mut Vec<u8>, v: &Value) {
            match v {
                Value::Array(items) => {
                    out.push(b'[');
                    for (i, x) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write(out, x);
                    }
                    out.push(b']');
                }
                Value::Object(map) => {
                    let mut e: Vec<_> = map.iter().collect();
                    e.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    out.push(b'{');
                    for (i, (k, x)) in e.into_iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        serde_json::to_writer(&mut *out, k).unwrap();
                        out.push(b':');
                        write(out, x);
                    }
                    out.push(b'}');
                }
                other => serde_json::to_writer(&mut *out, other).unwrap(),
            }
        }
        let mut out = Vec::new();
        write(&mut out, &serde_json::to_value(v).unwrap());
        out
    }

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "kebab-case")]
    enum Tagged {
        Zed { b: u8, a: Option<u8> },
        Unit,
    }

    #[derive(Serialize)]
    enum Shapes {
        Newtype(u8),
        Tuple(u8, i8),
        Struct { y: bool, x: () },
        Plain,
    }

    #[test]
    fn every_serde_shape_matches_the_value_route() {
        let mut ints = std::collections::BTreeMap::new();
        ints.insert(10u32, "ten");
        ints.insert(9u32, "nine");
        let values = (
            Tagged::Zed { b: 1, a: None },
            Tagged::Unit,
            [
                Shapes::Newtype(1),
                Shapes::Tuple(2, -3),
                Shapes::Struct { y: true, x: () },
                Shapes::Plain,
            ],
            ints,
            (
                'é',
                "tab\there",
                Some(u64::MAX),
                i64::MIN,
                std::net::Ipv4Addr::new(10, 0, 0, 1),
            ),
        );
        assert_eq!(
            String::from_utf8(to_canonical_json(&values)).unwrap(),
            String::from_utf8(via_value(&values)).unwrap()
        );
    }

    #[test]
    fn floats_are_refused() {
        assert!(to_canonical_json_checked(&1.5f64).is_err());
        assert!(to_canonical_json_checked(&vec![Some(1.5f32)]).is_err());
        assert!(to_canonical_json_checked(&[1u8]).is_ok());
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1u8], 1u8);
        assert!(to_canonical_json_checked(&bad).is_err());
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
