//! Fault injection in the emulator, checked with raw HTTP calls: status
//! faults with count, rate, after and method filters, Retry-After, delays,
//! dropped connections, faults changed while serving, the environment
//! variable, the `emulator fault` CLI, the crash switch of a standalone
//! server, and two servers importing from one data folder.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pretty_assertions::assert_eq;
use prodsync::emulator::{Emulator, FaultRecord, FaultSpec, RunningEmulator, FAULTS_ENV};
use prodsync::relativity::wire::{ImportResponse, JobDetails, JobProgress, KeplerError};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

const ADMIN: (&str, &str) = ("admin", "admin-password");
const DESTINATION: i64 = 1_017_002;
const TARGET: i64 = 1_040_002;
const API: &str = "/Relativity.REST/api";
/// A path that no route serves: 404 unless a fault answers first.
const PROBE: &str = "/fault-probe";
const PRODSYNC: &str = env!("CARGO_BIN_EXE_prodsync");

/// An emulator on 127.0.0.1:0 in a temporary directory, with an admin and
/// an empty destination production set.
struct Fixture {
    dir: TempDir,
    emulator: Emulator,
    running: RunningEmulator,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let emulator = seed(dir.path())?;
        let running = emulator.serve("127.0.0.1:0".parse()?).await?;
        Ok(Fixture {
            dir,
            emulator,
            running,
            http: reqwest::Client::new(),
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::Result<reqwest::Response> {
        send(&self.http, &self.running.base_url(), method, path).await
    }

    async fn status(&self, method: reqwest::Method, path: &str) -> Result<StatusCode> {
        Ok(self.send(method, path).await?.status())
    }

    async fn probe(&self) -> Result<StatusCode> {
        self.status(reqwest::Method::GET, PROBE).await
    }

    fn fault(&self, id: i64) -> Result<FaultRecord> {
        self.emulator
            .faults()?
            .into_iter()
            .find(|fault| fault.id == id)
            .with_context(|| format!("fault {id} is not listed"))
    }
}

fn seed(dir: &Path) -> Result<Emulator> {
    let emulator = Emulator::open(dir)?;
    emulator.add_user(ADMIN.0, ADMIN.1, true)?;
    emulator.add_workspace(DESTINATION, "Destination")?;
    emulator.create_production_set(DESTINATION, TARGET, "Target")?;
    Ok(emulator)
}

async fn send(
    http: &reqwest::Client,
    base_url: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::Result<reqwest::Response> {
    http.request(method, format!("{base_url}{API}{path}"))
        .header("X-CSRF-Header", "-")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
}

fn status_fault(path: &str, status: u16) -> FaultSpec {
    FaultSpec {
        path: path.into(),
        status: Some(status),
        ..FaultSpec::default()
    }
}

// ---------------------------------------------------------------------------
// Status faults
// ---------------------------------------------------------------------------

#[tokio::test]
async fn count_fails_first_requests_then_passes() -> Result<()> {
    let fixture = Fixture::start().await?;
    let id = fixture.emulator.add_fault(FaultSpec {
        count: Some(2),
        message: Some("Service unavailable for the test.".into()),
        ..status_fault("relativity-productions", 503)
    })?;
    let path = format!("/relativity-productions/v1/workspaces/{DESTINATION}/productions/{TARGET}");

    for _ in 0..2 {
        let response = fixture.send(reqwest::Method::GET, &path).await?;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: KeplerError = response.json().await?;
        assert_eq!(body.message, "Service unavailable for the test.");
        assert_eq!(
            body.error_type,
            "Relativity.Services.Exceptions.ServiceException"
        );
    }
    assert_eq!(
        fixture.status(reqwest::Method::GET, &path).await?,
        StatusCode::OK
    );

    let record = fixture.fault(id)?;
    assert_eq!(record.matched, 3);
    assert_eq!(record.fired, 2);
    Ok(())
}

/// How many of the first 100 numbers of the ChaCha8 stream with seed 42 fall
/// below 0.3, as measured with rand_chacha 0.3.
const EXPECTED_RATE_FAILURES: usize = 28;

#[tokio::test]
async fn rate_with_seed_is_repeatable() -> Result<()> {
    let spec = FaultSpec {
        rate: Some(0.3),
        seed: 42,
        ..status_fault(PROBE, 503)
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let fixture = Fixture::start().await?;
        fixture.emulator.add_fault(spec.clone())?;
        let mut failed = Vec::new();
        for index in 0..100 {
            if fixture.probe().await? == StatusCode::SERVICE_UNAVAILABLE {
                failed.push(index);
            }
        }
        runs.push(failed);
    }

    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].len(), EXPECTED_RATE_FAILURES);
    Ok(())
}

#[tokio::test]
async fn after_lets_first_matches_pass() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.add_fault(FaultSpec {
        after: 2,
        count: Some(1),
        ..status_fault(PROBE, 500)
    })?;

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(fixture.probe().await?);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::NOT_FOUND
        ]
    );
    Ok(())
}

