//! `zkgov demo`: the medical-licence case, end to end, on embedded
//! defaults.
//!
//! A clinic applies to the health department for a medical-institution
//! practising licence. The real-estate registry proves, with the reference
//! policy, that its premises are fit; the market-regulation bureau proves
//! that its business licence is active, unexpired and covers medical
//! services. Both submit their proofs to the verifier, which anchors the
//! results in its log. The health department compares the anchored results
//! without seeing either registry, records its decisions, issues the
//! licences into its own registry and anchors that registry's new root.
//! Finally the log is audited as any outsider would: checkpoint signature,
//! consistency with the first checkpoint, and inclusion of every receipt.
//!
//! The registries are synthetic and deterministic; keys are cached in the
//! data directory across runs; the verifier runs on loopback with embedded
//! SQLite.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use ark_ff::PrimeField;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngCore;
use serde_json::{json, Value};
use zkgov_circuits::circuit::StatementWitness;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::{Record, Schema};
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::snarkjs;
use zkgov_keys::store::{setup, KeyDir};
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::receipt::Receipt;
use zkgov_prover::engine::Engine;
use zkgov_verifier::client::{audit, Client, Submitted};
use zkgov_verifier::service::config::{Config, Overrides, TokenHash};
use zkgov_verifier::service::RunningService;

const REAL_ESTATE: &str = include_str!("../../schemas/real-estate.toml");
const BUSINESS: &str = include_str!("../../schemas/business-licence.toml");
const LICENCES: &str = include_str!("../../schemas/medical-licence.toml");
const PREMISES: &str = include_str!("../../policies/medical-premises.toml");
const ACTIVE_BUSINESS: &str = include_str!("../../policies/active-medical-business.toml");

/// The demo's "today", fixed so that every run decides the same way.
const TODAY: &str = "2026-11-23";
const MIN_AREA: &str = "120";
const MIN_CAPITAL: &str = "300000";

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Records in each department's synthetic registry.
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Licence applications to decide.
    #[arg(long, default_value_t = 240)]
    cases: u64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Where keys are cached and the verifier keeps its log.
    #[arg(long, default_value = "zkgov-demo")]
    data_dir: PathBuf,
    /// Proving threads (default: every core).
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

    /// A field element below 2^192, well inside the field.
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

/// The applicant's registration number, the subject in every registry.
fn applicant(i: u64) -> String {
    format!("91510181MA{i:08}")
}

/// One department's registry, held in memory.
struct Department {
    name: &'static str,
    registry: &'static str,
    schema: Schema,
    records: Vec<Record>,
    tree: RegistryTree,
    by_subject: HashMap<Fr, usize>,
    token: String,
}

impl Department {
    fn new(
        name: &'static str,
        registry: &'static str,
        schema: Schema,
        records: Vec<Record>,
        shape: TreeShape,
    ) -> Result<Department> {
        let tree =
            RegistryTree::from_leaves(shape, records.iter().map(|r| schema.leaf(r)).collect())?;
        let by_subject = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.values[schema.subject], i))
            .collect();
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Ok(Department {
            name,
            registry,
            schema,
            records,
            tree,
            by_subject,
            token: hex::encode(secret),
        })
    }

    fn root(&self) -> String {
        to_decimal(&self.tree.root())
    }
}

fn real_estate_record(schema: &Schema, rng: &mut Synthetic, i: u64) -> Result<Record> {
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
    let raw = [
        applicant(i),
        format!("510181-{i:06}"),
        area.to_string(),
        usage.to_string(),
        if rng.below(20) == 0 { "true" } else { "false" }.to_string(),
        rng.date(2000, 26),
        rng.date(2027, 30),
    ];
    let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
    Ok(schema.encode_record(&raw, rng.field())?)
}

fn business_record(schema: &Schema, rng: &mut Synthetic, i: u64) -> Result<Record> {
    let status = [
        "active",
        "active",
        "active",
        "active",
        "suspended",
        "revoked",
    ];
    let scope = 4 | (rng.below(32) & !4) | if rng.below(8) == 0 { 0 } else { 4 };
    let raw = [
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
    ];
    let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
    Ok(schema.encode_record(&raw, rng.field())?)
}

