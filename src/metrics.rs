//! Process-wide counters for benchmarks: HTTP requests sent to Relativity,
//! and the count and time of checkpoint writes (transitions and batches).
//!
//! The counters are relaxed atomics, cheap enough to stay on in every
//! build. `prodsync run --stats-json FILE` writes them when the run ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static CHECKPOINTS: AtomicU64 = AtomicU64::new(0);
static CHECKPOINT_NANOS: AtomicU64 = AtomicU64::new(0);
static BATCH_CHECKPOINTS: AtomicU64 = AtomicU64::new(0);
static BATCH_CHECKPOINT_NANOS: AtomicU64 = AtomicU64::new(0);
static BATCH_CHECKPOINT_MAX_NANOS: AtomicU64 = AtomicU64::new(0);
static WAL_CHECKPOINTS: AtomicU64 = AtomicU64::new(0);
static WAL_CHECKPOINT_NANOS: AtomicU64 = AtomicU64::new(0);
static PROBE_COMMITS: AtomicU64 = AtomicU64::new(0);
static PROBE_COMMIT_NANOS: AtomicU64 = AtomicU64::new(0);

/// Scratch database for bare commits timed next to batch checkpoints, so
/// both are measured under the same load; set by [`enable_commit_probe`].
static PROBE: Mutex<Option<Probe>> = Mutex::new(None);

struct Probe {
    connection: rusqlite::Connection,
    path: std::path::PathBuf,
    next_id: i64,
}

/// Kind of a checkpoint write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    Transition,
    Batch,
}

/// Counts one HTTP request sent.
pub fn count_request() {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

/// Runs a checkpoint write and adds its duration to the totals.
///
/// With the commit probe on, each batch checkpoint is paired with one bare
/// commit, timed before it for even batches and after it for odd ones.
/// Whichever of the two runs first finds the CPU caches cold after the
/// batch's other work, so alternating gives both the same share of cold
/// and warm runs.
pub fn time_checkpoint<T>(kind: Checkpoint, write: impl FnOnce() -> T) -> T {
    let probe_first =
        kind == Checkpoint::Batch && BATCH_CHECKPOINTS.load(Ordering::Relaxed).is_multiple_of(2);
    if probe_first {
        probe_commit();
    }

    let started = Instant::now();
    let result = write();
    let nanos = started.elapsed().as_nanos() as u64;
    CHECKPOINT_NANOS.fetch_add(nanos, Ordering::Relaxed);
    CHECKPOINTS.fetch_add(1, Ordering::Relaxed);

    if kind == Checkpoint::Batch {
        BATCH_CHECKPOINT_NANOS.fetch_add(nanos, Ordering::Relaxed);
        BATCH_CHECKPOINTS.fetch_add(1, Ordering::Relaxed);
        BATCH_CHECKPOINT_MAX_NANOS.fetch_max(nanos, Ordering::Relaxed);
        if !probe_first {
            probe_commit();
        }
    }
    result
}

/// Runs a WAL checkpoint of the checkpoint store and adds its duration to
/// the totals.
pub fn time_wal_checkpoint<T>(checkpoint: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = checkpoint();
    WAL_CHECKPOINT_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    WAL_CHECKPOINTS.fetch_add(1, Ordering::Relaxed);
    result
}

/// Starts timing one bare commit after each batch checkpoint, on a scratch
/// database in `dir` with the checkpoint store's durability mode.
pub fn enable_commit_probe(dir: &std::path::Path) -> rusqlite::Result<()> {
    let path = dir.join(format!("prodsync-commit-probe-{}.db", std::process::id()));
    let connection = open_probe(&path)?;
    *PROBE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Probe {
        connection,
        path,
        next_id: 0,
    });
    Ok(())
}

/// Stops the probe and deletes its scratch database.
pub fn disable_commit_probe() {
    let probe = PROBE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    if let Some(probe) = probe {
        let path = probe.path.clone();
        drop(probe);
        remove_database(&path);
    }
}

fn probe_commit() {
    let mut guard = PROBE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(probe) = guard.as_mut() else {
        return;
    };
    probe.next_id += 1;
    let started = Instant::now();
    if insert_one(&mut probe.connection, probe.next_id).is_ok() {
        PROBE_COMMIT_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        PROBE_COMMITS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub http_requests: u64,
    pub checkpoint_writes: u64,
    pub checkpoint_seconds: f64,
    /// The batch checkpoints among them.
    pub batch_checkpoint_writes: u64,
    pub batch_checkpoint_seconds: f64,
    /// The slowest batch checkpoint.
    pub batch_checkpoint_max_seconds: f64,
    /// WAL checkpoints run by the lease keeper, off the commit path.
    pub wal_checkpoints: u64,
    pub wal_checkpoint_seconds: f64,
    /// Bare one-row commits timed right after batch checkpoints.
    pub probe_commits: u64,
    pub probe_commit_seconds: f64,
    /// Peak resident memory of this process (`VmHWM`), in MB.
    pub peak_rss_mb: f64,
}

/// Reads the counters.
pub fn snapshot() -> Snapshot {
    Snapshot {
        http_requests: REQUESTS.load(Ordering::Relaxed),
        checkpoint_writes: CHECKPOINTS.load(Ordering::Relaxed),
        checkpoint_seconds: CHECKPOINT_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        batch_checkpoint_writes: BATCH_CHECKPOINTS.load(Ordering::Relaxed),
        batch_checkpoint_seconds: BATCH_CHECKPOINT_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        batch_checkpoint_max_seconds: BATCH_CHECKPOINT_MAX_NANOS.load(Ordering::Relaxed) as f64
            / 1e9,
        wal_checkpoints: WAL_CHECKPOINTS.load(Ordering::Relaxed),
        wal_checkpoint_seconds: WAL_CHECKPOINT_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        probe_commits: PROBE_COMMITS.load(Ordering::Relaxed),
        probe_commit_seconds: PROBE_COMMIT_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        peak_rss_mb: peak_rss_mb().unwrap_or(0.0),
    }
}

/// Reads this process's peak resident memory from `/proc/self/status`.
/// Unlike a parent's `wait4` figure, it leaves out what the process held
/// before it was started with exec.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes / 1024.0)
}

/// Measures a bare SQLite commit of one small row in the checkpoint
/// store's durability mode (WAL, `synchronous = NORMAL`, no checkpoint on
/// commit), on a scratch file
/// in `dir`; returns the mean seconds per commit over `count` commits.
pub fn bare_commit_seconds(dir: &std::path::Path, count: u32) -> rusqlite::Result<f64> {
    let path = dir.join(format!("prodsync-commit-idle-{}.db", std::process::id()));
    let result = time_commits(&path, count);
    remove_database(&path);
    result
}

fn time_commits(path: &std::path::Path, count: u32) -> rusqlite::Result<f64> {
    let mut connection = open_probe(path)?;
    let started = Instant::now();
    for index in 0..count {
        insert_one(&mut connection, i64::from(index))?;
    }
    Ok(started.elapsed().as_secs_f64() / f64::from(count.max(1)))
}

fn open_probe(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // The checkpoint store's policy: commits do not checkpoint the WAL.
    connection.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, run_id TEXT, value TEXT);",
    )?;
    Ok(connection)
}

/// Commits one small row in its own transaction.
fn insert_one(connection: &mut rusqlite::Connection, id: i64) -> rusqlite::Result<()> {
    let tx = connection.transaction()?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO probe (id, run_id, value) VALUES (?1, 'probe', 'x')",
    )?
    .execute([id])?;
    tx.commit()
}

fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
