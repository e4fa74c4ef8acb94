//! The HTTP service (axum): keys, registry roots, proofs, cases and the
//! log, under `/v1`, with the OpenAPI document at `/v1/openapi.json`.
//!
//! Request handling follows three rules:
//! - every storage call and every verification runs off the async
//!   executor (storage on blocking threads, verification on at most one
//!   blocking thread per core);
//! - every append goes through the [`appender`], which commits in groups
//!   and answers only once the entries are durable, so a receipt always
//!   names a committed entry;
//! - every refusal is an [`error::ApiError`] with a stable reason.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Router};
use tokio::sync::{watch, Semaphore};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use zkgov_keys::store::KeyDir;
use zkgov_log::checkpoint::{CheckpointError, LogSigner};
use zkgov_log::rules::LogState;

use crate::storage::{self, Storage, StorageError};

mod api;
pub mod appender;
mod applications;
pub mod auth;
mod batcher;
pub mod config;
pub(crate) mod connections;
pub mod error;
mod events;
mod governance;
mod licence;
pub mod metrics;
mod openapi;
pub mod rotation;
pub mod signed;
pub mod startup;
pub mod tiles;
pub mod web;
mod witnesses;

use appender::{Appender, Ledger};
use batcher::Batcher;
use config::Config;
use error::ApiError;
use metrics::Metrics;
use signed::SignedLog;
use startup::LogStartError;

/// The OpenAPI 3.1 document of the API, generated from the handlers and
/// their bodies.
pub fn openapi_document() -> &'static str {
    openapi::document()
}

/// Every route the service answers, as (method, path pattern); the OpenAPI
/// document lists exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys/{key_id}"),
    ("POST", "/v1/registries/{registry}/roots"),
    ("POST", "/v1/proofs"),
    ("POST", "/v1/proofs/batch"),
    ("GET", "/v1/cases/{case_id}"),
    ("GET", "/v1/cases/{case_id}/compare"),
    ("POST", "/v1/cases/{case_id}/decisions"),
    ("GET", "/v1/cases"),
    ("GET", "/v1/cases/{case_id}/status"),
    ("GET", "/v1/procedures"),
    ("POST", "/v1/procedures"),
    ("POST", "/v1/applications"),
    ("POST", "/v1/applications/{case_id}/session"),
    ("GET", "/v1/applications/{case_id}"),
    ("GET", "/v1/applications/{case_id}/licence"),
    ("GET", "/v1/applications/{case_id}/events"),
    ("GET", "/v1/work"),
    ("POST", "/v1/work"),
    ("GET", "/v1/work/queue"),
    ("POST", "/v1/work/{id}"),
    ("GET", "/v1/governance"),
    ("POST", "/v1/governance/endorsements"),
    ("GET", "/v1/log/key"),
    ("GET", "/v1/log/checkpoint"),
    ("GET", "/v1/log/entries"),
    ("GET", "/v1/log/inclusion"),
    ("GET", "/v1/log/consistency"),
    // A wildcard in the router (a tile path has slashes); OpenAPI says `{path}`.
    ("GET", "/v1/log/tile/{path}"),
];

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database could not be opened.
    #[error("database {url}: {source}")]
    Storage {
        /// The URL, password removed.
        url: String,
        /// Why.
        source: StorageError,
    },
    /// The signing key could not be read or written.
    #[error("log signing key {path}: {message}")]
    SigningKey {
        /// The key file.
        path: String,
        /// Why.
        message: String,
    },
    /// A configured key directory could not be registered.
    #[error("key directory {path}: {message}")]
    KeyDir {
        /// The directory.
        path: String,
        /// Why.
        message: String,
    },
    /// The log in the database cannot be served.
    #[error(transparent)]
    Log(#[from] LogStartError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What every handler shares.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    storage: Arc<dyn Storage>,
    /// Set while the rules' state may hold entries of a commit that
    /// failed, until the appender has rebuilt it from the database: every
    /// request is answered 503 meanwhile.
    stale: Arc<AtomicBool>,
    /// The rules' state after every committed entry; the appender alone
    /// writes it.
    log: Arc<RwLock<LogState>>,
    signed: Arc<SignedLog>,
    appender: Appender,
    batcher: Batcher,
    metrics: Metrics,
    verifiers: Arc<Semaphore>,
    intake_limit: applications::RateLimit,
    /// The log's size after each commit, from the appender.
    log_size: watch::Receiver<u64>,
    /// Counts changes to the work queue (leases, completions), which the
    /// log does not show.
    casework: watch::Sender<u64>,
    /// Set once the service shuts down, which ends the event streams.
    stopping: watch::Sender<bool>,
    /// Places for applicants' event streams (`limits.max_event_streams`).
    event_streams: Arc<Semaphore>,
    /// The configured governance, while it waits for endorsements.
    proposal: Mutex<Option<zkgov_log::entry::Entry>>,
    /// The latest checkpoint with its witnesses' cosignatures.
    cosigned: witnesses::Cosigned,
    /// The department desk's sessions.
    desks: web::desk::Sessions,
}

