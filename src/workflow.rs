//! Workflow files: the JSON a user writes to describe one push.
//!
//! A workflow names the Relativity connection (a server URL, or the embedded
//! emulator), the source production, the destination production set, and the
//! import settings. Secrets never appear in the file: it names environment
//! variables, and [`Connection::resolve_credentials`] reads them at run time.
//! [`load`] rejects unknown fields, wrong types, missing environment variables
//! and impossible values before anything runs, naming the file and the field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fileshare::FileShare;
use crate::relativity::Credentials;
use crate::retry::RetryPolicy;

/// A parsed and checked workflow file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub name: String,
    pub relativity: Connection,
    pub source: Source,
    pub destination: Destination,
    pub import: ImportOptions,
    /// Retries of transient failures; defaults apply when absent.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// Location of the Relativity services: a server, or the embedded emulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Instance URL, for example `https://relativity.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Time-out of each HTTP call, in seconds.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Runs against an emulator started inside this process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<EmbeddedEmulator>,
}

fn default_timeout_seconds() -> u64 {
    60
}

/// How to authenticate; secrets come from the named environment variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    Basic {
        username: String,
        password_env: String,
    },
    Bearer {
        token_env: String,
    },
    #[serde(rename = "oauth2_client_credentials")]
    ClientCredentials {
        client_id: String,
        client_secret_env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
    },
}

/// The embedded emulator and what to seed into its source production. It
/// also contains the destination workspace and production set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedEmulator {
    /// Seed of the source production; absent for a `load_file`
    /// source, which needs no source workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Seed>,
}

/// Content the embedded emulator puts in the source production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Seed {
    /// Generated documents with TIFF pages.
    Demo(DemoSeed),
    /// A load-file volume: an Opticon file, optionally a DAT file.
    Volume(VolumeSeed),
}

/// Settings of the demo generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSeed {
    pub documents: u32,
    pub max_pages: u32,
    #[serde(default)]
    pub seed: u64,
    pub bates_prefix: String,
}

/// A load-file volume; `$VAR` and `${VAR}` in paths are expanded, and
/// relative paths are taken from the workflow file's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSeed {
    pub opticon: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dat: Option<PathBuf>,
}

/// The source: a production or a saved search in a workspace, or a
/// load-file volume. In the file it is either `{"workspace", "production"}`
/// (or `saved_search`) or `{"load_file": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SourceFields", into = "SourceFields")]
pub enum Source {
    Workspace(WorkspaceSource),
    LoadFile(LoadFileSource),
}

/// A production, or a saved search, in a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceSource {
    pub workspace: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_search: Option<i64>,
}

/// A received load-file volume; paths expand like the emulator seed's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadFileSource {
    pub opticon: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dat: Option<PathBuf>,
    #[serde(default)]
    pub on_problem: OnProblem,
}

/// Effect of a problem in a source volume on the push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnProblem {
    /// Any problem that would make the import fail or lose pages stops it.
    #[default]
    Stop,
    /// The document or record with the problem is left out and listed.
    Skip,
}

/// The source as written in the file: the fields of both kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workspace: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    production: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saved_search: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    load_file: Option<LoadFileSource>,
}

impl TryFrom<SourceFields> for Source {
    type Error = String;

    fn try_from(fields: SourceFields) -> Result<Self, Self::Error> {
        let in_workspace = fields.workspace.is_some()
            || fields.production.is_some()
            || fields.saved_search.is_some();
        match (fields.load_file, fields.workspace) {
            (Some(_), _) if in_workspace => {
                Err("give either `load_file` or `workspace` with `production`, not both".into())
            }
            (Some(load_file), _) => Ok(Source::LoadFile(load_file)),
            (None, Some(workspace)) => Ok(Source::Workspace(WorkspaceSource {
                workspace,
                production: fields.production,
                saved_search: fields.saved_search,
            })),
            (None, None) => {
                Err("give `workspace` with `production`, or `load_file` with `opticon`".into())
            }
        }
    }
}

