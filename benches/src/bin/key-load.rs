//! Sets up the reference key (`medical-premises`, arity 4, depth 10), then
//! measures loading it: opening the verified key directory and reading the
//! proving key, whose points are not re-validated because their bytes'
//! hash was just checked, against a plain validated deserialization of the
//! same proving key in the same run.
//!
//! `cargo run --release -p zkgov-benches --bin key-load`

use std::time::{Duration, Instant};

use ark_bn254::Bn254;
use ark_groth16::ProvingKey;
use ark_serialize::{CanonicalDeserialize, Compress, Validate};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::TreeShape;
use zkgov_keys::store::{setup, KeyDir, PROVING_KEY};

const SCHEMA: &str = include_str!("../../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../../policies/medical-premises.toml");

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn main() {
    let schema = Schema::from_toml("real-estate.toml", SCHEMA).expect("reference schema");
    let policy =
        Policy::from_toml("medical-premises.toml", POLICY, &schema).expect("reference policy");
    let shape = TreeShape::new(4, 10).expect("reference shape");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("keys");

    let started = Instant::now();
    let keys = setup(
        &schema,
        &policy,
        shape,
        SCHEMA,
        POLICY,
        &mut rand::rngs::OsRng,
    )
    .expect("setup");
    keys.write(&dir).expect("write");
    let setup_time = started.elapsed();

    let verified = best_of(5, || {
        let keys = KeyDir::open(&dir).expect("open");
        keys.check_circuit(&schema, &policy, shape)
            .expect("circuit");
        keys.proving_key().expect("proving key")
    });
    let open_only = best_of(5, || {
        KeyDir::open(&dir)
            .expect("open")
            .proving_key()
            .expect("proving key")
    });
    let bytes = std::fs::read(dir.join(PROVING_KEY)).expect("proving key file");
    let validated = best_of(5, || {
        ProvingKey::<Bn254>::deserialize_with_mode(&bytes[..], Compress::No, Validate::Yes)
            .expect("valid key")
    });

    println!(
        "reference key: medical-premises, arity 4, depth 10 ({} constraints)",
        keys.metadata.constraints
    );
    println!("setup and write: {:.2} s", setup_time.as_secs_f64());
    println!();
    println!("| file | bytes |");
    println!("|---|---|");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("key dir")
        .map(|e| e.expect("entry"))
        .collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        println!(
            "| {} | {} |",
            entry.file_name().to_string_lossy(),
            entry.metadata().expect("size").len()
        );
    }
    println!();
    println!("| load (best of 5) | time | vs validated deserialization |");
    println!("|---|---|---|");
    for (what, t) in [
        (
            "validated deserialization of proving_key.bin (baseline)",
            validated,
        ),
        ("KeyDir::open + proving_key (hashes checked)", open_only),
        ("… + check_circuit (policy hash, R1CS digest)", verified),
    ] {
        println!(
            "| {what} | {:.1} ms | {:.2}× faster |",
            t.as_secs_f64() * 1e3,
            validated.as_secs_f64() / t.as_secs_f64()
        );
    }
}
