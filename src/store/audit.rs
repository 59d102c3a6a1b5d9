//! The audit chain: who recorded each transition and batch, and the hash
//! chain that makes the record tamper-evident.
//!
//! Every transition and every batch completion of a run is one entry of
//! the run's chain. Entries are numbered 1, 2, … by `chain_seq` across both
//! tables, and each stores the hash of the previous entry (`prev_hash`) and
//! its own hash over its content and that previous hash. The first entry's
//! previous hash is the run's genesis hash, which binds the run ID and, for
//! a forked run, the origin entry it was forked from.
//!
//! Hashes are SHA-256 over [`canonical`], or HMAC-SHA256 with the key in
//! `PRODSYNC_AUDIT_KEY` when the run was created with one. Then anyone who can
//! write the database still cannot recompute the chain. The run records which
//! ([`ChainMode`]) and an ID of the key, never the key.
//!
//! A chain cannot show that its newest entries were removed, so the head
//! (the last entry's position and hash) is printed at the end of each run,
//! and `verify` compares it with the head an auditor kept.
//!
//! Rows recorded before schema version 3 have no chain link; they are
//! `legacy` entries, listed first and reported as unchecked.

use std::collections::HashMap;
use std::io::Write;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::records::{BatchRecord, TransitionRecord};
use super::schema::run_batches;
use super::{Store, StoreError};

/// Environment variable holding the key of HMAC chains.
pub const AUDIT_KEY_VAR: &str = "PRODSYNC_AUDIT_KEY";

/// Domain prefix of every canonical serialization; a new format gets a new
/// prefix.
const CANONICAL_PREFIX: &str = "prodsync-audit-v1\n";

/// Message whose HMAC identifies a key without revealing it.
const KEY_ID_MESSAGE: &[u8] = b"prodsync audit key id";

/// A secret key for HMAC chains; its `Debug` output hides the bytes.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "AuditKey({})", self.id())
    }
}

impl AuditKey {
    /// Wraps key bytes; an empty key is no key.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<AuditKey> {
        let bytes = bytes.into();
        (!bytes.is_empty()).then_some(AuditKey(bytes))
    }

    /// Reads the key from `PRODSYNC_AUDIT_KEY`, if set and not empty.
    pub fn from_env() -> Option<AuditKey> {
        let value = std::env::var_os(AUDIT_KEY_VAR)?;
        AuditKey::new(value.into_encoded_bytes())
    }

    /// Returns a public ID of the key: the first 16 hex digits of the HMAC
    /// of a fixed message.
    pub fn id(&self) -> String {
        let mut hex = keyed_hash(self, KEY_ID_MESSAGE);
        hex.truncate(16);
        hex
    }
}

/// Hash function of a run's chain, as stored in `runs.audit_chain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::EnumString)]
#[strum(serialize_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum ChainMode {
    /// A run created before schema version 3. Its older entries have no
    /// link, and entries recorded since are chained with plain SHA-256.
    Legacy,
    /// Plain SHA-256: detects edits, unless the writer recomputes the chain
    /// (comparing the head catches that).
    Sha256,
    /// HMAC-SHA256 with the run's audit key.
    HmacSha256,
}

/// Origin of an entry: the recording user and host, the prodsync version
/// and the workflow file's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// OS user of the recording process.
    pub actor: String,
    pub host: String,
    /// prodsync version that recorded the entry.
    pub version: String,
    /// SHA-256 of the workflow file the run was started with.
    pub workflow_sha256: String,
}

/// The place of an entry in its run's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// Position in the chain, from 1.
    pub position: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// A recorded transition with its audit columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditedTransition {
    pub record: TransitionRecord,
    /// The state as stored, byte for byte: the hash covers this text.
    pub state_data: String,
    pub provenance: Provenance,
    /// `None` for a legacy row.
    pub link: Option<ChainLink>,
}

/// A recorded batch completion with its audit columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditedBatch {
    pub record: BatchRecord,
    pub provenance: Provenance,
    /// `None` for a legacy row.
    pub link: Option<ChainLink>,
}

