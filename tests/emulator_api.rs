//! The emulator's HTTP services checked with raw HTTP calls, independent of
//! the project's client: transport and auth, Production and Permission
//! Manager, Object Manager export, produced images, the Import Service, a
//! restart, and seeding from the shared sample volume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pretty_assertions::assert_eq;
use prodsync::emulator::{DemoSpec, Emulator, Grant, RunningEmulator};
use prodsync::relativity::wire::{
    ExportInitResult, ExportRow, ImportResponse, ItemErrors, JobDetails, JobProgress, KeplerError,
    PermissionValue, ProducedImage, Production, TokenResponse,
};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const SOURCE: i64 = 1_017_001;
const DESTINATION: i64 = 1_017_002;
const PRODUCTION: i64 = 1_040_001;
const TARGET: i64 = 1_040_002;
const ADMIN: (&str, &str) = ("admin", "admin-password");
const USER: (&str, &str) = ("reviewer", "reviewer-password");
const API: &str = "/Relativity.REST/api";
const PRODUCED_IMAGES: &str = "/Relativity.Services.Search.ISearchModule/Search%20Service/RetrieveImagesByProductionIDsAndDocumentIDsForExport";

/// An emulator on 127.0.0.1:0 in a temporary directory, with an admin, a
/// user without grants, two workspaces and a seeded production.
struct Fixture {
    dir: TempDir,
    emulator: Emulator,
    running: RunningEmulator,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> Result<Fixture> {
        Self::start_with(&DemoSpec {
            documents: 5,
            max_pages: 3,
            page_width: 60,
            page_height: 80,
            ..DemoSpec::default()
        })
        .await
    }

    async fn start_with(spec: &DemoSpec) -> Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let emulator = Emulator::open(dir.path())?;
        emulator.add_user(ADMIN.0, ADMIN.1, true)?;
        emulator.add_user(USER.0, USER.1, false)?;
        emulator.add_workspace(SOURCE, "Source")?;
        emulator.add_workspace(DESTINATION, "Destination")?;
        emulator.seed_demo(SOURCE, PRODUCTION, spec)?;
        emulator.create_production_set(DESTINATION, TARGET, "Target")?;
        let running = emulator.serve("127.0.0.1:0".parse()?).await?;
        Ok(Fixture {
            dir,
            emulator,
            running,
            http: reqwest::Client::new(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API}{path}", self.running.base_url())
    }

    /// Builds a request as `user` with the CSRF header.
    fn request_as(
        &self,
        method: reqwest::Method,
        path: &str,
        user: (&str, &str),
    ) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("X-CSRF-Header", "-")
            .basic_auth(user.0, Some(user.1))
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.request_as(reqwest::Method::GET, path, ADMIN)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.request_as(reqwest::Method::POST, path, ADMIN)
    }
}

fn production_path(workspace: i64, production: i64) -> String {
    format!("/relativity-productions/v1/workspaces/{workspace}/productions/{production}?dataSourceReadMode=0")
}

fn job_path(workspace: i64, job: &str) -> String {
    format!("/import-service/v1/workspaces/{workspace}/import-jobs/{job}")
}

fn object_path(workspace: i64, call: &str) -> String {
    format!("/Relativity.ObjectManager/v1/workspace/{workspace}/object/{call}")
}

fn production_condition(production: i64) -> String {
    format!("'Production' SUBQUERY ('Production::ProductionSet' == OBJECT {production}) AND 'Production::Image Count' > 0")
}

