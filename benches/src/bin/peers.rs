//! zkgov against its peer, snarkjs, on the reference statement, in one run:
//!
//! - zkgov's engine: `Engine::prove` for one proof, `Engine::prove_batch`
//!   for a batch, on zkgov's reference circuit (`medical-premises` over
//!   `real-estate`, arity 4, depth 10);
//! - plain arkworks: `Groth16::<Bn254>::prove` on the same circuit, full
//!   synthesis included, one case after another with arkworks' own
//!   parallelism inside each proof, as `prove-batch` calls it;
//! - snarkjs 0.7.6: `groth16.fullProve` (witness and proof) in one Node
//!   process (`interop/bench/fullprove.mjs`), one case after another with
//!   its own worker threads inside each proof, on the same statement
//!   written in circom with circomlib over a binary depth-20 tree
//!   (`interop/circuits/reference.circom`).
//!
//! One proof is the median latency; a batch is 64 cases on as many workers
//! as cores. Every snarkjs proof is checked in zkgov: its public signals
//! are the case's statement (over the binary tree's root), and it verifies.
//! Then proofs/s of the engine and of plain arkworks against the worker
//! count and against the batch size, plotted to `docs/peers.svg`.
//!
//! The circom circuit is compiled with the pinned circom (`--O2`, its
//! fewest constraints) and given a single-party Groth16 setup by snarkjs:
//! powers of tau 2^13 and one phase-2 contribution, with entropy written
//! in this file. That setup is insecure and serves this benchmark only.
//! Compilation and setup are cached under `target/peers/` (preparing the
//! powers of tau takes minutes); `--fresh` redoes them.
//!
//! `cargo run --release -p zkgov-benches --bin peers [-- --fresh]`

#[path = "../../../keys/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ark_bn254::Bn254;
use ark_groth16::{Groth16, Proof, VerifyingKey};
use ark_snark::SNARK;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_benches::{median, with_threads};
use zkgov_circuits::circuit::{StatementCircuit, StatementWitness};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::statement::Statement;
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::digest::Digest32;
use zkgov_keys::qap::CircomReduction;
use zkgov_keys::snarkjs;
use zkgov_prover::engine::Engine;

/// Records in the benchmark registry, as in `prove-batch`.
const RECORDS: u64 = 4096;
/// Cases in a batch.
const BATCH: usize = 64;
/// Batch rounds of the engine and plain arkworks, alternating.
const ROUNDS: usize = 3;
/// Single proofs of the engine and plain arkworks, alternating.
const SINGLE_RUNS: usize = 12;
/// snarkjs proofs before the measured ones.
const SNARKJS_WARMUP: usize = 2;
/// Proofs behind each point of the batch-size sweep.
const SWEEP_PROOFS: usize = 32;
/// Batch sizes of the sweep.
const BATCH_SIZES: [usize; 4] = [1, 4, 16, 64];
/// The binary tree of the circom circuit: 2^20 records, as zkgov's 4^10.
const BINARY_DEPTH: u32 = 20;
/// The powers of tau for the circom circuit: 2^13 ≥ its constraints and
/// public inputs, plus one.
const POWER: u32 = 13;

/// A number of proofs made in a wall time, using a CPU time.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    proofs: usize,
    time: Duration,
    /// CPU time on every thread of the proving process: on a machine shared
    /// with other work it varies less than the wall time.
    cpu: Duration,
}

impl Rate {
    fn per_second(&self) -> f64 {
        self.proofs as f64 / self.time.as_secs_f64()
    }

    fn ms_per_proof(&self) -> f64 {
        self.time.as_secs_f64() * 1e3 / self.proofs as f64
    }

    fn cpu_ms_per_proof(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / self.proofs as f64
    }

    fn add(&mut self, other: Rate) {
        self.proofs += other.proofs;
        self.time += other.time;
        self.cpu += other.cpu;
    }
}

