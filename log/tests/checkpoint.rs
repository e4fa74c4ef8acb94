//! Signed checkpoints (`log::checkpoint`): the C2SP signed-note and
//! tlog-checkpoint formats, checked against published notes and keys in
//! `tests/data/signed_notes.json` (Go's `sumdb/note` tests and a real
//! sum.golang.org checkpoint), and every way a note can be wrong.

use std::panic::catch_unwind;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use serde::Deserialize;
use zkgov_log::checkpoint::{
    is_valid_key_name, Checkpoint, CheckpointError, LogSigner, LogVerifier,
};
use zkgov_log::tree::EMPTY_ROOT;

const ORIGIN: &str = "zkgov.example/log";

fn checkpoint(size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.to_string(),
        size,
        root: [0xab; 32],
        extensions: vec![],
    }
}

fn verifier_of(signer: &LogSigner) -> LogVerifier {
    LogVerifier::from_verifier_key(&signer.verifier_key()).unwrap()
}

/// The note's text and its signature lines, each with its newline.
fn split_note(note: &str) -> (&str, Vec<&str>) {
    let split = note.rfind("\n\n").unwrap();
    let lines = note[split + 2..].split_inclusive('\n').collect();
    (&note[..split + 1], lines)
}

/// A signature line of `name` carrying `blob`.
fn signature_line(name: &str, blob: &[u8]) -> String {
    format!("\u{2014} {name} {}\n", STANDARD.encode(blob))
}

/// The decoded key id ‖ signature of a signature line.
fn blob_of(line: &str) -> Vec<u8> {
    let b64 = line.trim_end().rsplit(' ').next().unwrap();
    STANDARD.decode(b64).unwrap()
}

fn malformed_note(reason_part: &str) -> impl Fn(&CheckpointError) -> bool + '_ {
    move |e| matches!(e, CheckpointError::MalformedNote { reason } if reason.contains(reason_part))
}

// ---------------------------------------------------------------------------
// Published notes.
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct Published {
    go_note: GoNote,
    sumdb_checkpoint: SumdbCheckpoint,
}

#[derive(Deserialize)]
struct GoNote {
    peter_verifier_key: String,
    peter_private_key: String,
    enoch_verifier_key: String,
    text: String,
    peter_signature: String,
    enoch_signature: String,
}

#[derive(Deserialize)]
struct SumdbCheckpoint {
    verifier_key: String,
    origin: String,
    size: u64,
    root: String,
    note: String,
}

fn published() -> Published {
    serde_json::from_str(include_str!("data/signed_notes.json")).expect("signed_notes.json parses")
}

/// A real checkpoint of the Go checksum database, cosigned by a witness
/// whose lines the verifier must skip.
#[test]
fn published_sumdb_checkpoint_verifies() {
    let sumdb = published().sumdb_checkpoint;
    let verifier = LogVerifier::from_verifier_key(&sumdb.verifier_key).unwrap();
    assert_eq!(verifier.name(), "sum.golang.org");

    let checkpoint = verifier.verify(&sumdb.note, &sumdb.origin).unwrap();
    let root = STANDARD.decode(&sumdb.root).unwrap();
    assert_eq!(
        checkpoint,
        Checkpoint {
            origin: sumdb.origin.clone(),
            size: sumdb.size,
            root: root.try_into().unwrap(),
            extensions: vec![],
        }
    );
    let (text, _) = split_note(&sumdb.note);
    assert_eq!(checkpoint.body(), text);

    assert_eq!(
        verifier.verify(&sumdb.note, "sum.golang.org"),
        Err(CheckpointError::WrongOrigin {
            expected: "sum.golang.org".to_string(),
            found: sumdb.origin.clone(),
        })
    );
    let grown = sumdb.note.replace("15081221", "15081222");
    assert_eq!(
        verifier.verify(&grown, &sumdb.origin),
        Err(CheckpointError::BadSignature)
    );
    // The witness's lines alone are not the log's signature.
    let (text, lines) = split_note(&sumdb.note);
    let witnessed_only = format!("{text}\n{}{}", lines[1], lines[2]);
    assert_eq!(
        verifier.verify(&witnessed_only, &sumdb.origin),
        Err(CheckpointError::UnknownKey)
    );
}

