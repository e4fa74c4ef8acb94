//! A department's registry: records validated against the registry's
//! schema, each salted and committed as one leaf of a registry tree, and
//! stored so that a crash never leaves a half-written registry behind.
//!
//! # Records and leaves
//!
//! A record is one row of the department's data: one raw value per schema
//! field, plus a salt. The salt is a uniformly random field element drawn
//! from the operating system's CSPRNG, unless the records file supplies
//! one. The record's leaf is `Poseidon([subject, f1, …, fk, salt])`
//! (docs/formats.md, "Registry tree"). The leaf index is the insertion position. Revoking a
//! record sets its leaf to 0, the empty leaf. The record stays in the
//! registry marked as revoked, and no proof can use it any more.
//!
//! # Records files
//!
//! [`RecordsFile`] reads CSV or JSON Lines. The format comes from the
//! extension (`.csv`, `.jsonl`) unless it is given explicitly.
//! - **CSV**: the header names every schema field exactly once, in any
//!   order, plus an optional `salt` column. Cells are taken exactly as
//!   written. Nothing is trimmed, and a `text`/`id` value `"a "` differs
//!   from `"a"`. Rows are counted from 1 after the header. Errors give
//!   the row and the line where it starts.
//! - **JSON Lines**: one JSON object per line, with the schema's field
//!   names as keys and an optional `salt` key. Every value may be a JSON
//!   string in the field's file format. `uint`, `decimal` and `bool`
//!   fields also take a JSON integer, and `bool` fields take `true` and
//!   `false`. Anything else is refused: a non-integer JSON number (write
//!   `"12.50"`, so that no binary floating point is involved), a number
//!   for a `text`, `id`, `enum` or `date` field, `null`, an array, an
//!   object, a key given twice, and a blank line. Errors give the line.
//! - A salt is a canonical decimal field element (a JSON string in JSON
//!   Lines). In CSV, when a `salt` column exists every row must fill it.
//!   In JSON Lines, a line without `salt` gets a random one.
//!
//! - **A query** ([`RecordsTable`], [`RecordsSource::Table`]): the rows of
//!   a query on a department's database, read one at a time. Its columns
//!   map to fields by name exactly as a CSV header does (every field once,
//!   an optional `salt`, no other column), and each cell is the text a CSV
//!   cell would hold, or why the value cannot be one (`NULL`, a float).
//!   Rows are numbered from 1 in the order of the result.
//!
//! Every row is checked before anything is written. A file with bad rows
//! yields one [`RegistryError::BadRows`] that lists each bad row with its
//! field, value and reason.
//!
//! # Storage
//!
//! A registry is a directory (mode 700) holding one SQLite database,
//! `registry.db` (mode 600, as are its WAL and shared-memory files: salts
//! are secrets), in WAL mode with `synchronous = FULL`. Its tables (see the
//! `db` module) hold the schema file and the tree shape, every record with
//! its raw values, salt and leaf, every non-empty tree node, and the history
//! of roots as changes: when, which indices were added, modified or
//! revoked, and the root after. `PRAGMA user_version` numbers the
//! database format, and opening a registry applies any newer migrations.
//!
//! [`Registry::open`] reads one row. A commit is one transaction that
//! rewrites the changed records and the O(depth × arity) nodes above them,
//! so a crash leaves the previous state and disk grows with the changes,
//! not with the registry. A second writer waits for the first (up to 30 s,
//! then [`RegistryError::Busy`]); a writer whose registry was opened before
//! another writer's commit gets [`RegistryError::Conflict`] and does not
//! overwrite it. [`Registry::check`] re-derives every leaf and node. A
//! build streams the records file into the database chunk by chunk and
//! hashes the tree level by level from the stored level below, in a hidden
//! directory renamed into place at the end, so memory does not grow with
//! the registry. The schema hash is [`schema_hash`].
//!
//! [`Registry::sync`] makes the live records those of a source, by
//! subject, in one change (added, modified, revoked), when subjects are
//! unique.
//!
//! Registries written before the database (the [`legacy`] directory format)
//! are converted by [`migrate`].
//!
//! # Example
//!
//! ```
//! use zkgov_circuits::encoding::text_to_field;
//! use zkgov_circuits::schema::Schema;
//! use zkgov_circuits::tree::TreeShape;
//! use zkgov_prover::registry::{RecordFormat, RecordsFile, Registry, Room};
//!
//! let schema_toml = r#"
//!     name = "licences"
//!     subject = "holder"
//!     [[field]]
//!     name = "holder"
//!     type = "id"
//!     [[field]]
//!     name = "scope"
//!     type = "uint16"
//! "#;
//! let schema = Schema::from_toml("licences.toml", schema_toml).unwrap();
//! let shape = TreeShape::new(4, 3).unwrap();
//! let csv = "scope,holder\n12,alice\n4,bob\n";
//! let records = RecordsFile::parse(
//!     &schema,
//!     "inline.csv".as_ref(),
//!     csv.as_bytes(),
//!     RecordFormat::Csv,
//!     Room::new(shape, 0),
//! )
//! .unwrap();
//!
//! let dir = tempfile::tempdir().unwrap();
//! let out = dir.path().join("licences");
//! let built = Registry::create(&out, schema_toml, shape, records.into_records()).unwrap();
//!
//! let registry = Registry::open(&out).unwrap();
//! assert_eq!(registry.root(), built.root());
//! let bob = registry.records_of(&text_to_field("bob"));
//! let (index, record) = &bob[0];
//! assert_eq!(*index, 1);
//! let leaf = registry.schema().leaf(record);
//! assert_eq!(registry.path(*index).root(&shape, leaf), registry.root());
//! registry.check().unwrap();
//! ```

mod db;
mod input;
pub mod legacy;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ark_ff::{BigInt, PrimeField, Zero};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::poseidon;
use zkgov_circuits::schema::{Record, Schema, SchemaError};
use zkgov_circuits::tree::{MerklePath, TreeError, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::digest::{canonical_json, Digest32};

pub use input::{Cell, RecordFormat, RecordsFile, RecordsSource, RecordsTable, SourceRow};

use input::shorten;

/// Why a registry cannot be built, opened, changed or stored.
///
/// Every variant names what the user has to look at: a file, a row, a
/// field, a record index or a subject.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The schema file is invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The tree shape is invalid, or a tree operation failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The records file's format cannot be told from its name.
    #[error("{}: cannot tell the records format from the file name; name it *.csv or *.jsonl, or give the format (--format csv|jsonl)", path.display())]
    UnknownFormat {
        /// The records file.
        path: PathBuf,
    },
    /// The CSV header does not name the schema's fields exactly once.
    #[error("{}", columns_message(file, unknown, missing, duplicate))]
    Columns {
        /// The records file.
        file: PathBuf,
        /// Columns that are neither a schema field nor `salt`.
        unknown: Vec<String>,
        /// Schema fields without a column.
        missing: Vec<String>,
        /// Columns named more than once.
        duplicate: Vec<String>,
    },
    /// Rows that cannot be used, every one of them.
    #[error("{}", bad_rows_message(file, *format, rows))]
    BadRows {
        /// The records file.
        file: PathBuf,
        /// Its format, which fixes how rows are numbered.
        format: RecordFormat,
        /// Each problem, in file order.
        rows: Vec<BadRow>,
    },
    /// More records than the registry tree holds.
    #[error("{records} records do not fit in a registry tree of arity {arity} and depth {depth}, which holds {capacity}; choose a larger depth or arity")]
    TooManyRecords {
        /// The records the registry would hold.
        records: u128,
        /// arity^depth.
        capacity: u128,
        /// The tree's arity.
        arity: usize,
        /// The tree's depth.
        depth: u32,
    },
    /// A record has a different number of values than the schema has fields.
    #[error("record #{position} has {found} values but the schema has {expected} fields")]
    FieldCount {
        /// 0-based position of the record in what was given.
        position: usize,
        /// The schema's field count.
        expected: usize,
        /// The record's value count.
        found: usize,
    },
    /// The output directory of a build already exists.
    #[error("{}: already exists; a registry is built into a new directory", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },
    /// The directory is not a registry.
    #[error("{}: not a registry: {reason}", path.display())]
    NotARegistry {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A registry file is unreadable or inconsistent.
    #[error("{}{}: {problem}; the registry is damaged", file.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Damaged {
        /// The file at fault.
        file: PathBuf,
        /// The 1-based line, for the records file.
        line: Option<u64>,
        /// What is wrong with it.
        problem: String,
    },
    /// The root recomputed from the records differs from the stored one.
    #[error("{}: the stored root {stored} differs from the root {computed} recomputed from the records; the registry is damaged or was edited", file.display())]
    RootMismatch {
        /// The metadata file holding the stored root.
        file: PathBuf,
        /// The stored root.
        stored: String,
        /// The recomputed root.
        computed: String,
    },
    /// The registry was written by an unknown version of this format.
    #[error("{}: registry format version {found} is not supported (expected {})", file.display(), store::FORMAT_VERSION)]
    UnsupportedVersion {
        /// The metadata file.
        file: PathBuf,
        /// The version found.
        found: u64,
    },
    /// A record index past the last record.
    #[error("record {index} does not exist (the registry holds records 0 to {})", len.saturating_sub(1))]
    NoSuchRecord {
        /// The index asked for.
        index: u64,
        /// The number of records.
        len: u64,
    },
    /// A revoked record cannot change any more.
    #[error("record {index} is revoked; a revoked record cannot be modified or revoked again")]
    Revoked {
        /// The record's index.
        index: u64,
    },
    /// Subjects that do not name exactly one live record, every one of them.
    #[error("{}", bad_subjects_message(subjects))]
    BadSubjects {
        /// Each subject and its problem.
        subjects: Vec<BadSubject>,
    },
    /// Records whose subject already owns a live record, in a registry whose
    /// schema declares subjects unique, every one of them.
    #[error("{}", duplicate_subjects_message(duplicates))]
    DuplicateSubjects {
        /// Each duplicate, in the order given.
        duplicates: Vec<DuplicateSubject>,
    },
    /// The database failed.
    #[error("{}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another writer held the registry longer than the busy timeout.
    #[error("{}: another process has been writing this registry for {waited:.1?} and still is; wait until it finishes and try again", path.display())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// How long this writer waited.
        waited: std::time::Duration,
    },
    /// The directory holds a registry of the directory format of earlier
    /// versions.
    #[error("{}: a registry in the directory format of earlier versions; convert it with `zkgov registry migrate {}`", dir.display(), dir.display())]
    NeedsMigration {
        /// The registry directory.
        dir: PathBuf,
    },
    /// A stored leaf, node or count disagrees with what the records give.
    #[error("{}: {item}: {problem}; the registry is damaged or was edited", dir.display())]
    CheckFailed {
        /// The registry directory.
        dir: PathBuf,
        /// What disagrees: `leaf 17`, `node 3 at height 2`, `root`, ….
        item: String,
        /// How.
        problem: String,
    },
    /// A database the records are read from failed: connecting, running
    /// the query, or reading a row.
    #[error("{name}: {message}")]
    Source {
        /// The source, without any password.
        name: String,
        /// What failed.
        message: String,
    },
    /// `sync` needs one live record per subject to tell what changed.
    #[error("schema {schema:?} allows several live records per subject (unique_subject = false), so a source row cannot be matched to one record; sync needs unique subjects: use `zkgov registry update` with --add, --modify --index and --revoke-index")]
    SyncNeedsUniqueSubjects {
        /// The schema's name.
        schema: String,
    },
    /// Another writer committed since this registry was opened.
    #[error("{}: the registry changed since it was opened (change {opened}, now change {found}); open it again and repeat the change", dir.display())]
    Conflict {
        /// The registry directory.
        dir: PathBuf,
        /// The change (state, in the directory format) this registry was opened at.
        opened: u64,
        /// The change now committed on disk.
        found: u64,
    },
}

