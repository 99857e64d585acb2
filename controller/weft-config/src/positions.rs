//! Where each value of a YAML document sits, to turn a validation
//! [`FieldPath`] into a source span.
//!
//! The document is deserialized a second time (only after it parsed as a
//! spec, so within the same budget) into a tree of [`Spanned`] nodes: maps,
//! sequences and leaves, each with its location. No YAML is parsed here by
//! hand: serde-saphyr reports the positions.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};
use weft_model::{FieldPath, PathSegment};

/// A byte range of the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteSpan {
    pub(crate) offset: usize,
    pub(crate) len: usize,
}

impl ByteSpan {
    pub(crate) fn from_location(loc: &Location) -> Option<ByteSpan> {
        if loc.line() == 0 {
            return None;
        }
        let span = loc.span();
        let offset = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len().unwrap_or(0)).ok()?;
        Some(ByteSpan { offset, len })
    }

    fn end(self) -> usize {
        self.offset.saturating_add(self.len)
    }

    /// The smallest span covering both.
    fn join(self, other: ByteSpan) -> ByteSpan {
        let offset = self.offset.min(other.offset);
        ByteSpan {
            offset,
            len: self.end().max(other.end()) - offset,
        }
    }
}

/// A node of the document with its children's positions.
#[derive(Debug, Default)]
pub(crate) enum Node {
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    #[default]
    Leaf,
}

/// A mapping key as text (non-scalar keys have none).
#[derive(Debug)]
pub(crate) struct Key(Option<String>);

/// How precisely a path was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// The value at the path.
    Exact(ByteSpan),
    /// The path names a field the document leaves out: the span of the
    /// object that should hold it.
    Missing(ByteSpan),
}

impl Node {
    /// The span of the value at `path`; for a value left out of the
    /// document, the first entry of the nearest enclosing object (which
    /// usually reads `name: …` and so says which object it is).
    pub(crate) fn find(root: &Spanned<Node>, path: &FieldPath) -> Option<Found> {
        let mut here = root;
        let mut via_key: Option<&Spanned<Key>> = None;
        for seg in path.segments() {
            let next = match (&here.value, seg) {
                (Node::Map(entries), PathSegment::Field(name)) => entries
                    .iter()
                    .find(|(k, _)| k.value.0.as_deref() == Some(*name))
                    .map(|(k, v)| (Some(k), v)),
                (Node::Seq(items), PathSegment::Index(i)) => items.get(*i).map(|v| (None, v)),
                _ => None,
            };
            match next {
                Some((key, node)) => {
                    here = node;
                    via_key = key;
                }
                None => {
                    let span = match (&here.value, via_key) {
                        (Node::Map(_), _) => here.value.head(here),
                        (_, Some(key)) => ByteSpan::from_location(&key.referenced),
                        (_, None) => ByteSpan::from_location(&here.referenced),
                    };
                    return span.map(Found::Missing);
                }
            }
        }
        // A collection reached through a key is best shown by the key
        // (`networks:`); anything else by its own extent.
        let span = match (&here.value, via_key) {
            (Node::Map(_) | Node::Seq(_), Some(key)) => ByteSpan::from_location(&key.referenced),
            _ => here.value.extent(here),
        };
        span.map(Found::Exact)
    }

    /// The first `key: value` of a map, or the node itself.
    fn head(&self, at: &Spanned<Node>) -> Option<ByteSpan> {
        match self {
            Node::Map(entries) => match entries.first() {
                Some((k, v)) => {
                    let key = ByteSpan::from_location(&k.referenced)?;
                    Some(match v.value {
                        Node::Leaf => {
                            ByteSpan::from_location(&v.referenced).map_or(key, |s| key.join(s))
                        }
                        _ => key,
                    })
                }
                None => ByteSpan::from_location(&at.referenced),
            },
            _ => ByteSpan::from_location(&at.referenced),
        }
    }

