//! The accept loop: HTTP/1.1 connections served by hyper, with the two
//! protections `axum::serve` does not offer.
//!
//! - **A header-read timeout.** A connection must send each request's line
//!   and headers within `limits.header_read_timeout`, counted from when it
//!   opens or its previous answer is written; otherwise it is closed without
//!   an answer. A client that trickles a request head therefore cannot hold
//!   a connection for long, and neither can an idle keep-alive connection.
//!   (Once the head is in, the request timeout of the router covers the
//!   body and the handler.)
//! - **A cap on open connections.** At most `limits.max_connections` are
//!   open at once. The loop takes a slot before it accepts, so a connection
//!   over the cap is not refused: it waits in the kernel's listen backlog
//!   and is accepted as soon as an open one closes, which the header-read
//!   timeout guarantees happens for stalled and idle ones. The service's
//!   open files stay bounded, and a burst of connections queues instead of
//!   failing.
//!
//! On shutdown the loop stops accepting and closes the listener, tells
//! every open connection to finish the request it is serving (an idle one
//! closes at once), and returns when all of them have closed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::config::Limits;

/// How long to wait before accepting again after the listener failed for
/// a reason other than one connection (such as running out of files).
const ACCEPT_RETRY: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// open connections finish their requests and returns once they are
/// closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Each connection holds a receiver: `true` asks it to finish, and the
    // sender sees every receiver dropped once every connection has closed.
    let (stop, _) = watch::channel(false);
    tokio::pin!(shutdown);

    'accepting: loop {
        let slot = tokio::select! {
            () = &mut shutdown => break 'accepting,
            slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
        };
        let (stream, peer) = loop {
            tokio::select! {
                () = &mut shutdown => break 'accepting,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => break (stream, peer),
                    // The client gave up before it was accepted.
                    Err(e) if is_connection_error(&e) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot accept connections; retrying");
                        tokio::select! {
                            () = &mut shutdown => break 'accepting,
                            () = tokio::time::sleep(ACCEPT_RETRY) => {}
                        }
                    }
                },
            }
        };
        // Handlers that limit per client (intake) read its address.
        let client = super::applications::ClientAddr(peer);
        let service = tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(client);
                request
            },
        );
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stopping = stop.subscribe();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            tokio::select! {
                // An error here is the client's (it went away, or sent
                // a bad or late request head): nothing to report.
                _ = connection.as_mut() => {}
                // The guard that `wait_for` returns must not live across
                // the await below, so it is dropped inside.
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }

    drop(listener);
    stop.send_replace(true);
    stop.closed().await;
    Ok(())
}

/// Whether an accept error concerns one connection only.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
