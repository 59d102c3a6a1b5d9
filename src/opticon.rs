//! Opticon image cross-reference files (`.opt`): one line per page image.
//!
//! A line has seven comma-separated fields: image key (the page's Bates
//! number), volume, image path, document break (`Y` on a document's first
//! page), folder break, box break, and the document's page count (first page
//! only). Some producers write only the first five fields. The engine writes
//! these files for each import batch; the emulator reads them when it seeds a
//! production and when it imports a data source.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One page line of an Opticon file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpticonPage {
    /// Image key: the page's Bates number or another page identifier.
    pub key: String,
    pub volume: String,
    /// Image path as written in the file, usually relative with backslashes.
    pub image_path: String,
    /// True on the first page of a document.
    pub document_break: bool,
    /// Page count of the document, given on its first page only.
    pub page_count: Option<u32>,
    /// Line number in the file, from 1.
    pub line: usize,
}

/// A document: its pages in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpticonDocument {
    pub pages: Vec<OpticonPage>,
}

impl OpticonDocument {
    /// Returns the key of the first page, which identifies the document.
    pub fn first_key(&self) -> &str {
        &self.pages[0].key
    }
}

/// Error of reading an Opticon file.
#[derive(Debug, thiserror::Error)]
pub enum OpticonError {
    #[error("cannot read Opticon file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}:{line}: expected 5 or 7 comma-separated fields, found {found}")]
    FieldCount {
        path: PathBuf,
        line: usize,
        found: usize,
    },

    #[error("{path}:{line}: empty image key")]
    EmptyKey { path: PathBuf, line: usize },

    #[error("{path}:{line}: page count {value:?} is not a whole number")]
    PageCount {
        path: PathBuf,
        line: usize,
        value: String,
    },

    #[error("{path}:{line}: the first page line has no document break `Y`")]
    NoFirstBreak { path: PathBuf, line: usize },
}

/// Reads an Opticon file from disk.
pub fn read_file(path: &Path) -> Result<Vec<OpticonPage>, OpticonError> {
    let bytes = std::fs::read(path).map_err(|source| OpticonError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&String::from_utf8_lossy(&bytes), path)
}

/// Parses Opticon text; `path` only names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<OpticonPage>, OpticonError> {
    parse_lines(text, path).into_iter().collect()
}

/// Parses Opticon text line by line and goes on after a bad line, so that a
/// checker can report every one. Blank lines are skipped.
pub fn parse_lines(text: &str, path: &Path) -> Vec<Result<OpticonPage, OpticonError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pages = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        pages.push(parse_line(line, index + 1, path));
    }
    pages
}

fn parse_line(line: &str, number: usize, path: &Path) -> Result<OpticonPage, OpticonError> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 7 && fields.len() != 5 {
        return Err(OpticonError::FieldCount {
            path: path.to_path_buf(),
            line: number,
            found: fields.len(),
        });
    }

    let key = fields[0].trim();
    if key.is_empty() {
        return Err(OpticonError::EmptyKey {
            path: path.to_path_buf(),
            line: number,
        });
    }

    let count = fields.get(6).map(|value| value.trim()).unwrap_or("");
    let page_count = if count.is_empty() {
        None
    } else {
        let parsed = count.parse().map_err(|_| OpticonError::PageCount {
            path: path.to_path_buf(),
            line: number,
            value: count.to_string(),
        })?;
        Some(parsed)
    };

    Ok(OpticonPage {
        key: key.to_string(),
        volume: fields[1].trim().to_string(),
        image_path: fields[2].trim().to_string(),
        document_break: fields[3].trim().eq_ignore_ascii_case("y"),
        page_count,
        line: number,
    })
}

/// Groups pages into documents at each document break.
pub fn group_documents(
    pages: Vec<OpticonPage>,
    path: &Path,
) -> Result<Vec<OpticonDocument>, OpticonError> {
    let (documents, orphans) = group_documents_lenient(pages);
    match orphans.first() {
        Some(page) => Err(OpticonError::NoFirstBreak {
            path: path.to_path_buf(),
            line: page.line,
        }),
        None => Ok(documents),
    }
}

/// Groups pages into documents like [`group_documents`], but returns the
/// pages before the first document break apart instead of failing.
pub fn group_documents_lenient(
    pages: Vec<OpticonPage>,
) -> (Vec<OpticonDocument>, Vec<OpticonPage>) {
    let mut documents: Vec<OpticonDocument> = Vec::new();
    let mut orphans = Vec::new();
    for page in pages {
        if page.document_break {
            documents.push(OpticonDocument { pages: vec![page] });
            continue;
        }
        match documents.last_mut() {
            Some(document) => document.pages.push(page),
            None => orphans.push(page),
        }
    }
    (documents, orphans)
}

/// Resolves an image path of an Opticon file against the file's folder:
/// strips a leading `.\`, turns backslashes into `/`.
pub fn resolve_image_path(opticon_dir: &Path, image_path: &str) -> PathBuf {
    let normalized = image_path.replace('\\', "/");
    let relative = normalized.trim_start_matches("./").trim_start_matches('/');
    opticon_dir.join(relative)
}

