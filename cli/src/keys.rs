//! `zkgov keys …` and `zkgov verify`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::ceremony::print_hash;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use zkgov_circuits::tree::TreeShape;
use zkgov_keys::store::{GeneratedKeys, KeyDir, KeyError, Metadata, Source};

use crate::{CircuitArgs, Malformed};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Run a single-party Groth16 setup for a policy and write a key directory.
    Setup(SetupArgs),
    /// Import the final `.zkey` of a snarkjs phase-2 ceremony for a policy, checked against the
    /// policy's circuit and its contributions checked, and write a key directory.
    Import(ImportArgs),
    /// Verify a key directory and print its metadata.
    Inspect {
        /// The key directory.
        dir: PathBuf,
        /// Print the verified `metadata.json`, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a key directory's verifying key as snarkjs JSON or a Solidity verifier, or its
    /// circuit as an iden3 `.r1cs` file.
    Export(ExportArgs),
    /// Register a key directory's verifying key, schema and policy with a verifier service (admin
    /// token), and print the receipt (JSON).
    Register(RegisterArgs),
}

#[derive(Args)]
pub(crate) struct RegisterArgs {
    /// The key directory.
    dir: PathBuf,
    /// The registry whose facts the key proves, by its name in the service.
    #[arg(long)]
    registry: String,
    #[command(flatten)]
    server: crate::client::Server,
}

#[derive(Args)]
pub(crate) struct SetupArgs {
    #[command(flatten)]
    circuit: CircuitArgs,
    /// The key directory to create; it must not exist.
    #[arg(long)]
    out: PathBuf,
    /// Print the written `metadata.json`, as JSON, as `keys inspect --json` does.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The ceremony's final `.zkey` (snarkjs, Groth16, BN254).
    #[arg(long, value_name = "FILE")]
    zkey: PathBuf,
    /// The powers of tau the ceremony began from: the key is checked against it too, as
    /// `snarkjs zkey verify` does, and only then counts as multi-party.
    #[arg(long, value_name = "FILE")]
    ptau: Option<PathBuf>,
    #[command(flatten)]
    keys: SetupArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    /// snarkjs `verification_key.json`.
    Snarkjs,
    /// A Solidity Groth16 verifier contract.
    Solidity,
    /// The policy circuit's R1CS, as an iden3 `.r1cs` file (binary, version 1), for `snarkjs
    /// r1cs info` and `snarkjs groth16 setup`; needs `--out`.
    R1cs,
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The key directory.
    dir: PathBuf,
    /// What to export.
    #[arg(long)]
    format: ExportFormat,
    /// Where to write; standard output when absent (not for the binary `r1cs`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The Solidity contract's name.
    #[arg(long, default_value = "Groth16Verifier")]
    contract: String,
}

pub(crate) fn run(command: &KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Setup(args) => run_setup(args),
        KeysCommand::Import(args) => run_import(args),
        KeysCommand::Inspect { dir, json } => inspect(dir, *json),
        KeysCommand::Export(args) => export(args),
        KeysCommand::Register(args) => register(args),
    }
}

/// Opens a key directory named on the command line. A damaged or
/// malformed one is bad input (exit 2), as a missing one is; any other
/// I/O failure is not.
pub(crate) fn open(dir: &Path) -> Result<KeyDir> {
    KeyDir::open(dir).map_err(|e| match e {
        KeyError::Io { .. } => e.into(),
        other => Malformed(other.to_string()).into(),
    })
}

fn register(args: &RegisterArgs) -> Result<()> {
    let keys = open(&args.dir)?;
    let client = args.server.client()?;
    let key_id = &keys.metadata.key_id;
    let registered = client.register_key(&args.registry, &keys);
    // A key the log already holds comes back with its first receipt, or is
    // refused as reused: either way, for the registry it was first
    // registered for, which the operator must be told.
    let held_elsewhere = |held: &str, index: u64| {
        anyhow::anyhow!(
            "key {key_id} is already registered for registry {held} (log entry {index}), and a \
             key serves one registry: it was not registered for {}. Run `zkgov keys setup` \
             again for a new key to register for {}",
            args.registry,
            args.registry
        )
    };
    let receipt = match registered {
        Ok(receipt) => receipt,
        Err(e)
            if matches!(&e, zkgov_verifier::client::ClientError::Refused { reason, .. }
                if reason == "key_reused") =>
        {
            let held = client.key(key_id)?;
            if let (Some(registry), Some(index)) =
                (held["registry"].as_str(), held["log_index"].as_u64())
            {
                if registry != args.registry {
                    return Err(held_elsewhere(registry, index));
                }
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let entry: serde_json::Value = serde_json::from_str(&receipt.entry)
        .with_context(|| format!("the receipt's entry {} is not JSON", receipt.index))?;
    if let Some(held) = entry["registry"].as_str().filter(|r| *r != args.registry) {
        return Err(held_elsewhere(held, receipt.index));
    }
    println!("{}", serde_json::to_string(&receipt)?);
    eprintln!(
        "key {} ({}) registered for registry {} at log entry {}",
        key_id, keys.metadata.policy.name, args.registry, receipt.index
    );
    Ok(())
}

fn run_setup(args: &SetupArgs) -> Result<()> {
    make_keys(args, "setting up keys", |source| {
        Ok(source.setup(&mut rand::rngs::OsRng)?)
    })
}

fn run_import(args: &ImportArgs) -> Result<()> {
    let bytes = std::fs::read(&args.zkey)
        .with_context(|| format!("cannot read {}", args.zkey.display()))?;
    let ptau = args
        .ptau
        .as_deref()
        .map(crate::ceremony::read_ptau)
        .transpose()?;
    make_keys(&args.keys, "importing keys", |source| {
        source.import(&bytes, ptau.as_deref()).map_err(|e| match e {
            KeyError::Zkey(e) => Malformed(format!("{}: {e}", args.zkey.display())).into(),
            other => other.into(),
        })
    })
}

/// Makes a key directory at `args.out` with `make`, saying what it does,
/// and prints its key id or its metadata.
fn make_keys(
    args: &SetupArgs,
    doing: &str,
    make: impl FnOnce(&Source) -> Result<GeneratedKeys>,
) -> Result<()> {
    let (schema, policy, shape) = args.circuit.load()?;
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    if args.out.exists() {
        return Err(Malformed(format!(
            "{} already exists; choose another --out or remove it first",
            args.out.display()
        ))
        .into());
    }
    eprintln!(
        "{doing} for {} over arity {}, depth {} …",
        policy.name,
        shape.arity(),
        shape.depth()
    );
    let started = Instant::now();
    let (schema_text, policy_text) = (read(&args.circuit.schema)?, read(&args.circuit.policy)?);
    let keys = make(&Source {
        schema: &schema,
        policy: &policy,
        shape,
        schema_text: &schema_text,
        policy_text: &policy_text,
    })?;
    keys.write(&args.out)?;
    eprintln!("done in {:.2?}", started.elapsed());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&keys.metadata)?);
    } else {
        println!("key id  {}", keys.metadata.key_id);
        println!("setup   {}", keys.metadata.setup);
        print_ceremony(&keys.metadata);
        println!("wrote   {}", args.out.display());
    }
    Ok(())
}

