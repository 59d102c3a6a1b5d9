//! Driving a session for `run` and `resume`: under its lease, with Ctrl-C
//! and SIGTERM wired to a stop at the next safe point, and the summary
//! printed at the end.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use prodsync::engine::Resumed;
use prodsync::machine::SyncState;
use prodsync::session::{Drive, Session};

/// Exit code of a run that stopped on a stop request.
const EXIT_INTERRUPTED: u8 = 130;

/// Drives the session to its end and prints the summary; returns the exit
/// code: 0 for `Done`, 130 for an interrupted run, 1 for a failed one.
pub async fn drive(
    session: Session,
    mode: Drive,
    run_id: &str,
    db: &Path,
    stats: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let store = session.engine.context().store.clone();
    if stats.is_some() {
        prodsync::metrics::enable_commit_probe(database_folder(db))
            .context("cannot start the commit probe for --stats-json")?;
    }
    let stopper = tokio::spawn(stop_on_signal(session.stop_signal()));
    let result = session.drive(mode).await;
    stopper.abort();
    if let Some(emulator) = session.emulator {
        emulator.shutdown().await;
    }
    let resumed = result.with_context(|| format!("run {run_id} stopped"))?;
    if let Some(path) = stats {
        write_stats(path, run_id, started, db)?;
    }

    let end = match resumed {
        Resumed::AlreadyDone(end) => {
            println!("run {run_id} is already Done; nothing to resume");
            return Ok(exit_code(&end));
        }
        Resumed::Finished(end) => end,
    };
    print_summary(run_id, &end, started, db);
    print_head(&store, run_id);
    Ok(exit_code(&end))
}

/// Run statistics that `--stats-json` writes.
#[derive(Debug, serde::Serialize)]
struct Stats<'a> {
    run_id: &'a str,
    wall_seconds: f64,
    #[serde(flatten)]
    counters: prodsync::metrics::Snapshot,
    /// Mean seconds of a bare one-row SQLite commit in the same mode,
    /// measured after the run, on an idle machine, next to the database.
    bare_commit_seconds: f64,
}

fn write_stats(path: &Path, run_id: &str, started: Instant, db: &Path) -> anyhow::Result<()> {
    let wall_seconds = started.elapsed().as_secs_f64();
    prodsync::metrics::disable_commit_probe();
    let bare_commit_seconds = prodsync::metrics::bare_commit_seconds(database_folder(db), 2_000)
        .context("cannot measure a bare SQLite commit")?;
    let stats = Stats {
        run_id,
        wall_seconds,
        counters: prodsync::metrics::snapshot(),
        bare_commit_seconds,
    };
    std::fs::write(path, serde_json::to_string_pretty(&stats)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Prints the head of the run's audit chain; an auditor keeps it to pass
/// to `prodsync verify --head` later.
fn print_head(store: &prodsync::store::Store, run_id: &str) {
    match prodsync::audit::verify::head(store, run_id) {
        Ok(Some(head)) => println!("  head:      {head}"),
        Ok(None) => println!("  head:      none (no entry recorded)"),
        Err(error) => tracing::warn!(%run_id, %error, "cannot read the audit chain's head"),
    }
}

fn database_folder(db: &Path) -> &Path {
    db.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn exit_code(end: &SyncState) -> ExitCode {
    match end {
        SyncState::Done(_) => ExitCode::SUCCESS,
        SyncState::Failed(failed) if failed.message.starts_with("interrupted") => {
            ExitCode::from(EXIT_INTERRUPTED)
        }
        _ => ExitCode::FAILURE,
    }
}

/// Cancels the run on Ctrl-C or SIGTERM.
async fn stop_on_signal(stop: prodsync::steps::StopSignal) {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                return;
            }
        };
    let reason = tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = terminate.recv() => "SIGTERM",
    };
    eprintln!("{reason}: stopping at the next safe point");
    stop.raise(reason);
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
            println!("  into:      {}", done.destination);
            for skipped in done.source.skipped() {
                println!(
                    "  skipped:   {}:{}: {} ({})",
                    skipped.file.display(),
                    skipped.line,
                    skipped.value,
                    skipped.problems.join(", ")
                );
            }
        }
        SyncState::Failed(failed) => {
            println!(
                "run {run_id} Failed in {seconds:.1} s at step {}",
                failed.step
            );
            println!("  error:     {}", failed.message);
            let when = if failed.message.starts_with("interrupted") {
                ""
            } else {
                "once the cause is fixed: "
            };
            println!(
                "  resume:    {when}prodsync --db {} resume {run_id}",
                db.display()
            );
        }
        other => println!("run {run_id} stopped in state {}", other.name()),
    }
    println!("  database:  {}", db.display());
    println!(
        "  history:   prodsync --db {} history {run_id}",
        db.display()
    );
}