    /// From the node's start to the end of its last descendant.
    fn extent(&self, at: &Spanned<Node>) -> Option<ByteSpan> {
        let own = ByteSpan::from_location(&at.referenced);
        let last = match self {
            Node::Map(entries) => entries.last().and_then(|(_, v)| v.value.extent(v)),
            Node::Seq(items) => items.last().and_then(|v| v.value.extent(v)),
            Node::Leaf => None,
        };
        match (own, last) {
            (Some(a), Some(b)) => Some(a.join(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One step of a path found in the document (keys as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

impl Node {
    /// The path of the innermost value whose entry starts at or before
    /// `offset` (where an error reported at `offset` sits), each step with
    /// the span of its key or item.
    pub(crate) fn path_at(root: &Spanned<Node>, offset: usize) -> Vec<(Step, Option<ByteSpan>)> {
        let span = |loc: &Location| ByteSpan::from_location(loc);
        let start = |loc: &Location| span(loc).map_or(0, |s| s.offset);
        let mut path = Vec::new();
        let mut here = &root.value;
        loop {
            match here {
                Node::Map(entries) => {
                    let Some((k, v)) = entries
                        .iter()
                        .rev()
                        .find(|(k, _)| start(&k.referenced) <= offset)
                    else {
                        break;
                    };
                    let key = k.value.0.clone().unwrap_or_else(|| "?".to_owned());
                    path.push((Step::Key(key), span(&k.referenced)));
                    here = &v.value;
                }
                Node::Seq(items) => {
                    let Some((i, v)) = items
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, v)| start(&v.referenced) <= offset)
                    else {
                        break;
                    };
                    path.push((Step::Index(i), span(&v.referenced)));
                    here = &v.value;
                }
                Node::Leaf => break,
            }
        }
        path
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

macro_rules! leaf {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<Node, E> { Ok(Node::Leaf) })*
    };
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    leaf!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128,
          visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(Some(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key, E> {
                Ok(Key(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Key(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Key(None))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
fabric:
  name: lab
switches:
  - name: leaf1
    ports:
      - name: eth1
        role: server
  - {name: leaf2, vtep: 10.0.0.1}
links: []
";

    fn tree() -> Spanned<Node> {
        serde_saphyr::from_str(DOC).unwrap()
    }

    fn text_at(path: &FieldPath) -> (&'static str, bool) {
        match Node::find(&tree(), path).unwrap() {
            Found::Exact(s) => (&DOC[s.offset..s.offset + s.len], true),
            Found::Missing(s) => (&DOC[s.offset..s.offset + s.len], false),
        }
    }

    #[test]
    fn finds_values_keys_and_missing_fields() {
        let sw = FieldPath::root().field("switches");
        assert_eq!(
            text_at(&FieldPath::root().field("fabric").field("name")),
            ("lab", true)
        );
        assert_eq!(
            text_at(&sw.index(0).field("ports").index(0).field("role")),
            ("server", true)
        );
        assert_eq!(text_at(&sw.index(1).field("vtep")), ("10.0.0.1", true));
        // Collections under a key are shown by the key.
        assert_eq!(text_at(&sw.index(0).field("ports")), ("ports", true));
        assert_eq!(text_at(&FieldPath::root().field("links")), ("links", true));
        // A list item by its whole extent.
        assert!(
            text_at(&sw.index(0))
                .0
                .starts_with("name: leaf1\n    ports:")
        );
        // A field left out: the first entry of its object.
        assert_eq!(text_at(&sw.index(0).field("vtep")), ("name: leaf1", false));
        assert_eq!(text_at(&sw.index(7).field("vtep")), ("switches", false));
    }

    #[test]
    fn path_at_offset() {
        let at = |needle: &str| {
            let offset = DOC.find(needle).unwrap();
            Node::path_at(&tree(), offset)
        };
        let steps = |needle: &str| at(needle).into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        let k = |s: &str| Step::Key(s.to_owned());
        assert_eq!(
            steps("server"),
            [
                k("switches"),
                Step::Index(0),
                k("ports"),
                Step::Index(0),
                k("role")
            ]
        );
        assert_eq!(
            steps("10.0.0.1"),
            [k("switches"), Step::Index(1), k("vtep")]
        );
        assert_eq!(steps("lab"), [k("fabric"), k("name")]);
        // Each step knows where its key is.
        let (_, key) = at("10.0.0.1").pop().unwrap();
        let key = key.unwrap();
        assert_eq!(&DOC[key.offset..key.offset + key.len], "vtep");
    }
}
