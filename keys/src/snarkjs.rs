//! The snarkjs JSON formats for Groth16 on BN254: proofs, verifying keys
//! and public signals, parsed with full validation, and offline
//! verification.
//!
//! The layouts are exactly those of snarkjs 0.7 (`snarkjs groth16 prove`
//! and `snarkjs zkey export verificationkey`), so a zkgov proof verifies
//! with `snarkjs groth16 verify` and a snarkjs proof verifies here:
//!
//! - A G1 point is `[x, y, z]` in Jacobian coordinates, always written
//!   affine with `z = "1"`. The identity is `["0", "1", "0"]`.
//! - A G2 point is `[[x.c0, x.c1], [y.c0, y.c1], [z.c0, z.c1]]`, where an
//!   element of Fq2 = Fq\[u\]/(u² + 1) is `[c0, c1]` for `c0 + c1·u`: the
//!   real part comes first (the Solidity verifier's calldata order is the
//!   reverse, but the JSON is not). Affine points have `z = ["1", "0"]`,
//!   the identity is `[["0", "0"], ["1", "0"], ["0", "0"]]`.
//! - `vk_alphabeta_12` is the pairing e(α, β) in Fq12 = Fq6\[w\]/(w² − v),
//!   Fq6 = Fq2\[v\]/(v³ − (9 + u)), nested as `[[a0, a1, a2], [b0, b1, b2]]`
//!   for `(a0 + a1·v + a2·v²) + (b0 + b1·v + b2·v²)·w`, each `ai`, `bi` an
//!   Fq2 pair as above (arkworks' `c0.c0, c0.c1, c0.c2, c1.c0, …`).
//! - Public signals are a JSON array of decimal strings, in the order of
//!   the verifying key's `IC[1..]`.
//!
//! Every number is a decimal string, and parsing accepts only the canonical
//! form: ASCII digits, no sign, no leading zero, below the modulus (q for
//! coordinates, r for public signals). Nothing is ever reduced. Points must
//! lie on the curve and in the prime-order subgroup. The identity is refused
//! in proofs and in `vk_alpha_1`, `vk_beta_2`, `vk_gamma_2`, `vk_delta_2`;
//! it is allowed in `IC`, where it arises for a public input that no
//! constraint uses and does not weaken the verifier. `vk_alphabeta_12` is
//! derived data: it may be absent, and if present it must equal e(α, β).
//! Object keys this module does not know are ignored, as snarkjs does. The
//! writers return [`serde_json::Value`]s, whose keys serialize in
//! serde_json's map order (alphabetical unless its `preserve_order` feature
//! is on) rather than snarkjs's; key order has no meaning in JSON, and
//! snarkjs does not depend on it.
//!
//! Errors carry the JSON path of the offending value (`pi_b[1][0]`,
//! `IC[3]`, `public[2]`), so a message reads like
//! `pi_a: point not on curve`.
//!
//! ```
//! use zkgov_keys::snarkjs::{self, SnarkjsError};
//!
//! let public = snarkjs::public_signals_from_json(r#"["891", "11"]"#).unwrap();
//! assert_eq!(snarkjs::public_signals_to_json(&public).to_string(), r#"["891","11"]"#);
//!
//! let refused = snarkjs::public_signals_from_json(r#"["891", "-5"]"#).unwrap_err();
//! assert!(matches!(&refused, SnarkjsError::NonCanonical { path, .. } if path == "public[1]"));
//! assert_eq!(
//!     refused.to_string(),
//!     r#"public[1]: "-5" is not a canonical field element (it has a sign)"#
//! );
//! ```

use std::str::FromStr;

use ark_bn254::{Bn254, Fq, Fq12, Fq2, Fq6, Fr};
use ark_ec::pairing::Pairing;
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_ec::AffineRepr;
use ark_ff::{One, PrimeField, Zero};
use ark_groth16::{prepare_verifying_key, Groth16, Proof, VerifyingKey};
use serde_json::{json, Map, Value};
use thiserror::Error;
use zkgov_circuits::field::{parse_field_element, to_decimal, FieldError};

/// The `protocol` every Groth16 proof and verifying key declares.
pub const PROTOCOL: &str = "groth16";

/// snarkjs's name for BN254 (alt_bn128), the only `curve` accepted.
pub const CURVE: &str = "bn128";

