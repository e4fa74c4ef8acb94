//! Records files (CSV and JSON Lines), the rows of a database query
//! ([`RecordsTable`]), and the registry's own `records.jsonl`.
//!
//! Rows are read in order and validated in parallel chunks. Every problem of
//! every row is collected, so that one run tells the user everything to fix.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use zkgov_circuits::encoding::{EncodingError, FieldType};
use zkgov_circuits::field::parse_field_element;
use zkgov_circuits::schema::{Record, Schema, SALT};
use zkgov_circuits::Fr;

use super::legacy::Entry;
use super::{io_at, os_salt, BadRow, NewRecord, RegistryError, Room, SubjectOwner};

/// Rows validated together; large enough to keep every core busy, small
/// enough that raw rows waiting for validation take little memory.
const CHUNK: usize = 8_192;

/// Values longer than this are shortened when quoted in an error.
const MAX_QUOTED_BYTES: usize = 96;

/// The format of a records file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
    /// The rows of a database query ([`RecordsTable`]), numbered from 1.
    Table,
}

impl RecordFormat {
    /// The format named by the file's extension: `.csv` or `.jsonl`.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "csv" => Some(Self::Csv),
            "jsonl" => Some(Self::JsonLines),
            _ => None,
        }
    }
}

/// One cell of a database row: the text a records file would hold for it,
/// or why the value cannot be a field's (`NULL`, a floating-point number,
/// a type with no text form).
pub type Cell = Result<String, String>;

/// The rows of a database query, read one at a time so that a large
/// result set is not held in memory: the column names, then rows of cells
/// in column order. Columns map to schema fields by name, as a CSV header
/// does: every field once, an optional `salt`, and nothing else.
pub trait RecordsTable {
    /// The source as errors name it; never a password.
    fn name(&self) -> &str;
    /// The result's column names, in order.
    fn columns(&self) -> &[String];
    /// The next row, `None` after the last, or the error that ended the read.
    fn next_row(&mut self) -> Option<Result<Vec<Cell>, RegistryError>>;
}

/// Where records come from: a records file, or a database query.
pub enum RecordsSource<'a> {
    /// A CSV or JSON Lines file; the format is taken from the extension when `None`.
    File {
        /// The file.
        path: &'a Path,
        /// Its format.
        format: Option<RecordFormat>,
    },
    /// The rows of a query.
    Table(&'a mut dyn RecordsTable),
}

impl RecordsSource<'_> {
    /// The name errors give the source.
    pub fn name(&self) -> PathBuf {
        match self {
            RecordsSource::File { path, .. } => path.to_path_buf(),
            RecordsSource::Table(table) => PathBuf::from(table.name()),
        }
    }
}

/// One validated record of a records file, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// The 1-based data row (CSV: after the header; JSON Lines: the line;
    /// a query: the row of its result).
    pub row: u64,
    /// The 1-based line on which the row starts.
    pub line: u64,
    /// The record.
    pub record: NewRecord,
}

/// A records file whose every row is valid under a schema.
#[derive(Debug, Clone)]
pub struct RecordsFile {
    /// The file the records come from.
    pub path: PathBuf,
    /// Its format.
    pub format: RecordFormat,
    /// The records in file order.
    pub rows: Vec<SourceRow>,
}

impl RecordsFile {
    /// Reads and validates the records file at `path`. The format is taken
    /// from the extension when `format` is `None`. More records than `room`
    /// allows are refused.
    pub fn read(
        schema: &Schema,
        path: &Path,
        format: Option<RecordFormat>,
        room: Room,
    ) -> Result<Self, RegistryError> {
        let format = match format {
            Some(format) => format,
            None => RecordFormat::from_path(path).ok_or_else(|| RegistryError::UnknownFormat {
                path: path.to_path_buf(),
            })?,
        };
        let file = File::open(path).map_err(io_at(path))?;
        Self::parse(schema, path, file, format, room)
    }

