//! A load-file volume opened as a whole: the Opticon file's documents with
//! their pages and resolved image paths, the control numbers the DAT gives,
//! and every problem the checks found.
//!
//! Opening a volume never stops at the first problem: it runs every check
//! and returns them all. A problem whose action is [`Action::Skip`] leaves
//! its document or DAT record out, and [`Volume::skipped`] lists it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::checks::{
    bates_columns, check_bates_ranges, check_dat, check_images, check_opticon,
    control_number_column, Action, Policy, Problem, ProblemKind, Severity,
};
use super::dat::{self, DatError, DatFile, DatOptions, DatRecord};
use crate::opticon::{
    group_documents_lenient, parse_lines, resolve_image_path, OpticonDocument, OpticonPage,
};

/// How to open a volume.
#[derive(Debug, Clone)]
pub struct VolumeOptions {
    pub dat: DatOptions,
    pub policy: Policy,
    /// Whether to open every image and check its format.
    pub check_images: bool,
}

impl Default for VolumeOptions {
    fn default() -> Self {
        VolumeOptions {
            dat: DatOptions::default(),
            policy: Policy::default(),
            check_images: true,
        }
    }
}

/// One page of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Image key, usually the page's Bates number.
    pub key: String,
    /// Image path resolved against the Opticon file's folder.
    pub image_path: PathBuf,
    /// Line of the Opticon file, from 1.
    pub line: usize,
}

/// One document of the volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    /// Control number from the DAT, when a DAT record matches the document.
    pub control_number: Option<String>,
    pub pages: Vec<Page>,
}

/// A record left out of the volume, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: PathBuf,
    pub line: usize,
    /// The record's identifier: first image key or control number.
    pub value: String,
    pub kinds: Vec<ProblemKind>,
}

/// A volume after reading and checking.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub opticon: PathBuf,
    pub dat: Option<DatFile>,
    pub documents: Vec<Document>,
    pub problems: Vec<Problem>,
    pub skipped: Vec<Skipped>,
}

/// A DAT file checked on its own.
#[derive(Debug, Clone, Serialize)]
pub struct DatCheck {
    pub dat: DatFile,
    pub problems: Vec<Problem>,
    pub skipped: Vec<Skipped>,
}

/// The load files found in a volume folder, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFiles {
    pub opticon: Vec<PathBuf>,
    pub dat: Vec<PathBuf>,
}

/// Error of opening a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Dat(#[from] DatError),
}

impl Volume {
    /// Reads an Opticon file and an optional DAT, runs every check, and
    /// builds the documents.
    pub fn open(
        opticon: &Path,
        dat: Option<&Path>,
        options: &VolumeOptions,
    ) -> Result<Volume, VolumeError> {
        let policy = &options.policy;
        let (pages, mut problems) = read_opticon(opticon, policy)?;
        let (documents, orphans) = group_documents_lenient(pages);
        problems.extend(
            orphans
                .iter()
                .map(|page| orphan_problem(opticon, page, policy)),
        );

        problems.extend(check_opticon(opticon, &documents, policy));
        if options.check_images {
            problems.extend(check_images(opticon, &documents, policy));
        }

        let dat = dat
            .map(|path| dat::read_file(path, &options.dat))
            .transpose()?;
        if let Some(dat) = &dat {
            problems.extend(check_dat(dat, policy));
            problems.extend(check_bates_ranges(dat, opticon, &documents, policy));
        }

        let mut skipped = skipped_documents(opticon, &documents, &problems);
        skipped.extend(orphans.iter().map(|page| skipped_page(opticon, page)));
        let kept_records = match &dat {
            Some(dat) => {
                let dat_skipped = skipped_records(dat, &problems);
                let kept = kept_records(dat, &dat_skipped);
                skipped.extend(dat_skipped);
                kept
            }
            None => Vec::new(),
        };

        let documents = build_documents(opticon, documents, &skipped, dat.as_ref(), &kept_records);
        Ok(Volume {
            opticon: opticon.to_path_buf(),
            dat,
            documents,
            problems,
            skipped,
        })
    }

    /// Returns whether any problem is an error, so the volume is not fit to
    /// push.
    pub fn has_errors(&self) -> bool {
        has_errors(&self.problems)
    }

    /// Returns the number of pages of the kept documents.
    pub fn page_count(&self) -> usize {
        self.documents
            .iter()
            .map(|document| document.pages.len())
            .sum()
    }
}

/// Reads and checks a DAT file without an Opticon file.
pub fn check_dat_file(path: &Path, options: &VolumeOptions) -> Result<DatCheck, VolumeError> {
    let dat = dat::read_file(path, &options.dat)?;
    let problems = check_dat(&dat, &options.policy);
    let skipped = skipped_records(&dat, &problems);
    Ok(DatCheck {
        dat,
        problems,
        skipped,
    })
}

/// Returns whether any problem is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems
        .iter()
        .any(|problem| problem.severity == Severity::Error)
}