/// Go's `sumdb/note` test keys: the private key derives the published
/// verifier key, and the published signatures verify. The text is a
/// quotation, not a checkpoint, so reading its body fails after the
/// signature has held.
#[test]
fn published_go_note_keys_and_signatures() {
    let go = published().go_note;
    let signer = LogSigner::from_private_key(&go.peter_private_key).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.verifier_key(), go.peter_verifier_key);
    assert_eq!(signer.private_key(), go.peter_private_key);

    let peter = LogVerifier::from_verifier_key(&go.peter_verifier_key).unwrap();
    let enoch = LogVerifier::from_verifier_key(&go.enoch_verifier_key).unwrap();
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(enoch.name(), "EnochRoot");

    let not_a_checkpoint = |line| CheckpointError::MalformedBody {
        line,
        reason: "the tree size is not a decimal number without leading zeros",
    };
    let both = format!("{}\n{}{}", go.text, go.peter_signature, go.enoch_signature);
    assert_eq!(peter.verify(&both, ""), Err(not_a_checkpoint(2)));
    assert_eq!(enoch.verify(&both, ""), Err(not_a_checkpoint(2)));

    let peter_only = format!("{}\n{}", go.text, go.peter_signature);
    assert_eq!(peter.verify(&peter_only, ""), Err(not_a_checkpoint(2)));
    assert_eq!(
        enoch.verify(&peter_only, ""),
        Err(CheckpointError::UnknownKey)
    );

    let altered = both.replace("cryptography", "cryptographer");
    assert_eq!(
        peter.verify(&altered, ""),
        Err(CheckpointError::BadSignature)
    );
    assert_eq!(
        enoch.verify(&altered, ""),
        Err(CheckpointError::BadSignature)
    );
}

/// As Go's `TestNewVerifier` and `TestNewSigner`: every proper substring
/// and every one-byte change of a key string is rejected.
#[test]
fn mangled_published_keys_are_rejected() {
    let go = published().go_note;
    for (key, is_private) in [
        (&go.peter_verifier_key, false),
        (&go.peter_private_key, true),
    ] {
        let parse = |text: &str| {
            if is_private {
                LogSigner::from_private_key(text).map(|_| ())
            } else {
                LogVerifier::from_verifier_key(text).map(|_| ())
            }
        };
        assert_eq!(parse(key), Ok(()));
        let bytes = key.as_bytes();
        for i in 0..bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) != (0, bytes.len()) {
                    let part = &key[i..j];
                    assert!(
                        matches!(parse(part), Err(CheckpointError::MalformedKey { .. })),
                        "{part:?} accepted"
                    );
                }
            }
            let mut changed = bytes.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(
                matches!(parse(&changed), Err(CheckpointError::MalformedKey { .. })),
                "{changed:?} accepted"
            );
        }
    }
    // From Go's test: a key of the wrong length and an unknown algorithm,
    // each with its key id adjusted.
    for key in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(matches!(
            LogVerifier::from_verifier_key(key),
            Err(CheckpointError::MalformedKey { .. })
        ));
    }
}

// ---------------------------------------------------------------------------
// Bodies.
// ---------------------------------------------------------------------------

#[test]
fn body_format() {
    let mut cp = checkpoint(1234);
    cp.root = EMPTY_ROOT;
    let body = "zkgov.example/log\n1234\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    assert_eq!(cp.body(), body);
    assert_eq!(Checkpoint::parse_body(body), Ok(cp.clone()));

    cp.extensions = vec!["ext one".to_string(), "— two".to_string()];
    let with_extensions = format!("{body}ext one\n— two\n");
    assert_eq!(cp.body(), with_extensions);
    assert_eq!(Checkpoint::parse_body(&with_extensions), Ok(cp));

    for size in [0, 1, 10, u64::MAX] {
        let cp = checkpoint(size);
        assert!(cp.body().contains(&format!("\n{size}\n")));
        assert_eq!(Checkpoint::parse_body(&cp.body()), Ok(cp));
    }
}