/// One problem with one row of a records file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The 1-based data row: for CSV the rows after the header, for JSON
    /// Lines the line number.
    pub row: u64,
    /// The 1-based line of the file on which the row starts.
    pub line: u64,
    /// The column or key at fault, or `None` when the whole row is bad.
    pub field: Option<String>,
    /// The offending value, shortened when long.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl BadRow {
    /// One line describing the problem, numbered the way `format` numbers rows.
    pub fn describe(&self, format: RecordFormat) -> String {
        let place = match format {
            RecordFormat::Csv => format!("row {} (line {})", self.row, self.line),
            RecordFormat::JsonLines => format!("line {}", self.line),
            RecordFormat::Table => format!("row {}", self.row),
        };
        match &self.field {
            Some(field) => format!(
                "{place}, field {field:?}, value {:?}: {}",
                self.value, self.reason
            ),
            None if self.value.is_empty() => format!("{place}: {}", self.reason),
            None => format!("{place}, {:?}: {}", self.value, self.reason),
        }
    }
}

/// A subject given to [`Registry::revoke_subjects`] that does not name
/// exactly one live record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSubject {
    /// The subject as given.
    pub subject: String,
    /// What is wrong.
    pub reason: String,
}

/// A record given to [`Registry::add`] or [`Registry::create`] whose
/// subject already owns a live record, when the schema declares subjects
/// unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateSubject {
    /// 0-based position of the record in what was given.
    pub position: usize,
    /// The subject as given, shortened when long.
    pub subject: String,
    /// Who already owns the subject.
    pub owner: SubjectOwner,
}

/// Who already owns a duplicated subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectOwner {
    /// The live record at this index of the registry.
    Record(u64),
    /// The record at this 0-based position earlier in what was given.
    Earlier(usize),
}

impl SubjectOwner {
    /// The reason, numbering given records with `name` (`"record #"`, `"row "`).
    fn reason(&self, number: impl Fn(usize) -> String) -> String {
        let owner = match self {
            SubjectOwner::Record(index) => format!("the subject already owns live record {index}"),
            SubjectOwner::Earlier(position) => {
                format!("the subject is also that of {}", number(*position))
            }
        };
        format!("{owner}; the schema declares subjects unique (declare `unique_subject = false` to allow several live records per subject)")
    }
}

fn duplicate_subjects_message(duplicates: &[DuplicateSubject]) -> String {
    let mut out = format!(
        "{} {} a subject that already has a live record:",
        duplicates.len(),
        if duplicates.len() == 1 {
            "record has"
        } else {
            "records have"
        }
    );
    for d in duplicates {
        out.push_str(&format!(
            "\n  record #{} ({:?}): {}",
            d.position,
            d.subject,
            d.owner.reason(|p| format!("record #{p}"))
        ));
    }
    out
}

fn columns_message(file: &Path, unknown: &[String], missing: &[String], dup: &[String]) -> String {
    let list = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!(
            "unknown columns {} (the schema has no such fields)",
            list(unknown)
        ));
    }
    if !missing.is_empty() {
        parts.push(format!("missing columns {}", list(missing)));
    }
    if !dup.is_empty() {
        parts.push(format!("columns given twice {}", list(dup)));
    }
    format!(
        "{}: the header must name every schema field once, plus an optional \"salt\": {}",
        file.display(),
        parts.join("; ")
    )
}

fn bad_rows_message(file: &Path, format: RecordFormat, rows: &[BadRow]) -> String {
    let numbering = match format {
        RecordFormat::Csv => "rows counted from 1 after the header",
        RecordFormat::JsonLines => "by line",
        RecordFormat::Table => "rows of the result counted from 1",
    };
    let mut out = format!(
        "{}: {} bad {} ({numbering}):",
        file.display(),
        rows.len(),
        if rows.len() == 1 { "row" } else { "rows" },
    );
    for row in rows {
        out.push_str("\n  ");
        out.push_str(&row.describe(format));
    }
    out
}

fn bad_subjects_message(subjects: &[BadSubject]) -> String {
    let mut out = format!(
        "{} {} cannot be revoked:",
        subjects.len(),
        if subjects.len() == 1 {
            "subject"
        } else {
            "subjects"
        }
    );
    for s in subjects {
        out.push_str(&format!("\n  {:?}: {}", s.subject, s.reason));
    }
    out
}

impl From<zkgov_keys::files::FileError> for RegistryError {
    fn from(error: zkgov_keys::files::FileError) -> RegistryError {
        use zkgov_keys::files::FileError;
        match error {
            FileError::Io { path, source } => RegistryError::Io { path, source },
            FileError::AlreadyExists { path } => RegistryError::AlreadyExists { path },
        }
    }
}

/// A `records` row, its columns in the table's order, as `check` reads
/// it.
struct RecordRow {
    idx: i64,
    subject_key: i64,
    raw: String,
    salt: Vec<u8>,
    revoked: bool,
    leaf: Vec<u8>,
}

/// A `records` row as an append writes it, before its index is given.
struct NewRow {
    subject_key: i64,
    raw: String,
    salt: [u8; 32],
    revoked: bool,
    leaf: [u8; 32],
}

/// The I/O error for `path`, as a closure for `map_err`.
fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A salt drawn uniformly below r: 254 random bits, drawn again while the
/// value is r or more (about one draw in four). Reducing a wider value
/// mod r would make small salts more likely.
pub fn random_salt<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Fr {
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        bytes[31] &= 0x3f;
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            *limb = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        }
        if let Some(salt) = Fr::from_bigint(BigInt::new(limbs)) {
            return salt;
        }
    }
}

/// The canonical hash of a schema: SHA-256 of the canonical JSON of
/// `{"format": "zkgov-schema-v1", name, subject, fields: [{name, type}]}`,
/// typed as in the policy hash. Comments and layout do not change it.
pub fn schema_hash(schema: &Schema) -> Digest32 {
    use zkgov_circuits::encoding::FieldType;
    let fields: Vec<serde_json::Value> = schema
        .fields
        .iter()
        .map(|f| {
            let ty = match &f.ty {
                FieldType::Enum { variants } => json!({ "type": "enum", "variants": variants }),
                FieldType::Decimal { scale, bits } => {
                    json!({ "type": "decimal", "scale": scale, "bits": bits })
                }
                other => json!({ "type": other.name() }),
            };
            json!({ "name": f.name, "type": ty })
        })
        .collect();
    let value = json!({
        "format": "zkgov-schema-v1",
        "name": schema.name,
        "subject": schema.fields[schema.subject].name,
        "fields": fields,
    });
    Digest32::of(canonical_json(&value).as_bytes())
}

/// How many more records a registry tree can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// The records already in the registry.
    pub used: u64,
    /// The tree's capacity, arity^depth, or `None` for no limit.
    pub shape: Option<TreeShape>,
}

impl Room {
    /// Room in a tree of `shape` that already holds `used` records.
    pub fn new(shape: TreeShape, used: u64) -> Self {
        Self {
            used,
            shape: Some(shape),
        }
    }

    /// No limit: for records that replace existing ones.
    pub fn unlimited() -> Self {
        Self {
            used: 0,
            shape: None,
        }
    }

    /// How many more records fit.
    pub fn left(&self) -> u128 {
        self.shape.map_or(u128::MAX, |shape| {
            shape.capacity().saturating_sub(u128::from(self.used))
        })
    }