/// Writes Opticon lines (CRLF, seven fields) for whole documents.
pub fn write_documents(documents: &[OpticonDocument]) -> String {
    let mut out = String::new();
    for document in documents {
        let count = document.pages.len();
        for (index, page) in document.pages.iter().enumerate() {
            let first = index == 0;
            let _ = write!(
                out,
                "{},{},{},{},,,{}\r\n",
                page.key,
                page.volume,
                page.image_path,
                if first { "Y" } else { "" },
                if first {
                    count.to_string()
                } else {
                    String::new()
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn page(
        key: &str,
        path: &str,
        document_break: bool,
        count: Option<u32>,
        line: usize,
    ) -> OpticonPage {
        OpticonPage {
            key: key.into(),
            volume: "VOL01".into(),
            image_path: path.into(),
            document_break,
            page_count: count,
            line,
        }
    }

    #[test]
    fn parse_reads_crlf_seven_fields() {
        let text = "A1,VOL01,.\\IMG\\A1.tif,Y,,,2\r\nA2,VOL01,.\\IMG\\A2.tif,,,,\r\n";
        let pages = parse(text, Path::new("x.opt")).unwrap();
        assert_eq!(
            pages,
            vec![
                page("A1", ".\\IMG\\A1.tif", true, Some(2), 1),
                page("A2", ".\\IMG\\A2.tif", false, None, 2),
            ]
        );
    }

    #[test]
    fn parse_reads_five_fields_without_final_newline() {
        let pages = parse("B1,V,b.tif,Y,", Path::new("x.opt")).unwrap();
        assert_eq!(
            pages,
            vec![OpticonPage {
                volume: "V".into(),
                ..page("B1", "b.tif", true, None, 1)
            }]
        );
    }

    #[test]
    fn parse_rejects_wrong_field_count() {
        let error = parse("A,B,C\n", Path::new("x.opt")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "x.opt:1: expected 5 or 7 comma-separated fields, found 3"
        );
    }

    #[test]
    fn group_documents_splits_at_breaks() {
        let pages = parse(
            "A1,V,a,Y,,,2\nA2,V,b,,,,\nB1,V,c,Y,,,1\n",
            Path::new("x.opt"),
        )
        .unwrap();
        let documents = group_documents(pages, Path::new("x.opt")).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].pages.len(), 2);
        assert_eq!(documents[1].first_key(), "B1");
    }

    #[test]
    fn group_documents_rejects_missing_first_break() {
        let pages = parse("A1,V,a,,,,\n", Path::new("x.opt")).unwrap();
        let error = group_documents(pages, Path::new("x.opt")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "x.opt:1: the first page line has no document break `Y`"
        );
    }

    #[test]
    fn parse_lines_goes_on_after_bad_line() {
        let results = parse_lines("A,B\nA1,V,a,Y,,,1\n", Path::new("x.opt"));
        assert_eq!(results.len(), 2);
        assert!(results[0].is_err());
        assert_eq!(results[1].as_ref().unwrap().key, "A1");
    }

    #[test]
    fn group_documents_lenient_returns_orphans() {
        let pages = parse("A0,V,z,,,,\nA1,V,a,Y,,,1\n", Path::new("x.opt")).unwrap();
        let (documents, orphans) = group_documents_lenient(pages);
        assert_eq!(documents.len(), 1);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].line, 1);
    }

    #[test]
    fn multi_page_tiff_on_several_lines() {
        let text = "K1,V,IMG\\m.tif,Y,,,2\r\nK2,V,IMG\\m.tif,,,,\r\n";
        let documents =
            group_documents(parse(text, Path::new("x.opt")).unwrap(), Path::new("x.opt")).unwrap();
        assert_eq!(
            documents[0].pages[0].image_path,
            documents[0].pages[1].image_path
        );
        assert_eq!(documents[0].pages[1].key, "K2");
    }

    #[test]
    fn resolve_image_path_without_dot_prefix() {
        let resolved = resolve_image_path(Path::new("/vol"), "IMAGES\\001\\a.tif");
        assert_eq!(resolved, PathBuf::from("/vol/IMAGES/001/a.tif"));
    }

    #[test]
    fn resolve_image_path_strips_dot_backslash() {
        let resolved = resolve_image_path(Path::new("/vol"), ".\\VOL01\\IMAGES\\a.tif");
        assert_eq!(resolved, PathBuf::from("/vol/VOL01/IMAGES/a.tif"));
    }

    #[test]
    fn write_documents_round_trips() {
        let text = "A1,V,IMG\\a.tif,Y,,,2\r\nA2,V,IMG\\b.tif,,,,\r\n";
        let pages = parse(text, Path::new("x.opt")).unwrap();
        let documents = group_documents(pages, Path::new("x.opt")).unwrap();
        assert_eq!(write_documents(&documents), text);
    }
}
