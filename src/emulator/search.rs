//! The search service call that returns the produced images of documents:
//! one entry per page with its Bates number and UNC location, ordered by
//! document in request order, then page number.

use axum::extract::State;
use axum::{Extension, Json};
use rusqlite::Connection;

use super::accounts::Caller;
use super::api_error::{ApiError, Body};
use super::catalog::unc_path;
use super::productions::require_viewable_production;
use super::server::blocking;
use super::{Emulator, UNC_ROOT};
use crate::relativity::wire::{ProducedImage, ProducedImagesRequest};

/// `POST .../Search%20Service/RetrieveImagesByProductionIDsAndDocumentIDsForExport`.
/// Documents that are not in one of the productions are left out.
pub async fn produced_images(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<ProducedImagesRequest>,
) -> Result<Json<Vec<ProducedImage>>, ApiError> {
    let images = blocking(&emulator, move |emulator| {
        let connection = emulator.db().lock();
        let workspace = request.workspace_artifact_id;
        for production in &request.production_artifact_ids {
            require_viewable_production(&connection, &caller, workspace, *production)?;
        }

        let mut images = Vec::new();
        for document in &request.document_artifact_ids {
            images.extend(document_images(&connection, &request, *document)?);
        }
        Ok(images)
    })
    .await?;
    Ok(Json(images))
}

fn document_images(
    connection: &Connection,
    request: &ProducedImagesRequest,
    document: i64,
) -> Result<Vec<ProducedImage>, ApiError> {
    let mut statement = connection.prepare_cached(
        "SELECT production, page_number, bates, location, size FROM pages
         WHERE document = ?1 AND workspace = ?2 ORDER BY page_number",
    )?;
    let rows = statement.query_map((document, request.workspace_artifact_id), |row| {
        let location: String = row.get(3)?;
        Ok(ProducedImage {
            document_artifact_id: document,
            production_artifact_id: row.get(0)?,
            page_number: row.get(1)?,
            bates_number: row.get(2)?,
            filename: location.rsplit('\\').next().unwrap_or_default().to_string(),
            location: unc_path(UNC_ROOT, &location),
            size: row.get(4)?,
        })
    })?;

    let mut images = Vec::new();
    for image in rows {
        let image = image?;
        if request
            .production_artifact_ids
            .contains(&image.production_artifact_id)
        {
            images.push(image);
        }
    }
    Ok(images)
}
