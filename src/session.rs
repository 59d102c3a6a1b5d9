//! Sessions: what one process needs to drive a run (the checkpoint store,
//! the Relativity client, the file share, and for the embedded default a
//! running emulator), and the creation of new runs.
//!
//! A run that uses the embedded emulator keeps the emulator's data in
//! `<database folder>/prodsync-emulator/<run ID>/`, so a later process sees
//! the same server state. The emulator's account for the engine is made
//! anew in each process with a random password that is never stored.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::distributions::{Alphanumeric, DistString};

use crate::emulator::{DemoSpec, Emulator, EmulatorError, RunningEmulator};
use crate::engine::Engine;
use crate::fileshare::FileShare;
use crate::machine::SyncState;
use crate::relativity::{ClientConfig, ConfigError, Credentials, RelativityClient};
use crate::steps::{Progress, StepContext};
use crate::store::{NewRun, Store, StoreError};
use crate::workflow::{EmbeddedEmulator, LoadedWorkflow, Seed, Workflow, WorkflowError};

/// Name of the destination production set the embedded emulator creates.
const EMBEDDED_SET_NAME: &str = "prodsync destination";

/// Error of setting up a run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    Workflow(#[from] WorkflowError),

    #[error("embedded emulator in {dir}: {source}")]
    Emulator { dir: PathBuf, source: EmulatorError },

    #[error("cannot build the Relativity client: {0}")]
    Client(#[from] ConfigError),

    #[error("run {run_id}: stored workflow is unreadable: {source}")]
    StoredWorkflow {
        run_id: String,
        source: serde_json::Error,
    },

    #[error("run {run_id} uses the embedded emulator but records no emulator folder")]
    NoEmulatorDir { run_id: String },
}

/// A run ready to drive, with the services it uses.
pub struct Session {
    pub engine: Engine,
    /// The embedded emulator, running for as long as the session lives.
    pub emulator: Option<RunningEmulator>,
}

/// Records a new run for a workflow; with the embedded emulator, first
/// seeds a fresh emulator for it. Returns the run ID.
#[tracing::instrument(skip_all, fields(workflow = %loaded.path.display()))]
pub async fn create_run(store: &Store, loaded: &LoadedWorkflow) -> Result<String, SessionError> {
    let run_id = uuid::Uuid::new_v4().to_string();
    let workflow = &loaded.workflow;

    let emulator_dir = match &workflow.relativity.emulator {
        Some(embedded) => {
            let dir = emulator_dir(store.path(), &run_id);
            seed_embedded(&dir, workflow, embedded).await?;
            Some(dir)
        }
        None => None,
    };

    let workflow_json = serde_json::to_string(workflow).expect("workflows serialize");
    store.create_run(&NewRun {
        run_id: &run_id,
        workflow_name: &workflow.name,
        workflow_path: &loaded.path.display().to_string(),
        workflow_sha256: &loaded.sha256,
        workflow_json: &workflow_json,
        emulator_dir,
        state: &SyncState::Configured,
    })?;
    tracing::info!(%run_id, "run created");
    Ok(run_id)
}

/// Opens a recorded run: starts what it needs and builds its engine.
pub async fn open(
    store: Arc<Store>,
    run_id: &str,
    progress: Arc<dyn Progress>,
) -> Result<Session, SessionError> {
    let record = store.run(run_id)?;
    let workflow: Workflow = serde_json::from_str(&record.workflow_json).map_err(|source| {
        SessionError::StoredWorkflow {
            run_id: run_id.to_string(),
            source,
        }
    })?;
    let workflow_path = PathBuf::from(&record.workflow_path);

    let (client, file_share, emulator) = if workflow.uses_embedded_emulator() {
        let dir = record
            .emulator_dir
            .clone()
            .ok_or_else(|| SessionError::NoEmulatorDir {
                run_id: run_id.to_string(),
            })?;
        start_embedded(&dir, &workflow).await?
    } else {
        let (client, share) = connect_server(&workflow, &workflow_path)?;
        (client, share, None)
    };

    let context = StepContext {
        run_id: run_id.to_string(),
        workflow,
        client,
        file_share,
        store,
        progress,
    };
    Ok(Session {
        engine: Engine::new(context),
        emulator,
    })
}

