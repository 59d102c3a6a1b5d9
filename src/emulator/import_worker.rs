//! The background task that imports data sources, one at a time in the
//! order they were added, and finishes jobs whose end was requested.
//!
//! For each source it reads the Opticon file from the file share, copies
//! each page image into the destination production's folder, then stores
//! the documents, pages and item errors in one SQLite transaction. A source
//! found in state Inserting after a restart had nothing committed, so it
//! is imported again from the start.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use super::catalog::{self, NewPage};
use super::claims::ClaimOwner;
use super::import_jobs::{self, JobCounts, JobRow, SourceRow};
use super::share_files::{image_extension, CopyError, PageFolder, WrittenFile};
use super::{Emulator, EmulatorError};
use crate::opticon::{self, OpticonDocument, OpticonPage};

/// How often the worker looks for work when nothing woke it.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

// Item error codes of the emulated Import Service.
const DUPLICATE_BATES: &str = "I.BATES.DUP.5001";
const IMAGE_UNREADABLE: &str = "I.IMG.NOT.5002";
const OPTICON_UNREADABLE: &str = "S.OPT.READ.3501";
const SOURCE_STORE_FAILED: &str = "S.RUN.DB.3502";

/// Runs until `stopped` turns true, finishing the source in progress first.
/// Claims sources as `owner`, which is released when the worker stops.
pub async fn run(emulator: Emulator, mut stopped: watch::Receiver<bool>, owner: ClaimOwner) {
    let owner = std::sync::Arc::new(owner);
    tracing::info!(owner = owner.id(), "import worker started");
    while !*stopped.borrow() {
        let worker = emulator.clone();
        let claimer = owner.clone();
        let worked =
            match tokio::task::spawn_blocking(move || process_next(&worker, &claimer)).await {
                Ok(Ok(worked)) => worked,
                Ok(Err(error)) => {
                    tracing::error!(%error, "import worker step failed");
                    false
                }
                Err(error) => {
                    tracing::error!(%error, "import worker task failed");
                    false
                }
            };
        if worked {
            continue;
        }
        tokio::select! {
            _ = emulator.import_wakeup().notified() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = stopped.changed() => {}
        }
    }
    tracing::info!("import worker stopped");
}

/// Imports the next pending source, if any, and finishes ready jobs.
/// Returns whether a source was imported.
fn process_next(emulator: &Emulator, owner: &ClaimOwner) -> Result<bool, EmulatorError> {
    finish_ready_jobs(emulator)?;
    let is_alive = |other: &str| owner.is_alive(emulator.data_dir(), other);
    let next = import_jobs::claim_next_source(&mut emulator.db().lock(), owner.id(), is_alive)?;
    let Some(source) = next else {
        return Ok(false);
    };

    import_source(emulator, &source)?;
    finish_ready_jobs(emulator)?;
    Ok(true)
}

fn import_source(emulator: &Emulator, source: &SourceRow) -> Result<(), EmulatorError> {
    let job = import_jobs::find_job(&emulator.db().lock(), source.workspace, &source.job_id)?;
    let Some(production) = job.as_ref().and_then(|job| job.production) else {
        return fail_source(
            emulator,
            source,
            0,
            "the import job has no destination production",
        );
    };
    tracing::info!(
        workspace = source.workspace,
        job_id = source.job_id,
        source_id = source.source_id,
        "importing data source"
    );

    let (documents, opticon_dir) = match read_documents(emulator, source) {
        Ok(read) => read,
        Err(message) => return fail_source(emulator, source, 0, &message),
    };
    let pages = documents
        .iter()
        .map(|document| document.pages.len() as i64)
        .sum();
    let folder = PageFolder::new(
        &emulator.file_share().local_root,
        source.workspace,
        production,
        &format!("IMPORT{:06}", source.seq),
    );
    let mut batch = Batch::new(emulator, source, production, folder, opticon_dir);
    for document in &documents {
        batch.add_document(document)?;
    }

    if let Err(error) = store_batch(emulator, source, production, &batch, pages) {
        tracing::error!(%error, source_id = source.source_id, "storing imported pages failed");
        return fail_source(
            emulator,
            source,
            pages,
            &format!("storing the imported pages failed: {error}"),
        );
    }
    Ok(())
}

