//! Resuming runs: a process killed at each crash point and resumed ends
//! `Done` with every page exactly once; a run failed on a destination that
//! was then fixed resumes to `Done`; a second process is refused while the
//! first holds the run; bad databases give clear errors and stay unchanged.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use common::binary::*;
use common::*;
use pretty_assertions::assert_eq;
use prodsync::engine::Resumed;
use prodsync::machine::{StateName, SyncState};
use prodsync::store::Store;
use sha2::{Digest, Sha256};

const CRASH_POINTS: &[&str] = &[
    "before_transition:SourceValidated",
    "after_transition:SourceValidated",
    "after_transition:DestinationValidated",
    "before_transition:SnapshotCreated",
    "after_transition:SnapshotCreated",
    "before_transition:ImportConfigured",
    "after_transition:ImportConfigured",
    "after_data_source:0",
    "after_data_source:2",
    "after_data_source:4",
    "after_end_job",
    "during_wait",
    "before_transition:Done",
];

#[test]
fn killed_run_resumes_to_done_exactly_once() {
    for point in CRASH_POINTS {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("prodsync.db");
        let workflow = demo_workflow(dir.path(), 18);

        let crashed = prodsync(
            &db,
            &["run", workflow.to_str().unwrap()],
            &[("PRODSYNC_CRASH_AT", point)],
        );
        assert_eq!(
            crashed.status.signal(),
            Some(9),
            "{point}: {}",
            stderr(&crashed)
        );
        let run_id = run_id_of(&crashed);

        let resumed = prodsync(&db, &["resume", &run_id], &[]);
        assert!(
            resumed.status.success(),
            "{point}: {}\n{}",
            stdout(&resumed),
            stderr(&resumed)
        );
        assert!(
            stdout(&resumed).contains("Done"),
            "{point}: {}",
            stdout(&resumed)
        );
        if point.starts_with("after_data_source") {
            let logs = stderr(&resumed);
            assert!(
                logs.contains("batch was on the server but not recorded here"),
                "{point}: the resumed run did not reconcile: {logs}"
            );
        }
        assert_exactly_once(&db, &run_id);
    }
}

#[test]
fn run_killed_twice_resumes_to_done() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 18);
    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_data_source:1")],
    );
    let run_id = run_id_of(&crashed);
    let again = prodsync(
        &db,
        &["resume", &run_id],
        &[("PRODSYNC_CRASH_AT", "after_data_source:3")],
    );
    assert_eq!(again.status.signal(), Some(9), "{}", stderr(&again));

    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_exactly_once(&db, &run_id);
}

#[test]
fn resume_of_done_run_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 18);
    let run = prodsync(&db, &["run", workflow.to_str().unwrap()], &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    let run_id = run_id_of(&run);
    let transitions = Store::open(&db)
        .unwrap()
        .transitions(&run_id)
        .unwrap()
        .len();

    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success());
    assert!(
        stdout(&resumed).contains("is already Done; nothing to resume"),
        "{}",
        stdout(&resumed)
    );
    let after = Store::open(&db)
        .unwrap()
        .transitions(&run_id)
        .unwrap()
        .len();
    assert_eq!(after, transitions);
}

#[tokio::test]
async fn resume_after_destination_fixed_ends_done() {
    let fixture = Fixture::start(small_demo(6)).await;
    let engine = fixture.engine(
        ADMIN,
        workflow(PRODUCED, PRODUCED_SET),
        &SyncState::Configured,
    );
    let run_id = engine.context().run_id.clone();
    let failed = engine.run().await.unwrap();
    assert!(
        failure(&failed).contains("is in New status."),
        "{}",
        failure(&failed)
    );

    fixture
        .emulator
        .set_production_status(DEST_WS, PRODUCED_SET, "New")
        .unwrap();
    let resumed = engine.resume().await.unwrap();
    let Resumed::Finished(end) = resumed else {
        panic!("expected Finished, found {resumed:?}");
    };
    assert_eq!(end.name(), StateName::Done, "{end:?}");

    let steps: Vec<(String, String, String)> = fixture
        .store
        .transitions(&run_id)
        .unwrap()
        .into_iter()
        .map(|t| (t.from, t.to, t.outcome))
        .collect();
    assert_eq!(
        steps[1],
        ("SourceValidated".into(), "Failed".into(), "failed".into())
    );
    assert_eq!(
        steps[2],
        ("Failed".into(), "SourceValidated".into(), "resumed".into())
    );
    assert_eq!(steps.last().unwrap().1, "Done");
}

