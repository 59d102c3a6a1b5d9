//! A small reader of Concordance DAT metadata files, enough to find the
//! control number of each seeded document.
//!
//! The field separator is the first of DC4 (0x14), `|`, tab or `,` found in
//! the header; the text qualifier is the header's first character when it
//! is þ, `^` or `"`. A qualified value may contain the separator. Records
//! are lines, because Concordance writes newlines inside values as ®.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::EmulatorError;

const SEPARATORS: [char; 4] = ['\u{14}', '|', '\t', ','];
const QUALIFIERS: [char; 3] = ['\u{fe}', '^', '"'];

/// Maps each requested key to the first column of the first row that contains
/// it in any column. Rows below the header only are searched.
pub fn control_numbers(
    path: &Path,
    wanted: &HashSet<&str>,
) -> Result<HashMap<String, String>, EmulatorError> {
    let bytes = std::fs::read(path).map_err(|error| EmulatorError::io(path, error))?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);

    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(dat_error(
            path,
            1,
            "the file is empty; give it a header row",
        ));
    };
    let separator = SEPARATORS
        .into_iter()
        .find(|separator| header.contains(*separator))
        .ok_or_else(|| {
            dat_error(
                path,
                1,
                "the header has no field separator (DC4, |, tab or comma)",
            )
        })?;
    let qualifier = header
        .chars()
        .next()
        .filter(|first| QUALIFIERS.contains(first));

    let mut found = HashMap::new();
    for (index, line) in lines {
        let fields = split_line(line, separator, qualifier);
        let Some(first) = fields.first() else {
            continue;
        };
        for field in &fields {
            if wanted.contains(field.as_str()) && !found.contains_key(field) {
                found.insert(field.clone(), first.clone());
            }
        }
        if first.is_empty() {
            return Err(dat_error(
                path,
                index + 1,
                "the first column is empty; give each row a control number",
            ));
        }
    }
    Ok(found)
}

/// Splits one record into values, removing qualifiers.
fn split_line(line: &str, separator: char, qualifier: Option<char>) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in line.chars() {
        if Some(character) == qualifier {
            quoted = !quoted;
        } else if character == separator && !quoted {
            fields.push(std::mem::take(&mut current));
        } else {
            current.push(character);
        }
    }
    fields.push(current);
    fields
        .into_iter()
        .map(|field| field.trim().to_string())
        .collect()
}

fn dat_error(path: &Path, line: usize, message: &str) -> EmulatorError {
    EmulatorError::Dat {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn split_line_keeps_separator_inside_qualifier() {
        let fields = split_line("^a|b^|^c^", '|', Some('^'));
        assert_eq!(fields, vec!["a|b".to_string(), "c".to_string()]);
    }

    #[test]
    fn control_numbers_finds_key_in_any_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dat");
        std::fs::write(&path, "\u{feff}\u{fe}Control\u{fe}\u{14}\u{fe}Begin\u{fe}\r\n\u{fe}C1\u{fe}\u{14}\u{fe}B1\u{fe}\r\n").unwrap();
        let wanted = HashSet::from(["B1"]);
        let found = control_numbers(&path, &wanted).unwrap();
        assert_eq!(found, HashMap::from([("B1".to_string(), "C1".to_string())]));
    }

    #[test]
    fn control_numbers_rejects_header_without_separator() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dat");
        std::fs::write(&path, "Control\n").unwrap();
        let error = control_numbers(&path, &HashSet::new()).unwrap_err();
        assert!(error.to_string().contains("a.dat:1:"), "{error}");
    }
}
