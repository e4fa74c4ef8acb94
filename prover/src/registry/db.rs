//! The registry's SQLite file: its tables, their migrations, how it is
//! opened, and the byte form of field elements in it.
//!
//! ```text
//! registry  one row: the schema file, its hash, the tree shape, the counts,
//!           the root and the id of the change that made it
//! records   idx, subject_key, raw (JSON array of the raw values), salt,
//!           revoked, leaf (0 once revoked)
//! nodes     (height, idx) → hash, for heights 1..=depth: every non-empty node
//! changes   id, time, kind, detail (JSON: which indices), counts, root
//! ```
//!
//! `subject_key` is the first 8 bytes of the encoded subject, enough to
//! find a subject's records through an index a quarter the size of one on
//! the whole element; readers compare the whole subject after decoding.

use std::fs::{self, DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use ark_ff::{BigInt, BigInteger, PrimeField};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use zkgov_circuits::Fr;

use super::{io_at, RegistryError};

/// The database file inside a registry directory.
pub(super) const FILE: &str = "registry.db";

/// How long a writer waits for another writer's transaction to end.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first database format.
    "CREATE TABLE registry (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         schema_toml TEXT NOT NULL,
         schema_hash TEXT NOT NULL,
         arity INTEGER NOT NULL,
         depth INTEGER NOT NULL,
         records INTEGER NOT NULL,
         revoked INTEGER NOT NULL,
         root BLOB NOT NULL,
         change INTEGER NOT NULL
     );
     CREATE TABLE records (
         idx INTEGER PRIMARY KEY,
         subject_key INTEGER NOT NULL,
         raw TEXT NOT NULL,
         salt BLOB NOT NULL,
         revoked INTEGER NOT NULL,
         leaf BLOB NOT NULL
     );
     CREATE INDEX records_by_subject ON records (subject_key);
     CREATE TABLE nodes (
         height INTEGER NOT NULL,
         idx INTEGER NOT NULL,
         hash BLOB NOT NULL,
         PRIMARY KEY (height, idx)
     ) WITHOUT ROWID;
     CREATE TABLE changes (
         id INTEGER PRIMARY KEY,
         time TEXT NOT NULL,
         kind TEXT NOT NULL,
         detail TEXT NOT NULL,
         records INTEGER NOT NULL,
         revoked INTEGER NOT NULL,
         root BLOB NOT NULL
     );",
];

/// The database format this code writes: the number of migrations.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// The error for a failed database operation on `path`: a busy database
/// (another writer held it past the timeout) gets its own variant.
pub(super) fn error_at(path: &Path) -> impl Fn(rusqlite::Error) -> RegistryError + 'static {
    let path = path.to_path_buf();
    move |source| {
        if source.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) {
            RegistryError::Busy {
                path: path.clone(),
                waited: BUSY_TIMEOUT,
            }
        } else {
            RegistryError::Database {
                path: path.clone(),
                source,
            }
        }
    }
}

/// Creates the directory `dir` readable by its owner only.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), RegistryError> {
    DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(io_at(dir))
}

/// Creates a new, empty database at `path` with mode 600 (SQLite gives its
/// WAL and shared-memory files the database file's mode) and applies every
/// migration.
pub(super) fn create(path: &Path) -> Result<Connection, RegistryError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_at(path))?;
    let mut conn = connect(path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens the existing database at `path`, migrating it forward if it was
/// written by an earlier version.
pub(super) fn open(path: &Path) -> Result<Connection, RegistryError> {
    let mut conn = connect(path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

fn connect(path: &Path) -> Result<Connection, RegistryError> {
    let err = error_at(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(RegistryError::Damaged {
            file: path.to_path_buf(),
            line: None,
            problem: format!(
                "cannot use WAL journal mode (got `{mode}`); a registry needs a local file system"
            ),
        });
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -16384;")
        .map_err(&err)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), RegistryError> {
    let err = error_at(path);
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(&err)?;
    if found > VERSION {
        return Err(RegistryError::UnsupportedVersion {
            file: path.to_path_buf(),
            found: found as u64,
        });
    }
    if found == VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(&err)?;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(migration).map_err(&err)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(&err)?;
    }
    tx.commit().map_err(&err)
}

/// Syncs `path`'s contents and its directory entry.
pub(super) fn sync(path: &Path) -> Result<(), RegistryError> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_at(path))
}

/// A field element as 32 little-endian bytes.
pub(super) fn to_bytes(x: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_le());
    out
}

/// A canonical field element from 32 little-endian bytes.
pub(super) fn from_bytes(bytes: &[u8]) -> Option<Fr> {
    let bytes: &[u8; 32] = bytes.try_into().ok()?;
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        *limb = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    Fr::from_bigint(BigInt::new(limbs))
}

/// The index key of an encoded subject: its low 64 bits.
pub(super) fn subject_key(subject: &Fr) -> i64 {
    subject.into_bigint().0[0] as i64
}
