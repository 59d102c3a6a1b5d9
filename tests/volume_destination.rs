//! A production exported to a load-file volume: the volume reads back with
//! no problems and the source's Bates numbers and image bytes; a process
//! killed inside the volume writer resumes with no line duplicated or lost;
//! and a round trip workspace → volume → workspace keeps every page.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use common::{NEW_SET, PRODUCED, SOURCE_WS};
use pretty_assertions::assert_eq;
use prodsync::emulator::{Emulator, ProducedPage};
use prodsync::loadfile::{Volume, VolumeOptions};
use prodsync::machine::SyncState;
use prodsync::steps::NoProgress;
use prodsync::store::Store;
use prodsync::{session, workflow};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Writes a workflow exporting an 18-document demo production, in batches
/// of 4, to `VOL001` in the folder `vol` next to the database.
fn export_workflow(dir: &Path) -> PathBuf {
    let value = json!({
        "name": "volume-destination-test",
        "relativity": {"emulator": {"seed": {"demo": {
            "documents": 18, "max_pages": 4, "seed": 3, "bates_prefix": "EXP"
        }}}},
        "source": {"workspace": 1017266, "production": 1040001},
        "destination": {"load_file": {"folder": "vol", "volume": "VOL001"}},
        "import": {"batch_size": 4}
    });
    let path = dir.join("export.json");
    std::fs::write(&path, value.to_string()).unwrap();
    path
}

/// Writes a workflow pushing a volume into the emulator's production set.
fn import_workflow(dir: &Path, opticon: &Path, dat: &Path) -> PathBuf {
    let value = json!({
        "name": "volume-round-trip",
        "relativity": {"emulator": {}},
        "source": {"load_file": {"opticon": opticon, "dat": dat}},
        "destination": {"workspace": 1017267, "production_set": 1040101},
        "import": {"batch_size": 5, "bates_field": "Bates Number"}
    });
    let path = dir.join("import.json");
    std::fs::write(&path, value.to_string()).unwrap();
    path
}

/// Runs a workflow file to its end in `db`; returns the store, run ID and
/// end state.
async fn push(db: &Path, workflow_file: &Path) -> (Arc<Store>, String, SyncState) {
    let loaded = workflow::load(workflow_file).unwrap();
    let store = Arc::new(Store::open(db).unwrap());
    let run_id = session::create_run(&store, &loaded).await.unwrap();
    let session = session::open(
        store.clone(),
        &run_id,
        Arc::new(NoProgress),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let end = match session.drive(session::Drive::Start).await.unwrap() {
        prodsync::engine::Resumed::Finished(end) => end,
        other => panic!("unexpected {other:?}"),
    };
    if let Some(emulator) = session.emulator {
        emulator.shutdown().await;
    }
    (store, run_id, end)
}

fn emulator_of(db: &Path, run_id: &str) -> Emulator {
    let store = Store::open(db).unwrap();
    Emulator::open(&store.run(run_id).unwrap().emulator_dir.unwrap()).unwrap()
}

fn pairs(pages: &[ProducedPage]) -> Vec<(String, String)> {
    pages
        .iter()
        .map(|page| (page.bates.clone(), page.sha256.clone()))
        .collect()
}

/// Opens a volume, asserts it has no problems, and returns each page's key
/// with the SHA-256 of its image, in file order.
fn read_volume(folder: &Path) -> Vec<(String, String)> {
    let opticon = folder.join("VOL001.opt");
    let dat = folder.join("VOL001.dat");
    let volume = Volume::open(&opticon, Some(&dat), &VolumeOptions::default()).unwrap();
    assert_eq!(volume.problems, vec![]);
    volume
        .documents
        .iter()
        .flat_map(|document| &document.pages)
        .map(|page| {
            let bytes = std::fs::read(&page.image_path).unwrap();
            (page.key.clone(), hex::encode(Sha256::digest(bytes)))
        })
        .collect()
}

/// Asserts that the volume's load files hold one line per page and one
/// per document (plus the header), with no key twice.
fn assert_lines_once(folder: &Path, pages: usize, documents: usize) {
    let opticon = std::fs::read_to_string(folder.join("VOL001.opt")).unwrap();
    let dat = std::fs::read_to_string(folder.join("VOL001.dat")).unwrap();
    let mut keys: Vec<&str> = opticon
        .lines()
        .map(|line| line.split(',').next().unwrap())
        .collect();
    assert_eq!(keys.len(), pages);
    keys.dedup();
    assert_eq!(keys.len(), pages);
    assert_eq!(dat.lines().count(), documents + 1);
}

#[tokio::test]
async fn demo_production_exports_to_volume() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let (_store, run_id, end) = push(&db, &export_workflow(dir.path())).await;
    let SyncState::Done(done) = &end else {
        panic!("expected Done, found {end:?}");
    };
    assert_eq!(done.documents, 18);

    let folder = dir.path().join("vol");
    let source = emulator_of(&db, &run_id)
        .list_production(SOURCE_WS, PRODUCED)
        .unwrap();
    assert_eq!(read_volume(&folder), pairs(&source));
    assert_lines_once(&folder, source.len(), 18);
    assert!(!folder.join(".prodsync-VOL001").exists());
    assert!(folder.join("VOL001/IMAGES/IMG001").is_dir());
}