    /// Validates records read from `reader`; `path` names them in errors.
    pub fn parse<R: Read>(
        schema: &Schema,
        path: &Path,
        reader: R,
        format: RecordFormat,
        room: Room,
    ) -> Result<Self, RegistryError> {
        let (good, _) = Self::read_rows(schema, path, reader, format, room, None)?;
        Ok(Self {
            path: path.to_path_buf(),
            format,
            rows: good,
        })
    }

    /// Reads and validates the records of `source`, file or query.
    pub fn from_source(
        schema: &Schema,
        source: RecordsSource<'_>,
        room: Room,
    ) -> Result<Self, RegistryError> {
        match source {
            RecordsSource::File { path, format } => Self::read(schema, path, format, room),
            RecordsSource::Table(table) => {
                let path = PathBuf::from(table.name());
                let (good, _) = read_table(schema, table, room, None)?;
                Ok(Self {
                    path,
                    format: RecordFormat::Table,
                    rows: good,
                })
            }
        }
    }

    /// As [`stream`](Self::stream), for a file or a query.
    pub fn stream_source(
        schema: &Schema,
        source: RecordsSource<'_>,
        room: Room,
        sink: &mut dyn FnMut(Vec<SourceRow>) -> Result<(), RegistryError>,
    ) -> Result<(u64, RecordFormat), RegistryError> {
        match source {
            RecordsSource::File { path, format } => Self::stream(schema, path, format, room, sink),
            RecordsSource::Table(table) => {
                let (_, seen) = read_table(schema, table, room, Some(sink))?;
                Ok((seen as u64, RecordFormat::Table))
            }
        }
    }

    /// Validates the records of the file at `path` as [`read`](Self::read)
    /// does, but hands the good rows to `sink` in chunks as they are
    /// validated instead of keeping them, as long as no row has been bad.
    /// Returns the number of rows and the format.
    pub fn stream(
        schema: &Schema,
        path: &Path,
        format: Option<RecordFormat>,
        room: Room,
        sink: &mut dyn FnMut(Vec<SourceRow>) -> Result<(), RegistryError>,
    ) -> Result<(u64, RecordFormat), RegistryError> {
        let format = match format {
            Some(format) => format,
            None => RecordFormat::from_path(path).ok_or_else(|| RegistryError::UnknownFormat {
                path: path.to_path_buf(),
            })?,
        };
        let file = File::open(path).map_err(io_at(path))?;
        let (_, seen) = Self::read_rows(schema, path, file, format, room, Some(sink))?;
        Ok((seen as u64, format))
    }

