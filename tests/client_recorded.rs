//! Relativity client against recorded responses.
//!
//! Each test starts a mock server on 127.0.0.1:0 that returns canned JSON in
//! the shapes of `docs/relativity-api.md` and records every request, then
//! checks what the client sent and how it parsed the response.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use uuid::Uuid;

use prodsync::relativity::wire::{self, QueryRequest};
use prodsync::relativity::{ClientConfig, ClientError, Credentials, RelativityClient};

const WORKSPACE: i64 = 1017001;
const PRODUCTION: i64 = 1040001;
const USERNAME: &str = "svc@example.com";
const PASSWORD: &str = "pw-1";
const REST: &str = "/Relativity.REST/api";

// ---------------------------------------------------------------------------
// Mock server
// ---------------------------------------------------------------------------

/// A canned response.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

impl Reply {
    fn json(body: Value) -> Self {
        Reply::status(200, body)
    }

    fn status(status: u16, body: Value) -> Self {
        Reply::raw(status, &body.to_string())
    }

    fn raw(status: u16, body: &str) -> Self {
        Reply {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    fn kepler(status: u16, message: &str) -> Self {
        Reply::status(status, json!({"Message": message, "ErrorType": "Service"}))
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    /// Path and query, still percent-encoded.
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).context("request body is not JSON")
    }
}

#[derive(Default)]
struct MockState {
    /// Replies per (method, path); each is used once, except the last,
    /// which repeats.
    routes: HashMap<(Method, String), VecDeque<Reply>>,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
struct Mock {
    addr: SocketAddr,
    state: Arc<Mutex<MockState>>,
}

impl Mock {
    async fn start() -> Result<Mock> {
        let state = Arc::new(Mutex::new(MockState::default()));
        let app = axum::Router::new()
            .fallback(respond)
            .with_state(state.clone());

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Mock { addr, state })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the replies to `method path` (path without query), in order.
    fn on(&self, method: Method, path: &str, replies: Vec<Reply>) {
        let mut state = self.state.lock().unwrap();
        state
            .routes
            .insert((method, path.to_string()), replies.into());
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn requests_to(&self, path: &str) -> Vec<Recorded> {
        let requests = self.requests();
        requests
            .into_iter()
            .filter(|request| request.target.split('?').next() == Some(path))
            .collect()
    }

    fn client(&self, credentials: Credentials) -> Result<RelativityClient> {
        let config = ClientConfig::new(self.url(), credentials);
        Ok(RelativityClient::new(config)?)
    }

    fn basic_client(&self) -> Result<RelativityClient> {
        self.client(basic())
    }
}

async fn respond(
    State(state): State<Arc<Mutex<MockState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = next_reply(&state, &method, &uri, headers, body);
    tokio::time::sleep(reply.delay).await;

    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        response_headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

fn next_reply(
    state: &Mutex<MockState>,
    method: &Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = state.lock().unwrap();
    let target = uri
        .path_and_query()
        .map(|target| target.to_string())
        .unwrap_or_default();
    state.requests.push(Recorded {
        method: method.clone(),
        target,
        headers,
        body,
    });

    let key = (method.clone(), uri.path().to_string());
    let Some(queue) = state.routes.get_mut(&key) else {
        return Reply::kepler(
            404,
            &format!("no recorded response for {method} {}", uri.path()),
        );
    };
    if queue.len() > 1 {
        queue.pop_front().unwrap()
    } else {
        queue.front().cloned().unwrap()
    }
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn basic() -> Credentials {
    Credentials::Basic {
        username: USERNAME.to_string(),
        password: PASSWORD.to_string(),
    }
}

fn client_credentials() -> Credentials {
    Credentials::ClientCredentials {
        client_id: "prodsync-client".to_string(),
        client_secret: "cs-1".to_string(),
        token_url: None,
    }
}

fn expected_basic_header() -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    format!("Basic {encoded}")
}

fn production_path() -> String {
    format!("{REST}/relativity-productions/v1/workspaces/{WORKSPACE}/productions/{PRODUCTION}")
}

fn export_path(operation: &str) -> String {
    format!("{REST}/Relativity.ObjectManager/v1/workspace/{WORKSPACE}/object/{operation}")
}

fn job_path(job: Uuid) -> String {
    format!("{REST}/import-service/v1/workspaces/{WORKSPACE}/import-jobs/{job}")
}

fn production_json() -> Value {
    json!({
        "ArtifactID": PRODUCTION,
        "Name": "Smith v. Jones, Vol. 1",
        "Details": {"FirstBatesValue": "SJ0000001", "LastBatesValue": "SJ0000012"},
        "Numbering": {
            "NumberingType": "PageLevel",
            "BatesPrefix": "SJ",
            "BatesSuffix": "",
            "BatesStartNumber": 1,
            "NumberOfDigitsForDocumentNumbering": 7
        },
        "DataSources": [{"ArtifactID": 1040002, "Name": "Responsive", "ProductionType": "ImagesOnly"}],
        "ProductionMetadata": {
            "Status": "Produced",
            "Imported": false,
            "LastRunError": "",
            "TotalImagesCount": 12
        }
    })
}

fn rows(first: i64, count: i64) -> Value {
    let rows: Vec<Value> = (first..first + count)
        .map(|id| json!({"ArtifactID": id, "Values": [format!("DOC{id}")]}))
        .collect();
    Value::Array(rows)
}

fn envelope(job: Uuid, value: Value) -> Value {
    json!({
        "IsSuccess": true,
        "ErrorMessage": "",
        "ErrorCode": "",
        "ImportJobID": job.to_string(),
        "Value": value
    })
}

fn query() -> QueryRequest {
    QueryRequest {
        object_type: wire::ObjectTypeRef {
            artifact_type_id: wire::DOCUMENT_ARTIFACT_TYPE,
        },
        condition: format!(
            "'Production' SUBQUERY ('Production::ProductionSet' == OBJECT {PRODUCTION}) AND 'Production::Image Count' > 0"
        ),
        fields: vec![wire::FieldRef {
            name: "Control Number".to_string(),
        }],
    }
}

fn kind(error: &ClientError) -> &'static str {
    match error {
        ClientError::NotFound { .. } => "NotFound",
        ClientError::Forbidden { .. } => "Forbidden",
        ClientError::Unauthorized { .. } => "Unauthorized",
        ClientError::InvalidRequest { .. } => "InvalidRequest",
        ClientError::Transient { .. } => "Transient",
        ClientError::Protocol { .. } => "Protocol",
        ClientError::Rejected { .. } => "Rejected",
    }
}

/// Form fields of a URL-encoded body whose values need no decoding.
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// Transport and Production Manager
// ---------------------------------------------------------------------------

#[tokio::test]
async fn read_production_request() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::json(production_json())],
    );

