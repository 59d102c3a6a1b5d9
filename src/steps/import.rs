//! ImportConfigured → Done: hand every batch of the snapshot to the import
//! job, end the job, wait for it, and check that the destination received
//! every page.
//!
//! Batches run in snapshot order. Each completed batch is recorded in the
//! store right after the server accepted its data source; batches already
//! recorded are skipped, so a repeated import step continues where the last
//! one stopped.
//!
//! A process can die between "data source added on the server" and "batch
//! recorded here". Data source IDs derive from the run and the batch index,
//! so before it adds anything the step asks the server which of the next
//! unrecorded batches it already holds, and records those from their
//! Opticon files instead of adding them again.
//!
//! A `load_file` destination has no job: the volume writer in
//! `volume_destination` takes the batches instead.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use uuid::Uuid;

use super::batch::{self, DocumentSource, PreparedBatch};
use super::error::{wrong_state, StepError};
use super::validate_destination::check_no_overlap;
use super::{data_source_id, volume_destination, Outcome, StepContext};
use crate::machine::{
    DestinationInfo, Done, ImportConfigured, ImportTarget, ProductionSetInfo, SyncState,
};
use crate::relativity::{wire, ClientError};
use crate::store::BatchRecord;

/// First pause between polls of the job's state; it doubles up to
/// [`MAX_POLL_INTERVAL`], so a short tail is noticed at once and a long
/// one costs few requests.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Maximum pause between polls of the job's state.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Batches prepared at once: the next batch's export block, image lookup
/// and file copies run while the current one is added and recorded.
const PIPELINE_DEPTH: usize = 2;

/// Import Service code of a call on a job that has finished.
const JOB_FINISHED: &str = "J.END.VLD.1701";

/// Import Service code for a data source ID the job does not hold.
const SOURCE_NOT_FOUND: &str = "S.RUN.NOT.3401";

/// Item errors quoted in a failure message.
const QUOTED_ITEM_ERRORS: i64 = 5;

pub(super) async fn run(context: &StepContext, state: &SyncState) -> Outcome {
    let SyncState::ImportConfigured(configured) = state else {
        return Err(wrong_state("ImportConfigured", state));
    };
    let (set, job_id) = match (&configured.destination, &configured.job.target) {
        (DestinationInfo::ProductionSet(set), ImportTarget::Job { job_id }) => (set, *job_id),
        (DestinationInfo::Volume(volume), ImportTarget::Volume { .. }) => {
            return volume_destination::write(context, configured, volume).await;
        }
        _ => {
            return Err(StepError::WrongState {
                expected: "an import target of the same kind as the destination",
                found: "a destination and an import target of different kinds".into(),
            })
        }
    };
    let job = JobImport {
        configured,
        set,
        job_id,
    };

    push_batches(context, &job).await?;
    context.check_cancelled()?;
    end_job(context, &job).await?;
    crate::crashpoint::hit("after_end_job");
    context.progress.waiting();
    let waited = wait_for_job(context, &job).await;
    context.progress.finish();
    waited?;

    let batches = context.store.batches(&context.run_id)?;
    let pages: u64 = batches.iter().map(|batch| batch.pages).sum();
    verify(context, &job, &batches, pages).await?;

    tracing::info!(run_id = %context.run_id, pages, "import verified");
    Ok(SyncState::Done(done_state(configured, &batches)))
}

/// An import into a server job: the configured state, with the destination
/// production set and the job ID taken out of their kinds.
struct JobImport<'a> {
    configured: &'a ImportConfigured,
    set: &'a ProductionSetInfo,
    job_id: Uuid,
}

/// Builds `Done` from the recorded batches.
pub(super) fn done_state(configured: &ImportConfigured, batches: &[BatchRecord]) -> Done {
    Done {
        source: configured.source.clone(),
        destination: configured.destination.clone(),
        job: configured.job.clone(),
        documents: batches.iter().map(|batch| batch.documents).sum(),
        pages: batches.iter().map(|batch| batch.pages).sum(),
        bytes: batches.iter().map(|batch| batch.bytes).sum(),
        first_bates: batches.first().and_then(|batch| batch.first_bates.clone()),
        last_bates: batches.last().and_then(|batch| batch.last_bates.clone()),
    }
}

/// Reports the documents that earlier attempts already handled to the
/// progress display.
pub(super) fn start_progress(
    context: &StepContext,
    configured: &ImportConfigured,
    done: &BTreeSet<u64>,
) {
    let batch_size = configured.job.batch_size;
    let record_count = configured.snapshot.record_count();
    let done_documents = done
        .iter()
        .map(|index| batch_size.min(record_count - index * batch_size))
        .sum();
    context.progress.start(record_count, done_documents);
}

