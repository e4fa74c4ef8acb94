//! `zkgov demo`: the medical-institution licence, through applications,
//! end to end, on embedded defaults.
//!
//! A thousand clinics apply online for a medical-institution practising
//! licence. Three departments' workers run at once: the land registry
//! proves that the premises are fit, the market-regulation bureau that the
//! business licence is active, each from its own registry, in zero
//! knowledge; the health department issues the licences into its own
//! registry. The procedure decides automatically in the log. Every
//! approved clinic fetches its licence document and verifies it offline;
//! every refused one is told which condition failed. Then the licence backs
//! a second procedure, at the insurance bureau. Finally the log is
//! replayed, as any outsider would: checkpoint signature, consistency with
//! the first checkpoint, every proof verified again and every decision
//! recomputed by the rules.
//!
//! The registries are synthetic and deterministic; keys are cached in the
//! data directory across runs; the verifier runs on loopback with embedded
//! SQLite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ark_ff::{PrimeField, UniformRand};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngCore;
use serde_json::{json, Value};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::TreeShape;
use zkgov_circuits::Fr;
use zkgov_keys::files::write_atomically;
use zkgov_keys::store::{setup, KeyDir};
use zkgov_log::checkpoint::{Checkpoint, LogVerifier};
use zkgov_log::licence::LicenceDocument;
use zkgov_log::rules::LogState;
use zkgov_log::signature::DepartmentSigner;
use zkgov_prover::engine::Engine;
use zkgov_prover::registry::{NewRecord, Registry};
use zkgov_verifier::client::Client;
use zkgov_verifier::service::config::{Config, Overrides, TokenHash};
use zkgov_verifier::service::RunningService;
use zkgov_verifier::tiled::monitor;

use crate::licence::{applicant_session, fetch_document};
use crate::prove::{plan_case, CaseRow, Plan};
use crate::worker::{Tally, Worker};

const REAL_ESTATE: &str = include_str!("../../schemas/real-estate.toml");
const BUSINESS: &str = include_str!("../../schemas/business-licence.toml");
const LICENCES: &str = include_str!("../../schemas/medical-licence.toml");
const PREMISES: &str = include_str!("../../policies/medical-premises.toml");
const ACTIVE_BUSINESS: &str = include_str!("../../policies/active-medical-business.toml");
const VALID_LICENCE: &str = include_str!("../../policies/valid-medical-licence.toml");
const INSTITUTION: &str = include_str!("../../procedures/medical-institution-licence.toml");
const DESIGNATION: &str = include_str!("../../procedures/medical-insurance-designation.toml");

/// Proofs per policy in the proving-alone measurement, besides one per
/// thread to warm up.
const SAMPLE: usize = 64;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Records in each department's synthetic registry.
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Clinics that apply for the licence.
    #[arg(long, alias = "cases", default_value_t = 1_000)]
    applications: u64,
    /// Licence holders that then apply for the insurance designation
    /// (at most every holder), besides one clinic in ten without a
    /// licence.
    #[arg(long, default_value_t = 100)]
    designations: u64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Where keys are cached and the registries and the verifier's log
    /// are kept.
    #[arg(long, default_value = "zkgov-demo")]
    data_dir: PathBuf,
    /// Proving threads of each worker (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

/// splitmix64: a small deterministic generator, so that every run builds the
/// same registries. Not for secrets.
struct Synthetic(u64);

impl Synthetic {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A field element below 2^192, well inside the field: a record's salt.
    fn field(&mut self) -> Fr {
        let mut bytes = [0u8; 24];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        Fr::from_le_bytes_mod_order(&bytes)
    }

    fn date(&mut self, from_year: u64, years: u64) -> String {
        format!(
            "{}-{:02}-{:02}",
            from_year + self.below(years),
            1 + self.below(12),
            1 + self.below(28)
        )
    }
}

/// The applicant's unified social credit code, the subject in every
/// registry.
fn applicant(i: u64) -> String {
    format!("91510181MA{i:08}")
}

fn real_estate_record(rng: &mut Synthetic, i: u64) -> Vec<String> {
    let usages = ["residential", "commercial", "medical", "industrial"];
    // Most applicants hold medical premises; the rest are the failures.
    let usage = if rng.below(4) == 0 {
        usages[rng.below(4) as usize]
    } else {
        "medical"
    };
    let area = if rng.below(5) == 0 {
        40 + rng.below(80)
    } else {
        120 + rng.below(900)
    };
    vec![
        applicant(i),
        format!("510181-{i:06}"),
        area.to_string(),
        usage.to_string(),
        if rng.below(20) == 0 { "true" } else { "false" }.to_string(),
        rng.date(2000, 26),
        rng.date(2027, 30),
    ]
}

