//! Progress photos and scores: private uploads with their EXIF stripped, objective redness,
//! validated scales, progress and charts.

use std::io::Cursor;

use crate::helpers::{PASSWORD, TestApp, access, assert_problem, ok};
use chrono::{DateTime, Utc};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::{Response, multipart};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A solid-colour image as PNG or JPEG bytes.
pub fn image_bytes(w: u32, h: u32, colour: [u8; 3], format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(colour)))
        .write_to(&mut Cursor::new(&mut out), format)
        .unwrap();
    out
}

/// A little-endian TIFF/EXIF block: Orientation 6 (rotate 90° clockwise), a GPS latitude and
/// DateTimeOriginal 2026:03:20 10:30:00.
fn exif_block() -> Vec<u8> {
    let mut t: Vec<u8> = Vec::new();
    let u16le = |v: u16| v.to_le_bytes();
    let u32le = |v: u32| v.to_le_bytes();
    t.extend(b"II*\0");
    t.extend(u32le(8)); // IFD0 at 8
    // IFD0: 3 entries (12 bytes each) + next-IFD offset → ends at 8 + 2 + 36 + 4 = 50
    t.extend(u16le(3));
    t.extend(u16le(0x0112));
    t.extend(u16le(3));
    t.extend(u32le(1));
    t.extend(u16le(6));
    t.extend(u16le(0));
    t.extend(u16le(0x8769));
    t.extend(u16le(4));
    t.extend(u32le(1));
    t.extend(u32le(50)); // Exif IFD at 50
    t.extend(u16le(0x8825));
    t.extend(u16le(4));
    t.extend(u32le(1));
    t.extend(u32le(88)); // GPS IFD at 88
    t.extend(u32le(0));
    // Exif IFD at 50: 1 entry → ends at 50 + 2 + 12 + 4 = 68; the string (20 bytes) at 68
    t.extend(u16le(1));
    t.extend(u16le(0x9003));
    t.extend(u16le(2));
    t.extend(u32le(20));
    t.extend(u32le(68));
    t.extend(u32le(0));
    t.extend(b"2026:03:20 10:30:00\0");
    // GPS IFD at 88: GPSLatitudeRef "N" (fits inline)
    t.extend(u16le(1));
    t.extend(u16le(0x0001));
    t.extend(u16le(2));
    t.extend(u32le(2));
    t.extend(b"N\0\0\0");
    t.extend(u32le(0));
    t
}

