//! zkgov and the real snarkjs 0.7.6 and circom 2 compiler, both ways: a
//! zkgov proof verifies with `snarkjs groth16 verify`, and a proof that
//! snarkjs makes for a circom circuit, after a (small) powers-of-tau
//! ceremony, verifies in zkgov. Tampered versions fail on both sides.

mod support;

use std::path::Path;
use std::process::Output;

use ark_bn254::{Bn254, Fr};
use ark_ec::CurveGroup;
use ark_ff::One;
use ark_groth16::{Groth16, Proof, VerifyingKey};
use ark_snark::SNARK;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use serde_json::Value;
use support::circuit::ProductAndSum;
use zkgov_keys::snarkjs;

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs an npm tool and requires it to succeed.
fn run(tool: &str, args: &[&str], cwd: &Path) -> Output {
    let out = support::run_node_bin(tool, args, cwd);
    assert!(
        out.status.success(),
        "{tool} {}: {}",
        args.join(" "),
        show(&out)
    );
    out
}

fn snarkjs_verify(dir: &Path) -> Output {
    support::run_node_bin(
        "snarkjs",
        &["groth16", "verify", "vk.json", "public.json", "proof.json"],
        dir,
    )
}

#[test]
fn a_zkgov_proof_verifies_with_snarkjs() {
    let mut rng = StdRng::seed_from_u64(7);
    let (pk, vk) =
        Groth16::<Bn254>::circuit_specific_setup(ProductAndSum { x: None, y: None }, &mut rng)
            .unwrap();
    let (x, y) = (Fr::from(6u64), Fr::from(7u64));
    let proof = Groth16::<Bn254>::prove(
        &pk,
        ProductAndSum {
            x: Some(x),
            y: Some(y),
        },
        &mut rng,
    )
    .unwrap();
    let public = [x * y, x + y];

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_json(&dir.join("vk.json"), &snarkjs::verifying_key_to_json(&vk));
    write_json(&dir.join("proof.json"), &snarkjs::proof_to_json(&proof));
    write_json(
        &dir.join("public.json"),
        &snarkjs::public_signals_to_json(&public),
    );

    let out = snarkjs_verify(dir);
    assert!(
        out.status.success(),
        "snarkjs refused a zkgov proof: {}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK!"),
        "{}",
        show(&out)
    );

    // snarkjs reports a failed check as "Invalid proof" on stdout and exit
    // code 1.
    for i in 0..public.len() {
        let mut changed = public;
        changed[i] += Fr::one();
        write_json(
            &dir.join("public.json"),
            &snarkjs::public_signals_to_json(&changed),
        );
        let out = snarkjs_verify(dir);
        assert_eq!(
            out.status.code(),
            Some(1),
            "snarkjs accepted public[{i}] changed: {}",
            show(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Invalid proof"),
            "{}",
            show(&out)
        );
        assert!(!snarkjs::verify(&vk, &proof, &changed).unwrap());
    }
}

/// Everything `a_snarkjs_proof_verifies_in_zkgov` gets from snarkjs.
struct SnarkjsRun {
    vk_json: String,
    proof_json: String,
    public_json: String,
}

