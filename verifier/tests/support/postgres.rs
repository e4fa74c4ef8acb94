//! A throwaway PostgreSQL server for tests, started by the test process
//! itself, so that a plain `cargo test` needs no database set up beforehand.
//!
//! The first call to [`fresh_database`] in a test process:
//!
//! 1. finds the server binaries in `/usr/lib/postgresql/*/bin` (the highest
//!    version), installing Debian's `postgresql` package with apt-get if
//!    they are missing and the tests run as root (serialised across test
//!    processes with a file lock);
//! 2. creates a cluster in a new temporary directory with `initdb -A trust
//!    -U zkgov`, as the `postgres` user when running as root, because
//!    initdb and the server refuse to run as root;
//! 3. starts the server on a free port of 127.0.0.1, with `fsync = on` as in
//!    production, and waits until it accepts connections;
//! 4. starts a watchdog shell that stops the server and deletes the
//!    directory once the test process has exited (statics are never
//!    dropped, so nothing in the process can do it).
//!
//! Each call then creates a new empty database, so tests are isolated
//! while sharing one server.
//!
//! [`tls_server`] starts a second server the same way, with `ssl = on`, a
//! certificate for 127.0.0.1 and localhost issued by a certificate
//! authority made for the test ([`Server::ca_pem`]), and a `pg_hba.conf`
//! that accepts TCP connections only over TLS. Both servers are managed
//! over their Unix sockets.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::postgres::{Client, NoTls};

use super::apt::{run, running_as_root};

/// The role that owns the cluster; `initdb -U` makes it the superuser.
pub const USER: &str = "zkgov";

/// The Debian package with the server binaries.
const PACKAGE: &str = "postgresql";

/// Where Debian installs server binaries, one directory per major version.
const INSTALL_ROOT: &str = "/usr/lib/postgresql";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throwaway server.
pub struct Server {
    /// The TCP port on 127.0.0.1.
    port: u16,
    /// The server's major version directory, such as `15`.
    version: String,
    /// The directory holding the cluster, socket and log.
    dir: PathBuf,
    /// A connection to the `postgres` database, for creating databases.
    admin: Mutex<Client>,
    /// The number of the next database.
    next_database: AtomicU32,
    /// The certificate authority of a TLS server's certificate, PEM.
    ca_pem: Option<String>,
}

impl Server {
    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's major version, as installed (`15`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory holding the cluster; deleted when the tests exit.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A URL for database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The certificate authority that issued a TLS server's certificate,
    /// PEM; `None` for a server without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The URL of a newly created empty database on this server.
    pub fn fresh_database(&self) -> String {
        let name = format!("db_{}", self.next_database.fetch_add(1, Ordering::Relaxed));
        self.admin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("creating test database {name}: {e:?}"));
        self.url(&name)
    }
}

/// The server of this test process, started on first use.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(|| start(false)) {
        Ok(server) => server,
        Err(message) => panic!("the test PostgreSQL server is not available: {message}"),
    }
}

/// The TLS-only server of this test process, started on first use.
pub fn tls_server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(|| start(true)) {
        Ok(server) => server,
        Err(message) => panic!("the test PostgreSQL TLS server is not available: {message}"),
    }
}

/// The URL of a newly created empty database on this process's server.
pub fn fresh_database() -> String {
    server().fresh_database()
}

/// The bin directory of the newest installed server, and its version.
fn find_binaries() -> Option<(String, PathBuf)> {
    let mut found: Vec<(u32, String, PathBuf)> = fs::read_dir(INSTALL_ROOT)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.to_string();
            let major: u32 = version.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((major, version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, version, bin)| (version, bin))
}

/// The server binaries, installing the package first when they are missing
/// and we may.
fn ensure_installed(root: bool) -> Result<(String, PathBuf), String> {
    if let Some(found) = find_binaries() {
        return Ok(found);
    }
    if !root {
        return Err(format!(
            "no PostgreSQL server binaries in {INSTALL_ROOT}/*/bin, and the tests do not run \
             as root, so they cannot install them: install Debian's `{PACKAGE}` package \
             (`sudo apt-get install {PACKAGE}`) and run the tests again"
        ));
    }
    super::apt::install(&[PACKAGE], || find_binaries().is_some())?;
    find_binaries().ok_or_else(|| {
        format!("installed `{PACKAGE}`, but there are still no server binaries in {INSTALL_ROOT}")
    })
}