/// A JPEG with an EXIF APP1 segment (orientation, GPS, capture time) after SOI.
pub fn jpeg_with_exif(w: u32, h: u32, colour: [u8; 3]) -> Vec<u8> {
    let plain = image_bytes(w, h, colour, ImageFormat::Jpeg);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(exif_block());
    let len = u16::try_from(app1.len() + 2).unwrap();
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(len.to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

pub async fn upload(app: &TestApp, path: &str, token: &str, bytes: Vec<u8>, meta: Value) -> Response {
    let form = multipart::Form::new()
        .part("metadata", multipart::Part::text(meta.to_string()).mime_str("application/json").unwrap())
        .part("image", multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg").unwrap());
    app.client.post(app.url(path)).bearer_auth(token).multipart(form).send().await.unwrap()
}

pub use crate::helpers::Treated as Fx;

/// The treated patient of helpers, with or without `photos` consent.
pub async fn fixture(app: &TestApp, photo_consent: bool) -> Fx {
    crate::helpers::treated_patient(app, if photo_consent { &["photos"] } else { &[] }).await
}

fn frontal_baseline() -> Value {
    json!({"view": "frontal", "time_point": "baseline", "colour_card": true})
}

#[tokio::test]
async fn an_upload_is_oriented_stripped_of_exif_and_served_only_to_its_people() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let original = jpeg_with_exif(64, 32, [210, 120, 110]);
    assert!(exif::Reader::new().read_from_container(&mut Cursor::new(&original)).is_ok(), "the fixture has EXIF");

    let p = ok(
        upload(&app, &format!("/api/v1/patients/{}/photos", fx.pid), &fx.staff, original.clone(), frontal_baseline())
            .await,
        201,
    )
    .await;
    assert_eq!((p["width"].as_i64(), p["height"].as_i64()), (Some(32), Some(64)), "orientation 6 applied");
    assert_eq!(p["taken_at"], "2026-03-20T10:30:00Z", "capture time from EXIF, in the patient's zone (GMT)");
    assert_eq!(p["view"], "frontal");
    assert_eq!(p["algorithm_version"], "cielab-a-mean-v1");
    assert!(p["a_star"].as_f64().unwrap() > 10.0);
    assert_eq!(p["a_star_change_from_baseline"], Value::Null);
    assert_eq!(p["duplicate"], false);

    let full = app.get(p["image_url"].as_str().unwrap(), Some(&fx.staff)).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "image/jpeg");
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = full.bytes().await.unwrap();
    assert!(exif::Reader::new().read_from_container(&mut Cursor::new(&bytes[..])).is_err(), "no EXIF is served");
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "no EXIF segment at all");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (32, 64));
    // The stored files hold no EXIF either.
    let stored: Vec<std::path::PathBuf> = walk(&app.data_dir().join("photos"));
    assert_eq!(stored.len(), 2, "full and thumbnail");
    for f in &stored {
        assert!(!std::fs::read(f).unwrap().windows(4).any(|w| w == b"Exif"));
    }

    let cached = app
        .client
        .get(app.url(p["image_url"].as_str().unwrap()))
        .bearer_auth(&fx.staff)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let thumb = app.get(p["thumb_url"].as_str().unwrap(), Some(&fx.patient)).await;
    assert_eq!(thumb.status(), 200, "the patient sees their own");
    assert_ne!(thumb.headers()["etag"].to_str().unwrap(), etag);

    // Nobody else does.
    app.create_admin("Other Clinic", "boss@other.example").await;
    let other = access(&app.login("boss@other.example", PASSWORD).await);
    assert_problem(app.get(p["image_url"].as_str().unwrap(), Some(&other)).await, 404, "not_found").await;
    assert_problem(app.get(p["image_url"].as_str().unwrap(), None).await, 401, "unauthenticated").await;
    let res = app
        .get(&format!("{}?size=huge", p["image_url"].as_str().unwrap().split('?').next().unwrap()), Some(&fx.staff))
        .await;
    assert_problem(res, 400, "invalid_query").await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