/// The service, opened and ready to serve.
pub struct Service {
    state: Arc<AppState>,
    appender: JoinHandle<()>,
}

impl Service {
    /// Opens the database, loads or creates the log signing key, loads the
    /// registered keys and registers the configured key directories.
    ///
    /// This blocks; call it outside an async context (or in
    /// `spawn_blocking`).
    pub fn open(config: Config) -> Result<Service, StartError> {
        create_data_dir(&config)?;
        let storage_error = |source| StartError::Storage {
            url: storage::redact_password(&config.database),
            source,
        };
        let storage = storage::open(&config.database).map_err(storage_error)?;
        Service::open_on(config, storage)
    }

    /// Like [`Service::open`], on a store already opened (`config.database`
    /// only names it in messages): a wrapper that counts or injects
    /// faults, say.
    pub fn open_on(config: Config, storage: Arc<dyn Storage>) -> Result<Service, StartError> {
        create_data_dir(&config)?;
        let signed = SignedLog::open(&config.data_dir, &config.origin)?;
        let mut log = startup::load_state(&*storage, &signed)?;
        if !config.witnesses.is_empty() {
            // The log as the database holds it, a prefix of whatever was
            // signed before, is signed first, so that the witnesses can say
            // whether they have seen more.
            let (note, size) = signed
                .sign(&*storage, log.size(), log.root())
                .map_err(|e| {
                    LogStartError::Storage(StorageError::Corrupt {
                        what: e.to_string(),
                    })
                })?;
            witnesses::check_database_not_behind(&config.witnesses, &storage, &note, size)?;
        }
        let mut proposal = None;
        startup::append_direct(&*storage, &mut log, |log| {
            let governance = startup::governance_change(&config, log)?;
            match governance::judge(log, &governance) {
                Ok(governance::Verdict::Needs(needed)) => {
                    tracing::warn!(
                        %needed,
                        "the configured governance waits for the departments' endorsements \
                         (GET /v1/governance; `zkgov governance endorse`); the log's stays in force"
                    );
                    proposal = Some(governance);
                    None
                }
                _ => {
                    tracing::info!(
                        first = log.size() == 0,
                        "recording the configured governance in the log"
                    );
                    Some(governance)
                }
            }
        })?;
        let signed = Arc::new(rotation::hand_over_if_asked(
            &config.data_dir,
            &*storage,
            &mut log,
            signed,
        )?);
        startup::check_index(&*storage, &log, config.index_check)?;
        signed
            .sign(&*storage, log.size(), log.root())
            .map_err(|e| {
                LogStartError::Storage(StorageError::Corrupt {
                    what: e.to_string(),
                })
            })?;
        let metrics = Metrics::default();
        let (size, log_size) = watch::channel(log.size());
        let log = Arc::new(RwLock::new(log));
        let stale = Arc::new(AtomicBool::new(false));
        let (appender, thread) = Appender::start(Ledger {
            storage: storage.clone(),
            state: log.clone(),
            signed: signed.clone(),
            size,
            stale: stale.clone(),
        });
        // Exits by itself once the state, which holds its handle, is gone.
        let batcher = Batcher::start();
        if !config.departments.iter().any(|d| d.decides) {
            tracing::warn!(
                "no department has `decides = true`: every decision on a case will be refused"
            );
        }
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let limits_per_minute =
            u32::try_from(config.limits.applications_per_minute).unwrap_or(u32::MAX);
        let config_streams = config.limits.max_event_streams;
        let state = Arc::new(AppState {
            config,
            storage,
            log,
            stale,
            signed,
            appender,
            batcher,
            metrics,
            verifiers: Arc::new(Semaphore::new(threads)),
            intake_limit: applications::RateLimit::new(limits_per_minute),
            log_size,
            casework: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
            event_streams: Arc::new(Semaphore::new(config_streams)),
            proposal: Mutex::new(proposal),
            cosigned: witnesses::Cosigned::default(),
            desks: web::desk::Sessions::default(),
        });
        let service = Service {
            state,
            appender: thread,
        };
        service.register_key_dirs()?;
        Ok(service)
    }

