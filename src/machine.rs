//! The sync state machine: the states, the data each state carries, and the
//! one table of legal transitions.
//!
//! ```text
//! Configured → SourceValidated → DestinationValidated → SnapshotCreated
//!            → ImportConfigured → Done
//! ```
//!
//! `Failed` is reachable from every non-terminal state. Each state carries
//! what the next step needs, so a run can continue from any recorded state.
//! [`TRANSITIONS`] is the only place that lists which edges exist; the engine
//! checks every outcome against it before recording it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use strum::{Display, EnumDiscriminants, EnumIter, EnumString, IntoStaticStr};
use uuid::Uuid;

/// State of a sync, with the data gathered so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EnumDiscriminants)]
#[strum_discriminants(
    name(StateName),
    derive(
        Display,
        EnumString,
        IntoStaticStr,
        EnumIter,
        Hash,
        Serialize,
        Deserialize
    )
)]
#[serde(tag = "state", content = "data")]
pub enum SyncState {
    Configured,
    SourceValidated(SourceValidated),
    DestinationValidated(DestinationValidated),
    SnapshotCreated(SnapshotCreated),
    ImportConfigured(ImportConfigured),
    Done(Done),
    Failed(Failed),
}

/// A step: the work that moves a run out of one state.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Display,
    EnumString,
    IntoStaticStr,
    EnumIter,
    Serialize,
    Deserialize,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    ValidateSource,
    ValidateDestination,
    CreateSnapshot,
    ConfigureImport,
    Import,
    /// Returns a `Failed` run to the state its failed step started from.
    Resume,
}

/// One legal edge of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: StateName,
    pub step: StepName,
    pub to: StateName,
}

/// Every successful edge. Besides these, each step may end in `Failed`.
pub const TRANSITIONS: &[Transition] = &[
    Transition {
        from: StateName::Configured,
        step: StepName::ValidateSource,
        to: StateName::SourceValidated,
    },
    Transition {
        from: StateName::SourceValidated,
        step: StepName::ValidateDestination,
        to: StateName::DestinationValidated,
    },
    Transition {
        from: StateName::DestinationValidated,
        step: StepName::CreateSnapshot,
        to: StateName::SnapshotCreated,
    },
    Transition {
        from: StateName::SnapshotCreated,
        step: StepName::ConfigureImport,
        to: StateName::ImportConfigured,
    },
    Transition {
        from: StateName::ImportConfigured,
        step: StepName::Import,
        to: StateName::Done,
    },
];

/// States a `Failed` run may return to through [`StepName::Resume`]: every
/// state that has a step. The recorded `Failed` state names which one.
pub const RESUME_TARGETS: &[StateName] = &[
    StateName::Configured,
    StateName::SourceValidated,
    StateName::DestinationValidated,
    StateName::SnapshotCreated,
    StateName::ImportConfigured,
];

/// Error of an edge that the transition table does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal transition {from} → {to} by step {step}")]
pub struct IllegalTransition {
    pub from: StateName,
    pub step: StepName,
    pub to: StateName,
}

/// Returns the step that runs from `state`, or `None` for a terminal state.
pub fn step_for(state: StateName) -> Option<StepName> {
    TRANSITIONS
        .iter()
        .find(|transition| transition.from == state)
        .map(|transition| transition.step)
}

/// Checks an edge against [`TRANSITIONS`] and [`RESUME_TARGETS`]; `Failed`
/// is legal from any state that has a step.
pub fn check(from: StateName, step: StepName, to: StateName) -> Result<(), IllegalTransition> {
    let forward = TRANSITIONS.iter().any(|transition| {
        transition.from == from
            && transition.step == step
            && (transition.to == to || to == StateName::Failed)
    });
    let resume =
        from == StateName::Failed && step == StepName::Resume && RESUME_TARGETS.contains(&to);
    let legal = forward || resume;
    if legal {
        Ok(())
    } else {
        Err(IllegalTransition { from, step, to })
    }
}

impl SyncState {
    /// Returns the state's name.
    pub fn name(&self) -> StateName {
        StateName::from(self)
    }

    /// True for `Done` and `Failed`.
    pub fn is_terminal(&self) -> bool {
        step_for(self.name()).is_none()
    }
}