    mock.basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await?;

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::GET);
    assert_eq!(
        request.target,
        format!("{}?dataSourceReadMode=0", production_path())
    );
    assert_eq!(request.header("x-csrf-header"), Some("-"));
    assert_eq!(
        request.header("authorization"),
        Some(expected_basic_header().as_str())
    );
    Ok(())
}

#[tokio::test]
async fn read_production_parses_response() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::json(production_json())],
    );

    let production = mock
        .basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await?;

    let expected: wire::Production = serde_json::from_value(production_json())?;
    assert_eq!(production, expected);
    assert_eq!(production.metadata.status, "Produced");
    assert_eq!(production.numbering.bates_prefix, "SJ");
    assert_eq!(
        production.details.first_bates_value.as_deref(),
        Some("SJ0000001")
    );
    Ok(())
}

#[tokio::test]
async fn fixed_bearer_sends_token() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::json(production_json())],
    );
    let client = mock.client(Credentials::Bearer {
        token: "fixed-token".to_string(),
    })?;

    client.read_production(WORKSPACE, PRODUCTION).await?;

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer fixed-token")
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Bearer tokens of the client-credentials flow
// ---------------------------------------------------------------------------

fn token_reply(token: &str) -> Reply {
    Reply::json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
}

#[tokio::test]
async fn bearer_token_fetched_once() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(Method::POST, wire::TOKEN_PATH, vec![token_reply("t1")]);
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::json(production_json())],
    );
    let client = mock.client(client_credentials())?;

    client.read_production(WORKSPACE, PRODUCTION).await?;
    client
        .clone()
        .read_production(WORKSPACE, PRODUCTION)
        .await?;

    let tokens = mock.requests_to(wire::TOKEN_PATH);
    assert_eq!(tokens.len(), 1);
    let rest = mock.requests_to(&production_path());
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].header("authorization"), Some("Bearer t1"));
    assert_eq!(rest[1].header("authorization"), Some("Bearer t1"));
    Ok(())
}

