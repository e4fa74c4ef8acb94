//! Witness cosignatures: C2SP `tlog-cosignature` v1 with Ed25519.
//!
//! A cosignature is a signature line that a witness adds to a log's signed
//! checkpoint, once it has checked that the checkpoint is consistent with
//! every checkpoint of that log it cosigned before:
//!
//! ```text
//! — witness.example/w1 base64(key id ‖ timestamp ‖ signature)
//! ```
//!
//! - The **key id** is the first four bytes of
//!   SHA-256(name ‖ `\n` ‖ 0x04 ‖ public key): signature type 0x04, not the
//!   0x01 of the log's own key, so a key cannot be mistaken for the other.
//! - The **timestamp** is the time of cosigning, POSIX seconds, 8 bytes
//!   big-endian, at most 2^63 − 1.
//! - The **signature** is Ed25519 over the message
//!   `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body
//!   (its final newline included, its signature lines not).
//!
//! Keys are written as for the log's key ([`crate::checkpoint`]), with the
//! type byte 0x04: `<name>+<key id>+<base64(0x04 ‖ public key)>` and
//! `PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ seed)>`.
//! Specification: <https://c2sp.org/tlog-cosignature>.
//!
//! ```
//! use zkgov_log::checkpoint::{Checkpoint, LogSigner};
//! use zkgov_log::cosignature::{CosignatureVerifier, Cosigner};
//!
//! let log = LogSigner::generate("zkgov.example/log");
//! let note = log.sign(&Checkpoint {
//!     origin: "zkgov.example/log".into(),
//!     size: 3,
//!     root: [1; 32],
//!     extensions: vec![],
//! });
//! let witness = Cosigner::generate("witness.example/w1");
//! let cosigned = note.clone() + &witness.cosign(&note, 1_700_000_000).unwrap();
//! let verifier = CosignatureVerifier::from_verifier_key(&witness.verifier_key()).unwrap();
//! assert_eq!(verifier.verify(&cosigned), Ok(1_700_000_000));
//! assert!(verifier.verify(&note).is_err());
//! ```

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::rngs::OsRng;

use crate::checkpoint::{
    format_key, format_private_key, is_valid_key_name, key_id, parse_note, parse_private_key,
    parse_verifier_key, Checkpoint, CheckpointError, SIGNATURE_PREFIX,
};

