//! Workflow files: every shipped workflow loads, and each kind of bad file
//! is rejected before anything runs, with the file, the field and what is
//! expected.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use prodsync::workflow;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "name": "push",
        "relativity": {
            "url": "https://relativity.example.com",
            "auth": {"kind": "basic", "username": "svc", "password_env": "PRODSYNC_TEST_PASSWORD"}
        },
        "source": {"workspace": 100, "production": 200},
        "destination": {"workspace": 101, "production_set": 300},
        "import": {
            "batch_size": 10,
            "bates_field": "Bates Number",
            "file_share": {"server_root": "\\\\fs\\share", "local_root": std::env::temp_dir()}
        }
    })
}

/// Writes `value` to a temp file and returns the loader's error message.
fn rejection(value: &Value) -> (String, PathBuf, tempfile::TempDir) {
    std::env::set_var("PRODSYNC_TEST_PASSWORD", "secret");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let message = workflow::load(&path).unwrap_err().to_string();
    (message, path, dir)
}

fn expect(value: Value, field: &str, text: &str) {
    let (message, path, _dir) = rejection(&value);
    let prefix = format!("{}: field `{field}`: ", path.display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains(text), "{message}");
}

#[test]
fn shipped_workflows_load() {
    std::env::set_var("RELATIVITY_CLIENT_SECRET", "placeholder");
    let samples_set = std::env::var_os("PRODSYNC_SAMPLES").is_some();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("PRODSYNC_SAMPLES") && !samples_set {
            eprintln!(
                "skipped {}: set PRODSYNC_SAMPLES to the shared samples folder",
                path.display()
            );
            continue;
        }
        match workflow::load(&path) {
            Ok(loaded) => names.push(loaded.workflow.name),
            // The server template names a mount that this machine lacks;
            // every other field of it must pass.
            Err(error) if path.ends_with("relativity-server.example.json") => {
                let message = error.to_string();
                assert!(
                    message.contains("field `import.file_share.local_root`: folder /mnt/relativity-fileshare does not exist"),
                    "{message}"
                );
            }
            Err(error) => panic!("{error}"),
        }
    }
    assert!(names.contains(&"production-push".to_string()), "{names:?}");
}

#[test]
fn base_workflow_loads() {
    std::env::set_var("PRODSYNC_TEST_PASSWORD", "secret");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    std::fs::write(&path, base().to_string()).unwrap();
    let loaded = workflow::load(&path).unwrap();
    assert_eq!(loaded.workflow.import.batch_size, 10);
    assert_eq!(loaded.sha256.len(), 64);
}

#[test]
fn invalid_json_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    std::fs::write(&path, "{\"name\": ").unwrap();
    let message = workflow::load(&path).unwrap_err().to_string();
    assert!(message.contains("EOF while parsing"), "{message}");
}

#[test]
fn missing_file_is_rejected() {
    let message = workflow::load(Path::new("/nonexistent/w.json"))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot read workflow file /nonexistent/w.json"),
        "{message}"
    );
}

#[test]
fn unknown_field_is_rejected() {
    let mut value = base();
    value["source"]["prodution"] = json!(5);
    expect(value, "source.prodution", "unknown field `prodution`");
}

#[test]
fn wrong_type_is_rejected() {
    let mut value = base();
    value["import"]["batch_size"] = json!("ten");
    expect(value, "import.batch_size", "invalid type: string \"ten\"");
}

#[test]
fn missing_required_field_is_rejected() {
    let mut value = base();
    value["import"]
        .as_object_mut()
        .unwrap()
        .remove("batch_size");
    expect(value, "import", "missing field `batch_size`");
}

#[test]
fn missing_bates_field_is_rejected_for_production_set() {
    let mut value = base();
    value["import"]
        .as_object_mut()
        .unwrap()
        .remove("bates_field");
    expect(
        value,
        "import.bates_field",
        "must name the destination field",
    );
}

#[test]
fn zero_batch_size_is_rejected() {
    let mut value = base();
    value["import"]["batch_size"] = json!(0);
    expect(
        value,
        "import.batch_size",
        "must be at least 1 document, found 0",
    );
}

#[test]
fn source_equal_to_destination_is_rejected() {
    let mut value = base();
    value["destination"] = json!({"workspace": 100, "production_set": 200});
    expect(
        value,
        "destination.production_set",
        "is the source production 200 in the same workspace 100",
    );
}

#[test]
fn missing_environment_variable_is_rejected() {
    let mut value = base();
    value["relativity"]["auth"]["password_env"] = json!("PRODSYNC_TEST_UNSET_VARIABLE");
    expect(
        value,
        "relativity.auth.password_env",
        "environment variable PRODSYNC_TEST_UNSET_VARIABLE is not set",
    );
}

#[test]
fn unknown_auth_kind_is_rejected() {
    let mut value = base();
    value["relativity"]["auth"] = json!({"kind": "kerberos"});
    expect(value, "relativity.auth.kind", "unknown variant `kerberos`");
}

#[test]
fn url_and_emulator_together_are_rejected() {
    let mut value = base();
    value["relativity"]["emulator"] =
        json!({"seed": {"demo": {"documents": 1, "max_pages": 1, "bates_prefix": "D"}}});
    expect(
        value,
        "relativity",
        "give either `url` or `emulator`, not both",
    );
}

#[test]
fn production_and_saved_search_together_are_rejected() {
    let mut value = base();
    value["source"]["saved_search"] = json!(7);
    expect(
        value,
        "source",
        "give exactly one of `production` or `saved_search`",
    );
}

#[test]
fn missing_file_share_with_url_is_rejected() {
    let mut value = base();
    value["import"]
        .as_object_mut()
        .unwrap()
        .remove("file_share");
    expect(
        value,
        "import.file_share",
        "is required with a Relativity URL",
    );
}

#[test]
fn missing_local_root_is_rejected() {
    let mut value = base();
    value["import"]["file_share"]["local_root"] = json!("/nonexistent/share");
    expect(
        value,
        "import.file_share.local_root",
        "folder /nonexistent/share does not exist; mount the file share there",
    );
}

#[test]
fn non_unc_server_root_is_rejected() {
    let mut value = base();
    value["import"]["file_share"]["server_root"] = json!("/mnt/share");
    expect(value, "import.file_share.server_root", "must be a UNC path");
}

#[test]
fn negative_workspace_is_rejected() {
    let mut value = base();
    value["source"]["workspace"] = json!(-1);
    expect(
        value,
        "source.workspace",
        "must be a positive artifact ID, found -1",
    );
}

#[test]
fn missing_seed_volume_is_rejected() {
    let mut value = base();
    value["relativity"] = json!({"emulator": {"seed": {"volume": {"opticon": "nope/x.opt"}}}});
    value["import"]
        .as_object_mut()
        .unwrap()
        .remove("file_share");
    expect(
        value,
        "relativity.emulator.seed.volume.opticon",
        "x.opt does not exist",
    );
}

#[test]
fn unset_variable_in_seed_path_is_rejected() {
    let mut value = base();
    value["relativity"] = json!({"emulator": {"seed": {"volume": {"opticon": "${PRODSYNC_TEST_NO_SUCH_DIR}/x.opt"}}}});
    value["import"]
        .as_object_mut()
        .unwrap()
        .remove("file_share");
    expect(
        value,
        "relativity.emulator.seed.volume.opticon",
        "environment variable PRODSYNC_TEST_NO_SUCH_DIR is not set",
    );
}
