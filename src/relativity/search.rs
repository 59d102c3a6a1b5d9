//! Search service: the produced page images of documents.

use super::client::RelativityClient;
use super::error::ClientError;
use super::transport::Call;
use super::wire::{self, ProducedImage};

const SERVICE: &str = "Search Service";

// NOTE: the real service is private; this route follows the older Kepler
// module routes and is an assumption shared with the emulator.
const PRODUCED_IMAGES_PATH: &str =
    "/Relativity.Services.Search.ISearchModule/Search%20Service/RetrieveImagesByProductionIDsAndDocumentIDsForExport";

impl RelativityClient {
    /// Lists the produced page images of the documents in one production,
    /// ordered by document in request order, then by page number.
    #[tracing::instrument(level = "debug", skip(self, documents), fields(documents = documents.len()))]
    pub async fn produced_images(
        &self,
        workspace: i64,
        production: i64,
        documents: &[i64],
    ) -> Result<Vec<ProducedImage>, ClientError> {
        let body = wire::ProducedImagesRequest {
            workspace_artifact_id: workspace,
            production_artifact_ids: vec![production],
            document_artifact_ids: documents.to_vec(),
        };
        let call = Call::post_json(SERVICE, PRODUCED_IMAGES_PATH, &body)?;
        self.call_json(&call).await
    }
}
