//! How each schema field type turns a raw record value into a field element.
//!
//! The rules are normative (docs/formats.md, "Record encoding"): other tools must
//! reproduce them bit for bit, so parsing is strict and never guesses. A
//! value has one accepted spelling per encoded element wherever that is
//! practical, and anything that does not fit the declared width is an error
//! rather than being truncated or reduced.
//!
//! ```
//! use zkgov_circuits::encoding::{EncodingError, FieldType};
//! use zkgov_circuits::Fr;
//!
//! let area = FieldType::Uint { bits: 32 };
//! assert_eq!(area.encode("area_m2", "120").unwrap(), Fr::from(120u64));
//! assert!(matches!(
//!     area.encode("area_m2", "-5"),
//!     Err(EncodingError::Negative { .. })
//! ));
//! ```

use std::collections::HashSet;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::field::{fits_in_bits, quote, to_u64};
use crate::Fr;

/// Bit width of an encoded date: 9999-12-31 is day 3,652,059 < 2^22.
pub const DATE_BITS: u32 = 22;

/// Bit width of an encoded `text` or `id`: 31 bytes of a SHA-256 digest.
pub const TEXT_BITS: u32 = 248;

/// Largest `uint` / `decimal` width; wider values would not fit a `u64`.
pub const MAX_UINT_BITS: u32 = 64;

/// Largest `decimal` scale, so that 10^scale fits a `u64`.
pub const MAX_DECIMAL_SCALE: u32 = 18;

/// Bytes of the SHA-256 digest kept by [`text_to_field`]; 31 bytes are always
/// below r, so the encoding never needs a reduction.
const TEXT_DIGEST_BYTES: usize = 31;

/// The type of one schema field, which fixes how its values are encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// An unsigned integer below 2^`bits`.
    Uint {
        /// Declared width, 1 to 64.
        bits: u32,
    },
    /// A calendar date, `YYYY-MM-DD`, encoded as its day number from 0001-01-01 = 1.
    Date,
    /// `true` / `false`, encoded as 1 / 0.
    Bool,
    /// One of a fixed list of names, encoded as its 0-based index.
    Enum {
        /// The allowed names in schema order.
        variants: Vec<String>,
    },
    /// Free text, encoded as a truncated SHA-256 digest.
    Text,
    /// An identifier, encoded exactly like [`FieldType::Text`].
    Id,
    /// A non-negative decimal with a fixed number of places, encoded as value × 10^`scale`.
    Decimal {
        /// Decimal places kept, 0 to 18.
        scale: u32,
        /// Declared width of the scaled integer, 1 to 64.
        bits: u32,
    },
}

/// Why a [`FieldType`] is not a valid schema type.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FieldTypeError {
    /// A `uint` or `decimal` width outside 1..=64.
    #[error("{type_name} width of {bits} bits is outside 1..=64")]
    BitsOutOfRange {
        /// The type's name, e.g. `uint0`.
        type_name: String,
        /// The declared width.
        bits: u32,
    },
    /// A `decimal` scale above 18.
    #[error("decimal scale {scale} is above the maximum of 18")]
    ScaleTooLarge {
        /// The declared scale.
        scale: u32,
    },
    /// An `enum` without variants.
    #[error("enum has no variants")]
    EmptyEnum,
    /// An `enum` variant that is the empty string, which an empty cell would match.
    #[error("enum variant #{index} is empty")]
    EmptyVariant {
        /// 0-based position of the empty variant.
        index: usize,
    },
    /// An `enum` variant listed twice, which would make decoding ambiguous.
    #[error("enum variant {variant:?} is listed more than once")]
    DuplicateVariant {
        /// The repeated variant.
        variant: String,
    },
}

