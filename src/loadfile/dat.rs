//! DAT metadata load files (Concordance and Relativity style): decoding,
//! delimiter and header detection, and record parsing.
//!
//! A DAT file contains one record per line, fields split by a separator and
//! optionally wrapped in a text qualifier. A qualified value may contain the
//! separator and line breaks. Inside a value, the newline marker stands for
//! a line break and the multi-value separator splits a list. Every choice
//! that was not given in [`DatOptions`] is detected, and [`Detected`]
//! reports what was chosen and why.

use std::path::{Path, PathBuf};

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use serde::Serialize;

/// Concordance default field separator, DC4 (0x14).
pub const CONCORDANCE_SEPARATOR: char = '\u{14}';
/// Concordance default text qualifier, þ (U+00FE).
pub const CONCORDANCE_QUALIFIER: char = '\u{fe}';
/// Concordance default marker of a line break inside a value, ® (U+00AE).
pub const CONCORDANCE_NEWLINE: char = '\u{ae}';
/// Concordance default separator of the values of a multi-value field.
pub const CONCORDANCE_MULTI_VALUE: char = ';';

/// Separators tried by detection, in order of preference on a tie.
const SEPARATOR_CANDIDATES: [char; 5] = [CONCORDANCE_SEPARATOR, '|', '\t', ',', ';'];
/// Qualifiers tried by detection.
const QUALIFIER_CANDIDATES: [char; 4] = [CONCORDANCE_QUALIFIER, '^', '"', '~'];
/// Lines read to detect the qualifier.
const QUALIFIER_SCAN_LINES: usize = 20;

/// The delimiters of a DAT file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delimiters {
    pub separator: char,
    /// Text qualifier, or `None` when values are never wrapped.
    pub qualifier: Option<char>,
    /// Character that stands for a line break inside a value.
    pub newline: char,
    /// Separator of the values of a multi-value field.
    pub multi_value: char,
}

impl Delimiters {
    /// Concordance defaults: DC4 separator, þ qualifier, ® newline, `;` lists.
    pub const CONCORDANCE: Delimiters = Delimiters {
        separator: CONCORDANCE_SEPARATOR,
        qualifier: Some(CONCORDANCE_QUALIFIER),
        newline: CONCORDANCE_NEWLINE,
        multi_value: CONCORDANCE_MULTI_VALUE,
    };

    /// Splits a multi-value field into its values, trimmed, without empties.
    pub fn split_values<'a>(&self, value: &'a str) -> Vec<&'a str> {
        value
            .split(self.multi_value)
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect()
    }
}

/// Choices for reading a DAT file; each `None` is detected.
#[derive(Debug, Clone, Default)]
pub struct DatOptions {
    pub separator: Option<char>,
    /// `Some(None)` means the file has no qualifier; `None` detects it.
    pub qualifier: Option<Option<char>>,
    /// Newline marker; the Concordance ® when `None`.
    pub newline: Option<char>,
    /// Multi-value separator; the Concordance `;` when `None`.
    pub multi_value: Option<char>,
    /// Whether the first line is a header row.
    pub header: Option<bool>,
    /// Text encoding, such as `encoding_rs::WINDOWS_1252`.
    pub encoding: Option<&'static Encoding>,
}

/// Settings used to read a DAT file, given or detected, with the reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    pub delimiters: Delimiters,
    /// Encoding name as the WHATWG Encoding Standard spells it, such as
    /// `UTF-8` or `windows-1252`.
    pub encoding: &'static str,
    /// True when the file starts with a byte-order mark.
    pub bom: bool,
    /// True when the first line was read as a header row.
    pub header: bool,
    /// One sentence per choice: what was chosen and why.
    pub reasons: Vec<String>,
}

/// One record of a DAT file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatRecord {
    /// Line of the file where the record starts, from 1.
    pub line: usize,
    /// Field values, unqualified, with newline markers turned into `\n`.
    pub fields: Vec<String>,
}

/// A parsed DAT file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatFile {
    pub path: PathBuf,
    pub detected: Detected,
    /// Column names, when the file has a header row.
    pub headers: Option<Vec<String>>,
    /// The records after the header row, in file order.
    pub records: Vec<DatRecord>,
}

impl DatFile {
    /// Returns the index of the column whose name matches, ignoring case and
    /// surrounding spaces.
    pub fn column(&self, name: &str) -> Option<usize> {
        let headers = self.headers.as_ref()?;
        headers
            .iter()
            .position(|header| header.trim().eq_ignore_ascii_case(name.trim()))
    }

