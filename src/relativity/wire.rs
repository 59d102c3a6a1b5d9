//! JSON shapes of the Relativity REST services that a production push uses.
//!
//! The client serializes requests and parses responses with these types, and
//! the emulator responds with them, so both sides share one definition of each
//! payload. Field names keep Relativity's own casing through serde renames.
//! Paths, one per endpoint, are listed in `docs/relativity-api.md`.

use serde::{Deserialize, Serialize};

/// Root of every REST path.
pub const API_ROOT: &str = "/Relativity.REST/api";

/// Path of the OAuth2 token endpoint of Relativity's identity server.
pub const TOKEN_PATH: &str = "/Relativity/Identity/connect/token";

/// Header that every REST request carries, with the value `-`.
pub const CSRF_HEADER: &str = "X-CSRF-Header";

/// Artifact type ID of a Document.
pub const DOCUMENT_ARTIFACT_TYPE: i64 = 10;

/// Artifact type ID of a workspace (a "Case").
pub const CASE_ARTIFACT_TYPE: i64 = 8;

/// Permission ID that allows importing into a workspace.
pub const IMPORT_PERMISSION_ID: i64 = 158;

/// Permission ID that allows exporting from a workspace.
pub const EXPORT_PERMISSION_ID: i64 = 159;

/// Artifact type GUID of a production data source.
pub const PRODUCTION_DATA_SOURCE_GUID: &str = "7528C416-3706-4909-8805-EDDDCF75542D";

/// Permission type ID of View.
// NOTE: the numeric IDs of permission types are not published; View = 1 and
// Add = 6 follow Relativity's PermissionType enumeration as far as known.
pub const VIEW_PERMISSION_TYPE: i64 = 1;

/// Permission type ID of Add.
pub const ADD_PERMISSION_TYPE: i64 = 6;

/// Error body of the Kepler services (Production, Permission and Object
/// Manager) on any non-success status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeplerError {
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "ErrorType", default)]
    pub error_type: String,
}

/// Response of the OAuth2 client-credentials flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

// ---------------------------------------------------------------------------
// Production Manager
// ---------------------------------------------------------------------------

/// A production as the Production Manager returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Production {
    #[serde(rename = "ArtifactID")]
    pub artifact_id: i64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Details", default)]
    pub details: ProductionDetails,
    #[serde(rename = "Numbering", default)]
    pub numbering: ProductionNumbering,
    #[serde(rename = "DataSources", default)]
    pub data_sources: Vec<ProductionDataSource>,
    #[serde(rename = "ProductionMetadata")]
    pub metadata: ProductionMetadata,
}

/// `Details` of a production.
// NOTE: sources disagree on whether the first and last Bates values sit in
// `Details` or at the top level; the client reads them from `Details` only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductionDetails {
    #[serde(rename = "FirstBatesValue", default)]
    pub first_bates_value: Option<String>,
    #[serde(rename = "LastBatesValue", default)]
    pub last_bates_value: Option<String>,
}

/// `Numbering` of a production: how its Bates numbers are formed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductionNumbering {
    #[serde(rename = "NumberingType", default)]
    pub numbering_type: String,
    #[serde(rename = "BatesPrefix", default)]
    pub bates_prefix: String,
    #[serde(rename = "BatesSuffix", default)]
    pub bates_suffix: String,
    #[serde(rename = "BatesStartNumber", default)]
    pub bates_start_number: i64,
    #[serde(rename = "NumberOfDigitsForDocumentNumbering", default)]
    pub number_of_digits: i64,
}

/// One data source of a production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionDataSource {
    #[serde(rename = "ArtifactID")]
    pub artifact_id: i64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ProductionType", default)]
    pub production_type: String,
}

/// `ProductionMetadata` of a production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionMetadata {
    /// One of New, Staging, Staged, StagingError, Waiting, Producing,
    /// Branding, Produced, Error, ProducedWithErrors, Canceling, and others.
    #[serde(rename = "Status")]
    pub status: String,
    /// True when the production was created by an import.
    #[serde(rename = "Imported", default)]
    pub imported: bool,
    #[serde(rename = "LastRunError", default)]
    pub last_run_error: String,
    #[serde(rename = "TotalImagesCount", default)]
    pub total_images_count: i64,
}

// ---------------------------------------------------------------------------
// Permission Manager
// ---------------------------------------------------------------------------

/// Body of a `list-permissions` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionsRequest {
    pub permissions: Vec<PermissionRef>,
}

