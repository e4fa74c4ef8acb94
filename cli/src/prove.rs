//! `zkgov prove`: batch proving of a department's cases.
//!
//! Each case row names a case, a subject and the case secret: a canonical
//! decimal field element of at least 2^128 (see [`parse_case_secret`]). For each case
//! the prover finds the subject's live records, evaluates the policy
//! natively, and either proves the first record that satisfies it or writes
//! why not. Output is JSON Lines in input order, one line per case:
//!
//! - `{"status":"proven","case_id",…,"key_id","registry_root","public_inputs":[…],"proof":{snarkjs}}`
//! - `{"status":"not_satisfied","case_id",…,"reason"}`
//! - `{"status":"subject_not_found","case_id",…}`: no record, live or revoked, has the subject
//! - `{"status":"revoked","case_id",…}`: the subject's records are all revoked
//! - `{"status":"invalid_input","case_id",…,"reason"}`
//!
//! The output file always holds whole lines: `--resume` skips the cases it
//! already holds, and drops a trailing partial line left by a crash.
//!
//! Beside the output, `OUT.run.json` records what the lines are proofs of
//! (the key id, the registry root, the params, the cases file's SHA-256 and
//! the shard), written atomically before the first line. `--resume`
//! refuses an output whose record differs from the run it is asked for, and
//! names what differs: appending proofs of another statement to a file
//! would mix two runs in one.
//!
//! Exit codes: 0 when every case was decided (proven, or answered
//! `not_satisfied`, `subject_not_found` or `revoked`), 1 when the output
//! holds an `invalid_input` line, 2 for bad arguments.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use zkgov_circuits::circuit::StatementWitness;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::{Record, Schema};
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::Fr;
use zkgov_prover::engine::Engine;
use zkgov_prover::registry::Registry;
use zkgov_verifier::proof_line::ProofLine;

use crate::Malformed;

#[derive(Args)]
pub(crate) struct ProveArgs {
    /// The registry directory.
    #[arg(value_name = "REGISTRY", required_unless_present = "registry_flag")]
    registry: Option<PathBuf>,
    /// The registry directory, in the spelling of earlier versions (warns).
    #[arg(
        long = "registry",
        value_name = "DIR",
        hide = true,
        conflicts_with = "registry"
    )]
    registry_flag: Option<PathBuf>,
    /// The key directory of the policy to prove.
    #[arg(long)]
    keys: PathBuf,
    /// The cases: CSV with columns case_id, subject, case_secret (a decimal field element, at least 2^128), or JSON Lines with those keys.
    #[arg(long)]
    cases: PathBuf,
    /// A public param of the policy, NAME=VALUE; repeat for each.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// The output file (JSON Lines).
    #[arg(long)]
    out: PathBuf,
    /// Worker threads; each proves one case at a time. Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Skip the cases already in the output file and append the rest.
    #[arg(long)]
    resume: bool,
    /// Prove only shard I of N: the cases whose 0-based row number is I modulo N.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Do not verify each proof before writing it.
    #[arg(long)]
    no_self_check: bool,
}

/// One case as read from the cases file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseRow {
    pub(crate) case_id: String,
    pub(crate) subject: String,
    pub(crate) case_secret: String,
}

/// One line of the output.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum Outcome {
    Proven(ProofLine),
    NotSatisfied { case_id: String, reason: String },
    SubjectNotFound { case_id: String },
    Revoked { case_id: String },
    InvalidInput { case_id: String, reason: String },
}

impl Outcome {
    /// The line's `status`.
    fn status(&self) -> &'static str {
        match self {
            Outcome::Proven(_) => "proven",
            Outcome::NotSatisfied { .. } => "not_satisfied",
            Outcome::SubjectNotFound { .. } => "subject_not_found",
            Outcome::Revoked { .. } => "revoked",
            Outcome::InvalidInput { .. } => "invalid_input",
        }
    }

    fn case_id(&self) -> &str {
        match self {
            Outcome::Proven(ProofLine { case_id, .. })
            | Outcome::NotSatisfied { case_id, .. }
            | Outcome::SubjectNotFound { case_id }
            | Outcome::Revoked { case_id }
            | Outcome::InvalidInput { case_id, .. } => case_id,
        }
    }
}

