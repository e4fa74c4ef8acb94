//! The hashes that bind a key to what it is for: the policy's canonical hash,
//! the circuit digest, and the key id.
//!
//! All are SHA-256, each over a domain-separated, canonical encoding, so
//! that a comment or a reordered key in a policy file does not change the
//! policy hash, while any change to what the policy means does.

use ark_bn254::Bn254;
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::VerifyingKey;
use ark_relations::r1cs::ConstraintMatrices;
use ark_serialize::CanonicalSerialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zkgov_circuits::encoding::FieldType;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::Fr;

/// A SHA-256 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest32(pub [u8; 32]);

impl Digest32 {
    /// Parses 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || s.chars().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl std::fmt::Display for Digest32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest32({self})")
    }
}

fn field_type(ty: &FieldType) -> Value {
    match ty {
        FieldType::Enum { variants } => json!({ "type": "enum", "variants": variants }),
        FieldType::Decimal { scale, bits } => {
            json!({ "type": "decimal", "scale": scale, "bits": bits })
        }
        other => json!({ "type": other.name() }),
    }
}

/// The RFC 8785 (JSON Canonicalization Scheme) text of `value`: no
/// whitespace, object keys sorted by their UTF-16 code units at every
/// level, strings escaped as ECMAScript's `JSON.stringify` does. Numbers are
/// written as integers, which is RFC 8785's form for every integer up to
/// 2^53; the values hashed here hold no other numbers.
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // UTF-16 order differs from UTF-8 (and code point) order for
            // keys above U+FFFF against keys in U+E000..U+FFFF.
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        scalar => scalar.to_string(),
    }
}

/// The canonical JSON of a schema and a policy over it: every field and
/// param with its type, and the rule written out in one fixed form.
pub fn canonical_policy(schema: &Schema, policy: &Policy) -> String {
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .map(|f| json!({ "name": f.name, "type": field_type(&f.ty) }))
        .collect();
    let params: Vec<Value> = policy
        .params
        .iter()
        .map(|p| json!({ "name": p.name, "type": field_type(&p.ty) }))
        .collect();
    let value = json!({
        "format": "zkgov-policy-v1",
        "schema": { "name": schema.name, "subject": schema.fields[schema.subject].name, "fields": fields },
        "policy": { "name": policy.name, "params": params, "rule": policy.describe(schema, &policy.rule) },
    });
    canonical_json(&value)
}

/// The policy's canonical hash: SHA-256 of [`canonical_policy`].
pub fn policy_hash(schema: &Schema, policy: &Policy) -> Digest32 {
    Digest32::of(canonical_policy(schema, policy).as_bytes())
}

/// A hash of the R1CS: its dimensions and every matrix entry in order.
pub fn circuit_digest(matrices: &ConstraintMatrices<Fr>) -> Digest32 {
    let mut hasher = Sha256::new();
    hasher.update(b"zkgov-r1cs-v1");
    for n in [
        matrices.num_instance_variables,
        matrices.num_witness_variables,
        matrices.num_constraints,
    ] {
        hasher.update((n as u64).to_le_bytes());
    }
    for matrix in [&matrices.a, &matrices.b, &matrices.c] {
        for row in matrix {
            hasher.update((row.len() as u64).to_le_bytes());
            for (coefficient, column) in row {
                hasher.update((*column as u64).to_le_bytes());
                hasher.update(coefficient.into_bigint().to_bytes_le());
            }
        }
    }
    Digest32(hasher.finalize().into())
}

/// The key id: SHA-256 of the compressed verifying key and the policy hash.
/// Two keys for one policy have different ids, and one verifying key bound
/// to two policies does too.
pub fn key_id(vk: &VerifyingKey<Bn254>, policy_hash: &Digest32) -> Digest32 {
    let mut bytes = Vec::new();
    vk.serialize_compressed(&mut bytes)
        .expect("serializing into a Vec cannot fail");
    let mut hasher = Sha256::new();
    hasher.update(b"zkgov-key-id-v1");
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
    hasher.update(policy_hash.0);
    Digest32(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::canonical_json;

    /// RFC 8785, section 3.2.3: keys sorted by UTF-16 code units.
    #[test]
    fn keys_sort_as_rfc_8785_sorts_them() {
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let value: serde_json::Value = serde_json::from_str(input).unwrap();
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f600}\":\"Emoji: Grinning Face\",\
                        \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonical_json(&value), expected);
    }

    /// RFC 8785, section 3.2.2.2: string escaping.
    #[test]
    fn strings_escape_as_rfc_8785_escapes_them() {
        let input = r#"{"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"}"#;
        let value: serde_json::Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// Inner objects are sorted too; arrays keep their order.
    #[test]
    fn nested_objects_sort_and_arrays_keep_their_order() {
        let value = serde_json::json!({"b": [3, {"z": 1, "a": 2}], "a": {"d": true, "c": null}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"d":true},"b":[3,{"a":2,"z":1}]}"#
        );
    }
}
