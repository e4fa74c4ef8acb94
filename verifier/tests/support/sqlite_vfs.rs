//! An SQLite VFS that fails fsync on demand, for the tests of what the
//! service does when the disk under its database does.
//!
//! [`install`] registers, as the process's default VFS, a shim over the
//! default one (`unix`): every file it opens is the default's file, every
//! call is passed through, except that while [`fail_next_syncs`] has armed
//! it for a directory, `xSync` of a file in it answers `SQLITE_IOERR_FSYNC`
//! without syncing, as a disk that reports a write error does. Tests that
//! run at once in one process, each in its own directory, do not disturb
//! each other. In WAL mode with `synchronous = FULL`, the
//! first sync of a commit is the WAL's, so arming one sync fails the next
//! commit at its fsync, after its frames were written.
//!
//! This is the one place in the tests with `unsafe` code: a VFS is a table
//! of C function pointers.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use libsqlite3_sys as ffi;

/// The directory whose files' syncs fail, and how many still to fail.
static ARMED: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);
/// Syncs failed so far.
static FAILED: AtomicU64 = AtomicU64::new(0);
/// The VFS the shim wraps.
static REAL: OnceLock<usize> = OnceLock::new();

/// Fails the next `n` fsyncs of SQLite files in `dir`.
pub fn fail_next_syncs(dir: &Path, n: u64) {
    *ARMED.lock().unwrap() = Some((dir.to_path_buf(), n));
}

/// Whether a sync of the file `name` fails, counting it down if so.
fn sync_fails(name: *const c_char) -> bool {
    if name.is_null() {
        return false;
    }
    // SQLite keeps the name given to xOpen valid until xClose.
    let name = unsafe { CStr::from_ptr(name) };
    let name = Path::new(std::str::from_utf8(name.to_bytes()).unwrap_or_default());
    let mut armed = ARMED.lock().unwrap();
    match armed.as_mut() {
        Some((dir, n)) if *n > 0 && name.starts_with(&*dir) => {
            *n -= 1;
            FAILED.fetch_add(1, Ordering::SeqCst);
            true
        }
        _ => false,
    }
}

/// How many fsyncs have failed on purpose so far.
pub fn failed() -> u64 {
    FAILED.load(Ordering::SeqCst)
}

/// Registers the shim as the default VFS, once per process; connections
/// opened from then on go through it.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| unsafe {
        assert_eq!(ffi::sqlite3_initialize(), ffi::SQLITE_OK);
        let real = ffi::sqlite3_vfs_find(ptr::null());
        assert!(!real.is_null(), "SQLite has no default VFS");
        REAL.set(real as usize).unwrap();
        let mut shim: ffi::sqlite3_vfs = *real;
        shim.szOsFile = (size_of::<File>() + (*real).szOsFile as usize) as c_int;
        shim.zName = c"zkgov-fsync-faults".as_ptr();
        shim.pNext = ptr::null_mut();
        shim.xOpen = Some(open);
        let shim = Box::leak(Box::new(shim));
        assert_eq!(ffi::sqlite3_vfs_register(shim, 1), ffi::SQLITE_OK);
    });
}

fn real_vfs() -> *mut ffi::sqlite3_vfs {
    *REAL.get().expect("the shim is installed") as *mut ffi::sqlite3_vfs
}

/// A file of the shim: its methods, its name, then the real file, which
/// lives in the bytes right after this header.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    name: *const c_char,
    real: *mut ffi::sqlite3_file,
}

/// The real file behind one of the shim's.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    (*(file as *mut File)).real
}

/// The real file's methods.
unsafe fn methods(file: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real(file)).pMethods
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let shim = file as *mut File;
    let inner = (file as *mut u8).add(size_of::<File>()) as *mut ffi::sqlite3_file;
    let vfs = real_vfs();
    let rc = ((*vfs).xOpen.expect("xOpen"))(vfs, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK || (*inner).pMethods.is_null() {
        // SQLite calls no method of a file whose methods are null.
        (*shim).base.pMethods = ptr::null();
        return rc;
    }
    (*shim).real = inner;
    (*shim).name = name;
    (*shim).base.pMethods = &METHODS;
    rc
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    (methods(file).xClose.expect("xClose"))(real(file))
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    (methods(file).xRead.expect("xRead"))(real(file), buf, amount, offset)
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    (methods(file).xWrite.expect("xWrite"))(real(file), buf, amount, offset)
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    (methods(file).xTruncate.expect("xTruncate"))(real(file), size)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    if sync_fails((*(file as *mut File)).name) {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    (methods(file).xSync.expect("xSync"))(real(file), flags)
}

unsafe extern "C" fn file_size(
    file: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    (methods(file).xFileSize.expect("xFileSize"))(real(file), size)
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    (methods(file).xLock.expect("xLock"))(real(file), level)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    (methods(file).xUnlock.expect("xUnlock"))(real(file), level)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    (methods(file)
        .xCheckReservedLock
        .expect("xCheckReservedLock"))(real(file), out)
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    (methods(file).xFileControl.expect("xFileControl"))(real(file), op, arg)
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    (methods(file).xSectorSize.expect("xSectorSize"))(real(file))
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    (methods(file)
        .xDeviceCharacteristics
        .expect("xDeviceCharacteristics"))(real(file))
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    match methods(file).xShmMap {
        Some(f) if methods(file).iVersion >= 2 => f(real(file), region, size, extend, out),
        _ => ffi::SQLITE_IOERR_SHMMAP,
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    match methods(file).xShmLock {
        Some(f) if methods(file).iVersion >= 2 => f(real(file), offset, n, flags),
        _ => ffi::SQLITE_IOERR_SHMLOCK,
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    if let Some(f) = methods(file)
        .xShmBarrier
        .filter(|_| methods(file).iVersion >= 2)
    {
        f(real(file));
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    match methods(file).xShmUnmap {
        Some(f) if methods(file).iVersion >= 2 => f(real(file), delete),
        _ => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    match methods(file).xFetch {
        Some(f) if methods(file).iVersion >= 3 => f(real(file), offset, amount, out),
        _ => {
            *out = ptr::null_mut();
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn unfetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    page: *mut c_void,
) -> c_int {
    match methods(file).xUnfetch {
        Some(f) if methods(file).iVersion >= 3 => f(real(file), offset, page),
        _ => ffi::SQLITE_OK,
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};
