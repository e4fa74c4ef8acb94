//! Changing a service's SQLite log behind its back, as an insider with
//! database access could.

use std::path::Path;

/// Rewrites the one entry of the log at `database` whose text contains every
/// string of `containing`, replacing `from` with `to` in it. The tree's
/// stored hashes are left alone, so only an audit against the signed
/// checkpoint can tell.
pub fn edit_entry(database: &Path, containing: &[&str], from: &str, to: &str) {
    let db = rusqlite::Connection::open(database).unwrap();
    let filter = (1..=containing.len())
        .map(|i| format!("CAST(entry AS TEXT) LIKE ?{i}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let patterns: Vec<String> = containing.iter().map(|c| format!("%{c}%")).collect();
    let (idx, entry): (i64, Vec<u8>) = db
        .query_row(
            &format!("SELECT idx, entry FROM entries WHERE {filter}"),
            rusqlite::params_from_iter(&patterns),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let edited = String::from_utf8(entry).unwrap().replace(from, to);
    let changed = db
        .execute(
            "UPDATE entries SET entry = ?1 WHERE idx = ?2",
            rusqlite::params![edited.into_bytes(), idx],
        )
        .unwrap();
    assert_eq!(changed, 1);
}
