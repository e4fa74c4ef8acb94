//! What the tests and benches of every crate share about a service: the
//! test tokens, and its configuration file, written from a builder
//! instead of a TOML template copied into each test.
//!
//! Behind the `test-utils` feature; nothing here is for production.
//!
//! ```
//! use zkgov_verifier::test_utils::{ConfigFile, Department, HEALTH, LAND};
//!
//! let text = ConfigFile::new("data")
//!     .setting("origin", "zkgov.test/log")
//!     .department(Department::new("land-registry", LAND).registries(&["real-estate"]))
//!     .department(Department::new("health", HEALTH).decides())
//!     .table("[limits]\nmax_in_flight = 8\n")
//!     .text();
//! assert!(text.starts_with("listen = \"127.0.0.1:0\"\n"));
//! assert!(text.contains("origin = \"zkgov.test/log\"\n\n[[department]]"));
//! ```

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::service::config::{Config, Overrides, TokenHash};

/// The bearer token of `land-registry` in the tests.
pub const LAND: &str = "land-token-0123456789";
/// The bearer token of `market-bureau` in the tests.
pub const MARKET: &str = "market-token-0123456789";
/// The bearer token of `health` in the tests.
pub const HEALTH: &str = "health-token-0123456789";
/// The admin token in the tests.
pub const ADMIN: &str = "admin-token-0123456789";
/// The log origin the tests give a service.
pub const ORIGIN: &str = "zkgov.test/log";

/// A `[[department]]` table.
#[derive(Clone, Debug)]
pub struct Department {
    name: String,
    token: String,
    registries: Vec<String>,
    decides: bool,
    key: Option<String>,
}

impl Department {
    /// The department `name`, authenticated by `token`, owning nothing.
    pub fn new(name: &str, token: &str) -> Department {
        Department {
            name: name.into(),
            token: token.into(),
            registries: vec![],
            decides: false,
            key: None,
        }
    }

    /// It owns `registries`.
    pub fn registries(mut self, registries: &[&str]) -> Department {
        self.registries = registries.iter().map(|r| r.to_string()).collect();
        self
    }

    /// It decides cases.
    pub fn decides(mut self) -> Department {
        self.decides = true;
        self
    }

    /// Its signing key, as a verifier key.
    pub fn key(mut self, verifier_key: impl Display) -> Department {
        self.key = Some(verifier_key.to_string());
        self
    }
}

/// A service's configuration file: top-level settings, then tables.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    settings: String,
    tables: String,
}

impl ConfigFile {
    /// A service listening on a free port of 127.0.0.1, its data in
    /// `data_dir`.
    pub fn new(data_dir: impl AsRef<Path>) -> ConfigFile {
        ConfigFile {
            settings: String::new(),
            tables: String::new(),
        }
        .setting("listen", "127.0.0.1:0")
        .setting("data_dir", data_dir.as_ref().display())
    }

    /// The top-level string setting `name = "value"`.
    pub fn setting(mut self, name: &str, value: impl Display) -> ConfigFile {
        self.settings
            .push_str(&format!("{name} = {}\n", toml_string(&value.to_string())));
        self
    }

    /// Top-level lines as they are, such as `max_body_bytes = 100`.
    pub fn raw(mut self, lines: &str) -> ConfigFile {
        self.settings.push_str(lines);
        if !lines.is_empty() && !lines.ends_with('\n') {
            self.settings.push('\n');
        }
        self
    }

    /// The admin token.
    pub fn admin(self, token: &str) -> ConfigFile {
        self.setting("admin_token_sha256", TokenHash::of(token).to_hex())
    }

    /// A `[[department]]` table.
    pub fn department(mut self, department: Department) -> ConfigFile {
        let registries: Vec<String> = department
            .registries
            .iter()
            .map(|r| toml_string(r))
            .collect();
        self.tables.push_str(&format!(
            "\n[[department]]\nname = {}\ntoken_sha256 = \"{}\"\n",
            toml_string(&department.name),
            TokenHash::of(&department.token).to_hex(),
        ));
        if !registries.is_empty() {
            self.tables
                .push_str(&format!("registries = [{}]\n", registries.join(", ")));
        }
        if department.decides {
            self.tables.push_str("decides = true\n");
        }
        if let Some(key) = &department.key {
            self.tables
                .push_str(&format!("key = {}\n", toml_string(key)));
        }
        self
    }

    /// The departments most tests use: `land-registry` owning
    /// `real-estate`, `market-bureau` owning `business`, and `health`
    /// owning `licences` and deciding.
    pub fn three_departments(self) -> ConfigFile {
        self.department(Department::new("land-registry", LAND).registries(&["real-estate"]))
            .department(Department::new("market-bureau", MARKET).registries(&["business"]))
            .department(
                Department::new("health", HEALTH)
                    .registries(&["licences"])
                    .decides(),
            )
    }

    /// A `[[key]]` table: the key directory `dir`, for `registry`.
    pub fn key(mut self, dir: impl AsRef<Path>, registry: &str) -> ConfigFile {
        self.tables.push_str(&format!(
            "\n[[key]]\ndir = {}\nregistry = {}\n",
            toml_string(&dir.as_ref().display().to_string()),
            toml_string(registry),
        ));
        self
    }

    /// Tables as they are, such as `[limits]\nmax_in_flight = 8\n`.
    pub fn table(mut self, text: &str) -> ConfigFile {
        if !text.trim().is_empty() {
            self.tables.push('\n');
            self.tables.push_str(text);
            if !text.ends_with('\n') {
                self.tables.push('\n');
            }
        }
        self
    }

    /// The file's text.
    pub fn text(&self) -> String {
        format!("{}{}", self.settings, self.tables)
    }

    /// Writes the file at `path`, making its directory; `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("make the config's directory");
        }
        std::fs::write(path, self.text()).expect("write the service config");
        path.to_path_buf()
    }

    /// Writes the file at `path` and loads it, with `overrides`.
    pub fn load_with(&self, path: impl AsRef<Path>, overrides: &Overrides) -> Config {
        let path = self.write(path);
        Config::load(Some(&path), &|_| None, overrides).expect("a valid service config")
    }

    /// Writes the file at `path` and loads it.
    pub fn load(&self, path: impl AsRef<Path>) -> Config {
        self.load_with(path, &Overrides::default())
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.into()).to_string()
}