/// A ceremony's contributions, newest first, each hash as snarkjs prints it.
fn print_ceremony(m: &Metadata) {
    let Some(ceremony) = &m.ceremony else { return };
    println!("zkey            blake2b {}", ceremony.zkey_blake2b);
    if let Some(ptau) = &ceremony.ptau_blake2b {
        println!("ptau            blake2b {ptau}");
    }
    for (i, c) in ceremony.contributions.iter().enumerate().rev() {
        let label = format!(
            "contribution #{} {}{}:",
            i + 1,
            c.name.as_deref().unwrap_or(""),
            if c.beacon { " (beacon)" } else { "" }
        );
        match hex::decode(&c.hash)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        {
            Some(hash) => print_hash(&label, &hash),
            None => println!("{label}\n\t\t{}", c.hash),
        }
    }
}

fn inspect(dir: &Path, json: bool) -> Result<()> {
    let keys = open(dir)?;
    let m = &keys.metadata;
    if json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(());
    }
    println!("key id          {}", m.key_id);
    println!(
        "policy          {} (schema {})",
        m.policy.name, m.policy.schema
    );
    println!("policy hash     {}", m.policy.hash);
    println!(
        "registry tree   arity {}, depth {}",
        m.tree.arity, m.tree.depth
    );
    println!("circuit digest  {}", m.circuit_digest);
    println!("constraints     {}", m.constraints);
    println!("public inputs   {}", m.public_inputs.join(", "));
    println!("setup           {}", m.setup);
    print_ceremony(m);
    println!("created         {}", m.created);
    println!("format version  {}", m.format_version);
    for (file, hash) in &m.files {
        let size = std::fs::metadata(dir.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("file            {file:<22} {size:>9} bytes  sha256 {hash}");
    }
    Ok(())
}

fn export(args: &ExportArgs) -> Result<()> {
    let keys = open(&args.dir)?;
    let text = match args.format {
        ExportFormat::R1cs => return export_r1cs(&keys, args.out.as_deref()),
        ExportFormat::Snarkjs => {
            let json = zkgov_keys::snarkjs::verifying_key_to_json(&keys.verifying_key);
            serde_json::to_string_pretty(&json)? + "\n"
        }
        ExportFormat::Solidity => {
            let options = zkgov_keys::solidity::ContractOptions {
                key_id: zkgov_keys::digest::Digest32::from_hex(&keys.metadata.key_id),
            };
            zkgov_keys::solidity::verifier_contract_with(
                &keys.verifying_key,
                &args.contract,
                &options,
            )?
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

/// Writes the key's circuit, re-derived from its schema and policy and
/// checked against the key's circuit digest, as an iden3 `.r1cs` file.
fn export_r1cs(keys: &KeyDir, out: Option<&Path>) -> Result<()> {
    let Some(out) = out else {
        return Err(Malformed(
            "--format r1cs writes a binary file: give it with --out FILE".into(),
        )
        .into());
    };
    let schema = zkgov_circuits::schema::Schema::from_toml("schema.toml", &keys.schema_text)
        .map_err(|e| Malformed(e.to_string()))?;
    let policy =
        zkgov_circuits::policy::Policy::from_toml("policy.toml", &keys.policy_text, &schema)
            .map_err(|e| Malformed(e.to_string()))?;
    let tree = keys.metadata.tree;
    let shape = TreeShape::new(tree.arity, tree.depth).map_err(|e| Malformed(e.to_string()))?;
    let matrices = keys
        .check_circuit(&schema, &policy, shape)
        .map_err(|e| Malformed(e.to_string()))?;
    let bytes = zkgov_keys::r1cs::to_bytes(&matrices)?;
    zkgov_keys::files::write_atomically(out, &bytes)?;
    eprintln!(
        "wrote {}: {} constraints, {} wires ({} public inputs)",
        out.display(),
        matrices.num_constraints,
        matrices.num_instance_variables + matrices.num_witness_variables,
        matrices.num_instance_variables - 1
    );
    Ok(())
}