#[test]
fn malformed_bodies_name_the_line() {
    let root = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
    let root_31 = STANDARD.encode([1u8; 31]);
    let root_33 = STANDARD.encode([1u8; 33]);
    let cases: Vec<(String, usize)> = vec![
        (String::new(), 1),
        ("\n".to_string(), 1),
        (format!("o\n5\n{root}"), 3),
        ("o\n5\n".to_string(), 3),
        ("o\n".to_string(), 2),
        (format!("\n5\n{root}\n"), 1),
        (format!("o\r\n5\n{root}\n"), 1),
        (format!("o\x00\n5\n{root}\n"), 1),
        (format!("o\n05\n{root}\n"), 2),
        (format!("o\n00\n{root}\n"), 2),
        (format!("o\n+5\n{root}\n"), 2),
        (format!("o\n-1\n{root}\n"), 2),
        (format!("o\n 5\n{root}\n"), 2),
        (format!("o\n5 \n{root}\n"), 2),
        (format!("o\n0x5\n{root}\n"), 2),
        (format!("o\n5.0\n{root}\n"), 2),
        (format!("o\n\u{0665}\n{root}\n"), 2),
        (format!("o\n18446744073709551616\n{root}\n"), 2),
        (format!("o\n\n{root}\n"), 2),
        ("o\n5\nnot base64\n".to_string(), 3),
        (format!("o\n5\n{root_31}\n"), 3),
        (format!("o\n5\n{root_33}\n"), 3),
        (format!("o\n5\n{}\n", root.trim_end_matches('=')), 3),
        // The last character's unused bits must be zero.
        (format!("o\n5\n{}\n", root.replace("6s=", "6t=")), 3),
        (format!("o\n5\n {root}\n"), 3),
        (format!("o\n5\n{root}\n\n"), 4),
        (format!("o\n5\n{root}\n\next\n"), 4),
        (format!("o\n5\n{root}\next\n\n"), 5),
        (format!("o\n5\n{root}\next\t\n"), 4),
    ];
    for (text, line) in cases {
        match Checkpoint::parse_body(&text) {
            Err(CheckpointError::MalformedBody { line: found, .. }) => {
                assert_eq!(found, line, "{text:?}")
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    // The origin is opaque: spaces and `+` are allowed, as in Go's sumdb.
    let cp = Checkpoint::parse_body(&format!("go.sum database+tree\n0\n{root}\n")).unwrap();
    assert_eq!(cp.origin, "go.sum database+tree");
}

// ---------------------------------------------------------------------------
// Signing and verifying.
// ---------------------------------------------------------------------------

#[test]
fn sign_and_verify_round_trip() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    assert_eq!(signer.name(), ORIGIN);
    assert_eq!(verifier.name(), ORIGIN);

    for cp in [checkpoint(0), checkpoint(7), checkpoint(u64::MAX)] {
        let note = signer.sign(&cp);
        let (text, lines) = split_note(&note);
        assert_eq!(text, cp.body());
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("\u{2014} zkgov.example/log "));
        // The line carries the 4-byte key id of the verifier key and a
        // 64-byte signature.
        let blob = blob_of(lines[0]);
        assert_eq!(blob.len(), 68);
        let key_id = signer.verifier_key().split('+').nth(1).unwrap().to_string();
        assert_eq!(hex::encode(&blob[..4]), key_id);
        assert_eq!(verifier.verify(&note, ORIGIN), Ok(cp));
    }
}

#[test]
fn key_strings_round_trip() {
    let signer = LogSigner::generate("example.gov/log-2");
    let private = signer.private_key();
    let public = signer.verifier_key();

    let (prefix, rest) = private.split_at("PRIVATE+KEY+".len());
    assert_eq!(prefix, "PRIVATE+KEY+");
    let parts: Vec<&str> = rest.splitn(3, '+').collect();
    assert_eq!(parts[0], "example.gov/log-2");
    assert_eq!(parts[1].len(), 8);
    assert!(parts[1]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(STANDARD.decode(parts[2]).unwrap()[0], 0x01);
    assert_eq!(STANDARD.decode(parts[2]).unwrap().len(), 33);
    assert!(public.starts_with(&format!("example.gov/log-2+{}+", parts[1])));

    for text in [
        private.clone(),
        format!("{private}\n"),
        format!("{private}\r\n"),
    ] {
        let again = LogSigner::from_private_key(&text).unwrap();
        assert_eq!(again.name(), signer.name());
        assert_eq!(again.verifier_key(), public);
        assert_eq!(again.private_key(), private);
        // Ed25519 is deterministic: the same key signs the same bytes.
        assert_eq!(again.sign(&checkpoint(3)), signer.sign(&checkpoint(3)));
    }
    assert_eq!(
        LogVerifier::from_verifier_key(&format!("{public}\n")).map(|v| v.name().to_string()),
        Ok("example.gov/log-2".to_string())
    );
}

#[test]
fn malformed_keys() {
    let signer = LogSigner::generate("k");
    let public = signer.verifier_key();
    let private = signer.private_key();
    let other = LogSigner::generate("k");
    let other_id = other.verifier_key().split('+').nth(1).unwrap().to_string();
    let id = public.split('+').nth(1).unwrap().to_string();
    let b64 = public.splitn(3, '+').nth(2).unwrap().to_string();
    let small_order = STANDARD.encode([[1u8].as_slice(), &[0; 32]].concat());

    let bad_public = [
        String::new(),
        "k".to_string(),
        format!("k+{id}"),
        format!("+{id}+{b64}"),
        format!("a b+{id}+{b64}"),
        format!("K+{id}+{b64}"),
        format!("k+{other_id}+{b64}"),
        format!("k+{}+{b64}", &id[..7]),
        format!("k+0{id}+{b64}"),
        format!("k++{}+{b64}", &id[1..]),
        format!("k+{id}+{}", &b64[1..]),
        format!("k+{id}+{b64}="),
        format!("k+{id}+ {b64}"),
        format!("k+{id}+{}", STANDARD.encode([2u8; 33])),
        format!("k+{id}+{small_order}"),
        private.clone(),
    ];
    for key in &bad_public {
        assert!(
            matches!(
                LogVerifier::from_verifier_key(key),
                Err(CheckpointError::MalformedKey { .. })
            ),
            "{key:?} accepted"
        );
    }
    let seed_b64 = private.splitn(5, '+').nth(4).unwrap().to_string();
    let bad_private = [
        public.clone(),
        private.replacen("PRIVATE", "private", 1),
        private.replacen(&id, &other_id, 1),
        private.replace(&seed_b64, &STANDARD.encode([1u8; 33])),
        format!(" {private}"),
        format!("{private} "),
    ];
    for key in &bad_private {
        assert!(
            matches!(
                LogSigner::from_private_key(key),
                Err(CheckpointError::MalformedKey { .. })
            ),
            "{key:?} accepted"
        );
    }
    assert_eq!(
        LogSigner::from_private_key(&private.replacen(&id, &other_id, 1)).unwrap_err(),
        CheckpointError::MalformedKey {
            reason: "the key id does not match the key"
        }
    );
}

#[test]
fn key_names() {
    for name in [
        "a",
        "zkgov.example/log",
        "sum.golang.org",
        "PeterNeumann",
        "é",
    ] {
        assert!(is_valid_key_name(name), "{name:?}");
    }
    for name in [
        "",
        "a b",
        "a+b",
        "a\tb",
        "a\nb",
        "a\u{a0}b",
        "a\u{2003}b",
        "a\x01b",
    ] {
        assert!(!is_valid_key_name(name), "{name:?}");
        assert!(
            catch_unwind(|| LogSigner::generate(name)).is_err(),
            "{name:?}"
        );
    }
}

#[test]
fn signing_a_malformed_checkpoint_panics() {
    let signer = LogSigner::generate(ORIGIN);
    let mut bad = Vec::new();
    for origin in ["", "a\nb", "a\rb"] {
        bad.push(Checkpoint {
            origin: origin.to_string(),
            ..checkpoint(1)
        });
    }
    for extension in ["", "a\nb", "x\x07"] {
        bad.push(Checkpoint {
            extensions: vec![extension.to_string()],
            ..checkpoint(1)
        });
    }
    for cp in bad {
        assert!(catch_unwind(|| signer.sign(&cp)).is_err(), "{cp:?} signed");
    }
}

#[test]
fn debug_redacts_the_seed() {
    let signer = LogSigner::generate(ORIGIN);
    let private = signer.private_key();
    let seed = STANDARD
        .decode(private.splitn(5, '+').nth(4).unwrap())
        .unwrap();
    let debug = format!("{signer:?} {signer:#?}");
    assert!(debug.contains(ORIGIN));
    assert!(debug.contains("redacted"));
    assert!(!debug.contains(private.splitn(5, '+').nth(4).unwrap()));
    assert!(!debug.contains(&STANDARD.encode(&seed[1..])));
    assert!(!debug.contains(&hex::encode(&seed[1..])));
    assert!(!debug.contains(&format!("{:?}", &seed[1..])));
}

// ---------------------------------------------------------------------------
// Notes that must not verify, each for its reason.
// ---------------------------------------------------------------------------

#[test]
fn tampered_body() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let note = signer.sign(&checkpoint(41));
    for tampered in [
        note.replacen("41", "42", 1),
        note.replacen("q6ur", "q6us", 1),
        note.replacen(ORIGIN, "zkgov.example/lo9", 1),
        // An extension line is signed like the rest.
        note.replacen("\n\n", "\nextension\n\n", 1),
        // So is the body's end: an extra blank line joins the text.
        note.replacen("\n\n", "\n\n\n", 1),
    ] {
        assert_ne!(tampered, note);
        assert_eq!(
            verifier.verify(&tampered, ORIGIN),
            Err(CheckpointError::BadSignature),
            "{tampered}"
        );
    }
}

#[test]
fn tampered_signature() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let note = signer.sign(&checkpoint(41));
    let (text, lines) = split_note(&note);
    let blob = blob_of(lines[0]);

    for byte in [4, 5, 30, 36, 67] {
        let mut bad = blob.clone();
        bad[byte] ^= 0x10;
        let tampered = format!("{text}\n{}", signature_line(ORIGIN, &bad));
        assert_eq!(
            verifier.verify(&tampered, ORIGIN),
            Err(CheckpointError::BadSignature),
            "byte {byte}"
        );
    }
    // A signature of the wrong length under this key.
    for len in [5, 67, 69, 100] {
        let mut bad = blob.clone();
        bad.resize(len, 0);
        let tampered = format!("{text}\n{}", signature_line(ORIGIN, &bad));
        assert_eq!(
            verifier.verify(&tampered, ORIGIN),
            Err(CheckpointError::BadSignature),
            "length {len}"
        );
    }
    // A changed key id makes the line another key's.
    let mut other_id = blob.clone();
    other_id[0] ^= 1;
    let tampered = format!("{text}\n{}", signature_line(ORIGIN, &other_id));
    assert_eq!(
        verifier.verify(&tampered, ORIGIN),
        Err(CheckpointError::UnknownKey)
    );
    // A bad line from this key spoils the note even beside a good one.
    let mut bad = blob.clone();
    bad[10] ^= 1;
    let two = format!("{text}\n{}{}", lines[0], signature_line(ORIGIN, &bad));
    assert_eq!(
        verifier.verify(&two, ORIGIN),
        Err(CheckpointError::BadSignature)
    );
    // The same good line twice is fine.
    let twice = format!("{text}\n{}{}", lines[0], lines[0]);
    assert_eq!(verifier.verify(&twice, ORIGIN), Ok(checkpoint(41)));
}

