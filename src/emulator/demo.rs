//! The demo generator: a deterministic production of documents whose pages
//! are real grayscale TIFF images.
//!
//! Everything derives from [`DemoSpec::seed`], so the same spec always
//! gives the same documents, page counts and image bytes. Each page is
//! white with a few black bars at random places and carries its Bates
//! number in the TIFF `ImageDescription` tag, so no two pages have the same
//! bytes even when they are a few pixels wide.

use std::io::Cursor;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tiff::encoder::colortype::Gray8;
use tiff::encoder::compression::{Deflate, DeflateLevel};
use tiff::encoder::TiffEncoder;
use tiff::tags::Tag;

use super::EmulatorError;

/// Shape of a demo production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSpec {
    pub documents: u32,
    /// Each document gets between 1 and this many pages.
    pub max_pages: u32,
    pub seed: u64,
    /// Text before the 7-digit page number of each Bates number.
    pub bates_prefix: String,
    /// Page size in pixels.
    pub page_width: u32,
    pub page_height: u32,
}

impl Default for DemoSpec {
    fn default() -> Self {
        Self {
            documents: 300,
            max_pages: 10,
            seed: 1,
            bates_prefix: "DEMO".to_string(),
            page_width: 850,
            page_height: 1100,
        }
    }
}

impl DemoSpec {
    /// Rejects a spec that cannot produce pages.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        if self.max_pages == 0 {
            return Err(EmulatorError::InvalidSpec(
                "max_pages is 0; give documents at least 1 page".to_string(),
            ));
        }
        if self.page_width == 0 || self.page_height == 0 {
            return Err(EmulatorError::InvalidSpec(format!(
                "page size {}x{} has no pixels; use at least 1x1",
                self.page_width, self.page_height
            )));
        }
        Ok(())
    }

    /// Returns the Bates number of the `index`-th page (from 0).
    pub fn bates(&self, index: u64) -> String {
        format!("{}{:07}", self.bates_prefix, index + 1)
    }
}

/// Draws page counts and page images from the spec's seed.
pub struct DemoGenerator {
    rng: ChaCha8Rng,
    spec: DemoSpec,
    pixels: Vec<u8>,
}

impl DemoGenerator {
    /// Starts the generator at the first document of the spec.
    pub fn new(spec: &DemoSpec) -> Self {
        let pixel_count = spec.page_width as usize * spec.page_height as usize;
        Self {
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            spec: spec.clone(),
            pixels: vec![0; pixel_count],
        }
    }

    /// Draws the page count of the next document.
    pub fn next_page_count(&mut self) -> u32 {
        self.rng.gen_range(1..=self.spec.max_pages)
    }

    /// Renders the next page as a grayscale TIFF, Deflate-compressed unless
    /// it is tiny.
    pub fn next_page(&mut self, bates: &str) -> Result<Vec<u8>, EmulatorError> {
        self.paint_page();
        encode_tiff(
            &self.pixels,
            self.spec.page_width,
            self.spec.page_height,
            bates,
        )
    }

    /// Fills the page white and draws three to eight black bars.
    fn paint_page(&mut self) {
        let width = self.spec.page_width as usize;
        let height = self.spec.page_height as usize;
        self.pixels.fill(255);

        let bars = self.rng.gen_range(3..=8);
        for _ in 0..bars {
            let top = self.rng.gen_range(0..height);
            let thickness = self.rng.gen_range(1..=(height / 50).max(1));
            let left = self.rng.gen_range(0..width);
            let right = self.rng.gen_range(left..width) + 1;
            for row in top..(top + thickness).min(height) {
                self.pixels[row * width + left..row * width + right].fill(0);
            }
        }
    }
}

/// Largest page, in pixels, written without compression: for tiny pages
/// setting up Deflate costs more than it saves.
const UNCOMPRESSED_MAX_PIXELS: usize = 4_096;

fn encode_tiff(
    pixels: &[u8],
    width: u32,
    height: u32,
    bates: &str,
) -> Result<Vec<u8>, EmulatorError> {
    let failed = |error: tiff::TiffError| EmulatorError::Tiff {
        bates: bates.to_string(),
        message: error.to_string(),
    };

    let mut bytes = Cursor::new(Vec::new());
    let mut encoder = TiffEncoder::new(&mut bytes).map_err(failed)?;
    if pixels.len() <= UNCOMPRESSED_MAX_PIXELS {
        let mut image = encoder.new_image::<Gray8>(width, height).map_err(failed)?;
        image
            .encoder()
            .write_tag(Tag::ImageDescription, bates)
            .map_err(failed)?;
        image.write_data(pixels).map_err(failed)?;
    } else {
        let compression = Deflate::with_level(DeflateLevel::Fast);
        let mut image = encoder
            .new_image_with_compression::<Gray8, _>(width, height, compression)
            .map_err(failed)?;
        image
            .encoder()
            .write_tag(Tag::ImageDescription, bates)
            .map_err(failed)?;
        image.write_data(pixels).map_err(failed)?;
    }

    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_spec() -> DemoSpec {
        DemoSpec {
            page_width: 100,
            page_height: 120,
            ..DemoSpec::default()
        }
    }

    #[test]
    fn next_page_is_a_readable_tiff() {
        let mut generator = DemoGenerator::new(&small_spec());
        let bytes = generator.next_page("DEMO0000001").unwrap();
        let mut decoder = tiff::decoder::Decoder::new(Cursor::new(bytes)).unwrap();
        assert_eq!(decoder.dimensions().unwrap(), (100, 120));
    }

    #[test]
    fn tiny_page_is_a_readable_tiff() {
        let spec = DemoSpec {
            page_width: 4,
            page_height: 4,
            ..DemoSpec::default()
        };
        let bytes = DemoGenerator::new(&spec).next_page("DEMO0000001").unwrap();
        let mut decoder = tiff::decoder::Decoder::new(Cursor::new(bytes)).unwrap();
        assert_eq!(decoder.dimensions().unwrap(), (4, 4));
    }

    #[test]
    fn generator_repeats_for_same_seed() {
        let mut first = DemoGenerator::new(&small_spec());
        let mut second = DemoGenerator::new(&small_spec());
        assert_eq!(first.next_page_count(), second.next_page_count());
        assert_eq!(
            first.next_page("A").unwrap(),
            second.next_page("A").unwrap()
        );
    }

    #[test]
    fn pages_differ_even_when_tiny() {
        let spec = DemoSpec {
            page_width: 1,
            page_height: 1,
            ..DemoSpec::default()
        };
        let mut generator = DemoGenerator::new(&spec);
        let first = generator.next_page(&spec.bates(0)).unwrap();
        let second = generator.next_page(&spec.bates(1)).unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn default_page_is_a_few_kilobytes() {
        let mut generator = DemoGenerator::new(&DemoSpec::default());
        let size = generator.next_page("DEMO0000001").unwrap().len();
        assert!(size < 20_000, "page is {size} bytes");
    }

    #[test]
    fn bates_pads_to_seven_digits() {
        assert_eq!(DemoSpec::default().bates(41), "DEMO0000042");
    }

    #[test]
    fn validate_rejects_zero_pages() {
        let spec = DemoSpec {
            max_pages: 0,
            ..DemoSpec::default()
        };
        assert!(spec.validate().is_err());
    }
}