/// Reads and groups the source's Opticon file; the error is the message of
/// the source's failure.
fn read_documents(
    emulator: &Emulator,
    source: &SourceRow,
) -> Result<(Vec<OpticonDocument>, PathBuf), String> {
    let local = emulator
        .file_share()
        .to_local(&source.settings.path)
        .map_err(|error| error.to_string())?;
    let start_line = source.settings.start_line.max(0) as usize;
    let pages: Vec<OpticonPage> = opticon::read_file(&local)
        .map_err(|error| error.to_string())?
        .into_iter()
        .filter(|page| page.line > start_line)
        .collect();
    let documents = opticon::group_documents(pages, &local).map_err(|error| error.to_string())?;
    let directory = local.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((documents, directory))
}

/// A document ready to store, without the pages that had item errors.
struct ImportedDocument {
    control_number: String,
    pages: Vec<NewPage>,
}

/// The outcome of copying one source's images.
struct Batch<'a> {
    emulator: &'a Emulator,
    source: &'a SourceRow,
    production: i64,
    folder: PageFolder,
    opticon_dir: PathBuf,
    documents: Vec<ImportedDocument>,
    errors: Vec<(i64, &'static str, String)>,
    seen_bates: HashSet<String>,
    /// Images already copied, by source path: a multi-page TIFF appears on
    /// several lines and is copied once.
    copied: HashMap<PathBuf, (String, WrittenFile)>,
}

impl<'a> Batch<'a> {
    fn new(
        emulator: &'a Emulator,
        source: &'a SourceRow,
        production: i64,
        folder: PageFolder,
        opticon_dir: PathBuf,
    ) -> Self {
        Self {
            emulator,
            source,
            production,
            folder,
            opticon_dir,
            documents: Vec::new(),
            errors: Vec::new(),
            seen_bates: HashSet::new(),
            copied: HashMap::new(),
        }
    }

    /// Copies the images of a document's pages; a page whose Bates number
    /// is taken or whose image cannot be read becomes an item error.
    fn add_document(&mut self, document: &OpticonDocument) -> Result<(), EmulatorError> {
        let mut pages = Vec::new();
        for page in &document.pages {
            if let Some(page) = self.add_page(page)? {
                pages.push(page);
            }
        }
        if !pages.is_empty() {
            self.documents.push(ImportedDocument {
                control_number: document.first_key().to_string(),
                pages,
            });
        }
        Ok(())
    }

    fn add_page(&mut self, page: &OpticonPage) -> Result<Option<NewPage>, EmulatorError> {
        let line = page.line as i64;
        // NOTE: two servers on one data folder import different sources at
        // once, so a Bates number in both sources passes this check twice;
        // the second store then fails on the primary key and the source fails.
        let duplicate = {
            let connection = self.emulator.db().lock();
            catalog::bates_exists(
                &connection,
                self.source.workspace,
                self.production,
                &page.key,
            )?
        };
        if duplicate || !self.seen_bates.insert(page.key.clone()) {
            let message = format!(
                "Bates number {} already exists in production {}.",
                page.key, self.production
            );
            self.errors.push((line, DUPLICATE_BATES, message));
            return Ok(None);
        }

        let image = opticon::resolve_image_path(&self.opticon_dir, &page.image_path);
        match self.copy_image(&image, &page.key) {
            Ok((location, written)) => Ok(Some(NewPage {
                bates: page.key.clone(),
                location,
                size: written.size,
                sha256: written.sha256,
            })),
            Err(CopyError::Read(error)) => {
                let message = format!("Image {} cannot be read: {error}", page.image_path);
                self.errors.push((line, IMAGE_UNREADABLE, message));
                Ok(None)
            }
            Err(CopyError::Write(error)) => Err(error),
        }
    }

