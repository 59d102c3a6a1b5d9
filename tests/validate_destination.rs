//! SourceValidated → DestinationValidated against the emulator: success and
//! each way the destination check fails.

mod common;

use common::*;
use pretty_assertions::assert_eq;
use prodsync::machine::{StateName, StepName, SyncState};
use prodsync::workflow::{Destination, Workflow};

/// Validates the source, then the destination, as `user`.
async fn validate(fixture: &Fixture, user: &str, workflow: Workflow) -> SyncState {
    let engine = fixture.engine(user, workflow, &SyncState::Configured);
    let source = engine
        .advance(StepName::ValidateSource, SyncState::Configured)
        .await
        .unwrap();
    assert_eq!(source.name(), StateName::SourceValidated, "{source:?}");
    engine
        .advance(StepName::ValidateDestination, source)
        .await
        .unwrap()
}

#[tokio::test]
async fn validate_destination_accepts_new_set() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, ADMIN, workflow(PRODUCED, NEW_SET)).await;
    let SyncState::DestinationValidated(validated) = state else {
        panic!("expected DestinationValidated, found {}", state.name());
    };
    let destination = validated.destination.as_production_set().unwrap();
    assert_eq!(destination.production_set, NEW_SET);
    assert_eq!(destination.status, "New");
    assert_eq!(destination.image_count_before, 0);
}

#[tokio::test]
async fn validate_destination_fails_on_missing_set() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, ADMIN, workflow(PRODUCED, 1_040_998)).await;
    let message = failure(&state);
    assert!(
        message
            .starts_with("destination production set 1040998 does not exist in workspace 1017267"),
        "{message}"
    );
    assert!(message.contains("20.010"), "{message}");
}

#[tokio::test]
async fn validate_destination_fails_on_produced_set() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, ADMIN, workflow(PRODUCED, PRODUCED_SET)).await;
    let message = failure(&state);
    assert!(message.contains("has status Produced"), "{message}");
    assert!(
        message.ends_with("Verify if a Production Set used as the location in destination workspace is in New status."),
        "{message}"
    );
}

#[tokio::test]
async fn validate_destination_fails_on_set_with_data_source() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, ADMIN, workflow(PRODUCED, SET_WITH_SOURCE)).await;
    let message = failure(&state);
    assert!(
        message.contains("has status New and 1 data sources"),
        "{message}"
    );
    assert!(message.contains("20.013"), "{message}");
}

#[tokio::test]
async fn validate_destination_fails_without_add_permission() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, NO_ADD, workflow(PRODUCED, NEW_SET)).await;
    let message = failure(&state);
    assert!(
        message.starts_with(
            "this user may not add a production data source to production set 1040101"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn validate_destination_fails_on_invisible_set() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, NO_ADD, workflow(PRODUCED, PRODUCED_SET)).await;
    let message = failure(&state);
    assert!(
        message.starts_with("destination production set 1040102 does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn validate_destination_fails_on_missing_workspace() {
    let fixture = Fixture::start(small_demo(2)).await;
    let mut workflow = workflow(PRODUCED, NEW_SET);
    let Destination::Workspace(destination) = &mut workflow.destination else {
        unreachable!()
    };
    destination.workspace = MISSING_WS;
    let state = validate(&fixture, ADMIN, workflow).await;
    let message = failure(&state);
    assert!(
        message.starts_with("destination workspace 1017999 does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn validate_destination_keeps_source_in_failure() {
    let fixture = Fixture::start(small_demo(2)).await;
    let state = validate(&fixture, ADMIN, workflow(PRODUCED, PRODUCED_SET)).await;
    let SyncState::Failed(failed) = state else {
        panic!("expected Failed");
    };
    assert_eq!(failed.step, StepName::ValidateDestination);
    assert_eq!(failed.last_good.name(), StateName::SourceValidated);
}

#[tokio::test]
async fn validate_destination_rejects_set_holding_the_pages() {
    let fixture = Fixture::start(small_demo(3)).await;
    let first = fixture.engine(ADMIN, workflow(PRODUCED, NEW_SET), &SyncState::Configured);
    assert_eq!(first.run().await.unwrap().name(), StateName::Done);

    let state = validate(&fixture, ADMIN, workflow(PRODUCED, NEW_SET)).await;
    let message = failure(&state);
    assert!(
        message.starts_with("destination production set 1040101 in workspace 1017267 already holds pages TEST0000001 .. "),
        "{message}"
    );
    assert!(
        message.ends_with("choose an empty production set"),
        "{message}"
    );
}
