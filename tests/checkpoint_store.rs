//! The checkpoint store's batch records: keyed by run, unique per run,
//! written only under the run's lease, chained from the head the writer
//! keeps in memory, and carried over from a version 3 database.

mod common;

use std::path::Path;
use std::time::Duration;

use common::new_configured_run;
use pretty_assertions::assert_eq;
use prodsync::audit::verify::verify;
use prodsync::store::{BatchRecord, Store, StoreError};

const LEASE: Duration = Duration::from_secs(60);

fn batch(run_id: &str, index: u64) -> BatchRecord {
    BatchRecord {
        run_id: run_id.into(),
        batch_index: index,
        first_record: index * 10,
        documents: 10,
        pages: 15,
        bytes: 1500,
        first_bates: Some(format!("B{:07}", index * 15 + 1)),
        last_bates: Some(format!("B{:07}", index * 15 + 15)),
        data_source_id: format!("source-{index}"),
        completed_at: prodsync::store::now(),
    }
}

fn indexes(store: &Store, run_id: &str) -> Vec<u64> {
    store
        .batches(run_id)
        .unwrap()
        .iter()
        .map(|batch| batch.batch_index)
        .collect()
}

fn assert_chain_verifies(store: &Store, run_id: &str, entries: usize) {
    let verification = verify(store, run_id, None, None).unwrap();
    assert_eq!(verification.mismatch, None);
    assert_eq!(verification.entries, entries);
}

/// Opens two stores on one database, as two processes would: the first
/// records batch 0 of run `r1` under its lease, then the second takes the
/// lease over and records batch 1.
fn two_writers(path: &Path) -> (Store, Store) {
    let first = Store::open(path).unwrap();
    new_configured_run(&first, "r1");
    take_over(&first, "r1", "first");
    first.record_batch(&batch("r1", 0), Some("first")).unwrap();

    let second = Store::open(path).unwrap();
    take_over(&second, "r1", "second");
    second
        .record_batch(&batch("r1", 1), Some("second"))
        .unwrap();
    (first, second)
}

fn take_over(store: &Store, run_id: &str, holder: &str) {
    store
        .acquire_lease(run_id, holder, LEASE, |_| true)
        .unwrap();
}

#[test]
fn batches_of_two_runs_apart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).unwrap();
    new_configured_run(&store, "first");
    new_configured_run(&store, "second");

    for index in [0, 1, 2] {
        store.record_batch(&batch("first", index), None).unwrap();
        store
            .record_batch(&batch("second", 10 - index), None)
            .unwrap();
    }

    assert_eq!(indexes(&store, "first"), vec![0, 1, 2]);
    assert_eq!(indexes(&store, "second"), vec![8, 9, 10]);
    let counts: Vec<(String, u64)> = store
        .list_runs()
        .unwrap()
        .into_iter()
        .map(|(run, batches)| (run.run_id, batches))
        .collect();
    assert!(counts.contains(&("first".into(), 3)), "{counts:?}");
    assert!(counts.contains(&("second".into(), 3)), "{counts:?}");
    assert_chain_verifies(&store, "first", 3);
    assert_chain_verifies(&store, "second", 3);
}

#[test]
fn batch_recorded_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).unwrap();
    new_configured_run(&store, "r1");
    store.record_batch(&batch("r1", 4), None).unwrap();

    let error = store.record_batch(&batch("r1", 4), None).unwrap_err();

    assert!(error.to_string().contains("UNIQUE constraint"), "{error}");
    assert_eq!(indexes(&store, "r1"), vec![4]);
    store.record_batch(&batch("r1", 5), None).unwrap();
    assert_chain_verifies(&store, "r1", 2);
}

#[test]
fn batch_of_missing_run_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).unwrap();

    let error = store.record_batch(&batch("nope", 0), None).unwrap_err();

    assert!(
        matches!(&error, StoreError::RunNotFound { run_id, .. } if run_id == "nope"),
        "{error}"
    );
}