/// The uid and gid of the `postgres` user, which runs the server when we
/// are root.
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("cannot run `id`: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                "initdb and postgres refuse to run as root, and there is no `postgres` user to \
                 run them as (installing Debian's `postgresql` package creates it)"
                    .to_string()
            })
    };
    Ok((id("-u")?, id("-g")?))
}

/// Makes `command` run as `user` when it is set.
fn run_as(command: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}

/// Creates the directory for the cluster, owned by the user that runs the
/// server, somewhere that user can reach.
fn make_dir(user: Option<(u32, u32)>) -> Result<PathBuf, String> {
    let unique = format!(
        "zkgov-pg-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let mut tried = Vec::new();
    // The postgres user must be able to reach the directory; $TMPDIR may
    // sit under root's home, so fall back to /tmp.
    for parent in [std::env::temp_dir(), PathBuf::from("/tmp")] {
        let dir = parent.join(&unique);
        if fs::create_dir(&dir).is_err() {
            tried.push(format!("{}: cannot create", dir.display()));
            continue;
        }
        let reachable = match user {
            None => true,
            Some((uid, gid)) => {
                std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).is_ok()
                    && run(run_as(
                        Command::new("test").args(["-w", &dir.to_string_lossy()]),
                        user,
                    ))
                    .is_ok()
            }
        };
        if reachable && fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).is_ok() {
            return Ok(dir);
        }
        tried.push(format!(
            "{}: not writable by the postgres user",
            dir.display()
        ));
        let _ = fs::remove_dir_all(&dir);
    }
    Err(format!(
        "no directory for the test cluster: {}",
        tried.join("; ")
    ))
}

/// A TCP port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The server log, for error messages.
fn server_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("server.log")).unwrap_or_else(|e| format!("(no server log: {e})"))
}

/// Stops the server and deletes `dir` once this process has exited: a
/// shell in its own process group (so Ctrl-C on the tests does not kill it
/// first) that polls for our pid.
fn spawn_watchdog(server_pid: u32, dir: &Path) -> Result<(), String> {
    const SCRIPT: &str = r#"
trap '' INT TERM HUP
while kill -0 "$1" 2>/dev/null; do sleep 1; done
kill -INT "$2" 2>/dev/null
i=0
while kill -0 "$2" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$2" 2>/dev/null
rm -rf "$3"
"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "zkgov-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the watchdog shell: {e}"))
}

