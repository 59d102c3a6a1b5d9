//! `prodsync history RUN_ID`: a run's recorded transitions in order, as a
//! table, JSON or CSV, or the head of its audit chain (`--head`). With
//! `--all`, every run in the database. Each transition lists the failed
//! attempts of its step that were retried before it, who recorded it, and
//! its link in the audit chain.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use prodsync::audit::verify;
use prodsync::store::audit::AuditedTransition;
use prodsync::store::{AttemptRecord, AuditEntry, Store};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Run ID, as printed by `prodsync run`.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub run_id: Option<String>,

    /// Show every run in the database, oldest first.
    #[arg(long)]
    pub all: bool,

    /// Print JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,

    /// Print CSV (one row per transition, with a header row) instead of a
    /// table.
    #[arg(long)]
    pub csv: bool,

    /// Print only the head of the run's audit chain (`POSITION:HASH`), for
    /// `prodsync verify --head`.
    #[arg(long, conflicts_with_all = ["all", "json", "csv"])]
    pub head: bool,
}

/// One transition as `history --json` prints it.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    run_id: &'a str,
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
    actor: &'a str,
    host: &'a str,
    version: &'a str,
    workflow_sha256: &'a str,
    /// `None` for a transition recorded before the audit chain existed.
    hash: Option<&'a str>,
    prev_hash: Option<&'a str>,
}

/// A run's transitions and retried attempts, as read from the store.
struct RunHistory {
    transitions: Vec<AuditedTransition>,
    attempts: Vec<AttemptRecord>,
}

pub fn run(db: &Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_read_only(db)?;
    let run_ids = match &args.run_id {
        Some(run_id) => vec![run_id.clone()],
        None => store.run_ids()?,
    };
    if args.head {
        return print_head(&store, &run_ids[0]);
    }

    let histories = run_ids
        .iter()
        .map(|run_id| read_history(&store, run_id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let entries: Vec<Vec<Entry<'_>>> = histories.iter().map(entries).collect();

    if args.json {
        let flat: Vec<&Entry<'_>> = entries.iter().flatten().collect();
        println!("{}", serde_json::to_string_pretty(&flat)?);
    } else if args.csv {
        print_csv(entries.iter().flatten())?;
    } else {
        for (run_id, entries) in run_ids.iter().zip(&entries) {
            if args.all {
                println!("run {run_id}");
            }
            print_table(entries);
            if args.all {
                println!();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_head(store: &Store, run_id: &str) -> anyhow::Result<ExitCode> {
    let head = verify::head(store, run_id)?;
    let Some(head) = head else {
        anyhow::bail!("run {run_id} has no chained entry yet, so its chain has no head");
    };
    println!("{head}");
    Ok(ExitCode::SUCCESS)
}

fn read_history(store: &Store, run_id: &str) -> anyhow::Result<RunHistory> {
    let trail = store
        .audit_trail(run_id)
        .with_context(|| format!("cannot read the history of run {run_id}"))?;
    let mut transitions: Vec<AuditedTransition> = trail
        .entries
        .into_iter()
        .filter_map(|entry| match entry {
            AuditEntry::Transition(transition) => Some(transition),
            AuditEntry::Batch(_) => None,
        })
        .collect();
    transitions.sort_by_key(|transition| transition.record.seq);
    Ok(RunHistory {
        transitions,
        attempts: store.attempts(run_id)?,
    })
}

/// Pairs each transition with the retried attempts of its step that came
/// before it and after the step's previous transition.
fn entries(history: &RunHistory) -> Vec<Entry<'_>> {
    let attempts = &history.attempts;
    let mut entries = Vec::with_capacity(history.transitions.len());
    let mut taken = vec![false; attempts.len()];
    for audited in &history.transitions {
        let record = &audited.record;
        let mut own = Vec::new();
        for (index, attempt) in attempts.iter().enumerate() {
            if !taken[index] && attempt.step == record.step && attempt.attempt < record.attempt {
                taken[index] = true;
                own.push(attempt);
            }
        }
        let provenance = &audited.provenance;
        let link = audited.link.as_ref();
        entries.push(Entry {
            run_id: &record.run_id,
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
            actor: &provenance.actor,
            host: &provenance.host,
            version: &provenance.version,
            workflow_sha256: &provenance.workflow_sha256,
            hash: link.map(|link| link.hash.as_str()),
            prev_hash: link.map(|link| link.prev_hash.as_str()),
        });
    }
    entries
}

const CSV_HEADER: &[&str] = &[
    "run_id",
    "seq",
    "from",
    "to",
    "step",
    "attempt",
    "retried_attempts",
    "started_at",
    "finished_at",
    "outcome",
    "error",
    "actor",
    "host",
    "version",
    "workflow_sha256",
    "prev_hash",
    "hash",
    "state",
];

/// Prints CSV; a reader that closes the pipe early (such as `head`) ends
/// the output without an error.
fn print_csv<'a>(entries: impl Iterator<Item = &'a Entry<'a>>) -> anyhow::Result<()> {
    match write_csv(&mut std::io::stdout().lock(), entries) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

fn write_csv<'a>(
    out: &mut impl std::io::Write,
    entries: impl Iterator<Item = &'a Entry<'a>>,
) -> std::io::Result<()> {
    writeln!(out, "{}", CSV_HEADER.join(","))?;
    for entry in entries {
        let fields = [
            entry.run_id.to_string(),
            entry.seq.to_string(),
            entry.from.to_string(),
            entry.to.to_string(),
            entry.step.to_string(),
            entry.attempt.to_string(),
            entry.attempts.len().to_string(),
            entry.started_at.to_string(),
            entry.finished_at.to_string(),
            entry.outcome.to_string(),
            entry.error.unwrap_or_default().to_string(),
            entry.actor.to_string(),
            entry.host.to_string(),
            entry.version.to_string(),
            entry.workflow_sha256.to_string(),
            entry.prev_hash.unwrap_or_default().to_string(),
            entry.hash.unwrap_or_default().to_string(),
            entry.state.to_string(),
        ];
        let row: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

/// Quotes a CSV field when it contains a comma, quote or line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn print_table(entries: &[Entry<'_>]) {
    println!(
        "{:>3}  {:<20} {:<20} {:<20} {:>7}  {:<11} {:<24} {:<24} {:<14} error",
        "seq", "from", "to", "step", "attempt", "outcome", "started", "finished", "hash"
    );
    for entry in entries {
        for attempt in &entry.attempts {
            println!(
                "{:>3}  {:<20} {:<20} {:<20} {:>7}  {:<11} {:<24} {:<24} {:<14} {} (retried after {} ms)",
                "",
                entry.from,
                "",
                attempt.step,
                attempt.attempt,
                "retried",
                attempt.started_at,
                attempt.finished_at,
                "",
                attempt.error,
                attempt.delay_ms
            );
        }
        let hash = entry
            .hash
            .map_or("legacy", |hash| &hash[..12.min(hash.len())]);
        println!(
            "{:>3}  {:<20} {:<20} {:<20} {:>7}  {:<11} {:<24} {:<24} {:<14} {}",
            entry.seq,
            entry.from,
            entry.to,
            entry.step,
            entry.attempt,
            entry.outcome,
            entry.started_at,
            entry.finished_at,
            hash,
            entry.error.unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_field_quotes_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
