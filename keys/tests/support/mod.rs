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