/// The source as validated: a production in a workspace, or a load-file
/// volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceInfo {
    Production(ProductionInfo),
    Volume(VolumeSourceInfo),
}

/// A source production in a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionInfo {
    pub workspace: i64,
    pub production: i64,
    pub name: String,
    pub status: String,
    pub image_count: i64,
    pub first_bates: Option<String>,
    pub last_bates: Option<String>,
}

/// A load-file volume opened and checked as a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSourceInfo {
    pub opticon: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dat: Option<PathBuf>,
    /// Documents kept after skipping.
    pub documents: u64,
    pub pages: u64,
    pub first_bates: Option<String>,
    pub last_bates: Option<String>,
    /// Records left out because of a problem (`on_problem: skip`).
    #[serde(default)]
    pub skipped: Vec<SkippedRecord>,
}

/// A record of a source volume left out of the push, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    pub file: PathBuf,
    /// Line of `file`, from 1.
    pub line: usize,
    /// First image key (Opticon) or control number (DAT).
    pub value: String,
    /// Kinds of the problems found, such as `missing-image`.
    pub problems: Vec<String>,
}

/// The destination as validated: a production set in a workspace, or a
/// folder that receives a load-file volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DestinationInfo {
    ProductionSet(ProductionSetInfo),
    Volume(VolumeDestinationInfo),
}

/// A destination production set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionSetInfo {
    pub workspace: i64,
    pub production_set: i64,
    pub name: String,
    pub status: String,
    /// Pages the production set held before the import.
    pub image_count_before: i64,
}

/// A destination volume: the folder and the volume's name in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeDestinationInfo {
    pub folder: PathBuf,
    /// Volume name, such as `VOL001`: the image folder and the load files'
    /// base name.
    pub volume: String,
}

/// Document source of the push: an Object Manager export run,
/// or the validated volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SnapshotInfo {
    Export(ExportSnapshot),
    Volume(VolumeSnapshot),
}

/// The export run that contains the documents to push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportSnapshot {
    /// Object Manager export run ID.
    pub export_run_id: String,
    pub record_count: u64,
    /// Field names in the order of each row's values.
    pub fields: Vec<String>,
}

/// The source volume as it was when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSnapshot {
    pub opticon: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dat: Option<PathBuf>,
    /// Hex SHA-256 over the Opticon file's bytes followed by the DAT
    /// file's bytes.
    pub sha256: String,
    /// Documents kept after skipping; batches index into these.
    pub document_count: u64,
}

/// Import plan of the documents: batch sizes and where they go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJobInfo {
    pub batch_size: u64,
    pub batch_count: u64,
    pub target: ImportTarget,
}

/// Import target: a server import job, or the files of a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImportTarget {
    /// An Import Service job on the destination workspace.
    Job { job_id: Uuid },
    /// The load files and image folder of a volume being written.
    Volume {
        opticon: PathBuf,
        dat: PathBuf,
        images: PathBuf,
    },
}

impl SourceInfo {
    /// Returns the production, for a production source.
    pub fn as_production(&self) -> Option<&ProductionInfo> {
        match self {
            SourceInfo::Production(production) => Some(production),
            SourceInfo::Volume(_) => None,
        }
    }

    /// Returns the records left out of the push (only a volume skips any).
    pub fn skipped(&self) -> &[SkippedRecord] {
        match self {
            SourceInfo::Production(_) => &[],
            SourceInfo::Volume(volume) => &volume.skipped,
        }
    }
}

impl DestinationInfo {
    /// Returns the production set, for a production-set destination.
    pub fn as_production_set(&self) -> Option<&ProductionSetInfo> {
        match self {
            DestinationInfo::ProductionSet(set) => Some(set),
            DestinationInfo::Volume(_) => None,
        }
    }
}

impl std::fmt::Display for DestinationInfo {
    /// Formats as `production set 1040101 in workspace 1017267` or
    /// `volume VOL001 in /path/to/folder`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DestinationInfo::ProductionSet(set) => write!(
                f,
                "production set {} in workspace {}",
                set.production_set, set.workspace
            ),
            DestinationInfo::Volume(volume) => {
                write!(f, "volume {} in {}", volume.volume, volume.folder.display())
            }
        }
    }
}