fn licence_record(schema: &Schema, subject: &str, licence: &str, salt: Fr) -> Result<Record> {
    let raw = [subject, licence, "clinic", TODAY, "2031-11-23"];
    Ok(schema.encode_record(&raw, salt)?)
}

/// What a case is meant to show.
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
}

struct Case {
    number: String,
    subject: Fr,
    applicant: Option<usize>,
    secret: Fr,
}

/// Keys for one policy, cached in `dir` across runs.
fn cached_keys(
    dir: &Path,
    schema: &Schema,
    schema_text: &str,
    policy: &Policy,
    policy_text: &str,
    shape: TreeShape,
) -> Result<KeyDir> {
    if dir.exists() {
        match KeyDir::open(dir).and_then(|k| k.check_circuit(schema, policy, shape).map(|_| k)) {
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
        schema,
        policy,
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

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("  {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// What a department's proving gives: the submissions by case index, why
/// each other case has no proof, and the seconds it took.
type Proved = (Vec<(usize, Value)>, BTreeMap<usize, String>, f64);

/// A department proves its policy for every case it can.
fn prove_cases(
    department: &Department,
    keys: &KeyDir,
    policy: &Policy,
    params: &[(&str, &str)],
    cases: &[Case],
    threads: usize,
) -> Result<Proved> {
    let engine = Engine::new(keys, department.schema.clone(), policy.clone())?;
    let encoded = policy.encode_params(params)?;
    let mut refusals = BTreeMap::new();
    let mut jobs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let Some(&index) = department.by_subject.get(&case.subject) else {
            refusals.insert(i, "subject not found".to_string());
            continue;
        };
        let record = &department.records[index];
        if !policy.evaluate(&department.schema, &record.values, &encoded) {
            let failures = policy.failures(&department.schema, &record.values, &encoded);
            refusals.insert(i, format!("not satisfied: {}", failures.join("; ")));
            continue;
        }
        let statement = Statement {
            registry_root: department.tree.root(),
            case_id: Statement::case_id(&case.number),
            subject_tag: SubjectTag::new(case.subject, case.secret),
            params: encoded.clone(),
        };
        let witness = StatementWitness {
            record: record.clone(),
            path: department.tree.path(index as u64)?,
            case_secret: case.secret,
        };
        jobs.push((i, statement, witness));
    }
    let bar = progress(jobs.len() as u64, department.name);
    let started = Instant::now();
    let mut proofs = Vec::new();
    let mut failed = Vec::new();
    let stop = AtomicBool::new(false);
    let key_id = engine.key_id().to_string();
    engine.prove_batch(jobs, threads, &stop, |i, statement, result| {
        bar.inc(1);
        match result {
            Ok(proof) => proofs.push((
                i,
                json!({
                    "status": "proven",
                    "case_id": cases[i].number,
                    "key_id": key_id,
                    "registry_root": to_decimal(&statement.registry_root),
                    "public_inputs": statement.public_inputs().iter().map(to_decimal).collect::<Vec<_>>(),
                    "proof": snarkjs::proof_to_json(&proof),
                }),
            )),
            Err(e) => failed.push(format!("{}: {e}", cases[i].number)),
        }
    });
    bar.finish_and_clear();
    ensure!(failed.is_empty(), "proving failed: {}", failed.join("; "));
    Ok((proofs, refusals, started.elapsed().as_secs_f64()))
}

/// Writes the verifier's config: three departments (of which `decider`
/// decides cases), two keys, SQLite.
fn write_config(
    dir: &Path,
    departments: &[&Department],
    decider: &Department,
    keys: &[(&Path, &str)],
) -> Result<PathBuf> {
    let mut text = String::from(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"verifier\"\norigin = \"zkgov.demo/log\"\n",
    );
    for d in departments {
        text.push_str(&format!(
            "\n[[department]]\nname = \"{}\"\ntoken_sha256 = \"{}\"\nregistries = [\"{}\"]\ndecides = {}\n",
            d.name,
            TokenHash::of(&d.token).to_hex(),
            d.registry,
            d.name == decider.name
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

pub(crate) fn run(args: &DemoArgs) -> Result<()> {
    let total = Instant::now();
    ensure!(args.records >= 10, "--records must be at least 10");
    ensure!(args.cases >= 5, "--cases must be at least 5");
    let shape = TreeShape::new(4, 10)?;
    ensure!(
        u128::from(args.records) * 2 <= shape.capacity(),
        "--records {} is beyond the registry capacity",
        args.records
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let data = &args.data_dir;
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;

    println!("zkgov demo: a clinic's medical-institution licence, decided from two other departments' registries");
    println!(
        "\n1. registries ({} synthetic records each, arity 4, depth 10)",
        args.records
    );
    let re_schema = Schema::from_toml("schemas/real-estate.toml", REAL_ESTATE)?;
    let biz_schema = Schema::from_toml("schemas/business-licence.toml", BUSINESS)?;
    let lic_schema = Schema::from_toml("schemas/medical-licence.toml", LICENCES)?;
    let premises = Policy::from_toml("policies/medical-premises.toml", PREMISES, &re_schema)?;
    let business = Policy::from_toml(
        "policies/active-medical-business.toml",
        ACTIVE_BUSINESS,
        &biz_schema,
    )?;

    let started = Instant::now();
    let mut rng = Synthetic(args.seed);
    let re_records = (0..args.records)
        .map(|i| real_estate_record(&re_schema, &mut rng, i))
        .collect::<Result<Vec<_>>>()?;
    let biz_records = (0..args.records)
        .map(|i| business_record(&biz_schema, &mut rng, i))
        .collect::<Result<Vec<_>>>()?;
    // The health department already holds licences of other institutions.
    let lic_records = (0..args.records)
        .map(|i| {
            licence_record(
                &lic_schema,
                &applicant(args.records * 10 + i),
                &format!("MED-{i:08}"),
                rng.field(),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let land = Department::new("land-registry", "real-estate", re_schema, re_records, shape)?;
    let market = Department::new(
        "market-bureau",
        "business-licences",
        biz_schema,
        biz_records,
        shape,
    )?;
    let mut health = Department::new(
        "health-department",
        "medical-licences",
        lic_schema,
        lic_records,
        shape,
    )?;
    for d in [&land, &market, &health] {
        println!(
            "  {:<18} {:<18} {} records, root {}…",
            d.name,
            d.registry,
            d.records.len(),
            &d.root()[..16]
        );
    }
    println!("  built in {:.2?}", started.elapsed());

    // Sort applicants by what would happen to them, so that every kind of
    // case is shown.
    let re_params = [
        ("min_area", MIN_AREA),
        ("usage", "medical"),
        ("today", TODAY),
    ];
    let biz_params = [("today", TODAY), ("min_capital", MIN_CAPITAL)];
    let re_encoded = premises.encode_params(&re_params)?;
    let biz_encoded = business.encode_params(&biz_params)?;
    let mut pools: BTreeMap<Kind, Vec<usize>> = BTreeMap::new();
    for i in 0..args.records as usize {
        let re_fail = premises.failures(&land.schema, &land.records[i].values, &re_encoded);
        let biz_fail = business.failures(&market.schema, &market.records[i].values, &biz_encoded);
        let kind = match (re_fail.as_slice(), biz_fail.as_slice()) {
            ([], []) => Kind::Approved,
            ([only], []) if only.starts_with("area_m2") => Kind::TooSmall,
            ([only], []) if only.starts_with("usage") => Kind::WrongUse,
            ([], [only]) if only.starts_with("expires") => Kind::ExpiredLicence,
            _ => continue,
        };
        pools.entry(kind).or_default().push(i);
    }
    for kind in [
        Kind::Approved,
        Kind::TooSmall,
        Kind::WrongUse,
        Kind::ExpiredLicence,
    ] {
        ensure!(
            pools.get(&kind).is_some_and(|p| !p.is_empty()),
            "the synthetic registries hold no case that is {}; try more --records",
            kind.describe()
        );
    }
    // Each applicant applies once: draw from each pool without replacement.
    for pool in pools.values_mut() {
        for i in (1..pool.len()).rev() {
            pool.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    let mut cases = Vec::new();
    let mut kinds = Vec::new();
    for c in 0..args.cases {
        let kind = match c % 10 {
            3 => Kind::TooSmall,
            5 => Kind::WrongUse,
            7 => Kind::ExpiredLicence,
            9 => Kind::UnknownSubject,
            _ => Kind::Approved,
        };
        let (subject, applicant_index) = match kind {
            Kind::UnknownSubject => (applicant(args.records * 100 + c), None),
            _ => {
                let i = pools.get_mut(&kind).and_then(Vec::pop).with_context(|| {
                    format!(
                        "the synthetic registries hold too few applicants whose case is {} for {} cases; try more --records",
                        kind.describe(),
                        args.cases
                    )
                })?;
                (applicant(i as u64), Some(i))
            }
        };
        cases.push(Case {
            number: format!("DJY-2026-{c:06}"),
            subject: zkgov_circuits::encoding::text_to_field(&subject),
            applicant: applicant_index,
            secret: rng.field(),
        });
        kinds.push(kind);
    }

    println!("\n2. keys (cached in {})", data.join("keys").display());
    let re_keys = cached_keys(
        &data.join("keys/medical-premises"),
        &land.schema,
        REAL_ESTATE,
        &premises,
        PREMISES,
        shape,
    )?;
    let biz_keys = cached_keys(
        &data.join("keys/active-medical-business"),
        &market.schema,
        BUSINESS,
        &business,
        ACTIVE_BUSINESS,
        shape,
    )?;
    println!("  medical-premises         key {}", re_keys.metadata.key_id);
    println!(
        "  active-medical-business  key {}",
        biz_keys.metadata.key_id
    );

    println!("\n3. verifier on loopback, embedded SQLite");
    let verifier_dir = data.join("verifier");
    if verifier_dir.exists() {
        std::fs::remove_dir_all(&verifier_dir)
            .with_context(|| format!("clearing {}", verifier_dir.display()))?;
    }
    let config_path = write_config(
        data,
        &[&land, &market, &health],
        &health,
        &[
            (&re_keys.path, land.registry),
            (&biz_keys.path, market.registry),
        ],
    )?;
    let config = Config::load(Some(&config_path), &|_| None, &Overrides::default())?;
    let service = RunningService::spawn(config)?;
    let log_key = LogVerifier::from_verifier_key(&service.verifier_key)?;
    println!(
        "  listening on {}; log {} signed by {}",
        service.url(),
        service.origin,
        service.verifier_key
    );
    let client_of = |d: &Department| Client::new(&service.url(), Some(d.token.clone()));
    let mut receipts: Vec<Receipt> = Vec::new();
    for d in [&land, &market, &health] {
        receipts.push(client_of(d).publish_root(d.registry, &d.root())?);
    }
    let first_checkpoint = log_key.verify(
        &receipts.last().expect("three roots").checkpoint,
        &service.origin,
    )?;
    println!(
        "  three registry roots anchored; log size {}",
        first_checkpoint.size
    );

    println!(
        "\n4. proving {} applications at two departments ({threads} threads)",
        cases.len()
    );
    let (re_proofs, re_refusals, re_secs) =
        prove_cases(&land, &re_keys, &premises, &re_params, &cases, threads)?;
    let (biz_proofs, biz_refusals, biz_secs) =
        prove_cases(&market, &biz_keys, &business, &biz_params, &cases, threads)?;
    let proved = re_proofs.len() + biz_proofs.len();
    let prove_secs = re_secs + biz_secs;
    println!(
        "  {proved} proofs in {prove_secs:.1} s ({:.1} proofs/s); {} + {} cases without a proof",
        proved as f64 / prove_secs,
        re_refusals.len(),
        biz_refusals.len()
    );

    println!("\n5. submitting proofs to the verifier");
    let started = Instant::now();
    for (department, proofs) in [(&land, &re_proofs), (&market, &biz_proofs)] {
        let client = client_of(department);
        let bar = progress(proofs.len() as u64, department.name);
        for chunk in proofs.chunks(64) {
            let items: Vec<Value> = chunk.iter().map(|(_, v)| v.clone()).collect();
            for (outcome, (i, _)) in client.submit_batch(&items)?.into_iter().zip(chunk) {
                match outcome {
                    Submitted::Accepted(receipt) | Submitted::Existing(receipt) => {
                        receipts.push(receipt)
                    }
                    Submitted::Rejected { reason, message } => bail!(
                        "{}: the verifier refused the proof: {reason}: {message}",
                        cases[*i].number
                    ),
                }
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
    }
    let submit_secs = started.elapsed().as_secs_f64();
    println!("  {proved} proofs verified and anchored in {submit_secs:.2} s ({:.0} per second, batches of 64)", proved as f64 / submit_secs);

    println!("\n6. the health department compares anchored results and decides");
    let required = vec![
        re_keys.metadata.key_id.clone(),
        biz_keys.metadata.key_id.clone(),
    ];
    let health_client = client_of(&health);
    let mut decided: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut approved_cases = Vec::new();
    let bar = progress(cases.len() as u64, "decisions");
    for (i, case) in cases.iter().enumerate() {
        let comparison = health_client.compare(&case.number, &required, &[])?;
        let approve = comparison.complete && comparison.tags_match;
        let note = if approve {
            String::new()
        } else {
            // The health department learns only which results are missing;
            // the reason is the proving department's, told to the applicant.
            format!("no verified result under {}", comparison.missing.join(", "))
        };
        receipts.push(health_client.decide(
            &case.number,
            if approve { "approved" } else { "refused" },
            &comparison.cited,
            &note,
        )?);
        let kind = kinds[i];
        let expected = kind == Kind::Approved;
        ensure!(
            approve == expected,
            "{}: expected {}, but the comparison says {comparison:?}",
            case.number,
            kind.describe()
        );
        *decided.entry(kind.describe()).or_default() += 1;
        if approve {
            approved_cases.push(i);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    println!("\n7. licences issued into the health registry");
    for &i in &approved_cases {
        let case = &cases[i];
        let subject = applicant(case.applicant.expect("approved cases have an applicant") as u64);
        let record = licence_record(
            &health.schema,
            &subject,
            &format!("MED-LIC-{}", case.number),
            rng.field(),
        )?;
        let leaf = health.schema.leaf(&record);
        health.tree.push(leaf)?;
        health.records.push(record);
    }
    receipts.push(health_client.publish_root(health.registry, &health.root())?);
    println!(
        "  {} licences issued; new root {}… anchored, so a licence can back later proofs",
        approved_cases.len(),
        &health.root()[..16]
    );

    println!("\n8. auditing the log");
    let started = Instant::now();
    let auditor = Client::new(&service.url(), None);
    let report = audit(
        &auditor,
        &log_key,
        &service.origin,
        Some(&first_checkpoint),
        &receipts,
    )?;
    println!(
        "  checkpoint of {} entries: signature valid; consistent with the first checkpoint ({} entries); all {} entries rebuild the signed root; {} receipts included ({:.2?})",
        report.checkpoint.size, first_checkpoint.size, report.entries, report.receipts, started.elapsed()
    );
    service.shutdown().context("stopping the verifier")?;

    println!("\nsummary");
    for (what, count) in &decided {
        println!("  {what:<48} {count:>5}");
    }
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (department, refusals) in [(&land, &re_refusals), (&market, &biz_refusals)] {
        for reason in refusals.values() {
            *reasons
                .entry(format!("{}: {reason}", department.name))
                .or_default() += 1;
        }
    }
    println!("  why, as the proving departments found it:");
    for (reason, count) in &reasons {
        println!("    {reason:<78} {count:>5}");
    }
    println!(
        "  proving:      {:.1} proofs/s ({proved} proofs)",
        proved as f64 / prove_secs
    );
    println!(
        "  verification: {:.0} proofs/s, submitted over HTTP in batches and anchored",
        proved as f64 / submit_secs
    );
    println!(
        "  log:          {} entries, audited",
        report.checkpoint.size
    );
    println!("  total:        {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}
