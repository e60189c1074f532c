//! Decoding an upload into the one 8-bit RGB buffer everything else is made from, within a
//! memory budget known before any pixel is decoded. A 16-bit PNG is reduced to 8 bits row by
//! row as it is decoded (never held at 16 bits and converted with a second full copy), a JPEG is
//! decoded straight to RGB, and what the decoder would hold at its peak (the output, a
//! progressive JPEG's coefficients, a grey image's expansion) is priced from the headers and
//! refused above the budget.

use std::io::Cursor;

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage};
use zune_jpeg::{
    JpegDecoder,
    zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions},
};

use super::process::MediaError;

/// An image whose decoding has been priced and may go ahead (the decoders are boxed: zune's
/// carries its tables inline, about 29 KB).
pub enum Planned<'a> {
    Png(Box<png::Reader<Cursor<&'a [u8]>>>),
    Jpeg(Box<JpegDecoder<ZCursor<&'a [u8]>>>),
}

/// What decoding will cost, and how to do it.
pub struct Plan<'a> {
    pub width: u32,
    pub height: u32,
    /// Bytes held at the peak of decoding.
    pub peak_bytes: u64,
    pub decoder: Planned<'a>,
}

fn corrupt(e: impl std::fmt::Display) -> MediaError {
    MediaError::Corrupt(e.to_string())
}

/// Reads the headers of a PNG and prices its 8-bit decoding.
pub fn plan_png(bytes: &[u8], budget: u64) -> Result<Plan<'_>, MediaError> {
    let limits = png::Limits { bytes: usize::try_from(budget).unwrap_or(usize::MAX) };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let reader = decoder.read_info().map_err(corrupt)?;
    let (width, height) = (reader.info().width, reader.info().height);
    let pixels = u64::from(width) * u64::from(height);
    let channels = u64::try_from(reader.output_color_type().0.samples()).unwrap_or(4);
    // Grey (with or without alpha) is expanded into a second, RGB buffer; RGBA is packed in place.
    let expansion = if channels < 3 { 3 * pixels } else { 0 };
    Ok(Plan { width, height, peak_bytes: channels * pixels + expansion, decoder: Planned::Png(Box::new(reader)) })
}

/// Reads the headers of a JPEG and prices its decoding to RGB.
pub fn plan_jpeg(bytes: &[u8]) -> Result<Plan<'_>, MediaError> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB).set_strict_mode(false);
    let mut decoder = Box::new(JpegDecoder::new_with_options(ZCursor::new(bytes), options));
    decoder.decode_headers().map_err(corrupt)?;
    let info = decoder.info().ok_or_else(|| corrupt("no JPEG header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let pixels = u64::from(width) * u64::from(height);
    // A progressive JPEG keeps every coefficient (16 bits per sample) until its last scan.
    let coefficients = if info.sof.is_progressive() { 2 * u64::from(info.components) * pixels } else { 0 };
    Ok(Plan { width, height, peak_bytes: 3 * pixels + coefficients, decoder: Planned::Jpeg(decoder) })
}

impl Plan<'_> {
    /// Decodes to 8-bit RGB (CPU-heavy: call off the async threads).
    pub fn decode(self) -> Result<RgbImage, MediaError> {
        let (w, h) = (self.width, self.height);
        match self.decoder {
            Planned::Jpeg(mut decoder) => {
                let size = decoder.output_buffer_size().ok_or_else(|| corrupt("no JPEG header"))?;
                let mut buf = vec![0u8; size];
                decoder.decode_into(&mut buf).map_err(corrupt)?;
                RgbImage::from_raw(w, h, buf).ok_or_else(|| corrupt("JPEG size mismatch"))
            }
            Planned::Png(mut reader) => {
                let size = reader.output_buffer_size().ok_or_else(|| corrupt("PNG too large"))?;
                let mut buf = vec![0u8; size];
                let frame = reader.next_frame(&mut buf).map_err(corrupt)?;
                buf.truncate(frame.buffer_size());
                to_rgb(frame.color_type, w, h, buf)
            }
        }
    }
}