fn export_body(condition: &str) -> Value {
    json!({
        "queryRequest": {
            "ObjectType": {"ArtifactTypeID": 10},
            "Condition": condition,
            "Fields": [
                {"Name": "Control Number"},
                {"Name": "Production::Begin Bates"},
                {"Name": "Production::End Bates"},
                {"Name": "Production::Image Count"}
            ]
        },
        "start": 0
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn kepler_error(response: reqwest::Response) -> Result<(StatusCode, String)> {
    let status = response.status();
    let body: KeplerError = response.json().await?;
    Ok((status, body.message))
}

// ---------------------------------------------------------------------------
// Transport and authentication
// ---------------------------------------------------------------------------

#[tokio::test]
async fn csrf_header_missing_is_400() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = fixture
        .http
        .get(fixture.url(&production_path(SOURCE, PRODUCTION)))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn auth_missing_is_401() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = fixture
        .http
        .get(fixture.url(&production_path(SOURCE, PRODUCTION)))
        .header("X-CSRF-Header", "-")
        .send()
        .await?;
    let (status, message) = kepler_error(response).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(message, "Authentication failed.");
    Ok(())
}

#[tokio::test]
async fn auth_wrong_password_is_401() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = fixture
        .request_as(
            reqwest::Method::GET,
            &production_path(SOURCE, PRODUCTION),
            (ADMIN.0, "wrong"),
        )
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

async fn request_token(fixture: &Fixture, secret: &str) -> Result<reqwest::Response> {
    let url = format!(
        "{}/Relativity/Identity/connect/token",
        fixture.running.base_url()
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "prodsync"),
        ("client_secret", secret),
        ("scope", "SystemUserInfo"),
    ];
    Ok(fixture.http.post(url).form(&form).send().await?)
}

#[tokio::test]
async fn bearer_token_reads_production() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .add_oauth_client("prodsync", "client-secret", ADMIN.0)?;
    let token: TokenResponse = request_token(&fixture, "client-secret")
        .await?
        .json()
        .await?;
    assert_eq!(token.token_type, "Bearer");

    let response = fixture
        .http
        .get(fixture.url(&production_path(SOURCE, PRODUCTION)))
        .header("X-CSRF-Header", "-")
        .bearer_auth(&token.access_token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn bearer_token_unknown_is_401() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = fixture
        .http
        .get(fixture.url(&production_path(SOURCE, PRODUCTION)))
        .header("X-CSRF-Header", "-")
        .bearer_auth("not-a-token")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn token_wrong_secret_is_invalid_client() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .add_oauth_client("prodsync", "client-secret", ADMIN.0)?;
    let response = request_token(&fixture, "wrong").await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await?,
        json!({"error": "invalid_client"})
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Production Manager
// ---------------------------------------------------------------------------

#[tokio::test]
async fn production_read_returns_metadata() -> Result<()> {
    let fixture = Fixture::start().await?;
    let pages = fixture.emulator.list_production(SOURCE, PRODUCTION)?;
    let production: Production = fixture
        .get(&production_path(SOURCE, PRODUCTION))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(production.artifact_id, PRODUCTION);
    assert_eq!(production.metadata.status, "Produced");
    assert_eq!(production.metadata.total_images_count, pages.len() as i64);
    assert_eq!(
        production.details.first_bates_value.as_deref(),
        Some("DEMO0000001")
    );
    assert_eq!(
        production.details.last_bates_value,
        pages.last().map(|page| page.bates.clone())
    );
    Ok(())
}

#[tokio::test]
async fn production_missing_is_404() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = fixture.get(&production_path(SOURCE, 999)).send().await?;
    let (status, message) = kepler_error(response).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(message, "Production specified is invalid.");
    Ok(())
}

#[tokio::test]
async fn production_in_missing_workspace_is_404() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = fixture
        .get(&production_path(1_017_999, PRODUCTION))
        .send()
        .await?;
    let (status, message) = kepler_error(response).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(message, "Workspace 1017999 does not exist.");
    Ok(())
}

#[tokio::test]
async fn production_without_view_is_403() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.grant(USER.0, Grant::Workspace(SOURCE))?;
    let response = fixture
        .request_as(
            reqwest::Method::GET,
            &production_path(SOURCE, PRODUCTION),
            USER,
        )
        .send()
        .await?;
    let (status, message) = kepler_error(response).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        message,
        format!("User does not have permission to view production {PRODUCTION}.")
    );
    Ok(())
}

#[tokio::test]
async fn production_with_view_grant_is_readable() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.grant(USER.0, Grant::Workspace(SOURCE))?;
    let view = Grant::ViewProduction {
        workspace: SOURCE,
        production: PRODUCTION,
    };
    fixture.emulator.grant(USER.0, view)?;
    let response = fixture
        .request_as(
            reqwest::Method::GET,
            &production_path(SOURCE, PRODUCTION),
            USER,
        )
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn production_data_source_is_listed() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .add_production_data_source(DESTINATION, TARGET, "Earlier source")?;
    let production: Production = fixture
        .get(&production_path(DESTINATION, TARGET))
        .send()
        .await?
        .json()
        .await?;
    let names: Vec<_> = production
        .data_sources
        .iter()
        .map(|source| source.name.as_str())
        .collect();
    assert_eq!(names, vec!["Earlier source"]);
    assert_eq!(production.metadata.status, "New");
    assert!(!production.metadata.imported);
    Ok(())
}

// ---------------------------------------------------------------------------
// Permission Manager
// ---------------------------------------------------------------------------

async fn permissions(fixture: &Fixture, path: &str, body: Value) -> Result<Vec<bool>> {
    let response = fixture
        .request_as(reqwest::Method::POST, path, USER)
        .json(&body)
        .send()
        .await?;
    let values: Vec<PermissionValue> = response.error_for_status()?.json().await?;
    Ok(values.iter().map(|value| value.selected).collect())
}

