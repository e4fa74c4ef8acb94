//! Canonical decimal encoding of BN254 scalar field elements.
//!
//! Every field element that crosses a boundary (files, JSON, the command
//! line) is written as a canonical decimal integer in `[0, r)`. Parsing is
//! strict: a value that another tool would silently reduce mod r, or that
//! has a second spelling (`+5`, `05`, ` 5`), is rejected, so one element has
//! exactly one textual form and statements cannot be aliased.
//!
//! ```
//! use zkgov_circuits::field::{parse_field_element, to_decimal, FieldError};
//!
//! let x = parse_field_element("42").unwrap();
//! assert_eq!(to_decimal(&x), "42");
//! assert!(matches!(parse_field_element("042"), Err(FieldError::LeadingZero { .. })));
//! ```

use ark_ff::{BigInteger, PrimeField};
use num_bigint::BigUint;
use thiserror::Error;

use crate::Fr;

/// The BN254 scalar modulus r in decimal.
pub const MODULUS_DECIMAL: &str =
    "21888242871839275222246405745257275088548364400416034343698204186575808495617";

/// Number of decimal digits of r; any canonical element has at most this many.
pub const MAX_DECIMAL_DIGITS: usize = 77;

/// Inputs longer than this are shortened when quoted in an error, so that a
/// stray megabyte-long cell cannot flood a log line.
const MAX_QUOTED_BYTES: usize = 96;

/// Why a string is not a canonical field element.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The input is the empty string.
    #[error("field element is empty")]
    Empty,
    /// The input starts with `+` or `-`.
    #[error("field element {value:?} has a sign; only unsigned decimals are canonical")]
    Signed {
        /// The offending input.
        value: String,
    },
    /// The input contains a character other than an ASCII digit.
    #[error("field element {value:?} is not a decimal integer")]
    NotDecimal {
        /// The offending input.
        value: String,
    },
    /// The input has a leading zero (only `0` itself may start with `0`).
    #[error("field element {value:?} has a leading zero")]
    LeadingZero {
        /// The offending input.
        value: String,
    },
    /// The value is at least r; it is never reduced.
    #[error("field element {value} is not below the BN254 scalar modulus")]
    OutOfRange {
        /// The offending input.
        value: String,
    },
}

/// Parses a canonical decimal field element: ASCII digits only, no sign, no
/// leading zero, value strictly below r.
pub fn parse_field_element(s: &str) -> Result<Fr, FieldError> {
    if s.is_empty() {
        return Err(FieldError::Empty);
    }
    if s.starts_with(['+', '-']) {
        return Err(FieldError::Signed { value: quote(s) });
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::NotDecimal { value: quote(s) });
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(FieldError::LeadingZero { value: quote(s) });
    }
    // Without leading zeros, digit count and then lexicographic order decide
    // the comparison with r, so no big-integer work is done on long input.
    let below_modulus =
        s.len() < MAX_DECIMAL_DIGITS || (s.len() == MAX_DECIMAL_DIGITS && s < MODULUS_DECIMAL);
    if !below_modulus {
        return Err(FieldError::OutOfRange { value: quote(s) });
    }
    let n = BigUint::parse_bytes(s.as_bytes(), 10)
        .ok_or_else(|| FieldError::NotDecimal { value: quote(s) })?;
    Ok(Fr::from(n))
}

/// The canonical decimal form of `x`, which [`parse_field_element`] accepts.
pub fn to_decimal(x: &Fr) -> String {
    BigUint::from(x.into_bigint()).to_string()
}

/// `x` as a `u64`, or `None` if it is 2^64 or more.
pub fn to_u64(x: &Fr) -> Option<u64> {
    let limbs = x.into_bigint();
    let limbs = limbs.as_ref();
    limbs[1..].iter().all(|&l| l == 0).then_some(limbs[0])
}

/// Whether `x` is below 2^`bits`.
pub fn fits_in_bits(x: &Fr, bits: u32) -> bool {
    x.into_bigint().num_bits() <= bits
}

