//! A load-file volume as the source of a push into the embedded emulator's
//! production set: the real sample volumes arrive byte-identical, a volume
//! with problems stops or skips as `on_problem` says, and a volume changed
//! between attempts is detected.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use prodsync::emulator::{Emulator, ProducedPage};
use prodsync::machine::{step_for, StateName, StepName, SyncState};
use prodsync::session::{self, Session};
use prodsync::steps::NoProgress;
use prodsync::store::Store;
use prodsync::{opticon, workflow};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Writes a workflow with a `load_file` source into `dir`.
fn volume_workflow(dir: &Path, opticon: &Path, on_problem: &str) -> PathBuf {
    let value = json!({
        "name": "volume-source-test",
        "relativity": {"emulator": {}},
        "source": {"load_file": {"opticon": opticon, "on_problem": on_problem}},
        "destination": {"workspace": 1017267, "production_set": 1040101},
        "import": {"batch_size": 2, "bates_field": "Bates Number"}
    });
    let path = dir.join("volume.json");
    std::fs::write(&path, value.to_string()).unwrap();
    path
}

/// Creates a run of a workflow file and opens its session.
async fn open_run(dir: &Path, workflow_file: &Path) -> (Arc<Store>, String, Session) {
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
    (store, run_id, session)
}

/// Runs a workflow file to its end; returns the store, run ID and end state.
async fn push(dir: &Path, workflow_file: &Path) -> (Arc<Store>, String, SyncState) {
    let (store, run_id, session) = open_run(dir, workflow_file).await;
    let end = match session.drive(session::Drive::Start).await.unwrap() {
        prodsync::engine::Resumed::Finished(end) => end,
        other => panic!("unexpected {other:?}"),
    };
    if let Some(emulator) = session.emulator {
        emulator.shutdown().await;
    }
    (store, run_id, end)
}

fn destination_pages(store: &Store, run_id: &str) -> Vec<ProducedPage> {
    let dir = store.run(run_id).unwrap().emulator_dir.unwrap();
    Emulator::open(&dir)
        .unwrap()
        .list_production(common::DEST_WS, common::NEW_SET)
        .unwrap()
}

/// Returns each Opticon line's key with the SHA-256 of its image, sorted.
fn volume_pages(opticon_file: &Path) -> Vec<(String, String)> {
    let folder = opticon_file.parent().unwrap();
    let mut pages: Vec<(String, String)> = opticon::read_file(opticon_file)
        .unwrap()
        .iter()
        .map(|line| {
            let image = opticon::resolve_image_path(folder, &line.image_path);
            let bytes = std::fs::read(&image).unwrap();
            (line.key.clone(), hex::encode(Sha256::digest(bytes)))
        })
        .collect();
    pages.sort();
    pages
}

fn pairs(pages: &[ProducedPage]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = pages
        .iter()
        .map(|page| (page.bates.clone(), page.sha256.clone()))
        .collect();
    pairs.sort();
    pairs
}

/// Pushes a sample Opticon file and checks every page arrived unchanged.
async fn push_sample(name: &str) {
    let Some(samples) = common::samples() else {
        return;
    };
    let opticon_file = samples
        .join("relativity-import-samples/SampleDataSources")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    let file = volume_workflow(dir.path(), &opticon_file, "stop");

    let (store, run_id, end) = push(dir.path(), &file).await;
    assert_eq!(end.name(), StateName::Done, "{end:?}");
    let pages = destination_pages(&store, &run_id);
    assert_eq!(pairs(&pages), volume_pages(&opticon_file));
}

#[tokio::test]
async fn sample_opticon_01_arrives_byte_identical() {
    push_sample("Opticon_01.opt").await;
}

#[tokio::test]
async fn sample_opticon_02_arrives_byte_identical() {
    push_sample("opticon_02.opt").await;
}

#[tokio::test]
async fn shipped_workflow_pushes_sample_volume() {
    if common::samples().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/volume-to-production.json");
    let (_store, _run_id, end) = push(dir.path(), &file).await;
    let SyncState::Done(done) = end else {
        panic!("expected Done, found {end:?}");
    };
    assert_eq!(done.pages, 5);
}

