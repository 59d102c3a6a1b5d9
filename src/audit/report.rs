//! The HTML report of a run for auditors: one self-contained page with
//! inline CSS and SVG, no scripts and no network requests.
//!
//! It shows the workflow settings (environment variable names, never their
//! values, because the stored workflow holds only names), a timeline of
//! the transitions with durations and attempts, the batches, the failure if
//! any, and the results of `verify` and `replay`.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::replay::{self, Replay};
use super::verify::{self, Verification};
use super::AuditError;
use crate::machine::SyncState;
use crate::store::audit::AuditedTransition;
use crate::store::{AttemptRecord, AuditEntry, AuditKey, RunRecord, Store};

/// Colour of bars of completed steps. Tests count pixels of this colour in
/// a screenshot, so keep it unique on the page.
pub const COMPLETED_COLOUR: &str = "#1f77b4";
const FAILED_COLOUR: &str = "#d62728";
const INTERRUPTED_COLOUR: &str = "#ff7f0e";
const RESUMED_COLOUR: &str = "#9467bd";

/// Width of the timeline's label column and bar area, in pixels.
const LABEL_WIDTH: f64 = 330.0;
const BARS_WIDTH: f64 = 560.0;
const ROW_HEIGHT: f64 = 26.0;
/// Narrowest bar, so that a step of a few milliseconds stays visible.
const MIN_BAR_WIDTH: f64 = 8.0;