fn business_record(rng: &mut Synthetic, i: u64) -> Vec<String> {
    let status = [
        "active",
        "active",
        "active",
        "active",
        "suspended",
        "revoked",
    ];
    let scope = 4 | (rng.below(32) & !4) | if rng.below(8) == 0 { 0 } else { 4 };
    vec![
        applicant(i),
        format!("BL-{i:08}"),
        status[rng.below(6) as usize].to_string(),
        (if rng.below(10) == 0 {
            scope & !4
        } else {
            scope
        })
        .to_string(),
        format!("{}.00", 100_000 + rng.below(2_000_000)),
        if rng.below(6) == 0 {
            rng.date(2015, 11)
        } else {
            rng.date(2027, 20)
        },
    ]
}

/// What an application is meant to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Approved,
    TooSmall,
    WrongUse,
    ExpiredLicence,
    UnknownSubject,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Approved => "approved",
            Kind::TooSmall => "refused: premises too small",
            Kind::WrongUse => "refused: premises not zoned for medical use",
            Kind::ExpiredLicence => "refused: business licence expired",
            Kind::UnknownSubject => "refused: applicant unknown to the registries",
        }
    }

    /// What the applicant must be told, as `item: status: condition`.
    fn told(self) -> Option<&'static str> {
        match self {
            Kind::Approved => None,
            Kind::TooSmall => Some("premises: not_satisfied: area_m2 >= $min_area"),
            Kind::WrongUse => Some("premises: not_satisfied: usage == $usage"),
            Kind::ExpiredLicence => Some("business: not_satisfied: expires > $today"),
            Kind::UnknownSubject => Some(": subject_not_found"),
        }
    }
}

/// An application as its applicant keeps it.
struct Applied {
    case_id: String,
    access_code: String,
    subject: String,
    kind: Kind,
}

/// A department of the demo: its name, token, and the registry it owns.
struct Department {
    name: &'static str,
    registry: Option<&'static str>,
    decides: bool,
    token: String,
    /// Its signing key: the log's governance lists it, so the service
    /// takes its roots, decisions and refusals only with its signature.
    signer: Arc<DepartmentSigner>,
}

impl Department {
    fn new(name: &'static str, registry: Option<&'static str>, decides: bool) -> Department {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Department {
            name,
            registry,
            decides,
            token: hex::encode(secret),
            signer: Arc::new(DepartmentSigner::generate(name)),
        }
    }
}

