//! The checkpoint store: runs, the append-only transition log, and import
//! batches, in one SQLite file.
//!
//! Every transition is recorded in one SQLite transaction together with the
//! run's current state, so a transition that was not committed did not
//! happen. The database runs in WAL mode and its schema migrates forward
//! (see [`schema`]). Triggers reject any update or delete of a recorded
//! transition or batch, and each of them is an entry of the run's hash
//! chain (see [`audit`]).

mod attempts;
pub mod audit;
mod leases;
mod records;
pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode};

pub use attempts::AttemptRecord;
pub use audit::{AuditEntry, AuditKey, AuditTrail, ChainInfo, ChainMode};
pub use leases::{now_ms, Lease};
pub use records::{BatchRecord, NewRun, RunRecord, TransitionRecord};

/// Error of the checkpoint store; each names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("database {path} is not a prodsync database or is corrupt; move it aside or pass another --db")]
    NotADatabase { path: PathBuf },

    #[error("database {path} is read-only; make it and its folder writable, or pass another --db")]
    ReadOnly { path: PathBuf },

    #[error("database {path} does not exist; pass the --db that holds your runs")]
    Missing { path: PathBuf },

    #[error("database {path} has schema version {found}, older than the version {supported} this prodsync reads; run any writing command on it once (for example `prodsync resume`) to migrate it, or on a copy")]
    OlderSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("database {path} has schema version {found}, newer than the version {supported} this prodsync knows; upgrade prodsync")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("run {run_id} not found in {path}; `prodsync runs` lists the runs it holds")]
    RunNotFound { path: PathBuf, run_id: String },

    #[error("run {run_id} is being driven by {holder} (lease expires in {seconds_left} s); wait for it to finish, or stop that process first")]
    LeaseHeld {
        run_id: String,
        holder: String,
        seconds_left: i64,
    },

    #[error("run {run_id}: {holder} lost its lease to another process; this process stops without recording more")]
    LeaseLost { run_id: String, holder: String },

    #[error("run {run_id} has an HMAC audit chain (key ID {key_id}) but PRODSYNC_AUDIT_KEY is not set; set it to the key the run was started with")]
    AuditKeyMissing { run_id: String, key_id: String },

    #[error("run {run_id} has an HMAC audit chain with key ID {expected}, but PRODSYNC_AUDIT_KEY has key ID {found}; set it to the key the run was started with")]
    AuditKeyMismatch {
        run_id: String,
        expected: String,
        found: String,
    },

    #[error("database {path}: run {run_id}: stored state is unreadable: {source}")]
    BadStateData {
        path: PathBuf,
        run_id: String,
        source: serde_json::Error,
    },
}

/// WAL size above which a run's lease keeper checkpoints the store. SQLite
/// also truncates the WAL back to this size when it starts it over, so a
/// WAL over it means new frames since the last checkpoint. A batch adds
/// about one 4 KiB frame, so a push of 1,000 batches stays well under it.
pub const WAL_CHECKPOINT_BYTES: u64 = 64 << 20;

/// The checkpoint database. Share it behind an `Arc`.
pub struct Store {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// Who this process records entries as, and its audit key.
    recorder: audit::Recorder,
    /// Newest chain link of each run this store wrote (see
    /// [`audit::ChainHead`]).
    heads: Mutex<HashMap<String, audit::ChainHead>>,
    /// Connection that checkpoints the WAL, opened on first use.
    checkpointer: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Store")
            .field("path", &self.path)
            .finish()
    }
}

