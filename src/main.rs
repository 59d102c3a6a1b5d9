//! The `prodsync` command line: parses arguments, sets up logging, and hands
//! each subcommand to its module under `commands/`. Errors get their context
//! here and end the process with a non-zero exit code.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Push a Relativity production into another workspace, as a checkpointed
/// state machine.
#[derive(Debug, Parser)]
#[command(name = "prodsync", version, about)]
struct Cli {
    /// Checkpoint database (SQLite file); created if missing.
    #[arg(
        long,
        global = true,
        env = "PRODSYNC_DB",
        default_value = "prodsync.db"
    )]
    db: PathBuf,

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

    /// Show a run's state and progress.
    Status(commands::status::StatusArgs),

    /// Show a run's recorded transitions in order.
    History(commands::history::HistoryArgs),

    /// Serve, seed and inspect the Relativity emulator.
    #[command(subcommand)]
    Emulator(prodsync::emulator::cli::EmulatorCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);

    let result = match cli.command {
        Command::Run(args) => commands::run::run(&cli.db, args).await,
        Command::Status(args) => commands::status::run(&cli.db, args),
        Command::History(args) => commands::history::run(&cli.db, args),
        Command::Emulator(command) => prodsync::emulator::cli::run(command)
            .await
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
