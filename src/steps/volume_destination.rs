//! A load-file volume as the destination of a push: a production exported
//! to the files a receiving party loads.
//!
//! For the destination `{folder, volume: "VOL001"}` the volume is
//!
//! ```text
//! <folder>/VOL001.opt                         Opticon, one line per page
//! <folder>/VOL001.dat                         Concordance DAT, one line per document
//! <folder>/VOL001/IMAGES/IMG001/<Bates>.tif   at most 1,000 pages per IMGnnn folder
//! ```
//!
//! `validate_destination` checks the folder, `configure_import` lays the
//! volume out, and the import step writes it batch by batch. Each batch's
//! Opticon and DAT lines go to part files in `<folder>/.prodsync-VOL001/`,
//! written atomically before the batch is recorded. A resumed run rewrites
//! only unrecorded batches, so no line is duplicated or lost. After the last
//! batch the parts are joined into the load files, the volume is read back
//! and checked, and the part folder is removed.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::batch::{self, BatchDocument, DocumentSource, ImageCopy};
use super::error::StepError;
use super::import::{done_state, start_progress};
use super::{Outcome, StepContext};
use crate::loadfile::dat::{CONCORDANCE_QUALIFIER, CONCORDANCE_SEPARATOR};
use crate::loadfile::{Volume, VolumeOptions};
use crate::machine::{ImportConfigured, ImportTarget, SyncState, VolumeDestinationInfo};
use crate::opticon::{self, OpticonDocument, OpticonPage};
use crate::store::BatchRecord;
use crate::workflow::LoadFileDestination;

/// Pages per `IMGnnn` image folder.
const PAGES_PER_FOLDER: u64 = 1_000;

/// Columns of the DAT file, in order.
const DAT_COLUMNS: [&str; 5] = [
    "Control Number",
    "Begin Bates",
    "End Bates",
    "Page Count",
    "Image Path",
];

/// File in the part folder that names the run writing the volume.
const RUN_MARKER: &str = "run-id";

/// The files of one volume.
struct VolumePaths {
    opticon: PathBuf,
    dat: PathBuf,
    images: PathBuf,
    /// Part files and the run marker, removed once the volume is complete.
    parts: PathBuf,
}

impl VolumePaths {
    fn new(folder: &Path, volume: &str) -> VolumePaths {
        VolumePaths {
            opticon: folder.join(format!("{volume}.opt")),
            dat: folder.join(format!("{volume}.dat")),
            images: folder.join(volume).join("IMAGES"),
            parts: folder.join(format!(".prodsync-{volume}")),
        }
    }

    fn part(&self, index: u64, extension: &str) -> PathBuf {
        self.parts.join(format!("part-{index:06}.{extension}"))
    }
}

/// Checks that the folder can be created and written, and contains no
/// earlier volume of this name other than this run's own partial output.
pub(super) async fn validate(
    context: &StepContext,
    destination: &LoadFileDestination,
) -> Result<VolumeDestinationInfo, StepError> {
    let folder = &destination.folder;
    check_writable(folder, &context.run_id).await?;
    let paths = VolumePaths::new(folder, &destination.volume);
    check_no_earlier_volume(context, &paths, destination).await?;

    tracing::info!(
        run_id = %context.run_id,
        folder = %folder.display(),
        volume = %destination.volume,
        "destination folder validated"
    );
    Ok(VolumeDestinationInfo {
        folder: folder.clone(),
        volume: destination.volume.clone(),
    })
}

/// Creates the part folder with this run's marker, then the image folder.
pub(super) async fn lay_out(
    context: &StepContext,
    destination: &VolumeDestinationInfo,
) -> Result<ImportTarget, StepError> {
    let paths = VolumePaths::new(&destination.folder, &destination.volume);
    batch::create_dir(&paths.parts).await?;
    let marker = paths.parts.join(RUN_MARKER);
    batch::write_atomically(&marker, context.run_id.clone()).await?;
    batch::create_dir(&paths.images).await?;

    Ok(ImportTarget::Volume {
        opticon: paths.opticon,
        dat: paths.dat,
        images: paths.images,
    })
}

