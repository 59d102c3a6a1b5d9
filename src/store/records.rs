//! Rows of the checkpoint store and the queries that read and write them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::audit::{AuditedBatch, AuditedTransition, ChainHead, ChainLink};
use super::schema::{run_batches, BATCH_KEY_SPAN};
use super::{Store, StoreError};
use crate::machine::SyncState;

/// A run as first recorded.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub run_id: &'a str,
    pub workflow_name: &'a str,
    pub workflow_path: &'a str,
    pub workflow_sha256: &'a str,
    /// The parsed workflow as JSON; it names environment variables, never
    /// their values.
    pub workflow_json: &'a str,
    pub emulator_dir: Option<PathBuf>,
    pub state: &'a SyncState,
}

/// A run with its current state.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub workflow_name: String,
    pub workflow_path: String,
    pub workflow_sha256: String,
    pub workflow_json: String,
    pub emulator_dir: Option<PathBuf>,
    pub state: SyncState,
    pub created_at: String,
    pub updated_at: String,
}

/// One recorded transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRecord {
    pub run_id: String,
    pub seq: i64,
    pub from: String,
    pub to: String,
    pub step: String,
    pub attempt: i64,
    pub started_at: String,
    pub finished_at: String,
    /// `completed` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
    /// The new state with its data.
    pub state: serde_json::Value,
}

/// One completed import batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRecord {
    pub run_id: String,
    pub batch_index: u64,
    /// Index of the batch's first document in the snapshot.
    pub first_record: u64,
    pub documents: u64,
    pub pages: u64,
    pub bytes: u64,
    pub first_bates: Option<String>,
    pub last_bates: Option<String>,
    pub data_source_id: String,
    pub completed_at: String,
}

impl Store {
    /// Records a new run in its first state; its audit chain is keyed when
    /// this store holds an audit key.
    #[tracing::instrument(skip_all, fields(run_id = run.run_id))]
    pub fn create_run(&self, run: &NewRun<'_>) -> Result<(), StoreError> {
        self.insert_run(run, None)
    }

