//! `prodsync run WORKFLOW`: create a run, drive it to the end, and print a
//! summary. Exits 0 only when the run ends `Done`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use prodsync::machine::SyncState;
use prodsync::{session, workflow};

use super::progress::Bar;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workflow file (JSON), for example workflows/production-push.json.
    pub workflow: PathBuf,
}

pub async fn run(db: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = workflow::load(&args.workflow)?;
    let store = super::open_store(db)?;
    let started = Instant::now();

    let run_id = session::create_run(&store, &loaded)
        .await
        .with_context(|| format!("cannot start a run of {}", args.workflow.display()))?;
    println!("run {run_id} started ({})", loaded.workflow.name);

    let session = session::open(store.clone(), &run_id, Arc::new(Bar::new()))
        .await
        .with_context(|| format!("cannot open run {run_id}"))?;
    let end = session
        .engine
        .run()
        .await
        .with_context(|| format!("run {run_id} stopped"))?;
    if let Some(emulator) = session.emulator {
        emulator.shutdown().await;
    }

    print_summary(&run_id, &end, started, db);
    Ok(if matches!(end, SyncState::Done(_)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(run_id: &str, end: &SyncState, started: Instant, db: &Path) {
    let seconds = started.elapsed().as_secs_f64();
    match end {
        SyncState::Done(done) => {
            println!("run {run_id} Done in {seconds:.1} s");
            println!("  documents: {}", done.documents);
            println!("  pages:     {}", done.pages);
            println!(
                "  bates:     {} .. {}",
                done.first_bates.as_deref().unwrap_or("-"),
                done.last_bates.as_deref().unwrap_or("-")
            );
            println!(
                "  into:      production set {} in workspace {}",
                done.destination.production_set, done.destination.workspace
            );
        }
        SyncState::Failed(failed) => {
            println!(
                "run {run_id} Failed in {seconds:.1} s at step {}",
                failed.step
            );
            println!("  error:     {}", failed.message);
        }
        other => println!("run {run_id} stopped in state {}", other.name()),
    }
    println!("  database:  {}", db.display());
    println!(
        "  history:   prodsync --db {} history {run_id}",
        db.display()
    );
}
