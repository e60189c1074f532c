//! Uploads and bodies that try to hurt the server: multipart bodies without their closing
//! boundary, bodies that arrive slowly or never, photo views the database must store, and images
//! whose decoding would not fit in memory.

use std::{collections::BTreeSet, io::Cursor, time::Duration};

use aftercare::{db::DbConnection, domain::wire_name, services::photos::View};
use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use crate::{
    helpers::{TestApp, assert_problem, ok, treated_patient},
    photos::{image_bytes, upload},
};

const BOUNDARY: &str = "aftercare-test-boundary";

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// A photo upload's multipart body ending in `tail` (the closing boundary, or a truncation).
fn multipart_body(meta: &Value, image: &[u8], tail: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n").as_bytes());
    b.extend(format!("Content-Type: application/json\r\n\r\n{meta}\r\n").as_bytes());
    b.extend(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n").as_bytes(),
    );
    b.extend(b"Content-Type: image/png\r\n\r\n");
    b.extend(image);
    b.extend(tail.as_bytes());
    b
}

/// The head of a POST announcing `length` body bytes.
fn head(path: &str, content_type: &str, length: usize, extra: &[(&str, &str)]) -> String {
    let mut h = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
    );
    for (name, value) in extra {
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    h.push_str("\r\n");
    h
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Writes `head` and `body` on a fresh connection (then half-closes it if `half_close`, else
/// keeps it open) and reads one answer, waiting at most `within`; `None` if none came.
async fn exchange(port: u16, head: &str, body: &[u8], half_close: bool, within: Duration) -> Option<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    tokio::time::timeout(within, read_answer(&mut stream)).await.ok().flatten()
}

async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + length {
                let status = head.split_whitespace().nth(1)?.parse().ok()?;
                let body = serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap_or(Value::Null);
                return Some(Answer { status, head, body });
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// This process's descriptors for the server's side of connections to `port` (and its
/// listener): the sockets whose local port is `port`, found by inode.
fn server_socket_fds(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let inodes: BTreeSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(cols.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port).then(|| cols.get(9).map(|i| format!("socket:[{i}]")))?
        })
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| inodes.contains(target.to_string_lossy().as_ref()))
        .count()
}

