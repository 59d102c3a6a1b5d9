//! Workspaces, productions, their documents and produced pages, in SQLite.
//!
//! A document belongs to the one production it was seeded or imported
//! into. A page records its Bates number, its place in the document and
//! where its image sits on the file share, as a path relative to the share
//! root with backslashes (`EDDS{ws}\Productions\{id}\...`).

use rusqlite::{Connection, OptionalExtension};

use super::db::PRODUCTION_STATUSES;
use super::EmulatorError;

/// One page of a production, as [`super::Emulator::list_production`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedPage {
    pub bates: String,
    pub control_number: String,
    /// Page number inside the document, from 1.
    pub page_number: u32,
    /// SHA-256 of the image file, lowercase hex.
    pub sha256: String,
    /// Size of the image file in bytes.
    pub size: u64,
    /// UNC path of the image on the emulator's file share.
    pub location: String,
}

/// A production set as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionRow {
    pub workspace: i64,
    pub id: i64,
    pub name: String,
    pub status: String,
    pub imported: bool,
    pub last_run_error: String,
    pub total_images: i64,
    pub bates_prefix: String,
}

impl ProductionRow {
    /// Builds a production set row with no pages, in status New.
    pub fn new(workspace: i64, id: i64, name: &str) -> Self {
        Self {
            workspace,
            id,
            name: name.to_string(),
            status: "New".to_string(),
            imported: false,
            last_run_error: String::new(),
            total_images: 0,
            bates_prefix: String::new(),
        }
    }
}

/// A page to store: its image is already on the file share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPage {
    pub bates: String,
    /// Path under the file share root, with backslashes.
    pub location: String,
    pub size: u64,
    pub sha256: String,
}

/// Adds a workspace; returns false if one with this ID exists.
pub fn insert_workspace(
    connection: &Connection,
    id: i64,
    name: &str,
) -> Result<bool, EmulatorError> {
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO workspaces (id, name) VALUES (?1, ?2)",
        (id, name),
    )?;
    Ok(inserted == 1)
}

