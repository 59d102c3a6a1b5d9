//! The `prodsync` binary as a user runs it: `run` on the shipped default
//! workflow, then `status --json` and `history --json`, and the exit code of
//! a failed run.

use std::path::Path;
use std::process::{Command, Output};

use pretty_assertions::assert_eq;
use prodsync::emulator::Emulator;
use serde_json::{json, Value};

fn prodsync(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prodsync"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PRODSYNC_DB")
        .output()
        .expect("prodsync runs")
}

fn run_id(stdout: &str) -> String {
    let first = stdout.lines().next().expect("a first line");
    first
        .split_whitespace()
        .nth(1)
        .expect("a run ID")
        .to_string()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn run_default_workflow_then_status_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let run = prodsync(&db, &["run", "workflows/production-push.json"]);
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("documents: 300"), "{stdout}");
    assert!(stdout.contains("bates:     DEMO"), "{stdout}");
    let id = run_id(&stdout);

    let status = json(&prodsync(&db, &["status", &id, "--json"]));
    assert_eq!(status["run_id"], Value::String(id.clone()));
    assert_eq!(status["state"], "Done");
    assert_eq!(status["documents"], 300);
    assert!(status["pages"].as_u64().unwrap() >= 300);

    let history = json(&prodsync(&db, &["history", &id, "--json"]));
    let steps: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["step"].as_str().unwrap())
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
    for key in [
        "seq",
        "from",
        "to",
        "step",
        "started_at",
        "finished_at",
        "outcome",
        "error",
    ] {
        assert!(history[0].get(key).is_some(), "history entry lacks {key}");
    }
}

/// Serves an emulator with one empty workspace pair and an admin user, and
/// writes a workflow that points at it by URL with a missing source.
async fn server_workflow(dir: &Path) -> (prodsync::emulator::RunningEmulator, std::path::PathBuf) {
    let emulator = Emulator::open(&dir.join("emulator")).unwrap();
    emulator.add_workspace(100, "source").unwrap();
    emulator.add_workspace(101, "destination").unwrap();
    emulator.create_production_set(101, 300, "set").unwrap();
    emulator.add_user("svc", "s3cret", true).unwrap();
    let running = emulator.serve(([127, 0, 0, 1], 0).into()).await.unwrap();

    let share = emulator.file_share();
    let workflow = json!({
        "name": "server",
        "relativity": {
            "url": running.base_url(),
            "auth": {"kind": "basic", "username": "svc", "password_env": "PRODSYNC_CLI_TEST_PASSWORD"}
        },
        "source": {"workspace": 100, "production": 200},
        "destination": {"workspace": 101, "production_set": 300},
        "import": {
            "batch_size": 10,
            "bates_field": "Bates Number",
            "file_share": {"server_root": share.unc_root, "local_root": share.local_root}
        }
    });
    let path = dir.join("server.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    (running, path)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_failed_workflow_exits_non_zero_with_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let (running, workflow) = server_workflow(dir.path()).await;

    let run = Command::new(env!("CARGO_BIN_EXE_prodsync"))
        .arg("--db")
        .arg(&db)
        .arg("run")
        .arg(&workflow)
        .env("PRODSYNC_CLI_TEST_PASSWORD", "s3cret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(!run.status.success(), "{stdout}");
    assert!(stdout.contains("Failed"), "{stdout}");
    let id = run_id(&stdout);

    let status = json(&prodsync(&db, &["status", &id, "--json"]));
    assert_eq!(status["state"], "Failed");
    assert_eq!(status["failed_step"], "validate_source");
    let error = status["error"].as_str().unwrap();
    assert!(
        error.starts_with("source production 200 does not exist in workspace 100"),
        "{error}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_never_stores_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let (running, workflow) = server_workflow(dir.path()).await;
    let run = Command::new(env!("CARGO_BIN_EXE_prodsync"))
        .arg("--db")
        .arg(&db)
        .arg("--log")
        .arg("debug")
        .arg("run")
        .arg(&workflow)
        .env("PRODSYNC_CLI_TEST_PASSWORD", "s3cret-value-9431")
        .output()
        .unwrap();
    running.shutdown().await;

    let logs = String::from_utf8_lossy(&run.stderr);
    assert!(
        !logs.contains("s3cret-value-9431"),
        "the password reached the log"
    );
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file()
            && path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("prodsync.db")
        {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    let needle = b"s3cret-value-9431";
    assert!(
        !stored.windows(needle.len()).any(|window| window == needle),
        "the password reached the database"
    );
}

#[test]
fn status_of_unknown_run_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    drop(prodsync::store::Store::open(&db).unwrap());
    let output = prodsync(&db, &["status", "no-such-run"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run no-such-run not found"), "{stderr}");
}

#[test]
fn run_rejects_bad_workflow_before_creating_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = dir.path().join("w.json");
    std::fs::write(&workflow, "{\"name\": \"x\"}").unwrap();
    let output = prodsync(&db, &["run", workflow.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing field `relativity`"), "{stderr}");
    assert!(!db.exists());
}
