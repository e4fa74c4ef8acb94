//! The normative record encoding (docs/formats.md, "Record encoding"), rule by rule.
//!
//! Every rejection pins the exact variant, so a value refused for the wrong
//! reason fails the test.

use proptest::prelude::*;
use zkgov_circuits::encoding::{
    text_to_field, EncodingError, FieldType, FieldTypeError, DATE_BITS, TEXT_BITS,
};
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::Fr;

fn uint(bits: u32) -> FieldType {
    FieldType::Uint { bits }
}

fn decimal(scale: u32, bits: u32) -> FieldType {
    FieldType::Decimal { scale, bits }
}

fn usage() -> FieldType {
    FieldType::Enum {
        variants: ["residential", "commercial", "medical", "industrial"]
            .map(String::from)
            .to_vec(),
    }
}

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

// ---------------------------------------------------------------- uint

#[test]
fn uint_encodes_the_integer_itself() {
    assert_eq!(uint(32).encode("area_m2", "0"), Ok(fr(0)));
    assert_eq!(uint(32).encode("area_m2", "120"), Ok(fr(120)));
    assert_eq!(
        uint(32).encode("area_m2", "4294967295"),
        Ok(fr(u32::MAX.into()))
    );
    assert_eq!(uint(1).encode("flag", "1"), Ok(fr(1)));
    assert_eq!(
        uint(64).encode("n", "18446744073709551615"),
        Ok(fr(u64::MAX))
    );
}

#[test]
fn uint_boundaries_for_every_width() {
    for bits in 1..=64u32 {
        let max = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        assert_eq!(
            uint(bits).encode("n", &max.to_string()),
            Ok(fr(max)),
            "{bits}"
        );
        let over = (1u128 << bits).to_string();
        assert_eq!(
            uint(bits).encode("n", &over),
            Err(EncodingError::TooWide {
                field: "n".into(),
                value: over.clone(),
                bits
            }),
            "{bits}"
        );
    }
}

#[test]
fn uint_too_wide_message_names_field_value_and_width() {
    let err = uint(32).encode("area_m2", "4294967296").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"field "area_m2": value 4294967296 does not fit in 32 bits"#
    );
}

#[test]
fn uint_beyond_u64_is_too_wide_not_an_overflow() {
    for v in [
        "18446744073709551616",
        "99999999999999999999",
        &"9".repeat(500),
    ] {
        assert!(
            matches!(
                uint(64).encode("n", v),
                Err(EncodingError::TooWide { bits: 64, .. })
            ),
            "{v}"
        );
    }
}

#[test]
fn uint_rejects_negative_numbers() {
    for v in ["-5", "-0", "-18446744073709551616"] {
        let err = uint(32).encode("area_m2", v).unwrap_err();
        assert_eq!(
            err,
            EncodingError::Negative {
                field: "area_m2".into(),
                value: v.into()
            }
        );
    }
    assert_eq!(
        uint(32).encode("area_m2", "-5").unwrap_err().to_string(),
        r#"field "area_m2": value "-5" is negative"#
    );
}

#[test]
fn uint_rejects_a_plus_sign() {
    assert!(matches!(
        uint(32).encode("n", "+5"),
        Err(EncodingError::Signed { ref value, .. }) if value == "+5"
    ));
}

#[test]
fn uint_rejects_leading_zeros() {
    for v in ["00", "05", "0001"] {
        assert!(
            matches!(
                uint(32).encode("n", v),
                Err(EncodingError::LeadingZero { .. })
            ),
            "{v}"
        );
    }
}

#[test]
fn uint_rejects_non_digits() {
    for v in [
        " 5", "5 ", "5.0", "1e3", "0x10", "five", "--5", "-", "+", "1_000", "٥",
    ] {
        assert!(
            matches!(
                uint(32).encode("n", v),
                Err(EncodingError::NotAnInteger { .. })
            ),
            "{v}"
        );
    }
    assert!(matches!(
        uint(32).encode("n", ""),
        Err(EncodingError::Empty { .. })
    ));
}

// ---------------------------------------------------------------- date

#[test]
fn date_is_the_day_number_from_the_common_era() {
    let date = FieldType::Date;
    assert_eq!(date.encode("d", "0001-01-01"), Ok(fr(1)));
    assert_eq!(date.encode("d", "1970-01-01"), Ok(fr(719_163)));
    assert_eq!(date.encode("d", "2024-02-29"), Ok(fr(738_945)));
    assert_eq!(date.encode("d", "9999-12-31"), Ok(fr(3_652_059)));
}

