//! Failed attempts of steps, and cancel requests.
//!
//! An attempt row records one run of a step that failed with a transient
//! error and was retried. Attempt numbers count per run and step across
//! processes, so a crash does not reset them. A cancel request is a
//! timestamp on the run that the process driving it polls.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Store, StoreError};

/// One failed, retried attempt of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub run_id: String,
    pub step: String,
    pub attempt: i64,
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
    /// Wait before the next attempt, in milliseconds.
    pub delay_ms: i64,
}

impl Store {
    /// Records a failed attempt.
    #[tracing::instrument(skip_all, fields(run_id = %attempt.run_id, step = %attempt.step, attempt = attempt.attempt))]
    pub fn record_attempt(&self, attempt: &AttemptRecord) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO attempts (run_id, step, attempt, started_at, finished_at, error, delay_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    attempt.run_id,
                    attempt.step,
                    attempt.attempt,
                    attempt.started_at,
                    attempt.finished_at,
                    attempt.error,
                    attempt.delay_ms,
                ],
            )
            .map_err(|source| self.error(source))?;
        Ok(())
    }

    /// Returns the highest attempt number recorded for a step: its failed
    /// attempts plus its recorded transitions.
    pub fn last_attempt(&self, run_id: &str, step: &str) -> Result<i64, StoreError> {
        self.lock()
            .query_row(
                "SELECT MAX(
                    COALESCE((SELECT MAX(attempt) FROM attempts WHERE run_id = ?1 AND step = ?2), 0),
                    COALESCE((SELECT MAX(attempt) FROM transitions WHERE run_id = ?1 AND step = ?2), 0))",
                params![run_id, step],
                |row| row.get(0),
            )
            .map_err(|source| self.error(source))
    }

    /// Reads a run's failed attempts in order.
    pub fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT run_id, step, attempt, started_at, finished_at, error, delay_ms
                 FROM attempts WHERE run_id = ?1 ORDER BY started_at, attempt",
            )
            .map_err(|source| self.error(source))?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok(AttemptRecord {
                    run_id: row.get(0)?,
                    step: row.get(1)?,
                    attempt: row.get(2)?,
                    started_at: row.get(3)?,
                    finished_at: row.get(4)?,
                    error: row.get(5)?,
                    delay_ms: row.get(6)?,
                })
            })
            .map_err(|source| self.error(source))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|source| self.error(source))
    }

    /// Asks the process driving a run to stop at its next safe point.
    pub fn request_cancel(&self, run_id: &str) -> Result<(), StoreError> {
        let updated = self
            .lock()
            .execute(
                "UPDATE runs SET cancel_requested_at = ?2 WHERE run_id = ?1",
                params![run_id, super::now()],
            )
            .map_err(|source| self.error(source))?;
        if updated == 0 {
            return Err(StoreError::RunNotFound {
                path: self.path.clone(),
                run_id: run_id.to_string(),
            });
        }
        Ok(())
    }

    /// Returns when a cancel was requested, if one is pending.
    pub fn cancel_requested(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let value: Option<Option<String>> = self
            .lock()
            .query_row(
                "SELECT cancel_requested_at FROM runs WHERE run_id = ?1",
                [run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.error(source))?;
        Ok(value.flatten())
    }

    /// Clears a pending cancel request, when a run is resumed.
    pub fn clear_cancel(&self, run_id: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE runs SET cancel_requested_at = NULL WHERE run_id = ?1",
                [run_id],
            )
            .map_err(|source| self.error(source))?;
        Ok(())
    }
}