/// Tells whether a workspace exists.
pub fn workspace_exists(connection: &Connection, id: i64) -> Result<bool, EmulatorError> {
    let found = connection
        .query_row("SELECT 1 FROM workspaces WHERE id = ?1", [id], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

/// Fails with [`EmulatorError::WorkspaceNotFound`] unless the workspace exists.
pub fn require_workspace(connection: &Connection, id: i64) -> Result<(), EmulatorError> {
    if workspace_exists(connection, id)? {
        Ok(())
    } else {
        Err(EmulatorError::WorkspaceNotFound(id))
    }
}

/// Adds a production set to an existing workspace.
pub fn insert_production(
    connection: &Connection,
    row: &ProductionRow,
) -> Result<(), EmulatorError> {
    require_workspace(connection, row.workspace)?;
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO productions
             (workspace, id, name, status, imported, last_run_error, total_images, bates_prefix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        (
            row.workspace,
            row.id,
            &row.name,
            &row.status,
            row.imported,
            &row.last_run_error,
            row.total_images,
            &row.bates_prefix,
        ),
    )?;
    if inserted == 0 {
        return Err(EmulatorError::ProductionExists {
            workspace: row.workspace,
            production: row.id,
        });
    }
    Ok(())
}

/// Loads a production set.
pub fn find_production(
    connection: &Connection,
    workspace: i64,
    id: i64,
) -> Result<Option<ProductionRow>, EmulatorError> {
    let row = connection
        .query_row(
            "SELECT name, status, imported, last_run_error, total_images, bates_prefix
             FROM productions WHERE workspace = ?1 AND id = ?2",
            (workspace, id),
            |row| {
                Ok(ProductionRow {
                    workspace,
                    id,
                    name: row.get(0)?,
                    status: row.get(1)?,
                    imported: row.get(2)?,
                    last_run_error: row.get(3)?,
                    total_images: row.get(4)?,
                    bates_prefix: row.get(5)?,
                })
            },
        )
        .optional()?;
    Ok(row)
}

/// Loads a production set or fails naming it.
pub fn require_production(
    connection: &Connection,
    workspace: i64,
    id: i64,
) -> Result<ProductionRow, EmulatorError> {
    find_production(connection, workspace, id)?.ok_or(EmulatorError::ProductionNotFound {
        workspace,
        production: id,
    })
}

/// Sets a production's status to one of [`PRODUCTION_STATUSES`].
pub fn set_status(
    connection: &Connection,
    workspace: i64,
    id: i64,
    status: &str,
) -> Result<(), EmulatorError> {
    if !PRODUCTION_STATUSES.contains(&status) {
        return Err(EmulatorError::InvalidStatus(status.to_string()));
    }
    require_production(connection, workspace, id)?;
    connection.execute(
        "UPDATE productions SET status = ?3 WHERE workspace = ?1 AND id = ?2",
        (workspace, id, status),
    )?;
    Ok(())
}

/// Records the end of an import into a production: its status, the error
/// of the run (empty if none), and that it was created by an import.
pub fn finish_import(
    connection: &Connection,
    workspace: i64,
    id: i64,
    status: &str,
    last_run_error: &str,
) -> Result<(), EmulatorError> {
    connection.execute(
        "UPDATE productions SET status = ?3, imported = 1, last_run_error = ?4
         WHERE workspace = ?1 AND id = ?2",
        (workspace, id, status, last_run_error),
    )?;
    Ok(())
}

/// Adds a data source to a production and returns its artifact ID.
pub fn insert_data_source(
    connection: &Connection,
    workspace: i64,
    production: i64,
    name: &str,
) -> Result<i64, EmulatorError> {
    require_production(connection, workspace, production)?;
    connection.execute(
        "INSERT INTO production_data_sources (workspace, production, name) VALUES (?1, ?2, ?3)",
        (workspace, production, name),
    )?;
    Ok(connection.last_insert_rowid())
}

/// Lists a production's data sources as (artifact ID, name).
pub fn data_sources(
    connection: &Connection,
    workspace: i64,
    production: i64,
) -> Result<Vec<(i64, String)>, EmulatorError> {
    let mut statement = connection.prepare_cached(
        "SELECT artifact_id, name FROM production_data_sources
         WHERE workspace = ?1 AND production = ?2 ORDER BY artifact_id",
    )?;
    let rows = statement.query_map((workspace, production), |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds a saved search that returns the documents of a production.
pub fn insert_saved_search(
    connection: &Connection,
    workspace: i64,
    id: i64,
    production: i64,
) -> Result<(), EmulatorError> {
    require_production(connection, workspace, production)?;
    connection.execute(
        "INSERT OR REPLACE INTO saved_searches (workspace, id, production) VALUES (?1, ?2, ?3)",
        (workspace, id, production),
    )?;
    Ok(())
}

/// Returns the production whose documents a saved search returns.
pub fn saved_search_production(
    connection: &Connection,
    workspace: i64,
    id: i64,
) -> Result<Option<i64>, EmulatorError> {
    let production = connection
        .query_row(
            "SELECT production FROM saved_searches WHERE workspace = ?1 AND id = ?2",
            (workspace, id),
            |row| row.get(0),
        )
        .optional()?;
    Ok(production)
}

/// Returns the lowest and highest Bates number of a production's pages.
pub fn bates_range(
    connection: &Connection,
    workspace: i64,
    production: i64,
) -> Result<Option<(String, String)>, EmulatorError> {
    let range: (Option<String>, Option<String>) = connection.query_row(
        "SELECT MIN(bates), MAX(bates) FROM pages WHERE workspace = ?1 AND production = ?2",
        (workspace, production),
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(range.0.zip(range.1))
}

/// Tells whether a production contains a page with this Bates number.
pub fn bates_exists(
    connection: &Connection,
    workspace: i64,
    production: i64,
    bates: &str,
) -> Result<bool, EmulatorError> {
    let found = connection
        .prepare_cached(
            "SELECT 1 FROM pages WHERE workspace = ?1 AND production = ?2 AND bates = ?3",
        )?
        .query_row((workspace, production, bates), |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

/// Stores a document with its pages, in order, and adds the pages to the
/// production's image count. Returns the document's artifact ID.
pub fn insert_document(
    connection: &Connection,
    workspace: i64,
    production: i64,
    control_number: &str,
    pages: &[NewPage],
) -> Result<i64, EmulatorError> {
    let (Some(first), Some(last)) = (pages.first(), pages.last()) else {
        return Err(EmulatorError::InvalidSpec(format!(
            "document {control_number} has no pages; give it at least one"
        )));
    };
    connection
        .prepare_cached(
            "INSERT INTO documents (workspace, production, control_number, first_bates, last_bates, image_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute((workspace, production, control_number, &first.bates, &last.bates, pages.len()))?;
    let document = connection.last_insert_rowid();

    let mut insert_page = connection.prepare_cached(
        "INSERT INTO pages (workspace, production, bates, document, page_number, location, size, sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (index, page) in pages.iter().enumerate() {
        insert_page.execute((
            workspace,
            production,
            &page.bates,
            document,
            index + 1,
            &page.location,
            page.size,
            &page.sha256,
        ))?;
    }

    connection
        .prepare_cached(
            "UPDATE productions SET total_images = total_images + ?3 WHERE workspace = ?1 AND id = ?2",
        )?
        .execute((workspace, production, pages.len()))?;
    Ok(document)
}

/// Lists every page of a production ordered by Bates number as text, so
/// suffix-style keys sort `X_0001_REV` before `X_REV`.
pub fn list_pages(
    connection: &Connection,
    workspace: i64,
    production: i64,
    unc_root: &str,
) -> Result<Vec<ProducedPage>, EmulatorError> {
    let mut statement = connection.prepare(
        "SELECT p.bates, d.control_number, p.page_number, p.sha256, p.size, p.location
         FROM pages p JOIN documents d ON d.artifact_id = p.document
         WHERE p.workspace = ?1 AND p.production = ?2
         ORDER BY p.bates",
    )?;
    let rows = statement.query_map((workspace, production), |row| {
        Ok(ProducedPage {
            bates: row.get(0)?,
            control_number: row.get(1)?,
            page_number: row.get(2)?,
            sha256: row.get(3)?,
            size: row.get(4)?,
            location: unc_path(unc_root, &row.get::<_, String>(5)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Joins the share's UNC root and a path relative to it.
pub fn unc_path(unc_root: &str, relative: &str) -> String {
    format!("{unc_root}\\{relative}")
}
