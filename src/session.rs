//! Sessions: what one process needs to drive a run (the checkpoint store,
//! the Relativity client, the file share, and for the embedded default a
//! running emulator), and the creation of new runs.
//!
//! The embedded emulator contains the workspace sides of a run: the seeded
//! source production, and the destination production set. A `load_file`
//! source or destination is a folder on this machine and needs neither.
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
use crate::engine::{Engine, Resumed};
use crate::fileshare::FileShare;
use crate::machine::SyncState;
use crate::relativity::{ClientConfig, ConfigError, Credentials, RelativityClient};
use crate::steps::{Progress, StepContext, StopSignal};
use crate::store::{NewRun, Store, StoreError};
use crate::workflow::{
    Destination, EmbeddedEmulator, LoadedWorkflow, Seed, Source, Workflow, WorkflowError,
    WorkspaceSource,
};

/// Name of the destination production set the embedded emulator creates.
const EMBEDDED_SET_NAME: &str = "prodsync destination";

/// Error of setting up a run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    Workflow(#[from] WorkflowError),

    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),

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
    lease_ttl: Duration,
}

/// Records a new run for a workflow; with the embedded emulator, first
/// seeds a fresh emulator for it. Returns the run ID.
#[tracing::instrument(skip_all, fields(workflow = %loaded.path.display()))]
pub async fn create_run(store: &Store, loaded: &LoadedWorkflow) -> Result<String, SessionError> {
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut workflow = loaded.workflow.clone();
    workflow.place_outputs(database_folder(store.path()));
    let workflow = &workflow;

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
///
/// The run's lease is taken first, before an embedded emulator starts, so
/// that a second process is refused before it touches any server state.
/// [`Session::drive`] renews the lease and gives it up at the end; a
/// session dropped without driving leaves it to expire after `lease_ttl`,
/// or releases it with [`Session::release`].
pub async fn open(
    store: Arc<Store>,
    run_id: &str,
    progress: Arc<dyn Progress>,
    lease_ttl: Duration,
) -> Result<Session, SessionError> {
    let record = store.run(run_id)?;
    let holder = lease_holder();
    store.acquire_lease(run_id, &holder, lease_ttl, is_stale_holder)?;
    match build(store.clone(), record, progress, holder.clone(), lease_ttl).await {
        Ok(session) => Ok(session),
        Err(error) => {
            let _ = store.release_lease(run_id, &holder);
            Err(error)
        }
    }
}

async fn build(
    store: Arc<Store>,
    record: crate::store::RunRecord,
    progress: Arc<dyn Progress>,
    holder: String,
    lease_ttl: Duration,
) -> Result<Session, SessionError> {
    let run_id = record.run_id.as_str();
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
        stop: StopSignal::default(),
        lease_holder: Some(holder),
        batches_recorded: Default::default(),
    };
    Ok(Session {
        engine: Engine::new(context),
        emulator,
        lease_ttl,
    })
}

/// Mode in which a session drives its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// A new run, from `Configured`.
    Start,
    /// A stopped run, after checking what may have changed.
    Resume,
}

impl Session {
    /// Returns the signal that stops the run at its next safe point.
    pub fn stop_signal(&self) -> StopSignal {
        self.engine.context().stop.clone()
    }

    /// Gives the run's lease up.
    pub fn release(&self) {
        let context = self.engine.context();
        let holder = context.lease_holder.as_deref().unwrap_or_default();
        if let Err(error) = context.store.release_lease(&context.run_id, holder) {
            tracing::warn!(run_id = %context.run_id, %error, "could not release the lease; it expires by itself");
        }
    }

    /// Drives the run while holding its lease: renews the lease and watches
    /// for cancel requests while the engine runs, and gives it up at the
    /// end.
    pub async fn drive(&self, mode: Drive) -> Result<Resumed, SessionError> {
        let context = self.engine.context();
        let holder = context.lease_holder.clone().unwrap_or_default();
        let run_id = context.run_id.clone();
        let store = context.store.clone();
        let lease_ttl = self.lease_ttl;
        if mode == Drive::Resume {
            store.clear_cancel(&run_id)?;
        }

        let keeper = tokio::spawn(keep_lease(
            store.clone(),
            run_id.clone(),
            holder.clone(),
            lease_ttl,
            context.stop.clone(),
        ));
        let result = match mode {
            Drive::Start => self.engine.run().await.map(Resumed::Finished),
            Drive::Resume => self.engine.resume().await,
        };
        keeper.abort();
        self.release();
        // Leave the database file complete on its own, for copies of the
        // `.db` file alone and for readers that cannot checkpoint.
        if let Err(error) = store.checkpoint_wal(0) {
            tracing::warn!(%run_id, %error, "WAL checkpoint at the end of the run failed");
        }
        Ok(result?)
    }
}

