//! Helpers for tests that run the `prodsync` binary: run it, read its
//! output, write a small demo workflow, and check a finished push.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use pretty_assertions::assert_eq;
use prodsync::emulator::{Emulator, ProducedPage};
use prodsync::store::Store;

use super::{DEST_WS, NEW_SET, PRODUCED, SOURCE_WS};

/// Builds a `prodsync` command with `--db`, a short lease, and extra
/// environment; inherited crash points, faults and audit keys are removed.
pub fn command(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_prodsync"));
    command
        .arg("--db")
        .arg(db)
        .arg("--lease-seconds")
        .arg("5")
        .args(args)
        .env_remove("PRODSYNC_CRASH_AT")
        .env_remove("PRODSYNC_EMULATOR_FAULTS")
        .env_remove("PRODSYNC_AUDIT_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs the binary to its end.
pub fn prodsync(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(db, args, env).output().expect("prodsync runs")
}

/// Starts the binary in the background, with its output piped.
pub fn spawn(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    command(db, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prodsync starts")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes a small demo workflow: `documents` documents of up to 4 pages in
/// batches of 4, with quick retries.
pub fn demo_workflow(dir: &Path, documents: u32) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/production-push.json"),
    )
    .unwrap()
    .replace("\"documents\": 300", &format!("\"documents\": {documents}"))
    .replace("\"max_pages\": 10", "\"max_pages\": 4")
    .replace("\"batch_size\": 50", "\"batch_size\": 4");
    let mut workflow: serde_json::Value = serde_json::from_str(&text).unwrap();
    workflow["retry"] = serde_json::json!({
        "max_attempts": 5, "base_delay_ms": 20, "max_delay_ms": 200, "max_total_seconds": 60
    });
    let path = dir.join("demo.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    path
}

/// Reads the run ID from the first line `run ID started (...)`.
pub fn run_id_of(output: &Output) -> String {
    run_id_in(&stdout(output))
}

/// Reads the run ID from the first line of `text`.
pub fn run_id_in(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().to_string();
    first
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no run ID in {text:?}"))
        .to_string()
}

/// Asserts that the destination holds each source page exactly once, with
/// the same bytes.
pub fn assert_exactly_once(db: &Path, run_id: &str) {
    let store = Store::open(db).unwrap();
    let record = store.run(run_id).unwrap();
    let emulator = Emulator::open(&record.emulator_dir.unwrap()).unwrap();
    let source = emulator.list_production(SOURCE_WS, PRODUCED).unwrap();
    let destination = emulator.list_production(DEST_WS, NEW_SET).unwrap();
    let pairs = |pages: &[ProducedPage]| -> Vec<(String, String)> {
        pages
            .iter()
            .map(|page| (page.bates.clone(), page.sha256.clone()))
            .collect()
    };
    assert_eq!(pairs(&destination), pairs(&source));
}
