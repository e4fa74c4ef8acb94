//! `zkgov ceremony …`: phase-2 contributions to a snarkjs `.zkey`, which
//! snarkjs verifies and contributes after, as zkgov does after snarkjs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use zkgov_keys::zkey::{beacon_rng, contribution_rng, format_hash, Kind, Zkey, MAX_BEACON_EXP};

use crate::Malformed;

#[derive(Subcommand)]
pub(crate) enum CeremonyCommand {
    /// Contribute to a `.zkey`: check the contributions before, draw a secret from the operating
    /// system's randomness, write the next key, and print the contribution hash as snarkjs does.
    Contribute(ContributeArgs),
    /// End a ceremony with a public random beacon, as `snarkjs zkey beacon` does.
    Beacon(BeaconArgs),
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

pub(crate) fn run(command: &CeremonyCommand) -> Result<()> {
    match command {
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
fn contribute(keys: &Keys, add: impl FnOnce(&Zkey, Option<&str>) -> Zkey) -> Result<()> {
    if keys.output.exists() {
        return Err(Malformed(format!(
            "{} already exists; choose another OUT or remove it first",
            keys.output.display()
        ))
        .into());
    }
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
    println!("Contribution Hash:");
    for line in format_hash(&added.hash()).lines() {
        println!("\t\t{line}");
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