    fn register_key_dirs(&self) -> Result<(), StartError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        for source in &self.state.config.keys {
            let fail = |message: String| StartError::KeyDir {
                path: source.dir.display().to_string(),
                message,
            };
            let dir = KeyDir::open(&source.dir).map_err(|e| fail(e.to_string()))?;
            let request = api::KeyRegistration {
                registry: source.registry.clone(),
                verifying_key: zkgov_keys::snarkjs::verifying_key_to_json(&dir.verifying_key),
                schema: dir.schema_text.clone(),
                policy: dir.policy_text.clone(),
                provenance: Some(dir.metadata.provenance()),
            };
            let registered = runtime.block_on(api::register_key(&self.state, request));
            registered.map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    }

    /// The log's verifier key, `name+hash+base64`, for clients.
    pub fn verifier_key(&self) -> String {
        self.state.signed.signer().verifier_key()
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.state.config.origin
    }

    /// The router, with every limit applied.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then stops taking
    /// connections, ends the event streams, lets in-flight requests
    /// finish, commits every queued append and returns. Open connections
    /// are capped (`limits.max_connections`), and each must send its
    /// request heads within `limits.header_read_timeout_seconds`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Service { state, appender } = self;
        let app = router(state.clone());
        // An event stream is a response that does not end by itself, so
        // the connection serving it would not close.
        let stopping = state.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.send_replace(true);
        };
        let witnessing = tokio::spawn(witnesses::run(state.clone()));
        let served = connections::serve(listener, app, &state.config.limits, shutdown).await;
        // It ends once `stopping` is set, and holds the state until then.
        let _ = witnessing.await;
        drop(state);
        // The appender exits once the last handle (held by the state) is
        // gone, after committing everything queued.
        tokio::task::spawn_blocking(move || appender.join())
            .await
            .ok();
        served
    }
}

/// A service running on its own thread and runtime, for tests, the demo
/// and benchmarks.
pub struct RunningService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The log's verifier key.
    pub verifier_key: String,
    /// The log's origin.
    pub origin: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<std::io::Result<()>>,
}

/// The data directory, created if it is missing.
fn create_data_dir(config: &Config) -> Result<(), StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::SigningKey {
        path: config.data_dir.display().to_string(),
        message: format!("cannot create the data directory: {e}"),
    })
}

impl RunningService {
    /// Opens and starts a service on `config.listen` (port 0 picks a free
    /// port) and returns once it accepts connections.
    pub fn spawn(config: Config) -> Result<RunningService, StartError> {
        let listen = config.listen;
        RunningService::start(listen, Service::open(config)?)
    }

    /// Like [`RunningService::spawn`], on a store already opened (see
    /// [`Service::open_on`]).
    pub fn spawn_on(
        config: Config,
        storage: Arc<dyn Storage>,
    ) -> Result<RunningService, StartError> {
        let listen = config.listen;
        RunningService::start(listen, Service::open_on(config, storage)?)
    }

