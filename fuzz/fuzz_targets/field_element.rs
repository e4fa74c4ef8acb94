//! Field elements in canonical decimal: what parses writes back as the
//! same text (nothing is reduced mod r), and every canonical decimal of
//! at most 76 digits, all of which are below r, parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkgov_circuits::field::{parse_field_element, to_decimal};

fuzz_target!(|text: &str| {
    match parse_field_element(text) {
        Ok(x) => assert_eq!(to_decimal(&x), text),
        Err(_) => {
            let canonical = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && (text == "0" || !text.starts_with('0'));
            assert!(
                !canonical || text.len() > 76,
                "a canonical decimal below r was refused: {text}"
            );
        }
    }
});