fn workspace_access_body() -> Value {
    json!({"permissions": [{"ArtifactType": {"ID": 8}, "PermissionType": {"ID": 1}}]})
}

fn add_data_source_body() -> Value {
    json!({"permissions": [{
        "ArtifactType": {"Guids": ["7528C416-3706-4909-8805-EDDDCF75542D"]},
        "PermissionType": {"ID": 6}
    }]})
}

#[tokio::test]
async fn permissions_follow_grants() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.grant(USER.0, Grant::Workspace(SOURCE))?;
    fixture.emulator.grant(USER.0, Grant::Export(SOURCE))?;
    fixture
        .emulator
        .grant(USER.0, Grant::Workspace(DESTINATION))?;
    let add = Grant::AddProductionDataSource {
        workspace: DESTINATION,
        production: TARGET,
    };
    fixture.emulator.grant(USER.0, add)?;
    let ids = json!({"permissions": [{"PermissionID": 158}, {"PermissionID": 159}]});

    let source_access = permissions(
        &fixture,
        &format!("/Relativity-Identity/v1/workspaces/-1/artifacts/{SOURCE}/list-permissions"),
        workspace_access_body(),
    )
    .await?;
    let source_ids = permissions(
        &fixture,
        &format!("/Relativity-Identity/v1/workspaces/{SOURCE}/list-permissions"),
        ids.clone(),
    )
    .await?;
    let destination_ids = permissions(
        &fixture,
        &format!("/Relativity-Identity/v1/workspaces/{DESTINATION}/list-permissions"),
        ids,
    )
    .await?;
    let add_source = permissions(
        &fixture,
        &format!(
            "/Relativity-Identity/v1/workspaces/{DESTINATION}/artifacts/{TARGET}/list-permissions"
        ),
        add_data_source_body(),
    )
    .await?;

    assert_eq!(source_access, vec![true]);
    assert_eq!(source_ids, vec![false, true]);
    assert_eq!(destination_ids, vec![false, false]);
    assert_eq!(add_source, vec![true]);
    Ok(())
}

#[tokio::test]
async fn permissions_revoke_unselects() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .grant(USER.0, Grant::Workspace(DESTINATION))?;
    fixture.emulator.grant(USER.0, Grant::Import(DESTINATION))?;
    fixture
        .emulator
        .revoke(USER.0, Grant::Import(DESTINATION))?;
    let path = format!("/Relativity-Identity/v1/workspaces/{DESTINATION}/list-permissions");
    let selected = permissions(
        &fixture,
        &path,
        json!({"permissions": [{"PermissionID": 158}]}),
    )
    .await?;
    assert_eq!(selected, vec![false]);
    Ok(())
}

#[tokio::test]
async fn permissions_missing_workspace_is_unselected() -> Result<()> {
    let fixture = Fixture::start().await?;
    let path = "/Relativity-Identity/v1/workspaces/-1/artifacts/1017999/list-permissions";
    let response = fixture
        .post(path)
        .json(&workspace_access_body())
        .send()
        .await?;
    let values: Vec<PermissionValue> = response.error_for_status()?.json().await?;
    assert_eq!(
        values
            .iter()
            .map(|value| value.selected)
            .collect::<Vec<_>>(),
        vec![false]
    );
    Ok(())
}

#[tokio::test]
async fn permissions_in_missing_workspace_is_404() -> Result<()> {
    let fixture = Fixture::start().await?;
    let path = "/Relativity-Identity/v1/workspaces/1017999/list-permissions";
    let response = fixture
        .post(path)
        .json(&json!({"permissions": [{"PermissionID": 158}]}))
        .send()
        .await?;
    let (status, message) = kepler_error(response).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(message, "Workspace 1017999 does not exist.");
    Ok(())
}

// ---------------------------------------------------------------------------
// Object Manager export
// ---------------------------------------------------------------------------

async fn start_export(fixture: &Fixture) -> Result<ExportInitResult> {
    let body = export_body(&production_condition(PRODUCTION));
    let response = fixture
        .post(&object_path(SOURCE, "initializeexport"))
        .json(&body)
        .send()
        .await?;
    Ok(response.error_for_status()?.json().await?)
}

async fn block(
    fixture: &Fixture,
    run_id: &str,
    size: i64,
    index: i64,
) -> Result<reqwest::Response> {
    let body = json!({"runID": run_id, "resultsBlockSize": size, "exportIndexID": index});
    Ok(fixture
        .post(&object_path(SOURCE, "retrieveresultsblockfromexport"))
        .json(&body)
        .send()
        .await?)
}