    pub(super) fn insert_run(
        &self,
        run: &NewRun<'_>,
        origin: Option<(&str, i64)>,
    ) -> Result<(), StoreError> {
        let state_data = serde_json::to_string(run.state).expect("states serialize");
        let now = super::now();
        let emulator_dir = run
            .emulator_dir
            .as_ref()
            .map(|dir| dir.display().to_string());
        let (mode, key_id) = self.recorder.new_run_mode();
        self.lock()
            .execute(
                "INSERT INTO runs (run_id, workflow_name, workflow_path, workflow_sha256,
                    workflow_json, emulator_dir, state, state_data, created_at, updated_at,
                    audit_chain, audit_key_id, forked_from_run, forked_from_seq, run_number)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?13,
                    (SELECT COALESCE(MAX(run_number), 0) + 1 FROM runs))",
                params![
                    run.run_id,
                    run.workflow_name,
                    run.workflow_path,
                    run.workflow_sha256,
                    run.workflow_json,
                    emulator_dir,
                    run.state.name().to_string(),
                    state_data,
                    now,
                    mode.to_string(),
                    key_id,
                    origin.map(|(run_id, _)| run_id),
                    origin.map(|(_, seq)| seq),
                ],
            )
            .map_err(|source| self.error(source))?;
        Ok(())
    }

    /// Reads one run.
    pub fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        let row = self
            .lock()
            .query_row(
                "SELECT run_id, workflow_name, workflow_path, workflow_sha256, workflow_json,
                        emulator_dir, state_data, created_at, updated_at
                 FROM runs WHERE run_id = ?1",
                [run_id],
                read_run_row,
            )
            .optional()
            .map_err(|source| self.error(source))?;
        let Some((record, state_data)) = row else {
            return Err(StoreError::RunNotFound {
                path: self.path.clone(),
                run_id: run_id.to_string(),
            });
        };
        self.with_state(record, &state_data)
    }

    /// Reads every run, newest first, with its count of completed batches.
    pub fn list_runs(&self) -> Result<Vec<(RunRecord, u64)>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT run_id, workflow_name, workflow_path, workflow_sha256, workflow_json,
                        emulator_dir, state_data, created_at, updated_at,
                        (SELECT COUNT(*) FROM batches b
                         WHERE b.batch_key >= runs.run_number * 4294967296
                           AND b.batch_key < (runs.run_number + 1) * 4294967296)
                 FROM runs ORDER BY created_at DESC, run_id",
            )
            .map_err(|source| self.error(source))?;
        let rows = statement
            .query_map([], |row| {
                let (record, state_data) = read_run_row(row)?;
                let batches: i64 = row.get(9)?;
                Ok((record, state_data, batches as u64))
            })
            .map_err(|source| self.error(source))?;
        let rows = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| self.error(source))?;
        drop(statement);
        drop(connection);

        rows.into_iter()
            .map(|(record, state_data, batches)| {
                Ok((self.with_state(record, &state_data)?, batches))
            })
            .collect()
    }

    fn with_state(&self, mut record: RunRecord, state_data: &str) -> Result<RunRecord, StoreError> {
        record.state =
            serde_json::from_str(state_data).map_err(|source| StoreError::BadStateData {
                path: self.path.clone(),
                run_id: record.run_id.clone(),
                source,
            })?;
        Ok(record)
    }

    /// Appends a transition, as the next entry of the run's audit chain,
    /// and moves the run to its new state, in one SQLite transaction.
    /// Returns the transition's sequence number.
    #[tracing::instrument(skip_all, fields(run_id = %transition.run_id, step = %transition.step))]
    pub fn record_transition(
        &self,
        transition: &TransitionRecord,
        state: &SyncState,
        holder: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut connection = self.lock();
        let tx = connection
            .transaction()
            .map_err(|source| self.error(source))?;
        let written = self.write_transition(&tx, transition, state, holder);
        self.commit_entry(tx, &transition.run_id, written)
    }

    /// Commits a chain entry written inside `tx` and keeps the run's new
    /// chain head, or drops the kept head when the write or commit failed.
    fn commit_entry<T>(
        &self,
        tx: rusqlite::Transaction<'_>,
        run_id: &str,
        written: Result<(T, ChainHead), StoreError>,
    ) -> Result<T, StoreError> {
        let committed = written.and_then(|entry| {
            tx.commit().map_err(|source| self.error(source))?;
            Ok(entry)
        });
        match committed {
            Ok((value, head)) => {
                self.remember_head(run_id, head);
                Ok(value)
            }
            Err(error) => {
                self.forget_head(run_id);
                Err(error)
            }
        }
    }

    /// Writes a transition and the run's new state inside `tx`; returns
    /// its sequence number and the chain head after it.
    fn write_transition(
        &self,
        tx: &rusqlite::Transaction<'_>,
        transition: &TransitionRecord,
        state: &SyncState,
        holder: Option<&str>,
    ) -> Result<(i64, ChainHead), StoreError> {
        self.check_lease(tx, &transition.run_id, holder)?;
        let seq: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM transitions WHERE run_id = ?1",
                [&transition.run_id],
                |row| row.get(0),
            )
            .map_err(|source| self.error(source))?;
        let state_data = serde_json::to_string(state).expect("states serialize");
        let next = self.next_link(tx, &transition.run_id, holder)?;
        let mut audited = AuditedTransition {
            record: TransitionRecord {
                seq,
                ..transition.clone()
            },
            state_data,
            provenance: next.provenance.clone(),
            link: None,
        };
        let hash = next.hash(&audited.fields(next.position, &next.prev_hash));
        let head = next.head_after(hash.clone());
        audited.link = Some(ChainLink {
            position: next.position,
            prev_hash: next.prev_hash,
            hash,
        });
        insert_transition(tx, &audited).map_err(|source| self.error(source))?;
        let state_data = audited.state_data;
        let updated = tx
            .execute(
                "UPDATE runs SET state = ?2, state_data = ?3, updated_at = ?4 WHERE run_id = ?1",
                params![
                    transition.run_id,
                    transition.to,
                    state_data,
                    transition.finished_at
                ],
            )
            .map_err(|source| self.error(source))?;
        if updated != 1 {
            return Err(StoreError::RunNotFound {
                path: self.path.clone(),
                run_id: transition.run_id.clone(),
            });
        }
        Ok((seq, head))
    }

    /// Reads a run's transitions in order.
    pub fn transitions(&self, run_id: &str) -> Result<Vec<TransitionRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT run_id, seq, from_state, to_state, step, attempt, started_at,
                        finished_at, outcome, error, state_data
                 FROM transitions WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|source| self.error(source))?;
        let rows = statement
            .query_map([run_id], read_transition_row)
            .map_err(|source| self.error(source))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|source| self.error(source))
    }

    /// Records a completed batch as the next entry of the run's audit
    /// chain, in one transaction that also checks `holder` still holds the
    /// run's lease.
    #[tracing::instrument(skip_all, fields(run_id = %batch.run_id, batch = batch.batch_index))]
    pub fn record_batch(
        &self,
        batch: &BatchRecord,
        holder: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let tx = connection
            .transaction()
            .map_err(|source| self.error(source))?;
        let written = self.write_batch(&tx, batch, holder);
        self.commit_entry(tx, &batch.run_id, written.map(|head| ((), head)))
    }

    /// Writes a batch row inside `tx`; returns the chain head after it.
    fn write_batch(
        &self,
        tx: &rusqlite::Transaction<'_>,
        batch: &BatchRecord,
        holder: Option<&str>,
    ) -> Result<ChainHead, StoreError> {
        let next = self.next_link(tx, &batch.run_id, holder)?;
        let mut audited = AuditedBatch {
            record: batch.clone(),
            provenance: next.provenance.clone(),
            link: None,
        };
        let hash = next.hash(&audited.fields(next.position, &next.prev_hash));
        let head = next.head_after(hash.clone());
        audited.link = Some(ChainLink {
            position: next.position,
            prev_hash: next.prev_hash,
            hash,
        });

        let key = next.run_number * BATCH_KEY_SPAN + batch.batch_index as i64;
        let inserted =
            insert_batch(tx, key, &audited, holder).map_err(|source| self.error(source))?;
        if inserted == 0 {
            return Err(StoreError::LeaseLost {
                run_id: batch.run_id.clone(),
                holder: holder.unwrap_or_default().to_string(),
            });
        }
        Ok(head)
    }

    fn check_lease(
        &self,
        connection: &rusqlite::Connection,
        run_id: &str,
        holder: Option<&str>,
    ) -> Result<(), StoreError> {
        let holds = super::leases::check_holder(connection, run_id, holder)
            .map_err(|source| self.error(source))?;
        if holds {
            return Ok(());
        }
        Err(StoreError::LeaseLost {
            run_id: run_id.to_string(),
            holder: holder.unwrap_or_default().to_string(),
        })
    }

    /// Reads a run's completed batches in index order.
    pub fn batches(&self, run_id: &str) -> Result<Vec<BatchRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(concat!(
                "SELECT run_id, batch_index, first_record, documents, pages, bytes, first_bates,
                        last_bates, data_source_id, completed_at
                 FROM batches WHERE ",
                run_batches!(),
                " ORDER BY batch_key"
            ))
            .map_err(|source| self.error(source))?;
        let rows = statement
            .query_map([run_id], read_batch_row)
            .map_err(|source| self.error(source))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|source| self.error(source))
    }

    /// Returns the indexes of a run's completed batches.
    pub fn completed_batches(&self, run_id: &str) -> Result<BTreeSet<u64>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(concat!(
                "SELECT batch_index FROM batches WHERE ",
                run_batches!()
            ))
            .map_err(|source| self.error(source))?;
        let rows = statement
            .query_map([run_id], |row| row.get::<_, i64>(0))
            .map_err(|source| self.error(source))?;
        rows.map(|index| index.map(|index| index as u64))
            .collect::<Result<BTreeSet<_>, _>>()
            .map_err(|source| self.error(source))
    }
}

