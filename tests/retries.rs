//! Retries against the real binary, with faults injected into the embedded
//! emulator: transient failures on every endpoint are ridden out and show
//! in the history; permanent ones fail fast; the attempt count survives a
//! crash.

mod common;

use common::binary::*;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};

/// One transient fault on each endpoint a push calls; the first matching
/// request fails, later ones pass.
fn transient_faults() -> String {
    json!([
        {"path": "relativity-productions", "status": 503, "count": 1},
        {"path": "workspaces/-1/artifacts/.*/list-permissions", "status": 502, "count": 1},
        {"path": "workspaces/1017267/artifacts/1040101/list-permissions", "status": 503, "count": 1},
        {"path": "initializeexport", "status": 503, "count": 1},
        {"path": "retrieveresultsblockfromexport", "status": 500, "count": 1},
        {"path": "RetrieveImagesByProductionIDsAndDocumentIDsForExport", "status": 503, "count": 1},
        {"path": "import-jobs/[^/]+$", "method": "POST", "status": 503, "count": 1},
        {"path": "documents-configurations", "status": 503, "count": 1},
        {"path": "/begin$", "status": 503, "count": 1},
        {"path": "sources/[^/]+$", "method": "POST", "status": 429, "retry_after": "1", "count": 1},
        {"path": "sources/[^/]+/details$", "drop": true, "count": 1},
        {"path": "/end$", "status": 503, "count": 1},
        {"path": "import-jobs/[^/]+/details$", "status": 503, "count": 1},
        {"path": "/progress$", "status": 504, "count": 1}
    ])
    .to_string()
}

fn history(db: &std::path::Path, run_id: &str) -> Vec<Value> {
    let output = prodsync(db, &["history", run_id, "--json"], &[]);
    let value: Value = serde_json::from_slice(&output.stdout).expect("history JSON");
    value.as_array().expect("an array").clone()
}

#[test]
fn transient_errors_everywhere_are_ridden_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 10);
    let faults = transient_faults();

    let run = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_EMULATOR_FAULTS", &faults)],
    );
    assert!(run.status.success(), "{}\n{}", stdout(&run), stderr(&run));
    let run_id = run_id_of(&run);
    assert_exactly_once(&db, &run_id);

    let entries = history(&db, &run_id);
    let steps: Vec<&str> = entries
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        vec![
            "validate_source",
            "validate_destination",
            "create_snapshot",
            "configure_import",
            "import"
        ]
    );
    for entry in &entries {
        let retried = entry["attempts"].as_array().unwrap();
        assert!(
            !retried.is_empty(),
            "step {} shows no retried attempt",
            entry["step"]
        );
        assert_eq!(entry["attempt"], retried.len() + 1, "{entry}");
        assert_eq!(entry["outcome"], "completed");
    }
    let import_errors: Vec<&str> = entries[4]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["error"].as_str().unwrap())
        .collect();
    assert!(
        import_errors
            .iter()
            .any(|error| error.contains("status 429")),
        "{import_errors:?}"
    );
}

#[test]
fn permanent_error_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 4);
    let faults =
        json!([{"path": "initializeexport", "status": 403, "message": "Export is not allowed."}])
            .to_string();

    let run = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_EMULATOR_FAULTS", &faults)],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stdout(&run));
    let run_id = run_id_of(&run);
    let entries = history(&db, &run_id);
    let last = entries.last().unwrap();
    assert_eq!(last["step"], "create_snapshot");
    assert_eq!(last["outcome"], "failed");
    assert_eq!(last["attempt"], 1);
    assert_eq!(last["attempts"], json!([]));
    let error = last["error"].as_str().unwrap();
    assert!(error.contains("status 403 (forbidden)"), "{error}");
    assert!(error.contains("Export is not allowed."), "{error}");
}

#[test]
fn retries_stop_at_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 4);
    let faults = json!([{"path": "initializeexport", "status": 503}]).to_string();

    let run = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_EMULATOR_FAULTS", &faults)],
    );
    assert_eq!(run.status.code(), Some(1));
    let entries = history(&db, &run_id_of(&run));
    let last = entries.last().unwrap();
    assert_eq!(last["step"], "create_snapshot");
    assert_eq!(last["attempt"], 5);
    assert_eq!(last["attempts"].as_array().unwrap().len(), 4);
    assert!(
        last["error"].as_str().unwrap().contains("status 503"),
        "{last}"
    );
}

#[test]
fn attempt_count_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path(), 12);
    let faults = json!([{"path": "sources/[^/]+$", "method": "POST", "status": 503, "count": 2}])
        .to_string();

    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[
            ("PRODSYNC_EMULATOR_FAULTS", faults.as_str()),
            ("PRODSYNC_CRASH_AT", "after_data_source:1"),
        ],
    );
    let run_id = run_id_of(&crashed);
    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    let entries = history(&db, &run_id);
    let import = entries.last().unwrap();
    assert_eq!(import["step"], "import");
    let numbers: Vec<i64> = import["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(import["attempt"], 3);
    assert_exactly_once(&db, &run_id);
}
