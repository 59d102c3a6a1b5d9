//! Claims on data sources, so that two servers serving one data folder
//! never import the same source.
//!
//! Each running import worker takes an exclusive `flock` on its own file
//! `servers/<owner ID>.lock` in the data folder and claims a source by
//! writing its owner ID into the source's row. A source in state Inserting
//! whose owner no longer holds its lock was left by a server that stopped
//! or crashed, so another server may claim it again. The kernel releases
//! the lock when the process ends, however it ends.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::EmulatorError;

/// The identity of one import worker, locked for as long as it lives.
#[derive(Debug)]
pub struct ClaimOwner {
    id: String,
    path: PathBuf,
    /// Holds the lock; closing it releases the lock.
    _file: File,
}

impl ClaimOwner {
    /// Creates and locks a new owner file in `data_dir/servers/`.
    pub fn acquire(data_dir: &Path) -> Result<ClaimOwner, EmulatorError> {
        let dir = data_dir.join("servers");
        std::fs::create_dir_all(&dir).map_err(|error| EmulatorError::io(&dir, error))?;
        let id = uuid::Uuid::new_v4().to_string();
        let path = lock_path(data_dir, &id);
        let file = File::create(&path).map_err(|error| EmulatorError::io(&path, error))?;
        if !try_lock(&file).map_err(|error| EmulatorError::io(&path, error))? {
            let busy = std::io::Error::new(std::io::ErrorKind::WouldBlock, "file is locked");
            return Err(EmulatorError::io(&path, busy));
        }
        Ok(ClaimOwner {
            id,
            path,
            _file: file,
        })
    }

    /// Returns the owner ID written into claimed rows.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Tells whether the worker with owner ID `other` still runs. An ID
    /// that is not a UUID, or whose lock file is gone, belongs to no one.
    pub fn is_alive(&self, data_dir: &Path, other: &str) -> bool {
        if other == self.id {
            return true;
        }
        if uuid::Uuid::parse_str(other).is_err() {
            return false;
        }
        let path = lock_path(data_dir, other);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return false,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "cannot open claim lock, owner taken as alive");
                return true;
            }
        };
        match try_lock(&file) {
            Ok(true) => {
                // The owner is gone; its file is no longer needed.
                let _ = std::fs::remove_file(&path);
                false
            }
            Ok(false) => true,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "cannot test claim lock, owner taken as alive");
                true
            }
        }
    }
}

impl Drop for ClaimOwner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("servers").join(format!("{id}.lock"))
}

/// Takes an exclusive `flock` without waiting; false if another open file
/// has it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_alive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = ClaimOwner::acquire(dir.path()).unwrap();
        let second = ClaimOwner::acquire(dir.path()).unwrap();
        let first_id = first.id().to_string();
        assert!(second.is_alive(dir.path(), &first_id));
        drop(first);
        assert!(!second.is_alive(dir.path(), &first_id));
    }

    #[test]
    fn owner_with_foreign_id_is_dead() {
        let dir = tempfile::tempdir().unwrap();
        let owner = ClaimOwner::acquire(dir.path()).unwrap();
        assert!(!owner.is_alive(dir.path(), "../emulator"));
    }
}
