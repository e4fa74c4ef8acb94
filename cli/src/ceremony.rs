//! `zkgov ceremony …`: phase-2 contributions to a snarkjs `.zkey`, which
//! snarkjs verifies and contributes after, as zkgov does after snarkjs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ark_relations::r1cs::ConstraintMatrices;
use clap::{Args, Subcommand};
use zkgov_circuits::circuit::StatementCircuit;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::Fr;
use zkgov_keys::ptau::Ptau;
use zkgov_keys::store::Ceremony;
use zkgov_keys::zkey::{beacon_rng, contribution_rng, format_hash, Kind, Zkey, MAX_BEACON_EXP};
use zkgov_log::rules::LoggedKey;

use crate::{CircuitArgs, Malformed};

#[derive(Subcommand)]
pub(crate) enum CeremonyCommand {
    /// Make a policy circuit's initial `.zkey` from a phase-2-prepared powers of tau, byte for
    /// byte as `snarkjs groth16 setup` makes it from the circuit's `.r1cs`.
    New(NewArgs),
    /// Contribute to a `.zkey`: check the contributions before, draw a secret from the operating
    /// system's randomness, write the next key, and print the contribution hash as snarkjs does.
    Contribute(ContributeArgs),
    /// End a ceremony with a public random beacon, as `snarkjs zkey beacon` does.
    Beacon(BeaconArgs),
    /// Verify a ceremony's key against the policy's circuit and the powers of tau, as `snarkjs
    /// zkey verify` does, and print every contribution: exit 0 valid, 1 invalid, 2 malformed.
    Verify(VerifyArgs),
    /// Check that a key the log holds is a ceremony's final key: verify the `.zkey` as `verify`
    /// does, for the circuit the key's log entry names (fetched with an inclusion proof against a
    /// checkpoint verified with the log's key), and compare it with the entry: the verifying key,
    /// the `.zkey`'s and the ptau's hashes and every contribution. Exit 0 if it is, 1 if not, 2
    /// on bad input.
    Audit(AuditArgs),
}

#[derive(Args)]
pub(crate) struct NewArgs {
    /// The powers of tau, prepared for phase 2 (`snarkjs powersoftau prepare phase2`).
    #[arg(long, value_name = "FILE")]
    ptau: PathBuf,
    #[command(flatten)]
    circuit: CircuitArgs,
    /// The `.zkey` to write; it must not exist.
    #[arg(long)]
    out: PathBuf,
}

/// A ceremony's published files.
#[derive(Args)]
pub(crate) struct CeremonyFiles {
    /// The powers of tau the ceremony began from.
    #[arg(long, value_name = "FILE")]
    ptau: PathBuf,
    /// The `.zkey` to verify: the ceremony's final key, or any key along it.
    #[arg(long, value_name = "FILE")]
    zkey: PathBuf,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    files: CeremonyFiles,
    #[command(flatten)]
    circuit: CircuitArgs,
}

#[derive(Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    files: CeremonyFiles,
    /// The key id of the key entry to check.
    #[arg(long = "key", value_name = "KEYID")]
    key: String,
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// The log's public key, as for `zkgov log verify` (default: the one trusted in --state).
    #[arg(long, value_name = "KEY")]
    log_key: Option<String>,
    /// The directory of trusted state, as for `zkgov log verify`.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
}

/// The policy's name and its circuit's matrices.
fn matrices(circuit: &CircuitArgs) -> Result<(String, ConstraintMatrices<Fr>)> {
    let (schema, policy, shape) = circuit.load()?;
    let matrices = StatementCircuit::shape_only(&schema, &policy, shape)
        .matrices()
        .context("cannot synthesize the policy circuit")?;
    Ok((policy.name, matrices))
}

