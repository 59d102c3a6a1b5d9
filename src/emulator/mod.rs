//! A local emulator of the Relativity REST services that a production push
//! uses, for tests and demos.
//!
//! [`Emulator`] is a handle on one data directory: `emulator.db` (SQLite,
//! every piece of state) and `fileshare/` (the file share, which the
//! emulator names `\\emulator\fileshare`). The library API seeds and
//! administers it, and [`Emulator::serve`] serves the HTTP calls listed in
//! `docs/relativity-api.md` and runs the import worker.
//!
//! Code map: one module per emulated service (`auth`, `productions`,
//! `permissions`, `object_manager`, `search`, `import_service` with its
//! `import_worker` and the source `claims` that keep two servers on one
//! data folder apart), the SQLite schema in `db` and its queries in
//! `accounts`, `catalog`, `export_runs`, `import_jobs` and `fault_store`,
//! seeding in `seed`, `demo` and `dat`, fault injection in `faults` (the
//! spec), `fault_layer` (the middleware) and `connection` (aborting a TCP
//! connection), and the `emulator` subcommands in `cli` and `fault_cli`.

mod accounts;
mod api_error;
mod auth;
mod catalog;
mod claims;
pub mod cli;
mod connection;
mod dat;
mod db;
mod demo;
mod error;
mod export_runs;
mod fault_cli;
mod fault_layer;
mod fault_store;
mod faults;
mod import_jobs;
mod import_service;
mod import_worker;
mod object_manager;
mod permissions;
mod productions;
mod search;
mod seed;
mod server;
mod share_files;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use accounts::Grant;
pub use catalog::ProducedPage;
pub use demo::DemoSpec;
pub use error::EmulatorError;
pub use faults::{FaultRecord, FaultSpec, FAULTS_ENV};
pub use seed::SeedSummary;
pub use server::RunningEmulator;

use crate::fileshare::FileShare;

/// UNC root under which the emulator names its file share.
pub const UNC_ROOT: &str = r"\\emulator\fileshare";

/// Default lifetime of the bearer tokens the emulator issues, in seconds.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3_600;

/// A handle on one emulator data directory. Clones share the connection.
#[derive(Debug, Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: db::Db,
    data_dir: PathBuf,
    file_share: FileShare,
    token_lifetime_secs: AtomicU64,
    /// Wakes the import worker when a job begins, ends or gets a source.
    import_wakeup: tokio::sync::Notify,
    faults: fault_layer::FaultTable,
}

impl Emulator {
    /// Opens or creates `data_dir/emulator.db` (its own SQLite file, WAL) and
    /// `data_dir/fileshare/`.
    pub fn open(data_dir: &Path) -> Result<Emulator, EmulatorError> {
        let share_root = data_dir.join("fileshare");
        std::fs::create_dir_all(&share_root)
            .map_err(|error| EmulatorError::io(&share_root, error))?;
        let db = db::Db::open(&data_dir.join("emulator.db"))?;

        Ok(Emulator {
            inner: Arc::new(Inner {
                db,
                data_dir: data_dir.to_path_buf(),
                file_share: FileShare::new(UNC_ROOT, share_root),
                token_lifetime_secs: AtomicU64::new(DEFAULT_TOKEN_LIFETIME_SECS),
                import_wakeup: tokio::sync::Notify::new(),
                faults: fault_layer::FaultTable::new(),
            }),
        })
    }

    /// UNC root `\\emulator\fileshare` mapped to `data_dir/fileshare`.
    pub fn file_share(&self) -> FileShare {
        self.inner.file_share.clone()
    }

    /// Returns the data directory this handle opened.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Starts the HTTP server and the import worker on `addr` in tokio tasks.
    pub async fn serve(
        &self,
        addr: std::net::SocketAddr,
    ) -> Result<RunningEmulator, EmulatorError> {
        server::serve(self.clone(), addr).await
    }