    /// Returns the number of fields a record should have: the header's, or
    /// the first record's when there is no header.
    pub fn expected_fields(&self) -> usize {
        match &self.headers {
            Some(headers) => headers.len(),
            None => self.records.first().map_or(0, |record| record.fields.len()),
        }
    }
}

/// Error of reading a DAT file.
#[derive(Debug, thiserror::Error)]
pub enum DatError {
    #[error("cannot read DAT file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{path}:{line}: qualifier {qualifier:?} opened here is never closed; \
         give the file's qualifier with --qualifier or fix the value"
    )]
    UnclosedQualifier {
        path: PathBuf,
        line: usize,
        qualifier: char,
    },

    #[error("invalid delimiter {value:?}: give one character, `tab`, or a code such as 0x14")]
    InvalidDelimiter { value: String },
}

/// Reads and parses a DAT file from disk.
pub fn read_file(path: &Path, options: &DatOptions) -> Result<DatFile, DatError> {
    let bytes = std::fs::read(path).map_err(|source| DatError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_bytes(&bytes, path, options)
}

/// Parses the bytes of a DAT file; `path` names the file in errors.
pub fn parse_bytes(bytes: &[u8], path: &Path, options: &DatOptions) -> Result<DatFile, DatError> {
    let mut reasons = Vec::new();
    let decoded = decode(bytes, options.encoding, &mut reasons);

    let delimiters = choose_delimiters(&decoded.text, options, &mut reasons);
    let mut records = split_records(&decoded.text, &delimiters, path)?;

    let header = match options.header {
        Some(given) => {
            reasons.push(format!("header row {}: given", yes_no(given)));
            given
        }
        None => detect_header(&records, &mut reasons),
    };
    let headers = if header && !records.is_empty() {
        Some(records.remove(0).fields)
    } else {
        None
    };

    let detected = Detected {
        delimiters,
        encoding: decoded.encoding.name(),
        bom: decoded.bom,
        header,
        reasons,
    };
    Ok(DatFile {
        path: path.to_path_buf(),
        detected,
        headers,
        records,
    })
}

/// Parses a delimiter written on a command line: one character, `tab`, or a
/// code point such as `0x14`, `\x14` or `U+00FE`.
pub fn parse_delimiter(value: &str) -> Result<char, DatError> {
    let invalid = || DatError::InvalidDelimiter {
        value: value.to_string(),
    };

    let mut chars = value.chars();
    if let (Some(only), None) = (chars.next(), chars.next()) {
        return Ok(only);
    }
    if value.eq_ignore_ascii_case("tab") {
        return Ok('\t');
    }

    let lower = value.to_ascii_lowercase();
    let hex = ["0x", "\\x", "u+"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))
        .ok_or_else(invalid)?;
    let code = u32::from_str_radix(hex, 16).map_err(|_| invalid())?;
    char::from_u32(code).ok_or_else(invalid)
}

/// Text of a file after decoding.
pub(crate) struct Decoded {
    pub(crate) text: String,
    pub(crate) encoding: &'static Encoding,
    pub(crate) bom: bool,
}

/// Decodes with the given encoding, or the one a BOM names, or UTF-8 when
/// the bytes are valid UTF-8, else Windows-1252.
pub(crate) fn decode(
    bytes: &[u8],
    given: Option<&'static Encoding>,
    reasons: &mut Vec<String>,
) -> Decoded {
    let bom = Encoding::for_bom(bytes);
    let body = &bytes[bom.map_or(0, |(_, length)| length)..];

    let encoding = if let Some(encoding) = given {
        reasons.push(format!("encoding {}: given", encoding.name()));
        encoding
    } else if let Some((encoding, _)) = bom {
        reasons.push(format!("encoding {}: byte-order mark", encoding.name()));
        encoding
    } else if std::str::from_utf8(body).is_ok() {
        reasons.push("encoding UTF-8: the bytes are valid UTF-8".to_string());
        UTF_8
    } else {
        reasons.push("encoding windows-1252: the bytes are not valid UTF-8".to_string());
        WINDOWS_1252
    };

    let (text, _) = encoding.decode_without_bom_handling(body);
    Decoded {
        text: text.into_owned(),
        encoding,
        bom: bom.is_some(),
    }
}

fn choose_delimiters(text: &str, options: &DatOptions, reasons: &mut Vec<String>) -> Delimiters {
    let separator = match options.separator {
        Some(given) => {
            reasons.push(format!("separator {given:?}: given"));
            given
        }
        None => detect_separator(text, reasons),
    };
    let qualifier = match options.qualifier {
        Some(given) => {
            reasons.push(format!("qualifier {given:?}: given"));
            given
        }
        None => detect_qualifier(text, separator, reasons),
    };
    Delimiters {
        separator,
        qualifier,
        newline: options.newline.unwrap_or(CONCORDANCE_NEWLINE),
        multi_value: options.multi_value.unwrap_or(CONCORDANCE_MULTI_VALUE),
    }
}

