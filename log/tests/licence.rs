//! Licence documents: a genuine one verifies offline; any edit fails; the
//! standing follows the chain of amendments.

use std::collections::BTreeMap;

use zkgov_circuits::encoding::text_to_field;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::statement::SubjectTag;
use zkgov_log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
use zkgov_log::encode_hash;
use zkgov_log::entry::{Entry, Licence};
use zkgov_log::licence::{standing, Holder, LicenceDocument, LicenceError, Standing};
use zkgov_log::receipt::{Receipt, ReceiptError};
use zkgov_log::tree::{inclusion_proof, leaf_hash, MemoryTree};

const ORIGIN: &str = "city.example/log";
const SUBJECT: &str = "91510181MA00000042";
const SECRET: &str =
    "14474011154664524427946373126085988481658748083205070504932198000989141204992";

fn licence() -> Licence {
    Licence {
        number: "YL-2026-000001".into(),
        registry: "medical-licences".into(),
        subject_tag: to_decimal(
            &SubjectTag::new(
                text_to_field(SUBJECT),
                zkgov_circuits::field::parse_field_element(SECRET).unwrap(),
            )
            .0,
        ),
        fields: BTreeMap::from([
            ("kind".into(), "clinic".into()),
            ("expires".into(), "2031-11-22".into()),
        ]),
    }
}

fn decision(decision: &str, licence: Option<Licence>, amends: Option<u64>) -> Entry {
    Entry::Decision {
        case_id: "DJY-2026-000001".into(),
        department: "health-department".into(),
        decision: decision.into(),
        results: vec![1, 2],
        note: String::new(),
        automatic: amends.is_none(),
        amends,
        licence,
        time: "2026-11-23T10:00:00Z".into(),
        signature: None,
    }
}

/// A log of `entries`, the receipt of entry `index`, and the log's key.
fn receipt_of(entries: &[Entry], index: u64) -> (Receipt, LogVerifier) {
    let signer = LogSigner::generate(ORIGIN);
    let bytes: Vec<Vec<u8>> = entries.iter().map(Entry::to_bytes).collect();
    let mut tree = MemoryTree::new();
    tree.append(&bytes.iter().map(|b| leaf_hash(b)).collect::<Vec<_>>());
    let size = entries.len() as u64;
    let note = signer.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree.root_at(size),
        extensions: vec![],
    });
    let entry = String::from_utf8(bytes[index as usize].clone()).unwrap();
    let receipt = Receipt {
        index,
        leaf_hash: Receipt::leaf_hash_of(entry.as_bytes()),
        entry,
        checkpoint: note,
        inclusion_proof: inclusion_proof(index, size, &tree)
            .unwrap()
            .iter()
            .map(encode_hash)
            .collect(),
    };
    (
        receipt,
        LogVerifier::from_verifier_key(&signer.verifier_key()).unwrap(),
    )
}

fn root() -> Entry {
    Entry::Root {
        department: "land-registry".into(),
        registry: "real-estate".into(),
        root: "42".into(),
        time: "2026-11-23T09:00:00Z".into(),
        signature: None,
    }
}

fn document() -> (LicenceDocument, LogVerifier) {
    let entries = [
        root(),
        root(),
        decision("approved", Some(licence()), None),
        root(),
    ];
    let (receipt, verifier) = receipt_of(&entries, 2);
    let holder = Holder {
        subject: SUBJECT.into(),
        case_secret: SECRET.into(),
    };
    (
        LicenceDocument::new(ORIGIN, "DJY-2026-000001", &licence(), holder, receipt),
        verifier,
    )
}

#[test]
fn a_genuine_document_verifies_offline_and_survives_a_json_round_trip() {
    let (document, verifier) = document();
    let text = serde_json::to_string_pretty(&document).unwrap();
    let parsed: LicenceDocument = serde_json::from_str(&text).unwrap();
    let verified = parsed.verify(&verifier).unwrap();
    assert_eq!(verified.index, 2);
    assert_eq!(verified.checkpoint.size, 4);
    assert_eq!(verified.licence, licence());
    assert_eq!(verified.department, "health-department");
    assert!(verified.automatic);
    // In force while `expires > today`.
    assert_eq!(verified.expired("2031-11-21"), None);
    assert_eq!(verified.expired("2031-11-22"), Some("2031-11-22"));
    assert_eq!(verified.expired("2032-01-01"), Some("2031-11-22"));
}