/// Renews the lease while the run goes on, cancels the run when another
/// process asked for it (`prodsync cancel`) or the lease was lost, and
/// checkpoints the store's WAL once it grows past `store::WAL_CHECKPOINT_BYTES`.
async fn keep_lease(
    store: Arc<Store>,
    run_id: String,
    holder: String,
    ttl: Duration,
    stop: StopSignal,
) {
    let tick = Duration::from_millis(500);
    let renew_every = (ttl / 3).max(tick);
    let mut since_renewal = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        since_renewal += tick;
        checkpoint_wal(&store, &run_id).await;
        if matches!(store.cancel_requested(&run_id), Ok(Some(_))) {
            tracing::warn!(%run_id, "cancel requested by another process");
            stop.raise("prodsync cancel");
        }
        if since_renewal < renew_every {
            continue;
        }
        since_renewal = Duration::ZERO;
        if let Err(error) = store.renew_lease(&run_id, &holder, ttl) {
            tracing::error!(%run_id, %error, "lease renewal failed; stopping the run");
            stop.raise("a lost lease");
        }
    }
}

/// Checkpoints the store's WAL on a blocking thread; a failure is logged
/// and left to the next tick.
async fn checkpoint_wal(store: &Arc<Store>, run_id: &str) {
    let store = store.clone();
    let checkpoint = tokio::task::spawn_blocking(move || {
        store.checkpoint_wal(crate::store::WAL_CHECKPOINT_BYTES)
    });
    match checkpoint.await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::warn!(%run_id, %error, "WAL checkpoint failed; retrying later"),
        Err(error) => tracing::warn!(%run_id, %error, "WAL checkpoint task failed; retrying later"),
    }
}

/// Names this process as a lease holder: user, host, process ID, and a
/// random suffix.
pub fn lease_holder() -> String {
    let user = crate::store::audit::os_user();
    let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 6);
    format!(
        "{user}@{} pid {} #{suffix}",
        host_name(),
        std::process::id()
    )
}

/// True when a holder ran on this host in a process that no longer exists:
/// its lease can be taken over before it expires.
pub fn is_stale_holder(holder: &str) -> bool {
    let Some((_, rest)) = holder.split_once('@') else {
        return false;
    };
    let Some((host, rest)) = rest.split_once(" pid ") else {
        return false;
    };
    let Some(pid) = rest
        .split_whitespace()
        .next()
        .and_then(|pid| pid.parse::<i32>().ok())
    else {
        return false;
    };
    host == host_name() && !process_exists(pid)
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Folder of the embedded emulator's data for a run.
pub fn emulator_dir(database: &Path, run_id: &str) -> PathBuf {
    database_folder(database)
        .join("prodsync-emulator")
        .join(run_id)
}

/// Returns the folder that contains the database, where run outputs go.
fn database_folder(database: &Path) -> &Path {
    let parent = database.parent().filter(|dir| !dir.as_os_str().is_empty());
    parent.unwrap_or(Path::new("."))
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
    tokio::task::spawn_blocking(move || seed_blocking(&dir, &workflow, seed.as_ref()))
        .await
        .expect("seeding does not panic")
        .map_err(|source| SessionError::Emulator {
            dir: error_dir,
            source,
        })
}

/// Prepares the embedded emulator: the source workspace with its seeded
/// production when the source lives in a workspace, and the destination
/// workspace with an empty production set when the destination is one.
fn seed_blocking(
    dir: &Path,
    workflow: &Workflow,
    seed: Option<&Seed>,
) -> Result<(), EmulatorError> {
    let emulator = Emulator::open(dir)?;
    if let (Source::Workspace(source), Some(seed)) = (&workflow.source, seed) {
        emulator.ensure_workspace(source.workspace, "prodsync source")?;
        seed_source(&emulator, source, seed)?;
    }
    if let Destination::Workspace(destination) = &workflow.destination {
        emulator.ensure_workspace(destination.workspace, "prodsync destination")?;
        if let Some(set) = destination.production_set {
            emulator.create_production_set(destination.workspace, set, EMBEDDED_SET_NAME)?;
        }
    }
    Ok(())
}

fn seed_source(
    emulator: &Emulator,
    source: &WorkspaceSource,
    seed: &Seed,
) -> Result<(), EmulatorError> {
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
