//! The service's configuration, layered: defaults, then a TOML file, then
//! `ZKGOV_*` environment variables, then command-line flags (which the
//! binary applies through [`Overrides`]). Everything is validated before
//! the service starts, and a bad value stops it with a message that names
//! the setting.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! database = "sqlite://zkgov-data/verifier.db"   # or postgres://user@host/db
//! shared_database = false                          # true: several instances serve it
//! data_dir = "zkgov-data"                          # holds the log signing key
//! origin = "zkgov.example/log"
//! freshness_seconds = 604800
//! require_multi_party = true                       # production: keys from a ceremony only
//! admin_token_sha256 = "…64 hex digits…"
//!
//! [[department]]
//! name = "land-registry"
//! token_sha256 = "…64 hex digits…"
//! registries = ["real-estate"]
//! key = "land-registry+…+…"                        # its verifier key: it signs its roots
//!
//! [[department]]
//! name = "health"
//! token_sha256 = "…64 hex digits…"
//! decides = true                                   # may record decisions on cases
//!
//! [[key]]
//! dir = "keys/medical-premises"
//! registry = "real-estate"
//!
//! [limits]
//! request_timeout_seconds = 30
//! max_in_flight = 256
//! header_read_timeout_seconds = 30
//! max_connections = 512
//! max_event_streams = 64
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What is wrong with the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A setting has a bad value.
    #[error("config setting `{setting}`: {problem}")]
    Invalid {
        /// The setting, as written in the file or the variable's name.
        setting: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// The SHA-256 of a bearer token. The service never stores or logs tokens,
/// only these.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<TokenHash> {
        let bytes = hex::decode(text).ok()?;
        Some(TokenHash(bytes.try_into().ok()?))
    }

    /// Whether `self` equals `other`, in constant time.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Lowercase hex.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(…)")
    }
}

/// A department: who it is, the registries it owns, and its token's hash.
#[derive(Clone, Debug)]
pub struct Department {
    /// Its name, as it appears in the log.
    pub name: String,
    /// The registries it owns: it alone anchors their roots and submits
    /// proofs about them.
    pub registries: BTreeSet<String>,
    /// Whether it may record decisions on cases.
    pub decides: bool,
    /// The hash of its bearer token.
    pub token: TokenHash,
    /// Its verifier key (`zkgov department keygen` prints one): once the
    /// log's governance lists it, the department signs its roots,
    /// decisions and refusals, and endorses changes to its listing.
    pub key: Option<String>,
}

/// A key directory to register at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySource {
    /// The key directory (written by `zkgov keys setup`).
    pub dir: PathBuf,
    /// The registry its policy reads.
    pub registry: String,
}

/// A witness the service asks to cosign each checkpoint.
#[derive(Clone, Debug)]
pub struct WitnessPeer {
    /// Its name, as in its key and in metrics.
    pub name: String,
    /// Its submission prefix: `add-checkpoint` is posted to `URL/add-checkpoint`.
    pub url: String,
    /// Its verifier key, which checks its cosignatures.
    pub key: zkgov_log::cosignature::CosignatureVerifier,
    /// How long to wait for its answer.
    pub timeout: Duration,
}

/// How long the service waits for a witness's answer by default.
pub const DEFAULT_WITNESS_TIMEOUT_SECONDS: u64 = 5;

/// Limits that protect the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest time a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with 503 at once.
    pub max_in_flight: usize,
    /// Body limit for one proof, a root or a decision.
    pub max_body_bytes: usize,
    /// Body limit for a batch of proofs and for key registration.
    pub max_batch_body_bytes: usize,
    /// Most proofs in one batch.
    pub max_batch_items: usize,
    /// Most entries served in one page of the log.
    pub max_entries_per_page: u64,
    /// Longest time a connection may take to send a request's line and
    /// headers, counted from when the connection opens or its previous
    /// answer is written; then it is closed. This also ends idle
    /// keep-alive connections.
    pub header_read_timeout: Duration,
    /// Connections open at once; more wait in the kernel's listen backlog
    /// until one closes.
    pub max_connections: usize,
    /// Applications (and access-code exchanges) one client address may
    /// make per minute.
    pub applications_per_minute: usize,
    /// Applicants' event streams open at once; more are refused with 503.
    /// Each holds a connection, so this stays below `max_connections`.
    pub max_event_streams: usize,
}