async fn block_rows(
    fixture: &Fixture,
    run_id: &str,
    size: i64,
    index: i64,
) -> Result<Vec<ExportRow>> {
    Ok(block(fixture, run_id, size, index)
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn tiny_pages(documents: u32) -> DemoSpec {
    DemoSpec {
        documents,
        max_pages: 2,
        page_width: 4,
        page_height: 4,
        ..DemoSpec::default()
    }
}

#[tokio::test]
async fn export_caps_blocks_at_1000_rows() -> Result<()> {
    let fixture = Fixture::start_with(&tiny_pages(2_500)).await?;
    let run = start_export(&fixture).await?;
    assert_eq!(run.record_count, 2_500);

    assert_eq!(
        block_rows(&fixture, &run.run_id, 5_000, 0).await?.len(),
        1_000
    );
    assert_eq!(
        block_rows(&fixture, &run.run_id, 1_000, 2_000).await?.len(),
        500
    );
    assert_eq!(
        block_rows(&fixture, &run.run_id, 1_000, 2_500).await?.len(),
        0
    );
    Ok(())
}

#[tokio::test]
async fn export_next_block_pages_to_end() -> Result<()> {
    let fixture = Fixture::start_with(&tiny_pages(1_200)).await?;
    let run = start_export(&fixture).await?;
    let body = json!({"runID": run.run_id, "batchSize": 5_000});
    let path = object_path(SOURCE, "retrievenextresultsblockfromexport");

    let mut sizes = Vec::new();
    loop {
        let rows: Vec<ExportRow> = fixture
            .post(&path)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        sizes.push(rows.len());
        if rows.is_empty() {
            break;
        }
    }
    assert_eq!(sizes, vec![1_000, 200, 0]);
    Ok(())
}

#[tokio::test]
async fn export_rows_follow_begin_bates() -> Result<()> {
    let fixture = Fixture::start().await?;
    let run = start_export(&fixture).await?;
    let rows = block_rows(&fixture, &run.run_id, 100, 0).await?;
    let pages = fixture.emulator.list_production(SOURCE, PRODUCTION)?;

    let first = &rows[0];
    let first_document_pages = pages
        .iter()
        .filter(|page| page.control_number == "DOC0000001")
        .count();
    assert_eq!(
        first.values,
        vec![
            json!("DOC0000001"),
            json!("DEMO0000001"),
            json!(format!("DEMO{first_document_pages:07}")),
            json!(first_document_pages),
        ]
    );
    let begins: Vec<String> = rows
        .iter()
        .map(|row| row.values[1].as_str().unwrap_or_default().to_string())
        .collect();
    let mut sorted = begins.clone();
    sorted.sort();
    assert_eq!(begins, sorted);
    Ok(())
}

#[tokio::test]
async fn export_block_size_zero_deletes_run() -> Result<()> {
    let fixture = Fixture::start().await?;
    let run = start_export(&fixture).await?;
    assert_eq!(block_rows(&fixture, &run.run_id, 0, 0).await?.len(), 0);

    let (status, message) = kepler_error(block(&fixture, &run.run_id, 10, 0).await?).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        message,
        format!("Export run {} does not exist.", run.run_id)
    );
    Ok(())
}

#[tokio::test]
async fn export_unknown_run_is_404() -> Result<()> {
    let fixture = Fixture::start().await?;
    let response = block(&fixture, "00000000-0000-0000-0000-000000000000", 10, 0).await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn export_other_condition_is_400() -> Result<()> {
    let fixture = Fixture::start().await?;
    let body = export_body("'Control Number' LIKE 'DOC%'");
    let response = fixture
        .post(&object_path(SOURCE, "initializeexport"))
        .json(&body)
        .send()
        .await?;
    let (status, message) = kepler_error(response).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.starts_with("Condition is not valid"), "{message}");
    Ok(())
}

#[tokio::test]
async fn export_saved_search_selects_production() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .add_saved_search(SOURCE, 1_038_001, PRODUCTION)?;
    let body =
        export_body("('ArtifactId' IN SAVEDSEARCH 1038001) AND ('Production::Image Count' > 0)");
    let response = fixture
        .post(&object_path(SOURCE, "initializeexport"))
        .json(&body)
        .send()
        .await?;
    let run: ExportInitResult = response.error_for_status()?.json().await?;
    assert_eq!(run.record_count, 5);
    Ok(())
}

#[tokio::test]
async fn export_without_grant_is_403() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.grant(USER.0, Grant::Workspace(SOURCE))?;
    let body = export_body(&production_condition(PRODUCTION));
    let response = fixture
        .request_as(
            reqwest::Method::POST,
            &object_path(SOURCE, "initializeexport"),
            USER,
        )
        .json(&body)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    Ok(())
}

