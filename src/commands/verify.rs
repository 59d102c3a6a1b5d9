//! `prodsync verify RUN_ID [--head HEAD]`: checks a run's audit chain and
//! reports the first entry that does not match. Exits 0 only when every
//! entry checks (and the head matches, when given), 1 on a mismatch, and
//! 2 when the chain checks but contains legacy entries it cannot check.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use prodsync::audit::verify::{self, ExpectedHead, Verification};
use prodsync::store::AuditKey;

/// Exit code of a chain that checks but contains unchecked legacy entries.
const EXIT_LEGACY: u8 = 2;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Run ID, as printed by `prodsync run`.
    pub run_id: String,

    /// Head the chain must end at, as printed at the end of the run
    /// (`POSITION:HASH`, or the hash alone); catches entries cut off the
    /// end.
    #[arg(long, value_name = "HEAD")]
    pub head: Option<ExpectedHead>,

    /// Print only the head of the verified chain (`POSITION:HASH`).
    #[arg(long, conflicts_with = "json")]
    pub print_head: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(db: &Path, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_read_only(db)?;
    let key = AuditKey::from_env();
    let verification = verify::verify(&store, &args.run_id, key.as_ref(), args.head.as_ref())
        .with_context(|| format!("cannot verify run {}", args.run_id))?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&verification)?);
    } else if args.print_head && verification.mismatch.is_none() {
        match &verification.head {
            Some(head) => println!("{head}"),
            None => anyhow::bail!(
                "run {} has no chained entry yet, so its chain has no head",
                args.run_id
            ),
        }
    } else {
        print_text(&verification);
    }
    Ok(exit_code(&verification))
}

fn exit_code(verification: &Verification) -> ExitCode {
    if verification.mismatch.is_some() {
        ExitCode::FAILURE
    } else if verification.legacy > 0 {
        ExitCode::from(EXIT_LEGACY)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_text(verification: &Verification) {
    let run_id = &verification.run_id;
    let mode = match &verification.key_id {
        Some(key_id) => format!("{}, key ID {key_id}", verification.mode),
        None => verification.mode.to_string(),
    };
    if let Some(mismatch) = &verification.mismatch {
        println!("run {run_id}: chain does not verify ({mode})");
        println!("  first mismatch: {mismatch}");
        println!("  expected: {}", mismatch.expected);
        println!("  found:    {}", mismatch.found);
        return;
    }

    let head_note = if verification.head_checked {
        ", head matches"
    } else {
        ""
    };
    println!(
        "run {run_id}: chain verified ({mode}): {} entries{head_note}",
        verification.entries
    );
    if verification.legacy > 0 {
        println!(
            "  {} legacy entries were recorded before the audit chain existed and are not checked",
            verification.legacy
        );
    }
    match &verification.head {
        Some(head) => println!("  head: {head}"),
        None => println!("  head: none (no entry recorded yet)"),
    }
    if !verification.head_checked {
        println!("  note: pass --head with the head printed when the run ended to detect removed newest entries");
    }
}