/// The signature type byte of `cosignature/v1` Ed25519 keys.
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp a cosignature may carry.
const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// Why a cosignature does not check out.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The note or a key is malformed.
    #[error(transparent)]
    Note(#[from] CheckpointError),
    /// No signature line carries this witness's name and key id.
    #[error("the note has no cosignature by witness `{witness}`")]
    Missing {
        /// The witness's key name.
        witness: String,
    },
    /// A cosignature line of this witness is not 8 + 64 bytes after its
    /// key id, or its timestamp exceeds 2^63 − 1.
    #[error("the cosignature of witness `{witness}` is malformed: {reason}")]
    Malformed {
        /// The witness's key name.
        witness: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A cosignature line of this witness does not verify.
    #[error("the cosignature of witness `{witness}` does not verify")]
    BadSignature {
        /// The witness's key name.
        witness: String,
    },
}

/// The message a `cosignature/v1` signs: the header line, the time line
/// and the checkpoint body.
pub fn signed_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A witness's signing key. Its `Debug` shows the name and key id only.
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format!("{:08x}", self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Cosigner {
    fn new(name: &str, key: SigningKey) -> Cosigner {
        Cosigner {
            name: name.to_string(),
            key_id: key_id(ALG_COSIGNATURE_V1, name, &key.verifying_key()),
            key,
        }
    }

    /// A new key named `name`, from the operating system's random source;
    /// `None` if `name` is not a valid key name (see [`is_valid_key_name`]).
    pub fn try_generate(name: &str) -> Option<Cosigner> {
        is_valid_key_name(name).then(|| Cosigner::new(name, SigningKey::generate(&mut OsRng)))
    }

    /// A new key named `name`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid key name.
    pub fn generate(name: &str) -> Cosigner {
        Cosigner::try_generate(name).unwrap_or_else(|| panic!("invalid key name `{name}`"))
    }

    /// Reads a `PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ seed)>` string,
    /// such as [`Self::private_key`] writes, ignoring a final newline.
    pub fn from_private_key(text: &str) -> Result<Cosigner, CheckpointError> {
        let (name, key) = parse_private_key(ALG_COSIGNATURE_V1, text)?;
        Ok(Cosigner::new(name, key))
    }

    /// The private key string; keep it secret.
    pub fn private_key(&self) -> String {
        format_private_key(ALG_COSIGNATURE_V1, &self.name, self.key_id, &self.key)
    }

    /// The verifier key string `<name>+<key id>+<base64(0x04 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        format_key(
            ALG_COSIGNATURE_V1,
            &self.name,
            self.key_id,
            self.key.verifying_key().as_bytes(),
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosignature line, ending in a newline, of the checkpoint in the
    /// signed `note` at `timestamp`. The note's signatures are not checked
    /// here (the witness checks the log's before it decides to cosign); its
    /// body must be a well-formed checkpoint.
    ///
    /// # Panics
    ///
    /// If `timestamp` exceeds 2^63 − 1.
    pub fn cosign(&self, note: &str, timestamp: u64) -> Result<String, CheckpointError> {
        assert!(
            timestamp <= MAX_TIMESTAMP,
            "timestamp {timestamp} too large"
        );
        let (body, _) = parse_note(note)?;
        Checkpoint::parse_body(body)?;
        let signature = self.key.sign(signed_message(body, timestamp).as_bytes());
        let mut blob = self.key_id.to_be_bytes().to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// A witness's public key, which checks its cosignatures.
#[derive(Clone, Debug)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Reads a `<name>+<key id>+<base64(0x04 ‖ public key)>` string, such as
    /// [`Cosigner::verifier_key`] writes, ignoring a final newline.
    pub fn from_verifier_key(text: &str) -> Result<CosignatureVerifier, CheckpointError> {
        let (name, key_id, key) = parse_verifier_key(ALG_COSIGNATURE_V1, text)?;
        Ok(CosignatureVerifier {
            name: name.to_string(),
            key_id,
            key,
        })
    }

    /// The witness's key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requires a valid cosignature by this key on the signed `note` and
    /// returns its timestamp (the latest, if there are several). Lines of
    /// other keys are ignored; every line with this key's name and key id
    /// must verify. The log's own signature is not checked here.
    pub fn verify(&self, note: &str) -> Result<u64, CosignatureError> {
        let (body, signatures) = parse_note(note)?;
        let witness = || self.name.clone();
        let mut latest = None;
        for line in &signatures {
            if line.name != self.name || line.key_id != self.key_id {
                continue;
            }
            let Some((timestamp, signature)) = line
                .signature
                .split_first_chunk::<8>()
                .filter(|(_, s)| s.len() == Signature::BYTE_SIZE)
            else {
                return Err(CosignatureError::Malformed {
                    witness: witness(),
                    reason: "not a timestamp and an Ed25519 signature",
                });
            };
            let timestamp = u64::from_be_bytes(*timestamp);
            if timestamp > MAX_TIMESTAMP {
                return Err(CosignatureError::Malformed {
                    witness: witness(),
                    reason: "the timestamp exceeds 2^63 - 1",
                });
            }
            let signature = Signature::from_slice(signature)
                .map_err(|_| CosignatureError::BadSignature { witness: witness() })?;
            self.key
                .verify_strict(signed_message(body, timestamp).as_bytes(), &signature)
                .map_err(|_| CosignatureError::BadSignature { witness: witness() })?;
            latest = latest.max(Some(timestamp));
        }
        latest.ok_or(CosignatureError::Missing { witness: witness() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{LogSigner, LogVerifier};

    /// The checkpoint of the C2SP `tlog-cosignature` example, with its log
    /// signature and one witness cosignature, as published.
    const SPEC_NOTE: &str = "example.com/behind-the-sofa\n20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
        \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
        \u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

    fn note(size: u64) -> String {
        LogSigner::generate("zkgov.example/log").sign(&Checkpoint {
            origin: "zkgov.example/log".into(),
            size,
            root: [9; 32],
            extensions: vec![],
        })
    }

    #[test]
    fn the_signed_message_is_the_specs_example() {
        let body = "example.com/behind-the-sofa\n20852163\n\
                    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            signed_message(body, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn the_specs_example_cosignature_has_the_layout_of_v1() {
        // The example cosignature: key id 8d66cf3f, then the timestamp of
        // the example signed message (1679315147), then 64 signature bytes.
        let (_, lines) = parse_note(SPEC_NOTE).unwrap();
        let witness = &lines[1];
        assert_eq!(witness.name, "witness.example.com/w1");
        assert_eq!(witness.key_id, 0x8d66cf3f);
        assert_eq!(witness.signature.len(), 8 + 64);
        let timestamp = u64::from_be_bytes(witness.signature[..8].try_into().unwrap());
        assert_eq!(timestamp, 1679315147);
    }

    #[test]
    fn the_key_id_uses_signature_type_4() {
        use sha2::Digest as _;
        let cosigner = Cosigner::generate("witness.example/w1");
        let verifier_key = cosigner.verifier_key();
        let (name, id, key) = parse_verifier_key(ALG_COSIGNATURE_V1, &verifier_key).unwrap();
        let digest = sha2::Sha256::new()
            .chain_update(b"witness.example/w1\n\x04")
            .chain_update(key.as_bytes())
            .finalize();
        assert_eq!(name, "witness.example/w1");
        assert_eq!(id.to_be_bytes(), digest[..4]);
        assert!(STANDARD
            .decode(verifier_key.splitn(3, '+').nth(2).unwrap())
            .unwrap()
            .starts_with(&[0x04]));
    }

    #[test]
    fn a_cosignature_verifies_and_carries_its_timestamp() {
        let note = note(5);
        let witness = Cosigner::generate("witness.example/w1");
        let line = witness.cosign(&note, 1679315147).unwrap();
        let blob = STANDARD
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 4 + 8 + 64);
        assert_eq!(blob[4..12], 1679315147u64.to_be_bytes());
        let verifier = CosignatureVerifier::from_verifier_key(&witness.verifier_key()).unwrap();
        assert_eq!(verifier.verify(&(note.clone() + &line)), Ok(1679315147));
    }

    #[test]
    fn the_log_signature_still_verifies_with_cosignatures_added() {
        let log = LogSigner::generate("zkgov.example/log");
        let note = log.sign(&Checkpoint {
            origin: "zkgov.example/log".into(),
            size: 1,
            root: [2; 32],
            extensions: vec![],
        });
        let cosigned = note.clone() + &Cosigner::generate("w").cosign(&note, 7).unwrap();
        let log_verifier = LogVerifier::from_verifier_key(&log.verifier_key()).unwrap();
        assert!(log_verifier.verify(&cosigned, "zkgov.example/log").is_ok());
    }

    #[test]
    fn a_cosignature_of_another_body_or_time_does_not_verify() {
        let witness = Cosigner::generate("witness.example/w1");
        let verifier = CosignatureVerifier::from_verifier_key(&witness.verifier_key()).unwrap();
        let (a, b) = (note(5), note(6));
        let line_for_b = witness.cosign(&b, 100).unwrap();
        assert_eq!(
            verifier.verify(&(a.clone() + &line_for_b)),
            Err(CosignatureError::BadSignature {
                witness: "witness.example/w1".into()
            })
        );
        // The same signature under another timestamp.
        let line = witness.cosign(&a, 100).unwrap();
        let mut blob = STANDARD
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        blob[11] ^= 1;
        let forged = format!("{a}\u{2014} witness.example/w1 {}\n", STANDARD.encode(blob));
        assert_eq!(
            verifier.verify(&forged),
            Err(CosignatureError::BadSignature {
                witness: "witness.example/w1".into()
            })
        );
    }

    #[test]
    fn another_witness_or_the_log_key_is_not_a_cosignature() {
        let note = note(5);
        let witness = Cosigner::generate("witness.example/w1");
        let other = Cosigner::generate("witness.example/w1");
        let verifier = CosignatureVerifier::from_verifier_key(&witness.verifier_key()).unwrap();
        let cosigned = note.clone() + &other.cosign(&note, 1).unwrap();
        assert_eq!(
            verifier.verify(&cosigned),
            Err(CosignatureError::Missing {
                witness: "witness.example/w1".into()
            })
        );
        // A log key (type 0x01) is refused as a witness key, and back.
        let log = LogSigner::generate("zkgov.example/log");
        assert!(CosignatureVerifier::from_verifier_key(&log.verifier_key()).is_err());
        assert!(LogVerifier::from_verifier_key(&witness.verifier_key()).is_err());
        assert!(LogSigner::from_private_key(&witness.private_key()).is_err());
    }

    #[test]
    fn a_private_key_reads_back_and_is_redacted_in_debug() {
        let witness = Cosigner::generate("witness.example/w1");
        let text = witness.private_key();
        assert!(text.starts_with("PRIVATE+KEY+witness.example/w1+"));
        let back = Cosigner::from_private_key(&(text.clone() + "\n")).unwrap();
        assert_eq!(back.verifier_key(), witness.verifier_key());
        let seed = text.splitn(5, '+').nth(4).unwrap();
        assert!(!format!("{witness:?}").contains(seed));
    }

    #[test]
    fn malformed_cosignatures_are_refused_without_panicking() {
        let witness = Cosigner::generate("w");
        let verifier = CosignatureVerifier::from_verifier_key(&witness.verifier_key()).unwrap();
        let note = note(1);
        let mut id = witness.verifier_key();
        id = id.split('+').nth(1).unwrap().to_string();
        let id = u32::from_str_radix(&id, 16).unwrap().to_be_bytes();
        for tail in [vec![0u8; 3], vec![0u8; 8 + 63], vec![0xff; 8 + 64]] {
            let blob = [id.to_vec(), tail].concat();
            let line = format!("{note}\u{2014} w {}\n", STANDARD.encode(blob));
            assert!(matches!(
                verifier.verify(&line),
                Err(CosignatureError::Malformed { .. })
            ));
        }
        assert!(matches!(
            verifier.verify("not a note"),
            Err(CosignatureError::Note(_))
        ));
        assert!(Cosigner::try_generate("has space").is_none());
    }
}
