//! A witness for tests: its key from `zkgov witness keygen`, its config,
//! and a `zkgov witness serve` process on loopback.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use zkgov_log::checkpoint::LogSigner;
use zkgov_log::cosignature::CosignatureVerifier;

use super::serve::Server;

/// A witness's directory: its key (from `zkgov witness keygen`), config
/// and database.
pub struct WitnessSite {
    /// Its directory.
    pub dir: PathBuf,
    /// Its verifier key, as keygen printed it.
    pub key: String,
    /// Its name.
    pub name: String,
}

impl WitnessSite {
    /// Makes the witness of `logs` in a directory of `root`, under `name`.
    pub fn new(root: &Path, name: &str, logs: &[&LogSigner]) -> WitnessSite {
        let dir = root.join(name.replace('/', "_"));
        fs::create_dir_all(&dir).unwrap();
        let output = Command::cargo_bin("zkgov")
            .unwrap()
            .args(["witness", "keygen", "--name", name, "--out"])
            .arg(dir.join("witness.key"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let key = String::from_utf8_lossy(&output.stdout).trim().to_string();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("witness.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut config = "listen = \"127.0.0.1:0\"\nkey_file = \"witness.key\"\n\
                          database = \"witness.db\"\n"
            .to_string();
        for log in logs {
            config += &format!(
                "\n[[log]]\norigin = \"{}\"\nkey = \"{}\"\n",
                log.name(),
                log.verifier_key()
            );
        }
        fs::write(dir.join("witness.toml"), config).unwrap();
        WitnessSite {
            dir,
            key,
            name: name.to_string(),
        }
    }

    /// Starts the witness; the port it picked on its first start is then
    /// written in its config, so that it comes back on it.
    pub fn start(&self) -> Server {
        let config = self.dir.join("witness.toml");
        let server = Server::start_witness(&config, &self.dir.join("log"));
        assert_eq!(server.log_key, self.key);
        let text = fs::read_to_string(&config).unwrap();
        let addr = server.url.trim_start_matches("http://");
        fs::write(&config, text.replace("127.0.0.1:0", addr)).unwrap();
        server
    }

    /// The `[[witness]]` table of a service config that asks this
    /// witness, running as `server`, to cosign.
    pub fn service_config(&self, server: &Server) -> String {
        format!(
            "\n[[witness]]\nname = \"{}\"\nurl = \"{}\"\nkey = \"{}\"\ntimeout_seconds = 2\n",
            self.name, server.url, self.key
        )
    }

    /// Checks its cosignatures.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier::from_verifier_key(&self.key).unwrap()
    }
}
