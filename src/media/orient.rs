//! EXIF orientation applied without a second full-size image: the decoded pixels stay as they
//! are, and this view reads them turned and mirrored for whoever walks it (the JPEG encoder, the
//! thumbnail). A rotated copy of a 24-megapixel photo would cost another 72 MB per upload.

use image::{GenericImageView, Rgb, RgbImage};

use crate::domain::erythema::Roi;

/// The decoded image as it is meant to be seen (EXIF orientation 1–8).
pub struct Oriented<'a> {
    image: &'a RgbImage,
    orientation: u32,
}

impl<'a> Oriented<'a> {
    /// `orientation` outside 1–8 is taken as 1 (as stored).
    pub fn new(image: &'a RgbImage, orientation: u32) -> Self {
        Self { image, orientation: if (1..=8).contains(&orientation) { orientation } else { 1 } }
    }

    /// Whether width and height trade places (orientations 5–8 turn by a quarter).
    fn transposed(&self) -> bool {
        self.orientation >= 5
    }

    /// The stored pixel shown at (x, y).
    fn source(&self, x: u32, y: u32) -> (u32, u32) {
        let (w, h) = self.image.dimensions();
        match self.orientation {
            2 => (w - 1 - x, y),
            3 => (w - 1 - x, h - 1 - y),
            4 => (x, h - 1 - y),
            5 => (y, x),
            6 => (y, h - 1 - x),
            7 => (w - 1 - y, h - 1 - x),
            8 => (w - 1 - y, x),
            _ => (x, y),
        }
    }

    /// A region given on the image as seen, as the same region of the stored pixels.
    pub fn source_roi(&self, roi: Roi) -> Roi {
        let (x0, x1, y0, y1) = (roi.x, roi.x + roi.width, roi.y, roi.y + roi.height);
        let flip = |a: f64, b: f64| (1.0 - b, 1.0 - a);
        let ((sx0, sx1), (sy0, sy1)) = match self.orientation {
            2 => (flip(x0, x1), (y0, y1)),
            3 => (flip(x0, x1), flip(y0, y1)),
            4 => ((x0, x1), flip(y0, y1)),
            5 => ((y0, y1), (x0, x1)),
            6 => ((y0, y1), flip(x0, x1)),
            7 => (flip(y0, y1), flip(x0, x1)),
            8 => (flip(y0, y1), (x0, x1)),
            _ => ((x0, x1), (y0, y1)),
        };
        let clamp = |v: f64| v.clamp(0.0, 1.0);
        Roi { x: clamp(sx0), y: clamp(sy0), width: clamp(sx1 - sx0), height: clamp(sy1 - sy0) }
    }
}

impl GenericImageView for Oriented<'_> {
    type Pixel = Rgb<u8>;

    fn dimensions(&self) -> (u32, u32) {
        let (w, h) = self.image.dimensions();
        if self.transposed() { (h, w) } else { (w, h) }
    }

    fn get_pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        let (sx, sy) = self.source(x, y);
        *self.image.get_pixel(sx, sy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::DynamicImage;

    /// Every orientation reads exactly what image's own (copying) transforms produce.
    #[test]
    fn each_orientation_matches_the_copying_transform() {
        let img = RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 40, y as u8 * 80, (x * 3 + y) as u8]));
        let d = DynamicImage::ImageRgb8(img.clone());
        let expected = [
            d.clone(),
            d.fliph(),
            d.rotate180(),
            d.flipv(),
            d.rotate90().fliph(),
            d.rotate90(),
            d.rotate270().fliph(),
            d.rotate270(),
        ];
        for (i, want) in expected.iter().enumerate() {
            let orientation = u32::try_from(i + 1).unwrap();
            let view = Oriented::new(&img, orientation);
            let want = want.to_rgb8();
            assert_eq!(view.dimensions(), want.dimensions(), "orientation {orientation}");
            for (x, y, p) in want.enumerate_pixels() {
                assert_eq!(view.get_pixel(x, y), *p, "orientation {orientation} at {x},{y}");
            }
        }
    }

    /// A region of the image as seen covers the same pixels of the stored image.
    #[test]
    fn a_region_maps_to_the_same_pixels() {
        let img = RgbImage::from_fn(40, 20, |x, y| Rgb([x as u8, y as u8, 0]));
        let roi = Roi { x: 0.25, y: 0.5, width: 0.5, height: 0.25 };
        for orientation in 1..=8 {
            let view = Oriented::new(&img, orientation);
            let (w, h) = view.dimensions();
            let (x0, y0, x1, y1) = roi.pixels(w, h);
            let mut seen: Vec<_> =
                (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).map(|(x, y)| view.get_pixel(x, y)).collect();
            let src = view.source_roi(roi);
            let (sx0, sy0, sx1, sy1) = src.pixels(40, 20);
            let mut stored: Vec<_> =
                (sy0..sy1).flat_map(|y| (sx0..sx1).map(move |x| (x, y))).map(|(x, y)| *img.get_pixel(x, y)).collect();
            seen.sort_by_key(|p| p.0);
            stored.sort_by_key(|p| p.0);
            assert_eq!(seen, stored, "orientation {orientation}");
        }
    }
}
