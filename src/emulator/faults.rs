//! Fault injection: the [`FaultSpec`] that selects which requests fail and how,
//! its validation, and the decision whether the n-th matching request fires.
//!
//! Specs are stored in the `faults` table (`fault_store.rs`), loaded into a
//! snapshot that the middleware in `fault_layer.rs` reads on every request,
//! and reloaded when another connection changes the database. The decision
//! depends only on the spec and the request's match index, so it is the same
//! after a reload, a restart, or in another server on the same data folder.

use axum::http::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::EmulatorError;

/// Environment variable with a JSON array of [`FaultSpec`] that
/// [`Emulator::serve`](super::Emulator::serve) adds when it starts.
pub const FAULTS_ENV: &str = "PRODSYNC_EMULATOR_FAULTS";

/// A fault: the requests it matches, its effect and its frequency. All fields but `path` are
/// optional; a spec needs at least one of `status`, `delay_ms`, `drop` and
/// `crash`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP method to match, in any case; `None` matches every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Regex searched anywhere in the request path without the query
    /// string, after the `/Relativity.REST/api` prefix is removed. Text
    /// without regex metacharacters is a substring match. The token
    /// endpoint is matched as `/Relativity/Identity/connect/token`.
    pub path: String,
    /// HTTP status of the response, 400 to 599, with a Kepler error body
    /// (an OAuth error body on the token endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Message` of the error body; a default names the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Value of the `Retry-After` header of the response, in seconds or an
    /// HTTP date; needs `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// Delay before the response, in milliseconds. Alone, the request is then
    /// served as usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the TCP connection without an HTTP response.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop: bool,
    /// End the emulator's process at once with `abort()`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub crash: bool,
    /// Fire on this many matching requests, then never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Fire on each matching request with this probability, 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Let this many matching requests pass before the fault may fire.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after: u64,
    /// Seed of the random draws of `rate`; the same seed fires on the same
    /// match indexes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seed: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A stored fault with its counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Row ID in the `faults` table.
    pub id: i64,
    pub spec: FaultSpec,
    /// Requests that matched method and path, fired or not.
    pub matched: u64,
    /// Requests the fault responded to.
    pub fired: u64,
}

/// A validated spec with its method and regex parsed, as the middleware
/// uses it.
#[derive(Debug, Clone)]
pub struct ActiveFault {
    pub id: i64,
    pub spec: FaultSpec,
    method: Option<Method>,
    path: Regex,
}

impl ActiveFault {
    /// Tells whether a request's method and path (as [`match_path`]
    /// returns it) match.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        let method_matches = self.method.as_ref().is_none_or(|wanted| wanted == method);
        method_matches && self.path.is_match(path)
    }
}

/// Returns the part of a request path that fault patterns are matched
/// against: the path after `/Relativity.REST/api`, or the whole path.
pub fn match_path(path: &str) -> &str {
    path.strip_prefix(crate::relativity::wire::API_ROOT)
        .unwrap_or(path)
}

impl FaultSpec {
    /// Checks the spec and parses its method and path into an
    /// [`ActiveFault`] with row ID `id`.
    pub fn activate(&self, id: i64) -> Result<ActiveFault, EmulatorError> {
        self.validate()?;
        let method = self.parsed_method()?;
        let path = Regex::new(&self.path)
            .map_err(|error| self.invalid(format!("path is not a valid regex: {error}")))?;
        Ok(ActiveFault {
            id,
            spec: self.clone(),
            method,
            path,
        })
    }

    fn parsed_method(&self) -> Result<Option<Method>, EmulatorError> {
        let Some(method) = &self.method else {
            return Ok(None);
        };
        Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map(Some)
            .map_err(|_| self.invalid(format!("method {method:?} is not an HTTP method")))
    }

    fn validate(&self) -> Result<(), EmulatorError> {
        if self.path.is_empty() {
            return Err(self.invalid("path is empty; give a substring or regex of the path"));
        }
        self.validate_effect()?;
        self.validate_frequency()
    }

    fn validate_effect(&self) -> Result<(), EmulatorError> {
        let endings = [self.status.is_some(), self.drop, self.crash];
        let ending_count = endings.iter().filter(|set| **set).count();
        if ending_count > 1 {
            return Err(self.invalid("status, drop and crash exclude each other; give one"));
        }
        if ending_count == 0 && self.delay_ms.is_none() {
            return Err(self.invalid("no effect; give status, delay_ms, drop or crash"));
        }
        if let Some(status) = self.status {
            if !(400..=599).contains(&status) {
                return Err(self.invalid(format!(
                    "status {status} is not an error status; use 400 to 599"
                )));
            }
        }
        if self.status.is_none() && (self.retry_after.is_some() || self.message.is_some()) {
            return Err(self.invalid("retry_after and message need a status"));
        }
        if let Some(retry_after) = &self.retry_after {
            if axum::http::HeaderValue::from_str(retry_after).is_err() {
                return Err(self.invalid(format!(
                    "retry_after {retry_after:?} is not a valid header value; give seconds or an HTTP date"
                )));
            }
        }
        Ok(())
    }