impl From<Source> for SourceFields {
    fn from(source: Source) -> Self {
        match source {
            Source::Workspace(source) => SourceFields {
                workspace: Some(source.workspace),
                production: source.production,
                saved_search: source.saved_search,
                load_file: None,
            },
            Source::LoadFile(load_file) => SourceFields {
                workspace: None,
                production: None,
                saved_search: None,
                load_file: Some(load_file),
            },
        }
    }
}

/// The destination: a production set or a folder in a workspace, or a
/// load-file volume to write. In the file it is either `{"workspace",
/// "production_set"}` (or `folder`) or `{"load_file": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DestinationFields", into = "DestinationFields")]
pub enum Destination {
    Workspace(WorkspaceDestination),
    LoadFile(LoadFileDestination),
}

/// A production set, or a folder, in a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceDestination {
    pub workspace: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_set: Option<i64>,
    /// Artifact ID of a workspace folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<i64>,
}

/// A load-file volume to write: `<folder>/<volume>.opt`, `<volume>.dat`
/// and `<folder>/<volume>/IMAGES/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadFileDestination {
    pub folder: PathBuf,
    pub volume: String,
}

/// The destination as written in the file: the fields of both kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workspace: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    production_set: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    folder: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    load_file: Option<LoadFileDestination>,
}

impl TryFrom<DestinationFields> for Destination {
    type Error = String;

    fn try_from(fields: DestinationFields) -> Result<Self, Self::Error> {
        let in_workspace = fields.workspace.is_some()
            || fields.production_set.is_some()
            || fields.folder.is_some();
        match (fields.load_file, fields.workspace) {
            (Some(_), _) if in_workspace => {
                Err("give either `load_file` or `workspace` with `production_set`, not both".into())
            }
            (Some(load_file), _) => Ok(Destination::LoadFile(load_file)),
            (None, Some(workspace)) => Ok(Destination::Workspace(WorkspaceDestination {
                workspace,
                production_set: fields.production_set,
                folder: fields.folder,
            })),
            (None, None) => Err(
                "give `workspace` with `production_set`, or `load_file` with `folder` and `volume`"
                    .into(),
            ),
        }
    }
}

impl From<Destination> for DestinationFields {
    fn from(destination: Destination) -> Self {
        match destination {
            Destination::Workspace(destination) => DestinationFields {
                workspace: Some(destination.workspace),
                production_set: destination.production_set,
                folder: destination.folder,
                load_file: None,
            },
            Destination::LoadFile(load_file) => DestinationFields {
                workspace: None,
                production_set: None,
                folder: None,
                load_file: Some(load_file),
            },
        }
    }
}

/// Import settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    /// Documents per batch (one Opticon data source each).
    pub batch_size: u64,
    /// Destination field that receives each page's Bates number; a volume
    /// destination has no fields and leaves it out.
    #[serde(default)]
    pub bates_field: String,
    #[serde(default)]
    pub overwrite: Overwrite,
    /// The destination file share; the embedded emulator supplies its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_share: Option<FileShareOptions>,
    /// Maximum wait for the import job to finish after its last batch, in
    /// seconds.
    #[serde(default = "default_wait_seconds")]
    pub wait_seconds: u64,
}

fn default_wait_seconds() -> u64 {
    3600
}

/// Overwrite mode of the import, as the Import API numbers it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overwrite {
    #[default]
    Append,
    Overlay,
    AppendOverlay,
}

impl Overwrite {
    /// Returns the Import API's number: Append 0, Overlay 1, AppendOverlay 2.
    pub fn code(self) -> i64 {
        match self {
            Overwrite::Append => 0,
            Overwrite::Overlay => 1,
            Overwrite::AppendOverlay => 2,
        }
    }
}

/// The file share root as the server names it and as it is mounted here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileShareOptions {
    pub server_root: String,
    pub local_root: PathBuf,
}

impl FileShareOptions {
    /// Returns the path mapping.
    pub fn to_file_share(&self) -> FileShare {
        FileShare::new(self.server_root.clone(), self.local_root.clone())
    }
}

