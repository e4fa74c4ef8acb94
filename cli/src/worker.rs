//! `zkgov worker`: a department's worker. It leases the department's work
//! requests from the service, proves the evidence ones in batches on all
//! cores (or reports why an item is unmet), issues approved licences into
//! the department's licence registry under one new root per batch, submits
//! the answers, and loops.
//!
//! Several workers of one department, on several machines, share its queue:
//! the service leases each request to one of them at a time, and a request
//! whose worker dies returns to the queue when its lease expires. On
//! Ctrl-C or SIGTERM the worker takes no new work, finishes what it leased,
//! submits it and exits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_keys::snarkjs;
use zkgov_log::entry::Entry;
use zkgov_prover::engine::{prove_mixed, Engine};
use zkgov_prover::registry::{NewRecord, Registry};
use zkgov_verifier::client::{signed_body, Client};

use crate::client::Server;
use crate::prove::{plan_case, CaseRow, Outcome, Plan};
use crate::Malformed;

#[derive(Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    server: Server,
    /// The registry directory the department proves from.
    #[arg(value_name = "REGISTRY")]
    registry: Option<PathBuf>,
    /// The registry directory, in the spelling of earlier versions (warns).
    #[arg(
        long = "registry",
        value_name = "DIR",
        hide = true,
        conflicts_with = "registry"
    )]
    registry_flag: Option<PathBuf>,
    /// A key directory of a policy over that registry; repeat for each.
    #[arg(long = "keys", value_name = "DIR")]
    keys: Vec<PathBuf>,
    /// The registry approved licences go into (the deciding department's).
    #[arg(long, value_name = "DIR")]
    licences: Option<PathBuf>,
    /// Requests leased at a time.
    #[arg(long, default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    batch: u64,
    /// How long a lease lasts, in seconds; a worker that dies gives its
    /// requests back after this long.
    #[arg(long, default_value_t = 300, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    lease_seconds: u64,
    /// Prover threads. Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Exit once the department's queue holds no pending or leased request,
    /// instead of waiting for more work.
    #[arg(long)]
    once: bool,
}

/// A policy the worker can prove.
struct Prover {
    engine: Engine,
    schema: Schema,
    policy: Policy,
}

/// What a worker has done.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) proven: u64,
    pub(crate) unmet: u64,
    pub(crate) licences: u64,
    pub(crate) rejected: u64,
    /// Wall-clock seconds spent proving.
    pub(crate) proving_seconds: f64,
}

/// A department's worker: its registry and keys, the licence registry it
/// issues into, and the service it works for.
pub(crate) struct Worker {
    client: Client,
    registry: Option<Registry>,
    provers: BTreeMap<String, Prover>,
    licences: Option<Registry>,
    /// Whether licences go into `registry` itself, so that a licence
    /// issued can back the next proof at once.
    licences_in_registry: bool,
    threads: usize,
    batch: usize,
    lease_seconds: u64,
}

impl Worker {
    /// Opens the registries and keys; `licences` may be `registry` itself.
    pub(crate) fn open(
        client: Client,
        registry: Option<&Path>,
        keys: &[PathBuf],
        licences: Option<&Path>,
        threads: usize,
    ) -> Result<Worker> {
        if keys.is_empty() && licences.is_none() {
            return Err(Malformed(
                "nothing to do: give a registry directory and --keys to prove, or --licences to issue".into(),
            )
            .into());
        }
        let registry = match registry {
            Some(dir) => Some(Registry::open(dir)?),
            None if !keys.is_empty() => {
                return Err(Malformed(
                    "--keys needs the registry directory they prove from (the first argument)"
                        .into(),
                )
                .into())
            }
            None => None,
        };
        let mut provers: BTreeMap<String, Prover> = BTreeMap::new();
        for dir in keys {
            let keys = crate::keys::open(dir)?;
            let schema = Schema::from_toml(
                &dir.join("schema.toml").display().to_string(),
                &keys.schema_text,
            )?;
            let policy = Policy::from_toml(
                &dir.join("policy.toml").display().to_string(),
                &keys.policy_text,
                &schema,
            )?;
            if let Some(registry) = &registry {
                if registry.schema() != &schema || registry.shape() != keys.shape()? {
                    bail!(
                        "the key {} is not for the registry {} (another schema or tree shape)",
                        dir.display(),
                        registry.dir().display()
                    );
                }
            }
            let engine = Engine::new(&keys, schema.clone(), policy.clone())?;
            eprintln!(
                "key {} ({}): tables {:.1} MB",
                engine.key_id(),
                policy.name,
                engine.table_bytes() as f64 / 1e6
            );
            provers.insert(
                engine.key_id().to_string(),
                Prover {
                    engine,
                    schema,
                    policy,
                },
            );
        }
        let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
        let licences_in_registry = match (&registry, licences) {
            (Some(registry), Some(licences)) => same(registry.dir(), licences),
            _ => false,
        };
        let licences = match licences {
            Some(dir) if !licences_in_registry => Some(Registry::open(dir)?),
            _ => None,
        };
        Ok(Worker {
            client,
            registry,
            provers,
            licences,
            licences_in_registry,
            threads,
            batch: 256,
            lease_seconds: 300,
        })
    }

