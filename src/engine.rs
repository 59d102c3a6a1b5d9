//! The engine: drives a run from its recorded state to a terminal state.
//!
//! The loop reads as the design: load the checkpoint, pick the step the
//! transition table names for the current state, run it, check the outcome
//! against the table, and record the transition. [`Engine::advance`] is the
//! one place where transitions are recorded; steps only return outcomes.

use std::time::Instant;

use crate::machine::{self, Failed, IllegalTransition, StepName, SyncState};
use crate::steps::{self, StepContext};
use crate::store::{StoreError, TransitionRecord};

/// Error that stops the engine itself (not a failed step, which is
/// recorded as a `Failed` state).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("run {run_id}: {source}; the engine refuses to record it")]
    Illegal {
        run_id: String,
        source: IllegalTransition,
    },
}

/// Drives one run.
pub struct Engine {
    context: StepContext,
}

impl Engine {
    /// Creates an engine for the run named in `context`.
    pub fn new(context: StepContext) -> Self {
        Self { context }
    }

    /// Returns the step context.
    pub fn context(&self) -> &StepContext {
        &self.context
    }

    /// Runs steps until the run is `Done` or `Failed`; returns the end state.
    pub async fn run(&self) -> Result<SyncState, EngineError> {
        let run_id = &self.context.run_id;
        let mut state = self.context.store.run(run_id)?.state;
        tracing::info!(%run_id, state = %state.name(), "run started");

        while let Some(step) = machine::step_for(state.name()) {
            state = self.advance(step, state).await?;
        }

        tracing::info!(%run_id, state = %state.name(), "run finished");
        Ok(state)
    }

    /// Runs one step from `state` and records the transition it produced.
    pub async fn advance(
        &self,
        step: StepName,
        state: SyncState,
    ) -> Result<SyncState, EngineError> {
        let run_id = &self.context.run_id;
        let started_at = crate::store::now();
        let clock = Instant::now();
        tracing::info!(%run_id, %step, from = %state.name(), "step started");

        let outcome = steps::execute(step, &self.context, &state).await;
        let (next, error) = match outcome {
            Ok(next) => (next, None),
            Err(error) => {
                let message = error.to_string();
                tracing::error!(%run_id, %step, error = %message, "step failed");
                let failed = SyncState::Failed(Failed {
                    step,
                    message: message.clone(),
                    last_good: Box::new(state.clone()),
                });
                (failed, Some(message))
            }
        };

        machine::check(state.name(), step, next.name()).map_err(|source| EngineError::Illegal {
            run_id: run_id.clone(),
            source,
        })?;
        let record = TransitionRecord {
            run_id: run_id.clone(),
            seq: 0,
            from: state.name().to_string(),
            to: next.name().to_string(),
            step: step.to_string(),
            attempt: 1,
            started_at,
            finished_at: crate::store::now(),
            outcome: if error.is_some() {
                "failed"
            } else {
                "completed"
            }
            .to_string(),
            error,
            state: serde_json::Value::Null,
        };
        let seq = self.context.store.record_transition(&record, &next)?;

        tracing::info!(
            %run_id,
            %step,
            seq,
            to = %next.name(),
            elapsed_ms = clock.elapsed().as_millis() as u64,
            "transition recorded"
        );
        Ok(next)
    }
}
