//! The pinned JavaScript peers of the interoperability tests (snarkjs, the
//! circom compiler, solc, a local EVM), installed on first use from
//! `interop/package-lock.json` with `npm ci`.
#![allow(dead_code)]

pub mod circuit;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `interop` folder at the workspace root.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../interop")
        .canonicalize()
        .expect("interop folder")
}

/// Installs the pinned npm packages once per machine, and returns the
/// `interop` folder. Test processes running at once wait on a file lock.
pub fn node_tools() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = interop_dir();
            let marker = dir.join("node_modules/.zkgov-installed");
            let lock = File::create(dir.join(".npm-install.lock")).expect("lock file");
            lock.lock().expect("lock the npm install");
            let lockfile = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
            let fresh = std::fs::read(&marker).is_ok_and(|installed| installed == lockfile);
            if !fresh {
                let status = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm must be on PATH for the interoperability tests");
                assert!(status.success(), "npm ci in {} failed", dir.display());
                std::fs::write(&marker, &lockfile).expect("install marker");
            }
            lock.unlock().expect("unlock");
            dir
        })
        .clone()
}

/// Runs an npm-installed command (`snarkjs`, `circom2`, `solcjs`, …) with
/// `args` in `cwd`.
pub fn run_node_bin(name: &str, args: &[&str], cwd: &Path) -> Output {
    let bin = node_tools().join("node_modules/.bin").join(name);
    Command::new(&bin)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

/// Runs `node` on a script with `args`, with the interop packages resolvable.
pub fn run_node_script(script: &Path, args: &[&str], cwd: &Path) -> Output {
    let modules = node_tools().join("node_modules");
    Command::new("node")
        .arg(script)
        .args(args)
        .env("NODE_PATH", modules)
        .current_dir(cwd)
        .output()
        .expect("node must be on PATH for the interoperability tests")
}

/// Runs `snarkjs` with `args` in `cwd`, which must succeed; its standard
/// output, without colours.
pub fn snarkjs(args: &[&str], cwd: &Path) -> String {
    let out = run_node_bin("snarkjs", args, cwd);
    let printed = plain(&out.stdout);
    assert!(
        out.status.success(),
        "snarkjs {}: exit {:?}\n{printed}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    printed
}

/// Text without its ANSI colour codes.
pub fn plain(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A phase-2-prepared powers of tau of `power` (BN254), from snarkjs: a
/// new ceremony, one contribution and `prepare phase2`. Made once in
/// `cache` and shared, since power 12 takes minutes; processes running at
/// once wait on a file lock, and the file appears only once complete.
pub fn ptau(cache: &Path, power: u32) -> PathBuf {
    let dir = cache.join("ptau");
    std::fs::create_dir_all(&dir).expect("ptau folder");
    let path = dir.join(format!("pot{power}_final.ptau"));
    let lock = File::create(dir.join(format!("pot{power}.lock"))).expect("lock file");
    lock.lock().expect("lock the ptau");
    if !path.exists() {
        let work = tempfile::tempdir_in(&dir).expect("ptau work folder");
        let w = work.path();
        let power = power.to_string();
        snarkjs(&["powersoftau", "new", "bn128", &power, "0.ptau"], w);
        snarkjs(
            &[
                "powersoftau",
                "contribute",
                "0.ptau",
                "1.ptau",
                "--name=zkgov tests",
                "-e=zkgov test entropy",
            ],
            w,
        );
        snarkjs(
            &["powersoftau", "prepare", "phase2", "1.ptau", "final.ptau"],
            w,
        );
        std::fs::rename(w.join("final.ptau"), &path).expect("keep the ptau");
    }
    lock.unlock().expect("unlock");
    path
}

/// The contribution hashes `snarkjs zkey contribute` or `zkey beacon`
/// printed, hex, in the order printed.
pub fn printed_hashes(printed: &str, label: &str) -> Vec<String> {
    let lines: Vec<&str> = printed.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(label))
        .map(|(i, _)| {
            lines[i + 1..i + 5]
                .iter()
                .flat_map(|l| l.split_whitespace())
                .collect::<String>()
        })
        .collect()
}