    fn validate_frequency(&self) -> Result<(), EmulatorError> {
        if self.count.is_some() && self.rate.is_some() {
            return Err(self.invalid("count and rate exclude each other; give one"));
        }
        if let Some(rate) = self.rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(self.invalid(format!("rate {rate} is outside 0.0 to 1.0")));
            }
        }
        Ok(())
    }

    /// Tells whether the request with 0-based match index `index` fires.
    pub fn fires(&self, index: u64) -> bool {
        let Some(position) = index.checked_sub(self.after) else {
            return false;
        };
        if let Some(count) = self.count {
            return position < count;
        }
        if let Some(rate) = self.rate {
            return draw(self.seed, position) < rate;
        }
        true
    }

    fn invalid(&self, reason: impl std::fmt::Display) -> EmulatorError {
        EmulatorError::InvalidFault {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Returns the `position`-th number in [0, 1) of the stream seeded with
/// `seed`, without drawing the ones before it.
fn draw(seed: u64, position: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Each f64 consumes one u64, which is two 32-bit words of the stream.
    rng.set_word_pos(u128::from(position) * 2);
    rng.gen::<f64>()
}

/// Parses the JSON array of [`FAULTS_ENV`].
pub fn parse_env_specs(json: &str) -> Result<Vec<FaultSpec>, EmulatorError> {
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(deserializer).map_err(|error| EmulatorError::InvalidFaultEnv {
        variable: FAULTS_ENV,
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str) -> FaultSpec {
        FaultSpec {
            path: path.into(),
            status: Some(503),
            ..FaultSpec::default()
        }
    }

    #[test]
    fn fires_count_after_skipped_matches() {
        let fault = FaultSpec {
            count: Some(2),
            after: 1,
            ..spec("x")
        };
        let fired: Vec<bool> = (0..5).map(|index| fault.fires(index)).collect();
        assert_eq!(fired, [false, true, true, false, false]);
    }

    #[test]
    fn fires_rate_same_for_same_seed() {
        let fault = FaultSpec {
            rate: Some(0.5),
            seed: 9,
            ..spec("x")
        };
        let first: Vec<bool> = (0..50).map(|index| fault.fires(index)).collect();
        let second: Vec<bool> = (0..50).map(|index| fault.fires(index)).collect();
        assert_eq!(first, second);
        assert!(first.contains(&true));
        assert!(first.contains(&false));
    }

    #[test]
    fn draw_matches_sequential_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sequential: Vec<f64> = (0..4).map(|_| rng.gen::<f64>()).collect();
        let positioned: Vec<f64> = (0..4).map(|position| draw(3, position)).collect();
        assert_eq!(sequential, positioned);
    }

    #[test]
    fn matches_method_and_path_regex() {
        let fault = FaultSpec {
            method: Some("post".into()),
            ..spec("import-jobs/.*/sources/")
        }
        .activate(1)
        .unwrap();
        let path = match_path(
            "/Relativity.REST/api/import-service/v1/workspaces/1/import-jobs/j/sources/s",
        );
        assert!(fault.matches(&Method::POST, path));
        assert!(!fault.matches(&Method::GET, path));
        assert!(!fault.matches(&Method::POST, "/import-jobs/j/begin"));
    }

    #[test]
    fn activate_rejects_invalid_specs() {
        let cases = [
            FaultSpec {
                status: None,
                ..spec("x")
            },
            FaultSpec {
                status: Some(200),
                ..spec("x")
            },
            FaultSpec {
                drop: true,
                ..spec("x")
            },
            FaultSpec {
                count: Some(1),
                rate: Some(0.5),
                ..spec("x")
            },
            FaultSpec {
                rate: Some(1.5),
                ..spec("x")
            },
            spec("("),
            spec(""),
            FaultSpec {
                method: Some("GE T".into()),
                ..spec("x")
            },
        ];
        for case in cases {
            assert!(case.activate(1).is_err(), "{case:?} was accepted");
        }
    }

    #[test]
    fn parse_env_rejects_unknown_field() {
        let error = parse_env_specs(r#"[{"path":"x","status":503,"sttus":1}]"#).unwrap_err();
        assert!(error.to_string().contains("sttus"), "{error}");
    }
}
