//! Checkpoints of the anchor log: C2SP `tlog-checkpoint` bodies in C2SP
//! `signed-note` envelopes, signed with Ed25519.
//!
//! A signed checkpoint reads:
//!
//! ```text
//! zkgov.example/log
//! 4
//! 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//!
//! — zkgov.example/log <base64 of the key id and the signature>
//! ```
//!
//! - The **body** is the origin (which log), the tree size in decimal and
//!   the root hash in standard base64, one per line; opaque extension lines
//!   may follow. Each line ends in a newline.
//! - A blank line separates the body from the **signature lines**: an em
//!   dash (U+2014), a space, the key name, a space, and the base64 of the
//!   4-byte key id followed by the 64-byte Ed25519 signature of the body
//!   (its final newline included).
//! - The **key id** is the first four bytes of
//!   SHA-256(key name ‖ `\n` ‖ 0x01 ‖ public key), big-endian.
//! - Keys travel as text, as Go's `golang.org/x/mod/sumdb/note` writes
//!   them: `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>` for a
//!   verifier and `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>` for a
//!   signer.
//!
//! A verifier ignores signature lines from other keys, so witnesses can
//! cosign a checkpoint and a log can rotate its key. Specifications:
//! <https://c2sp.org/signed-note> and <https://c2sp.org/tlog-checkpoint>.
//!
//! ```
//! use zkgov_log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
//!
//! let signer = LogSigner::generate("zkgov.example/log");
//! let verifier = LogVerifier::from_verifier_key(&signer.verifier_key()).unwrap();
//! let checkpoint = Checkpoint {
//!     origin: "zkgov.example/log".to_string(),
//!     size: 4,
//!     root: [7; 32],
//!     extensions: vec![],
//! };
//! let note = signer.sign(&checkpoint);
//! assert_eq!(verifier.verify(&note, "zkgov.example/log"), Ok(checkpoint));
//! ```

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::tree::Hash;
use crate::{decode_hash, encode_hash};

/// The signature type byte of Ed25519 in signed notes and key strings.
pub(crate) const ALG_ED25519: u8 = 0x01;

/// The most signature lines a note may carry, as in Go's `note.Open`.
const MAX_SIGNATURES: usize = 100;

/// What starts a signature line: an em dash and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// What starts a private key string.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a checkpoint, a signed note or a key does not check out.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text is not a well-formed signed note.
    #[error("malformed signed note: {reason}")]
    MalformedNote {
        /// What is wrong.
        reason: &'static str,
    },
    /// The note text is not a well-formed checkpoint body.
    #[error("malformed checkpoint, line {line}: {reason}")]
    MalformedBody {
        /// The line, counting from 1.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key string is malformed, or its key id does not match its key.
    #[error("malformed key: {reason}")]
    MalformedKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// No signature line carries this key's name and key id.
    #[error("the note has no signature by the log's key")]
    UnknownKey,
    /// A signature line of this key does not verify.
    #[error("the log's signature on the note does not verify")]
    BadSignature,
    /// The checkpoint is of another log.
    #[error("the checkpoint is of log `{found}`, not `{expected}`")]
    WrongOrigin {
        /// The origin asked for.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
}

/// Whether `name` may name a key: non-empty, without spaces, `+` or
/// control characters (C2SP signed-note).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || is_forbidden_control(c))
}

/// Whether a signed note may not hold `c`: an ASCII control character
/// other than newline.
fn is_forbidden_control(c: char) -> bool {
    c < ' ' && c != '\n'
}