/// Folder of the embedded emulator's data for a run.
pub fn emulator_dir(database: &Path, run_id: &str) -> PathBuf {
    let parent = database.parent().filter(|dir| !dir.as_os_str().is_empty());
    parent
        .unwrap_or(Path::new("."))
        .join("prodsync-emulator")
        .join(run_id)
}

async fn seed_embedded(
    dir: &Path,
    workflow: &Workflow,
    embedded: &EmbeddedEmulator,
) -> Result<(), SessionError> {
    let dir = dir.to_path_buf();
    let workflow = workflow.clone();
    let seed = embedded.seed.clone();
    let error_dir = dir.clone();
    tokio::task::spawn_blocking(move || seed_blocking(&dir, &workflow, &seed))
        .await
        .expect("seeding does not panic")
        .map_err(|source| SessionError::Emulator {
            dir: error_dir,
            source,
        })
}

fn seed_blocking(dir: &Path, workflow: &Workflow, seed: &Seed) -> Result<(), EmulatorError> {
    let emulator = Emulator::open(dir)?;
    let source = &workflow.source;
    let destination = &workflow.destination;
    emulator.ensure_workspace(source.workspace, "prodsync source")?;
    emulator.ensure_workspace(destination.workspace, "prodsync destination")?;

    let production = source.production.unwrap_or_default();
    let summary = match seed {
        Seed::Demo(demo) => {
            let spec = DemoSpec {
                documents: demo.documents,
                max_pages: demo.max_pages,
                seed: demo.seed,
                bates_prefix: demo.bates_prefix.clone(),
                ..DemoSpec::default()
            };
            emulator.seed_demo(source.workspace, production, &spec)?
        }
        Seed::Volume(volume) => emulator.seed_opticon(
            source.workspace,
            production,
            &volume.opticon,
            volume.dat.as_deref(),
        )?,
    };
    tracing::info!(
        documents = summary.documents,
        pages = summary.pages,
        "embedded emulator seeded"
    );

    if let Some(set) = destination.production_set {
        emulator.create_production_set(destination.workspace, set, EMBEDDED_SET_NAME)?;
    }
    Ok(())
}

async fn start_embedded(
    dir: &Path,
    workflow: &Workflow,
) -> Result<(RelativityClient, FileShare, Option<RunningEmulator>), SessionError> {
    let emulator_error = |source| SessionError::Emulator {
        dir: dir.to_path_buf(),
        source,
    };
    let emulator = Emulator::open(dir).map_err(emulator_error)?;
    let username = format!(
        "prodsync-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 12)
    );
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    emulator
        .add_user(&username, &password, true)
        .map_err(emulator_error)?;

    let running = emulator
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .map_err(emulator_error)?;
    let client = RelativityClient::new(ClientConfig {
        base_url: running.base_url(),
        credentials: Credentials::Basic { username, password },
        timeout: Duration::from_secs(workflow.relativity.timeout_seconds),
        connect_timeout: Duration::from_secs(10),
    })?;
    Ok((client, emulator.file_share(), Some(running)))
}

fn connect_server(
    workflow: &Workflow,
    workflow_path: &Path,
) -> Result<(RelativityClient, FileShare), SessionError> {
    let credentials = workflow.relativity.resolve_credentials(workflow_path)?;
    let url = workflow.relativity.url.clone().unwrap_or_default();
    let client = RelativityClient::new(ClientConfig {
        base_url: url,
        credentials,
        timeout: Duration::from_secs(workflow.relativity.timeout_seconds),
        connect_timeout: Duration::from_secs(10),
    })?;
    let share = workflow
        .import
        .file_share
        .as_ref()
        .map(|share| share.to_file_share())
        .expect("the workflow check requires a file share with a URL");
    Ok((client, share))
}