// ---------------------------------------------------------------------------
// Produced images
// ---------------------------------------------------------------------------

#[tokio::test]
async fn produced_images_list_pages_of_documents() -> Result<()> {
    let fixture = Fixture::start().await?;
    let run = start_export(&fixture).await?;
    let rows = block_rows(&fixture, &run.run_id, 2, 0).await?;
    let documents: Vec<i64> = rows.iter().rev().map(|row| row.artifact_id).collect();
    let body = json!({
        "workspaceArtifactID": SOURCE,
        "productionArtifactIDs": [PRODUCTION],
        "documentArtifactIDs": documents,
    });

    let images: Vec<ProducedImage> = fixture
        .post(PRODUCED_IMAGES)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let expected_pages: i64 = rows
        .iter()
        .map(|row| row.values[3].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(images.len() as i64, expected_pages);
    assert_eq!(images[0].document_artifact_id, documents[0]);
    assert_eq!(images[0].page_number, 1);

    let share = fixture.emulator.file_share();
    for image in &images {
        assert!(
            image.location.starts_with(r"\\emulator\fileshare\"),
            "{}",
            image.location
        );
        assert!(
            image.location.ends_with(&image.filename),
            "{}",
            image.location
        );
        let local = share.to_local(&image.location)?;
        assert_eq!(std::fs::metadata(&local)?.len() as i64, image.size);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Import Service
// ---------------------------------------------------------------------------

type Envelope = ImportResponse<Value>;

async fn import_call(request: RequestBuilder) -> Result<Envelope> {
    let response = request.send().await?;
    if response.status() != StatusCode::OK {
        bail!(
            "import call answered {}: {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(response.json().await?)
}

async fn import_post(fixture: &Fixture, path: &str, body: Option<Value>) -> Result<Envelope> {
    let request = fixture.post(path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    import_call(request).await
}

async fn import_get(fixture: &Fixture, path: &str) -> Result<Envelope> {
    import_call(fixture.get(path)).await
}

fn value<T: serde::de::DeserializeOwned>(envelope: Envelope) -> Result<T> {
    let value = envelope.value.context("the envelope has no Value")?;
    Ok(serde_json::from_value(value)?)
}

fn configuration(production: i64) -> Value {
    json!({"importSettings": {
        "Overlay": null,
        "Image": {"PageNumbering": 1, "ProductionID": production, "LoadExtractedText": false, "FileType": 0},
        "Fields": null,
        "Folder": null
    }})
}

fn source_body(unc_path: &str) -> Value {
    json!({"dataSourceSettings": {"Path": unc_path, "Type": 1, "EndOfLine": 0, "StartLine": 0}})
}

/// Image bytes by page key, in Opticon order.
type BatchImages = Vec<(String, Vec<u8>)>;

/// Writes a batch folder on the file share with one TIFF per key and an
/// Opticon file that makes each group of keys a document. Returns the
/// Opticon file's UNC path and the image bytes by key.
fn write_batch(
    fixture: &Fixture,
    name: &str,
    documents: &[&[&str]],
) -> Result<(String, BatchImages)> {
    let share = fixture.emulator.file_share();
    let folder = share.local_root.join("prodsync").join(name);
    std::fs::create_dir_all(folder.join("IMAGES"))?;

    let mut opticon = String::new();
    let mut images = Vec::new();
    for keys in documents {
        for (index, key) in keys.iter().enumerate() {
            let bytes = format!("image of {key}").into_bytes();
            std::fs::write(folder.join("IMAGES").join(format!("{key}.tif")), &bytes)?;
            let first = index == 0;
            let count = if first {
                keys.len().to_string()
            } else {
                String::new()
            };
            opticon.push_str(&format!(
                "{key},VOL01,.\\IMAGES\\{key}.tif,{},,,{count}\r\n",
                if first { "Y" } else { "" }
            ));
            images.push((key.to_string(), bytes));
        }
    }
    let opticon_path = folder.join("batch.opt");
    std::fs::write(&opticon_path, opticon)?;
    Ok((share.to_unc(&opticon_path)?, images))
}

/// Creates and configures a job into the target production.
async fn configured_job(fixture: &Fixture, job: &str) -> Result<String> {
    let base = job_path(DESTINATION, job);
    let create = json!({"applicationName": "prodsync", "correlationID": "run-1"});
    assert!(import_post(fixture, &base, Some(create)).await?.is_success);
    let configured = import_post(
        fixture,
        &format!("{base}/documents-configurations"),
        Some(configuration(TARGET)),
    )
    .await?;
    assert!(configured.is_success, "{}", configured.error_message);
    Ok(base)
}

async fn wait_finished(fixture: &Fixture, base: &str) -> Result<JobDetails> {
    for _ in 0..1_200 {
        let details: JobDetails = value(import_get(fixture, &format!("{base}/details")).await?)?;
        if details.is_finished {
            return Ok(details);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("import job {base} did not finish")
}

#[tokio::test]
async fn import_job_fills_production() -> Result<()> {
    let fixture = Fixture::start().await?;
    let base = configured_job(&fixture, "0b0e7d3c-0000-4000-8000-000000000001").await?;
    let (opticon, images) = write_batch(&fixture, "batch1", &[&["T0001", "T0002"], &["T0003"]])?;

    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/5a0c0000-0000-4000-8000-000000000001"),
            Some(source_body(&opticon))
        )
        .await?
        .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/begin"), None)
            .await?
            .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/end"), None)
            .await?
            .is_success
    );
    let details = wait_finished(&fixture, &base).await?;
    assert_eq!(details.state, "Completed");

    let progress: JobProgress = value(import_get(&fixture, &format!("{base}/progress")).await?)?;
    assert_eq!(
        progress,
        JobProgress {
            records_in_data_sources: 3,
            imported_records: 3,
            error_records: 0
        }
    );

    let production: Production = fixture
        .get(&production_path(DESTINATION, TARGET))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(production.metadata.status, "Produced");
    assert!(production.metadata.imported);
    assert_eq!(production.metadata.total_images_count, 3);

    let pages = fixture.emulator.list_production(DESTINATION, TARGET)?;
    let stored: Vec<_> = pages
        .iter()
        .map(|page| {
            (
                page.bates.clone(),
                page.control_number.clone(),
                page.page_number,
                page.sha256.clone(),
            )
        })
        .collect();
    let expected: Vec<_> = images
        .iter()
        .zip([("T0001", 1), ("T0001", 2), ("T0003", 1)])
        .map(|((key, bytes), (control, page))| {
            (key.clone(), control.to_string(), page, sha256_hex(bytes))
        })
        .collect();
    assert_eq!(stored, expected);
    Ok(())
}

#[tokio::test]
async fn import_duplicate_bates_is_item_error() -> Result<()> {
    let fixture = Fixture::start().await?;
    let base = configured_job(&fixture, "0b0e7d3c-0000-4000-8000-000000000002").await?;
    let (first, _) = write_batch(&fixture, "batch1", &[&["D0001"]])?;
    let (second, _) = write_batch(&fixture, "batch2", &[&["D0002"], &["D0001"]])?;

    assert!(
        import_post(&fixture, &format!("{base}/begin"), None)
            .await?
            .is_success
    );
    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/s1"),
            Some(source_body(&first))
        )
        .await?
        .is_success
    );
    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/s2"),
            Some(source_body(&second))
        )
        .await?
        .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/end"), None)
            .await?
            .is_success
    );
    wait_finished(&fixture, &base).await?;

    let details: Value = value(import_get(&fixture, &format!("{base}/sources/s2/details")).await?)?;
    assert_eq!(details["State"], "CompletedWithItemErrors");
    let errors: ItemErrors = value(
        import_get(
            &fixture,
            &format!("{base}/sources/s2/itemerrors?start=0&length=10"),
        )
        .await?,
    )?;
    assert_eq!(errors.total_count, 1);
    assert_eq!(errors.errors[0].line_number, 2);
    let progress: JobProgress = value(import_get(&fixture, &format!("{base}/progress")).await?)?;
    assert_eq!(
        progress,
        JobProgress {
            records_in_data_sources: 3,
            imported_records: 2,
            error_records: 1
        }
    );
    Ok(())
}

#[tokio::test]
async fn import_missing_image_is_item_error() -> Result<()> {
    let fixture = Fixture::start().await?;
    let base = configured_job(&fixture, "0b0e7d3c-0000-4000-8000-000000000003").await?;
    let (opticon, _) = write_batch(&fixture, "batch1", &[&["M0001", "M0002"]])?;
    let local = fixture.emulator.file_share().to_local(&opticon)?;
    std::fs::remove_file(
        local
            .parent()
            .context("batch folder")?
            .join("IMAGES")
            .join("M0002.tif"),
    )?;

    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/s1"),
            Some(source_body(&opticon))
        )
        .await?
        .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/begin"), None)
            .await?
            .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/end"), None)
            .await?
            .is_success
    );
    wait_finished(&fixture, &base).await?;

    let details: Value = value(import_get(&fixture, &format!("{base}/sources/s1/details")).await?)?;
    assert_eq!(details["State"], "CompletedWithItemErrors");
    let pages = fixture.emulator.list_production(DESTINATION, TARGET)?;
    assert_eq!(
        pages
            .iter()
            .map(|page| page.bates.as_str())
            .collect::<Vec<_>>(),
        vec!["M0001"]
    );
    Ok(())
}

#[tokio::test]
async fn import_unreadable_opticon_fails_job() -> Result<()> {
    let fixture = Fixture::start().await?;
    let base = configured_job(&fixture, "0b0e7d3c-0000-4000-8000-000000000004").await?;
    let missing = r"\\emulator\fileshare\prodsync\nothing\batch.opt";
    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/s1"),
            Some(source_body(missing))
        )
        .await?
        .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/begin"), None)
            .await?
            .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/end"), None)
            .await?
            .is_success
    );

    assert_eq!(wait_finished(&fixture, &base).await?.state, "Failed");
    let details: Value = value(import_get(&fixture, &format!("{base}/sources/s1/details")).await?)?;
    assert_eq!(details["State"], "Failed");
    Ok(())
}