#[test]
fn batch_after_lost_lease_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_writers(&dir.path().join("c.db"));
    let error = first
        .record_batch(&batch("r1", 2), Some("first"))
        .unwrap_err();

    assert!(matches!(error, StoreError::LeaseLost { .. }), "{error}");
    assert_eq!(indexes(&second, "r1"), vec![0, 1]);
    assert_chain_verifies(&second, "r1", 2);
}

#[test]
fn batch_after_lease_taken_back_chains() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _second) = two_writers(&dir.path().join("c.db"));
    take_over(&first, "r1", "first");
    first.record_batch(&batch("r1", 2), Some("first")).unwrap();

    assert_eq!(indexes(&first, "r1"), vec![0, 1, 2]);
    assert_chain_verifies(&first, "r1", 3);
}

#[test]
fn batches_of_version_3_database_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let head_before = {
        let store = Store::open(&path).unwrap();
        new_configured_run(&store, "first");
        new_configured_run(&store, "second");
        for index in 0..3 {
            store.record_batch(&batch("first", index), None).unwrap();
            store.record_batch(&batch("second", index), None).unwrap();
        }
        verify(&store, "first", None, None).unwrap().head
    };
    downgrade_to_version_3(&path);

    let store = Store::open(&path).unwrap();

    assert_eq!(indexes(&store, "first"), vec![0, 1, 2]);
    assert_eq!(indexes(&store, "second"), vec![0, 1, 2]);
    assert_eq!(
        verify(&store, "first", None, None).unwrap().head,
        head_before
    );
    store.record_batch(&batch("first", 3), None).unwrap();
    new_configured_run(&store, "third");
    store.record_batch(&batch("third", 0), None).unwrap();
    assert_chain_verifies(&store, "first", 4);
    assert_chain_verifies(&store, "third", 1);
    assert_eq!(indexes(&store, "second"), vec![0, 1, 2]);
}

/// Rewrites a current database in the layout of schema version 3: batches
/// keyed by `(run_id, batch_index)` with a chain index and append-only
/// triggers, and no run numbers.
fn downgrade_to_version_3(path: &Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "BEGIN;
             CREATE TABLE batches_v3 (
                run_id TEXT NOT NULL REFERENCES runs(run_id),
                batch_index INTEGER NOT NULL, first_record INTEGER NOT NULL,
                documents INTEGER NOT NULL, pages INTEGER NOT NULL, bytes INTEGER NOT NULL,
                first_bates TEXT, last_bates TEXT, data_source_id TEXT NOT NULL,
                completed_at TEXT NOT NULL,
                actor TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',
                version TEXT NOT NULL DEFAULT '', workflow_sha256 TEXT NOT NULL DEFAULT '',
                chain_seq INTEGER, prev_hash TEXT, hash TEXT,
                PRIMARY KEY (run_id, batch_index));
             INSERT INTO batches_v3 SELECT run_id, batch_index, first_record, documents, pages,
                bytes, first_bates, last_bates, data_source_id, completed_at, actor, host,
                version, workflow_sha256, chain_seq, prev_hash, hash FROM batches;
             DROP TABLE batches;
             ALTER TABLE batches_v3 RENAME TO batches;
             CREATE UNIQUE INDEX batches_chain ON batches (run_id, chain_seq);
             CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches
             BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;
             CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
             BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;
             DROP INDEX runs_number;
             ALTER TABLE runs DROP COLUMN run_number;
             PRAGMA user_version = 3;
             COMMIT;",
        )
        .unwrap();
}

#[test]
fn wal_checkpoint_copies_wal_past_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Store::open(&path).unwrap();
    new_configured_run(&store, "r1");
    for index in 0..50 {
        store.record_batch(&batch("r1", index), None).unwrap();
    }
    let size_before = std::fs::metadata(&path).unwrap().len();

    let skipped = store.checkpoint_wal(u64::MAX).unwrap();
    let ran = store.checkpoint_wal(0).unwrap();

    assert!(!skipped);
    assert!(ran);
    let size_after = std::fs::metadata(&path).unwrap().len();
    assert!(size_after > size_before, "{size_before} -> {size_after}");
    assert_eq!(indexes(&store, "r1").len(), 50);
}