/// Picks the candidate separator that occurs most often in the first line.
fn detect_separator(text: &str, reasons: &mut Vec<String>) -> char {
    let first_line = text.lines().next().unwrap_or("");
    let counts = SEPARATOR_CANDIDATES.map(|candidate| first_line.matches(candidate).count());

    let mut best = 0;
    for (index, count) in counts.iter().enumerate() {
        if *count > counts[best] {
            best = index;
        }
    }

    let separator = SEPARATOR_CANDIDATES[best];
    if counts[best] == 0 {
        reasons.push(format!(
            "separator {separator:?}: no candidate occurs in line 1, so the Concordance default"
        ));
    } else {
        reasons.push(format!(
            "separator {separator:?}: occurs {} times in line 1, more than any other candidate",
            counts[best]
        ));
    }
    separator
}

/// Picks a qualifier when an early line starts with it and it also closes a
/// field (it comes right before a separator or a line end).
fn detect_qualifier(text: &str, separator: char, reasons: &mut Vec<String>) -> Option<char> {
    for (index, line) in text.lines().take(QUALIFIER_SCAN_LINES).enumerate() {
        let Some(first) = line.chars().next() else {
            continue;
        };
        if !QUALIFIER_CANDIDATES.contains(&first) {
            continue;
        }
        let closes = line.contains(&format!("{first}{separator}")) || line.ends_with(first);
        if closes && line.chars().count() > 1 {
            reasons.push(format!(
                "qualifier {first:?}: line {} starts with it and it closes a field",
                index + 1
            ));
            return Some(first);
        }
    }
    reasons.push(format!(
        "no qualifier: none of the first {QUALIFIER_SCAN_LINES} lines starts with a candidate"
    ));
    None
}

/// Reads a header row when the first record has no empty, repeated,
/// numeric, date-like or path-like value, which data rows usually have.
/// NOTE: a data row of short names only (`A1|x`) passes for a header; give
/// the choice in [`DatOptions::header`] for such files.
fn detect_header(records: &[DatRecord], reasons: &mut Vec<String>) -> bool {
    let Some(first) = records.first() else {
        reasons.push("no header row: the file has no records".to_string());
        return false;
    };

    let objection = first.fields.iter().enumerate().find_map(|(index, value)| {
        let value = value.trim();
        let repeated = first.fields[..index]
            .iter()
            .any(|other| other.trim() == value);
        header_objection(value, repeated).map(|why| format!("field {} {why}", index + 1))
    });

    match objection {
        Some(why) => {
            reasons.push(format!("no header row: in line 1, {why}"));
            false
        }
        None => {
            reasons.push(
                "header row: every value of line 1 is a distinct name, not a number, date or path"
                    .to_string(),
            );
            true
        }
    }
}

fn header_objection(value: &str, repeated: bool) -> Option<&'static str> {
    if value.is_empty() {
        return Some("is empty");
    }
    if repeated {
        return Some("repeats an earlier value");
    }
    if value
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Some("is a number");
    }
    if value.contains('\\') || value.contains('@') {
        return Some("looks like a path or an address");
    }
    if value.contains('/') && value.chars().any(|c| c.is_ascii_digit()) {
        return Some("looks like a date");
    }
    None
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// Splits decoded text into records, honoring qualifiers that wrap
/// separators and line breaks. Blank lines outside a value are skipped.
fn split_records(
    text: &str,
    delimiters: &Delimiters,
    path: &Path,
) -> Result<Vec<DatRecord>, DatError> {
    let mut parser = RecordParser {
        chars: text.chars().collect(),
        position: 0,
        line: 1,
        delimiters,
        path,
    };

    let mut records = Vec::new();
    while parser.position < parser.chars.len() {
        if parser.skip_line_end() {
            continue;
        }
        records.push(parser.record()?);
    }
    Ok(records)
}

/// Cursor over the characters of a DAT file.
struct RecordParser<'a> {
    chars: Vec<char>,
    position: usize,
    line: usize,
    delimiters: &'a Delimiters,
    path: &'a Path,
}