/// One entry of a run's audit record.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditEntry {
    Transition(AuditedTransition),
    Batch(AuditedBatch),
}

/// A run's chain mode, key ID and fork origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainInfo {
    pub run_id: String,
    pub mode: ChainMode,
    /// ID of the key of an HMAC chain (see [`AuditKey::id`]).
    pub key_id: Option<String>,
    pub forked_from_run: Option<String>,
    pub forked_from_seq: Option<i64>,
}

/// A run's chain information and its entries: legacy entries first, then
/// chained entries by position.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditTrail {
    pub chain: ChainInfo,
    pub entries: Vec<AuditEntry>,
}

/// One value of a canonical serialization.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(text: &'a str) -> Field<'a> {
        Field::Text(text)
    }
}

impl<'a> From<Option<&'a str>> for Field<'a> {
    fn from(text: Option<&'a str>) -> Field<'a> {
        text.map_or(Field::Null, Field::Text)
    }
}

impl From<i64> for Field<'_> {
    fn from(number: i64) -> Self {
        Field::Int(number)
    }
}

/// Serializes an entry for hashing: the line `prodsync-audit-v1`, then one
/// line per field in the given order, `name:s<byte length>:<text>`,
/// `name:i:<decimal>` or `name:n`. Text is length-prefixed, so no value
/// can imitate a field boundary; the order is fixed by the callers
/// ([`AuditedTransition::fields`], [`AuditedBatch::fields`], [`genesis`]).
pub fn canonical(fields: &[(&str, Field<'_>)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1024);
    bytes.extend_from_slice(CANONICAL_PREFIX.as_bytes());
    for (name, value) in fields {
        let written = match value {
            Field::Text(text) => writeln!(bytes, "{name}:s{}:{text}", text.len()),
            Field::Int(number) => writeln!(bytes, "{name}:i:{number}"),
            Field::Null => writeln!(bytes, "{name}:n"),
        };
        written.expect("writing to a Vec cannot fail");
    }
    bytes
}

/// Hashes canonical bytes: HMAC-SHA256 with a key, SHA-256 without; hex.
pub fn digest(key: Option<&AuditKey>, bytes: &[u8]) -> String {
    match key {
        Some(key) => keyed_hash(key, bytes),
        None => hex::encode(Sha256::digest(bytes)),
    }
}

fn keyed_hash(key: &AuditKey, bytes: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(bytes);
    hex::encode(mac.finalize().into_bytes())
}

/// Returns the previous hash of a run's first entry: a hash over the run
/// ID and, for a fork, the origin run, sequence number and that entry's
/// hash (empty for a legacy origin entry).
pub fn genesis(key: Option<&AuditKey>, chain: &ChainInfo, origin_hash: Option<&str>) -> String {
    let fields = [
        ("kind", Field::Text("genesis")),
        ("run_id", Field::Text(&chain.run_id)),
        ("forked_from_run", chain.forked_from_run.as_deref().into()),
        (
            "forked_from_seq",
            chain.forked_from_seq.map_or(Field::Null, Field::Int),
        ),
        ("forked_from_hash", origin_hash.into()),
    ];
    digest(key, &canonical(&fields))
}

impl Provenance {
    fn fields(&self) -> [(&'static str, Field<'_>); 4] {
        [
            ("actor", Field::Text(&self.actor)),
            ("host", Field::Text(&self.host)),
            ("version", Field::Text(&self.version)),
            ("workflow_sha256", Field::Text(&self.workflow_sha256)),
        ]
    }
}

impl AuditedTransition {
    /// Returns the hashed fields in canonical order, for the entry at
    /// `position` after `prev_hash`.
    pub fn fields<'a>(
        &'a self,
        position: i64,
        prev_hash: &'a str,
    ) -> Vec<(&'static str, Field<'a>)> {
        let record = &self.record;
        let mut fields = vec![
            ("kind", Field::Text("transition")),
            ("run_id", Field::Text(&record.run_id)),
            ("chain_seq", Field::Int(position)),
            ("seq", Field::Int(record.seq)),
            ("from_state", Field::Text(&record.from)),
            ("to_state", Field::Text(&record.to)),
            ("step", Field::Text(&record.step)),
            ("attempt", Field::Int(record.attempt)),
            ("started_at", Field::Text(&record.started_at)),
            ("finished_at", Field::Text(&record.finished_at)),
            ("outcome", Field::Text(&record.outcome)),
            ("error", record.error.as_deref().into()),
            ("state_data", Field::Text(&self.state_data)),
        ];
        fields.extend(self.provenance.fields());
        fields.push(("prev_hash", Field::Text(prev_hash)));
        fields
    }
}

impl AuditedBatch {
    /// Returns the hashed fields in canonical order, for the entry at
    /// `position` after `prev_hash`.
    pub fn fields<'a>(
        &'a self,
        position: i64,
        prev_hash: &'a str,
    ) -> Vec<(&'static str, Field<'a>)> {
        let record = &self.record;
        let mut fields = vec![
            ("kind", Field::Text("batch")),
            ("run_id", Field::Text(&record.run_id)),
            ("chain_seq", Field::Int(position)),
            ("batch_index", Field::Int(record.batch_index as i64)),
            ("first_record", Field::Int(record.first_record as i64)),
            ("documents", Field::Int(record.documents as i64)),
            ("pages", Field::Int(record.pages as i64)),
            ("bytes", Field::Int(record.bytes as i64)),
            ("first_bates", record.first_bates.as_deref().into()),
            ("last_bates", record.last_bates.as_deref().into()),
            ("data_source_id", Field::Text(&record.data_source_id)),
            ("completed_at", Field::Text(&record.completed_at)),
        ];
        fields.extend(self.provenance.fields());
        fields.push(("prev_hash", Field::Text(prev_hash)));
        fields
    }
}

