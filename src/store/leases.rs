//! The one-runner lease: a row per run naming the process that drives it
//! and when its claim expires.
//!
//! A process takes the lease before it drives a run and renews it while it
//! runs. A second process is refused while the lease is live; a lease left
//! by a killed process expires and can then be taken over. Transitions and
//! batches are recorded only by the lease holder (checked in the same
//! SQLite transaction), so a process that lost its lease cannot write.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};

/// The current lease of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub acquired_at: String,
    /// Expiry, in milliseconds since the Unix epoch.
    pub expires_ms: i64,
}

impl Lease {
    /// True while the lease has not expired.
    pub fn is_live(&self) -> bool {
        self.expires_ms > now_ms()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Takes the lease of a run for `holder`, unless another holder's lease
    /// is still live and `is_stale` does not say that holder is gone.
    #[tracing::instrument(skip(self, is_stale))]
    pub fn acquire_lease(
        &self,
        run_id: &str,
        holder: &str,
        ttl: Duration,
        is_stale: impl Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        let mut connection = self.lock();
        // Another holder may have written to the run since this store
        // last did, so its cached chain head is read back.
        self.forget_head(run_id);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| self.error(source))?;
        if let Some(lease) = read_lease(&tx, run_id).map_err(|source| self.error(source))? {
            if lease.holder != holder && lease.is_live() && !is_stale(&lease.holder) {
                return Err(StoreError::LeaseHeld {
                    run_id: run_id.to_string(),
                    holder: lease.holder,
                    seconds_left: (lease.expires_ms - now_ms()).max(0) / 1000,
                });
            }
        }
        tx.execute(
            "INSERT INTO leases (run_id, holder, acquired_at, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(run_id) DO UPDATE SET holder = ?2, acquired_at = ?3, expires_ms = ?4",
            params![
                run_id,
                holder,
                super::now(),
                now_ms() + ttl.as_millis() as i64
            ],
        )
        .map_err(|source| self.error(source))?;
        tx.commit().map_err(|source| self.error(source))
    }

    /// Extends the lease; fails if `holder` no longer holds it.
    pub fn renew_lease(&self, run_id: &str, holder: &str, ttl: Duration) -> Result<(), StoreError> {
        let updated = self
            .lock()
            .execute(
                "UPDATE leases SET expires_ms = ?3 WHERE run_id = ?1 AND holder = ?2",
                params![run_id, holder, now_ms() + ttl.as_millis() as i64],
            )
            .map_err(|source| self.error(source))?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost {
                run_id: run_id.to_string(),
                holder: holder.to_string(),
            })
        }
    }

    /// Gives the lease up, if `holder` still holds it.
    pub fn release_lease(&self, run_id: &str, holder: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "DELETE FROM leases WHERE run_id = ?1 AND holder = ?2",
                params![run_id, holder],
            )
            .map_err(|source| self.error(source))?;
        Ok(())
    }

    /// Reads the lease of a run, live or expired.
    pub fn lease(&self, run_id: &str) -> Result<Option<Lease>, StoreError> {
        read_lease(&self.lock(), run_id).map_err(|source| self.error(source))
    }
}

fn read_lease(connection: &Connection, run_id: &str) -> rusqlite::Result<Option<Lease>> {
    connection
        .prepare_cached("SELECT holder, acquired_at, expires_ms FROM leases WHERE run_id = ?1")?
        .query_row([run_id], |row| {
            Ok(Lease {
                holder: row.get(0)?,
                acquired_at: row.get(1)?,
                expires_ms: row.get(2)?,
            })
        })
        .optional()
}

/// Checks inside a write transaction that `holder` holds the run's lease.
pub(super) fn check_holder(
    connection: &Connection,
    run_id: &str,
    holder: Option<&str>,
) -> Result<bool, rusqlite::Error> {
    let Some(holder) = holder else {
        return Ok(true);
    };
    let lease = read_lease(connection, run_id)?;
    Ok(lease.is_some_and(|lease| lease.holder == holder))
}
