//! The registry directory format of format version 1, before registries
//! became SQLite databases: immutable `state-N/` directories that hold every
//! record as `records.jsonl`, switched by an atomically replaced `CURRENT`.
//!
//! `zkgov registry migrate` reads it with [`DirectoryRegistry::open`] (which
//! re-hashes every record and checks the stored root) and converts it. It
//! stays writable so that tests can make registries to migrate and the
//! `registry-scale` benchmark can time the old path beside the new one.
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
//! A commit writes `.state-M.partial/`, syncs it, renames it to `state-M`,
//! then renames a new `CURRENT` over the old one: the atomic switch. It
//! rewrites every record, which is why the database replaced it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ark_ff::Zero;
use rayon::prelude::*;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::schema::{Record, Schema};
use zkgov_circuits::tree::{MerklePath, RegistryTree, TreeShape};
use zkgov_circuits::Fr;

use super::input::{shorten, StoredLine};
use super::store::{self, Metadata, SchemaRef, TreeRef};
use super::{
    duplicate_error, find_duplicates, io_at, join, read_schema, schema_hash, BadRow, BadSubject,
    NewRecord, RecordsFile, RegistryError, Room,
};

/// Builds a registry in the directory format: what `zkgov registry build`
/// did before registries became databases.
pub fn build(
    schema_path: &Path,
    records_path: &Path,
    format: Option<super::RecordFormat>,
    shape: TreeShape,
    out: &Path,
) -> Result<DirectoryRegistry, RegistryError> {
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
    DirectoryRegistry::create(out, &schema_toml, shape, records.into_records())
}

/// One leaf's record as the registry keeps it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) raw: Box<[Box<str>]>,
    pub(super) record: Record,
    pub(super) revoked: bool,
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

/// A registry in the directory format, loaded whole and verified: its
/// schema, its records and its registry tree.
///
/// Changes ([`add`](Self::add), [`modify`](Self::modify),
/// [`revoke`](Self::revoke), …) apply in memory. [`commit`](Self::commit)
/// stores them atomically. Each change method checks everything before it
/// changes anything. If `commit` fails, the registry on disk keeps its
/// previous state, and this value should be dropped and opened again.
#[derive(Debug)]
pub struct DirectoryRegistry {
    dir: PathBuf,
    schema: Schema,
    schema_toml: String,
    tree: RegistryTree,
    pub(super) entries: Vec<Entry>,
    /// The live records of each subject, in index order.
    subjects: HashMap<Fr, Vec<u64>>,
    /// The subjects of revoked records.
    revoked_subjects: HashSet<Fr>,
    revoked: u64,
    /// The state on disk that this value was loaded from or last committed.
    pub(super) state: u64,
}

impl DirectoryRegistry {
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

    /// Removes the registry's files (after a migration): the state
    /// directories, `CURRENT` and the lock.
    pub(super) fn remove_files(&self) -> Result<(), RegistryError> {
        store::collect_garbage(&self.dir, &[]);
        for name in [store::CURRENT, store::LOCK] {
            let path = self.dir.join(name);
            fs::remove_file(&path).map_err(io_at(&path))?;
        }
        Ok(())
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
            .unwrap_or_else(|e| panic!("DirectoryRegistry::path: {e}"))
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

fn leaf_of(schema: &Schema, entry: &Entry) -> Fr {
    if entry.revoked {
        Fr::zero()
    } else {
        schema.leaf(&entry.record)
    }
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
