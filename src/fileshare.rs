//! The file share as the server names it (a UNC root such as
//! `\\fileserver\Fileshare`) and as it is mounted on this machine.
//!
//! Relativity hands out and accepts UNC paths; prodsync reads and writes the
//! same files through the local mount. This type converts between the two.

use std::path::{Path, PathBuf};

/// A file share root in both namings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileShare {
    /// Root as the server names it, for example `\\emulator\fileshare`.
    pub unc_root: String,
    /// The same root as mounted here.
    pub local_root: PathBuf,
}

/// Error of mapping a path between the two namings.
#[derive(Debug, thiserror::Error)]
pub enum FileShareError {
    #[error("path {path} is not under the file share root {root}; set import.file_share.server_root to the root the server uses")]
    OutsideUnc { path: String, root: String },

    #[error("path {path} is not under the local file share root {root}")]
    OutsideLocal { path: PathBuf, root: PathBuf },

    #[error("path {path} climbs out of the file share with `..`")]
    ParentComponent { path: String },
}

impl FileShare {
    /// Creates a mapping; a trailing backslash on the UNC root is dropped.
    pub fn new(unc_root: impl Into<String>, local_root: impl Into<PathBuf>) -> Self {
        let unc_root = unc_root.into().trim_end_matches('\\').to_string();
        Self {
            unc_root,
            local_root: local_root.into(),
        }
    }

    /// Maps a UNC path under the root to the local path of the same file.
    pub fn to_local(&self, unc: &str) -> Result<PathBuf, FileShareError> {
        let rest = strip_prefix_ignore_case(unc, &self.unc_root).ok_or_else(|| {
            FileShareError::OutsideUnc {
                path: unc.to_string(),
                root: self.unc_root.clone(),
            }
        })?;
        let mut local = self.local_root.clone();
        for part in rest.split('\\').filter(|part| !part.is_empty()) {
            if part == ".." {
                return Err(FileShareError::ParentComponent {
                    path: unc.to_string(),
                });
            }
            local.push(part);
        }
        Ok(local)
    }

    /// Maps a local path under the mount to the UNC path of the same file.
    pub fn to_unc(&self, local: &Path) -> Result<String, FileShareError> {
        let rest =
            local
                .strip_prefix(&self.local_root)
                .map_err(|_| FileShareError::OutsideLocal {
                    path: local.to_path_buf(),
                    root: self.local_root.clone(),
                })?;
        let mut unc = self.unc_root.clone();
        for part in rest.components() {
            unc.push('\\');
            unc.push_str(&part.as_os_str().to_string_lossy());
        }
        Ok(unc)
    }
}

/// UNC paths compare without regard to case, as Windows file shares do.
fn strip_prefix_ignore_case<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let head = path.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &path[prefix.len()..];
    if rest.is_empty() || rest.starts_with('\\') {
        Some(rest)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn share() -> FileShare {
        FileShare::new(r"\\emulator\fileshare\", "/srv/share")
    }

    #[test]
    fn to_local_maps_unc_under_root() {
        let local = share()
            .to_local(r"\\EMULATOR\Fileshare\EDDS1\a.tif")
            .unwrap();
        assert_eq!(local, PathBuf::from("/srv/share/EDDS1/a.tif"));
    }

    #[test]
    fn to_local_rejects_other_root() {
        let error = share().to_local(r"\\other\share\a.tif").unwrap_err();
        assert!(error.to_string().contains(r"\\other\share\a.tif"));
    }

    #[test]
    fn to_local_rejects_sibling_with_common_prefix() {
        assert!(share().to_local(r"\\emulator\fileshare2\a.tif").is_err());
    }

    #[test]
    fn to_local_rejects_parent_component() {
        assert!(share()
            .to_local(r"\\emulator\fileshare\..\etc\passwd")
            .is_err());
    }

    #[test]
    fn to_unc_maps_local_under_root() {
        let unc = share()
            .to_unc(Path::new("/srv/share/prodsync/run/b.opt"))
            .unwrap();
        assert_eq!(unc, r"\\emulator\fileshare\prodsync\run\b.opt");
    }
}