impl Connection {
    /// Reads the secrets that the workflow names from the environment.
    pub fn resolve_credentials(&self, path: &Path) -> Result<Credentials, WorkflowError> {
        let Some(auth) = &self.auth else {
            return Err(field_error(
                path,
                "relativity.auth",
                "is required with a Relativity URL",
            ));
        };
        let credentials = match auth {
            Auth::Basic {
                username,
                password_env,
            } => Credentials::Basic {
                username: username.clone(),
                password: read_env(path, "relativity.auth.password_env", password_env)?,
            },
            Auth::Bearer { token_env } => Credentials::Bearer {
                token: read_env(path, "relativity.auth.token_env", token_env)?,
            },
            Auth::ClientCredentials {
                client_id,
                client_secret_env,
                token_url,
            } => Credentials::ClientCredentials {
                client_id: client_id.clone(),
                client_secret: read_env(
                    path,
                    "relativity.auth.client_secret_env",
                    client_secret_env,
                )?,
                token_url: token_url.clone(),
            },
        };
        Ok(credentials)
    }
}

/// A workflow read from disk, with its raw bytes' hash.
#[derive(Debug, Clone)]
pub struct LoadedWorkflow {
    pub path: PathBuf,
    pub workflow: Workflow,
    /// Hex SHA-256 of the file as read.
    pub sha256: String,
}

