//! Durable, atomic writes: a file or directory either has its whole new
//! content under its name, or is as it was.
//!
//! Each write goes to a hidden sibling, is synced, and is renamed over its
//! name; the parent directory is then synced, since a rename is durable
//! only once its directory is. Files are readable by their owner only,
//! because what zkgov writes (keys, salts, tokens, trusted states) is
//! mostly secret. Every crate that writes a file goes through here.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that did not happen. Nothing is left under the name.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A directory to be created exists already.
    #[error("{} already exists; choose another --out or remove it first", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory `path` is in, `.` for a bare name.
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The hidden sibling that a write of `path` is staged in.
fn staging_for(path: &Path) -> Result<PathBuf, FileError> {
    let name = path.file_name().ok_or_else(|| FileError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    Ok(parent_of(path).join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Writes `bytes` to the new file `path`, owner-only, and syncs it. The
/// caller renames it or syncs its directory: see [`write_atomically`].
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_at(path))?;
    file.write_all(bytes).map_err(io_at(path))?;
    file.sync_all().map_err(io_at(path))
}

/// Syncs the directory `path`, so that what was created or renamed in it
/// persists.
pub fn sync_dir(path: &Path) -> Result<(), FileError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_at(path))
}

/// Writes `bytes` to `path`, replacing what was there: the file is
/// staged, synced and renamed over `path`, and the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = parent_of(path);
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let staging = staging_for(path)?;
    let result = write_synced(&staging, bytes)
        .and_then(|()| fs::rename(&staging, path).map_err(io_at(path)))
        .and_then(|()| sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&staging);
    }
    result
}

/// Creates the directory `out`, which must not exist: `fill` writes it
/// under a hidden sibling name, which is synced and renamed to `out` once
/// complete. On any error the sibling is removed and `out` does not exist.
pub fn create_dir_atomically<E: From<FileError>>(
    out: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    if out.exists() {
        return Err(FileError::AlreadyExists {
            path: out.to_path_buf(),
        }
        .into());
    }
    let parent = parent_of(out);
    fs::create_dir_all(parent).map_err(io_at(parent))?;
    let staging = staging_for(out)?;
    if staging.exists() {
        // A writer of the same process id crashed here.
        fs::remove_dir_all(&staging).map_err(io_at(&staging))?;
    }
    fs::create_dir(&staging).map_err(io_at(&staging))?;
    let result = fill(&staging).and_then(|()| {
        sync_dir(&staging)?;
        if out.exists() {
            return Err(FileError::AlreadyExists {
                path: out.to_path_buf(),
            }
            .into());
        }
        fs::rename(&staging, out).map_err(io_at(out))?;
        Ok(sync_dir(parent)?)
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secret.key");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.key"], "no staging file is left");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomically(&path, b"old").unwrap();
        // A directory where the staging file goes makes the write fail.
        fs::create_dir(staging_for(&path).unwrap()).unwrap();
        assert!(matches!(
            write_atomically(&path, b"new"),
            Err(FileError::Io { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_directory_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keys");
        let failed: Result<(), FileError> = create_dir_atomically(&out, |staging| {
            write_synced(&staging.join("a"), b"a")?;
            Err(FileError::AlreadyExists {
                path: staging.to_path_buf(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

        create_dir_atomically::<FileError>(&out, |staging| write_synced(&staging.join("a"), b"a"))
            .unwrap();
        assert_eq!(fs::read(out.join("a")).unwrap(), b"a");
        assert!(matches!(
            create_dir_atomically::<FileError>(&out, |_| Ok(())),
            Err(FileError::AlreadyExists { .. })
        ));
    }
}