/// Compiles `multiplier.circom`, runs a 2^8 powers-of-tau ceremony and a
/// phase-2 contribution, and proves `a = 3, b = 11`, all in `dir`.
fn snarkjs_run(dir: &Path) -> SnarkjsRun {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snarkjs/multiplier.circom");
    std::fs::copy(&source, dir.join("multiplier.circom")).unwrap();
    run(
        "circom2",
        &["multiplier.circom", "--r1cs", "--wasm", "-o", "."],
        dir,
    );

    for args in [
        &["powersoftau", "new", "bn128", "8", "pot_0.ptau"][..],
        &[
            "powersoftau",
            "contribute",
            "pot_0.ptau",
            "pot_1.ptau",
            "--name=first",
            "-e=zkgov interop entropy one",
        ],
        &[
            "powersoftau",
            "prepare",
            "phase2",
            "pot_1.ptau",
            "pot_final.ptau",
        ],
        &[
            "groth16",
            "setup",
            "multiplier.r1cs",
            "pot_final.ptau",
            "multiplier_0.zkey",
        ],
        &[
            "zkey",
            "contribute",
            "multiplier_0.zkey",
            "multiplier_1.zkey",
            "--name=second",
            "-e=zkgov interop entropy two",
        ],
        &[
            "zkey",
            "export",
            "verificationkey",
            "multiplier_1.zkey",
            "vk.json",
        ],
    ] {
        run("snarkjs", args, dir);
    }

    std::fs::write(dir.join("input.json"), r#"{"a": "3", "b": "11"}"#).unwrap();
    run(
        "snarkjs",
        &[
            "wtns",
            "calculate",
            "multiplier_js/multiplier.wasm",
            "input.json",
            "witness.wtns",
        ],
        dir,
    );
    run(
        "snarkjs",
        &[
            "groth16",
            "prove",
            "multiplier_1.zkey",
            "witness.wtns",
            "proof.json",
            "public.json",
        ],
        dir,
    );
    let out = snarkjs_verify(dir);
    assert!(
        out.status.success(),
        "snarkjs refused its own proof: {}",
        show(&out)
    );

    SnarkjsRun {
        vk_json: read(&dir.join("vk.json")),
        proof_json: read(&dir.join("proof.json")),
        public_json: read(&dir.join("public.json")),
    }
}

#[test]
fn a_snarkjs_proof_verifies_in_zkgov() {
    let tmp = tempfile::tempdir().unwrap();
    let made = snarkjs_run(tmp.path());
    if std::env::var_os("ZKGOV_REGENERATE_SNARKJS_DATA").is_some_and(|v| v == "1") {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snarkjs");
        std::fs::write(data.join("multiplier_vk.json"), &made.vk_json).unwrap();
        std::fs::write(data.join("multiplier_proof.json"), &made.proof_json).unwrap();
        std::fs::write(data.join("multiplier_public.json"), &made.public_json).unwrap();
    }

    let vk: VerifyingKey<Bn254> = snarkjs::verifying_key_from_json(&made.vk_json).unwrap();
    let proof: Proof<Bn254> = snarkjs::proof_from_json(&made.proof_json).unwrap();
    let public = snarkjs::public_signals_from_json(&made.public_json).unwrap();
    // Outputs first, then public inputs: [c, b] with c = 3^8 · 11.
    assert_eq!(public, [Fr::from(72171u64), Fr::from(11u64)]);
    assert!(snarkjs::verify(&vk, &proof, &public).unwrap());

    // Our export of the parsed key is what snarkjs exported, alphabeta and
    // all; likewise for the proof.
    let written: Value = serde_json::from_str(&made.vk_json).unwrap();
    assert_eq!(snarkjs::verifying_key_to_json(&vk), written);
    let written: Value = serde_json::from_str(&made.proof_json).unwrap();
    assert_eq!(snarkjs::proof_to_json(&proof), written);

    // Tampering yields a proof that parses (every point is still valid) and
    // does not verify.
    let changed = [public[0] + Fr::one(), public[1]];
    assert!(!snarkjs::verify(&vk, &proof, &changed).unwrap());
    let doubled = Proof {
        a: (proof.a + proof.a).into_affine(),
        ..proof.clone()
    };
    let doubled = snarkjs::proof_from_json(&snarkjs::proof_to_json(&doubled).to_string()).unwrap();
    assert!(!snarkjs::verify(&vk, &doubled, &public).unwrap());
    let swapped = Proof {
        a: proof.c,
        c: proof.a,
        ..proof.clone()
    };
    assert!(!snarkjs::verify(&vk, &swapped, &public).unwrap());
    let negated_b = Proof {
        b: -proof.b,
        ..proof
    };
    assert!(!snarkjs::verify(&vk, &negated_b, &public).unwrap());
}
