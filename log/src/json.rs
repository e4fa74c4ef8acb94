//! Strict JSON for documents from strangers: request bodies above all.
//!
//! `serde_json` is lenient where a verifier must not be: of two equal keys
//! in one object the last wins, so a reader that keeps the first sees
//! another document than the one checked (a parser differential); a
//! struct also deserializes from an array of its fields in order; and a
//! string that the target type ignores is skipped without its UTF-8 being
//! checked. [`from_slice`] refuses all three before the document reaches
//! its type: the bytes must be UTF-8, the top level an object, and no
//! object, at any depth, may repeat a key. It also refuses `null` at any
//! depth: no request body has a field that may be null (an optional field
//! is left out), and a reader that took `null` for "absent" would accept
//! a document its schema calls invalid.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictJsonError {
    /// The bytes are not UTF-8.
    #[error("the body is not UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// The offset of the first invalid byte.
        offset: usize,
    },
    /// The top level is not a JSON object.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// An object repeats a key.
    #[error("duplicate key {key:?} in {path}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Where the object is: `the body`, or `the body.proof.pi_a[0]`.
        path: String,
    },
    /// A value is `null`.
    #[error("null at {path}: leave an optional field out instead")]
    Null {
        /// Where: `the body.signature`.
        path: String,
    },
    /// The document is not JSON, or not what its type expects.
    #[error("{0}")]
    Invalid(String),
}

/// Parses `bytes` as a `T`, refusing what [this module](self) refuses
/// before `T` sees it.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StrictJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| StrictJsonError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if !text.trim_start().starts_with('{') {
        return Err(StrictJsonError::NotAnObject);
    }
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let checked = Unique {
        path: "the body".to_string(),
        found: &mut found,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    if let Some(refused) = found {
        return Err(refused);
    }
    checked.map_err(|e| StrictJsonError::Invalid(e.to_string()))?;
    serde_json::from_str(text).map_err(|e| StrictJsonError::Invalid(e.to_string()))
}

/// Walks one JSON value and fails at the first object that repeats a key,
/// or the first `null`, recording which in `found`.
struct Unique<'a> {
    path: String,
    found: &'a mut Option<StrictJsonError>,
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        let error = E::custom("null");
        *self.found = Some(StrictJsonError::Null { path: self.path });
        Err(error)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let element = Unique {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let error = A::Error::custom(format!("duplicate key {key:?}"));
                *self.found = Some(StrictJsonError::DuplicateKey {
                    key,
                    path: self.path,
                });
                return Err(error);
            }
            map.next_value_seed(Unique {
                path: format!("{}.{key}", self.path),
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Decision {
        decision: String,
        results: Vec<u64>,
        note: String,
    }

    #[test]
    fn a_well_formed_object_parses_as_its_type() {
        let parsed: Decision =
            from_slice(br#" {"decision": "approved", "results": [2], "note": "ok"}"#).unwrap();
        assert_eq!(
            parsed,
            Decision {
                decision: "approved".into(),
                results: vec![2],
                note: "ok".into()
            }
        );
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_named_with_its_place() {
        let top = from_slice::<Value>(br#"{"a": 1, "a": 2}"#).unwrap_err();
        assert_eq!(
            top,
            StrictJsonError::DuplicateKey {
                key: "a".into(),
                path: "the body".into()
            }
        );
        let deep = from_slice::<Value>(
            br#"{"proof": {"pi_a": ["1"], "pi_b": [[{"x": 1, "x": 1}]], "pi_a": ["2"]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            deep.to_string(),
            r#"duplicate key "x" in the body.proof.pi_b[0][0]"#
        );
        // Equal keys in different objects are fine.
        from_slice::<Value>(br#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#).unwrap();
    }

    #[test]
    fn an_array_in_place_of_the_object_is_refused() {
        // serde would fill the struct from the array's elements in order.
        assert!(serde_json::from_slice::<Decision>(br#"["approved", [2], "probe"]"#).is_ok());
        assert_eq!(
            from_slice::<Decision>(br#"["approved", [2], "probe"]"#).unwrap_err(),
            StrictJsonError::NotAnObject
        );
        for other in [&b"\"text\""[..], b"1", b"null", b"", b"  "] {
            assert_eq!(
                from_slice::<Value>(other).unwrap_err(),
                StrictJsonError::NotAnObject
            );
        }
    }

    #[test]
    fn null_is_refused_at_any_depth_even_for_an_optional_field() {
        #[derive(Debug, Deserialize)]
        struct Root {
            #[allow(dead_code)]
            signature: Option<Value>,
        }
        // serde reads null as an absent optional field.
        assert!(serde_json::from_slice::<Root>(br#"{"signature": null}"#).is_ok());
        assert_eq!(
            from_slice::<Root>(br#"{"signature": null}"#).unwrap_err(),
            StrictJsonError::Null {
                path: "the body.signature".into()
            }
        );
        assert_eq!(
            from_slice::<Value>(br#"{"results": [1, null]}"#)
                .unwrap_err()
                .to_string(),
            "null at the body.results[1]: leave an optional field out instead"
        );
        from_slice::<Root>(b"{}").unwrap();
    }

    #[test]
    fn invalid_utf8_is_refused_even_where_the_type_ignores_it() {
        #[derive(Debug, Deserialize)]
        struct Only {
            #[allow(dead_code)]
            a: u64,
        }
        let body = b"{\"a\": 1, \"ignored\": \"\xff\xfe\"}";
        // serde skips the ignored string without checking it.
        assert!(serde_json::from_slice::<Only>(body).is_ok());
        assert_eq!(
            from_slice::<Only>(body).unwrap_err(),
            StrictJsonError::NotUtf8 { offset: 21 }
        );
    }

    #[test]
    fn a_long_decimal_reads_as_the_nearest_double() {
        // Found by fuzz/fuzz_targets/log_entry.rs: without correct rounding
        // the shortest form of this number, `1.0100000000000213`, read back
        // as the neighbouring double 1.010000000000021.
        let text = br#"{"": 1.0100000000000212200e00000000000000000000000000}"#;
        let value: Value = from_slice(text).unwrap();
        assert_eq!(value[""].as_f64(), Some(1.0100000000000213));
        let canonical = crate::canonical_json(&value);
        assert_eq!(from_slice::<Value>(canonical.as_bytes()).unwrap(), value);
    }

    #[test]
    fn trailing_data_and_type_errors_are_invalid() {
        assert!(matches!(
            from_slice::<Value>(br#"{"a": 1} {"b": 2}"#),
            Err(StrictJsonError::Invalid(_))
        ));
        assert!(matches!(
            from_slice::<Decision>(br#"{"decision": 1}"#),
            Err(StrictJsonError::Invalid(_))
        ));
    }
}
