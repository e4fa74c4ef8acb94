//! snarkjs proof, public-signal and verifying-key JSON: parsing never
//! panics, whatever parses writes back as JSON that parses to the same
//! value, and a parsed proof is checked against a real key without panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkgov_keys::snarkjs::{
    proof_from_json, proof_to_json, public_signals_from_json, public_signals_to_json, verify,
    verifying_key_from_json, verifying_key_to_json,
};

const VK: &str = include_str!("../../keys/tests/data/snarkjs/multiplier_vk.json");

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(proof) = proof_from_json(text) {
                let again = proof_from_json(&proof_to_json(&proof).to_string());
                assert_eq!(again.ok(), Some(proof));
            }
        }
        1 => {
            if let Ok(public) = public_signals_from_json(text) {
                let again = public_signals_from_json(&public_signals_to_json(&public).to_string());
                assert_eq!(again.ok(), Some(public));
            }
        }
        2 => {
            if let Ok(vk) = verifying_key_from_json(text) {
                let again = verifying_key_from_json(&verifying_key_to_json(&vk).to_string());
                assert_eq!(again.ok(), Some(vk));
            }
        }
        _ => {
            // A proof, a newline, then its public signals.
            let (proof, public) = text.split_once('\n').unwrap_or((text, "[\"33\"]"));
            let vk = verifying_key_from_json(VK).expect("the multiplier key parses");
            if let (Ok(proof), Ok(public)) =
                (proof_from_json(proof), public_signals_from_json(public))
            {
                let _ = verify(&vk, &proof, &public);
            }
        }
    }
});
