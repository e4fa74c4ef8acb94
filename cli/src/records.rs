//! Where `zkgov registry build|update|sync` read records from: a CSV or
//! JSON Lines file, or the rows of a query on a department's own database
//! (`sqlite://PATH` or `postgres://…` with `--query "SELECT …"`).
//!
//! A database value becomes the text a CSV cell would hold for it, so that
//! the same record gives the same raw values, and so the same leaf, from
//! any source: text as it is, integers in decimal, `bool` as `true` or
//! `false`, PostgreSQL `numeric` in decimal with its scale's digits
//! (`12.50`), `date` as `YYYY-MM-DD`. `NULL`, floating-point numbers (write
//! `numeric`, or cast) and other types (cast them to text in the query) make
//! a bad row. The rows stream: they are validated and stored chunk by chunk
//! as they arrive, as a file's are.

use std::path::{Path, PathBuf};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, Type};
use zkgov_prover::registry::{Cell, RecordFormat, RecordsSource, RecordsTable, RegistryError};

use crate::Malformed;

/// A `--records` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Records {
    /// A CSV or JSON Lines file.
    File(PathBuf),
    /// An SQLite database, opened read-only.
    Sqlite(PathBuf),
    /// A PostgreSQL URL, which may hold a password.
    Postgres(String),
}

impl Records {
    /// Reads a `--records` value: `sqlite://PATH`, `postgres://…` or
    /// `postgresql://…`, else a file path.
    pub(crate) fn parse(value: &str) -> Self {
        if let Some(path) = value.strip_prefix("sqlite://") {
            Records::Sqlite(PathBuf::from(path))
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Records::Postgres(value.to_string())
        } else {
            Records::File(PathBuf::from(value))
        }
    }

    /// The source as messages show it: a URL's password is replaced by `***`.
    pub(crate) fn display(&self) -> String {
        match self {
            Records::File(path) => path.display().to_string(),
            Records::Sqlite(path) => format!("sqlite://{}", path.display()),
            Records::Postgres(url) => redact(url),
        }
    }

    /// Refuses a query without a database, a database without a query, and
    /// a format with a database.
    pub(crate) fn check_args(
        &self,
        query: Option<&str>,
        format: Option<RecordFormat>,
    ) -> Result<(), Malformed> {
        match (self, query) {
            (Records::File(path), Some(_)) => Err(Malformed(format!(
                "--query reads from a database, but {} is a file; give sqlite://PATH or postgres://…",
                path.display()
            ))),
            (Records::File(_), None) => Ok(()),
            (_, None) => Err(Malformed(format!(
                "{}: a database needs --query \"SELECT …\" naming the columns of the schema's fields",
                self.display()
            ))),
            (_, Some(_)) if format.is_some() => Err(Malformed(
                "--format is for records files; a query's columns are read by name".into(),
            )),
            (_, Some(_)) => Ok(()),
        }
    }

    /// Calls `read` with the records of this source: the file, or the rows of
    /// `query` as they stream from the database.
    pub(crate) fn read<T>(
        &self,
        query: Option<&str>,
        format: Option<RecordFormat>,
        read: impl FnOnce(RecordsSource<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let query = query.unwrap_or_default();
        match self {
            Records::File(path) => read(RecordsSource::File { path, format }),
            Records::Sqlite(path) => read_sqlite(path, &self.display(), query, read),
            Records::Postgres(url) => read_postgres(url, &self.display(), query, read),
        }
    }
}

/// `url` with the password of its userinfo replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn source_error(name: &str, message: String) -> RegistryError {
    RegistryError::Source {
        name: name.to_string(),
        message,
    }
}

const NULL: &str = "NULL; every field needs a value";

fn read_sqlite<T>(
    path: &Path,
    name: &str,
    query: &str,
    read: impl FnOnce(RecordsSource<'_>) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let fail = |what: &str, e: rusqlite::Error| source_error(name, format!("{what}: {e}"));
    // Read-only: a mistyped path is an error, not a new empty database.
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail("opening the database", e))?;
    let mut statement = conn
        .prepare(query)
        .map_err(|e| fail("preparing the query", e))?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let rows = statement
        .query([])
        .map_err(|e| fail("running the query", e))?;
    let mut table = SqliteRows {
        name,
        columns,
        rows,
    };
    read(RecordsSource::Table(&mut table))
}

