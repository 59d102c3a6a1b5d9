//! Production Manager: reads a production of a workspace.

use super::client::RelativityClient;
use super::error::ClientError;
use super::transport::Call;
use super::wire;

const SERVICE: &str = "Production Manager";

/// `dataSourceReadMode` sent with every read of a production.
const DATA_SOURCE_READ_MODE: i64 = 0;

impl RelativityClient {
    /// Reads one production with its numbering, data sources and status.
    ///
    /// A missing production is [`ClientError::NotFound`], also when the
    /// server sends it with status 500.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn read_production(
        &self,
        workspace: i64,
        production: i64,
    ) -> Result<wire::Production, ClientError> {
        let path = format!(
            "/relativity-productions/v1/workspaces/{workspace}/productions/{production}\
             ?dataSourceReadMode={DATA_SOURCE_READ_MODE}"
        );
        self.call_json(&Call::get(SERVICE, &path)).await
    }
}
