//! A load-file volume as the source of a push. `validate_source` opens and
//! checks it, `create_snapshot` fingerprints it, and the import's batches
//! read its documents by index range.
//!
//! Every step opens the volume with the same options, so the same
//! documents are kept and skipped each time. The snapshot's SHA-256 over
//! the Opticon and DAT files lets a later attempt detect a changed volume.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::batch::{BatchDocument, SourcePage};
use super::error::StepError;
use super::StepContext;
use crate::loadfile::volume::Skipped;
use crate::loadfile::{Action, Document, Policy, ProblemKind, Severity, Volume, VolumeOptions};
use crate::machine::{SkippedRecord, VolumeSnapshot, VolumeSourceInfo};
use crate::workflow::{LoadFileSource, OnProblem, Source};

/// Stopping problems quoted in a failure message; the rest are counted.
const QUOTED_PROBLEMS: usize = 10;

/// Every kind of problem a record can be skipped for.
const SKIPPABLE: [ProblemKind; 12] = [
    ProblemKind::Syntax,
    ProblemKind::FieldCount,
    ProblemKind::DuplicateControlNumber,
    ProblemKind::DuplicateBates,
    ProblemKind::BatesGap,
    ProblemKind::BatesOverlap,
    ProblemKind::BatesNotFound,
    ProblemKind::PageCount,
    ProblemKind::MissingImage,
    ProblemKind::UnreadableImage,
    ProblemKind::MissingFile,
    ProblemKind::InvalidDate,
];

/// Opens and checks the volume; fails on any stopping problem.
pub(super) async fn validate(
    context: &StepContext,
    source: &LoadFileSource,
) -> Result<VolumeSourceInfo, StepError> {
    let volume = open(source).await?;
    check_no_errors(&volume)?;
    if volume.documents.is_empty() {
        return Err(StepError::VolumeEmpty {
            opticon: volume.opticon,
            skipped: volume.skipped.len(),
        });
    }

    let skipped: Vec<SkippedRecord> = volume.skipped.iter().map(skipped_record).collect();
    for record in &skipped {
        tracing::warn!(
            run_id = %context.run_id,
            file = %record.file.display(),
            line = record.line,
            value = %record.value,
            problems = ?record.problems,
            "volume record skipped"
        );
    }
    let pages = volume.documents.iter().flat_map(|document| &document.pages);
    Ok(VolumeSourceInfo {
        opticon: source.opticon.clone(),
        dat: source.dat.clone(),
        documents: volume.documents.len() as u64,
        pages: volume.page_count() as u64,
        first_bates: pages.clone().next().map(|page| page.key.clone()),
        last_bates: pages.last().map(|page| page.key.clone()),
        skipped,
    })
}

/// Fingerprints the validated volume, and checks that it still contains
/// the documents validation counted.
pub(super) async fn snapshot(
    context: &StepContext,
    validated: &VolumeSourceInfo,
) -> Result<VolumeSnapshot, StepError> {
    let source = load_file_source(context)?;
    let sha256 = fingerprint(&validated.opticon, validated.dat.as_deref()).await?;
    let volume = open(source).await?;
    check_no_errors(&volume)?;
    check_count(&volume, validated.documents)?;

    Ok(VolumeSnapshot {
        opticon: validated.opticon.clone(),
        dat: validated.dat.clone(),
        sha256,
        document_count: validated.documents,
    })
}

/// Opens the volume of a snapshot after checking it did not change.
pub(super) async fn open_snapshot(
    context: &StepContext,
    snapshot: &VolumeSnapshot,
) -> Result<Volume, StepError> {
    check_unchanged(snapshot).await?;
    let volume = open(load_file_source(context)?).await?;
    check_no_errors(&volume)?;
    check_count(&volume, snapshot.document_count)?;
    Ok(volume)
}

/// Fails when the Opticon or DAT file differs from the snapshot's.
pub(super) async fn check_unchanged(snapshot: &VolumeSnapshot) -> Result<(), StepError> {
    let found = fingerprint(&snapshot.opticon, snapshot.dat.as_deref()).await?;
    if found == snapshot.sha256 {
        return Ok(());
    }
    Err(StepError::VolumeChanged {
        opticon: snapshot.opticon.clone(),
        what: format!(
            "the SHA-256 of its Opticon and DAT files was {}, now {found}",
            snapshot.sha256
        ),
    })
}