#[test]
fn wrong_key() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let cp = checkpoint(9);

    // Another key with the same name: another key id, so unknown.
    let impostor = LogSigner::generate(ORIGIN);
    assert_eq!(
        verifier.verify(&impostor.sign(&cp), ORIGIN),
        Err(CheckpointError::UnknownKey)
    );
    // Another name.
    let other = LogSigner::generate("other.example/log");
    assert_eq!(
        verifier.verify(&other.sign(&cp), ORIGIN),
        Err(CheckpointError::UnknownKey)
    );
    // The impostor's signature under this key's name and id.
    let impostor_note = impostor.sign(&cp);
    let (text, lines) = split_note(&impostor_note);
    let mut forged = blob_of(lines[0]);
    forged[..4].copy_from_slice(&blob_of(split_note(&signer.sign(&cp)).1[0])[..4]);
    let forged = format!("{text}\n{}", signature_line(ORIGIN, &forged));
    assert_eq!(
        verifier.verify(&forged, ORIGIN),
        Err(CheckpointError::BadSignature)
    );
}

#[test]
fn wrong_origin() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let other_log = Checkpoint {
        origin: "zkgov.example/other".to_string(),
        ..checkpoint(3)
    };
    assert_eq!(
        verifier.verify(&signer.sign(&other_log), ORIGIN),
        Err(CheckpointError::WrongOrigin {
            expected: ORIGIN.to_string(),
            found: "zkgov.example/other".to_string(),
        })
    );
    assert_eq!(
        verifier.verify(&signer.sign(&checkpoint(3)), "zkgov.example/other"),
        Err(CheckpointError::WrongOrigin {
            expected: "zkgov.example/other".to_string(),
            found: ORIGIN.to_string(),
        })
    );
}