/// One permission to check: an artifact type and a permission type, or a
/// permission ID alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PermissionRef {
    #[serde(
        rename = "ArtifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<ArtifactTypeRef>,
    #[serde(
        rename = "PermissionType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub permission_type: Option<PermissionTypeRef>,
    #[serde(
        rename = "PermissionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub permission_id: Option<i64>,
}

/// An artifact type named by numeric ID or by GUID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactTypeRef {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(rename = "Guids", default, skip_serializing_if = "Vec::is_empty")]
    pub guids: Vec<String>,
}

/// A permission type named by numeric ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionTypeRef {
    #[serde(rename = "ID")]
    pub id: i64,
}

/// One entry of a `list-permissions` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionValue {
    #[serde(
        rename = "ArtifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<ArtifactTypeRef>,
    #[serde(
        rename = "PermissionType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub permission_type: Option<PermissionTypeRef>,
    #[serde(
        rename = "PermissionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub permission_id: Option<i64>,
    #[serde(rename = "Selected")]
    pub selected: bool,
}

// ---------------------------------------------------------------------------
// Object Manager export
// ---------------------------------------------------------------------------

/// Body of `initializeexport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitializeExportRequest {
    #[serde(rename = "queryRequest")]
    pub query_request: QueryRequest,
    pub start: i64,
}

/// The query of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    #[serde(rename = "ObjectType")]
    pub object_type: ObjectTypeRef,
    #[serde(rename = "Condition")]
    pub condition: String,
    #[serde(rename = "Fields")]
    pub fields: Vec<FieldRef>,
}

/// An object type named by artifact type ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectTypeRef {
    #[serde(rename = "ArtifactTypeID")]
    pub artifact_type_id: i64,
}

/// A field named by its display name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldRef {
    #[serde(rename = "Name")]
    pub name: String,
}

/// Answer of `initializeexport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportInitResult {
    #[serde(rename = "RunID")]
    pub run_id: String,
    #[serde(rename = "RecordCount")]
    pub record_count: i64,
    #[serde(rename = "FieldData", default)]
    pub field_data: Vec<FieldMetadata>,
}

/// One field of an export, in the order of the values of each row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMetadata {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "FieldType", default)]
    pub field_type: String,
}

/// Body of `retrievenextresultsblockfromexport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextBlockRequest {
    #[serde(rename = "runID")]
    pub run_id: String,
    #[serde(rename = "batchSize")]
    pub batch_size: i64,
}

/// Body of `retrieveresultsblockfromexport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockRequest {
    #[serde(rename = "runID")]
    pub run_id: String,
    #[serde(rename = "resultsBlockSize")]
    pub results_block_size: i64,
    #[serde(rename = "exportIndexID")]
    pub export_index_id: i64,
}

/// One exported row: the artifact ID and one value per requested field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRow {
    #[serde(rename = "ArtifactID")]
    pub artifact_id: i64,
    #[serde(rename = "Values")]
    pub values: Vec<serde_json::Value>,
}

// ---------------------------------------------------------------------------
// Produced images (search service)
// ---------------------------------------------------------------------------

/// Body of the request for the produced images of some documents.
// NOTE: the search service that returns produced images is private; its
// route and field names here are an assumption kept to this type, the
// matching client function and the emulator handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedImagesRequest {
    #[serde(rename = "workspaceArtifactID")]
    pub workspace_artifact_id: i64,
    #[serde(rename = "productionArtifactIDs")]
    pub production_artifact_ids: Vec<i64>,
    #[serde(rename = "documentArtifactIDs")]
    pub document_artifact_ids: Vec<i64>,
}

/// One produced page image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedImage {
    #[serde(rename = "DocumentArtifactID")]
    pub document_artifact_id: i64,
    #[serde(rename = "ProductionArtifactID")]
    pub production_artifact_id: i64,
    /// Page number inside the document, from 1.
    #[serde(rename = "PageNumber")]
    pub page_number: i64,
    /// The page's Bates number.
    #[serde(rename = "BatesNumber")]
    pub bates_number: String,
    /// Full UNC path of the image on the file share.
    #[serde(rename = "Location")]
    pub location: String,
    #[serde(rename = "Filename")]
    pub filename: String,
    /// Size in bytes.
    #[serde(rename = "Size")]
    pub size: i64,
}

// ---------------------------------------------------------------------------
// Import Service v1
// ---------------------------------------------------------------------------

/// Envelope of every Import Service answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResponse<T> {
    #[serde(rename = "IsSuccess")]
    pub is_success: bool,
    #[serde(rename = "ErrorMessage", default)]
    pub error_message: String,
    #[serde(rename = "ErrorCode", default)]
    pub error_code: String,
    #[serde(rename = "ImportJobID")]
    pub import_job_id: String,
    #[serde(rename = "Value", default)]
    pub value: Option<T>,
}

