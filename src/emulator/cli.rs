//! The `prodsync emulator` subcommands: serve a data directory, administer
//! its users, workspaces and grants, seed productions and list their pages.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::fault_cli::{self, FaultCommand};
use super::{DemoSpec, Emulator, Grant, ProducedPage, SeedSummary};

/// Default port of `prodsync emulator serve`.
pub const DEFAULT_PORT: u16 = 8650;

/// Subcommands of `prodsync emulator`.
#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve the emulated REST services on 127.0.0.1 until Ctrl-C.
    ///
    /// The first line on stdout is `emulator listening on http://ADDR`, also
    /// with --port 0. The faults of `emulator fault` and of the
    /// PRODSYNC_EMULATOR_FAULTS variable (a JSON array of fault specs, see
    /// docs/relativity-api.md) apply to the requests served.
    Serve {
        #[command(flatten)]
        data: DataDir,
        /// TCP port to listen on; 0 picks a free one.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
    /// Add a user who signs in with HTTP Basic auth.
    AddUser {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// Name of the environment variable that contains the password.
        #[arg(long)]
        password_env: String,
        /// Let the user do everything, without grants.
        #[arg(long)]
        admin: bool,
    },
    /// Add an OAuth client whose bearer tokens act as a user.
    AddClient {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        client_id: String,
        /// Name of the environment variable that contains the client secret.
        #[arg(long)]
        secret_env: String,
        /// User the client's tokens act as.
        #[arg(long)]
        user: String,
    },
    /// Add a workspace.
    AddWorkspace {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        workspace: i64,
        #[arg(long)]
        name: String,
    },
    /// Give a permission to a non-admin user, or take it away.
    Grant {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        permission: GrantKind,
        #[arg(long)]
        workspace: i64,
        /// Production the permission applies to, for production permissions.
        #[arg(long)]
        production: Option<i64>,
        /// Take the permission away instead.
        #[arg(long)]
        revoke: bool,
    },
    /// Seed a produced production with generated documents and TIFF pages.
    SeedDemo {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 300)]
        documents: u32,
        /// Each document gets between 1 and this many pages.
        #[arg(long, default_value_t = 10)]
        max_pages: u32,
        /// Seed of the generator; the same seed gives the same production.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Text before the 7-digit number of each Bates number.
        #[arg(long, default_value = "DEMO")]
        prefix: String,
        /// Page width in pixels; small pages keep large productions small on disk.
        #[arg(long, default_value_t = 850)]
        page_width: u32,
        /// Page height in pixels.
        #[arg(long, default_value_t = 1100)]
        page_height: u32,
    },
    /// Seed a produced production from an Opticon file and its images.
    SeedVolume {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        opticon: PathBuf,
        /// DAT file whose first column gives each document's control number.
        #[arg(long)]
        dat: Option<PathBuf>,
    },
    /// Create an empty production set in status New.
    CreateProductionSet {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        name: String,
    },
    /// Inject faults: make matching requests fail, wait, lose their
    /// connection or abort the serving process.
    Fault {
        #[command(subcommand)]
        command: FaultCommand,
    },
    /// List the pages of a production: Bates, control number, page, SHA-256, size.
    ListProduction {
        #[command(flatten)]
        target: Target,
        /// Print a JSON array instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
}

/// The emulator's data directory.
#[derive(Debug, Args)]
pub struct DataDir {
    /// Data directory: emulator.db and the fileshare folder.
    #[arg(long)]
    data: PathBuf,
}

/// A production in a data directory.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    data: DataDir,
    #[arg(long)]
    workspace: i64,
    #[arg(long)]
    production: i64,
}

/// Kinds of [`Grant`] on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrantKind {
    Workspace,
    ViewProduction,
    AddProductionDataSource,
    Import,
    Export,
}