    /// Requests leased at a time, and how long a lease lasts.
    pub(crate) fn leasing(mut self, batch: usize, lease_seconds: u64) -> Worker {
        self.batch = batch;
        self.lease_seconds = lease_seconds;
        self
    }

    /// Leases, answers and submits until `stop` is set, or, with `once`,
    /// until the department's queue holds no pending or leased request.
    /// Work already leased when `stop` is set is finished and submitted.
    pub(crate) fn serve(
        &mut self,
        stop: &AtomicBool,
        once: bool,
        progress: &ProgressBar,
    ) -> Result<Tally> {
        let mut tally = Tally::default();
        let show = |tally: &Tally, state: &str| {
            progress.set_message(format!(
                "{} proven, {} unmet, {} licences issued, {} rejected — {state}",
                tally.proven, tally.unmet, tally.licences, tally.rejected
            ));
        };
        let mut idle = Duration::from_millis(100);
        while !stop.load(Ordering::SeqCst) {
            let work = self.client.lease_work(self.batch, self.lease_seconds)?;
            if work.is_empty() {
                if once {
                    // Done once nothing is pending or leased: requests
                    // leased by a worker that died come back when their
                    // leases expire, and this one takes them then.
                    let queue = self.client.get("/v1/work/queue")?;
                    if queue["pending"] == 0 && queue["leased"] == 0 {
                        break;
                    }
                }
                show(&tally, "waiting for work");
                std::thread::sleep(idle);
                idle = (idle * 2).min(Duration::from_secs(2));
                continue;
            }
            idle = Duration::from_millis(100);
            show(&tally, &format!("working on {} requests", work.len()));
            let (evidence, licence): (Vec<Value>, Vec<Value>) =
                work.into_iter().partition(|w| w["kind"] == "evidence");
            let mut answers = Vec::new();
            if !evidence.is_empty() {
                let Some(registry) = &self.registry else {
                    bail!(
                        "the service leased evidence requests, but this worker has no registry directory"
                    );
                };
                answers.extend(answer_evidence(
                    &self.client,
                    &evidence,
                    registry,
                    &self.provers,
                    self.threads,
                    &mut tally,
                )?);
            }
            if !licence.is_empty() {
                let target = if self.licences_in_registry {
                    self.registry.as_mut()
                } else {
                    self.licences.as_mut()
                };
                let Some(registry) = target else {
                    bail!("the service leased licence requests, but this worker has no --licences");
                };
                answers.extend(issue_licences(
                    &licence,
                    registry,
                    &self.client,
                    &mut tally,
                )?);
            }
            for chunk in answers.chunks(1024) {
                for result in self.client.complete_work(chunk)? {
                    if result["status"] == "rejected" {
                        tally.rejected += 1;
                        progress.println(format!(
                            "request {} rejected: {}",
                            result["id"], result["error"]["message"]
                        ));
                    }
                }
            }
            show(&tally, "submitted");
        }
        Ok(tally)
    }
}

pub(crate) fn run(args: &WorkerArgs) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let registry = crate::deprecated(
        args.registry.as_deref(),
        args.registry_flag.as_deref(),
        "`zkgov worker --registry DIR`",
        "give the registry directory first: `zkgov worker DIR --keys …`",
    );
    let mut worker = Worker::open(
        args.server.client()?,
        registry,
        &args.keys,
        args.licences.as_deref(),
        threads,
    )?
    .leasing(args.batch as usize, args.lease_seconds);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C and SIGTERM handler")?;
    }
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let tally = worker.serve(&stop, args.once, &progress)?;
    progress.finish_and_clear();
    eprintln!(
        "{} proven, {} unmet, {} licences issued, {} rejected in {:.1} s{}",
        tally.proven,
        tally.unmet,
        tally.licences,
        tally.rejected,
        started.elapsed().as_secs_f64(),
        if stop.load(Ordering::SeqCst) {
            "; stopped after finishing the leased work"
        } else {
            ""
        }
    );
    Ok(())
}

