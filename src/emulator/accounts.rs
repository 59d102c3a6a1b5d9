//! Users, OAuth clients, bearer tokens and permission grants, in SQLite.
//!
//! Passwords, client secrets and tokens are stored as salted SHA-256 hashes
//! so the data directory holds no credential in clear. An admin user may do
//! everything; any other user may do only what a [`Grant`] allows.

use rand::RngCore;
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::EmulatorError;

/// A permission given to a non-admin user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Access to the workspace: View on its Case artifact in workspace -1.
    Workspace(i64),
    /// Read a production and its produced images.
    ViewProduction { workspace: i64, production: i64 },
    /// Add a data source to a production.
    AddProductionDataSource { workspace: i64, production: i64 },
    /// Import into the workspace (permission 158).
    Import(i64),
    /// Export from the workspace (permission 159), which export runs need.
    Export(i64),
}

impl Grant {
    /// Returns the stored form: kind, workspace, production (0 if none).
    fn key(&self) -> (&'static str, i64, i64) {
        match *self {
            Grant::Workspace(workspace) => ("workspace", workspace, 0),
            Grant::ViewProduction {
                workspace,
                production,
            } => ("view_production", workspace, production),
            Grant::AddProductionDataSource {
                workspace,
                production,
            } => ("add_production_data_source", workspace, production),
            Grant::Import(workspace) => ("import", workspace, 0),
            Grant::Export(workspace) => ("export", workspace, 0),
        }
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub admin: bool,
}

impl Caller {
    /// Checks a grant; admins pass every check.
    pub fn may(&self, connection: &Connection, grant: Grant) -> Result<bool, EmulatorError> {
        if self.admin {
            return Ok(true);
        }
        has_grant(connection, &self.name, grant)
    }