#[tokio::test]
async fn bearer_token_request_form() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(Method::POST, wire::TOKEN_PATH, vec![token_reply("t1")]);
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::json(production_json())],
    );

    mock.client(client_credentials())?
        .read_production(WORKSPACE, PRODUCTION)
        .await?;

    let tokens = mock.requests_to(wire::TOKEN_PATH);
    let fields = form_fields(&tokens[0].body);
    let expected: HashMap<String, String> = [
        ("grant_type", "client_credentials"),
        ("client_id", "prodsync-client"),
        ("client_secret", "cs-1"),
        ("scope", "SystemUserInfo"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    assert_eq!(fields, expected);
    assert_eq!(
        tokens[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    Ok(())
}

#[tokio::test]
async fn bearer_refreshed_once_after_401() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::POST,
        wire::TOKEN_PATH,
        vec![token_reply("t1"), token_reply("t2")],
    );
    let replies = vec![
        Reply::kepler(401, "Authentication failed."),
        Reply::json(production_json()),
    ];
    mock.on(Method::GET, &production_path(), replies);

    mock.client(client_credentials())?
        .read_production(WORKSPACE, PRODUCTION)
        .await?;

    assert_eq!(mock.requests_to(wire::TOKEN_PATH).len(), 2);
    let rest = mock.requests_to(&production_path());
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].header("authorization"), Some("Bearer t1"));
    assert_eq!(rest[1].header("authorization"), Some("Bearer t2"));
    Ok(())
}

#[tokio::test]
async fn bearer_second_401_is_unauthorized() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::POST,
        wire::TOKEN_PATH,
        vec![token_reply("t1"), token_reply("t2")],
    );
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::kepler(401, "Authentication failed.")],
    );

    let result = mock
        .client(client_credentials())?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("a second 401 must fail");
    assert_eq!(kind(&error), "Unauthorized");
    assert_eq!(mock.requests_to(wire::TOKEN_PATH).len(), 2);
    assert_eq!(mock.requests_to(&production_path()).len(), 2);
    Ok(())
}

#[tokio::test]
async fn basic_401_not_retried() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::kepler(401, "Authentication failed.")],
    );

    let result = mock
        .basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("401 must fail");
    assert_eq!(kind(&error), "Unauthorized");
    assert_eq!(mock.requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn token_invalid_client_is_unauthorized() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::POST,
        wire::TOKEN_PATH,
        vec![Reply::status(400, json!({"error": "invalid_client"}))],
    );

    let result = mock
        .client(client_credentials())?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("a rejected client must fail");
    assert_eq!(kind(&error), "Unauthorized");
    assert_eq!(error.endpoint().path, wire::TOKEN_PATH);
    assert!(error.to_string().contains("invalid_client"), "{error}");
    assert!(mock.requests_to(&production_path()).is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------
// Permission Manager
// ---------------------------------------------------------------------------

fn selected(values: &[bool]) -> Reply {
    let values: Vec<Value> = values
        .iter()
        .map(|selected| json!({"Selected": selected}))
        .collect();
    Reply::json(Value::Array(values))
}

#[tokio::test]
async fn list_permissions_workspace_request() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!("{REST}/Relativity-Identity/v1/workspaces/{WORKSPACE}/list-permissions");
    mock.on(Method::POST, &path, vec![selected(&[true])]);
    let refs = vec![wire::PermissionRef {
        permission_id: Some(158),
        ..Default::default()
    }];

    let values = mock
        .basic_client()?
        .list_permissions(WORKSPACE, None, refs)
        .await?;

    assert_eq!(values.len(), 1);
    assert!(values[0].selected);
    let request = &mock.requests_to(&path)[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.header("x-csrf-header"), Some("-"));
    assert_eq!(
        request.json()?,
        json!({"permissions": [{"PermissionID": 158}]})
    );
    Ok(())
}