#[tokio::test]
async fn method_filter_spares_other_methods() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.add_fault(FaultSpec {
        method: Some("post".into()),
        ..status_fault(PROBE, 502)
    })?;

    assert_eq!(
        fixture.status(reqwest::Method::GET, PROBE).await?,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fixture.status(reqwest::Method::POST, PROBE).await?,
        StatusCode::BAD_GATEWAY
    );
    Ok(())
}

#[tokio::test]
async fn too_many_requests_has_retry_after() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.add_fault(FaultSpec {
        retry_after: Some("3".into()),
        ..status_fault(PROBE, 429)
    })?;

    let response = fixture.send(reqwest::Method::GET, PROBE).await?;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = response.headers().get("retry-after").cloned();
    assert_eq!(
        retry_after.as_ref().map(|value| value.as_bytes()),
        Some(&b"3"[..])
    );
    Ok(())
}

#[tokio::test]
async fn token_endpoint_fault_has_oauth_body() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture
        .emulator
        .add_fault(status_fault("connect/token", 503))?;

    let response = fixture
        .http
        .post(format!(
            "{}/Relativity/Identity/connect/token",
            fixture.running.base_url()
        ))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await?;
    assert_eq!(body["error"], "temporarily_unavailable");
    Ok(())
}

#[tokio::test]
async fn delay_alone_still_answers() -> Result<()> {
    let fixture = Fixture::start().await?;
    let id = fixture.emulator.add_fault(FaultSpec {
        path: PROBE.into(),
        delay_ms: Some(150),
        ..FaultSpec::default()
    })?;

    assert_eq!(fixture.probe().await?, StatusCode::NOT_FOUND);
    assert_eq!(fixture.fault(id)?.fired, 1);
    Ok(())
}

#[tokio::test]
async fn drop_closes_connection_without_answer() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.add_fault(FaultSpec {
        path: PROBE.into(),
        drop: true,
        count: Some(1),
        ..FaultSpec::default()
    })?;

    let error = fixture
        .send(reqwest::Method::GET, PROBE)
        .await
        .expect_err("a dropped connection gives no answer");
    assert!(error.status().is_none(), "{error:?}");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    assert_eq!(fixture.probe().await?, StatusCode::NOT_FOUND);
    Ok(())
}

// ---------------------------------------------------------------------------
// Changing faults while serving
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fault_added_while_serving_applies() -> Result<()> {
    let fixture = Fixture::start().await?;
    assert_eq!(fixture.probe().await?, StatusCode::NOT_FOUND);

    fixture.emulator.add_fault(status_fault(PROBE, 503))?;
    assert_eq!(fixture.probe().await?, StatusCode::SERVICE_UNAVAILABLE);
    Ok(())
}