/// Values longer than this are shortened when quoted in an error, so that a
/// hostile megabyte-long string cannot flood a log line.
const MAX_QUOTED_BYTES: usize = 96;

/// Why a snarkjs JSON document was refused. Every variant that concerns one
/// value names its JSON path.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnarkjsError {
    /// The input is not JSON at all.
    #[error("not JSON: {message}")]
    Json {
        /// The JSON parser's message, with line and column.
        message: String,
    },
    /// A required key is absent.
    #[error("{path}: missing")]
    Missing {
        /// Where the key was expected, e.g. `pi_c` or `vk_delta_2`.
        path: String,
    },
    /// A value has the wrong shape or type, or a wrong fixed value
    /// (`protocol`, `curve`, `nPublic`, a projective `z`).
    #[error("{path}: {problem}")]
    Malformed {
        /// The offending value, e.g. `pi_b[1]` or `nPublic`.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A number is not the canonical decimal form of a field element.
    #[error("{path}: {value:?} is not a canonical field element ({reason})")]
    NonCanonical {
        /// The offending value, e.g. `pi_a[0]` or `public[2]`.
        path: String,
        /// The value as given (shortened if very long).
        value: String,
        /// Why it is not canonical, e.g. `it has a leading zero`.
        reason: &'static str,
    },
    /// A point's coordinates do not satisfy the curve equation.
    #[error("{path}: point not on curve")]
    NotOnCurve {
        /// The offending point, e.g. `pi_a` or `IC[3]`.
        path: String,
    },
    /// A point is on the curve but outside the prime-order subgroup.
    #[error("{path}: point not in the prime-order subgroup")]
    NotInSubgroup {
        /// The offending point, e.g. `pi_b`.
        path: String,
    },
    /// The identity point, where it is not allowed.
    #[error("{path}: the identity point is not allowed here")]
    Identity {
        /// The offending point, e.g. `pi_a` or `vk_alpha_1`.
        path: String,
    },
    /// The number of public inputs disagrees with the verifying key.
    #[error("the verifying key takes {expected} public inputs, but {found} were given")]
    WrongPublicInputCount {
        /// `IC.len() - 1`, what the verifying key takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },
}

type Result<T, E = SnarkjsError> = std::result::Result<T, E>;

/// Parses a snarkjs Groth16 proof, validating every coordinate and point.
pub fn proof_from_json(json: &str) -> Result<Proof<Bn254>> {
    let document = parse(json)?;
    let proof = object(&document, "proof")?;
    check_header(proof)?;
    let g1_point = |key| g1(required(proof, key)?, key, IdentityRule::Refuse);
    let g2_point = |key| g2(required(proof, key)?, key, IdentityRule::Refuse);
    Ok(Proof {
        a: g1_point("pi_a")?,
        b: g2_point("pi_b")?,
        c: g1_point("pi_c")?,
    })
}

/// The snarkjs JSON of `proof`.
pub fn proof_to_json(proof: &Proof<Bn254>) -> Value {
    json!({
        "pi_a": g1_to_json(&proof.a),
        "pi_b": g2_to_json(&proof.b),
        "pi_c": g1_to_json(&proof.c),
        "protocol": PROTOCOL,
        "curve": CURVE,
    })
}

/// Parses a snarkjs Groth16 verifying key (`snarkjs zkey export
/// verificationkey`), validating every coordinate and point, `nPublic`
/// against `IC`, and `vk_alphabeta_12` if present.
pub fn verifying_key_from_json(json: &str) -> Result<VerifyingKey<Bn254>> {
    let document = parse(json)?;
    let vk = object(&document, "verification key")?;
    check_header(vk)?;
    let n_public = required(vk, "nPublic")?;
    let n_public = n_public.as_u64().ok_or_else(|| {
        malformed(
            "nPublic",
            format!(
                "expected a non-negative integer, found {}",
                describe(n_public)
            ),
        )
    })?;

    let g1_point = |key| g1(required(vk, key)?, key, IdentityRule::Refuse);
    let g2_point = |key| g2(required(vk, key)?, key, IdentityRule::Refuse);
    let alpha_g1 = g1_point("vk_alpha_1")?;
    let beta_g2 = g2_point("vk_beta_2")?;
    let gamma_g2 = g2_point("vk_gamma_2")?;
    let delta_g2 = g2_point("vk_delta_2")?;

    let ic = required(vk, "IC")?;
    let ic = ic.as_array().ok_or_else(|| {
        malformed(
            "IC",
            format!("expected an array of G1 points, found {}", describe(ic)),
        )
    })?;
    if ic.is_empty() {
        return Err(malformed("IC", "is empty; it needs at least IC[0]"));
    }
    let gamma_abc_g1 = ic
        .iter()
        .enumerate()
        .map(|(i, point)| g1(point, &index("IC", i), IdentityRule::Allow))
        .collect::<Result<Vec<_>>>()?;
    let inputs = gamma_abc_g1.len() - 1;
    if u64::try_from(inputs).ok() != Some(n_public) {
        return Err(malformed(
            "nPublic",
            format!(
                "says {n_public} public inputs, but IC has {} points, so {inputs}",
                gamma_abc_g1.len()
            ),
        ));
    }

    if let Some(alphabeta) = vk.get("vk_alphabeta_12") {
        let given = fq12(alphabeta, "vk_alphabeta_12")?;
        if given != Bn254::pairing(alpha_g1, beta_g2).0 {
            return Err(malformed(
                "vk_alphabeta_12",
                "is not the pairing e(vk_alpha_1, vk_beta_2)",
            ));
        }
    }

    Ok(VerifyingKey {
        alpha_g1,
        beta_g2,
        gamma_g2,
        delta_g2,
        gamma_abc_g1,
    })
}

/// The snarkjs JSON of `vk`, with `vk_alphabeta_12` computed, as
/// `snarkjs zkey export verificationkey` writes it.
pub fn verifying_key_to_json(vk: &VerifyingKey<Bn254>) -> Value {
    json!({
        "protocol": PROTOCOL,
        "curve": CURVE,
        "nPublic": vk.gamma_abc_g1.len().saturating_sub(1),
        "vk_alpha_1": g1_to_json(&vk.alpha_g1),
        "vk_beta_2": g2_to_json(&vk.beta_g2),
        "vk_gamma_2": g2_to_json(&vk.gamma_g2),
        "vk_delta_2": g2_to_json(&vk.delta_g2),
        "vk_alphabeta_12": fq12_to_json(&Bn254::pairing(vk.alpha_g1, vk.beta_g2).0),
        "IC": vk.gamma_abc_g1.iter().map(g1_to_json).collect::<Vec<_>>(),
    })
}

/// Parses snarkjs public signals: a JSON array of canonical decimal strings
/// below r. Paths are named `public[i]`.
pub fn public_signals_from_json(json: &str) -> Result<Vec<Fr>> {
    let document = parse(json)?;
    let signals = document.as_array().ok_or_else(|| {
        malformed(
            "public",
            format!(
                "expected an array of decimal strings, found {}",
                describe(&document)
            ),
        )
    })?;
    signals
        .iter()
        .enumerate()
        .map(|(i, signal)| {
            let path = index("public", i);
            parse_field_element(string(signal, &path)?).map_err(|e| scalar_error(&path, e))
        })
        .collect()
}

/// The snarkjs JSON of public signals: an array of decimal strings.
pub fn public_signals_to_json(public: &[Fr]) -> Value {
    Value::Array(
        public
            .iter()
            .map(|x| Value::String(to_decimal(x)))
            .collect(),
    )
}

/// Checks `proof` for the public inputs `public` against `vk`, as
/// `snarkjs groth16 verify` does.
///
/// Returns [`SnarkjsError::WrongPublicInputCount`] when `public` does not
/// have exactly `vk.gamma_abc_g1.len() - 1` elements, and otherwise whether
/// the proof is valid. (snarkjs 0.7 does not check the count: given too few
/// signals it silently leaves out the remaining `IC` terms.)
pub fn verify(vk: &VerifyingKey<Bn254>, proof: &Proof<Bn254>, public: &[Fr]) -> Result<bool> {
    if public.len() + 1 != vk.gamma_abc_g1.len() {
        return Err(SnarkjsError::WrongPublicInputCount {
            expected: vk.gamma_abc_g1.len().saturating_sub(1),
            found: public.len(),
        });
    }
    // With the count checked, the only error left is a Miller loop equal to
    // zero, which no valid proof produces: that is a rejection.
    Ok(Groth16::<Bn254>::verify_proof(&prepare_verifying_key(vk), proof, public).unwrap_or(false))
}

/// Whether a point may be the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdentityRule {
    Allow,
    Refuse,
}

