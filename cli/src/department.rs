//! A department's signing key, and its endorsement of governance changes.
//!
//! `zkgov department keygen` writes the key that signs the department's
//! roots, decisions and refusals; the verifier service's config lists its
//! verifier key. `zkgov governance show` prints the governance in force and
//! any change waiting for endorsements; `zkgov governance endorse` signs
//! that change with the department's key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use zkgov_keys::files::write_atomically;
use zkgov_log::entry::{Entry, GovernedDepartment};
use zkgov_log::signature::DepartmentSigner;

use crate::client::Server;
use crate::Malformed;

/// `zkgov department …`.
#[derive(Subcommand)]
pub(crate) enum DepartmentCommand {
    /// Write a new Ed25519 signing key (mode 600) and print its verifier key for the service config.
    Keygen(KeygenArgs),
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// The department, as the service config names it; the key bears its name.
    #[arg(long)]
    department: String,
    /// Where to write the private key; it must not exist.
    #[arg(long)]
    out: PathBuf,
}

/// `zkgov governance …`.
#[derive(Subcommand)]
pub(crate) enum GovernanceCommand {
    /// Print the governance in force and the change that waits for endorsements.
    Show {
        /// Print the service's answer (`GET /v1/governance`) as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Endorse the waiting change with the department's key (--key or ZKGOV_DEPARTMENT_KEY).
    Endorse {
        /// Print the service's answer to the endorsement as JSON, instead of the governance and
        /// a sentence.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: Server,
    },
}

/// Runs a `zkgov department` command.
pub(crate) fn department(command: &DepartmentCommand) -> Result<()> {
    let DepartmentCommand::Keygen(args) = command;
    if !zkgov_log::checkpoint::is_valid_key_name(&args.department) {
        return Err(Malformed(format!(
            "`{}` cannot name a key: no spaces, `+` or control characters",
            args.department
        ))
        .into());
    }
    if args.out.exists() {
        return Err(Malformed(format!(
            "{} exists; a key is never overwritten (move it away first)",
            args.out.display()
        ))
        .into());
    }
    let signer = DepartmentSigner::generate(&args.department);
    write_atomically(&args.out, format!("{}\n", signer.private_key()).as_bytes())?;
    eprintln!(
        "wrote the signing key of `{}` to {} (mode 600); keep it secret.\n\
         the service config lists its verifier key:\n",
        args.department,
        args.out.display()
    );
    println!("{}", signer.verifier_key());
    Ok(())
}

/// Reads a department's signing key, which only its owner may read.
pub(crate) fn load_key(path: &Path) -> Result<DepartmentSigner> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the department key {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Malformed(format!(
                "the department key {} is readable by others (mode {:o}); `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ))
            .into());
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the department key {}", path.display()))?;
    DepartmentSigner::from_private_key(&text).map_err(|e| {
        Malformed(format!(
            "{} is not a department key (`zkgov department keygen` writes one): {e}",
            path.display()
        ))
        .into()
    })
}

/// Runs a `zkgov governance` command.
pub(crate) fn governance(command: &GovernanceCommand) -> Result<()> {
    match command {
        GovernanceCommand::Show { json, server } => {
            let answer = server.client()?.governance()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_governance(&answer);
            }
            Ok(())
        }
        GovernanceCommand::Endorse { json, server } => {
            let client = server.client()?;
            let Some(department) = client.department().map(String::from) else {
                return Err(Malformed(
                    "an endorsement is signed: give the department's key (--key or ZKGOV_DEPARTMENT_KEY)"
                        .into(),
                )
                .into());
            };
            let answer = client.governance()?;
            let proposal = &answer["proposal"];
            if proposal.is_null() {
                return Err(Malformed("no governance change waits for endorsements".into()).into());
            }
            let entry: Entry = serde_json::from_value(proposal["entry"].clone())
                .context("the service's proposal is not a governance entry")?;
            let replaces = proposal["replaces"].as_u64();
            if !*json {
                print_governance(&answer);
            }
            let outcome = client.endorse_governance(&entry, replaces)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
                return Ok(());
            }
            match outcome["status"].as_str() {
                Some("pending") => println!(
                    "endorsed by {department}; the change still needs: {}",
                    outcome["needed"].as_str().unwrap_or_default()
                ),
                _ => println!(
                    "endorsed by {department}; the change is in the log at entry {}",
                    outcome["index"]
                ),
            }
            Ok(())
        }
    }
}

/// Prints the governance in force and, if any, the waiting change,
/// department by department.
fn print_governance(answer: &Value) {
    let departments = |value: &Value| -> Vec<GovernedDepartment> {
        serde_json::from_value(value.clone()).unwrap_or_default()
    };
    let current = departments(&answer["governance"]["departments"]);
    let mode = |value: &Value| {
        if value.as_bool() == Some(true) {
            ", multi-party keys required"
        } else {
            ", single-party keys allowed"
        }
    };
    println!(
        "governance in force (log entry {}), freshness {} s, grace {} s{}:",
        answer["governance"]["index"],
        answer["governance"]["freshness_seconds"],
        answer["governance"]["grace_seconds"],
        mode(&answer["governance"]["require_multi_party"])
    );
    for d in &current {
        println!("  {}", describe(d));
    }
    let proposal = &answer["proposal"];
    if proposal.is_null() {
        println!("no change waits for endorsements");
        return;
    }
    let entry = &proposal["entry"];
    println!(
        "proposed change, replacing entry {} (freshness {} s, grace {} s{}):",
        proposal["replaces"],
        entry["freshness_seconds"],
        entry["grace_seconds"],
        mode(&entry["require_multi_party"])
    );
    let proposed = departments(&entry["departments"]);
    for d in &proposed {
        match current.iter().find(|c| c.name == d.name) {
            Some(c) if c == d => {}
            Some(c) => println!("  - {}\n  + {}", describe(c), describe(d)),
            None => println!("  + {}", describe(d)),
        }
    }
    for c in current
        .iter()
        .filter(|c| !proposed.iter().any(|d| d.name == c.name))
    {
        println!("  - {}", describe(c));
    }
    if let Some(needed) = proposal["needed"].as_str() {
        println!("it needs: {needed}");
    }
}

fn describe(d: &GovernedDepartment) -> String {
    format!(
        "{}: registries [{}]{}, key {}",
        d.name,
        d.registries.join(", "),
        if d.decides { ", decides" } else { "" },
        d.key.as_deref().unwrap_or("none")
    )
}