    /// Checks a grant together with access to the grant's workspace, which
    /// every workspace-level permission depends on.
    pub fn may_in_workspace(
        &self,
        connection: &Connection,
        workspace: i64,
        grant: Grant,
    ) -> Result<bool, EmulatorError> {
        Ok(self.may(connection, Grant::Workspace(workspace))? && self.may(connection, grant)?)
    }
}

/// Adds a user; rejects a name that exists.
pub fn insert_user(
    connection: &Connection,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<(), EmulatorError> {
    let salt = random_hex(16);
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO users (name, salt, password_hash, admin) VALUES (?1, ?2, ?3, ?4)",
        (name, &salt, salted_hash(&salt, password), admin),
    )?;
    if inserted == 0 {
        return Err(EmulatorError::UserExists(name.to_string()));
    }
    Ok(())
}

/// Returns the caller if the name and password match a user.
pub fn verify_password(
    connection: &Connection,
    name: &str,
    password: &str,
) -> Result<Option<Caller>, EmulatorError> {
    let row: Option<(String, String, bool)> = connection
        .query_row(
            "SELECT salt, password_hash, admin FROM users WHERE name = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let caller = row
        .filter(|(salt, hash, _)| salted_hash(salt, password) == *hash)
        .map(|(_, _, admin)| Caller {
            name: name.to_string(),
            admin,
        });
    Ok(caller)
}

/// Loads a user by name.
pub fn find_user(connection: &Connection, name: &str) -> Result<Option<Caller>, EmulatorError> {
    let admin: Option<bool> = connection
        .query_row("SELECT admin FROM users WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()?;
    Ok(admin.map(|admin| Caller {
        name: name.to_string(),
        admin,
    }))
}

/// Adds an OAuth client that acts as `user`.
pub fn insert_client(
    connection: &Connection,
    client_id: &str,
    secret: &str,
    user: &str,
) -> Result<(), EmulatorError> {
    require_user(connection, user)?;
    let salt = random_hex(16);
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO oauth_clients (client_id, salt, secret_hash, user_name) VALUES (?1, ?2, ?3, ?4)",
        (client_id, &salt, salted_hash(&salt, secret), user),
    )?;
    if inserted == 0 {
        return Err(EmulatorError::ClientExists(client_id.to_string()));
    }
    Ok(())
}

/// Returns the user an OAuth client acts as, if the secret matches.
pub fn verify_client(
    connection: &Connection,
    client_id: &str,
    secret: &str,
) -> Result<Option<String>, EmulatorError> {
    let row: Option<(String, String, String)> = connection
        .query_row(
            "SELECT salt, secret_hash, user_name FROM oauth_clients WHERE client_id = ?1",
            [client_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    Ok(row
        .filter(|(salt, hash, _)| salted_hash(salt, secret) == *hash)
        .map(|(_, _, user)| user))
}

/// Creates a bearer token for `user` that expires at `expires_at` (Unix
/// seconds) and returns it.
pub fn issue_token(
    connection: &Connection,
    user: &str,
    expires_at: i64,
) -> Result<String, EmulatorError> {
    let token = random_hex(32);
    connection.execute(
        "INSERT INTO tokens (token_hash, user_name, expires_at) VALUES (?1, ?2, ?3)",
        (token_hash(&token), user, expires_at),
    )?;
    connection.execute(
        "DELETE FROM tokens WHERE expires_at < ?1",
        [now_unix() - 86_400],
    )?;
    Ok(token)
}

/// Returns the user of a bearer token that has not expired at `now`.
pub fn verify_token(
    connection: &Connection,
    token: &str,
    now: i64,
) -> Result<Option<Caller>, EmulatorError> {
    let user: Option<String> = connection
        .query_row(
            "SELECT user_name FROM tokens WHERE token_hash = ?1 AND expires_at > ?2",
            (token_hash(token), now),
            |row| row.get(0),
        )
        .optional()?;
    match user {
        Some(user) => find_user(connection, &user),
        None => Ok(None),
    }
}

/// Gives a grant to a user; giving it twice changes nothing.
pub fn insert_grant(
    connection: &Connection,
    user: &str,
    grant: Grant,
) -> Result<(), EmulatorError> {
    require_user(connection, user)?;
    let (kind, workspace, production) = grant.key();
    connection.execute(
        "INSERT OR IGNORE INTO grants (user_name, kind, workspace, production) VALUES (?1, ?2, ?3, ?4)",
        (user, kind, workspace, production),
    )?;
    Ok(())
}

/// Takes a grant away from a user.
pub fn delete_grant(
    connection: &Connection,
    user: &str,
    grant: Grant,
) -> Result<(), EmulatorError> {
    require_user(connection, user)?;
    let (kind, workspace, production) = grant.key();
    connection.execute(
        "DELETE FROM grants WHERE user_name = ?1 AND kind = ?2 AND workspace = ?3 AND production = ?4",
        (user, kind, workspace, production),
    )?;
    Ok(())
}

fn has_grant(connection: &Connection, user: &str, grant: Grant) -> Result<bool, EmulatorError> {
    let (kind, workspace, production) = grant.key();
    let found = connection
        .query_row(
            "SELECT 1 FROM grants WHERE user_name = ?1 AND kind = ?2 AND workspace = ?3 AND production = ?4",
            (user, kind, workspace, production),
            |_| Ok(()),
        )
        .optional()?;
    Ok(found.is_some())
}

fn require_user(connection: &Connection, user: &str) -> Result<(), EmulatorError> {
    match find_user(connection, user)? {
        Some(_) => Ok(()),
        None => Err(EmulatorError::UserNotFound(user.to_string())),
    }
}

/// Current time in Unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn salted_hash(salt: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0u8]);
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::db::Db;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("e.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn verify_password_accepts_right_password() {
        let (_dir, db) = db();
        insert_user(&db.lock(), "ann", "pw", false).unwrap();
        let caller = verify_password(&db.lock(), "ann", "pw").unwrap();
        assert_eq!(caller.map(|caller| caller.name), Some("ann".to_string()));
    }

    #[test]
    fn verify_password_rejects_wrong_password() {
        let (_dir, db) = db();
        insert_user(&db.lock(), "ann", "pw", false).unwrap();
        assert_eq!(verify_password(&db.lock(), "ann", "px").unwrap(), None);
    }

    #[test]
    fn verify_token_rejects_expired_token() {
        let (_dir, db) = db();
        insert_user(&db.lock(), "ann", "pw", false).unwrap();
        let token = issue_token(&db.lock(), "ann", 100).unwrap();
        assert_eq!(verify_token(&db.lock(), &token, 100).unwrap(), None);
    }

    #[test]
    fn grant_applies_to_its_production_only() {
        let (_dir, db) = db();
        let connection = db.lock();
        insert_user(&connection, "ann", "pw", false).unwrap();
        let view = |production| Grant::ViewProduction {
            workspace: 1,
            production,
        };
        insert_grant(&connection, "ann", view(7)).unwrap();
        let caller = find_user(&connection, "ann").unwrap().unwrap();
        assert!(caller.may(&connection, view(7)).unwrap());
        assert!(!caller.may(&connection, view(8)).unwrap());
    }

    #[test]
    fn delete_grant_removes_it() {
        let (_dir, db) = db();
        let connection = db.lock();
        insert_user(&connection, "ann", "pw", false).unwrap();
        insert_grant(&connection, "ann", Grant::Import(1)).unwrap();
        delete_grant(&connection, "ann", Grant::Import(1)).unwrap();
        let caller = find_user(&connection, "ann").unwrap().unwrap();
        assert!(!caller.may(&connection, Grant::Import(1)).unwrap());
    }
}
