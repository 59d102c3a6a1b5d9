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
use prodsync::store::Store;

/// Opens the checkpoint database named by `--db` or `PRODSYNC_DB`.
pub fn open_store(db: &Path) -> anyhow::Result<Arc<Store>> {
    let store = Store::open(db)
        .with_context(|| format!("cannot open checkpoint database {}", db.display()))?;
    Ok(Arc::new(store))
}
