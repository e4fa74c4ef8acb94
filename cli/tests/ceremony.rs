//! A phase-2 ceremony for a zkgov policy, with both tools, imported into
//! zkgov: the policy's circuit exported as `.r1cs`, `snarkjs groth16 setup`
//! on it with a power-12 ptau (and zkgov's `ceremony new`, byte for byte the
//! same), contributions by zkgov, snarkjs and zkgov, zkgov's beacon, each
//! key verified by `snarkjs zkey verify` and `zkgov ceremony verify`, then
//! `zkgov keys import`. The imported key proves with zkgov, and the proof verifies
//! with `snarkjs groth16 verify`, with `zkgov verify` and in the service.
//! A key with no contribution, a key for another circuit and a tampered
//! contribution are refused, by zkgov and by snarkjs.

mod support;

use std::path::Path;

use support::node::{printed_hashes, ptau, snarkjs};
use support::serve::Server;
use support::{ok, prove_one_case, stderr, stdout, zkgov_in};
use zkgov_verifier::test_utils::{ConfigFile, Department, ADMIN, LAND, ORIGIN};

const SCHEMA: &str = "../schemas/real-estate.toml";
const POLICY: &str = "../policies/medical-premises.toml";
const RECORDS: &str = "../prover/tests/data/real-estate.csv";
const BEACON: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn manifest(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(file)
        .display()
        .to_string()
}

/// `zkgov keys import` of `zkey` at `depth` into `out`, with `more`
/// arguments.
fn import(dir: &Path, zkey: &str, depth: &str, out: &str, more: &[&str]) -> std::process::Output {
    zkgov_in(dir)
        .args(["keys", "import", "--zkey", zkey])
        .args(["--depth", depth, "--out", out])
        .args(more)
        .args(circuit())
        .output()
        .unwrap()
}

/// The policy's schema and policy arguments.
fn circuit() -> [String; 4] {
    [
        "--schema".into(),
        manifest(SCHEMA),
        "--policy".into(),
        manifest(POLICY),
    ]
}

/// `zkgov ceremony verify` of `zkey`, for the depth-2 circuit.
fn ceremony_verify(dir: &Path, ptau: &str, zkey: &str) -> std::process::Output {
    zkgov_in(dir)
        .args([
            "ceremony", "verify", "--ptau", ptau, "--zkey", zkey, "--depth", "2",
        ])
        .args(circuit())
        .output()
        .unwrap()
}

/// The byte offset of section `id`'s content in a bin file.
fn section_start(bytes: &[u8], id: u32) -> usize {
    let mut at = 12;
    loop {
        let found = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let length = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
        if found == id {
            return at + 12;
        }
        at += 12 + length;
    }
}