/// This process's CPU time so far, every thread: `utime + stime` from
/// `/proc/self/stat`, in the kernel's 100 Hz clock ticks.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 2..]
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    // Fields 14 and 15 of the line, counted from 1 with pid and name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("  {msg:<34} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn spinner(what: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("a valid template"),
    );
    spinner.set_message(what.to_string());
    spinner.enable_steady_tick(Duration::from_millis(200));
    spinner
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// `to` relative to `from`, both absolute: the circom compiler runs under
/// WASI, which opens only paths relative to its working directory.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = from[common..].iter().map(|_| "..").collect();
    path.extend(&to[common..]);
    path
}

/// Runs an npm-installed tool and stops the benchmark if it fails.
fn run(tool: &str, args: &[&str], cwd: &Path) -> Output {
    let out = support::run_node_bin(tool, args, cwd);
    assert!(
        out.status.success(),
        "{tool} {} failed (exit {:?}):\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The circom circuit, compiled and set up for snarkjs.
struct CircomPeer {
    /// The witness calculator.
    wasm: PathBuf,
    /// The proving key.
    zkey: PathBuf,
    /// The verifying key, parsed from snarkjs's export.
    vk: VerifyingKey<Bn254>,
    /// Constraints, as `snarkjs r1cs info` counts them.
    constraints: usize,
    /// Public inputs, as `snarkjs r1cs info` counts them.
    public_inputs: usize,
}

impl CircomPeer {
    /// Compiles `interop/circuits/reference.circom` and sets it up, or takes
    /// both from the cache of an earlier run with the same circuit and the
    /// same pinned packages.
    fn prepare(fresh: bool) -> Self {
        let interop = support::node_tools();
        let source = interop.join("circuits/reference.circom");
        let text = std::fs::read(&source).expect("interop/circuits/reference.circom");
        let lock = std::fs::read(interop.join("package-lock.json")).expect("package-lock.json");
        let cache = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("peers")))
            .unwrap_or_else(|| std::env::temp_dir().join("zkgov-peers"));
        let tau = cache.join(format!(
            "pot{POWER}-{}.ptau",
            &Digest32::of(&lock).to_string()[..16]
        ));
        let dir = cache.join(&Digest32::of(&[text, lock].concat()).to_string()[..16]);
        let done = dir.join("complete");
        if fresh {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&tau);
        }

        if done.exists() {
            println!(
                "circom circuit and snarkjs setup: from an earlier run, in {} (--fresh redoes them)",
                dir.display()
            );
        } else {
            std::fs::create_dir_all(&dir).expect("the cache folder");
            let started = Instant::now();
            let step = spinner("compiling reference.circom (circom --O2)");
            let out = relative(&interop, &dir);
            run(
                "circom2",
                &[
                    "circuits/reference.circom",
                    "--r1cs",
                    "--wasm",
                    "--O2",
                    "-l",
                    "node_modules",
                    "-o",
                    out.to_str().expect("a UTF-8 path"),
                ],
                &interop,
            );
            step.finish_and_clear();
            println!(
                "compiled reference.circom in {:.1} s",
                started.elapsed().as_secs_f64()
            );

            if !tau.exists() {
                let started = Instant::now();
                let step = spinner(&format!(
                    "powers of tau 2^{POWER} (preparing phase 2 takes minutes)"
                ));
                let partial = |name: &str| tau.with_extension(name);
                let (new, contributed, prepared) =
                    (partial("0.ptau"), partial("1.ptau"), partial("2.ptau"));
                let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();
                for args in [
                    vec![
                        "powersoftau".into(),
                        "new".into(),
                        "bn128".into(),
                        POWER.to_string(),
                        path(&new),
                    ],
                    vec![
                        "powersoftau".into(),
                        "contribute".into(),
                        path(&new),
                        path(&contributed),
                        "--name=benchmark only".into(),
                        "-e=insecure benchmark entropy, published in its source".into(),
                    ],
                    vec![
                        "powersoftau".into(),
                        "prepare".into(),
                        "phase2".into(),
                        path(&contributed),
                        path(&prepared),
                    ],
                ] {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    run("snarkjs", &args, &dir);
                }
                std::fs::rename(&prepared, &tau).expect("the prepared powers of tau");
                let _ = std::fs::remove_file(&new);
                let _ = std::fs::remove_file(&contributed);
                step.finish_and_clear();
                println!(
                    "powers of tau 2^{POWER} (single party, insecure) in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }

            let started = Instant::now();
            let step = spinner("snarkjs groth16 setup and one contribution");
            let tau = tau.to_str().expect("a UTF-8 path");
            run(
                "snarkjs",
                &[
                    "groth16",
                    "setup",
                    "reference.r1cs",
                    tau,
                    "reference_0.zkey",
                ],
                &dir,
            );
            run(
                "snarkjs",
                &[
                    "zkey",
                    "contribute",
                    "reference_0.zkey",
                    "reference.zkey",
                    "--name=benchmark only",
                    "-e=insecure benchmark entropy, published in its source",
                ],
                &dir,
            );
            run(
                "snarkjs",
                &[
                    "zkey",
                    "export",
                    "verificationkey",
                    "reference.zkey",
                    "verification_key.json",
                ],
                &dir,
            );
            let _ = std::fs::remove_file(dir.join("reference_0.zkey"));
            step.finish_and_clear();
            std::fs::write(&done, b"").expect("the cache marker");
            println!(
                "snarkjs Groth16 setup (single party, insecure, for this benchmark only) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }

        let info = run("snarkjs", &["r1cs", "info", "reference.r1cs"], &dir);
        let info = String::from_utf8_lossy(&info.stdout);
        let count = |label: &str| {
            info.lines()
                .find_map(|l| l.split_once(label).map(|(_, n)| n.trim().to_string()))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("`snarkjs r1cs info` names no {label:?}:\n{info}"))
        };
        let vk = std::fs::read_to_string(dir.join("verification_key.json"))
            .expect("the exported verifying key");
        Self {
            wasm: dir.join("reference_js/reference.wasm"),
            zkey: dir.join("reference.zkey"),
            vk: snarkjs::verifying_key_from_json(&vk).expect("snarkjs's verifying key parses"),
            constraints: count("# of Constraints:"),
            public_inputs: count("# of Public Inputs:"),
        }
    }
}

fn decimals<'a>(values: impl IntoIterator<Item = &'a Fr>) -> Vec<String> {
    values.into_iter().map(to_decimal).collect()
}

/// One case as the circom circuit's input, over the binary tree, and the
/// public signals its proof must carry.
fn circom_case(
    tree: &RegistryTree,
    statement: &Statement,
    witness: &StatementWitness,
) -> (Value, Vec<Fr>) {
    let index = witness.path.index;
    let path = tree.path(index).expect("the record is in the binary tree");
    let statement = Statement {
        registry_root: tree.root(),
        ..statement.clone()
    };
    let input = json!({
        "registry_root": to_decimal(&statement.registry_root),
        "case_id": to_decimal(&statement.case_id),
        "subject_tag": to_decimal(&statement.subject_tag.0),
        "min_area": to_decimal(&statement.params[0]),
        "usage": to_decimal(&statement.params[1]),
        "today": to_decimal(&statement.params[2]),
        "record": decimals(&witness.record.values),
        "salt": to_decimal(&witness.record.salt),
        "siblings": decimals(path.siblings.iter().map(|s| &s[0])),
        "positions": (0..BINARY_DEPTH).map(|i| (index >> i & 1).to_string()).collect::<Vec<_>>(),
        "case_secret": to_decimal(&witness.case_secret),
    });
    (input, statement.public_inputs())
}

/// What one snarkjs process measured.
struct SnarkjsRun {
    /// Each measured proof's time.
    proofs: Vec<Duration>,
    /// The wall time and CPU time of all measured proofs.
    batch: Rate,
}

/// Proves every input with `groth16.fullProve` in one Node process, after
/// a warm-up, and checks each proof against its expected public signals.
fn snarkjs_full_prove(peer: &CircomPeer, cases: &[(Value, Vec<Fr>)], work: &Path) -> SnarkjsRun {
    let inputs: Vec<&Value> = cases.iter().map(|(input, _)| input).collect();
    let inputs_path = work.join("inputs.json");
    std::fs::write(&inputs_path, serde_json::to_vec(&inputs).expect("JSON"))
        .expect("write the circuit inputs");
    let script = support::node_tools().join("bench/fullprove.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&peer.wasm)
        .arg(&peer.zkey)
        .arg(&inputs_path)
        .arg(SNARKJS_WARMUP.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node must be on PATH");
    let progress = bar(
        (SNARKJS_WARMUP + cases.len()) as u64,
        "snarkjs groth16.fullProve",
    );
    let (mut proofs, mut batch) = (Vec::new(), None);
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line: Value = serde_json::from_str(&line.expect("node's output"))
            .expect("fullprove.mjs writes JSON lines");
        let ms = |key: &str| {
            line[key]
                .as_f64()
                .map(|ms| Duration::from_secs_f64(ms / 1e3))
        };
        if let (Some(time), Some(cpu)) = (ms("total_ms"), ms("cpu_ms")) {
            batch = Some(Rate {
                proofs: cases.len(),
                time,
                cpu,
            });
            continue;
        }
        progress.inc(1);
        if line["warmup"] == true {
            continue;
        }
        let case = line["case"].as_u64().expect("a case number") as usize;
        let proof: Proof<Bn254> =
            snarkjs::proof_from_json(&line["proof"].to_string()).expect("snarkjs's proof parses");
        let public = snarkjs::public_signals_from_json(&line["publicSignals"].to_string())
            .expect("snarkjs's public signals parse");
        assert_eq!(
            public, cases[case].1,
            "snarkjs proved case {case}'s statement"
        );
        assert!(
            snarkjs::verify(&peer.vk, &proof, &public).expect("well-formed"),
            "snarkjs's proof of case {case} verifies in zkgov"
        );
        proofs.push(ms("ms").expect("a proof time"));
    }
    progress.finish_and_clear();
    let status = child.wait().expect("node ran");
    assert!(status.success(), "fullprove.mjs failed: {status}");
    assert_eq!(proofs.len(), cases.len(), "every case proved");
    SnarkjsRun {
        proofs,
        batch: batch.expect("fullprove.mjs reports its total"),
    }
}

/// zkgov's two provers on the reference workload.
struct Zkgov<'a> {
    workload: &'a ReferenceWorkload,
    engine: Engine,
    pk: ark_groth16::ProvingKey<Bn254>,
}

impl Zkgov<'_> {
    /// One plain `Groth16::prove`, synthesis included.
    fn prove_plain(&self, rng: &mut StdRng, (statement, witness): &(Statement, StatementWitness)) {
        let circuit = StatementCircuit {
            schema: &self.workload.schema,
            policy: &self.workload.policy,
            shape: self.workload.shape,
            assignment: Some((statement, witness)),
        };
        std::hint::black_box(
            Groth16::<Bn254, CircomReduction>::prove(&self.pk, circuit, rng)
                .expect("plain arkworks proves"),
        );
    }

    /// The first `proofs` cases, one after another, on `threads` threads.
    fn plain_rate(&self, proofs: usize, threads: usize, progress: &ProgressBar) -> Rate {
        let mut rng = StdRng::seed_from_u64(proofs as u64);
        with_threads(threads, || {
            let (started, cpu) = (Instant::now(), cpu_time());
            for case in self.workload.cases.iter().cycle().take(proofs) {
                self.prove_plain(&mut rng, case);
                progress.inc(1);
            }
            Rate {
                proofs,
                time: started.elapsed(),
                cpu: cpu_time() - cpu,
            }
        })
    }

    /// `proofs` cases in batches of `batch` on `workers` workers; every
    /// proof is verified after the clock stops.
    fn engine_rate(
        &self,
        proofs: usize,
        batch: usize,
        workers: usize,
        progress: &ProgressBar,
    ) -> Rate {
        let stop = AtomicBool::new(false);
        let cases = &self.workload.cases;
        let mut made = Vec::with_capacity(proofs);
        let (started, cpu) = (Instant::now(), cpu_time());
        for first in (0..proofs).step_by(batch) {
            let jobs = (first..(first + batch).min(proofs)).map(|i| {
                let (statement, witness) = cases[i % cases.len()].clone();
                (i, statement, witness)
            });
            self.engine
                .prove_batch(jobs, workers, &stop, |i, statement, result| {
                    made.push((i, statement, result.expect("the engine proves")));
                    progress.inc(1);
                });
        }
        let (time, cpu) = (started.elapsed(), cpu_time() - cpu);
        assert!(
            made.iter()
                .enumerate()
                .all(|(n, (i, statement, proof))| n == *i && self.engine.verify(statement, proof)),
            "every batch proof verifies, in input order"
        );
        Rate { proofs, time, cpu }
    }
}

