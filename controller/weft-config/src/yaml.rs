//! Strict YAML → spec: serde-saphyr with budgets sized for Weft's files,
//! duplicate keys rejected, one document only. Structural errors (syntax,
//! unknown or missing keys, wrong types, budget breaches) become a
//! [`Problem`] with a code, the field path when it can be found, and a hint.

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::localizer::ExternalMessageSource;
use serde_saphyr::{
    Budget, DuplicateKeyPolicy, Error as YamlError, MergeKeyPolicy, MessageFormatter, Options,
    Spanned, budget::BudgetBreach,
};

use crate::diagnostics::{Problem, Source};
use crate::positions::{ByteSpan, Node, Step};

/// The largest file accepted, in bytes. Generated fabrics of a thousand
/// leaves stay well below; anything bigger is refused before parsing.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Budgets: generous for real files (a 1,000-leaf × 48-port topology is
/// about 1.5 million parser events), tight against hostile ones. Alias
/// bombs stop at the replay limits, deep nesting at `max_depth` (Weft's
/// formats nest eight levels deep), junk at the first parser error.
pub(crate) fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_FILE_BYTES);
    budget.max_events = 8_000_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_depth = 32;
    budget.flow_nesting_limit = 32;
    budget.max_documents = 1;
    budget.max_nodes = 4_000_000;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES;
    budget.max_merge_keys = 1_000;
    let mut options = serde_saphyr::options! {
        budget: Some(budget),
        duplicate_keys: DuplicateKeyPolicy::Error,
        merge_keys: MergeKeyPolicy::Merge,
        // `yes`/`on` as booleans surprise people; Weft's formats have none.
        strict_booleans: true,
        with_snippet: false,
    };
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options
}

/// Parses `text` as a `T`.
pub(crate) fn parse<T: DeserializeOwned>(source: &Source, text: &str) -> Result<T, Box<Problem>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Box::new(too_large(text.len())));
    }
    match serde_saphyr::from_str_with_options::<T>(text, options()) {
        Ok(value) => Ok(value),
        Err(e) => Err(Box::new(structural(source, text, &e))),
    }
}

/// The positioned tree, or `None` if it cannot be built (it always can for
/// a document that parsed as a spec; `None` only loses snippet labels).
pub(crate) fn positions(text: &str) -> Option<Spanned<Node>> {
    serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options()).ok()
}

pub(crate) fn too_large(len: usize) -> Problem {
    Problem::unplaced(
        "file-too-large",
        format!("the file is {len} bytes; the limit is {MAX_FILE_BYTES} bytes (8 MiB)"),
        Some("split the fabric, or check that this is the file you meant".to_owned()),
    )
}

fn inner(e: &YamlError) -> &YamlError {
    match e.without_snippet() {
        YamlError::AliasError { error, .. } => inner(error),
        other => other,
    }
}

