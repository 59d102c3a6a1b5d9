//! Checks of a load-file volume. Each finds problems and reports them with
//! the file, line and value; the [`Policy`] gives each kind of problem its
//! action, and so its severity.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dat::DatFile;
use super::dates::{is_date_column, parse_date};
use super::image::{inspect, ImageError};
use super::numbering::{missing_between, Numbered};
use crate::opticon::{resolve_image_path, OpticonDocument};

/// The kinds of problem the checks find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, strum::Display)]
#[strum(serialize_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// An Opticon or DAT line that cannot be read.
    Syntax,
    /// A DAT record with another number of fields than the header.
    FieldCount,
    DuplicateControlNumber,
    /// Control numbers of one series that skip values, in file order.
    ControlNumberGap,
    /// The same image key (Bates number) on two Opticon lines.
    DuplicateBates,
    /// A page number skipped inside a document, or a DAT range longer than
    /// the document's pages.
    BatesGap,
    /// A page number repeated or going back inside a document, or a DAT
    /// range shorter than the document's pages.
    BatesOverlap,
    /// A DAT Begin Bates that no Opticon document starts with.
    BatesNotFound,
    /// An Opticon page count that differs from the document's lines.
    PageCount,
    MissingImage,
    UnreadableImage,
    /// A file named in the DAT (native or text) that does not exist.
    MissingFile,
    InvalidDate,
}

/// Severity of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[strum(serialize_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The volume is not fit to push.
    Error,
    /// Recorded; the record stays or is skipped, as the policy sets.
    Warning,
}

/// Action taken on a kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Report an error: the volume is not fit to push.
    Stop,
    /// Report a warning and keep the record.
    Warn,
    /// Report a warning and leave the record out, listing it as skipped.
    Skip,
}

/// The action for each kind of problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    actions: HashMap<ProblemKind, Action>,
}

impl Default for Policy {
    /// Stops on everything that would make an import fail or lose pages, and
    /// warns on a control number gap, which is often a withheld document.
    fn default() -> Self {
        let mut policy = Policy {
            actions: HashMap::new(),
        };
        policy.set(ProblemKind::ControlNumberGap, Action::Warn);
        policy
    }
}

impl Policy {
    /// Sets the action for one kind of problem.
    pub fn set(&mut self, kind: ProblemKind, action: Action) -> &mut Self {
        self.actions.insert(kind, action);
        self
    }

    /// Returns the action for a kind of problem; [`Action::Stop`] unless set.
    pub fn action(&self, kind: ProblemKind) -> Action {
        self.actions.get(&kind).copied().unwrap_or(Action::Stop)
    }

    /// Builds a problem with the severity this policy gives its kind.
    pub fn problem(
        &self,
        kind: ProblemKind,
        file: &Path,
        line: usize,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let action = self.action(kind);
        let severity = match action {
            Action::Stop => Severity::Error,
            Action::Warn | Action::Skip => Severity::Warning,
        };
        Problem {
            kind,
            severity,
            action,
            file: file.to_path_buf(),
            line,
            value: value.into(),
            message: message.into(),
        }
    }
}

/// One problem found in a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub severity: Severity,
    pub action: Action,
    pub file: PathBuf,
    /// Line of `file`, from 1.
    pub line: usize,
    /// The value at fault, as written in the file.
    pub value: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    /// Formats as `file:line: value: message (severity)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {} ({})",
            self.file.display(),
            self.line,
            self.value,
            self.message,
            self.severity
        )
    }
}

/// Returns the column of the control number: the one named Control Number,
/// DocID or Document ID, else the first column.
pub fn control_number_column(dat: &DatFile) -> usize {
    ["Control Number", "DocID", "Doc ID", "Document ID"]
        .iter()
        .find_map(|name| dat.column(name))
        .unwrap_or(0)
}