/// The proof of output `text`: its one line, or the line of `case`, which
/// must be `proven` and, where `key_id` is given, under that key.
pub(crate) fn proven_line(
    text: &str,
    case: Option<&str>,
    key_id: Option<&str>,
) -> Result<ProofLine, String> {
    let mut chosen = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let outcome: Outcome = serde_json::from_str(line)
            .map_err(|e| format!("line {} is not a `zkgov prove` output line: {e}", i + 1))?;
        if case.is_none_or(|case| outcome.case_id() == case) {
            chosen.push(outcome);
        }
    }
    let outcome = match (chosen.len(), case) {
        (1, _) => chosen.remove(0),
        (0, Some(case)) => return Err(format!("no line of case `{case}`")),
        (0, None) => return Err("no output line".into()),
        (n, Some(case)) => return Err(format!("{n} lines of case `{case}`")),
        (n, None) => return Err(format!("{n} lines: name the one to verify with --case")),
    };
    match outcome {
        Outcome::Proven(line) => {
            if let Some(key_id) = key_id.filter(|k| *k != line.key_id) {
                return Err(format!(
                    "case {} is proved under key {}, but the key directory holds {key_id}",
                    line.case_id, line.key_id
                ));
            }
            Ok(line)
        }
        other => Err(format!(
            "case {} is `{}`: there is no proof to verify",
            other.case_id(),
            other.status()
        )),
    }
}

fn parse_shard(text: &str) -> Result<(u64, u64)> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
        .filter(|(i, n)| *n > 0 && i < n);
    parsed.ok_or_else(|| Malformed(format!("--shard {text:?}: expected I/N with 0 ≤ I < N")).into())
}

/// The rows of a cases file with their 0-based row numbers, read lazily.
type CaseRows = Box<dyn Iterator<Item = (u64, Result<CaseRow, String>)> + Send>;

/// Reads the cases file lazily: CSV or JSON Lines by extension.
fn read_cases(path: &Path) -> Result<CaseRows> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let jsonl = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "ndjson");
    if jsonl {
        let lines = BufReader::new(file).lines().enumerate();
        Ok(Box::new(lines.filter_map(|(i, line)| {
            let row = match line {
                Ok(line) if line.trim().is_empty() => return None,
                Ok(line) => serde_json::from_str::<CaseRow>(&line)
                    .map_err(|e| format!("line {}: {e}", i + 1)),
                Err(e) => Err(format!("line {}: {e}", i + 1)),
            };
            Some((i as u64, row))
        })))
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::None)
            .from_reader(file);
        let headers = reader
            .headers()
            .with_context(|| format!("{}: cannot read the CSV header", path.display()))?
            .clone();
        for column in ["case_id", "subject", "case_secret"] {
            if !headers.iter().any(|h| h == column) {
                return Err(Malformed(format!(
                    "{}: the CSV header lacks the column {column:?}",
                    path.display()
                ))
                .into());
            }
        }
        Ok(Box::new(
            reader
                .into_deserialize::<CaseRow>()
                .enumerate()
                .map(|(i, row)| (i as u64, row.map_err(|e| format!("row {}: {e}", i + 1)))),
        ))
    }
}

/// The case ids already in `out` and how many of its lines are
/// `invalid_input`, after dropping a trailing partial line.
fn completed_cases(out: &Path) -> Result<(HashSet<String>, u64)> {
    let mut done = HashSet::new();
    let mut invalid = 0;
    let Ok(bytes) = std::fs::read(out) else {
        return Ok((done, invalid));
    };
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        let file = OpenOptions::new().write(true).open(out)?;
        file.set_len(whole as u64)?;
        file.sync_all()?;
        eprintln!(
            "{}: dropped a partial last line of {} bytes",
            out.display(),
            bytes.len() - whole
        );
    }
    for (i, line) in bytes[..whole].split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let outcome: Outcome = serde_json::from_slice(line).with_context(|| {
            format!(
                "{}: line {} is not an output line; refusing to resume",
                out.display(),
                i + 1
            )
        })?;
        if matches!(outcome, Outcome::InvalidInput { .. }) {
            invalid += 1;
        }
        done.insert(outcome.case_id().to_string());
    }
    Ok((done, invalid))
}