    /// The error for `more` records on top of the used ones, if they do not fit.
    pub fn check(&self, more: u128) -> Result<(), RegistryError> {
        match self.shape {
            Some(shape) if more > self.left() => Err(RegistryError::TooManyRecords {
                records: u128::from(self.used) + more,
                capacity: shape.capacity(),
                arity: shape.arity(),
                depth: shape.depth(),
            }),
            _ => Ok(()),
        }
    }
}

/// A validated record on its way into a registry: its raw values as they
/// will be stored, and its encoding with its salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    raw: Vec<String>,
    record: Record,
}

impl NewRecord {
    /// Encodes `raw` (one value per schema field, in schema order) with
    /// `schema`. When `salt` is `None`, a salt is drawn from the OS CSPRNG.
    pub fn new(
        schema: &Schema,
        raw: Vec<String>,
        salt: Option<Fr>,
    ) -> Result<Self, zkgov_circuits::schema::RecordError> {
        let values: Vec<&str> = raw.iter().map(String::as_str).collect();
        let salt = salt.unwrap_or_else(os_salt);
        let record = schema.encode_record(&values, salt)?;
        Ok(Self { raw, record })
    }

    /// Pairs raw values with their encoding; the caller has validated both.
    fn from_parts(raw: Vec<String>, record: Record) -> Self {
        Self { raw, record }
    }

    /// The raw values in schema order.
    pub fn raw(&self) -> &[String] {
        &self.raw
    }

    /// The encoded record with its salt.
    pub fn record(&self) -> &Record {
        &self.record
    }
}

/// A salt from the operating system's CSPRNG.
fn os_salt() -> Fr {
    random_salt(&mut rand::rngs::OsRng)
}

/// A record as the registry holds it: its raw values, its encoding with its
/// salt, and whether it is revoked.
#[derive(Debug, Clone)]
struct Stored {
    raw: Vec<String>,
    record: Record,
    revoked: bool,
}

/// Changes made since the registry was opened or last committed.
#[derive(Debug, Default)]
struct Pending {
    /// New and changed records.
    records: BTreeMap<u64, Stored>,
    /// Rewritten leaves (height 0) and nodes.
    nodes: HashMap<(u32, u64), Fr>,
    /// The first index added, if records were added.
    added_from: Option<u64>,
    /// Indices of modified records, in order.
    modified: Vec<u64>,
    /// Indices of revoked records, in order.
    revoked: Vec<u64>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// A department's registry: an SQLite database of its records, salts,
/// leaves, tree nodes and the history of its roots.
///
/// Opening reads one row (the schema, the shape, the counts and the root);
/// records, leaves and nodes are read as they are needed. An opened
/// registry reads one snapshot of the database until it commits, so a
/// commit by another process never mixes two roots' nodes into one path.
///
/// Changes ([`add`](Self::add), [`modify`](Self::modify),
/// [`revoke`](Self::revoke), …) apply in memory, each rewriting the
/// O(depth × arity) nodes above the leaves it changes. [`commit`](Self::commit)
/// stores them in one transaction. Each change method checks everything
/// before it changes anything. If `commit` fails, the registry on disk keeps
/// its previous state, and this value should be dropped and opened again.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    db_path: PathBuf,
    schema: Schema,
    schema_toml: String,
    shape: TreeShape,
    zeros: Vec<Fr>,
    conn: Mutex<Connection>,
    len: u64,
    revoked: u64,
    root: Fr,
    /// The change this value was opened at or last committed.
    change: u64,
    pending: Pending,
    busy_timeout: std::time::Duration,
}

/// Index ranges read per query, so that a query's parameter list stays short.
const READ_CHUNK: usize = 4_096;

/// Records hashed and inserted together while building.
const BUILD_CHUNK: usize = 16_384;

/// The registry database's one row about the registry: its schema, shape,
/// counts, root and the number of its last change.
struct Header {
    schema_toml: String,
    schema_hash: String,
    arity: i64,
    depth: i64,
    records: i64,
    revoked: i64,
    root: Vec<u8>,
    change: i64,
}

impl Registry {
    /// Builds a new registry in `out`, which must not exist, from records
    /// validated against the schema in `schema_toml`.
    ///
    /// The directory is assembled under a hidden sibling name and renamed
    /// into place once complete.
    pub fn create(
        out: &Path,
        schema_toml: &str,
        shape: TreeShape,
        records: Vec<NewRecord>,
    ) -> Result<Self, RegistryError> {
        let schema = Schema::from_toml("schema.toml", schema_toml)?;
        Room::new(shape, 0).check(records.len() as u128)?;
        if let Some((position, r)) = records
            .iter()
            .enumerate()
            .find(|(_, r)| r.raw.len() != schema.fields.len())
        {
            return Err(RegistryError::FieldCount {
                position,
                expected: schema.fields.len(),
                found: r.raw.len(),
            });
        }
        if schema.unique_subject {
            let duplicates = find_duplicates(&schema, |_| None, &records);
            if !duplicates.is_empty() {
                return Err(duplicate_error(&schema, &records, duplicates));
            }
        }
        let mut builder = Builder::begin(out, schema, schema_toml, shape)?;
        for chunk in records.chunks(BUILD_CHUNK) {
            builder.push(chunk.iter().map(|r| (r.raw.as_slice(), &r.record, 0)))?;
        }
        builder.finish("build", json!({}))
    }

