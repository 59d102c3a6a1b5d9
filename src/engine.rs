//! The engine: drives a run from its recorded state to a terminal state.
//!
//! The loop reads as the design: load the checkpoint, pick the step the
//! transition table names for the current state, run it, check the outcome
//! against the table, and record the transition. [`Engine::record`] is the
//! one place where transitions are written; steps only return outcomes.
//!
//! A step that fails with a transient error is run again after a backoff
//! (see [`crate::retry`]); each failed attempt is recorded, and attempt
//! numbers continue across processes. A step interrupted by a stop request
//! ends the run in `Failed` with the outcome `interrupted`, from which
//! [`Engine::resume`] continues.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::machine::{self, Failed, IllegalTransition, StepName, SyncState};
use crate::steps::{self, StepContext, StepError};
use crate::store::{AttemptRecord, StoreError, TransitionRecord};

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

/// Outcome of [`Engine::resume`].
#[derive(Debug, Clone, PartialEq)]
pub enum Resumed {
    /// The run was already `Done`; nothing ran.
    AlreadyDone(SyncState),
    /// The run went on and reached this terminal state.
    Finished(SyncState),
}

/// Outcome names recorded with transitions.
const COMPLETED: &str = "completed";
const FAILED: &str = "failed";
const INTERRUPTED: &str = "interrupted";
const RESUMED: &str = "resumed";

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
        let state = self.context.store.run(&self.context.run_id)?.state;
        self.drive(state, false).await
    }

    /// Continues a stopped run: a `Failed` run returns to the state its
    /// failed step started from, the server side is checked again, and the
    /// steps that remain run. Steps and batches recorded as complete are not
    /// run again.
    pub async fn resume(&self) -> Result<Resumed, EngineError> {
        let run_id = &self.context.run_id;
        let mut state = self.context.store.run(run_id)?.state;
        if matches!(state, SyncState::Done(_)) {
            tracing::info!(%run_id, "run is already Done; nothing to resume");
            return Ok(Resumed::AlreadyDone(state));
        }

        if let SyncState::Failed(failed) = &state {
            let target = (*failed.last_good).clone();
            let started_at = crate::store::now();
            let attempt = self.next_attempt(StepName::Resume)?;
            self.record(
                &state,
                StepName::Resume,
                &target,
                attempt,
                started_at,
                RESUMED,
                None,
            )?;
            state = target;
        }
        self.drive(state, true).await.map(Resumed::Finished)
    }

    /// Records that a run which no process is driving was stopped: its
    /// current state goes to `Failed` with the outcome `interrupted`, so it
    /// can be resumed. A terminal run is left as it is.
    pub fn interrupt(&self, reason: &str) -> Result<SyncState, EngineError> {
        let state = self.context.store.run(&self.context.run_id)?.state;
        let Some(step) = machine::step_for(state.name()) else {
            return Ok(state);
        };
        let error = StepError::Interrupted {
            reason: reason.to_string(),
        };
        let attempt = self.next_attempt(step)?;
        let started_at = crate::store::now();
        let (next, outcome, message) = self.settle(step, &state, Err(error));
        self.record(&state, step, &next, attempt, started_at, outcome, message)?;
        Ok(next)
    }

    async fn drive(&self, mut state: SyncState, recheck: bool) -> Result<SyncState, EngineError> {
        let run_id = &self.context.run_id;
        tracing::info!(%run_id, state = %state.name(), "run started");

        let mut recheck = recheck;
        while let Some(step) = machine::step_for(state.name()) {
            state = self.advance_checked(step, state, recheck).await?;
            recheck = false;
        }

        tracing::info!(%run_id, state = %state.name(), "run finished");
        Ok(state)
    }

    /// Runs one step from `state`, with retries, and records the
    /// transition it produced.
    pub async fn advance(
        &self,
        step: StepName,
        state: SyncState,
    ) -> Result<SyncState, EngineError> {
        self.advance_checked(step, state, false).await
    }

    async fn advance_checked(
        &self,
        step: StepName,
        state: SyncState,
        recheck: bool,
    ) -> Result<SyncState, EngineError> {
        let run_id = &self.context.run_id;
        let started_at = crate::store::now();
        let mut clock = Instant::now();
        let step_clock = Instant::now();
        let mut recorded_before = self.context.batches_recorded.load(Ordering::Relaxed);
        let mut attempt = self.next_attempt(step)?;
        let mut tries_here = 1;
        tracing::info!(%run_id, %step, from = %state.name(), attempt, "step started");

        let outcome = loop {
            let attempt_started = crate::store::now();
            let outcome = self.attempt(step, &state, recheck).await;
            let Err(error) = &outcome else {
                break outcome;
            };
            let recorded = self.context.batches_recorded.load(Ordering::Relaxed);
            if recorded != recorded_before {
                // Batches went through since the last failure: the budget
                // bounds failures in a row, not over a long import.
                recorded_before = recorded;
                tries_here = 1;
                clock = Instant::now();
            }
            let retry = &self.context.workflow.retry;
            let delay = match error.is_transient() {
                true => retry.delay(tries_here + 1, clock.elapsed(), error.retry_after()),
                false => None,
            };
            let Some(delay) = delay else {
                break outcome;
            };

            let message = error.to_string();
            tracing::warn!(%run_id, %step, attempt, delay_ms = delay.as_millis() as u64, error = %message, "step failed; retrying");
            self.context.store.record_attempt(&AttemptRecord {
                run_id: run_id.clone(),
                step: step.to_string(),
                attempt,
                started_at: attempt_started,
                finished_at: crate::store::now(),
                error: message,
                delay_ms: delay.as_millis() as i64,
            })?;
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.context.stop.raised() => {}
            }
            attempt += 1;
            tries_here += 1;
        };

        let (next, outcome_name, error) = self.settle(step, &state, outcome);
        let seq = self.record(
            &state,
            step,
            &next,
            attempt,
            started_at,
            outcome_name,
            error,
        )?;
        tracing::info!(
            %run_id,
            %step,
            seq,
            to = %next.name(),
            elapsed_ms = step_clock.elapsed().as_millis() as u64,
            "transition recorded"
        );
        Ok(next)
    }

    /// Runs the step once: stops first if the run was asked to, and checks
    /// the server side again first when the run was resumed.
    async fn attempt(&self, step: StepName, state: &SyncState, recheck: bool) -> steps::Outcome {
        self.context.check_cancelled()?;
        if recheck {
            steps::recheck(&self.context, state).await?;
        }
        steps::execute(step, &self.context, state).await
    }

    /// Turns a step's outcome into the next state, the outcome name and
    /// the error message.
    fn settle(
        &self,
        step: StepName,
        state: &SyncState,
        outcome: steps::Outcome,
    ) -> (SyncState, &'static str, Option<String>) {
        let error: StepError = match outcome {
            Ok(next) => return (next, COMPLETED, None),
            Err(error) => error,
        };
        let message = error.to_string();
        let outcome = if error.is_interrupted() {
            tracing::warn!(run_id = %self.context.run_id, %step, "step interrupted");
            INTERRUPTED
        } else {
            tracing::error!(run_id = %self.context.run_id, %step, error = %message, "step failed");
            FAILED
        };
        let failed = SyncState::Failed(Failed {
            step,
            message: message.clone(),
            last_good: Box::new(state.clone()),
        });
        (failed, outcome, Some(message))
    }

    /// Checks an edge against the transition table and records it: the one
    /// place where transitions are written.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        from: &SyncState,
        step: StepName,
        to: &SyncState,
        attempt: i64,
        started_at: String,
        outcome: &str,
        error: Option<String>,
    ) -> Result<i64, EngineError> {
        let run_id = &self.context.run_id;
        machine::check(from.name(), step, to.name()).map_err(|source| EngineError::Illegal {
            run_id: run_id.clone(),
            source,
        })?;
        crate::crashpoint::hit(&format!("before_transition:{}", to.name()));

        let record = TransitionRecord {
            run_id: run_id.clone(),
            seq: 0,
            from: from.name().to_string(),
            to: to.name().to_string(),
            step: step.to_string(),
            attempt,
            started_at,
            finished_at: crate::store::now(),
            outcome: outcome.to_string(),
            error,
            state: serde_json::Value::Null,
        };
        let holder = self.context.lease_holder.as_deref();
        let seq = crate::metrics::time_checkpoint(crate::metrics::Checkpoint::Transition, || {
            self.context.store.record_transition(&record, to, holder)
        })?;
        crate::crashpoint::hit(&format!("after_transition:{}", to.name()));
        Ok(seq)
    }

    /// Returns the next attempt number of a step, counting earlier
    /// processes' attempts.
    fn next_attempt(&self, step: StepName) -> Result<i64, EngineError> {
        let last = self
            .context
            .store
            .last_attempt(&self.context.run_id, &step.to_string())?;
        Ok(last + 1)
    }
}
