//! Forking a run: a new run that starts from a checkpoint another run
//! recorded, linked to it in the record.
//!
//! The checkpoint is the state data of the origin's latest transition into
//! the chosen state. The fork records nothing until its first step, and
//! its chain's genesis hash binds the origin run, the transition and that
//! transition's hash. A fork of a run on the embedded emulator uses the
//! origin's emulator folder, so it sees the same server state.

use std::str::FromStr;

use serde::Serialize;

use super::AuditError;
use crate::machine::{self, StateName, SyncState};
use crate::store::{NewRun, Store, TransitionRecord};

/// A run created by [`fork`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forked {
    pub run_id: String,
    pub origin_run: String,
    /// Sequence number of the origin transition the fork starts from.
    pub origin_seq: i64,
    pub state: StateName,
}

/// Creates a run from `origin_run`'s latest checkpoint in `state`; the run
/// is left in that state, ready to be driven as a resumed run.
#[tracing::instrument(skip(store))]
pub fn fork(store: &Store, origin_run: &str, state: StateName) -> Result<Forked, AuditError> {
    if machine::step_for(state).is_none() {
        return Err(AuditError::TerminalState { state });
    }
    let origin = store.run(origin_run)?;
    let transitions = store.transitions(origin_run)?;
    let checkpoint = latest_into(&transitions, state).ok_or_else(|| AuditError::NoCheckpoint {
        run_id: origin_run.to_string(),
        state,
    })?;
    let data: SyncState = serde_json::from_value(checkpoint.state.clone()).map_err(|source| {
        AuditError::BadStateData {
            run_id: origin_run.to_string(),
            seq: checkpoint.seq,
            source,
        }
    })?;

    if uses_emulator(&origin.workflow_json) && origin.emulator_dir.is_none() {
        return Err(AuditError::NoEmulatorDir {
            run_id: origin_run.to_string(),
        });
    }

    let run_id = uuid::Uuid::new_v4().to_string();
    store.create_fork(
        &NewRun {
            run_id: &run_id,
            workflow_name: &origin.workflow_name,
            workflow_path: &origin.workflow_path,
            workflow_sha256: &origin.workflow_sha256,
            workflow_json: &origin.workflow_json,
            emulator_dir: origin.emulator_dir.clone(),
            state: &data,
        },
        origin_run,
        checkpoint.seq,
    )?;
    tracing::info!(%run_id, %origin_run, origin_seq = checkpoint.seq, %state, "run forked");
    Ok(Forked {
        run_id,
        origin_run: origin_run.to_string(),
        origin_seq: checkpoint.seq,
        state,
    })
}

/// True when a stored workflow runs on the embedded emulator.
fn uses_emulator(workflow_json: &str) -> bool {
    let workflow: serde_json::Value = serde_json::from_str(workflow_json).unwrap_or_default();
    !workflow["relativity"]["emulator"].is_null()
}

/// Returns the latest transition that entered `state`.
fn latest_into(transitions: &[TransitionRecord], state: StateName) -> Option<&TransitionRecord> {
    transitions
        .iter()
        .rev()
        .find(|transition| StateName::from_str(&transition.to) == Ok(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn into(seq: i64, to: &str) -> TransitionRecord {
        TransitionRecord {
            run_id: "r".into(),
            seq,
            from: String::new(),
            to: to.into(),
            step: String::new(),
            attempt: 1,
            started_at: String::new(),
            finished_at: String::new(),
            outcome: String::new(),
            error: None,
            state: serde_json::Value::Null,
        }
    }

    #[test]
    fn latest_into_picks_last_entry() {
        let transitions = [
            into(1, "SourceValidated"),
            into(2, "Failed"),
            into(3, "SourceValidated"),
        ];
        let found = latest_into(&transitions, StateName::SourceValidated).unwrap();
        assert_eq!(found.seq, 3);
        assert!(latest_into(&transitions, StateName::Done).is_none());
    }
}