const STYLE: &str = "
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
code { font-size: 12px; }
.ok { color: #1b7a1b; font-weight: bold; } .bad { color: #b00020; font-weight: bold; }
.warn { color: #a05a00; font-weight: bold; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 14px; }
";

/// Everything a report shows.
pub struct ReportData {
    pub run: RunRecord,
    pub transitions: Vec<AuditedTransition>,
    pub batches: Vec<AuditEntry>,
    pub attempts: Vec<AttemptRecord>,
    pub verification: Verification,
    pub replay: Replay,
}

/// Reads what the report of a run shows; verifies with `key` when the run
/// has an HMAC chain.
pub fn collect(
    store: &Store,
    run_id: &str,
    key: Option<&AuditKey>,
) -> Result<ReportData, AuditError> {
    let run = store.run(run_id)?;
    let trail = store.audit_trail(run_id)?;
    let (transitions, batches): (Vec<_>, Vec<_>) = trail
        .entries
        .into_iter()
        .partition(|entry| matches!(entry, AuditEntry::Transition(_)));
    let transitions = transitions
        .into_iter()
        .filter_map(|entry| match entry {
            AuditEntry::Transition(transition) => Some(transition),
            AuditEntry::Batch(_) => None,
        })
        .collect();
    Ok(ReportData {
        run,
        transitions,
        batches,
        attempts: store.attempts(run_id)?,
        verification: verify::verify(store, run_id, key, None)?,
        replay: replay::replay_run(store, run_id)?,
    })
}

/// Renders the report as one HTML page.
pub fn render(data: &ReportData) -> String {
    let run = &data.run;
    let mut page = String::new();
    let title = format!("prodsync run {}", escape(&run.run_id));
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );

    page.push_str(&summary(data));
    page.push_str(&verification(data));
    page.push_str(&failure(&run.state));
    page.push_str("<h2>Timeline</h2>\n");
    page.push_str(&timeline(&data.transitions));
    page.push_str(&transition_table(data));
    page.push_str(&batch_table(&data.batches));
    page.push_str(&settings(&run.workflow_json));
    page.push_str("</body></html>\n");
    page
}

fn summary(data: &ReportData) -> String {
    let run = &data.run;
    let chain = &data.verification;
    let mut rows = vec![
        ("state", run.state.name().to_string()),
        (
            "workflow",
            format!("{} ({})", run.workflow_name, run.workflow_path),
        ),
        ("workflow SHA-256", run.workflow_sha256.clone()),
        ("created", run.created_at.clone()),
        ("updated", run.updated_at.clone()),
        ("audit chain", chain.mode.to_string()),
    ];
    if let Some(key_id) = &chain.key_id {
        rows.push(("audit key ID", key_id.clone()));
    }
    if let SyncState::Done(done) = &run.state {
        rows.push(("documents", done.documents.to_string()));
        rows.push(("pages", done.pages.to_string()));
        let bates = format!(
            "{} .. {}",
            done.first_bates.as_deref().unwrap_or("-"),
            done.last_bates.as_deref().unwrap_or("-")
        );
        rows.push(("Bates range", bates));
    }
    key_value_table("Run", &rows)
}

fn verification(data: &ReportData) -> String {
    let verification = &data.verification;
    let mut html = String::from("<h2>Verification</h2>\n<p>");
    let (class, text) = match (&verification.mismatch, verification.legacy) {
        (Some(mismatch), _) => ("bad", format!("chain does not verify: {mismatch}")),
        (None, 0) => ("ok", format!("chain verified: {} entries", verification.entries)),
        (None, legacy) => (
            "warn",
            format!("{} chained entries verified; {legacy} legacy entries recorded before the chain existed are unchecked", verification.entries),
        ),
    };
    let _ = write!(html, "<span class=\"{class}\">{}</span>", escape(&text));
    if let Some(head) = &verification.head {
        let _ = write!(
            html,
            "<br>head: <code>{}</code> (compare it with the head printed when the run ended)",
            escape(&head.to_string())
        );
    }
    html.push_str("<br>");

    let replay = &data.replay;
    if replay.passed() {
        let _ = write!(
            html,
            "<span class=\"ok\">replay passed: {} transitions from {} follow the state machine</span>",
            replay.transitions, replay.start
        );
    } else {
        html.push_str("<span class=\"bad\">replay failed:</span><ul>");
        for problem in &replay.problems {
            let _ = write!(
                html,
                "<li>transition {}: {}</li>",
                problem.seq,
                escape(&problem.message)
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("</p>\n");
    html
}

fn failure(state: &SyncState) -> String {
    let SyncState::Failed(failed) = state else {
        return String::new();
    };
    key_value_table(
        "Failure",
        &[
            ("step", failed.step.to_string()),
            ("error", failed.message.clone()),
            ("last good state", failed.last_good.name().to_string()),
        ],
    )
}

fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        "completed" => COMPLETED_COLOUR,
        "interrupted" => INTERRUPTED_COLOUR,
        "resumed" => RESUMED_COLOUR,
        _ => FAILED_COLOUR,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// Returns a transition's duration in milliseconds, 0 when a time is
/// unreadable.
fn duration_ms(transition: &AuditedTransition) -> i64 {
    let record = &transition.record;
    match (
        parse_time(&record.started_at),
        parse_time(&record.finished_at),
    ) {
        (Some(start), Some(end)) => (end - start).num_milliseconds().max(0),
        _ => 0,
    }
}

/// Draws one bar per transition on a shared time axis, from the first
/// start to the last finish.
fn timeline(transitions: &[AuditedTransition]) -> String {
    let times: Vec<(DateTime<Utc>, i64)> = transitions
        .iter()
        .map(|transition| {
            let start = parse_time(&transition.record.started_at).unwrap_or_default();
            (start, duration_ms(transition))
        })
        .collect();
    let first = times
        .iter()
        .map(|(start, _)| *start)
        .min()
        .unwrap_or_default();
    let span_ms = times
        .iter()
        .map(|(start, duration)| (*start - first).num_milliseconds() + duration)
        .max()
        .unwrap_or(0)
        .max(1) as f64;

    let height = ROW_HEIGHT * transitions.len() as f64 + 30.0;
    let width = LABEL_WIDTH + BARS_WIDTH + 90.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"timeline of transitions\">\n"
    );
    for (row, (transition, (start, duration))) in transitions.iter().zip(&times).enumerate() {
        let y = ROW_HEIGHT * row as f64 + 4.0;
        let x = LABEL_WIDTH + (*start - first).num_milliseconds() as f64 / span_ms * BARS_WIDTH;
        let bar = (*duration as f64 / span_ms * BARS_WIDTH).max(MIN_BAR_WIDTH);
        let record = &transition.record;
        let label = format!("{} {} → {}", record.seq, record.step, record.to);
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.0}\" font-size=\"13\">{}</text><rect x=\"{x:.1}\" y=\"{y:.0}\" width=\"{bar:.1}\" height=\"18\" fill=\"{}\"><title>{}</title></rect><text x=\"{:.1}\" y=\"{:.0}\" font-size=\"12\" fill=\"#555\">{}</text>",
            y + 14.0,
            escape(&label),
            outcome_colour(&record.outcome),
            escape(&record.outcome),
            x + bar + 4.0,
            y + 14.0,
            format_duration(*duration)
        );
    }
    let axis = ROW_HEIGHT * transitions.len() as f64 + 20.0;
    let _ = writeln!(
        svg,
        "<text x=\"{LABEL_WIDTH}\" y=\"{axis}\" font-size=\"12\" fill=\"#555\">0 s</text><text x=\"{:.0}\" y=\"{axis}\" font-size=\"12\" fill=\"#555\" text-anchor=\"end\">{}</text></svg>",
        LABEL_WIDTH + BARS_WIDTH,
        format_duration(span_ms as i64)
    );

    let legend = [
        ("completed", COMPLETED_COLOUR),
        ("failed", FAILED_COLOUR),
        ("interrupted", INTERRUPTED_COLOUR),
        ("resumed", RESUMED_COLOUR),
    ]
    .iter()
    .map(|(name, colour)| format!("<span style=\"background:{colour}\"></span>{name}"))
    .collect::<String>();
    format!("{svg}<p class=\"legend\">{legend}</p>\n")
}

fn format_duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn transition_table(data: &ReportData) -> String {
    let mut html = String::from(
        "<h2>Transitions</h2>\n<table><tr><th>seq</th><th>from</th><th>to</th><th>step</th><th>attempt</th><th>retried attempts</th><th>started (UTC)</th><th>duration</th><th>outcome</th><th>by</th><th>version</th><th>hash</th><th>error</th></tr>\n",
    );
    for transition in &data.transitions {
        let record = &transition.record;
        let retried = data
            .attempts
            .iter()
            .filter(|attempt| attempt.step == record.step && attempt.attempt < record.attempt)
            .count();
        let provenance = &transition.provenance;
        let hash = transition.link.as_ref().map_or_else(
            || "legacy".to_string(),
            |link| {
                format!(
                    "{}:{}…",
                    link.position,
                    &link.hash[..12.min(link.hash.len())]
                )
            },
        );
        let cells = [
            record.seq.to_string(),
            record.from.clone(),
            record.to.clone(),
            record.step.clone(),
            record.attempt.to_string(),
            retried.to_string(),
            record.started_at.clone(),
            format_duration(duration_ms(transition)),
            record.outcome.clone(),
            format!("{}@{}", provenance.actor, provenance.host),
            provenance.version.clone(),
            hash,
            record.error.clone().unwrap_or_default(),
        ];
        html.push_str(&row(&cells));
    }
    html.push_str("</table>\n");
    html
}

fn batch_table(batches: &[AuditEntry]) -> String {
    let mut html = format!("<h2>Batches ({})</h2>\n", batches.len());
    if batches.is_empty() {
        html.push_str("<p>No batch was recorded.</p>\n");
        return html;
    }
    html.push_str("<table><tr><th>batch</th><th>first record</th><th>documents</th><th>pages</th><th>bytes</th><th>Bates range</th><th>data source</th><th>completed (UTC)</th></tr>\n");
    for entry in batches {
        let AuditEntry::Batch(batch) = entry else {
            continue;
        };
        let record = &batch.record;
        let cells = [
            record.batch_index.to_string(),
            record.first_record.to_string(),
            record.documents.to_string(),
            record.pages.to_string(),
            record.bytes.to_string(),
            format!(
                "{} .. {}",
                record.first_bates.as_deref().unwrap_or("-"),
                record.last_bates.as_deref().unwrap_or("-")
            ),
            record.data_source_id.clone(),
            record.completed_at.clone(),
        ];
        html.push_str(&row(&cells));
    }
    html.push_str("</table>\n");
    html
}

/// Lists the workflow's settings as JSON paths. Fields ending in `_env`
/// name environment variables; the stored workflow contains no secret value.
fn settings(workflow_json: &str) -> String {
    let workflow: serde_json::Value = serde_json::from_str(workflow_json).unwrap_or_default();
    let mut rows = Vec::new();
    flatten("", &workflow, &mut rows);
    let rows: Vec<(&str, String)> = rows
        .iter()
        .map(|(path, value)| (path.as_str(), value.clone()))
        .collect();
    key_value_table("Workflow settings", &rows)
}

fn flatten(path: &str, value: &serde_json::Value, rows: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                flatten(&path, value, rows);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(text) if path.ends_with("_env") => {
            rows.push((
                path.to_string(),
                format!("environment variable {text} (its value is not stored)"),
            ));
        }
        serde_json::Value::String(text) => rows.push((path.to_string(), text.clone())),
        other => rows.push((path.to_string(), other.to_string())),
    }
}

fn key_value_table(heading: &str, rows: &[(&str, String)]) -> String {
    let mut html = format!("<h2>{}</h2>\n<table>\n", escape(heading));
    for (key, value) in rows {
        let _ = writeln!(
            html,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    html.push_str("</table>\n");
    html
}

fn row(cells: &[String]) -> String {
    let cells: String = cells
        .iter()
        .map(|cell| format!("<td>{}</td>", escape(cell)))
        .collect();
    format!("<tr>{cells}</tr>\n")
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn settings_show_variable_names() {
        let json = r#"{"relativity": {"auth": {"kind": "basic", "password_env": "REL_PASSWORD"}}}"#;
        let html = settings(json);
        assert!(
            html.contains("environment variable REL_PASSWORD (its value is not stored)"),
            "{html}"
        );
        assert!(html.contains("relativity.auth.kind"), "{html}");
    }

    #[test]
    fn format_duration_switches_unit() {
        assert_eq!(format_duration(250), "250 ms");
        assert_eq!(format_duration(2500), "2.5 s");
    }
}
