//! Schema, policy and procedure TOML: parsing never panics. Policies are
//! read against each of the shipped schemas.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_fuzz::schemas;
use zkgov_log::procedure::Procedure;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match selector % 3 {
        0 => {
            let _ = Schema::from_toml("fuzz", text);
        }
        1 => {
            for schema in schemas() {
                let _ = Policy::from_toml("fuzz", text, schema);
            }
        }
        _ => {
            let _ = Procedure::from_toml(text);
        }
    }
});
