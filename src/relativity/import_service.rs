//! Import Service v1: import jobs and their data sources.
//!
//! The client chooses the job ID and each source ID, so a resumed push finds
//! its job again. Every response is an [`ImportResponse`] envelope with
//! status 200, and an envelope with `IsSuccess` false becomes
//! [`ClientError::Rejected`].

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::client::RelativityClient;
use super::error::{ClientError, Endpoint};
use super::transport::{parse_json, Call};
use super::wire::{
    self, DataSourceDetails, DataSourceSettings, ImportResponse, ImportSettings, ItemErrors,
    JobDetails, JobProgress,
};

const SERVICE: &str = "Import Service";

impl RelativityClient {
    /// Creates an import job with the client's chosen ID.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn create_import_job(
        &self,
        workspace: i64,
        job: Uuid,
        application: &str,
        correlation: &str,
    ) -> Result<(), ClientError> {
        let body = wire::CreateJobRequest {
            application_name: application.to_string(),
            correlation_id: correlation.to_string(),
        };
        let call = Call::post_json(SERVICE, &job_path(workspace, job), &body)?;
        self.call_import_unit(&call).await
    }

    /// Configures the job to import documents with the given settings.
    #[tracing::instrument(level = "debug", skip(self, settings))]
    pub async fn configure_documents(
        &self,
        workspace: i64,
        job: Uuid,
        settings: ImportSettings,
    ) -> Result<(), ClientError> {
        let body = wire::DocumentsConfigurationRequest {
            import_settings: settings,
        };
        let path = format!("{}/documents-configurations", job_path(workspace, job));
        let call = Call::post_json(SERVICE, &path, &body)?;
        self.call_import_unit(&call).await
    }

    /// Adds a data source (a load file on the file share) to the job.
    #[tracing::instrument(level = "debug", skip(self, settings), fields(path = %settings.path))]
    pub async fn add_data_source(
        &self,
        workspace: i64,
        job: Uuid,
        source: Uuid,
        settings: DataSourceSettings,
    ) -> Result<(), ClientError> {
        let body = wire::DataSourceRequest {
            data_source_settings: settings,
        };
        let call = Call::post_json(SERVICE, &source_path(workspace, job, source), &body)?;
        self.call_import_unit(&call).await
    }

    /// Starts the job; sources added before or after are processed in order.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn begin_job(&self, workspace: i64, job: Uuid) -> Result<(), ClientError> {
        self.job_command(workspace, job, "begin").await
    }

    /// Tells the job that no more sources follow, so it completes once every
    /// source is processed.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn end_job(&self, workspace: i64, job: Uuid) -> Result<(), ClientError> {
        self.job_command(workspace, job, "end").await
    }

    /// Cancels the job.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn cancel_job(&self, workspace: i64, job: Uuid) -> Result<(), ClientError> {
        self.job_command(workspace, job, "cancel").await
    }

    /// Reads the job's state.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn job_details(&self, workspace: i64, job: Uuid) -> Result<JobDetails, ClientError> {
        let path = format!("{}/details", job_path(workspace, job));
        self.call_import_value(&Call::get(SERVICE, &path)).await
    }

    /// Reads the job's record counts.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn job_progress(
        &self,
        workspace: i64,
        job: Uuid,
    ) -> Result<JobProgress, ClientError> {
        let path = format!("{}/progress", job_path(workspace, job));
        self.call_import_value(&Call::get(SERVICE, &path)).await
    }

    /// Reads a data source's state.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn data_source_details(
        &self,
        workspace: i64,
        job: Uuid,
        source: Uuid,
    ) -> Result<DataSourceDetails, ClientError> {
        let path = format!("{}/details", source_path(workspace, job, source));
        self.call_import_value(&Call::get(SERVICE, &path)).await
    }

    /// Reads up to `length` item errors of a data source, from error `start`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn item_errors(
        &self,
        workspace: i64,
        job: Uuid,
        source: Uuid,
        start: i64,
        length: i64,
    ) -> Result<ItemErrors, ClientError> {
        let path = format!(
            "{}/itemerrors?start={start}&length={length}",
            source_path(workspace, job, source)
        );
        self.call_import_value(&Call::get(SERVICE, &path)).await
    }

    async fn job_command(
        &self,
        workspace: i64,
        job: Uuid,
        command: &str,
    ) -> Result<(), ClientError> {
        let path = format!("{}/{command}", job_path(workspace, job));
        self.call_import_unit(&Call::post(SERVICE, &path)).await
    }

    /// Sends a call whose envelope carries no value worth reading.
    async fn call_import_unit(&self, call: &Call) -> Result<(), ClientError> {
        self.call_import(call).await?;
        Ok(())
    }

    /// Sends a call whose envelope must carry a value of type `T`.
    async fn call_import_value<T: DeserializeOwned>(&self, call: &Call) -> Result<T, ClientError> {
        let value = self.call_import(call).await?;
        read_value(&call.endpoint, value)
    }

    /// Sends a call and opens its envelope. The envelope is parsed with an
    /// untyped `Value` first, because `ImportResponse<T>` deserializes only
    /// for a `T` with a `Default`.
    async fn call_import(&self, call: &Call) -> Result<Option<serde_json::Value>, ClientError> {
        let raw = self.call_raw(call).await?;
        let envelope: ImportResponse<serde_json::Value> =
            parse_json(&call.endpoint, raw.status, &raw.body)?;
        open_envelope(&call.endpoint, raw.status.as_u16(), envelope)
    }
}

