//! Turning an uploaded image into what we keep: the type is sniffed from the bytes (JPEG or
//! PNG only), the pixel count is bounded before decoding, EXIF orientation is applied, and the
//! image is re-encoded, which leaves every metadata block (GPS included) behind. The capture
//! time is read from EXIF first, for the database.

use std::io::Cursor;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use image::{DynamicImage, ImageFormat, ImageReader, RgbImage, codecs::jpeg::JpegEncoder, imageops::FilterType};
use sha2::{Digest, Sha256};

use crate::domain::{
    erythema::{Roi, mean_a_star},
    protocol::resolve_local,
};

pub const THUMB_EDGE: u32 = 320;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("only JPEG and PNG images are accepted")]
    Unsupported,
    #[error("the image has {0} pixels; at most {1} are accepted")]
    TooManyPixels(u64, u64),
    #[error("the image could not be decoded: {0}")]
    Corrupt(String),
}

/// What is stored for one upload.
pub struct Processed {
    pub full_jpeg: Vec<u8>,
    pub thumb_jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// SHA-256 (hex) of the uploaded bytes.
    pub sha256: String,
    /// From EXIF `DateTimeOriginal`, in the patient's zone when it carries no offset.
    pub captured_at: Option<DateTime<Utc>>,
    pub a_star: f64,
}

/// Reads EXIF orientation (1–8) and capture time, if any.
fn exif_facts(bytes: &[u8], tz: Tz) -> (u32, Option<DateTime<Utc>>) {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) else { return (1, None) };
    let orientation = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1);
    let captured = exif.get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY).and_then(|f| match &f.value {
        exif::Value::Ascii(parts) => parts.first().and_then(|p| exif::DateTime::from_ascii(p).ok()),
        _ => None,
    });
    let captured = captured.and_then(|d| {
        let local = NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?.and_hms_opt(
            u32::from(d.hour),
            u32::from(d.minute),
            u32::from(d.second),
        )?;
        Some(match d.offset {
            Some(minutes) => local.and_utc() - chrono::Duration::minutes(i64::from(minutes)),
            None => resolve_local(tz, local),
        })
    });
    (orientation, captured)
}

fn orient(img: DynamicImage, orientation: u32) -> DynamicImage {
    match orientation {
        2 => img.fliph(),
        3 => img.rotate180(),
        4 => img.flipv(),
        5 => img.rotate90().fliph(),
        6 => img.rotate90(),
        7 => img.rotate270().fliph(),
        8 => img.rotate270(),
        _ => img,
    }
}

fn jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(rgb)
        .map_err(|e| MediaError::Corrupt(e.to_string()))?;
    Ok(out)
}

/// Processes one upload (CPU-heavy: call off the async threads).
pub fn process(bytes: &[u8], max_pixels: u64, roi: Roi, tz: Tz) -> Result<Processed, MediaError> {
    let format = image::guess_format(bytes).map_err(|_| MediaError::Unsupported)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(MediaError::Unsupported);
    }
    let (w, h) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| MediaError::Corrupt(e.to_string()))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(MediaError::TooManyPixels(pixels, max_pixels));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| MediaError::Corrupt(e.to_string()))?;
    let (orientation, captured_at) = exif_facts(bytes, tz);
    // One full-size RGB buffer from here on: consumed, not copied, and encoded by reference.
    let rgb = orient(decoded, orientation).into_rgb8();
    let (width, height) = rgb.dimensions();
    let a_star = mean_a_star(rgb.as_raw(), width, height, roi).unwrap_or(0.0);
    let full_jpeg = jpeg(&rgb, 90)?;
    let scale = f64::from(THUMB_EDGE) / f64::from(width.max(height));
    let (tw, th) = if scale < 1.0 {
        (((f64::from(width) * scale).round() as u32).max(1), ((f64::from(height) * scale).round() as u32).max(1))
    } else {
        (width, height)
    };
    let thumb_jpeg = jpeg(&image::imageops::resize(&rgb, tw, th, FilterType::Triangle), 80)?;
    Ok(Processed {
        full_jpeg,
        thumb_jpeg,
        width,
        height,
        sha256: hex::encode(Sha256::digest(bytes)),
        captured_at,
        a_star,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn png(w: u32, h: u32, colour: [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb(colour));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn a_png_is_re_encoded_as_jpeg_with_a_thumbnail_and_its_redness() {
        let p = process(&png(800, 400, [200, 60, 60]), 1_000_000, Roi::WHOLE, Tz::UTC).unwrap();
        assert_eq!((p.width, p.height), (800, 400));
        assert_eq!(&p.full_jpeg[..2], &[0xFF, 0xD8]);
        let thumb = image::load_from_memory(&p.thumb_jpeg).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
        assert!(p.a_star > 40.0, "{}", p.a_star);
        assert_eq!(p.sha256.len(), 64);
        assert_eq!(p.captured_at, None);
    }

    #[test]
    fn other_formats_and_oversized_images_are_refused_before_decoding() {
        assert_eq!(process(b"GIF89a....", 1000, Roi::WHOLE, Tz::UTC).err(), Some(MediaError::Unsupported));
        assert_eq!(process(b"%PDF-1.7", 1000, Roi::WHOLE, Tz::UTC).err(), Some(MediaError::Unsupported));
        assert_eq!(
            process(&png(100, 100, [0, 0, 0]), 9_999, Roi::WHOLE, Tz::UTC).err(),
            Some(MediaError::TooManyPixels(10_000, 9_999))
        );
        let mut truncated = png(100, 100, [1, 2, 3]);
        truncated.truncate(60);
        assert!(matches!(process(&truncated, 1_000_000, Roi::WHOLE, Tz::UTC), Err(MediaError::Corrupt(_))));
    }
}
