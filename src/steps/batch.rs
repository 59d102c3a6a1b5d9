//! One import batch: read its block of the snapshot (export rows and the
//! documents' produced images, or the source volume's documents), copy the
//! images to the destination file share, and write the Opticon file that
//! the import job reads.
//!
//! A batch lives in `<file share>/prodsync/<run ID>/batch-<index>/`, with the
//! Opticon file `batch.opt` and the images under `IMAGES/`, each named after
//! its page's Bates number. Writing a batch again overwrites the same files,
//! so a batch that was cut short can be prepared again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::stream::{self, StreamExt, TryStreamExt};
use uuid::Uuid;

use super::error::StepError;
use super::{data_source_id, volume_source, StepContext};
use crate::machine::{ImportConfigured, SnapshotInfo, SourceInfo};
use crate::opticon::{self, OpticonDocument, OpticonPage};
use crate::relativity::wire::ProducedImage;

/// Image copies in flight at once.
const COPY_CONCURRENCY: usize = 4;

/// A batch written to the file share, ready to hand to the import job.
#[derive(Debug, Clone)]
pub(super) struct PreparedBatch {
    pub index: u64,
    pub first_record: u64,
    pub documents: u64,
    pub pages: u64,
    pub bytes: u64,
    pub first_bates: Option<String>,
    pub last_bates: Option<String>,
    /// UNC path of the batch's Opticon file.
    pub opticon_unc: String,
    pub source_id: Uuid,
}

/// One document to push, with its pages in order.
#[derive(Debug, Clone)]
pub(super) struct BatchDocument {
    /// Control number from the export or the source volume's DAT.
    pub control_number: Option<String>,
    pub pages: Vec<SourcePage>,
}

/// One page to push: its Bates number and where its image is read from.
#[derive(Debug, Clone)]
pub(super) struct SourcePage {
    pub bates: String,
    /// Local path of the image; pages of a multi-page file share it.
    pub image: PathBuf,
    /// The image's file name at the source, for its extension.
    pub file_name: String,
    /// Size the source lists, when it lists one.
    pub expected_size: Option<u64>,
}

/// One image file to copy.
pub(super) struct ImageCopy {
    pub from: PathBuf,
    pub to: PathBuf,
    pub expected_size: Option<u64>,
}

/// Where the batches' documents come from.
pub(super) enum DocumentSource {
    /// The snapshot's export run, with the production's images on the
    /// file share.
    Export {
        workspace: i64,
        production: i64,
        export_run_id: String,
    },
    /// The source volume's documents, read once for the whole import.
    Volume(Vec<crate::loadfile::Document>),
}

impl DocumentSource {
    /// Opens the documents of the snapshot: the export run as it is, or the
    /// volume after checking that it did not change.
    pub async fn open(
        context: &StepContext,
        configured: &ImportConfigured,
    ) -> Result<DocumentSource, StepError> {
        match (&configured.source, &configured.snapshot) {
            (SourceInfo::Production(source), SnapshotInfo::Export(export)) => {
                Ok(DocumentSource::Export {
                    workspace: source.workspace,
                    production: source.production,
                    export_run_id: export.export_run_id.clone(),
                })
            }
            (SourceInfo::Volume(_), SnapshotInfo::Volume(snapshot)) => {
                let volume = volume_source::open_snapshot(context, snapshot).await?;
                Ok(DocumentSource::Volume(volume.documents))
            }
            _ => Err(StepError::WrongState {
                expected: "a snapshot of the same kind as the source",
                found: "a source and a snapshot of different kinds".into(),
            }),
        }
    }

    /// Reads `count` documents from record `first`, with their pages.
    pub async fn read(
        &self,
        context: &StepContext,
        first: u64,
        count: u64,
    ) -> Result<Vec<BatchDocument>, StepError> {
        match self {
            DocumentSource::Export {
                workspace,
                production,
                export_run_id,
            } => {
                read_export(
                    context,
                    *workspace,
                    *production,
                    export_run_id,
                    first,
                    count,
                )
                .await
            }
            DocumentSource::Volume(documents) => {
                Ok(volume_source::batch_documents(documents, first, count))
            }
        }
    }
}

/// Reads a block of the export run and the documents' produced images.
async fn read_export(
    context: &StepContext,
    workspace: i64,
    production: i64,
    export_run_id: &str,
    first: u64,
    count: u64,
) -> Result<Vec<BatchDocument>, StepError> {
    let rows = context
        .client
        .retrieve_rows(workspace, export_run_id, first as i64, count as i64)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|row| row.artifact_id).collect();
    let images = context
        .client
        .produced_images(workspace, production, &ids)
        .await?;
    let by_document = group_by_document(&ids, images, production)?;

    let mut documents = Vec::with_capacity(rows.len());
    for (row, images) in rows.iter().zip(by_document) {
        let pages = images
            .iter()
            .map(|image| source_page(context, image))
            .collect::<Result<_, _>>()?;
        documents.push(BatchDocument {
            control_number: row
                .values
                .first()
                .and_then(|value| value.as_str())
                .map(String::from),
            pages,
        });
    }
    Ok(documents)
}

