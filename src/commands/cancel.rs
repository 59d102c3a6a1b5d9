//! `prodsync cancel RUN_ID`: stop a run from another shell. A running
//! process is asked to stop at its next safe point; a run that no process
//! drives is recorded as interrupted here. Then the run's import job is
//! cancelled on the server, unless `--keep-job` is given.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use prodsync::machine::SyncState;
use prodsync::session;
use prodsync::steps::NoProgress;
use prodsync::store::Store;

/// Longest wait for a running process to record its stop.
const STOP_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Run ID, as printed by `prodsync run` or listed by `prodsync runs`.
    pub run_id: String,

    /// Stop the run but leave its import job open on the server, so that
    /// `prodsync resume` can continue it.
    #[arg(long)]
    pub keep_job: bool,
}

pub async fn run(db: &Path, lease_ttl: Duration, args: CancelArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(db)?;
    let run_id = args.run_id.as_str();
    if matches!(store.run(run_id)?.state, SyncState::Done(_)) {
        println!("run {run_id} is already Done; nothing to cancel");
        return Ok(ExitCode::SUCCESS);
    }

    let driven = store
        .lease(run_id)?
        .is_some_and(|lease| lease.is_live() && !session::is_stale_holder(&lease.holder));
    if driven {
        stop_running_process(&store, run_id).await?;
    }

    let session = session::open(store.clone(), run_id, Arc::new(NoProgress), lease_ttl)
        .await
        .with_context(|| format!("cannot open run {run_id}"))?;
    let state = session.engine.interrupt("prodsync cancel")?;
    if !args.keep_job {
        cancel_job(&session, &state).await?;
    }
    session.release();
    if let Some(emulator) = session.emulator {
        emulator.shutdown().await;
    }
    println!("run {run_id} stopped in state {}", state.name());
    Ok(ExitCode::SUCCESS)
}

/// Asks the process that drives the run to stop, and waits for its lease to
/// go.
async fn stop_running_process(store: &Store, run_id: &str) -> anyhow::Result<()> {
    store.request_cancel(run_id)?;
    println!("asked the process driving run {run_id} to stop at its next safe point");
    let started = Instant::now();
    while store.lease(run_id)?.is_some_and(|lease| lease.is_live()) {
        if started.elapsed() > STOP_WAIT {
            bail!(
                "run {run_id} is still driven after {} s; stop that process (Ctrl-C or SIGTERM) and cancel again",
                STOP_WAIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Cancels the run's import job on the server, if it has one.
async fn cancel_job(session: &session::Session, state: &SyncState) -> anyhow::Result<()> {
    let configured = match state {
        SyncState::Failed(failed) => match failed.last_good.as_ref() {
            SyncState::ImportConfigured(configured) => configured,
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let client = &session.engine.context().client;
    let (Some(set), Some(job_id)) = (
        configured.destination.as_production_set(),
        configured.job.job_id(),
    ) else {
        return Ok(());
    };
    let workspace = set.workspace;
    let details = client.job_details(workspace, job_id).await?;
    if details.is_finished {
        println!(
            "import job {job_id} already ended ({}); nothing to cancel",
            details.state
        );
        return Ok(());
    }
    client
        .cancel_job(workspace, job_id)
        .await
        .with_context(|| format!("cannot cancel import job {job_id}"))?;
    println!("import job {job_id} cancelled on the server");
    Ok(())
}
