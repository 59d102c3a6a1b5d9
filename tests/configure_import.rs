//! SnapshotCreated → ImportConfigured against the emulator.

mod common;

use common::*;
use pretty_assertions::assert_eq;
use prodsync::machine::{StateName, StepName, SyncState};
use prodsync::steps::import_job_id;

#[tokio::test]
async fn configure_import_creates_begun_job_with_derived_id() {
    let fixture = Fixture::start(small_demo(9)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let run_id = engine.context().run_id.clone();
    let state = advance_to(&engine, StateName::ImportConfigured).await;
    let SyncState::ImportConfigured(configured) = state else {
        panic!("expected ImportConfigured, found {}", state.name());
    };
    assert_eq!(configured.job.job_id(), Some(import_job_id(&run_id)));
    assert_eq!(configured.job.batch_size, 4);
    assert_eq!(configured.job.batch_count, 3);

    let details = fixture
        .client(ADMIN)
        .job_details(DEST_WS, configured.job.job_id().unwrap())
        .await
        .unwrap();
    assert_eq!(details.state, "InProgress");
    assert_eq!(details.correlation_id, run_id);
}

#[tokio::test]
async fn configure_import_continues_existing_job() {
    let fixture = Fixture::start(small_demo(2)).await;
    let engine = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    let created = advance_to(&engine, StateName::SnapshotCreated).await;
    let again = created.clone();
    let first = engine
        .advance(StepName::ConfigureImport, created)
        .await
        .unwrap();
    assert_eq!(first.name(), StateName::ImportConfigured);

    let second = engine
        .advance(StepName::ConfigureImport, again)
        .await
        .unwrap();
    assert_eq!(second, first);
}
