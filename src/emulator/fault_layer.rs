//! The middleware that injects faults, in front of every route including
//! the token endpoint, and the task that reloads the fault snapshot.
//!
//! A request that matches no fault only reads the in-memory snapshot. A
//! matching request counts itself in SQLite (`fault_store.rs`), which also
//! gives it its match index for the `count`, `rate` and `after` decision.
//! The snapshot is reloaded at once when this handle adds or clears faults,
//! and within [`RELOAD_INTERVAL`] when another connection or process does,
//! which `PRAGMA data_version` reveals.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::Connection;
use serde_json::json;
use tokio::sync::watch;

use super::api_error::ApiError;
use super::connection::ConnectionAbort;
use super::fault_store;
use super::faults::{match_path, ActiveFault};
use super::server::blocking;
use super::{Emulator, EmulatorError};
use crate::relativity::wire::TOKEN_PATH;

/// How often a server checks whether another connection changed the faults.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// The faults a server applies, as last loaded from the database.
#[derive(Debug, Default)]
pub struct FaultTable {
    snapshot: RwLock<Arc<Vec<ActiveFault>>>,
    /// `PRAGMA data_version` at the last load; -1 before the first.
    data_version: AtomicI64,
}

impl FaultTable {
    /// Creates an empty table that loads on the first [`FaultTable::refresh`].
    pub fn new() -> FaultTable {
        FaultTable {
            snapshot: RwLock::default(),
            data_version: AtomicI64::new(-1),
        }
    }

    /// Returns the faults in ID order.
    pub fn current(&self) -> Arc<Vec<ActiveFault>> {
        let snapshot = self.snapshot.read();
        snapshot
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Loads every stored fault; a spec that fails validation is skipped.
    pub fn reload(&self, connection: &Connection) -> Result<(), EmulatorError> {
        let version = data_version(connection)?;
        let mut active = Vec::new();
        for record in fault_store::list(connection)? {
            match record.spec.activate(record.id) {
                Ok(fault) => active.push(fault),
                Err(error) => tracing::warn!(fault_id = record.id, %error, "stored fault skipped"),
            }
        }
        let count = active.len();
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(active);
        self.data_version.store(version, Ordering::SeqCst);
        tracing::debug!(count, "faults loaded");
        Ok(())
    }

    /// Reloads if another connection committed since the last load.
    pub fn refresh(&self, connection: &Connection) -> Result<(), EmulatorError> {
        if data_version(connection)? != self.data_version.load(Ordering::SeqCst) {
            self.reload(connection)?;
        }
        Ok(())
    }
}

fn data_version(connection: &Connection) -> Result<i64, EmulatorError> {
    Ok(connection.pragma_query_value(None, "data_version", |row| row.get(0))?)
}

/// Refreshes the emulator's faults every [`RELOAD_INTERVAL`] until `stopped`.
pub async fn reload_loop(emulator: Emulator, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(RELOAD_INTERVAL) => {}
            _ = stopped.changed() => continue,
        }
        let reloader = emulator.clone();
        let refreshed = tokio::task::spawn_blocking(move || {
            reloader.fault_table().refresh(&reloader.db().lock())
        })
        .await;
        match refreshed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "reloading faults failed"),
            Err(error) => tracing::error!(%error, "fault reload task failed"),
        }
    }
}

/// Middleware: responds to a request with the first fault, in ID order, that
/// matches and fires; passes every other request on.
pub async fn inject(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let faults = emulator.fault_table().current();
    if faults.is_empty() {
        return next.run(request).await;
    }
    let path = match_path(request.uri().path());
    let candidates: Vec<ActiveFault> = faults
        .iter()
        .filter(|fault| fault.matches(request.method(), path))
        .cloned()
        .collect();
    if candidates.is_empty() {
        return next.run(request).await;
    }

    match blocking(&emulator, move |emulator| pick(emulator, &candidates)).await {
        Ok(Some(fault)) => apply(fault, request, next).await,
        Ok(None) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Counts the request on each candidate until one fires, and returns it.
fn pick(emulator: &Emulator, candidates: &[ActiveFault]) -> Result<Option<ActiveFault>, ApiError> {
    let connection = emulator.db().lock();
    for fault in candidates {
        let Some(index) = fault_store::record_match(&connection, fault.id)? else {
            continue;
        };
        if fault.spec.fires(index) {
            fault_store::record_fire(&connection, fault.id)?;
            return Ok(Some(fault.clone()));
        }
    }
    Ok(None)
}

async fn apply(fault: ActiveFault, request: Request, next: Next) -> Response {
    let spec = &fault.spec;
    tracing::warn!(
        fault_id = fault.id,
        method = %request.method(),
        path = request.uri().path(),
        "injecting fault"
    );
    if let Some(delay) = spec.delay_ms {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if spec.crash {
        tracing::error!(
            fault_id = fault.id,
            "crash fault fired, aborting the process"
        );
        std::process::abort();
    }
    if spec.drop {
        return drop_connection(&fault, &request);
    }
    match spec.status {
        Some(status) => error_answer(&fault, status, request.uri().path()),
        None => next.run(request).await,
    }
}

/// Aborts the request's connection; the returned response is never sent.
fn drop_connection(fault: &ActiveFault, request: &Request) -> Response {
    match request.extensions().get::<ConnectInfo<ConnectionAbort>>() {
        Some(ConnectInfo(abort)) => abort.trigger(),
        None => tracing::error!(
            fault_id = fault.id,
            "drop fault fired on a server without abortable connections, answering 500"
        ),
    }
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Builds the fault's error response in the shape of the endpoint's errors.
fn error_answer(fault: &ActiveFault, status: u16, path: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = fault
        .spec
        .message
        .clone()
        .unwrap_or_else(|| format!("Fault {} injected by the emulator.", fault.id));
    let mut response = if path == TOKEN_PATH {
        (status, Json(oauth_error_body(status, &message))).into_response()
    } else {
        ApiError::injected(status, message).into_response()
    };
    if let Some(retry_after) = &fault.spec.retry_after {
        match HeaderValue::from_str(retry_after) {
            Ok(value) => {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            Err(_) => tracing::warn!(
                fault_id = fault.id,
                retry_after,
                "retry_after is not a valid header value, header left out"
            ),
        }
    }
    response
}

/// Error body of the token endpoint, with an OAuth2 error code that suits
/// the status.
fn oauth_error_body(status: StatusCode, message: &str) -> serde_json::Value {
    let code = match status.as_u16() {
        400 | 401 => "invalid_client",
        429 | 503 => "temporarily_unavailable",
        _ => "server_error",
    };
    json!({ "error": code, "error_description": message })
}