/// One line of a plot: a name, a colour and its points.
struct Series<'a> {
    name: &'a str,
    colour: RGBColor,
    rates: Vec<f64>,
}

/// proofs/s against worker count (batches of `BATCH`) and against batch
/// size (on `workers` workers), side by side.
fn plot(
    path: &Path,
    worker_counts: &[usize],
    by_workers: &[Series],
    workers: usize,
    by_batch: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1000, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = by_workers
        .iter()
        .chain(by_batch)
        .flat_map(|s| s.rates.iter().copied())
        .fold(0.0, f64::max)
        * 1.15;
    let panels = root.split_evenly((1, 2));
    let charts = [
        (
            format!("batches of {BATCH}: proofs/s by workers"),
            "workers",
            worker_counts
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>(),
            by_workers,
        ),
        (
            format!("{workers} workers: proofs/s by batch size"),
            "batch size",
            BATCH_SIZES.iter().map(usize::to_string).collect(),
            by_batch,
        ),
    ];
    for (panel, (caption, x_label, labels, series)) in panels.iter().zip(charts) {
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((0..labels.len() as u32 - 1).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_label)
            .y_desc("proofs/s")
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels[*i as usize].clone(),
                _ => String::new(),
            })
            .draw()?;
        for s in series {
            let points: Vec<_> = s
                .rates
                .iter()
                .enumerate()
                .map(|(i, r)| (SegmentValue::CenterOf(i as u32), *r))
                .collect();
            let style = ShapeStyle::from(&s.colour).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.clone(), style))?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, ShapeStyle::from(&s.colour).filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn main() {
    let fresh = std::env::args().skip(1).any(|a| a == "--fresh");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run_started = Instant::now();
    println!("{cores} cores; load average at start {}", load_average());

    let peer = CircomPeer::prepare(fresh);

    let started = Instant::now();
    let step = spinner("keys, registry and cases of the reference workload");
    let workload = ReferenceWorkload::new(RECORDS, BATCH, 7);
    let binary = RegistryTree::from_leaves(
        TreeShape::new(2, BINARY_DEPTH).expect("a binary depth-20 shape"),
        workload.leaves.clone(),
    )
    .expect("the records fit");
    let circom_cases: Vec<_> = workload
        .cases
        .iter()
        .map(|(s, w)| circom_case(&binary, s, w))
        .collect();
    let size = StatementCircuit::size(&workload.schema, &workload.policy, workload.shape)
        .expect("the reference circuit synthesizes");
    let zkgov = Zkgov {
        engine: workload.engine(),
        pk: workload.keys.proving_key().expect("the proving key loads"),
        workload: &workload,
    };
    step.finish_and_clear();
    println!(
        "reference workload ready in {:.1} s: {} cases over {RECORDS} records",
        started.elapsed().as_secs_f64(),
        BATCH
    );
    println!();
    println!("| circuit | constraints | public inputs |");
    println!("|---|---|---|");
    println!(
        "| zkgov, arity 4, depth 10 (engine and plain arkworks) | {} | {} |",
        size.constraints, size.public_inputs
    );
    println!(
        "| circom with circomlib, binary, depth 20 (snarkjs) | {} | {} |",
        peer.constraints, peer.public_inputs
    );
    println!();

    // Warm both zkgov paths up (page in the key, fill caches).
    let mut rng = StdRng::seed_from_u64(11);
    let (statement, witness) = &workload.cases[0];
    zkgov.prove_plain(&mut rng, &workload.cases[0]);
    std::hint::black_box(
        zkgov
            .engine
            .prove(statement, witness, &mut rng)
            .expect("proves"),
    );

    // One proof: alternate the two, so that both see the same load.
    let progress = bar(2 * SINGLE_RUNS as u64, "one proof, engine and plain");
    let (mut single_plain, mut single_engine) = (Vec::new(), Vec::new());
    for case in workload.cases.iter().take(SINGLE_RUNS) {
        let started = Instant::now();
        zkgov.prove_plain(&mut rng, case);
        single_plain.push(started.elapsed());
        progress.inc(1);
        let started = Instant::now();
        std::hint::black_box(
            zkgov
                .engine
                .prove(&case.0, &case.1, &mut rng)
                .expect("proves"),
        );
        single_engine.push(started.elapsed());
        progress.inc(1);
    }
    progress.finish_and_clear();
    let (single_plain, single_engine) = (median(single_plain), median(single_engine));

    // A batch: rounds alternate plain arkworks and the engine.
    let progress = bar(
        (2 * ROUNDS * BATCH) as u64,
        &format!("batches of {BATCH}, engine and plain"),
    );
    let (mut batch_plain, mut batch_engine) = (Rate::default(), Rate::default());
    for _ in 0..ROUNDS {
        batch_plain.add(zkgov.plain_rate(BATCH, cores, &progress));
        batch_engine.add(zkgov.engine_rate(BATCH, BATCH, cores, &progress));
    }
    progress.finish_and_clear();

    // snarkjs: one process, warm-up, then every case in turn.
    let work = tempfile::tempdir().expect("a temporary directory");
    let snarkjs_run = snarkjs_full_prove(&peer, &circom_cases, work.path());
    let single_snarkjs = median(snarkjs_run.proofs.clone());
    let batch_snarkjs = snarkjs_run.batch;

    // The sweeps for the plot. Two workers at batch 64 are the rounds above.
    let worker_counts: Vec<usize> = (1..=cores).collect();
    let sweeps = (worker_counts.len() - 1) * 2 * BATCH + (BATCH_SIZES.len() - 1) * 2 * SWEEP_PROOFS;
    let progress = bar(sweeps as u64, "proofs/s by workers and batch size");
    let (mut plain_by_workers, mut engine_by_workers) = (Vec::new(), Vec::new());
    for &workers in &worker_counts {
        if workers == cores {
            plain_by_workers.push(batch_plain.per_second());
            engine_by_workers.push(batch_engine.per_second());
        } else {
            plain_by_workers.push(zkgov.plain_rate(BATCH, workers, &progress).per_second());
            engine_by_workers.push(
                zkgov
                    .engine_rate(BATCH, BATCH, workers, &progress)
                    .per_second(),
            );
        }
    }
    let (mut plain_by_batch, mut engine_by_batch) = (Vec::new(), Vec::new());
    for &batch in &BATCH_SIZES {
        if batch == BATCH {
            plain_by_batch.push(batch_plain.per_second());
            engine_by_batch.push(batch_engine.per_second());
        } else {
            plain_by_batch.push(
                zkgov
                    .plain_rate(SWEEP_PROOFS, cores, &progress)
                    .per_second(),
            );
            engine_by_batch.push(
                zkgov
                    .engine_rate(SWEEP_PROOFS, batch, cores, &progress)
                    .per_second(),
            );
        }
    }
    progress.finish_and_clear();

    println!("| one proof (median) | ms/proof | vs snarkjs | vs plain arkworks |");
    println!("|---|---|---|---|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (name, time) in [
        (
            format!(
                "snarkjs `groth16.fullProve` (circom, {} constraints)",
                peer.constraints
            ),
            single_snarkjs,
        ),
        (
            format!("plain arkworks `Groth16::prove` ({cores} threads)"),
            single_plain,
        ),
        (
            format!("zkgov `Engine::prove` ({cores} threads)"),
            single_engine,
        ),
    ] {
        println!(
            "| {name} | {:.1} | {:.2}× | {:.2}× |",
            ms(time),
            single_snarkjs.as_secs_f64() / time.as_secs_f64(),
            single_plain.as_secs_f64() / time.as_secs_f64(),
        );
    }
    println!();
    println!(
        "| batch of {BATCH} | proofs/s | ms/proof | vs snarkjs | vs plain arkworks | CPU ms/proof | CPU vs snarkjs |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, rate) in [
        (
            format!("snarkjs, one case after another in one process ({SNARKJS_WARMUP} warm-up proofs first)"),
            batch_snarkjs,
        ),
        (
            format!("plain arkworks, one case after another, {ROUNDS} rounds"),
            batch_plain,
        ),
        (
            format!("zkgov `prove_batch`, {cores} workers, {ROUNDS} rounds"),
            batch_engine,
        ),
    ] {
        println!(
            "| {name} | {:.2} | {:.1} | {:.2}× | {:.2}× | {:.1} | {:.2}× |",
            rate.per_second(),
            rate.ms_per_proof(),
            rate.per_second() / batch_snarkjs.per_second(),
            rate.per_second() / batch_plain.per_second(),
            rate.cpu_ms_per_proof(),
            batch_snarkjs.cpu_ms_per_proof() / rate.cpu_ms_per_proof(),
        );
    }
    println!();
    println!("| proofs/s | plain arkworks | zkgov engine |");
    println!("|---|---|---|");
    for (i, workers) in worker_counts.iter().enumerate() {
        println!(
            "| {workers} worker(s), batches of {BATCH} | {:.2} | {:.2} |",
            plain_by_workers[i], engine_by_workers[i]
        );
    }
    for (i, batch) in BATCH_SIZES.iter().enumerate() {
        println!(
            "| {cores} workers, batches of {batch} | {:.2} | {:.2} |",
            plain_by_batch[i], engine_by_batch[i]
        );
    }
    println!();

    let svg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/peers.svg");
    let series = |plain: Vec<f64>, engine: Vec<f64>| {
        vec![
            Series {
                name: "zkgov engine",
                colour: RGBColor(0, 94, 165),
                rates: engine,
            },
            Series {
                name: "plain arkworks",
                colour: RGBColor(212, 53, 28),
                rates: plain,
            },
        ]
    };
    plot(
        &svg,
        &worker_counts,
        &series(plain_by_workers, engine_by_workers),
        cores,
        &series(plain_by_batch, engine_by_batch),
    )
    .expect("the plot is written");
    println!("plot: {}", svg.canonicalize().unwrap_or(svg).display());
    println!(
        "load average at end {}; the whole run took {:.1} s",
        load_average(),
        run_started.elapsed().as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let relative = |from: &str, to: &str| relative(Path::new(from), Path::new(to));
        assert_eq!(
            relative("/work/zkgov/interop", "/work/target/peers/ab12"),
            PathBuf::from("../../target/peers/ab12")
        );
        assert_eq!(relative("/a/b", "/a/b/c"), PathBuf::from("c"));
        assert_eq!(relative("/a/b", "/a/b"), PathBuf::from(""));
        assert_ne!(relative("/a/b", "/c"), PathBuf::from("/c"));
    }
}