/// Shortens overly long input for error messages; short input is kept intact.
pub(crate) fn quote(s: &str) -> String {
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
    use ark_ff::{One, Zero};
    use proptest::prelude::*;

    fn modulus() -> BigUint {
        BigUint::from(Fr::MODULUS)
    }

    #[test]
    fn modulus_decimal_matches_the_field() {
        assert_eq!(MODULUS_DECIMAL, modulus().to_string());
        assert_eq!(MODULUS_DECIMAL.len(), MAX_DECIMAL_DIGITS);
    }

    #[test]
    fn zero_one_and_r_minus_one_round_trip() {
        assert_eq!(to_decimal(&Fr::zero()), "0");
        assert_eq!(parse_field_element("0"), Ok(Fr::zero()));
        assert_eq!(parse_field_element("1"), Ok(Fr::one()));
        let r_minus_1 = (modulus() - 1u32).to_string();
        let x = parse_field_element(&r_minus_1).unwrap();
        assert_eq!(x, -Fr::one());
        assert_eq!(to_decimal(&x), r_minus_1);
    }

    #[test]
    fn r_and_above_are_rejected_not_reduced() {
        let big: BigUint = BigUint::from(1u32) << 256usize;
        for n in [modulus(), modulus() + 1u32, big.clone(), big - 1u32] {
            let s = n.to_string();
            assert_eq!(
                parse_field_element(&s),
                Err(FieldError::OutOfRange { value: s.clone() })
            );
        }
    }

    #[test]
    fn non_canonical_spellings_are_rejected() {
        assert_eq!(parse_field_element(""), Err(FieldError::Empty));
        for s in ["-1", "+1", "-0", "-", "+"] {
            assert!(
                matches!(parse_field_element(s), Err(FieldError::Signed { ref value }) if value == s),
                "{s}"
            );
        }
        for s in [" 1", "1 ", "1\n", "0x1", "1.0", "1e3", "١", "1_000"] {
            assert!(
                matches!(parse_field_element(s), Err(FieldError::NotDecimal { ref value }) if value == s),
                "{s}"
            );
        }
        for s in [
            "00",
            "01",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000001",
        ] {
            assert!(
                matches!(parse_field_element(s), Err(FieldError::LeadingZero { ref value }) if value == s),
                "{s}"
            );
        }
    }

    #[test]
    fn absurdly_long_input_is_rejected_quickly_and_quoted_briefly() {
        let s = "9".repeat(10_000_000);
        let start = std::time::Instant::now();
        let err = parse_field_element(&s).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let FieldError::OutOfRange { value } = err else {
            panic!("expected OutOfRange, got {err:?}");
        };
        assert!(value.len() < 200, "{}", value.len());
        assert!(value.ends_with("(10000000 bytes)"));
    }

    #[test]
    fn quote_respects_char_boundaries() {
        let s = "é".repeat(100);
        let q = quote(&s);
        assert!(q.starts_with("éé"));
        assert!(q.ends_with("(200 bytes)"));
    }

    #[test]
    fn u64_helpers_agree_with_bit_widths() {
        assert_eq!(to_u64(&Fr::from(u64::MAX)), Some(u64::MAX));
        assert_eq!(to_u64(&(Fr::from(u64::MAX) + Fr::one())), None);
        assert_eq!(to_u64(&-Fr::one()), None);
        assert!(fits_in_bits(&Fr::zero(), 0));
        assert!(!fits_in_bits(&Fr::one(), 0));
        assert!(fits_in_bits(&Fr::from(255u64), 8));
        assert!(!fits_in_bits(&Fr::from(256u64), 8));
    }

    fn any_fr() -> impl Strategy<Value = Fr> {
        any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b))
    }

    proptest! {
        #[test]
        fn random_elements_round_trip(x in any_fr()) {
            let s = to_decimal(&x);
            prop_assert_eq!(parse_field_element(&s), Ok(x));
        }

        #[test]
        fn canonical_strings_round_trip(x in any_fr()) {
            let s = to_decimal(&x);
            let again = to_decimal(&parse_field_element(&s).unwrap());
            prop_assert_eq!(again, s);
        }

        #[test]
        fn values_from_r_to_2_256_are_rejected(b in any::<[u8; 32]>()) {
            let span: BigUint = (BigUint::from(1u32) << 256usize) - modulus();
            let n = modulus() + BigUint::from_bytes_le(&b) % span;
            let s = n.to_string();
            prop_assert_eq!(parse_field_element(&s), Err(FieldError::OutOfRange { value: s.clone() }));
        }

        #[test]
        fn leading_zero_is_rejected_for_every_element(x in any_fr()) {
            let s = format!("0{}", to_decimal(&x));
            let rejected = matches!(parse_field_element(&s), Err(FieldError::LeadingZero { .. }));
            prop_assert!(rejected);
        }
    }
}