/// The key id of an Ed25519 key of signature type `alg`:
/// SHA-256(name ‖ `\n` ‖ alg ‖ key)[..4].
pub(crate) fn key_id(alg: u8, name: &str, key: &VerifyingKey) -> u32 {
    let digest = Sha256::new()
        .chain_update(name)
        .chain_update(b"\n")
        .chain_update([alg])
        .chain_update(key.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The tree head a log signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Which log: its origin line, such as `zkgov.example/log`.
    pub origin: String,
    /// The number of entries in the log.
    pub size: u64,
    /// The RFC 6962 root hash of those entries.
    pub root: Hash,
    /// Opaque extension lines after the root, without their newlines;
    /// the anchor log writes none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, root and extension lines, each ending
    /// in a newline. It reads back as `self` only if the origin and the
    /// extensions are non-empty single lines without control characters.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            encode_hash(&self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a note text: at least three non-empty lines, each ending in a
    /// newline, without ASCII control characters; a size in canonical decimal;
    /// a root of 32 bytes in standard base64.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = |line, reason| CheckpointError::MalformedBody { line, reason };
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed(
                text.split('\n').count(),
                "the body does not end in a newline",
            ));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        // Faults are reported in line order, the order a reader fixes them.
        let origin = body_line(&lines, 1)?;
        let size = parse_size(body_line(&lines, 2)?).map_err(|reason| malformed(2, reason))?;
        let root = decode_hash(body_line(&lines, 3)?)
            .ok_or(malformed(3, "the root hash is not base64 of 32 bytes"))?;
        let extensions = (4..=lines.len())
            .map(|number| body_line(&lines, number).map(str::to_string))
            .collect::<Result<_, _>>()?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The checkpoint a signed note states, read without checking any of
    /// its signatures: only to fetch what is needed to decide which key
    /// must have signed it (a hand-over of the log's key).
    pub fn parse_unverified(note: &str) -> Result<Checkpoint, CheckpointError> {
        let (text, _) = parse_note(note)?;
        Checkpoint::parse_body(text)
    }
}

/// Line `number` (from 1) of a body's `lines`, which must exist, be
/// non-empty and hold no ASCII control character.
fn body_line<'a>(lines: &[&'a str], number: usize) -> Result<&'a str, CheckpointError> {
    let malformed = |reason| CheckpointError::MalformedBody {
        line: number,
        reason,
    };
    let line = *lines
        .get(number - 1)
        .ok_or(malformed("the body has fewer than three lines"))?;
    if line.is_empty() {
        return Err(malformed("empty line"));
    }
    if line.chars().any(is_forbidden_control) {
        return Err(malformed("control character"));
    }
    Ok(line)
}

/// Parses a tree size: ASCII decimal without sign or leading zeros, as
/// checkpoints and the witness protocol write it.
pub fn parse_size(text: &str) -> Result<u64, &'static str> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err("the tree size is not a decimal number without leading zeros");
    }
    text.parse()
        .map_err(|_| "the tree size does not fit in 64 bits")
}

/// Splits `<name>+<8 hex key id>+<base64 key>`, checks the name and the
/// id's form, and returns the 32-byte key of signature type `alg` without
/// its type byte.
fn parse_key(alg: u8, text: &str) -> Result<(&str, u32, [u8; 32]), CheckpointError> {
    let malformed = |reason| CheckpointError::MalformedKey { reason };
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("expected <name>+<key id>+<key>"));
    };
    if !is_valid_key_name(name) {
        return Err(malformed(
            "the key name is empty or has spaces, `+` or control characters",
        ));
    }
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("the key id is not 8 hex digits"));
    }
    let id =
        u32::from_str_radix(id, 16).map_err(|_| malformed("the key id is not 8 hex digits"))?;
    let key = STANDARD
        .decode(key)
        .map_err(|_| malformed("the key is not standard base64"))?;
    match key.split_first() {
        Some((&found, key)) if found == alg => key
            .try_into()
            .map(|key| (name, id, key))
            .map_err(|_| malformed("an Ed25519 key is not 32 bytes")),
        _ => Err(malformed(if alg == ALG_ED25519 {
            "not an Ed25519 key (signature type 0x01)"
        } else {
            "not an Ed25519 cosignature key (signature type 0x04)"
        })),
    }
}

/// `<name>+<key id>+<base64(alg ‖ key)>`.
pub(crate) fn format_key(alg: u8, name: &str, id: u32, key: &[u8; 32]) -> String {
    let mut typed = vec![alg];
    typed.extend_from_slice(key);
    format!("{name}+{id:08x}+{}", STANDARD.encode(typed))
}

