//! Seeding produced productions: from the demo generator or from an Opticon
//! file and the images it points at.
//!
//! A seed writes the production, its documents and pages in one SQLite
//! transaction while it streams the page images onto the file share, so a
//! failed seed leaves no production behind (only image files, which a
//! second seed overwrites).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::catalog::{self, NewPage, ProductionRow};
use super::dat;
use super::demo::{DemoGenerator, DemoSpec};
use super::share_files::{image_extension, CopyError, PageFolder, WrittenFile};
use super::{Emulator, EmulatorError};
use crate::opticon::{self, OpticonDocument};

/// Folder of seeded pages under the production's folder.
const SEED_FOLDER: &str = "IMAGES";

/// Totals of a seed: documents, pages, image bytes and the Bates range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub documents: u64,
    pub pages: u64,
    /// Total size of the page images.
    pub bytes: u64,
    pub first_bates: String,
    pub last_bates: String,
}

impl SeedSummary {
    fn add_document(&mut self, pages: &[NewPage]) {
        self.documents += 1;
        for page in pages {
            if self.first_bates.is_empty() {
                self.first_bates = page.bates.clone();
            }
            self.last_bates = page.bates.clone();
            self.pages += 1;
            self.bytes += page.size;
        }
    }
}

/// Seeds a Produced production from the demo generator.
pub fn seed_demo(
    emulator: &Emulator,
    workspace: i64,
    production: i64,
    spec: &DemoSpec,
) -> Result<SeedSummary, EmulatorError> {
    spec.validate()?;
    let folder = PageFolder::new(
        &emulator.file_share().local_root,
        workspace,
        production,
        SEED_FOLDER,
    );
    let row = ProductionRow {
        status: "Produced".to_string(),
        bates_prefix: spec.bates_prefix.clone(),
        ..ProductionRow::new(
            workspace,
            production,
            &format!("Demo production {production}"),
        )
    };

    let mut connection = emulator.db().lock();
    let transaction = connection.transaction()?;
    catalog::insert_production(&transaction, &row)?;
    let summary = write_demo_documents(&transaction, &folder, &row, spec)?;
    transaction.commit()?;

    tracing::info!(
        workspace,
        production,
        documents = summary.documents,
        pages = summary.pages,
        "seeded demo production"
    );
    Ok(summary)
}

fn write_demo_documents(
    connection: &Connection,
    folder: &PageFolder,
    row: &ProductionRow,
    spec: &DemoSpec,
) -> Result<SeedSummary, EmulatorError> {
    let mut generator = DemoGenerator::new(spec);
    let mut summary = SeedSummary::default();
    let mut page_index = 0u64;

    for document in 0..spec.documents {
        let page_count = generator.next_page_count();
        let mut pages = Vec::with_capacity(page_count as usize);
        for _ in 0..page_count {
            let bates = spec.bates(page_index);
            let bytes = generator.next_page(&bates)?;
            let location = folder.relative_path(page_index, &bates, "tif");
            let written = folder.write(&location, &bytes)?;
            pages.push(new_page(bates, location, written));
            page_index += 1;
        }

        let control_number = format!("DOC{:07}", document + 1);
        catalog::insert_document(connection, row.workspace, row.id, &control_number, &pages)?;
        summary.add_document(&pages);
    }
    Ok(summary)
}

/// Seeds a Produced production from an Opticon file, its images and an
/// optional DAT file that gives each document's control number.
pub fn seed_opticon(
    emulator: &Emulator,
    workspace: i64,
    production: i64,
    opticon_path: &Path,
    dat_path: Option<&Path>,
) -> Result<SeedSummary, EmulatorError> {
    let pages = opticon::read_file(opticon_path)?;
    let documents = opticon::group_documents(pages, opticon_path)?;
    let control_numbers = read_control_numbers(&documents, dat_path)?;
    let folder = PageFolder::new(
        &emulator.file_share().local_root,
        workspace,
        production,
        SEED_FOLDER,
    );
    let name = opticon_path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("Production {production}"));
    let row = ProductionRow {
        status: "Produced".to_string(),
        ..ProductionRow::new(workspace, production, &name)
    };

    let mut connection = emulator.db().lock();
    let transaction = connection.transaction()?;
    catalog::insert_production(&transaction, &row)?;
    let mut seeder = OpticonSeeder::new(&transaction, &folder, &row, opticon_path);
    for document in &documents {
        let control_number = control_numbers
            .get(document.first_key())
            .map(String::as_str)
            .unwrap_or(document.first_key());
        seeder.add_document(document, control_number)?;
    }
    let summary = seeder.summary;
    transaction.commit()?;

    tracing::info!(workspace, production, opticon = %opticon_path.display(), pages = summary.pages, "seeded production from Opticon file");
    Ok(summary)
}