#[tokio::test]
async fn fault_from_other_handle_applies_soon() -> Result<()> {
    let fixture = Fixture::start().await?;
    let other = Emulator::open(fixture.dir.path())?;
    other.add_fault(status_fault(PROBE, 503))?;

    let status = wait_for_status(&fixture, StatusCode::SERVICE_UNAVAILABLE).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    Ok(())
}

#[tokio::test]
async fn clear_faults_stops_them() -> Result<()> {
    let fixture = Fixture::start().await?;
    fixture.emulator.add_fault(status_fault(PROBE, 503))?;
    assert_eq!(fixture.probe().await?, StatusCode::SERVICE_UNAVAILABLE);

    assert_eq!(fixture.emulator.clear_faults()?, 1);
    assert_eq!(fixture.probe().await?, StatusCode::NOT_FOUND);
    assert_eq!(fixture.emulator.faults()?, []);
    Ok(())
}

#[tokio::test]
async fn add_fault_rejects_invalid_spec() -> Result<()> {
    let fixture = Fixture::start().await?;
    let error = fixture
        .emulator
        .add_fault(status_fault(PROBE, 200))
        .unwrap_err();
    assert!(error.to_string().contains("status 200"), "{error}");
    assert_eq!(fixture.emulator.faults()?, []);
    Ok(())
}

/// Probes every 25 ms for up to 2 s until the status is `expected`.
async fn wait_for_status(fixture: &Fixture, expected: StatusCode) -> Result<StatusCode> {
    let mut status = fixture.probe().await?;
    for _ in 0..80 {
        if status == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = fixture.probe().await?;
    }
    Ok(status)
}

// ---------------------------------------------------------------------------
// Standalone servers: environment variable, CLI, crash switch
// ---------------------------------------------------------------------------

/// A `prodsync emulator serve --port 0` child, killed when dropped.
struct ServeChild {
    child: Child,
    base_url: String,
}

impl ServeChild {
    fn start(data: &Path, faults_env: Option<&str>) -> Result<ServeChild> {
        let mut command = Command::new(PRODSYNC);
        command
            .args(["emulator", "serve", "--port", "0", "--data"])
            .arg(data)
            .env_remove(FAULTS_ENV)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(json) = faults_env {
            command.env(FAULTS_ENV, json);
        }
        let mut child = command
            .spawn()
            .context("cannot start prodsync emulator serve")?;

        let stdout = child.stdout.take().context("child has no stdout")?;
        let mut first_line = String::new();
        BufReader::new(stdout).read_line(&mut first_line)?;
        let Some(base_url) = first_line.trim().strip_prefix("emulator listening on ") else {
            let _ = child.kill();
            bail!("unexpected first line of emulator serve: {first_line:?}");
        };
        Ok(ServeChild {
            base_url: base_url.to_string(),
            child,
        })
    }

    async fn probe(&self) -> reqwest::Result<StatusCode> {
        let http = reqwest::Client::new();
        let response = send(&http, &self.base_url, reqwest::Method::GET, PROBE).await?;
        Ok(response.status())
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str], data: &Path) -> Result<String> {
    let output = Command::new(PRODSYNC)
        .args(["emulator", "fault"])
        .args(args)
        .arg("--data")
        .arg(data)
        .output()?;
    if !output.status.success() {
        bail!(
            "prodsync emulator fault {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn cli_list(data: &Path) -> Result<Vec<FaultRecord>> {
    Ok(serde_json::from_str(&cli(&["list", "--json"], data)?)?)
}

#[tokio::test]
async fn env_faults_apply_and_replace_on_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    seed(dir.path())?;
    let env = json!([{"path": PROBE, "status": 503, "count": 1}]).to_string();

    for _ in 0..2 {
        let server = ServeChild::start(dir.path(), Some(&env))?;
        assert_eq!(server.probe().await?, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(server.probe().await?, StatusCode::NOT_FOUND);
    }

    let faults = cli_list(dir.path())?;
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].fired, 1);
    Ok(())
}