/// Prepares and adds each batch not yet recorded.
async fn push_batches(context: &StepContext, job: &JobImport<'_>) -> Result<(), StepError> {
    let configured = job.configured;
    let done = context.store.completed_batches(&context.run_id)?;
    start_progress(context, configured, &done);

    let done = reconcile(context, job, done).await?;
    if done.is_empty() {
        // Nothing of this run is on the server yet: the set must not hold
        // the pages already, as it would after a fork of a finished run.
        check_no_overlap(context, &configured.source, job.set).await?;
    }
    let source = DocumentSource::open(context, configured).await?;
    let pending = (0..configured.job.batch_count).filter(|index| !done.contains(index));
    let mut prepared_batches = stream::iter(pending)
        .map(|index| batch::prepare(context, configured, &source, index))
        .buffered(PIPELINE_DEPTH);
    while let Some(prepared) = prepared_batches.next().await {
        context.check_cancelled()?;
        let prepared = prepared?;
        let index = prepared.index;
        add_data_source(context, job, &prepared).await?;
        crate::crashpoint::hit(&format!("after_data_source:{index}"));
        context.record_batch(&record(context, &prepared))?;
        context.progress.advance(prepared.documents, prepared.pages);
        tracing::info!(
            run_id = %context.run_id,
            batch = index,
            documents = prepared.documents,
            pages = prepared.pages,
            "batch added"
        );
    }
    Ok(())
}

/// Records the unrecorded batches that the server already holds, in index
/// order, stopping at the first one it does not hold: batches are added in
/// order, so none after that one can be there. Returns the completed set.
async fn reconcile(
    context: &StepContext,
    job: &JobImport<'_>,
    mut done: BTreeSet<u64>,
) -> Result<BTreeSet<u64>, StepError> {
    let configured = job.configured;
    for index in 0..configured.job.batch_count {
        if done.contains(&index) {
            continue;
        }
        if !server_has_batch(context, job, index).await? {
            break;
        }
        let prepared = batch::read_back(context, configured, index).await?;
        context.record_batch(&record(context, &prepared))?;
        tracing::warn!(
            run_id = %context.run_id,
            batch = index,
            "batch was on the server but not recorded here; recorded it without adding it again"
        );
        done.insert(index);
    }
    Ok(done)
}