    fn read_rows<R: Read>(
        schema: &Schema,
        path: &Path,
        reader: R,
        format: RecordFormat,
        room: Room,
        sink: Option<&mut dyn FnMut(Vec<SourceRow>) -> Result<(), RegistryError>>,
    ) -> Result<(Vec<SourceRow>, u128), RegistryError> {
        let (seen, good, bad, failed) = match format {
            RecordFormat::Csv => {
                let mut rows = Rows::new(path, room, sink);
                read_csv(schema, path, reader, &mut rows)?;
                (rows.seen, rows.good, rows.bad, rows.failed)
            }
            RecordFormat::JsonLines => {
                let mut rows = Rows::new(path, room, sink);
                read_json_lines(schema, path, reader, &mut rows)?;
                (rows.seen, rows.good, rows.bad, rows.failed)
            }
            RecordFormat::Table => {
                return Err(RegistryError::UnknownFormat {
                    path: path.to_path_buf(),
                })
            }
        };
        if let Some(e) = failed {
            return Err(e);
        }
        room.check(seen)?;
        if !bad.is_empty() {
            return Err(RegistryError::BadRows {
                file: path.to_path_buf(),
                format,
                rows: bad,
            });
        }
        Ok((good, seen))
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Refuses rows whose subject already owns a live record
    /// (`live_owner`) or repeats an earlier row's subject, as
    /// [`RegistryError::BadRows`] that name each row.
    pub fn check_unique_subjects(
        &self,
        schema: &Schema,
        live_owner: impl Fn(&Fr) -> Option<u64>,
    ) -> Result<(), RegistryError> {
        let mut first: std::collections::HashMap<Fr, usize> = std::collections::HashMap::new();
        let mut bad = Vec::new();
        let subject_field = &schema.fields[schema.subject];
        for (position, row) in self.rows.iter().enumerate() {
            let subject = row.record.record().values[schema.subject];
            let owner = match live_owner(&subject) {
                Some(index) => Some(SubjectOwner::Record(index)),
                None => match first.get(&subject) {
                    Some(&earlier) => Some(SubjectOwner::Earlier(earlier)),
                    None => {
                        first.insert(subject, position);
                        None
                    }
                },
            };
            if let Some(owner) = owner {
                bad.push(BadRow {
                    row: row.row,
                    line: row.line,
                    field: Some(subject_field.name.clone()),
                    value: shorten(&row.record.raw()[schema.subject]),
                    reason: owner.reason(|p| {
                        let earlier = &self.rows[p];
                        match self.format {
                            RecordFormat::Csv | RecordFormat::Table => {
                                format!("row {}", earlier.row)
                            }
                            RecordFormat::JsonLines => format!("line {}", earlier.line),
                        }
                    }),
                });
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::BadRows {
                file: self.path.clone(),
                format: self.format,
                rows: bad,
            })
        }
    }

    /// The records in file order.
    pub fn into_records(self) -> Vec<NewRecord> {
        self.rows.into_iter().map(|r| r.record).collect()
    }
}

/// Where good rows go when they stream: see [`RecordsFile::stream`].
type Sink<'s> = &'s mut dyn FnMut(Vec<SourceRow>) -> Result<(), RegistryError>;

/// Rows read so far: the good, the bad, and raw rows awaiting validation.
struct Rows<'a, 's, T> {
    path: &'a Path,
    /// Takes the good rows of each chunk while no row has been bad.
    sink: Option<Sink<'s>>,
    /// The sink's error, which stops the read.
    failed: Option<RegistryError>,
    /// Data rows seen, including those past the room, which are only counted.
    seen: u128,
    left: u128,
    pending: Vec<(u64, u64, T)>,
    good: Vec<SourceRow>,
    bad: Vec<BadRow>,
}

impl<'a, 's, T: Sync> Rows<'a, 's, T> {
    fn new(path: &'a Path, room: Room, sink: Option<Sink<'s>>) -> Self {
        Self {
            path,
            sink,
            failed: None,
            seen: 0,
            left: room.left(),
            pending: Vec::with_capacity(CHUNK),
            good: Vec::new(),
            bad: Vec::new(),
        }
    }

    /// Queues a raw row; rows past the room are counted but not validated.
    fn push<F>(&mut self, line: u64, raw: T, validate: &F)
    where
        F: Fn(u64, u64, &T) -> Result<NewRecord, Vec<BadRow>> + Sync,
    {
        self.seen += 1;
        if self.seen > self.left || self.failed.is_some() {
            return;
        }
        self.pending.push((self.seen as u64, line, raw));
        if self.pending.len() == CHUNK {
            self.flush(validate);
        }
    }