/// Reads `PRIVATE+KEY+<name>+<key id>+<base64(alg ‖ seed)>`, ignoring a
/// final newline, and checks the key id against the key.
pub(crate) fn parse_private_key(
    alg: u8,
    text: &str,
) -> Result<(&str, SigningKey), CheckpointError> {
    let malformed = |reason| CheckpointError::MalformedKey { reason };
    let rest = text
        .trim_end_matches(['\n', '\r'])
        .strip_prefix(PRIVATE_KEY_PREFIX)
        .ok_or(malformed("a private key starts with PRIVATE+KEY+"))?;
    let (name, id, seed) = parse_key(alg, rest)?;
    let key = SigningKey::from_bytes(&seed);
    if key_id(alg, name, &key.verifying_key()) != id {
        return Err(malformed("the key id does not match the key"));
    }
    Ok((name, key))
}

/// `PRIVATE+KEY+<name>+<key id>+<base64(alg ‖ seed)>`.
pub(crate) fn format_private_key(alg: u8, name: &str, id: u32, key: &SigningKey) -> String {
    format!(
        "{PRIVATE_KEY_PREFIX}{}",
        format_key(alg, name, id, &key.to_bytes())
    )
}

/// Reads `<name>+<key id>+<base64(alg ‖ public key)>`, ignoring a final
/// newline; the key must be a valid, non-weak Ed25519 point whose key id
/// matches.
pub(crate) fn parse_verifier_key(
    alg: u8,
    text: &str,
) -> Result<(&str, u32, VerifyingKey), CheckpointError> {
    let malformed = |reason| CheckpointError::MalformedKey { reason };
    let (name, id, key) = parse_key(alg, text.trim_end_matches(['\n', '\r']))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| malformed("not an Ed25519 public key"))?;
    if key.is_weak() {
        return Err(malformed("a weak Ed25519 public key"));
    }
    if key_id(alg, name, &key) != id {
        return Err(malformed("the key id does not match the key"));
    }
    Ok((name, id, key))
}

/// The log's signing key. Its `Debug` shows the name and key id only.
pub struct LogSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogSigner")
            .field("name", &self.name)
            .field("key_id", &format!("{:08x}", self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl LogSigner {
    fn new(name: &str, key: SigningKey) -> LogSigner {
        LogSigner {
            name: name.to_string(),
            key_id: key_id(ALG_ED25519, name, &key.verifying_key()),
            key,
        }
    }

    /// A new key named `name`, from the operating system's random source.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid key name (see [`is_valid_key_name`]); the
    /// service checks its origin at start-up.
    pub fn generate(name: &str) -> LogSigner {
        assert!(is_valid_key_name(name), "invalid key name `{name}`");
        LogSigner::new(name, SigningKey::generate(&mut OsRng))
    }

    /// Reads a `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>` string,
    /// such as [`Self::private_key`] writes, ignoring a final newline.
    pub fn from_private_key(text: &str) -> Result<LogSigner, CheckpointError> {
        let (name, key) = parse_private_key(ALG_ED25519, text)?;
        Ok(LogSigner::new(name, key))
    }

    /// The private key string; keep it secret.
    pub fn private_key(&self) -> String {
        format_private_key(ALG_ED25519, &self.name, self.key_id, &self.key)
    }

    /// The verifier key string `<name>+<key id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        format_key(
            ALG_ED25519,
            &self.name,
            self.key_id,
            self.key.verifying_key().as_bytes(),
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as 8 lowercase hex digits.
    pub fn key_id(&self) -> String {
        format!("{:08x}", self.key_id)
    }

    /// The Ed25519 signature of `message`, for formats other than notes
    /// that this key also signs (a department's entries).
    pub(crate) fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The signed note of `checkpoint`: its body, a blank line and this
    /// key's signature line.
    ///
    /// # Panics
    ///
    /// If the checkpoint is not well-formed (an empty origin or extension
    /// line, or one with a newline or control character): its body would not
    /// read back as the same checkpoint, and a log must never sign that.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        assert!(
            Checkpoint::parse_body(&body).as_ref() == Ok(checkpoint),
            "refusing to sign a malformed checkpoint: {checkpoint:?}"
        );
        let mut blob = self.key_id.to_be_bytes().to_vec();
        blob.extend_from_slice(&self.key.sign(body.as_bytes()).to_bytes());
        format!(
            "{body}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        )
    }
}

/// A log's public key, which checks its signed checkpoints.
#[derive(Clone, Debug)]
pub struct LogVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

/// A signature line of a note.
pub(crate) struct SignatureLine<'a> {
    /// The key name.
    pub name: &'a str,
    /// The key id.
    pub key_id: u32,
    /// The signature, of at least one byte.
    pub signature: Vec<u8>,
}

