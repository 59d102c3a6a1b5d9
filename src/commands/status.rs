//! `prodsync status RUN_ID`: a run's state and progress, as text or JSON.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use prodsync::machine::SyncState;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Run ID, as printed by `prodsync run`.
    pub run_id: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run summary that `status --json` prints.
#[derive(Debug, Serialize)]
struct Status {
    run_id: String,
    workflow: String,
    state: String,
    documents: u64,
    pages: u64,
    batches_done: usize,
    batches_total: Option<u64>,
    created_at: String,
    updated_at: String,
    /// Lease holder while a process drives the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    driven_by: Option<String>,
    /// The most recent retried error, if any step was retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_retried_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(db: &Path, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_read_only(db)?;
    let record = store.run(&args.run_id)?;
    let batches = store.batches(&args.run_id)?;

    let (failed_step, error) = match &record.state {
        SyncState::Failed(failed) => (Some(failed.step.to_string()), Some(failed.message.clone())),
        _ => (None, None),
    };
    let driven_by = store
        .lease(&args.run_id)?
        .filter(|lease| lease.is_live() && !prodsync::session::is_stale_holder(&lease.holder))
        .map(|lease| lease.holder);
    let last_retried_error = store.attempts(&args.run_id)?.pop().map(|attempt| {
        format!(
            "{} attempt {}: {}",
            attempt.step, attempt.attempt, attempt.error
        )
    });
    let status = Status {
        driven_by,
        last_retried_error,
        run_id: record.run_id.clone(),
        workflow: record.workflow_name.clone(),
        state: record.state.name().to_string(),
        documents: batches.iter().map(|batch| batch.documents).sum(),
        pages: batches.iter().map(|batch| batch.pages).sum(),
        batches_done: batches.len(),
        batches_total: batch_count(&record.state),
        created_at: record.created_at.clone(),
        updated_at: record.updated_at.clone(),
        failed_step,
        error,
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns the planned number of batches, once the import is configured.
pub fn batch_count(state: &SyncState) -> Option<u64> {
    match state {
        SyncState::ImportConfigured(configured) => Some(configured.job.batch_count),
        SyncState::Done(done) => Some(done.job.batch_count),
        SyncState::Failed(failed) => batch_count(&failed.last_good),
        _ => None,
    }
}

fn print_text(status: &Status) {
    println!("run:       {}", status.run_id);
    println!("workflow:  {}", status.workflow);
    println!("state:     {}", status.state);
    let total = status
        .batches_total
        .map(|total| total.to_string())
        .unwrap_or_else(|| "?".into());
    println!("batches:   {} of {total}", status.batches_done);
    println!("documents: {}", status.documents);
    println!("pages:     {}", status.pages);
    println!("created:   {}", status.created_at);
    println!("updated:   {}", status.updated_at);
    if let Some(holder) = &status.driven_by {
        println!("driven by: {holder}");
    }
    if let Some(error) = &status.last_retried_error {
        println!("retried:   {error}");
    }
    if let (Some(step), Some(error)) = (&status.failed_step, &status.error) {
        println!("failed at: {step}");
        println!("error:     {error}");
    }
}
