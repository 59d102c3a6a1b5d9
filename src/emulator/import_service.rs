//! Import Service v1: import jobs into a production and their Opticon data
//! sources. Every response is the `ImportResponse` envelope with status 200,
//! also for a failed call (`IsSuccess` false with an error code); only
//! authentication, CSRF, workspace and permission failures use the Kepler
//! error shape. The import itself runs in `import_worker.rs`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::accounts::{Caller, Grant};
use super::api_error::{ApiError, Body};
use super::auth::require_workspace_access;
use super::import_jobs::{self, JobRow, SourceRow};
use super::server::blocking;
use super::{catalog, Emulator, EmulatorError};
use crate::opticon;
use crate::relativity::wire::{
    CreateJobRequest, DataSourceDetails, DataSourceRequest, DocumentsConfigurationRequest,
    ImportResponse, ItemErrors, JobDetails, JobProgress, OPTICON_DATA_SOURCE_TYPE,
};

// Error codes of the emulated Import Service.
const JOB_EXISTS: &str = "J.CR.VLD.1501";
const JOB_NOT_FOUND: &str = "J.RUN.NOT.1401";
const CONFIGURATION_INVALID: &str = "C.CR.VLD.2001";
const SOURCE_INVALID: &str = "S.CR.VLD.3001";
const SOURCE_NOT_FOUND: &str = "S.RUN.NOT.3401";
const BEGIN_INVALID: &str = "J.BEG.VLD.1601";
const JOB_FINISHED: &str = "J.END.VLD.1701";

/// Overwrite mode Append: every document is new.
const APPEND_MODE: i64 = 0;

type Answer = Json<ImportResponse<Value>>;

/// Failure of an Import Service call.
enum CallError {
    /// Sent in the Kepler shape with its status.
    Api(ApiError),
    /// Sent in the envelope with `IsSuccess` false.
    Import { code: &'static str, message: String },
}

impl From<ApiError> for CallError {
    fn from(error: ApiError) -> Self {
        CallError::Api(error)
    }
}

impl From<EmulatorError> for CallError {
    fn from(error: EmulatorError) -> Self {
        CallError::Api(error.into())
    }
}

fn reject(code: &'static str, message: String) -> CallError {
    CallError::Import { code, message }
}

/// Routes under `.../workspaces/{ws}/import-jobs/{jobId}`.
pub fn routes() -> Router<Emulator> {
    Router::new()
        .route("/", post(create))
        .route("/documents-configurations", post(configure))
        .route("/sources/{source}", post(add_source))
        .route("/begin", post(begin))
        .route("/end", post(end))
        .route("/cancel", post(cancel))
        .route("/details", get(details))
        .route("/progress", get(progress))
        .route("/sources/{source}/details", get(source_details))
        .route("/sources/{source}/itemerrors", get(item_errors))
}

/// Runs one call for the caller, who needs import permission in the
/// workspace, and wraps its outcome in the envelope.
async fn call<F>(
    emulator: Emulator,
    caller: Caller,
    workspace: i64,
    job_id: String,
    work: F,
) -> Result<Answer, ApiError>
where
    F: FnOnce(&Emulator, &Connection, &str) -> Result<Option<Value>, CallError> + Send + 'static,
{
    let reply_job_id = job_id.clone();
    let outcome = blocking(&emulator, move |emulator| {
        let connection = emulator.db().lock();
        require_import(&connection, &caller, workspace)?;
        Ok(work(emulator, &connection, &job_id))
    })
    .await?;

    let mut response = ImportResponse {
        is_success: true,
        error_message: String::new(),
        error_code: String::new(),
        import_job_id: reply_job_id,
        value: None,
    };
    match outcome {
        Ok(value) => response.value = value,
        Err(CallError::Api(error)) => return Err(error),
        Err(CallError::Import { code, message }) => {
            response.is_success = false;
            response.error_code = code.to_string();
            response.error_message = message;
        }
    }
    Ok(Json(response))
}

fn require_import(
    connection: &Connection,
    caller: &Caller,
    workspace: i64,
) -> Result<(), ApiError> {
    require_workspace_access(connection, caller, workspace)?;
    if !caller.may(connection, Grant::Import(workspace))? {
        return Err(ApiError::forbidden(format!(
            "User does not have permission to import into workspace {workspace}."
        )));
    }
    Ok(())
}

fn require_job(connection: &Connection, workspace: i64, job_id: &str) -> Result<JobRow, CallError> {
    import_jobs::find_job(connection, workspace, job_id)?.ok_or_else(|| {
        reject(
            JOB_NOT_FOUND,
            format!("Import job {job_id} does not exist in workspace {workspace}."),
        )
    })
}

fn require_source(
    connection: &Connection,
    job: &JobRow,
    source_id: &str,
) -> Result<SourceRow, CallError> {
    import_jobs::find_source(connection, job.workspace, &job.job_id, source_id)?.ok_or_else(|| {
        reject(
            SOURCE_NOT_FOUND,
            format!(
                "Data source {source_id} does not exist in import job {}.",
                job.job_id
            ),
        )
    })
}

fn require_unfinished(job: &JobRow) -> Result<(), CallError> {
    if job.is_finished() {
        return Err(reject(
            JOB_FINISHED,
            format!("Import job {} is {}.", job.job_id, job.state),
        ));
    }
    Ok(())
}

/// `POST base`: creates a New job.
async fn create(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
    Body(request): Body<CreateJobRequest>,
) -> Result<Answer, ApiError> {
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = JobRow {
                workspace,
                job_id: job_id.to_string(),
                application_name: request.application_name,
                correlation_id: request.correlation_id,
                state: "New".to_string(),
                production: None,
                end_requested: false,
            };
            if !import_jobs::insert_job(connection, &job)? {
                return Err(reject(
                    JOB_EXISTS,
                    format!("Import job {job_id} already exists."),
                ));
            }
            tracing::info!(workspace, job_id, "import job created");
            Ok(None)
        },
    )
    .await
}