    fn flush<F>(&mut self, validate: &F)
    where
        F: Fn(u64, u64, &T) -> Result<NewRecord, Vec<BadRow>> + Sync,
    {
        let results: Vec<_> = self
            .pending
            .par_iter()
            .map(|(row, line, raw)| validate(*row, *line, raw))
            .collect();
        for ((row, line, _), result) in self.pending.drain(..).zip(results) {
            match result {
                Ok(record) => self.good.push(SourceRow { row, line, record }),
                Err(problems) => self.bad.extend(problems),
            }
        }
        if let Some(sink) = self.sink.as_mut() {
            let good = std::mem::take(&mut self.good);
            // Once a row is bad nothing will be built: good rows are dropped.
            if self.bad.is_empty() && self.failed.is_none() {
                if let Err(e) = sink(good) {
                    self.failed = Some(e);
                }
            }
        }
    }
}

/// Where each schema field and the salt sit in a CSV row.
struct Layout {
    /// The column of each schema field, in schema order.
    fields: Vec<usize>,
    salt: Option<usize>,
    width: usize,
}

impl Layout {
    fn of_header(
        schema: &Schema,
        path: &Path,
        header: &csv::ByteRecord,
    ) -> Result<Self, RegistryError> {
        let names = header.iter().enumerate().map(|(column, cell)| {
            let name = String::from_utf8_lossy(cell);
            // A byte-order mark some spreadsheet programs write.
            match name.strip_prefix('\u{feff}') {
                Some(rest) if column == 0 => rest.to_string(),
                _ => name.into_owned(),
            }
        });
        Self::of_names(schema, path, names)
    }

    /// The layout of columns named `names`, in order: every schema field
    /// once, an optional `salt`, nothing else.
    fn of_names(
        schema: &Schema,
        path: &Path,
        names: impl Iterator<Item = String>,
    ) -> Result<Self, RegistryError> {
        let mut fields = vec![None; schema.fields.len()];
        let mut salt = None;
        let (mut unknown, mut duplicate) = (Vec::new(), Vec::new());
        let mut width = 0;
        for (column, name) in names.enumerate() {
            width += 1;
            let slot = if name == SALT {
                &mut salt
            } else if let Some(i) = schema.field_index(&name) {
                &mut fields[i]
            } else {
                unknown.push(shorten(&name));
                continue;
            };
            if slot.is_some() {
                duplicate.push(name);
            } else {
                *slot = Some(column);
            }
        }
        let missing: Vec<String> = schema
            .fields
            .iter()
            .zip(&fields)
            .filter(|(_, column)| column.is_none())
            .map(|(f, _)| f.name.clone())
            .collect();
        if !(unknown.is_empty() && missing.is_empty() && duplicate.is_empty()) {
            return Err(RegistryError::Columns {
                file: path.to_path_buf(),
                unknown,
                missing,
                duplicate,
            });
        }
        Ok(Self {
            fields: fields.into_iter().map(|c| c.expect("checked")).collect(),
            salt,
            width,
        })
    }
}

fn csv_error(path: &Path, e: csv::Error) -> RegistryError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => RegistryError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => RegistryError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("{other:?}")),
        },
    }
}

fn read_csv<R: Read>(
    schema: &Schema,
    path: &Path,
    reader: R,
    rows: &mut Rows<'_, '_, csv::ByteRecord>,
) -> Result<(), RegistryError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let mut header = csv::ByteRecord::new();
    reader
        .read_byte_record(&mut header)
        .map_err(|e| csv_error(path, e))?;
    let layout = Layout::of_header(schema, path, &header)?;
    let validate = |row, line, cells: &csv::ByteRecord| csv_row(schema, &layout, row, line, cells);
    loop {
        let mut cells = csv::ByteRecord::new();
        if !reader
            .read_byte_record(&mut cells)
            .map_err(|e| csv_error(rows.path, e))?
        {
            break;
        }
        let line = cells.position().map_or(0, |p| p.line());
        rows.push(line, cells, &validate);
    }
    rows.flush(&validate);
    Ok(())
}

/// The reason of an encoding error without its `field "name": ` prefix,
/// since a [`BadRow`] names the field itself.
fn reason(field: &str, e: &EncodingError) -> String {
    let message = e.to_string();
    let prefix = format!("field {field:?}: ");
    message
        .strip_prefix(&prefix)
        .map_or(message.clone(), str::to_string)
}

