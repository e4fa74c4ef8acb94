//! `zkgov licence`: the applicant fetches its licence document, and anyone
//! verifies one, offline with the log's key, or online for its current
//! standing.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use zkgov_keys::files::write_atomically;
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::licence::{standing, LicenceDocument, Standing, VerifiedLicence};
use zkgov_verifier::client::{current_checkpoint, Client};

use crate::client::base_url;
use crate::Malformed;

/// Where an applicant's access code comes from when it is not piped in.
const ACCESS_CODE_VAR: &str = "ZKGOV_ACCESS_CODE";

#[derive(Subcommand)]
pub(crate) enum LicenceCommand {
    /// Fetch a case's licence document, as its applicant: the access code is read from
    /// ZKGOV_ACCESS_CODE or standard input, never from the command line.
    Fetch(FetchArgs),
    /// Verify a licence document: offline with the log's key, or with --online also its
    /// current standing. Exit 0 valid and in force, 1 not, 2 malformed.
    Verify(VerifyArgs),
}

#[derive(Args)]
pub(crate) struct FetchArgs {
    /// The case number.
    case: String,
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// Where to write the document (it holds the case secret, so it is
    /// written readable by its owner only).
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The licence document.
    file: PathBuf,
    /// The log's verifier key, the `log public key:` that `zkgov serve` prints.
    #[arg(long, value_name = "KEY")]
    log_key: String,
    /// Also ask the service for later decisions on the case (an amendment
    /// or a revocation), each checked by its inclusion proof, and check
    /// that the log still extends the document's checkpoint.
    #[arg(long, requires = "server")]
    online: bool,
    /// The verifier service, for --online.
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: Option<String>,
    /// Print the result as one JSON document.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: &LicenceCommand) -> Result<ExitCode> {
    match command {
        LicenceCommand::Fetch(args) => fetch(args),
        LicenceCommand::Verify(args) => verify(args),
    }
}

fn access_code() -> Result<String> {
    if let Ok(code) = std::env::var(ACCESS_CODE_VAR) {
        return Ok(code);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("access code: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let code = line.trim().to_string();
    if code.is_empty() {
        return Err(Malformed(format!(
            "no access code: set {ACCESS_CODE_VAR} or give it on standard input"
        ))
        .into());
    }
    Ok(code)
}

/// A client acting as the applicant of `case`, under a session opened
/// with its access code.
pub(crate) fn applicant_session(server: &str, case: &str, code: &str) -> Result<Client> {
    let session = Client::new(server, None).post(
        &format!("/v1/applications/{case}/session"),
        &serde_json::json!({ "access_code": code }),
    )?;
    let token = session["token"]
        .as_str()
        .context("the service returned no session token")?;
    Ok(Client::new(server, Some(token.to_string())))
}

/// The licence document of `case`, fetched under its applicant's session.
pub(crate) fn fetch_document(applicant: &Client, case: &str) -> Result<LicenceDocument> {
    let body = applicant.get(&format!("/v1/applications/{case}/licence"))?;
    serde_json::from_value(body).context("the service's licence document is malformed")
}

fn fetch(args: &FetchArgs) -> Result<ExitCode> {
    let server = base_url(&args.server)?;
    let applicant = applicant_session(&server, &args.case, &access_code()?)?;
    let document = fetch_document(&applicant, &args.case)?;
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    // The document holds the case secret: readable by its owner only.
    write_atomically(&args.out, text.as_bytes())?;
    eprintln!(
        "licence {} of case {} written to {}",
        document.number,
        document.case_id,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The document in `path`, parsed; a malformed one is [`Malformed`].
pub(crate) fn read_document(path: &Path) -> Result<LicenceDocument> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Malformed(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Malformed(format!("{}: not a licence document: {e}", path.display())).into())
}

fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let verifier = LogVerifier::from_verifier_key(&args.log_key)
        .map_err(|e| Malformed(format!("--log-key: {e}")))?;
    let document = read_document(&args.file)?;
    let verified = match document.verify(&verifier) {
        Ok(verified) => verified,
        Err(e) => {
            if args.json {
                let report = json!({ "valid": false, "in_force": false, "reason": e.to_string() });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("INVALID: {e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let today = chrono::Utc::now().date_naive().to_string();
    let expired = verified.expired(&today);
    let online = if args.online {
        let server = base_url(args.server.as_deref().unwrap_or_default())?;
        Some(online_standing(&server, &verifier, &document, &verified)?)
    } else {
        None
    };
    let amended = match &online {
        Some((
            Standing::Amended {
                index,
                decision,
                note,
                time,
            },
            _,
        )) => Some((index, decision, note, time)),
        _ => None,
    };
    let in_force = expired.is_none() && amended.is_none();
    if args.json {
        let report = json!({
            "valid": true,
            "in_force": in_force,
            "licence": {
                "number": document.number,
                "registry": document.registry,
                "holder": document.holder.subject,
                "fields": document.fields,
            },
            "decision": {
                "case_id": document.case_id,
                "department": verified.department,
                "automatic": verified.automatic,
                "time": verified.decided,
                "index": verified.index,
            },
            "checkpoint": { "origin": verified.checkpoint.origin, "size": verified.checkpoint.size },
            "expired": expired,
            "amended_by": amended.map(|(index, decision, note, time)| {
                json!({ "index": index, "decision": decision, "note": note, "time": time })
            }),
            "log_size": online.as_ref().map(|(_, size)| size),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_licence(&document, &verified);
        if let Some(expires) = expired {
            println!("  EXPIRED on {expires}");
        }
        if let Some((index, decision, note, time)) = amended {
            println!(
                "  NO LONGER IN FORCE: entry {index} ({time}) amends the approval: {decision}: {note}"
            );
        } else if let Some((_, size)) = &online {
            println!(
                "  in force: no later decision on the case, in the log of {size} entries, which extends the document's checkpoint"
            );
        }
    }
    Ok(if in_force {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_licence(document: &LicenceDocument, verified: &VerifiedLicence) {
    println!(
        "VALID: licence {} in the {} registry, held by {}",
        document.number, document.registry, document.holder.subject
    );
    for (name, value) in &document.fields {
        println!("  {name:<10} {value}");
    }
    println!(
        "  approved in case {} by {}{} at {}: entry {} of the log {}, in its checkpoint of {} entries",
        document.case_id,
        verified.department,
        if verified.automatic {
            " (automatically, by the procedure's rule)"
        } else {
            ""
        },
        verified.decided,
        verified.index,
        verified.checkpoint.origin,
        verified.checkpoint.size
    );
}

/// The approval's standing in the log as the service holds it now: the
/// current checkpoint, proved to extend the document's, and every later
/// decision the service lists for the case, each proved included in it.
///
/// A service could withhold a later decision from its case listing; an
/// auditor's replay of the whole log (`zkgov log audit`) rules that out.
fn online_standing(
    server: &str,
    verifier: &LogVerifier,
    document: &LicenceDocument,
    verified: &VerifiedLicence,
) -> Result<(Standing, u64)> {
    let client = Client::new(server, None);
    let (_, current, _) = current_checkpoint(
        &client,
        verifier,
        &document.origin,
        Some(&verified.checkpoint),
    )?;
    let case = client.case(&document.case_id)?;
    let mut later = Vec::new();
    for decision in case["decisions"].as_array().into_iter().flatten() {
        let Some(index) = decision["index"].as_u64() else {
            continue;
        };
        if index > verified.index {
            later.push((index, client.included_entry(index, &current)?));
        }
    }
    later.sort_by_key(|(index, _)| *index);
    Ok((standing(verified.index, &later), current.size))
}