/// `POST {base}/documents-configurations`: sets the destination production.
async fn configure(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
    Body(request): Body<DocumentsConfigurationRequest>,
) -> Result<Answer, ApiError> {
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            if job.state != "New" {
                return Err(reject(
                    CONFIGURATION_INVALID,
                    format!(
                        "Import job {job_id} is {}; only a New job can be configured.",
                        job.state
                    ),
                ));
            }
            let production = check_configuration(connection, workspace, &request)?;
            import_jobs::configure_job(connection, workspace, job_id, production)?;
            Ok(None)
        },
    )
    .await
}

/// Returns the destination production of a configuration, which must
/// exist and be eligible: New without data sources, or created by import.
fn check_configuration(
    connection: &Connection,
    workspace: i64,
    request: &DocumentsConfigurationRequest,
) -> Result<i64, CallError> {
    let settings = &request.import_settings;
    let mode = settings
        .overlay
        .as_ref()
        .map_or(APPEND_MODE, |overlay| overlay.mode);
    if mode != APPEND_MODE {
        return Err(reject(
            CONFIGURATION_INVALID,
            format!("Overlay mode {mode} is not supported; use Append (0)."),
        ));
    }
    let Some(production) = settings
        .image
        .as_ref()
        .and_then(|image| image.production_id)
    else {
        return Err(reject(
            CONFIGURATION_INVALID,
            "Image.ProductionID is missing; set the destination production.".to_string(),
        ));
    };
    let Some(row) = catalog::find_production(connection, workspace, production)? else {
        return Err(reject(
            CONFIGURATION_INVALID,
            format!("Production {production} does not exist in workspace {workspace}."),
        ));
    };

    let empty = catalog::data_sources(connection, workspace, production)?.is_empty();
    if !(row.imported || (row.status == "New" && empty)) {
        return Err(reject(
            CONFIGURATION_INVALID,
            format!("Production {production} is not eligible for import: its status is {} and it was not created by an import.", row.status),
        ));
    }
    Ok(production)
}

/// `POST {base}/sources/{sourceId}`: adds an Opticon file on the share.
async fn add_source(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id, source_id)): Path<(i64, String, String)>,
    Body(request): Body<DataSourceRequest>,
) -> Result<Answer, ApiError> {
    let answer = call(
        emulator.clone(),
        caller,
        workspace,
        job_id,
        move |emulator, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            require_unfinished(&job)?;
            if job.end_requested {
                return Err(reject(
                    JOB_FINISHED,
                    format!("Import job {job_id} was ended; no data source can be added."),
                ));
            }
            let settings = request.data_source_settings;
            let page_count = count_pages(emulator, &settings.path, settings.kind)?;
            let source = SourceRow {
                seq: 0,
                workspace,
                job_id: job_id.to_string(),
                source_id: source_id.clone(),
                state: if job.state == "InProgress" {
                    "Scheduled"
                } else {
                    "New"
                }
                .to_string(),
                settings,
                page_count,
            };
            if !import_jobs::insert_source(connection, &source)? {
                return Err(reject(
                    SOURCE_INVALID,
                    format!("Data source {source_id} already exists in import job {job_id}."),
                ));
            }
            Ok(None)
        },
    )
    .await;
    emulator.import_wakeup().notify_one();
    answer
}