/// Encodes the values of one row (in schema order) and adds the salt,
/// collecting every problem.
fn encode_row(
    schema: &Schema,
    raw: Vec<Option<String>>,
    salt: Option<Fr>,
    bad: &mut Vec<BadRow>,
    bad_row: &impl Fn(Option<&str>, String, String) -> BadRow,
) -> Option<NewRecord> {
    let mut values = Vec::with_capacity(raw.len());
    for (i, (field, value)) in schema.fields.iter().zip(&raw).enumerate() {
        let Some(value) = value else { continue };
        if i == schema.subject && value.is_empty() {
            bad.push(bad_row(
                Some(&field.name),
                String::new(),
                "empty; every record needs its subject".into(),
            ));
            continue;
        }
        match field.ty.encode(&field.name, value) {
            Ok(v) => values.push(v),
            Err(e) => bad.push(bad_row(
                Some(&field.name),
                shorten(value),
                reason(&field.name, &e),
            )),
        }
    }
    if !bad.is_empty() {
        return None;
    }
    let raw = raw.into_iter().map(|v| v.expect("no bad value")).collect();
    let salt = salt.unwrap_or_else(os_salt);
    Some(NewRecord::from_parts(raw, Record { values, salt }))
}

fn csv_row(
    schema: &Schema,
    layout: &Layout,
    row: u64,
    line: u64,
    cells: &csv::ByteRecord,
) -> Result<NewRecord, Vec<BadRow>> {
    let cell = |column: usize| {
        std::str::from_utf8(&cells[column])
            .map(str::to_string)
            .map_err(|_| {
                (
                    shorten(&String::from_utf8_lossy(&cells[column])),
                    "not valid UTF-8".to_string(),
                )
            })
    };
    layout_row(schema, layout, row, line, cells.len(), "the header", cell)
}

/// One row's cells mapped to the schema's fields (and salt) by `layout`,
/// and encoded; `cell` gives a column's text, or the value to show and why
/// it cannot be used, and `declared` names what declared the columns.
fn layout_row(
    schema: &Schema,
    layout: &Layout,
    row: u64,
    line: u64,
    width: usize,
    declared: &str,
    cell: impl Fn(usize) -> Result<String, (String, String)>,
) -> Result<NewRecord, Vec<BadRow>> {
    let bad_row = |field: Option<&str>, value: String, reason: String| BadRow {
        row,
        line,
        field: field.map(str::to_string),
        value,
        reason,
    };
    if width != layout.width {
        return Err(vec![bad_row(
            None,
            String::new(),
            format!("{width} cells, but {declared} has {} columns", layout.width),
        )]);
    }
    let mut bad = Vec::new();
    let mut text = |name: &str, column: usize| match cell(column) {
        Ok(s) => Some(s),
        Err((value, reason)) => {
            bad.push(bad_row(Some(name), value, reason));
            None
        }
    };
    let raw: Vec<Option<String>> = schema
        .fields
        .iter()
        .zip(&layout.fields)
        .map(|(f, &column)| text(&f.name, column))
        .collect();
    let salt_text = layout.salt.map(|column| text(SALT, column));
    let salt = match salt_text {
        // A salt is a secret: even a malformed one is not quoted.
        Some(Some(s)) => match parse_field_element(&s) {
            Ok(salt) => Some(salt),
            Err(e) => {
                bad.push(bad_row(Some(SALT), String::new(), salt_reason(&e)));
                None
            }
        },
        _ => None,
    };
    encode_row(schema, raw, salt, &mut bad, &bad_row).ok_or(bad)
}

