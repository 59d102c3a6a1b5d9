//! `prodsync history RUN_ID`: the run's recorded transitions in order, as a
//! table or JSON. Each transition lists the failed attempts of its step
//! that were retried before it.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use prodsync::store::{AttemptRecord, TransitionRecord};
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
    /// Failed attempts of this step that were retried before it.
    attempts: Vec<&'a AttemptRecord>,
    state: &'a serde_json::Value,
}

pub fn run(db: &Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(db)?;
    store.run(&args.run_id)?;
    let transitions = store.transitions(&args.run_id)?;
    let attempts = store.attempts(&args.run_id)?;
    let entries = entries(&transitions, &attempts);

    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        print_table(&entries);
    }
    Ok(ExitCode::SUCCESS)
}

/// Pairs each transition with the retried attempts of its step that came
/// before it and after the step's previous transition.
fn entries<'a>(
    transitions: &'a [TransitionRecord],
    attempts: &'a [AttemptRecord],
) -> Vec<Entry<'a>> {
    let mut entries = Vec::with_capacity(transitions.len());
    let mut taken = vec![false; attempts.len()];
    for record in transitions {
        let mut own = Vec::new();
        for (index, attempt) in attempts.iter().enumerate() {
            if !taken[index] && attempt.step == record.step && attempt.attempt < record.attempt {
                taken[index] = true;
                own.push(attempt);
            }
        }
        entries.push(Entry {
            seq: record.seq,
            from: &record.from,
            to: &record.to,
            step: &record.step,
            attempt: record.attempt,
            started_at: &record.started_at,
            finished_at: &record.finished_at,
            outcome: &record.outcome,
            error: record.error.as_deref(),
            attempts: own,
            state: &record.state,
        });
    }
    entries
}

fn print_table(entries: &[Entry<'_>]) {
    println!(
        "{:>3}  {:<20} {:<20} {:<20} {:>7}  {:<11} {:<24} {:<24} error",
        "seq", "from", "to", "step", "attempt", "outcome", "started", "finished"
    );
    for entry in entries {
        for attempt in &entry.attempts {
            println!(
                "{:>3}  {:<20} {:<20} {:<20} {:>7}  {:<11} {:<24} {:<24} {} (retried after {} ms)",
                "",
                entry.from,
                "",
                attempt.step,
                attempt.attempt,
                "retried",
                attempt.started_at,
                attempt.finished_at,
                attempt.error,
                attempt.delay_ms
            );
        }
        println!(
            "{:>3}  {:<20} {:<20} {:<20} {:>7}  {:<11} {:<24} {:<24} {}",
            entry.seq,
            entry.from,
            entry.to,
            entry.step,
            entry.attempt,
            entry.outcome,
            entry.started_at,
            entry.finished_at,
            entry.error.unwrap_or("")
        );
    }
}