#[test]
fn env_faults_with_unknown_field_stop_serve() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let output = Command::new(PRODSYNC)
        .args(["emulator", "serve", "--port", "0", "--data"])
        .arg(dir.path())
        .env(FAULTS_ENV, r#"[{"path": "x", "status": 503, "statsu": 1}]"#)
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("statsu"), "{stderr}");
    Ok(())
}

#[test]
fn cli_adds_lists_and_clears_faults() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let added = cli(
        &[
            "add",
            "--path",
            "import-jobs/.*/sources/",
            "--method",
            "POST",
            "--status",
            "429",
            "--retry-after",
            "2",
            "--count",
            "3",
            "--after",
            "1",
        ],
        dir.path(),
    )?;
    assert_eq!(added.trim(), "added fault 1");

    let listed = cli_list(dir.path())?;
    let expected = FaultSpec {
        method: Some("POST".into()),
        retry_after: Some("2".into()),
        count: Some(3),
        after: 1,
        ..status_fault("import-jobs/.*/sources/", 429)
    };
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec, expected);
    assert!(cli(&["list"], dir.path())?.starts_with("1\tmatched 0\tfired 0\t{"));

    assert_eq!(cli(&["clear"], dir.path())?.trim(), "cleared 1 faults");
    assert_eq!(cli_list(dir.path())?, []);
    Ok(())
}

#[test]
fn cli_rejects_count_with_rate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let error = cli(
        &[
            "add", "--path", "x", "--status", "503", "--count", "1", "--rate", "0.5",
        ],
        dir.path(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("--rate"), "{error}");
    Ok(())
}