fn parse(json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| SnarkjsError::Json {
        message: e.to_string(),
    })
}

fn object<'a>(document: &'a Value, name: &str) -> Result<&'a Map<String, Value>> {
    document.as_object().ok_or_else(|| {
        malformed(
            name,
            format!("expected a JSON object, found {}", describe(document)),
        )
    })
}

fn required<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    object.get(key).ok_or_else(|| SnarkjsError::Missing {
        path: key.to_owned(),
    })
}

fn check_header(object: &Map<String, Value>) -> Result<()> {
    for (key, expected) in [("protocol", PROTOCOL), ("curve", CURVE)] {
        let value = required(object, key)?;
        if value.as_str() != Some(expected) {
            return Err(malformed(
                key,
                format!("expected \"{expected}\", found {}", describe(value)),
            ));
        }
    }
    Ok(())
}

fn array<'a, const N: usize>(value: &'a Value, path: &str, what: &str) -> Result<&'a [Value; N]> {
    value
        .as_array()
        .and_then(|items| <&[Value; N]>::try_from(items.as_slice()).ok())
        .ok_or_else(|| {
            malformed(
                path,
                format!(
                    "expected {what} (an array of {N}), found {}",
                    describe(value)
                ),
            )
        })
}

fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str> {
    value.as_str().ok_or_else(|| {
        malformed(
            path,
            format!("expected a decimal string, found {}", describe(value)),
        )
    })
}

