//! `prodsync fork RUN_ID --from STATE`: starts a new run from the
//! checkpoint another run recorded in STATE, linked to it in the record,
//! and drives it as `resume` does.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use prodsync::audit::fork;
use prodsync::machine::StateName;
use prodsync::session::{self, Drive};

use super::progress::Bar;

#[derive(Debug, Args)]
pub struct ForkArgs {
    /// Run ID of the origin run.
    pub run_id: String,

    /// State whose latest recorded checkpoint the new run starts from, such
    /// as DestinationValidated.
    #[arg(long = "from", value_name = "STATE", value_parser = super::parse_state)]
    pub state: StateName,
}

pub async fn run(db: &Path, lease_ttl: Duration, args: ForkArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(db)?;
    let forked = fork::fork(&store, &args.run_id, args.state)
        .with_context(|| format!("cannot fork run {} from {}", args.run_id, args.state))?;
    let run_id = &forked.run_id;
    println!(
        "run {run_id} forked from run {} at transition {} ({})",
        forked.origin_run, forked.origin_seq, forked.state
    );

    let session = session::open(store.clone(), run_id, Arc::new(Bar::new()), lease_ttl)
        .await
        .with_context(|| format!("cannot open run {run_id}"))?;
    super::drive::drive(session, Drive::Resume, run_id, db, None).await
}
