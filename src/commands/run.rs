//! `prodsync run WORKFLOW`: create a run and drive it to the end. Exits 0
//! only when the run ends `Done`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use prodsync::session::{self, Drive};
use prodsync::workflow;

use super::progress::Bar;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workflow file (JSON), for example workflows/production-push.json.
    pub workflow: PathBuf,

    /// Write run statistics (wall time, HTTP requests, checkpoint writes and
    /// their time, a bare SQLite commit's time) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
}

pub async fn run(db: &Path, lease_ttl: Duration, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = workflow::load(&args.workflow)?;
    let store = super::open_store(db)?;

    let run_id = session::create_run(&store, &loaded)
        .await
        .with_context(|| format!("cannot start a run of {}", args.workflow.display()))?;
    println!("run {run_id} started ({})", loaded.workflow.name);

    let session = session::open(store.clone(), &run_id, Arc::new(Bar::new()), lease_ttl)
        .await
        .with_context(|| format!("cannot open run {run_id}"))?;
    super::drive::drive(
        session,
        Drive::Start,
        &run_id,
        db,
        args.stats_json.as_deref(),
    )
    .await
}