#[tokio::test]
async fn import_error_codes() -> Result<()> {
    let fixture = Fixture::start().await?;
    let base = job_path(DESTINATION, "job-a");
    let create = json!({"applicationName": "prodsync", "correlationID": "c"});

    let missing = import_get(
        &fixture,
        &format!("{}/details", job_path(DESTINATION, "nothing")),
    )
    .await?;
    assert_eq!(
        (missing.is_success, missing.error_code.as_str()),
        (false, "J.RUN.NOT.1401")
    );
    assert!(
        import_post(&fixture, &base, Some(create.clone()))
            .await?
            .is_success
    );
    let again = import_post(&fixture, &base, Some(create)).await?;
    assert_eq!(again.error_code, "J.CR.VLD.1501");
    let begin = import_post(&fixture, &format!("{base}/begin"), None).await?;
    assert_eq!(begin.error_code, "J.BEG.VLD.1601");
    let configure = import_post(
        &fixture,
        &format!("{base}/documents-configurations"),
        Some(configuration(999)),
    )
    .await?;
    assert_eq!(configure.error_code, "C.CR.VLD.2001");
    let source = import_get(&fixture, &format!("{base}/sources/none/details")).await?;
    assert_eq!(source.error_code, "S.RUN.NOT.3401");
    Ok(())
}