fn job_path(workspace: i64, job: Uuid) -> String {
    format!("/import-service/v1/workspaces/{workspace}/import-jobs/{job}")
}

fn source_path(workspace: i64, job: Uuid, source: Uuid) -> String {
    format!("{}/sources/{source}", job_path(workspace, job))
}

/// Returns the envelope's value, or [`ClientError::Rejected`] with the
/// server's code and message when `IsSuccess` is false.
fn open_envelope<T>(
    endpoint: &Endpoint,
    status: u16,
    envelope: ImportResponse<T>,
) -> Result<Option<T>, ClientError> {
    if !envelope.is_success {
        return Err(ClientError::Rejected {
            endpoint: endpoint.clone(),
            status,
            code: envelope.error_code,
            message: envelope.error_message,
        });
    }
    Ok(envelope.value)
}

/// Reads the envelope's value as `T`; a missing or mistyped value is a
/// protocol error.
fn read_value<T: DeserializeOwned>(
    endpoint: &Endpoint,
    value: Option<serde_json::Value>,
) -> Result<T, ClientError> {
    let protocol = |message: String| ClientError::Protocol {
        endpoint: endpoint.clone(),
        status: Some(200),
        message,
    };

    let value = value
        .ok_or_else(|| protocol("the response has IsSuccess true but no Value".to_string()))?;
    serde_json::from_value(value)
        .map_err(|error| protocol(format!("invalid Value in the response: {error}")))
}

#[cfg(test)]
mod tests {
    use reqwest::Method;

    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            service: SERVICE,
            method: Method::POST,
            path: "/Relativity.REST/api/import-service/v1/x".to_string(),
        }
    }

    fn envelope(
        is_success: bool,
        value: Option<serde_json::Value>,
    ) -> ImportResponse<serde_json::Value> {
        ImportResponse {
            is_success,
            error_message: "Job already exists.".to_string(),
            error_code: "J.CR.VLD.1501".to_string(),
            import_job_id: Uuid::nil().to_string(),
            value,
        }
    }

    #[test]
    fn open_envelope_success_returns_value() {
        let value = open_envelope(&endpoint(), 200, envelope(true, Some(7.into()))).unwrap();
        assert_eq!(value, Some(7.into()));
    }

    #[test]
    fn open_envelope_failure_is_rejected() {
        let error = open_envelope(&endpoint(), 200, envelope(false, None)).unwrap_err();
        let ClientError::Rejected { code, message, .. } = error else {
            panic!("expected Rejected, got {error:?}");
        };
        assert_eq!(code, "J.CR.VLD.1501");
        assert_eq!(message, "Job already exists.");
    }

    #[test]
    fn read_value_missing_is_protocol() {
        let error = read_value::<i64>(&endpoint(), None).unwrap_err();
        assert!(matches!(error, ClientError::Protocol { .. }));
    }

    #[test]
    fn read_value_mistyped_is_protocol() {
        let error = read_value::<i64>(&endpoint(), Some("seven".into())).unwrap_err();
        assert!(matches!(error, ClientError::Protocol { .. }));
    }

    #[test]
    fn job_path_uses_hyphenated_uuid() {
        let path = job_path(1017, Uuid::nil());
        assert_eq!(
            path,
            "/import-service/v1/workspaces/1017/import-jobs/00000000-0000-0000-0000-000000000000"
        );
    }
}
