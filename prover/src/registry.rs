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
//! Every row is checked before anything is written. A file with bad rows
//! yields one [`RegistryError::BadRows`] that lists each bad row with its
//! field, value and reason.
//!
//! # Storage
//!
//! A registry is a directory:
//!
//! ```text
//! DIR/CURRENT              "state-N\n": names the current state
//! DIR/lock                 held by a writer while it commits
//! DIR/state-N/schema.toml  the schema file, byte for byte
//! DIR/state-N/records.jsonl  one line per leaf, in index order:
//!     {"fields":{"subject":"…",…},"salt":"<decimal>","revoked":false}
//! DIR/state-N/metadata.json  format, format_version (1), state, schema
//!     {name, hash}, tree {arity, depth}, records, revoked, root
//! ```
//!
//! A state directory is never changed once it is written. A commit writes
//! `.state-M.partial/`, syncs every file and the directory, and renames it
//! to `state-M`. It then writes `.CURRENT.partial`, syncs it, and renames
//! it over `CURRENT`. That last rename is the atomic switch. A crash
//! before it leaves the previous state current, and the debris is removed
//! by the next commit. The commit also keeps the state it replaced, so a
//! reader that opened that state just before the switch can still finish
//! reading it. Writers take `lock` while they commit. A writer whose
//! registry was opened at an older state than `CURRENT` gets
//! [`RegistryError::Conflict`] and does not overwrite the newer state. [`Registry::open`] recomputes every leaf and the
//! tree from `records.jsonl` and refuses the registry if the root, the
//! counts or the schema hash differ from `metadata.json`. The schema hash
//! is [`schema_hash`].
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
//! let (index, record) = bob[0];
//! assert_eq!(index, 1);
//! let leaf = registry.schema().leaf(record);
//! assert_eq!(registry.path(index).root(&shape, leaf), registry.root());
//! ```