/// Kind of an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Transition,
    Batch,
}

impl AuditEntry {
    /// Returns the entry's kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            AuditEntry::Transition(_) => EntryKind::Transition,
            AuditEntry::Batch(_) => EntryKind::Batch,
        }
    }

    /// Returns the entry's own number: a transition's `seq` or a batch's
    /// index.
    pub fn number(&self) -> i64 {
        match self {
            AuditEntry::Transition(transition) => transition.record.seq,
            AuditEntry::Batch(batch) => batch.record.batch_index as i64,
        }
    }

    /// Returns the entry's chain link, `None` for a legacy row.
    pub fn link(&self) -> Option<&ChainLink> {
        match self {
            AuditEntry::Transition(transition) => transition.link.as_ref(),
            AuditEntry::Batch(batch) => batch.link.as_ref(),
        }
    }

    /// Computes the hash the entry must carry at `position` after
    /// `prev_hash`.
    pub fn expected_hash(&self, key: Option<&AuditKey>, position: i64, prev_hash: &str) -> String {
        let fields = match self {
            AuditEntry::Transition(transition) => transition.fields(position, prev_hash),
            AuditEntry::Batch(batch) => batch.fields(position, prev_hash),
        };
        digest(key, &canonical(&fields))
    }
}

impl std::fmt::Display for AuditEntry {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditEntry::Transition(_) => write!(formatter, "transition seq {}", self.number()),
            AuditEntry::Batch(_) => write!(formatter, "batch {}", self.number()),
        }
    }
}

/// The identity this process records entries under, and its audit key.
#[derive(Debug, Clone)]
pub(super) struct Recorder {
    pub key: Option<AuditKey>,
    pub key_id: Option<String>,
    pub actor: String,
    pub host: String,
}

impl Recorder {
    /// Builds the recorder of this process: the OS user and host, and the
    /// key from `PRODSYNC_AUDIT_KEY`.
    pub fn from_process() -> Recorder {
        Recorder::with_key(AuditKey::from_env())
    }