    fn copy_image(
        &mut self,
        image: &Path,
        bates: &str,
    ) -> Result<(String, WrittenFile), CopyError> {
        if let Some(copied) = self.copied.get(image) {
            return Ok(copied.clone());
        }
        let ordinal = self.copied.len() as u64;
        let location = self
            .folder
            .relative_path(ordinal, bates, &image_extension(image));
        let written = self.folder.copy(image, &location)?;
        self.copied
            .insert(image.to_path_buf(), (location.clone(), written.clone()));
        Ok((location, written))
    }
}

/// Stores a source's documents, pages, item errors and outcome in one
/// transaction.
fn store_batch(
    emulator: &Emulator,
    source: &SourceRow,
    production: i64,
    batch: &Batch<'_>,
    pages: i64,
) -> Result<(), EmulatorError> {
    let mut connection = emulator.db().lock();
    let transaction = connection.transaction()?;
    let mut imported = 0;
    for document in &batch.documents {
        catalog::insert_document(
            &transaction,
            source.workspace,
            production,
            &document.control_number,
            &document.pages,
        )?;
        imported += document.pages.len() as i64;
    }
    for (line, code, message) in &batch.errors {
        import_jobs::insert_item_error(&transaction, source.seq, *line, code, message)?;
    }

    let errors = batch.errors.len() as i64;
    let state = if errors == 0 {
        "Completed"
    } else {
        "CompletedWithItemErrors"
    };
    let counts = JobCounts {
        pages,
        imported,
        errors,
    };
    import_jobs::finish_source(&transaction, source.seq, state, counts)?;
    transaction.commit()?;

    tracing::info!(
        source_id = source.source_id,
        state,
        imported,
        errors,
        "data source imported"
    );
    Ok(())
}

/// Marks a source Failed and records why as an item error on line 0.
fn fail_source(
    emulator: &Emulator,
    source: &SourceRow,
    pages: i64,
    message: &str,
) -> Result<(), EmulatorError> {
    tracing::warn!(source_id = source.source_id, message, "data source failed");
    let code = if pages == 0 {
        OPTICON_UNREADABLE
    } else {
        SOURCE_STORE_FAILED
    };
    let mut connection = emulator.db().lock();
    let transaction = connection.transaction()?;
    import_jobs::insert_item_error(&transaction, source.seq, 0, code, message)?;
    let counts = JobCounts {
        pages: pages.max(source.page_count),
        imported: 0,
        errors: 0,
    };
    import_jobs::finish_source(&transaction, source.seq, "Failed", counts)?;
    transaction.commit()?;
    Ok(())
}

/// Completes (or fails) each job whose end was requested and whose sources
/// are all finished, and marks its production produced by an import.
fn finish_ready_jobs(emulator: &Emulator) -> Result<(), EmulatorError> {
    let mut connection = emulator.db().lock();
    for (job, failed) in import_jobs::jobs_ready_to_finish(&connection)? {
        let transaction = connection.transaction()?;
        finish_job(&transaction, &job, failed)?;
        transaction.commit()?;
    }
    Ok(())
}

fn finish_job(
    connection: &rusqlite::Connection,
    job: &JobRow,
    failed: bool,
) -> Result<(), EmulatorError> {
    let (state, status, error) = if failed {
        ("Failed", "Error", "a data source of the import failed")
    } else {
        ("Completed", "Produced", "")
    };
    if !import_jobs::finish_job_state(connection, job.workspace, &job.job_id, state)? {
        return Ok(());
    }
    if let Some(production) = job.production {
        catalog::finish_import(connection, job.workspace, production, status, error)?;
    }
    tracing::info!(
        workspace = job.workspace,
        job_id = job.job_id,
        state,
        "import job finished"
    );
    Ok(())
}
