//! Object Manager export: the snapshot of the documents to push.
//!
//! An export run keeps the query's result on the server under a run ID.
//! Rows are read by index ([`RelativityClient::retrieve_rows`] pages, because
//! the server caps each block) or in sequence, and the run is deleted by
//! asking for a block of size 0.

use super::client::RelativityClient;
use super::error::ClientError;
use super::transport::Call;
use super::wire::{self, BlockRequest, ExportInitResult, ExportRow, QueryRequest};

const SERVICE: &str = "Object Manager";

impl RelativityClient {
    /// Starts an export run of the query's result, from row `start`.
    #[tracing::instrument(level = "debug", skip(self, query), fields(condition = %query.condition))]
    pub async fn initialize_export(
        &self,
        workspace: i64,
        query: QueryRequest,
        start: i64,
    ) -> Result<ExportInitResult, ClientError> {
        let body = wire::InitializeExportRequest {
            query_request: query,
            start,
        };
        let call = Call::post_json(SERVICE, &export_path(workspace, "initializeexport"), &body)?;
        self.call_json(&call).await
    }

    /// Retrieves one block of at most `size` rows from row `start` (0-based)
    /// with one call. The server may return fewer rows than requested, and
    /// none past the end.
    ///
    /// A `size` of 0 or less returns no rows without calling the server,
    /// because the server deletes the run on size 0; use
    /// [`RelativityClient::delete_export`] for that.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn retrieve_block(
        &self,
        workspace: i64,
        run_id: &str,
        start: i64,
        size: i64,
    ) -> Result<Vec<ExportRow>, ClientError> {
        if size <= 0 {
            return Ok(Vec::new());
        }
        self.results_block(workspace, run_id, start, size).await
    }

    /// Retrieves `count` rows from row `start`, or fewer at the end of the
    /// run, calling [`RelativityClient::retrieve_block`] until it has them.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn retrieve_rows(
        &self,
        workspace: i64,
        run_id: &str,
        start: i64,
        count: i64,
    ) -> Result<Vec<ExportRow>, ClientError> {
        let mut rows: Vec<ExportRow> = Vec::new();
        let expected = usize::try_from(count).unwrap_or(0);

        while rows.len() < expected {
            let missing = expected - rows.len();
            let next = start + rows.len() as i64;
            let mut block = self
                .retrieve_block(workspace, run_id, next, missing as i64)
                .await?;
            if block.is_empty() {
                break;
            }

            // A server that returns more than requested must not shift later pages.
            block.truncate(missing);
            rows.append(&mut block);
        }

        tracing::debug!(returned = rows.len(), "retrieved export rows");
        Ok(rows)
    }

    /// Retrieves the next block of at most `size` rows after the rows this
    /// call returned before; empty at the end of the run.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn retrieve_next_block(
        &self,
        workspace: i64,
        run_id: &str,
        size: i64,
    ) -> Result<Vec<ExportRow>, ClientError> {
        let body = wire::NextBlockRequest {
            run_id: run_id.to_string(),
            batch_size: size,
        };
        let path = export_path(workspace, "retrievenextresultsblockfromexport");
        let call = Call::post_json(SERVICE, &path, &body)?;
        self.call_json(&call).await
    }

    /// Deletes an export run. An unknown run is [`ClientError::NotFound`].
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete_export(&self, workspace: i64, run_id: &str) -> Result<(), ClientError> {
        let body = block_request(run_id, 0, 0);
        let path = export_path(workspace, "retrieveresultsblockfromexport");
        let call = Call::post_json(SERVICE, &path, &body)?;

        // The response to a deletion carries no rows worth reading.
        self.call_raw(&call).await?;
        Ok(())
    }

    async fn results_block(
        &self,
        workspace: i64,
        run_id: &str,
        start: i64,
        size: i64,
    ) -> Result<Vec<ExportRow>, ClientError> {
        let body = block_request(run_id, start, size);
        let path = export_path(workspace, "retrieveresultsblockfromexport");
        let call = Call::post_json(SERVICE, &path, &body)?;
        self.call_json(&call).await
    }
}

fn export_path(workspace: i64, operation: &str) -> String {
    format!("/Relativity.ObjectManager/v1/workspace/{workspace}/object/{operation}")
}

fn block_request(run_id: &str, start: i64, size: i64) -> BlockRequest {
    BlockRequest {
        run_id: run_id.to_string(),
        results_block_size: size,
        export_index_id: start,
    }
}
