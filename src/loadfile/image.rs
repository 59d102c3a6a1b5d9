//! Image files of a volume: is each one a readable TIFF, JPEG or PDF?
//!
//! The check reads the magic bytes, and for a TIFF also parses the header
//! and the first image file directory (IFD) and counts the pages. It does
//! not decode pixels.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;
use tiff::decoder::Decoder;

/// Image formats a production page can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ImageFormat {
    Tiff,
    Jpeg,
    Pdf,
}

/// A readable image: its format and, for a TIFF, its page count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    pub format: ImageFormat,
    /// Pages (IFDs) of a TIFF; `None` for JPEG and PDF, which are not counted.
    pub pages: Option<usize>,
}

/// Why an image file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read image: {0}")]
    Io(#[from] std::io::Error),

    #[error("not a TIFF, JPEG or PDF: starts with bytes {0}")]
    UnknownFormat(String),

    #[error("invalid TIFF: {0}")]
    InvalidTiff(#[from] tiff::TiffError),
}

/// Identifies the image at `path` and, for a TIFF, parses its directories.
pub fn inspect(path: &Path) -> Result<ImageInfo, ImageError> {
    let mut head = [0u8; 8];
    let length = read_head(path, &mut head)?;
    let head = &head[..length];

    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        let pages = count_tiff_pages(path)?;
        return Ok(ImageInfo {
            format: ImageFormat::Tiff,
            pages: Some(pages),
        });
    }

    let format = if head.starts_with(&[0xff, 0xd8, 0xff]) {
        ImageFormat::Jpeg
    } else if head.starts_with(b"%PDF-") {
        ImageFormat::Pdf
    } else {
        return Err(ImageError::UnknownFormat(hex::encode(head)));
    };
    Ok(ImageInfo {
        format,
        pages: None,
    })
}

fn read_head(path: &Path, head: &mut [u8]) -> std::io::Result<usize> {
    let mut file = File::open(path)?;
    let mut length = 0;
    while length < head.len() {
        let read = file.read(&mut head[length..])?;
        if read == 0 {
            break;
        }
        length += read;
    }
    Ok(length)
}

/// Parses the first IFD (the decoder does so when it opens the file) and
/// every following one.
fn count_tiff_pages(path: &Path) -> Result<usize, ImageError> {
    let file = BufReader::new(File::open(path)?);
    let mut decoder = Decoder::new(file)?;
    decoder.dimensions()?;

    let mut pages = 1;
    while decoder.more_images() {
        decoder.next_image()?;
        pages += 1;
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    /// A little-endian TIFF of `pages` 1×1 one-bit pages, uncompressed.
    fn tiff_bytes(pages: usize) -> Vec<u8> {
        let mut buffer = std::io::Cursor::new(Vec::new());
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut buffer).unwrap();
        for _ in 0..pages {
            encoder
                .write_image::<tiff::encoder::colortype::Gray8>(1, 1, &[0])
                .unwrap();
        }
        buffer.into_inner()
    }

    #[test]
    fn inspect_counts_tiff_pages() {
        let file = write_temp(&tiff_bytes(3));
        let info = inspect(file.path()).unwrap();
        assert_eq!(info.format, ImageFormat::Tiff);
        assert_eq!(info.pages, Some(3));
    }

    #[test]
    fn inspect_rejects_text_named_tif() {
        let file = write_temp(b"Some text");
        let error = inspect(file.path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a TIFF, JPEG or PDF: starts with bytes 536f6d6520746578"
        );
    }

    #[test]
    fn inspect_rejects_truncated_tiff() {
        let file = write_temp(b"II*\0\x08\0\0\0\x05");
        let error = inspect(file.path()).unwrap_err();
        assert!(matches!(error, ImageError::InvalidTiff(_)), "{error}");
    }

    #[test]
    fn inspect_accepts_jpeg_and_pdf() {
        let jpeg = write_temp(&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10]);
        let pdf = write_temp(b"%PDF-1.4\n");
        assert_eq!(inspect(jpeg.path()).unwrap().format, ImageFormat::Jpeg);
        assert_eq!(inspect(pdf.path()).unwrap().format, ImageFormat::Pdf);
    }

    #[test]
    fn inspect_missing_file_is_io() {
        let error = inspect(Path::new("/nonexistent/a.tif")).unwrap_err();
        assert!(matches!(error, ImageError::Io(_)), "{error}");
    }
}
