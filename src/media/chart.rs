//! Progress charts: one panel per scale (and rater) over time, each with a legend, axis titles
//! with the scale's range or unit, whole-number ticks for whole-number scales, and the treatment
//! sessions as labelled vertical lines ("Session 1", …). SVG (accessible: `role="img"`, `<title>`
//! and a `<desc>` that says in words what the chart shows) or PNG, with a font compiled into the
//! binary (no system fonts needed).
//!
//! PNG text: plotters' ab_glyph renderer places each glyph at the pen position without the
//! glyph's left side bearing, so narrow letters drift and words read "bet ter", "satisf action".
//! [`GlyphText`] wraps the bitmap backend and draws text itself, with the bearings, and
//! otherwise delegates every call.

use std::sync::{LazyLock, Once};

use ab_glyph::{Font, FontRef, ScaleFont};
use chrono::{DateTime, Duration, Utc};
use plotters::{
    coord::Shift,
    prelude::*,
    style::{FontStyle, register_font},
};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
    text_anchor::{HPos, VPos},
};

use crate::domain::scales::{Direction, Rater, builtin};

/// What a chart shows: a panel per scale, and the treatment sessions to mark on each.
#[derive(Debug, Clone)]
pub struct Progress {
    pub scales: Vec<Panel>,
    pub sessions: Vec<SessionMark>,
}

/// One scale's scores over time.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The scale's code (`gais`, `erythema_a_star`, …).
    pub scale: String,
    pub name: String,
    pub rater: Rater,
    pub direction: Direction,
    pub min: f64,
    pub max: f64,
    pub series: Vec<Point>,
    /// Whether the latest score is better than the first (by the scale's direction).
    pub improved: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct SessionMark {
    pub performed_at: DateTime<Utc>,
}

const WIDTH: u32 = 900;
const PANEL: u32 = 240;
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = epaint_default_fonts::UBUNTU_LIGHT;
const SESSION: RGBColor = RGBColor(200, 110, 30);
const SCORE: RGBColor = RGBColor(30, 90, 180);

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            tracing::error!("chart font did not load");
        }
    });
}

/// Chart size for a progress view.
pub fn size(p: &Progress) -> (u32, u32) {
    (WIDTH, PANEL * u32::try_from(p.scales.len().max(1)).unwrap_or(1) + 40)
}

fn rater(scale: &Panel) -> String {
    crate::domain::wire_name(scale.rater)
}