/// What an output file's lines are proofs of, kept beside it in
/// `OUT.run.json` so that `--resume` continues only the same run.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunIdentity {
    /// The key directory's key id.
    key_id: String,
    /// The registry's root, decimal.
    registry_root: String,
    /// Each param of the policy, in statement order, as given.
    params: Vec<RunParam>,
    /// The SHA-256 of the cases file's bytes, hex.
    cases_sha256: String,
    /// `--shard`, as `I/N`, or none.
    shard: Option<String>,
}

/// One param of a run.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunParam {
    /// The param's name.
    name: String,
    /// Its value as given on the command line.
    value: String,
    /// The field element it encodes to, decimal: what the proofs state.
    encoded: String,
}

impl RunIdentity {
    /// Where the identity of the run writing `out` is kept.
    fn path(out: &Path) -> PathBuf {
        let mut name = out.as_os_str().to_owned();
        name.push(".run.json");
        PathBuf::from(name)
    }

    /// Each way `self` (this run) differs from `earlier` (the run that
    /// wrote the output), in words.
    fn differences(&self, earlier: &RunIdentity) -> Vec<String> {
        let mut differ = Vec::new();
        let mut compare = |what: &str, now: &str, then: &str| {
            if now != then {
                differ.push(format!("{what} is {now} now, but was {then}"));
            }
        };
        compare("the key id", &self.key_id, &earlier.key_id);
        compare(
            "the registry root",
            &self.registry_root,
            &earlier.registry_root,
        );
        compare(
            "the cases file's SHA-256",
            &self.cases_sha256,
            &earlier.cases_sha256,
        );
        let shard = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
        compare("--shard", &shard(&self.shard), &shard(&earlier.shard));
        for param in &self.params {
            match earlier.params.iter().find(|p| p.name == param.name) {
                Some(then) if then.encoded != param.encoded => differ.push(format!(
                    "--param {} is {} now, but was {}",
                    param.name, param.value, then.value
                )),
                Some(_) => {}
                None => differ.push(format!("--param {} was not given", param.name)),
            }
        }
        for then in &earlier.params {
            if !self.params.iter().any(|p| p.name == then.name) {
                differ.push(format!(
                    "--param {} was {}, and is not given now",
                    then.name, then.value
                ));
            }
        }
        differ
    }
}

/// The SHA-256 of a file's bytes, hex, read in blocks.
fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that `out` may be continued by the run `identity` (with
/// `--resume`) or started afresh, and records `identity` beside it.
fn claim_output(out: &Path, identity: &RunIdentity, resume: bool) -> Result<()> {
    let record = RunIdentity::path(out);
    if out.exists() {
        if !resume {
            return Err(Malformed(format!(
                "{} exists; pass --resume to continue it",
                out.display()
            ))
            .into());
        }
        let text = match std::fs::read_to_string(&record) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Malformed(format!(
                    "cannot resume {}: {} is missing, so nothing says which key, registry root, \
                     params and cases its lines were proved with; prove into a new --out",
                    out.display(),
                    record.display()
                ))
                .into())
            }
            Err(e) => return Err(e).context(format!("cannot read {}", record.display())),
        };
        let earlier: RunIdentity = serde_json::from_str(&text)
            .map_err(|e| Malformed(format!("{}: not a run record ({e})", record.display())))?;
        let differences = identity.differences(&earlier);
        if !differences.is_empty() {
            return Err(Malformed(format!(
                "cannot resume {}: it holds another run's proofs ({}): {}. Prove into a new \
                 --out, or resume with the same arguments",
                out.display(),
                record.display(),
                differences.join("; ")
            ))
            .into());
        }
        return Ok(());
    }
    let mut text = serde_json::to_string_pretty(identity)?;
    text.push('\n');
    zkgov_keys::files::write_atomically(&record, text.as_bytes())
        .with_context(|| format!("cannot write {}", record.display()))?;
    Ok(())
}

/// The least case secret accepted, as a power of two.
pub(crate) const MIN_CASE_SECRET_BITS: u32 = 128;

/// Parses a case secret: a canonical decimal field element (below r,
/// never reduced) of at least 2^128. A subject id is guessable, so a small
/// secret would let anyone who sees a subject tag find its subject by
/// trying secrets. The message never repeats the secret.
pub(crate) fn parse_case_secret(text: &str) -> Result<Fr, String> {
    use ark_ff::{BigInteger, PrimeField};
    let secret = parse_field_element(text).map_err(|e| format!("case_secret: {e}"))?;
    if secret.into_bigint().num_bits() <= MIN_CASE_SECRET_BITS {
        return Err(format!(
            "case_secret: below 2^{MIN_CASE_SECRET_BITS}, so the subject tag could be \
             brute-forced; draw each case's secret from a CSPRNG as a field element of about \
             254 bits (below r), as the service does for applications"
        ));
    }
    Ok(secret)
}

