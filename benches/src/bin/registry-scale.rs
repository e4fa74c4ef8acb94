//! Registries at scale: the database registry against the directory
//! format it replaced (`registry::legacy`, today's path before this
//! version), each operation of both measured in the same run, each in its
//! own child process so that its peak memory (VmHWM) is its own.
//!
//! `cargo run --release -p zkgov-benches --bin registry-scale [-- --records N]`
//! (default 2^20 records, arity 4, the smallest depth that holds them)
//!
//! It writes a CSV of N synthetic `real-estate` records without salts (so
//! every build draws them from the OS), then times, for both formats: the
//! build from the CSV, opening, one-record update (open, modify, commit),
//! prove start-up on the registry side (open, find the first case's record,
//! read its path), and the disk taken; for the database also `registry
//! check`, 10,000 paths read as one batch, and the growth of the files
//! over 100 single-record updates (WAL checkpointed).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use zkgov_circuits::encoding::text_to_field;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::TreeShape;
use zkgov_prover::registry::{self, legacy, NewRecord, Registry};

const SCHEMA: &str = include_str!("../../../schemas/real-estate.toml");

fn schema() -> Schema {
    Schema::from_toml("real-estate.toml", SCHEMA).expect("reference schema")
}

/// The raw values of synthetic record `i`.
fn raw(i: u64, area: u64) -> Vec<String> {
    let usages = ["residential", "commercial", "medical", "industrial"];
    vec![
        format!("{:018}", 110_101_190_000_000_000u64 + i),
        format!("P-{:04}-{:06}", i % 9973, i),
        (area + i % 1000).to_string(),
        usages[(i % 4) as usize].to_string(),
        i.is_multiple_of(7).to_string(),
        format!("20{:02}-{:02}-{:02}", i % 25, 1 + i % 12, 1 + i % 28),
        format!("20{:02}-{:02}-{:02}", 50 + i % 49, 1 + i % 12, 1 + i % 28),
    ]
}

fn write_csv(path: &Path, n: u64) {
    let mut out = BufWriter::new(fs::File::create(path).expect("create the CSV"));
    writeln!(
        out,
        "subject,parcel,area_m2,usage,encumbered,issued,expires"
    )
    .unwrap();
    for i in 0..n {
        writeln!(out, "{}", raw(i, 50).join(",")).unwrap();
    }
    out.flush().unwrap();
}

fn hwm_kb() -> u64 {
    zkgov_benches::status_kb("self", "VmHWM").unwrap_or(0)
}

fn dir_bytes(path: &Path) -> u64 {
    fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_bytes(&p)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn checkpoint(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join("registry.db")).expect("open the database");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
}

/// Runs one operation in this process and prints `seconds hwm_kb extra`.
fn child(op: &str, args: &[String]) {
    let path = PathBuf::from(&args[0]);
    let shape = |depth: &str| TreeShape::new(4, depth.parse().unwrap()).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/real-estate.toml");
    let started = Instant::now();
    let mut extra = String::new();
    match op {
        "build-new" => {
            registry::build(
                &schema_path,
                Path::new(&args[1]),
                None,
                shape(&args[2]),
                &path,
            )
            .expect("build");
        }
        "build-old" => {
            legacy::build(
                &schema_path,
                Path::new(&args[1]),
                None,
                shape(&args[2]),
                &path,
            )
            .expect("build");
        }
        "open-new" => {
            std::hint::black_box(Registry::open(&path).expect("open").root());
        }
        "open-old" => {
            std::hint::black_box(legacy::DirectoryRegistry::open(&path).expect("open").root());
        }
        "update-new" => {
            let mut r = Registry::open(&path).expect("open");
            r.modify(1, NewRecord::new(&schema(), raw(1, 60), None).unwrap())
                .expect("modify");
            r.commit().expect("commit");
        }
        "update-old" => {
            let mut r = legacy::DirectoryRegistry::open(&path).expect("open");
            r.modify(1, NewRecord::new(&schema(), raw(1, 60), None).unwrap())
                .expect("modify");
            r.commit().expect("commit");
        }
        "startup-new" => {
            let r = Registry::open(&path).expect("open");
            let subject = text_to_field(&raw(r.len() / 2, 0)[0]);
            let (index, _) = r.records_of(&subject)[0].clone();
            std::hint::black_box(r.path(index));
        }
        "startup-old" => {
            let r = legacy::DirectoryRegistry::open(&path).expect("open");
            let subject = text_to_field(&raw(r.len() / 2, 0)[0]);
            let (index, _) = r.records_of(&subject)[0];
            std::hint::black_box(r.path(index));
        }
        "check" => {
            Registry::open(&path).expect("open").check().expect("check");
        }
        "paths" => {
            let r = Registry::open(&path).expect("open");
            let n = r.len();
            let indices: Vec<u64> = (0..10_000u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n)
                .collect();
            let t = Instant::now();
            std::hint::black_box(r.paths(&indices));
            extra = format!("{:.3}", t.elapsed().as_secs_f64());
        }
        "updates100" => {
            checkpoint(&path);
            let before = dir_bytes(&path);
            for k in 0..100u64 {
                let mut r = Registry::open(&path).expect("open");
                let index = (k * 7919) % r.len();
                r.modify(
                    index,
                    NewRecord::new(&schema(), raw(index, 70 + k), None).unwrap(),
                )
                .expect("modify");
                r.commit().expect("commit");
            }
            checkpoint(&path);
            extra = format!("{}", dir_bytes(&path) as i64 - before as i64);
        }
        other => panic!("unknown operation {other}"),
    }
    println!("{} {} {extra}", started.elapsed().as_secs_f64(), hwm_kb());
}