/// Runs one subcommand.
pub async fn run(command: EmulatorCommand) -> anyhow::Result<()> {
    match command {
        EmulatorCommand::Serve { data, port } => serve(&data, port).await,
        EmulatorCommand::AddUser {
            data,
            name,
            password_env,
            admin,
        } => {
            let password = secret_from_env(&password_env)?;
            open(&data)?.add_user(&name, &password, admin)?;
            println!("added user {name}{}", if admin { " (admin)" } else { "" });
            Ok(())
        }
        EmulatorCommand::AddClient {
            data,
            client_id,
            secret_env,
            user,
        } => {
            let secret = secret_from_env(&secret_env)?;
            open(&data)?.add_oauth_client(&client_id, &secret, &user)?;
            println!("added OAuth client {client_id} acting as {user}");
            Ok(())
        }
        EmulatorCommand::AddWorkspace {
            data,
            workspace,
            name,
        } => {
            open(&data)?.add_workspace(workspace, &name)?;
            println!("added workspace {workspace} {name:?}");
            Ok(())
        }
        EmulatorCommand::Grant {
            data,
            user,
            permission,
            workspace,
            production,
            revoke,
        } => grant(
            &data,
            &user,
            to_grant(permission, workspace, production)?,
            revoke,
        ),
        EmulatorCommand::SeedDemo {
            target,
            documents,
            max_pages,
            seed,
            prefix,
            page_width,
            page_height,
        } => {
            let spec = DemoSpec {
                documents,
                max_pages,
                seed,
                bates_prefix: prefix,
                page_width,
                page_height,
            };
            let summary =
                open(&target.data)?.seed_demo(target.workspace, target.production, &spec)?;
            print_summary(&summary);
            Ok(())
        }
        EmulatorCommand::SeedVolume {
            target,
            opticon,
            dat,
        } => {
            let emulator = open(&target.data)?;
            let summary = emulator.seed_opticon(
                target.workspace,
                target.production,
                &opticon,
                dat.as_deref(),
            )?;
            print_summary(&summary);
            Ok(())
        }
        EmulatorCommand::CreateProductionSet { target, name } => {
            open(&target.data)?.create_production_set(
                target.workspace,
                target.production,
                &name,
            )?;
            println!(
                "created production set {} {name:?} in workspace {}",
                target.production, target.workspace
            );
            Ok(())
        }
        EmulatorCommand::Fault { command } => fault_cli::run(command),
        EmulatorCommand::ListProduction { target, json } => {
            let pages = open(&target.data)?.list_production(target.workspace, target.production)?;
            print_pages(&pages, json)
        }
    }
}

fn open(data: &DataDir) -> anyhow::Result<Emulator> {
    data.open()
}

impl DataDir {
    /// Opens the emulator of this data directory.
    pub(super) fn open(&self) -> anyhow::Result<Emulator> {
        Emulator::open(&self.data).with_context(|| {
            format!(
                "cannot open emulator data directory {}",
                self.data.display()
            )
        })
    }
}

async fn serve(data: &DataDir, port: u16) -> anyhow::Result<()> {
    let emulator = open(data)?;
    let running = emulator
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await?;
    let share = emulator.file_share();
    // The banner goes out in one write, and a failed write is ignored. A
    // caller that reads the first line and closes the pipe must not stop
    // the server.
    let banner = format!(
        "emulator listening on {}\nfile share {} is {}\npress Ctrl-C to stop\n",
        running.base_url(),
        share.unc_root,
        share.local_root.display()
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);

    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}

fn secret_from_env(variable: &str) -> anyhow::Result<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => bail!("environment variable {variable} is not set or empty; export the secret in it"),
    }
}

fn to_grant(kind: GrantKind, workspace: i64, production: Option<i64>) -> anyhow::Result<Grant> {
    let production = || {
        production.with_context(|| {
            format!("--permission {kind:?} needs --production; give the production's artifact ID")
        })
    };
    Ok(match kind {
        GrantKind::Workspace => Grant::Workspace(workspace),
        GrantKind::ViewProduction => Grant::ViewProduction {
            workspace,
            production: production()?,
        },
        GrantKind::AddProductionDataSource => Grant::AddProductionDataSource {
            workspace,
            production: production()?,
        },
        GrantKind::Import => Grant::Import(workspace),
        GrantKind::Export => Grant::Export(workspace),
    })
}

fn grant(data: &DataDir, user: &str, grant: Grant, revoke: bool) -> anyhow::Result<()> {
    let emulator = open(data)?;
    if revoke {
        emulator.revoke(user, grant)?;
        println!("revoked {grant:?} from {user}");
    } else {
        emulator.grant(user, grant)?;
        println!("granted {grant:?} to {user}");
    }
    Ok(())
}

fn print_summary(summary: &SeedSummary) {
    println!(
        "seeded {} documents, {} pages, {} bytes, Bates {} to {}",
        summary.documents, summary.pages, summary.bytes, summary.first_bates, summary.last_bates
    );
}

/// Prints pages to stdout; a reader that stops early (`| head`) is no error.
fn print_pages(pages: &[ProducedPage], as_json: bool) -> anyhow::Result<()> {
    match write_pages(&mut std::io::stdout().lock(), pages, as_json) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

fn write_pages(out: &mut impl Write, pages: &[ProducedPage], as_json: bool) -> std::io::Result<()> {
    if as_json {
        let rows: Vec<_> = pages
            .iter()
            .map(|page| {
                json!({
                    "bates": page.bates,
                    "control_number": page.control_number,
                    "page_number": page.page_number,
                    "sha256": page.sha256,
                    "size": page.size,
                    "location": page.location,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        return writeln!(out);
    }
    for page in pages {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            page.bates, page.control_number, page.page_number, page.sha256, page.size
        )?;
    }
    Ok(())
}
