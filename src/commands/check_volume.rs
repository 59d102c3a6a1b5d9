//! `prodsync check-volume PATH`: reads a load-file volume (an Opticon file,
//! or a folder of `.opt` and `.dat` files), runs every check and prints the
//! detection choices, the counts and each problem. Exits 0 when no problem
//! is an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use prodsync::loadfile::dat::{parse_delimiter, DatFile};
use prodsync::loadfile::volume::{check_dat_file, find_volume_files, has_errors, DatCheck};
use prodsync::loadfile::{Problem, Volume, VolumeOptions};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct CheckVolumeArgs {
    /// An Opticon file (`.opt`), or a folder whose `.opt` and `.dat` files
    /// are all checked.
    pub path: PathBuf,

    /// DAT file that goes with the Opticon file.
    #[arg(long)]
    pub dat: Option<PathBuf>,

    /// DAT field separator: one character, `tab`, or a code such as 0x14.
    #[arg(long, value_parser = delimiter)]
    pub separator: Option<char>,

    /// DAT text qualifier, in the same forms as --separator.
    #[arg(long, value_parser = delimiter, conflicts_with = "no_qualifier")]
    pub qualifier: Option<char>,

    /// The DAT values are never qualified.
    #[arg(long)]
    pub no_qualifier: bool,

    /// Character that stands for a line break inside a DAT value (default ®).
    #[arg(long, value_parser = delimiter)]
    pub newline: Option<char>,

    /// Separator of the values of a multi-value DAT field (default `;`).
    #[arg(long, value_parser = delimiter)]
    pub multi_value: Option<char>,

    /// Whether the DAT's first line is a header row (detected when omitted).
    #[arg(long)]
    pub header: Option<bool>,

    /// DAT text encoding, such as utf-8 or windows-1252 (detected when
    /// omitted).
    #[arg(long, value_parser = encoding)]
    pub encoding: Option<&'static encoding_rs::Encoding>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn delimiter(value: &str) -> Result<char, String> {
    parse_delimiter(value).map_err(|error| error.to_string())
}

fn encoding(value: &str) -> Result<&'static encoding_rs::Encoding, String> {
    encoding_rs::Encoding::for_label(value.as_bytes()).ok_or_else(|| {
        format!("unknown encoding {value:?}; use a label such as utf-8 or windows-1252")
    })
}

/// What `check-volume --json` prints.
#[derive(Debug, Default, Serialize)]
struct Report {
    volumes: Vec<Volume>,
    dat_files: Vec<DatCheck>,
    errors: usize,
    warnings: usize,
}

pub fn run(args: CheckVolumeArgs) -> anyhow::Result<ExitCode> {
    let options = volume_options(&args);
    let is_opticon = args
        .path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("opt"));
    if args.path.is_file() && !is_opticon {
        anyhow::bail!(
            "{} is not an Opticon file; give a volume folder or its .opt file (and --dat for its DAT file)",
            args.path.display()
        );
    }
    let report = if args.path.is_dir() {
        check_folder(&args.path, args.dat.as_deref(), &options)?
    } else {
        let volume = Volume::open(&args.path, args.dat.as_deref(), &options)
            .with_context(|| format!("cannot check volume {}", args.path.display()))?;
        with_counts(Report {
            volumes: vec![volume],
            ..Report::default()
        })
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn volume_options(args: &CheckVolumeArgs) -> VolumeOptions {
    let mut options = VolumeOptions::default();
    options.dat.separator = args.separator;
    options.dat.qualifier = if args.no_qualifier {
        Some(None)
    } else {
        args.qualifier.map(Some)
    };
    options.dat.newline = args.newline;
    options.dat.multi_value = args.multi_value;
    options.dat.header = args.header;
    options.dat.encoding = args.encoding;
    options
}

/// Checks each Opticon file of a folder with the DAT of the same name (or
/// `--dat`), and each remaining DAT file on its own.
fn check_folder(
    folder: &Path,
    dat: Option<&Path>,
    options: &VolumeOptions,
) -> anyhow::Result<Report> {
    let files = find_volume_files(folder)?;
    anyhow::ensure!(
        !files.opticon.is_empty() || !files.dat.is_empty(),
        "no .opt or .dat file in {}; give a volume folder or an Opticon file",
        folder.display()
    );

    let mut report = Report::default();
    let mut paired = Vec::new();
    for opticon in &files.opticon {
        let partner = dat.map(Path::to_path_buf).or_else(|| {
            files
                .dat
                .iter()
                .find(|path| same_stem(path, opticon))
                .cloned()
        });
        let volume = Volume::open(opticon, partner.as_deref(), options)
            .with_context(|| format!("cannot check volume {}", opticon.display()))?;
        paired.extend(partner);
        report.volumes.push(volume);
    }

    for path in files.dat.iter().filter(|path| !paired.contains(path)) {
        let check = check_dat_file(path, options)
            .with_context(|| format!("cannot check DAT file {}", path.display()))?;
        report.dat_files.push(check);
    }
    Ok(with_counts(report))
}

fn same_stem(a: &Path, b: &Path) -> bool {
    let stem = |path: &Path| path.file_stem().map(|stem| stem.to_ascii_lowercase());
    stem(a) == stem(b)
}

fn with_counts(mut report: Report) -> Report {
    let (errors, total) = {
        let problems: Vec<&Problem> = all_problems(&report).collect();
        let errors = problems
            .iter()
            .filter(|problem| has_errors(std::slice::from_ref(**problem)))
            .count();
        (errors, problems.len())
    };
    report.errors = errors;
    report.warnings = total - errors;
    report
}

fn all_problems(report: &Report) -> impl Iterator<Item = &Problem> {
    let volumes = report.volumes.iter().flat_map(|volume| &volume.problems);
    let dat_files = report.dat_files.iter().flat_map(|check| &check.problems);
    volumes.chain(dat_files)
}

fn print_report(report: &Report) {
    for volume in &report.volumes {
        println!(
            "{}: {} documents, {} pages",
            volume.opticon.display(),
            volume.documents.len(),
            volume.page_count()
        );
        if let Some(dat) = &volume.dat {
            print_dat(dat);
        }
    }
    for check in &report.dat_files {
        print_dat(&check.dat);
    }

    for problem in all_problems(report) {
        println!("{problem}");
    }
    let skipped = report.volumes.iter().flat_map(|volume| &volume.skipped);
    let skipped = skipped.chain(report.dat_files.iter().flat_map(|check| &check.skipped));
    for entry in skipped {
        println!(
            "skipped {}:{}: {} ({:?})",
            entry.file.display(),
            entry.line,
            entry.value,
            entry.kinds
        );
    }
    println!("{} errors, {} warnings", report.errors, report.warnings);
}

fn print_dat(dat: &DatFile) {
    let detected = &dat.detected;
    println!(
        "{}: {} records, separator {:?}, qualifier {:?}, encoding {}{}, header {}",
        dat.path.display(),
        dat.records.len(),
        detected.delimiters.separator,
        detected.delimiters.qualifier,
        detected.encoding,
        if detected.bom { " with BOM" } else { "" },
        if detected.header { "yes" } else { "no" },
    );
    for reason in &detected.reasons {
        println!("  {reason}");
    }
}
