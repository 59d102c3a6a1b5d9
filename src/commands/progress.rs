//! The progress bar of `prodsync run`: documents pushed out of the
//! snapshot's total, drawn on stderr only when it is a terminal.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use prodsync::steps::Progress;

/// A progress bar over documents.
pub struct Bar {
    bar: ProgressBar,
    pages: AtomicU64,
}

impl Bar {
    /// Creates a hidden bar; `start` gives it a length and shows it.
    pub fn new() -> Self {
        let bar = ProgressBar::hidden();
        let style = ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {pos}/{len} documents, {msg} ({elapsed}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        Self {
            bar,
            pages: AtomicU64::new(0),
        }
    }
}

impl Progress for Bar {
    fn start(&self, total_documents: u64, done_documents: u64) {
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.bar.set_length(total_documents);
        self.bar.set_position(done_documents);
        self.bar.set_message("0 pages");
    }

    fn advance(&self, documents: u64, pages: u64) {
        self.bar.inc(documents);
        let total = self.pages.fetch_add(pages, Ordering::Relaxed) + pages;
        self.bar.set_message(format!("{total} pages"));
    }

    fn waiting(&self) {
        self.bar
            .set_message("waiting for the server to finish the import");
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
