//! The HTTP server: the route table of every emulated service, its start
//! and shutdown, and the helper that runs SQLite work off the async threads.

use std::net::SocketAddr;

use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api_error::ApiError;
use super::claims::ClaimOwner;
use super::connection::{AbortableListener, ConnectionAbort};
use super::{
    auth, fault_layer, import_service, import_worker, object_manager, permissions, productions,
    search, Emulator, EmulatorError,
};
use crate::relativity::wire::{API_ROOT, TOKEN_PATH};

const PRODUCTION: &str =
    "/relativity-productions/v1/workspaces/{workspace}/productions/{production}";
const WORKSPACE_PERMISSIONS: &str =
    "/Relativity-Identity/v1/workspaces/{workspace}/list-permissions";
const ARTIFACT_PERMISSIONS: &str =
    "/Relativity-Identity/v1/workspaces/{workspace}/artifacts/{artifact}/list-permissions";
const OBJECT_MANAGER: &str = "/Relativity.ObjectManager/v1/workspace/{workspace}/object";
const PRODUCED_IMAGES: &str = "/Relativity.Services.Search.ISearchModule/Search%20Service/RetrieveImagesByProductionIDsAndDocumentIDsForExport";
const IMPORT_JOB: &str = "/import-service/v1/workspaces/{workspace}/import-jobs/{job}";

/// A server started by [`Emulator::serve`].
#[derive(Debug)]
pub struct RunningEmulator {
    /// The address the server listens on, with the port chosen if 0 was given.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    worker: JoinHandle<()>,
    fault_reloader: JoinHandle<()>,
}

impl RunningEmulator {
    /// Returns `http://ADDR`, the instance URL that clients use.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets open ones finish, and stops the import
    /// worker after the data source it is importing, if any.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.server.await {
            tracing::error!(%error, "emulator server task failed");
        }
        if let Err(error) = self.worker.await {
            tracing::error!(%error, "emulator import worker failed");
        }
        if let Err(error) = self.fault_reloader.await {
            tracing::error!(%error, "emulator fault reloader failed");
        }
        tracing::info!(addr = %self.addr, "emulator stopped");
    }
}

/// Adds the faults of the environment, binds `addr`, and starts the
/// server, the import worker and the fault reloader.
pub async fn serve(emulator: Emulator, addr: SocketAddr) -> Result<RunningEmulator, EmulatorError> {
    emulator.add_env_faults()?;
    let owner = ClaimOwner::acquire(emulator.data_dir())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let (stop, stopped) = watch::channel(false);

    let app = router(emulator.clone());
    let mut server_stopped = stopped.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stopped.wait_for(|stop| *stop).await;
        };
        let app = app.into_make_service_with_connect_info::<ConnectionAbort>();
        if let Err(error) = axum::serve(AbortableListener(listener), app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "emulator server failed");
        }
    });
    let worker = tokio::spawn(import_worker::run(emulator.clone(), stopped.clone(), owner));
    let fault_reloader = tokio::spawn(fault_layer::reload_loop(emulator, stopped));

    tracing::info!(%addr, "emulator listening");
    Ok(RunningEmulator {
        addr,
        stop,
        server,
        worker,
        fault_reloader,
    })
}

fn router(emulator: Emulator) -> Router {
    let object_manager = Router::new()
        .route("/initializeexport", post(object_manager::initialize))
        .route(
            "/retrieveresultsblockfromexport",
            post(object_manager::block),
        )
        .route(
            "/retrievenextresultsblockfromexport",
            post(object_manager::next_block),
        );

    let rest = Router::new()
        .route(PRODUCTION, get(productions::read))
        .route(WORKSPACE_PERMISSIONS, post(permissions::list_in_workspace))
        .route(ARTIFACT_PERMISSIONS, post(permissions::list_on_artifact))
        .nest(OBJECT_MANAGER, object_manager)
        .route(PRODUCED_IMAGES, post(search::produced_images))
        .nest(IMPORT_JOB, import_service::routes())
        .route_layer(middleware::from_fn_with_state(
            emulator.clone(),
            auth::require_caller,
        ));

    Router::new()
        .nest(API_ROOT, rest)
        .route(TOKEN_PATH, post(auth::token))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(
            emulator.clone(),
            fault_layer::inject,
        ))
        .with_state(emulator)
}

async fn unknown_route() -> Response {
    ApiError::not_found("The requested route does not exist.").into_response()
}

/// Runs SQLite or file work on tokio's blocking threads.
pub async fn blocking<T, F>(emulator: &Emulator, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Emulator) -> Result<T, ApiError> + Send + 'static,
{
    let emulator = emulator.clone();
    match tokio::task::spawn_blocking(move || work(&emulator)).await {
        Ok(result) => result,
        Err(error) => {
            tracing::error!(%error, "emulator request task failed");
            Err(ApiError::internal("Emulator request task failed."))
        }
    }
}