#[tokio::test]
async fn second_export_into_same_folder_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let workflow_file = export_workflow(dir.path());
    push(&db, &workflow_file).await;

    let (_store, _run_id, end) = push(&db, &workflow_file).await;
    let message = common::failure(&end);
    assert!(message.contains("already holds volume VOL001"), "{message}");
}

#[tokio::test]
async fn round_trip_keeps_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prodsync.db");
    let (_store, export_run, _end) = push(&db, &export_workflow(dir.path())).await;

    let folder = dir.path().join("vol");
    let import_file = import_workflow(
        dir.path(),
        &folder.join("VOL001.opt"),
        &folder.join("VOL001.dat"),
    );
    let (_store, import_run, end) = push(&db, &import_file).await;
    assert!(matches!(end, SyncState::Done(_)), "{end:?}");

    let source = emulator_of(&db, &export_run)
        .list_production(SOURCE_WS, PRODUCED)
        .unwrap();
    let arrived = emulator_of(&db, &import_run)
        .list_production(common::DEST_WS, NEW_SET)
        .unwrap();
    assert_eq!(pairs(&arrived), pairs(&source));
}

/// Runs the binary with `--db`, a short lease, and extra environment.
fn prodsync(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_prodsync"));
    command
        .arg("--db")
        .arg(db)
        .arg("--lease-seconds")
        .arg("5")
        .args(args)
        .env_remove("PRODSYNC_CRASH_AT");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("prodsync runs")
}

const CRASH_POINTS: &[&str] = &[
    "after_transition:ImportConfigured",
    "after_volume_part:0",
    "after_volume_part:2",
    "after_volume_part:4",
    "before_volume_assemble",
    "after_volume_assemble",
    "before_transition:Done",
];

#[test]
fn killed_export_resumes_without_duplicates() {
    for point in CRASH_POINTS {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("prodsync.db");
        let workflow_file = export_workflow(dir.path());

        let crashed = prodsync(
            &db,
            &["run", workflow_file.to_str().unwrap()],
            &[("PRODSYNC_CRASH_AT", point)],
        );
        let stderr = String::from_utf8_lossy(&crashed.stderr);
        assert_eq!(crashed.status.signal(), Some(9), "{point}: {stderr}");
        let stdout = String::from_utf8_lossy(&crashed.stdout);
        let run_id = stdout.split_whitespace().nth(1).unwrap().to_string();

        let resumed = prodsync(&db, &["resume", &run_id], &[]);
        let text = String::from_utf8_lossy(&resumed.stdout);
        assert!(resumed.status.success(), "{point}: {text}");
        assert!(text.contains("Done"), "{point}: {text}");

        let folder = dir.path().join("vol");
        let source = emulator_of(&db, &run_id)
            .list_production(SOURCE_WS, PRODUCED)
            .unwrap();
        assert_eq!(read_volume(&folder), pairs(&source), "{point}");
        assert_lines_once(&folder, source.len(), 18);
    }
}