#[tokio::test]
async fn can_access_workspace_request() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!(
        "{REST}/Relativity-Identity/v1/workspaces/-1/artifacts/{WORKSPACE}/list-permissions"
    );
    mock.on(Method::POST, &path, vec![selected(&[true])]);

    let allowed = mock.basic_client()?.can_access_workspace(WORKSPACE).await?;

    assert!(allowed);
    let body = mock.requests_to(&path)[0].json()?;
    let expected =
        json!({"permissions": [{"ArtifactType": {"ID": 8}, "PermissionType": {"ID": 1}}]});
    assert_eq!(body, expected);
    Ok(())
}

#[tokio::test]
async fn can_import_and_export_requests() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!("{REST}/Relativity-Identity/v1/workspaces/{WORKSPACE}/list-permissions");
    mock.on(Method::POST, &path, vec![selected(&[true])]);
    let client = mock.basic_client()?;

    assert!(client.can_import(WORKSPACE).await?);
    assert!(client.can_export(WORKSPACE).await?);

    let requests = mock.requests_to(&path);
    assert_eq!(
        requests[0].json()?,
        json!({"permissions": [{"PermissionID": 158}]})
    );
    assert_eq!(
        requests[1].json()?,
        json!({"permissions": [{"PermissionID": 159}]})
    );
    Ok(())
}

#[tokio::test]
async fn can_add_production_data_source_request() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!("{REST}/Relativity-Identity/v1/workspaces/{WORKSPACE}/artifacts/{PRODUCTION}/list-permissions");
    mock.on(Method::POST, &path, vec![selected(&[true])]);

    let allowed = mock
        .basic_client()?
        .can_add_production_data_source(WORKSPACE, PRODUCTION)
        .await?;

    assert!(allowed);
    let expected = json!({"permissions": [{
        "ArtifactType": {"Guids": ["7528C416-3706-4909-8805-EDDDCF75542D"]},
        "PermissionType": {"ID": 6}
    }]});
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn permission_unselected_is_false() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!("{REST}/Relativity-Identity/v1/workspaces/{WORKSPACE}/list-permissions");
    mock.on(Method::POST, &path, vec![selected(&[false])]);

    let allowed = mock.basic_client()?.can_import(WORKSPACE).await?;

    assert!(!allowed);
    Ok(())
}

#[tokio::test]
async fn permission_empty_response_is_false() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!("{REST}/Relativity-Identity/v1/workspaces/{WORKSPACE}/list-permissions");
    mock.on(Method::POST, &path, vec![selected(&[])]);

    let allowed = mock.basic_client()?.can_export(WORKSPACE).await?;

    assert!(!allowed);
    Ok(())
}

// ---------------------------------------------------------------------------
// Object Manager export
// ---------------------------------------------------------------------------