/// Writes every unrecorded batch, joins the parts into the load files,
/// reads the volume back, and ends the run `Done`.
pub(super) async fn write(
    context: &StepContext,
    configured: &ImportConfigured,
    destination: &VolumeDestinationInfo,
) -> Outcome {
    let paths = VolumePaths::new(&destination.folder, &destination.volume);
    let done = context.store.completed_batches(&context.run_id)?;
    start_progress(context, configured, &done);

    write_batches(context, configured, &paths, &destination.volume, &done).await?;
    context.progress.finish();
    crate::crashpoint::hit("before_volume_assemble");
    assemble(&paths, configured.job.batch_count).await?;
    crate::crashpoint::hit("after_volume_assemble");

    let batches = context.store.batches(&context.run_id)?;
    verify(&paths, &batches).await?;
    remove_parts(&paths).await?;

    let done = done_state(configured, &batches);
    tracing::info!(
        run_id = %context.run_id,
        opticon = %paths.opticon.display(),
        documents = done.documents,
        pages = done.pages,
        "volume written"
    );
    Ok(SyncState::Done(done))
}

/// Writes and records each batch not yet recorded, in order.
async fn write_batches(
    context: &StepContext,
    configured: &ImportConfigured,
    paths: &VolumePaths,
    volume: &str,
    done: &BTreeSet<u64>,
) -> Result<(), StepError> {
    let recorded: HashMap<u64, u64> = context
        .store
        .batches(&context.run_id)?
        .into_iter()
        .map(|batch| (batch.batch_index, batch.pages))
        .collect();
    let source = DocumentSource::open(context, configured).await?;

    // Image folders follow the page ordinal, so a batch needs the page
    // count of the batches before it.
    let mut first_page = 0;
    for index in 0..configured.job.batch_count {
        if done.contains(&index) {
            first_page += recorded.get(&index).copied().unwrap_or_default();
            continue;
        }
        context.check_cancelled()?;
        let (first_record, count) = batch::batch_range(configured, index);
        let documents = source.read(context, first_record, count).await?;
        let record = write_batch(context, paths, volume, index, first_page, &documents).await?;
        crate::crashpoint::hit(&format!("after_volume_part:{index}"));

        let record = BatchRecord {
            first_record,
            ..record
        };
        context.record_batch(&record)?;
        context.progress.advance(record.documents, record.pages);
        tracing::info!(
            run_id = %context.run_id,
            batch = index,
            documents = record.documents,
            pages = record.pages,
            "volume batch written"
        );
        first_page += record.pages;
    }
    Ok(())
}

/// Copies one batch's images into the volume and writes its part files.
async fn write_batch(
    context: &StepContext,
    paths: &VolumePaths,
    volume: &str,
    index: u64,
    first_page: u64,
    documents: &[BatchDocument],
) -> Result<BatchRecord, StepError> {
    let plan = plan(paths, volume, first_page, documents)?;
    for folder in &plan.folders {
        batch::create_dir(folder).await?;
    }
    let bytes = batch::copy_all(plan.copies).await?;

    let opticon_text = opticon::write_documents(&plan.opticon);
    batch::write_atomically(&paths.part(index, "opt"), opticon_text).await?;
    batch::write_atomically(&paths.part(index, "dat"), plan.dat_lines).await?;

    let pages = || plan.opticon.iter().flat_map(|document| &document.pages);
    Ok(BatchRecord {
        run_id: context.run_id.clone(),
        batch_index: index,
        first_record: 0,
        documents: documents.len() as u64,
        pages: pages().count() as u64,
        bytes,
        first_bates: pages().next().map(|page| page.key.clone()),
        last_bates: pages().last().map(|page| page.key.clone()),
        data_source_id: format!("part-{index:06}"),
        completed_at: crate::store::now(),
    })
}

/// What one batch writes: image copies, their folders, and its lines.
struct BatchPlan {
    copies: Vec<ImageCopy>,
    folders: BTreeSet<PathBuf>,
    opticon: Vec<OpticonDocument>,
    dat_lines: String,
}

/// Names each image after its page's Bates number, in the `IMGnnn` folder
/// of its page ordinal; pages that share one file share one copy.
fn plan(
    paths: &VolumePaths,
    volume: &str,
    first_page: u64,
    documents: &[BatchDocument],
) -> Result<BatchPlan, StepError> {
    let mut plan = BatchPlan {
        copies: Vec::new(),
        folders: BTreeSet::new(),
        opticon: Vec::with_capacity(documents.len()),
        dat_lines: String::new(),
    };
    let mut copied: HashMap<&Path, String> = HashMap::new();
    let mut ordinal = first_page;

    for document in documents {
        let mut pages = Vec::with_capacity(document.pages.len());
        for page in &document.pages {
            let relative = match copied.get(page.image.as_path()) {
                Some(relative) => relative.clone(),
                None => {
                    let folder = format!("IMG{:03}", ordinal / PAGES_PER_FOLDER + 1);
                    let name = batch::file_name(&page.bates, &page.file_name);
                    let local_folder = paths.images.join(&folder);
                    plan.copies.push(ImageCopy {
                        from: page.image.clone(),
                        to: local_folder.join(&name),
                        expected_size: page.expected_size,
                    });
                    plan.folders.insert(local_folder);
                    let relative = format!(".\\{volume}\\IMAGES\\{folder}\\{name}");
                    copied.insert(&page.image, relative.clone());
                    relative
                }
            };
            pages.push(OpticonPage {
                key: page.bates.clone(),
                volume: volume.to_string(),
                image_path: relative,
                document_break: pages.is_empty(),
                page_count: None,
                line: 0,
            });
            ordinal += 1;
        }
        plan.dat_lines.push_str(&dat_line(document, &pages)?);
        plan.opticon.push(OpticonDocument { pages });
    }
    Ok(plan)
}