/// Cases planned together, their paths read from the registry as one
/// batch.
const PATH_BATCH: usize = 256;

/// What a case needs: a proof (its statement and witness), or nothing
/// more than its output line.
pub(crate) enum Plan {
    Prove(Box<(Statement, StatementWitness)>),
    Done(Outcome),
}

/// A case's plan: what [`plan_cases`] plans for one row. Every live
/// record of the subject is tried, and the first that satisfies the
/// policy is proved.
pub(crate) fn plan_case(
    row: Result<CaseRow, String>,
    registry: &Registry,
    schema: &Schema,
    policy: &Policy,
    params: &[Fr],
) -> (String, Plan) {
    plan_cases(vec![row], registry, schema, policy, params)
        .pop()
        .expect("one plan per row")
}

/// The cases' plans, in order, with the membership paths of every
/// case to prove read from the registry as one batch.
pub(crate) fn plan_cases(
    rows: Vec<Result<CaseRow, String>>,
    registry: &Registry,
    schema: &Schema,
    policy: &Policy,
    params: &[Fr],
) -> Vec<(String, Plan)> {
    let judged: Vec<(String, Judged)> = rows
        .into_iter()
        .map(|row| judge(row, registry, schema, policy, params))
        .collect();
    let indices: Vec<u64> = judged
        .iter()
        .filter_map(|(_, j)| match j {
            Judged::Prove { index, .. } => Some(*index),
            Judged::Done(_) => None,
        })
        .collect();
    let mut paths = registry.paths(&indices).into_iter();
    judged
        .into_iter()
        .map(|(case_id, judged)| match judged {
            Judged::Prove {
                statement,
                record,
                case_secret,
                ..
            } => {
                let witness = StatementWitness {
                    record,
                    path: paths.next().expect("one path per index"),
                    case_secret,
                };
                (case_id, Plan::Prove(Box::new((statement, witness))))
            }
            Judged::Done(outcome) => (case_id, Plan::Done(outcome)),
        })
        .collect()
}

/// A case's plan before its path is read.
enum Judged {
    Prove {
        statement: Statement,
        record: Record,
        index: u64,
        case_secret: Fr,
    },
    Done(Outcome),
}

fn judge(
    row: Result<CaseRow, String>,
    registry: &Registry,
    schema: &Schema,
    policy: &Policy,
    params: &[Fr],
) -> (String, Judged) {
    let row = match row {
        Ok(row) => row,
        Err(reason) => {
            return (
                String::new(),
                Judged::Done(Outcome::InvalidInput {
                    case_id: String::new(),
                    reason,
                }),
            );
        }
    };
    let case_id = row.case_id.clone();
    let invalid = |reason: String| {
        Judged::Done(Outcome::InvalidInput {
            case_id: case_id.clone(),
            reason,
        })
    };
    if case_id.is_empty() {
        return (case_id.clone(), invalid("empty case_id".into()));
    }
    let subject_field = &schema.fields[schema.subject];
    let subject = match subject_field.ty.encode(&subject_field.name, &row.subject) {
        Ok(s) => s,
        Err(e) => return (case_id.clone(), invalid(format!("subject: {e}"))),
    };
    let case_secret = match parse_case_secret(&row.case_secret) {
        Ok(s) => s,
        Err(reason) => return (case_id.clone(), invalid(reason)),
    };
    let candidates = registry.records_of(&subject);
    if candidates.is_empty() && registry.has_revoked_records(&subject) {
        return (
            case_id.clone(),
            Judged::Done(Outcome::Revoked {
                case_id: case_id.clone(),
            }),
        );
    }
    if candidates.is_empty() {
        return (
            case_id.clone(),
            Judged::Done(Outcome::SubjectNotFound {
                case_id: case_id.clone(),
            }),
        );
    }
    let satisfying = candidates
        .iter()
        .find(|(_, record)| policy.evaluate(schema, &record.values, params));
    let Some((index, record)) = satisfying else {
        let (_, first) = &candidates[0];
        let reason = policy.failures(schema, &first.values, params).join("; ");
        return (
            case_id.clone(),
            Judged::Done(Outcome::NotSatisfied {
                case_id: case_id.clone(),
                reason,
            }),
        );
    };
    let statement = Statement {
        registry_root: registry.root(),
        case_id: Statement::case_id(&case_id),
        subject_tag: SubjectTag::new(subject, case_secret),
        params: params.to_vec(),
    };
    (
        case_id,
        Judged::Prove {
            statement,
            record: record.clone(),
            index: *index,
            case_secret,
        },
    )
}

