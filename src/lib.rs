//! prodsync pushes a Relativity production (documents with Bates-numbered
//! page images) from one workspace into a production set of another, as a
//! checkpointed state machine.
//!
//! Layout:
//! - [`workflow`]: the workflow file a user runs, parsed and checked.
//! - [`machine`]: the sync states, the data each carries, and the one table
//!   of legal transitions.
//! - [`steps`]: one executor per transition; each returns an outcome.
//! - [`engine`]: drives a run step by step and records each outcome.
//! - [`store`]: the SQLite checkpoint store (runs, transitions, batches).
//! - [`audit`]: verifying, replaying, forking and reporting recorded runs.
//! - [`relativity`]: the HTTP client of the Relativity REST services.
//! - [`emulator`]: a local emulator of those services, for tests and demos.
//! - [`retry`]: the backoff policy for transient failures.
//! - [`opticon`], [`fileshare`]: Opticon files and file share paths.
//! - [`loadfile`]: load-file volumes (DAT, Opticon, images) read and checked.

pub mod audit;
pub mod crashpoint;
pub mod emulator;
pub mod engine;
pub mod fileshare;
pub mod loadfile;
pub mod machine;
pub mod metrics;
pub mod opticon;
pub mod relativity;
pub mod retry;
pub mod session;
pub mod steps;
pub mod store;
pub mod workflow;
