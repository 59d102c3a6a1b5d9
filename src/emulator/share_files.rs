//! Page images on the emulator's file share: where a production's pages go
//! and how they are written, with their SHA-256 and size.
//!
//! Pages of a production sit under `EDDS{ws}\Productions\{id}\{batch}\`, in
//! folders of at most [`FILES_PER_FOLDER`] files, each named after its
//! Bates number.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EmulatorError;

/// Maximum number of page files in one folder, so a production of millions
/// of pages does not put them all in one directory.
pub const FILES_PER_FOLDER: u64 = 1_000;

/// Size and SHA-256 (lowercase hex) of a written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub size: u64,
    pub sha256: String,
}

/// Places the page files of one batch (a seed or one import source) of a
/// production on the share.
#[derive(Debug, Clone)]
pub struct PageFolder {
    share_root: PathBuf,
    relative_base: String,
}

impl PageFolder {
    /// Pages of `batch` in production `production` of workspace `workspace`.
    pub fn new(share_root: &Path, workspace: i64, production: i64, batch: &str) -> Self {
        Self {
            share_root: share_root.to_path_buf(),
            relative_base: format!("EDDS{workspace}\\Productions\\{production}\\{batch}"),
        }
    }

    /// Returns the share-relative path (backslashes) of the `ordinal`-th
    /// page file of this batch, named after its Bates number.
    pub fn relative_path(&self, ordinal: u64, bates: &str, extension: &str) -> String {
        let folder = ordinal / FILES_PER_FOLDER;
        let name = file_name(bates, extension);
        format!("{}\\{folder:05}\\{name}", self.relative_base)
    }

    /// Maps a share-relative path to the local file.
    pub fn local_path(&self, relative: &str) -> PathBuf {
        let mut local = self.share_root.clone();
        local.extend(relative.split('\\'));
        local
    }

    /// Writes bytes at a share-relative path, creating its folder.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<WrittenFile, EmulatorError> {
        let local = self.local_path(relative);
        create_parent(&local)?;
        let mut file =
            fs::File::create(&local).map_err(|error| EmulatorError::io(&local, error))?;
        file.write_all(bytes)
            .map_err(|error| EmulatorError::io(&local, error))?;
        Ok(WrittenFile {
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
    }

    /// Copies a file to a share-relative path. Fails with the source's I/O
    /// error if it cannot be read, so callers can tell it from write errors.
    pub fn copy(&self, source: &Path, relative: &str) -> Result<WrittenFile, CopyError> {
        let bytes = fs::read(source).map_err(CopyError::Read)?;
        self.write(relative, &bytes).map_err(CopyError::Write)
    }
}

/// Failure of [`PageFolder::copy`].
#[derive(Debug)]
pub enum CopyError {
    /// The source image is missing or unreadable.
    Read(std::io::Error),
    /// The copy on the share could not be written.
    Write(EmulatorError),
}

/// Returns the lowercase extension of an image path, `tif` if it has none.
pub fn image_extension(path: &Path) -> String {
    path.extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
        .filter(|extension| !extension.is_empty())
        .unwrap_or_else(|| "tif".to_string())
}

/// Names a page file after its Bates number. Characters that are not safe
/// in file names become `_`, and a short hash of the Bates number then
/// keeps two numbers that differ only there apart.
fn file_name(bates: &str, extension: &str) -> String {
    let safe: String = bates
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.') {
                character
            } else {
                '_'
            }
        })
        .collect();
    if safe == bates && !bates.starts_with('.') {
        return format!("{safe}.{extension}");
    }
    let digest = hex::encode(&Sha256::digest(bates.as_bytes())[..4]);
    format!("_{safe}_{digest}.{extension}")
}

fn create_parent(path: &Path) -> Result<(), EmulatorError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    fs::create_dir_all(parent).map_err(|error| EmulatorError::io(parent, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_groups_files_in_folders() {
        let folder = PageFolder::new(Path::new("/share"), 5, 7, "IMAGES");
        assert_eq!(
            folder.relative_path(1_234, "ABC0001", "tif"),
            r"EDDS5\Productions\7\IMAGES\00001\ABC0001.tif"
        );
    }

    #[test]
    fn file_name_replaces_unsafe_characters() {
        let name = file_name("A/1", "tif");
        assert!(name.starts_with("_A_1_"), "{name}");
    }

    #[test]
    fn file_name_keeps_distinct_unsafe_numbers_apart() {
        assert_ne!(file_name("A/1", "tif"), file_name("A:1", "tif"));
    }

    #[test]
    fn write_returns_size_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let folder = PageFolder::new(dir.path(), 1, 2, "B");
        let written = folder.write(r"EDDS1\x\a.tif", b"abc").unwrap();
        assert_eq!(
            written.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(written.size, 3);
    }
}