impl RecordParser<'_> {
    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.position + offset).copied()
    }

    /// Consumes one CRLF, LF or CR; returns whether there was one.
    fn skip_line_end(&mut self) -> bool {
        match self.peek(0) {
            Some('\r') if self.peek(1) == Some('\n') => self.position += 2,
            Some('\r') | Some('\n') => self.position += 1,
            _ => return false,
        }
        self.line += 1;
        true
    }

    fn record(&mut self) -> Result<DatRecord, DatError> {
        let line = self.line;
        let mut fields = Vec::new();
        loop {
            fields.push(self.field()?);

            if self.peek(0) == Some(self.delimiters.separator) {
                self.position += 1;
                continue;
            }
            self.skip_line_end();
            return Ok(DatRecord { line, fields });
        }
    }

    /// Reads one field up to (not including) the next separator or line end.
    fn field(&mut self) -> Result<String, DatError> {
        let mut value = String::new();
        if let Some(qualifier) = self.delimiters.qualifier {
            if self.peek(0) == Some(qualifier) {
                self.position += 1;
                self.qualified(qualifier, &mut value)?;
            }
        }

        // Unqualified text, or stray text after a closing qualifier.
        while let Some(c) = self.peek(0) {
            if c == self.delimiters.separator || c == '\r' || c == '\n' {
                break;
            }
            value.push(c);
            self.position += 1;
        }
        Ok(value.replace(self.delimiters.newline, "\n"))
    }

    /// Reads a qualified value after its opening qualifier. A doubled
    /// qualifier inside stands for one qualifier character.
    fn qualified(&mut self, qualifier: char, value: &mut String) -> Result<(), DatError> {
        let start = self.line;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(DatError::UnclosedQualifier {
                    path: self.path.to_path_buf(),
                    line: start,
                    qualifier,
                });
            };
            if c == qualifier && self.peek(1) == Some(qualifier) {
                value.push(qualifier);
                self.position += 2;
                continue;
            }
            if c == qualifier && self.closes_field(1) {
                self.position += 1;
                return Ok(());
            }
            if self.skip_line_end() {
                value.push('\n');
                continue;
            }
            value.push(c);
            self.position += 1;
        }
    }

    /// Returns whether the character at `offset` ends a field.
    fn closes_field(&self, offset: usize) -> bool {
        match self.peek(offset) {
            None | Some('\r') | Some('\n') => true,
            Some(c) => c == self.delimiters.separator,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn parse(bytes: &[u8]) -> DatFile {
        parse_bytes(bytes, Path::new("x.dat"), &DatOptions::default()).unwrap()
    }

    /// Parses with no header row, for inputs too short to detect one.
    fn parse_rows(bytes: &[u8]) -> DatFile {
        let options = DatOptions {
            header: Some(false),
            ..DatOptions::default()
        };
        parse_bytes(bytes, Path::new("x.dat"), &options).unwrap()
    }

    fn fields(file: &DatFile) -> Vec<Vec<&str>> {
        file.records
            .iter()
            .map(|record| record.fields.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn concordance_defaults_detected() {
        let file = parse("þA1þ\u{14}þx®yþ\u{14}\r\nþA2þ\u{14}þzþ\u{14}\r\n".as_bytes());
        assert_eq!(file.detected.delimiters, Delimiters::CONCORDANCE);
        assert_eq!(file.detected.header, false);
        assert_eq!(
            fields(&file),
            vec![vec!["A1", "x\ny", ""], vec!["A2", "z", ""]]
        );
    }

    #[test]
    fn windows_1252_thorn_is_one_byte() {
        let file = parse_rows(b"\xfeA1\xfe\x14\xfecaf\xe9\xfe\r\n");
        assert_eq!(file.detected.encoding, "windows-1252");
        assert_eq!(file.detected.delimiters.qualifier, Some('þ'));
        assert_eq!(fields(&file), vec![vec!["A1", "café"]]);
    }

    #[test]
    fn utf8_bom_is_stripped_and_reported() {
        let file = parse(b"\xef\xbb\xbfID|Name\nA1|x\n");
        assert_eq!(file.detected.encoding, "UTF-8");
        assert_eq!(file.detected.bom, true);
        assert_eq!(
            file.headers,
            Some(vec!["ID".to_string(), "Name".to_string()])
        );
    }

    #[test]
    fn utf8_without_bom() {
        let file = parse("ID|Name\nA1|café\n".as_bytes());
        assert_eq!(file.detected.encoding, "UTF-8");
        assert_eq!(file.detected.bom, false);
        assert_eq!(fields(&file), vec![vec!["A1", "café"]]);
    }

    #[test]
    fn lf_and_missing_final_newline() {
        let file = parse(b"A1|x|1\nA2|y|2");
        assert_eq!(
            fields(&file),
            vec![vec!["A1", "x", "1"], vec!["A2", "y", "2"]]
        );
        assert_eq!(file.records[1].line, 2);
    }

    #[test]
    fn qualified_value_holds_separator() {
        let file = parse(b"ID|Name\n^A|1^|x\n");
        assert_eq!(file.detected.delimiters.qualifier, Some('^'));
        assert_eq!(fields(&file), vec![vec!["A|1", "x"]]);
    }

    #[test]
    fn qualified_value_holds_newlines() {
        let file = parse_rows(b"^A1^|^two\r\nlines^\r\n^A2^|^x^\r\n");
        assert_eq!(
            fields(&file),
            vec![vec!["A1", "two\nlines"], vec!["A2", "x"]]
        );
        assert_eq!(file.records[1].line, 3);
    }

    #[test]
    fn only_some_fields_qualified() {
        let file = parse("þA1þ\u{14}þJohnþ\u{14}\u{14}plain\u{14}1/2/2001".as_bytes());
        assert_eq!(
            fields(&file),
            vec![vec!["A1", "John", "", "plain", "1/2/2001"]]
        );
    }

    #[test]
    fn doubled_qualifier_is_literal() {
        let file = parse_rows(b"^A^^B^|x\n");
        assert_eq!(fields(&file), vec![vec!["A^B", "x"]]);
    }

    #[test]
    fn trailing_separator_is_empty_field() {
        let file = parse(b"A1|x|\nA2|y|\n");
        assert_eq!(
            fields(&file),
            vec![vec!["A1", "x", ""], vec!["A2", "y", ""]]
        );
    }

    #[test]
    fn custom_delimiters_given() {
        let options = DatOptions {
            separator: Some(','),
            qualifier: Some(Some('"')),
            newline: Some('~'),
            multi_value: Some('#'),
            header: Some(false),
            encoding: None,
        };
        let file = parse_bytes(b"\"a,b\",c~d,e#f\n", Path::new("x.dat"), &options).unwrap();
        assert_eq!(fields(&file), vec![vec!["a,b", "c\nd", "e#f"]]);
        assert_eq!(file.detected.delimiters.split_values("e#f"), vec!["e", "f"]);
        assert_eq!(file.detected.reasons[1], "separator ',': given");
    }

    #[test]
    fn no_qualifier_given() {
        let options = DatOptions {
            qualifier: Some(None),
            header: Some(false),
            ..DatOptions::default()
        };
        let file = parse_bytes(b"^a^|b\n", Path::new("x.dat"), &options).unwrap();
        assert_eq!(fields(&file), vec![vec!["^a^", "b"]]);
    }

    #[test]
    fn header_detected_from_names() {
        let file = parse(b"Control Number|Date Sent\nA1|5/21/2001\n");
        assert_eq!(file.detected.header, true);
        assert_eq!(file.column("control number"), Some(0));
        assert_eq!(file.expected_fields(), 2);
    }

    #[test]
    fn header_absent_when_values_empty() {
        let file = parse(b"A1|||x\nA2|||y\n");
        assert_eq!(file.detected.header, false);
        assert_eq!(
            file.detected.reasons.last().unwrap(),
            "no header row: in line 1, field 2 is empty"
        );
    }

    #[test]
    fn header_given_overrides_detection() {
        let options = DatOptions {
            header: Some(true),
            ..DatOptions::default()
        };
        let file = parse_bytes(b"A1||x\n", Path::new("x.dat"), &options).unwrap();
        assert_eq!(file.records.len(), 0);
        assert_eq!(file.headers.unwrap().len(), 3);
    }

    #[test]
    fn unclosed_qualifier_is_error() {
        let options = DatOptions {
            qualifier: Some(Some('^')),
            ..DatOptions::default()
        };
        let error = parse_bytes(b"^A1|x\n", Path::new("x.dat"), &options);
        let error = match error {
            Err(error) => error.to_string(),
            Ok(file) => format!("parsed {:?}", file.records),
        };
        assert_eq!(
            error,
            "x.dat:1: qualifier '^' opened here is never closed; \
             give the file's qualifier with --qualifier or fix the value"
        );
    }

    #[test]
    fn parse_delimiter_forms() {
        assert_eq!(parse_delimiter("|").unwrap(), '|');
        assert_eq!(parse_delimiter("tab").unwrap(), '\t');
        assert_eq!(parse_delimiter("0x14").unwrap(), '\u{14}');
        assert_eq!(parse_delimiter("U+00FE").unwrap(), 'þ');
        assert!(parse_delimiter("ab").is_err());
    }
}