#[tokio::test]
async fn cli_fault_reaches_running_server() -> Result<()> {
    let dir = tempfile::tempdir()?;
    seed(dir.path())?;
    let server = ServeChild::start(dir.path(), None)?;
    assert_eq!(server.probe().await?, StatusCode::NOT_FOUND);

    cli(&["add", "--path", PROBE, "--status", "503"], dir.path())?;
    let mut status = server.probe().await?;
    for _ in 0..80 {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = server.probe().await?;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    Ok(())
}

#[tokio::test]
async fn crash_fault_aborts_serve_process() -> Result<()> {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir()?;
    seed(dir.path())?;
    let mut server = ServeChild::start(dir.path(), None)?;
    assert_eq!(server.probe().await?, StatusCode::NOT_FOUND);
    cli(&["add", "--path", PROBE, "--crash"], dir.path())?;

    let mut probed = server.probe().await;
    for _ in 0..80 {
        if probed.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        probed = server.probe().await;
    }
    let error = probed.expect_err("the crash gives no answer");
    assert!(error.status().is_none(), "{error:?}");

    let status = wait_exit(&mut server.child)?;
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
    assert_eq!(cli_list(dir.path())?[0].fired, 1);
    Ok(())
}

fn wait_exit(child: &mut Child) -> Result<std::process::ExitStatus> {
    for _ in 0..200 {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    bail!("emulator serve did not end after the crash fault")
}

// ---------------------------------------------------------------------------
// Two servers on one data folder
// ---------------------------------------------------------------------------

const SOURCES: usize = 24;

/// Writes a one-document Opticon batch with two pages on the file share and
/// returns its UNC path.
fn write_batch(emulator: &Emulator, index: usize) -> Result<String> {
    let share = emulator.file_share();
    let folder = share
        .local_root
        .join("batches")
        .join(format!("b{index:02}"));
    std::fs::create_dir_all(&folder)?;
    let mut opticon = String::new();
    for page in 1..=2 {
        let key = format!("S{index:02}P{page}");
        std::fs::write(folder.join(format!("{key}.tif")), format!("image {key}"))?;
        let first = if page == 1 { "Y" } else { "" };
        let count = if page == 1 { "2" } else { "" };
        opticon.push_str(&format!("{key},VOL01,.\\{key}.tif,{first},,,{count}\r\n"));
    }
    let path = folder.join("batch.opt");
    std::fs::write(&path, opticon)?;
    Ok(share.to_unc(&path)?)
}

async fn import_call(
    http: &reqwest::Client,
    base_url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<ImportResponse<Value>> {
    let mut request = http
        .request(method, format!("{base_url}{API}{path}"))
        .header("X-CSRF-Header", "-")
        .basic_auth(ADMIN.0, Some(ADMIN.1));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response: ImportResponse<Value> = request.send().await?.error_for_status()?.json().await?;
    if !response.is_success {
        bail!("{path} failed: {}", response.error_message);
    }
    Ok(response)
}

fn import_value<T: serde::de::DeserializeOwned>(response: ImportResponse<Value>) -> Result<T> {
    Ok(serde_json::from_value(
        response.value.context("the answer has no Value")?,
    )?)
}

#[tokio::test]
async fn two_servers_import_each_source_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let first = seed(dir.path())?;
    let second = Emulator::open(dir.path())?;
    let servers = [
        first.serve("127.0.0.1:0".parse()?).await?,
        second.serve("127.0.0.1:0".parse()?).await?,
    ];
    let urls: Vec<String> = servers.iter().map(RunningEmulator::base_url).collect();
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let base = format!("/import-service/v1/workspaces/{DESTINATION}/import-jobs/two-servers");

    let create = json!({"applicationName": "prodsync", "correlationID": "two-servers"});
    import_call(&http, &urls[0], post.clone(), &base, Some(create)).await?;
    let configuration = json!({"importSettings": {
        "Overlay": null,
        "Image": {"PageNumbering": 1, "ProductionID": TARGET, "LoadExtractedText": false, "FileType": 0},
        "Fields": null,
        "Folder": null
    }});
    let configure = format!("{base}/documents-configurations");
    import_call(
        &http,
        &urls[1],
        post.clone(),
        &configure,
        Some(configuration),
    )
    .await?;

    // Every source but the last is waiting when the job begins; adding the
    // last through the other server wakes that server's worker too.
    for index in 0..SOURCES {
        if index == SOURCES - 1 {
            import_call(
                &http,
                &urls[0],
                post.clone(),
                &format!("{base}/begin"),
                None,
            )
            .await?;
        }
        let body = json!({"dataSourceSettings": {
            "Path": write_batch(&first, index)?, "Type": 1, "EndOfLine": 0, "StartLine": 0
        }});
        let source = format!("{base}/sources/source-{index:02}");
        import_call(&http, &urls[index % 2], post.clone(), &source, Some(body)).await?;
    }
    import_call(&http, &urls[1], post.clone(), &format!("{base}/end"), None).await?;

    let details = wait_finished(&http, &urls[0], &base).await?;
    assert_eq!(details.state, "Completed");
    let progress: JobProgress = import_value(
        import_call(
            &http,
            &urls[1],
            reqwest::Method::GET,
            &format!("{base}/progress"),
            None,
        )
        .await?,
    )?;
    assert_eq!(
        progress,
        JobProgress {
            records_in_data_sources: 2 * SOURCES as i64,
            imported_records: 2 * SOURCES as i64,
            error_records: 0
        }
    );
    assert_eq!(
        first.list_production(DESTINATION, TARGET)?.len(),
        2 * SOURCES
    );
    for server in servers {
        server.shutdown().await;
    }
    Ok(())
}

async fn wait_finished(http: &reqwest::Client, base_url: &str, base: &str) -> Result<JobDetails> {
    for _ in 0..1_200 {
        let path = format!("{base}/details");
        let response = import_call(http, base_url, reqwest::Method::GET, &path, None).await?;
        let details: JobDetails = import_value(response)?;
        if details.is_finished {
            return Ok(details);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("import job {base} did not finish")
}