    /// Opens the registry in `dir`: reads its root, shape, counts and schema,
    /// and nothing else. [`check`](Self::check) verifies every leaf and node.
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        if !dir.is_dir() {
            let reason = if dir.exists() {
                "not a directory"
            } else {
                "no such directory"
            };
            return Err(RegistryError::NotARegistry {
                path: dir.to_path_buf(),
                reason: reason.into(),
            });
        }
        let db_path = dir.join(db::FILE);
        if !db_path.is_file() {
            if dir.join(store::CURRENT).is_file() {
                return Err(RegistryError::NeedsMigration {
                    dir: dir.to_path_buf(),
                });
            }
            return Err(RegistryError::NotARegistry {
                path: dir.to_path_buf(),
                reason: format!("it has no {}", db::FILE),
            });
        }
        let conn = db::open(&db_path)?;
        Self::from_connection(dir.to_path_buf(), db_path, conn)
    }

    /// Reads the registry row inside a new read snapshot.
    fn from_connection(
        dir: PathBuf,
        db_path: PathBuf,
        conn: Connection,
    ) -> Result<Self, RegistryError> {
        let err = db::error_at(&db_path);
        conn.execute_batch("BEGIN DEFERRED").map_err(&err)?;
        let row: Option<Header> = conn
            .query_row(
                "SELECT schema_toml, schema_hash, arity, depth, records, revoked, root, change FROM registry",
                [],
                |r| {
                    Ok(Header {
                        schema_toml: r.get(0)?,
                        schema_hash: r.get(1)?,
                        arity: r.get(2)?,
                        depth: r.get(3)?,
                        records: r.get(4)?,
                        revoked: r.get(5)?,
                        root: r.get(6)?,
                        change: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(&err)?;
        let damaged = |problem: String| RegistryError::Damaged {
            file: db_path.clone(),
            line: None,
            problem,
        };
        let Some(Header {
            schema_toml,
            schema_hash: hash,
            arity,
            depth,
            records,
            revoked,
            root,
            change,
        }) = row
        else {
            return Err(damaged("it holds no registry row".into()));
        };
        let schema = Schema::from_toml(&format!("{} (schema)", db_path.display()), &schema_toml)
            .map_err(|e| damaged(e.to_string()))?;
        let computed = schema_hash(&schema).to_string();
        if computed != hash {
            return Err(damaged(format!(
                "its schema has hash {computed}, not the hash {hash} recorded with it"
            )));
        }
        let shape =
            TreeShape::new(arity as usize, depth as u32).map_err(|e| damaged(e.to_string()))?;
        let root = db::from_bytes(&root)
            .ok_or_else(|| damaged("the root is not a canonical field element".into()))?;
        Ok(Self {
            dir,
            db_path,
            schema,
            schema_toml,
            zeros: shape.zero_chain(),
            shape,
            conn: Mutex::new(conn),
            len: records as u64,
            revoked: revoked as u64,
            root,
            change: change as u64,
            pending: Pending::default(),
            busy_timeout: db::BUSY_TIMEOUT,
        })
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long [`commit`](Self::commit) waits for another writer before it
    /// fails with [`RegistryError::Busy`]; 30 s unless set.
    pub fn set_busy_timeout(&mut self, timeout: std::time::Duration) -> Result<(), RegistryError> {
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        conn.busy_timeout(timeout)
            .map_err(db::error_at(&self.db_path))?;
        self.busy_timeout = timeout;
        Ok(())
    }

    /// The registry's schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The schema file's text, as stored with the registry.
    pub fn schema_toml(&self) -> &str {
        &self.schema_toml
    }

    /// The registry tree's arity and depth.
    pub fn shape(&self) -> TreeShape {
        self.shape
    }

    /// The root of the registry tree: the value the department anchors.
    pub fn root(&self) -> Fr {
        self.root
    }

    /// The number of records (leaves), revoked ones included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the registry holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of revoked records.
    pub fn revoked_count(&self) -> u64 {
        self.revoked
    }

    /// How many more records fit in the tree.
    pub fn room(&self) -> Room {
        Room::new(self.shape, self.len)
    }

    /// The changes committed so far, oldest first.
    pub fn history(&self) -> Result<Vec<Change>, RegistryError> {
        let err = db::error_at(&self.db_path);
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, time, kind, detail, records, revoked, root FROM changes ORDER BY id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, time, kind, detail, records, revoked, root) = row.map_err(&err)?;
            out.push(Change {
                id: id as u64,
                time,
                kind,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                records: records as u64,
                revoked: revoked as u64,
                root: db::from_bytes(&root).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored record at `index`, decoded, from the database.
    fn read_record(&self, conn: &Connection, index: u64) -> Result<Option<Stored>, RegistryError> {
        let err = db::error_at(&self.db_path);
        let row: Option<(String, Vec<u8>, bool)> = conn
            .prepare_cached("SELECT raw, salt, revoked FROM records WHERE idx = ?1")
            .map_err(&err)?
            .query_row([index as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(&err)?;
        row.map(|(raw, salt, revoked)| self.decode(index, &raw, &salt, revoked))
            .transpose()
    }

    /// Decodes a stored row; a row that does not decode is damage.
    fn decode(
        &self,
        index: u64,
        raw: &str,
        salt: &[u8],
        revoked: bool,
    ) -> Result<Stored, RegistryError> {
        decode_row(&self.schema, &self.db_path, index, raw, salt, revoked)
    }

    /// The record at `index` as it stands with the pending changes.
    fn stored(&self, index: u64) -> Option<Stored> {
        if let Some(s) = self.pending.records.get(&index) {
            return Some(s.clone());
        }
        if index >= self.len {
            return None;
        }
        let conn = self.conn();
        self.read_record(&conn, index)
            .unwrap_or_else(|e| panic!("Registry: {e}"))
    }

    /// Live (`revoked == false`) or revoked records of `subject`, in index
    /// order, the pending changes included.
    fn records_with(
        &self,
        subject: &Fr,
        revoked: bool,
    ) -> Result<Vec<(u64, Record)>, RegistryError> {
        let err = db::error_at(&self.db_path);
        let mut out = Vec::new();
        {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached("SELECT idx, raw, salt, revoked FROM records WHERE subject_key = ?1 AND revoked = ?2 ORDER BY idx")
                .map_err(&err)?;
            let rows = stmt
                .query_map(rusqlite::params![db::subject_key(subject), revoked], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                })
                .map_err(&err)?;
            for row in rows {
                let (index, raw, salt, is_revoked) = row.map_err(&err)?;
                let index = index as u64;
                if self.pending.records.contains_key(&index) {
                    continue;
                }
                let stored = self.decode(index, &raw, &salt, is_revoked)?;
                if stored.record.values[self.schema.subject] == *subject {
                    out.push((index, stored.record));
                }
            }
        }
        for (index, stored) in &self.pending.records {
            if stored.revoked == revoked && stored.record.values[self.schema.subject] == *subject {
                out.push((*index, stored.record.clone()));
            }
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out)
    }

    /// Indices and records of the live (not revoked) records whose subject
    /// field encodes to `subject`, in index order. A subject may own several
    /// records when the schema allows it (several parcels).
    ///
    /// # Panics
    ///
    /// If the database cannot be read or holds a record that does not
    /// decode (`zkgov registry check` names it).
    pub fn records_of(&self, subject: &Fr) -> Vec<(u64, Record)> {
        self.records_with(subject, false)
            .unwrap_or_else(|e| panic!("Registry::records_of: {e}"))
    }

    /// Whether some revoked record has the subject that encodes to `subject`.
    ///
    /// # Panics
    ///
    /// As [`records_of`](Self::records_of).
    pub fn has_revoked_records(&self, subject: &Fr) -> bool {
        !self
            .records_with(subject, true)
            .unwrap_or_else(|e| panic!("Registry::has_revoked_records: {e}"))
            .is_empty()
    }

    /// The record at `index`, revoked or not.
    pub fn record(&self, index: u64) -> Option<Record> {
        self.stored(index).map(|s| s.record)
    }

    /// The raw values of the record at `index`, in schema order.
    pub fn raw_values(&self, index: u64) -> Option<Vec<String>> {
        self.stored(index).map(|s| s.raw)
    }

    /// Whether the record at `index` is revoked (`false` past the end).
    pub fn is_revoked(&self, index: u64) -> bool {
        self.stored(index).is_some_and(|s| s.revoked)
    }

    /// The leaf at `index`: the record's hash, or 0 once it is revoked.
    pub fn leaf(&self, index: u64) -> Option<Fr> {
        (index < self.len).then(|| self.node(0, index))
    }

    /// The node at `height` and `index`, pending changes first, then the
    /// database, else the root of an empty subtree.
    fn node(&self, height: u32, index: u64) -> Fr {
        if let Some(n) = self.pending.nodes.get(&(height, index)) {
            return *n;
        }
        let conn = self.conn();
        self.read_nodes(&conn, height, &[index])
            .unwrap_or_else(|e| panic!("Registry: {e}"))
            .get(&index)
            .copied()
            .unwrap_or(self.zeros[height as usize])
    }

    /// The stored nodes at `height` among `indices` (leaves at height 0),
    /// in one query per [`READ_CHUNK`] indices.
    fn read_nodes(
        &self,
        conn: &Connection,
        height: u32,
        indices: &[u64],
    ) -> Result<HashMap<u64, Fr>, RegistryError> {
        let err = db::error_at(&self.db_path);
        let mut out = HashMap::with_capacity(indices.len());
        for chunk in indices.chunks(READ_CHUNK) {
            let list = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let sql = if height == 0 {
                format!("SELECT idx, leaf FROM records WHERE idx IN ({list})")
            } else {
                format!("SELECT idx, hash FROM nodes WHERE height = {height} AND idx IN ({list})")
            };
            let mut stmt = conn.prepare(&sql).map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .map_err(&err)?;
            for row in rows {
                let (index, bytes) = row.map_err(&err)?;
                let node = db::from_bytes(&bytes).ok_or_else(|| RegistryError::Damaged {
                    file: self.db_path.clone(),
                    line: None,
                    problem: format!(
                        "node {index} at height {height} is not a canonical field element"
                    ),
                })?;
                out.insert(index as u64, node);
            }
        }
        Ok(out)
    }

    /// The membership path of the leaf at `index`.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](Self::len). Indices from
    /// [`records_of`](Self::records_of) are always valid.
    pub fn path(&self, index: u64) -> MerklePath {
        self.paths(&[index]).remove(0)
    }

    /// The membership paths of the leaves at `indices`, read with one query
    /// per level (per [`READ_CHUNK`] siblings) for the whole batch.
    ///
    /// # Panics
    ///
    /// If an index is not below [`len`](Self::len), or the database cannot
    /// be read.
    pub fn paths(&self, indices: &[u64]) -> Vec<MerklePath> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len) {
            panic!(
                "Registry::path: {}",
                TreeError::IndexOutOfRange {
                    index: bad,
                    len: self.len
                }
            );
        }
        let arity = self.shape.arity() as u64;
        let mut levels: Vec<HashMap<u64, Fr>> = Vec::with_capacity(self.shape.depth() as usize);
        {
            let conn = self.conn();
            let mut nodes: Vec<u64> = indices.to_vec();
            for height in 0..self.shape.depth() {
                let mut wanted: Vec<u64> = nodes
                    .iter()
                    .flat_map(|&n| {
                        let first = n - n % arity;
                        first..first + arity
                    })
                    .filter(|i| !self.pending.nodes.contains_key(&(height, *i)))
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                levels.push(
                    self.read_nodes(&conn, height, &wanted)
                        .unwrap_or_else(|e| panic!("Registry::paths: {e}")),
                );
                nodes.iter_mut().for_each(|n| *n /= arity);
            }
        }
        indices
            .iter()
            .map(|&index| {
                let mut node = index;
                let siblings = (0..self.shape.depth())
                    .map(|height| {
                        let first = node - node % arity;
                        let level = &levels[height as usize];
                        let siblings = (first..first + arity)
                            .filter(|&i| i != node)
                            .map(|i| {
                                self.pending
                                    .nodes
                                    .get(&(height, i))
                                    .or_else(|| level.get(&i))
                                    .copied()
                                    .unwrap_or(self.zeros[height as usize])
                            })
                            .collect();
                        node /= arity;
                        siblings
                    })
                    .collect();
                MerklePath { index, siblings }
            })
            .collect()
    }

    /// Recomputes the nodes above the leaves `dirty`, level by level, each
    /// level's parents hashed in parallel, and the root.
    fn rehash(&mut self, dirty: impl IntoIterator<Item = u64>) {
        let arity = self.shape.arity() as u64;
        let mut dirty: BTreeSet<u64> = dirty.into_iter().collect();
        for height in 0..self.shape.depth() {
            let parents: BTreeSet<u64> = dirty.iter().map(|i| i / arity).collect();
            let wanted: Vec<u64> = parents
                .iter()
                .flat_map(|p| p * arity..(p + 1) * arity)
                .filter(|i| !self.pending.nodes.contains_key(&(height, *i)))
                .collect();
            let stored = {
                let conn = self.conn();
                self.read_nodes(&conn, height, &wanted)
                    .unwrap_or_else(|e| panic!("Registry: {e}"))
            };
            let zero = self.zeros[height as usize];
            let children: Vec<(u64, Vec<Fr>)> = parents
                .iter()
                .map(|&p| {
                    let children = (p * arity..(p + 1) * arity)
                        .map(|i| {
                            self.pending
                                .nodes
                                .get(&(height, i))
                                .or_else(|| stored.get(&i))
                                .copied()
                                .unwrap_or(zero)
                        })
                        .collect();
                    (p, children)
                })
                .collect();
            let hashed: Vec<(u64, Fr)> = children
                .par_iter()
                .map(|(p, c)| (*p, poseidon::hash(c).expect("arity ≤ 16")))
                .collect();
            for (p, h) in hashed {
                self.pending.nodes.insert((height + 1, p), h);
            }
            dirty = parents;
        }
        self.root = if self.len == 0 {
            self.zeros[self.shape.depth() as usize]
        } else {
            self.pending
                .nodes
                .get(&(self.shape.depth(), 0))
                .copied()
                .unwrap_or(self.root)
        };
    }

    /// Appends records at the next indices and returns those indices.
    ///
    /// When the schema declares subjects unique, a record whose subject
    /// already owns a live record, or that repeats an earlier record's
    /// subject, fails with [`RegistryError::DuplicateSubjects`].
    pub fn add(&mut self, records: Vec<NewRecord>) -> Result<Range<u64>, RegistryError> {
        self.room().check(records.len() as u128)?;
        self.check_field_counts(&records)?;
        if self.schema.unique_subject {
            let duplicates = find_duplicates(&self.schema, |s| self.live_owner(s), &records);
            if !duplicates.is_empty() {
                return Err(duplicate_error(&self.schema, &records, duplicates));
            }
        }
        let start = self.len;
        let leaves: Vec<Fr> = records
            .par_iter()
            .map(|r| self.schema.leaf(&r.record))
            .collect();
        for (offset, (record, leaf)) in records.into_iter().zip(leaves).enumerate() {
            let index = start + offset as u64;
            self.pending.nodes.insert((0, index), leaf);
            self.pending.records.insert(
                index,
                Stored {
                    raw: record.raw,
                    record: record.record,
                    revoked: false,
                },
            );
        }
        self.len = start + self.pending.records.range(start..).count() as u64;
        if self.len > start {
            self.pending.added_from.get_or_insert(start);
        }
        self.rehash(start..self.len);
        Ok(start..self.len)
    }

    /// Appends the records of `file`, as [`add`](Self::add) does, naming a
    /// duplicated subject by its row: a [`RegistryError::BadRows`].
    pub fn add_rows(&mut self, file: RecordsFile) -> Result<Range<u64>, RegistryError> {
        if self.schema.unique_subject {
            file.check_unique_subjects(&self.schema, |s| self.live_owner(s))?;
        }
        self.add(file.into_records())
    }

    /// The first live record of `subject`, if any.
    fn live_owner(&self, subject: &Fr) -> Option<u64> {
        self.records_of(subject).first().map(|(i, _)| *i)
    }

    /// Replaces the live record at `index`. The new record may have another
    /// subject (a parcel that changed hands).
    pub fn modify(&mut self, index: u64, record: NewRecord) -> Result<(), RegistryError> {
        self.check_live(index)?;
        self.check_field_counts([&record])?;
        self.replace(index, record);
        self.rehash([index]);
        Ok(())
    }

    /// Replaces, for each row of `file`, the one live record with the row's
    /// subject, and returns the indices changed, in row order. A row whose
    /// subject owns no live record or several, or that names the same
    /// record as an earlier row, is a bad row. Nothing changes unless every
    /// row is good.
    pub fn modify_by_subject(&mut self, file: RecordsFile) -> Result<Vec<u64>, RegistryError> {
        self.check_field_counts(file.rows.iter().map(|r| &r.record))?;
        let subject_field = &self.schema.fields[self.schema.subject];
        let mut targets = Vec::with_capacity(file.rows.len());
        let mut first_row: HashMap<u64, u64> = HashMap::new();
        let mut bad = Vec::new();
        for row in &file.rows {
            let subject = row.record.record.values[self.schema.subject];
            let owned: Vec<u64> = self
                .records_of(&subject)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            let problem = match owned.as_slice() {
                [] => Some("no live record has this subject".to_string()),
                [index] => match first_row.insert(*index, row.row) {
                    Some(earlier) => Some(format!(
                        "record {index} is already modified by row {earlier} of this file"
                    )),
                    None => {
                        targets.push(*index);
                        None
                    }
                },
                several => Some(format!(
                    "the subject owns {} live records (indices {}); modify one of them by its index",
                    several.len(),
                    join(several)
                )),
            };
            if let Some(reason) = problem {
                bad.push(BadRow {
                    row: row.row,
                    line: row.line,
                    field: Some(subject_field.name.clone()),
                    value: shorten(&row.record.raw[self.schema.subject]),
                    reason,
                });
            }
        }
        if !bad.is_empty() {
            return Err(RegistryError::BadRows {
                file: file.path,
                format: file.format,
                rows: bad,
            });
        }
        for (index, row) in targets.iter().zip(file.rows) {
            self.replace(*index, row.record);
        }
        self.rehash(targets.iter().copied());
        Ok(targets)
    }

    /// Makes the live records those of `file`, by subject, as one change:
    /// a row whose subject owns no live record is added; a row whose
    /// subject's live record has other raw values replaces it (with the
    /// row's salt, or a fresh one); a live record whose subject no row has
    /// is revoked. Raw values are compared, not salts, so a source without
    /// a `salt` column does not modify every record. Returns what changed;
    /// nothing changes when nothing differs, or on any error.
    ///
    /// Needs a schema with unique subjects
    /// ([`RegistryError::SyncNeedsUniqueSubjects`]). A subject given by two
    /// rows is a [`RegistryError::BadRows`].
    pub fn sync(&mut self, file: RecordsFile) -> Result<SyncReport, RegistryError> {
        if !self.schema.unique_subject {
            return Err(RegistryError::SyncNeedsUniqueSubjects {
                schema: self.schema.name.clone(),
            });
        }
        self.check_field_counts(file.rows.iter().map(|r| &r.record))?;
        file.check_unique_subjects(&self.schema, |_| None)?;
        let live = self.live_digests()?;
        let subject = self.schema.subject;
        let mut matched = HashSet::new();
        let (mut added, mut modified) = (Vec::new(), Vec::new());
        for row in file.rows {
            match live.get(&row.record.record.values[subject]) {
                None => added.push(row.record),
                Some((index, digest)) => {
                    matched.insert(*index);
                    if raw_digest(&row.record.raw) != *digest {
                        modified.push((*index, row.record));
                    }
                }
            }
        }
        let mut revoked: Vec<u64> = live
            .values()
            .map(|(index, _)| *index)
            .filter(|index| !matched.contains(index))
            .collect();
        revoked.sort_unstable();
        modified.sort_by_key(|(index, _)| *index);
        self.room().check(added.len() as u128)?;
        let modified: Vec<u64> = modified
            .into_iter()
            .map(|(index, record)| {
                self.replace(index, record);
                index
            })
            .collect();
        for &index in &revoked {
            self.revoke_unhashed(index)?;
        }
        self.rehash(modified.iter().chain(&revoked).copied());
        let added = if added.is_empty() {
            self.len..self.len
        } else {
            self.add(added)?
        };
        Ok(SyncReport {
            added,
            modified,
            revoked,
        })
    }

    /// Every live record's subject, with its index and the digest of its
    /// raw values, the pending changes included.
    fn live_digests(&self) -> Result<HashMap<Fr, (u64, Digest32)>, RegistryError> {
        let err = db::error_at(&self.db_path);
        let mut out = HashMap::new();
        {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT idx, raw, salt FROM records WHERE revoked = 0")
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(&err)?;
            for row in rows {
                let (index, raw, salt) = row.map_err(&err)?;
                let index = index as u64;
                if self.pending.records.contains_key(&index) {
                    continue;
                }
                let stored = self.decode(index, &raw, &salt, false)?;
                out.insert(
                    stored.record.values[self.schema.subject],
                    (index, raw_digest(&stored.raw)),
                );
            }
        }
        for (index, stored) in &self.pending.records {
            if !stored.revoked {
                out.insert(
                    stored.record.values[self.schema.subject],
                    (*index, raw_digest(&stored.raw)),
                );
            }
        }
        Ok(out)
    }

    /// Revokes the live record at `index`: its leaf becomes 0, the empty leaf.
    pub fn revoke(&mut self, index: u64) -> Result<(), RegistryError> {
        self.revoke_unhashed(index)?;
        self.rehash([index]);
        Ok(())
    }

    fn revoke_unhashed(&mut self, index: u64) -> Result<(), RegistryError> {
        let mut stored = self.check_live(index)?;
        stored.revoked = true;
        self.pending.records.insert(index, stored);
        self.pending.nodes.insert((0, index), Fr::zero());
        self.pending.revoked.push(index);
        self.revoked += 1;
        Ok(())
    }

    /// Revokes, for each subject (a raw value of the subject field), the one
    /// live record it owns, and returns the indices revoked. A subject that
    /// owns no live record or several, or that is given twice, is an error.
    /// Nothing changes unless every subject is good.
    pub fn revoke_subjects(&mut self, subjects: &[String]) -> Result<Vec<u64>, RegistryError> {
        let field = &self.schema.fields[self.schema.subject];
        let mut targets = Vec::with_capacity(subjects.len());
        let mut bad = Vec::new();
        for (i, raw) in subjects.iter().enumerate() {
            let problem = match field.ty.encode(&field.name, raw) {
                Err(e) => Some(e.to_string()),
                Ok(_) if subjects[..i].contains(raw) => Some("given twice".to_string()),
                Ok(subject) => {
                    let owned: Vec<u64> = self
                        .records_of(&subject)
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect();
                    match owned.as_slice() {
                        [] => Some("no live record has this subject".to_string()),
                        [index] => {
                            targets.push(*index);
                            None
                        }
                        several => Some(format!(
                            "the subject owns {} live records (indices {}); revoke them by index",
                            several.len(),
                            join(several)
                        )),
                    }
                }
            };
            if let Some(reason) = problem {
                bad.push(BadSubject {
                    subject: shorten(raw),
                    reason,
                });
            }
        }
        if !bad.is_empty() {
            return Err(RegistryError::BadSubjects { subjects: bad });
        }
        for &index in &targets {
            self.revoke_unhashed(index)?;
        }
        self.rehash(targets.iter().copied());
        Ok(targets)
    }

    /// Stores the pending changes in one transaction, with a change in the
    /// history. Waits up to 30 s for another writer
    /// ([`RegistryError::Busy`] after that).
    ///
    /// Fails with [`RegistryError::Conflict`] if another writer committed
    /// since this registry was opened; the registry on disk is then left
    /// as that writer made it.
    pub fn commit(&mut self) -> Result<(), RegistryError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let err = db::error_at(&self.db_path);
        let pending = std::mem::take(&mut self.pending);
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        // End the read snapshot; the write transaction takes a new one.
        if !conn.is_autocommit() {
            conn.execute_batch("COMMIT").map_err(&err)?;
        }
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(&err)?;
            let found: i64 = tx
                .query_row("SELECT change FROM registry", [], |r| r.get(0))
                .map_err(&err)?;
            if found as u64 != self.change {
                return Err(RegistryError::Conflict {
                    dir: self.dir.clone(),
                    opened: self.change,
                    found: found as u64,
                });
            }
            {
                let mut put = tx
                    .prepare_cached("INSERT OR REPLACE INTO records (idx, subject_key, raw, salt, revoked, leaf) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                    .map_err(&err)?;
                for (index, stored) in &pending.records {
                    let leaf = pending.nodes.get(&(0, *index)).copied().unwrap_or_default();
                    put.execute(rusqlite::params![
                        *index as i64,
                        db::subject_key(&stored.record.values[self.schema.subject]),
                        serde_json::to_string(&stored.raw).expect("strings serialize"),
                        db::to_bytes(&stored.record.salt).as_slice(),
                        stored.revoked,
                        db::to_bytes(&leaf).as_slice(),
                    ])
                    .map_err(&err)?;
                }
                let mut put = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO nodes (height, idx, hash) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(&err)?;
                for ((height, index), hash) in &pending.nodes {
                    if *height > 0 {
                        put.execute(rusqlite::params![
                            *height,
                            *index as i64,
                            db::to_bytes(hash).as_slice()
                        ])
                        .map_err(&err)?;
                    }
                }
            }
            let mut detail = serde_json::Map::new();
            if let Some(from) = pending.added_from {
                detail.insert("added".into(), json!([from, self.len]));
            }
            if !pending.modified.is_empty() {
                detail.insert("modified".into(), json!(pending.modified));
            }
            if !pending.revoked.is_empty() {
                detail.insert("revoked".into(), json!(pending.revoked));
            }
            let next = found as u64 + 1;
            record_change(
                &tx,
                &err,
                next,
                "update",
                &serde_json::Value::Object(detail),
                self.len,
                self.revoked,
                &self.root,
            )?;
            tx.commit().map_err(&err)?;
            Ok(next)
        })();
        let reopened = conn.execute_batch("BEGIN DEFERRED").map_err(&err);
        let waited = self.busy_timeout;
        let next = result.map_err(|e| match e {
            RegistryError::Busy { path, .. } => RegistryError::Busy { path, waited },
            other => other,
        })?;
        reopened?;
        self.change = next;
        Ok(())
    }

    /// Re-derives every leaf from its record and every node from its
    /// children, and compares each with what is stored, in index order, then
    /// the root and the counts. Reads the committed state, in chunks.
    ///
    /// Fails with [`RegistryError::CheckFailed`] naming the first leaf, node
    /// or count that disagrees.
    pub fn check(&self) -> Result<CheckReport, RegistryError> {
        let err = db::error_at(&self.db_path);
        let conn = self.conn();
        let failed = |item: String, problem: String| RegistryError::CheckFailed {
            dir: self.dir.clone(),
            item,
            problem,
        };
        let len: i64 = conn
            .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
            .map_err(&err)?;
        let (meta_len, meta_revoked, meta_root): (i64, i64, Vec<u8>) = conn
            .query_row("SELECT records, revoked, root FROM registry", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(&err)?;
        if len != meta_len {
            return Err(failed(
                "record count".into(),
                format!("{len} records stored, but the registry row says {meta_len}"),
            ));
        }
        let len = len as u64;
        let mut revoked = 0u64;
        let mut start = 0u64;
        while start < len {
            let end = (start + BUILD_CHUNK as u64).min(len);
            let mut stmt = conn
                .prepare_cached("SELECT idx, subject_key, raw, salt, revoked, leaf FROM records WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
                .map_err(&err)?;
            let rows: Vec<RecordRow> = stmt
                .query_map([start as i64, end as i64], |r| {
                    Ok(RecordRow {
                        idx: r.get(0)?,
                        subject_key: r.get(1)?,
                        raw: r.get(2)?,
                        salt: r.get(3)?,
                        revoked: r.get(4)?,
                        leaf: r.get(5)?,
                    })
                })
                .map_err(&err)?
                .collect::<Result<_, _>>()
                .map_err(&err)?;
            let problems: Vec<Option<(u64, String)>> = rows
                .par_iter()
                .enumerate()
                .map(|(offset, row)| {
                    let expected = start + offset as u64;
                    if row.idx as u64 != expected {
                        return Some((expected, format!("record {expected} is missing")));
                    }
                    let stored = match decode_row(
                        &self.schema,
                        &self.db_path,
                        expected,
                        &row.raw,
                        &row.salt,
                        row.revoked,
                    ) {
                        Ok(s) => s,
                        Err(e) => return Some((expected, e.to_string())),
                    };
                    let subject = stored.record.values[self.schema.subject];
                    if db::subject_key(&subject) != row.subject_key {
                        return Some((expected, "its subject key is not its subject's".into()));
                    }
                    let computed = if row.revoked {
                        Fr::zero()
                    } else {
                        self.schema.leaf(&stored.record)
                    };
                    match db::from_bytes(&row.leaf) {
                        Some(l) if l == computed => None,
                        Some(l) => Some((
                            expected,
                            format!(
                                "stored leaf {}, but its record hashes to {}",
                                to_decimal(&l),
                                to_decimal(&computed)
                            ),
                        )),
                        None => Some((
                            expected,
                            "the stored leaf is not a canonical field element".into(),
                        )),
                    }
                })
                .collect();
            if rows.len() as u64 != end - start {
                let present: HashSet<u64> = rows.iter().map(|r| r.idx as u64).collect();
                let missing = (start..end).find(|i| !present.contains(i)).expect("a gap");
                return Err(failed(format!("record {missing}"), "missing".into()));
            }
            if let Some((index, problem)) = problems.into_iter().flatten().next() {
                return Err(failed(format!("leaf {index}"), problem));
            }
            revoked += rows.iter().filter(|r| r.revoked).count() as u64;
            start = end;
        }
        if revoked != meta_revoked as u64 {
            return Err(failed(
                "revoked count".into(),
                format!("{revoked} records are revoked, but the registry row says {meta_revoked}"),
            ));
        }
        let arity = self.shape.arity() as u64;
        let mut count = len;
        for height in 0..self.shape.depth() {
            let parents = count.div_ceil(arity);
            let stored_count: i64 = conn
                .query_row(
                    "SELECT count(*) FROM nodes WHERE height = ?1",
                    [height + 1],
                    |r| r.get(0),
                )
                .map_err(&err)?;
            if stored_count as u64 != parents {
                return Err(failed(
                    format!("height {}", height + 1),
                    format!("{stored_count} nodes stored, but {len} records make {parents}"),
                ));
            }
            let zero = self.zeros[height as usize];
            let mut p = 0u64;
            while p < parents {
                let end = (p + BUILD_CHUNK as u64).min(parents);
                let children = read_level(
                    &conn,
                    &self.db_path,
                    height,
                    p * arity,
                    (end * arity).min(count),
                )?;
                let above = read_level(&conn, &self.db_path, height + 1, p, end)?;
                let computed: Vec<Fr> = children
                    .par_chunks(arity as usize)
                    .map(|c| {
                        let mut c = c.to_vec();
                        c.resize(arity as usize, zero);
                        poseidon::hash(&c).expect("arity ≤ 16")
                    })
                    .collect();
                if let Some((offset, (s, c))) = above
                    .iter()
                    .zip(&computed)
                    .enumerate()
                    .find(|(_, (s, c))| s != c)
                {
                    return Err(failed(
                        format!("node {} at height {}", p + offset as u64, height + 1),
                        format!(
                            "stored {}, but its children hash to {}",
                            to_decimal(s),
                            to_decimal(c)
                        ),
                    ));
                }
                p = end;
            }
            count = parents;
        }
        let top = if len == 0 {
            self.zeros[self.shape.depth() as usize]
        } else {
            read_level(&conn, &self.db_path, self.shape.depth(), 0, 1)?[0]
        };
        if db::from_bytes(&meta_root) != Some(top) {
            return Err(failed(
                "root".into(),
                format!(
                    "the registry row's root is not the tree's root {}",
                    to_decimal(&top)
                ),
            ));
        }
        Ok(CheckReport {
            records: len,
            revoked,
            root: top,
        })
    }

    fn check_live(&self, index: u64) -> Result<Stored, RegistryError> {
        match self.stored(index) {
            None => Err(RegistryError::NoSuchRecord {
                index,
                len: self.len(),
            }),
            Some(s) if s.revoked => Err(RegistryError::Revoked { index }),
            Some(s) => Ok(s),
        }
    }

    fn check_field_counts<'a>(
        &self,
        records: impl IntoIterator<Item = &'a NewRecord>,
    ) -> Result<(), RegistryError> {
        let expected = self.schema.fields.len();
        match records
            .into_iter()
            .enumerate()
            .find(|(_, r)| r.raw.len() != expected)
        {
            Some((position, r)) => Err(RegistryError::FieldCount {
                position,
                expected,
                found: r.raw.len(),
            }),
            None => Ok(()),
        }
    }

    /// Replaces a live record, checked by the caller; the caller rehashes.
    fn replace(&mut self, index: u64, record: NewRecord) {
        let leaf = self.schema.leaf(&record.record);
        self.pending.records.insert(
            index,
            Stored {
                raw: record.raw,
                record: record.record,
                revoked: false,
            },
        );
        self.pending.nodes.insert((0, index), leaf);
        self.pending.modified.push(index);
    }
}

/// What [`Registry::sync`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The indices of the records added.
    pub added: Range<u64>,
    /// The indices of the records modified, in order.
    pub modified: Vec<u64>,
    /// The indices of the records revoked, in order.
    pub revoked: Vec<u64>,
}

impl SyncReport {
    /// Whether the source and the registry did not differ.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.revoked.is_empty()
    }
}

/// The digest of a record's raw values, to tell whether they changed.
fn raw_digest(raw: &[String]) -> Digest32 {
    Digest32::of(
        serde_json::to_string(raw)
            .expect("strings serialize")
            .as_bytes(),
    )
}

/// What [`Registry::check`] verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Records checked, revoked ones included.
    pub records: u64,
    /// Revoked records.
    pub revoked: u64,
    /// The root, recomputed.
    pub root: Fr,
}

/// One committed change of a registry: its root history.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// 1 for the build (or the migration), then one more per commit.
    pub id: u64,
    /// When it was committed, RFC 3339 UTC.
    pub time: String,
    /// `build`, `migrate` or `update`.
    pub kind: String,
    /// Which records changed: `added` `[from, to)`, `modified`, `revoked`
    /// (indices); for a migration, the `state` it came from.
    pub detail: serde_json::Value,
    /// Records after the change.
    pub records: u64,
    /// Revoked records after the change.
    pub revoked: u64,
    /// The root after the change.
    pub root: Fr,
}

