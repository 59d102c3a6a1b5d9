//! Stopping runs: SIGTERM stops at the next safe point and leaves the run
//! resumable; `prodsync cancel` from another shell does the same and
//! cancels the import job (unless `--keep-job`); a second runner of a
//! running run is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::binary::*;
use pretty_assertions::assert_eq;
use prodsync::store::Store;
use serde_json::{json, Value};

/// Slows every data source add, so a run is still importing when the test
/// stops it.
fn slow_adds() -> String {
    json!([{"path": "sources/[^/]+$", "method": "POST", "delay_ms": 200}]).to_string()
}

/// Reads the run ID from the first stdout line of a running child.
fn first_line_run_id(child: &mut Child) -> String {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    run_id_in(&line)
}

/// Waits until the run has recorded at least `count` batches.
fn wait_for_batches(db: &Path, run_id: &str, count: usize) {
    let started = Instant::now();
    loop {
        let done = Store::open(db)
            .and_then(|store| store.batches(run_id))
            .map(|batches| batches.len())
            .unwrap_or(0);
        if done >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run {run_id} recorded {done} batches in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status(db: &Path, run_id: &str) -> Value {
    serde_json::from_slice(&prodsync(db, &["status", run_id, "--json"], &[]).stdout).unwrap()
}

fn start_slow_run(db: &Path, workflow: &Path) -> (Child, String) {
    let faults = slow_adds();
    let mut child = spawn(
        db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_EMULATOR_FAULTS", &faults)],
    );
    let run_id = first_line_run_id(&mut child);
    (child, run_id)
}

#[test]
fn sigterm_stops_run_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 40);
    let (mut child, run_id) = start_slow_run(&db, &workflow);
    wait_for_batches(&db, &run_id, 2);

    // SAFETY: kill sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130));

    let stopped = status(&db, &run_id);
    assert_eq!(stopped["state"], "Failed");
    assert_eq!(stopped["failed_step"], "import");
    let error = stopped["error"].as_str().unwrap();
    assert!(error.starts_with("interrupted by SIGTERM"), "{error}");
    assert!(stopped["batches_done"].as_u64().unwrap() < 10);

    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_exactly_once(&db, &run_id);
}

#[test]
fn cancel_from_another_shell_cancels_job() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 40);
    let (mut child, run_id) = start_slow_run(&db, &workflow);
    wait_for_batches(&db, &run_id, 2);

    let cancel = prodsync(&db, &["cancel", &run_id], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    let text = stdout(&cancel);
    assert!(text.contains("asked the process driving run"), "{text}");
    assert!(text.contains("cancelled on the server"), "{text}");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let stopped = status(&db, &run_id);
    assert_eq!(stopped["state"], "Failed");
    let error = stopped["error"].as_str().unwrap();
    assert!(
        error.starts_with("interrupted by prodsync cancel"),
        "{error}"
    );

    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert_eq!(resumed.status.code(), Some(1));
    let message = status(&db, &run_id)["error"].as_str().unwrap().to_string();
    assert!(message.contains("is Canceled on the server"), "{message}");
}

#[test]
fn cancel_keep_job_leaves_run_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 40);
    let (mut child, run_id) = start_slow_run(&db, &workflow);
    wait_for_batches(&db, &run_id, 2);

    let cancel = prodsync(&db, &["cancel", &run_id, "--keep-job"], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    assert!(!stdout(&cancel).contains("cancelled on the server"));
    assert_eq!(child.wait().unwrap().code(), Some(130));

    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_exactly_once(&db, &run_id);
}

#[test]
fn concurrent_resume_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 40);
    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_data_source:0")],
    );
    let run_id = run_id_of(&crashed);

    let faults = slow_adds();
    let mut first = spawn(
        &db,
        &["resume", &run_id],
        &[("PRODSYNC_EMULATOR_FAULTS", &faults)],
    );
    wait_for_batches(&db, &run_id, 3);
    let second = prodsync(&db, &["resume", &run_id], &[]);
    assert_eq!(second.status.code(), Some(1));
    let message = stderr(&second);
    assert!(
        message.contains(&format!("run {run_id} is being driven by")),
        "{message}"
    );

    let exit = first.wait().unwrap();
    assert!(exit.success());
    assert_exactly_once(&db, &run_id);
}