#[tokio::test]
async fn photos_need_consent_and_bad_uploads_get_clear_answers() {
    let app = TestApp::spawn_with(|s| {
        s.photos.max_upload_bytes = 200_000;
        s.photos.max_pixels = 1_000_000;
    })
    .await;
    let fx = fixture(&app, false).await;
    let path = format!("/api/v1/patients/{}/photos", fx.pid);
    let png = image_bytes(40, 40, [200, 100, 100], ImageFormat::Png);
    assert_problem(upload(&app, &path, &fx.staff, png.clone(), frontal_baseline()).await, 409, "consent_required")
        .await;
    ok(app.post("/api/v1/me/consents", &json!({"kind": "photos", "granted": true}), Some(&fx.patient)).await, 201)
        .await;

    // The declared type is ignored: GIF bytes sent as image/jpeg are refused.
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    assert_problem(upload(&app, &path, &fx.staff, gif, frontal_baseline()).await, 415, "unsupported_image").await;
    assert_problem(
        upload(&app, &path, &fx.staff, vec![0x42; 5_000], frontal_baseline()).await,
        415,
        "unsupported_image",
    )
    .await;
    let big = image_bytes(1001, 1000, [1, 2, 3], ImageFormat::Png);
    assert_problem(upload(&app, &path, &fx.staff, big, frontal_baseline()).await, 422, "image_too_large").await;
    assert_problem(
        upload(&app, &path, &fx.staff, vec![0x00; 230_000], frontal_baseline()).await,
        413,
        "payload_too_large",
    )
    .await;
    let mut truncated = image_bytes(200, 200, [9, 9, 9], ImageFormat::Jpeg);
    truncated.truncate(truncated.len() / 3);
    assert_problem(upload(&app, &path, &fx.staff, truncated, frontal_baseline()).await, 422, "image_unreadable").await;

    let res = upload(&app, &path, &fx.staff, png.clone(), json!({"view": "top", "time_point": "baseline"})).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "metadata.view");
    let res = upload(&app, &path, &fx.staff, png.clone(), json!({"view": "frontal", "time_point": "day"})).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "metadata.session_id");
    let res = upload(
        &app,
        &path,
        &fx.staff,
        png.clone(),
        json!({"view": "frontal", "time_point": "baseline", "roi": {"x": 0.8, "y": 0, "width": 0.5, "height": 1}}),
    )
    .await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "metadata.roi");
    let res = app.client.post(app.url(&path)).bearer_auth(&fx.staff).json(&json!({})).send().await.unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    let only_meta = multipart::Form::new().part("metadata", multipart::Part::text(frontal_baseline().to_string()));
    let res = app.client.post(app.url(&path)).bearer_auth(&fx.staff).multipart(only_meta).send().await.unwrap();
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "image");

    // Nothing was stored by any refusal.
    assert!(walk(&app.data_dir().join("photos")).is_empty());
    let list = ok(app.get(&path, Some(&fx.staff)).await, 200).await;
    assert_eq!(list["items"], json!([]));

    // The same photo twice is recognised.
    let first = ok(upload(&app, "/api/v1/me/photos", &fx.patient, png.clone(), frontal_baseline()).await, 201).await;
    let again = ok(upload(&app, "/api/v1/me/photos", &fx.patient, png, frontal_baseline()).await, 200).await;
    assert_eq!((first["id"].clone(), again["duplicate"].clone()), (again["id"].clone(), json!(true)));
}

#[tokio::test]
async fn redness_is_compared_with_the_baseline_and_a_rise_after_48_hours_alerts() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let path = format!("/api/v1/patients/{}/photos", fx.pid);
    let skin = [224, 172, 150];
    let redder = [224, 130, 120];
    ok(upload(&app, &path, &fx.staff, image_bytes(50, 50, skin, ImageFormat::Png), json!({"view": "frontal", "time_point": "baseline", "taken_at": "2026-03-16T08:00:00Z", "colour_card": true})).await, 201).await;
    app.clock.set(at("2026-03-19T10:00:00Z"));
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let day3 = json!({"view": "frontal", "time_point": "day", "day_number": 3, "session_id": fx.session, "taken_at": "2026-03-19T09:00:00Z", "colour_card": true});
    let p3 =
        ok(upload(&app, &path, &staff, image_bytes(50, 50, [224, 160, 140], ImageFormat::Png), day3).await, 201).await;
    assert!(p3["a_star_change_from_baseline"].as_f64().unwrap() > 0.0);
    assert_eq!(p3["comparable"], true);
    let none = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    assert_eq!(none["items"], json!([]), "the first photo after 48 h has nothing to rise from");

    app.clock.set(at("2026-03-20T12:00:00Z"));
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let day4 = json!({"view": "frontal", "time_point": "day", "day_number": 4, "session_id": fx.session, "taken_at": "2026-03-20T09:00:00Z", "colour_card": true});
    ok(upload(&app, &path, &staff, image_bytes(50, 50, redder, ImageFormat::Png), day4).await, 201).await;
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    assert_eq!(alerts["items"][0]["reason"], "photo_redness_rising");
    assert_eq!(alerts["items"][0]["severity"], "review");

    let list = ok(app.get(&format!("{path}?view=frontal&session_id={}", fx.session), Some(&staff)).await, 200).await;
    let list = &list["items"];
    assert_eq!(list.as_array().unwrap().len(), 2);
    let scores = ok(app.get(&format!("/api/v1/patients/{}/scores", fx.pid), Some(&staff)).await, 200).await;
    let automatic: Vec<&Value> =
        scores["items"].as_array().unwrap().iter().filter(|s| s["rater"] == "automatic").collect();
    assert_eq!(automatic.len(), 3);
    assert!(automatic.iter().all(|s| s["scale"] == "erythema_a_star" && s["algorithm_version"] == "cielab-a-mean-v1"));
}