/// Writes a one-page TIFF.
fn write_tiff(path: &Path, shade: u8) {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut encoder = tiff::encoder::TiffEncoder::new(&mut buffer).unwrap();
    encoder
        .write_image::<tiff::encoder::colortype::Gray8>(2, 2, &[shade; 4])
        .unwrap();
    std::fs::write(path, buffer.into_inner()).unwrap();
}

/// Builds a volume of four one-page documents where line 2 names a missing
/// image and line 4 repeats the Bates number of line 1.
fn volume_with_problems(dir: &Path) -> PathBuf {
    let images = dir.join("VOL").join("IMAGES");
    std::fs::create_dir_all(&images).unwrap();
    for (index, name) in ["P1", "P3", "P4"].iter().enumerate() {
        write_tiff(&images.join(format!("{name}.tif")), index as u8 * 40);
    }
    let opticon_file = dir.join("problems.opt");
    std::fs::write(
        &opticon_file,
        "P1,VOL,.\\VOL\\IMAGES\\P1.tif,Y,,,1\r\n\
         P2,VOL,.\\VOL\\IMAGES\\P2.tif,Y,,,1\r\n\
         P3,VOL,.\\VOL\\IMAGES\\P3.tif,Y,,,1\r\n\
         P1,VOL,.\\VOL\\IMAGES\\P4.tif,Y,,,1\r\n",
    )
    .unwrap();
    opticon_file
}

#[tokio::test]
async fn problems_stop_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let opticon_file = volume_with_problems(dir.path());
    let file = volume_workflow(dir.path(), &opticon_file, "stop");

    let (_store, _run_id, end) = push(dir.path(), &file).await;
    let SyncState::Failed(failed) = &end else {
        panic!("expected Failed, found {end:?}");
    };
    assert_eq!(failed.step, StepName::ValidateSource);
    let missing = format!("{}:2: ", opticon_file.display());
    let duplicate = format!("{}:4: ", opticon_file.display());
    assert!(failed.message.contains(&missing), "{}", failed.message);
    assert!(failed.message.contains(&duplicate), "{}", failed.message);
    assert!(failed.message.contains("on_problem"), "{}", failed.message);
}

#[tokio::test]
async fn problems_skip_and_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let opticon_file = volume_with_problems(dir.path());
    let file = volume_workflow(dir.path(), &opticon_file, "skip");

    let (store, run_id, end) = push(dir.path(), &file).await;
    let SyncState::Done(done) = &end else {
        panic!("expected Done, found {end:?}");
    };
    assert_eq!(done.documents, 2);
    let skipped: Vec<(usize, &str)> = done
        .source
        .skipped()
        .iter()
        .map(|record| (record.line, record.value.as_str()))
        .collect();
    assert_eq!(skipped, vec![(2, "P2"), (4, "P1")]);
    assert!(done.source.skipped()[0]
        .problems
        .contains(&"missing-image".to_string()));
    let bates: Vec<String> = destination_pages(&store, &run_id)
        .into_iter()
        .map(|page| page.bates)
        .collect();
    assert_eq!(bates, vec!["P1", "P3"]);
}

#[tokio::test]
async fn changed_volume_is_detected_by_import() {
    let dir = tempfile::tempdir().unwrap();
    let opticon_file = volume_with_problems(dir.path());
    let file = volume_workflow(dir.path(), &opticon_file, "skip");
    let (_store, _run_id, session) = open_run(dir.path(), &file).await;

    let mut state = SyncState::Configured;
    while state.name() != StateName::ImportConfigured {
        let step = step_for(state.name()).unwrap();
        state = session.engine.advance(step, state).await.unwrap();
    }
    let mut text = std::fs::read_to_string(&opticon_file).unwrap();
    text.push_str("P5,VOL,.\\VOL\\IMAGES\\P3.tif,Y,,,1\r\n");
    std::fs::write(&opticon_file, text).unwrap();

    let end = session
        .engine
        .advance(StepName::Import, state)
        .await
        .unwrap();
    let message = common::failure(&end);
    assert!(
        message.contains("changed since it was validated"),
        "{message}"
    );
    session.release();
    if let Some(emulator) = session.emulator {
        emulator.shutdown().await;
    }
}
