//! `prodsync history RUN_ID`: the run's recorded transitions in order, as a
//! table or JSON.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use prodsync::store::TransitionRecord;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Run ID, as printed by `prodsync run`.
    pub run_id: String,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One transition as `history --json` prints it.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    seq: i64,
    from: &'a str,
    to: &'a str,
    step: &'a str,
    attempt: i64,
    started_at: &'a str,
    finished_at: &'a str,
    outcome: &'a str,
    error: Option<&'a str>,
    state: &'a serde_json::Value,
}

pub fn run(db: &Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(db)?;
    store.run(&args.run_id)?;
    let transitions = store.transitions(&args.run_id)?;

    if args.json {
        let entries: Vec<Entry<'_>> = transitions.iter().map(entry).collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        print_table(&transitions);
    }
    Ok(ExitCode::SUCCESS)
}

fn entry(record: &TransitionRecord) -> Entry<'_> {
    Entry {
        seq: record.seq,
        from: &record.from,
        to: &record.to,
        step: &record.step,
        attempt: record.attempt,
        started_at: &record.started_at,
        finished_at: &record.finished_at,
        outcome: &record.outcome,
        error: record.error.as_deref(),
        state: &record.state,
    }
}

fn print_table(transitions: &[TransitionRecord]) {
    println!(
        "{:>3}  {:<20} {:<20} {:<20} {:<9} {:<24} {:<24} error",
        "seq", "from", "to", "step", "outcome", "started", "finished"
    );
    for record in transitions {
        println!(
            "{:>3}  {:<20} {:<20} {:<20} {:<9} {:<24} {:<24} {}",
            record.seq,
            record.from,
            record.to,
            record.step,
            record.outcome,
            record.started_at,
            record.finished_at,
            record.error.as_deref().unwrap_or("")
        );
    }
}
