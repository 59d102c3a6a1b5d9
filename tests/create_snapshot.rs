//! DestinationValidated → SnapshotCreated against the emulator.

mod common;

use common::*;
use pretty_assertions::assert_eq;
use prodsync::machine::{StateName, StepName, SyncState};

#[tokio::test]
async fn create_snapshot_records_export_run_and_count() {
    let fixture = Fixture::start(small_demo(7)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let state = advance_to(&engine, StateName::SnapshotCreated).await;
    let SyncState::SnapshotCreated(created) = state else {
        panic!("expected SnapshotCreated, found {}", state.name());
    };
    let export = created.snapshot.as_export().unwrap();
    assert_eq!(export.record_count, 7);
    assert!(!export.export_run_id.is_empty());

    let rows = fixture
        .client(ADMIN)
        .retrieve_rows(SOURCE_WS, &export.export_run_id, 0, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 7);
}

#[tokio::test]
async fn create_snapshot_fails_when_export_is_forbidden() {
    let fixture = Fixture::start(small_demo(3)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let validated = advance_to(&engine, StateName::DestinationValidated).await;

    let outsider = fixture.engine(
        OUTSIDER,
        workflow(PRODUCED, NEW_SET),
        &SyncState::Configured,
    );
    let state = outsider
        .advance(StepName::CreateSnapshot, validated)
        .await
        .unwrap();
    let message = failure(&state);
    assert!(message.contains("Object Manager"), "{message}");
    assert_eq!(state.name(), StateName::Failed);
}
