//! Process-wide counters for benchmarks: HTTP requests sent to Relativity,
//! and the count and time of checkpoint writes (transitions and batches).
//!
//! The counters are relaxed atomics, cheap enough to stay on in every
//! build. `prodsync run --stats-json FILE` writes them when the run ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static CHECKPOINTS: AtomicU64 = AtomicU64::new(0);
static CHECKPOINT_NANOS: AtomicU64 = AtomicU64::new(0);
static BATCH_CHECKPOINTS: AtomicU64 = AtomicU64::new(0);
static BATCH_CHECKPOINT_NANOS: AtomicU64 = AtomicU64::new(0);

/// What a checkpoint write records.
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
pub fn time_checkpoint<T>(kind: Checkpoint, write: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = write();
    let nanos = started.elapsed().as_nanos() as u64;
    CHECKPOINT_NANOS.fetch_add(nanos, Ordering::Relaxed);
    CHECKPOINTS.fetch_add(1, Ordering::Relaxed);
    if kind == Checkpoint::Batch {
        BATCH_CHECKPOINT_NANOS.fetch_add(nanos, Ordering::Relaxed);
        BATCH_CHECKPOINTS.fetch_add(1, Ordering::Relaxed);
    }
    result
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
}

/// Reads the counters.
pub fn snapshot() -> Snapshot {
    Snapshot {
        http_requests: REQUESTS.load(Ordering::Relaxed),
        checkpoint_writes: CHECKPOINTS.load(Ordering::Relaxed),
        checkpoint_seconds: CHECKPOINT_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        batch_checkpoint_writes: BATCH_CHECKPOINTS.load(Ordering::Relaxed),
        batch_checkpoint_seconds: BATCH_CHECKPOINT_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
    }
}

/// Measures a bare SQLite commit of one small row in the checkpoint
/// store's durability mode (WAL, `synchronous = NORMAL`), on a scratch file
/// in `dir`; returns the mean seconds per commit over `count` commits.
pub fn bare_commit_seconds(dir: &std::path::Path, count: u32) -> rusqlite::Result<f64> {
    let path = dir.join(format!("prodsync-commit-probe-{}.db", std::process::id()));
    let result = time_commits(&path, count);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

fn time_commits(path: &std::path::Path, count: u32) -> rusqlite::Result<f64> {
    let mut connection = rusqlite::Connection::open(path)?;
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    connection.execute_batch(
        "PRAGMA synchronous = NORMAL;
         CREATE TABLE probe (id INTEGER PRIMARY KEY, run_id TEXT, value TEXT);",
    )?;

    let started = Instant::now();
    for index in 0..count {
        let tx = connection.transaction()?;
        tx.prepare_cached("INSERT INTO probe (id, run_id, value) VALUES (?1, 'probe', 'x')")?
            .execute([index])?;
        tx.commit()?;
    }
    Ok(started.elapsed().as_secs_f64() / f64::from(count.max(1)))
}