/// Whether the scale takes whole numbers only.
fn integer_scale(code: &str) -> bool {
    builtin().iter().find(|d| d.code == code).is_some_and(|d| d.integer)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// The y-axis title: what the number is, with the scale's range or unit.
fn y_title(scale: &Panel) -> String {
    if scale.scale == "erythema_a_star" {
        "a* (CIELAB, redder is higher)".to_owned()
    } else {
        format!("Score ({} to {})", number(scale.min), number(scale.max))
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::LowerIsBetter => "lower is better",
        Direction::HigherIsBetter => "higher is better",
    }
}

/// What the chart shows, in words: the `<desc>` of the SVG.
pub fn describe(p: &Progress) -> String {
    if p.scales.is_empty() {
        return "No scores have been recorded yet.".to_owned();
    }
    let day = |t: DateTime<Utc>| t.format("%-d %b %Y").to_string();
    let mut parts: Vec<String> = p
        .scales
        .iter()
        .map(|s| {
            let first = s.series.first();
            let last = s.series.last();
            let mut line = format!("{} rated by the {} ({})", s.name, rater(s), direction(s.direction));
            if let (Some(a), Some(b)) = (first, last) {
                line.push_str(&format!(
                    ": {} scores, from {} on {} to {} on {}",
                    s.series.len(),
                    number(a.value),
                    day(a.at),
                    number(b.value),
                    day(b.at)
                ));
                if s.series.len() > 1 {
                    line.push_str(if s.improved { ", improved" } else { ", not improved" });
                }
            }
            line
        })
        .collect();
    if !p.sessions.is_empty() {
        let dates: Vec<String> = p
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| format!("session {} on {}", i + 1, day(s.performed_at)))
            .collect();
        parts.push(format!("Treatment: {}", dates.join(", ")));
    }
    format!("{}.", parts.join(". "))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, p: &Progress) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (title, body) = root.split_vertically(40);
    title.draw_text("Progress by scale", &(FONT, 22).into_text_style(&title), (12, 10)).map_err(|e| e.to_string())?;
    if p.scales.is_empty() {
        body.draw_text("No scores yet", &(FONT, 18).into_text_style(&body), (12, 20)).map_err(|e| e.to_string())?;
        return root.present().map_err(|e| e.to_string());
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
        let caption = format!("{}, rated by the {} ({})", scale.name, rater(scale), direction(scale.direction));
        let whole = integer_scale(&scale.scale);
        let (lo, hi) = if scale.scale == "erythema_a_star" {
            let (l, h) =
                scale.series.iter().fold((f64::MAX, f64::MIN), |(l, h), pt| (l.min(pt.value), h.max(pt.value)));
            if l <= h { ((l - 2.0).floor(), (h + 2.0).ceil()) } else { (scale.min, scale.max) }
        } else {
            let (l, h) =
                scale.series.iter().fold((scale.min, scale.max), |(l, h), pt| (l.min(pt.value), h.max(pt.value)));
            // Half a step of room so points on the scale's ends are not cut by the frame.
            if whole { (l - 0.5, h + 0.5) } else { (l, h) }
        };
        // Whole-number scales: a tick per value up to 10 values, else about 8 whole ticks.
        let steps = (hi - lo).round().max(1.0) as usize;
        let y_labels = if whole { steps.min(10) + 1 } else { 6 };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, (FONT, 16))
            .margin(8)
            .margin_right(32)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..span, lo..hi)
            .map_err(|e| e.to_string())?;
        let whole_only = |v: &f64| if (v - v.round()).abs() < 1e-6 { format!("{v:.0}") } else { String::new() };
        let decimal = |v: &f64| number((v * 10.0).round() / 10.0);
        let y_format: &dyn Fn(&f64) -> String = if whole { &whole_only } else { &decimal };
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(y_labels)
            .x_label_formatter(&|d| (start + Duration::minutes((*d * 1440.0) as i64)).format("%-d %b").to_string())
            .y_label_formatter(y_format)
            .x_desc("Date")
            .y_desc(y_title(scale))
            .axis_desc_style((FONT, 13))
            .label_style((FONT, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, s) in p.sessions.iter().enumerate() {
            let x = days(s.performed_at);
            let line = chart
                .draw_series(LineSeries::new(vec![(x, lo), (x, hi)], Color::stroke_width(&SESSION, 1)))
                .map_err(|e| e.to_string())?;
            if i == 0 {
                line.label("Treatment session")
                    .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], SESSION));
            }
            let label = format!("Session {}", i + 1);
            chart
                .draw_series(std::iter::once(Text::new(label, (x, hi), (FONT, 12).into_font().color(&SESSION))))
                .map_err(|e| e.to_string())?;
        }
        let points: Vec<(f64, f64)> = scale.series.iter().map(|pt| (days(pt.at), pt.value)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), Color::stroke_width(&SCORE, 2)))
            .map_err(|e| e.to_string())?
            .label(format!("{} score ({})", capitalised(&rater(scale)), direction(scale.direction)))
            .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], Color::stroke_width(&SCORE, 2)));
        chart
            .draw_series(points.iter().map(|(x, y)| Circle::new((*x, *y), 4, SCORE.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The chart as an accessible SVG: `role="img"`, labelled by its `<title>` and `<desc>`.
pub fn svg(p: &Progress) -> Result<String, String> {
    fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(p)).into_drawing_area();
        draw(root, p)?;
    }
    let open = out.find("<svg").ok_or("no <svg> element")?;
    let close = open + out[open..].find('>').ok_or("unterminated <svg> element")?;
    let head = format!(
        " role=\"img\" aria-labelledby=\"chart-title chart-desc\"><title id=\"chart-title\">Progress by scale</title><desc id=\"chart-desc\">{}</desc>",
        xml_escape(&describe(p))
    );
    out.replace_range(close..=close, &head);
    Ok(out)
}

pub fn png(p: &Progress) -> Result<Vec<u8>, String> {
    fonts();
    let (w, h) = size(p);
    let mut rgb = vec![0u8; (w as usize) * (h as usize) * 3];
    {
        let root = GlyphText(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        draw(root, p)?;
    }
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or("bad buffer")?;
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

static GLYPHS: LazyLock<Option<FontRef<'static>>> = LazyLock::new(|| FontRef::try_from_slice(FONT_BYTES).ok());

/// Each covered pixel of `text` at `size` px: (x, y, coverage), with x from the pen's start
/// and y as plotters places it (so the layout boxes plotters computes still fit).
fn glyph_pixels(font: &FontRef<'static>, size: f32, text: &str, mut put: impl FnMut(i32, i32, f32)) {
    let scaled = font.as_scaled(size);
    let mut caret = 0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(size, ab_glyph::point(caret, 0.0));
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            // The bearing plotters leaves out: `bounds.min.x` is where the glyph's ink starts.
            let (x0, y0) = (bounds.min.x as i32, (size / 2.0 + bounds.min.y) as i32);
            outline.draw(|x, y, coverage| put(x0 + x as i32, y0 + y as i32, coverage));
        }
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
}

/// A backend that draws text with [`glyph_pixels`] and hands everything else to `B`.
struct GlyphText<B>(B);

impl<B: DrawingBackend> DrawingBackend for GlyphText<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    /// plotters' own placement (anchor, rotation, layout box), with our glyph pixels.
    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let Some(font) = GLYPHS.as_ref() else { return self.0.draw_text(text, style, pos) };
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) =
            style.layout_box(text).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        let mut pixels = Vec::new();
        glyph_pixels(font, style.size() as f32, text, |x, y, coverage| pixels.push((x, y, coverage)));
        for (x, y, coverage) in pixels {
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 && coverage > 0.0 {
                let alpha = color.alpha * f64::from(coverage.min(1.0));
                self.0.draw_pixel((x, y), BackendColor { alpha, rgb: color.rgb })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T09:00:00Z")).map(|t| t.to_utc()).unwrap_or_default()
    }

    fn view() -> Progress {
        let point = |day, value| Point { at: at(day), value };
        Progress {
            scales: vec![Panel {
                scale: "gais".into(),
                name: "Global Aesthetic Improvement Scale".into(),
                rater: Rater::Clinician,
                direction: Direction::LowerIsBetter,
                min: 1.0,
                max: 5.0,
                series: vec![point(2, 4.0), point(16, 3.0), point(30, 2.0)],
                improved: true,
            }],
            sessions: vec![SessionMark { performed_at: at(2) }, SessionMark { performed_at: at(16) }],
        }
    }

    #[test]
    fn the_svg_is_labelled_for_screen_readers_and_has_a_legend_and_session_labels() {
        let svg = svg(&view()).unwrap_or_default();
        let root = &svg[..svg.find("</desc>").unwrap_or(0)];
        assert!(
            root.contains(r#"role="img""#) && root.contains(r#"aria-labelledby="chart-title chart-desc""#),
            "{root}"
        );
        assert!(root.contains("<title id=\"chart-title\">Progress by scale</title>"), "{root}");
        assert!(
            root.contains("Global Aesthetic Improvement Scale rated by the clinician (lower is better): 3 scores, from 4 on 2 Mar 2026 to 2 on 30 Mar 2026, improved"),
            "{root}"
        );
        assert!(root.contains("session 2 on 16 Mar 2026"), "{root}");
        for words in ["Treatment session", "Clinician score", "Session 1", "Session 2", "Score (1 to 5)", "Date"] {
            assert!(svg.contains(words), "{words} is drawn");
        }
        // Whole-number ticks only on a whole-number scale.
        assert!(!svg.contains(">2.5<") && !svg.contains(">1.5<"), "no half ticks");
    }

    #[test]
    fn png_text_keeps_each_glyphs_bearing() {
        let Some(font) = GLYPHS.as_ref() else { return };
        // The first ink column of each letter of "better", drawn alone and within the word:
        // with the bearing, "t" starts inside its advance, right after "e"'s ink ends.
        let columns = |text: &str| {
            let mut xs = std::collections::BTreeSet::new();
            glyph_pixels(font, 16.0, text, |x, _, c| {
                if c > 0.3 {
                    xs.insert(x);
                }
            });
            xs
        };
        let word = columns("better");
        let gaps = word.iter().zip(word.iter().skip(1)).filter(|(a, b)| **b - **a > 3).count();
        assert_eq!(gaps, 0, "no column gap wider than 3 px inside a word: {word:?}");
        let png = png(&view()).unwrap_or_default();
        assert!(image::load_from_memory(&png).is_ok());
    }
}
