//! Test fixtures: an emulator in a temp folder, seeded with a small source
//! production and destination production sets, users with chosen grants,
//! and step contexts that talk to it as one of those users.

#![allow(dead_code)]

pub mod binary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prodsync::emulator::{DemoSpec, Emulator, Grant, RunningEmulator};
use prodsync::engine::Engine;
use prodsync::machine::SyncState;
use prodsync::relativity::{ClientConfig, Credentials, RelativityClient};
use prodsync::steps::{NoProgress, StepContext};
use prodsync::store::{NewRun, Store};
use prodsync::workflow::{
    Connection, Destination, ImportOptions, Overwrite, Source, Workflow, WorkspaceDestination,
    WorkspaceSource,
};

pub const SOURCE_WS: i64 = 1_017_266;
pub const DEST_WS: i64 = 1_017_267;
pub const MISSING_WS: i64 = 1_017_999;
pub const PRODUCED: i64 = 1_040_001;
pub const UNPRODUCED: i64 = 1_040_002;
pub const NEW_SET: i64 = 1_040_101;
pub const PRODUCED_SET: i64 = 1_040_102;
pub const SET_WITH_SOURCE: i64 = 1_040_103;
pub const PASSWORD: &str = "correct horse battery staple";

/// Users the fixture creates, by what they lack.
pub const ADMIN: &str = "admin";
pub const NO_VIEW: &str = "no-view";
pub const NO_ADD: &str = "no-add";
pub const OUTSIDER: &str = "outsider";

/// A served emulator with the fixture's artifacts.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub emulator: Emulator,
    pub running: RunningEmulator,
    pub store: Arc<Store>,
}

/// Returns the shared samples folder, or `None` after printing how to set it.
pub fn samples() -> Option<PathBuf> {
    match std::env::var_os("PRODSYNC_SAMPLES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("skipped: set PRODSYNC_SAMPLES to the shared samples folder (../shared/samples) to run this test");
            None
        }
    }
}

/// Small demo pages keep the fixture fast.
pub fn small_demo(documents: u32) -> DemoSpec {
    DemoSpec {
        documents,
        max_pages: 3,
        seed: 11,
        bates_prefix: "TEST".into(),
        page_width: 120,
        page_height: 160,
    }
}

impl Fixture {
    /// Starts an emulator with the demo production seeded from `spec`.
    pub async fn start(spec: DemoSpec) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let emulator = Emulator::open(&dir.path().join("emulator")).expect("emulator opens");
        emulator.add_workspace(SOURCE_WS, "source").unwrap();
        emulator.add_workspace(DEST_WS, "destination").unwrap();
        emulator.seed_demo(SOURCE_WS, PRODUCED, &spec).unwrap();
        emulator
            .create_production_set(SOURCE_WS, UNPRODUCED, "not produced")
            .unwrap();
        emulator
            .create_production_set(DEST_WS, NEW_SET, "new set")
            .unwrap();
        emulator
            .create_production_set(DEST_WS, PRODUCED_SET, "produced set")
            .unwrap();
        emulator
            .set_production_status(DEST_WS, PRODUCED_SET, "Produced")
            .unwrap();
        emulator
            .create_production_set(DEST_WS, SET_WITH_SOURCE, "set with a source")
            .unwrap();
        emulator
            .add_production_data_source(DEST_WS, SET_WITH_SOURCE, "earlier source")
            .unwrap();
        add_users(&emulator);

