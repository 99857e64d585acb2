//! Field paths: where in a document (or a gRPC request) a value sits.
//!
//! Validation reports *where* with a `FieldPath` rather than a file
//! position: the YAML layer maps paths to `file:line:col`, the gRPC layer
//! turns them into `BadRequest` field violations. The model never sees a
//! file.

use std::fmt;

/// One step of a path: a struct field or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSegment {
    Field(&'static str),
    Index(usize),
}

/// A path such as `switches[2].ports[0].name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<PathSegment>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path extended with a field.
    #[must_use]
    pub fn field(&self, name: &'static str) -> Self {
        let mut v = self.0.clone();
        v.push(PathSegment::Field(name));
        FieldPath(v)
    }

    /// This path extended with a list index.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(PathSegment::Index(i));
        FieldPath(v)
    }

    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<document>");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Field(name) if i == 0 => f.write_str(name)?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(idx) => write!(f, "[{idx}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let p = FieldPath::root()
            .field("switches")
            .index(2)
            .field("ports")
            .index(0)
            .field("name");
        assert_eq!(p.to_string(), "switches[2].ports[0].name");
        assert_eq!(FieldPath::root().to_string(), "<document>");
    }
}