mod input;
mod store;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ark_ff::{BigInt, PrimeField, Zero};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use serde_json::json;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::schema::{Record, Schema, SchemaError};
use zkgov_circuits::tree::{MerklePath, RegistryTree, TreeError, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::digest::{canonical_json, Digest32};

pub use input::{RecordFormat, RecordsFile, SourceRow};

use input::{shorten, StoredLine};
use store::{Metadata, SchemaRef, TreeRef};

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
    /// Another writer committed since this registry was opened.
    #[error("{}: the registry changed since it was opened (state {opened}, now state {found}); open it again and repeat the change", dir.display())]
    Conflict {
        /// The registry directory.
        dir: PathBuf,
        /// The state this registry was opened at.
        opened: u64,
        /// The state now current on disk.
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

/// One leaf's record as the registry keeps it.
#[derive(Debug, Clone)]
struct Entry {
    raw: Box<[Box<str>]>,
    record: Record,
    revoked: bool,
}

impl Entry {
    fn new(new: NewRecord) -> Self {
        Self {
            raw: new.raw.into_iter().map(String::into_boxed_str).collect(),
            record: new.record,
            revoked: false,
        }
    }
}

/// A department's registry, loaded and verified: its schema, its records and
/// its registry tree.
///
/// Changes ([`add`](Self::add), [`modify`](Self::modify),
/// [`revoke`](Self::revoke), …) apply in memory. [`commit`](Self::commit)
/// stores them atomically. Each change method checks everything before it
/// changes anything. If `commit` fails, the registry on disk keeps its
/// previous state, and this value should be dropped and opened again.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    schema: Schema,
    schema_toml: String,
    tree: RegistryTree,
    entries: Vec<Entry>,
    /// The live records of each subject, in index order.
    subjects: HashMap<Fr, Vec<u64>>,
    /// The subjects of revoked records.
    revoked_subjects: HashSet<Fr>,
    revoked: u64,
    /// The state on disk that this value was loaded from or last committed.
    state: u64,
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
        let schema = Schema::from_toml(store::SCHEMA, schema_toml)?;
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
        if out.exists() {
            return Err(RegistryError::AlreadyExists {
                path: out.to_path_buf(),
            });
        }
        let entries = records.into_iter().map(Entry::new).collect();
        let mut registry = Self::assemble(
            out.to_path_buf(),
            schema,
            schema_toml.to_owned(),
            shape,
            entries,
        )?;
        store::create_dir_atomically(out, |staging| {
            let state = store::state_dir(staging, 1);
            fs::create_dir(&state).map_err(io_at(&state))?;
            registry.write_state(&state, 1)?;
            store::set_current(staging, 1)?;
            store::touch_lock(staging)
        })?;
        registry.state = 1;
        Ok(registry)
    }

    /// Opens the registry in `dir`: reads its current state, recomputes
    /// every leaf and the tree, and checks the root, the record counts and
    /// the schema hash against the stored metadata.
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
        let state = store::read_current(dir)?;
        let state_dir = store::state_dir(dir, state);
        if !state_dir.is_dir() {
            return Err(RegistryError::Damaged {
                file: dir.join(store::CURRENT),
                line: None,
                problem: format!("it names state {state}, whose directory is missing"),
            });
        }
        let metadata_path = state_dir.join(store::METADATA);
        let metadata = Metadata::read(&metadata_path, state)?;

        let schema_path = state_dir.join(store::SCHEMA);
        let schema_toml = fs::read_to_string(&schema_path).map_err(io_at(&schema_path))?;
        let schema =
            Schema::from_toml(&schema_path.display().to_string(), &schema_toml).map_err(|e| {
                RegistryError::Damaged {
                    file: schema_path.clone(),
                    line: None,
                    problem: e.to_string(),
                }
            })?;
        let hash = schema_hash(&schema).to_string();
        if schema.name != metadata.schema.name || hash != metadata.schema.hash {
            return Err(RegistryError::Damaged {
                file: schema_path,
                line: None,
                problem: format!(
                    "schema {:?} with hash {hash} is not the schema {:?} with hash {} recorded in {}",
                    schema.name,
                    metadata.schema.name,
                    metadata.schema.hash,
                    store::METADATA
                ),
            });
        }
        let damaged_metadata = |problem: String| RegistryError::Damaged {
            file: metadata_path.clone(),
            line: None,
            problem,
        };
        let shape = TreeShape::new(metadata.tree.arity, metadata.tree.depth)
            .map_err(|e| damaged_metadata(e.to_string()))?;
        let stored_root =
            parse_field_element(&metadata.root).map_err(|e| damaged_metadata(e.to_string()))?;

        let records_path = state_dir.join(store::RECORDS);
        let entries = read_stored_records(&schema, &records_path)?;
        if entries.len() as u64 != metadata.records {
            return Err(RegistryError::Damaged {
                file: records_path,
                line: None,
                problem: format!(
                    "{} records, but {} records {}",
                    entries.len(),
                    store::METADATA,
                    metadata.records
                ),
            });
        }
        Room::new(shape, 0)
            .check(entries.len() as u128)
            .map_err(|e| damaged_metadata(e.to_string()))?;
        let registry = Self::assemble(dir.to_path_buf(), schema, schema_toml, shape, entries)?;
        if registry.revoked != metadata.revoked {
            return Err(RegistryError::Damaged {
                file: records_path,
                line: None,
                problem: format!(
                    "{} revoked records, but {} records {}",
                    registry.revoked,
                    store::METADATA,
                    metadata.revoked
                ),
            });
        }
        if registry.root() != stored_root {
            return Err(RegistryError::RootMismatch {
                file: metadata_path,
                stored: metadata.root,
                computed: to_decimal(&registry.root()),
            });
        }
        Ok(Self { state, ..registry })
    }

    /// Hashes every leaf in parallel, builds the tree and the subject index.
    fn assemble(
        dir: PathBuf,
        schema: Schema,
        schema_toml: String,
        shape: TreeShape,
        entries: Vec<Entry>,
    ) -> Result<Self, RegistryError> {
        let leaves: Vec<Fr> = entries.par_iter().map(|e| leaf_of(&schema, e)).collect();
        let tree = RegistryTree::from_leaves(shape, leaves)?;
        let mut subjects: HashMap<Fr, Vec<u64>> = HashMap::with_capacity(entries.len());
        let mut revoked_subjects = HashSet::new();
        let mut revoked = 0;
        for (index, entry) in entries.iter().enumerate() {
            if entry.revoked {
                revoked += 1;
                revoked_subjects.insert(entry.record.values[schema.subject]);
            } else {
                subjects
                    .entry(entry.record.values[schema.subject])
                    .or_default()
                    .push(index as u64);
            }
        }
        Ok(Self {
            dir,
            schema,
            schema_toml,
            tree,
            entries,
            subjects,
            revoked_subjects,
            revoked,
            state: 0,
        })
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        self.tree.shape()
    }

    /// The root of the registry tree: the value the department anchors.
    pub fn root(&self) -> Fr {
        self.tree.root()
    }

    /// The number of records (leaves), revoked ones included.
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Whether the registry holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of revoked records.
    pub fn revoked_count(&self) -> u64 {
        self.revoked
    }

    /// How many more records fit in the tree.
    pub fn room(&self) -> Room {
        Room::new(self.shape(), self.len())
    }

    /// Indices and records of the live (not revoked) records whose subject
    /// field encodes to `subject`, in index order. A subject may own several
    /// records (several parcels, several licences).
    pub fn records_of(&self, subject: &Fr) -> Vec<(u64, &Record)> {
        self.subjects.get(subject).map_or_else(Vec::new, |indices| {
            indices
                .iter()
                .map(|&i| (i, &self.entries[i as usize].record))
                .collect()
        })
    }

    /// Whether some revoked record has the subject that encodes to `subject`.
    pub fn has_revoked_records(&self, subject: &Fr) -> bool {
        self.revoked_subjects.contains(subject)
    }

    /// The record at `index`, revoked or not.
    pub fn record(&self, index: u64) -> Option<&Record> {
        self.entries.get(index as usize).map(|e| &e.record)
    }

    /// The raw values of the record at `index`, in schema order.
    pub fn raw_values(&self, index: u64) -> Option<Vec<&str>> {
        self.entries
            .get(index as usize)
            .map(|e| e.raw.iter().map(|v| &**v).collect())
    }

    /// Whether the record at `index` is revoked (`false` past the end).
    pub fn is_revoked(&self, index: u64) -> bool {
        self.entries.get(index as usize).is_some_and(|e| e.revoked)
    }

    /// The leaf at `index`: the record's hash, or 0 once it is revoked.
    pub fn leaf(&self, index: u64) -> Option<Fr> {
        self.tree.leaves().get(index as usize).copied()
    }

    /// The membership path of the leaf at `index`.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](Self::len). Indices from
    /// [`records_of`](Self::records_of) are always valid.
    pub fn path(&self, index: u64) -> MerklePath {
        self.tree
            .path(index)
            .unwrap_or_else(|e| panic!("Registry::path: {e}"))
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
        let start = self.len();
        let leaves: Vec<Fr> = records
            .par_iter()
            .map(|r| self.schema.leaf(&r.record))
            .collect();
        for (record, leaf) in records.into_iter().zip(leaves) {
            let index = self.tree.push(leaf)?;
            let subject = record.record.values[self.schema.subject];
            self.subjects.entry(subject).or_default().push(index);
            self.entries.push(Entry::new(record));
        }
        Ok(start..self.len())
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
        self.subjects.get(subject).and_then(|v| v.first().copied())
    }

    /// Replaces the live record at `index`. The new record may have another
    /// subject (a parcel that changed hands).
    pub fn modify(&mut self, index: u64, record: NewRecord) -> Result<(), RegistryError> {
        self.check_live(index)?;
        self.check_field_counts([&record])?;
        self.replace(index, record);
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
            let problem = match self.subjects.get(&subject).map(Vec::as_slice) {
                None | Some([]) => Some("no live record has this subject".to_string()),
                Some([index]) => match first_row.insert(*index, row.row) {
                    Some(earlier) => Some(format!(
                        "record {index} is already modified by row {earlier} of this file"
                    )),
                    None => {
                        targets.push(*index);
                        None
                    }
                },
                Some(several) => Some(format!(
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
        Ok(targets)
    }

    /// Revokes the live record at `index`: its leaf becomes 0, the empty leaf.
    pub fn revoke(&mut self, index: u64) -> Result<(), RegistryError> {
        self.check_live(index)?;
        let entry = &mut self.entries[index as usize];
        entry.revoked = true;
        let subject = entry.record.values[self.schema.subject];
        self.unindex(subject, index);
        self.revoked_subjects.insert(subject);
        self.revoked += 1;
        self.tree.update(index, Fr::zero())?;
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
                Ok(subject) => match self.subjects.get(&subject).map(Vec::as_slice) {
                    None | Some([]) => Some("no live record has this subject".to_string()),
                    Some([index]) => {
                        targets.push(*index);
                        None
                    }
                    Some(several) => Some(format!(
                        "the subject owns {} live records (indices {}); revoke them by index",
                        several.len(),
                        join(several)
                    )),
                },
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
            self.revoke(index)?;
        }
        Ok(targets)
    }

    /// Stores the registry as its next state, atomically.
    ///
    /// Fails with [`RegistryError::Conflict`] if another writer committed
    /// since this registry was opened; the registry on disk is then left
    /// as that writer made it.
    pub fn commit(&mut self) -> Result<(), RegistryError> {
        let _lock = store::lock(&self.dir)?;
        let current = store::read_current(&self.dir)?;
        if current != self.state {
            return Err(RegistryError::Conflict {
                dir: self.dir.clone(),
                opened: self.state,
                found: current,
            });
        }
        let next = store::next_state(&self.dir, current)?;
        let staging = store::staging_state_dir(&self.dir, next);
        store::recreate_dir(&staging)?;
        self.write_state(&staging, next)?;
        let target = store::state_dir(&self.dir, next);
        fs::rename(&staging, &target).map_err(io_at(&target))?;
        store::sync_dir(&self.dir)?;
        store::set_current(&self.dir, next)?;
        self.state = next;
        store::collect_garbage(&self.dir, &[current, next]);
        Ok(())
    }

    /// Writes the state files into the existing directory `dir` and syncs
    /// them, `metadata.json` last.
    fn write_state(&self, dir: &Path, state: u64) -> Result<(), RegistryError> {
        store::write_synced(&dir.join(store::SCHEMA), self.schema_toml.as_bytes())?;
        let records_path = dir.join(store::RECORDS);
        let file = fs::File::create(&records_path).map_err(io_at(&records_path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for entry in &self.entries {
            write_stored_record(&mut out, &self.schema, entry).map_err(io_at(&records_path))?;
        }
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io_at(&records_path))?;
        file.sync_all().map_err(io_at(&records_path))?;
        let metadata = Metadata {
            format: store::FORMAT.into(),
            format_version: store::FORMAT_VERSION,
            state,
            schema: SchemaRef {
                name: self.schema.name.clone(),
                hash: schema_hash(&self.schema).to_string(),
            },
            tree: TreeRef {
                arity: self.shape().arity(),
                depth: self.shape().depth(),
            },
            records: self.len(),
            revoked: self.revoked,
            root: to_decimal(&self.root()),
        };
        let json = serde_json::to_vec_pretty(&metadata).expect("metadata serializes");
        store::write_synced(&dir.join(store::METADATA), &json)?;
        store::sync_dir(dir)
    }

    fn check_live(&self, index: u64) -> Result<(), RegistryError> {
        match self.entries.get(index as usize) {
            None => Err(RegistryError::NoSuchRecord {
                index,
                len: self.len(),
            }),
            Some(e) if e.revoked => Err(RegistryError::Revoked { index }),
            Some(_) => Ok(()),
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

    /// Replaces a live record, checked by the caller.
    fn replace(&mut self, index: u64, record: NewRecord) {
        let leaf = self.schema.leaf(&record.record);
        let old = self.entries[index as usize].record.values[self.schema.subject];
        let new = record.record.values[self.schema.subject];
        if old != new {
            self.unindex(old, index);
            let indices = self.subjects.entry(new).or_default();
            let at = indices.partition_point(|&i| i < index);
            indices.insert(at, index);
        }
        self.entries[index as usize] = Entry::new(record);
        self.tree
            .update(index, leaf)
            .expect("the caller checked the index");
    }

    fn unindex(&mut self, subject: Fr, index: u64) {
        if let Some(indices) = self.subjects.get_mut(&subject) {
            indices.retain(|&i| i != index);
            if indices.is_empty() {
                self.subjects.remove(&subject);
            }
        }
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

fn leaf_of(schema: &Schema, entry: &Entry) -> Fr {
    if entry.revoked {
        Fr::zero()
    } else {
        schema.leaf(&entry.record)
    }
}

fn join(indices: &[u64]) -> String {
    indices
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line of `records.jsonl`.
fn write_stored_record<W: Write>(out: &mut W, schema: &Schema, entry: &Entry) -> io::Result<()> {
    out.write_all(b"{\"fields\":{")?;
    for (i, (field, value)) in schema.fields.iter().zip(entry.raw.iter()).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &field.name)?;
        out.write_all(b":")?;
        serde_json::to_writer(&mut *out, &**value)?;
    }
    writeln!(
        out,
        "}},\"salt\":\"{}\",\"revoked\":{}}}",
        to_decimal(&entry.record.salt),
        entry.revoked
    )
}

/// Reads `records.jsonl`, parsing and encoding lines in parallel chunks.
fn read_stored_records(schema: &Schema, path: &Path) -> Result<Vec<Entry>, RegistryError> {
    const CHUNK: usize = 16_384;
    let file = fs::File::open(path).map_err(io_at(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut entries = Vec::new();
    let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
    let mut first_line = 1u64;
    let mut flush = |chunk: &mut Vec<Vec<u8>>, first_line: u64| -> Result<(), RegistryError> {
        let parsed: Vec<Result<Entry, String>> = chunk
            .par_iter()
            .map(|line| StoredLine::parse(schema, line))
            .collect();
        for (offset, result) in parsed.into_iter().enumerate() {
            entries.push(result.map_err(|problem| RegistryError::Damaged {
                file: path.to_path_buf(),
                line: Some(first_line + offset as u64),
                problem,
            })?);
        }
        chunk.clear();
        Ok(())
    };
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).map_err(io_at(path))? == 0 {
            break;
        }
        if line.pop() != Some(b'\n') {
            return Err(RegistryError::Damaged {
                file: path.to_path_buf(),
                line: Some(first_line + chunk.len() as u64),
                problem: "the last line is cut short".into(),
            });
        }
        chunk.push(line);
        if chunk.len() == CHUNK {
            flush(&mut chunk, first_line)?;
            first_line += CHUNK as u64;
        }
    }
    flush(&mut chunk, first_line)?;
    Ok(entries)
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordFormat::Csv => "CSV",
            RecordFormat::JsonLines => "JSON Lines",
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
/// file's extension when `None`.
pub fn build(
    schema_path: &Path,
    records_path: &Path,
    format: Option<RecordFormat>,
    shape: TreeShape,
    out: &Path,
) -> Result<Registry, RegistryError> {
    let (schema, schema_toml) = read_schema(schema_path)?;
    if out.exists() {
        return Err(RegistryError::AlreadyExists {
            path: out.to_path_buf(),
        });
    }
    let records = RecordsFile::read(&schema, records_path, format, Room::new(shape, 0))?;
    if schema.unique_subject {
        records.check_unique_subjects(&schema, |_| None)?;
    }
    Registry::create(out, &schema_toml, shape, records.into_records())
}