/// The default of `limits.max_event_streams`, unless half of
/// `limits.max_connections` is less.
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            max_body_bytes: 64 * 1024,
            max_batch_body_bytes: 8 * 1024 * 1024,
            max_batch_items: 1024,
            max_entries_per_page: 1000,
            header_read_timeout: Duration::from_secs(30),
            max_connections: 512,
            applications_per_minute: 30,
            max_event_streams: DEFAULT_MAX_EVENT_STREAMS,
        }
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The database URL: a path or `sqlite://PATH`, or `postgres://…`.
    pub database: String,
    /// Whether other `zkgov serve` instances append to the same database:
    /// then every request first catches up with their entries, so that a
    /// client reads its own writes whichever instance it reaches.
    pub shared_database: bool,
    /// The directory that holds the log signing key.
    pub data_dir: PathBuf,
    /// The log's origin line in checkpoints, and its signing key's name.
    pub origin: String,
    /// How long after anchoring a registry root proofs may still use it.
    pub freshness: Duration,
    /// The hash of the admin token; without it key registration is closed.
    pub admin_token: Option<TokenHash>,
    /// The departments.
    pub departments: Vec<Department>,
    /// Key directories to register at start-up.
    pub keys: Vec<KeySource>,
    /// Protective limits.
    pub limits: Limits,
    /// How long a superseded registry root may still back proofs.
    pub grace: Duration,
    /// Production mode: only keys from a multi-party ceremony are
    /// registered and used. A governance setting, so the log records it.
    pub require_multi_party: bool,
    /// How the index tables are checked against the log at start-up.
    pub index_check: IndexCheck,
    /// The witnesses asked to cosign each checkpoint.
    pub witnesses: Vec<WitnessPeer>,
}

/// How the index tables are checked against the log at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexCheck {
    /// Row counts, and the rows of the last N entries.
    Last(u64),
    /// Every row (`zkgov serve --check-index`).
    All,
    /// Rebuild them from the log (`zkgov serve --reindex`).
    Rebuild,
}

/// Entries whose index rows are checked at every start by default.
pub const DEFAULT_INDEX_CHECK: u64 = 1000;

/// Command-line overrides, the last layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--check-index` or `--reindex`.
    pub index_check: Option<IndexCheck>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    database: Option<String>,
    shared_database: Option<bool>,
    data_dir: Option<PathBuf>,
    origin: Option<String>,
    freshness_seconds: Option<u64>,
    grace_seconds: Option<u64>,
    require_multi_party: Option<bool>,
    admin_token_sha256: Option<String>,
    #[serde(default, rename = "department")]
    departments: Vec<FileDepartment>,
    #[serde(default, rename = "key")]
    keys: Vec<FileKey>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default, rename = "witness")]
    witnesses: Vec<FileWitness>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWitness {
    name: String,
    url: String,
    key: String,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDepartment {
    name: String,
    token_sha256: String,
    #[serde(default)]
    registries: Vec<String>,
    #[serde(default)]
    decides: bool,
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    dir: PathBuf,
    registry: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    request_timeout_seconds: Option<u64>,
    max_in_flight: Option<usize>,
    max_body_bytes: Option<usize>,
    max_batch_body_bytes: Option<usize>,
    max_batch_items: Option<usize>,
    max_entries_per_page: Option<u64>,
    header_read_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    applications_per_minute: Option<usize>,
    max_event_streams: Option<usize>,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "zkgov-data";
/// The default log origin.
pub const DEFAULT_ORIGIN: &str = "zkgov.localhost/log";
/// The default freshness window: seven days.
pub const DEFAULT_FRESHNESS_SECONDS: u64 = 7 * 24 * 3600;

/// The longest header-read timeout accepted.
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3600);

fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_string(),
        problem: problem.into(),
    }
}