/// Counts the pages of an Opticon source, or 0 if the file cannot be read
/// now (its import then fails and records why).
fn count_pages(emulator: &Emulator, path: &str, kind: i64) -> Result<i64, CallError> {
    if kind != OPTICON_DATA_SOURCE_TYPE {
        return Err(reject(
            SOURCE_INVALID,
            format!("Data source type {kind} is not supported; use Opticon (1)."),
        ));
    }
    let local = emulator
        .file_share()
        .to_local(path)
        .map_err(|error| reject(SOURCE_INVALID, format!("Path {path} is not valid: {error}")))?;
    Ok(opticon::read_file(&local).map_or(0, |pages| pages.len() as i64))
}

/// `POST {base}/begin`: schedules the sources added so far.
async fn begin(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
) -> Result<Answer, ApiError> {
    let answer = call(
        emulator.clone(),
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            if job.state != "Configured" {
                return Err(reject(
                    BEGIN_INVALID,
                    format!(
                        "Import job {job_id} is {}; configure it before it begins.",
                        job.state
                    ),
                ));
            }
            import_jobs::set_job_state(connection, workspace, job_id, "InProgress")?;
            import_jobs::move_sources(connection, workspace, job_id, &["New"], "Scheduled")?;
            tracing::info!(workspace, job_id, "import job began");
            Ok(None)
        },
    )
    .await;
    emulator.import_wakeup().notify_one();
    answer
}

/// `POST {base}/end`: no more sources; the job finishes after the last one.
async fn end(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
) -> Result<Answer, ApiError> {
    let answer = call(
        emulator.clone(),
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            require_unfinished(&job)?;
            import_jobs::request_end(connection, workspace, job_id)?;
            Ok(None)
        },
    )
    .await;
    emulator.import_wakeup().notify_one();
    answer
}

/// `POST {base}/cancel`: the job and its waiting sources become Canceled.
async fn cancel(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
) -> Result<Answer, ApiError> {
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            require_unfinished(&job)?;
            import_jobs::set_job_state(connection, workspace, job_id, "Canceled")?;
            import_jobs::move_sources(
                connection,
                workspace,
                job_id,
                &["New", "Scheduled"],
                "Canceled",
            )?;
            tracing::info!(workspace, job_id, "import job canceled");
            Ok(None)
        },
    )
    .await
}

/// `GET {base}/details`.
async fn details(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
) -> Result<Answer, ApiError> {
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            let details = JobDetails {
                is_finished: job.is_finished(),
                state: job.state,
                application_name: job.application_name,
                correlation_id: job.correlation_id,
            };
            Ok(Some(to_value(&details)))
        },
    )
    .await
}

/// `GET {base}/progress`: page counts over all sources.
async fn progress(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id)): Path<(i64, String)>,
) -> Result<Answer, ApiError> {
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            require_job(connection, workspace, job_id)?;
            let counts = import_jobs::job_counts(connection, workspace, job_id)?;
            let progress = JobProgress {
                records_in_data_sources: counts.pages,
                imported_records: counts.imported,
                error_records: counts.errors,
            };
            Ok(Some(to_value(&progress)))
        },
    )
    .await
}

/// `GET {base}/sources/{sourceId}/details`.
async fn source_details(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id, source_id)): Path<(i64, String, String)>,
) -> Result<Answer, ApiError> {
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            let source = require_source(connection, &job, &source_id)?;
            let details = DataSourceDetails {
                state: source.state,
                settings: Some(source.settings),
            };
            Ok(Some(to_value(&details)))
        },
    )
    .await
}

/// Query of `itemerrors`.
#[derive(Debug, Deserialize)]
struct Window {
    #[serde(default)]
    start: i64,
    #[serde(default = "default_length")]
    length: i64,
}

fn default_length() -> i64 {
    1_000
}

/// `GET {base}/sources/{sourceId}/itemerrors?start=0&length=N`.
async fn item_errors(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, job_id, source_id)): Path<(i64, String, String)>,
    Query(window): Query<Window>,
) -> Result<Answer, ApiError> {
    if window.start < 0 || window.length < 0 {
        return Err(ApiError::bad_request("start and length must be 0 or more."));
    }
    call(
        emulator,
        caller,
        workspace,
        job_id,
        move |_, connection, job_id| {
            let job = require_job(connection, workspace, job_id)?;
            let source = require_source(connection, &job, &source_id)?;
            let (errors, total) =
                import_jobs::item_errors(connection, source.seq, window.start, window.length)?;
            let returned = errors.len() as i64;
            let page = ItemErrors {
                errors,
                total_count: total,
                skipped: window.start,
                returned,
                has_more_records: window.start + returned < total,
            };
            Ok(Some(to_value(&page)))
        },
    )
    .await
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("wire types serialize to JSON")
}