#[test]
fn a_snarkjs_ceremony_key_imports_and_proves_for_every_verifier() {
    let ptau = ptau(Path::new(env!("CARGO_TARGET_TMPDIR")), 12);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ptau = ptau.display().to_string();

    // The policy's circuit, from a key directory of the same shape.
    ok(zkgov_in(dir)
        .args(["keys", "setup", "--schema", &manifest(SCHEMA)])
        .args([
            "--policy",
            &manifest(POLICY),
            "--depth",
            "2",
            "--out",
            "single",
        ])
        .output()
        .unwrap());
    ok(zkgov_in(dir)
        .args([
            "keys",
            "export",
            "single",
            "--format",
            "r1cs",
            "--out",
            "circuit.r1cs",
        ])
        .output()
        .unwrap());

    // The ceremony: zkgov, snarkjs, zkgov, then zkgov's beacon. Every
    // contribution hash, as the tool that made it printed it.
    snarkjs(
        &["groth16", "setup", "circuit.r1cs", &ptau, "0000.zkey"],
        dir,
    );
    // zkgov makes the same initial key, byte for byte.
    let made = ok(zkgov_in(dir)
        .args([
            "ceremony",
            "new",
            "--ptau",
            &ptau,
            "--depth",
            "2",
            "--out",
            "ours.zkey",
        ])
        .args(circuit())
        .output()
        .unwrap());
    assert!(
        stdout(&made).starts_with("Circuit Hash:"),
        "{}",
        stdout(&made)
    );
    assert!(
        std::fs::read(dir.join("ours.zkey")).unwrap()
            == std::fs::read(dir.join("0000.zkey")).unwrap(),
        "zkgov's initial key differs from snarkjs's"
    );
    let zkgov_contributes = |input: &str, output: &str, name: &str| {
        stdout(&ok(zkgov_in(dir)
            .args(["ceremony", "contribute", input, output, "--name", name])
            .output()
            .unwrap()))
    };
    let mut hashes = printed_hashes(
        &zkgov_contributes("0000.zkey", "0001.zkey", "land registry"),
        "Contribution Hash:",
    );
    hashes.extend(printed_hashes(
        &snarkjs(
            &[
                "zkey",
                "contribute",
                "0001.zkey",
                "0002.zkey",
                "--name=market bureau",
                "-e=market bureau entropy",
            ],
            dir,
        ),
        "Contribution Hash:",
    ));
    hashes.extend(printed_hashes(
        &zkgov_contributes("0002.zkey", "0003.zkey", "health"),
        "Contribution Hash:",
    ));
    hashes.extend(printed_hashes(
        &stdout(&ok(zkgov_in(dir)
            .args([
                "ceremony",
                "beacon",
                "0003.zkey",
                "final.zkey",
                "--hash",
                BEACON,
            ])
            .args(["--iterations-exp", "10", "--name", "final beacon"])
            .output()
            .unwrap())),
        "Contribution Hash:",
    ));
    assert_eq!(hashes.len(), 4, "{hashes:?}");
    // snarkjs accepts every key of the ceremony, and so does zkgov.
    for (i, zkey) in ["0001.zkey", "0002.zkey", "0003.zkey", "final.zkey"]
        .into_iter()
        .enumerate()
    {
        let verified = snarkjs(&["zkey", "verify", "circuit.r1cs", &ptau, zkey], dir);
        assert!(verified.contains("ZKey Ok!"), "{zkey}: {verified}");
        for hash in &hashes[..=i] {
            let printed: String = verified.split_whitespace().collect();
            assert!(
                printed.contains(hash.as_str()),
                "{zkey}: no {hash} in {verified}"
            );
        }
        let ours = stdout(&ok(ceremony_verify(dir, &ptau, zkey)));
        assert!(ours.ends_with("ZKey Ok!\n"), "{zkey}: {ours}");
        let ours: String = ours.split_whitespace().collect();
        for hash in &hashes[..=i] {
            assert!(ours.contains(hash.as_str()), "{zkey}: no {hash} in zkgov's");
        }
        let unchecked = stdout(&ok(import(dir, zkey, "2", &format!("imported-{i}"), &[])));
        assert!(
            unchecked.contains("setup   unverified ceremony ("),
            "{unchecked}"
        );
    }

    // The import records the ceremony as snarkjs printed it.
    let imported = ok(import(
        dir,
        "final.zkey",
        "2",
        "imported",
        &["--ptau", &ptau],
    ));
    let printed = stdout(&imported);
    assert!(
        printed.contains("setup   multi-party (4 contributions, beacon)\n"),
        "{printed}"
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("imported/metadata.json")).unwrap())
            .unwrap();
    let ceremony = &metadata["ceremony"];
    let recorded: Vec<&str> = ceremony["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, hashes);
    assert_eq!(
        ceremony["contributions"][0]["name"], "land registry",
        "{ceremony}"
    );
    assert_eq!(ceremony["contributions"][3]["beacon"], true);
    assert_eq!(ceremony["contributions"][1]["name"], "market bureau");
    let file = std::fs::read(dir.join("final.zkey")).unwrap();
    let b2sum = |bytes: &[u8]| hex::encode(<blake2::Blake2b512 as blake2::Digest>::digest(bytes));
    assert_eq!(ceremony["zkey_blake2b"], b2sum(&file));
    assert_eq!(
        ceremony["ptau_blake2b"],
        b2sum(&std::fs::read(&ptau).unwrap())
    );
    // `keys inspect` prints every contribution as snarkjs does, newest
    // first, and the verifying key is the one snarkjs exports.
    let inspected = stdout(&ok(zkgov_in(dir)
        .args(["keys", "inspect", "imported"])
        .output()
        .unwrap()));
    let beacon_at = inspected
        .find("contribution #4 final beacon (beacon):")
        .unwrap();
    let first_at = inspected.find("contribution #1 land registry:").unwrap();
    assert!(beacon_at < first_at, "{inspected}");
    assert!(inspected.contains(&hashes[0][..8]), "{inspected}");
    snarkjs(
        &["zkey", "export", "verificationkey", "final.zkey", "vk.json"],
        dir,
    );
    let theirs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("vk.json")).unwrap()).unwrap();
    let ours: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("imported/verification_key.json")).unwrap())
            .unwrap();
    assert_eq!(ours, theirs);

    // A zkgov proof with the imported key verifies with zkgov and snarkjs.
    ok(zkgov_in(dir)
        .args(["registry", "build", "--schema", &manifest(SCHEMA)])
        .args([
            "--records",
            &manifest(RECORDS),
            "--depth",
            "2",
            "--out",
            "registry",
        ])
        .output()
        .unwrap());
    prove_one_case(dir, "imported", "registry");
    let valid = ok(zkgov_in(dir)
        .args(["verify", "--keys", "imported", "--line", "proofs.jsonl"])
        .output()
        .unwrap());
    assert_eq!(stdout(&valid).trim(), "valid");
    let line: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("proofs.jsonl")).unwrap()).unwrap();
    assert_eq!(line["status"], "proven", "{line}");
    std::fs::write(dir.join("proof.json"), line["proof"].to_string()).unwrap();
    std::fs::write(dir.join("public.json"), line["public_inputs"].to_string()).unwrap();
    let accepted = snarkjs(
        &["groth16", "verify", "vk.json", "public.json", "proof.json"],
        dir,
    );
    assert!(accepted.contains("OK!"), "{accepted}");

    // And in the service, which holds the imported key.
    ConfigFile::new("data")
        .setting("origin", ORIGIN)
        .admin(ADMIN)
        .department(Department::new("land-registry", LAND).registries(&["real-estate"]))
        .key("imported", "real-estate")
        .write(dir.join("verifier.toml"));
    let server = Server::start(&dir.join("verifier.toml"), &dir.join("serve.log"));
    ok(zkgov_in(dir)
        .args(["root", "publish", "registry", "--registry", "real-estate"])
        .args(["--server", &server.url, "--token", LAND])
        .output()
        .unwrap());
    let submitted = ok(zkgov_in(dir)
        .args([
            "submit",
            "proofs.jsonl",
            "--server",
            &server.url,
            "--token",
            LAND,
        ])
        .output()
        .unwrap());
    assert!(
        stderr(&submitted).contains("1 accepted"),
        "{}",
        stderr(&submitted)
    );
    server.stop();

    // Refusals. A key with no contribution: its δ is 1.
    let refused = import(dir, "0000.zkey", "2", "uncontributed", &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("0000.zkey: it has no contribution, so its δ is 1"),
        "{}",
        stderr(&refused)
    );
    // A key for another circuit: the depth-3 tree's.
    let refused = import(dir, "final.zkey", "3", "other", &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("final.zkey: the .zkey is not for this circuit"),
        "{}",
        stderr(&refused)
    );
    // Tampered keys, each refused by both tools, with what is wrong named:
    // the first contribution's transcript, one bit; and a coefficient of A,
    // still a field element, plus one.
    let mut transcript = file.clone();
    transcript[section_start(&file, 10) + 64 + 4 + 3 * 64 + 128] ^= 1;
    let mut coefficient = file.clone();
    coefficient[section_start(&file, 4) + 4 + 12] ^= 1;
    // And two points of H swapped: still points, still the contributions'
    // δ, but no longer the ptau's.
    let mut h = file.clone();
    let at = section_start(&file, 9);
    let (first, second) = (file[at..at + 64].to_vec(), file[at + 64..at + 128].to_vec());
    h[at..at + 64].copy_from_slice(&second);
    h[at + 64..at + 128].copy_from_slice(&first);
    for (name, bytes, ours, theirs) in [
        (
            "h",
            h,
            "section 9: is not the initial key's, from the powers of tau and the circuit, divided by δ",
            "H section does not match",
        ),
        (
            "transcript",
            transcript,
            "contribution 1 (land registry): its transcript is not the hash of the ones before it",
            "INVALID(0): Inconsistent transcript",
        ),
        (
            "coefficient",
            coefficient,
            "the .zkey is not for this circuit: coefficient 0 is",
            "Coeffs section is not identical",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.zkey")), &bytes).unwrap();
        let refused = import(dir, &format!("{name}.zkey"), "2", name, &["--ptau", &ptau]);
        assert_eq!(refused.status.code(), Some(2), "{name}");
        assert!(stderr(&refused).contains(ours), "{name}: {}", stderr(&refused));
        let verified = ceremony_verify(dir, &ptau, &format!("{name}.zkey"));
        assert_eq!(verified.status.code(), Some(1), "{name}: {}", stderr(&verified));
        assert!(stderr(&verified).contains(ours), "{name}: {}", stderr(&verified));
        let verified = support::node::run_node_bin(
            "snarkjs",
            &[
                "zkey",
                "verify",
                "circuit.r1cs",
                &ptau,
                &format!("{name}.zkey"),
            ],
            dir,
        );
        let said = support::node::plain(&verified.stdout) + &support::node::plain(&verified.stderr);
        assert!(
            !said.contains("ZKey Ok!"),
            "snarkjs accepted {name}:\n{said}"
        );
        assert!(said.contains(theirs), "{name}: {said}");
    }
    // Nothing was written for any refusal.
    for out in ["uncontributed", "other", "h", "transcript", "coefficient"] {
        assert!(!dir.join(out).exists(), "{out} was written");
    }
}