/// Splits a signed note into its text and signature lines, checking the
/// form C2SP signed-note requires.
pub(crate) fn parse_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), CheckpointError> {
    let malformed = |reason| CheckpointError::MalformedNote { reason };
    if note.chars().any(is_forbidden_control) {
        return Err(malformed("control character"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(malformed("the signatures do not end in a newline"))?;
    let mut lines = Vec::new();
    for line in signatures.split('\n') {
        if lines.len() == MAX_SIGNATURES {
            return Err(malformed("more than 100 signature lines"));
        }
        let (name, blob) = line
            .strip_prefix(SIGNATURE_PREFIX)
            .and_then(|rest| rest.split_once(' '))
            .ok_or(malformed("a signature line is not `— <name> <signature>`"))?;
        if !is_valid_key_name(name) {
            return Err(malformed("a signature line has an invalid key name"));
        }
        let blob = STANDARD
            .decode(blob)
            .map_err(|_| malformed("a signature is not standard base64"))?;
        let Some((key_id, signature)) =
            blob.split_first_chunk::<4>().filter(|(_, s)| !s.is_empty())
        else {
            return Err(malformed("a signature is shorter than a key id and a byte"));
        };
        lines.push(SignatureLine {
            name,
            key_id: u32::from_be_bytes(*key_id),
            signature: signature.to_vec(),
        });
    }
    Ok((text, lines))
}

impl LogVerifier {
    /// Reads a `<name>+<key id>+<base64(0x01 ‖ public key)>` string, such as
    /// [`LogSigner::verifier_key`] writes, ignoring a final newline.
    pub fn from_verifier_key(text: &str) -> Result<LogVerifier, CheckpointError> {
        let (name, id, key) = parse_verifier_key(ALG_ED25519, text)?;
        Ok(LogVerifier {
            name: name.to_string(),
            key_id: id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as 8 lowercase hex digits.
    pub fn key_id(&self) -> String {
        format!("{:08x}", self.key_id)
    }

    /// The verifier key string, as [`LogSigner::verifier_key`] writes it.
    pub fn verifier_key(&self) -> String {
        format_key(ALG_ED25519, &self.name, self.key_id, self.key.as_bytes())
    }

    /// Whether `signature` is this key's strict Ed25519 signature of
    /// `message`, for formats other than notes (a department's entries).
    pub(crate) fn verifies_message(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .is_ok_and(|signature| self.key.verify_strict(message, &signature).is_ok())
    }

    /// Parses a signed note, requires a valid signature by this key (other
    /// signature lines are ignored, as C2SP allows), and requires the origin
    /// to equal `origin`.
    ///
    /// Every signature line with this key's name and key id must verify.
    /// The body is read only once the signature holds.
    pub fn verify(&self, note: &str, origin: &str) -> Result<Checkpoint, CheckpointError> {
        let (text, signatures) = parse_note(note)?;
        let mut signed = false;
        for line in &signatures {
            if line.name != self.name || line.key_id != self.key_id {
                continue;
            }
            let signature = Signature::from_slice(&line.signature)
                .map_err(|_| CheckpointError::BadSignature)?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| CheckpointError::BadSignature)?;
            signed = true;
        }
        if !signed {
            return Err(CheckpointError::UnknownKey);
        }
        let checkpoint = Checkpoint::parse_body(text)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                expected: origin.to_string(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}