#[test]
fn every_edit_of_the_document_fails() {
    let (genuine, verifier) = document();
    let mismatch = |field: &str| LicenceError::Mismatch {
        field: field.into(),
    };
    type Edit = Box<dyn Fn(&mut LicenceDocument)>;
    let edits: Vec<(Edit, LicenceError)> = vec![
        (
            Box::new(|d| d.number = "YL-2026-000002".into()),
            mismatch("number"),
        ),
        (
            Box::new(|d| d.case_id = "DJY-2026-000002".into()),
            mismatch("case_id"),
        ),
        (
            Box::new(|d| d.registry = "business-licences".into()),
            mismatch("registry"),
        ),
        (
            Box::new(|d| {
                d.fields.insert("expires".into(), "2041-11-22".into());
            }),
            mismatch("fields"),
        ),
        (
            Box::new(|d| {
                d.fields.insert("scope".into(), "all".into());
            }),
            mismatch("fields"),
        ),
        (
            Box::new(|d| d.holder.subject = "91510181MA00000043".into()),
            LicenceError::NotTheHolder,
        ),
        (
            Box::new(|d| d.holder.case_secret = "12345".into()),
            LicenceError::NotTheHolder,
        ),
        (
            Box::new(|d| d.holder.case_secret = format!("0{SECRET}")),
            LicenceError::Secret(
                zkgov_circuits::field::parse_field_element(&format!("0{SECRET}"))
                    .unwrap_err()
                    .to_string(),
            ),
        ),
        (
            Box::new(|d| d.format = "zkgov-licence-v0".into()),
            LicenceError::Format {
                found: "zkgov-licence-v0".into(),
            },
        ),
    ];
    for (edit, expected) in edits {
        let mut edited = genuine.clone();
        edit(&mut edited);
        assert_eq!(edited.verify(&verifier).unwrap_err(), expected);
    }

    // An entry edited to match an edited document fails its receipt.
    let mut edited = genuine.clone();
    edited.decision.entry = edited.decision.entry.replace("2031-11-22", "2041-11-22");
    edited.fields.insert("expires".into(), "2041-11-22".into());
    assert_eq!(
        edited.verify(&verifier).unwrap_err(),
        LicenceError::Receipt(ReceiptError::LeafHashMismatch)
    );
    edited.decision.leaf_hash = Receipt::leaf_hash_of(edited.decision.entry.as_bytes());
    assert!(matches!(
        edited.verify(&verifier).unwrap_err(),
        LicenceError::Receipt(ReceiptError::Inclusion(_))
    ));

    // Another origin, or another log's key, does not vouch for it.
    let mut edited = genuine.clone();
    edited.origin = "other.example/log".into();
    assert!(matches!(
        edited.verify(&verifier).unwrap_err(),
        LicenceError::Receipt(ReceiptError::Checkpoint(_))
    ));
    let stranger =
        LogVerifier::from_verifier_key(&LogSigner::generate(ORIGIN).verifier_key()).unwrap();
    assert!(matches!(
        genuine.verify(&stranger).unwrap_err(),
        LicenceError::Receipt(ReceiptError::Checkpoint(_))
    ));
}

#[test]
fn a_receipt_of_another_entry_is_not_a_licence() {
    let entries = [
        root(),
        decision("refused", None, None),
        decision("approved", None, None),
    ];
    let holder = || Holder {
        subject: SUBJECT.into(),
        case_secret: SECRET.into(),
    };
    for (index, expected) in [
        (0, LicenceError::NotADecision { index: 0 }),
        (
            1,
            LicenceError::NoLicence {
                index: 1,
                decision: "refused".into(),
            },
        ),
        (
            2,
            LicenceError::NoLicence {
                index: 2,
                decision: "approved".into(),
            },
        ),
    ] {
        let (receipt, verifier) = receipt_of(&entries, index);
        let document =
            LicenceDocument::new(ORIGIN, "DJY-2026-000001", &licence(), holder(), receipt);
        assert_eq!(document.verify(&verifier).unwrap_err(), expected);
    }
}

#[test]
fn the_standing_follows_the_chain_of_amendments() {
    assert_eq!(standing(5, &[]), Standing::InForce);
    // A decision that amends something else does not count.
    let unrelated = decision("revoked", None, Some(3));
    assert_eq!(standing(5, &[(7, unrelated.clone())]), Standing::InForce);
    let revoked = decision("revoked", None, Some(5));
    let approved_again = decision("approved", Some(licence()), Some(7));
    assert_eq!(
        standing(5, &[(6, unrelated), (7, revoked.clone())]),
        Standing::Amended {
            index: 7,
            decision: "revoked".into(),
            note: String::new(),
            time: "2026-11-23T10:00:00Z".into(),
        }
    );
    assert!(matches!(
        standing(5, &[(7, revoked), (9, approved_again)]),
        Standing::Amended { index: 9, ref decision, .. } if decision == "approved"
    ));
}