/// Reads and validates the rows of `table` as `read_rows` does a file's.
fn read_table(
    schema: &Schema,
    table: &mut dyn RecordsTable,
    room: Room,
    sink: Option<Sink<'_>>,
) -> Result<(Vec<SourceRow>, u128), RegistryError> {
    let path = PathBuf::from(table.name());
    let layout = Layout::of_names(schema, &path, table.columns().iter().cloned())?;
    let mut rows = Rows::new(&path, room, sink);
    let validate = |row, _, cells: &Vec<Cell>| table_row(schema, &layout, row, cells);
    while let Some(cells) = table.next_row() {
        let cells = cells?;
        let next = (rows.seen + 1) as u64;
        rows.push(next, cells, &validate);
    }
    rows.flush(&validate);
    if let Some(e) = rows.failed {
        return Err(e);
    }
    room.check(rows.seen)?;
    if !rows.bad.is_empty() {
        return Err(RegistryError::BadRows {
            file: path.clone(),
            format: RecordFormat::Table,
            rows: rows.bad,
        });
    }
    Ok((rows.good, rows.seen))
}

fn table_row(
    schema: &Schema,
    layout: &Layout,
    row: u64,
    cells: &[Cell],
) -> Result<NewRecord, Vec<BadRow>> {
    let cell = |column: usize| {
        cells[column]
            .clone()
            .map_err(|reason| (String::new(), reason))
    };
    layout_row(schema, layout, row, row, cells.len(), "the query", cell)
}

/// Why a salt is refused, without the salt: a salt is a secret, and a
/// malformed one may be a real salt mistyped.
fn salt_reason(e: &zkgov_circuits::field::FieldError) -> String {
    use zkgov_circuits::field::FieldError;
    let why = match e {
        FieldError::Empty => "empty",
        FieldError::Signed { .. } => "it has a sign",
        FieldError::NotDecimal { .. } => "not a decimal integer",
        FieldError::LeadingZero { .. } => "it has a leading zero",
        FieldError::OutOfRange { .. } => "not below the BN254 scalar modulus",
        _ => "not a canonical field element",
    };
    format!("{why}; a salt is a canonical decimal field element (its value is not shown)")
}

fn read_json_lines<R: Read>(
    schema: &Schema,
    path: &Path,
    reader: R,
    rows: &mut Rows<'_, '_, Vec<u8>>,
) -> Result<(), RegistryError> {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let validate = |row, line, bytes: &Vec<u8>| json_row(schema, row, line, bytes);
    let mut line = 0u64;
    loop {
        let mut bytes = Vec::new();
        if reader.read_until(b'\n', &mut bytes).map_err(io_at(path))? == 0 {
            break;
        }
        line += 1;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        rows.push(line, bytes, &validate);
    }
    rows.flush(&validate);
    Ok(())
}

fn json_row(schema: &Schema, row: u64, line: u64, bytes: &[u8]) -> Result<NewRecord, Vec<BadRow>> {
    let bad_row = |field: Option<&str>, value: String, reason: String| BadRow {
        row,
        line,
        field: field.map(str::to_string),
        value,
        reason,
    };
    let one = |value: String, reason: &str| Err(vec![bad_row(None, value, reason.to_string())]);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return one(String::new(), "not valid UTF-8");
    };
    if text.trim().is_empty() {
        return one(
            String::new(),
            "blank line; every line holds one record as a JSON object",
        );
    }
    let object: JsonObject = match serde_json::from_str(text) {
        Ok(object) => object,
        Err(e) => return one(shorten(text), &format!("not a JSON object: {e}")),
    };
    let mut bad = Vec::new();
    let mut raw: Vec<Option<String>> = vec![None; schema.fields.len()];
    let mut seen = vec![false; schema.fields.len()];
    let mut salt = None;
    for (key, value) in object.0 {
        if key == SALT {
            match &value {
                Value::String(s) => match parse_field_element(s) {
                    Ok(s) => salt = Some(s),
                    Err(e) => bad.push(bad_row(Some(SALT), String::new(), salt_reason(&e))),
                },
                _ => bad.push(bad_row(
                    Some(SALT),
                    String::new(),
                    "a salt is a JSON string holding a canonical decimal field element (its value is not shown)".into(),
                )),
            }
            continue;
        }
        let Some(i) = schema.field_index(&key) else {
            bad.push(bad_row(
                Some(&shorten(&key)),
                shorten(&value.to_string()),
                "unknown key (the schema has no such field)".into(),
            ));
            continue;
        };
        seen[i] = true;
        match json_value_text(&schema.fields[i].ty, &value) {
            Ok(text) => raw[i] = Some(text),
            Err(reason) => bad.push(bad_row(Some(&key), shorten(&value.to_string()), reason)),
        }
    }
    for (field, _) in schema.fields.iter().zip(&seen).filter(|(_, seen)| !**seen) {
        bad.push(bad_row(Some(&field.name), String::new(), "missing".into()));
    }
    encode_row(schema, raw, salt, &mut bad, &bad_row).ok_or(bad)
}