fn validate_witnesses(raw: Vec<FileWitness>) -> Result<Vec<WitnessPeer>, ConfigError> {
    let mut witnesses: Vec<WitnessPeer> = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
        let setting = |field: &str| format!("witness[{i}].{field}");
        let key = zkgov_log::cosignature::CosignatureVerifier::from_verifier_key(&w.key).map_err(
            |e| {
                invalid(
                    &setting("key"),
                    format!("{e}; give the verifier key `zkgov witness keygen` printed"),
                )
            },
        )?;
        if key.name() != w.name {
            return Err(invalid(
                &setting("name"),
                format!("`{}` is not the name in the key, `{}`", w.name, key.name()),
            ));
        }
        if witnesses.iter().any(|x| x.name == w.name) {
            return Err(invalid(
                &setting("name"),
                format!("witness `{}` is listed twice", w.name),
            ));
        }
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            return Err(invalid(
                &setting("url"),
                format!("`{}` is not an http:// or https:// URL", w.url),
            ));
        }
        let timeout = w.timeout_seconds.unwrap_or(DEFAULT_WITNESS_TIMEOUT_SECONDS);
        if timeout == 0 || timeout > 600 {
            return Err(invalid(&setting("timeout_seconds"), "must be 1 to 600"));
        }
        witnesses.push(WitnessPeer {
            name: w.name,
            url: w.url.trim_end_matches('/').to_string(),
            key,
            timeout: Duration::from_secs(timeout),
        });
    }
    Ok(witnesses)
}

