//! Debian packages that tests need, installed on first use when the tests
//! run as root (serialised across test processes with a file lock).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return meta.uid() == 0;
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command to completion, returning its combined output on failure.
pub fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The end of apt's or initdb's output is where the reason is.
        let tail: String = {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        Err(format!("{command:?} failed ({}):\n{tail}", output.status))
    }
}

/// Installs `packages` with apt-get unless `installed` already says they
/// are there. Test processes of several test binaries may start at once;
/// one installs, the others wait and then find the packages.
pub fn install(packages: &[&str], installed: impl Fn() -> bool) -> Result<(), String> {
    if installed() {
        return Ok(());
    }
    let names = packages.join(" ");
    if !running_as_root() {
        return Err(format!(
            "Debian's `{names}` is missing, and the tests do not run as root, so they cannot \
             install it: run `sudo apt-get install {names}` and run the tests again"
        ));
    }
    let lock_path = std::env::temp_dir().join("zkgov-apt-install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if installed() {
        return Ok(());
    }
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    if install().is_err() {
        // A fresh machine has no package lists yet.
        run(Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"))
        .map_err(|e| format!("installing `{names}`: {e}"))?;
        install().map_err(|e| format!("installing `{names}`: {e}"))?;
    }
    if installed() {
        Ok(())
    } else {
        Err(format!("installed `{names}`, but it is still not found"))
    }
}