    /// Sets the lifetime of bearer tokens issued from now on, in seconds.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.inner
            .token_lifetime_secs
            .store(seconds, Ordering::Relaxed);
    }

    /// Adds a workspace; fails if one with this ID exists.
    pub fn add_workspace(&self, id: i64, name: &str) -> Result<(), EmulatorError> {
        if catalog::insert_workspace(&self.db().lock(), id, name)? {
            Ok(())
        } else {
            Err(EmulatorError::WorkspaceExists(id))
        }
    }

    /// Adds a workspace unless one with this ID exists.
    pub fn ensure_workspace(&self, id: i64, name: &str) -> Result<(), EmulatorError> {
        catalog::insert_workspace(&self.db().lock(), id, name)?;
        Ok(())
    }

    /// Adds a user who signs in with Basic auth; admins may do everything.
    pub fn add_user(&self, name: &str, password: &str, admin: bool) -> Result<(), EmulatorError> {
        accounts::insert_user(&self.db().lock(), name, password, admin)
    }

    /// Adds an OAuth client whose bearer tokens act as `user`.
    pub fn add_oauth_client(
        &self,
        client_id: &str,
        secret: &str,
        user: &str,
    ) -> Result<(), EmulatorError> {
        accounts::insert_client(&self.db().lock(), client_id, secret, user)
    }

    /// Gives a non-admin user a permission.
    pub fn grant(&self, user: &str, grant: Grant) -> Result<(), EmulatorError> {
        accounts::insert_grant(&self.db().lock(), user, grant)
    }

    /// Takes a permission away from a user.
    pub fn revoke(&self, user: &str, grant: Grant) -> Result<(), EmulatorError> {
        accounts::delete_grant(&self.db().lock(), user, grant)
    }

    /// Seeds a produced production (status Produced) from the built-in demo generator.
    pub fn seed_demo(
        &self,
        workspace: i64,
        production: i64,
        spec: &DemoSpec,
    ) -> Result<SeedSummary, EmulatorError> {
        seed::seed_demo(self, workspace, production, spec)
    }

    /// Seeds a produced production from an Opticon file (and optional DAT) and the images it points at.
    pub fn seed_opticon(
        &self,
        workspace: i64,
        production: i64,
        opticon: &Path,
        dat: Option<&Path>,
    ) -> Result<SeedSummary, EmulatorError> {
        seed::seed_opticon(self, workspace, production, opticon, dat)
    }

    /// Creates an empty production set: status New, no data sources, not imported.
    pub fn create_production_set(
        &self,
        workspace: i64,
        production: i64,
        name: &str,
    ) -> Result<(), EmulatorError> {
        let row = catalog::ProductionRow::new(workspace, production, name);
        catalog::insert_production(&self.db().lock(), &row)
    }

    /// Sets a production's status to one of the Production Manager's values.
    pub fn set_production_status(
        &self,
        workspace: i64,
        production: i64,
        status: &str,
    ) -> Result<(), EmulatorError> {
        catalog::set_status(&self.db().lock(), workspace, production, status)
    }

    /// Adds a data source to a production, so it is no longer empty.
    pub fn add_production_data_source(
        &self,
        workspace: i64,
        production: i64,
        name: &str,
    ) -> Result<(), EmulatorError> {
        catalog::insert_data_source(&self.db().lock(), workspace, production, name)?;
        Ok(())
    }

    /// Adds a saved search `search` that returns the documents of a production.
    pub fn add_saved_search(
        &self,
        workspace: i64,
        search: i64,
        production: i64,
    ) -> Result<(), EmulatorError> {
        catalog::insert_saved_search(&self.db().lock(), workspace, search, production)
    }

    /// Lists every page of the production, ordered by Bates number as text.
    pub fn list_production(
        &self,
        workspace: i64,
        production: i64,
    ) -> Result<Vec<ProducedPage>, EmulatorError> {
        let connection = self.db().lock();
        catalog::require_production(&connection, workspace, production)?;
        catalog::list_pages(&connection, workspace, production, UNC_ROOT)
    }

    /// Stores a fault and returns its ID. A server of this handle applies
    /// it to the next request; a server of another handle or process on
    /// this data folder within about 100 ms.
    pub fn add_fault(&self, spec: FaultSpec) -> Result<i64, EmulatorError> {
        spec.activate(0)?;
        let connection = self.db().lock();
        let id = fault_store::insert(&connection, &spec, fault_store::Origin::Api)?;
        self.fault_table().reload(&connection)?;
        tracing::info!(fault_id = id, path = spec.path, "fault added");
        Ok(id)
    }

    /// Deletes every fault and returns how many there were.
    pub fn clear_faults(&self) -> Result<usize, EmulatorError> {
        let connection = self.db().lock();
        let deleted = fault_store::delete(&connection, None)?;
        self.fault_table().reload(&connection)?;
        tracing::info!(deleted, "faults cleared");
        Ok(deleted)
    }

    /// Lists the stored faults in ID order, with how often each matched and
    /// fired.
    pub fn faults(&self) -> Result<Vec<FaultRecord>, EmulatorError> {
        fault_store::list(&self.db().lock())
    }

    /// Replaces the faults from an earlier start with those of the
    /// [`FAULTS_ENV`] variable, if it is set.
    fn add_env_faults(&self) -> Result<(), EmulatorError> {
        let Ok(json) = std::env::var(FAULTS_ENV) else {
            return Ok(());
        };
        let specs = faults::parse_env_specs(&json)?;
        for spec in &specs {
            spec.activate(0)?;
        }

        let mut connection = self.db().lock();
        let transaction = connection.transaction()?;
        fault_store::delete(&transaction, Some(fault_store::Origin::Env))?;
        for spec in &specs {
            let id = fault_store::insert(&transaction, spec, fault_store::Origin::Env)?;
            tracing::warn!(
                fault_id = id,
                path = spec.path,
                "fault added from {FAULTS_ENV}"
            );
        }
        transaction.commit()?;
        self.fault_table().reload(&connection)
    }

    fn fault_table(&self) -> &fault_layer::FaultTable {
        &self.inner.faults
    }

    fn db(&self) -> &db::Db {
        &self.inner.db
    }

    fn import_wakeup(&self) -> &tokio::sync::Notify {
        &self.inner.import_wakeup
    }

    fn token_lifetime_secs(&self) -> u64 {
        self.inner.token_lifetime_secs.load(Ordering::Relaxed)
    }
}