fn read_control_numbers(
    documents: &[OpticonDocument],
    dat_path: Option<&Path>,
) -> Result<HashMap<String, String>, EmulatorError> {
    let Some(dat_path) = dat_path else {
        return Ok(HashMap::new());
    };
    let wanted: HashSet<&str> = documents.iter().map(OpticonDocument::first_key).collect();
    dat::control_numbers(dat_path, &wanted)
}

/// Copies the images of an Opticon file's documents and records them.
struct OpticonSeeder<'a> {
    connection: &'a Connection,
    folder: &'a PageFolder,
    row: &'a ProductionRow,
    opticon_path: &'a Path,
    opticon_dir: PathBuf,
    /// Images already copied, by source path: a multi-page TIFF appears on
    /// several lines and is copied once.
    copied: HashMap<PathBuf, (String, WrittenFile)>,
    seen_bates: HashSet<String>,
    summary: SeedSummary,
}

impl<'a> OpticonSeeder<'a> {
    fn new(
        connection: &'a Connection,
        folder: &'a PageFolder,
        row: &'a ProductionRow,
        opticon_path: &'a Path,
    ) -> Self {
        let opticon_dir = opticon_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Self {
            connection,
            folder,
            row,
            opticon_path,
            opticon_dir,
            copied: HashMap::new(),
            seen_bates: HashSet::new(),
            summary: SeedSummary::default(),
        }
    }

    fn add_document(
        &mut self,
        document: &OpticonDocument,
        control_number: &str,
    ) -> Result<(), EmulatorError> {
        let mut pages = Vec::with_capacity(document.pages.len());
        for page in &document.pages {
            if !self.seen_bates.insert(page.key.clone()) {
                return Err(EmulatorError::DuplicateBates {
                    opticon: self.opticon_path.to_path_buf(),
                    line: page.line,
                    bates: page.key.clone(),
                });
            }
            let source = opticon::resolve_image_path(&self.opticon_dir, &page.image_path);
            let (location, written) = self.copy_image(&source, &page.key, page.line)?;
            pages.push(new_page(page.key.clone(), location, written));
        }
        catalog::insert_document(
            self.connection,
            self.row.workspace,
            self.row.id,
            control_number,
            &pages,
        )?;
        self.summary.add_document(&pages);
        Ok(())
    }

    fn copy_image(
        &mut self,
        source: &Path,
        bates: &str,
        line: usize,
    ) -> Result<(String, WrittenFile), EmulatorError> {
        if let Some(copied) = self.copied.get(source) {
            return Ok(copied.clone());
        }
        let ordinal = self.copied.len() as u64;
        let location = self
            .folder
            .relative_path(ordinal, bates, &image_extension(source));
        let written = self
            .folder
            .copy(source, &location)
            .map_err(|error| match error {
                CopyError::Read(source_error) => EmulatorError::Image {
                    opticon: self.opticon_path.to_path_buf(),
                    line,
                    image: source.to_path_buf(),
                    source: source_error,
                },
                CopyError::Write(write_error) => write_error,
            })?;
        self.copied
            .insert(source.to_path_buf(), (location.clone(), written.clone()));
        Ok((location, written))
    }
}

fn new_page(bates: String, location: String, written: WrittenFile) -> NewPage {
    NewPage {
        bates,
        location,
        size: written.size,
        sha256: written.sha256,
    }
}
