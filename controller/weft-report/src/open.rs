//! Opening a signed report: envelope (or HTML page) in, checked report out.
//!
//! Order of checks, each failing with its own [`VerifyError`]: the file is
//! an envelope (or a page embedding exactly one); its payload type is
//! Weft's; it has a signature; a signature verifies, over the DSSE
//! pre-authentication encoding, with the trusted key or, failing one, with
//! the key the payload names; the payload is a report of the schema this
//! crate reads. Verdicts are not looked at here: that is [`crate::recheck`].

use crate::model::Report;
use crate::sign::{Envelope, PublicKey, decode_base64, pae};

/// A report whose envelope checked out.
#[derive(Debug, Clone)]
pub struct Opened {
    pub report: Report,
    /// The payload bytes exactly as signed.
    pub payload: Vec<u8>,
    /// The signature was checked against a key the caller trusts. When
    /// false it was checked against the key the payload itself names, which
    /// proves the file is intact but not who made it.
    /// (That key is then `report.fabric.signing_key`.)
    pub key_trusted: bool,
}

/// Why a file is not a valid signed report. Each names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a DSSE envelope: {0}")]
    Envelope(String),
    #[error("the HTML page holds no signed report (no <script id=\"weft-envelope\"> element)")]
    NoEnvelopeInHtml,
    #[error("the HTML page holds more than one signed report; refusing to pick one")]
    SeveralEnvelopesInHtml,
    #[error("payload type is {found:?}, expected {expected:?}", expected = crate::PAYLOAD_TYPE)]
    PayloadType { found: String },
    #[error("payload is not valid base64: {0}")]
    PayloadEncoding(String),
    #[error("the envelope carries no signature")]
    NoSignature,
    #[error(
        "signature check failed: no signature verifies with {which} key {key} (key id {key_id})",
        which = if *.trusted { "the trusted" } else { "the report's own" }
    )]
    BadSignature {
        key: PublicKey,
        key_id: String,
        trusted: bool,
    },
    #[error("the payload names no usable signing key (fabric.signing_key): {0}")]
    SigningKey(String),
    #[error("schema is {found:?}, this verifier reads {expected:?}", expected = crate::SCHEMA)]
    Schema { found: String },
    #[error("payload is not a valid report: {0}")]
    Payload(String),
}

/// The element the HTML report carries its envelope in.
pub(crate) const SCRIPT_OPEN: &str =
    r#"<script type="application/vnd.weft.isolation-report.v1+json" id="weft-envelope">"#;
const SCRIPT_ID: &str = r#"id="weft-envelope""#;

/// Checks `file` (a DSSE envelope, or the HTML report embedding one)
/// against `trusted`, or against the key the payload names when `None`.
pub fn open(file: &[u8], trusted: Option<&PublicKey>) -> Result<Opened, VerifyError> {
    let envelope_bytes = envelope_bytes(file)?;
    let envelope: Envelope =
        serde_json::from_slice(envelope_bytes).map_err(|e| VerifyError::Envelope(e.to_string()))?;
    if envelope.payload_type != crate::PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType {
            found: envelope.payload_type,
        });
    }
    let payload = decode_base64(&envelope.payload).ok_or_else(|| {
        VerifyError::PayloadEncoding("neither standard nor URL-safe base64".to_owned())
    })?;
    if envelope.signatures.is_empty() {
        return Err(VerifyError::NoSignature);
    }
    // With a trusted key nothing of the payload is read before its
    // signature holds; without one, the payload must first name its key.
    let parse = || -> Result<serde_json::Value, VerifyError> {
        serde_json::from_slice(&payload).map_err(|e| VerifyError::Payload(e.to_string()))
    };
    let (key, parsed) = match trusted {
        Some(k) => (*k, None),
        None => {
            let value = parse()?;
            (named_key(&value)?, Some(value))
        }
    };
    let signed = pae(&envelope.payload_type, &payload);
    let verified = envelope
        .signatures
        .iter()
        .any(|s| decode_base64(&s.sig).is_some_and(|sig| key.verifies(&signed, &sig)));
    if !verified {
        return Err(VerifyError::BadSignature {
            key,
            key_id: key.key_id(),
            trusted: trusted.is_some(),
        });
    }
    let value = match parsed {
        Some(v) => v,
        None => parse()?,
    };
    let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    if schema != crate::SCHEMA {
        return Err(VerifyError::Schema {
            found: schema.to_owned(),
        });
    }
    let report: Report =
        serde_json::from_value(value).map_err(|e| VerifyError::Payload(e.to_string()))?;
    Ok(Opened {
        report,
        payload,
        key_trusted: trusted.is_some(),
    })
}

fn named_key(payload: &serde_json::Value) -> Result<PublicKey, VerifyError> {
    let text = payload
        .pointer("/fabric/signing_key")
        .and_then(|k| k.as_str())
        .ok_or_else(|| VerifyError::SigningKey("missing".to_owned()))?;
    text.parse()
        .map_err(|e: crate::KeyError| VerifyError::SigningKey(e.to_string()))
}

/// The envelope's bytes: the file itself, or the content of the HTML
/// page's envelope element.
fn envelope_bytes(file: &[u8]) -> Result<&[u8], VerifyError> {
    let start = file
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(file.len());
    if file.get(start) == Some(&b'{') {
        return Ok(file);
    }
    let text = std::str::from_utf8(file).map_err(|_| {
        VerifyError::Envelope("neither JSON nor an HTML page (not UTF-8)".to_owned())
    })?;
    if !text[start..].starts_with('<') {
        return Err(VerifyError::Envelope(
            "neither JSON nor an HTML page".to_owned(),
        ));
    }
    let mut hits = text.match_indices(SCRIPT_ID);
    let Some((at, _)) = hits.next() else {
        return Err(VerifyError::NoEnvelopeInHtml);
    };
    if hits.next().is_some() {
        return Err(VerifyError::SeveralEnvelopesInHtml);
    }
    let body_start = text[at..]
        .find('>')
        .map(|i| at + i + 1)
        .ok_or(VerifyError::NoEnvelopeInHtml)?;
    let body_end = text[body_start..]
        .find("</script>")
        .map(|i| body_start + i)
        .ok_or(VerifyError::NoEnvelopeInHtml)?;
    Ok(text[body_start..body_end].trim().as_bytes())
}
