//! The department and auditor side of the verifier service:
//! `zkgov submit`, `zkgov root publish`, `zkgov case compare` and
//! `zkgov log verify`.
//!
//! `log verify` keeps, per log, the key it was first given and the last
//! checkpoint it verified (trust on first use). Every later run must find
//! the log consistent with that checkpoint: a log that was rewritten, or
//! whose entries were edited behind the service's back, fails loudly, and
//! the stored state is then left as it was, so the next run fails too.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use serde_json::{json, Value};
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::entry::format_time;
use zkgov_log::policy::{Freshness, Policy};
use zkgov_log::receipt::Receipt;
use zkgov_log::rules::{LogState, LoggedKey};
use zkgov_log::trust::{self, state_file, Trusted, TrustedLog};
use zkgov_prover::registry::Registry;
use zkgov_verifier::client::{
    compare_verified, current_checkpoint, AuditError, Client, ClientError, CompareError,
    MonitorError, Submitted,
};
use zkgov_verifier::proof_line::ProofLine;
// `log verify` and its monitor download tiles: only what grew since the
// trusted checkpoint.
use zkgov_verifier::tiled::{audit, monitor};

use crate::Malformed;

/// The environment variable a bearer token may come from instead of `--token`.
const TOKEN_VAR: &str = "ZKGOV_TOKEN";

/// The environment variable that names the audit state directory.
const STATE_VAR: &str = "ZKGOV_STATE_DIR";

/// Where to reach the service, and as whom.
#[derive(Args)]
pub(crate) struct Server {
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// The bearer token (default: the ZKGOV_TOKEN variable, which keeps it out of the process
    /// list).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// The department's signing key (`zkgov department keygen`), which signs its roots, decisions
    /// and refusals once the log's governance lists it.
    #[arg(long, value_name = "FILE", env = "ZKGOV_DEPARTMENT_KEY")]
    key: Option<PathBuf>,
}

impl Server {
    /// A client that acts with the token (a department's, or the admin's
    /// for key registration), which it requires.
    pub(crate) fn client(&self) -> Result<Client> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => std::env::var(TOKEN_VAR).map_err(|_| {
                Malformed(format!(
                    "no token: this command acts as a department (or, for `keys register`, as \
                     the service's administrator), so it needs the bearer token issued to you; \
                     ask the service operator for a token, then set {TOKEN_VAR} or pass --token"
                ))
            })?,
        };
        let client = Client::new(&base_url(&self.server)?, Some(token));
        Ok(match &self.key {
            Some(path) => client.with_signer(Arc::new(crate::department::load_key(path)?)),
            None => client,
        })
    }
}

/// `url` if it is an http(s) URL.
pub(crate) fn base_url(url: &str) -> Result<String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_string())
    } else {
        Err(Malformed(format!(
            "--server {url:?}: expected an http:// or https:// URL, such as http://127.0.0.1:8080"
        ))
        .into())
    }
}

// ---------------------------------------------------------------- submit

#[derive(Args)]
pub(crate) struct SubmitArgs {
    /// The output of `zkgov prove` (JSON Lines); lines whose status is not `proven` are skipped.
    file: PathBuf,
    #[command(flatten)]
    server: Server,
    /// Proofs per request; the service checks a batch with one random linear combination.
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    batch: u64,
    /// Write the outcome lines (JSON Lines) to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The proven lines of a `zkgov prove` output file, and the other lines
/// counted by status.
struct ProveOutput {
    /// The proven lines, each a submission body.
    proven: Vec<ProofLine>,
    /// Lines not submitted, by status.
    skipped: BTreeMap<String, u64>,
}

/// Reads and checks a whole `zkgov prove` output before anything is sent:
/// a line that is not a JSON object with a string `status`, or a proven
/// line that is not a [`ProofLine`], is malformed.
fn read_prove_output(path: &Path) -> Result<ProveOutput> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut output = ProveOutput {
        proven: Vec::new(),
        skipped: BTreeMap::new(),
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |what: String| {
            Malformed(format!(
                "{}:{}: {what}; nothing was submitted",
                path.display(),
                i + 1
            ))
        };
        let value: Value = serde_json::from_str(line)
            .map_err(|e| malformed(format!("not JSON ({e}); is this `zkgov prove` output?")))?;
        let Some(status) = value.get("status").and_then(Value::as_str) else {
            return Err(
                malformed("not a `zkgov prove` output line: no string `status`".into()).into(),
            );
        };
        if status == "proven" {
            let line = serde_json::from_value(value)
                .map_err(|e| malformed(format!("a proven line that is not a proof line: {e}")))?;
            output.proven.push(line);
        } else {
            *output.skipped.entry(status.to_string()).or_default() += 1;
        }
    }
    Ok(output)
}

/// What came back for the proofs submitted so far.
#[derive(Default)]
struct SubmitTally {
    accepted: u64,
    existing: u64,
    rejected: BTreeMap<String, u64>,
}