    fn start(listen: std::net::SocketAddr, service: Service) -> Result<RunningService, StartError> {
        let verifier_key = service.verifier_key();
        let origin = service.origin().to_string();
        let listener = std::net::TcpListener::bind(listen).map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| StartError::Bind { addr, source })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("zkgov-verifier".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    service
                        .serve(listener, async move {
                            let _ = stopped.await;
                        })
                        .await
                })
            })
            .expect("spawning the service thread");
        Ok(RunningService {
            addr,
            verifier_key,
            origin,
            stop,
            thread,
        })
    }

    /// The base URL, `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down gracefully and waits.
    pub fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the service thread panicked")))
    }
}

fn router(state: Arc<AppState>) -> Router {
    let limits = &state.config.limits;
    let small = DefaultBodyLimit::max(limits.max_body_bytes);
    let large = DefaultBodyLimit::max(limits.max_batch_body_bytes);
    let api = Router::new()
        .route(
            "/v1/keys",
            get(api::list_keys).post(api::post_key).layer(large),
        )
        .route("/v1/keys/{key_id}", get(api::get_key))
        .route(
            "/v1/registries/{registry}/roots",
            post(api::post_root).layer(small),
        )
        .route("/v1/proofs", post(api::post_proof).layer(small))
        .route("/v1/proofs/batch", post(api::post_batch).layer(large))
        .route("/v1/cases/{case_id}", get(api::get_case))
        .route("/v1/cases/{case_id}/compare", get(api::compare_case))
        .route(
            "/v1/cases/{case_id}/decisions",
            post(api::post_decision).layer(small),
        )
        .route("/v1/cases", get(applications::list_cases))
        .route(
            "/v1/cases/{case_id}/status",
            get(applications::get_case_status),
        )
        .route(
            "/v1/procedures",
            get(applications::list_procedures)
                .post(applications::post_procedure)
                .layer(small),
        )
        .route(
            "/v1/applications",
            post(applications::post_application).layer(small),
        )
        .route(
            "/v1/applications/{case_id}/session",
            post(applications::post_session).layer(small),
        )
        .route(
            "/v1/applications/{case_id}",
            get(applications::get_application),
        )
        .route(
            "/v1/applications/{case_id}/licence",
            get(licence::get_licence),
        )
        .route(
            "/v1/applications/{case_id}/events",
            get(events::get_application_events),
        )
        .route(
            "/v1/work",
            get(applications::get_work)
                .post(applications::post_work_batch)
                .layer(large),
        )
        .route("/v1/work/queue", get(applications::get_queue))
        .route("/v1/work/{id}", post(applications::post_work).layer(large))
        .route("/v1/governance", get(governance::get_governance))
        .route(
            "/v1/governance/endorsements",
            post(governance::post_endorsement).layer(small),
        )
        .route("/v1/log/key", get(api::get_log_key))
        .route("/v1/log/checkpoint", get(api::get_checkpoint))
        .route("/v1/log/entries", get(api::get_entries))
        .route("/v1/log/inclusion", get(api::get_inclusion))
        .route("/v1/log/consistency", get(api::get_consistency))
        .route("/v1/log/tile/{*path}", get(tiles::get_tile))
        .route_layer(middleware::from_fn_with_state(state.clone(), current_state))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe));
    let open = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::get_metrics))
        .route("/v1/openapi.json", get(api::get_openapi));
    let pages = web::router()
        .route_layer(middleware::from_fn_with_state(state.clone(), current_state))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn(web::protect));
    // Health and metrics share the limits: a probe that is answered while
    // every slot is taken would report a service that cannot serve.
    api.merge(open)
        .merge(pages)
        .fallback(web::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new({
                    let state = state.clone();
                    move |error: BoxError| {
                        let state = state.clone();
                        async move { refuse(&state, error) }
                    }
                }))
                .load_shed()
                // `Router::layer` wraps each route on its own, so the limit
                // shares one semaphore across all of them.
                .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
                .timeout(limits.request_timeout),
        )
        .with_state(state)
}