#[test]
fn missing_signature() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let body = checkpoint(2).body();
    let cases = [
        (body.clone(), "blank line"),
        (format!("{body}\n"), "end in a newline"),
        (format!("{body}\n\n"), "end in a newline"),
    ];
    for (note, reason) in cases {
        let got = verifier.verify(&note, ORIGIN).unwrap_err();
        assert!(malformed_note(reason)(&got), "{note:?} gave {got:?}");
    }
    let witness = LogSigner::generate("witness.example");
    assert_eq!(
        verifier.verify(&witness.sign(&checkpoint(2)), ORIGIN),
        Err(CheckpointError::UnknownKey)
    );
}

#[test]
fn other_signatures_are_ignored() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let cp = checkpoint(5);
    let note = signer.sign(&cp);
    let (text, ours) = split_note(&note);
    let ours = ours[0];
    let witness = LogSigner::generate("witness.example");
    let theirs = split_note(&witness.sign(&cp)).1[0].to_string();
    // Unknown keys' lines need only be well formed, whatever their length.
    let odd = signature_line("future.example/mldsa", &[9; 2420]);
    let short = signature_line("tiny", &[1; 5]);

    let note = format!("{text}\n{theirs}{ours}{odd}{short}");
    assert_eq!(verifier.verify(&note, ORIGIN), Ok(cp.clone()));

    // At most 100 signature lines.
    let hundred = format!("{text}\n{ours}{}", theirs.repeat(99));
    assert_eq!(verifier.verify(&hundred, ORIGIN), Ok(cp.clone()));
    let too_many = format!("{text}\n{ours}{}", theirs.repeat(100));
    let got = verifier.verify(&too_many, ORIGIN).unwrap_err();
    assert!(malformed_note("100")(&got), "{got:?}");
}

