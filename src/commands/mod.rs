//! One module per subcommand, plus the progress bar of `run`.

pub mod cancel;
pub mod check_volume;
pub mod drive;
pub mod fork;
pub mod history;
pub mod progress;
pub mod replay;
pub mod report;
pub mod resume;
pub mod run;
pub mod runs;
pub mod status;
pub mod verify;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use std::str::FromStr;

use prodsync::machine::StateName;
use prodsync::store::{Store, StoreError};
use strum::IntoEnumIterator;

/// Parses a state name for `--state` and `--from`, listing the valid names
/// when it is not one.
pub fn parse_state(text: &str) -> Result<StateName, String> {
    StateName::from_str(text).map_err(|_| {
        let names: Vec<String> = StateName::iter().map(|name| name.to_string()).collect();
        format!(
            "unknown state {text:?}; expected one of {}",
            names.join(", ")
        )
    })
}

/// Opens the checkpoint database named by `--db` or `PRODSYNC_DB` for
/// commands that only read it. A database from an older prodsync is
/// migrated first when the file can be written.
pub fn open_store_read_only(db: &Path) -> anyhow::Result<Arc<Store>> {
    let opened = match Store::open_read_only(db) {
        Err(StoreError::OlderSchema { .. }) if writable(db) => Store::open(db),
        other => other,
    };
    let store =
        opened.with_context(|| format!("cannot open checkpoint database {}", db.display()))?;
    Ok(Arc::new(store))
}

fn writable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| !metadata.permissions().readonly())
}

/// Opens the checkpoint database named by `--db` or `PRODSYNC_DB`.
pub fn open_store(db: &Path) -> anyhow::Result<Arc<Store>> {
    let store = Store::open(db)
        .with_context(|| format!("cannot open checkpoint database {}", db.display()))?;
    Ok(Arc::new(store))
}