    pub fn with_key(key: Option<AuditKey>) -> Recorder {
        Recorder {
            key_id: key.as_ref().map(AuditKey::id),
            key,
            actor: os_user(),
            host: host_name(),
        }
    }

    /// Returns the chain mode and key ID a new run records.
    pub fn new_run_mode(&self) -> (ChainMode, Option<String>) {
        match &self.key_id {
            Some(id) => (ChainMode::HmacSha256, Some(id.clone())),
            None => (ChainMode::Sha256, None),
        }
    }

    fn provenance(&self, workflow_sha256: String) -> Provenance {
        Provenance {
            actor: self.actor.clone(),
            host: self.host.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            workflow_sha256,
        }
    }
}

/// Returns the OS user: `USER`, else `LOGNAME`, else the name the password
/// database gives the user ID, else `uid N`.
pub fn os_user() -> String {
    let named = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    named.unwrap_or_else(|_| {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
    })
}

/// Looks a user ID up in the password database.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; getpwuid_r writes the
    // strings into `buffer`, which outlives their use below.
    let result = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if result != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string
    // inside `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Returns the host name, or `unknown` when the system does not give one.
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return "unknown".into();
    }
    let end = buffer
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Position, previous hash and provenance of a run's next entry.
pub(super) struct NextLink {
    /// Number of the run, which keys its batch rows.
    pub run_number: i64,
    pub position: i64,
    pub prev_hash: String,
    pub provenance: Provenance,
    key: Option<AuditKey>,
}