/// Go's `TestOpen` bad messages, and more: each is a malformed note.
#[test]
fn malformed_notes() {
    let signer = LogSigner::generate(ORIGIN);
    let verifier = verifier_of(&signer);
    let note = signer.sign(&checkpoint(1));
    let (text, lines) = split_note(&note);
    let line = lines[0];
    let blob = STANDARD.encode(blob_of(line));
    let cases = [
        text.to_string(),
        format!("{text}\n"),
        format!("{text}\n{}", line.trim_end()),
        format!("\x01{note}"),
        format!("{}\r\n\n{line}", text.trim_end()),
        format!("{text}\n\u{2014} Bad Name {blob}\n"),
        format!("{text}\n{line}Unexpected line.\n"),
        format!("{text}\n-- {ORIGIN} {blob}\n"),
        format!("{text}\n\u{2014}{ORIGIN} {blob}\n"),
        format!("{text}\n\u{2014} {ORIGIN}  {blob}\n"),
        format!("{text}\n\u{2014} {ORIGIN} {blob} \n"),
        format!("{text}\n\u{2014} {ORIGIN}\n"),
        format!("{text}\n\u{2014} {ORIGIN} \n"),
        format!("{text}\n\u{2014}  {blob}\n"),
        format!("{text}\n\u{2014} a+b {blob}\n"),
        format!("{text}\n\u{2014} {ORIGIN} {}\n", blob.trim_end_matches('=')),
        format!("{text}\n\u{2014} {ORIGIN} not*base64\n"),
        format!("{text}\n\u{2014} {ORIGIN} AAAAAA==\n"),
        format!("{text}\n{line}\n"),
        String::new(),
        "\n\n".to_string(),
    ];
    for bad in cases {
        assert!(
            matches!(
                verifier.verify(&bad, ORIGIN),
                Err(CheckpointError::MalformedNote { .. })
            ),
            "{bad:?} gave {:?}",
            verifier.verify(&bad, ORIGIN)
        );
    }
}