/// Returns documents `first..first + count` as batch documents.
pub(super) fn batch_documents(
    documents: &[Document],
    first: u64,
    count: u64,
) -> Vec<BatchDocument> {
    let start = (first as usize).min(documents.len());
    let end = (start + count as usize).min(documents.len());
    documents[start..end]
        .iter()
        .map(|document| BatchDocument {
            control_number: document.control_number.clone(),
            pages: document.pages.iter().map(source_page).collect(),
        })
        .collect()
}

fn source_page(page: &crate::loadfile::Page) -> SourcePage {
    let file_name = page
        .image_path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    SourcePage {
        bates: page.key.clone(),
        image: page.image_path.clone(),
        file_name,
        expected_size: None,
    }
}

/// Returns the workflow's volume source.
fn load_file_source(context: &StepContext) -> Result<&LoadFileSource, StepError> {
    match &context.workflow.source {
        Source::LoadFile(source) => Ok(source),
        Source::Workspace(_) => Err(StepError::WrongState {
            expected: "a run whose workflow has a load_file source",
            found: "a workflow with a workspace source".into(),
        }),
    }
}

/// Builds the options every step opens the volume with.
fn options(on_problem: OnProblem) -> VolumeOptions {
    let mut policy = Policy::default();
    if on_problem == OnProblem::Skip {
        for kind in SKIPPABLE {
            if policy.action(kind) == Action::Stop {
                policy.set(kind, Action::Skip);
            }
        }
    }
    VolumeOptions {
        policy,
        ..VolumeOptions::default()
    }
}

/// Opens and checks the volume on a blocking thread: it reads every image.
async fn open(source: &LoadFileSource) -> Result<Volume, StepError> {
    let opticon = source.opticon.clone();
    let dat = source.dat.clone();
    let options = options(source.on_problem);
    let opened =
        tokio::task::spawn_blocking(move || Volume::open(&opticon, dat.as_deref(), &options))
            .await
            .expect("opening a volume does not panic");
    opened.map_err(|error| StepError::VolumeUnreadable {
        path: source.opticon.clone(),
        message: error.to_string(),
    })
}

/// Fails naming the file, line and value of each stopping problem.
fn check_no_errors(volume: &Volume) -> Result<(), StepError> {
    let errors: Vec<String> = volume
        .problems
        .iter()
        .filter(|problem| problem.severity == Severity::Error)
        .map(|problem| problem.to_string())
        .collect();
    if errors.is_empty() {
        return Ok(());
    }

    let mut listed = errors
        .iter()
        .take(QUOTED_PROBLEMS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > QUOTED_PROBLEMS {
        listed.push_str(&format!("; and {} more", errors.len() - QUOTED_PROBLEMS));
    }
    Err(StepError::VolumeProblems {
        opticon: volume.opticon.clone(),
        count: errors.len(),
        listed,
    })
}

fn check_count(volume: &Volume, expected: u64) -> Result<(), StepError> {
    let found = volume.documents.len() as u64;
    if found == expected {
        return Ok(());
    }
    Err(StepError::VolumeChanged {
        opticon: volume.opticon.clone(),
        what: format!("it held {expected} documents to push, now {found}"),
    })
}

fn skipped_record(skipped: &Skipped) -> SkippedRecord {
    SkippedRecord {
        file: skipped.file.clone(),
        line: skipped.line,
        value: skipped.value.clone(),
        problems: skipped.kinds.iter().map(|kind| kind.to_string()).collect(),
    }
}

/// Hashes the Opticon file's bytes followed by the DAT file's bytes.
async fn fingerprint(opticon: &Path, dat: Option<&Path>) -> Result<String, StepError> {
    let mut hasher = Sha256::new();
    let files: Vec<PathBuf> = std::iter::once(opticon)
        .chain(dat)
        .map(Path::to_path_buf)
        .collect();
    for file in files {
        let bytes = tokio::fs::read(&file)
            .await
            .map_err(|error| StepError::VolumeUnreadable {
                path: file.clone(),
                message: error.to_string(),
            })?;
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_option_skips_every_stopping_kind() {
        let options = options(OnProblem::Skip);
        for kind in SKIPPABLE {
            assert_ne!(options.policy.action(kind), Action::Stop, "{kind}");
        }
    }

    #[test]
    fn stop_option_keeps_default_policy() {
        let options = options(OnProblem::Stop);
        assert_eq!(options.policy, Policy::default());
    }

    #[test]
    fn batch_documents_clamps_range() {
        let document = Document {
            control_number: None,
            pages: vec![],
        };
        let documents = vec![document.clone(), document.clone(), document];
        assert_eq!(batch_documents(&documents, 2, 5).len(), 1);
        assert_eq!(batch_documents(&documents, 3, 5).len(), 0);
    }
}