/// Lists the `.opt` and `.dat` files directly inside `folder`, ignoring the
/// case of the extension.
pub fn find_volume_files(folder: &Path) -> Result<VolumeFiles, VolumeError> {
    let io = |source| VolumeError::Io {
        path: folder.to_path_buf(),
        source,
    };
    let mut files = VolumeFiles::default();
    for entry in std::fs::read_dir(folder).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("opt") => files.opticon.push(path),
            Some("dat") => files.dat.push(path),
            _ => {}
        }
    }
    files.opticon.sort();
    files.dat.sort();
    Ok(files)
}

/// Reads an Opticon file (UTF-8, else Windows-1252) and turns each bad line
/// into a problem.
fn read_opticon(
    path: &Path,
    policy: &Policy,
) -> Result<(Vec<OpticonPage>, Vec<Problem>), VolumeError> {
    let bytes = std::fs::read(path).map_err(|source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = dat::decode(&bytes, None, &mut Vec::new()).text;

    let mut pages = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    for result in parse_lines(&text, path) {
        match result {
            Ok(page) => pages.push(page),
            Err(error) => problems.push(syntax_problem(path, &lines, error, policy)),
        }
    }
    Ok((pages, problems))
}

fn syntax_problem(
    path: &Path,
    lines: &[&str],
    error: crate::opticon::OpticonError,
    policy: &Policy,
) -> Problem {
    use crate::opticon::OpticonError;
    let line = match &error {
        OpticonError::FieldCount { line, .. }
        | OpticonError::EmptyKey { line, .. }
        | OpticonError::PageCount { line, .. }
        | OpticonError::NoFirstBreak { line, .. } => *line,
        OpticonError::Io { .. } => 0,
    };
    let value = lines
        .get(line.wrapping_sub(1))
        .map_or("", |text| text.trim_end());
    let message = error.to_string();
    let message = message.rsplit(": ").next().unwrap_or(&message).to_string();
    policy.problem(ProblemKind::Syntax, path, line, value, message)
}

fn orphan_problem(path: &Path, page: &OpticonPage, policy: &Policy) -> Problem {
    policy.problem(
        ProblemKind::Syntax,
        path,
        page.line,
        page.key.clone(),
        "page before the first document break `Y` belongs to no document",
    )
}

fn skipped_page(path: &Path, page: &OpticonPage) -> Skipped {
    Skipped {
        file: path.to_path_buf(),
        line: page.line,
        value: page.key.clone(),
        kinds: vec![ProblemKind::Syntax],
    }
}

/// Kinds of the problems of `file` whose action is [`Action::Skip`], by line.
fn skip_kinds_by_line(file: &Path, problems: &[Problem]) -> HashMap<usize, Vec<ProblemKind>> {
    let mut by_line: HashMap<usize, Vec<ProblemKind>> = HashMap::new();
    for problem in problems {
        if problem.action == Action::Skip && problem.file == file {
            by_line.entry(problem.line).or_default().push(problem.kind);
        }
    }
    by_line
}

fn skipped_documents(
    opticon: &Path,
    documents: &[OpticonDocument],
    problems: &[Problem],
) -> Vec<Skipped> {
    let by_line = skip_kinds_by_line(opticon, problems);
    let mut skipped = Vec::new();
    for document in documents {
        let kinds: Vec<ProblemKind> = document
            .pages
            .iter()
            .filter_map(|page| by_line.get(&page.line))
            .flatten()
            .copied()
            .collect();
        if kinds.is_empty() {
            continue;
        }
        skipped.push(Skipped {
            file: opticon.to_path_buf(),
            line: document.pages[0].line,
            value: document.first_key().to_string(),
            kinds,
        });
    }
    skipped
}

fn skipped_records(dat: &DatFile, problems: &[Problem]) -> Vec<Skipped> {
    let by_line = skip_kinds_by_line(&dat.path, problems);
    let column = control_number_column(dat);
    dat.records
        .iter()
        .filter_map(|record| {
            let kinds = by_line.get(&record.line)?;
            Some(Skipped {
                file: dat.path.clone(),
                line: record.line,
                value: record.fields.get(column).cloned().unwrap_or_default(),
                kinds: kinds.clone(),
            })
        })
        .collect()
}

fn kept_records<'a>(dat: &'a DatFile, skipped: &[Skipped]) -> Vec<&'a DatRecord> {
    let lines: HashSet<usize> = skipped.iter().map(|entry| entry.line).collect();
    dat.records
        .iter()
        .filter(|record| !lines.contains(&record.line))
        .collect()
}

/// Maps a document's first image key to its control number: through the
/// Begin Bates column when the DAT has one, else where the control number
/// equals the first image key.
fn control_numbers<'a>(dat: &'a DatFile, records: &[&'a DatRecord]) -> HashMap<&'a str, &'a str> {
    let control = control_number_column(dat);
    let key_column = bates_columns(dat).map_or(control, |(begin, _)| begin);
    records
        .iter()
        .filter_map(|record| {
            let key = record.fields.get(key_column)?.trim();
            let number = record.fields.get(control)?.trim();
            Some((key, number))
        })
        .collect()
}

