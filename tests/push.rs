//! Whole pushes through the embedded emulator, as `prodsync run` does them:
//! the demo production and the real sample volumes.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use prodsync::emulator::{Emulator, ProducedPage};
use prodsync::machine::SyncState;
use prodsync::steps::NoProgress;
use prodsync::store::Store;
use prodsync::{opticon, session, workflow};
use sha2::{Digest, Sha256};

/// Runs a workflow file to its end; returns the store, run ID and end state.
async fn push(dir: &Path, workflow_file: &Path) -> (Arc<Store>, String, SyncState) {
    let loaded = workflow::load(workflow_file).unwrap();
    let store = Arc::new(Store::open(&dir.join("prodsync.db")).unwrap());
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

/// Lists the destination production of a run's embedded emulator.
fn destination_pages(store: &Store, run_id: &str, end: &SyncState) -> Vec<ProducedPage> {
    let SyncState::Done(done) = end else {
        panic!("expected Done, found {end:?}");
    };
    let dir = store
        .run(run_id)
        .unwrap()
        .emulator_dir
        .expect("emulator folder");
    let emulator = Emulator::open(&dir).unwrap();
    let set = done
        .destination
        .as_production_set()
        .expect("a production set");
    emulator
        .list_production(set.workspace, set.production_set)
        .unwrap()
}

fn workflow_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workflows")
        .join(name)
}

#[tokio::test]
async fn push_demo_production_ends_done() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.json");
    let text = std::fs::read_to_string(workflow_path("production-push.json"))
        .unwrap()
        .replace("\"documents\": 300", "\"documents\": 25");
    std::fs::write(&file, text).unwrap();

    let (store, run_id, end) = push(dir.path(), &file).await;
    let pages = destination_pages(&store, &run_id, &end);
    let SyncState::Done(done) = &end else {
        unreachable!()
    };
    assert_eq!(done.documents, 25);
    assert_eq!(done.pages, pages.len() as u64);
    assert_eq!(store.transitions(&run_id).unwrap().len(), 5);
}

/// Checks a pushed sample volume: same Bates numbers as the Opticon keys,
/// and each page byte-identical to the image its line names.
fn assert_matches_volume(pages: &[ProducedPage], opticon_file: &Path) {
    let lines = opticon::read_file(opticon_file).unwrap();
    let folder = opticon_file.parent().unwrap();
    let mut expected: Vec<(String, String)> = lines
        .iter()
        .map(|line| {
            let image = opticon::resolve_image_path(folder, &line.image_path);
            let bytes = std::fs::read(&image).unwrap();
            (line.key.clone(), hex::encode(Sha256::digest(bytes)))
        })
        .collect();
    expected.sort();
    let mut found: Vec<(String, String)> = pages
        .iter()
        .map(|page| (page.bates.clone(), page.sha256.clone()))
        .collect();
    found.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn push_sample_opticon_01_is_byte_identical() {
    let Some(samples) = common::samples() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id, end) =
        push(dir.path(), &workflow_path("relativity-import-samples.json")).await;
    let pages = destination_pages(&store, &run_id, &end);
    assert_eq!(pages.len(), 5);
    let volume = samples.join("relativity-import-samples/SampleDataSources/Opticon_01.opt");
    assert_matches_volume(&pages, &volume);
}

#[tokio::test]
async fn push_sample_opticon_02_keeps_page_keys() {
    let Some(samples) = common::samples() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id, end) = push(
        dir.path(),
        &workflow_path("relativity-import-samples-keys.json"),
    )
    .await;
    let pages = destination_pages(&store, &run_id, &end);
    let bates: Vec<&str> = pages.iter().map(|page| page.bates.as_str()).collect();
    assert_eq!(
        bates,
        vec![
            "PROD-00011001_0001_REV",
            "PROD-00011001_0002_REV",
            "PROD-00011001_0003_REV",
            "PROD-00011001_0004_REV",
            "PROD-00011001_REV",
        ]
    );
    let volume = samples.join("relativity-import-samples/SampleDataSources/opticon_02.opt");
    assert_matches_volume(&pages, &volume);
}

#[tokio::test]
async fn push_leaves_database_file_complete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.json");
    let text = std::fs::read_to_string(workflow_path("production-push.json"))
        .unwrap()
        .replace("\"documents\": 300", "\"documents\": 25")
        .replace("\"batch_size\": 50", "\"batch_size\": 5");
    std::fs::write(&file, text).unwrap();

    let (store, run_id, _end) = push(dir.path(), &file).await;
    let copy = dir.path().join("copy.db");
    std::fs::copy(dir.path().join("prodsync.db"), &copy).unwrap();

    let copied = rusqlite::Connection::open(&copy).unwrap();
    let (batches, state): (i64, String) = copied
        .query_row(
            "SELECT (SELECT COUNT(*) FROM batches), state FROM runs WHERE run_id = ?1",
            [&run_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(batches, 5);
    assert_eq!(state, "Done");
    assert_eq!(store.batches(&run_id).unwrap().len(), 5);
}
