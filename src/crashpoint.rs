//! Crash points: named places where a test can make the process die at
//! once, as a power cut or `kill -9` would, to check that a resumed run
//! loses and doubles nothing.
//!
//! `PRODSYNC_CRASH_AT` holds a comma-separated list of point names, for
//! example `after_transition:SnapshotCreated` or `after_data_source:2`.
//! When execution reaches a listed point the process sends itself SIGKILL.
//! Unset, every point costs one lookup in an empty list.

use std::sync::OnceLock;

/// Environment variable that lists the points to die at.
pub const CRASH_AT_ENV: &str = "PRODSYNC_CRASH_AT";

fn points() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var(CRASH_AT_ENV)
            .map(|value| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|point| !point.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Kills the process with SIGKILL if `point` is listed in
/// `PRODSYNC_CRASH_AT`.
pub fn hit(point: &str) {
    if !points().iter().any(|listed| listed == point) {
        return;
    }
    eprintln!("crash point {point} reached: killing the process");
    // SAFETY: getpid and kill have no preconditions; SIGKILL ends the
    // process without running any more of its code.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}