struct SqliteRows<'a> {
    name: &'a str,
    columns: Vec<String>,
    rows: rusqlite::Rows<'a>,
}

impl RecordsTable for SqliteRows<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Option<Result<Vec<Cell>, RegistryError>> {
        let width = self.columns.len();
        match self.rows.next() {
            Ok(None) => None,
            Err(e) => Some(Err(source_error(
                self.name,
                format!("reading a row of the query: {e}"),
            ))),
            Ok(Some(row)) => Some(Ok((0..width)
                .map(|i| match row.get_ref(i) {
                    Ok(value) => sqlite_cell(value),
                    Err(e) => Err(e.to_string()),
                })
                .collect())),
        }
    }
}

fn sqlite_cell(value: rusqlite::types::ValueRef<'_>) -> Cell {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Err(NULL.into()),
        ValueRef::Integer(i) => Ok(i.to_string()),
        ValueRef::Real(x) => Err(format!(
            "the floating-point value {x}; store the value as TEXT or INTEGER, or CAST it in the query, so that no binary floating point is involved"
        )),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| "not valid UTF-8".into()),
        ValueRef::Blob(_) => Err("a BLOB; a field's value is text or a number".into()),
    }
}

fn read_postgres<T>(
    url: &str,
    name: &str,
    query: &str,
    read: impl FnOnce(RecordsSource<'_>) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    use zkgov_verifier::storage::postgres::{connect_client, describe_error};
    let (mut client, target) =
        connect_client(url).map_err(|message| source_error(name, message))?;
    let fail = |what: &str, e: postgres::Error| {
        source_error(name, format!("{what} ({target}): {}", describe_error(&e)))
    };
    let statement = client
        .prepare(query)
        .map_err(|e| fail("preparing the query", e))?;
    let columns: Vec<(String, Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    let rows = client
        .query_raw(&statement, std::iter::empty::<String>())
        .map_err(|e| fail("running the query", e))?;
    let mut table = PostgresRows {
        name,
        target: &target,
        names: columns.iter().map(|(n, _)| n.clone()).collect(),
        types: columns.into_iter().map(|(_, t)| t).collect(),
        rows,
    };
    read(RecordsSource::Table(&mut table))
}

struct PostgresRows<'a> {
    name: &'a str,
    target: &'a str,
    names: Vec<String>,
    types: Vec<Type>,
    rows: postgres::RowIter<'a>,
}

impl RecordsTable for PostgresRows<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn columns(&self) -> &[String] {
        &self.names
    }

    fn next_row(&mut self) -> Option<Result<Vec<Cell>, RegistryError>> {
        match self.rows.next() {
            Ok(None) => None,
            Err(e) => Some(Err(source_error(
                self.name,
                format!(
                    "reading a row of the query ({}): {}",
                    self.target,
                    zkgov_verifier::storage::postgres::describe_error(&e)
                ),
            ))),
            Ok(Some(row)) => Some(Ok(self
                .types
                .iter()
                .enumerate()
                .map(|(i, ty)| match row.try_get::<_, RawValue>(i) {
                    Ok(RawValue(None)) => Err(NULL.into()),
                    Ok(RawValue(Some(bytes))) => postgres_text(ty, &bytes),
                    Err(e) => Err(e.to_string()),
                })
                .collect())),
        }
    }
}

/// A value in PostgreSQL's binary form, whatever its type; `None` for NULL.
struct RawValue(Option<Vec<u8>>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(Some(raw.to_vec())))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The CSV text of a PostgreSQL value of type `ty` in binary form `raw`.
fn postgres_text(ty: &Type, raw: &[u8]) -> Cell {
    let decoded = |e: Box<dyn std::error::Error + Sync + Send>| format!("a {ty} value: {e}");
    match *ty {
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            String::from_sql(ty, raw).map_err(decoded)
        }
        Type::INT2 => i16::from_sql(ty, raw).map(|v| v.to_string()).map_err(decoded),
        Type::INT4 => i32::from_sql(ty, raw).map(|v| v.to_string()).map_err(decoded),
        Type::INT8 => i64::from_sql(ty, raw).map(|v| v.to_string()).map_err(decoded),
        Type::BOOL => bool::from_sql(ty, raw).map(|v| v.to_string()).map_err(decoded),
        Type::DATE => postgres_date(raw),
        Type::NUMERIC => postgres_numeric(raw),
        Type::FLOAT4 | Type::FLOAT8 => Err(format!(
            "a {ty} value; use numeric, or cast it in the query (::numeric(12,2)), so that no binary floating point is involved"
        )),
        _ => Err(format!(
            "a {ty} value has no field form; cast it to text in the query (::text)"
        )),
    }
}