/// A canonical decimal base-field element, with the same strictness as
/// [`parse_field_element`] for scalars.
fn fq(value: &Value, path: &str) -> Result<Fq> {
    let s = string(value, path)?;
    let refuse = |reason| Err(non_canonical(path, s, reason));
    if s.is_empty() {
        return refuse("it is empty");
    }
    if s.starts_with(['+', '-']) {
        return refuse("it has a sign");
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("it is not a decimal integer");
    }
    if s.len() > 1 && s.starts_with('0') {
        return refuse("it has a leading zero");
    }
    const TOO_LARGE: &str = "it is not below the BN254 base field modulus q";
    // q has 77 digits; the bound keeps hostile long input away from the
    // big-integer parser.
    if s.len() > 78 {
        return refuse(TOO_LARGE);
    }
    match <Fq as PrimeField>::BigInt::from_str(s)
        .ok()
        .and_then(Fq::from_bigint)
    {
        Some(x) => Ok(x),
        None => refuse(TOO_LARGE),
    }
}

fn fq2(value: &Value, path: &str) -> Result<Fq2> {
    let [c0, c1] = array::<2>(value, path, "an Fq2 element [c0, c1]")?;
    Ok(Fq2::new(fq(c0, &index(path, 0))?, fq(c1, &index(path, 1))?))
}

fn fq6(value: &Value, path: &str) -> Result<Fq6> {
    let [c0, c1, c2] = array::<3>(value, path, "an Fq6 element [c0, c1, c2]")?;
    Ok(Fq6::new(
        fq2(c0, &index(path, 0))?,
        fq2(c1, &index(path, 1))?,
        fq2(c2, &index(path, 2))?,
    ))
}

fn fq12(value: &Value, path: &str) -> Result<Fq12> {
    let [c0, c1] = array::<2>(value, path, "an Fq12 element [c0, c1]")?;
    Ok(Fq12::new(
        fq6(c0, &index(path, 0))?,
        fq6(c1, &index(path, 1))?,
    ))
}

fn g1(value: &Value, path: &str, identity: IdentityRule) -> Result<ark_bn254::G1Affine> {
    point(value, path, identity, fq)
}

fn g2(value: &Value, path: &str, identity: IdentityRule) -> Result<ark_bn254::G2Affine> {
    point(value, path, identity, fq2)
}