#[derive(Args)]
pub(crate) struct Keys {
    /// The `.zkey` to contribute to.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The `.zkey` to write; it must not exist.
    #[arg(value_name = "OUT")]
    output: PathBuf,
    /// The contribution's name, which the key records (at most 64 bytes).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
pub(crate) struct ContributeArgs {
    #[command(flatten)]
    keys: Keys,
}

#[derive(Args)]
pub(crate) struct BeaconArgs {
    #[command(flatten)]
    keys: Keys,
    /// The beacon's value, hex: 1 to 255 bytes, such as a future block hash announced in advance.
    #[arg(long, value_name = "HEX")]
    hash: String,
    /// SHA-256 is iterated 2^N times on the value: 10 to 32.
    #[arg(long, value_name = "N")]
    iterations_exp: u8,
}

pub(crate) fn run(command: &CeremonyCommand) -> Result<ExitCode> {
    match command {
        CeremonyCommand::New(args) => new(args),
        CeremonyCommand::Verify(args) => {
            let (_, matrices) = matrices(&args.circuit)?;
            verify(&args.files, &matrices, None)
        }
        CeremonyCommand::Audit(args) => audit(args),
        CeremonyCommand::Contribute(args) => contribute(&args.keys, |zkey, name| {
            zkey.contribute(&mut contribution_rng(""), Kind::Contribution, name)
        }),
        CeremonyCommand::Beacon(args) => {
            let hash = hex::decode(&args.hash)
                .ok()
                .filter(|h| (1..=255).contains(&h.len()))
                .ok_or_else(|| Malformed("--hash must be 1 to 255 bytes of hex".into()))?;
            let exp = args.iterations_exp;
            if !(10..=MAX_BEACON_EXP).contains(&exp) {
                return Err(
                    Malformed(format!("--iterations-exp must be 10 to {MAX_BEACON_EXP}")).into(),
                );
            }
            contribute(&args.keys, |zkey, name| {
                let kind = Kind::Beacon {
                    iterations_exp: exp,
                    hash: hash.clone(),
                };
                zkey.contribute(&mut beacon_rng(&hash, exp), kind, name)
            })
        }
    }
}

/// Reads `keys.input`, checks its contributions, adds one with `add`, and
/// writes `keys.output` atomically.
fn contribute(keys: &Keys, add: impl FnOnce(&Zkey, Option<&str>) -> Zkey) -> Result<ExitCode> {
    refuse_existing(&keys.output)?;
    let zkey = read(&keys.input)?;
    let started = Instant::now();
    let next = add(&zkey, keys.name.as_deref());
    zkgov_keys::files::write_atomically(&keys.output, &next.to_bytes())?;
    let added = next.contributions.last().expect("a contribution was added");
    eprintln!(
        "contribution #{} written to {} in {:.2?}",
        next.contributions.len(),
        keys.output.display(),
        started.elapsed()
    );
    print_hash("Contribution Hash:", &added.hash());
    Ok(ExitCode::SUCCESS)
}

fn new(args: &NewArgs) -> Result<ExitCode> {
    refuse_existing(&args.out)?;
    let started = Instant::now();
    let (policy, matrices) = matrices(&args.circuit)?;
    let bytes = read_ptau(&args.ptau)?;
    let malformed = |e: &dyn std::fmt::Display| Malformed(format!("{}: {e}", args.ptau.display()));
    let ptau = Ptau::parse(&bytes).map_err(|e| malformed(&e))?;
    let zkey = Zkey::initial(&matrices, &ptau).map_err(|e| malformed(&e))?;
    zkgov_keys::files::write_atomically(&args.out, &zkey.to_initial_bytes())?;
    eprintln!(
        "initial key for {policy} ({} constraints, domain 2^{}) written to {} in {:.2?}",
        matrices.num_constraints,
        zkey.domain_size.trailing_zeros(),
        args.out.display(),
        started.elapsed()
    );
    print_hash("Circuit Hash:", &zkey.circuit_hash);
    Ok(ExitCode::SUCCESS)
}

fn audit(args: &AuditArgs) -> Result<ExitCode> {
    let key = match crate::client::verified_key(
        &args.server,
        &args.key,
        args.log_key.as_deref(),
        args.state.as_deref(),
    )? {
        Ok(key) => key,
        Err(code) => return Ok(code),
    };
    let matrices = logged_matrices(&key)?;
    verify(&args.files, &matrices, Some(&key))
}

/// Verifies the ceremony of `args` for the circuit of `matrices`, and that
/// its key is `logged`, if given.
fn verify(
    args: &CeremonyFiles,
    matrices: &ConstraintMatrices<Fr>,
    logged: Option<&LoggedKey>,
) -> Result<ExitCode> {
    let started = Instant::now();
    let bytes = std::fs::read(&args.zkey)
        .with_context(|| format!("cannot read {}", args.zkey.display()))?;
    let zkey =
        Zkey::parse(&bytes).map_err(|e| Malformed(format!("{}: {e}", args.zkey.display())))?;
    let ptau_bytes = read_ptau(&args.ptau)?;
    let ptau =
        Ptau::parse(&ptau_bytes).map_err(|e| Malformed(format!("{}: {e}", args.ptau.display())))?;
    print_hash("Circuit Hash:", &zkey.circuit_hash);
    for (i, c) in zkey.contributions.iter().enumerate().rev() {
        let name = c.name.as_deref().unwrap_or("");
        print_hash(&format!("contribution #{} {name}:", i + 1), &c.hash());
        if let Kind::Beacon {
            iterations_exp,
            hash,
        } = &c.kind
        {
            println!("Beacon generator: {}", hex::encode(hash));
            println!("Beacon iterations Exp: {iterations_exp}");
        }
    }
    zkey.check_ceremony(matrices, &ptau)
        .map_err(|e| anyhow::anyhow!("{} does not verify: {e}", args.zkey.display()))?;
    if let Some(key) = logged {
        let found = Ceremony::of(&zkey, &bytes, Some(&ptau_bytes));
        check_logged(key, &zkey, &found)
            .map_err(|problem| anyhow::anyhow!("{}: {problem}", args.zkey.display()))?;
        println!(
            "key {} (log entry {}) is this ceremony's final key: its verifying key, the .zkey, \
             the powers of tau and all {} contributions are those the log records",
            key.key_id,
            key.index,
            found.contributions.len()
        );
    }
    eprintln!("verified in {:.2?}", started.elapsed());
    println!("ZKey Ok!");
    Ok(ExitCode::SUCCESS)
}

/// The matrices of a logged key's circuit: its policy over the tree its
/// provenance names. A key whose entry names no ceremony cannot be checked
/// against one.
fn logged_matrices(key: &LoggedKey) -> Result<ConstraintMatrices<Fr>> {
    let no_ceremony = || {
        anyhow::anyhow!(
            "key {} (log entry {}) records no ceremony: it is single-party, or was registered \
             without its provenance",
            key.key_id,
            key.index
        )
    };
    let provenance = key.provenance.as_ref().ok_or_else(no_ceremony)?;
    provenance.ceremony.as_ref().ok_or_else(no_ceremony)?;
    // The rules checked that the schema and policy parse when the entry
    // was read; the circuit digest is checked here, where it is
    // synthesized.
    let schema = Schema::from_toml("schema", &key.schema_toml)?;
    let policy = Policy::from_toml("policy", &key.policy_toml, &schema)?;
    provenance.circuit(&schema, &policy).map_err(|problem| {
        anyhow::anyhow!("key {} (log entry {}): {problem}", key.key_id, key.index)
    })
}

/// Whether the logged key is the final key `zkey` of the ceremony `found`:
/// the verifying key, and the ceremony as the entry states it.
fn check_logged(key: &LoggedKey, zkey: &Zkey, found: &Ceremony) -> Result<(), String> {
    let stated = key
        .provenance
        .as_ref()
        .and_then(|p| p.ceremony.as_ref())
        .expect("checked by logged_matrices");
    let vk = zkgov_keys::snarkjs::verifying_key_to_json(&zkey.proving_key().vk);
    if vk != key.verifying_key {
        return Err(format!(
            "its verifying key is not key {}'s (log entry {})",
            key.key_id, key.index
        ));
    }
    if found.zkey_blake2b != stated.zkey_blake2b {
        return Err(format!(
            "its BLAKE2b-512 is {}, and the log records {}",
            found.zkey_blake2b, stated.zkey_blake2b
        ));
    }
    match &stated.ptau_blake2b {
        Some(ptau) if Some(ptau) != found.ptau_blake2b.as_ref() => {
            return Err(format!(
                "the powers of tau given is not the one the log records ({ptau})"
            ))
        }
        Some(_) => {}
        None => {
            return Err(format!(
                "key {} (log entry {}) records no powers of tau: it was imported without \
                 --ptau, and the rules count it single-party",
                key.key_id, key.index
            ))
        }
    }
    if found.circuit_hash != stated.circuit_hash || found.contributions != stated.contributions {
        return Err("the log records other contributions or another circuit hash".into());
    }
    if !key.is_multi_party() {
        return Err(format!(
            "key {} (log entry {}) is not multi-party by the rules",
            key.key_id, key.index
        ));
    }
    Ok(())
}

/// A hash under its label, as snarkjs prints it.
pub(crate) fn print_hash(label: &str, hash: &[u8; 64]) {
    println!("{label}");
    for line in format_hash(hash).lines() {
        println!("\t\t{line}");
    }
}

/// A powers of tau file's bytes.
pub(crate) fn read_ptau(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn refuse_existing(out: &Path) -> Result<()> {
    if out.exists() {
        return Err(Malformed(format!(
            "{} already exists; choose another path or remove it first",
            out.display()
        ))
        .into());
    }
    Ok(())
}

/// A `.zkey` whose contributions check.
fn read(path: &Path) -> Result<Zkey> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let zkey = Zkey::parse(&bytes)
        .and_then(|z| z.check_contributions().map(|()| z))
        .map_err(|e| Malformed(format!("{}: {e}", path.display())))?;
    Ok(zkey)
}
