//! The emulator's SQLite file: opening it, its schema and schema version.
//!
//! One connection in WAL mode is shared behind a mutex; callers hold the
//! lock for one query or one transaction only. The schema version lives in
//! `PRAGMA user_version`. The queries sit next to the data they serve:
//! `accounts.rs` (users, tokens, grants), `catalog.rs` (workspaces,
//! productions, documents, pages), `export_runs.rs` and `import_jobs.rs`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use super::EmulatorError;

/// Schema version this build writes and reads: 1 plus one per entry of
/// [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// Production statuses that Relativity's Production Manager reports.
pub const PRODUCTION_STATUSES: &[&str] = &[
    "New",
    "Staging",
    "Staged",
    "StagingError",
    "Waiting",
    "Producing",
    "Branding",
    "Produced",
    "Error",
    "ProducedWithErrors",
    "Canceling",
    "QueuedForStaging",
    "QueuedForProduction",
    "QueuedForBranding",
    "StartingProduction",
    "ErrorStartingProduction",
];

/// First artifact ID given to documents. Workspace and production IDs are
/// chosen by the caller that creates them; documents and data sources get IDs from
/// these separate ranges so the numbers look like Relativity's.
const FIRST_DOCUMENT_ID: i64 = 1_100_001;

/// First artifact ID given to production data sources.
const FIRST_DATA_SOURCE_ID: i64 = 1_090_001;

/// Schema of version 1; [`MIGRATIONS`] bring it up to [`SCHEMA_VERSION`].
const SCHEMA: &str = "
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    salt TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL
);
CREATE TABLE oauth_clients (
    client_id TEXT PRIMARY KEY,
    salt TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    user_name TEXT NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE grants (
    user_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    workspace INTEGER NOT NULL,
    production INTEGER NOT NULL,
    PRIMARY KEY (user_name, kind, workspace, production)
);
CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE productions (
    workspace INTEGER NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    imported INTEGER NOT NULL DEFAULT 0,
    last_run_error TEXT NOT NULL DEFAULT '',
    total_images INTEGER NOT NULL DEFAULT 0,
    bates_prefix TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace, id)
);
CREATE TABLE production_data_sources (
    artifact_id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace INTEGER NOT NULL,
    production INTEGER NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE saved_searches (
    workspace INTEGER NOT NULL,
    id INTEGER NOT NULL,
    production INTEGER NOT NULL,
    PRIMARY KEY (workspace, id)
);
CREATE TABLE documents (
    artifact_id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace INTEGER NOT NULL,
    production INTEGER NOT NULL,
    control_number TEXT NOT NULL,
    first_bates TEXT NOT NULL,
    last_bates TEXT NOT NULL,
    image_count INTEGER NOT NULL
);
CREATE INDEX documents_by_bates ON documents (workspace, production, first_bates);
CREATE TABLE pages (
    workspace INTEGER NOT NULL,
    production INTEGER NOT NULL,
    bates TEXT NOT NULL,
    document INTEGER NOT NULL,
    page_number INTEGER NOT NULL,
    location TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (workspace, production, bates)
) WITHOUT ROWID;
CREATE INDEX pages_by_document ON pages (document, page_number);
CREATE TABLE export_runs (
    run_id TEXT PRIMARY KEY,
    workspace INTEGER NOT NULL,
    fields TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    next_index INTEGER NOT NULL
);
CREATE TABLE export_rows (
    run_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    artifact_id INTEGER NOT NULL,
    PRIMARY KEY (run_id, row_index)
) WITHOUT ROWID;
CREATE TABLE import_jobs (
    workspace INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    application_name TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    state TEXT NOT NULL,
    production INTEGER,
    end_requested INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, job_id)
);
CREATE TABLE import_sources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    path TEXT NOT NULL,
    kind INTEGER NOT NULL,
    end_of_line INTEGER NOT NULL,
    start_line INTEGER NOT NULL,
    state TEXT NOT NULL,
    page_count INTEGER NOT NULL DEFAULT 0,
    imported INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    UNIQUE (workspace, job_id, source_id)
);
CREATE TABLE item_errors (
    source_seq INTEGER NOT NULL,
    line_number INTEGER NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX item_errors_by_source ON item_errors (source_seq, line_number);
";

/// Forward migrations: entry `i` turns version `i + 1` into `i + 2`.
const MIGRATIONS: &[&str] = &[
    // 2: injected faults, and the server that claimed a data source so that
    // two servers on one data folder never import the same source.
    "
CREATE TABLE faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    matched INTEGER NOT NULL DEFAULT 0,
    fired INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE import_sources ADD COLUMN claimed_by TEXT;
",
];

/// The shared connection to `emulator.db`.
#[derive(Debug)]
pub struct Db {
    connection: Mutex<Connection>,
}

impl Db {
    /// Opens or creates the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Db, EmulatorError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(Duration::from_secs(10))?;

        migrate(&connection, path)?;

        Ok(Db {
            connection: Mutex::new(connection),
        })
    }

    /// Locks the connection; hold the guard for one query or transaction.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-applied state behind
        // because every write is one statement or one transaction.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Creates the schema on an empty file or migrates an older one forward, in
/// one transaction; rejects a file from a newer build.
fn migrate(connection: &Connection, path: &Path) -> Result<(), EmulatorError> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(EmulatorError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }

    connection.execute_batch("BEGIN IMMEDIATE")?;
    let upgraded = upgrade(connection);
    let end = if upgraded.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    connection.execute_batch(end)?;
    upgraded
}

/// Brings the schema to [`SCHEMA_VERSION`]; reads the version again inside
/// the transaction in case another process migrated the file meanwhile.
fn upgrade(connection: &Connection) -> Result<(), EmulatorError> {
    let mut version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    if version == 0 {
        create_schema(connection)?;
        version = 1;
    }
    for migration in &MIGRATIONS[(version - 1) as usize..] {
        connection.execute_batch(migration)?;
    }
    connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

fn create_schema(connection: &Connection) -> Result<(), EmulatorError> {
    connection.execute_batch(SCHEMA)?;
    connection.execute(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('documents', ?1), ('production_data_sources', ?2)",
        (FIRST_DOCUMENT_ID - 1, FIRST_DATA_SOURCE_ID - 1),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("e.db")).unwrap();
        let version: i64 = db
            .lock()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn open_twice_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        Db::open(&path)
            .unwrap()
            .lock()
            .execute("INSERT INTO workspaces VALUES (1, 'a')", [])
            .unwrap();
        let count: i64 = Db::open(&path)
            .unwrap()
            .lock()
            .query_row("SELECT COUNT(*) FROM workspaces", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn open_migrates_version_1_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let old = Connection::open(&path).unwrap();
        create_schema(&old).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute("INSERT INTO workspaces VALUES (1, 'a')", [])
            .unwrap();
        drop(old);

        let db = Db::open(&path).unwrap();
        let connection = db.lock();
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let faults: i64 = connection
            .query_row("SELECT COUNT(*) FROM faults", [], |row| row.get(0))
            .unwrap();
        assert_eq!(faults, 0);
        let workspaces: i64 = connection
            .query_row("SELECT COUNT(*) FROM workspaces", [], |row| row.get(0))
            .unwrap();
        assert_eq!(workspaces, 1);
    }

    #[test]
    fn open_rejects_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let error = Db::open(&path).unwrap_err();
        assert!(matches!(error, EmulatorError::SchemaTooNew { .. }));
    }
}