#[tokio::test]
async fn initialize_export_request_and_response() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("initializeexport");
    let response = json!({
        "RunID": "5b3c3d0e-4f9e-4c2a-9d1f-2f0d3c8b7a61",
        "RecordCount": 3,
        "FieldData": [{"Name": "Control Number", "FieldType": "FixedLengthText"}]
    });
    mock.on(Method::POST, &path, vec![Reply::json(response)]);

    let result = mock
        .basic_client()?
        .initialize_export(WORKSPACE, query(), 0)
        .await?;

    assert_eq!(result.run_id, "5b3c3d0e-4f9e-4c2a-9d1f-2f0d3c8b7a61");
    assert_eq!(result.record_count, 3);
    assert_eq!(result.field_data[0].name, "Control Number");
    let expected = json!({
        "queryRequest": {
            "ObjectType": {"ArtifactTypeID": 10},
            "Condition": query().condition,
            "Fields": [{"Name": "Control Number"}]
        },
        "start": 0
    });
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn retrieve_block_sends_one_call() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("retrieveresultsblockfromexport");
    mock.on(Method::POST, &path, vec![Reply::json(rows(10, 2))]);

    let block = mock
        .basic_client()?
        .retrieve_block(WORKSPACE, "run-1", 10, 5)
        .await?;

    assert_eq!(block.len(), 2);
    assert_eq!(block[0].artifact_id, 10);
    assert_eq!(block[0].values, vec![json!("DOC10")]);
    let requests = mock.requests_to(&path);
    assert_eq!(requests.len(), 1);
    let expected = json!({"runID": "run-1", "resultsBlockSize": 5, "exportIndexID": 10});
    assert_eq!(requests[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn retrieve_block_size_zero_sends_nothing() -> Result<()> {
    let mock = Mock::start().await?;

    let block = mock
        .basic_client()?
        .retrieve_block(WORKSPACE, "run-1", 0, 0)
        .await?;

    assert!(block.is_empty());
    assert!(mock.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn retrieve_rows_pages_short_blocks() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("retrieveresultsblockfromexport");
    let replies = vec![
        Reply::json(rows(100, 2)),
        Reply::json(rows(102, 2)),
        Reply::json(rows(104, 1)),
    ];
    mock.on(Method::POST, &path, replies);

    let rows = mock
        .basic_client()?
        .retrieve_rows(WORKSPACE, "run-1", 0, 5)
        .await?;

    let ids: Vec<i64> = rows.iter().map(|row| row.artifact_id).collect();
    assert_eq!(ids, vec![100, 101, 102, 103, 104]);
    let bodies: Vec<Value> = mock
        .requests_to(&path)
        .iter()
        .map(|request| request.json())
        .collect::<Result<_>>()?;
    let expected = vec![
        json!({"runID": "run-1", "resultsBlockSize": 5, "exportIndexID": 0}),
        json!({"runID": "run-1", "resultsBlockSize": 3, "exportIndexID": 2}),
        json!({"runID": "run-1", "resultsBlockSize": 1, "exportIndexID": 4}),
    ];
    assert_eq!(bodies, expected);
    Ok(())
}

#[tokio::test]
async fn retrieve_rows_stops_at_end() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("retrieveresultsblockfromexport");
    mock.on(
        Method::POST,
        &path,
        vec![Reply::json(rows(100, 2)), Reply::json(json!([]))],
    );

    let rows = mock
        .basic_client()?
        .retrieve_rows(WORKSPACE, "run-1", 7, 10)
        .await?;

    assert_eq!(rows.len(), 2);
    let requests = mock.requests_to(&path);
    assert_eq!(requests.len(), 2);
    let expected = json!({"runID": "run-1", "resultsBlockSize": 8, "exportIndexID": 9});
    assert_eq!(requests[1].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn retrieve_next_block_request() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("retrievenextresultsblockfromexport");
    mock.on(Method::POST, &path, vec![Reply::json(rows(1, 3))]);

    let block = mock
        .basic_client()?
        .retrieve_next_block(WORKSPACE, "run-1", 3)
        .await?;

    assert_eq!(block.len(), 3);
    let expected = json!({"runID": "run-1", "batchSize": 3});
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn delete_export_sends_size_zero() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("retrieveresultsblockfromexport");
    mock.on(Method::POST, &path, vec![Reply::json(json!([]))]);

    mock.basic_client()?
        .delete_export(WORKSPACE, "run-1")
        .await?;

    let expected = json!({"runID": "run-1", "resultsBlockSize": 0, "exportIndexID": 0});
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn delete_export_unknown_run_is_not_found() -> Result<()> {
    let mock = Mock::start().await?;
    let path = export_path("retrieveresultsblockfromexport");
    mock.on(
        Method::POST,
        &path,
        vec![Reply::kepler(404, "Export run run-1 does not exist.")],
    );

    let result = mock.basic_client()?.delete_export(WORKSPACE, "run-1").await;

    let error = result.expect_err("an unknown run must fail");
    assert_eq!(kind(&error), "NotFound");
    Ok(())
}

// ---------------------------------------------------------------------------
// Produced images
// ---------------------------------------------------------------------------

#[tokio::test]
async fn produced_images_request_and_response() -> Result<()> {
    let mock = Mock::start().await?;
    let path = format!(
        "{REST}/Relativity.Services.Search.ISearchModule/Search%20Service/RetrieveImagesByProductionIDsAndDocumentIDsForExport"
    );
    let response = json!([{
        "DocumentArtifactID": 2001,
        "ProductionArtifactID": PRODUCTION,
        "PageNumber": 1,
        "BatesNumber": "SJ0000001",
        "Location": "\\\\files\\share\\Productions\\SJ0000001.tif",
        "Filename": "SJ0000001.tif",
        "Size": 5120
    }]);
    mock.on(Method::POST, &path, vec![Reply::json(response)]);

    let images = mock
        .basic_client()?
        .produced_images(WORKSPACE, PRODUCTION, &[2001, 2002])
        .await?;

    assert_eq!(images.len(), 1);
    assert_eq!(images[0].bates_number, "SJ0000001");
    assert_eq!(
        images[0].location,
        "\\\\files\\share\\Productions\\SJ0000001.tif"
    );
    let expected = json!({
        "workspaceArtifactID": WORKSPACE,
        "productionArtifactIDs": [PRODUCTION],
        "documentArtifactIDs": [2001, 2002]
    });
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

// ---------------------------------------------------------------------------
// Import Service
// ---------------------------------------------------------------------------

fn job_id() -> Uuid {
    Uuid::from_u128(0x0b1c_2d3e_4f50_6172_8394_a5b6_c7d8_e9f0)
}

fn source_id() -> Uuid {
    Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888)
}

#[tokio::test]
async fn create_import_job_request() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    mock.on(
        Method::POST,
        &job_path(job),
        vec![Reply::json(envelope(job, Value::Null))],
    );

    mock.basic_client()?
        .create_import_job(WORKSPACE, job, "prodsync", "run-7")
        .await?;

    let request = &mock.requests_to(&job_path(job))[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.header("x-csrf-header"), Some("-"));
    let expected = json!({"applicationName": "prodsync", "correlationID": "run-7"});
    assert_eq!(request.json()?, expected);
    Ok(())
}

#[tokio::test]
async fn configure_documents_request() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    let path = format!("{}/documents-configurations", job_path(job));
    mock.on(
        Method::POST,
        &path,
        vec![Reply::json(envelope(job, Value::Null))],
    );
    let settings = wire::ImportSettings {
        overlay: None,
        image: Some(wire::ImageSettings {
            page_numbering: 1,
            production_id: Some(PRODUCTION),
            load_extracted_text: false,
            file_type: 0,
            bates_number_field: None,
        }),
        fields: None,
        folder: None,
    };

    mock.basic_client()?
        .configure_documents(WORKSPACE, job, settings)
        .await?;

    let expected = json!({"importSettings": {
        "Overlay": null,
        "Image": {"PageNumbering": 1, "ProductionID": PRODUCTION, "LoadExtractedText": false, "FileType": 0},
        "Fields": null,
        "Folder": null
    }});
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn add_data_source_request() -> Result<()> {
    let mock = Mock::start().await?;
    let (job, source) = (job_id(), source_id());
    let path = format!("{}/sources/{source}", job_path(job));
    mock.on(
        Method::POST,
        &path,
        vec![Reply::json(envelope(job, Value::Null))],
    );
    let settings = wire::DataSourceSettings {
        path: "\\\\files\\share\\prodsync\\batch-0001.opt".to_string(),
        kind: wire::OPTICON_DATA_SOURCE_TYPE,
        end_of_line: 0,
        start_line: 0,
    };

    mock.basic_client()?
        .add_data_source(WORKSPACE, job, source, settings)
        .await?;

    let expected = json!({"dataSourceSettings": {
        "Path": "\\\\files\\share\\prodsync\\batch-0001.opt",
        "Type": 1,
        "EndOfLine": 0,
        "StartLine": 0
    }});
    assert_eq!(mock.requests_to(&path)[0].json()?, expected);
    Ok(())
}

#[tokio::test]
async fn job_commands_post_without_body() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    for command in ["begin", "end", "cancel"] {
        let path = format!("{}/{command}", job_path(job));
        mock.on(
            Method::POST,
            &path,
            vec![Reply::json(envelope(job, Value::Null))],
        );
    }
    let client = mock.basic_client()?;

    client.begin_job(WORKSPACE, job).await?;
    client.end_job(WORKSPACE, job).await?;
    client.cancel_job(WORKSPACE, job).await?;

    let requests = mock.requests();
    let targets: Vec<String> = requests
        .iter()
        .map(|request| request.target.clone())
        .collect();
    let expected: Vec<String> = ["begin", "end", "cancel"]
        .iter()
        .map(|command| format!("{}/{command}", job_path(job)))
        .collect();
    assert_eq!(targets, expected);
    for request in &requests {
        assert_eq!(request.method, Method::POST, "{}", request.target);
        assert!(request.body.is_empty(), "{} has a body", request.target);
    }
    Ok(())
}

#[tokio::test]
async fn job_details_and_progress_responses() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    let details = json!({"IsFinished": false, "State": "InProgress", "ApplicationName": "prodsync", "CorrelationID": "run-7"});
    let progress = json!({"RecordsInDataSources": 12, "ImportedRecords": 10, "ErrorRecords": 2});
    mock.on(
        Method::GET,
        &format!("{}/details", job_path(job)),
        vec![Reply::json(envelope(job, details))],
    );
    mock.on(
        Method::GET,
        &format!("{}/progress", job_path(job)),
        vec![Reply::json(envelope(job, progress))],
    );
    let client = mock.basic_client()?;

    let details = client.job_details(WORKSPACE, job).await?;
    let progress = client.job_progress(WORKSPACE, job).await?;

    assert_eq!(details.state, "InProgress");
    assert!(!details.is_finished);
    assert_eq!(details.correlation_id, "run-7");
    assert_eq!(progress.records_in_data_sources, 12);
    assert_eq!(progress.imported_records, 10);
    assert_eq!(progress.error_records, 2);
    Ok(())
}

#[tokio::test]
async fn data_source_details_response() -> Result<()> {
    let mock = Mock::start().await?;
    let (job, source) = (job_id(), source_id());
    let path = format!("{}/sources/{source}/details", job_path(job));
    let value = json!({"State": "CompletedWithItemErrors"});
    mock.on(Method::GET, &path, vec![Reply::json(envelope(job, value))]);

    let details = mock
        .basic_client()?
        .data_source_details(WORKSPACE, job, source)
        .await?;

    assert_eq!(details.state, "CompletedWithItemErrors");
    assert_eq!(details.settings, None);
    Ok(())
}

#[tokio::test]
async fn item_errors_request_and_response() -> Result<()> {
    let mock = Mock::start().await?;
    let (job, source) = (job_id(), source_id());
    let path = format!("{}/sources/{source}/itemerrors", job_path(job));
    let value = json!({
        "Errors": [{"LineNumber": 3, "ErrorDetails": [{"ErrorCode": "I.IMG.1", "ErrorMessage": "Image file is missing."}]}],
        "TotalCount": 1,
        "NumberOfSkippedRecords": 0,
        "NumberOfRecords": 1,
        "HasMoreRecords": false
    });
    mock.on(Method::GET, &path, vec![Reply::json(envelope(job, value))]);

    let errors = mock
        .basic_client()?
        .item_errors(WORKSPACE, job, source, 0, 50)
        .await?;

    assert_eq!(errors.total_count, 1);
    assert_eq!(errors.errors[0].line_number, 3);
    assert_eq!(
        errors.errors[0].details[0].message,
        "Image file is missing."
    );
    let request = &mock.requests_to(&path)[0];
    assert_eq!(request.target, format!("{path}?start=0&length=50"));
    Ok(())
}

#[tokio::test]
async fn import_failure_is_rejected() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    let response = json!({
        "IsSuccess": false,
        "ErrorMessage": "Import job with this ID already exists.",
        "ErrorCode": "J.CR.VLD.1501",
        "ImportJobID": job.to_string(),
        "Value": null
    });
    mock.on(Method::POST, &job_path(job), vec![Reply::json(response)]);

    let result = mock
        .basic_client()?
        .create_import_job(WORKSPACE, job, "prodsync", "run-7")
        .await;

    let error = result.expect_err("IsSuccess false must fail");
    let ClientError::Rejected { code, message, .. } = &error else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(code, "J.CR.VLD.1501");
    assert_eq!(message, "Import job with this ID already exists.");
    let text = error.to_string();
    assert!(text.contains("Import Service"), "{text}");
    assert!(text.contains("J.CR.VLD.1501"), "{text}");
    Ok(())
}