/// Body of the request that creates an import job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateJobRequest {
    #[serde(rename = "applicationName")]
    pub application_name: String,
    #[serde(rename = "correlationID")]
    pub correlation_id: String,
}

/// Body of `documents-configurations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentsConfigurationRequest {
    #[serde(rename = "importSettings")]
    pub import_settings: ImportSettings,
}

/// Settings of a documents import job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSettings {
    #[serde(rename = "Overlay")]
    pub overlay: Option<OverlaySettings>,
    #[serde(rename = "Image")]
    pub image: Option<ImageSettings>,
    #[serde(rename = "Fields")]
    pub fields: Option<serde_json::Value>,
    #[serde(rename = "Folder")]
    pub folder: Option<serde_json::Value>,
}

/// Overlay settings: how imported records meet existing ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlaySettings {
    /// Append = 0, Overlay = 1, AppendOverlay = 2.
    #[serde(rename = "Mode")]
    pub mode: i64,
    /// Field that matches imported records to existing documents.
    #[serde(rename = "KeyField")]
    pub key_field: String,
}

/// Image settings of an import job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSettings {
    #[serde(rename = "PageNumbering")]
    pub page_numbering: i64,
    /// Destination production; set for a production import.
    #[serde(rename = "ProductionID")]
    pub production_id: Option<i64>,
    #[serde(rename = "LoadExtractedText")]
    pub load_extracted_text: bool,
    #[serde(rename = "FileType")]
    pub file_type: i64,
    /// Field that receives each page's Bates number.
    // NOTE: the Import Service's published samples do not show where the
    // Bates field goes; the older Import API calls it `BatesNumberField`,
    // and this name follows it.
    #[serde(
        rename = "BatesNumberField",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bates_number_field: Option<String>,
}

/// Body of the request that adds a data source to a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceRequest {
    #[serde(rename = "dataSourceSettings")]
    pub data_source_settings: DataSourceSettings,
}

/// Settings of one data source: an Opticon file on the file share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceSettings {
    /// UNC path of the load file, as the server names it.
    #[serde(rename = "Path")]
    pub path: String,
    /// 1 for an Opticon file.
    #[serde(rename = "Type")]
    pub kind: i64,
    #[serde(rename = "EndOfLine")]
    pub end_of_line: i64,
    #[serde(rename = "StartLine")]
    pub start_line: i64,
}

/// Data source type of an Opticon file.
pub const OPTICON_DATA_SOURCE_TYPE: i64 = 1;

/// `Value` of a job's `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetails {
    #[serde(rename = "IsFinished")]
    pub is_finished: bool,
    /// New, Configured, ValidationErrors, InProgress, Paused, Canceled,
    /// Failed or Completed.
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "ApplicationName", default)]
    pub application_name: String,
    #[serde(rename = "CorrelationID", default)]
    pub correlation_id: String,
}

/// `Value` of a job's `progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    #[serde(rename = "RecordsInDataSources")]
    pub records_in_data_sources: i64,
    #[serde(rename = "ImportedRecords")]
    pub imported_records: i64,
    #[serde(rename = "ErrorRecords")]
    pub error_records: i64,
}

/// `Value` of a data source's `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceDetails {
    /// New, Scheduled, PendingInserting, Inserting, Canceled, Failed,
    /// CompletedWithItemErrors or Completed.
    #[serde(rename = "State")]
    pub state: String,
    #[serde(
        rename = "DataSourceSettings",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub settings: Option<DataSourceSettings>,
}

/// `Value` of a data source's `itemerrors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemErrors {
    #[serde(rename = "Errors")]
    pub errors: Vec<ItemError>,
    #[serde(rename = "TotalCount")]
    pub total_count: i64,
    #[serde(rename = "NumberOfSkippedRecords", default)]
    pub skipped: i64,
    #[serde(rename = "NumberOfRecords", default)]
    pub returned: i64,
    #[serde(rename = "HasMoreRecords", default)]
    pub has_more_records: bool,
}

/// Errors of one line of a data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemError {
    #[serde(rename = "LineNumber")]
    pub line_number: i64,
    #[serde(rename = "ErrorDetails")]
    pub details: Vec<ItemErrorDetail>,
}

/// One error on a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemErrorDetail {
    #[serde(rename = "ErrorCode", default)]
    pub code: String,
    #[serde(rename = "ErrorMessage")]
    pub message: String,
}
