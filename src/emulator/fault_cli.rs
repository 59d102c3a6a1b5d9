//! The `prodsync emulator fault` subcommands: add, list and clear the
//! injected faults of a data folder. A server that serves the folder picks
//! changes up within about 100 ms.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::cli::DataDir;
use super::{FaultRecord, FaultSpec};

/// Subcommands of `prodsync emulator fault`.
#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Add a fault and print its ID.
    Add(AddFault),
    /// List the faults with how often each matched and fired.
    List {
        #[command(flatten)]
        data: DataDir,
        /// Print a JSON array of {id, spec, matched, fired}.
        #[arg(long)]
        json: bool,
    },
    /// Delete every fault.
    Clear {
        #[command(flatten)]
        data: DataDir,
    },
}

/// Options of `fault add`; each maps to one field of the fault spec.
#[derive(Debug, Args)]
pub struct AddFault {
    #[command(flatten)]
    data: DataDir,
    /// Regex searched in the request path after /Relativity.REST/api, for
    /// example `import-jobs/.*/sources/`; plain text matches as a substring.
    #[arg(long)]
    path: String,
    /// HTTP method to match; all methods if not given.
    #[arg(long)]
    method: Option<String>,
    /// Respond with this HTTP status (400 to 599) and a Kepler error body.
    #[arg(long)]
    status: Option<u16>,
    /// Message of the error body.
    #[arg(long, requires = "status")]
    message: Option<String>,
    /// Retry-After header of the response, in seconds.
    #[arg(long, requires = "status")]
    retry_after: Option<u64>,
    /// Delay the response by this many milliseconds.
    #[arg(long)]
    delay_ms: Option<u64>,
    /// Close the TCP connection without an HTTP answer.
    #[arg(long, conflicts_with_all = ["status", "crash"])]
    drop: bool,
    /// Abort the emulator process when a matching request arrives.
    #[arg(long, conflicts_with = "status")]
    crash: bool,
    /// Fire on this many matching requests only.
    #[arg(long, conflicts_with = "rate")]
    count: Option<u64>,
    /// Fire on each matching request with this probability, 0.0 to 1.0.
    #[arg(long)]
    rate: Option<f64>,
    /// Seed of the random draws of --rate.
    #[arg(long, default_value_t = 0, requires = "rate")]
    seed: u64,
    /// Let this many matching requests pass first.
    #[arg(long, default_value_t = 0)]
    after: u64,
}

impl AddFault {
    fn spec(&self) -> FaultSpec {
        FaultSpec {
            method: self.method.clone(),
            path: self.path.clone(),
            status: self.status,
            message: self.message.clone(),
            retry_after: self.retry_after.map(|seconds| seconds.to_string()),
            delay_ms: self.delay_ms,
            drop: self.drop,
            crash: self.crash,
            count: self.count,
            rate: self.rate,
            after: self.after,
            seed: self.seed,
        }
    }
}

/// Runs one fault subcommand.
pub fn run(command: FaultCommand) -> anyhow::Result<()> {
    match command {
        FaultCommand::Add(add) => {
            let id = add.data.open()?.add_fault(add.spec())?;
            println!("added fault {id}");
        }
        FaultCommand::List { data, json } => {
            let faults = data.open()?.faults()?;
            print_faults(&faults, json)?;
        }
        FaultCommand::Clear { data } => {
            let deleted = data.open()?.clear_faults()?;
            println!("cleared {deleted} faults");
        }
    }
    Ok(())
}

fn print_faults(faults: &[FaultRecord], json: bool) -> anyhow::Result<()> {
    if json {
        let text = serde_json::to_string_pretty(faults).context("cannot encode the faults")?;
        println!("{text}");
        return Ok(());
    }
    for fault in faults {
        let spec = serde_json::to_string(&fault.spec).context("cannot encode a fault spec")?;
        println!(
            "{}\tmatched {}\tfired {}\t{spec}",
            fault.id, fault.matched, fault.fired
        );
    }
    Ok(())
}
