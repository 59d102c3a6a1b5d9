//! Schema of the checkpoint database and its forward migrations.
//!
//! The schema version lives in SQLite's `user_version`. Each entry of
//! [`MIGRATIONS`] moves the schema one version forward; a database from a
//! newer prodsync (a higher version than this build knows) is rejected
//! untouched.

/// Migrations in order; index `i` moves version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // Version 1: runs, the append-only transition log, and import batches.
    r#"
    CREATE TABLE runs (
        run_id          TEXT PRIMARY KEY,
        workflow_name   TEXT NOT NULL,
        workflow_path   TEXT NOT NULL,
        workflow_sha256 TEXT NOT NULL,
        workflow_json   TEXT NOT NULL,
        emulator_dir    TEXT,
        state           TEXT NOT NULL,
        state_data      TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );

    CREATE TABLE transitions (
        run_id      TEXT NOT NULL REFERENCES runs(run_id),
        seq         INTEGER NOT NULL,
        from_state  TEXT NOT NULL,
        to_state    TEXT NOT NULL,
        step        TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        error       TEXT,
        state_data  TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );

    CREATE TRIGGER transitions_no_update BEFORE UPDATE ON transitions
    BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;

    CREATE TRIGGER transitions_no_delete BEFORE DELETE ON transitions
    BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;

    CREATE TABLE batches (
        run_id         TEXT NOT NULL REFERENCES runs(run_id),
        batch_index    INTEGER NOT NULL,
        first_record   INTEGER NOT NULL,
        documents      INTEGER NOT NULL,
        pages          INTEGER NOT NULL,
        bytes          INTEGER NOT NULL,
        first_bates    TEXT,
        last_bates     TEXT,
        data_source_id TEXT NOT NULL,
        completed_at   TEXT NOT NULL,
        PRIMARY KEY (run_id, batch_index)
    );
    "#,
    // Version 2: failed attempts of steps, the one-runner lease, and cancel
    // requests from another process.
    r#"
    CREATE TABLE attempts (
        run_id      TEXT NOT NULL REFERENCES runs(run_id),
        step        TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        error       TEXT NOT NULL,
        delay_ms    INTEGER NOT NULL,
        PRIMARY KEY (run_id, step, attempt)
    );

    CREATE TABLE leases (
        run_id      TEXT PRIMARY KEY REFERENCES runs(run_id),
        holder      TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL
    );

    ALTER TABLE runs ADD COLUMN cancel_requested_at TEXT;
    "#,
    // Version 3: the audit record. Each transition and batch carries who
    // recorded it, with which prodsync and workflow file, and its link in
    // the run's hash chain (see `store::audit`). Rows recorded before this
    // version keep NULL links: they are `legacy`, which `verify` reports as
    // unchecked. Batches become append-only like transitions.
    r#"
    ALTER TABLE runs ADD COLUMN audit_chain TEXT NOT NULL DEFAULT 'legacy';
    ALTER TABLE runs ADD COLUMN audit_key_id TEXT;
    ALTER TABLE runs ADD COLUMN forked_from_run TEXT;
    ALTER TABLE runs ADD COLUMN forked_from_seq INTEGER;

    ALTER TABLE transitions ADD COLUMN actor TEXT NOT NULL DEFAULT '';
    ALTER TABLE transitions ADD COLUMN host TEXT NOT NULL DEFAULT '';
    ALTER TABLE transitions ADD COLUMN version TEXT NOT NULL DEFAULT '';
    ALTER TABLE transitions ADD COLUMN workflow_sha256 TEXT NOT NULL DEFAULT '';
    ALTER TABLE transitions ADD COLUMN chain_seq INTEGER;
    ALTER TABLE transitions ADD COLUMN prev_hash TEXT;
    ALTER TABLE transitions ADD COLUMN hash TEXT;
    CREATE UNIQUE INDEX transitions_chain ON transitions (run_id, chain_seq);

    ALTER TABLE batches ADD COLUMN actor TEXT NOT NULL DEFAULT '';
    ALTER TABLE batches ADD COLUMN host TEXT NOT NULL DEFAULT '';
    ALTER TABLE batches ADD COLUMN version TEXT NOT NULL DEFAULT '';
    ALTER TABLE batches ADD COLUMN workflow_sha256 TEXT NOT NULL DEFAULT '';
    ALTER TABLE batches ADD COLUMN chain_seq INTEGER;
    ALTER TABLE batches ADD COLUMN prev_hash TEXT;
    ALTER TABLE batches ADD COLUMN hash TEXT;
    CREATE UNIQUE INDEX batches_chain ON batches (run_id, chain_seq);

    CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches
    BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;

    CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
    BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;
    "#,
    // Version 4: each run gets a number, and a batch row's integer key is
    // `run_number × 2³² + batch_index`. Recording a batch then writes one
    // B-tree instead of three (the table, its `(run_id, batch_index)` key
    // and the chain index). The key keeps a batch unique within its run, and
    // a run's batches are read by key range. The lease holder keeps the
    // newest chain link in memory (see `store::audit`), so the chain index
    // is dropped.
    r#"
    ALTER TABLE runs ADD COLUMN run_number INTEGER;
    UPDATE runs SET run_number = rowid;
    CREATE UNIQUE INDEX runs_number ON runs (run_number);

    CREATE TABLE batches_keyed (
        batch_key       INTEGER PRIMARY KEY,
        run_id          TEXT NOT NULL REFERENCES runs(run_id),
        batch_index     INTEGER NOT NULL,
        first_record    INTEGER NOT NULL,
        documents       INTEGER NOT NULL,
        pages           INTEGER NOT NULL,
        bytes           INTEGER NOT NULL,
        first_bates     TEXT,
        last_bates      TEXT,
        data_source_id  TEXT NOT NULL,
        completed_at    TEXT NOT NULL,
        actor           TEXT NOT NULL DEFAULT '',
        host            TEXT NOT NULL DEFAULT '',
        version         TEXT NOT NULL DEFAULT '',
        workflow_sha256 TEXT NOT NULL DEFAULT '',
        chain_seq       INTEGER,
        prev_hash       TEXT,
        hash            TEXT,
        CHECK (batch_index >= 0 AND batch_index < 4294967296),
        CHECK (batch_key % 4294967296 = batch_index)
    );

    INSERT INTO batches_keyed
    SELECT r.run_number * 4294967296 + b.batch_index, b.run_id, b.batch_index,
           b.first_record, b.documents, b.pages, b.bytes, b.first_bates, b.last_bates,
           b.data_source_id, b.completed_at, b.actor, b.host, b.version, b.workflow_sha256,
           b.chain_seq, b.prev_hash, b.hash
    FROM batches b JOIN runs r ON r.run_id = b.run_id;

    DROP TABLE batches;
    ALTER TABLE batches_keyed RENAME TO batches;

    CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches
    BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;

    CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
    BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;
    "#,
];

/// Distance between the first batch keys of two runs; see version 4.
pub const BATCH_KEY_SPAN: i64 = 1 << 32;

/// SQL condition that selects the rows of run `?1` in `batches` by key
/// range, so SQLite reads them through the table's own key. It expands to
/// a string literal, for `concat!`.
macro_rules! run_batches {
    () => {
        "batches.batch_key >= (SELECT run_number FROM runs WHERE run_id = ?1) * 4294967296
         AND batches.batch_key < ((SELECT run_number FROM runs WHERE run_id = ?1) + 1) * 4294967296"
    };
}
pub(crate) use run_batches;

/// Schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}