impl SubmitTally {
    fn rejected(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// `name count, name count` for a summary.
fn counts(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn submit(args: &SubmitArgs) -> Result<ExitCode> {
    let input = read_prove_output(&args.file)?;
    let client = args.server.client()?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let progress = ProgressBar::new(input.proven.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} proofs [{bar:30}] {per_sec} ETA {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut tally = SubmitTally::default();
    let mut failure = None;
    for batch in input.proven.chunks(args.batch as usize) {
        let outcomes = match client.submit_batch(batch) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        for (ProofLine { case_id, .. }, outcome) in batch.iter().zip(outcomes) {
            let line = match outcome {
                Submitted::Accepted(receipt) => {
                    tally.accepted += 1;
                    json!({"case_id": case_id, "status": "accepted", "receipt": receipt})
                }
                Submitted::Existing(receipt) => {
                    tally.existing += 1;
                    json!({"case_id": case_id, "status": "existing", "receipt": receipt})
                }
                Submitted::Rejected { reason, message } => {
                    *tally.rejected.entry(reason.clone()).or_default() += 1;
                    json!({
                        "case_id": case_id,
                        "status": "rejected",
                        "error": {"reason": reason, "message": message},
                    })
                }
            };
            writeln!(out, "{line}").context("cannot write the outcome")?;
        }
        // Each batch's outcomes are out before the next batch is sent, so
        // an interrupted run still says what the service holds.
        out.flush().context("cannot write the outcome")?;
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();

    let done = tally.accepted + tally.existing + tally.rejected();
    let mut summary = format!(
        "{done} of {} proofs submitted: {} accepted, {} existing, {} rejected",
        input.proven.len(),
        tally.accepted,
        tally.existing,
        tally.rejected()
    );
    if !tally.rejected.is_empty() {
        summary += &format!(" ({})", counts(&tally.rejected));
    }
    let skipped: u64 = input.skipped.values().sum();
    summary += &format!("; {skipped} lines skipped");
    if skipped > 0 {
        summary += &format!(" ({})", counts(&input.skipped));
    }
    eprintln!("{summary}");
    if let Some(e) = failure {
        return Err(anyhow!(e).context(format!(
            "submission stopped after {done} of {} proofs",
            input.proven.len()
        )));
    }
    Ok(if tally.rejected() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

// ---------------------------------------------------------------- root

#[derive(Subcommand)]
pub(crate) enum RootCommand {
    /// Anchor a registry root in the service's log and print the receipt (JSON).
    Publish(PublishArgs),
}

#[derive(Args)]
pub(crate) struct PublishArgs {
    /// The registry directory whose current root to anchor.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The root to anchor, a canonical decimal field element, instead of a directory.
    #[arg(long, value_name = "DECIMAL", conflicts_with = "dir")]
    root: Option<String>,
    /// The registry's name in the service, such as real-estate.
    #[arg(long, value_name = "NAME")]
    registry: Option<String>,
    /// The registry's name, in the spelling of earlier versions (warns); with it, --registry is
    /// the directory, as it was then.
    #[arg(long, value_name = "NAME", hide = true)]
    name: Option<String>,
    #[command(flatten)]
    server: Server,
}

impl PublishArgs {
    /// The registry's name in the service and the directory, if any, from
    /// this spelling or the earlier one (`--registry DIR --name NAME`).
    fn target(&self) -> Result<(String, Option<PathBuf>)> {
        let Some(name) = &self.name else {
            let name = self.registry.clone().ok_or_else(|| {
                Malformed("give the registry's name in the service: --registry NAME".into())
            })?;
            return Ok((name, self.dir.clone()));
        };
        crate::warn_deprecated(
            "`zkgov root publish --registry DIR --name NAME`",
            "write `zkgov root publish DIR --registry NAME`",
        );
        let dir = match (&self.dir, &self.registry) {
            (Some(_), Some(_)) => {
                return Err(Malformed(
                    "with --name, --registry is the directory: give it once".into(),
                )
                .into())
            }
            (dir, old) => dir.clone().or_else(|| old.as_ref().map(PathBuf::from)),
        };
        Ok((name.clone(), dir))
    }
}

pub(crate) fn root(command: &RootCommand) -> Result<ExitCode> {
    let RootCommand::Publish(args) = command;
    let (name, dir) = args.target()?;
    let client = args.server.client()?;
    let root = match (&dir, &args.root) {
        (Some(_), Some(_)) => {
            return Err(Malformed("give the registry directory or --root, not both".into()).into())
        }
        (Some(dir), None) => {
            let registry = Registry::open(dir).map_err(|e| crate::registry::failure(e, None))?;
            check_registry_schema(&client, dir, &registry, &name)?;
            to_decimal(&registry.root())
        }
        (None, Some(text)) => {
            let root = parse_field_element(text).map_err(|e| Malformed(format!("--root: {e}")))?;
            to_decimal(&root)
        }
        (None, None) => {
            return Err(Malformed(
                "give the registry directory whose root to anchor, or --root DECIMAL".into(),
            )
            .into())
        }
    };
    let receipt = client.publish_root(&name, &root)?;
    println!("{}", serde_json::to_string(&receipt)?);
    eprintln!(
        "anchored root {root} of registry {name} at log entry {}",
        receipt.index
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses to anchor the root of the registry in `dir` under `name` when
/// the keys the service holds for `name` are over another schema: the root
/// of one department's registry published under another's name.
fn check_registry_schema(
    client: &Client,
    dir: &Path,
    registry: &Registry,
    name: &str,
) -> Result<()> {
    let listed = client.get("/v1/keys")?;
    let ids = listed["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["registry"].as_str() == Some(name))
        .filter_map(|k| k["key_id"].as_str());
    let mut checked = false;
    for id in ids {
        let key = client.key(id)?;
        let Some(text) = key["schema"].as_str() else {
            continue;
        };
        let schema = zkgov_circuits::schema::Schema::from_toml(&format!("key {id}'s schema"), text)
            .map_err(|e| {
                anyhow!("the service's key {id} has a schema this client cannot read: {e}")
            })?;
        if &schema != registry.schema() {
            return Err(Malformed(format!(
                "the registry {} has schema {:?}, but the service's registry {name} is proved \
                 with keys over schema {:?} (key {id}); is --registry the registry's name in \
                 the service? Nothing was anchored",
                dir.display(),
                registry.schema().name,
                schema.name
            ))
            .into());
        }
        checked = true;
    }
    if !checked {
        eprintln!(
            "note: the service holds no key for registry {name}, so the schema of {} could not \
             be checked against it",
            dir.display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- case

#[derive(Subcommand)]
pub(crate) enum CaseCommand {
    /// Compare a case's anchored results: exit 0 if every required key has one and one subject tag
    /// has them all, 1 otherwise.
    Compare(CompareArgs),
    /// Record the deciding department's decision on a case, citing the results it relied on, and
    /// print the receipt (JSON).
    Decide(DecideArgs),
    /// List applications' cases, newest first: a table, or JSON with --json.
    List(crate::casework::CaseListArgs),
    /// Show an application's case: each item of evidence, the decision and the licence.
    Show(crate::casework::CaseShowArgs),
}

/// What a department decides.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Decision {
    Approved,
    Refused,
}

#[derive(Args)]
pub(crate) struct DecideArgs {
    /// The case number.
    case: String,
    /// The decision.
    #[arg(long, value_enum)]
    decision: Decision,
    /// The log index of a result the decision relies on (as `case compare` prints them); repeat
    /// for each.
    #[arg(long = "result", value_name = "INDEX")]
    results: Vec<u64>,
    /// A note for the log, at most 1024 bytes.
    #[arg(long, default_value = "")]
    note: String,
    #[command(flatten)]
    server: Server,
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    /// The case number.
    case: String,
    /// A key id whose result the case needs; repeat for each.
    #[arg(long = "require", value_name = "KEYID", required = true)]
    required: Vec<String>,
    /// A param value the results must hold, such as today=2026-11-23 or usage=medical (encoded by
    /// each policy's param type); repeat for each. A result whose params differ does not count.
    #[arg(long = "expect", value_name = "NAME=VALUE")]
    expect: Vec<String>,
    /// Do not trust the service's answer: fetch the case's entries and keys with inclusion proofs
    /// against a checkpoint verified with the log's key (and consistent with the one trusted),
    /// verify every proof again, and compare locally with the same rules.
    #[arg(long)]
    verify: bool,
    /// With --verify: the log's public key, as for `zkgov log verify` (default: the one trusted
    /// in --state).
    #[arg(long, value_name = "KEY", requires = "verify")]
    log_key: Option<String>,
    /// With --verify: the directory of trusted state, as for `zkgov log verify`.
    #[arg(long, value_name = "DIR", requires = "verify")]
    state: Option<PathBuf>,
    /// With --verify: a trust policy (log, witness, group, quorum lines); the checkpoint must
    /// carry its quorum of witness cosignatures.
    #[arg(long, value_name = "FILE", requires = "verify")]
    policy: Option<PathBuf>,
    /// With --policy: count only cosignatures made at most this many seconds ago.
    #[arg(long, value_name = "SECONDS", requires = "policy")]
    max_cosignature_age: Option<u64>,
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
}

pub(crate) fn case(command: &CaseCommand) -> Result<ExitCode> {
    match command {
        CaseCommand::Compare(args) => compare(args),
        CaseCommand::Decide(args) => decide(args),
        CaseCommand::List(args) => crate::casework::list_cases(args),
        CaseCommand::Show(args) => crate::casework::show_case(args),
    }
}

fn decide(args: &DecideArgs) -> Result<ExitCode> {
    let decision = match args.decision {
        Decision::Approved => "approved",
        Decision::Refused => "refused",
    };
    let client = args.server.client()?;
    let receipt = client.decide(&args.case, decision, &args.results, &args.note)?;
    println!("{}", serde_json::to_string(&receipt)?);
    eprintln!(
        "case {}: {decision}, recorded at log entry {}",
        args.case, receipt.index
    );
    Ok(ExitCode::SUCCESS)
}

fn compare(args: &CompareArgs) -> Result<ExitCode> {
    if let Some(bad) = args
        .required
        .iter()
        .find(|k| k.is_empty() || k.contains(','))
    {
        return Err(Malformed(format!(
            "--require {bad:?}: expected one key id (as `zkgov keys setup` prints it)"
        ))
        .into());
    }
    let expect = args
        .expect
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(n, _)| !n.is_empty() && !n.contains(','))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Malformed(format!(
                        "--expect {pair:?}: expected NAME=VALUE, such as today=2026-11-23"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::new(&base_url(&args.server)?, None);
    let comparison = if args.verify {
        match verified_comparison(args, &client, &expect)? {
            Ok(comparison) => comparison,
            Err(code) => return Ok(code),
        }
    } else {
        client.compare(&args.case, &args.required, &expect)?
    };
    println!("{}", serde_json::to_string(&comparison)?);
    for result in comparison.results.iter().filter(|r| !r.counts) {
        eprintln!(
            "case {}: result {} under key {} does not count: {}",
            args.case,
            result.index,
            result.key_id,
            result.why.as_deref().unwrap_or("")
        );
    }
    if !comparison.complete {
        eprintln!(
            "case {}: no result under the required keys {}",
            args.case,
            comparison.missing.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    if !comparison.tags_match {
        eprintln!(
            "case {}: every required key has a result, but the subject tags differ: \
             no one applicant has them all",
            args.case
        );
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "case {}: complete, one subject tag under every required key (log entries {})",
        args.case,
        comparison
            .cited
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `case compare --verify`: the comparison made locally from entries
/// proved to be in a verified checkpoint.
fn verified_comparison(
    args: &CompareArgs,
    client: &Client,
    expect: &[(String, String)],
) -> Result<Result<zkgov_verifier::client::Comparison, ExitCode>> {
    let policy = args.policy.as_deref().map(read_policy).transpose()?;
    let log_key = log_key_or_policys(args.log_key.as_deref(), policy.as_ref());
    let context = match trust_context(args.state.as_deref(), log_key, client)? {
        Ok(context) => context,
        Err(code) => return Ok(Err(code)),
    };
    let failed = |e: &dyn std::fmt::Display| {
        eprintln!("LOG VERIFICATION FAILED: {e}");
        Ok(Err(ExitCode::FAILURE))
    };
    let checkpoint = match current_checkpoint(
        client,
        &context.verifier,
        &context.origin,
        context.trusted.as_ref().map(|t| &t.checkpoint),
    ) {
        Ok((note, checkpoint, _)) => {
            let check = PolicyCheck::new(
                policy.as_ref(),
                args.policy.as_deref(),
                args.max_cosignature_age,
            );
            if quorum_refusal(check, &note).is_some() {
                return Ok(Err(ExitCode::FAILURE));
            }
            checkpoint
        }
        Err(e) if is_unavailable(&e) => {
            return Err(
                unavailable(e).context("cannot fetch the log's checkpoint; nothing was compared")
            )
        }
        Err(e) => return failed(&e),
    };
    match compare_verified(client, &checkpoint, &args.case, &args.required, expect) {
        Ok(comparison) => {
            eprintln!(
                "case {}: every result checked against the log's checkpoint of {} entries, its \
                 proof verified again",
                args.case, checkpoint.size
            );
            Ok(Ok(comparison))
        }
        Err(CompareError::Expectation(refusal)) => Err(Malformed(refusal.to_string()).into()),
        Err(e) => failed(&e),
    }
}

// ---------------------------------------------------------------- log

#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Audit the service's log: signature, consistency with the last checkpoint verified, entries,
    /// receipts. Exit 0 if it checks out, 1 if not (the trusted state is then left unchanged).
    Verify(LogVerifyArgs),
    /// Append the entries a restored database lacks, from another copy of the log (a service's
    /// URL, or a file that `zkgov log export` wrote), after checking them against the last
    /// checkpoint this service signed.
    Restore(crate::serve::RestoreArgs),
    /// Write a copy of the log's entries (JSON Lines of `index` and `entry`), for `zkgov log
    /// restore --from FILE`.
    Export(ExportArgs),
    /// Prepare a new log signing key; at its next start the service hands the log over to it
    /// with a `log_key` entry signed by the current key, which clients follow.
    RotateKey(crate::serve::RotateKeyArgs),
    /// Print the log's public key, as `--log-key` takes it. It comes from the service itself:
    /// compare it with the key its operator publishes before you trust it.
    Key(LogKeyArgs),
}

#[derive(Args)]
pub(crate) struct LogKeyArgs {
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// Print `{"origin": …, "verifier_key": …}` instead of the key alone.
    #[arg(long)]
    json: bool,
}

/// `zkgov log key`: the key on standard output, so that
/// `--log-key "$(zkgov log key)"` works.
fn log_key(args: &LogKeyArgs) -> Result<ExitCode> {
    let client = Client::new(&base_url(&args.server)?, None);
    let body = client.get("/v1/log/key")?;
    let (Some(origin), Some(key)) = (body["origin"].as_str(), body["verifier_key"].as_str()) else {
        return Err(anyhow!(
            "{}/v1/log/key: expected an origin and a verifier_key, got {body}",
            args.server
        ));
    };
    // A key that does not parse would fail every later check anyway.
    LogVerifier::from_verifier_key(key)
        .map_err(|e| anyhow!("the service's log key {key:?} does not parse: {e}"))?;
    if args.json {
        println!("{}", json!({"origin": origin, "verifier_key": key}));
    } else {
        println!("{key}");
    }
    eprintln!("log {origin}; this key came from the service itself: check it against the key its operator publishes");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `zkgov log export`: every entry of the current checkpoint, written to a
/// temporary file and renamed, so a half-written copy never has the name.
fn export(args: &ExportArgs) -> Result<ExitCode> {
    let client = Client::new(&base_url(&args.server)?, None);
    let note = client.checkpoint()?;
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| anyhow!("the service's checkpoint has no size line"))?;
    let mut text = String::new();
    let mut at = 0;
    while at < size {
        let end = (at + 4096).min(size);
        for (offset, entry) in client.entries(at, end)?.into_iter().enumerate() {
            text += &json!({"index": at + offset as u64, "entry": entry}).to_string();
            text.push('\n');
        }
        at = end;
    }
    zkgov_keys::files::write_atomically(&args.out, text.as_bytes())?;
    eprintln!(
        "wrote the {size} entries of the log to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub(crate) struct LogVerifyArgs {
    /// The verifier service, such as http://127.0.0.1:8080 (default: the ZKGOV_SERVER variable).
    #[arg(long, value_name = "URL", env = "ZKGOV_SERVER")]
    server: String,
    /// The log's public key, `name+hash+base64`, as `zkgov serve` prints it. Required on the
    /// first run for a log; later runs use the stored one, and a key given must equal it.
    #[arg(long, value_name = "KEY")]
    log_key: Option<String>,
    /// Receipts to check: a file of one receipt (JSON), or `zkgov submit` output (JSON Lines; the
    /// `receipt` of each line).
    #[arg(long = "receipt", value_name = "FILE", num_args = 1..)]
    receipts: Vec<PathBuf>,
    /// The directory of trusted state, one file per log (default: $ZKGOV_STATE_DIR, else
    /// ~/.zkgov).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Also replay every entry through the acceptance rules, re-verifying every proof; the replay
    /// state is kept beside the trusted checkpoint, so a later run checks only the new entries.
    #[arg(long)]
    full: bool,
    /// A trust policy (log, witness, group, quorum lines): the checkpoint must carry its quorum
    /// of witness cosignatures, and without --log-key its log key is the policy's.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// With --policy: count only cosignatures made at most this many seconds ago (a witness
    /// cosigns each new checkpoint, so an old cosignature on a busy log is a warning sign).
    #[arg(long, value_name = "SECONDS", requires = "policy")]
    max_cosignature_age: Option<u64>,
    /// Print the verdict as one JSON document (`docs/cli.md`, "JSON output").
    #[arg(long)]
    json: bool,
}

/// What `log verify` found when the log checked out.
struct Verified<'a> {
    origin: &'a str,
    size: u64,
    /// The checkpoint trusted before this run: its size and when it was verified.
    previous: Option<(u64, &'a str)>,
    receipts: usize,
    log_key: String,
    /// With `--full`: what the replay covered.
    replay: Option<Replay>,
}

/// What a `log verify --full` run replayed through the rules.
struct Replay {
    new: u64,
    from: u64,
    counts: zkgov_log::rules::Counts,
}

impl Verified<'_> {
    /// Prints the verdict: a sentence, or with `--json` its document.
    fn print(&self, json: bool) {
        if json {
            let previous = self
                .previous
                .map(|(size, verified_at)| json!({"size": size, "verified_at": verified_at}));
            let replay = self
                .replay
                .as_ref()
                .map(|r| json!({"new": r.new, "from": r.from, "counts": r.counts}));
            println!(
                "{}",
                json!({
                    "verified": true,
                    "origin": self.origin,
                    "size": self.size,
                    "previous": previous,
                    "receipts": self.receipts,
                    "log_key": self.log_key,
                    "replay": replay,
                })
            );
            return;
        }
        match &self.replay {
            Some(r) => println!(
                "log OK: {} entries, checkpoint verified, every entry replayed through the rules \
                 ({} new this run, from entry {}; {} results with their proofs verified in all, \
                 {} roots, {} keys, {} decisions), {} receipts included",
                self.size,
                r.new,
                r.from,
                r.counts.results,
                r.counts.roots,
                r.counts.keys,
                r.counts.decisions,
                self.receipts
            ),
            None => {
                let against = match self.previous {
                    Some((size, verified_at)) => format!(
                        "consistent with the checkpoint of size {size} stored on {verified_at}"
                    ),
                    None => "first run: no earlier checkpoint, this log key is trusted from now on"
                        .to_string(),
                };
                println!(
                    "log OK: {} entries, checkpoint verified, {against}, {} receipts included",
                    self.size, self.receipts
                );
            }
        }
    }
}

/// `log verify`'s negative answer, already explained on standard error:
/// exit 1 and, with `--json`, `{"verified": false, "origin", "reason"}`.
fn not_verified(json: bool, origin: &str, reason: &str) -> Result<ExitCode> {
    if json {
        println!(
            "{}",
            json!({"verified": false, "origin": origin, "reason": reason})
        );
    }
    Ok(ExitCode::FAILURE)
}

/// Reads a trust policy file.
fn read_policy(path: &Path) -> Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy {}", path.display()))?;
    Policy::parse(&text).map_err(|e| Malformed(format!("{}: {e}", path.display())).into())
}

/// The log key given, else the first log key of the policy.
fn log_key_or_policys<'a>(given: Option<&'a str>, policy: Option<&'a Policy>) -> Option<&'a str> {
    given.or_else(|| {
        policy
            .and_then(|p| p.logs.first())
            .map(|log| log.verifier_key.as_str())
    })
}

/// A trust policy given on the command line, and how old its cosignatures
/// may be.
#[derive(Clone, Copy)]
struct PolicyCheck<'a> {
    policy: &'a Policy,
    path: &'a Path,
    max_age: Option<u64>,
}

impl<'a> PolicyCheck<'a> {
    fn new(
        policy: Option<&'a Policy>,
        path: Option<&'a Path>,
        max_age: Option<u64>,
    ) -> Option<PolicyCheck<'a>> {
        let (policy, path) = policy.zip(path)?;
        Some(PolicyCheck {
            policy,
            path,
            max_age,
        })
    }
}

/// Checks the quorum of `policy` (if any) on `note`; prints the refusal
/// and returns its reason if it fails.
fn quorum_refusal(check: Option<PolicyCheck>, note: &str) -> Option<String> {
    let PolicyCheck {
        policy,
        path,
        max_age,
    } = check?;
    let freshness = max_age.map(|max_age_seconds| Freshness {
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        max_age_seconds,
    });
    match policy.verify_fresh(note, freshness) {
        Ok(_) => None,
        Err(e) => {
            let reason = format!("refused by the policy {}: {e}", path.display());
            eprintln!("REFUSED by the policy {}: {e}", path.display());
            eprintln!(
                "  A checkpoint without its witnesses' cosignatures may be a view shown to you \
                 alone. Try again once the witnesses have cosigned; if they never do, keep this \
                 checkpoint as evidence."
            );
            Some(reason)
        }
    }
}

/// The state directory: `--state`, else `$ZKGOV_STATE_DIR`, else
/// `~/.zkgov`, else `./.zkgov`.
fn state_dir(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(STATE_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".zkgov"),
        None => PathBuf::from(".zkgov"),
    }
}

/// Whether `dir` holds any state file.
fn has_state_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "json"))
    })
}

fn load_trusted(path: &Path, origin: &str) -> Result<Option<Trusted>> {
    Ok(trust::load(path, origin)?)
}

fn store_trusted(path: &Path, state: &TrustedLog) -> Result<()> {
    Ok(trust::store(path, state)?)
}

/// Reads the receipts of one `--receipt` file: one receipt (JSON), or
/// JSON Lines of receipts or of `zkgov submit` output.
fn read_receipts(path: &Path) -> Result<Vec<Receipt>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        if value.get("receipt").is_none() && value.get("status").is_none() {
            let receipt = serde_json::from_value(value)
                .map_err(|e| Malformed(format!("{}: not a receipt: {e}", path.display())))?;
            return Ok(vec![receipt]);
        }
    }
    let mut receipts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |what: String| Malformed(format!("{}:{}: {what}", path.display(), i + 1));
        let value: Value =
            serde_json::from_str(line).map_err(|e| malformed(format!("not JSON ({e})")))?;
        let receipt = match value.get("receipt") {
            Some(receipt) => receipt.clone(),
            // A rejected proof has no receipt.
            None if value.get("status").is_some() => continue,
            None => value,
        };
        receipts.push(
            serde_json::from_value(receipt)
                .map_err(|e| malformed(format!("not a receipt: {e}")))?,
        );
    }
    Ok(receipts)
}

/// `log verify --full`: the audit, plus a replay of the new entries
/// through the rules.
#[allow(clippy::too_many_arguments)]
fn monitor_log(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    path: &Path,
    trusted: Option<&Trusted>,
    key: String,
    server: &str,
    receipts: &[Receipt],
    policy: Option<PolicyCheck>,
    json: bool,
) -> Result<ExitCode> {
    let state = match trusted {
        Some(t) => trust::load_replay(path, &t.checkpoint)?.unwrap_or_default(),
        None => LogState::new(),
    };
    let resumed = state.size();
    let progress = ProgressBar::hidden();
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} replaying {pos}/{len} entries [{bar:30}] {per_sec} ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    let monitored = monitor(
        client,
        verifier,
        origin,
        trusted.map(|t| &t.checkpoint),
        state,
        |n, total| {
            progress.set_length(total);
            progress.inc(n);
        },
    );
    progress.finish_and_clear();
    let fail = |e: &dyn std::fmt::Display| failed_audit(json, origin, server, path, e);
    let monitored = match monitored {
        Ok(m) => m,
        Err(MonitorError::Audit(e)) if is_unavailable(&e) => {
            return Err(unavailable(e).context(format!(
                "cannot audit log `{origin}`; nothing was verified and {} is unchanged",
                path.display()
            )));
        }
        Err(e) => return fail(&e),
    };
    if let Some(reason) = quorum_refusal(policy, &monitored.note) {
        eprintln!("  The trusted state {} is unchanged.", path.display());
        return not_verified(json, origin, &reason);
    }
    if !receipts.is_empty() {
        if let Err(e) = audit(
            client,
            verifier,
            origin,
            Some(&monitored.checkpoint),
            receipts,
        ) {
            return fail(&e);
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    trust::store_replay(path, &monitored.state)?;
    store_trusted(
        path,
        &trusted_log(
            origin,
            trusted,
            key,
            &monitored.log_key,
            &monitored.note,
            server,
            now,
        ),
    )?;
    Verified {
        origin,
        size: monitored.checkpoint.size,
        previous: trusted.map(|t| (t.checkpoint.size, t.stored.verified_at.as_str())),
        receipts: receipts.len(),
        log_key: monitored.log_key.verifier_key(),
        replay: Some(Replay {
            new: monitored.replayed,
            from: resumed,
            counts: monitored.state.counts(),
        }),
    }
    .print(json);
    Ok(ExitCode::SUCCESS)
}

/// Reports an audit that found the log wrong: the failure and what it
/// leaves on standard error, and [`not_verified`].
fn failed_audit(
    json: bool,
    origin: &str,
    server: &str,
    path: &Path,
    e: &dyn std::fmt::Display,
) -> Result<ExitCode> {
    eprintln!("LOG VERIFICATION FAILED: {e}");
    eprintln!(
        "  log `{origin}` at {server} does not check out. The trusted state {} is \
         unchanged; keep it as evidence.",
        path.display()
    );
    not_verified(json, origin, &e.to_string())
}

/// The state to store after a passed run that verified `note` under
/// `in_force`: the key the run started from (`key`), or the key the log
/// handed over to since, which is reported here.
fn trusted_log(
    origin: &str,
    before: Option<&Trusted>,
    key: String,
    in_force: &LogVerifier,
    note: &str,
    server: &str,
    now: i64,
) -> TrustedLog {
    let mut retired_keys = before.map_or_else(Vec::new, |t| t.stored.retired_keys.clone());
    let log_key = in_force.verifier_key();
    if log_key != key.trim() {
        eprintln!(
            "the log handed its key over, each hand-over signed by the key before it; trusted \
             from now on: {log_key}"
        );
        retired_keys.push(key.trim().to_string());
    }
    TrustedLog {
        origin: origin.to_string(),
        log_key,
        retired_keys,
        checkpoint: note.to_string(),
        verified_at: format_time(now),
        server: server.to_string(),
    }
}

/// Whether an audit error means the log could not be asked, rather than
/// that it answered something wrong.
fn is_unavailable(error: &AuditError) -> bool {
    match error {
        AuditError::Client(ClientError::Unreachable { .. }) => true,
        AuditError::Client(ClientError::Refused { status, .. }) => {
            *status >= 500 || *status == 408 || *status == 429
        }
        _ => false,
    }
}

/// An audit error that [`is_unavailable`], with the client's error in its
/// chain of causes, where the exit code looks for it.
fn unavailable(error: AuditError) -> anyhow::Error {
    match error {
        AuditError::Client(e) => e.into(),
        other => anyhow!(other),
    }
}

/// What the auditor trusts about the log a server serves: its key and the
/// stored state, from `--state` and `--log-key`.
struct TrustContext {
    origin: String,
    path: PathBuf,
    trusted: Option<Trusted>,
    key: String,
    verifier: LogVerifier,
}

/// Finds the trusted state for the log at `client`; `Err(code)` when the
/// key given contradicts the key trusted (already reported).
fn trust_context(
    state: Option<&Path>,
    log_key: Option<&str>,
    client: &Client,
) -> Result<Result<TrustContext, ExitCode>> {
    let dir = state_dir(state);
    let given = log_key
        .map(|key| {
            LogVerifier::from_verifier_key(key)
                .map(|verifier| (key.trim().to_string(), verifier))
                .map_err(|e| Malformed(format!("--log-key: {e}")))
        })
        .transpose()?;
    // The log's key names its origin; without a key, the server's checkpoint
    // says which stored state to use, and the stored key then checks it.
    let origin = match &given {
        Some((_, verifier)) => verifier.name().to_string(),
        None if !has_state_files(&dir) => {
            return Err(Malformed(format!(
                "no trusted state in {}: the first run for a log needs --log-key, the \
                 `log public key:` that `zkgov serve` prints",
                dir.display()
            ))
            .into());
        }
        None => {
            let note = client
                .checkpoint()
                .context("cannot fetch the log's checkpoint; nothing was verified")?;
            note.lines().next().unwrap_or_default().to_string()
        }
    };
    let path = state_file(&dir, &origin);
    let trusted = load_trusted(&path, &origin)?;
    let (key, verifier) = match (given, &trusted) {
        (None, None) => {
            return Err(Malformed(format!(
                "no trusted state for log `{origin}` in {}: the first run needs --log-key, \
                 the `log public key:` that `zkgov serve` prints",
                dir.display()
            ))
            .into());
        }
        (None, Some(t)) => (t.stored.log_key.clone(), t.verifier.clone()),
        (Some((key, verifier)), None) => (key, verifier),
        (Some((key, _)), Some(t)) if t.stored.retired_keys.contains(&key) => {
            (t.stored.log_key.clone(), t.verifier.clone())
        }
        (Some((key, verifier)), Some(t)) => {
            if key != t.stored.log_key.trim() {
                eprintln!(
                    "REFUSED: the --log-key given is not the key trusted for log `{origin}`\n  \
                     given:   {key}\n  trusted: {}\n  (stored in {})\n\
                     If the log's operator has announced a new key through a channel you trust, \
                     move that file away and run again with the new key.",
                    t.stored.log_key,
                    path.display()
                );
                return Ok(Err(ExitCode::from(2)));
            }
            (key, verifier)
        }
    };

    Ok(Ok(TrustContext {
        origin,
        path,
        trusted,
        key,
        verifier,
    }))
}

/// The log's entry of key `key_id`, fetched with an inclusion proof against
/// the log's checkpoint, which is verified with the log's key (`log_key`,
/// or the one trusted in `state`) and checked to extend the checkpoint
/// trusted there; the entry is checked on its own by the rules
/// ([`Client::included_key`]).
pub(crate) fn verified_key(
    server: &str,
    key_id: &str,
    log_key: Option<&str>,
    state: Option<&Path>,
) -> Result<Result<LoggedKey, ExitCode>> {
    let client = Client::new(&base_url(server)?, None);
    let context = match trust_context(state, log_key, &client)? {
        Ok(context) => context,
        Err(code) => return Ok(Err(code)),
    };
    let fetch = || -> Result<LoggedKey, CompareError> {
        let (_, checkpoint, _) = current_checkpoint(
            &client,
            &context.verifier,
            &context.origin,
            context.trusted.as_ref().map(|t| &t.checkpoint),
        )?;
        client.included_key(key_id, &checkpoint)
    };
    match fetch() {
        Ok(key) => Ok(Ok(key)),
        Err(CompareError::Audit(e)) if is_unavailable(&e) => {
            Err(unavailable(e).context("cannot fetch the key's log entry"))
        }
        Err(e) => {
            eprintln!("LOG VERIFICATION FAILED: {e}");
            Ok(Err(ExitCode::FAILURE))
        }
    }
}

pub(crate) fn log(command: &LogCommand) -> Result<ExitCode> {
    match command {
        LogCommand::Verify(args) => verify(args),
        LogCommand::Restore(args) => crate::serve::restore(args),
        LogCommand::Export(args) => export(args),
        LogCommand::RotateKey(args) => crate::serve::rotate_key(args),
        LogCommand::Key(args) => log_key(args),
    }
}

/// `zkgov log verify`: the log checked against the trusted state (every
/// entry replayed, with `--full`), and the state moved on.
fn verify(args: &LogVerifyArgs) -> Result<ExitCode> {
    let server = base_url(&args.server)?;
    let mut receipts = Vec::new();
    for path in &args.receipts {
        receipts.extend(read_receipts(path)?);
    }
    let client = Client::new(&server, None);
    let policy = args.policy.as_deref().map(read_policy).transpose()?;
    let log_key = log_key_or_policys(args.log_key.as_deref(), policy.as_ref());
    let TrustContext {
        origin,
        path,
        trusted,
        key,
        verifier,
    } = match trust_context(args.state.as_deref(), log_key, &client)? {
        Ok(context) => context,
        Err(code) => return Ok(code),
    };

    if args.full {
        return monitor_log(
            &client,
            &verifier,
            &origin,
            &path,
            trusted.as_ref(),
            key,
            &server,
            &receipts,
            PolicyCheck::new(
                policy.as_ref(),
                args.policy.as_deref(),
                args.max_cosignature_age,
            ),
            args.json,
        );
    }
    let audited = match audit(
        &client,
        &verifier,
        &origin,
        trusted.as_ref().map(|t| &t.checkpoint),
        &receipts,
    ) {
        Ok(audited) => audited,
        Err(e) if is_unavailable(&e) => {
            return Err(unavailable(e).context(format!(
                "cannot audit log `{origin}`; nothing was verified and {} is unchanged",
                path.display()
            )));
        }
        Err(e) => return failed_audit(args.json, &origin, &server, &path, &e),
    };

    let check = PolicyCheck::new(
        policy.as_ref(),
        args.policy.as_deref(),
        args.max_cosignature_age,
    );
    if let Some(reason) = quorum_refusal(check, &audited.note) {
        eprintln!("  The trusted state {} is unchanged.", path.display());
        return not_verified(args.json, &origin, &reason);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    store_trusted(
        &path,
        &trusted_log(
            &origin,
            trusted.as_ref(),
            key,
            &audited.log_key,
            &audited.note,
            &server,
            now,
        ),
    )?;
    Verified {
        origin: &origin,
        size: audited.entries,
        previous: trusted
            .as_ref()
            .map(|t| (t.checkpoint.size, t.stored.verified_at.as_str())),
        receipts: audited.receipts,
        log_key: audited.log_key.verifier_key(),
        replay: None,
    }
    .print(args.json);
    eprintln!(
        "stored the checkpoint of size {} of log `{origin}` in {}",
        audited.checkpoint.size,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