/// Why a raw value cannot be encoded for its field.
///
/// Every variant names the field and carries the offending raw value (long
/// values are shortened), so a message can point the user at the cell to fix.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The value is empty where the type needs one.
    #[error("field {field:?}: value is empty")]
    Empty {
        /// The field being encoded.
        field: String,
        /// The offending raw value (always empty).
        value: String,
    },
    /// A negative number for an unsigned type.
    #[error("field {field:?}: value {value:?} is negative")]
    Negative {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// An explicit `+` sign, which would give a value a second spelling.
    #[error("field {field:?}: value {value:?} has a sign; write the bare number")]
    Signed {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// A number with a leading zero, which would give a value a second spelling.
    #[error("field {field:?}: value {value:?} has a leading zero")]
    LeadingZero {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// Not a plain decimal integer (`uint`).
    #[error("field {field:?}: value {value:?} is not an unsigned decimal integer")]
    NotAnInteger {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// The (scaled) value is 2^`bits` or more.
    #[error("field {field:?}: value {value} does not fit in {bits} bits")]
    TooWide {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
        /// The declared width.
        bits: u32,
    },
    /// Not an existing calendar date in `YYYY-MM-DD` form with year 0001..=9999.
    #[error("field {field:?}: {value:?} is not a valid date (YYYY-MM-DD)")]
    InvalidDate {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// Not one of `true`, `false`, `1`, `0`.
    #[error("field {field:?}: {value:?} is not a boolean (expected true, false, 1 or 0)")]
    InvalidBool {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// Not one of the enum's variants (matching is exact and case-sensitive).
    #[error("field {field:?}: unknown variant {value:?} (expected one of {})", expected.join(", "))]
    UnknownVariant {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
        /// The allowed variants in schema order.
        expected: Vec<String>,
    },
    /// Not a plain decimal `digits[.digits]` (no exponent, no bare point).
    #[error("field {field:?}: {value:?} is not a decimal number (expected digits[.digits])")]
    MalformedDecimal {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
    },
    /// Non-zero digits beyond the declared scale, which would need rounding.
    #[error("field {field:?}: {value:?} has more than {scale} decimal places")]
    TooManyDecimalPlaces {
        /// The field being encoded.
        field: String,
        /// The offending raw value.
        value: String,
        /// The declared scale.
        scale: u32,
    },
    /// The field's type itself is invalid, so no value can be encoded.
    #[error("field {field:?}: cannot encode {value:?}: {reason}")]
    InvalidType {
        /// The field being encoded.
        field: String,
        /// The raw value that was to be encoded.
        value: String,
        /// What is wrong with the type.
        #[source]
        reason: FieldTypeError,
    },
}

/// The `text` / `id` encoding: the first 31 bytes of SHA-256 of the UTF-8
/// bytes exactly as given, read big-endian.
///
/// Nothing is trimmed or normalised: `"a"` and `"a "` are different values.
pub fn text_to_field(s: &str) -> Fr {
    let digest = Sha256::digest(s.as_bytes());
    // 31 bytes are below 2^248 < r, so "mod order" never actually reduces.
    ark_ff::PrimeField::from_be_bytes_mod_order(&digest[..TEXT_DIGEST_BYTES])
}

impl FieldType {
    /// Encodes the raw value `raw` of the field named `field`.
    ///
    /// The type is validated first, so an invalid type is reported rather
    /// than producing values outside its declared width.
    pub fn encode(&self, field: &str, raw: &str) -> Result<Fr, EncodingError> {
        let err = Culprit { field, raw };
        self.validate()
            .map_err(|reason| EncodingError::InvalidType {
                field: field.to_owned(),
                value: quote(raw),
                reason,
            })?;
        match self {
            FieldType::Uint { bits } => encode_uint(err, *bits),
            FieldType::Date => encode_date(err),
            FieldType::Bool => encode_bool(err),
            FieldType::Enum { variants } => encode_enum(err, variants),
            FieldType::Text | FieldType::Id => Ok(text_to_field(raw)),
            FieldType::Decimal { scale, bits } => encode_decimal(err, *scale, *bits),
        }
    }

    /// The human-readable value that encodes to `x`, or `None` if `x` is not
    /// a valid encoding for this type or the type is `text` / `id` (a hash
    /// cannot be reversed).
    ///
    /// Decimals are written with exactly `scale` places, e.g. `12.50`.
    pub fn decode(&self, x: &Fr) -> Option<String> {
        if self.validate().is_err() {
            return None;
        }
        let v = to_u64(x)?;
        match self {
            FieldType::Uint { bits } => fits_in_bits(x, *bits).then(|| v.to_string()),
            FieldType::Date => {
                let days = i32::try_from(v).ok()?;
                let date = NaiveDate::from_num_days_from_ce_opt(days)?;
                (1..=9999)
                    .contains(&date.year())
                    .then(|| format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()))
            }
            FieldType::Bool => match v {
                0 => Some("false".to_owned()),
                1 => Some("true".to_owned()),
                _ => None,
            },
            FieldType::Enum { variants } => usize::try_from(v)
                .ok()
                .and_then(|i| variants.get(i))
                .cloned(),
            FieldType::Text | FieldType::Id => None,
            FieldType::Decimal { scale, bits } => {
                if !fits_in_bits(x, *bits) {
                    return None;
                }
                if *scale == 0 {
                    return Some(v.to_string());
                }
                let unit = 10u64.pow(*scale);
                let width = *scale as usize;
                Some(format!("{}.{:0width$}", v / unit, v % unit))
            }
        }
    }

    /// Bit width of the encoded value, i.e. every encoding is below 2^`bits()`.
    ///
    /// An enum of n variants needs the smallest b ≥ 1 with 2^b ≥ n.
    pub fn bits(&self) -> u32 {
        match self {
            FieldType::Uint { bits } | FieldType::Decimal { bits, .. } => *bits,
            FieldType::Date => DATE_BITS,
            FieldType::Bool => 1,
            FieldType::Enum { variants } => {
                let largest_index = variants.len().saturating_sub(1);
                (usize::BITS - largest_index.leading_zeros()).max(1)
            }
            FieldType::Text | FieldType::Id => TEXT_BITS,
        }
    }

    /// Whether `<`, `<=`, `>`, `>=` and `between` are meaningful on this type.
    ///
    /// Enum indices and text hashes have an order as integers, but it means
    /// nothing to the people writing policies, so comparisons are refused.
    pub fn is_ordered(&self) -> bool {
        matches!(
            self,
            FieldType::Uint { .. } | FieldType::Date | FieldType::Decimal { .. }
        )
    }

    /// The type's name for messages, e.g. `uint32`, `date`, `enum`, `decimal(2)`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Checks that the type is well formed: widths in 1..=64, scale ≤ 18,
    /// and enum variants non-empty and distinct.
    pub fn validate(&self) -> Result<(), FieldTypeError> {
        match self {
            FieldType::Uint { bits } | FieldType::Decimal { bits, .. }
                if !(1..=MAX_UINT_BITS).contains(bits) =>
            {
                Err(FieldTypeError::BitsOutOfRange {
                    type_name: self.name(),
                    bits: *bits,
                })
            }
            FieldType::Decimal { scale, .. } if *scale > MAX_DECIMAL_SCALE => {
                Err(FieldTypeError::ScaleTooLarge { scale: *scale })
            }
            FieldType::Enum { variants } => {
                if variants.is_empty() {
                    return Err(FieldTypeError::EmptyEnum);
                }
                if let Some(index) = variants.iter().position(String::is_empty) {
                    return Err(FieldTypeError::EmptyVariant { index });
                }
                let mut seen = HashSet::with_capacity(variants.len());
                match variants.iter().find(|v| !seen.insert(v.as_str())) {
                    Some(variant) => Err(FieldTypeError::DuplicateVariant {
                        variant: variant.clone(),
                    }),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Uint { bits } => write!(f, "uint{bits}"),
            FieldType::Date => f.write_str("date"),
            FieldType::Bool => f.write_str("bool"),
            FieldType::Enum { .. } => f.write_str("enum"),
            FieldType::Text => f.write_str("text"),
            FieldType::Id => f.write_str("id"),
            FieldType::Decimal { scale, .. } => write!(f, "decimal({scale})"),
        }
    }
}

/// The field and raw value being encoded, from which every error is built.
#[derive(Clone, Copy)]
struct Culprit<'a> {
    field: &'a str,
    raw: &'a str,
}

impl Culprit<'_> {
    fn field(&self) -> String {
        self.field.to_owned()
    }

    fn value(&self) -> String {
        quote(self.raw)
    }

    fn empty(&self) -> EncodingError {
        EncodingError::Empty {
            field: self.field(),
            value: self.value(),
        }
    }

    fn negative(&self) -> EncodingError {
        EncodingError::Negative {
            field: self.field(),
            value: self.value(),
        }
    }

    fn signed(&self) -> EncodingError {
        EncodingError::Signed {
            field: self.field(),
            value: self.value(),
        }
    }

    fn leading_zero(&self) -> EncodingError {
        EncodingError::LeadingZero {
            field: self.field(),
            value: self.value(),
        }
    }

    fn too_wide(&self, bits: u32) -> EncodingError {
        EncodingError::TooWide {
            field: self.field(),
            value: self.value(),
            bits,
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` matches `digits[.digits]`, the only accepted decimal shape.
fn is_plain_decimal(s: &str) -> bool {
    match s.split_once('.') {
        Some((int, frac)) => is_digits(int) && is_digits(frac),
        None => is_digits(s),
    }
}

/// Parses the integer part shared by `uint` and `decimal` once the sign and
/// shape have been checked. More than 20 digits is at least 10^20 > 2^64.
fn parse_magnitude(err: Culprit<'_>, digits: &str, bits: u32) -> Result<u64, EncodingError> {
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(err.leading_zero());
    }
    if digits.len() > 20 {
        return Err(err.too_wide(bits));
    }
    digits.parse::<u64>().map_err(|_| err.too_wide(bits))
}

fn fits(v: u128, bits: u32) -> bool {
    v >> bits == 0
}

fn encode_uint(err: Culprit<'_>, bits: u32) -> Result<Fr, EncodingError> {
    let raw = err.raw;
    if raw.is_empty() {
        return Err(err.empty());
    }
    if let Some(rest) = raw.strip_prefix('-') {
        if is_digits(rest) {
            return Err(err.negative());
        }
    }
    if let Some(rest) = raw.strip_prefix('+') {
        if is_digits(rest) {
            return Err(err.signed());
        }
    }
    if !is_digits(raw) {
        return Err(EncodingError::NotAnInteger {
            field: err.field(),
            value: err.value(),
        });
    }
    let v = parse_magnitude(err, raw, bits)?;
    if !fits(u128::from(v), bits) {
        return Err(err.too_wide(bits));
    }
    Ok(Fr::from(v))
}

fn encode_date(err: Culprit<'_>) -> Result<Fr, EncodingError> {
    let invalid = || EncodingError::InvalidDate {
        field: err.field(),
        value: err.value(),
    };
    if err.raw.is_empty() {
        return Err(err.empty());
    }
    // Checked by hand because chrono's parser accepts signed and unpadded years.
    let b = err.raw.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0..4, 5..7, 8..10]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit));
    if !shape_ok {
        return Err(invalid());
    }
    let number = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if year == 0 {
        return Err(invalid());
    }
    let year = i32::try_from(year).map_err(|_| invalid())?;
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or_else(invalid)?;
    let days = u64::try_from(date.num_days_from_ce()).map_err(|_| invalid())?;
    Ok(Fr::from(days))
}

fn encode_bool(err: Culprit<'_>) -> Result<Fr, EncodingError> {
    match err.raw {
        "true" | "1" => Ok(Fr::from(1u64)),
        "false" | "0" => Ok(Fr::from(0u64)),
        "" => Err(err.empty()),
        _ => Err(EncodingError::InvalidBool {
            field: err.field(),
            value: err.value(),
        }),
    }
}

fn encode_enum(err: Culprit<'_>, variants: &[String]) -> Result<Fr, EncodingError> {
    if err.raw.is_empty() {
        return Err(err.empty());
    }
    match variants.iter().position(|v| v == err.raw) {
        Some(index) => Ok(Fr::from(index as u64)),
        None => Err(EncodingError::UnknownVariant {
            field: err.field(),
            value: err.value(),
            expected: variants.to_vec(),
        }),
    }
}

fn encode_decimal(err: Culprit<'_>, scale: u32, bits: u32) -> Result<Fr, EncodingError> {
    let raw = err.raw;
    if raw.is_empty() {
        return Err(err.empty());
    }
    if let Some(rest) = raw.strip_prefix('-') {
        if is_plain_decimal(rest) {
            return Err(err.negative());
        }
    }
    if let Some(rest) = raw.strip_prefix('+') {
        if is_plain_decimal(rest) {
            return Err(err.signed());
        }
    }
    if !is_plain_decimal(raw) {
        return Err(EncodingError::MalformedDecimal {
            field: err.field(),
            value: err.value(),
        });
    }
    let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let scale_len = scale as usize;
    // Trailing zeros past the scale change nothing (value × 10^scale is still
    // an integer), so "1.50" is accepted at scale 1; other digits would need
    // rounding, which the encoding never does.
    let (kept, dropped) = frac.split_at(frac.len().min(scale_len));
    if dropped.bytes().any(|d| d != b'0') {
        return Err(EncodingError::TooManyDecimalPlaces {
            field: err.field(),
            value: err.value(),
            scale,
        });
    }
    let int = parse_magnitude(err, int, bits)?;
    let kept_value = kept.bytes().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let pad = 10u64.pow((scale_len - kept.len()) as u32);
    // int < 2^64 and 10^scale ≤ 10^18 < 2^60, so the product fits in u128.
    let scaled =
        u128::from(int) * u128::from(10u64.pow(scale)) + u128::from(kept_value) * u128::from(pad);
    if !fits(scaled, bits) {
        return Err(err.too_wide(bits));
    }
    // fits(.., bits ≤ 64) guarantees the conversion succeeds.
    let scaled = u64::try_from(scaled).map_err(|_| err.too_wide(bits))?;
    Ok(Fr::from(scaled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_width_is_the_smallest_covering_power_of_two() {
        let widths: Vec<u32> = (1..=9)
            .map(|n| {
                FieldType::Enum {
                    variants: (0..n).map(|i| i.to_string()).collect(),
                }
                .bits()
            })
            .collect();
        assert_eq!(widths, [1, 1, 2, 2, 3, 3, 3, 3, 4]);
    }

    #[test]
    fn plain_decimal_shape() {
        for ok in ["0", "12", "12.5", "0.05"] {
            assert!(is_plain_decimal(ok), "{ok}");
        }
        for bad in ["", ".", ".5", "5.", "1e3", "1.2.3", "1,5", " 1"] {
            assert!(!is_plain_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn maximal_decimal_does_not_overflow() {
        let t = FieldType::Decimal {
            scale: MAX_DECIMAL_SCALE,
            bits: 64,
        };
        let huge = format!("{}.{}", u64::MAX, "9".repeat(18));
        assert!(matches!(
            t.encode("x", &huge),
            Err(EncodingError::TooWide { bits: 64, .. })
        ));
        assert_eq!(
            t.encode("x", "18.446744073709551615"),
            Ok(Fr::from(u64::MAX))
        );
    }
}
