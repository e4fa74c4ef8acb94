//! Log entries and JSON: an entry parses only from its canonical bytes;
//! the strict reader accepts a subset of what serde_json accepts, and
//! canonical JSON reads back as the same value and is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zkgov_log::{canonical_json, entry::Entry, json};

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::from_bytes(data) {
        assert_eq!(entry.to_bytes(), data);
        assert!(
            json::from_slice::<Value>(data).is_ok(),
            "canonical bytes read strictly"
        );
    }
    if let Ok(value) = json::from_slice::<Value>(data) {
        assert!(serde_json::from_slice::<Value>(data).is_ok());
        let canonical = canonical_json(&value);
        let again: Value = json::from_slice(canonical.as_bytes()).expect("canonical JSON reads");
        assert_eq!(again, value);
        assert_eq!(canonical_json(&again), canonical);
    }
});