/// A point `[x, y, z]` with `z` one (affine) or zero (the identity, written
/// `[0, 1, 0]`), on the curve and in the prime-order subgroup.
fn point<P: SWCurveConfig>(
    value: &Value,
    path: &str,
    identity: IdentityRule,
    coordinate: fn(&Value, &str) -> Result<P::BaseField>,
) -> Result<Affine<P>> {
    let [x, y, z] = array::<3>(value, path, "a point [x, y, z]")?;
    let x = coordinate(x, &index(path, 0))?;
    let y = coordinate(y, &index(path, 1))?;
    let z = coordinate(z, &index(path, 2))?;
    if z.is_zero() {
        return match identity {
            IdentityRule::Refuse => Err(SnarkjsError::Identity {
                path: path.to_owned(),
            }),
            IdentityRule::Allow if x.is_zero() && y.is_one() => Ok(Affine::identity()),
            IdentityRule::Allow => Err(malformed(
                path,
                "the identity (z = 0) must be written with x = 0, y = 1",
            )),
        };
    }
    if !z.is_one() {
        return Err(malformed(
            &index(path, 2),
            "projective z must be 1 (an affine point) or 0 (the identity)",
        ));
    }
    let p = Affine::<P>::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(SnarkjsError::NotOnCurve {
            path: path.to_owned(),
        });
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(SnarkjsError::NotInSubgroup {
            path: path.to_owned(),
        });
    }
    Ok(p)
}

fn fq_to_json(x: &Fq) -> Value {
    Value::String(x.into_bigint().to_string())
}

fn fq2_to_json(x: &Fq2) -> Value {
    json!([fq_to_json(&x.c0), fq_to_json(&x.c1)])
}

fn fq6_to_json(x: &Fq6) -> Value {
    json!([fq2_to_json(&x.c0), fq2_to_json(&x.c1), fq2_to_json(&x.c2)])
}

fn fq12_to_json(x: &Fq12) -> Value {
    json!([fq6_to_json(&x.c0), fq6_to_json(&x.c1)])
}

fn g1_to_json(p: &ark_bn254::G1Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([fq_to_json(&x), fq_to_json(&y), "1"]),
        None => json!(["0", "1", "0"]),
    }
}

fn g2_to_json(p: &ark_bn254::G2Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([fq2_to_json(&x), fq2_to_json(&y), ["1", "0"]]),
        None => json!([["0", "0"], ["1", "0"], ["0", "0"]]),
    }
}

fn scalar_error(path: &str, error: FieldError) -> SnarkjsError {
    let (value, reason) = match &error {
        FieldError::Empty => ("", "it is empty"),
        FieldError::Signed { value } => (value.as_str(), "it has a sign"),
        FieldError::NotDecimal { value } => (value.as_str(), "it is not a decimal integer"),
        FieldError::LeadingZero { value } => (value.as_str(), "it has a leading zero"),
        FieldError::OutOfRange { value } => (
            value.as_str(),
            "it is not below the BN254 scalar field modulus r",
        ),
        _ => return malformed(path, error.to_string()),
    };
    non_canonical(path, value, reason)
}

fn non_canonical(path: &str, value: &str, reason: &'static str) -> SnarkjsError {
    SnarkjsError::NonCanonical {
        path: path.to_owned(),
        value: quote(value),
        reason,
    }
}

fn malformed(path: &str, problem: impl Into<String>) -> SnarkjsError {
    SnarkjsError::Malformed {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A short description of a JSON value's type for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {}", quote(&n.to_string())),
        Value::String(s) => format!("the string {:?}", quote(s)),
        Value::Array(items) => format!("an array of {}", items.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// Shortens overly long input for error messages; short input is kept
/// intact. (An input that is already quoted by the field parser is short.)
fn quote(s: &str) -> String {
    if s.len() <= MAX_QUOTED_BYTES {
        return s.to_owned();
    }
    let mut end = MAX_QUOTED_BYTES / 2;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::BigInteger;

    #[test]
    fn the_length_bound_covers_q() {
        assert_eq!(Fq::MODULUS.to_string().len(), 77);
        assert!(Fq::MODULUS.num_bits() <= 256);
    }

    #[test]
    fn q_minus_one_is_canonical_and_q_is_not() {
        let q = Fq::MODULUS.to_string();
        let mut below = Fq::MODULUS;
        below.sub_with_borrow(&<Fq as PrimeField>::BigInt::from(1u64));
        assert_eq!(fq(&json!(below.to_string()), "x"), Ok(-Fq::one()));
        assert!(matches!(
            fq(&json!(q), "x"),
            Err(SnarkjsError::NonCanonical { .. })
        ));
    }
}
