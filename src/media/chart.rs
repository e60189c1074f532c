//! Progress charts: one panel per scale (and rater) over time, sessions marked as vertical
//! lines; SVG or PNG, with a font compiled into the binary (no system fonts needed).

use std::sync::Once;

use chrono::{DateTime, Duration, Utc};
use plotters::{
    coord::Shift,
    prelude::*,
    style::{FontStyle, register_font},
};

use crate::{domain::scales::Direction, services::scores::ProgressView};

const WIDTH: u32 = 900;
const PANEL: u32 = 220;
const FONT: &str = "sans-serif";

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT).is_err() {
            tracing::error!("chart font did not load");
        }
    });
}

/// Chart size for a progress view.
pub fn size(p: &ProgressView) -> (u32, u32) {
    (WIDTH, PANEL * u32::try_from(p.scales.len().max(1)).unwrap_or(1) + 40)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, p: &ProgressView) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (title, body) = root.split_vertically(40);
    title.draw_text("Progress by scale", &(FONT, 22).into_text_style(&title), (12, 10)).map_err(|e| e.to_string())?;
    if p.scales.is_empty() {
        body.draw_text("No scores yet", &(FONT, 18).into_text_style(&body), (12, 20)).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let times =
        p.scales.iter().flat_map(|s| s.series.iter().map(|pt| pt.at)).chain(p.sessions.iter().map(|s| s.performed_at));
    let (start, end) = times.fold((None::<DateTime<Utc>>, None::<DateTime<Utc>>), |(lo, hi), t| {
        (Some(lo.map_or(t, |l| l.min(t))), Some(hi.map_or(t, |h| h.max(t))))
    });
    let start = start.unwrap_or_else(Utc::now) - Duration::days(2);
    let end = end.unwrap_or_else(Utc::now) + Duration::days(2);
    let days = |t: DateTime<Utc>| (t - start).num_minutes() as f64 / 1440.0;
    let span = days(end);
    let panels = body.split_evenly((p.scales.len(), 1));
    for (panel, scale) in panels.iter().zip(&p.scales) {
        let caption = format!(
            "{} ({}, {})",
            scale.name,
            crate::domain::wire_name(scale.rater),
            match scale.direction {
                Direction::LowerIsBetter => "lower is better",
                Direction::HigherIsBetter => "higher is better",
            }
        );
        let values = scale.series.iter().map(|pt| pt.value);
        let (lo, hi) = values.fold((scale.min, scale.max), |(l, h), v| (l.min(v), h.max(v)));
        let (lo, hi) = if scale.scale == "erythema_a_star" {
            let vals: Vec<f64> = scale.series.iter().map(|pt| pt.value).collect();
            let (l, h) = vals.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            (l - 2.0, h + 2.0)
        } else {
            (lo, hi)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, (FONT, 16))
            .margin(8)
            .margin_right(32)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..span, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|d| (start + Duration::minutes((*d * 1440.0) as i64)).format("%d %b").to_string())
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        for s in &p.sessions {
            let x = days(s.performed_at);
            chart
                .draw_series(LineSeries::new(vec![(x, lo), (x, hi)], RGBColor(200, 120, 40).stroke_width(1)))
                .map_err(|e| e.to_string())?;
        }
        let points: Vec<(f64, f64)> = scale.series.iter().map(|pt| (days(pt.at), pt.value)).collect();
        chart.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2))).map_err(|e| e.to_string())?;
        chart
            .draw_series(points.iter().map(|(x, y)| Circle::new((*x, *y), 4, BLUE.filled())))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

pub fn svg(p: &ProgressView) -> Result<String, String> {
    fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(p)).into_drawing_area();
        draw(root, p)?;
    }
    Ok(out)
}

pub fn png(p: &ProgressView) -> Result<Vec<u8>, String> {
    fonts();
    let (w, h) = size(p);
    let mut rgb = vec![0u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(root, p)?;
    }
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or("bad buffer")?;
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