// ---------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------

/// Text made of the pieces a note is made of, so that random notes get
/// past the first checks.
fn note_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_string()),
        Just("\n\n".to_string()),
        Just("\u{2014} ".to_string()),
        Just(" ".to_string()),
        Just("+".to_string()),
        Just(ORIGIN.to_string()),
        Just("0".to_string()),
        Just("18446744073709551615".to_string()),
        Just("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=".to_string()),
        "[A-Za-z0-9+/=]{0,120}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

fn any_checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        "[!-~][ -~]{0,30}",
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec("[^\\x00-\\x1f]{1,20}", 0..3),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            root,
            extensions,
        })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), shaped in note_like()) {
        let signer = LogSigner::generate(ORIGIN);
        let verifier = verifier_of(&signer);
        for input in [&text, &shaped] {
            let _ = Checkpoint::parse_body(input);
            let _ = LogVerifier::from_verifier_key(input);
            let _ = LogSigner::from_private_key(input);
            let verified = verifier.verify(input, ORIGIN);
            prop_assert!(verified.is_err());
        }
    }

    #[test]
    fn checkpoints_round_trip(cp in any_checkpoint()) {
        prop_assert_eq!(Checkpoint::parse_body(&cp.body()), Ok(cp.clone()));
        let signer = LogSigner::generate("zkgov.example/log");
        let note = signer.sign(&cp);
        prop_assert_eq!(verifier_of(&signer).verify(&note, &cp.origin), Ok(cp));
    }

    /// Every one-character change to a signed note is rejected.
    #[test]
    fn any_changed_character_is_rejected(
        position in any::<prop::sample::Index>(),
        replacement in prop_oneof![Just('\n'), Just('\u{2014}'), Just(' '), any::<char>()],
    ) {
        let signer = LogSigner::generate(ORIGIN);
        let note = signer.sign(&checkpoint(77));
        let mut chars: Vec<char> = note.chars().collect();
        let i = position.index(chars.len());
        prop_assume!(chars[i] != replacement);
        chars[i] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(verifier_of(&signer).verify(&changed, ORIGIN).is_err());
    }
}