/// The field-format text of a JSON value, or why the value is refused.
fn json_value_text(ty: &FieldType, value: &Value) -> Result<String, String> {
    let numeric = matches!(
        ty,
        FieldType::Uint { .. } | FieldType::Decimal { .. } | FieldType::Bool
    );
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) if *ty == FieldType::Bool => Ok(b.to_string()),
        Value::Number(n) if numeric => {
            if n.is_u64() || n.is_i64() {
                Ok(n.to_string())
            } else {
                Err(format!(
                    "the JSON number {n} is not an integer between -2^63 and 2^64; write it as a string (e.g. \"12.50\"), which involves no binary floating point"
                ))
            }
        }
        Value::Bool(_) => Err(format!(
            "a JSON boolean is accepted only for bool fields; write {} values as strings",
            ty.name()
        )),
        Value::Number(_) => Err(format!(
            "a JSON number is accepted only for uint, decimal and bool fields; write {} values as strings",
            ty.name()
        )),
        Value::Null => Err("null is not a value; every field needs one".into()),
        Value::Array(_) | Value::Object(_) => {
            Err(format!("expected a string in the {} format", ty.name()))
        }
    }
}

/// A JSON object's entries in order, refusing a key given twice (which
/// `serde_json` would otherwise resolve silently to the last value).
pub(super) struct JsonObject(pub(super) Vec<(String, Value)>);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = JsonObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                let mut entries: Vec<(String, Value)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("key {key:?} appears twice")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(JsonObject(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// One line of the registry's `records.jsonl`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredLine {
    fields: JsonObject,
    salt: String,
    revoked: bool,
}

impl StoredLine {
    /// Parses and encodes one stored line, or says what is wrong with it.
    pub(super) fn parse(schema: &Schema, bytes: &[u8]) -> Result<Entry, String> {
        let line: StoredLine =
            serde_json::from_slice(bytes).map_err(|e| format!("not a stored record: {e}"))?;
        let mut raw: Vec<Option<Box<str>>> = vec![None; schema.fields.len()];
        for (key, value) in line.fields.0 {
            let i = schema
                .field_index(&key)
                .ok_or_else(|| format!("unknown field {:?}", shorten(&key)))?;
            let Value::String(value) = value else {
                return Err(format!("field {key:?} is not a string"));
            };
            raw[i] = Some(value.into_boxed_str());
        }
        let raw: Box<[Box<str>]> = raw
            .into_iter()
            .zip(&schema.fields)
            .map(|(v, f)| v.ok_or_else(|| format!("field {:?} is missing", f.name)))
            .collect::<Result<_, _>>()?;
        let values = schema
            .fields
            .iter()
            .zip(raw.iter())
            .map(|(f, v)| f.ty.encode(&f.name, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let salt = parse_field_element(&line.salt).map_err(|e| format!("salt: {e}"))?;
        Ok(Entry {
            raw,
            record: Record { values, salt },
            revoked: line.revoked,
        })
    }
}

/// `s` itself when short, else its start and its length.
pub(super) fn shorten(s: &str) -> String {
    if s.len() <= MAX_QUOTED_BYTES {
        return s.to_string();
    }
    let mut end = MAX_QUOTED_BYTES / 2;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}
