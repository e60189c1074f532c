//! Turning an uploaded image into what we keep: the type is sniffed from the bytes (JPEG or
//! PNG only), the pixel count and the memory decoding needs are bounded before decoding, EXIF
//! orientation is applied, and the image is re-encoded, which leaves every metadata block (GPS
//! included) behind. The capture
//! time is read from EXIF first, for the database.

use std::io::Cursor;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use image::{GenericImageView, ImageFormat, Rgb, codecs::jpeg::JpegEncoder};
use sha2::{Digest, Sha256};

use super::{decode, orient::Oriented};
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
    #[error("decoding the image needs {} MiB; at most {} MiB are allowed", .0 >> 20, .1 >> 20)]
    TooMuchMemory(u64, u64),
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

fn jpeg(image: &impl GenericImageView<Pixel = Rgb<u8>>, quality: u8) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(|e| MediaError::Corrupt(e.to_string()))?;
    Ok(out)
}

/// The bounds an upload is processed within.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Pixels at most.
    pub max_pixels: u64,
    /// Bytes an image may hold while it is decoded: the upload and the decoder's peak.
    pub max_decode_bytes: u64,
}

/// Processes one upload (CPU-heavy: call off the async threads). The image is decoded once, to
/// 8-bit RGB, after its cost is checked against `bounds`; orientation is applied as the JPEG and
/// the thumbnail are made, not by copying.
pub fn process(bytes: &[u8], bounds: Bounds, roi: Roi, tz: Tz) -> Result<Processed, MediaError> {
    let format = image::guess_format(bytes).map_err(|_| MediaError::Unsupported)?;
    let plan = match format {
        ImageFormat::Jpeg => decode::plan_jpeg(bytes)?,
        ImageFormat::Png => decode::plan_png(bytes, bounds.max_decode_bytes)?,
        _ => return Err(MediaError::Unsupported),
    };
    let pixels = u64::from(plan.width) * u64::from(plan.height);
    if pixels > bounds.max_pixels {
        return Err(MediaError::TooManyPixels(pixels, bounds.max_pixels));
    }
    // The upload itself is held while it is decoded: it counts too.
    let needed = plan.peak_bytes.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
    if needed > bounds.max_decode_bytes {
        return Err(MediaError::TooMuchMemory(needed, bounds.max_decode_bytes));
    }
    let rgb = plan.decode()?;
    let (orientation, captured_at) = exif_facts(bytes, tz);
    let seen = Oriented::new(&rgb, orientation);
    let (width, height) = seen.dimensions();
    let a_star = mean_a_star(rgb.as_raw(), rgb.width(), rgb.height(), seen.source_roi(roi)).unwrap_or(0.0);
    let full_jpeg = jpeg(&seen, 90)?;
    let scale = f64::from(THUMB_EDGE) / f64::from(width.max(height));
    let (tw, th) = if scale < 1.0 {
        (((f64::from(width) * scale).round() as u32).max(1), ((f64::from(height) * scale).round() as u32).max(1))
    } else {
        (width, height)
    };
    let thumb_jpeg = jpeg(&image::imageops::thumbnail(&seen, tw, th), 80)?;
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
    use image::{DynamicImage, RgbImage};

    fn bounds(max_pixels: u64) -> Bounds {
        Bounds { max_pixels, max_decode_bytes: 1 << 30 }
    }

    fn png(w: u32, h: u32, colour: [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb(colour));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn a_png_is_re_encoded_as_jpeg_with_a_thumbnail_and_its_redness() {
        let p = process(&png(800, 400, [200, 60, 60]), bounds(1_000_000), Roi::WHOLE, Tz::UTC).unwrap();
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
        assert_eq!(process(b"GIF89a....", bounds(1000), Roi::WHOLE, Tz::UTC).err(), Some(MediaError::Unsupported));
        assert_eq!(process(b"%PDF-1.7", bounds(1000), Roi::WHOLE, Tz::UTC).err(), Some(MediaError::Unsupported));
        assert_eq!(
            process(&png(100, 100, [0, 0, 0]), bounds(9_999), Roi::WHOLE, Tz::UTC).err(),
            Some(MediaError::TooManyPixels(10_000, 9_999))
        );
        let mut truncated = png(100, 100, [1, 2, 3]);
        truncated.truncate(60);
        assert!(matches!(process(&truncated, bounds(1_000_000), Roi::WHOLE, Tz::UTC), Err(MediaError::Corrupt(_))));
    }
}