impl Config {
    /// Loads the configuration: defaults, then `file` (if given), then the
    /// `ZKGOV_*` variables in `env`, then `overrides`. Relative paths in the
    /// file are resolved against the file's directory.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let (mut raw, base) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let raw: File = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (raw, Some(base))
            }
            None => (File::default(), None),
        };
        let resolve = |p: PathBuf| match &base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        };
        raw.data_dir = raw.data_dir.map(resolve);
        for key in &mut raw.keys {
            key.dir = resolve(std::mem::take(&mut key.dir));
        }
        if let Some(db) = &raw.database {
            if !db.contains("://") {
                raw.database = Some(resolve(PathBuf::from(db)).display().to_string());
            } else if let Some(path) = db.strip_prefix("sqlite://") {
                raw.database = Some(format!(
                    "sqlite://{}",
                    resolve(PathBuf::from(path)).display()
                ));
            }
        }

        // Environment variables.
        if let Some(v) = env("ZKGOV_LISTEN") {
            raw.listen = Some(v);
        }
        if let Some(v) = env("ZKGOV_DATABASE") {
            raw.database = Some(v);
        }
        if let Some(v) = env("ZKGOV_DATA_DIR") {
            raw.data_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = env("ZKGOV_ORIGIN") {
            raw.origin = Some(v);
        }
        if let Some(v) = env("ZKGOV_FRESHNESS_SECONDS") {
            let seconds = v.parse().map_err(|_| {
                invalid(
                    "ZKGOV_FRESHNESS_SECONDS",
                    format!("`{v}` is not a whole number of seconds"),
                )
            })?;
            check_freshness("ZKGOV_FRESHNESS_SECONDS", seconds)?;
            raw.freshness_seconds = Some(seconds);
        }
        if let Some(v) = env("ZKGOV_GRACE_SECONDS") {
            raw.grace_seconds = Some(v.parse().map_err(|_| {
                invalid(
                    "ZKGOV_GRACE_SECONDS",
                    format!("`{v}` is not a whole number of seconds"),
                )
            })?);
        }
        if let Some(v) = env("ZKGOV_REQUIRE_MULTI_PARTY") {
            raw.require_multi_party = Some(match v.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(
                        "ZKGOV_REQUIRE_MULTI_PARTY",
                        format!("`{v}` is neither `true` nor `false`"),
                    ))
                }
            });
        }
        if let Some(v) = env("ZKGOV_ADMIN_TOKEN_SHA256") {
            raw.admin_token_sha256 = Some(v);
        }

        // Flags.
        if let Some(v) = &overrides.listen {
            raw.listen = Some(v.clone());
        }
        if let Some(v) = &overrides.database {
            raw.database = Some(v.clone());
        }
        if let Some(v) = &overrides.data_dir {
            raw.data_dir = Some(v.clone());
        }
        let mut config = Config::validate(raw)?;
        if let Some(check) = overrides.index_check {
            config.index_check = check;
        }
        Ok(config)
    }

    fn validate(raw: File) -> Result<Config, ConfigError> {
        let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{listen_text}` is not an address such as 127.0.0.1:8080"),
            )
        })?;
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database = raw
            .database
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("verifier.db").display()));
        if database.trim().is_empty() {
            return Err(invalid("database", "is empty"));
        }
        let origin = raw.origin.unwrap_or_else(|| DEFAULT_ORIGIN.to_string());
        if origin.is_empty()
            || origin.contains('+')
            || origin.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "origin",
                format!(
                    "`{origin}` must be non-empty, without spaces or `+`, such as example.gov/log"
                ),
            ));
        }
        let freshness_seconds = raw.freshness_seconds.unwrap_or(DEFAULT_FRESHNESS_SECONDS);
        check_freshness("freshness_seconds", freshness_seconds)?;
        let grace_seconds = raw
            .grace_seconds
            .unwrap_or(zkgov_log::rules::DEFAULT_GRACE_SECONDS);
        if grace_seconds > i64::MAX as u64 {
            return Err(invalid("grace_seconds", "must fit in 63 bits of seconds"));
        }
        let admin_token = match raw.admin_token_sha256 {
            Some(text) => Some(TokenHash::from_hex(&text).ok_or_else(|| {
                invalid(
                    "admin_token_sha256",
                    "must be 64 hex digits: the SHA-256 of the token (`zkgov token new` prints one)",
                )
            })?),
            None => None,
        };

        let mut departments = Vec::new();
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        for (i, d) in raw.departments.into_iter().enumerate() {
            let setting = format!("department[{i}]");
            if !valid_name(&d.name) {
                return Err(invalid(
                    &format!("{setting}.name"),
                    format!("`{}` must be 1–64 letters, digits, `-`, `_` or `.`", d.name),
                ));
            }
            if departments.iter().any(|x: &Department| x.name == d.name) {
                return Err(invalid(
                    &format!("{setting}.name"),
                    format!("department `{}` is listed twice", d.name),
                ));
            }
            let token = TokenHash::from_hex(&d.token_sha256).ok_or_else(|| {
                invalid(
                    &format!("{setting}.token_sha256"),
                    "must be 64 hex digits: the SHA-256 of the token (`zkgov token new` prints one)",
                )
            })?;
            if departments.iter().any(|x| x.token.matches(&token))
                || admin_token.is_some_and(|a| a.matches(&token))
            {
                return Err(invalid(
                    &format!("{setting}.token_sha256"),
                    "the same token is given to two parties; each needs its own",
                ));
            }
            let mut registries = BTreeSet::new();
            for r in d.registries {
                if !valid_name(&r) {
                    return Err(invalid(
                        &format!("{setting}.registries"),
                        format!("`{r}` must be 1–64 letters, digits, `-`, `_` or `.`"),
                    ));
                }
                if let Some(owner) = owners.insert(r.clone(), d.name.clone()) {
                    return Err(invalid(
                        &format!("{setting}.registries"),
                        format!("registry `{r}` is already owned by `{owner}`"),
                    ));
                }
                registries.insert(r);
            }
            if let Some(key) = &d.key {
                let parsed = zkgov_log::signature::DepartmentKey::from_verifier_key(key)
                    .map_err(|e| invalid(&format!("{setting}.key"), e.to_string()))?;
                if parsed.department() != d.name {
                    return Err(invalid(
                        &format!("{setting}.key"),
                        format!(
                            "the key is named `{}`, not `{}`: a department's key bears its name (`zkgov department keygen --department {}`)",
                            parsed.department(),
                            d.name,
                            d.name
                        ),
                    ));
                }
            }
            departments.push(Department {
                name: d.name,
                registries,
                decides: d.decides,
                token,
                key: d.key,
            });
        }

        let mut keys = Vec::new();
        for (i, k) in raw.keys.into_iter().enumerate() {
            if !owners.contains_key(&k.registry) {
                return Err(invalid(
                    &format!("key[{i}].registry"),
                    format!("no department owns a registry named `{}`", k.registry),
                ));
            }
            keys.push(KeySource {
                dir: k.dir,
                registry: k.registry,
            });
        }

        let defaults = Limits::default();
        let l = raw.limits;
        let limits = Limits {
            request_timeout: Duration::from_secs(
                l.request_timeout_seconds
                    .unwrap_or(defaults.request_timeout.as_secs()),
            ),
            max_in_flight: l.max_in_flight.unwrap_or(defaults.max_in_flight),
            max_body_bytes: l.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            max_batch_body_bytes: l
                .max_batch_body_bytes
                .unwrap_or(defaults.max_batch_body_bytes),
            max_batch_items: l.max_batch_items.unwrap_or(defaults.max_batch_items),
            max_entries_per_page: l
                .max_entries_per_page
                .unwrap_or(defaults.max_entries_per_page),
            header_read_timeout: Duration::from_secs(
                l.header_read_timeout_seconds
                    .unwrap_or(defaults.header_read_timeout.as_secs()),
            ),
            max_connections: l.max_connections.unwrap_or(defaults.max_connections),
            applications_per_minute: l
                .applications_per_minute
                .unwrap_or(defaults.applications_per_minute),
            // Streams never take every connection: by default at most half.
            max_event_streams: l.max_event_streams.unwrap_or(
                DEFAULT_MAX_EVENT_STREAMS
                    .min(l.max_connections.unwrap_or(defaults.max_connections) / 2),
            ),
        };
        for (setting, value) in [
            (
                "limits.request_timeout_seconds",
                limits.request_timeout.as_secs(),
            ),
            ("limits.max_in_flight", limits.max_in_flight as u64),
            ("limits.max_body_bytes", limits.max_body_bytes as u64),
            (
                "limits.max_batch_body_bytes",
                limits.max_batch_body_bytes as u64,
            ),
            ("limits.max_batch_items", limits.max_batch_items as u64),
            ("limits.max_entries_per_page", limits.max_entries_per_page),
            (
                "limits.header_read_timeout_seconds",
                limits.header_read_timeout.as_secs(),
            ),
            ("limits.max_connections", limits.max_connections as u64),
            (
                "limits.applications_per_minute",
                limits.applications_per_minute as u64,
            ),
        ] {
            if value == 0 {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        if l.max_event_streams == Some(0) {
            return Err(invalid("limits.max_event_streams", "must be at least 1"));
        }
        if limits.max_event_streams >= limits.max_connections {
            return Err(invalid(
                "limits.max_event_streams",
                format!(
                    "must be below limits.max_connections ({}): each stream holds a connection",
                    limits.max_connections
                ),
            ));
        }
        // A deadline past the clock's range would panic the connection.
        if limits.header_read_timeout > MAX_HEADER_READ_TIMEOUT {
            return Err(invalid(
                "limits.header_read_timeout_seconds",
                format!(
                    "must be at most {} (an hour)",
                    MAX_HEADER_READ_TIMEOUT.as_secs()
                ),
            ));
        }

        let witnesses = validate_witnesses(raw.witnesses)?;

        Ok(Config {
            listen,
            database,
            shared_database: raw.shared_database.unwrap_or(false),
            data_dir,
            origin,
            freshness: Duration::from_secs(freshness_seconds),
            admin_token,
            departments,
            keys,
            limits,
            grace: Duration::from_secs(grace_seconds),
            require_multi_party: raw.require_multi_party.unwrap_or(false),
            index_check: IndexCheck::Last(DEFAULT_INDEX_CHECK),
            witnesses,
        })
    }

    /// The governance entry of this configuration: the departments, what
    /// they own and who decides, the rules' windows and production mode.
    pub fn governance_entry(&self, time: i64) -> zkgov_log::entry::Entry {
        let mut departments: Vec<_> = self
            .departments
            .iter()
            .map(|d| zkgov_log::entry::GovernedDepartment {
                name: d.name.clone(),
                registries: d.registries.iter().cloned().collect(),
                decides: d.decides,
                key: d.key.clone(),
            })
            .collect();
        departments.sort_by(|a, b| a.name.cmp(&b.name));
        let mut entry = zkgov_log::entry::Entry::Governance {
            departments,
            freshness_seconds: self.freshness.as_secs(),
            grace_seconds: self.grace.as_secs(),
            origin: Some(self.origin.clone()),
            require_multi_party: self.require_multi_party,
            endorsements: vec![],
            time: String::new(),
        };
        entry.set_time(time);
        entry
    }

    /// The department that owns `registry`.
    pub fn owner_of(&self, registry: &str) -> Option<&Department> {
        self.departments
            .iter()
            .find(|d| d.registries.contains(registry))
    }
}

/// The freshness window is compared with a root's age in signed seconds
/// (Unix times are `i64`), so a longer one would wrap around and make every
/// root stale.
fn check_freshness(setting: &str, seconds: u64) -> Result<(), ConfigError> {
    if seconds == 0 {
        return Err(invalid(setting, "must be at least 1"));
    }
    if i64::try_from(seconds).is_err() {
        return Err(invalid(
            setting,
            format!(
                "{seconds} is too long: the window is at most {} seconds",
                i64::MAX
            ),
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)], overrides: Overrides) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifier.toml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(
            Some(&path),
            &|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            &overrides,
        )
    }

    const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn setting_of(error: ConfigError) -> String {
        match error {
            ConfigError::Invalid { setting, .. } => setting,
            other => panic!("expected an invalid setting, got {other}"),
        }
    }

    #[test]
    fn witnesses_are_checked_at_start_up() {
        let cosigner = zkgov_log::cosignature::Cosigner::generate("w1.example");
        let key = cosigner.verifier_key();
        let witness = |name: &str, url: &str, key: &str| {
            format!("[[witness]]\nname = \"{name}\"\nurl = \"{url}\"\nkey = \"{key}\"\n")
        };
        let config = load(
            &witness("w1.example", "http://127.0.0.1:7380/", &key),
            &[],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.witnesses.len(), 1);
        assert_eq!(config.witnesses[0].url, "http://127.0.0.1:7380");
        assert_eq!(
            config.witnesses[0].timeout,
            Duration::from_secs(DEFAULT_WITNESS_TIMEOUT_SECONDS)
        );
        let log_key = zkgov_log::checkpoint::LogSigner::generate("w1.example").verifier_key();
        for (text, setting) in [
            (
                witness("w1.example", "http://x", "nonsense"),
                "witness[0].key",
            ),
            (
                witness("w1.example", "http://x", &log_key),
                "witness[0].key",
            ),
            (witness("w2.example", "http://x", &key), "witness[0].name"),
            (witness("w1.example", "ftp://x", &key), "witness[0].url"),
            (
                witness("w1.example", "http://x", &key) + &witness("w1.example", "http://y", &key),
                "witness[1].name",
            ),
            (
                witness("w1.example", "http://x", &key) + "timeout_seconds = 0\n",
                "witness[0].timeout_seconds",
            ),
        ] {
            let error = load(&text, &[], Overrides::default()).unwrap_err();
            assert_eq!(setting_of(error), setting, "{text}");
        }
    }

    #[test]
    fn layers_apply_in_order() {
        let text = "listen = \"127.0.0.1:9000\"\nfreshness_seconds = 60\n";
        let config = load(text, &[], Overrides::default()).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.freshness, Duration::from_secs(60));

        let config = load(
            text,
            &[("ZKGOV_LISTEN", "127.0.0.1:9001")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9001);

        let flags = Overrides {
            listen: Some("127.0.0.1:9002".into()),
            ..Overrides::default()
        };
        let config = load(text, &[("ZKGOV_LISTEN", "127.0.0.1:9001")], flags).unwrap();
        assert_eq!(config.listen.port(), 9002);
    }

    #[test]
    fn defaults_are_embedded_sqlite_on_loopback() {
        let config = Config::load(None, &|_| None, &Overrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert!(config.database.starts_with("sqlite://"));
        assert!(config.admin_token.is_none());
        assert!(!config.shared_database);
        let shared = load("shared_database = true\n", &[], Overrides::default()).unwrap();
        assert!(shared.shared_database);
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases = [
            ("listen = \"nowhere\"", "listen"),
            ("freshness_seconds = 0", "freshness_seconds"),
            ("admin_token_sha256 = \"abc\"", "admin_token_sha256"),
            ("origin = \"has space\"", "origin"),
            (
                "[[department]]\nname = \"a b\"\ntoken_sha256 = \"{A}\"",
                "department[0].name",
            ),
            (
                "[[department]]\nname = \"a\"\ntoken_sha256 = \"{A}\"\n[[department]]\nname = \"b\"\ntoken_sha256 = \"{A}\"",
                "department[1].token_sha256",
            ),
            (
                "[[department]]\nname = \"a\"\ntoken_sha256 = \"{A}\"\nregistries = [\"r\"]\n[[department]]\nname = \"b\"\ntoken_sha256 = \"{B}\"\nregistries = [\"r\"]",
                "department[1].registries",
            ),
            (
                "[[key]]\ndir = \"k\"\nregistry = \"nobody\"",
                "key[0].registry",
            ),
            ("[limits]\nmax_in_flight = 0", "limits.max_in_flight"),
            (
                "[limits]\nheader_read_timeout_seconds = 0",
                "limits.header_read_timeout_seconds",
            ),
            (
                "[limits]\nheader_read_timeout_seconds = 3601",
                "limits.header_read_timeout_seconds",
            ),
            ("[limits]\nmax_connections = 0", "limits.max_connections"),
            ("[limits]\nmax_event_streams = 0", "limits.max_event_streams"),
            (
                "[limits]\nmax_connections = 8\nmax_event_streams = 8",
                "limits.max_event_streams",
            ),
        ];
        for (text, setting) in cases {
            let text = text.replace("{A}", HASH_A).replace("{B}", HASH_B);
            let error = load(&text, &[], Overrides::default()).unwrap_err();
            assert_eq!(setting_of(error), setting, "for {text}");
        }
        let error = load(
            "listen = \"127.0.0.1:1\"",
            &[("ZKGOV_FRESHNESS_SECONDS", "soon")],
            Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(setting_of(error), "ZKGOV_FRESHNESS_SECONDS");
        assert!(matches!(
            load("unknown_setting = 1", &[], Overrides::default()),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn a_freshness_window_beyond_signed_seconds_is_refused() {
        let longest = i64::MAX.to_string();
        for too_long in [(i64::MAX as u64 + 1).to_string(), u64::MAX.to_string()] {
            match load(
                "",
                &[("ZKGOV_FRESHNESS_SECONDS", &too_long)],
                Overrides::default(),
            ) {
                Err(ConfigError::Invalid { setting, problem }) => {
                    assert_eq!(setting, "ZKGOV_FRESHNESS_SECONDS");
                    assert_eq!(
                        problem,
                        format!("{too_long} is too long: the window is at most {longest} seconds")
                    );
                }
                other => panic!("expected the window to be refused, got {other:?}"),
            }
        }
        let config = load(
            "",
            &[("ZKGOV_FRESHNESS_SECONDS", &longest)],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.freshness, Duration::from_secs(i64::MAX as u64));
        // TOML integers are signed 64-bit: in the file, a longer window is a
        // syntax error that shows its line.
        match load(
            &format!("freshness_seconds = {}", i64::MAX as u64 + 1),
            &[],
            Overrides::default(),
        ) {
            Err(ConfigError::Syntax { message, .. }) => {
                assert!(message.contains("freshness_seconds"), "{message}")
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let text = format!(
            "data_dir = \"data\"\ndatabase = \"sqlite://db/verifier.db\"\n[[department]]\nname = \"a\"\ntoken_sha256 = \"{HASH_A}\"\nregistries = [\"r\"]\n[[key]]\ndir = \"keys/k\"\nregistry = \"r\""
        );
        let config = load(&text, &[], Overrides::default()).unwrap();
        assert!(config.data_dir.is_absolute());
        assert!(config.keys[0].dir.ends_with("keys/k") && config.keys[0].dir.is_absolute());
        assert!(config.database.starts_with("sqlite:///"));
        assert_eq!(config.owner_of("r").unwrap().name, "a");
    }

    #[test]
    fn token_hashes_compare_and_never_print() {
        let hash = TokenHash::of("secret-token");
        assert!(hash.matches(&TokenHash::from_hex(&hash.to_hex()).unwrap()));
        assert!(!hash.matches(&TokenHash::of("secret-tokeN")));
        assert_eq!(format!("{hash:?}"), "TokenHash(…)");
    }
}
