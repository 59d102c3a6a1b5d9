//! `prodsync resume RUN_ID`: continue a stopped run from its last recorded
//! transition. A `Done` run is left as it is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use prodsync::machine::SyncState;
use prodsync::session::{self, Drive};

use super::progress::Bar;

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Run ID, as printed by `prodsync run` or listed by `prodsync runs`.
    pub run_id: String,

    /// Write run statistics (wall time, HTTP requests, checkpoint writes and
    /// their time, a bare SQLite commit's time) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
}

pub async fn run(db: &Path, lease_ttl: Duration, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(db)?;
    let record = store.run(&args.run_id)?;
    if matches!(record.state, SyncState::Done(_)) {
        println!("run {} is already Done; nothing to resume", args.run_id);
        return Ok(ExitCode::SUCCESS);
    }

    let session = session::open(store.clone(), &args.run_id, Arc::new(Bar::new()), lease_ttl)
        .await
        .with_context(|| format!("cannot open run {}", args.run_id))?;
    println!("run {} resumed from {}", args.run_id, record.state.name());
    super::drive::drive(
        session,
        Drive::Resume,
        &args.run_id,
        db,
        args.stats_json.as_deref(),
    )
    .await
}
