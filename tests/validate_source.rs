//! Configured → SourceValidated against the emulator: success and each way
//! the source check fails, with the failure recorded on the run.

mod common;

use common::*;
use pretty_assertions::assert_eq;
use prodsync::machine::{StateName, StepName, SyncState};
use prodsync::workflow::Source;

async fn validate(
    fixture: &Fixture,
    user: &str,
    workflow: prodsync::workflow::Workflow,
) -> (String, SyncState) {
    let engine = fixture.engine(user, workflow, &SyncState::Configured);
    let run_id = engine.context().run_id.clone();
    let state = engine
        .advance(StepName::ValidateSource, SyncState::Configured)
        .await
        .unwrap();
    (run_id, state)
}

#[tokio::test]
async fn validate_source_accepts_produced_production() {
    let fixture = Fixture::start(small_demo(5)).await;
    let (_, state) = validate(&fixture, ADMIN, workflow(PRODUCED, NEW_SET)).await;
    let SyncState::SourceValidated(validated) = state else {
        panic!("expected SourceValidated, found {}", state.name());
    };
    let source = validated.source.as_production().unwrap();
    assert_eq!(source.production, PRODUCED);
    assert_eq!(source.status, "Produced");
    assert!(source.image_count >= 5);
}

#[tokio::test]
async fn validate_source_records_failure_on_run() {
    let fixture = Fixture::start(small_demo(2)).await;
    let (run_id, state) = validate(&fixture, ADMIN, workflow(1_040_999, NEW_SET)).await;

    let record = fixture.store.run(&run_id).unwrap();
    assert_eq!(record.state, state);
    let transitions = fixture.store.transitions(&run_id).unwrap();
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0].from, "Configured");
    assert_eq!(transitions[0].to, "Failed");
    assert_eq!(transitions[0].step, "validate_source");
    assert_eq!(transitions[0].outcome, "failed");
    assert_eq!(transitions[0].error.as_deref(), Some(failure(&state)));
}

#[tokio::test]
async fn validate_source_fails_on_missing_production() {
    let fixture = Fixture::start(small_demo(2)).await;
    let (_, state) = validate(&fixture, ADMIN, workflow(1_040_999, NEW_SET)).await;
    assert_eq!(state.name(), StateName::Failed);
    assert_eq!(
        failure(&state),
        "source production 1040999 does not exist in workspace 1017266 (Relativity 20.007); check source.production in the workflow"
    );
}

#[tokio::test]
async fn validate_source_fails_on_unproduced_production() {
    let fixture = Fixture::start(small_demo(2)).await;
    let (_, state) = validate(&fixture, ADMIN, workflow(UNPRODUCED, NEW_SET)).await;
    let message = failure(&state);
    assert!(message.contains("source production 1040002"), "{message}");
    assert!(
        message.contains("is not produced: status New, 0 images"),
        "{message}"
    );
}

#[tokio::test]
async fn validate_source_fails_without_view_permission() {
    let fixture = Fixture::start(small_demo(2)).await;
    let (_, state) = validate(&fixture, NO_VIEW, workflow(PRODUCED, NEW_SET)).await;
    let message = failure(&state);
    assert!(message.contains("is not visible to this user"), "{message}");
    assert!(message.contains("grant the user View"), "{message}");
}

#[tokio::test]
async fn validate_source_fails_without_workspace_access() {
    let fixture = Fixture::start(small_demo(2)).await;
    let (_, state) = validate(&fixture, OUTSIDER, workflow(PRODUCED, NEW_SET)).await;
    let message = failure(&state);
    assert!(
        message.starts_with("source workspace 1017266 does not exist or this user has no access"),
        "{message}"
    );
}

#[tokio::test]
async fn validate_source_fails_on_missing_workspace() {
    let fixture = Fixture::start(small_demo(2)).await;
    let mut workflow = workflow(PRODUCED, NEW_SET);
    let Source::Workspace(source) = &mut workflow.source else {
        unreachable!()
    };
    source.workspace = MISSING_WS;
    let (_, state) = validate(&fixture, ADMIN, workflow).await;
    let message = failure(&state);
    assert!(
        message.starts_with("source workspace 1017999 does not exist"),
        "{message}"
    );
    assert!(message.contains("20.001"), "{message}");
}