#[tokio::test]
async fn import_source_twice_is_rejected() -> Result<()> {
    let fixture = Fixture::start().await?;
    let base = configured_job(&fixture, "job-b").await?;
    let (opticon, _) = write_batch(&fixture, "batch1", &[&["R0001"]])?;
    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/s1"),
            Some(source_body(&opticon))
        )
        .await?
        .is_success
    );
    let again = import_post(
        &fixture,
        &format!("{base}/sources/s1"),
        Some(source_body(&opticon)),
    )
    .await?;
    assert_eq!(again.error_code, "S.CR.VLD.3001");
    Ok(())
}

#[tokio::test]
async fn import_into_produced_set_is_rejected() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .set_production_status(DESTINATION, TARGET, "Produced")?;
    let base = job_path(DESTINATION, "job-c");
    let create = json!({"applicationName": "prodsync", "correlationID": "c"});
    assert!(import_post(&fixture, &base, Some(create)).await?.is_success);
    let configure = import_post(
        &fixture,
        &format!("{base}/documents-configurations"),
        Some(configuration(TARGET)),
    )
    .await?;
    assert_eq!(configure.error_code, "C.CR.VLD.2001");
    Ok(())
}

#[tokio::test]
async fn import_without_permission_is_403() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .grant(USER.0, Grant::Workspace(DESTINATION))?;
    let create = json!({"applicationName": "prodsync", "correlationID": "c"});
    let response = fixture
        .request_as(reqwest::Method::POST, &job_path(DESTINATION, "job-d"), USER)
        .json(&create)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    Ok(())
}

// ---------------------------------------------------------------------------
// Restart
// ---------------------------------------------------------------------------