#[derive(Default)]
struct Tally {
    proven: u64,
    not_satisfied: u64,
    subject_not_found: u64,
    revoked: u64,
    invalid_input: u64,
}

impl Tally {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Proven(_) => self.proven += 1,
            Outcome::NotSatisfied { .. } => self.not_satisfied += 1,
            Outcome::SubjectNotFound { .. } => self.subject_not_found += 1,
            Outcome::Revoked { .. } => self.revoked += 1,
            Outcome::InvalidInput { .. } => self.invalid_input += 1,
        }
    }

    fn cases(&self) -> u64 {
        self.proven
            + self.not_satisfied
            + self.subject_not_found
            + self.revoked
            + self.invalid_input
    }
}

/// What a run proves with, opened and checked against one another: the
/// registry, the key, its schema and policy, and the params.
struct Inputs<'a> {
    registry: Registry,
    keys: zkgov_keys::store::KeyDir,
    schema: Schema,
    policy: Policy,
    /// The params as given, `NAME=VALUE`.
    given: Vec<(&'a str, &'a str)>,
    /// The params encoded, in the policy's order.
    params: Vec<Fr>,
}

impl<'a> Inputs<'a> {
    fn open(args: &'a ProveArgs, registry_dir: &Path) -> Result<Inputs<'a>> {
        eprintln!("opening the registry {} …", registry_dir.display());
        let registry = Registry::open(registry_dir)?;
        let keys = crate::keys::open(&args.keys)?;
        let schema = Schema::from_toml(
            &args.keys.join("schema.toml").display().to_string(),
            &keys.schema_text,
        )?;
        let policy = Policy::from_toml(
            &args.keys.join("policy.toml").display().to_string(),
            &keys.policy_text,
            &schema,
        )?;
        if registry.schema() != &schema {
            bail!(
                "the registry {} has schema {:?}, but the key {} is for schema {:?}",
                registry_dir.display(),
                registry.schema().name,
                args.keys.display(),
                schema.name
            );
        }
        let key_shape = keys.shape()?;
        if registry.shape() != key_shape {
            bail!(
                "the registry {} is a tree of arity {}, depth {}, but the key {} is for arity {}, depth {}",
                registry_dir.display(),
                registry.shape().arity(),
                registry.shape().depth(),
                args.keys.display(),
                key_shape.arity(),
                key_shape.depth()
            );
        }
        let given: Vec<(&str, &str)> = args
            .params
            .iter()
            .map(|p| {
                p.split_once('=')
                    .ok_or_else(|| Malformed(format!("--param {p:?}: expected NAME=VALUE")))
            })
            .collect::<Result<_, _>>()?;
        let params = policy
            .encode_params(&given)
            .map_err(|e| Malformed(e.to_string()))?;
        Ok(Inputs {
            registry,
            keys,
            schema,
            policy,
            given,
            params,
        })
    }

    /// What the run's lines are proofs of.
    fn identity(&self, cases: &Path, shard: Option<(u64, u64)>) -> Result<RunIdentity> {
        Ok(RunIdentity {
            key_id: self.keys.metadata.key_id.clone(),
            registry_root: to_decimal(&self.registry.root()),
            params: self
                .policy
                .params
                .iter()
                .zip(&self.params)
                .map(|(param, encoded)| RunParam {
                    name: param.name.clone(),
                    value: self
                        .given
                        .iter()
                        .find(|(name, _)| *name == param.name)
                        .map_or_else(String::new, |(_, value)| value.to_string()),
                    encoded: to_decimal(encoded),
                })
                .collect(),
            cases_sha256: file_sha256(cases)?,
            shard: shard.map(|(i, n)| format!("{i}/{n}")),
        })
    }
}

/// The output file as the run writes it: whole lines in input order, with
/// the cases that need no proof held back until every earlier proof is
/// written.
struct Lines<'a> {
    file: File,
    path: &'a Path,
    tally: Tally,
    progress: ProgressBar,
    /// Cases that need no proof, by their place in the input.
    decided: Arc<Mutex<VecDeque<(u64, Outcome)>>>,
}