#[tokio::test]
async fn import_success_without_value_is_protocol() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    let path = format!("{}/details", job_path(job));
    mock.on(
        Method::GET,
        &path,
        vec![Reply::json(envelope(job, Value::Null))],
    );

    let result = mock.basic_client()?.job_details(WORKSPACE, job).await;

    let error = result.expect_err("a missing Value must fail");
    assert_eq!(kind(&error), "Protocol");
    Ok(())
}

// ---------------------------------------------------------------------------
// Error mapping
// ---------------------------------------------------------------------------

#[tokio::test]
async fn error_status_maps_to_kind() -> Result<()> {
    let cases = [
        (404, "Workspace 1017001 does not exist.", "NotFound"),
        (
            403,
            "User does not have permission to view production 1040001.",
            "Forbidden",
        ),
        (401, "Authentication failed.", "Unauthorized"),
        (400, "Condition is not valid: 'x'.", "InvalidRequest"),
        (500, "Unexpected server failure.", "Transient"),
        (503, "Service is unavailable.", "Transient"),
    ];

    for (status, message, expected) in cases {
        let mock = Mock::start().await?;
        mock.on(
            Method::GET,
            &production_path(),
            vec![Reply::kepler(status, message)],
        );

        let result = mock
            .basic_client()?
            .read_production(WORKSPACE, PRODUCTION)
            .await;

        let error = result.expect_err("an error status must fail");
        assert_eq!(kind(&error), expected, "status {status}");
        assert_eq!(error.status(), Some(status), "status {status}");
        assert_eq!(error.message(), message, "status {status}");
    }
    Ok(())
}

