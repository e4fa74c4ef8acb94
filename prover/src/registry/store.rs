//! The registry directory on disk: immutable state directories and the
//! `CURRENT` pointer file whose atomic replacement switches between them.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zkgov_keys::files;

use super::{io_at, RegistryError};

/// `metadata.json`'s `format`.
pub(super) const FORMAT: &str = "zkgov-registry";
/// `metadata.json`'s `format_version`.
pub(super) const FORMAT_VERSION: u64 = 1;
/// The pointer file naming the current state.
pub(super) const CURRENT: &str = "CURRENT";
/// The file a writer locks while it commits.
pub(super) const LOCK: &str = "lock";
/// In a state directory: the schema file, byte for byte.
pub(super) const SCHEMA: &str = "schema.toml";
/// In a state directory: the registry's metadata, written last.
pub(super) const METADATA: &str = "metadata.json";
/// In a state directory: one line per leaf, in index order.
pub(super) const RECORDS: &str = "records.jsonl";

const STATE_PREFIX: &str = "state-";
const PARTIAL: &str = ".partial";

/// `metadata.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Metadata {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u64,
    /// The state number, the same as the directory's.
    pub state: u64,
    /// The schema the records follow.
    pub schema: SchemaRef,
    /// The registry tree's shape.
    pub tree: TreeRef,
    /// Records (leaves), revoked ones included.
    pub records: u64,
    /// Revoked records.
    pub revoked: u64,
    /// The root, canonical decimal.
    pub root: String,
}

/// The schema named in `metadata.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SchemaRef {
    /// The schema's name.
    pub name: String,
    /// [`super::schema_hash`], hex.
    pub hash: String,
}

/// The tree shape in `metadata.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TreeRef {
    /// Children per node.
    pub arity: usize,
    /// Levels.
    pub depth: u32,
}

impl Metadata {
    /// Reads and checks the metadata of state `state`.
    pub(super) fn read(path: &Path, state: u64) -> Result<Self, RegistryError> {
        let damaged = |problem: String| RegistryError::Damaged {
            file: path.to_path_buf(),
            line: None,
            problem,
        };
        let bytes = fs::read(path).map_err(io_at(path))?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| damaged(format!("not JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(damaged(format!("not a {FORMAT} metadata file")));
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(RegistryError::UnsupportedVersion {
                    file: path.to_path_buf(),
                    found,
                })
            }
            None => return Err(damaged("no format_version".into())),
        }
        let metadata: Metadata =
            serde_json::from_value(value).map_err(|e| damaged(e.to_string()))?;
        if metadata.state != state {
            return Err(damaged(format!(
                "it describes state {}, but lies in the directory of state {state}",
                metadata.state
            )));
        }
        Ok(metadata)
    }
}

/// The directory of state `state`.
pub(super) fn state_dir(dir: &Path, state: u64) -> PathBuf {
    dir.join(format!("{STATE_PREFIX}{state}"))
}

/// Where state `state` is written before it is renamed into place.
pub(super) fn staging_state_dir(dir: &Path, state: u64) -> PathBuf {
    dir.join(format!(".{STATE_PREFIX}{state}{PARTIAL}"))
}

/// The state number in a `state-N` name, strictly: no sign, no leading zero.
fn parse_state(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(STATE_PREFIX)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The state that `CURRENT` names.
pub(super) fn read_current(dir: &Path) -> Result<u64, RegistryError> {
    let path = dir.join(CURRENT);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RegistryError::NotARegistry {
                path: dir.to_path_buf(),
                reason: format!("it has no {CURRENT} file"),
            })
        }
        Err(source) => return Err(RegistryError::Io { path, source }),
    };
    text.strip_suffix('\n')
        .and_then(parse_state)
        .ok_or_else(|| RegistryError::Damaged {
            file: path,
            line: None,
            problem: format!("expected \"{STATE_PREFIX}N\", found {:?}", text.trim_end()),
        })
}

/// Points `CURRENT` at `state`, by an atomic replacement.
pub(super) fn set_current(dir: &Path, state: u64) -> Result<(), RegistryError> {
    let text = format!("{STATE_PREFIX}{state}\n");
    Ok(files::write_atomically(
        &dir.join(CURRENT),
        text.as_bytes(),
    )?)
}

/// The number for the next state: above the current one and above every
/// state directory present, even one that a crashed commit left behind.
pub(super) fn next_state(dir: &Path, current: u64) -> Result<u64, RegistryError> {
    let mut highest = current;
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_state) {
            highest = highest.max(n);
        }
    }
    Ok(highest + 1)
}

/// Removes state directories other than `keep` and debris of interrupted
/// commits. Best effort: what cannot be removed now is removed next time.
pub(super) fn collect_garbage(dir: &Path, keep: &[u64]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = match parse_state(name) {
            Some(n) => !keep.contains(&n),
            None => name.starts_with('.') && name.contains(PARTIAL),
        };
        if stale {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Takes the writer's lock of `dir`, released when the file is dropped.
pub(super) fn lock(dir: &Path) -> Result<File, RegistryError> {
    let path = dir.join(LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_at(&path))?;
    file.lock().map_err(io_at(&path))?;
    Ok(file)
}

/// Creates the lock file of a new registry.
pub(super) fn touch_lock(dir: &Path) -> Result<(), RegistryError> {
    write_synced(&dir.join(LOCK), b"")
}

/// Empties `path` if a crashed writer left it, and creates it.
pub(super) fn recreate_dir(path: &Path) -> Result<(), RegistryError> {
    if path.exists() {
        fs::remove_dir_all(path).map_err(io_at(path))?;
    }
    fs::create_dir(path).map_err(io_at(path))
}

pub(super) use files::create_dir_atomically;

/// Writes `bytes` to a new file at `path` and syncs it.
pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    Ok(files::write_synced(path, bytes)?)
}

/// Syncs a directory, so that the entries created or renamed in it persist.
pub(super) fn sync_dir(path: &Path) -> Result<(), RegistryError> {
    Ok(files::sync_dir(path)?)
}
