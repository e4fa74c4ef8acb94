//! `zkgov registry …`: build a department's registry from a records file
//! or a query on the department's database, change it record by record,
//! bring it in line with its source (`sync`), print its root, check it,
//! and convert a registry of the earlier directory format.
//!
//! Every command prints only the root (canonical decimal) on standard
//! output, or with `--json` one document: the root, the counts, and the
//! indices a change touched. What was done goes to standard error. Bad input (bad rows,
//! unknown columns, too many records, unknown subjects) exits with code 2
//! and writes nothing. A damaged registry exits with code 1.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde::Serialize;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::tree::TreeShape;
use zkgov_circuits::Fr;
use zkgov_prover::registry::{self, RecordFormat, RecordsFile, Registry, RegistryError, Room};

use crate::records::Records;
use crate::Malformed;

#[derive(Subcommand)]
pub(crate) enum RegistryCommand {
    /// Build a registry from a records file (CSV or JSON Lines) or a database query, and
    /// print its root.
    Build(BuildArgs),
    /// Add, modify or revoke records, store the new state atomically, and print the new root.
    Update(UpdateArgs),
    /// Apply the differences between a source (file or query) and the registry in one change,
    /// by subject: new subjects are added, changed records modified, absent subjects revoked.
    Sync(SyncArgs),
    /// Print a registry's current root (one read; `check` verifies it).
    Root {
        /// The registry directory.
        dir: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Re-derive every leaf from its record and every node from its children, name the first
    /// that disagrees with what is stored (exit 1), else print the root.
    Check {
        /// The registry directory.
        dir: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Convert a registry of the directory format of earlier versions (CURRENT, state-N/) into
    /// the database format, in place, and print its root, which is unchanged.
    Migrate {
        /// The registry directory.
        dir: PathBuf,
        #[command(flatten)]
        output: Output,
    },
}

/// How a registry command prints its result.
#[derive(Args)]
pub(crate) struct Output {
    /// Print the root, the record counts and the indices changed as one JSON document.
    #[arg(long)]
    json: bool,
}

impl Output {
    /// Prints the root alone, or with `--json` the document of
    /// `docs/cli.md` ("JSON output").
    fn print(&self, root: &Fr, records: u64, revoked: u64, change: Option<&Change>) -> Result<()> {
        if self.json {
            let document = serde_json::json!({
                "root": to_decimal(root),
                "records": records,
                "revoked": revoked,
                "change": change,
            });
            println!("{}", serde_json::to_string(&document)?);
        } else {
            println!("{}", to_decimal(root));
        }
        Ok(())
    }
}

/// The records one change touched, by 0-based leaf index.
#[derive(Default, Serialize)]
struct Change {
    added: Vec<u64>,
    modified: Vec<u64>,
    revoked: Vec<u64>,
}

impl Change {
    /// `added 3 records at indices 52 to 54; revoked 1 record at index 2`.
    fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("added", &self.added),
            ("modified", &self.modified),
            ("revoked", &self.revoked),
        ]
        .into_iter()
        .filter(|(_, indices)| !indices.is_empty())
        .map(|(verb, indices)| at_indices(verb, indices))
        .collect();
        if parts.is_empty() {
            "changed no records".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// The format of a records file.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// A header row of field names (any order, optional `salt`), then one record per row.
    Csv,
    /// One JSON object per line, keyed by field name (optional `salt`).
    Jsonl,
}

impl From<FormatArg> for RecordFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Csv => RecordFormat::Csv,
            FormatArg::Jsonl => RecordFormat::JsonLines,
        }
    }
}

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The schema file (TOML).
    #[arg(long)]
    schema: PathBuf,
    /// The records: a file, or a database (sqlite://PATH, postgres://…) with --query. CSV: a
    /// header naming every schema field once, in any order, plus an optional `salt` column.
    /// JSON Lines: one object per line with the same keys; values are strings in the field's
    /// format, or JSON integers (uint, decimal, bool) and true/false (bool). A query: one column
    /// per field, named as the field, an optional `salt` column, and no other. Records without
    /// a salt get a random one.
    #[arg(long, value_name = "FILE|URL")]
    records: String,
    /// The query whose rows are the records, with --records sqlite://… or postgres://….
    #[arg(long, value_name = "SQL")]
    query: Option<String>,
    /// The records file's format; by default taken from its extension (.csv, .jsonl).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Children per tree node: 2, 4, 8 or 16.
    #[arg(long, default_value_t = TreeShape::DEFAULT_ARITY)]
    arity: usize,
    /// Levels of the registry tree, which holds arity^depth records.
    #[arg(long)]
    depth: u32,
    /// The registry directory to create; it must not exist.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .args(["add", "modify", "revoke", "revoke_index"]),
))]
pub(crate) struct UpdateArgs {
    /// The registry directory.
    dir: PathBuf,
    /// Append the records of FILE, or of a database with --query, at the next indices (same
    /// rules as `build --records`).
    #[arg(long, value_name = "FILE|URL")]
    add: Option<String>,
    /// Replace records with those of FILE (or a database with --query), each with a fresh salt
    /// unless the source gives one. Each row replaces the one live record that has the row's
    /// subject; a subject with several live records must be modified with --index.
    #[arg(long, value_name = "FILE|URL")]
    modify: Option<String>,
    /// With --modify: FILE holds exactly one record, which replaces the live record at INDEX
    /// (0-based leaf index). Its subject may differ (a parcel that changed hands).
    #[arg(long, value_name = "INDEX", requires = "modify")]
    index: Option<u64>,
    /// Revoke the one live record of each SUBJECT (the subject field's raw value): its leaf
    /// becomes 0 and the record stays, marked revoked.
    #[arg(long, value_name = "SUBJECT", num_args = 1..)]
    revoke: Vec<String>,
    /// Revoke the live records at these 0-based leaf indices.
    #[arg(long, value_name = "INDEX", num_args = 1..)]
    revoke_index: Vec<u64>,
    /// The query whose rows are the records, when --add or --modify names a database.
    #[arg(long, value_name = "SQL", conflicts_with_all = ["revoke", "revoke_index"])]
    query: Option<String>,
    /// The format of FILE; by default taken from its extension (.csv, .jsonl).
    #[arg(long, value_enum, conflicts_with_all = ["revoke", "revoke_index"])]
    format: Option<FormatArg>,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
pub(crate) struct SyncArgs {
    /// The registry directory. Its schema must declare subjects unique.
    dir: PathBuf,
    /// The source holding every record the registry should hold live: a file, or a database
    /// (sqlite://PATH, postgres://…) with --query (same rules as `build --records`). Raw values
    /// are compared, not salts.
    #[arg(long, value_name = "FILE|URL")]
    records: String,
    /// The query whose rows are the records, with a database.
    #[arg(long, value_name = "SQL")]
    query: Option<String>,
    /// The records file's format; by default taken from its extension (.csv, .jsonl).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn run(command: &RegistryCommand) -> Result<()> {
    match command {
        RegistryCommand::Build(args) => build(args),
        RegistryCommand::Update(args) => update(args),
        RegistryCommand::Sync(args) => sync(args),
        RegistryCommand::Root { dir, output } => {
            let registry = Registry::open(dir).map_err(|e| failure(e, None))?;
            output.print(
                &registry.root(),
                registry.len(),
                registry.revoked_count(),
                None,
            )
        }
        RegistryCommand::Check { dir, output } => {
            let start = Instant::now();
            let registry = Registry::open(dir).map_err(|e| failure(e, None))?;
            let report = registry.check().map_err(|e| failure(e, None))?;
            eprintln!(
                "checked {}: {} records ({} revoked), every leaf and node, in {:.1?}",
                dir.display(),
                report.records,
                report.revoked,
                start.elapsed()
            );
            output.print(&report.root, report.records, report.revoked, None)
        }
        RegistryCommand::Migrate { dir, output } => {
            let start = Instant::now();
            let registry =
                registry::migrate(dir).map_err(|e| failure(e, Some("nothing was changed")))?;
            eprintln!(
                "migrated {} to the database format: {} records, {} revoked, in {:.1?}",
                dir.display(),
                registry.len(),
                registry.revoked_count(),
                start.elapsed()
            );
            output.print(
                &registry.root(),
                registry.len(),
                registry.revoked_count(),
                None,
            )
        }
    }
}

/// Input errors exit with code 2, and say that nothing was written when
/// the command would have written; anything else (a damaged registry, an
/// I/O failure) exits with code 1.
pub(crate) fn failure(e: RegistryError, unchanged: Option<&str>) -> anyhow::Error {
    let malformed = matches!(
        e,
        RegistryError::Schema(_)
            | RegistryError::Tree(_)
            | RegistryError::UnknownFormat { .. }
            | RegistryError::Columns { .. }
            | RegistryError::BadRows { .. }
            | RegistryError::TooManyRecords { .. }
            | RegistryError::AlreadyExists { .. }
            | RegistryError::NotARegistry { .. }
            | RegistryError::NoSuchRecord { .. }
            | RegistryError::Revoked { .. }
            | RegistryError::BadSubjects { .. }
            | RegistryError::DuplicateSubjects { .. }
            | RegistryError::NeedsMigration { .. }
            | RegistryError::SyncNeedsUniqueSubjects { .. }
    );
    if !malformed {
        return e.into();
    }
    match unchanged {
        Some(note) => Malformed(format!("{e}\n{note}")).into(),
        None => Malformed(e.to_string()).into(),
    }
}

fn build(args: &BuildArgs) -> Result<()> {
    const UNCHANGED: Option<&str> = Some("nothing was written");
    let shape = TreeShape::new(args.arity, args.depth).map_err(|e| Malformed(e.to_string()))?;
    let format = args.format.map(Into::into);
    let records = Records::parse(&args.records);
    records.check_args(args.query.as_deref(), format)?;
    let start = Instant::now();
    let registry = records
        .read(args.query.as_deref(), format, |source| {
            registry::build_from(&args.schema, source, shape, &args.out)
        })
        .map_err(|e| failure(e, UNCHANGED))?;
    eprintln!(
        "built {}: {} records of schema {:?}, arity {}, depth {} (capacity {}), in {:.1?}",
        args.out.display(),
        registry.len(),
        registry.schema().name,
        shape.arity(),
        shape.depth(),
        shape.capacity(),
        start.elapsed()
    );
    args.output.print(
        &registry.root(),
        registry.len(),
        registry.revoked_count(),
        None,
    )
}

fn update(args: &UpdateArgs) -> Result<()> {
    const UNCHANGED: Option<&str> = Some("nothing was written; the registry is unchanged");
    let fail = |e| failure(e, UNCHANGED);
    let mut registry = Registry::open(&args.dir).map_err(|e| failure(e, None))?;
    let format = args.format.map(Into::into);
    let query = args.query.as_deref();
    let source = args
        .add
        .as_ref()
        .or(args.modify.as_ref())
        .map(|s| Records::parse(s));
    match &source {
        Some(source) => source.check_args(query, format)?,
        None if query.is_some() => {
            return Err(Malformed("--query goes with --add or --modify".into()).into())
        }
        None => {}
    }
    let change = if let (Some(source), Some(_)) = (&source, &args.add) {
        let room = registry.room();
        let records = source
            .read(query, format, |s| {
                RecordsFile::from_source(registry.schema(), s, room)
            })
            .map_err(fail)?;
        let added = registry.add_rows(records).map_err(fail)?;
        Change {
            added: added.collect(),
            ..Change::default()
        }
    } else if let Some(source) = &source {
        let records = source
            .read(query, format, |s| {
                RecordsFile::from_source(registry.schema(), s, Room::unlimited())
            })
            .map_err(fail)?;
        match args.index {
            Some(index) => {
                if records.len() != 1 {
                    return Err(Malformed(format!(
                        "{}: --index replaces one record, but the source holds {}\n{}",
                        source.display(),
                        records.len(),
                        UNCHANGED.unwrap_or_default()
                    ))
                    .into());
                }
                let record = records.into_records().remove(0);
                registry.modify(index, record).map_err(fail)?;
                Change {
                    modified: vec![index],
                    ..Change::default()
                }
            }
            None => Change {
                modified: registry.modify_by_subject(records).map_err(fail)?,
                ..Change::default()
            },
        }
    } else if !args.revoke.is_empty() {
        Change {
            revoked: registry.revoke_subjects(&args.revoke).map_err(fail)?,
            ..Change::default()
        }
    } else {
        revoke_indices(
            &mut registry,
            &args.revoke_index,
            UNCHANGED.unwrap_or_default(),
        )?;
        Change {
            revoked: args.revoke_index.clone(),
            ..Change::default()
        }
    };
    registry.commit().map_err(|e| failure(e, None))?;
    eprintln!(
        "{}; {} now holds {} records, {} revoked",
        change.describe(),
        args.dir.display(),
        registry.len(),
        registry.revoked_count()
    );
    args.output.print(
        &registry.root(),
        registry.len(),
        registry.revoked_count(),
        Some(&change),
    )
}

fn sync(args: &SyncArgs) -> Result<()> {
    const UNCHANGED: Option<&str> = Some("nothing was written; the registry is unchanged");
    let fail = |e| failure(e, UNCHANGED);
    let format = args.format.map(Into::into);
    let records = Records::parse(&args.records);
    records.check_args(args.query.as_deref(), format)?;
    let start = Instant::now();
    let mut registry = Registry::open(&args.dir).map_err(|e| failure(e, None))?;
    let file = records
        .read(args.query.as_deref(), format, |s| {
            RecordsFile::from_source(registry.schema(), s, Room::unlimited())
        })
        .map_err(fail)?;
    let rows = file.len();
    let report = registry.sync(file).map_err(fail)?;
    let unchanged = report.is_empty();
    let change = Change {
        added: report.added.collect(),
        modified: report.modified,
        revoked: report.revoked,
    };
    if unchanged {
        eprintln!(
            "no difference between {} ({rows} records) and {}; the registry is unchanged",
            records.display(),
            args.dir.display()
        );
    } else {
        registry.commit().map_err(|e| failure(e, None))?;
        eprintln!(
            "synced {} with {} in one change: added {}, modified {}, revoked {}; it now holds {} records, {} revoked; in {:.1?}",
            args.dir.display(),
            records.display(),
            change.added.len(),
            change.modified.len(),
            change.revoked.len(),
            registry.len(),
            registry.revoked_count(),
            start.elapsed()
        );
    }
    args.output.print(
        &registry.root(),
        registry.len(),
        registry.revoked_count(),
        Some(&change),
    )
}

/// Revokes the records at `indices`, or none of them: every index is
/// checked first.
fn revoke_indices(registry: &mut Registry, indices: &[u64], unchanged: &str) -> Result<()> {
    for (i, &index) in indices.iter().enumerate() {
        if indices[..i].contains(&index) {
            return Err(Malformed(format!("index {index} is given twice\n{unchanged}")).into());
        }
        if index >= registry.len() {
            let len = registry.len();
            return Err(failure(
                RegistryError::NoSuchRecord { index, len },
                Some(unchanged),
            ));
        }
        if registry.is_revoked(index) {
            return Err(failure(RegistryError::Revoked { index }, Some(unchanged)));
        }
    }
    for &index in indices {
        registry
            .revoke(index)
            .map_err(|e| failure(e, Some(unchanged)))?;
    }
    Ok(())
}

/// `added 3 records at indices 52 to 54`, `modified 1 record at index 2`,
/// `revoked 2 records at indices 4, 9`: a count, then the 0-based leaf
/// indices, a run of them as an inclusive range.
fn at_indices(verb: &str, indices: &[u64]) -> String {
    let consecutive = indices.windows(2).all(|w| w[1] == w[0] + 1);
    match indices {
        [] => format!("{verb} no records"),
        [index] => format!("{verb} 1 record at index {index}"),
        [first, .., last] if consecutive && indices.len() > 2 => format!(
            "{verb} {} records at indices {first} to {last}",
            indices.len()
        ),
        _ => format!(
            "{verb} {} records at indices {}",
            indices.len(),
            list(indices)
        ),
    }
}

fn list(indices: &[u64]) -> String {
    indices
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