/// Turns a serde-saphyr error into a problem in Weft's words.
fn structural(source: &Source, text: &str, outer: &YamlError) -> Problem {
    let e = inner(outer);
    let Described {
        code,
        message,
        hint,
    } = describe(e);
    // An error inside replayed alias content is best shown where the alias
    // is used; the anchor's place comes as a related label.
    let (use_site, anchor) = match outer.without_snippet() {
        YamlError::AliasError { locations, .. } => (
            ByteSpan::from_location(&locations.reference_location),
            ByteSpan::from_location(&locations.defined_location),
        ),
        _ => (None, None),
    };
    let span = use_site.or_else(|| error_span(text, e));
    // Naming the place means parsing again: not for input already found
    // too costly to parse.
    let costly = matches!(code, "alias-limit" | "input-too-complex");
    let steps = match span {
        Some(s) if !costly => steps_at(text, s.offset),
        _ => Vec::new(),
    };
    // A missing key belongs to the mapping the error points into.
    let steps = if code == "missing-key" {
        &steps[..steps.len().saturating_sub(1)]
    } else {
        &steps[..]
    };
    let path = (!steps.is_empty()).then(|| format_path(steps));
    let label = match (code, &path) {
        ("unknown-key", _) => "unknown key".to_owned(),
        ("duplicate-key", _) => "repeated key".to_owned(),
        ("missing-key", Some(p)) => format!("{p} starts here"),
        (_, Some(p)) => p.clone(),
        (_, None) => "here".to_owned(),
    };
    let message = match (&path, code) {
        (Some(p), "wrong-type" | "unknown-value") => format!("{p}: {message}"),
        (Some(p), "missing-key") => format!("{message} in {p}"),
        _ => message,
    };
    let mut problem = Problem::at(source, code, message, hint, span, label).with_path(path);
    // The first occurrence of a repeated key: the tolerant tree keeps it.
    if code == "duplicate-key"
        && let Some((_, Some(first))) = steps.last()
        && span.is_some_and(|s| s.offset != first.offset)
    {
        problem = problem.with_related(*first, "first occurrence");
    }
    if let (Some(_), Some(anchor)) = (use_site, anchor) {
        problem = problem.with_related(anchor, "defined here (anchor)");
    }
    problem
}

struct Described {
    code: &'static str,
    message: String,
    hint: Option<String>,
}

fn described(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Described {
    Described {
        code,
        message: message.into(),
        hint: Some(hint.into()),
    }
}

/// A stable code, a message and a hint for a structural error.
fn describe(e: &YamlError) -> Described {
    const TYPES: &str = "see docs/topology-format.md for each key's type";
    match e {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => described(
            "unknown-key",
            format!("unknown key `{}`", clean(field)),
            suggest(field, expected, "keys"),
        ),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => described(
            "unknown-value",
            format!("unknown value `{}`", clean(variant)),
            suggest(variant, expected, "values"),
        ),
        YamlError::SerdeMissingField { field, .. } => described(
            "missing-key",
            format!("missing key `{field}`"),
            format!("add `{field}: ...`; see docs/topology-format.md for the format"),
        ),
        YamlError::DuplicateMappingKey { key, .. } => described(
            "duplicate-key",
            match key {
                Some(k) => format!("key `{}` appears twice in this mapping", clean(k)),
                None => "a key appears twice in this mapping".to_owned(),
            },
            "a key appears once per mapping: remove or merge the repeated one",
        ),
        YamlError::Budget {
            breach: BudgetBreach::Documents { .. },
            ..
        }
        | YamlError::MultipleDocuments { .. } => described(
            "multiple-documents",
            "the file holds more than one YAML document",
            "a file holds one document: remove the `---` separator and what follows",
        ),
        YamlError::Budget { breach, .. } => described(
            "input-too-complex",
            budget_message(breach),
            budget_hint(breach),
        ),
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => described(
            "alias-limit",
            format!(
                "aliases expand to too much data: {}",
                clean(&format_message(e))
            ),
            "write the values out, or use fewer aliases",
        ),
        YamlError::InvalidScalar { ty, .. } => {
            described("wrong-type", format!("expected {}", type_name(ty)), TYPES)
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => described(
            "wrong-type",
            format!(
                "expected {}, found {}",
                type_name(expected),
                clean(unexpected)
            ),
            TYPES,
        ),
        YamlError::SerdeInvalidLength { .. }
        | YamlError::InvalidBooleanStrict { .. }
        | YamlError::NullIntoString { .. }
        | YamlError::Unexpected { .. }
        | YamlError::ExternallyTaggedEnumExpectedScalarOrMapping { .. }
        | YamlError::UnexpectedValueForUnitEnumVariant { .. } => {
            described("wrong-type", clean(&format_message(e)), TYPES)
        }
        YamlError::Eof { .. } => described(
            "yaml-syntax",
            "the document is empty or ends early",
            "a topology file starts with `fabric:`, an intent file with `operators:`",
        ),
        YamlError::ExternalMessage { source, .. }
            if matches!(&**source, ExternalMessageSource::Parser(scan)
                if matches!(scan.kind(), ErrorKind::RecursionLimitExceeded)) =>
        {
            described(
                "input-too-complex",
                "the document nests too deeply",
                "Weft files nest eight levels deep at most: check the brackets and indentation",
            )
        }
        _ => described(
            "yaml-syntax",
            clean(&format_message(e)),
            "this is not valid YAML here: check indentation, quotes and brackets",
        ),
    }
}

fn format_message(e: &YamlError) -> String {
    serde_saphyr::DefaultMessageFormatter
        .format_message(e)
        .into_owned()
}

/// Messages may quote input: keep control characters out of terminals.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// serde's type names in a network engineer's words.
fn type_name(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".to_owned(),
        "i8" | "i16" | "i32" | "i64" => "a whole number".to_owned(),
        "bool" => "true or false".to_owned(),
        "a string" | "string" | "str" => "a string".to_owned(),
        t if t.starts_with("struct ") => "a mapping (`key: value` lines)".to_owned(),
        t if t.starts_with("a sequence") || t == "sequence" => "a list".to_owned(),
        t if t.starts_with("enum ") => "one of the documented values".to_owned(),
        other => clean(other),
    }
}

/// Where the error is: its location, or the parser's marker.
fn error_span(text: &str, e: &YamlError) -> Option<ByteSpan> {
    if let Some(span) = e.location().and_then(|l| ByteSpan::from_location(&l)) {
        return Some(span);
    }
    let YamlError::ExternalMessage { source, .. } = e else {
        return None;
    };
    let ExternalMessageSource::Parser(scan) = &**source else {
        return None;
    };
    let marker = scan.marker();
    offset_of(text, marker.line(), marker.col()).map(|offset| ByteSpan { offset, len: 0 })
}

/// The byte offset of a 1-based line and a 0-based column in characters.
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)?
    };
    let rest = &text[start..];
    let within = rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
    Some(start + within)
}

fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { depth } => format!("the document nests {depth} levels deep"),
        BudgetBreach::Aliases { aliases } => format!("the document uses {aliases} aliases"),
        BudgetBreach::Anchors { anchors } => format!("the document defines {anchors} anchors"),
        BudgetBreach::Events { .. } | BudgetBreach::Nodes { .. } => {
            "the document has far more entries than any Weft file".to_owned()
        }
        other => format!("the document exceeds Weft's parsing limits ({other:?})"),
    }
}

fn budget_hint(breach: &BudgetBreach) -> &'static str {
    match breach {
        BudgetBreach::Depth { .. } => "Weft files nest eight levels deep at most",
        BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
            "too many anchors or aliases: write the values out"
        }
        _ => "the document is far larger than any Weft file: check that this is the file you meant",
    }
}

/// "did you mean …" when a known spelling is close, else the list.
fn suggest(got: &str, expected: &[&str], what: &str) -> String {
    let best = expected
        .iter()
        .map(|e| (distance(got, e), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 3))
        .min();
    let all = expected.join(", ");
    match best {
        Some((_, e)) => format!("did you mean `{e}`? ({what} here: {all})"),
        None if expected.is_empty() => format!("this position takes no {what}"),
        None => format!("{what} here: {all}"),
    }
}

/// Levenshtein distance, for short identifiers.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().take(64).enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The steps to the value at `offset`, if the text is well-formed YAML.
/// Duplicate keys are tolerated here (the first wins): this only names the
/// place of an error already found.
fn steps_at(text: &str, offset: usize) -> Vec<(Step, Option<ByteSpan>)> {
    let mut options = options();
    options.duplicate_keys = DuplicateKeyPolicy::FirstWins;
    match serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options) {
        Ok(tree) => Node::path_at(&tree, offset),
        Err(_) => Vec::new(),
    }
}

fn format_path(path: &[(Step, Option<ByteSpan>)]) -> String {
    let mut out = String::new();
    for (step, _) in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}
