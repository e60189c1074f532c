//! Objective redness from a photo: mean CIELAB a* (sRGB, D65) over a region of interest. Lighting
//! changes it, so it is reported against the patient's own baseline; the algorithm version and
//! region are stored with every value.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Mean a* over the region, sampled on a regular grid of at most [`MAX_SAMPLES`] points.
pub const ALGORITHM: &str = "cielab-a-mean-v1";

/// Larger regions are sampled every n-th pixel in both directions (a 12 MP photo: every 3rd,
/// 1.3 million points): the mean is the same to well under 0.1 a*, at a ninth of the cost.
pub const MAX_SAMPLES: u64 = 2_000_000;

/// A region as fractions of the image (0–1), so it survives resizing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Roi {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Roi {
    pub const WHOLE: Roi = Roi { x: 0.0, y: 0.0, width: 1.0, height: 1.0 };

    pub fn check(&self) -> Result<(), String> {
        let ok = [self.x, self.y, self.width, self.height].iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v))
            && self.width > 0.0
            && self.height > 0.0
            && self.x + self.width <= 1.0 + 1e-9
            && self.y + self.height <= 1.0 + 1e-9;
        if ok { Ok(()) } else { Err("must be fractions 0–1 with x+width ≤ 1 and y+height ≤ 1".into()) }
    }

    /// Pixel bounds (x0, y0, x1, y1) within a `w`×`h` image; at least one pixel.
    pub fn pixels(&self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        let clamp = |v: f64, max: u32| (v * f64::from(max)).round().clamp(0.0, f64::from(max)) as u32;
        let (x0, y0) = (clamp(self.x, w).min(w.saturating_sub(1)), clamp(self.y, h).min(h.saturating_sub(1)));
        let (x1, y1) = (clamp(self.x + self.width, w).max(x0 + 1), clamp(self.y + self.height, h).max(y0 + 1));
        (x0, y0, x1.min(w), y1.min(h))
    }
}

/// sRGB 8-bit → linear light, as a lookup table.
fn linear_lut() -> [f64; 256] {
    let mut lut = [0.0; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        let c = i as f64 / 255.0;
        *v = if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    }
    lut
}

fn lab_f(t: f64) -> f64 {
    const D: f64 = 6.0 / 29.0;
    if t > D * D * D { t.cbrt() } else { t / (3.0 * D * D) + 4.0 / 29.0 }
}

/// a* of one sRGB pixel (D65 white).
pub fn a_star(r: u8, g: u8, b: u8) -> f64 {
    let lut = linear_lut();
    a_star_linear(lut[r as usize], lut[g as usize], lut[b as usize])
}

fn a_star_linear(r: f64, g: f64, b: f64) -> f64 {
    // sRGB → XYZ (D65), normalised by the white point.
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b;
    500.0 * (lab_f(x) - lab_f(y))
}

/// Mean a* over `roi` of an RGB8 buffer `w`×`h`.
pub fn mean_a_star(rgb: &[u8], w: u32, h: u32, roi: Roi) -> Option<f64> {
    if w == 0 || h == 0 || rgb.len() < (w as usize) * (h as usize) * 3 {
        return None;
    }
    let lut = linear_lut();
    let (x0, y0, x1, y1) = roi.pixels(w, h);
    let area = u64::from(x1 - x0) * u64::from(y1 - y0);
    let step = ((area as f64 / MAX_SAMPLES as f64).sqrt().ceil() as usize).max(1);
    let (mut sum, mut n) = (0.0, 0u64);
    for y in (y0..y1).step_by(step) {
        let row = (y as usize) * (w as usize) * 3;
        for x in (x0..x1).step_by(step) {
            let i = row + (x as usize) * 3;
            sum += a_star_linear(lut[rgb[i] as usize], lut[rgb[i + 1] as usize], lut[rgb[i + 2] as usize]);
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_matches_reference_values() {
        // Reference CIELAB (D65) values: white a*=0, pure red a*≈80.1, pure green a*≈-86.2.
        assert!(a_star(255, 255, 255).abs() < 0.01);
        assert!(a_star(128, 128, 128).abs() < 0.01);
        assert!((a_star(255, 0, 0) - 80.11).abs() < 0.1, "{}", a_star(255, 0, 0));
        assert!((a_star(0, 255, 0) + 86.18).abs() < 0.1, "{}", a_star(0, 255, 0));
        // A skin tone and a redder one.
        assert!(a_star(224, 172, 150) < a_star(224, 140, 130));
    }

    #[test]
    fn the_mean_respects_the_region() {
        // Left half red, right half white.
        let (w, h) = (4u32, 2u32);
        let mut rgb = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                rgb.extend(if x < 2 { [255, 0, 0] } else { [255, 255, 255] });
            }
        }
        let left = mean_a_star(&rgb, w, h, Roi { x: 0.0, y: 0.0, width: 0.5, height: 1.0 }).unwrap();
        let right = mean_a_star(&rgb, w, h, Roi { x: 0.5, y: 0.0, width: 0.5, height: 1.0 }).unwrap();
        let all = mean_a_star(&rgb, w, h, Roi::WHOLE).unwrap();
        assert!((left - 80.11).abs() < 0.1 && right.abs() < 0.01);
        assert!((all - 40.05).abs() < 0.1);
    }

    #[test]
    fn large_regions_are_sampled_without_changing_the_mean() {
        // 3000×1000 with a smooth gradient in red: sampled (every 2nd) vs every pixel.
        let (w, h) = (3000u32, 1000u32);
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                rgb.extend([(150 + (x * 100 / w)) as u8, (120 + (y * 40 / h)) as u8, 110]);
            }
        }
        let sampled = mean_a_star(&rgb, w, h, Roi::WHOLE).unwrap();
        let lut = linear_lut();
        let exact: f64 = rgb
            .chunks(3)
            .map(|p| a_star_linear(lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]))
            .sum::<f64>()
            / f64::from(w * h);
        assert!((sampled - exact).abs() < 0.05, "{sampled} vs {exact}");
    }

    #[test]
    fn regions_are_checked() {
        assert!(Roi::WHOLE.check().is_ok());
        assert!(Roi { x: 0.6, y: 0.0, width: 0.5, height: 1.0 }.check().is_err());
        assert!(Roi { x: 0.0, y: 0.0, width: 0.0, height: 1.0 }.check().is_err());
        assert!(Roi { x: f64::NAN, y: 0.0, width: 0.5, height: 1.0 }.check().is_err());
        assert_eq!(Roi { x: 0.99, y: 0.99, width: 0.01, height: 0.01 }.pixels(10, 10), (9, 9, 10, 10));
    }
}