/// Error of a workflow file: the file, the field, and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("cannot read workflow file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// Reads, parses and checks a workflow file.
pub fn load(path: &Path) -> Result<LoadedWorkflow, WorkflowError> {
    let bytes = std::fs::read(path).map_err(|source| WorkflowError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut workflow = parse(&bytes, path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    workflow.resolve_paths(base, path)?;
    workflow.check(path)?;

    Ok(LoadedWorkflow {
        path: path.to_path_buf(),
        workflow,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

/// Parses workflow JSON; type errors name the field path.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Workflow, WorkflowError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = error.path().to_string();
        WorkflowError::Field {
            path: path.to_path_buf(),
            field: if field == "." || field == "?" {
                "(top level)".into()
            } else {
                field
            },
            message: error.into_inner().to_string(),
        }
    })
}

fn field_error(path: &Path, field: &str, message: impl Into<String>) -> WorkflowError {
    WorkflowError::Field {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

impl Workflow {
    /// Checks the values that types alone cannot: choices that exclude each
    /// other, ranges, and environment variables that must be set.
    pub fn check(&self, path: &Path) -> Result<(), WorkflowError> {
        if self.name.trim().is_empty() {
            return Err(field_error(path, "name", "must not be empty"));
        }
        self.check_connection(path)?;
        self.check_source(path)?;
        self.check_destination(path)?;
        self.check_import(path)?;
        self.check_retry(path)?;
        Ok(())
    }

    fn check_connection(&self, path: &Path) -> Result<(), WorkflowError> {
        let relativity = &self.relativity;
        match (&relativity.url, &relativity.emulator) {
            (Some(_), Some(_)) => {
                return Err(field_error(
                    path,
                    "relativity",
                    "give either `url` or `emulator`, not both",
                ))
            }
            (None, None) => {
                return Err(field_error(
                    path,
                    "relativity",
                    "give `url` (a Relativity instance) or `emulator` (the embedded emulator)",
                ))
            }
            (Some(url), None) => check_server(relativity, url, path)?,
            (None, Some(emulator)) => {
                if relativity.auth.is_some() {
                    return Err(field_error(
                        path,
                        "relativity.auth",
                        "the embedded emulator makes its own credentials; remove `auth`",
                    ));
                }
                self.check_embedded_seed(emulator, path)?;
            }
        }
        if relativity.timeout_seconds == 0 {
            return Err(field_error(
                path,
                "relativity.timeout_seconds",
                "must be at least 1 second, found 0",
            ));
        }
        Ok(())
    }

    /// Checks that the embedded emulator has a seed exactly when the source
    /// lives in a workspace: a volume source brings its own documents.
    fn check_embedded_seed(
        &self,
        emulator: &EmbeddedEmulator,
        path: &Path,
    ) -> Result<(), WorkflowError> {
        match (&self.source, &emulator.seed) {
            (Source::Workspace(_), Some(seed)) => check_seed(seed, path),
            (Source::Workspace(_), None) => Err(field_error(
                path,
                "relativity.emulator.seed",
                "is required with a workspace source: give {\"demo\": {...}} or {\"volume\": {...}}",
            )),
            (Source::LoadFile(_), Some(_)) => Err(field_error(
                path,
                "relativity.emulator.seed",
                "is not used with a `load_file` source, whose documents come from the volume; remove `seed`",
            )),
            (Source::LoadFile(_), None) => Ok(()),
        }
    }

    fn check_source(&self, path: &Path) -> Result<(), WorkflowError> {
        let source = match &self.source {
            Source::Workspace(source) => source,
            Source::LoadFile(load_file) => return check_load_file_source(load_file, path),
        };
        check_artifact_id(path, "source.workspace", source.workspace)?;
        match (source.production, source.saved_search) {
            (Some(production), None) => check_artifact_id(path, "source.production", production),
            (None, Some(_)) => Err(field_error(
                path,
                "source.saved_search",
                "a saved-search source is not supported yet; give `production`",
            )),
            _ => Err(field_error(
                path,
                "source",
                "give exactly one of `production` or `saved_search`",
            )),
        }
    }

    fn check_destination(&self, path: &Path) -> Result<(), WorkflowError> {
        let destination = match &self.destination {
            Destination::Workspace(destination) => destination,
            Destination::LoadFile(load_file) => {
                return self.check_volume_destination(load_file, path)
            }
        };
        check_artifact_id(path, "destination.workspace", destination.workspace)?;
        match (destination.production_set, destination.folder) {
            (Some(set), None) => {
                check_artifact_id(path, "destination.production_set", set)?;
            }
            (None, Some(_)) => {
                return Err(field_error(
                    path,
                    "destination.folder",
                    "a folder destination is not supported yet; give `production_set`",
                ))
            }
            _ => {
                return Err(field_error(
                    path,
                    "destination",
                    "give exactly one of `production_set` or `folder`",
                ))
            }
        }
        if let (Source::LoadFile(_), Some(_)) = (&self.source, destination.folder) {
            return Err(field_error(
                path,
                "destination.folder",
                "cannot take a `load_file` source, which carries only page images; give `production_set`",
            ));
        }

        let Source::Workspace(source) = &self.source else {
            return Ok(());
        };
        let same_workspace = destination.workspace == source.workspace;
        if same_workspace && destination.production_set == source.production {
            return Err(field_error(
                path,
                "destination.production_set",
                format!(
                    "is the source production {} in the same workspace {}; choose another production set",
                    destination.production_set.unwrap_or_default(),
                    destination.workspace
                ),
            ));
        }
        Ok(())
    }

    /// Checks a volume destination: its name, and a source it can take.
    fn check_volume_destination(
        &self,
        destination: &LoadFileDestination,
        path: &Path,
    ) -> Result<(), WorkflowError> {
        match &self.source {
            Source::LoadFile(_) => {
                return Err(field_error(
                    path,
                    "destination.load_file",
                    "cannot take a `load_file` source: a volume to volume copy needs no Relativity; give a production set as destination, or a production as source",
                ))
            }
            Source::Workspace(source) if source.saved_search.is_some() => {
                return Err(field_error(
                    path,
                    "source.saved_search",
                    "cannot feed a `load_file` destination, which exports a production's images; give `production`",
                ))
            }
            Source::Workspace(_) => {}
        }
        let volume = &destination.volume;
        let valid_name = !volume.is_empty()
            && volume
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(field_error(
                path,
                "destination.load_file.volume",
                format!("must be a volume name of letters, digits, `_` and `-`, such as VOL001, found {volume:?}"),
            ));
        }
        Ok(())
    }

    fn check_import(&self, path: &Path) -> Result<(), WorkflowError> {
        let import = &self.import;
        if import.batch_size == 0 {
            return Err(field_error(
                path,
                "import.batch_size",
                "must be at least 1 document, found 0",
            ));
        }
        if import.batch_size > MAX_BATCH_SIZE {
            return Err(field_error(
                path,
                "import.batch_size",
                format!(
                    "must be at most {MAX_BATCH_SIZE} documents, found {}",
                    import.batch_size
                ),
            ));
        }
        let into_production_set = matches!(self.destination, Destination::Workspace(_));
        if into_production_set && import.bates_field.trim().is_empty() {
            return Err(field_error(
                path,
                "import.bates_field",
                "must name the destination field that receives Bates numbers, for example \"Bates Number\"",
            ));
        }
        if import.wait_seconds == 0 {
            return Err(field_error(
                path,
                "import.wait_seconds",
                "must be at least 1 second, found 0",
            ));
        }
        if self.relativity.url.is_some() && import.file_share.is_none() {
            return Err(field_error(
                path,
                "import.file_share",
                "is required with a Relativity URL: give `server_root` (the UNC root the server uses) and `local_root` (where it is mounted here)",
            ));
        }
        if let Some(share) = &import.file_share {
            if !share.server_root.starts_with("\\\\") {
                return Err(field_error(
                    path,
                    "import.file_share.server_root",
                    format!(
                        "must be a UNC path such as \\\\server\\Fileshare, found {:?}",
                        share.server_root
                    ),
                ));
            }
            if !share.local_root.is_dir() {
                return Err(field_error(
                    path,
                    "import.file_share.local_root",
                    format!(
                        "folder {} does not exist; mount the file share there or give the folder where it is mounted",
                        share.local_root.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_retry(&self, path: &Path) -> Result<(), WorkflowError> {
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return Err(field_error(
                path,
                "retry.max_attempts",
                "must be at least 1 (1 means no retries), found 0",
            ));
        }
        if retry.base_delay_ms > retry.max_delay_ms {
            return Err(field_error(
                path,
                "retry.base_delay_ms",
                format!(
                    "must not exceed retry.max_delay_ms ({}), found {}",
                    retry.max_delay_ms, retry.base_delay_ms
                ),
            ));
        }
        Ok(())
    }

    /// Expands environment variables in seed and volume paths and makes
    /// them absolute from `base`, the workflow file's folder.
    fn resolve_paths(&mut self, base: &Path, path: &Path) -> Result<(), WorkflowError> {
        if let Some(EmbeddedEmulator {
            seed: Some(Seed::Volume(volume)),
        }) = &mut self.relativity.emulator
        {
            let field = "relativity.emulator.seed.volume";
            volume.opticon = expand_path(&volume.opticon, base, path, &format!("{field}.opticon"))?;
            volume.dat = expand_optional(&volume.dat, base, path, &format!("{field}.dat"))?;
        }
        if let Source::LoadFile(load_file) = &mut self.source {
            let field = "source.load_file";
            load_file.opticon =
                expand_path(&load_file.opticon, base, path, &format!("{field}.opticon"))?;
            load_file.dat = expand_optional(&load_file.dat, base, path, &format!("{field}.dat"))?;
        }
        if let Destination::LoadFile(load_file) = &mut self.destination {
            let field = "destination.load_file.folder";
            load_file.folder = expand_variables(&load_file.folder, path, field)?;
        }
        Ok(())
    }

    /// Makes a relative destination folder absolute from `database_folder`,
    /// where the run's other outputs (the embedded emulator's data) live.
    pub fn place_outputs(&mut self, database_folder: &Path) {
        if let Destination::LoadFile(load_file) = &mut self.destination {
            if load_file.folder.is_relative() {
                let joined = database_folder.join(&load_file.folder);
                let current = std::path::Component::CurDir;
                load_file.folder = joined
                    .components()
                    .filter(|part| *part != current)
                    .collect();
            }
        }
    }

    /// True when the run uses the embedded emulator.
    pub fn uses_embedded_emulator(&self) -> bool {
        self.relativity.emulator.is_some()
    }
}

/// Largest batch the workflow accepts: the Object Manager hands out export
/// blocks of bounded size, and a batch is one Opticon data source.
pub const MAX_BATCH_SIZE: u64 = 100_000;

fn check_server(relativity: &Connection, url: &str, path: &Path) -> Result<(), WorkflowError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(field_error(
            path,
            "relativity.url",
            format!("must start with https:// or http://, found {url:?}"),
        ));
    }
    if relativity.auth.is_none() {
        return Err(field_error(
            path,
            "relativity.auth",
            "is required with a Relativity URL: give kind basic, bearer or oauth2_client_credentials",
        ));
    }
    relativity.resolve_credentials(path).map(|_| ())
}

fn check_seed(seed: &Seed, path: &Path) -> Result<(), WorkflowError> {
    match seed {
        Seed::Demo(demo) => {
            if demo.documents == 0 {
                return Err(field_error(
                    path,
                    "relativity.emulator.seed.demo.documents",
                    "must be at least 1, found 0",
                ));
            }
            if demo.max_pages == 0 {
                return Err(field_error(
                    path,
                    "relativity.emulator.seed.demo.max_pages",
                    "must be at least 1, found 0",
                ));
            }
            if demo.bates_prefix.trim().is_empty() {
                return Err(field_error(
                    path,
                    "relativity.emulator.seed.demo.bates_prefix",
                    "must not be empty",
                ));
            }
        }
        Seed::Volume(volume) => {
            if !volume.opticon.is_file() {
                return Err(field_error(
                    path,
                    "relativity.emulator.seed.volume.opticon",
                    format!("file {} does not exist", volume.opticon.display()),
                ));
            }
        }
    }
    Ok(())
}

fn check_load_file_source(source: &LoadFileSource, path: &Path) -> Result<(), WorkflowError> {
    if !source.opticon.is_file() {
        return Err(field_error(
            path,
            "source.load_file.opticon",
            format!(
                "file {} does not exist; give the volume's Opticon (.opt) file",
                source.opticon.display()
            ),
        ));
    }
    if let Some(dat) = &source.dat {
        if !dat.is_file() {
            return Err(field_error(
                path,
                "source.load_file.dat",
                format!(
                    "file {} does not exist; give the volume's DAT file or leave `dat` out",
                    dat.display()
                ),
            ));
        }
    }
    Ok(())
}

fn check_artifact_id(path: &Path, field: &str, id: i64) -> Result<(), WorkflowError> {
    if id <= 0 {
        return Err(field_error(
            path,
            field,
            format!("must be a positive artifact ID, found {id}"),
        ));
    }
    Ok(())
}

fn read_env(path: &Path, field: &str, name: &str) -> Result<String, WorkflowError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(field_error(
            path,
            field,
            format!("environment variable {name} is not set or empty; export it before running"),
        )),
    }
}

fn expand_optional(
    raw: &Option<PathBuf>,
    base: &Path,
    path: &Path,
    field: &str,
) -> Result<Option<PathBuf>, WorkflowError> {
    raw.as_deref()
        .map(|raw| expand_path(raw, base, path, field))
        .transpose()
}

/// Expands `$VAR` and `${VAR}` in a path and joins it to `base` if relative.
fn expand_path(
    raw: &Path,
    base: &Path,
    path: &Path,
    field: &str,
) -> Result<PathBuf, WorkflowError> {
    let expanded = expand_variables(raw, path, field)?;
    if expanded.is_absolute() {
        Ok(expanded)
    } else {
        Ok(base.join(expanded))
    }
}

/// Expands `$VAR` and `${VAR}` in a path.
fn expand_variables(raw: &Path, path: &Path, field: &str) -> Result<PathBuf, WorkflowError> {
    let text = raw.to_string_lossy();
    let pattern = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
        .expect("valid pattern");
    let mut expanded = String::new();
    let mut last = 0;
    for captures in pattern.captures_iter(&text) {
        let whole = captures.get(0).expect("match");
        let name = captures.get(1).or(captures.get(2)).expect("name").as_str();
        expanded.push_str(&text[last..whole.start()]);
        expanded.push_str(&read_env(path, field, name)?);
        last = whole.end();
    }
    expanded.push_str(&text[last..]);
    Ok(PathBuf::from(expanded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const VALID: &str = r#"{
        "name": "demo",
        "relativity": {"emulator": {"seed": {"demo": {"documents": 3, "max_pages": 2, "bates_prefix": "D"}}}},
        "source": {"workspace": 100, "production": 200},
        "destination": {"workspace": 101, "production_set": 300},
        "import": {"batch_size": 10, "bates_field": "Bates Number"}
    }"#;

    fn check(text: &str) -> Result<Workflow, WorkflowError> {
        let path = Path::new("w.json");
        let workflow = parse(text.as_bytes(), path)?;
        workflow.check(path)?;
        Ok(workflow)
    }

    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value = serde_json::from_str(VALID).unwrap();
        edit(&mut value);
        value.to_string()
    }

    #[test]
    fn valid_workflow_parses() {
        let workflow = check(VALID).unwrap();
        assert_eq!(workflow.import.overwrite, Overwrite::Append);
        assert_eq!(workflow.relativity.timeout_seconds, 60);
    }

    #[test]
    fn overwrite_codes_follow_import_api() {
        assert_eq!(Overwrite::Append.code(), 0);
        assert_eq!(Overwrite::Overlay.code(), 1);
        assert_eq!(Overwrite::AppendOverlay.code(), 2);
    }

    #[test]
    fn expand_path_reads_braced_and_bare_variables() {
        std::env::set_var("PRODSYNC_TEST_ROOT", "/data");
        let expanded = expand_path(
            Path::new("${PRODSYNC_TEST_ROOT}/a/$PRODSYNC_TEST_ROOT.opt"),
            Path::new("/base"),
            Path::new("w.json"),
            "f",
        )
        .unwrap();
        assert_eq!(expanded, PathBuf::from("/data/a//data.opt"));
    }

    #[test]
    fn expand_path_joins_relative_to_base() {
        let expanded = expand_path(
            Path::new("v/a.opt"),
            Path::new("/base"),
            Path::new("w.json"),
            "f",
        )
        .unwrap();
        assert_eq!(expanded, PathBuf::from("/base/v/a.opt"));
    }

    #[test]
    fn unknown_field_names_field() {
        let text = edited(|v| v["import"]["batchsize"] = 5.into());
        let message = check(&text).unwrap_err().to_string();
        assert!(
            message.starts_with("w.json: field `import.batchsize`"),
            "{message}"
        );
        assert!(message.contains("unknown field `batchsize`"), "{message}");
    }

    #[test]
    fn load_file_to_load_file_is_rejected() {
        let text = edited(|v| {
            v["relativity"] = serde_json::json!({"emulator": {}});
            v["source"] = serde_json::json!({"load_file": {"opticon": "Cargo.toml"}});
            v["destination"] =
                serde_json::json!({"load_file": {"folder": "out", "volume": "VOL001"}});
        });
        let message = check(&text).unwrap_err().to_string();
        assert!(
            message.contains("field `destination.load_file`"),
            "{message}"
        );
    }

    #[test]
    fn saved_search_to_load_file_is_rejected() {
        let text = edited(|v| {
            v["source"] = serde_json::json!({"workspace": 100, "saved_search": 7});
            v["destination"] =
                serde_json::json!({"load_file": {"folder": "out", "volume": "VOL001"}});
        });
        let message = check(&text).unwrap_err().to_string();
        assert!(message.contains("field `source.saved_search`"), "{message}");
    }

    #[test]
    fn load_file_with_workspace_is_rejected() {
        let text = edited(|v| v["source"]["load_file"] = serde_json::json!({"opticon": "a.opt"}));
        let message = check(&text).unwrap_err().to_string();
        assert!(message.contains("not both"), "{message}");
    }

    #[test]
    fn load_file_source_with_seed_is_rejected() {
        let text = edited(|v| {
            v["source"] = serde_json::json!({"load_file": {"opticon": "Cargo.toml"}});
        });
        let message = check(&text).unwrap_err().to_string();
        assert!(
            message.contains("field `relativity.emulator.seed`"),
            "{message}"
        );
    }

    #[test]
    fn zero_batch_size_is_rejected() {
        let text = edited(|v| v["import"]["batch_size"] = 0.into());
        let message = check(&text).unwrap_err().to_string();
        assert_eq!(
            message,
            "w.json: field `import.batch_size`: must be at least 1 document, found 0"
        );
    }
}