        let running = emulator.serve(([127, 0, 0, 1], 0).into()).await.unwrap();
        let store = Arc::new(Store::open(&dir.path().join("prodsync.db")).unwrap());
        Fixture {
            dir,
            emulator,
            running,
            store,
        }
    }

    /// Builds a step context for a new run, as `user`, with `workflow`.
    pub fn context(&self, user: &str, workflow: Workflow, state: &SyncState) -> StepContext {
        let run_id = uuid::Uuid::new_v4().to_string();
        let json = serde_json::to_string(&workflow).unwrap();
        self.store
            .create_run(&NewRun {
                run_id: &run_id,
                workflow_name: &workflow.name,
                workflow_path: "test.json",
                workflow_sha256: "00",
                workflow_json: &json,
                emulator_dir: None,
                state,
            })
            .unwrap();
        StepContext {
            run_id,
            workflow,
            client: self.client(user),
            file_share: self.emulator.file_share(),
            store: self.store.clone(),
            progress: Arc::new(NoProgress),
            stop: Default::default(),
            lease_holder: None,
            batches_recorded: Default::default(),
        }
    }

    /// Builds an engine for a new run as `user`.
    pub fn engine(&self, user: &str, workflow: Workflow, state: &SyncState) -> Engine {
        Engine::new(self.context(user, workflow, state))
    }

    /// Builds a client that authenticates as `user`.
    pub fn client(&self, user: &str) -> RelativityClient {
        RelativityClient::new(ClientConfig {
            base_url: self.running.base_url(),
            credentials: Credentials::Basic {
                username: user.into(),
                password: PASSWORD.into(),
            },
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        })
        .unwrap()
    }

    /// Path of the fixture's temp folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn add_users(emulator: &Emulator) {
    emulator.add_user(ADMIN, PASSWORD, true).unwrap();
    for user in [NO_VIEW, NO_ADD, OUTSIDER] {
        emulator.add_user(user, PASSWORD, false).unwrap();
    }

    let source_only = [
        Grant::Workspace(SOURCE_WS),
        Grant::Export(SOURCE_WS),
        Grant::Workspace(DEST_WS),
        Grant::Import(DEST_WS),
        Grant::ViewProduction {
            workspace: DEST_WS,
            production: NEW_SET,
        },
        Grant::AddProductionDataSource {
            workspace: DEST_WS,
            production: NEW_SET,
        },
    ];
    for grant in source_only {
        emulator.grant(NO_VIEW, grant).unwrap();
    }

    let no_add = [
        Grant::Workspace(SOURCE_WS),
        Grant::Export(SOURCE_WS),
        Grant::ViewProduction {
            workspace: SOURCE_WS,
            production: PRODUCED,
        },
        Grant::Workspace(DEST_WS),
        Grant::Import(DEST_WS),
        Grant::ViewProduction {
            workspace: DEST_WS,
            production: NEW_SET,
        },
    ];
    for grant in no_add {
        emulator.grant(NO_ADD, grant).unwrap();
    }
}

/// A workflow from the source production to the new production set; the
/// URL and file share are placeholders because tests build the client.
pub fn workflow(source_production: i64, destination_set: i64) -> Workflow {
    Workflow {
        name: "test".into(),
        relativity: Connection {
            url: Some("http://127.0.0.1:9".into()),
            auth: None,
            timeout_seconds: 30,
            emulator: None,
        },
        source: Source::Workspace(WorkspaceSource {
            workspace: SOURCE_WS,
            production: Some(source_production),
            saved_search: None,
        }),
        destination: Destination::Workspace(WorkspaceDestination {
            workspace: DEST_WS,
            production_set: Some(destination_set),
            folder: None,
        }),
        import: ImportOptions {
            batch_size: 4,
            bates_field: "Bates Number".into(),
            overwrite: Overwrite::Append,
            file_share: None,
            wait_seconds: 60,
        },
        retry: prodsync::retry::RetryPolicy {
            max_attempts: 4,
            base_delay_ms: 10,
            max_delay_ms: 50,
            max_total_seconds: 30,
        },
    }
}

/// Returns the failure message of a `Failed` state, or panics.
pub fn failure(state: &SyncState) -> &str {
    match state {
        SyncState::Failed(failed) => &failed.message,
        other => panic!("expected Failed, found {}", other.name()),
    }
}

/// Runs steps from `Configured` until the run reaches `target` or fails.
pub async fn advance_to(engine: &Engine, target: prodsync::machine::StateName) -> SyncState {
    let mut state = SyncState::Configured;
    while state.name() != target {
        let Some(step) = prodsync::machine::step_for(state.name()) else {
            return state;
        };
        state = engine.advance(step, state).await.unwrap();
    }
    state
}

/// Records a run named `run_id` in its first state, with a placeholder
/// workflow.
pub fn new_configured_run(store: &Store, run_id: &str) {
    store
        .create_run(&NewRun {
            run_id,
            workflow_name: "w",
            workflow_path: "w.json",
            workflow_sha256: "00",
            workflow_json: "{}",
            emulator_dir: None,
            state: &SyncState::Configured,
        })
        .unwrap();
}