impl Store {
    /// Opens or creates the database and migrates it to the current schema.
    #[tracing::instrument]
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if is_read_only(path) && path.exists() {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        let connection = Connection::open(path).map_err(|source| classify(path, source))?;
        let store = Store {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            recorder: audit::Recorder::from_process(),
            heads: Mutex::new(HashMap::new()),
            checkpointer: Mutex::new(None),
        };
        store.configure()?;
        store.check_integrity()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database for reading only: no file is created,
    /// nothing is migrated, and a read-only file (an evidence copy, say)
    /// can be read.
    #[tracing::instrument]
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let connection =
            Connection::open_with_flags(path, flags).map_err(|source| classify(path, source))?;
        let store = Store {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            recorder: audit::Recorder::from_process(),
            heads: Mutex::new(HashMap::new()),
            checkpointer: Mutex::new(None),
        };
        store
            .lock()
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|source| store.error(source))?;
        store.check_integrity()?;
        store.check_version_for_reading()?;
        Ok(store)
    }

    fn check_version_for_reading(&self) -> Result<(), StoreError> {
        let found: i64 = self
            .lock()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| self.error(source))?;
        let supported = schema::current_version();
        if found > supported {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
                supported,
            });
        }
        if found < supported {
            return Err(StoreError::OlderSchema {
                path: self.path.clone(),
                found,
                supported,
            });
        }
        Ok(())
    }

    /// Replaces the audit key read from `PRODSYNC_AUDIT_KEY` when the store
    /// was opened; new runs get an HMAC chain when a key is set.
    pub fn with_audit_key(mut self, key: Option<AuditKey>) -> Store {
        self.recorder = audit::Recorder::with_key(key);
        self
    }

    /// Returns the audit key this store records with, if any.
    pub fn audit_key(&self) -> Option<&AuditKey> {
        self.recorder.key.as_ref()
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> Result<(), StoreError> {
        let connection = self.lock();
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|source| self.error(source))?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|source| self.error(source))?;
        tracing::debug!(journal_mode = %mode, "database opened");
        // Commits never checkpoint the WAL themselves: a run's lease keeper
        // calls `checkpoint_wal` from a thread of its own, so that a batch
        // commit does not wait for the checkpoint's disk flushes. SQLite
        // still checkpoints when the last connection closes.
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                 PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_CHECKPOINT_BYTES};"
            ))
            .map_err(|source| self.error(source))
    }

    /// Copies the WAL into the database file once the WAL is larger than
    /// `threshold` bytes; returns whether it ran. It uses a connection of
    /// its own and SQLite's passive mode, so writers on the store's main
    /// connection go on meanwhile.
    pub fn checkpoint_wal(&self, threshold: u64) -> Result<bool, StoreError> {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        let size = std::fs::metadata(&wal).map(|metadata| metadata.len());
        if size.unwrap_or(0) <= threshold {
            return Ok(false);
        }

        let mut checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if checkpointer.is_none() {
            let connection = Connection::open(&self.path).map_err(|source| self.error(source))?;
            *checkpointer = Some(connection);
        }
        let connection = checkpointer.as_ref().expect("opened above");
        crate::metrics::time_wal_checkpoint(|| {
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .map_err(|source| self.error(source))?;
        Ok(true)
    }

    /// Reads every page of the database once, so a damaged file is refused
    /// before anything is written to it.
    fn check_integrity(&self) -> Result<(), StoreError> {
        let result: String = self
            .lock()
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|source| self.error(source))?;
        if result == "ok" {
            return Ok(());
        }
        tracing::error!(path = %self.path.display(), %result, "database failed its integrity check");
        Err(StoreError::NotADatabase {
            path: self.path.clone(),
        })
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let found: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| classify(&self.path, source))?;
        let supported = schema::current_version();
        if found > supported {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
                supported,
            });
        }

        for version in found..supported {
            let transaction = connection
                .transaction()
                .map_err(|source| classify(&self.path, source))?;
            transaction
                .execute_batch(schema::MIGRATIONS[version as usize])
                .map_err(|source| classify(&self.path, source))?;
            transaction
                .pragma_update(None, "user_version", version + 1)
                .map_err(|source| classify(&self.path, source))?;
            transaction
                .commit()
                .map_err(|source| classify(&self.path, source))?;
            tracing::info!(version = version + 1, "database schema migrated");
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.path, source)
    }
}

/// Maps SQLite's error codes for a corrupt or read-only file to errors that
/// say what to do.
fn classify(path: &Path, source: rusqlite::Error) -> StoreError {
    let code = source.sqlite_error_code();
    match code {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            StoreError::NotADatabase {
                path: path.to_path_buf(),
            }
        }
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) if is_read_only(path) => {
            StoreError::ReadOnly {
                path: path.to_path_buf(),
            }
        }
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// True when the file or its folder has no write permission bits. The
/// bits are checked here because SQLite run as root would write anyway.
fn is_read_only(path: &Path) -> bool {
    let file_read_only = std::fs::metadata(path)
        .map(|metadata| metadata.permissions().readonly())
        .unwrap_or(false);
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_read_only = std::fs::metadata(dir)
        .map(|metadata| metadata.permissions().readonly())
        .unwrap_or(false);
    file_read_only || dir_read_only
}

/// Current time as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