/// Builds a document's DAT line; the control number defaults to the
/// Begin Bates when the source has none.
fn dat_line(document: &BatchDocument, pages: &[OpticonPage]) -> Result<String, StepError> {
    let (Some(first), Some(last)) = (pages.first(), pages.last()) else {
        return Ok(String::new());
    };
    let control_number = document
        .control_number
        .clone()
        .unwrap_or_else(|| first.key.clone());
    let values = [
        ("control number", control_number.clone()),
        ("Begin Bates", first.key.clone()),
        ("End Bates", last.key.clone()),
        ("page count", pages.len().to_string()),
        ("image path", first.image_path.clone()),
    ];
    for (field, value) in &values {
        check_value(field, value, &control_number)?;
    }
    let values: Vec<String> = values.into_iter().map(|(_, value)| value).collect();
    Ok(dat_record(&values))
}

/// Joins values into one Concordance DAT line: þ-qualified, DC4-separated,
/// ending in CRLF.
fn dat_record(values: &[impl AsRef<str>]) -> String {
    let qualified: Vec<String> = values
        .iter()
        .map(|value| {
            format!(
                "{CONCORDANCE_QUALIFIER}{}{CONCORDANCE_QUALIFIER}",
                value.as_ref()
            )
        })
        .collect();
    let mut line = qualified.join(&CONCORDANCE_SEPARATOR.to_string());
    line.push_str("\r\n");
    line
}

fn check_value(field: &'static str, value: &str, control_number: &str) -> Result<(), StepError> {
    let forbidden = [CONCORDANCE_QUALIFIER, CONCORDANCE_SEPARATOR, '\r', '\n'];
    if !value.contains(forbidden) {
        return Ok(());
    }
    Err(StepError::DelimiterInValue {
        field,
        value: value.to_string(),
        control_number: control_number.to_string(),
    })
}

/// Joins the part files, in batch order, into the volume's load files. A
/// volume already joined by an earlier attempt, whose parts were then
/// partly removed, is kept as it is and checked by [`verify`].
async fn assemble(paths: &VolumePaths, batch_count: u64) -> Result<(), StepError> {
    let all_parts = (0..batch_count)
        .all(|index| paths.part(index, "opt").is_file() && paths.part(index, "dat").is_file());
    let joined = paths.opticon.is_file() && paths.dat.is_file();
    if !all_parts && joined {
        return Ok(());
    }

    let mut opticon_text = String::new();
    let mut dat_text = dat_record(&DAT_COLUMNS);
    for index in 0..batch_count {
        opticon_text.push_str(&read_part(&paths.part(index, "opt")).await?);
        dat_text.push_str(&read_part(&paths.part(index, "dat")).await?);
    }
    batch::write_atomically(&paths.opticon, opticon_text).await?;
    batch::write_atomically(&paths.dat, dat_text).await
}

async fn read_part(path: &Path) -> Result<String, StepError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|source| StepError::Io {
            action: "read volume part",
            path: path.to_path_buf(),
            source,
        })
}

/// Reads the written volume back: no problems, and the documents and
/// pages the batches recorded.
async fn verify(paths: &VolumePaths, batches: &[BatchRecord]) -> Result<(), StepError> {
    let opticon = paths.opticon.clone();
    let dat = paths.dat.clone();
    let opened = tokio::task::spawn_blocking(move || {
        Volume::open(&opticon, Some(&dat), &VolumeOptions::default())
    })
    .await
    .expect("opening a volume does not panic");
    let mismatch = |message: String| StepError::VolumeMismatch {
        opticon: paths.opticon.clone(),
        message,
    };
    let volume = opened.map_err(|error| mismatch(error.to_string()))?;

    if let Some(problem) = volume.problems.first() {
        return Err(mismatch(format!(
            "{} problems, the first {problem}",
            volume.problems.len()
        )));
    }
    let documents: u64 = batches.iter().map(|batch| batch.documents).sum();
    let pages: u64 = batches.iter().map(|batch| batch.pages).sum();
    let found_documents = volume.documents.len() as u64;
    let found_pages = volume.page_count() as u64;
    if found_documents != documents || found_pages != pages {
        return Err(mismatch(format!(
            "it holds {found_documents} documents and {found_pages} pages, the batches recorded {documents} and {pages}"
        )));
    }
    Ok(())
}

