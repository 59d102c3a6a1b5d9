//! `prodsync replay RUN_ID`: re-derives a run from its record through the
//! current state machine, without contacting any server, and lists every
//! recorded transition the machine does not allow. Exits 0 only when all
//! of them follow.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use prodsync::audit::replay;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Run ID, as printed by `prodsync run`.
    pub run_id: String,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(db: &Path, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_read_only(db)?;
    let replay = replay::replay_run(&store, &args.run_id)
        .with_context(|| format!("cannot replay run {}", args.run_id))?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&replay)?);
    } else if replay.passed() {
        let end = replay.end.map_or("-".to_string(), |end| end.to_string());
        println!(
            "run {}: replay passed: {} transitions from {} to {end} follow the state machine",
            args.run_id, replay.transitions, replay.start
        );
    } else {
        println!(
            "run {}: replay failed: {} of {} transitions do not follow the state machine",
            args.run_id,
            replay.problems.len(),
            replay.transitions
        );
        for problem in &replay.problems {
            println!("  transition {}: {}", problem.seq, problem.message);
        }
    }
    Ok(if replay.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
