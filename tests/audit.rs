//! Auditing runs: the hash chain detects edited, removed and reordered
//! entries; replay accepts every run the engine produces and rejects an
//! illegal edge; forks record their origin; HMAC chains need their key;
//! the HTML report renders in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::binary::{prodsync, run_id_of, stderr, stdout};
use common::*;
use pretty_assertions::assert_eq;
use prodsync::audit::{replay, report, verify};
use prodsync::engine::Resumed;
use prodsync::machine::{StateName, StepName, SyncState};
use prodsync::store::{Store, TransitionRecord};

/// Writes a small demo workflow: 10 documents in batches of 4.
fn demo_workflow(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/production-push.json"),
    )
    .unwrap()
    .replace("\"documents\": 300", "\"documents\": 10")
    .replace("\"max_pages\": 10", "\"max_pages\": 3")
    .replace("\"batch_size\": 50", "\"batch_size\": 4");
    let path = dir.join("demo.json");
    std::fs::write(&path, text).unwrap();
    path
}

/// Returns the `head:` value of a run summary.
fn head_of(output: &Output) -> String {
    let text = stdout(output);
    text.lines()
        .find_map(|line| line.trim().strip_prefix("head:"))
        .unwrap_or_else(|| panic!("no head line in {text:?}"))
        .trim()
        .to_string()
}

/// A finished demo run in its own database.
struct DoneRun {
    dir: tempfile::TempDir,
    db: PathBuf,
    run_id: String,
    head: String,
}

fn done_run(env: &[(&str, &str)]) -> DoneRun {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path());
    let output = prodsync(&db, &["run", workflow.to_str().unwrap()], env);
    assert!(output.status.success(), "{}", stderr(&output));
    DoneRun {
        run_id: run_id_of(&output),
        head: head_of(&output),
        dir,
        db,
    }
}

/// Copies a database consistently and drops the append-only triggers, as
/// an attacker with raw SQLite access would.
fn attacker_copy(run: &DoneRun, name: &str) -> (PathBuf, rusqlite::Connection) {
    let copy = run.dir.path().join(name);
    let source = rusqlite::Connection::open(&run.db).unwrap();
    source
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let connection = rusqlite::Connection::open(&copy).unwrap();
    connection
        .execute_batch(
            "DROP TRIGGER transitions_no_update; DROP TRIGGER transitions_no_delete;
             DROP TRIGGER batches_no_update; DROP TRIGGER batches_no_delete;",
        )
        .unwrap();
    (copy, connection)
}

fn verify_with_head(db: &Path, run: &DoneRun) -> Output {
    prodsync(db, &["verify", &run.run_id, "--head", &run.head], &[])
}