/// Decodes one stored record row.
fn decode_row(
    schema: &Schema,
    db_path: &Path,
    index: u64,
    raw: &str,
    salt: &[u8],
    revoked: bool,
) -> Result<Stored, RegistryError> {
    let damaged = |problem: String| RegistryError::Damaged {
        file: db_path.to_path_buf(),
        line: None,
        problem: format!("record {index}: {problem}"),
    };
    let raw: Vec<String> =
        serde_json::from_str(raw).map_err(|e| damaged(format!("raw values: {e}")))?;
    if raw.len() != schema.fields.len() {
        return Err(damaged(format!(
            "{} raw values, but the schema has {} fields",
            raw.len(),
            schema.fields.len()
        )));
    }
    let values = schema
        .fields
        .iter()
        .zip(&raw)
        .map(|(f, v)| f.ty.encode(&f.name, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| damaged(e.to_string()))?;
    let salt = db::from_bytes(salt)
        .ok_or_else(|| damaged("the salt is not a canonical field element".into()))?;
    Ok(Stored {
        raw,
        record: Record { values, salt },
        revoked,
    })
}

/// The stored nodes `[from, to)` at `height` (leaves at height 0), in order.
fn read_level(
    conn: &Connection,
    db_path: &Path,
    height: u32,
    from: u64,
    to: u64,
) -> Result<Vec<Fr>, RegistryError> {
    let err = db::error_at(db_path);
    let mut stmt = if height == 0 {
        conn.prepare_cached(
            "SELECT idx, leaf FROM records WHERE idx >= ?2 AND idx < ?3 AND ?1 = 0 ORDER BY idx",
        )
    } else {
        conn.prepare_cached(
            "SELECT idx, hash FROM nodes WHERE height = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
        )
    }
    .map_err(&err)?;
    let rows = stmt
        .query_map(rusqlite::params![height, from as i64, to as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(&err)?;
    let mut out = Vec::with_capacity((to - from) as usize);
    for (expected, row) in (from..to).zip(rows) {
        let (index, bytes) = row.map_err(&err)?;
        let damaged = |problem: &str| RegistryError::Damaged {
            file: db_path.to_path_buf(),
            line: None,
            problem: format!("node {expected} at height {height} {problem}"),
        };
        if index as u64 != expected {
            return Err(damaged("is missing"));
        }
        out.push(
            db::from_bytes(&bytes).ok_or_else(|| damaged("is not a canonical field element"))?,
        );
    }
    if (out.len() as u64) < to - from {
        return Err(RegistryError::Damaged {
            file: db_path.to_path_buf(),
            line: None,
            problem: format!(
                "node {} at height {height} is missing",
                from + out.len() as u64
            ),
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn record_change(
    conn: &Connection,
    err: &impl Fn(rusqlite::Error) -> RegistryError,
    id: u64,
    kind: &str,
    detail: &serde_json::Value,
    records: u64,
    revoked: u64,
    root: &Fr,
) -> Result<(), RegistryError> {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    conn.execute(
        "INSERT INTO changes (id, time, kind, detail, records, revoked, root) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![id as i64, time, kind, detail.to_string(), records as i64, revoked as i64, db::to_bytes(root).as_slice()],
    )
    .map_err(err)?;
    conn.execute(
        "UPDATE registry SET records = ?1, revoked = ?2, root = ?3, change = ?4",
        rusqlite::params![
            records as i64,
            revoked as i64,
            db::to_bytes(root).as_slice(),
            id as i64
        ],
    )
    .map_err(err)?;
    Ok(())
}

/// A registry database being built: records are inserted chunk by chunk,
/// then the tree is hashed level by level from the stored level below, so
/// memory stays bounded by the chunk, whatever the registry's size.
///
/// The database is built in a hidden directory beside `out`, without a
/// journal (a failed build is thrown away whole), then switched to WAL,
/// synced and renamed into place.
struct Builder {
    out: PathBuf,
    /// For a migration: the existing directory the database file moves into.
    into_dir: Option<PathBuf>,
    staging: PathBuf,
    db_path: PathBuf,
    conn: Connection,
    schema: Schema,
    schema_toml: String,
    shape: TreeShape,
    len: u64,
    revoked: u64,
}

impl Builder {
    fn begin(
        out: &Path,
        schema: Schema,
        schema_toml: &str,
        shape: TreeShape,
    ) -> Result<Self, RegistryError> {
        if out.exists() {
            return Err(RegistryError::AlreadyExists {
                path: out.to_path_buf(),
            });
        }
        let name = out
            .file_name()
            .ok_or_else(|| RegistryError::Io {
                path: out.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory name"),
            })?
            .to_string_lossy()
            .into_owned();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_at(&parent))?;
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_at(&staging))?;
        }
        db::create_private_dir(&staging)?;
        let db_path = staging.join(db::FILE);
        let conn = db::create(&db_path)?;
        let err = db::error_at(&db_path);
        // No journal while building: the staging directory is discarded on
        // any failure, so there is nothing to roll back to.
        conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536; BEGIN;")
            .map_err(&err)?;
        Ok(Self {
            out: out.to_path_buf(),
            into_dir: None,
            staging,
            db_path,
            conn,
            schema,
            schema_toml: schema_toml.to_owned(),
            shape,
            len: 0,
            revoked: 0,
        })
    }

    /// Inserts records (raw values, encoding, revoked flag) at the next indices.
    fn push<'a>(
        &mut self,
        records: impl Iterator<Item = (&'a [String], &'a Record, u8)>,
    ) -> Result<(), RegistryError> {
        let records: Vec<_> = records.collect();
        Room::new(self.shape, self.len).check(records.len() as u128)?;
        let schema = &self.schema;
        let rows: Vec<NewRow> = records
            .par_iter()
            .map(|(raw, record, revoked)| {
                let leaf = if *revoked != 0 {
                    Fr::zero()
                } else {
                    schema.leaf(record)
                };
                NewRow {
                    subject_key: db::subject_key(&record.values[schema.subject]),
                    raw: serde_json::to_string(raw).expect("strings serialize"),
                    salt: db::to_bytes(&record.salt),
                    revoked: *revoked != 0,
                    leaf: db::to_bytes(&leaf),
                }
            })
            .collect();
        let err = db::error_at(&self.db_path);
        let mut put = self
            .conn
            .prepare_cached("INSERT INTO records (idx, subject_key, raw, salt, revoked, leaf) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(&err)?;
        for row in rows {
            put.execute(rusqlite::params![
                self.len as i64,
                row.subject_key,
                row.raw,
                row.salt.as_slice(),
                row.revoked,
                row.leaf.as_slice()
            ])
            .map_err(&err)?;
            self.len += 1;
            self.revoked += u64::from(row.revoked);
        }
        Ok(())
    }

    /// Refuses records whose subject repeats an earlier record's, as bad
    /// rows numbered by `lines` (each record's row and line).
    fn check_unique(
        &self,
        path: &Path,
        format: RecordFormat,
        lines: &[(u64, u64)],
    ) -> Result<(), RegistryError> {
        let err = db::error_at(&self.db_path);
        let mut stmt = self
            .conn
            .prepare("SELECT idx, raw, salt FROM records WHERE subject_key IN (SELECT subject_key FROM records GROUP BY subject_key HAVING count(*) > 1) ORDER BY idx")
            .map_err(&err)?;
        let rows: Vec<(i64, String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        let mut first: HashMap<Fr, u64> = HashMap::new();
        let mut bad = Vec::new();
        let subject_field = &self.schema.fields[self.schema.subject];
        for (index, raw, salt) in rows {
            let index = index as u64;
            let stored = decode_row(&self.schema, &self.db_path, index, &raw, &salt, false)?;
            let subject = stored.record.values[self.schema.subject];
            match first.get(&subject) {
                None => {
                    first.insert(subject, index);
                }
                Some(&earlier) => {
                    let (row, line) = lines[index as usize];
                    bad.push(BadRow {
                        row,
                        line,
                        field: Some(subject_field.name.clone()),
                        value: shorten(&stored.raw[self.schema.subject]),
                        reason: SubjectOwner::Earlier(earlier as usize).reason(|p| {
                            let (row, line) = lines[p];
                            match format {
                                RecordFormat::Csv | RecordFormat::Table => format!("row {row}"),
                                RecordFormat::JsonLines => format!("line {line}"),
                            }
                        }),
                    });
                }
            }
        }
        if bad.is_empty() {
            return Ok(());
        }
        bad.sort_by_key(|b| b.row);
        Err(RegistryError::BadRows {
            file: path.to_path_buf(),
            format,
            rows: bad,
        })
    }

    /// Hashes the tree, records the registry row and the first change, and
    /// moves the database into place.
    fn finish(self, kind: &str, detail: serde_json::Value) -> Result<Registry, RegistryError> {
        let staging = self.staging.clone();
        let result = self.finish_inner(kind, detail);
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        let (out, db_path) = result?;
        let conn = db::open(&db_path)?;
        Registry::from_connection(out, db_path, conn)
    }

    fn finish_inner(
        self,
        kind: &str,
        detail: serde_json::Value,
    ) -> Result<(PathBuf, PathBuf), RegistryError> {
        self.hash_tree(kind, detail)?;
        let Builder {
            out,
            into_dir,
            staging,
            db_path,
            conn,
            ..
        } = self;
        // Closed before the rename: SQLite names its WAL after the path.
        conn.close().map_err(|(_, e)| db::error_at(&db_path)(e))?;
        db::sync(&db_path)?;
        db::sync(&staging)?;
        if let Some(dir) = into_dir {
            let target = dir.join(db::FILE);
            if target.exists() {
                return Err(RegistryError::AlreadyExists { path: target });
            }
            fs::rename(&db_path, &target).map_err(io_at(&target))?;
            db::sync(&dir)?;
            let _ = fs::remove_dir_all(&staging);
            return Ok((dir, target));
        }
        if out.exists() {
            return Err(RegistryError::AlreadyExists { path: out });
        }
        fs::rename(&staging, &out).map_err(io_at(&out))?;
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            db::sync(parent)?;
        }
        let db_path = out.join(db::FILE);
        Ok((out, db_path))
    }

    fn hash_tree(&self, kind: &str, detail: serde_json::Value) -> Result<(), RegistryError> {
        let err = db::error_at(&self.db_path);
        let arity = self.shape.arity() as u64;
        let zeros = self.shape.zero_chain();
        let mut count = self.len;
        let mut root = zeros[self.shape.depth() as usize];
        {
            let mut put = self
                .conn
                .prepare_cached("INSERT INTO nodes (height, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(&err)?;
            for height in 0..self.shape.depth() {
                let parents = count.div_ceil(arity);
                let mut p = 0u64;
                while p < parents {
                    let end = (p + BUILD_CHUNK as u64).min(parents);
                    let children = read_level(
                        &self.conn,
                        &self.db_path,
                        height,
                        p * arity,
                        (end * arity).min(count),
                    )?;
                    let zero = zeros[height as usize];
                    let hashed: Vec<Fr> = children
                        .par_chunks(arity as usize)
                        .map(|c| {
                            if c.len() == arity as usize {
                                poseidon::hash(c).expect("arity ≤ 16")
                            } else {
                                let mut c = c.to_vec();
                                c.resize(arity as usize, zero);
                                poseidon::hash(&c).expect("arity ≤ 16")
                            }
                        })
                        .collect();
                    for (offset, h) in hashed.iter().enumerate() {
                        put.execute(rusqlite::params![
                            height + 1,
                            (p + offset as u64) as i64,
                            db::to_bytes(h).as_slice()
                        ])
                        .map_err(&err)?;
                    }
                    if height + 1 == self.shape.depth() {
                        root = hashed[0];
                    }
                    p = end;
                }
                count = parents;
            }
        }
        self.conn
            .execute(
                "INSERT INTO registry (id, schema_toml, schema_hash, arity, depth, records, revoked, root, change) VALUES (1, ?1, ?2, ?3, ?4, 0, 0, ?5, 0)",
                rusqlite::params![self.schema_toml, schema_hash(&self.schema).to_string(), arity as i64, self.shape.depth(), db::to_bytes(&root).as_slice()],
            )
            .map_err(&err)?;
        record_change(
            &self.conn,
            &err,
            1,
            kind,
            &detail,
            self.len,
            self.revoked,
            &root,
        )?;
        self.conn
            .execute_batch("COMMIT; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(&err)?;
        Ok(())
    }
}

/// The records whose subject is owned already, by a live record
/// (`live_owner`) or by an earlier record of `records`, with their owner.
fn find_duplicates(
    schema: &Schema,
    live_owner: impl Fn(&Fr) -> Option<u64>,
    records: &[NewRecord],
) -> Vec<(usize, SubjectOwner)> {
    let mut first: HashMap<Fr, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (position, record) in records.iter().enumerate() {
        let subject = record.record.values[schema.subject];
        if let Some(index) = live_owner(&subject) {
            duplicates.push((position, SubjectOwner::Record(index)));
        } else if let Some(earlier) = first.insert(subject, position) {
            first.insert(subject, earlier);
            duplicates.push((position, SubjectOwner::Earlier(earlier)));
        }
    }
    duplicates
}

fn duplicate_error(
    schema: &Schema,
    records: &[NewRecord],
    found: Vec<(usize, SubjectOwner)>,
) -> RegistryError {
    RegistryError::DuplicateSubjects {
        duplicates: found
            .into_iter()
            .map(|(position, owner)| DuplicateSubject {
                position,
                subject: shorten(&records[position].raw[schema.subject]),
                owner,
            })
            .collect(),
    }
}

fn join(indices: &[u64]) -> String {
    indices
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordFormat::Csv => "CSV",
            RecordFormat::JsonLines => "JSON Lines",
            RecordFormat::Table => "query",
        })
    }
}

/// Reads a schema file; errors name the file.
pub fn read_schema(path: &Path) -> Result<(Schema, String), RegistryError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    let schema = Schema::from_toml(&path.display().to_string(), &text)?;
    Ok((schema, text))
}

/// Builds a registry in `out` from the schema file and the records file:
/// what `zkgov registry build` does. `format` is taken from the records
/// file's extension when `None`. The records stream into the database as
/// they are validated; a bad row, a duplicated subject (when the schema
/// declares subjects unique) or too many records leave nothing behind.
pub fn build(
    schema_path: &Path,
    records_path: &Path,
    format: Option<RecordFormat>,
    shape: TreeShape,
    out: &Path,
) -> Result<Registry, RegistryError> {
    let source = RecordsSource::File {
        path: records_path,
        format,
    };
    build_from(schema_path, source, shape, out)
}

/// Builds a registry in `out` as [`build`] does, from a records file or
/// the rows of a database query.
pub fn build_from(
    schema_path: &Path,
    source: RecordsSource<'_>,
    shape: TreeShape,
    out: &Path,
) -> Result<Registry, RegistryError> {
    let records_path = source.name();
    let records_path = records_path.as_path();
    let (schema, schema_toml) = read_schema(schema_path)?;
    let mut builder = Builder::begin(out, schema.clone(), &schema_toml, shape)?;
    let staging = builder.staging.clone();
    let result = (|| {
        let unique = schema.unique_subject;
        let mut lines: Vec<(u64, u64)> = Vec::new();
        let (_, format) =
            RecordsFile::stream_source(&schema, source, Room::new(shape, 0), &mut |rows| {
                if unique {
                    lines.extend(rows.iter().map(|r| (r.row, r.line)));
                }
                builder.push(
                    rows.iter()
                        .map(|r| (r.record.raw.as_slice(), &r.record.record, 0)),
                )
            })?;
        if unique {
            builder.check_unique(records_path, format, &lines)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        drop(builder);
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    builder.finish("build", json!({}))
}

/// Converts the registry in `dir` from the directory format of earlier
/// versions ([`legacy`]) into a database in the same directory: the old
/// state is opened and verified (every leaf re-hashed, the root checked),
/// its records, salts and revocations are written with the same indices,
/// the new root is checked against the old one, and the old state files,
/// which hold the salts, are removed. The history starts with a `migrate`
/// change naming the state it came from.
pub fn migrate(dir: &Path) -> Result<Registry, RegistryError> {
    let db_path = dir.join(db::FILE);
    if db_path.exists() {
        return Err(RegistryError::AlreadyExists { path: db_path });
    }
    let old = legacy::DirectoryRegistry::open(dir)?;
    let mut builder = Builder::begin(
        &dir.join(".registry.migrating"),
        old.schema().clone(),
        old.schema_toml(),
        old.shape(),
    )?;
    builder.into_dir = Some(dir.to_path_buf());
    let staging = builder.staging.clone();
    let pushed = old.entries.chunks(BUILD_CHUNK).try_for_each(|chunk| {
        let raws: Vec<Vec<String>> = chunk
            .iter()
            .map(|e| e.raw.iter().map(|v| v.to_string()).collect())
            .collect();
        builder.push(
            raws.iter()
                .zip(chunk)
                .map(|(raw, e)| (raw.as_slice(), &e.record, u8::from(e.revoked))),
        )
    });
    if let Err(e) = pushed {
        drop(builder);
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    let registry = builder.finish("migrate", json!({ "state": old.state }))?;
    if registry.root() != old.root() {
        return Err(RegistryError::RootMismatch {
            file: registry.db_path.clone(),
            stored: to_decimal(&registry.root()),
            computed: to_decimal(&old.root()),
        });
    }
    old.remove_files()?;
    Ok(registry)
}