/// Keys for one policy, cached in `dir` across runs.
fn cached_keys(
    dir: &Path,
    schema_text: &str,
    policy_text: &str,
    shape: TreeShape,
) -> Result<KeyDir> {
    let schema = Schema::from_toml("schema.toml", schema_text)?;
    let policy = Policy::from_toml("policy.toml", policy_text, &schema)?;
    if dir.exists() {
        match KeyDir::open(dir).and_then(|k| k.check_circuit(&schema, &policy, shape).map(|_| k)) {
            Ok(keys) => return Ok(keys),
            Err(e) => {
                println!(
                    "  cached keys in {} are unusable ({e}); setting up again",
                    dir.display()
                );
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
        }
    }
    let started = Instant::now();
    let keys = setup(
        &schema,
        &policy,
        shape,
        schema_text,
        policy_text,
        &mut rand::rngs::OsRng,
    )?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    keys.write(dir)?;
    println!(
        "  set up keys for {} in {:.2?} (single-party setup, for demonstration only)",
        policy.name,
        started.elapsed()
    );
    Ok(KeyDir::open(dir)?)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("  {msg:<28} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Writes the verifier's config: the departments, the keys, SQLite, and
/// an intake limit that lets one address (the demo's) apply for everyone.
fn write_config(
    dir: &Path,
    departments: &[&Department],
    keys: &[(&Path, &str)],
) -> Result<PathBuf> {
    let mut text = String::from(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"verifier\"\norigin = \"zkgov.demo/log\"\n\n[limits]\napplications_per_minute = 1000000\n",
    );
    for d in departments {
        text.push_str(&format!(
            "\n[[department]]\nname = \"{}\"\ntoken_sha256 = \"{}\"\nregistries = [{}]\ndecides = {}\nkey = \"{}\"\n",
            d.name,
            TokenHash::of(&d.token).to_hex(),
            d.registry.map(|r| format!("\"{r}\"")).unwrap_or_default(),
            d.decides,
            d.signer.verifier_key()
        ));
    }
    for (key_dir, registry) in keys {
        // Absolute, because the config resolves relative paths against its
        // own directory.
        let key_dir = std::fs::canonicalize(key_dir)
            .with_context(|| format!("resolving {}", key_dir.display()))?;
        text.push_str(&format!(
            "\n[[key]]\ndir = {:?}\nregistry = \"{registry}\"\n",
            key_dir.display().to_string()
        ));
    }
    let path = dir.join("verifier.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Builds a registry in `dir` afresh.
fn build_registry(
    dir: &Path,
    schema_text: &str,
    shape: TreeShape,
    rows: Vec<Vec<String>>,
    rng: &mut Synthetic,
) -> Result<Registry> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let schema = Schema::from_toml("schema.toml", schema_text)?;
    let records = rows
        .into_iter()
        .map(|raw| NewRecord::new(&schema, raw, Some(rng.field())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Registry::create(dir, schema_text, shape, records)?)
}

/// Seconds per proof of `policy` over `registry`, all threads, measured
/// on `subjects` (each must satisfy it) with fresh case numbers and
/// secrets.
fn proving_rate(
    registry: &Registry,
    keys: &KeyDir,
    policy_text: &str,
    params: &[(&str, &str)],
    subjects: &[String],
    threads: usize,
) -> Result<f64> {
    let schema = registry.schema().clone();
    let policy = Policy::from_toml("policy.toml", policy_text, &schema)?;
    let encoded = policy.encode_params(params)?;
    let engine = Engine::new(keys, schema.clone(), policy.clone())?;
    let mut jobs = Vec::new();
    for (i, subject) in subjects.iter().enumerate() {
        let row = CaseRow {
            case_id: format!("SAMPLE-{i:06}"),
            subject: subject.clone(),
            case_secret: to_decimal(&Fr::rand(&mut rand::rngs::OsRng)),
        };
        match plan_case(Ok(row), registry, &schema, &policy, &encoded).1 {
            Plan::Prove(job) => jobs.push(((), job.0, job.1)),
            Plan::Done(outcome) => bail!("the sample subject {subject} gives {outcome:?}"),
        }
    }
    ensure!(
        jobs.len() >= 2,
        "too few subjects satisfy {} to measure its proving; try more --records",
        policy.name
    );
    // One proof per thread first, untimed: the first proofs pay for
    // one-time set-up that the workers' long runs spread thin.
    let timed = jobs.split_off(threads.min(jobs.len() - 1));
    let count = timed.len();
    let mut failed = None;
    let mut started = Instant::now();
    for (batch, is_timed) in [(jobs, false), (timed, true)] {
        if is_timed {
            started = Instant::now();
        }
        engine.prove_batch(batch, threads, &AtomicBool::new(false), |_, _, proof| {
            if let Err(e) = proof {
                failed = Some(e);
            }
        });
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(started.elapsed().as_secs_f64() / count as f64)
}

/// Waits until `procedure` has no open case among `expected` and no
/// licence waits to be issued, showing the decided cases; fails if a
/// worker stops. Every department's queue must be empty: the request for a
/// licence joins the deciding department's queue just before the answer
/// that decided the case leaves the answering department's.
fn wait_for_decisions(
    client: &Client,
    queues: &[Client],
    procedure: &str,
    expected: u64,
    workers: &[(&str, JoinHandle<Result<Tally>>)],
) -> Result<()> {
    let progress = bar(expected, &format!("{procedure} decided"));
    loop {
        for (name, worker) in workers {
            if worker.is_finished() {
                bail!("the {name} worker stopped early");
            }
        }
        let listed = |status: &str| -> Result<u64> {
            Ok(
                client.get(&format!("/v1/cases?procedure={procedure}&status={status}"))?["total"]
                    .as_u64()
                    .unwrap_or(0),
            )
        };
        let open = listed("open")?;
        progress.set_position(expected.saturating_sub(open));
        let mut idle = open == 0;
        for department in queues {
            let queue = department.get("/v1/work/queue")?;
            idle &= queue["pending"] == 0 && queue["leased"] == 0;
        }
        if idle {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    progress.finish_and_clear();
    Ok(())
}

/// Applies for `procedure` for each subject, through the public intake.
fn apply_all(
    server: &str,
    procedure: &str,
    applicants: Vec<(String, Kind)>,
    what: &str,
) -> Result<Vec<Applied>> {
    let client = Client::new(server, None);
    let progress = bar(applicants.len() as u64, what);
    let mut applied = Vec::new();
    for (subject, kind) in applicants {
        let body = client.post(
            "/v1/applications",
            &json!({ "procedure": procedure, "inputs": { "credit_code": subject } }),
        )?;
        applied.push(Applied {
            case_id: body["case_id"].as_str().context("no case_id")?.to_string(),
            access_code: body["access_code"]
                .as_str()
                .context("no access_code")?
                .to_string(),
            subject,
            kind,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(applied)
}

/// The applicant's view of its case, and its session.
fn status_of(server: &str, applied: &Applied) -> Result<(Value, Client)> {
    let applicant = applicant_session(server, &applied.case_id, &applied.access_code)?;
    let status = applicant.get(&format!("/v1/applications/{}", applied.case_id))?;
    Ok((status, applicant))
}

/// What a refused applicant is told: `item: status: conditions` for each
/// item that is not verified and not pending.
fn told(status: &Value) -> Vec<String> {
    status["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| {
            !["verified", "pending", "in_progress", "not_needed"]
                .contains(&item["status"].as_str().unwrap_or(""))
        })
        .map(|item| {
            let conditions: Vec<&str> = item["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if conditions.is_empty() {
                format!(
                    "{}: {}",
                    item["name"].as_str().unwrap_or(""),
                    item["status"].as_str().unwrap_or("")
                )
            } else {
                format!(
                    "{}: {}: {}",
                    item["name"].as_str().unwrap_or(""),
                    item["status"].as_str().unwrap_or(""),
                    conditions.join("; ")
                )
            }
        })
        .collect()
}

/// The three departments' registries.
struct Registries {
    land: Registry,
    market: Registry,
    health: Registry,
}

/// Step 1: the registries of `records` synthetic records each, in
/// `dir`.
fn build_registries(
    records: u64,
    shape: TreeShape,
    dir: &Path,
    rng: &mut Synthetic,
) -> Result<Registries> {
    println!(
        "\n1. registries ({records} synthetic records each, arity 4, depth 10, SQLite, in {})",
        dir.display()
    );
    let started = Instant::now();
    let re_rows: Vec<_> = (0..records).map(|i| real_estate_record(rng, i)).collect();
    let biz_rows: Vec<_> = (0..records).map(|i| business_record(rng, i)).collect();
    // The health department already holds licences of other institutions.
    let lic_rows: Vec<_> = (0..records)
        .map(|i| {
            vec![
                applicant(records * 10 + i),
                format!("MED-{i:08}"),
                "clinic".to_string(),
                rng.date(2015, 10),
                rng.date(2027, 5),
            ]
        })
        .collect();
    let built = Registries {
        land: build_registry(&dir.join("real-estate"), REAL_ESTATE, shape, re_rows, rng)?,
        market: build_registry(
            &dir.join("business-licences"),
            BUSINESS,
            shape,
            biz_rows,
            rng,
        )?,
        health: build_registry(
            &dir.join("medical-licences"),
            LICENCES,
            shape,
            lic_rows,
            rng,
        )?,
    };
    for (name, registry) in [
        ("real-estate", &built.land),
        ("business-licences", &built.market),
        ("medical-licences", &built.health),
    ] {
        println!(
            "  {name:<18} {} records, root {}…",
            registry.len(),
            &to_decimal(&registry.root())[..16]
        );
    }
    println!("  built in {:.2?}", started.elapsed());
    Ok(built)
}

/// The applicants, each with what should happen to their case: sorted
/// by what the registries hold about them, so that every kind of case is
/// shown, nine in ten approved or refused on one condition, one in ten
/// unknown.
fn choose_applicants(
    args: &DemoArgs,
    (land, re_params): (&Registry, &[(&str, &str)]),
    (market, biz_params): (&Registry, &[(&str, &str)]),
    rng: &mut Synthetic,
) -> Result<Vec<(String, Kind)>> {
    let premises = Policy::from_toml("policy.toml", PREMISES, land.schema())?;
    let business = Policy::from_toml("policy.toml", ACTIVE_BUSINESS, market.schema())?;
    let re_encoded = premises.encode_params(re_params)?;
    let biz_encoded = business.encode_params(biz_params)?;
    let mut pools: BTreeMap<Kind, Vec<u64>> = BTreeMap::new();
    for i in 0..args.records {
        let land_record = land.record(i).context("a land record")?;
        let market_record = market.record(i).context("a business record")?;
        let re_fail = premises.failures(land.schema(), &land_record.values, &re_encoded);
        let biz_fail = business.failures(market.schema(), &market_record.values, &biz_encoded);
        let kind = match (re_fail.as_slice(), biz_fail.as_slice()) {
            ([], []) => Kind::Approved,
            ([only], []) if only.starts_with("area_m2") => Kind::TooSmall,
            ([only], []) if only.starts_with("usage") => Kind::WrongUse,
            ([], [only]) if only.starts_with("expires") => Kind::ExpiredLicence,
            _ => continue,
        };
        pools.entry(kind).or_default().push(i);
    }
    // Each applicant applies once: draw from each pool without replacement.
    for pool in pools.values_mut() {
        for i in (1..pool.len()).rev() {
            pool.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    let mut applicants = Vec::new();
    for c in 0..args.applications {
        let kind = match c % 10 {
            3 => Kind::TooSmall,
            5 => Kind::WrongUse,
            7 => Kind::ExpiredLicence,
            9 => Kind::UnknownSubject,
            _ => Kind::Approved,
        };
        let subject = match kind {
            Kind::UnknownSubject => applicant(args.records * 100 + c),
            _ => applicant(pools.get_mut(&kind).and_then(Vec::pop).with_context(|| {
                format!(
                    "the synthetic registries hold too few applicants whose case is {} for {} applications; try more --records",
                    kind.describe(),
                    args.applications
                )
            })?),
        };
        applicants.push((subject, kind));
    }
    Ok(applicants)
}

/// Step 2: the three policies' keys, cached under `data`.
fn department_keys(data: &Path, shape: TreeShape) -> Result<[KeyDir; 3]> {
    println!("\n2. keys (cached in {})", data.join("keys").display());
    let mut keys = Vec::new();
    for (dir, schema, policy) in [
        ("keys/medical-premises", REAL_ESTATE, PREMISES),
        ("keys/active-medical-business", BUSINESS, ACTIVE_BUSINESS),
        ("keys/valid-medical-licence", LICENCES, VALID_LICENCE),
    ] {
        let key = cached_keys(&data.join(dir), schema, policy, shape)?;
        println!(
            "  {:<24} key {}",
            key.metadata.policy.name, key.metadata.key_id
        );
        keys.push(key);
    }
    Ok(keys.try_into().expect("three policies, three keys"))
}

pub(crate) fn run(args: &DemoArgs) -> Result<()> {
    let total = Instant::now();
    ensure!(args.records >= 10, "--records must be at least 10");
    ensure!(
        args.applications >= 10,
        "--applications must be at least 10"
    );
    let shape = TreeShape::new(4, 10)?;
    ensure!(
        u128::from(args.records) * 2 + u128::from(args.applications) <= shape.capacity(),
        "--records {} is beyond the registry capacity",
        args.records
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let data = &args.data_dir;
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    // Params computed at a case's creation use its date, UTC.
    let today = chrono::Utc::now().date_naive().to_string();

    println!("zkgov demo: clinics apply for a medical-institution licence, decided from two other departments' registries");
    let registries_dir = data.join("registries");
    let mut rng = Synthetic(args.seed);
    let registries = build_registries(args.records, shape, &registries_dir, &mut rng)?;
    let params = Params::on(&today);
    let applicants = choose_applicants(
        args,
        (&registries.land, &params.premises),
        (&registries.market, &params.business),
        &mut rng,
    )?;
    let keys = department_keys(data, shape)?;
    let rates = solo_rates(args, &registries, &keys, &applicants, &params, threads)?;
    drop(registries);

    let verifier = start_verifier(data, &registries_dir, &keys)?;
    println!(
        "\n5. {} clinics apply online while the three departments' workers run ({threads} proving threads each)",
        applicants.len()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workers = start_workers(&verifier, &registries_dir, &keys, threads, &stop)?;
    let intake_started = Instant::now();
    let applied = apply_all(
        &verifier.url,
        "medical-institution-licence",
        applicants,
        "applications",
    )?;
    let intake_secs = intake_started.elapsed().as_secs_f64();
    wait_for_decisions(
        &verifier.client(&verifier.health),
        &verifier.queues(),
        "medical-institution-licence",
        applied.len() as u64,
        &workers,
    )?;
    let first_secs = intake_started.elapsed().as_secs_f64();
    println!(
        "  {} applications taken in {intake_secs:.1} s; all decided automatically, licences issued, {first_secs:.1} s after the first",
        applied.len()
    );

    let readings = read_cases(&verifier, &applied, &data.join("licences"))?;
    designate(
        &verifier,
        &workers,
        &applied,
        &readings.licensed,
        args.designations,
    )?;
    stop.store(true, Ordering::SeqCst);
    let proofs = join_workers(workers)?;
    replay(&verifier, &readings.documents)?;
    verifier
        .service
        .shutdown()
        .context("stopping the verifier")?;

    print_summary(&readings, &proofs, &rates, applied.len(), first_secs, total);
    Ok(())
}

/// The params of the demo's policies, on `today`.
struct Params<'a> {
    premises: [(&'static str, &'a str); 3],
    business: [(&'static str, &'a str); 2],
    licence: [(&'static str, &'a str); 1],
}

impl Params<'_> {
    fn on(today: &str) -> Params<'_> {
        Params {
            premises: [("min_area", "120"), ("usage", "medical"), ("today", today)],
            business: [("today", today), ("min_capital", "300000")],
            licence: [("today", today)],
        }
    }
}

/// Step 3's measure of each policy's proving alone: seconds per proof.
struct Rates {
    premises: f64,
    business: f64,
    licence: f64,
    /// How long step 3 took.
    seconds: f64,
}

/// Step 3: each policy proven alone, with no service, for comparison.
fn solo_rates(
    args: &DemoArgs,
    registries: &Registries,
    [re_keys, biz_keys, lic_keys]: &[KeyDir; 3],
    applicants: &[(String, Kind)],
    params: &Params,
    threads: usize,
) -> Result<Rates> {
    println!("\n3. proving alone, for comparison ({SAMPLE} proofs per policy after {threads} to warm up, {threads} threads, no service)");
    let started = Instant::now();
    let approved: Vec<String> = applicants
        .iter()
        .filter(|(_, k)| *k == Kind::Approved)
        .take(SAMPLE + threads)
        .map(|(s, _)| s.clone())
        .collect();
    let premises = proving_rate(
        &registries.land,
        re_keys,
        PREMISES,
        &params.premises,
        &approved,
        threads,
    )?;
    let business = proving_rate(
        &registries.market,
        biz_keys,
        ACTIVE_BUSINESS,
        &params.business,
        &approved,
        threads,
    )?;
    // Licences in force today, of the institutions licensed before.
    let health = &registries.health;
    let valid = Policy::from_toml("policy.toml", VALID_LICENCE, health.schema())?;
    let valid_params = valid.encode_params(&params.licence)?;
    let holders: Vec<String> = (0..args.records)
        .map(|i| applicant(args.records * 10 + i))
        .filter(|s| {
            let subject = zkgov_circuits::encoding::text_to_field(s);
            health
                .records_of(&subject)
                .iter()
                .any(|(_, r)| valid.evaluate(health.schema(), &r.values, &valid_params))
        })
        .take(SAMPLE + threads)
        .collect();
    let licence = proving_rate(
        health,
        lic_keys,
        VALID_LICENCE,
        &params.licence,
        &holders,
        threads,
    )?;
    for (policy, rate) in [
        ("medical-premises", premises),
        ("active-medical-business", business),
        ("valid-medical-licence", licence),
    ] {
        println!(
            "  {policy:<24} {:.1} ms per proof ({:.1} proofs/s)",
            rate * 1e3,
            1.0 / rate
        );
    }
    Ok(Rates {
        premises,
        business,
        licence,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The verifier of step 4, its departments, and the log's first
/// checkpoint.
struct Verifier {
    service: RunningService,
    url: String,
    log_key: LogVerifier,
    first_checkpoint: Checkpoint,
    land: Department,
    market: Department,
    health: Department,
    insurance: Department,
}

impl Verifier {
    /// A client of `department`, signing as it.
    fn client(&self, department: &Department) -> Client {
        department_client(&self.url, department)
    }

    /// Clients of the three departments whose workers answer requests.
    fn queues(&self) -> [Client; 3] {
        [&self.land, &self.market, &self.health].map(|d| self.client(d))
    }
}

/// A client of the service at `url` for `department`, signing as it.
fn department_client(url: &str, department: &Department) -> Client {
    Client::new(url, Some(department.token.clone())).with_signer(department.signer.clone())
}

/// Step 4: the verifier on loopback, with the departments' roots anchored
/// and the two procedures registered.
fn start_verifier(
    data: &Path,
    registries: &Path,
    [re_keys, biz_keys, lic_keys]: &[KeyDir; 3],
) -> Result<Verifier> {
    println!("\n4. verifier on loopback, embedded SQLite");
    let verifier_dir = data.join("verifier");
    if verifier_dir.exists() {
        std::fs::remove_dir_all(&verifier_dir)
            .with_context(|| format!("clearing {}", verifier_dir.display()))?;
    }
    let land = Department::new("land-registry", Some("real-estate"), false);
    let market = Department::new("market-bureau", Some("business-licences"), false);
    let health = Department::new("health-department", Some("medical-licences"), true);
    let insurance = Department::new("insurance-bureau", None, true);
    let config_path = write_config(
        data,
        &[&land, &market, &health, &insurance],
        &[
            (&re_keys.path, "real-estate"),
            (&biz_keys.path, "business-licences"),
            (&lic_keys.path, "medical-licences"),
        ],
    )?;
    let config = Config::load(Some(&config_path), &|_| None, &Overrides::default())?;
    let service = RunningService::spawn(config)?;
    let url = service.url();
    let log_key = LogVerifier::from_verifier_key(&service.verifier_key)?;
    println!(
        "  listening on {url}; log {} signed by {}",
        service.origin, service.verifier_key
    );
    for (department, dir) in [
        (&land, "real-estate"),
        (&market, "business-licences"),
        (&health, "medical-licences"),
    ] {
        let registry = Registry::open(&registries.join(dir))?;
        department_client(&url, department).publish_root(dir, &to_decimal(&registry.root()))?;
    }
    for (department, procedure) in [(&health, INSTITUTION), (&insurance, DESIGNATION)] {
        department_client(&url, department)
            .post("/v1/procedures", &json!({ "procedure": procedure }))?;
    }
    let first_checkpoint =
        log_key.verify(&Client::new(&url, None).checkpoint()?, &service.origin)?;
    let verifier = Verifier {
        service,
        url,
        log_key,
        first_checkpoint,
        land,
        market,
        health,
        insurance,
    };
    println!(
        "  each department signs its own roots, decisions and refusals; governance lists their keys"
    );
    println!(
        "  three registry roots anchored, two procedures registered; log size {}",
        verifier.first_checkpoint.size
    );
    Ok(verifier)
}

/// The departments' workers, by name.
type Workers = [(&'static str, JoinHandle<Result<Tally>>); 3];

/// Starts the three departments' workers, which serve until `stop`.
fn start_workers(
    verifier: &Verifier,
    registries: &Path,
    [re_keys, biz_keys, lic_keys]: &[KeyDir; 3],
    threads: usize,
    stop: &Arc<AtomicBool>,
) -> Result<Workers> {
    let spawn = |department: &Department,
                 registry: &str,
                 keys: &KeyDir,
                 licences: bool|
     -> Result<JoinHandle<Result<Tally>>> {
        let dir = registries.join(registry);
        let mut worker = Worker::open(
            verifier.client(department),
            Some(&dir),
            std::slice::from_ref(&keys.path),
            licences.then_some(dir.as_path()),
            threads,
        )?
        .leasing(128, 300);
        let stop = stop.clone();
        Ok(std::thread::spawn(move || {
            worker.serve(&stop, false, &ProgressBar::hidden())
        }))
    };
    Ok([
        (
            "land-registry",
            spawn(&verifier.land, "real-estate", re_keys, false)?,
        ),
        (
            "market-bureau",
            spawn(&verifier.market, "business-licences", biz_keys, false)?,
        ),
        (
            "health-department",
            spawn(&verifier.health, "medical-licences", lic_keys, true)?,
        ),
    ])
}

/// What step 6 read of the licence applications.
struct Readings<'a> {
    /// Per kind of case: how many, and one of them.
    decided: BTreeMap<&'static str, (u64, &'a str)>,
    /// What refused applicants were told, and how many were told it.
    reasons: BTreeMap<String, u64>,
    /// The licences issued, verified.
    documents: Vec<LicenceDocument>,
    /// The licensed subjects, with their licences' numbers.
    licensed: Vec<(String, String)>,
}

/// Step 6: each applicant reads their case; an approved one fetches the
/// licence and verifies it offline, into `licence_dir`.
fn read_cases<'a>(
    verifier: &Verifier,
    applied: &'a [Applied],
    licence_dir: &Path,
) -> Result<Readings<'a>> {
    println!("\n6. applicants read their cases");
    let reading = Instant::now();
    let progress = bar(applied.len() as u64, "applicants");
    let mut readings = Readings {
        decided: BTreeMap::new(),
        reasons: BTreeMap::new(),
        documents: Vec::new(),
        licensed: Vec::new(),
    };
    if licence_dir.exists() {
        std::fs::remove_dir_all(licence_dir)
            .with_context(|| format!("clearing {}", licence_dir.display()))?;
    }
    for case in applied {
        let (status, applicant) = status_of(&verifier.url, case)?;
        let outcome = status["status"].as_str().unwrap_or_default();
        let expected = if case.kind == Kind::Approved {
            "approved"
        } else {
            "refused"
        };
        ensure!(
            outcome == expected,
            "{}: expected {}, but the case is {outcome}",
            case.case_id,
            case.kind.describe()
        );
        readings
            .decided
            .entry(case.kind.describe())
            .or_insert((0, &case.case_id))
            .0 += 1;
        if case.kind == Kind::Approved {
            let document = fetch_document(&applicant, &case.case_id)?;
            let verified = document
                .verify(&verifier.log_key)
                .with_context(|| format!("{}: the licence document", case.case_id))?;
            ensure!(
                document.holder.subject == case.subject,
                "{}: the licence names another holder",
                case.case_id
            );
            readings
                .licensed
                .push((case.subject.clone(), verified.licence.number.clone()));
            let mut text = serde_json::to_string_pretty(&document)?;
            text.push('\n');
            write_atomically(
                &licence_dir.join(format!("{}.json", case.case_id)),
                text.as_bytes(),
            )?;
            readings.documents.push(document);
        } else {
            let told = told(&status);
            let expected = case.kind.told().unwrap_or_default();
            // An unknown applicant may hear it from both departments.
            ensure!(
                !told.is_empty() && told.iter().all(|t| t.contains(expected)),
                "{}: {} but the applicant is told {told:?}",
                case.case_id,
                case.kind.describe()
            );
            *readings.reasons.entry(told.join(" and ")).or_default() += 1;
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "  {} licences fetched and verified offline with the log's key alone (kept in {}); {} refused applicants each told the one condition that failed ({:.1} s)",
        readings.documents.len(),
        licence_dir.display(),
        readings.reasons.values().sum::<u64>(),
        reading.elapsed().as_secs_f64()
    );
    Ok(readings)
}

/// Step 7: up to `designations` licence holders, and one in ten as many
/// refused applicants, apply for the second procedure, which the licence
/// backs.
fn designate(
    verifier: &Verifier,
    workers: &Workers,
    applied: &[Applied],
    licensed: &[(String, String)],
    designations: u64,
) -> Result<()> {
    println!(
        "\n7. the licence backs a second procedure: designation as a medical-insurance provider"
    );
    let holders = licensed.len().min(designations as usize);
    let mut second: Vec<(String, Kind)> = licensed[..holders]
        .iter()
        .map(|(s, _)| (s.clone(), Kind::Approved))
        .collect();
    // One in ten applies without a licence.
    for case in applied
        .iter()
        .filter(|a| a.kind != Kind::Approved)
        .take(holders.div_ceil(10))
    {
        second.push((case.subject.clone(), Kind::UnknownSubject));
    }
    let started = Instant::now();
    let second_applied = apply_all(
        &verifier.url,
        "medical-insurance-designation",
        second,
        "designations",
    )?;
    wait_for_decisions(
        &verifier.client(&verifier.insurance),
        &verifier.queues(),
        "medical-insurance-designation",
        second_applied.len() as u64,
        workers,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let mut designated = 0;
    for case in &second_applied {
        let (status, _) = status_of(&verifier.url, case)?;
        let expected = if case.kind == Kind::Approved {
            designated += 1;
            "approved"
        } else {
            "refused"
        };
        ensure!(
            status["status"] == expected,
            "{}: expected {expected}, got {}",
            case.case_id,
            status["status"]
        );
        if case.kind != Kind::Approved {
            ensure!(
                told(&status) == ["licence: subject_not_found"],
                "{}: told {:?}",
                case.case_id,
                told(&status)
            );
        }
    }
    println!(
        "  {designated} licence holders designated; {} without a licence refused, told: subject not found; in {seconds:.1} s",
        second_applied.len() - designated
    );
    Ok(())
}

/// Waits for the workers, which were told to stop; their tallies by name.
fn join_workers(workers: Workers) -> Result<BTreeMap<&'static str, Tally>> {
    let mut tallies = BTreeMap::new();
    for (name, worker) in workers {
        let tally = worker
            .join()
            .map_err(|_| anyhow::anyhow!("the {name} worker panicked"))??;
        tallies.insert(name, tally);
    }
    Ok(tallies)
}

/// Step 8: the whole log replayed, as any outsider would, and every
/// licence's checkpoint found within it.
fn replay(verifier: &Verifier, documents: &[LicenceDocument]) -> Result<()> {
    println!("\n8. replaying the log, as any outsider would");
    let started = Instant::now();
    let auditor = Client::new(&verifier.url, None);
    let origin = &verifier.service.origin;
    let replay = bar(0, "entries replayed");
    let monitored = monitor(
        &auditor,
        &verifier.log_key,
        origin,
        Some(&verifier.first_checkpoint),
        LogState::new(),
        |n, total| {
            replay.set_length(total);
            replay.set_position(n);
        },
    )?;
    replay.finish_and_clear();
    let counts = monitored.state.counts();
    for document in documents {
        let (_, signed) = document.decision.verify(&verifier.log_key, origin)?;
        ensure!(
            signed.size <= monitored.checkpoint.size,
            "a licence's checkpoint is beyond the log"
        );
    }
    println!(
        "  {} entries: checkpoint signature valid, consistent with the first checkpoint ({} entries), {} proofs verified again, {} decisions recomputed by the rules ({:.2?})",
        monitored.checkpoint.size,
        verifier.first_checkpoint.size,
        counts.results,
        counts.decisions,
        started.elapsed()
    );
    Ok(())
}

/// The summary: the cases, the proofs, and the time against proving alone.
fn print_summary(
    readings: &Readings,
    proofs: &BTreeMap<&'static str, Tally>,
    rates: &Rates,
    applications: usize,
    first_secs: f64,
    total: Instant,
) {
    let proved: u64 = proofs.values().map(|t| t.proven).sum();
    let proving_secs: f64 = proofs.values().map(|t| t.proving_seconds).sum();
    let first_alone = proofs["land-registry"].proven as f64 * rates.premises
        + proofs["market-bureau"].proven as f64 * rates.business;
    let alone = first_alone + proofs["health-department"].proven as f64 * rates.licence;
    let elapsed = total.elapsed().as_secs_f64();
    println!("\nsummary");
    for (what, (count, example)) in &readings.decided {
        println!("  {what:<48} {count:>5}   (such as {example})");
    }
    println!("  what refused applicants were told:");
    for (reason, count) in &readings.reasons {
        println!("    {reason:<60} {count:>5}");
    }
    for (name, tally) in proofs {
        println!(
            "  {name:<18} {:>5} proofs, {:>4} unmet, {:>4} licences issued",
            tally.proven, tally.unmet, tally.licences
        );
    }
    let per_second = applications as f64 / first_secs;
    println!(
        "  applications:   {per_second:.1} per second end to end (intake, two departments' proofs, verification, the automatic decision, the licence issued): {:.1} years of a city of 800,000 a year per day",
        per_second * 86_400.0 / 800_000.0
    );
    println!(
        "  against proving: the licence applications took {first_secs:.1} s from the first intake to the last licence, {:.2}× their {} proofs alone ({first_alone:.1} s at the rates of step 3)",
        first_secs / first_alone,
        proofs["land-registry"].proven + proofs["market-bureau"].proven
    );
    println!(
        "  proving:        {proved} proofs in all; alone, at the rates of step 3, they take {alone:.1} s; the workers spent {proving_secs:.1} s proving, side by side"
    );
    println!(
        "  total:          {elapsed:.1} s, {:.2}× the proofs alone; without step 3, which only measures them, {:.1} s, {:.2}×",
        elapsed / alone,
        elapsed - rates.seconds,
        (elapsed - rates.seconds) / alone
    );
}