/// An 8-bit PNG frame as RGB: RGB as is, RGBA packed in place, grey expanded.
fn to_rgb(color: png::ColorType, w: u32, h: u32, mut buf: Vec<u8>) -> Result<RgbImage, MediaError> {
    let mismatch = || corrupt("PNG size mismatch");
    match color {
        png::ColorType::Rgb => RgbImage::from_raw(w, h, buf).ok_or_else(mismatch),
        png::ColorType::Rgba => {
            let pixels = buf.len() / 4;
            for i in 0..pixels {
                buf.copy_within(i * 4..i * 4 + 3, i * 3);
            }
            buf.truncate(pixels * 3);
            RgbImage::from_raw(w, h, buf).ok_or_else(mismatch)
        }
        png::ColorType::Grayscale => {
            Ok(DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, buf).ok_or_else(mismatch)?).into_rgb8())
        }
        png::ColorType::GrayscaleAlpha => {
            Ok(DynamicImage::ImageLumaA8(GrayAlphaImage::from_raw(w, h, buf).ok_or_else(mismatch)?).into_rgb8())
        }
        png::ColorType::Indexed => Err(corrupt("palette not expanded")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, ImageFormat, Luma, Rgb, Rgba};

    fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format).unwrap();
        out
    }

    #[test]
    fn a_16_bit_png_is_priced_and_decoded_at_8_bits() {
        let img: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_pixel(64, 32, Rgb([0xAB00, 0x1200, 0xFFFF]));
        let bytes = encode(DynamicImage::ImageRgb16(img), ImageFormat::Png);
        let plan = plan_png(&bytes, 1 << 30).unwrap();
        assert_eq!(plan.peak_bytes, 64 * 32 * 3, "3 bytes a pixel, not 6");
        let rgb = plan.decode().unwrap();
        assert_eq!(rgb.dimensions(), (64, 32));
        assert_eq!(rgb.get_pixel(5, 5), &Rgb([0xAB, 0x12, 0xFF]));
    }

    #[test]
    fn rgba_is_packed_and_grey_expanded_and_priced_so() {
        let rgba: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_pixel(8, 4, Rgba([0x1000, 0x2000, 0x3000, 9]));
        let bytes = encode(DynamicImage::ImageRgba16(rgba), ImageFormat::Png);
        let plan = plan_png(&bytes, 1 << 30).unwrap();
        assert_eq!(plan.peak_bytes, 8 * 4 * 4);
        assert_eq!(plan.decode().unwrap().get_pixel(7, 3), &Rgb([0x10, 0x20, 0x30]));

        let grey: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_pixel(8, 4, Luma([77]));
        let bytes = encode(DynamicImage::ImageLuma8(grey.clone()), ImageFormat::Png);
        let plan = plan_png(&bytes, 1 << 30).unwrap();
        assert_eq!(plan.peak_bytes, 8 * 4 * (1 + 3));
        assert_eq!(plan.decode().unwrap().get_pixel(0, 0), &Rgb([77, 77, 77]));

        let bytes = encode(DynamicImage::ImageLuma8(grey), ImageFormat::Jpeg);
        let plan = plan_jpeg(&bytes).unwrap();
        assert_eq!(plan.peak_bytes, 8 * 4 * 3, "a grey JPEG is decoded straight to RGB");
        let p = *plan.decode().unwrap().get_pixel(3, 3);
        assert!(p.0.iter().all(|&c| c.abs_diff(77) <= 2), "{p:?}");
    }

    #[test]
    fn a_baseline_jpeg_is_priced_at_three_bytes_a_pixel() {
        let img = RgbImage::from_pixel(40, 30, Rgb([200, 100, 50]));
        let bytes = encode(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg);
        let plan = plan_jpeg(&bytes).unwrap();
        assert_eq!((plan.width, plan.height, plan.peak_bytes), (40, 30, 40 * 30 * 3));
        assert_eq!(plan.decode().unwrap().dimensions(), (40, 30));
    }
}