#[tokio::test]
async fn deleting_a_photo_removes_its_files() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let p = ok(
        upload(
            &app,
            "/api/v1/me/photos",
            &fx.patient,
            image_bytes(30, 30, [9, 9, 9], ImageFormat::Png),
            frontal_baseline(),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(walk(&app.data_dir().join("photos")).len(), 2);
    let id = p["id"].as_str().unwrap();
    let res =
        app.client.delete(app.url(&format!("/api/v1/photos/{id}"))).bearer_auth(&fx.patient).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(walk(&app.data_dir().join("photos")).is_empty());
    assert_problem(app.get(p["image_url"].as_str().unwrap(), Some(&fx.staff)).await, 404, "not_found").await;
    let scores = ok(app.get(&format!("/api/v1/patients/{}/scores", fx.pid), Some(&fx.staff)).await, 200).await;
    assert_eq!(scores["items"], json!([]), "the derived redness score goes with it");
}

#[tokio::test]
async fn scores_are_validated_against_their_scale() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let scales = ok(app.get("/api/v1/scales", Some(&fx.patient)).await, 200).await;
    let codes: Vec<&str> = scales["items"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    for code in [
        "gais",
        "goodman_baron_qualitative",
        "goodman_baron_quantitative",
        "cea",
        "iga_acne",
        "posas_observer",
        "posas_patient",
        "vancouver_scar",
        "patient_redness",
        "satisfaction",
    ] {
        assert!(codes.contains(&code), "{code}");
    }
    let path = format!("/api/v1/patients/{}/scores", fx.pid);
    let photo = ok(
        upload(
            &app,
            &format!("/api/v1/patients/{}/photos", fx.pid),
            &fx.staff,
            image_bytes(20, 20, [200, 150, 140], ImageFormat::Png),
            frontal_baseline(),
        )
        .await,
        201,
    )
    .await;

    let s = ok(app.post(&path, &json!({"scale": "gais", "value": 3, "rater": "clinician", "photo_ids": [photo["id"]], "session_id": fx.session}), Some(&fx.staff)).await, 201).await;
    assert_eq!((s["value"].as_f64(), s["version"].as_i64()), (Some(3.0), Some(1)));
    let res = app.post(&path, &json!({"scale": "gais", "value": 6, "rater": "clinician"}), Some(&fx.staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "value");
    let res = app.post(&path, &json!({"scale": "gais", "value": 2.5, "rater": "clinician"}), Some(&fx.staff)).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app.post(&path, &json!({"scale": "nope", "value": 1, "rater": "clinician"}), Some(&fx.staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "scale");
    let res = app.post(&path, &json!({"scale": "cea", "value": 2, "rater": "automatic"}), Some(&fx.staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "rater");
    let res = app
        .post(
            &path,
            &json!({"scale": "gais", "value": 2, "rater": "clinician", "photo_ids": ["not-a-photo"]}),
            Some(&fx.staff),
        )
        .await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "photo_ids");

    let posas = json!({"scale": "posas_observer", "rater": "clinician", "items": {"vascularity": 4, "pigmentation": 3, "thickness": 5, "relief": 4, "pliability": 2, "surface_area": 3}});
    assert_eq!(ok(app.post(&path, &posas, Some(&fx.staff)).await, 201).await["value"], 21.0);
    let res = app
        .post(
            &path,
            &json!({"scale": "posas_observer", "rater": "clinician", "items": {"vascularity": 11}}),
            Some(&fx.staff),
        )
        .await;
    let p = assert_problem(res, 422, "validation_failed").await;
    assert!(p["errors"].as_array().unwrap().len() >= 6);

    // Patients rate patient scales only, as themselves.
    ok(
        app.post(
            "/api/v1/me/scores",
            &json!({"scale": "satisfaction", "value": 8, "rater": "patient"}),
            Some(&fx.patient),
        )
        .await,
        201,
    )
    .await;
    let res = app
        .post("/api/v1/me/scores", &json!({"scale": "cea", "value": 1, "rater": "patient"}), Some(&fx.patient))
        .await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "rater");
    let res = app
        .post("/api/v1/me/scores", &json!({"scale": "gais", "value": 1, "rater": "clinician"}), Some(&fx.patient))
        .await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn progress_shows_each_scale_over_the_course_and_charts_render() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let path = format!("/api/v1/patients/{}/scores", fx.pid);
    for (when, gais, gb) in
        [("2026-03-16T08:00:00Z", 4, 3), ("2026-04-13T09:00:00Z", 3, 3), ("2026-05-11T09:00:00Z", 2, 2)]
    {
        app.clock.set(at(when));
        let staff = access(&app.login("admin@glow.example", PASSWORD).await);
        ok(app.post(&path, &json!({"scale": "gais", "value": gais, "rater": "clinician"}), Some(&staff)).await, 201)
            .await;
        ok(
            app.post(
                &path,
                &json!({"scale": "goodman_baron_qualitative", "value": gb, "rater": "clinician"}),
                Some(&staff),
            )
            .await,
            201,
        )
        .await;
    }
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    // Two more sessions: one completed, one cancelled (charts mark completed sessions only).
    let screening = format!("/api/v1/patients/{}/screenings", fx.pid);
    ok(app.post(&screening, &crate::clinical::answers(&[]), Some(&staff)).await, 201).await;
    let sessions = format!("/api/v1/courses/{}/sessions", fx.course);
    let mut later = Vec::new();
    for when in ["2026-04-13T09:30:00Z", "2026-05-11T09:30:00Z"] {
        let body = crate::clinical::session_body(when, "cheeks", 1.0);
        let s = ok(app.post(&sessions, &body, Some(&staff)).await, 201).await;
        later.push(s["id"].as_str().unwrap().to_owned());
    }
    let cancel = json!({"reason": "patient unwell"});
    ok(app.post(&format!("/api/v1/sessions/{}/cancel", later[1]), &cancel, Some(&staff)).await, 200).await;
    let progress = ok(app.get(&format!("/api/v1/patients/{}/progress", fx.pid), Some(&staff)).await, 200).await;
    let marked: Vec<&str> =
        progress["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(marked, [fx.session.as_str(), later[0].as_str()], "completed sessions, oldest first");
    assert_eq!(progress["sessions"][1]["performed_at"], "2026-04-13T09:30:00Z");
    let gais = progress["scales"].as_array().unwrap().iter().find(|s| s["scale"] == "gais").unwrap();
    let series: Vec<(&str, f64)> = gais["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["at"].as_str().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        series,
        [("2026-03-16T08:00:00Z", 4.0), ("2026-04-13T09:00:00Z", 3.0), ("2026-05-11T09:00:00Z", 2.0)],
        "oldest first"
    );
    assert_eq!(
        (gais["baseline"].as_f64(), gais["latest"].as_f64(), gais["change"].as_f64()),
        (Some(4.0), Some(2.0), Some(-2.0))
    );
    assert_eq!((gais["improved"].as_bool(), gais["clinically_meaningful"].as_bool()), (Some(true), Some(true)));
    assert_eq!(gais["series"].as_array().unwrap().len(), 3);
    let gb = progress["scales"].as_array().unwrap().iter().find(|s| s["scale"] == "goodman_baron_qualitative").unwrap();
    assert_eq!(gb["clinically_meaningful"], true, "a one-grade drop");
    let patient = access(&app.login("jane@x.example", PASSWORD).await);
    let mine = ok(app.get("/api/v1/me/progress", Some(&patient)).await, 200).await;
    assert_eq!(mine["scales"], progress["scales"]);

    let svg = app.get(&format!("/api/v1/patients/{}/progress/chart.svg", fx.pid), Some(&staff)).await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Global Aesthetic Improvement Scale"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    let png = app.get(&format!("/api/v1/patients/{}/progress/chart.png", fx.pid), Some(&staff)).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (900, 2 * 240 + 40));
    if let Ok(dir) = std::env::var("CHART_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("progress.png"), &bytes).unwrap();
    }
    assert_problem(
        app.get(&format!("/api/v1/patients/{}/progress/chart.png", fx.pid), Some(&patient)).await,
        404,
        "not_found",
    )
    .await;

    // The patient's own chart: the same scales, accessible, and theirs only.
    let own = app.get("/api/v1/me/progress/chart.svg", Some(&patient)).await;
    assert_eq!(own.status(), 200);
    assert_eq!(own.headers()["content-type"], "image/svg+xml");
    let own = own.text().await.unwrap();
    assert!(
        own.contains(r#"role="img""#) && own.contains("<title id=\"chart-title\">"),
        "{}",
        &own[..300.min(own.len())]
    );
    assert!(own.contains("Global Aesthetic Improvement Scale rated by the clinician"), "the desc names the scale");
    assert!(own.contains("Session 2") && own.contains("Treatment session"), "sessions are labelled");
    if let Ok(dir) = std::env::var("CHART_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("progress.svg"), &own).unwrap();
    }
    assert_problem(app.get("/api/v1/me/progress/chart.svg", Some(&staff)).await, 404, "not_found").await;
    let body = json!({"name": "Bob Roe", "email": "bob@x.example", "time_zone": "Europe/London"});
    ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await;
    let accept = json!({"token": app.invitation_token("bob@x.example"), "password": PASSWORD});
    let other = access(&ok(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await);
    let theirs = app.get("/api/v1/me/progress/chart.svg", Some(&other)).await;
    assert_eq!(theirs.status(), 200);
    let theirs = theirs.text().await.unwrap();
    assert!(!theirs.contains("Global Aesthetic"), "another patient sees only their own (no) scores");
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: .ci/run starts moto and sets TEST_S3_ENDPOINT"]
async fn photos_round_trip_through_s3_compatible_storage() {
    let endpoint = std::env::var("TEST_S3_ENDPOINT").expect("TEST_S3_ENDPOINT names an S3-compatible server");
    let bucket = format!("aftercare-{}", uuid::Uuid::now_v7().simple());
    let made = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("the S3 server answers");
    assert!(made.status().is_success(), "bucket not created: {}", made.status());
    let (e, b) = (endpoint.clone(), bucket.clone());
    let app = TestApp::spawn_with(move |s| {
        s.photos.storage = "s3".into();
        s.photos.s3_bucket = Some(b);
        s.photos.s3_endpoint = Some(e);
        s.photos.s3_access_key_id = Some("test".into());
        s.photos.s3_secret_access_key = Some("test".to_owned().into());
    })
    .await;
    let fx = fixture(&app, true).await;
    let p = ok(
        upload(&app, "/api/v1/me/photos", &fx.patient, jpeg_with_exif(40, 20, [200, 120, 120]), frontal_baseline())
            .await,
        201,
    )
    .await;
    let full = app.get(p["image_url"].as_str().unwrap(), Some(&fx.staff)).await;
    assert_eq!(full.status(), 200);
    let bytes = full.bytes().await.unwrap();
    assert!(!bytes.windows(4).any(|w| w == b"Exif"));
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 20);
    assert!(walk(&app.data_dir().join("photos")).is_empty(), "nothing on local disk");

    // The objects are in the bucket, and deleting the photo removes them.
    let listing = reqwest::get(format!("{endpoint}/{bucket}")).await.unwrap().text().await.unwrap();
    assert_eq!(listing.matches("<Key>").count(), 2, "{listing}");
    let id = p["id"].as_str().unwrap();
    let res = app.client.delete(app.url(&format!("/api/v1/photos/{id}"))).bearer_auth(&fx.staff).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let listing = reqwest::get(format!("{endpoint}/{bucket}")).await.unwrap().text().await.unwrap();
    assert_eq!(listing.matches("<Key>").count(), 0, "{listing}");
}