#[test]
fn done_run_verifies_and_replays() {
    let run = done_run(&[]);
    let verified = verify_with_head(&run.db, &run);
    assert!(verified.status.success(), "{}", stdout(&verified));
    assert!(
        stdout(&verified).contains("chain verified (sha256)"),
        "{}",
        stdout(&verified)
    );

    let printed = prodsync(&run.db, &["verify", &run.run_id, "--print-head"], &[]);
    assert_eq!(stdout(&printed).trim(), run.head);
    let history_head = prodsync(&run.db, &["history", &run.run_id, "--head"], &[]);
    assert_eq!(stdout(&history_head).trim(), run.head);

    let replayed = prodsync(&run.db, &["replay", &run.run_id], &[]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
    assert!(
        stdout(&replayed).contains("from Configured to Done follow the state machine"),
        "{}",
        stdout(&replayed)
    );
}

#[test]
fn history_prints_audit_columns() {
    let run = done_run(&[]);
    let json = prodsync(&run.db, &["history", &run.run_id, "--json"], &[]);
    let entries: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let first = &entries[0];
    let keys = [
        "seq",
        "from",
        "to",
        "step",
        "attempt",
        "started_at",
        "finished_at",
        "outcome",
        "error",
        "attempts",
        "state",
        "actor",
        "host",
        "version",
        "workflow_sha256",
        "hash",
        "prev_hash",
    ];
    for key in keys {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(first["workflow_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(entries[1]["prev_hash"], first["hash"]);

    let csv = stdout(&prodsync(&run.db, &["history", &run.run_id, "--csv"], &[]));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("run_id,seq,from,to,step"), "{csv}");
    assert_eq!(lines.len(), 6, "{csv}");

    let all = stdout(&prodsync(&run.db, &["history", "--all"], &[]));
    assert!(all.contains(&format!("run {}", run.run_id)), "{all}");
}

/// Checks that `verify --head` fails and names the entry.
fn assert_detected(db: &Path, run: &DoneRun, named: &str) {
    let output = verify_with_head(db, run);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("chain does not verify"), "{text}");
    assert!(text.contains(named), "expected {named:?} in {text}");
}

#[test]
fn edited_transition_is_detected() {
    let run = done_run(&[]);
    let (db, connection) = attacker_copy(&run, "edited.db");
    connection
        .execute(
            "UPDATE transitions SET attempt = 2 WHERE run_id = ?1 AND seq = 2",
            [&run.run_id],
        )
        .unwrap();
    assert_detected(
        &db,
        &run,
        "chain entry 2 (transition seq 2): hash check failed",
    );
}

#[test]
fn edited_batch_is_detected() {
    let run = done_run(&[]);
    let (db, connection) = attacker_copy(&run, "batch.db");
    connection
        .execute(
            "UPDATE batches SET pages = pages + 1 WHERE run_id = ?1 AND batch_index = 1",
            [&run.run_id],
        )
        .unwrap();
    assert_detected(&db, &run, "(batch 1): hash check failed");
}

#[test]
fn deleted_middle_entry_is_detected() {
    let run = done_run(&[]);
    let (db, connection) = attacker_copy(&run, "deleted.db");
    connection
        .execute(
            "DELETE FROM transitions WHERE run_id = ?1 AND seq = 3",
            [&run.run_id],
        )
        .unwrap();
    assert_detected(
        &db,
        &run,
        "chain entry 3 (transition seq 4): position check failed",
    );
}

#[test]
fn deleted_newest_entry_is_detected_only_with_head() {
    let run = done_run(&[]);
    let (db, connection) = attacker_copy(&run, "cut.db");
    let last: i64 = connection
        .query_row(
            "SELECT MAX(seq) FROM transitions WHERE run_id = ?1",
            [&run.run_id],
            |row| row.get(0),
        )
        .unwrap();
    connection
        .execute(
            "DELETE FROM transitions WHERE run_id = ?1 AND seq = ?2",
            rusqlite::params![run.run_id, last],
        )
        .unwrap();

    // Without the head, a cut-off chain still checks: that is why the head
    // is printed at the end of each run.
    let unchecked = prodsync(&db, &["verify", &run.run_id], &[]);
    assert!(unchecked.status.success(), "{}", stdout(&unchecked));

    let position: i64 = run.head.split(':').next().unwrap().parse().unwrap();
    let named = format!("chain entry {position}: head check failed");
    assert_detected(&db, &run, &named);
    assert_detected(&db, &run, "found no entry");
}

#[test]
fn reordered_entries_are_detected() {
    let run = done_run(&[]);
    let (db, connection) = attacker_copy(&run, "reordered.db");
    connection
        .execute_batch(&format!(
            "DROP INDEX transitions_chain;
             UPDATE transitions SET chain_seq = -1 WHERE run_id = '{id}' AND seq = 2;
             UPDATE transitions SET chain_seq = 2 WHERE run_id = '{id}' AND seq = 3;
             UPDATE transitions SET chain_seq = 3 WHERE run_id = '{id}' AND seq = 2;",
            id = run.run_id
        ))
        .unwrap();
    assert_detected(
        &db,
        &run,
        "chain entry 2 (transition seq 3): prev_hash check failed",
    );
}

#[test]
fn recomputed_plain_chain_fails_head() {
    let run = done_run(&[]);
    let (db, connection) = attacker_copy(&run, "recomputed.db");
    connection
        .execute(
            "UPDATE transitions SET error = 'nothing happened' WHERE run_id = ?1 AND seq = 1",
            [&run.run_id],
        )
        .unwrap();
    drop(connection);
    recompute_chain(&db, &run.run_id);

    let without_head = prodsync(&db, &["verify", &run.run_id], &[]);
    assert!(without_head.status.success(), "{}", stdout(&without_head));
    assert_detected(&db, &run, "head check failed");
}

/// Rewrites every hash of a plain SHA-256 chain, as an attacker who knows
/// the format can.
fn recompute_chain(db: &Path, run_id: &str) {
    let store = Store::open(db).unwrap().with_audit_key(None);
    let trail = store.audit_trail(run_id).unwrap();
    let mut prev_hash = store.genesis_hash(&trail.chain, None).unwrap();
    let connection = rusqlite::Connection::open(db).unwrap();
    for entry in &trail.entries {
        let link = entry.link().unwrap();
        let hash = entry.expected_hash(None, link.position, &prev_hash);
        let table = match entry {
            prodsync::store::AuditEntry::Transition(_) => "transitions",
            prodsync::store::AuditEntry::Batch(_) => "batches",
        };
        connection
            .execute(
                &format!("UPDATE {table} SET prev_hash = ?1, hash = ?2 WHERE run_id = ?3 AND chain_seq = ?4"),
                rusqlite::params![prev_hash, hash, run_id, link.position],
            )
            .unwrap();
        prev_hash = hash;
    }
}

#[test]
fn hmac_chain_needs_its_key() {
    let run = done_run(&[("PRODSYNC_AUDIT_KEY", "first key")]);
    let args = ["verify", run.run_id.as_str(), "--head", run.head.as_str()];

    let keyed = prodsync(&run.db, &args, &[("PRODSYNC_AUDIT_KEY", "first key")]);
    assert!(keyed.status.success(), "{}", stdout(&keyed));
    assert!(stdout(&keyed).contains("hmac-sha256"), "{}", stdout(&keyed));

    let without = prodsync(&run.db, &args, &[]);
    assert_eq!(without.status.code(), Some(1), "{}", stdout(&without));
    assert!(
        stdout(&without).contains("key check failed"),
        "{}",
        stdout(&without)
    );

    let other = prodsync(&run.db, &args, &[("PRODSYNC_AUDIT_KEY", "second key")]);
    assert_eq!(other.status.code(), Some(1), "{}", stdout(&other));
    assert!(
        stdout(&other).contains("chain entry 1 (transition seq 1): prev_hash check failed"),
        "{}",
        stdout(&other)
    );
}

#[test]
fn resumed_run_replays() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path());
    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_data_source:1")],
    );
    let run_id = run_id_of(&crashed);
    let resumed = prodsync(&db, &["resume", &run_id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    let head = head_of(&resumed);
    let verified = prodsync(&db, &["verify", &run_id, "--head", &head], &[]);
    assert!(verified.status.success(), "{}", stdout(&verified));
    let replayed = prodsync(&db, &["replay", &run_id], &[]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
}

#[tokio::test]
async fn failed_and_resumed_run_replays() {
    let fixture = Fixture::start(small_demo(6)).await;
    let engine = fixture.engine(
        ADMIN,
        workflow(PRODUCED, PRODUCED_SET),
        &SyncState::Configured,
    );
    let run_id = engine.context().run_id.clone();
    let failed = engine.run().await.unwrap();
    assert_eq!(failed.name(), StateName::Failed);

    let replayed = replay::replay_run(&fixture.store, &run_id).unwrap();
    assert_eq!(replayed.problems, vec![]);
    assert_eq!(replayed.end, Some(StateName::Failed));

    fixture
        .emulator
        .set_production_status(DEST_WS, PRODUCED_SET, "New")
        .unwrap();
    let Resumed::Finished(end) = engine.resume().await.unwrap() else {
        panic!("expected Finished");
    };
    assert_eq!(end.name(), StateName::Done);
    let replayed = replay::replay_run(&fixture.store, &run_id).unwrap();
    assert_eq!(replayed.problems, vec![]);
    let verified = verify::verify(&fixture.store, &run_id, None, None).unwrap();
    assert_eq!(verified.mismatch, None);
}

#[test]
fn forked_run_records_origin_and_ends_done() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow = demo_workflow(dir.path());
    let crashed = prodsync(
        &db,
        &["run", workflow.to_str().unwrap()],
        &[("PRODSYNC_CRASH_AT", "after_transition:DestinationValidated")],
    );
    let origin = run_id_of(&crashed);

    let forked = prodsync(
        &db,
        &["fork", &origin, "--from", "DestinationValidated"],
        &[],
    );
    assert!(
        forked.status.success(),
        "{}\n{}",
        stdout(&forked),
        stderr(&forked)
    );
    let fork_id = run_id_of(&forked);
    assert!(
        stdout(&forked).contains(&format!("forked from run {origin} at transition 2")),
        "{}",
        stdout(&forked)
    );

    let store = Store::open(&db).unwrap();
    let trail = store.audit_trail(&fork_id).unwrap();
    assert_eq!(
        trail.chain.forked_from_run.as_deref(),
        Some(origin.as_str())
    );
    assert_eq!(trail.chain.forked_from_seq, Some(2));
    let record = store.run(&fork_id).unwrap();
    assert_eq!(record.state.name(), StateName::Done);
    assert_eq!(
        record.emulator_dir,
        store.run(&origin).unwrap().emulator_dir
    );
    let first = &store.transitions(&fork_id).unwrap()[0];
    assert_eq!(first.from, "DestinationValidated");

    let replayed = replay::replay_run(&store, &fork_id).unwrap();
    assert_eq!(replayed.problems, vec![]);
    assert_eq!(replayed.start, StateName::DestinationValidated);
    let head = head_of(&forked);
    let verified = prodsync(&db, &["verify", &fork_id, "--head", &head], &[]);
    assert!(verified.status.success(), "{}", stdout(&verified));
}

#[test]
fn fork_from_done_is_rejected() {
    let run = done_run(&[]);
    let output = prodsync(&run.db, &["fork", &run.run_id, "--from", "Done"], &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot fork from Done"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn replay_rejects_illegal_edge() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let store = Store::open(&db).unwrap();
    new_configured_run(&store, "hand-made");
    let illegal = TransitionRecord {
        run_id: "hand-made".into(),
        seq: 0,
        from: "Configured".into(),
        to: "ImportConfigured".into(),
        step: StepName::ValidateSource.to_string(),
        attempt: 1,
        started_at: prodsync::store::now(),
        finished_at: prodsync::store::now(),
        outcome: "completed".into(),
        error: None,
        state: serde_json::Value::Null,
    };
    store
        .record_transition(&illegal, &SyncState::Configured, None)
        .unwrap();

    let output = prodsync(&db, &["replay", "hand-made"], &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("transition 1: the state machine rejects it: illegal transition Configured → ImportConfigured"), "{text}");
}

#[test]
fn legacy_rows_are_reported_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let connection = rusqlite::Connection::open(&db).unwrap();
    for migration in &prodsync::store::schema::MIGRATIONS[..2] {
        connection.execute_batch(migration).unwrap();
    }
    connection
        .execute_batch(
            r#"PRAGMA user_version = 2;
            INSERT INTO runs VALUES ('old', 'w', 'w.json', '00', '{}', NULL, 'Failed',
                '{"state":"Failed","data":{"step":"validate_source","message":"x","last_good":{"state":"Configured"}}}',
                '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', NULL);
            INSERT INTO transitions VALUES ('old', 1, 'Configured', 'Failed', 'validate_source', 1,
                '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:01.000Z', 'failed', 'x',
                '{"state":"Failed","data":{"step":"validate_source","message":"x","last_good":{"state":"Configured"}}}');"#,
        )
        .unwrap();
    drop(connection);

    let output = prodsync(&db, &["verify", "old"], &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("1 legacy entries"), "{text}");
    let replayed = prodsync(&db, &["replay", "old"], &[]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
}

/// Colour of completed bars in the report, as RGB.
const COMPLETED_RGB: [u8; 3] = [0x1f, 0x77, 0xb4];
const FAILED_RGB: [u8; 3] = [0xd6, 0x27, 0x28];

/// Screenshots a page in headless Chromium; `None` when Chromium is absent.
fn screenshot(page: &Path) -> Option<PathBuf> {
    let Ok(chromium) = which_chromium() else {
        eprintln!("skipped: chromium not found; install it (apt-get install -y chromium) to check the report renders");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let png = page.with_extension("png");
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2000")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(png.exists(), "no screenshot: {}", stderr(&output));
    Some(png)
}

fn which_chromium() -> Result<PathBuf, ()> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .ok_or(())
}

/// Counts pixels of exactly `rgb` in a PNG.
fn count_pixels(png: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::fs::File::open(png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "unexpected colour type {:?}",
        info.color_type
    );
    buffer[..info.buffer_size()]
        .chunks(channels)
        .filter(|pixel| pixel[..3] == rgb)
        .count()
}

#[test]
fn done_report_renders_timeline() {
    let run = done_run(&[]);
    let page = run.dir.path().join("done-report.html");
    let output = prodsync(
        &run.db,
        &["report", &run.run_id, "--html", page.to_str().unwrap()],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("chain verified"), "{html}");
    assert!(!html.contains("<script"), "the report needs no script");
    assert!(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"));

    let Some(png) = screenshot(&page) else {
        return;
    };
    let completed = count_pixels(&png, COMPLETED_RGB);
    assert!(
        completed > 500,
        "only {completed} pixels of completed bars in {}",
        png.display()
    );
}

#[tokio::test]
async fn failed_report_renders_failure() {
    let fixture = Fixture::start(small_demo(4)).await;
    let engine = fixture.engine(
        ADMIN,
        workflow(PRODUCED, PRODUCED_SET),
        &SyncState::Configured,
    );
    let run_id = engine.context().run_id.clone();
    let failed = engine.run().await.unwrap();
    assert_eq!(failed.name(), StateName::Failed);

    let data = report::collect(&fixture.store, &run_id, None).unwrap();
    let html = report::render(&data);
    assert!(html.contains("<h2>Failure</h2>"), "{html}");
    assert!(html.contains("last good state"), "{html}");
    let page = fixture.path().join("failed-report.html");
    std::fs::write(&page, html).unwrap();

    let Some(png) = screenshot(&page) else {
        return;
    };
    let completed = count_pixels(&png, COMPLETED_RGB);
    let failed = count_pixels(&png, FAILED_RGB);
    // Each legend swatch is 12 × 12 = 144 pixels; a bar is at least 8 × 18.
    assert!(completed > 200, "only {completed} pixels of completed bars");
    assert!(failed > 200, "only {failed} pixels of failed bars");
}
