//! Documentation that must match the code: the state-machine page lists
//! exactly the edges of the transition table.

use std::collections::BTreeSet;

use pretty_assertions::assert_eq;
use prodsync::machine::{StateName, StepName, RESUME_TARGETS, TRANSITIONS};

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/state-machine.md");
    std::fs::read_to_string(path).unwrap()
}

fn table_edges() -> BTreeSet<(String, String, String)> {
    TRANSITIONS
        .iter()
        .map(|t| (t.from.to_string(), t.step.to_string(), t.to.to_string()))
        .collect()
}

#[test]
fn state_machine_doc_matches_table() {
    let text = page();
    let start = text
        .find("| from | step | to |")
        .expect("the transition table");
    let end = text[start..]
        .find("\n\n")
        .map_or(text.len(), |offset| start + offset);
    let rows: BTreeSet<(String, String, String)> = text[start..end]
        .lines()
        .filter(|line| {
            line.starts_with("| ") && !line.starts_with("| from") && !line.contains("---")
        })
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            match cells.as_slice() {
                [from, step, to] => Some((from.to_string(), step.to_string(), to.to_string())),
                _ => None,
            }
        })
        .collect();
    assert_eq!(rows, table_edges());
}

#[test]
fn state_machine_diagram_matches_table() {
    let text = page();
    let arrows: BTreeSet<(String, String, String)> = text
        .lines()
        .filter_map(|line| {
            let (edge, step) = line.trim().split_once(": ")?;
            let (from, to) = edge.split_once(" --> ")?;
            Some((from.to_string(), step.to_string(), to.to_string()))
        })
        .collect();
    let mut expected = table_edges();
    for transition in TRANSITIONS {
        expected.insert((
            transition.from.to_string(),
            transition.step.to_string(),
            StateName::Failed.to_string(),
        ));
    }
    for target in RESUME_TARGETS {
        expected.insert((
            StateName::Failed.to_string(),
            StepName::Resume.to_string(),
            target.to_string(),
        ));
    }
    assert_eq!(arrows, expected);
}