impl SnapshotInfo {
    /// Returns the number of documents the snapshot holds.
    pub fn record_count(&self) -> u64 {
        match self {
            SnapshotInfo::Export(export) => export.record_count,
            SnapshotInfo::Volume(volume) => volume.document_count,
        }
    }

    /// Returns the export run, for an export snapshot.
    pub fn as_export(&self) -> Option<&ExportSnapshot> {
        match self {
            SnapshotInfo::Export(export) => Some(export),
            SnapshotInfo::Volume(_) => None,
        }
    }
}

impl ImportJobInfo {
    /// Returns the server import job's ID, when the import has one.
    pub fn job_id(&self) -> Option<Uuid> {
        match &self.target {
            ImportTarget::Job { job_id } => Some(*job_id),
            ImportTarget::Volume { .. } => None,
        }
    }
}

/// Data of `SourceValidated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceValidated {
    pub source: SourceInfo,
}

/// Data of `DestinationValidated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationValidated {
    pub source: SourceInfo,
    pub destination: DestinationInfo,
}

/// Data of `SnapshotCreated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotCreated {
    pub source: SourceInfo,
    pub destination: DestinationInfo,
    pub snapshot: SnapshotInfo,
}

/// Data of `ImportConfigured`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportConfigured {
    pub source: SourceInfo,
    pub destination: DestinationInfo,
    pub snapshot: SnapshotInfo,
    pub job: ImportJobInfo,
}

/// Data of `Done`: what the push delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub source: SourceInfo,
    pub destination: DestinationInfo,
    pub job: ImportJobInfo,
    pub documents: u64,
    pub pages: u64,
    pub bytes: u64,
    pub first_bates: Option<String>,
    pub last_bates: Option<String>,
}

/// Data of `Failed`: the step, the message, and the last good state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    pub step: StepName,
    pub message: String,
    /// The state the failed step started from, kept so the run can resume.
    pub last_good: Box<SyncState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::str::FromStr;
    use strum::IntoEnumIterator;

    #[test]
    fn step_for_walks_the_happy_path() {
        let mut state = StateName::Configured;
        let mut steps = Vec::new();
        while let Some(step) = step_for(state) {
            steps.push(step);
            state = TRANSITIONS.iter().find(|t| t.from == state).unwrap().to;
        }
        assert_eq!(
            steps,
            vec![
                StepName::ValidateSource,
                StepName::ValidateDestination,
                StepName::CreateSnapshot,
                StepName::ConfigureImport,
                StepName::Import,
            ]
        );
        assert_eq!(state, StateName::Done);
    }

    #[test]
    fn check_allows_failed_from_every_step() {
        for transition in TRANSITIONS {
            let result = check(transition.from, transition.step, StateName::Failed);
            assert_eq!(result, Ok(()), "{transition:?}");
        }
    }

    #[test]
    fn check_rejects_skipped_state() {
        let result = check(
            StateName::Configured,
            StepName::ValidateSource,
            StateName::SnapshotCreated,
        );
        assert!(result.is_err());
    }

    #[test]
    fn check_rejects_leaving_terminal_states() {
        for step in StepName::iter() {
            assert!(check(StateName::Done, step, StateName::Failed).is_err());
            assert!(check(StateName::Failed, step, StateName::Done).is_err());
        }
    }

    #[test]
    fn check_allows_resume_only_from_failed() {
        for target in RESUME_TARGETS {
            assert_eq!(check(StateName::Failed, StepName::Resume, *target), Ok(()));
            assert!(check(StateName::Done, StepName::Resume, *target).is_err());
        }
        assert!(check(StateName::Failed, StepName::Resume, StateName::Done).is_err());
    }

    #[test]
    fn every_step_has_one_edge() {
        for step in StepName::iter().filter(|step| *step != StepName::Resume) {
            let edges = TRANSITIONS.iter().filter(|t| t.step == step).count();
            assert_eq!(edges, 1, "{step}");
        }
    }

    #[test]
    fn state_names_round_trip_through_strings() {
        for name in StateName::iter() {
            assert_eq!(StateName::from_str(&name.to_string()), Ok(name));
        }
    }

    #[test]
    fn state_serializes_with_tag() {
        let json = serde_json::to_value(SyncState::Configured).unwrap();
        assert_eq!(json, serde_json::json!({"state": "Configured"}));
    }
}