fn insert_transition(
    connection: &rusqlite::Connection,
    audited: &AuditedTransition,
) -> rusqlite::Result<()> {
    let transition = &audited.record;
    let provenance = &audited.provenance;
    let link = audited.link.as_ref().expect("a new transition is linked");
    connection
        .prepare_cached(
            "INSERT INTO transitions (run_id, seq, from_state, to_state, step, attempt,
                started_at, finished_at, outcome, error, state_data, actor, host, version,
                workflow_sha256, chain_seq, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                ?17, ?18)",
        )?
        .execute(params![
            transition.run_id,
            transition.seq,
            transition.from,
            transition.to,
            transition.step,
            transition.attempt,
            transition.started_at,
            transition.finished_at,
            transition.outcome,
            transition.error,
            audited.state_data,
            provenance.actor,
            provenance.host,
            provenance.version,
            provenance.workflow_sha256,
            link.position,
            link.prev_hash,
            link.hash,
        ])?;
    Ok(())
}

/// Inserts a batch row under `key`, if `holder` (when set) holds the run's
/// lease. Returns the number of rows inserted, which is 0 when another
/// process holds the lease.
fn insert_batch(
    connection: &rusqlite::Connection,
    key: i64,
    audited: &AuditedBatch,
    holder: Option<&str>,
) -> rusqlite::Result<usize> {
    let batch = &audited.record;
    let provenance = &audited.provenance;
    let link = audited.link.as_ref().expect("a new batch is linked");
    connection
        .prepare_cached(
            "INSERT INTO batches (batch_key, run_id, batch_index, first_record, documents, pages,
                bytes, first_bates, last_bates, data_source_id, completed_at, actor, host,
                version, workflow_sha256, chain_seq, prev_hash, hash)
             SELECT ?19, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                ?17
             WHERE ?18 IS NULL
                OR EXISTS (SELECT 1 FROM leases WHERE run_id = ?1 AND holder = ?18)",
        )?
        .execute(params![
            batch.run_id,
            batch.batch_index as i64,
            batch.first_record as i64,
            batch.documents as i64,
            batch.pages as i64,
            batch.bytes as i64,
            batch.first_bates,
            batch.last_bates,
            batch.data_source_id,
            batch.completed_at,
            provenance.actor,
            provenance.host,
            provenance.version,
            provenance.workflow_sha256,
            link.position,
            link.prev_hash,
            link.hash,
            holder,
            key,
        ])
}