#[test]
fn every_date_fits_in_date_bits() {
    assert_eq!(DATE_BITS, 22);
    assert_eq!(FieldType::Date.bits(), DATE_BITS);
    const { assert!(3_652_059u64 < 1 << DATE_BITS) };
    let last = FieldType::Date.encode("d", "9999-12-31").unwrap();
    assert!(last < fr(1 << DATE_BITS));
}

#[test]
fn leap_days_follow_the_gregorian_calendar() {
    let date = FieldType::Date;
    for ok in ["2024-02-29", "2000-02-29", "0004-02-29"] {
        assert!(date.encode("d", ok).is_ok(), "{ok}");
    }
    for bad in ["2023-02-29", "1900-02-29", "2100-02-29"] {
        assert!(
            matches!(
                date.encode("d", bad),
                Err(EncodingError::InvalidDate { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn impossible_and_malformed_dates_are_rejected() {
    let date = FieldType::Date;
    for bad in [
        "2025-02-30",
        "2025-04-31",
        "2025-13-01",
        "2025-00-10",
        "2025-01-00",
        "2025-01-32",
        "0000-01-01",
        "2025-1-01",
        "2025-01-1",
        "25-01-01",
        "+2025-01-01",
        "-2025-01-01",
        "12025-01-01",
        "2025/01/01",
        "2025-01-01 ",
        " 2025-01-01",
        "2025-01-01T00:00",
        "01-01-2025",
        "2025-٠1-01",
        "today",
    ] {
        assert!(
            matches!(
                date.encode("issued", bad),
                Err(EncodingError::InvalidDate { ref field, ref value }) if field == "issued" && value == bad
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        date.encode("issued", ""),
        Err(EncodingError::Empty { .. })
    ));
    assert_eq!(
        date.encode("issued", "2025-02-30").unwrap_err().to_string(),
        r#"field "issued": "2025-02-30" is not a valid date (YYYY-MM-DD)"#
    );
}

#[test]
fn date_decodes_back_to_iso() {
    let date = FieldType::Date;
    for d in [
        "0001-01-01",
        "0999-07-04",
        "1970-01-01",
        "2024-02-29",
        "9999-12-31",
    ] {
        let x = date.encode("d", d).unwrap();
        assert_eq!(date.decode(&x).as_deref(), Some(d));
    }
    assert_eq!(date.decode(&fr(0)), None);
    assert_eq!(date.decode(&fr(3_652_060)), None);
}

// ---------------------------------------------------------------- bool

#[test]
fn bool_is_zero_or_one() {
    let b = FieldType::Bool;
    assert_eq!(b.encode("encumbered", "false"), Ok(fr(0)));
    assert_eq!(b.encode("encumbered", "true"), Ok(fr(1)));
    assert_eq!(b.encode("encumbered", "0"), Ok(fr(0)));
    assert_eq!(b.encode("encumbered", "1"), Ok(fr(1)));
    assert_eq!(b.bits(), 1);
    assert_eq!(b.decode(&fr(0)).as_deref(), Some("false"));
    assert_eq!(b.decode(&fr(1)).as_deref(), Some("true"));
    assert_eq!(b.decode(&fr(2)), None);
}

#[test]
fn bool_rejects_anything_else() {
    for bad in ["True", "FALSE", "yes", "no", "2", "01", " true", "true "] {
        assert!(
            matches!(
                FieldType::Bool.encode("encumbered", bad),
                Err(EncodingError::InvalidBool { ref value, .. }) if value == bad
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        FieldType::Bool.encode("encumbered", ""),
        Err(EncodingError::Empty { .. })
    ));
}

// ---------------------------------------------------------------- enum

#[test]
fn enum_is_the_variant_index() {
    let t = usage();
    assert_eq!(t.encode("usage", "residential"), Ok(fr(0)));
    assert_eq!(t.encode("usage", "medical"), Ok(fr(2)));
    assert_eq!(t.encode("usage", "industrial"), Ok(fr(3)));
    assert_eq!(t.decode(&fr(2)).as_deref(), Some("medical"));
    assert_eq!(t.decode(&fr(4)), None);
    assert_eq!(t.bits(), 2);
}

#[test]
fn enum_match_is_exact_and_case_sensitive() {
    let t = usage();
    for bad in [
        "Medical", "MEDICAL", " medical", "medical ", "med", "2", "hospital",
    ] {
        assert!(
            matches!(
                t.encode("usage", bad),
                Err(EncodingError::UnknownVariant { ref value, ref expected, .. })
                    if value == bad && expected.len() == 4
            ),
            "{bad}"
        );
    }
    assert_eq!(
        t.encode("usage", "hospital").unwrap_err().to_string(),
        r#"field "usage": unknown variant "hospital" (expected one of residential, commercial, medical, industrial)"#
    );
}

#[test]
fn enum_width_covers_every_index() {
    let with = |n: usize| FieldType::Enum {
        variants: (0..n).map(|i| format!("v{i}")).collect(),
    };
    assert_eq!(with(1).bits(), 1);
    assert_eq!(with(2).bits(), 1);
    assert_eq!(with(3).bits(), 2);
    assert_eq!(with(4).bits(), 2);
    assert_eq!(with(5).bits(), 3);
    assert_eq!(with(256).bits(), 8);
    assert_eq!(with(257).bits(), 9);
}

// ---------------------------------------------------------------- text / id

/// Independently computed: `int.from_bytes(sha256(b"hello").digest()[:31], "big")`.
const HELLO: &str = "79413589009516425735881875984458315063673535229512653237262904385386810264";
/// Same for the empty string.
const EMPTY: &str = "402294282224820691521621923135083292147655861907023574192888269535608066744";
/// Same for `"hello "` (trailing space), which must differ from `"hello"`.
const HELLO_SPACE: &str =
    "166430157997714903545625560537234424215375894711428052579059696199098752964";
/// Same for the UTF-8 bytes of `"Ωmega"`.
const OMEGA: &str = "154979888875940049876438511928953423740697264032009427480637662180101804685";

#[test]
fn text_is_truncated_sha256_big_endian() {
    for (s, expected) in [
        ("hello", HELLO),
        ("", EMPTY),
        ("hello ", HELLO_SPACE),
        ("Ωmega", OMEGA),
    ] {
        assert_eq!(to_decimal(&text_to_field(s)), expected, "{s:?}");
        assert_eq!(FieldType::Text.encode("note", s), Ok(text_to_field(s)));
        assert_eq!(FieldType::Id.encode("subject", s), Ok(text_to_field(s)));
    }
}

#[test]
fn text_is_not_trimmed_or_normalised() {
    assert_ne!(text_to_field("hello"), text_to_field("hello "));
    assert_ne!(text_to_field("hello"), text_to_field("Hello"));
    // U+00E9 and e + U+0301 look the same but are different bytes.
    assert_ne!(text_to_field("\u{e9}"), text_to_field("e\u{301}"));
}

#[test]
fn text_cannot_be_decoded_and_is_unordered() {
    assert_eq!(FieldType::Text.decode(&text_to_field("hello")), None);
    assert_eq!(FieldType::Id.decode(&fr(1)), None);
    assert_eq!(FieldType::Text.bits(), TEXT_BITS);
    assert_eq!(FieldType::Id.bits(), 248);
}

// ---------------------------------------------------------------- decimal

#[test]
fn decimal_is_scaled_to_an_integer() {
    let fee = decimal(2, 32);
    assert_eq!(fee.encode("fee", "12.5"), Ok(fr(1250)));
    assert_eq!(fee.encode("fee", "12"), Ok(fr(1200)));
    assert_eq!(fee.encode("fee", "12.05"), Ok(fr(1205)));
    assert_eq!(fee.encode("fee", "0.01"), Ok(fr(1)));
    assert_eq!(fee.encode("fee", "0"), Ok(fr(0)));
    // Zeros past the scale change nothing, so no rounding is involved.
    assert_eq!(fee.encode("fee", "12.500"), Ok(fr(1250)));
    assert_eq!(decimal(0, 8).encode("n", "255"), Ok(fr(255)));
    assert_eq!(decimal(0, 8).encode("n", "7.0"), Ok(fr(7)));
    assert_eq!(decimal(18, 64).encode("n", "1"), Ok(fr(10u64.pow(18))));
}

#[test]
fn decimal_rejects_digits_beyond_the_scale() {
    let fee = decimal(2, 32);
    for bad in ["12.505", "1.005", "0.001", "1.0001"] {
        assert!(
            matches!(
                fee.encode("fee", bad),
                Err(EncodingError::TooManyDecimalPlaces { scale: 2, ref value, .. }) if value == bad
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        decimal(0, 8).encode("n", "1.5"),
        Err(EncodingError::TooManyDecimalPlaces { scale: 0, .. })
    ));
    assert_eq!(
        fee.encode("fee", "1.005").unwrap_err().to_string(),
        r#"field "fee": "1.005" has more than 2 decimal places"#
    );
}

#[test]
fn decimal_rejects_negative_signed_and_malformed() {
    let fee = decimal(2, 32);
    for neg in ["-1", "-0.5", "-12.50"] {
        assert!(
            matches!(fee.encode("fee", neg), Err(EncodingError::Negative { .. })),
            "{neg}"
        );
    }
    assert!(matches!(
        fee.encode("fee", "+1.5"),
        Err(EncodingError::Signed { .. })
    ));
    for bad in [
        "1e3", ".5", "5.", ".", "1.2.3", "1,5", " 1", "1 ", "abc", "-.5", "0x1", "--1",
    ] {
        assert!(
            matches!(
                fee.encode("fee", bad),
                Err(EncodingError::MalformedDecimal { .. })
            ),
            "{bad}"
        );
    }
    for lead in ["01", "00.5", "007"] {
        assert!(
            matches!(
                fee.encode("fee", lead),
                Err(EncodingError::LeadingZero { .. })
            ),
            "{lead}"
        );
    }
    assert!(matches!(
        fee.encode("fee", ""),
        Err(EncodingError::Empty { .. })
    ));
}

#[test]
fn decimal_scaled_value_must_fit_the_width() {
    // scale 2, 8 bits: the scaled value must be ≤ 255, i.e. ≤ 2.55.
    let small = decimal(2, 8);
    assert_eq!(small.encode("x", "2.55"), Ok(fr(255)));
    assert_eq!(
        small.encode("x", "2.56"),
        Err(EncodingError::TooWide {
            field: "x".into(),
            value: "2.56".into(),
            bits: 8
        })
    );
    assert!(matches!(
        small.encode("x", "100000000000000000000000"),
        Err(EncodingError::TooWide { bits: 8, .. })
    ));
}

#[test]
fn decimal_decodes_with_exactly_scale_places() {
    let fee = decimal(2, 32);
    assert_eq!(fee.decode(&fr(1250)).as_deref(), Some("12.50"));
    assert_eq!(fee.decode(&fr(1)).as_deref(), Some("0.01"));
    assert_eq!(fee.decode(&fr(0)).as_deref(), Some("0.00"));
    assert_eq!(decimal(0, 8).decode(&fr(7)).as_deref(), Some("7"));
    assert_eq!(decimal(0, 8).decode(&fr(256)), None);
}

// ---------------------------------------------------------------- type metadata

#[test]
fn names_and_order() {
    assert_eq!(uint(32).name(), "uint32");
    assert_eq!(FieldType::Date.name(), "date");
    assert_eq!(FieldType::Bool.name(), "bool");
    assert_eq!(usage().name(), "enum");
    assert_eq!(FieldType::Text.name(), "text");
    assert_eq!(FieldType::Id.name(), "id");
    assert_eq!(decimal(2, 32).name(), "decimal(2)");

    for ordered in [uint(32), FieldType::Date, decimal(2, 32)] {
        assert!(ordered.is_ordered(), "{ordered}");
    }
    for unordered in [FieldType::Bool, usage(), FieldType::Text, FieldType::Id] {
        assert!(!unordered.is_ordered(), "{unordered}");
    }
}

#[test]
fn valid_types_validate() {
    for t in [
        uint(1),
        uint(64),
        FieldType::Date,
        FieldType::Bool,
        usage(),
        FieldType::Text,
        FieldType::Id,
        decimal(0, 1),
        decimal(18, 64),
    ] {
        assert_eq!(t.validate(), Ok(()), "{t}");
    }
}

#[test]
fn invalid_types_are_rejected_with_the_reason() {
    assert_eq!(
        uint(0).validate(),
        Err(FieldTypeError::BitsOutOfRange {
            type_name: "uint0".into(),
            bits: 0
        })
    );
    assert!(matches!(
        uint(65).validate(),
        Err(FieldTypeError::BitsOutOfRange { bits: 65, .. })
    ));
    assert!(matches!(
        decimal(2, 0).validate(),
        Err(FieldTypeError::BitsOutOfRange { bits: 0, .. })
    ));
    assert!(matches!(
        decimal(2, 65).validate(),
        Err(FieldTypeError::BitsOutOfRange { bits: 65, .. })
    ));
    assert_eq!(
        decimal(19, 64).validate(),
        Err(FieldTypeError::ScaleTooLarge { scale: 19 })
    );
    assert_eq!(
        FieldType::Enum { variants: vec![] }.validate(),
        Err(FieldTypeError::EmptyEnum)
    );
    assert_eq!(
        FieldType::Enum {
            variants: vec!["a".into(), String::new()]
        }
        .validate(),
        Err(FieldTypeError::EmptyVariant { index: 1 })
    );
    assert_eq!(
        FieldType::Enum {
            variants: vec!["a".into(), "b".into(), "a".into()]
        }
        .validate(),
        Err(FieldTypeError::DuplicateVariant {
            variant: "a".into()
        })
    );
}

#[test]
fn an_invalid_type_refuses_to_encode_or_decode() {
    assert_eq!(
        uint(65).encode("n", "5"),
        Err(EncodingError::InvalidType {
            field: "n".into(),
            value: "5".into(),
            reason: FieldTypeError::BitsOutOfRange {
                type_name: "uint65".into(),
                bits: 65
            }
        })
    );
    assert!(matches!(
        decimal(19, 64).encode("fee", "1"),
        Err(EncodingError::InvalidType {
            reason: FieldTypeError::ScaleTooLarge { scale: 19 },
            ..
        })
    ));
    assert_eq!(uint(0).decode(&fr(0)), None);
}

#[test]
fn errors_quote_long_values_briefly() {
    let long = "x".repeat(100_000);
    let err = uint(32).encode("n", &long).unwrap_err();
    let EncodingError::NotAnInteger { value, .. } = &err else {
        panic!("expected NotAnInteger, got {err:?}");
    };
    assert!(value.len() < 200);
    assert!(err.to_string().len() < 300);
}

#[test]
fn encoded_values_are_canonical_field_elements() {
    for (t, raw) in [
        (uint(64), "18446744073709551615"),
        (FieldType::Date, "9999-12-31"),
        (FieldType::Text, "hello"),
    ] {
        let x = t.encode("f", raw).unwrap();
        assert_eq!(parse_field_element(&to_decimal(&x)), Ok(x));
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #[test]
    fn uint_round_trips(bits in 1u32..=64, v in any::<u64>()) {
        let v = if bits == 64 { v } else { v & ((1u64 << bits) - 1) };
        let t = uint(bits);
        let x = t.encode("n", &v.to_string()).unwrap();
        prop_assert_eq!(x, fr(v));
        prop_assert_eq!(t.decode(&x), Some(v.to_string()));
    }

    #[test]
    fn uint_rejects_every_value_at_or_above_two_to_the_bits(bits in 1u32..64, v in any::<u64>()) {
        prop_assume!(v >> bits != 0);
        let t = uint(bits);
        let rejected = matches!(
            t.encode("n", &v.to_string()),
            Err(EncodingError::TooWide { bits: b, .. }) if b == bits
        );
        prop_assert!(rejected);
        prop_assert_eq!(t.decode(&fr(v)), None);
    }

    #[test]
    fn date_round_trips(days in 1i32..=3_652_059) {
        let t = FieldType::Date;
        let iso = t.decode(&Fr::from(days as u64)).unwrap();
        prop_assert_eq!(t.encode("d", &iso), Ok(Fr::from(days as u64)));
    }

    #[test]
    fn decimal_round_trips(scale in 0u32..=18, v in any::<u64>()) {
        let t = decimal(scale, 64);
        let shown = t.decode(&fr(v)).unwrap();
        prop_assert_eq!(t.encode("x", &shown), Ok(fr(v)));
    }

    #[test]
    fn text_is_always_below_two_to_the_248(s in ".*") {
        let x = text_to_field(&s);
        let limbs = ark_ff::PrimeField::into_bigint(x);
        prop_assert_eq!(limbs.0[3] >> 56, 0);
    }
}