impl NextLink {
    /// Computes the hash of an entry placed here.
    pub fn hash(&self, fields: &[(&str, Field<'_>)]) -> String {
        digest(self.key.as_ref(), &canonical(fields))
    }

    /// Returns the run's chain head once an entry with `hash` is committed
    /// here.
    pub fn head_after(&self, hash: String) -> ChainHead {
        ChainHead {
            run_number: self.run_number,
            position: self.position,
            hash,
            workflow_sha256: self.provenance.workflow_sha256.clone(),
            key: self.key.clone(),
        }
    }
}

/// The newest link of a run's chain, and what hashing the next entry
/// needs, as this store's last committed write left them.
///
/// A store keeps the head of each run it wrote, so that recording a batch
/// reads nothing back. Only writes under the run's lease use the cached
/// head, because the lease check runs in the same transaction as the write.
/// A process that lost its lease writes nothing more, so no other process
/// can have moved the chain since. Taking a lease, and any failed write,
/// drop the cached head.
#[derive(Clone)]
pub(super) struct ChainHead {
    run_number: i64,
    position: i64,
    hash: String,
    workflow_sha256: String,
    key: Option<AuditKey>,
}

/// Reads the run's chain mode and newest link: the newest transition link
/// through the `(run_id, chain_seq)` index, the newest batch link by
/// reading the run's batches once.
const LAST_LINK_SQL: &str = concat!(
    "SELECT r.run_number, r.workflow_sha256, r.audit_chain, r.audit_key_id, last.chain_seq,
            last.hash
     FROM runs r LEFT JOIN (
         SELECT chain_seq, hash FROM transitions
         WHERE run_id = ?1
           AND chain_seq = (SELECT MAX(chain_seq) FROM transitions WHERE run_id = ?1)
         UNION ALL
         SELECT chain_seq, hash FROM (
             SELECT chain_seq, hash FROM batches WHERE ",
    run_batches!(),
    " ORDER BY chain_seq DESC LIMIT 1)
         ORDER BY chain_seq DESC LIMIT 1) last
     WHERE r.run_id = ?1"
);

type LastLinkRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

impl Store {
    /// Returns where a run's next entry goes and how to hash it; call it
    /// inside the transaction that writes the entry. A write under a lease
    /// (`holder` set) starts from the cached head when there is one.
    pub(super) fn next_link(
        &self,
        tx: &Connection,
        run_id: &str,
        holder: Option<&str>,
    ) -> Result<NextLink, StoreError> {
        let cached = holder.and_then(|_| self.cached_head(run_id));
        if let Some(head) = cached {
            return Ok(NextLink {
                run_number: head.run_number,
                position: head.position + 1,
                prev_hash: head.hash,
                provenance: self.recorder.provenance(head.workflow_sha256),
                key: head.key,
            });
        }
        self.read_next_link(tx, run_id)
    }

    fn read_next_link(&self, tx: &Connection, run_id: &str) -> Result<NextLink, StoreError> {
        let row: Option<LastLinkRow> = tx
            .prepare_cached(LAST_LINK_SQL)
            .and_then(|mut statement| {
                statement
                    .query_row([run_id], |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    })
                    .optional()
            })
            .map_err(|source| self.error(source))?;
        let Some((run_number, workflow_sha256, mode, key_id, last_position, last_hash)) = row
        else {
            return Err(StoreError::RunNotFound {
                path: self.path.clone(),
                run_id: run_id.to_string(),
            });
        };

        let key = self.key_for(run_id, &mode, key_id.as_deref())?;
        let (position, prev_hash) = match (last_position, last_hash) {
            (Some(position), Some(hash)) => (position + 1, hash),
            _ => (1, self.genesis_in(tx, run_id, key.as_ref())?),
        };
        Ok(NextLink {
            run_number,
            position,
            prev_hash,
            provenance: self.recorder.provenance(workflow_sha256),
            key,
        })
    }

    fn cached_head(&self, run_id: &str) -> Option<ChainHead> {
        self.lock_heads().get(run_id).cloned()
    }

    /// Keeps `head` as the run's newest link; call it after the write that
    /// put it there is committed.
    pub(super) fn remember_head(&self, run_id: &str, head: ChainHead) {
        self.lock_heads().insert(run_id.to_string(), head);
    }

    /// Drops the cached head of a run, so the next write reads it back.
    pub(super) fn forget_head(&self, run_id: &str) {
        self.lock_heads().remove(run_id);
    }

    fn lock_heads(&self) -> std::sync::MutexGuard<'_, HashMap<String, ChainHead>> {
        self.heads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Picks the key a run's entries are hashed with, and rejects a missing
    /// or different key for an HMAC chain before anything is written.
    fn key_for(
        &self,
        run_id: &str,
        mode: &str,
        key_id: Option<&str>,
    ) -> Result<Option<AuditKey>, StoreError> {
        let mode = ChainMode::from_str(mode).unwrap_or(ChainMode::Sha256);
        if mode != ChainMode::HmacSha256 {
            return Ok(None);
        }
        let recorded = key_id.unwrap_or_default().to_string();
        match (&self.recorder.key, &self.recorder.key_id) {
            (Some(key), Some(id)) if *id == recorded => Ok(Some(key.clone())),
            (Some(_), found) => Err(StoreError::AuditKeyMismatch {
                run_id: run_id.to_string(),
                expected: recorded,
                found: found.clone().unwrap_or_default(),
            }),
            (None, _) => Err(StoreError::AuditKeyMissing {
                run_id: run_id.to_string(),
                key_id: recorded,
            }),
        }
    }

    fn genesis_in(
        &self,
        connection: &Connection,
        run_id: &str,
        key: Option<&AuditKey>,
    ) -> Result<String, StoreError> {
        let chain = read_chain_info(connection, run_id)
            .map_err(|source| self.error(source))?
            .ok_or_else(|| StoreError::RunNotFound {
                path: self.path.clone(),
                run_id: run_id.to_string(),
            })?;
        let origin_hash = match (&chain.forked_from_run, chain.forked_from_seq) {
            (Some(origin), Some(seq)) => origin_transition_hash(connection, origin, seq)
                .map_err(|source| self.error(source))?,
            _ => None,
        };
        Ok(genesis(key, &chain, origin_hash.as_deref()))
    }

    /// Computes the genesis hash of a run with `key`, as `verify` expects
    /// it.
    pub fn genesis_hash(
        &self,
        chain: &ChainInfo,
        key: Option<&AuditKey>,
    ) -> Result<String, StoreError> {
        let connection = self.lock();
        let origin_hash = match (&chain.forked_from_run, chain.forked_from_seq) {
            (Some(origin), Some(seq)) => origin_transition_hash(&connection, origin, seq)
                .map_err(|source| self.error(source))?,
            _ => None,
        };
        Ok(genesis(key, chain, origin_hash.as_deref()))
    }

    /// Reads a run's chain information and every entry of its record.
    #[tracing::instrument(skip(self))]
    pub fn audit_trail(&self, run_id: &str) -> Result<AuditTrail, StoreError> {
        let connection = self.lock();
        let chain = read_chain_info(&connection, run_id)
            .map_err(|source| self.error(source))?
            .ok_or_else(|| StoreError::RunNotFound {
                path: self.path.clone(),
                run_id: run_id.to_string(),
            })?;
        let mut entries = read_entries(&connection, TRANSITIONS_SQL, run_id, read_transition)
            .map_err(|source| self.error(source))?;
        let batches = read_entries(&connection, BATCHES_SQL, run_id, read_batch)
            .map_err(|source| self.error(source))?;
        entries.extend(batches);

        // Legacy rows first, in their own order; then the chain by position.
        entries.sort_by_key(|entry| match entry.link() {
            None => (0, entry.kind() as i64, entry.number()),
            Some(link) => (1, 0, link.position),
        });
        Ok(AuditTrail { chain, entries })
    }

    /// Returns the run IDs in the database, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT run_id FROM runs ORDER BY created_at, run_id")
            .map_err(|source| self.error(source))?;
        let rows = statement
            .query_map([], |row| row.get(0))
            .map_err(|source| self.error(source))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|source| self.error(source))
    }

