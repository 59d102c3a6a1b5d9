//! `prodsync report RUN_ID --html FILE`: writes a self-contained HTML page
//! for auditors: settings, timeline, batches, failure, and the results of
//! verifying and replaying the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use prodsync::audit::report;
use prodsync::store::AuditKey;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run ID, as printed by `prodsync run`.
    pub run_id: String,

    /// HTML file to write; an existing file is replaced.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
}

pub fn run(db: &Path, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_read_only(db)?;
    let key = AuditKey::from_env();
    let data = report::collect(&store, &args.run_id, key.as_ref())
        .with_context(|| format!("cannot read run {} for its report", args.run_id))?;
    let page = report::render(&data);
    std::fs::write(&args.html, page)
        .with_context(|| format!("cannot write the report to {}", args.html.display()))?;

    let verified = match &data.verification.mismatch {
        None => "chain verified".to_string(),
        Some(mismatch) => format!("chain does not verify: {mismatch}"),
    };
    let replayed = if data.replay.passed() {
        "replay passed"
    } else {
        "replay failed"
    };
    println!(
        "report of run {} written to {} ({verified}; {replayed})",
        args.run_id,
        args.html.display()
    );
    Ok(ExitCode::SUCCESS)
}