/// Returns the Begin and End Bates columns when the header names both, such
/// as `BegBates`/`EndBates` or `Begin Bates`/`End Bates` (`BegDoc`/`EndDoc`
/// too, but not the family range `BegAttach`/`EndAttach`).
pub fn bates_columns(dat: &DatFile) -> Option<(usize, usize)> {
    let headers = dat.headers.as_ref()?;
    let normalized: Vec<String> = headers
        .iter()
        .map(|header| {
            header
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .collect();

    let find = |start: &str| {
        normalized.iter().position(|name| {
            let ranged = name.contains("bates") || name.contains("doc") || name.contains("prod");
            name.contains(start) && ranged && !name.contains("attach")
        })
    };
    Some((find("beg")?, find("end")?))
}

/// Checks a DAT file on its own: field counts, control numbers, dates and
/// the files it names.
pub fn check_dat(dat: &DatFile, policy: &Policy) -> Vec<Problem> {
    let mut problems = check_field_counts(dat, policy);
    problems.extend(check_control_numbers(dat, policy));
    problems.extend(check_dates(dat, policy));
    problems.extend(check_named_files(dat, policy));
    problems
}

fn check_field_counts(dat: &DatFile, policy: &Policy) -> Vec<Problem> {
    let expected = dat.expected_fields();
    let source = if dat.headers.is_some() {
        "the header"
    } else {
        "the first record"
    };

    dat.records
        .iter()
        .filter(|record| record.fields.len() != expected)
        .map(|record| {
            policy.problem(
                ProblemKind::FieldCount,
                &dat.path,
                record.line,
                record.fields.first().cloned().unwrap_or_default(),
                format!(
                    "expected {expected} fields as in {source}, found {}",
                    record.fields.len()
                ),
            )
        })
        .collect()
}

/// Finds repeated control numbers, and gaps between consecutive records
/// whose control numbers are of one series.
fn check_control_numbers(dat: &DatFile, policy: &Policy) -> Vec<Problem> {
    let column = control_number_column(dat);
    let mut problems = Vec::new();
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut previous: Option<Numbered> = None;

    for record in &dat.records {
        let Some(value) = record.fields.get(column).map(|value| value.trim()) else {
            continue;
        };

        if let Some(first) = first_seen.get(value) {
            problems.push(policy.problem(
                ProblemKind::DuplicateControlNumber,
                &dat.path,
                record.line,
                value,
                format!("duplicate control number, first at line {first}"),
            ));
        } else {
            first_seen.insert(value, record.line);
        }

        let current = Numbered::parse(value);
        if let (Some(before), Some(after)) = (&previous, &current) {
            if before.same_series(after) && after.number > before.number + 1 {
                problems.push(policy.problem(
                    ProblemKind::ControlNumberGap,
                    &dat.path,
                    record.line,
                    missing_between(before, after),
                    format!("control number missing between {before} and {after}"),
                ));
            }
        }
        previous = current;
    }
    problems
}

fn check_dates(dat: &DatFile, policy: &Policy) -> Vec<Problem> {
    let Some(headers) = &dat.headers else {
        return Vec::new();
    };
    let columns: Vec<usize> = (0..headers.len())
        .filter(|&index| is_date_column(&headers[index]))
        .collect();

    let mut problems = Vec::new();
    for record in &dat.records {
        for &column in &columns {
            let value = record.fields.get(column).map_or("", |value| value.trim());
            if value.is_empty() || parse_date(value).is_some() {
                continue;
            }
            problems.push(policy.problem(
                ProblemKind::InvalidDate,
                &dat.path,
                record.line,
                value,
                format!(
                    "invalid date in column {:?}; expected M/D/YYYY, M/D/YYYY h:mm AM/PM or ISO 8601",
                    headers[column]
                ),
            ));
        }
    }
    problems
}

/// Checks values that start with `.\` or `./`, which name a file relative
/// to the DAT's folder (natives and extracted text).
fn check_named_files(dat: &DatFile, policy: &Policy) -> Vec<Problem> {
    let folder = dat.path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for record in &dat.records {
        for value in &record.fields {
            let value = value.trim();
            let relative = value.starts_with(".\\") || value.starts_with("./");
            if !relative || resolve_image_path(folder, value).is_file() {
                continue;
            }
            problems.push(policy.problem(
                ProblemKind::MissingFile,
                &dat.path,
                record.line,
                value,
                "file not found relative to the DAT file's folder; fix the path or add the file",
            ));
        }
    }
    problems
}

/// Checks Opticon documents: page counts, repeated keys and the numbering of
/// each document's pages.
pub fn check_opticon(path: &Path, documents: &[OpticonDocument], policy: &Policy) -> Vec<Problem> {
    let mut problems = check_page_counts(path, documents, policy);
    problems.extend(check_duplicate_keys(path, documents, policy));
    for document in documents {
        problems.extend(check_page_numbering(path, document, policy));
    }
    problems
}

fn check_page_counts(path: &Path, documents: &[OpticonDocument], policy: &Policy) -> Vec<Problem> {
    let mut problems = Vec::new();
    for document in documents {
        let first = &document.pages[0];
        let Some(count) = first.page_count else {
            continue;
        };
        if count as usize == document.pages.len() {
            continue;
        }
        problems.push(policy.problem(
            ProblemKind::PageCount,
            path,
            first.line,
            count.to_string(),
            format!(
                "page count of document {} is {count} but it has {} page lines",
                first.key,
                document.pages.len()
            ),
        ));
    }
    problems
}

fn check_duplicate_keys(
    path: &Path,
    documents: &[OpticonDocument],
    policy: &Policy,
) -> Vec<Problem> {
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for page in documents.iter().flat_map(|document| &document.pages) {
        match first_seen.get(page.key.as_str()) {
            Some(first) => problems.push(policy.problem(
                ProblemKind::DuplicateBates,
                path,
                page.line,
                page.key.clone(),
                format!("duplicate image key, first at line {first}"),
            )),
            None => {
                first_seen.insert(&page.key, page.line);
            }
        }
    }
    problems
}

/// Checks that the pages of a document count up by one, when every key of
/// the document is of one numbered series. Suffix-style keys (`X_REV`,
/// `X_0001_REV`) are of no single series and are not checked.
fn check_page_numbering(path: &Path, document: &OpticonDocument, policy: &Policy) -> Vec<Problem> {
    let numbers: Option<Vec<Numbered>> = document
        .pages
        .iter()
        .map(|page| Numbered::parse(&page.key))
        .collect();
    let Some(numbers) = numbers else {
        return Vec::new();
    };
    if numbers
        .iter()
        .any(|number| !number.same_series(&numbers[0]))
    {
        return Vec::new();
    }

    let mut problems = Vec::new();
    for (index, pair) in numbers.windows(2).enumerate() {
        let page = &document.pages[index + 1];
        let (before, after) = (&pair[0], &pair[1]);
        if after.number > before.number + 1 {
            problems.push(policy.problem(
                ProblemKind::BatesGap,
                path,
                page.line,
                missing_between(before, after),
                format!("Bates gap inside document {}", document.first_key()),
            ));
        } else if after.number <= before.number {
            problems.push(policy.problem(
                ProblemKind::BatesOverlap,
                path,
                page.line,
                page.key.clone(),
                format!("Bates number does not follow {before}"),
            ));
        }
    }
    problems
}

/// Checks every image an Opticon file names: it exists, it is a readable
/// TIFF, JPEG or PDF, and a TIFF named on several lines has that many pages.
/// Each path is read once.
pub fn check_images(path: &Path, documents: &[OpticonDocument], policy: &Policy) -> Vec<Problem> {
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut lines_by_image: Vec<(&str, Vec<usize>)> = Vec::new();
    for page in documents.iter().flat_map(|document| &document.pages) {
        match lines_by_image
            .iter_mut()
            .find(|(image, _)| *image == page.image_path)
        {
            Some((_, lines)) => lines.push(page.line),
            None => lines_by_image.push((&page.image_path, vec![page.line])),
        }
    }

    let mut problems = Vec::new();
    for (image, lines) in lines_by_image {
        let resolved = resolve_image_path(folder, image);
        problems.extend(check_image(path, &resolved, image, &lines, policy));
    }
    problems
}

fn check_image(
    path: &Path,
    resolved: &Path,
    image: &str,
    lines: &[usize],
    policy: &Policy,
) -> Option<Problem> {
    let line = lines[0];
    let info = match inspect(resolved) {
        Ok(info) => info,
        Err(ImageError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            let message = format!("image not found at {}", resolved.display());
            return Some(policy.problem(ProblemKind::MissingImage, path, line, image, message));
        }
        Err(error) => {
            let kind = ProblemKind::UnreadableImage;
            return Some(policy.problem(kind, path, line, image, error.to_string()));
        }
    };

    let pages = info.pages?;
    if pages >= lines.len() {
        return None;
    }
    Some(policy.problem(
        ProblemKind::UnreadableImage,
        path,
        lines[pages],
        image,
        format!(
            "TIFF has {pages} pages but is named on {} lines",
            lines.len()
        ),
    ))
}

/// Checks each DAT Begin/End Bates range against the Opticon document that
/// starts at its Begin Bates.
pub fn check_bates_ranges(
    dat: &DatFile,
    opticon: &Path,
    documents: &[OpticonDocument],
    policy: &Policy,
) -> Vec<Problem> {
    let Some((begin_column, end_column)) = bates_columns(dat) else {
        return Vec::new();
    };
    let by_first_key: HashMap<&str, &OpticonDocument> = documents
        .iter()
        .map(|document| (document.first_key(), document))
        .collect();

    let mut problems = Vec::new();
    for record in &dat.records {
        let field = |column: usize| record.fields.get(column).map_or("", |value| value.trim());
        let (begin, end) = (field(begin_column), field(end_column));
        if begin.is_empty() {
            continue;
        }

        let Some(document) = by_first_key.get(begin) else {
            let message = format!(
                "no document of {} starts at this Begin Bates",
                opticon.display()
            );
            problems.push(policy.problem(
                ProblemKind::BatesNotFound,
                &dat.path,
                record.line,
                begin,
                message,
            ));
            continue;
        };
        let last = &document.pages[document.pages.len() - 1].key;
        if let Some(problem) = compare_end(dat, record.line, end, last, policy) {
            problems.push(problem);
        }
    }
    problems
}

/// Compares a DAT End Bates with the key of the document's last page.
fn compare_end(
    dat: &DatFile,
    line: usize,
    end: &str,
    last: &str,
    policy: &Policy,
) -> Option<Problem> {
    if end.is_empty() || end == last {
        return None;
    }
    let longer = match (Numbered::parse(end), Numbered::parse(last)) {
        (Some(end), Some(last)) if end.same_series(&last) => end.number > last.number,
        _ => true,
    };
    let (kind, relation) = if longer {
        (ProblemKind::BatesGap, "beyond")
    } else {
        (ProblemKind::BatesOverlap, "before")
    };
    let message = format!("End Bates ends {relation} the document's last page {last}");
    Some(policy.problem(kind, &dat.path, line, end, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadfile::dat::{parse_bytes, DatOptions};
    use crate::opticon::{group_documents, parse};
    use pretty_assertions::assert_eq;

    fn dat(text: &str) -> DatFile {
        parse_bytes(text.as_bytes(), Path::new("x.dat"), &DatOptions::default()).unwrap()
    }

    fn documents(text: &str) -> Vec<OpticonDocument> {
        let pages = parse(text, Path::new("x.opt")).unwrap();
        group_documents(pages, Path::new("x.opt")).unwrap()
    }

    fn lines(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(Problem::to_string).collect()
    }

    #[test]
    fn field_count_wrong_row() {
        let problems = check_dat(&dat("ID|Name\nA1|x\nA2\n"), &Policy::default());
        assert_eq!(
            lines(&problems),
            vec!["x.dat:3: A2: expected 2 fields as in the header, found 1 (error)"]
        );
    }

    #[test]
    fn control_number_duplicate_and_gap() {
        let problems = check_dat(&dat("S01|a\nS02|b\nS02|c\nS04|d\n"), &Policy::default());
        assert_eq!(
            lines(&problems),
            vec![
                "x.dat:3: S02: duplicate control number, first at line 2 (error)",
                "x.dat:4: S03: control number missing between S02 and S04 (warning)",
            ]
        );
    }

    #[test]
    fn date_invalid_reported() {
        let problems = check_dat(
            &dat("ID|Date Sent\nA1|13/21/2001\nA2|5/21/2001 3:48 PM\n"),
            &Policy::default(),
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::InvalidDate);
        assert_eq!(problems[0].value, "13/21/2001");
        assert_eq!(problems[0].line, 2);
    }

    #[test]
    fn named_file_missing() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir(folder.path().join("TEXT")).unwrap();
        std::fs::write(folder.path().join("TEXT/a.txt"), "a").unwrap();
        let path = folder.path().join("x.dat");
        std::fs::write(&path, "A1|.\\TEXT\\a.txt\nA2|.\\TEXT\\b.txt\n").unwrap();

        let file = crate::loadfile::dat::read_file(&path, &DatOptions::default()).unwrap();
        let problems = check_dat(&file, &Policy::default());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::MissingFile);
        assert_eq!(problems[0].value, ".\\TEXT\\b.txt");
    }

    #[test]
    fn page_count_disagrees() {
        let documents = documents("A1,V,a,Y,,,3\nA2,V,b,,,,\n");
        let problems = check_opticon(Path::new("x.opt"), &documents, &Policy::default());
        assert_eq!(
            lines(&problems),
            vec!["x.opt:1: 3: page count of document A1 is 3 but it has 2 page lines (error)"]
        );
    }

    #[test]
    fn bates_duplicate_gap_overlap() {
        let documents =
            documents("P001,V,a,Y,,,3\nP002,V,b,,,,\nP004,V,c,,,,\nP010,V,d,Y,,,2\nP010,V,e,,,,\n");
        let problems = check_opticon(Path::new("x.opt"), &documents, &Policy::default());
        let kinds: Vec<ProblemKind> = problems.iter().map(|problem| problem.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ProblemKind::DuplicateBates,
                ProblemKind::BatesGap,
                ProblemKind::BatesOverlap
            ]
        );
        assert_eq!(problems[1].value, "P003");
        assert_eq!(problems[1].line, 3);
    }

    #[test]
    fn suffix_style_keys_not_numbered() {
        let documents = documents("X_REV,V,a,Y,,,2\nX_0001_REV,V,b,,,,\n");
        let problems = check_opticon(Path::new("x.opt"), &documents, &Policy::default());
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn bates_range_against_opticon() {
        let documents = documents("P001,V,a,Y,,,2\nP002,V,b,,,,\nP003,V,c,Y,,,1\n");
        let file = dat("BegBates|EndBates\nP001|P003\nP003|P003\nP005|P005\n");
        let problems =
            check_bates_ranges(&file, Path::new("x.opt"), &documents, &Policy::default());
        assert_eq!(
            lines(&problems),
            vec![
                "x.dat:2: P003: End Bates ends beyond the document's last page P002 (error)",
                "x.dat:4: P005: no document of x.opt starts at this Begin Bates (error)",
            ]
        );
    }

    #[test]
    fn bates_columns_skip_attachment_range() {
        let file = dat("BegAttach|EndAttach|Begin Bates|End Bates\na|b|c|d\n");
        assert_eq!(bates_columns(&file), Some((2, 3)));
    }

    #[test]
    fn images_missing_unreadable_and_short_tiff() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("text.tif"), "Some text").unwrap();
        std::fs::write(folder.path().join("doc.pdf"), "%PDF-1.4\n").unwrap();
        let opticon = folder.path().join("x.opt");
        let documents = documents(
            "A1,V,.\\text.tif,Y,,,1\nB1,V,.\\none.tif,Y,,,1\nC1,V,.\\doc.pdf,Y,,,2\nC2,V,.\\doc.pdf,,,,\n",
        );

        let problems = check_images(&opticon, &documents, &Policy::default());
        let kinds: Vec<(ProblemKind, usize)> = problems
            .iter()
            .map(|problem| (problem.kind, problem.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (ProblemKind::UnreadableImage, 1),
                (ProblemKind::MissingImage, 2),
            ]
        );
    }

    #[test]
    fn policy_skip_is_warning() {
        let mut policy = Policy::default();
        policy.set(ProblemKind::FieldCount, Action::Skip);
        let problems = check_dat(&dat("ID|Name\nA1\n"), &policy);
        assert_eq!(problems[0].severity, Severity::Warning);
        assert_eq!(problems[0].action, Action::Skip);
    }
}