#[tokio::test]
async fn fifty_uploads_without_their_closing_boundary_are_refused_and_leave_no_descriptor_behind() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["photos"]).await;
    let port = port(&app);
    let path = format!("/api/v1/patients/{}/photos", fx.pid);
    let before = server_socket_fds(port);
    let auth = format!("Bearer {}", fx.staff);

    let meta = json!({"view": "frontal", "time_point": "baseline"});
    let image = image_bytes(16, 16, [200, 90, 90], ImageFormat::Png);
    // The body ends after the image, after its CRLF, or inside the closing boundary (the last two
    // left actix-multipart 0.7 waiting for bytes that could not come).
    let partial_boundary = format!("\r\n--{}", &BOUNDARY[..8]);
    let tails = ["", "\r\n", partial_boundary.as_str()];
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let answers = futures_util::future::join_all((0..50).map(|i| {
        let body = multipart_body(&meta, &image, tails[i % 3]);
        let head = head(&path, &content_type, body.len(), &[("Authorization", &auth)]);
        // Half of them half-close after the body; the others keep the connection open.
        async move { exchange(port, &head, &body, i % 2 == 0, Duration::from_secs(10)).await }
    }))
    .await;
    for answer in answers {
        let answer = answer.expect("an answer to a truncated upload within 10 s");
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.body["code"], "bad_request", "{answer:?}");
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = server_socket_fds(port);
    while after > before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = server_socket_fds(port);
    }
    assert!(after <= before, "server-side descriptors: {before} before, {after} after");
    let photos = ok(app.get(&path, Some(&fx.staff)).await, 200).await;
    assert_eq!(photos["items"].as_array().unwrap().len(), 0, "nothing was stored");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_within_the_body_timeout() {
    let app = TestApp::spawn_with(|s| s.server.body_timeout_secs = 1).await;
    let fx = treated_patient(&app, &["photos"]).await;
    let port = port(&app);
    let auth = format!("Bearer {}", fx.staff);
    let upload_body = multipart_body(&json!({"view": "frontal", "time_point": "baseline"}), b"\x89PNG", "");
    let multipart = format!("multipart/form-data; boundary={BOUNDARY}");
    let cases = [
        // The JSON extractor: 100 bytes announced, 9 sent.
        ("json", head("/api/v1/auth/login", "application/json", 100, &[]), br#"{"email":"#.to_vec()),
        // Idempotency buffering, before any handler runs.
        (
            "idempotency",
            head("/api/v1/patients", "application/json", 100, &[("Idempotency-Key", "k-1"), ("Authorization", &auth)]),
            br#"{"name":"#.to_vec(),
        ),
        // A multipart upload.
        (
            "multipart",
            head(&format!("/api/v1/patients/{}/photos", fx.pid), &multipart, 4096, &[("Authorization", &auth)]),
            upload_body,
        ),
    ];
    for (name, head, partial) in cases {
        let started = Instant::now();
        let answer = exchange(port, &head, &partial, false, Duration::from_secs(8))
            .await
            .unwrap_or_else(|| panic!("{name}: no answer within 8 s"));
        assert_eq!(answer.status, 408, "{name}: {answer:?}");
        assert_eq!(answer.body["code"], "request_timeout", "{name}: {answer:?}");
        assert!(answer.head.contains("content-type: application/problem+json"), "{name}: {answer:?}");
        assert!(answer.head.contains("connection: close"), "{name}: {answer:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "{name}: answered after {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn a_photo_can_be_stored_and_listed_with_every_view() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["photos"]).await;
    let path = format!("/api/v1/patients/{}/photos", fx.pid);
    for (i, view) in View::ALL.into_iter().enumerate() {
        let name = wire_name(view);
        let colour = [100 + u8::try_from(i).unwrap() * 20, 80, 80];
        let meta = json!({"view": name, "time_point": "baseline"});
        let p =
            ok(upload(&app, &path, &fx.staff, image_bytes(24, 16, colour, ImageFormat::Png), meta).await, 201).await;
        assert_eq!(p["view"], name.as_str());
        let listed = ok(app.get(&format!("{path}?view={name}"), Some(&fx.staff)).await, 200).await["items"].clone();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{name}: {listed}");
        assert_eq!(listed[0]["id"], p["id"]);
    }
}

#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = Text)]
    definition: String,
}

/// The quoted values of the CHECK on `photos.view`, as the live database holds it.
fn view_check_values(c: &mut DbConnection) -> BTreeSet<String> {
    let text = match c {
        DbConnection::Sqlite(c) => {
            diesel::sql_query("SELECT sql AS definition FROM sqlite_master WHERE type = 'table' AND name = 'photos'")
                .get_result::<Definition>(c)
                .unwrap()
                .definition
        }
        DbConnection::Postgres(c) => {
            diesel::sql_query(
                "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = 'photos_view_check'",
            )
            .get_result::<Definition>(c)
            .unwrap()
            .definition
        }
    };
    // SQLite keeps the whole CREATE TABLE: take the clause that starts at `view IN (` (or, from
    // PostgreSQL, the ARRAY[...] it rewrote the list into).
    let start = text.find("view IN (").or_else(|| text.find("ARRAY[")).expect("a list of views");
    let end = start + text[start..].find(')').unwrap();
    text[start..end].split('\'').skip(1).step_by(2).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_database_accepts_exactly_the_views_the_api_does() {
    let app = TestApp::spawn().await;
    let stored = app.state.db.run(|c| Ok(view_check_values(c))).await.unwrap();
    let api: BTreeSet<String> = View::ALL.into_iter().map(wire_name).collect();
    assert_eq!(stored, api);
}

/// An RGB PNG with 16 bits per sample.
fn png16(w: u32, h: u32) -> Vec<u8> {
    let img: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(w, h, |x, y| Rgb([40_000, (x * 50) as u16, (y * 50) as u16]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb16(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
    out
}

#[tokio::test]
async fn a_16_bit_png_is_stored_and_one_too_big_to_decode_in_the_budget_is_refused() {
    // 1 MiB for the upload and its decoding at 3 bytes a pixel.
    let app = TestApp::spawn_with(|s| s.photos.max_decode_bytes = 1 << 20).await;
    let fx = treated_patient(&app, &["photos"]).await;
    let path = format!("/api/v1/patients/{}/photos", fx.pid);
    let meta = json!({"view": "frontal", "time_point": "baseline"});

    // 400×600: 720 000 bytes decoded at 8 bits (1 440 000 at 16, over the budget), plus the file.
    let image = png16(400, 600);
    assert!(image.len() < 300_000, "{}", image.len());
    let p = ok(upload(&app, &path, &fx.staff, image, meta.clone()).await, 201).await;
    assert_eq!((p["width"].as_i64(), p["height"].as_i64()), (Some(400), Some(600)));
    assert!(p["a_star"].as_f64().unwrap() > 20.0, "red dominates: {p}");

    // 600×600: 1 080 000 bytes decoded, over 1 MiB before any pixel is.
    let refused = upload(&app, &path, &fx.staff, png16(600, 600), meta).await;
    let body = assert_problem(refused, 422, "image_too_large").await;
    assert!(body["detail"].as_str().unwrap().contains("MiB"), "{body}");
}