    /// Records a new run forked from `origin_run` at its transition
    /// `origin_seq`, in the state that transition recorded.
    #[tracing::instrument(skip_all, fields(run_id = run.run_id, origin_run, origin_seq))]
    pub fn create_fork(
        &self,
        run: &super::NewRun<'_>,
        origin_run: &str,
        origin_seq: i64,
    ) -> Result<(), StoreError> {
        self.insert_run(run, Some((origin_run, origin_seq)))
    }
}

fn read_chain_info(connection: &Connection, run_id: &str) -> rusqlite::Result<Option<ChainInfo>> {
    connection
        .query_row(
            "SELECT run_id, audit_chain, audit_key_id, forked_from_run, forked_from_seq
             FROM runs WHERE run_id = ?1",
            [run_id],
            |row| {
                let mode: String = row.get(1)?;
                Ok(ChainInfo {
                    run_id: row.get(0)?,
                    mode: ChainMode::from_str(&mode).unwrap_or(ChainMode::Legacy),
                    key_id: row.get(2)?,
                    forked_from_run: row.get(3)?,
                    forked_from_seq: row.get(4)?,
                })
            },
        )
        .optional()
}

fn origin_transition_hash(
    connection: &Connection,
    origin_run: &str,
    origin_seq: i64,
) -> rusqlite::Result<Option<String>> {
    let hash: Option<Option<String>> = connection
        .query_row(
            "SELECT hash FROM transitions WHERE run_id = ?1 AND seq = ?2",
            params![origin_run, origin_seq],
            |row| row.get(0),
        )
        .optional()?;
    Ok(hash.flatten())
}

const TRANSITIONS_SQL: &str = "
    SELECT run_id, seq, from_state, to_state, step, attempt, started_at, finished_at,
           outcome, error, state_data, actor, host, version, workflow_sha256,
           chain_seq, prev_hash, hash
    FROM transitions WHERE run_id = ?1 ORDER BY seq";

const BATCHES_SQL: &str = concat!(
    "SELECT run_id, batch_index, first_record, documents, pages, bytes, first_bates,
            last_bates, data_source_id, completed_at, actor, host, version, workflow_sha256,
            chain_seq, prev_hash, hash
     FROM batches WHERE ",
    run_batches!(),
    " ORDER BY batch_key"
);