struct Measured {
    seconds: f64,
    hwm_mb: f64,
    extra: String,
}

fn run(op: &str, args: &[&Path]) -> Measured {
    run_with(op, args, None)
}

fn run_with(op: &str, args: &[&Path], depth: Option<u32>) -> Measured {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--child").arg(op).args(args);
    if let Some(d) = depth {
        cmd.arg(d.to_string());
    }
    let out = cmd.output().expect("run a child");
    assert!(
        out.status.success(),
        "{op}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    Measured {
        seconds: parts.next().unwrap().parse().unwrap(),
        hwm_mb: parts.next().unwrap().parse::<f64>().unwrap() / 1024.0,
        extra: parts.next().unwrap_or("").to_string(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1], &args[2..]);
    }
    let records: u64 = match args.iter().position(|a| a == "--records") {
        Some(i) => args[i + 1].parse().expect("--records N"),
        None => 1 << 20,
    };
    let depth = (1..=32u32)
        .find(|d| 4u128.pow(*d) >= u128::from(records))
        .unwrap();
    let tmp = tempfile::tempdir_in(".").expect("a temporary directory");
    let csv = tmp.path().join("records.csv");
    write_csv(&csv, records);
    let csv_bytes = fs::metadata(&csv).unwrap().len();
    let new = tmp.path().join("new");
    let old = tmp.path().join("old");
    println!(
        "registry-scale: {records} records, arity 4, depth {depth}; CSV {:.1} MB; {} cores",
        csv_bytes as f64 / 1e6,
        rayon::current_num_threads()
    );

    let build_new = run_with("build-new", &[&new, &csv], Some(depth));
    let build_old = run_with("build-old", &[&old, &csv], Some(depth));
    let disk_new = {
        checkpoint(&new);
        dir_bytes(&new)
    };
    let disk_old = dir_bytes(&old);
    let open_new = run("open-new", &[&new]);
    let open_old = run("open-old", &[&old]);
    let startup_new = run("startup-new", &[&new]);
    let startup_old = run("startup-old", &[&old]);
    let update_new = run("update-new", &[&new]);
    let update_old = run("update-old", &[&old]);
    let check = run("check", &[&new]);
    let paths = run("paths", &[&new]);
    let updates = run("updates100", &[&new]);

    let row = |name: &str, n: &Measured, o: Option<&Measured>| {
        let (old_s, ratio) = match o {
            Some(o) => (
                format!("{:.3} s, {:.0} MB", o.seconds, o.hwm_mb),
                format!("{:.1}×", o.seconds / n.seconds),
            ),
            None => ("—".into(), "—".into()),
        };
        println!(
            "| {name} | {:.3} s, {:.0} MB | {old_s} | {ratio} |",
            n.seconds, n.hwm_mb
        );
    };
    println!();
    println!(
        "| operation | database (time, peak RSS) | directory format (time, peak RSS) | speed-up |"
    );
    println!("|---|---|---|---|");
    row("build from CSV", &build_new, Some(&build_old));
    row("open", &open_new, Some(&open_old));
    row(
        "prove start-up, registry side (open, find, path)",
        &startup_new,
        Some(&startup_old),
    );
    row(
        "one-record update (open, modify, commit)",
        &update_new,
        Some(&update_old),
    );
    row("registry check (every leaf and node)", &check, None);
    println!(
        "| disk | {:.1} MB ({:.2}× the CSV) | {:.1} MB ({:.2}× the CSV) | |",
        disk_new as f64 / 1e6,
        disk_new as f64 / csv_bytes as f64,
        disk_old as f64 / 1e6,
        disk_old as f64 / csv_bytes as f64
    );
    println!("| 10,000 paths as one batch | {} s | | |", paths.extra);
    println!(
        "| 100 single-record updates | {:.2} s in all; files grew by {} bytes (WAL checkpointed) | | |",
        updates.seconds, updates.extra
    );
}
