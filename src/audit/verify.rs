//! Verifying a run's hash chain: every entry's position, link and hash,
//! and optionally the head an auditor kept.
//!
//! Without an expected head, verification proves that the entries present
//! were not edited, reordered or removed from the middle, unless the writer
//! recomputed a plain SHA-256 chain. The expected head also catches
//! entries cut off the end and a recomputed chain; an HMAC chain cannot be
//! recomputed without the key.

use std::str::FromStr;

use serde::Serialize;

use crate::store::audit::EntryKind;
use crate::store::{AuditEntry, AuditKey, AuditTrail, ChainMode, Store, StoreError};

/// The last entry of a chain: its position and hash, printed as
/// `POSITION:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub position: i64,
    pub hash: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}", self.position, self.hash)
    }
}

/// A head an auditor kept: `POSITION:HASH`, or the hash alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHead {
    pub position: Option<i64>,
    pub hash: String,
}

/// Error of parsing an expected head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid head {0:?}: expected POSITION:HASH (as `prodsync verify RUN_ID --print-head` prints it) or a 64-digit hex hash")]
pub struct InvalidHead(String);

impl FromStr for ExpectedHead {
    type Err = InvalidHead;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (position, hash) = match text.split_once(':') {
            Some((position, hash)) => {
                let position = position.parse().map_err(|_| InvalidHead(text.into()))?;
                (Some(position), hash)
            }
            None => (None, text),
        };
        let is_hex = hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !is_hex {
            return Err(InvalidHead(text.into()));
        }
        Ok(ExpectedHead {
            position,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// The check an entry failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The run has an HMAC chain and no key was given.
    Key,
    /// An entry is missing, duplicated or out of place.
    Position,
    /// The entry's stored previous hash is not the previous entry's hash.
    PrevHash,
    /// The entry's content does not hash to its stored hash.
    Hash,
    /// An entry without a chain link in a run created with a chain.
    Unchained,
    /// The chain does not end at the expected head.
    Head,
}

/// The first entry that does not match, with what was expected and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub check: Check,
    /// Chain position the check expected.
    pub position: i64,
    pub kind: Option<EntryKind>,
    /// The entry's own number: a transition's `seq` or a batch's index.
    pub seq: Option<i64>,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entry = match (self.kind, self.seq) {
            (Some(EntryKind::Transition), Some(seq)) => format!(" (transition seq {seq})"),
            (Some(EntryKind::Batch), Some(index)) => format!(" (batch {index})"),
            _ => String::new(),
        };
        write!(
            formatter,
            "chain entry {}{entry}: {} check failed: expected {}, found {}",
            self.position, self.check, self.expected, self.found
        )
    }
}

/// Result of verifying a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub run_id: String,
    pub mode: ChainMode,
    pub key_id: Option<String>,
    /// Chained entries checked.
    pub entries: usize,
    /// Entries recorded before the chain existed, which cannot be checked.
    pub legacy: usize,
    pub head: Option<Head>,
    /// Whether an expected head was compared.
    pub head_checked: bool,
    pub mismatch: Option<Mismatch>,
}

impl Verification {
    /// True when every entry checks and none is legacy.
    pub fn is_verified(&self) -> bool {
        self.mismatch.is_none() && self.legacy == 0
    }
}

/// Verifies a run's chain with `key` (used only for an HMAC chain) and,
/// when given, the expected head.
#[tracing::instrument(skip(store, key))]
pub fn verify(
    store: &Store,
    run_id: &str,
    key: Option<&AuditKey>,
    expected_head: Option<&ExpectedHead>,
) -> Result<Verification, StoreError> {
    let trail = store.audit_trail(run_id)?;
    let chain = &trail.chain;
    let mut verification = Verification {
        run_id: run_id.to_string(),
        mode: chain.mode,
        key_id: chain.key_id.clone(),
        entries: 0,
        legacy: 0,
        head: None,
        head_checked: expected_head.is_some(),
        mismatch: None,
    };

    let key = match (chain.mode, key) {
        (ChainMode::HmacSha256, None) => {
            verification.mismatch = Some(missing_key(chain.key_id.as_deref()));
            return Ok(verification);
        }
        (ChainMode::HmacSha256, Some(key)) => Some(key),
        _ => None,
    };

    let genesis = store.genesis_hash(chain, key)?;
    verification.mismatch = check_entries(&trail, key, genesis, &mut verification);
    if verification.mismatch.is_none() {
        if let Some(expected) = expected_head {
            verification.mismatch = check_head(verification.head.as_ref(), expected);
        }
    }
    if let Some(mismatch) = &verification.mismatch {
        tracing::warn!(%run_id, %mismatch, "audit chain does not verify");
    }
    Ok(verification)
}

