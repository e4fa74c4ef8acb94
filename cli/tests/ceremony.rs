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

/// The imported key's proof (`proof.json`, `public.json`) on a local EVM:
/// the key's exported Solidity verifier, compiled with the pinned solc,
/// accepts it and refuses it for another `today`.
fn on_the_evm(dir: &Path) {
    ok(zkgov_in(dir)
        .args(["keys", "export", "imported", "--format", "solidity"])
        .args(["--out", "Verifier.sol"])
        .output()
        .unwrap());
    let evm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/tests/data/evm");
    let compiled = support::node::run_node_script(
        &evm.join("compile.js"),
        &["Verifier.sol", "Groth16Verifier", "compiled.json"],
        dir,
    );
    assert!(compiled.status.success(), "{}", stderr(&compiled));
    let compiled: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("compiled.json")).unwrap()).unwrap();
    let calldata = snarkjs(
        &[
            "zkey",
            "export",
            "soliditycalldata",
            "public.json",
            "proof.json",
        ],
        dir,
    );
    let public: Vec<String> =
        serde_json::from_slice(&std::fs::read(dir.join("public.json")).unwrap()).unwrap();
    let today = public.last().unwrap();
    let next_day = (today.parse::<u64>().unwrap() + 1).to_string();
    let other = calldata.replace(
        &format!("\"0x{:064x}\"]", today.parse::<u64>().unwrap()),
        &format!("\"0x{:064x}\"]", next_day.parse::<u64>().unwrap()),
    );
    assert_ne!(other, calldata, "the last public input is `today`");
    let signature = "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[6])";
    let cases = serde_json::json!({
        "bytecode": compiled["bytecode"],
        "selector": compiled["methodIdentifiers"][signature],
        "gasLimit": 10_000_000,
        "cases": [
            { "name": "valid", "calldata": calldata.trim() },
            { "name": "another day", "calldata": other.trim() },
        ],
    });
    std::fs::write(dir.join("cases.json"), cases.to_string()).unwrap();
    let run = support::node::run_node_script(&evm.join("run_verifier.js"), &["cases.json"], dir);
    assert!(run.status.success(), "{}", stderr(&run));
    let results: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let word = |b: u8| format!("0x{b:064x}");
    assert_eq!(results[0]["reverted"], serde_json::Value::Null, "{results}");
    assert_eq!(results[0]["returned"], word(1), "{results}");
    assert_eq!(results[1]["returned"], word(0), "{results}");
}

/// What an auditor checks with the ceremony's published files: the key the
/// log holds is the ceremony's final key. A single-party key is refused by
/// the service in production mode, naming it.
fn audit_the_logged_key(dir: &Path, server: &Server, ptau: &str, metadata: &serde_json::Value) {
    let key_id = metadata["key_id"].as_str().unwrap();
    let audit = |zkey: &str| {
        zkgov_in(dir)
            .args(["ceremony", "audit", "--ptau", ptau, "--zkey", zkey])
            .args(["--key", key_id, "--server", &server.url])
            .args(["--log-key", &server.log_key, "--state", "auditor"])
            .output()
            .unwrap()
    };
    let audited = ok(audit("final.zkey"));
    assert!(
        stdout(&audited).contains(&format!(
            "key {key_id} (log entry 1) is this ceremony's final key: its verifying key, the \
             .zkey, the powers of tau and all 4 contributions are those the log records"
        )),
        "{}",
        stdout(&audited)
    );
    // A key along the ceremony verifies, but is not the key the log holds.
    let earlier = audit("0003.zkey");
    assert_eq!(earlier.status.code(), Some(1), "{}", stderr(&earlier));
    assert!(
        stderr(&earlier).contains("0003.zkey: its verifying key is not key"),
        "{}",
        stderr(&earlier)
    );
    // The entry records the provenance as the metadata does.
    let logged = zkgov_verifier::client::Client::new(&server.url, None)
        .entries(1, 2)
        .unwrap();
    let entry: serde_json::Value = serde_json::from_str(&logged[0]).unwrap();
    assert_eq!(
        entry["provenance"]["ceremony"], metadata["ceremony"],
        "{entry}"
    );
    assert_eq!(
        entry["provenance"]["circuit_digest"],
        metadata["circuit_digest"]
    );

    let refused = zkgov_in(dir)
        .args(["keys", "register", "single", "--registry", "real-estate"])
        .args(["--server", &server.url, "--token", ADMIN])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let single: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("single/metadata.json")).unwrap()).unwrap();
    let said = stderr(&refused);
    assert!(
        said.contains("single_party_key")
            && said.contains(&format!(
                "key {} (policy `medical-premises`) is single-party",
                single["key_id"].as_str().unwrap()
            )),
        "{said}"
    );
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

    // And by the exported Solidity verifier on a local EVM, with the
    // calldata snarkjs prints; the same proof for another input is refused.
    on_the_evm(dir);

    // And in the service, which holds the imported key, in production
    // mode: it logs the key with its provenance, and accepts its proofs.
    ConfigFile::new("data")
        .setting("origin", ORIGIN)
        .raw("require_multi_party = true")
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
    audit_the_logged_key(dir, &server, &ptau, &metadata);
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