fn read_entries(
    connection: &Connection,
    sql: &str,
    run_id: &str,
    read: fn(&Row<'_>) -> rusqlite::Result<AuditEntry>,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut statement = connection.prepare(sql)?;
    let rows = statement.query_map([run_id], read)?;
    rows.collect()
}

/// Reads the provenance and link columns that start at `first`.
fn read_audit_columns(
    row: &Row<'_>,
    first: usize,
) -> rusqlite::Result<(Provenance, Option<ChainLink>)> {
    let provenance = Provenance {
        actor: row.get(first)?,
        host: row.get(first + 1)?,
        version: row.get(first + 2)?,
        workflow_sha256: row.get(first + 3)?,
    };
    let position: Option<i64> = row.get(first + 4)?;
    let prev_hash: Option<String> = row.get(first + 5)?;
    let hash: Option<String> = row.get(first + 6)?;
    let link = position.map(|position| ChainLink {
        position,
        prev_hash: prev_hash.unwrap_or_default(),
        hash: hash.unwrap_or_default(),
    });
    Ok((provenance, link))
}

fn read_transition(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let record = super::records::read_transition_row(row)?;
    let state_data: String = row.get(10)?;
    let (provenance, link) = read_audit_columns(row, 11)?;
    Ok(AuditEntry::Transition(AuditedTransition {
        record,
        state_data,
        provenance,
        link,
    }))
}

fn read_batch(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let record = super::records::read_batch_row(row)?;
    let (provenance, link) = read_audit_columns(row, 10)?;
    Ok(AuditEntry::Batch(AuditedBatch {
        record,
        provenance,
        link,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn canonical_prefixes_text_with_length() {
        let bytes = canonical(&[
            ("a", Field::Text("x:y\n")),
            ("b", Field::Int(-3)),
            ("c", Field::Null),
        ]);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text, "prodsync-audit-v1\na:s4:x:y\n\nb:i:-3\nc:n\n");
    }

    #[test]
    fn canonical_separates_shifted_values() {
        let one = canonical(&[("a", Field::Text("1\nb:s0:")), ("b", Field::Text(""))]);
        let two = canonical(&[("a", Field::Text("1")), ("b", Field::Text("\nb:s0:"))]);
        assert_ne!(one, two);
    }

    #[test]
    fn digest_differs_by_key() {
        let key = AuditKey::new("one").unwrap();
        let other = AuditKey::new("two").unwrap();
        let plain = digest(None, b"entry");
        assert_eq!(plain.len(), 64);
        assert_ne!(digest(Some(&key), b"entry"), plain);
        assert_ne!(digest(Some(&key), b"entry"), digest(Some(&other), b"entry"));
    }

    #[test]
    fn key_debug_hides_bytes() {
        let key = AuditKey::new("very secret").unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("very secret"), "{shown}");
        assert_eq!(key.id().len(), 16);
    }

    #[test]
    fn empty_key_is_no_key() {
        assert!(AuditKey::new("").is_none());
    }

    #[test]
    fn chain_mode_round_trips() {
        for mode in [ChainMode::Legacy, ChainMode::Sha256, ChainMode::HmacSha256] {
            assert_eq!(ChainMode::from_str(&mode.to_string()), Ok(mode));
        }
        assert_eq!(ChainMode::HmacSha256.to_string(), "hmac-sha256");
    }

    #[test]
    fn genesis_binds_fork_origin() {
        let plain = ChainInfo {
            run_id: "r".into(),
            mode: ChainMode::Sha256,
            key_id: None,
            forked_from_run: None,
            forked_from_seq: None,
        };
        let fork = ChainInfo {
            forked_from_run: Some("o".into()),
            forked_from_seq: Some(2),
            ..plain.clone()
        };
        assert_ne!(genesis(None, &plain, None), genesis(None, &fork, Some("h")));
        assert_ne!(
            genesis(None, &fork, Some("h")),
            genesis(None, &fork, Some("g"))
        );
    }
}
