//! `prodsync runs`: every run in the database with its state, progress,
//! last error and age, newest first, so an operator finds what needs
//! attention.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use prodsync::machine::{StateName, SyncState};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Show only runs in this state, for example Failed or ImportConfigured.
    #[arg(long, value_parser = super::parse_state)]
    pub state: Option<StateName>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One run as `runs` prints it.
#[derive(Debug, Serialize)]
struct Row {
    run_id: String,
    workflow: String,
    state: String,
    batches_done: u64,
    batches_total: Option<u64>,
    last_error: Option<String>,
    updated_at: String,
    age_seconds: i64,
}

pub fn run(db: &Path, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_read_only(db)?;
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    for (record, batches_done) in store.list_runs()? {
        if args.state.is_some_and(|state| state != record.state.name()) {
            continue;
        }
        let created = chrono::DateTime::parse_from_rfc3339(&record.created_at)
            .map(|created| (now - created.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0);
        rows.push(Row {
            state: record.state.name().to_string(),
            batches_total: super::status::batch_count(&record.state),
            last_error: last_error(&record.state),
            run_id: record.run_id,
            workflow: record.workflow_name,
            batches_done,
            updated_at: record.updated_at,
            age_seconds: created,
        });
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn last_error(state: &SyncState) -> Option<String> {
    match state {
        SyncState::Failed(failed) => Some(failed.message.clone()),
        _ => None,
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<36}  {:<24} {:<20} {:>9}  {:>8}  last error",
        "run", "workflow", "state", "batches", "age"
    );
    for row in rows {
        let total = row
            .batches_total
            .map(|total| total.to_string())
            .unwrap_or_else(|| "?".into());
        println!(
            "{:<36}  {:<24} {:<20} {:>9}  {:>8}  {}",
            row.run_id,
            row.workflow,
            row.state,
            format!("{}/{total}", row.batches_done),
            age(row.age_seconds),
            row.last_error.as_deref().unwrap_or("")
        );
    }
}

/// Formats an age as the largest whole unit: 42s, 7m, 3h, 2d.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}
