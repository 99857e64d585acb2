//! Signing: ed25519 keys and DSSE envelopes.
//!
//! A signed report is a DSSE envelope (`payloadType`, base64 `payload`,
//! `signatures: [{keyid, sig}]`) whose signature covers the pre-auth
//! encoding [`pae`] of the payload type and the report's canonical JSON.
//! Ed25519 signatures are deterministic, so signing the same report with
//! the same key gives the same envelope bytes.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::canonical::{sha256, to_canonical_json};
use crate::model::Report;

/// Why a key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("could not generate an ed25519 key: the system's random source failed")]
    Generate,
    #[error("not an unencrypted PKCS#8 ed25519 private key: {0}")]
    Pkcs8(String),
    #[error("public key must be `ed25519:` followed by the base64 of 32 bytes: {0}")]
    PublicKey(String),
}

/// The controller's report-signing key (ed25519).
pub struct ReportKey {
    pair: Ed25519KeyPair,
}

impl fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("ReportKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl ReportKey {
    /// A new random key, and its PKCS#8 (v2) encoding for the caller to
    /// store.
    pub fn generate() -> Result<(ReportKey, Vec<u8>), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
        let bytes = doc.as_ref().to_vec();
        let key = ReportKey::from_pkcs8(&bytes)?;
        Ok((key, bytes))
    }

    /// Reads an unencrypted PKCS#8 ed25519 key, v2 (with the public key,
    /// which is then checked) or v1 (as `openssl genpkey` writes).
    pub fn from_pkcs8(bytes: &[u8]) -> Result<ReportKey, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(bytes)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes))
            .map_err(|e| KeyError::Pkcs8(e.to_string()))?;
        Ok(ReportKey { pair })
    }

    /// The key whose 32-byte ed25519 seed is `seed`. For fixtures and
    /// benches that need the same key every run; real keys come from
    /// [`ReportKey::generate`].
    pub fn from_seed(seed: &[u8; 32]) -> ReportKey {
        // A 32-byte seed is always a valid ed25519 private key.
        match Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(pair) => ReportKey { pair },
            Err(e) => unreachable!("ring rejected a 32-byte ed25519 seed: {e}"),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(raw)
    }

    fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// An ed25519 public key. Written `ed25519:<standard base64 of 32 bytes>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key id carried in envelope signatures: the first 8 bytes of the
    /// SHA-256 of the raw 32-byte key, as 16 lowercase hex digits.
    pub fn key_id(&self) -> String {
        let digest = sha256(&self.0);
        crate::canonical::hex(&digest[..8])
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", STANDARD.encode(self.0))
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b64 = s
            .trim()
            .strip_prefix("ed25519:")
            .ok_or_else(|| KeyError::PublicKey(format!("`{s}` lacks the `ed25519:` prefix")))?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|e| KeyError::PublicKey(format!("`{s}`: {e}")))?;
        let raw: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            KeyError::PublicKey(format!("`{s}` holds {} bytes, not 32", b.len()))
        })?;
        Ok(PublicKey(raw))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A DSSE envelope, as written (field names per the DSSE spec). Unknown
/// fields are ignored when reading, as the spec requires of consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Standard base64 of the payload bytes.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// A hint for choosing the key ([`PublicKey::key_id`]); optional in
    /// DSSE, never used to decide anything.
    #[serde(default)]
    pub keyid: String,
    /// Standard base64 of the signature bytes.
    pub sig: String,
}

/// Decodes base64 as DSSE verifiers must: standard or URL-safe alphabet,
/// padded or not.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s.as_bytes()).ok())
}

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII
/// decimal. The payload type is bound into what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Signs `report`: the DSSE envelope of its canonical JSON, itself as
/// canonical JSON bytes.
pub fn sign(report: &Report, key: &ReportKey) -> Vec<u8> {
    sign_payload(&report.canonical_json(), key)
}

pub(crate) fn sign_payload(payload: &[u8], key: &ReportKey) -> Vec<u8> {
    let sig = key.sign_bytes(&pae(crate::PAYLOAD_TYPE, payload));
    let envelope = Envelope {
        payload: STANDARD.encode(payload),
        payload_type: crate::PAYLOAD_TYPE.to_owned(),
        signatures: vec![EnvelopeSignature {
            keyid: key.public_key().key_id(),
            sig: STANDARD.encode(sig),
        }],
    };
    to_canonical_json(&envelope)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn public_key_round_trips_through_text() {
        let (key, _) = ReportKey::generate().unwrap();
        let pk = key.public_key();
        let text = pk.to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.parse::<PublicKey>().unwrap(), pk);
        assert_eq!(pk.key_id().len(), 16);
        assert!(pk.key_id().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn seeded_keys_are_reproducible() {
        let a = ReportKey::from_seed(&[7; 32]);
        let b = ReportKey::from_seed(&[7; 32]);
        let c = ReportKey::from_seed(&[8; 32]);
        assert_eq!(a.public_key(), b.public_key());
        assert_ne!(a.public_key(), c.public_key());
    }

    #[test]
    fn bad_public_keys_are_rejected() {
        assert!("ed25519:AAAA".parse::<PublicKey>().is_err());
        assert!("rsa:AAAA".parse::<PublicKey>().is_err());
        assert!("ed25519:!!".parse::<PublicKey>().is_err());
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key_and_signatures_are_deterministic() {
        let (key, pkcs8) = ReportKey::generate().unwrap();
        let again = ReportKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert_eq!(key.sign_bytes(b"x"), again.sign_bytes(b"x"));
        assert!(key.public_key().verifies(b"x", &key.sign_bytes(b"x")));
        assert!(!key.public_key().verifies(b"y", &key.sign_bytes(b"x")));
        assert!(ReportKey::from_pkcs8(b"not a key").is_err());
    }

    #[test]
    fn both_base64_alphabets_are_read() {
        let bytes = [0xfb, 0xff, 0x00, 0x10];
        let std = STANDARD.encode(bytes);
        assert_eq!(std, "+/8AEA==");
        assert_eq!(decode_base64(&std).unwrap(), bytes);
        assert_eq!(decode_base64("-_8AEA==").unwrap(), bytes);
        assert_eq!(decode_base64("-_8AEA").unwrap(), bytes);
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The DSSE protocol document's example: type "http://example.com/HelloWorld",
        // body "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