impl Lines<'_> {
    fn write(&mut self, outcome: &Outcome) -> Result<()> {
        self.tally.count(outcome);
        let mut line = serde_json::to_vec(outcome)?;
        line.push(b'\n');
        // One write per whole line: an interruption never splits a line
        // between two runs.
        self.file
            .write_all(&line)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.progress.inc(1);
        Ok(())
    }

    /// Writes the held-back cases before the case at `seq` (all, if none).
    fn write_decided_before(&mut self, seq: Option<u64>) -> Result<()> {
        let decided = self.decided.clone();
        let mut queue = decided.lock().expect("no panics while held");
        while queue
            .front()
            .is_some_and(|(s, _)| seq.is_none_or(|seq| *s < seq))
        {
            let (_, outcome) = queue.pop_front().expect("front exists");
            self.write(&outcome)?;
        }
        Ok(())
    }
}

pub(crate) fn run(args: &ProveArgs) -> Result<ExitCode> {
    // The summary's time is the command's: opening the registry and
    // preparing the keys take a noticeable part of a small batch.
    let started = Instant::now();
    let registry_dir = crate::deprecated(
        args.registry.as_deref(),
        args.registry_flag.as_deref(),
        "`zkgov prove --registry DIR`",
        "give the registry directory first: `zkgov prove DIR --keys …`",
    )
    .expect("clap requires the registry directory");
    let inputs = Inputs::open(args, registry_dir)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err(Malformed("--threads must be at least 1".into()).into());
    }

    let identity = inputs.identity(&args.cases, shard)?;
    claim_output(&args.out, &identity, args.resume)?;
    let (done, invalid_before) = if args.resume {
        completed_cases(&args.out)?
    } else {
        (HashSet::new(), 0)
    };
    let in_shard = move |row: u64| shard.is_none_or(|(i, n)| row % n == i);
    let (mut total, mut skipped) = (0u64, 0u64);
    for (_, row) in read_cases(&args.cases)?.filter(|(row, _)| in_shard(*row)) {
        total += 1;
        if row.is_ok_and(|row| !row.case_id.is_empty() && done.contains(&row.case_id)) {
            skipped += 1;
        }
    }
    if args.resume {
        eprintln!(
            "resuming {}: skipping {skipped} of {total} cases, already in it",
            args.out.display()
        );
    }

    eprintln!("preparing the key {} …", identity.key_id);
    let engine = Engine::new(&inputs.keys, inputs.schema.clone(), inputs.policy.clone())?;
    let key_id = engine.key_id().to_string();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("cannot open {}", args.out.display()))?;
    let progress = ProgressBar::new(total - skipped).with_style(
        ProgressStyle::with_template(
            "{spinner} {pos}/{len} cases [{bar:30}] {per_sec} ETA {eta} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    progress.set_position(0);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let mut lines = Lines {
        file,
        path: &args.out,
        tally: Tally::default(),
        progress,
        decided: Arc::default(),
    };

    let jobs = {
        let decided = lines.decided.clone();
        let stop = stop.clone();
        let Inputs {
            registry,
            schema,
            policy,
            params,
            ..
        } = &inputs;
        let done = &done;
        let mut rows = read_cases(&args.cases)?
            .filter(move |(row, _)| in_shard(*row))
            .enumerate()
            .take_while(move |_| !stop.load(Ordering::SeqCst));
        // Cases are decided a batch at a time, so that their paths are
        // read from the registry in one go.
        std::iter::from_fn(move || {
            let batch: Vec<_> = rows.by_ref().take(PATH_BATCH).collect();
            (!batch.is_empty()).then_some(batch)
        })
        .flat_map(move |batch| {
            let (seqs, rows): (Vec<usize>, Vec<_>) =
                batch.into_iter().map(|(seq, (_, row))| (seq, row)).unzip();
            seqs.into_iter()
                .zip(plan_cases(rows, registry, schema, policy, params))
        })
        .filter_map(move |(seq, (case_id, plan))| {
            if done.contains(&case_id) && !case_id.is_empty() {
                return None;
            }
            match plan {
                Plan::Prove(job) => Some(((seq as u64, case_id), job.0, job.1)),
                Plan::Done(outcome) => {
                    decided
                        .lock()
                        .expect("no panics while held")
                        .push_back((seq as u64, outcome));
                    None
                }
            }
        })
    };

    let mut failure: Option<anyhow::Error> = None;
    engine.prove_batch(jobs, threads, &stop, |(seq, case_id), statement, result| {
        if failure.is_some() {
            return;
        }
        let step = (|| -> Result<()> {
            lines.write_decided_before(Some(seq))?;
            let proof = result?;
            if !args.no_self_check && !engine.verify(&statement, &proof) {
                bail!("self-check: a proof does not verify; refusing to write it (is the key damaged?)");
            }
            lines.write(&Outcome::Proven(ProofLine::new(
                &key_id, &case_id, &statement, &proof,
            )))
        })();
        if let Err(e) = step {
            failure = Some(e);
            stop.store(true, Ordering::SeqCst);
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    lines.write_decided_before(None)?;
    lines
        .file
        .sync_all()
        .with_context(|| format!("cannot sync {}", args.out.display()))?;
    lines.progress.finish_and_clear();

    let interrupted = stop.load(Ordering::SeqCst);
    summarise(
        &lines.tally,
        skipped,
        started.elapsed().as_secs_f64(),
        interrupted,
    );
    if interrupted {
        std::process::exit(130);
    }
    let invalid = invalid_before + lines.tally.invalid_input;
    if invalid > 0 {
        eprintln!(
            "error: {} holds {invalid} invalid_input line{}: those cases were not proved; \
             their `reason` says why",
            args.out.display(),
            if invalid == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The run's last line: its counts, time and rates.
fn summarise(tally: &Tally, skipped: u64, elapsed: f64, interrupted: bool) {
    eprintln!(
        "{} proven, {} not satisfied, {} subject not found, {} revoked, {} invalid input{} in \
         {elapsed:.1} s ({:.2} cases/s, {:.2} proofs/s){}",
        tally.proven,
        tally.not_satisfied,
        tally.subject_not_found,
        tally.revoked,
        tally.invalid_input,
        if skipped > 0 {
            format!(", {skipped} skipped (already in the output)")
        } else {
            String::new()
        },
        tally.cases() as f64 / elapsed,
        tally.proven as f64 / elapsed,
        if interrupted {
            "; interrupted: run again with --resume"
        } else {
            ""
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, case_id: &str) -> String {
        match status {
            "proven" => serde_json::json!({
                "status": "proven", "case_id": case_id, "key_id": "k1",
                "registry_root": "1", "public_inputs": ["1", "2"], "proof": {"protocol": "groth16"},
            }),
            _ => serde_json::json!({ "status": status, "case_id": case_id }),
        }
        .to_string()
    }

    #[test]
    fn status_names_the_line_as_it_is_written() {
        for status in ["proven", "subject_not_found", "revoked"] {
            let outcome: Outcome = serde_json::from_str(&line(status, "C-1")).unwrap();
            assert_eq!(outcome.status(), status);
            assert_eq!(serde_json::to_value(&outcome).unwrap()["status"], status);
        }
    }

    #[test]
    fn a_prove_line_is_chosen_by_its_case_and_must_be_a_proof_under_the_key() {
        let text = [
            line("proven", "C-1"),
            line("revoked", "C-2"),
            line("proven", "C-3"),
        ]
        .join("\n");
        let one = proven_line(&line("proven", "C-1"), None, Some("k1")).unwrap();
        assert_eq!((one.case_id.as_str(), one.public_inputs.len()), ("C-1", 2));
        assert_eq!(
            proven_line(&text, Some("C-3"), None).unwrap().case_id,
            "C-3"
        );
        let problem = |case, key| proven_line(&text, case, key).err().unwrap();
        assert!(problem(None, None).contains("name the one to verify with --case"));
        assert!(problem(Some("C-9"), None).contains("no line of case `C-9`"));
        assert!(problem(Some("C-2"), None).contains("is `revoked`"));
        assert!(problem(Some("C-1"), Some("k2")).contains("proved under key k1"));
        assert!(proven_line("{\"status\":\"proven\"}", None, None)
            .err()
            .unwrap()
            .contains("line 1 is not"));
    }
}