/// Starts `postgres` on `port`, with `settings` (`name=value`) beyond the
/// usual ones, and waits until it accepts connections on its Unix socket.
fn start_server(
    bin: &Path,
    dir: &Path,
    port: u16,
    user: Option<(u32, u32)>,
    settings: &[String],
) -> Result<(Child, Client), String> {
    let log = File::create(dir.join("server.log"))
        .map_err(|e| format!("cannot create the server log: {e}"))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot share the server log: {e}"))?;
    let port_arg = port.to_string();
    let mut child = run_as(
        Command::new(bin.join("postgres"))
            .args([
                "-D",
                &dir.join("data").to_string_lossy(),
                "-k",
                &dir.to_string_lossy(),
                "-p",
                &port_arg,
                "-c",
                "listen_addresses=127.0.0.1",
                // Durability is what the store claims, so the tests keep it on.
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "max_connections=200",
            ])
            .args(settings.iter().flat_map(|s| ["-c", s.as_str()])),
        user,
    )
    .current_dir(dir)
    .stdin(Stdio::null())
    .stdout(log)
    .stderr(log_err)
    .process_group(0)
    .spawn()
    .map_err(|e| format!("cannot start {}: {e}", bin.join("postgres").display()))?;
    spawn_watchdog(child.id(), dir)?;

    let deadline = Instant::now() + START_TIMEOUT;
    // The Unix socket, which a TLS-only server accepts without TLS.
    let params = format!(
        "host={} port={port} user={USER} dbname=postgres connect_timeout=5",
        dir.display()
    );
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server exited ({status}) before accepting connections; its log:\n{}",
                server_log(dir)
            ));
        }
        match Client::connect(&params, NoTls) {
            Ok(client) => return Ok((child, client)),
            Err(e) if Instant::now() >= deadline => {
                let _ = child.kill();
                return Err(format!(
                    "the server did not accept connections within {START_TIMEOUT:?} ({e}); \
                     its log:\n{}",
                    server_log(dir)
                ));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A certificate for 127.0.0.1 and localhost, its key, and the certificate
/// authority that issued it, all PEM.
struct Certificates {
    ca: String,
    cert: String,
    key: String,
}

fn make_certificates() -> Result<Certificates, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "zkgov test certificate authority");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let mut server =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "zkgov test server");
    let cert = server.signed_by(&key, &ca)?;
    Ok(Certificates {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Writes a file of the cluster, owned by the user that runs the server.
fn write_owned(path: &Path, text: &str, mode: u32, user: Option<(u32, u32)>) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    fs::write(path, text).map_err(fail)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(fail)?;
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(fail)?;
    }
    Ok(())
}

/// Turns TLS on for the cluster in `dir`: the certificate and key, and a
/// `pg_hba.conf` that refuses TCP connections without TLS. Returns the
/// server settings and the certificate authority.
fn enable_tls(dir: &Path, user: Option<(u32, u32)>) -> Result<(Vec<String>, String), String> {
    let certificates = make_certificates().map_err(|e| format!("making certificates: {e}"))?;
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    write_owned(&cert, &certificates.cert, 0o644, user)?;
    // The server refuses a key that others can read.
    write_owned(&key, &certificates.key, 0o600, user)?;
    write_owned(
        &dir.join("data").join("pg_hba.conf"),
        "local all all trust\n\
         hostssl all all 127.0.0.1/32 trust\n\
         hostnossl all all 127.0.0.1/32 reject\n",
        0o600,
        user,
    )?;
    let settings = vec![
        "ssl=on".to_string(),
        format!("ssl_cert_file={}", cert.display()),
        format!("ssl_key_file={}", key.display()),
    ];
    Ok((settings, certificates.ca))
}

/// Installs if needed, creates the cluster and starts the server, with TLS
/// only if `tls`.
fn start(tls: bool) -> Result<Server, String> {
    let root = running_as_root();
    let (version, bin) = ensure_installed(root)?;
    let user = if root { Some(postgres_user()?) } else { None };
    let dir = make_dir(user)?;
    let data = dir.join("data");
    run(run_as(
        Command::new(bin.join("initdb")).args([
            "-D",
            &data.to_string_lossy(),
            "-A",
            "trust",
            "-U",
            USER,
            "-E",
            "UTF8",
            "--locale=C",
            // The cluster is thrown away, so initdb need not fsync its
            // files; the server itself runs with fsync on.
            "--no-sync",
        ]),
        user,
    )
    .current_dir(&dir))
    .inspect_err(|_| {
        let _ = fs::remove_dir_all(&dir);
    })?;
    let (settings, ca_pem) = if tls {
        let (settings, ca) = enable_tls(&dir, user).inspect_err(|_| {
            let _ = fs::remove_dir_all(&dir);
        })?;
        (settings, Some(ca))
    } else {
        (Vec::new(), None)
    };

    // Another process may take the port between our probe and the server's
    // bind; try a few.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        match start_server(&bin, &dir, port, user, &settings) {
            Ok((_child, admin)) => {
                return Ok(Server {
                    port,
                    version,
                    dir,
                    admin: Mutex::new(admin),
                    next_database: AtomicU32::new(0),
                    ca_pem,
                })
            }
            Err(e) if e.contains("Address already in use") => last_error = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_error)
}