/// Turns the protective layers' errors into API errors.
fn refuse(state: &AppState, error: BoxError) -> Response {
    let api_error = if error.is::<tower::load_shed::error::Overloaded>() {
        state.metrics.shed();
        ApiError::Overloaded
    } else if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::Timeout
    } else {
        ApiError::Internal(error.to_string())
    };
    state.metrics.request("-", "-", api_error.status().as_u16());
    api_error.into_response()
}

/// Answers 503 while the rules' state waits to be rebuilt after a failed
/// commit, so that no answer is read from entries that were not written.
/// With a shared database, first catches up with the entries other
/// instances committed before the request came: a client reads its own
/// writes whichever instance it reaches.
async fn current_state(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.stale.load(Ordering::Acquire) {
        return ApiError::StorageUnavailable("the log state awaits its rebuild".into())
            .into_response();
    }
    if state.config.shared_database {
        let storage = state.storage.clone();
        let size = match tokio::task::spawn_blocking(move || storage.size()).await {
            Ok(Ok(size)) => size,
            Ok(Err(e)) => return ApiError::from(e).into_response(),
            Err(e) => return ApiError::Internal(e.to_string()).into_response(),
        };
        if size > *state.log_size.borrow() {
            if let Err(e) = state.appender.catch_up().await {
                return ApiError::StorageUnavailable(e.to_string()).into_response();
            }
        }
    }
    next.run(request).await
}

/// Counts and logs each request by its route pattern, never its headers.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "-".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.request(&method, &route, status);
    tracing::info!(
        %method,
        %route,
        status,
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

impl AppState {
    /// The rules' state, for reading.
    fn log(&self) -> std::sync::RwLockReadGuard<'_, LogState> {
        self.log.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The governance change that waits for endorsements, if any.
    fn proposal(&self) -> std::sync::MutexGuard<'_, Option<zkgov_log::entry::Entry>> {
        self.proposal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the event streams after a change to the work queue.
    fn casework_changed(&self) {
        self.casework.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The file of the log's signing key in the data directory.
pub const SIGNING_KEY_FILE: &str = "log-signing.key";

/// The log signing key in `data_dir`, created (mode 0600) on first start.
pub(crate) fn load_or_create_signer(
    data_dir: &Path,
    origin: &str,
) -> Result<LogSigner, StartError> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    if path.exists() {
        return load_signer(&path, origin);
    }
    let fail = |message: String| StartError::SigningKey {
        path: path.display().to_string(),
        message,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
    let signer = LogSigner::generate(origin);
    write_private(&path, &signer.private_key()).map_err(|e| fail(e.to_string()))?;
    tracing::info!(path = %path.display(), "generated a new log signing key");
    Ok(signer)
}

/// A log signing key from the secret file at `path`, which must be for the
/// log of `origin`.
pub(crate) fn load_signer(path: &Path, origin: &str) -> Result<LogSigner, StartError> {
    let fail = |message: String| StartError::SigningKey {
        path: path.display().to_string(),
        message,
    };
    let text = read_private_file(path).map_err(fail)?;
    let signer =
        LogSigner::from_private_key(&text).map_err(|e: CheckpointError| fail(e.to_string()))?;
    if signer.name() != origin {
        return Err(fail(format!(
            "the key is for origin `{}`, but the service's origin is `{origin}`",
            signer.name()
        )));
    }
    Ok(signer)
}

/// Reads a secret file, which its owner alone may read.
pub(crate) fn read_private_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the key is open to others (mode {:o}); allow its owner only: chmod 600",
                mode & 0o777
            ));
        }
    }
    Ok(text)
}

/// Writes a secret key file atomically, readable by its owner only.
pub(crate) fn write_private(path: &Path, key: &str) -> Result<(), zkgov_keys::files::FileError> {
    zkgov_keys::files::write_atomically(path, format!("{key}\n").as_bytes())
}

/// The current time, Unix seconds.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
