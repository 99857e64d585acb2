//! Documents → validated values: [`Topology::from_spec`],
//! [`Intent::from_spec`] and their inverses `to_spec`.
//!
//! Validation never stops at the first problem: each pass records every
//! [`Violation`] it finds, at the [`FieldPath`] of the offending value, with
//! related places (the first definition of a duplicate, the other end of a
//! conflict). To keep the list useful, a value that is itself invalid is not
//! used for further checks: a port reference with a typo is reported once as
//! unknown, not again as "not leased" and "not a server port".
//!
//! Values are built only when there is no violation at all, so a
//! [`Topology`] or [`Intent`] in hand is always consistent.
//!
//! This module knows nothing of files: `weft-config` maps each
//! [`FieldPath`] to a `file:line:col`.
//!
//! [`Topology::from_spec`]: crate::topology::Topology::from_spec
//! [`Intent::from_spec`]: crate::intent::Intent::from_spec
//! [`Topology`]: crate::topology::Topology
//! [`Intent`]: crate::intent::Intent

mod intent;
mod intent_networks;
mod to_spec;
mod topology;
mod topology_cabling;

#[cfg(test)]
mod tests_intent;
#[cfg(test)]
mod tests_topology;

use std::str::FromStr;

use crate::ids::{IdError, Label, Name};
use crate::path::FieldPath;
use crate::violation::{Violation, ViolationKind};

/// Violations found so far, and helpers that parse a raw value or record
/// why it is invalid.
#[derive(Debug, Default)]
struct Findings(Vec<Violation>);

impl Findings {
    fn push(&mut self, v: Violation) {
        self.0.push(v);
    }

    fn report(&mut self, path: FieldPath, kind: ViolationKind) {
        self.0.push(Violation::new(path, kind));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The built value when nothing was found. `built` is `None` only if a
    /// pass rejected a value without reporting why: surface that as an
    /// error rather than a panic.
    fn into_result<T>(self, built: Option<T>) -> Result<T, Vec<Violation>> {
        if !self.0.is_empty() {
            return Err(self.0);
        }
        built.ok_or_else(|| {
            vec![Violation::new(
                FieldPath::root(),
                ViolationKind::MissingField {
                    field: "<document>",
                    why: "internal validation error: a value was rejected without a reason",
                },
            )]
        })
    }

    /// Parses `raw` with `FromStr`, recording an `invalid-value` on failure.
    fn parse<T: FromStr<Err = IdError>>(&mut self, path: &FieldPath, raw: &str) -> Option<T> {
        match raw.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.report(path.clone(), ViolationKind::InvalidValue(e));
                None
            }
        }
    }

    fn name(&mut self, path: &FieldPath, raw: &str) -> Option<Name> {
        self.parse(path, raw)
    }

    fn label(&mut self, path: &FieldPath, raw: &str) -> Option<Label> {
        self.parse(path, raw)
    }

    /// A bounded integer from a raw number.
    fn number<T: TryFrom<u64, Error = IdError>>(
        &mut self,
        path: &FieldPath,
        raw: u64,
    ) -> Option<T> {
        match T::try_from(raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.report(path.clone(), ViolationKind::InvalidValue(e));
                None
            }
        }
    }
}

/// Splits `SWITCH/PORT` into its two labels' raw text.
fn split_port_ref(raw: &str) -> Result<(&str, &str), IdError> {
    match raw.split_once('/') {
        Some((sw, port)) if !sw.is_empty() && !port.is_empty() && !port.contains('/') => {
            Ok((sw, port))
        }
        _ => Err(IdError::InvalidPortRef(raw.to_owned())),
    }
}

/// A `usize` count as `u64` for messages and quota checks.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