fn build_documents(
    opticon: &Path,
    documents: Vec<OpticonDocument>,
    skipped: &[Skipped],
    dat: Option<&DatFile>,
    records: &[&DatRecord],
) -> Vec<Document> {
    let folder = opticon.parent().unwrap_or(Path::new(""));
    let skipped_lines: HashSet<usize> = skipped
        .iter()
        .filter(|entry| entry.file == opticon)
        .map(|entry| entry.line)
        .collect();
    let numbers = dat
        .map(|dat| control_numbers(dat, records))
        .unwrap_or_default();

    documents
        .into_iter()
        .filter(|document| !skipped_lines.contains(&document.pages[0].line))
        .map(|document| Document {
            control_number: numbers
                .get(document.first_key())
                .map(|number| number.to_string()),
            pages: document
                .pages
                .into_iter()
                .map(|page| Page {
                    image_path: resolve_image_path(folder, &page.image_path),
                    key: page.key,
                    line: page.line,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// A folder with `IMG/a.tif` as a two-page TIFF and `IMG/t.tif` as text.
    fn folder() -> tempfile::TempDir {
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir(folder.path().join("IMG")).unwrap();
        let mut buffer = std::io::Cursor::new(Vec::new());
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut buffer).unwrap();
        for _ in 0..2 {
            encoder
                .write_image::<tiff::encoder::colortype::Gray8>(1, 1, &[0])
                .unwrap();
        }
        std::fs::write(folder.path().join("IMG/a.tif"), buffer.into_inner()).unwrap();
        std::fs::write(folder.path().join("IMG/t.tif"), "Some text").unwrap();
        folder
    }

    #[test]
    fn open_attaches_control_numbers() {
        let folder = folder();
        let opticon = folder.path().join("v.opt");
        let dat = folder.path().join("v.dat");
        std::fs::write(
            &opticon,
            "P1,V,.\\IMG\\a.tif,Y,,,2\r\nP2,V,.\\IMG\\a.tif,,,,\r\n",
        )
        .unwrap();
        std::fs::write(&dat, "Control Number|BegBates|EndBates\r\nDOC1|P1|P2\r\n").unwrap();

        let volume = Volume::open(&opticon, Some(&dat), &VolumeOptions::default()).unwrap();
        assert_eq!(volume.problems, vec![]);
        assert_eq!(volume.documents.len(), 1);
        assert_eq!(volume.documents[0].control_number.as_deref(), Some("DOC1"));
        assert_eq!(
            volume.documents[0].pages[1].image_path,
            folder.path().join("IMG/a.tif")
        );
    }

    #[test]
    fn open_skips_document_by_policy() {
        let folder = folder();
        let opticon = folder.path().join("v.opt");
        std::fs::write(&opticon, "A1,V,IMG\\t.tif,Y,,,1\nB1,V,IMG\\a.tif,Y,,,1\n").unwrap();
        let mut options = VolumeOptions::default();
        options
            .policy
            .set(ProblemKind::UnreadableImage, Action::Skip);

        let volume = Volume::open(&opticon, None, &options).unwrap();
        assert_eq!(volume.has_errors(), false);
        assert_eq!(volume.documents.len(), 1);
        assert_eq!(volume.documents[0].pages[0].key, "B1");
        assert_eq!(
            volume.skipped,
            vec![Skipped {
                file: opticon.clone(),
                line: 1,
                value: "A1".into(),
                kinds: vec![ProblemKind::UnreadableImage],
            }]
        );
    }

    #[test]
    fn open_reports_bad_lines_and_orphans() {
        let folder = folder();
        let opticon = folder.path().join("v.opt");
        std::fs::write(
            &opticon,
            "Z0,V,IMG\\a.tif,,,,\nA,B\nA1,V,IMG\\a.tif,Y,,,1\n",
        )
        .unwrap();

        let volume = Volume::open(&opticon, None, &VolumeOptions::default()).unwrap();
        let found: Vec<(ProblemKind, usize)> = volume
            .problems
            .iter()
            .map(|problem| (problem.kind, problem.line))
            .collect();
        assert_eq!(
            found,
            vec![(ProblemKind::Syntax, 2), (ProblemKind::Syntax, 1)]
        );
        assert_eq!(volume.problems[0].value, "A,B");
        assert_eq!(volume.skipped.len(), 1);
        assert_eq!(volume.has_errors(), true);
    }

    #[test]
    fn find_volume_files_by_extension() {
        let folder = folder();
        std::fs::write(folder.path().join("b.DAT"), "").unwrap();
        std::fs::write(folder.path().join("a.opt"), "").unwrap();
        let files = find_volume_files(folder.path()).unwrap();
        assert_eq!(files.opticon, vec![folder.path().join("a.opt")]);
        assert_eq!(files.dat, vec![folder.path().join("b.DAT")]);
    }
}