async fn remove_parts(paths: &VolumePaths) -> Result<(), StepError> {
    match tokio::fs::remove_dir_all(&paths.parts).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StepError::Io {
            action: "remove volume parts",
            path: paths.parts.clone(),
            source,
        }),
    }
}

/// Creates the folder and writes and removes a probe file in it.
async fn check_writable(folder: &Path, run_id: &str) -> Result<(), StepError> {
    let not_writable = |source| StepError::FolderNotWritable {
        folder: folder.to_path_buf(),
        source,
    };
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(not_writable)?;
    let probe = folder.join(format!(".prodsync-probe-{run_id}"));
    tokio::fs::write(&probe, run_id)
        .await
        .map_err(not_writable)?;
    tokio::fs::remove_file(&probe).await.map_err(not_writable)
}

/// Fails when the volume's files or image folder exist, unless the part
/// folder's marker names this run.
async fn check_no_earlier_volume(
    context: &StepContext,
    paths: &VolumePaths,
    destination: &LoadFileDestination,
) -> Result<(), StepError> {
    let marker = tokio::fs::read_to_string(paths.parts.join(RUN_MARKER)).await;
    if matches!(&marker, Ok(run_id) if *run_id == context.run_id) {
        tracing::info!(run_id = %context.run_id, "destination holds this run's partial volume; continuing it");
        return Ok(());
    }
    let volume_folder = destination.folder.join(&destination.volume);
    let candidates = [&paths.opticon, &paths.dat, &volume_folder, &paths.parts];
    let found = candidates.into_iter().find(|path| path.exists()).cloned();
    match found {
        Some(found) => Err(StepError::VolumeExists {
            folder: destination.folder.clone(),
            volume: destination.volume.clone(),
            found,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::batch::SourcePage;
    use pretty_assertions::assert_eq;

    fn document(control_number: &str, bates: &[&str]) -> BatchDocument {
        BatchDocument {
            control_number: Some(control_number.into()),
            pages: bates
                .iter()
                .map(|bates| SourcePage {
                    bates: bates.to_string(),
                    image: PathBuf::from(format!("/share/{bates}.tif")),
                    file_name: format!("{bates}.tif"),
                    expected_size: None,
                })
                .collect(),
        }
    }

    #[test]
    fn plan_starts_a_folder_every_thousand_pages() {
        let paths = VolumePaths::new(Path::new("/out"), "VOL001");
        let documents = [document("D1", &["A0999", "A1000"])];
        let plan = plan(&paths, "VOL001", 999, &documents).unwrap();
        let images: Vec<&str> = plan.opticon[0]
            .pages
            .iter()
            .map(|page| page.image_path.as_str())
            .collect();
        assert_eq!(
            images,
            vec![
                ".\\VOL001\\IMAGES\\IMG001\\A0999.tif",
                ".\\VOL001\\IMAGES\\IMG002\\A1000.tif"
            ]
        );
        assert_eq!(plan.folders.len(), 2);
    }

    #[test]
    fn plan_writes_one_dat_line_per_document() {
        let paths = VolumePaths::new(Path::new("/out"), "VOL001");
        let documents = [document("D1", &["A1", "A2"]), document("D2", &["A3"])];
        let plan = plan(&paths, "VOL001", 0, &documents).unwrap();
        let first = plan.dat_lines.lines().next().unwrap();
        assert_eq!(
            first,
            "þD1þ\u{14}þA1þ\u{14}þA2þ\u{14}þ2þ\u{14}þ.\\VOL001\\IMAGES\\IMG001\\A1.tifþ"
        );
        assert_eq!(plan.dat_lines.lines().count(), 2);
    }

    #[test]
    fn dat_line_rejects_qualifier_in_value() {
        let documents = [document("D\u{fe}1", &["A1"])];
        let paths = VolumePaths::new(Path::new("/out"), "VOL001");
        let error = plan(&paths, "VOL001", 0, &documents).err().unwrap();
        assert!(
            matches!(error, StepError::DelimiterInValue { .. }),
            "{error}"
        );
    }
}