fn source_page(context: &StepContext, image: &ProducedImage) -> Result<SourcePage, StepError> {
    Ok(SourcePage {
        bates: image.bates_number.clone(),
        image: context.file_share.to_local(&image.location)?,
        file_name: image.filename.clone(),
        expected_size: u64::try_from(image.size).ok(),
    })
}

/// Returns the first record and the document count of batch `index`.
pub(super) fn batch_range(configured: &ImportConfigured, index: u64) -> (u64, u64) {
    let batch_size = configured.job.batch_size;
    let first_record = index * batch_size;
    let count = batch_size.min(configured.snapshot.record_count() - first_record);
    (first_record, count)
}

/// Prepares batch `index` of the snapshot.
#[tracing::instrument(skip_all, fields(run_id = %context.run_id, batch = index))]
pub(super) async fn prepare(
    context: &StepContext,
    configured: &ImportConfigured,
    source: &DocumentSource,
    index: u64,
) -> Result<PreparedBatch, StepError> {
    let (first_record, count) = batch_range(configured, index);
    let documents = source.read(context, first_record, count).await?;

    let dir = batch_dir(context, index);
    let image_dir = dir.join("IMAGES");
    create_dir(&image_dir).await?;
    let (opticon_documents, copies) = plan(&documents, &image_dir, index);
    let bytes = copy_all(copies).await?;

    let opticon_path = dir.join("batch.opt");
    write_atomically(&opticon_path, opticon::write_documents(&opticon_documents)).await?;
    let all_pages = || {
        opticon_documents
            .iter()
            .flat_map(|document| &document.pages)
    };

    Ok(PreparedBatch {
        index,
        first_record,
        documents: documents.len() as u64,
        pages: all_pages().count() as u64,
        bytes,
        first_bates: all_pages().next().map(|page| page.key.clone()),
        last_bates: all_pages().last().map(|page| page.key.clone()),
        opticon_unc: context.file_share.to_unc(&opticon_path)?,
        source_id: data_source_id(&context.run_id, index),
    })
}

/// Rebuilds the description of a batch already written and added, from its
/// Opticon file and images on the file share.
pub(super) async fn read_back(
    context: &StepContext,
    configured: &ImportConfigured,
    index: u64,
) -> Result<PreparedBatch, StepError> {
    let dir = batch_dir(context, index);
    let opticon_path = dir.join("batch.opt");
    let unreadable = |message: String| StepError::BatchUnreadable {
        index,
        path: opticon_path.clone(),
        message,
    };
    let pages = opticon::read_file(&opticon_path).map_err(|error| unreadable(error.to_string()))?;

    let mut bytes = 0;
    let mut seen = std::collections::HashSet::new();
    for page in &pages {
        if !seen.insert(page.image_path.as_str()) {
            continue;
        }
        let image = opticon::resolve_image_path(&dir, &page.image_path);
        let metadata = tokio::fs::metadata(&image)
            .await
            .map_err(|error| unreadable(format!("image {}: {error}", image.display())))?;
        bytes += metadata.len();
    }

    Ok(PreparedBatch {
        index,
        first_record: index * configured.job.batch_size,
        documents: pages.iter().filter(|page| page.document_break).count() as u64,
        pages: pages.len() as u64,
        bytes,
        first_bates: pages.first().map(|page| page.key.clone()),
        last_bates: pages.last().map(|page| page.key.clone()),
        opticon_unc: context.file_share.to_unc(&opticon_path)?,
        source_id: data_source_id(&context.run_id, index),
    })
}

/// Folder of batch `index` on the local mount of the file share.
pub(super) fn batch_dir(context: &StepContext, index: u64) -> PathBuf {
    context
        .file_share
        .local_root
        .join("prodsync")
        .join(&context.run_id)
        .join(format!("batch-{index:06}"))
}

/// Orders each document's images by page, keeping the snapshot's document
/// order; every document must have at least one image.
fn group_by_document(
    documents: &[i64],
    images: Vec<ProducedImage>,
    production: i64,
) -> Result<Vec<Vec<ProducedImage>>, StepError> {
    let mut by_id: HashMap<i64, Vec<ProducedImage>> = HashMap::new();
    for image in images {
        by_id
            .entry(image.document_artifact_id)
            .or_default()
            .push(image);
    }

    let mut grouped = Vec::with_capacity(documents.len());
    let mut missing = Vec::new();
    for id in documents {
        match by_id.remove(id) {
            Some(mut pages) => {
                pages.sort_by_key(|page| page.page_number);
                grouped.push(pages);
            }
            None => missing.push(*id),
        }
    }
    if !missing.is_empty() {
        return Err(StepError::NoImages {
            production,
            artifact_ids: missing,
        });
    }
    Ok(grouped)
}

