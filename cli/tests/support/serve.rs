//! A real `zkgov serve` process for tests, on a free port of 127.0.0.1.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use zkgov_verifier::test_utils::{ConfigFile, Department};

/// Writes `dir/verifier.toml` for a service of the log `zkgov.test/log`
/// with one department, `land-registry`, owning `real-estate` under
/// `token`, its data in `dir/data`; the config's path.
pub fn land_registry_config(dir: &Path, token: &str) -> std::path::PathBuf {
    ConfigFile::new(dir.join("data"))
        .setting("origin", zkgov_verifier::test_utils::ORIGIN)
        .department(Department::new("land-registry", token).registries(&["real-estate"]))
        .write(dir.join("verifier.toml"))
}

/// A running `zkgov serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// The service's base URL, as it printed it.
    pub url: String,
    /// The log's verifier key, as it printed it.
    pub log_key: String,
}

impl Server {
    /// Starts `zkgov serve --config CONFIG`, its standard error appended to
    /// `log`, and waits until it prints its address and log key.
    pub fn start(config: &Path, log: &Path) -> Server {
        Server::start_command(&["serve"], "log public key: ", config, log)
    }

    /// Starts `zkgov witness serve --config CONFIG`; its `log_key` is the
    /// witness's key.
    pub fn start_witness(config: &Path, log: &Path) -> Server {
        Server::start_command(&["witness", "serve"], "witness key: ", config, log)
    }

    /// Starts `zkgov COMMAND --config CONFIG` and waits until it prints its
    /// address and the line of its key, which starts with `key_line`.
    fn start_command(command: &[&str], key_line: &str, config: &Path, log: &Path) -> Server {
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("zkgov"))
            .args(command)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        // The guard owns the child from here on, so a failed start is killed too.
        let stdout = child.stdout.take().unwrap();
        let mut server = Server {
            child,
            url: String::new(),
            log_key: String::new(),
        };
        let mut lines = BufReader::new(stdout).lines();
        while server.url.is_empty() || server.log_key.is_empty() {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "zkgov {} stopped before it was ready:\n{}",
                    command.join(" "),
                    fs::read_to_string(log).unwrap_or_default()
                );
            };
            if let Some((_, url)) = line.split_once("listening on ") {
                server.url = url.trim().to_string();
            } else if let Some(key) = line.strip_prefix(key_line) {
                server.log_key = key.trim().to_string();
            }
        }
        server
    }

    /// Stops the service as an operator does, with SIGTERM, and checks that
    /// it exits cleanly.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "zkgov serve exited with {exit} on SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
