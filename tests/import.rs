//! ImportConfigured → Done against the emulator: every page arrives once,
//! with the source's Bates numbers and bytes, and batches are recorded.

mod common;

use common::*;
use pretty_assertions::assert_eq;
use prodsync::machine::{StateName, StepName, SyncState};

#[tokio::test]
async fn import_delivers_every_page_once() {
    let fixture = Fixture::start(small_demo(10)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let run_id = engine.context().run_id.clone();
    let state = advance_to(&engine, StateName::Done).await;
    let SyncState::Done(done) = state else {
        panic!("expected Done, found {state:?}");
    };

    let source = fixture
        .emulator
        .list_production(SOURCE_WS, PRODUCED)
        .unwrap();
    let destination = fixture.emulator.list_production(DEST_WS, NEW_SET).unwrap();
    let pairs = |pages: &[prodsync::emulator::ProducedPage]| -> Vec<(String, String)> {
        pages
            .iter()
            .map(|page| (page.bates.clone(), page.sha256.clone()))
            .collect()
    };
    assert_eq!(pairs(&destination), pairs(&source));
    assert_eq!(done.pages, source.len() as u64);
    assert_eq!(done.documents, 10);
    assert_eq!(done.first_bates.as_deref(), Some(source[0].bates.as_str()));
    assert_eq!(
        done.last_bates.as_deref(),
        Some(source[source.len() - 1].bates.as_str())
    );

    let batches = fixture.store.batches(&run_id).unwrap();
    let indexes: Vec<u64> = batches.iter().map(|batch| batch.batch_index).collect();
    assert_eq!(indexes, vec![0, 1, 2]);
}

#[tokio::test]
async fn import_skips_recorded_batches() {
    let fixture = Fixture::start(small_demo(8)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let run_id = engine.context().run_id.clone();
    let configured = advance_to(&engine, StateName::ImportConfigured).await;
    let source_id = prodsync::steps::data_source_id(&run_id, 0);
    fixture
        .store
        .record_batch(
            &prodsync::store::BatchRecord {
                run_id: run_id.clone(),
                batch_index: 0,
                first_record: 0,
                documents: 4,
                pages: 0,
                bytes: 0,
                first_bates: None,
                last_bates: None,
                data_source_id: source_id.to_string(),
                completed_at: prodsync::store::now(),
            },
            None,
        )
        .unwrap();

    let state = engine
        .advance(StepName::Import, configured.clone())
        .await
        .unwrap();
    assert_eq!(state.name(), StateName::Done, "{state:?}");

    let SyncState::ImportConfigured(configured) = configured else {
        panic!("expected ImportConfigured");
    };
    let skipped = fixture
        .client(ADMIN)
        .data_source_details(DEST_WS, configured.job.job_id().unwrap(), source_id)
        .await;
    assert!(skipped.is_err(), "batch 0 was sent: {skipped:?}");

    let source = fixture
        .emulator
        .list_production(SOURCE_WS, PRODUCED)
        .unwrap();
    let first_four: std::collections::BTreeSet<&str> = source
        .iter()
        .map(|page| page.control_number.as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Vec::new(), |mut seen, control| {
            if !seen.contains(&control) && seen.len() < 4 {
                seen.push(control);
            }
            seen
        })
        .into_iter()
        .collect();
    let expected: Vec<&str> = source
        .iter()
        .filter(|page| !first_four.contains(page.control_number.as_str()))
        .map(|page| page.bates.as_str())
        .collect();
    let destination = fixture.emulator.list_production(DEST_WS, NEW_SET).unwrap();
    let found: Vec<&str> = destination.iter().map(|page| page.bates.as_str()).collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn import_history_lists_five_transitions() {
    let fixture = Fixture::start(small_demo(3)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let run_id = engine.context().run_id.clone();
    let end = engine.run().await.unwrap();
    assert_eq!(end.name(), StateName::Done);

    let transitions = fixture.store.transitions(&run_id).unwrap();
    let edges: Vec<(&str, &str, &str)> = transitions
        .iter()
        .map(|t| (t.from.as_str(), t.to.as_str(), t.step.as_str()))
        .collect();
    assert_eq!(
        edges,
        vec![
            ("Configured", "SourceValidated", "validate_source"),
            (
                "SourceValidated",
                "DestinationValidated",
                "validate_destination"
            ),
            ("DestinationValidated", "SnapshotCreated", "create_snapshot"),
            ("SnapshotCreated", "ImportConfigured", "configure_import"),
            ("ImportConfigured", "Done", "import"),
        ]
    );
    let seqs: Vec<i64> = transitions.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}