#[tokio::test]
async fn resume_fails_when_snapshot_is_gone() {
    let fixture = Fixture::start(small_demo(6)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let created = advance_to(&engine, StateName::SnapshotCreated).await;
    let SyncState::SnapshotCreated(snapshot) = &created else {
        panic!("expected SnapshotCreated");
    };
    fixture
        .client(ADMIN)
        .delete_export(
            SOURCE_WS,
            &snapshot.snapshot.as_export().unwrap().export_run_id,
        )
        .await
        .unwrap();

    let Resumed::Finished(end) = engine.resume().await.unwrap() else {
        panic!("expected Finished");
    };
    let message = failure(&end);
    assert!(
        message.contains("no longer exists on the server"),
        "{message}"
    );
}

#[test]
fn second_runner_is_refused_naming_holder() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 18);
    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_transition:SnapshotCreated")],
    );
    let run_id = run_id_of(&crashed);

    // A live holder on another host cannot be checked, so it is respected
    // until its lease expires.
    let store = Store::open(&db).unwrap();
    let holder = "operator@other-host pid 4242 #abc";
    store
        .acquire_lease(&run_id, holder, Duration::from_secs(60), |_| true)
        .unwrap();

    let refused = prodsync(&db, &["resume", &run_id], &[]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains(&format!("run {run_id} is being driven by {holder}")),
        "{message}"
    );
    assert_eq!(
        store.run(&run_id).unwrap().state.name(),
        StateName::SnapshotCreated
    );

    store.release_lease(&run_id, holder).unwrap();
    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}

#[test]
fn expired_lease_can_be_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 18);
    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_transition:SourceValidated")],
    );
    let run_id = run_id_of(&crashed);
    let store = Store::open(&db).unwrap();
    store
        .acquire_lease(
            &run_id,
            "operator@other-host pid 1 #x",
            Duration::from_millis(1),
            |_| true,
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));

    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn corrupt_database_is_rejected_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    std::fs::write(
        &db,
        b"this is not a database, it is a shopping list\n".repeat(100),
    )
    .unwrap();
    let before = sha256_file(&db);

    let output = prodsync(&db, &["runs"], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("is not a prodsync database or is corrupt"),
        "{message}"
    );
    assert_eq!(sha256_file(&db), before);
}

#[test]
fn truncated_database_is_rejected_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 18);
    let run = prodsync(&db, &["run", workflow.to_str().unwrap()], &[]);
    assert!(run.status.success());
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..bytes.len() / 2]).unwrap();
    let _ = std::fs::remove_file(dir.path().join("prodsync.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("prodsync.db-shm"));
    let before = sha256_file(&db);

    let output = prodsync(&db, &["runs"], &[]);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(stderr(&output).contains("corrupt"), "{}", stderr(&output));
    assert_eq!(sha256_file(&db), before);
}

#[test]
fn read_only_database_is_rejected_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    drop(Store::open(&db).unwrap());
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = sha256_file(&db);

    let workflow = demo_workflow(dir.path(), 18);
    let output = prodsync(&db, &["run", workflow.to_str().unwrap()], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("is read-only; make it and its folder writable"),
        "{message}"
    );
    assert_eq!(sha256_file(&db), before);

    let listed = prodsync(&db, &["runs"], &[]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(sha256_file(&db), before);
}

#[test]
fn missing_database_is_not_created_by_reading() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.db");
    let output = prodsync(&db, &["runs"], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("does not exist; pass the --db that holds your runs"),
        "{message}"
    );
    assert!(!db.exists());
}

#[test]
fn newer_schema_is_rejected_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    drop(Store::open(&db).unwrap());
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let before = sha256_file(&db);

    let output = prodsync(&db, &["runs"], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("has schema version 999, newer than"),
        "{message}"
    );
    assert!(message.contains("upgrade prodsync"), "{message}");
    assert_eq!(sha256_file(&db), before);
}

#[test]
fn runs_lists_and_filters_by_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 18);
    let done = run_id_of(&prodsync(&db, &["run", workflow.to_str().unwrap()], &[]));
    let stopped = run_id_of(&prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_data_source:1")],
    ));

    let all: serde_json::Value =
        serde_json::from_slice(&prodsync(&db, &["runs", "--json"], &[]).stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);

    let open: serde_json::Value = serde_json::from_slice(
        &prodsync(&db, &["runs", "--state", "ImportConfigured", "--json"], &[]).stdout,
    )
    .unwrap();
    let rows = open.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["run_id"], serde_json::Value::String(stopped));
    assert_eq!(rows[0]["batches_total"], 5);
    assert_eq!(rows[0]["batches_done"], 1);
    assert_ne!(rows[0]["run_id"], serde_json::Value::String(done));
}