#[tokio::test]
async fn error_message_names_service_path_and_message() -> Result<()> {
    let mock = Mock::start().await?;
    let message = "User does not have permission to view production 1040001.";
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::kepler(403, message)],
    );

    let result = mock
        .basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let text = result.expect_err("403 must fail").to_string();
    assert!(text.contains("Production Manager"), "{text}");
    assert!(text.contains(&production_path()), "{text}");
    assert!(text.contains(message), "{text}");
    Ok(())
}

#[tokio::test]
async fn missing_production_500_is_not_found() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::kepler(500, "Production specified is invalid.")],
    );

    let result = mock
        .basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("a missing production must fail");
    assert_eq!(kind(&error), "NotFound");
    assert_eq!(error.status(), Some(500));
    Ok(())
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() -> Result<()> {
    let mock = Mock::start().await?;
    let reply = Reply::kepler(429, "Too many requests.").header("retry-after", "7");
    mock.on(Method::GET, &production_path(), vec![reply]);

    let result = mock
        .basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("429 must fail");
    assert_eq!(kind(&error), "Transient");
    assert!(error.is_transient());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_transient() -> Result<()> {
    // Bind a port and release it, so nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let client = RelativityClient::new(ClientConfig::new(format!("http://{addr}"), basic()))?;

    let result = client.read_production(WORKSPACE, PRODUCTION).await;

    let error = result.expect_err("a closed port must fail");
    assert_eq!(kind(&error), "Transient");
    assert_eq!(error.status(), None);
    assert!(error.to_string().contains("Production Manager"), "{error}");
    Ok(())
}

#[tokio::test]
async fn slow_response_times_out_as_transient() -> Result<()> {
    let mock = Mock::start().await?;
    let reply = Reply::json(production_json()).delayed(Duration::from_secs(2));
    mock.on(Method::GET, &production_path(), vec![reply]);
    let mut config = ClientConfig::new(mock.url(), basic());
    config.timeout = Duration::from_millis(200);

    let result = RelativityClient::new(config)?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("a slow response must time out");
    assert_eq!(kind(&error), "Transient");
    assert!(error.to_string().contains("timed out"), "{error}");
    Ok(())
}

#[tokio::test]
async fn malformed_json_is_protocol() -> Result<()> {
    let mock = Mock::start().await?;
    mock.on(
        Method::GET,
        &production_path(),
        vec![Reply::raw(200, "{\"ArtifactID\": ")],
    );

    let result = mock
        .basic_client()?
        .read_production(WORKSPACE, PRODUCTION)
        .await;

    let error = result.expect_err("malformed JSON must fail");
    assert_eq!(kind(&error), "Protocol");
    assert!(error.to_string().contains(&production_path()), "{error}");
    Ok(())
}

#[tokio::test]
async fn import_error_status_uses_kepler_shape() -> Result<()> {
    let mock = Mock::start().await?;
    let job = job_id();
    let path = format!("{}/progress", job_path(job));
    mock.on(
        Method::GET,
        &path,
        vec![Reply::kepler(404, "Workspace 1017001 does not exist.")],
    );

    let result = mock.basic_client()?.job_progress(WORKSPACE, job).await;

    let error = result.expect_err("404 must fail");
    assert_eq!(kind(&error), "NotFound");
    assert!(error.to_string().contains("Import Service"), "{error}");
    Ok(())
}