/// A `date` (days since 2000-01-01) as `YYYY-MM-DD`.
fn postgres_date(raw: &[u8]) -> Cell {
    let days: [u8; 4] = raw.try_into().map_err(|_| "a malformed date".to_string())?;
    let days = i32::from_be_bytes(days);
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
    epoch
        .checked_add_signed(chrono::Duration::days(i64::from(days)))
        .filter(|_| days != i32::MAX && days != i32::MIN)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| "an infinite or out-of-range date".to_string())
}

/// A `numeric` in decimal with exactly its display scale's fraction
/// digits, as PostgreSQL prints it (`12.50`, `-3`, `0.007`).
fn postgres_numeric(raw: &[u8]) -> Cell {
    let malformed = || "a malformed numeric".to_string();
    let word = |i: usize| -> Result<u16, String> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(malformed)
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    if raw.len() != 8 + 2 * ndigits {
        return Err(malformed());
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    if digits.iter().any(|&d| d >= 10_000) {
        return Err(malformed());
    }
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Err("NaN is not a number".into()),
        0xD000 | 0xF000 => return Err("an infinite numeric".into()),
        _ => return Err(malformed()),
    };
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit(0).to_string());
        for i in 1..=weight {
            text.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    if negative && digits.iter().any(|&d| d != 0) {
        text.insert(0, '-');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_redacted() {
        assert_eq!(
            redact("postgres://clerk:s3cr%40t@db.example:5432/records?sslmode=require"),
            "postgres://clerk:***@db.example:5432/records?sslmode=require"
        );
        assert_eq!(
            redact("postgres://clerk@db/records"),
            "postgres://clerk@db/records"
        );
        assert_eq!(redact("postgres://db/records"), "postgres://db/records");
        let records = Records::parse("postgresql://a:pw@h/d");
        assert!(!records.display().contains("pw"));
    }

    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [digits.len() as u16, weight as u16, sign, dscale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_print_as_postgresql_prints_them() {
        assert_eq!(
            postgres_numeric(&numeric(0, 0, 2, &[12, 5000])).unwrap(),
            "12.50"
        );
        assert_eq!(
            postgres_numeric(&numeric(1, 0x4000, 0, &[1, 0])).unwrap(),
            "-10000"
        );
        assert_eq!(
            postgres_numeric(&numeric(-1, 0, 3, &[70])).unwrap(),
            "0.007"
        );
        assert_eq!(postgres_numeric(&numeric(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(
            postgres_numeric(&numeric(0, 0, 5, &[3, 1415, 9000])).unwrap(),
            "3.14159"
        );
        assert!(postgres_numeric(&numeric(0, 0xC000, 0, &[])).is_err());
        assert!(postgres_numeric(&numeric(0, 0, 0, &[10_000])).is_err());
        assert!(postgres_numeric(&[0, 1]).is_err());
    }

    #[test]
    fn dates_print_as_iso_dates() {
        assert_eq!(postgres_date(&0i32.to_be_bytes()).unwrap(), "2000-01-01");
        assert_eq!(postgres_date(&(-1i32).to_be_bytes()).unwrap(), "1999-12-31");
        assert!(postgres_date(&i32::MAX.to_be_bytes()).is_err());
        assert!(postgres_date(&[0, 0]).is_err());
    }

    #[test]
    fn a_query_needs_a_database_and_a_database_a_query() {
        let file = Records::parse("people.csv");
        let db = Records::parse("sqlite://people.db");
        assert!(file.check_args(None, None).is_ok());
        assert!(file.check_args(Some("SELECT 1"), None).is_err());
        assert!(db.check_args(None, None).is_err());
        assert!(db.check_args(Some("SELECT 1"), None).is_ok());
        assert!(db
            .check_args(Some("SELECT 1"), Some(RecordFormat::Csv))
            .is_err());
    }
}