fn read_run_row(row: &Row<'_>) -> rusqlite::Result<(RunRecord, String)> {
    let emulator_dir: Option<String> = row.get(5)?;
    let record = RunRecord {
        run_id: row.get(0)?,
        workflow_name: row.get(1)?,
        workflow_path: row.get(2)?,
        workflow_sha256: row.get(3)?,
        workflow_json: row.get(4)?,
        emulator_dir: emulator_dir.map(PathBuf::from),
        state: SyncState::Configured,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    };
    Ok((record, row.get(6)?))
}

pub(super) fn read_transition_row(row: &Row<'_>) -> rusqlite::Result<TransitionRecord> {
    let state_data: String = row.get(10)?;
    Ok(TransitionRecord {
        run_id: row.get(0)?,
        seq: row.get(1)?,
        from: row.get(2)?,
        to: row.get(3)?,
        step: row.get(4)?,
        attempt: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        outcome: row.get(8)?,
        error: row.get(9)?,
        state: serde_json::from_str(&state_data).unwrap_or(serde_json::Value::String(state_data)),
    })
}

pub(super) fn read_batch_row(row: &Row<'_>) -> rusqlite::Result<BatchRecord> {
    Ok(BatchRecord {
        run_id: row.get(0)?,
        batch_index: row.get::<_, i64>(1)? as u64,
        first_record: row.get::<_, i64>(2)? as u64,
        documents: row.get::<_, i64>(3)? as u64,
        pages: row.get::<_, i64>(4)? as u64,
        bytes: row.get::<_, i64>(5)? as u64,
        first_bates: row.get(6)?,
        last_bates: row.get(7)?,
        data_source_id: row.get(8)?,
        completed_at: row.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Failed, StepName};
    use pretty_assertions::assert_eq;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).unwrap();
        (dir, store)
    }

    fn new_run(store: &Store, run_id: &str) {
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

    fn transition(run_id: &str, to: &SyncState) -> TransitionRecord {
        TransitionRecord {
            run_id: run_id.into(),
            seq: 0,
            from: "Configured".into(),
            to: to.name().to_string(),
            step: StepName::ValidateSource.to_string(),
            attempt: 1,
            started_at: super::super::now(),
            finished_at: super::super::now(),
            outcome: "failed".into(),
            error: Some("boom".into()),
            state: serde_json::Value::Null,
        }
    }

    fn failed() -> SyncState {
        SyncState::Failed(Failed {
            step: StepName::ValidateSource,
            message: "boom".into(),
            last_good: Box::new(SyncState::Configured),
        })
    }

    #[test]
    fn record_transition_moves_run_state() {
        let (_dir, store) = store();
        new_run(&store, "r1");
        let state = failed();
        let seq = store
            .record_transition(&transition("r1", &state), &state, None)
            .unwrap();
        assert_eq!(seq, 1);
        assert_eq!(store.run("r1").unwrap().state, state);
        assert_eq!(store.transitions("r1").unwrap().len(), 1);
    }

    #[test]
    fn transitions_reject_update_and_delete() {
        let (_dir, store) = store();
        new_run(&store, "r1");
        let state = failed();
        store
            .record_transition(&transition("r1", &state), &state, None)
            .unwrap();
        let connection = store.lock();
        let update = connection.execute("UPDATE transitions SET error = 'x'", []);
        let delete = connection.execute("DELETE FROM transitions", []);
        assert!(update.unwrap_err().to_string().contains("append-only"));
        assert!(delete.unwrap_err().to_string().contains("append-only"));
    }

    #[test]
    fn run_not_found_names_run() {
        let (_dir, store) = store();
        let message = store.run("nope").unwrap_err().to_string();
        assert!(message.contains("run nope not found"), "{message}");
    }

    #[test]
    fn open_rejects_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        drop(Store::open(&path).unwrap());
        rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = Store::open(&path).unwrap_err();
        assert!(
            matches!(error, StoreError::NewerSchema { found: 99, .. }),
            "{error}"
        );
    }

    #[test]
    fn open_rejects_file_that_is_not_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let error = Store::open(&path).unwrap_err();
        assert!(matches!(error, StoreError::NotADatabase { .. }), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; 4096]);
    }

    #[test]
    fn completed_batches_lists_indexes() {
        let (_dir, store) = store();
        new_run(&store, "r1");
        for index in [0, 2] {
            store
                .record_batch(
                    &BatchRecord {
                        run_id: "r1".into(),
                        batch_index: index,
                        first_record: index * 10,
                        documents: 10,
                        pages: 20,
                        bytes: 100,
                        first_bates: None,
                        last_bates: None,
                        data_source_id: format!("s{index}"),
                        completed_at: super::super::now(),
                    },
                    None,
                )
                .unwrap();
        }
        let indexes: Vec<u64> = store.completed_batches("r1").unwrap().into_iter().collect();
        assert_eq!(indexes, vec![0, 2]);
    }
}