/// Proves or answers each leased evidence request.
fn answer_evidence(
    client: &Client,
    work: &[Value],
    registry: &Registry,
    provers: &BTreeMap<String, Prover>,
    threads: usize,
    tally: &mut Tally,
) -> Result<Vec<Value>> {
    let mut answers = Vec::new();
    let mut jobs = Vec::new();
    for item in work {
        let id = item["id"].clone();
        let key_id = item["key_id"].as_str().unwrap_or_default();
        let Some(prover) = provers.get(key_id) else {
            // Another worker of the department may hold this key; the
            // lease returns the request to the queue for it.
            eprintln!("request {id}: no --keys for key {key_id}; leaving it to another worker");
            continue;
        };
        let params: Vec<(String, String)> = item["params"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let given: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let row = CaseRow {
            case_id: item["case_id"].as_str().unwrap_or_default().to_string(),
            subject: item["subject"].as_str().unwrap_or_default().to_string(),
            case_secret: item["case_secret"].as_str().unwrap_or_default().to_string(),
        };
        let decided = match prover.policy.encode_params(&given) {
            Ok(encoded) => plan_case(Ok(row), registry, &prover.schema, &prover.policy, &encoded).1,
            Err(e) => Plan::Done(Outcome::InvalidInput {
                case_id: row.case_id,
                reason: e.to_string(),
            }),
        };
        match decided {
            Plan::Prove(job) => jobs.push(((id, key_id), &prover.engine, job.0, job.1)),
            Plan::Done(outcome) => {
                tally.unmet += 1;
                answers.push(unmet_answer(client, item, outcome)?);
            }
        }
    }
    // One batch for every key's requests, so that no core waits at the
    // end of one key's share for the next key's to begin.
    let never = AtomicBool::new(false);
    let started = Instant::now();
    let mut failure = None;
    prove_mixed(
        jobs,
        threads,
        &never,
        |(id, key_id), statement, proof| match proof {
            Ok(proof) => {
                tally.proven += 1;
                answers.push(json!({
                    "id": id,
                    "outcome": "proof",
                    "key_id": key_id,
                    "public_inputs": statement.public_inputs().iter().map(to_decimal).collect::<Vec<_>>(),
                    "proof": snarkjs::proof_to_json(&proof),
                }));
            }
            Err(e) => failure = Some(e),
        },
    );
    if let Some(e) = failure {
        return Err(e.into());
    }
    tally.proving_seconds += started.elapsed().as_secs_f64();
    Ok(answers)
}

/// The answer to the evidence request `item` that needs no proof, signed
/// with the worker's key if it has one.
fn unmet_answer(client: &Client, item: &Value, outcome: Outcome) -> Result<Value> {
    let (reason, conditions) = match outcome {
        Outcome::NotSatisfied { reason, .. } => (
            "not_satisfied",
            reason.split("; ").map(String::from).collect(),
        ),
        Outcome::SubjectNotFound { .. } => ("subject_not_found", vec![]),
        Outcome::Revoked { .. } => ("revoked", vec![]),
        Outcome::InvalidInput { .. } | Outcome::Proven(_) => ("invalid_input", vec![]),
    };
    let entry = Entry::Unmet {
        case_id: item["case_id"].as_str().unwrap_or_default().to_string(),
        evidence: item["evidence"].as_str().unwrap_or_default().to_string(),
        department: client.department().unwrap_or_default().to_string(),
        reason: reason.to_string(),
        conditions,
        time: String::new(),
        signature: None,
    };
    let signature = client.sign(&entry, None)?;
    let Entry::Unmet { conditions, .. } = entry else {
        unreachable!("built above")
    };
    Ok(signed_body(
        json!({ "id": item["id"], "outcome": reason, "conditions": conditions }),
        signature,
    ))
}

/// Adds every leased licence to the licence registry in one change, anchors
/// its new root once, and answers each request with that root.
fn issue_licences(
    work: &[Value],
    registry: &mut Registry,
    client: &Client,
    tally: &mut Tally,
) -> Result<Vec<Value>> {
    let schema = registry.schema().clone();
    let mut records = Vec::new();
    for item in work {
        let fields = item["licence"]["fields"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let subject = item["subject"].as_str().unwrap_or_default();
        let raw: Vec<String> = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                if i == schema.subject {
                    Ok(subject.to_string())
                } else {
                    fields
                        .get(&field.name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "licence {}: the procedure gives no field `{}` of the registry's schema",
                                item["licence"]["number"],
                                field.name
                            )
                        })
                }
            })
            .collect::<Result<_>>()?;
        // A licence added before a crash is not added twice.
        let already = schema.fields[schema.subject]
            .ty
            .encode(&schema.fields[schema.subject].name, subject)
            .ok()
            .is_some_and(|s| {
                registry.records_of(&s).iter().any(|(index, _)| {
                    registry
                        .raw_values(*index)
                        .is_some_and(|values| values.iter().zip(&raw).all(|(a, b)| a == b))
                })
            });
        if !already {
            records.push(
                NewRecord::new(&schema, raw, None)
                    .map_err(|e| anyhow::anyhow!("licence {}: {e}", item["licence"]["number"]))?,
            );
        }
    }
    if !records.is_empty() {
        registry.add(records)?;
        registry.commit()?;
    }
    let registry_name = work[0]["licence"]["registry"].as_str().unwrap_or_default();
    let receipt = client.publish_root(registry_name, &to_decimal(&registry.root()))?;
    tally.licences += work.len() as u64;
    Ok(work
        .iter()
        .map(|item| json!({ "id": item["id"], "outcome": "issued", "root_index": receipt.index }))
        .collect())
}