#[tokio::test]
async fn restart_keeps_runs_and_jobs() -> Result<()> {
    let fixture = Fixture::start().await?;
    let run = start_export(&fixture).await?;
    let base = configured_job(&fixture, "job-restart").await?;
    let (opticon, _) = write_batch(&fixture, "batch1", &[&["Z0001"]])?;
    assert!(
        import_post(
            &fixture,
            &format!("{base}/sources/s1"),
            Some(source_body(&opticon))
        )
        .await?
        .is_success
    );

    let Fixture { dir, running, .. } = fixture;
    running.shutdown().await;
    let emulator = Emulator::open(dir.path())?;
    let running = emulator.serve("127.0.0.1:0".parse()?).await?;
    let fixture = Fixture {
        dir,
        emulator,
        running,
        http: reqwest::Client::new(),
    };

    assert_eq!(block_rows(&fixture, &run.run_id, 1_000, 0).await?.len(), 5);
    assert!(
        import_post(&fixture, &format!("{base}/begin"), None)
            .await?
            .is_success
    );
    assert!(
        import_post(&fixture, &format!("{base}/end"), None)
            .await?
            .is_success
    );
    assert_eq!(wait_finished(&fixture, &base).await?.state, "Completed");
    assert_eq!(
        fixture.emulator.list_production(DESTINATION, TARGET)?.len(),
        1
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Seeding from the shared sample volume
// ---------------------------------------------------------------------------

fn sample_volume() -> Option<PathBuf> {
    match std::env::var_os("PRODSYNC_SAMPLES") {
        Some(root) => Some(
            PathBuf::from(root)
                .join("relativity-import-samples")
                .join("SampleDataSources"),
        ),
        None => {
            println!("skipped: set PRODSYNC_SAMPLES to the shared samples folder to run this test");
            None
        }
    }
}

fn seed_sample(
    volume: &Path,
    opticon: &str,
) -> Result<(TempDir, Vec<prodsync::emulator::ProducedPage>)> {
    let dir = tempfile::tempdir()?;
    let emulator = Emulator::open(dir.path())?;
    emulator.add_workspace(SOURCE, "Source")?;
    let summary = emulator.seed_opticon(SOURCE, PRODUCTION, &volume.join(opticon), None)?;
    assert_eq!((summary.documents, summary.pages), (1, 5));
    let pages = emulator.list_production(SOURCE, PRODUCTION)?;
    Ok((dir, pages))
}

fn sample_image_hash(volume: &Path, name: &str) -> Result<String> {
    let path = volume
        .join("VOL01")
        .join("IMAGES")
        .join("IMG001")
        .join(name);
    Ok(sha256_hex(&std::fs::read(&path).with_context(|| {
        format!("cannot read {}", path.display())
    })?))
}

#[test]
fn seed_opticon_01_keeps_keys_and_bytes() -> Result<()> {
    let Some(volume) = sample_volume() else {
        return Ok(());
    };
    let (_dir, pages) = seed_sample(&volume, "Opticon_01.opt")?;
    let suffixes = ["_0001_REV", "_0002_REV", "_0003_REV", "_0004_REV", "_REV"];

    for (page, suffix) in pages.iter().zip(suffixes) {
        assert_eq!(page.bates, format!("SYM-00011001{suffix}"));
        assert_eq!(page.control_number, "SYM-00011001_REV");
        assert_eq!(
            page.sha256,
            sample_image_hash(&volume, &format!("SYM-00011001{suffix}.tif"))?
        );
    }
    assert_eq!(pages.len(), 5);
    Ok(())
}

#[test]
fn seed_opticon_02_uses_keys_not_file_names() -> Result<()> {
    let Some(volume) = sample_volume() else {
        return Ok(());
    };
    let (_dir, pages) = seed_sample(&volume, "opticon_02.opt")?;
    let suffixes = ["_0001_REV", "_0002_REV", "_0003_REV", "_0004_REV", "_REV"];

    for (page, suffix) in pages.iter().zip(suffixes) {
        assert_eq!(page.bates, format!("PROD-00011001{suffix}"));
        assert_eq!(
            page.sha256,
            sample_image_hash(&volume, &format!("SYM-00011001{suffix}.tif"))?
        );
    }
    assert_eq!(pages.len(), 5);
    Ok(())
}

#[test]
fn seed_demo_300_documents() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let emulator = Emulator::open(dir.path())?;
    emulator.add_workspace(SOURCE, "Source")?;
    let summary = emulator.seed_demo(SOURCE, PRODUCTION, &DemoSpec::default())?;
    assert_eq!(summary.documents, 300);
    assert_eq!(summary.first_bates, "DEMO0000001");
    assert_eq!(summary.last_bates, format!("DEMO{:07}", summary.pages));
    assert_eq!(
        emulator.list_production(SOURCE, PRODUCTION)?.len() as u64,
        summary.pages
    );
    Ok(())
}

#[test]
fn seed_demo_twice_is_rejected() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let emulator = Emulator::open(dir.path())?;
    emulator.add_workspace(SOURCE, "Source")?;
    emulator.seed_demo(SOURCE, PRODUCTION, &tiny_pages(2))?;
    let error = emulator
        .seed_demo(SOURCE, PRODUCTION, &tiny_pages(2))
        .unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
    Ok(())
}