fn missing_key(key_id: Option<&str>) -> Mismatch {
    Mismatch {
        check: Check::Key,
        position: 1,
        kind: None,
        seq: None,
        expected: format!(
            "the audit key with ID {} in PRODSYNC_AUDIT_KEY",
            key_id.unwrap_or("?")
        ),
        found: "no key".into(),
    }
}

/// Walks the entries in chain order; returns the first mismatch and fills
/// in the counts and the head.
fn check_entries(
    trail: &AuditTrail,
    key: Option<&AuditKey>,
    genesis: String,
    verification: &mut Verification,
) -> Option<Mismatch> {
    let mut prev_hash = genesis;
    let mut position = 1;
    for entry in &trail.entries {
        let Some(link) = entry.link() else {
            verification.legacy += 1;
            if trail.chain.mode != ChainMode::Legacy {
                return Some(mismatch(
                    Check::Unchained,
                    position,
                    entry,
                    "a chain link",
                    "none",
                ));
            }
            continue;
        };

        if link.position != position {
            let found = link.position.to_string();
            return Some(mismatch(
                Check::Position,
                position,
                entry,
                &position.to_string(),
                &found,
            ));
        }
        if link.prev_hash != prev_hash {
            return Some(mismatch(
                Check::PrevHash,
                position,
                entry,
                &prev_hash,
                &link.prev_hash,
            ));
        }
        let expected = entry.expected_hash(key, position, &prev_hash);
        if link.hash != expected {
            return Some(mismatch(
                Check::Hash,
                position,
                entry,
                &expected,
                &link.hash,
            ));
        }

        verification.entries += 1;
        verification.head = Some(Head {
            position,
            hash: link.hash.clone(),
        });
        prev_hash = link.hash.clone();
        position += 1;
    }
    None
}

fn mismatch(
    check: Check,
    position: i64,
    entry: &AuditEntry,
    expected: &str,
    found: &str,
) -> Mismatch {
    Mismatch {
        check,
        position,
        kind: Some(entry.kind()),
        seq: Some(entry.number()),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// Compares the chain's head with the expected one. A chain shorter than
/// the expected head names the first missing position.
fn check_head(head: Option<&Head>, expected: &ExpectedHead) -> Option<Mismatch> {
    let found_position = head.map_or(0, |head| head.position);
    let found_hash = head.map_or_else(|| "an empty chain".to_string(), |head| head.hash.clone());
    let position_matches = expected
        .position
        .is_none_or(|position| position == found_position);
    if position_matches && found_hash == expected.hash {
        return None;
    }

    let expected_position = expected.position.unwrap_or(found_position);
    let (position, found) = if expected_position > found_position {
        (
            found_position + 1,
            format!("no entry (the chain ends at {found_position}:{found_hash})"),
        )
    } else {
        (
            expected_position.max(1),
            format!("{found_position}:{found_hash}"),
        )
    };
    Some(Mismatch {
        check: Check::Head,
        position,
        kind: None,
        seq: None,
        expected: match expected.position {
            Some(position) => format!("{position}:{}", expected.hash),
            None => expected.hash.clone(),
        },
        found,
    })
}

/// Returns a run's current head, without verifying it.
pub fn head(store: &Store, run_id: &str) -> Result<Option<Head>, StoreError> {
    let trail = store.audit_trail(run_id)?;
    let head = trail
        .entries
        .iter()
        .filter_map(AuditEntry::link)
        .next_back();
    Ok(head.map(|link| Head {
        position: link.position,
        hash: link.hash.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const HASH: &str = "ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01";

    #[test]
    fn expected_head_parses_both_forms() {
        let with_position: ExpectedHead = format!("12:{HASH}").parse().unwrap();
        assert_eq!(with_position.position, Some(12));
        let bare: ExpectedHead = HASH.to_uppercase().parse().unwrap();
        assert_eq!(bare.hash, HASH);
        assert!("12:abc".parse::<ExpectedHead>().is_err());
        assert!("x:y".parse::<ExpectedHead>().is_err());
    }

    #[test]
    fn check_head_names_first_missing_entry() {
        let head = Head {
            position: 3,
            hash: HASH.into(),
        };
        let expected = ExpectedHead {
            position: Some(5),
            hash: "cd".repeat(32),
        };
        let found = check_head(Some(&head), &expected).unwrap();
        assert_eq!(found.position, 4);
        assert_eq!(found.check, Check::Head);
    }

    #[test]
    fn check_head_accepts_same_head() {
        let head = Head {
            position: 3,
            hash: HASH.into(),
        };
        let expected: ExpectedHead = head.to_string().parse().unwrap();
        assert_eq!(check_head(Some(&head), &expected), None);
    }
}