/// Names each image after its page's Bates number and lists the copies;
/// pages that share one file (a multi-page TIFF) share one copy.
fn plan(
    documents: &[BatchDocument],
    image_dir: &Path,
    index: u64,
) -> (Vec<OpticonDocument>, Vec<ImageCopy>) {
    let volume = format!("PRODSYNC{index:06}");
    let mut copies = Vec::new();
    let mut copied: HashMap<&Path, String> = HashMap::new();
    let mut opticon_documents = Vec::with_capacity(documents.len());

    for document in documents {
        let mut pages = Vec::with_capacity(document.pages.len());
        for page in &document.pages {
            let name = match copied.get(page.image.as_path()) {
                Some(name) => name.clone(),
                None => {
                    let name = file_name(&page.bates, &page.file_name);
                    copies.push(ImageCopy {
                        from: page.image.clone(),
                        to: image_dir.join(&name),
                        expected_size: page.expected_size,
                    });
                    copied.insert(&page.image, name.clone());
                    name
                }
            };
            pages.push(OpticonPage {
                key: page.bates.clone(),
                volume: volume.clone(),
                image_path: format!("IMAGES\\{name}"),
                document_break: pages.is_empty(),
                page_count: None,
                line: 0,
            });
        }
        opticon_documents.push(OpticonDocument { pages });
    }
    (opticon_documents, copies)
}

/// Builds a file name from a Bates number and the source file's extension.
pub(super) fn file_name(bates: &str, source_name: &str) -> String {
    let safe: String = bates
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match Path::new(source_name).extension() {
        Some(extension) => format!("{safe}.{}", extension.to_string_lossy()),
        None => safe,
    }
}

/// Copies the images, a few at a time; returns the bytes copied.
pub(super) async fn copy_all(copies: Vec<ImageCopy>) -> Result<u64, StepError> {
    stream::iter(copies.into_iter().map(copy_one))
        .buffer_unordered(COPY_CONCURRENCY)
        .try_fold(0u64, |total, bytes| async move { Ok(total + bytes) })
        .await
}

async fn copy_one(copy: ImageCopy) -> Result<u64, StepError> {
    let bytes = tokio::fs::copy(&copy.from, &copy.to)
        .await
        .map_err(|source| StepError::Io {
            action: "copy image",
            path: copy.from.clone(),
            source,
        })?;
    match copy.expected_size {
        Some(expected) if expected != bytes => Err(StepError::SizeMismatch {
            path: copy.from,
            expected,
            found: bytes,
        }),
        _ => Ok(bytes),
    }
}

pub(super) async fn create_dir(dir: &Path) -> Result<(), StepError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| StepError::Io {
            action: "create folder",
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes a file through a temporary name, so a reader never sees half.
pub(super) async fn write_atomically(path: &Path, text: String) -> Result<(), StepError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    let io_error = |source| StepError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    tokio::fs::write(&temporary, text).await.map_err(io_error)?;
    tokio::fs::rename(&temporary, path).await.map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn image(document: i64, page: i64, bates: &str) -> ProducedImage {
        ProducedImage {
            document_artifact_id: document,
            production_artifact_id: 9,
            page_number: page,
            bates_number: bates.into(),
            location: format!("\\\\fs\\share\\{bates}.tif"),
            filename: format!("{bates}.tif"),
            size: 1,
        }
    }

    #[test]
    fn file_name_keeps_extension_and_replaces_unsafe_characters() {
        assert_eq!(file_name("ABC 0001/2", "x.TIF"), "ABC_0001_2.TIF");
        assert_eq!(file_name("ABC-1", "noext"), "ABC-1");
    }

    #[test]
    fn group_by_document_orders_pages() {
        let images = vec![image(2, 1, "B1"), image(1, 2, "A2"), image(1, 1, "A1")];
        let grouped = group_by_document(&[1, 2], images, 9).unwrap();
        let keys: Vec<Vec<&str>> = grouped
            .iter()
            .map(|pages| pages.iter().map(|p| p.bates_number.as_str()).collect())
            .collect();
        assert_eq!(keys, vec![vec!["A1", "A2"], vec!["B1"]]);
    }

    #[test]
    fn group_by_document_rejects_document_without_images() {
        let error = group_by_document(&[1, 2], vec![image(1, 1, "A1")], 9).unwrap_err();
        assert!(
            matches!(error, StepError::NoImages { ref artifact_ids, .. } if artifact_ids == &vec![2])
        );
    }
}
