//! Replaying a run: feeding its recorded transitions through the current
//! state machine, without contacting any server.
//!
//! A replay starts where the run started: `Configured`, or the state a
//! forked run was forked in. For each transition it checks that the
//! transition leaves the state the previous one reached, and that
//! [`machine::check`] allows the edge and [`machine::step_for`] names its
//! step. A `resume` must return to the `last_good` state of the `Failed`
//! state it leaves, and the recorded state and outcome must fit the edge.

use std::str::FromStr;

use serde::Serialize;

use super::AuditError;
use crate::machine::{self, StateName, StepName, SyncState};
use crate::store::{Store, TransitionRecord};

/// Outcome names of edges into `Failed`.
const FAILED_OUTCOMES: [&str; 2] = ["failed", "interrupted"];

/// A recorded transition the state machine does not accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayProblem {
    pub seq: i64,
    pub message: String,
}

/// Result of replaying a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replay {
    pub run_id: String,
    /// The state the replay started from.
    pub start: StateName,
    /// The state the last transition reached; `None` if it named an
    /// unknown state.
    pub end: Option<StateName>,
    pub transitions: usize,
    pub problems: Vec<ReplayProblem>,
}

impl Replay {
    /// True when every transition follows the state machine.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Replays a run from the store: a forked run starts from the state its
/// origin transition recorded, any other run from `Configured`.
#[tracing::instrument(skip(store))]
pub fn replay_run(store: &Store, run_id: &str) -> Result<Replay, AuditError> {
    let trail = store.audit_trail(run_id)?;
    let start = match (&trail.chain.forked_from_run, trail.chain.forked_from_seq) {
        (Some(origin), Some(seq)) => fork_start(store, origin, seq)?,
        _ => Ok(StateName::Configured),
    };
    let transitions = store.transitions(run_id)?;

    let mut replay = match start {
        Ok(start) => replay(start, &transitions),
        Err(problem) => {
            let mut replay = replay(StateName::Configured, &[]);
            replay.problems.push(problem);
            replay
        }
    };
    replay.run_id = run_id.to_string();
    Ok(replay)
}

/// Returns the state a fork started in: the `to` state of its origin
/// transition, or a problem when that transition is not recorded.
fn fork_start(
    store: &Store,
    origin: &str,
    seq: i64,
) -> Result<Result<StateName, ReplayProblem>, AuditError> {
    let transitions = store.transitions(origin)?;
    let Some(transition) = transitions.iter().find(|transition| transition.seq == seq) else {
        return Ok(Err(ReplayProblem {
            seq: 0,
            message: format!(
                "the run was forked from transition {seq} of run {origin}, which is not recorded"
            ),
        }));
    };
    Ok(
        StateName::from_str(&transition.to).map_err(|_| ReplayProblem {
            seq: 0,
            message: format!(
                "origin transition {seq} of run {origin} names the unknown state {:?}",
                transition.to
            ),
        }),
    )
}

/// Replays transitions from `start`; continues after a problem from the
/// state the faulty transition recorded, so each problem is listed once.
pub fn replay(start: StateName, transitions: &[TransitionRecord]) -> Replay {
    let mut current = Some(start);
    let mut previous: Option<&TransitionRecord> = None;
    let mut problems = Vec::new();
    for transition in transitions {
        let mut report = |message: String| {
            problems.push(ReplayProblem {
                seq: transition.seq,
                message,
            })
        };
        match parse_edge(transition) {
            Ok((from, step, to)) => {
                for message in check_edge(current, previous, transition, from, step, to) {
                    report(message);
                }
                current = Some(to);
            }
            Err(message) => {
                report(message);
                current = StateName::from_str(&transition.to).ok();
            }
        }
        previous = Some(transition);
    }

    Replay {
        run_id: transitions
            .first()
            .map(|transition| transition.run_id.clone())
            .unwrap_or_default(),
        start,
        end: current,
        transitions: transitions.len(),
        problems,
    }
}

fn parse_edge(transition: &TransitionRecord) -> Result<(StateName, StepName, StateName), String> {
    let state =
        |name: &str| StateName::from_str(name).map_err(|_| format!("unknown state {name:?}"));
    let step = StepName::from_str(&transition.step)
        .map_err(|_| format!("unknown step {:?}", transition.step))?;
    Ok((state(&transition.from)?, step, state(&transition.to)?))
}

/// Lists what is wrong with one parsed edge.
fn check_edge(
    current: Option<StateName>,
    previous: Option<&TransitionRecord>,
    transition: &TransitionRecord,
    from: StateName,
    step: StepName,
    to: StateName,
) -> Vec<String> {
    let mut messages = Vec::new();
    if let Some(current) = current.filter(|current| *current != from) {
        messages.push(format!("leaves {from}, but the run was in {current}"));
    }
    if let Err(illegal) = machine::check(from, step, to) {
        messages.push(format!("the state machine rejects it: {illegal}"));
    }
    if step != StepName::Resume && machine::step_for(from) != Some(step) {
        messages.push(format!("step {step} does not run from {from}"));
    }
    if step == StepName::Resume {
        messages.extend(check_resume(previous, to));
    }
    messages.extend(check_recorded_state(transition, step, to));
    messages
}

/// A resume must return to the `last_good` state of the `Failed` state the
/// previous transition recorded.
fn check_resume(previous: Option<&TransitionRecord>, to: StateName) -> Option<String> {
    let Some(previous) = previous else {
        return Some("resume is the first transition, so there is no Failed state to leave".into());
    };
    let failed = serde_json::from_value::<SyncState>(previous.state.clone());
    let last_good = match failed {
        Ok(SyncState::Failed(failed)) => failed.last_good.name(),
        _ => {
            return Some(format!(
                "resume leaves transition {}, which recorded no Failed state",
                previous.seq
            ))
        }
    };
    (last_good != to).then(|| {
        format!("resume returns to {to}, but the Failed state's last good state is {last_good}")
    })
}

/// The recorded state must be the edge's target, and the outcome must fit
/// the edge.
fn check_recorded_state(
    transition: &TransitionRecord,
    step: StepName,
    to: StateName,
) -> Vec<String> {
    let mut messages = Vec::new();
    let recorded = transition.state.get("state").and_then(|name| name.as_str());
    if recorded != Some(<&'static str>::from(to)) {
        messages.push(format!(
            "records state data of {recorded:?}, but its edge goes to {to}"
        ));
    }

    let outcome = transition.outcome.as_str();
    let fits = match (step, to) {
        (StepName::Resume, _) => outcome == "resumed",
        (_, StateName::Failed) => FAILED_OUTCOMES.contains(&outcome),
        _ => outcome == "completed",
    };
    if !fits {
        messages.push(format!(
            "outcome {outcome:?} does not fit the edge {step} → {to}"
        ));
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn transition(
        seq: i64,
        from: &str,
        step: &str,
        to: &str,
        outcome: &str,
        state: serde_json::Value,
    ) -> TransitionRecord {
        TransitionRecord {
            run_id: "r".into(),
            seq,
            from: from.into(),
            to: to.into(),
            step: step.into(),
            attempt: 1,
            started_at: String::new(),
            finished_at: String::new(),
            outcome: outcome.into(),
            error: None,
            state,
        }
    }

    fn failed_from(last_good: &str) -> serde_json::Value {
        json!({"state": "Failed", "data": {"step": "validate_source", "message": "x", "last_good": {"state": last_good}}})
    }

    #[test]
    fn replay_accepts_fail_and_resume() {
        let transitions = [
            transition(
                1,
                "Configured",
                "validate_source",
                "Failed",
                "failed",
                failed_from("Configured"),
            ),
            transition(
                2,
                "Failed",
                "resume",
                "Configured",
                "resumed",
                json!({"state": "Configured"}),
            ),
        ];
        let replay = replay(StateName::Configured, &transitions);
        assert_eq!(replay.problems, vec![]);
        assert_eq!(replay.end, Some(StateName::Configured));
    }

    #[test]
    fn replay_rejects_skipped_state() {
        let transitions = [transition(
            1,
            "Configured",
            "validate_source",
            "SnapshotCreated",
            "completed",
            json!({"state": "SnapshotCreated"}),
        )];
        let replay = replay(StateName::Configured, &transitions);
        assert_eq!(replay.problems.len(), 1, "{:?}", replay.problems);
        assert!(replay.problems[0].message.contains("illegal transition"));
    }

    #[test]
    fn replay_rejects_resume_to_other_state() {
        let transitions = [
            transition(
                1,
                "Configured",
                "validate_source",
                "Failed",
                "failed",
                failed_from("Configured"),
            ),
            transition(
                2,
                "Failed",
                "resume",
                "SourceValidated",
                "resumed",
                json!({"state": "SourceValidated"}),
            ),
        ];
        let replay = replay(StateName::Configured, &transitions);
        assert_eq!(replay.problems.len(), 1, "{:?}", replay.problems);
        assert!(replay.problems[0]
            .message
            .contains("last good state is Configured"));
    }

    #[test]
    fn replay_rejects_gap_between_transitions() {
        let transitions = [transition(
            1,
            "SourceValidated",
            "validate_destination",
            "Failed",
            "failed",
            failed_from("SourceValidated"),
        )];
        let replay = replay(StateName::Configured, &transitions);
        assert_eq!(
            replay.problems[0].message,
            "leaves SourceValidated, but the run was in Configured"
        );
    }

    #[test]
    fn replay_rejects_unknown_step() {
        let transitions = [transition(
            1,
            "Configured",
            "teleport",
            "Done",
            "completed",
            json!({"state": "Done"}),
        )];
        let replay = replay(StateName::Configured, &transitions);
        assert_eq!(replay.problems[0].message, "unknown step \"teleport\"");
        assert_eq!(replay.end, Some(StateName::Done));
    }
}
