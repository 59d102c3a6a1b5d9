//! Load-file volumes as productions travel between parties: a DAT metadata
//! file, an Opticon image cross-reference (`.opt`) and the images, read with
//! the quirks real files have and checked before anything is pushed.
//!
//! - [`dat`]: DAT decoding, delimiter and header detection, records.
//! - [`checks`]: the checks, their problems and the [`checks::Policy`] that
//!   gives each kind of problem its severity.
//! - [`volume`]: an Opticon file and an optional DAT opened together into
//!   documents with pages, plus the problems found.
//! - [`dates`], [`numbering`], [`image`]: date values, Bates and control
//!   number series, and image files.
//!
//! Opticon lines themselves are parsed by [`crate::opticon`].

pub mod checks;
pub mod dat;
pub mod dates;
pub mod image;
pub mod numbering;
pub mod volume;

pub use checks::{Action, Policy, Problem, ProblemKind, Severity};
pub use dat::{DatFile, DatOptions, DatRecord, Delimiters, Detected};
pub use volume::{Document, Page, Volume, VolumeOptions};
