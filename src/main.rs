//! The `prodsync` command line: parses arguments, sets up logging, and hands
//! each subcommand to its module under `commands/`. Errors get their context
//! here and end the process with a non-zero exit code.

mod commands;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Push a Relativity production into another workspace, as a checkpointed
/// state machine.
#[derive(Debug, Parser)]
#[command(name = "prodsync", version, about)]
struct Cli {
    /// Checkpoint database (SQLite file); `run` creates it if missing, and
    /// commands that only read it never do.
    #[arg(
        long,
        global = true,
        env = "PRODSYNC_DB",
        default_value = "prodsync.db"
    )]
    db: PathBuf,

    /// Seconds a run's lease lasts without renewal; a killed process's run
    /// can be resumed by another process after this long.
    #[arg(
        long,
        global = true,
        env = "PRODSYNC_LEASE_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    lease_seconds: u64,

    /// Log filter, for example `info` or `prodsync=debug` (logs go to stderr).
    #[arg(long, global = true, env = "PRODSYNC_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a new run of a workflow file and drive it to the end.
    Run(commands::run::RunArgs),

    /// Continue a stopped or failed run from its last recorded transition.
    Resume(commands::resume::ResumeArgs),

    /// Stop a run from another shell and cancel its import job.
    Cancel(commands::cancel::CancelArgs),

    /// List runs with state, progress, last error and age.
    Runs(commands::runs::RunsArgs),

    /// Show a run's state and progress.
    Status(commands::status::StatusArgs),

    /// Show a run's recorded transitions in order.
    History(commands::history::HistoryArgs),

    /// Check a run's audit chain; exits 0 only when every entry checks.
    Verify(commands::verify::VerifyArgs),

    /// Re-derive a run from its record through the state machine, offline.
    Replay(commands::replay::ReplayArgs),

    /// Start a new run from a checkpoint another run recorded.
    Fork(commands::fork::ForkArgs),

    /// Write an HTML report of a run for auditors.
    Report(commands::report::ReportArgs),

    /// Read and check a load-file volume (Opticon, DAT and images).
    CheckVolume(commands::check_volume::CheckVolumeArgs),

    /// Serve, seed and inspect the Relativity emulator.
    #[command(subcommand)]
    Emulator(prodsync::emulator::cli::EmulatorCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Emulator(_)) {
        restore_sigpipe();
    }
    init_logging(&cli.log);
    let lease = std::time::Duration::from_secs(cli.lease_seconds);

    let result = match cli.command {
        Command::Run(args) => commands::run::run(&cli.db, lease, args).await,
        Command::Resume(args) => commands::resume::run(&cli.db, lease, args).await,
        Command::Cancel(args) => commands::cancel::run(&cli.db, lease, args).await,
        Command::Runs(args) => commands::runs::run(&cli.db, args),
        Command::Status(args) => commands::status::run(&cli.db, args),
        Command::History(args) => commands::history::run(&cli.db, args),
        Command::Verify(args) => commands::verify::run(&cli.db, args),
        Command::Replay(args) => commands::replay::run(&cli.db, args),
        Command::Fork(args) => commands::fork::run(&cli.db, lease, args).await,
        Command::Report(args) => commands::report::run(&cli.db, args),
        Command::CheckVolume(args) => commands::check_volume::run(args),
        Command::Emulator(command) => prodsync::emulator::cli::run(command)
            .await
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// Joins an error and its causes with ": ", leaving out a cause whose text
/// the message before it already quotes.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// Lets a closed pipe (`prodsync runs | head`) end the process quietly, as
/// it does other command-line tools, instead of a panic on the next print.
/// The emulator's server keeps ignoring SIGPIPE, so a closed client
/// connection or output pipe cannot end it.
fn restore_sigpipe() {
    // SAFETY: setting the default action of SIGPIPE before any thread that
    // writes output starts has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