/// Asks the server whether the job contains batch `index`'s data source.
async fn server_has_batch(
    context: &StepContext,
    job: &JobImport<'_>,
    index: u64,
) -> Result<bool, StepError> {
    let source_id = data_source_id(&context.run_id, index);
    let details = context
        .client
        .data_source_details(job.set.workspace, job.job_id, source_id)
        .await;
    match details {
        Ok(_) => Ok(true),
        Err(ClientError::NotFound { .. }) => Ok(false),
        Err(ClientError::Rejected { code, .. }) if code == SOURCE_NOT_FOUND => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Ends the job unless it has finished already.
async fn end_job(context: &StepContext, job: &JobImport<'_>) -> Result<(), StepError> {
    let workspace = job.set.workspace;
    let job_id = job.job_id;
    let details = context.client.job_details(workspace, job_id).await?;
    if details.is_finished {
        return Ok(());
    }
    match context.client.end_job(workspace, job_id).await {
        Ok(()) => Ok(()),
        // The job finished between the two calls: an earlier process had
        // ended it, and the server completed its last source meanwhile.
        // The wait that follows reads how it finished.
        Err(ClientError::Rejected { code, .. }) if code == JOB_FINISHED => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Adds a batch's data source. A rejected add of a source the server
/// already contains with the same path counts as done, because an earlier
/// attempt whose response was lost added it.
async fn add_data_source(
    context: &StepContext,
    job: &JobImport<'_>,
    prepared: &PreparedBatch,
) -> Result<(), StepError> {
    let settings = wire::DataSourceSettings {
        path: prepared.opticon_unc.clone(),
        kind: wire::OPTICON_DATA_SOURCE_TYPE,
        end_of_line: 0,
        start_line: 0,
    };
    let workspace = job.set.workspace;
    let job_id = job.job_id;
    let added = context
        .client
        .add_data_source(workspace, job_id, prepared.source_id, settings)
        .await;
    let Err(error) = added else {
        return Ok(());
    };
    if !matches!(error, ClientError::Rejected { .. }) {
        return Err(error.into());
    }
    let existing = context
        .client
        .data_source_details(workspace, job_id, prepared.source_id)
        .await;
    match existing {
        Ok(details)
            if details.settings.as_ref().map(|s| s.path.as_str())
                == Some(&prepared.opticon_unc) =>
        {
            Ok(())
        }
        _ => Err(error.into()),
    }
}

fn record(context: &StepContext, prepared: &PreparedBatch) -> BatchRecord {
    BatchRecord {
        run_id: context.run_id.clone(),
        batch_index: prepared.index,
        first_record: prepared.first_record,
        documents: prepared.documents,
        pages: prepared.pages,
        bytes: prepared.bytes,
        first_bates: prepared.first_bates.clone(),
        last_bates: prepared.last_bates.clone(),
        data_source_id: prepared.source_id.to_string(),
        completed_at: crate::store::now(),
    }
}

/// Polls the job until it finishes or `import.wait_seconds` pass.
async fn wait_for_job(context: &StepContext, job: &JobImport<'_>) -> Result<(), StepError> {
    let workspace = job.set.workspace;
    let job_id = job.job_id;
    let limit = Duration::from_secs(context.workflow.import.wait_seconds);
    let started = Instant::now();
    let mut interval = FIRST_POLL_INTERVAL;

    loop {
        context.check_cancelled()?;
        crate::crashpoint::hit("during_wait");
        let details = context.client.job_details(workspace, job_id).await?;
        if details.is_finished {
            if details.state == "Completed" {
                return Ok(());
            }
            return Err(StepError::JobFailed {
                job_id: job_id.to_string(),
                state: details.state,
                details: item_errors(context, job).await,
            });
        }
        if started.elapsed() >= limit {
            return Err(StepError::JobTimedOut {
                job_id: job_id.to_string(),
                seconds: limit.as_secs(),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// Checks the job's counts and the destination's page count.
async fn verify(
    context: &StepContext,
    job: &JobImport<'_>,
    batches: &[BatchRecord],
    pages: u64,
) -> Result<(), StepError> {
    let configured = job.configured;
    let destination = job.set;
    let job_id = job.job_id;
    let progress = context
        .client
        .job_progress(destination.workspace, job_id)
        .await?;
    let complete = batches.len() as u64 == configured.job.batch_count;
    if !complete || progress.error_records > 0 || progress.imported_records != pages as i64 {
        return Err(StepError::JobFailed {
            job_id: job_id.to_string(),
            state: format!(
                "Completed with {} of {} pages imported, {} item errors, {} of {} batches",
                progress.imported_records,
                pages,
                progress.error_records,
                batches.len(),
                configured.job.batch_count
            ),
            details: item_errors(context, job).await,
        });
    }

    let production = context
        .client
        .read_production(destination.workspace, destination.production_set)
        .await?;
    let expected = destination.image_count_before + pages as i64;
    let found = production.metadata.total_images_count;
    if found != expected {
        return Err(StepError::PagesMissing {
            production_set: destination.production_set,
            expected,
            found,
        });
    }
    Ok(())
}

/// Quotes the first item errors of the run's data sources, for a failure
/// message; a failure to read them is quoted instead.
async fn item_errors(context: &StepContext, job: &JobImport<'_>) -> String {
    let batches = match context.store.batches(&context.run_id) {
        Ok(batches) => batches,
        Err(error) => return format!("item errors unavailable: {error}"),
    };
    let mut quoted = Vec::new();
    for batch in &batches {
        let Ok(source_id) = batch.data_source_id.parse() else {
            continue;
        };
        let errors = context
            .client
            .item_errors(
                job.set.workspace,
                job.job_id,
                source_id,
                0,
                QUOTED_ITEM_ERRORS,
            )
            .await;
        match errors {
            Ok(errors) => quoted.extend(errors.errors.into_iter().map(|error| {
                let messages: Vec<String> = error
                    .details
                    .into_iter()
                    .map(|detail| detail.message)
                    .collect();
                format!(
                    "batch {} line {}: {}",
                    batch.batch_index,
                    error.line_number,
                    messages.join("; ")
                )
            })),
            Err(error) => quoted.push(format!(
                "batch {}: item errors unavailable: {error}",
                batch.batch_index
            )),
        }
        if quoted.len() as i64 >= QUOTED_ITEM_ERRORS {
            break;
        }
    }
    if quoted.is_empty() {
        "no item errors reported".to_string()
    } else {
        quoted.join(" | ")
    }
}
