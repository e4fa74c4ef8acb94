//! Applications from the command line: procedures, applying, and the
//! departments' views of cases and work queues.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use zkgov_verifier::client::Client;

use crate::client::{base_url, Server};
use crate::Malformed;

#[derive(Subcommand)]
pub(crate) enum ProcedureCommand {
    /// Register (or replace) a procedure; the deciding department's token.
    Register(ProcedureRegisterArgs),
    /// List the registered procedures.
    List(PublicArgs),
}

#[derive(Args)]
pub(crate) struct ProcedureRegisterArgs {
    /// The procedure file (TOML).
    file: PathBuf,
    #[command(flatten)]
    server: Server,
}

#[derive(Args)]
pub(crate) struct PublicArgs {
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct ApplyArgs {
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// The procedure to apply under.
    #[arg(long)]
    procedure: String,
    /// What the procedure asks of the applicant, NAME=VALUE; repeat for each.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    inputs: Vec<String>,
}

#[derive(Args)]
pub(crate) struct CaseListArgs {
    /// Only this procedure's cases.
    #[arg(long)]
    procedure: Option<String>,
    /// Only cases in this state: open, approved, refused or revoked.
    #[arg(long)]
    status: Option<String>,
    /// The page, from 1 (100 cases each).
    #[arg(long, default_value_t = 1)]
    page: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: Server,
}

#[derive(Args)]
pub(crate) struct CaseShowArgs {
    /// The case number.
    case: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: Server,
}

#[derive(Subcommand)]
pub(crate) enum WorkCommand {
    /// The department's work queue: counts and open requests.
    List(WorkListArgs),
}

#[derive(Args)]
pub(crate) struct WorkListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: Server,
}

/// Prints rows as aligned columns under a header.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(crate) fn procedure(command: &ProcedureCommand) -> Result<ExitCode> {
    match command {
        ProcedureCommand::Register(args) => {
            let toml = std::fs::read_to_string(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            zkgov_log::procedure::Procedure::from_toml(&toml)
                .map_err(|e| Malformed(format!("{}: {e}", args.file.display())))?;
            let receipt = args
                .server
                .client()?
                .post("/v1/procedures", &json!({ "procedure": toml }))?;
            println!("{}", serde_json::to_string(&receipt)?);
            eprintln!(
                "procedure {} registered at log entry {}",
                args.file.display(),
                receipt["index"]
            );
        }
        ProcedureCommand::List(args) => {
            let body = Client::new(&base_url(&args.server)?, None).get("/v1/procedures")?;
            if args.json {
                print_json(&body)?;
            } else {
                let rows: Vec<Vec<String>> = body["procedures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let evidence: Vec<String> = p["evidence"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| format!("{} ({})", text(&e["name"]), text(&e["registry"])))
                            .collect();
                        vec![
                            text(&p["name"]),
                            text(&p["decides"]),
                            text(&p["rule"]),
                            evidence.join(", "),
                        ]
                    })
                    .collect();
                table(&["PROCEDURE", "DECIDES", "RULE", "EVIDENCE"], &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn apply(args: &ApplyArgs) -> Result<ExitCode> {
    let mut inputs = BTreeMap::new();
    for input in &args.inputs {
        let (name, value) = input
            .split_once('=')
            .ok_or_else(|| Malformed(format!("--input {input:?}: expected NAME=VALUE")))?;
        inputs.insert(name.to_string(), value.to_string());
    }
    let client = Client::new(&base_url(&args.server)?, None);
    let body = client.post(
        "/v1/applications",
        &json!({ "procedure": args.procedure, "inputs": inputs }),
    )?;
    println!("{}", serde_json::to_string(&body)?);
    eprintln!(
        "case {} created; keep the access code, it is shown only once",
        text(&body["case_id"])
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn list_cases(args: &CaseListArgs) -> Result<ExitCode> {
    let mut path = format!("/v1/cases?page={}", args.page);
    if let Some(p) = &args.procedure {
        path.push_str(&format!("&procedure={}", urlencode(p)));
    }
    if let Some(s) = &args.status {
        path.push_str(&format!("&status={}", urlencode(s)));
    }
    let body = args.server.client()?.get(&path)?;
    if args.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = body["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                text(&c["case_id"]),
                text(&c["procedure"]),
                text(&c["status"]),
                format!("{}/{}", c["answered"], c["required"]),
                text(&c["created"]),
            ]
        })
        .collect();
    table(
        &["CASE", "PROCEDURE", "STATUS", "ANSWERED", "CREATED"],
        &rows,
    );
    eprintln!(
        "page {} of {} cases",
        body["page"],
        body["total"].as_u64().unwrap_or(0)
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn show_case(args: &CaseShowArgs) -> Result<ExitCode> {
    let path = format!("/v1/cases/{}/status", urlencode(&args.case));
    let body = args.server.client()?.get(&path)?;
    if args.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({}): {}, created {}",
        text(&body["case_id"]),
        text(&body["procedure"]),
        text(&body["status"]),
        text(&body["created"])
    );
    let rows: Vec<Vec<String>> = body["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let params: Vec<String> = e["params"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            let conditions: Vec<String> = e["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            vec![
                text(&e["name"]),
                text(&e["registry"]),
                text(&e["status"]).replace('_', " "),
                params.join(" "),
                conditions.join("; "),
            ]
        })
        .collect();
    table(
        &["EVIDENCE", "REGISTRY", "STATUS", "PARAMS", "FAILED"],
        &rows,
    );
    if let Some(d) = body["decision"].as_object() {
        println!(
            "decision: {} at log entry {}{} — {}",
            text(&d["decision"]),
            d["index"],
            if d["automatic"] == true {
                " (automatic)"
            } else {
                ""
            },
            text(&d["note"])
        );
    }
    if let Some(l) = body["licence"].as_object() {
        println!(
            "licence: {} in {}{}",
            text(&l["number"]),
            text(&l["registry"]),
            if l["issued"] == true {
                ", issued"
            } else {
                ", not yet issued"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn work(command: &WorkCommand) -> Result<ExitCode> {
    let WorkCommand::List(args) = command;
    let body = args.server.client()?.get("/v1/work/queue")?;
    if args.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} pending, {} leased, {} done",
        text(&body["department"]),
        body["pending"],
        body["leased"],
        body["done"]
    );
    let rows: Vec<Vec<String>> = body["open"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            vec![
                w["id"].to_string(),
                text(&w["case_id"]),
                text(&w["kind"]),
                text(&w["evidence"]),
                text(&w["leased_until"]),
            ]
        })
        .collect();
    table(&["ID", "CASE", "KIND", "EVIDENCE", "LEASED UNTIL"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes a query or path value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
