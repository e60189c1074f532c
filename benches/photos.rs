//! Photo benchmark (issue 5): the cost of one 12-megapixel JPEG upload — `media::process`
//! (decode, EXIF orientation, re-encode without metadata, 320 px thumbnail, mean a*) timed and
//! broken into stages, its peak memory, and uploads per second through the real server with
//! 4 concurrent clients, for 12 MP and for phone-sized (1600×1200) images.
//!
//! ```sh
//! cargo bench --bench photos
//! ```
//!
//! Sizes: `BENCH_REPS` (`process` runs, 7), `BENCH_RUNS` (upload runs per size, 3),
//! `BENCH_UPLOADS_12MP` (uploads per client per run, 4), `BENCH_UPLOADS_PHONE` (10).
//!
//! Test images are generated in memory: a smooth skin-tone gradient with a redder patch and
//! deterministic noise (an LCG), JPEG quality 90, each upload's image from its own seed so the
//! server's SHA-256 de-duplication never answers from an earlier upload. Peak memory is the
//! `VmHWM` of a fresh child process (this binary re-run with `--one-process FILE`), which cannot
//! be reset in a running process. The server runs in this process (SQLite and local photo
//! storage in a temp dir, default photo settings); every upload run gets a fresh patient.

use std::{
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

use aftercare::{
    config::Settings,
    domain::erythema::{Roi, mean_a_star},
    email::Mailer,
    media::process::{Bounds, THUMB_EDGE, process},
    services::bootstrap,
    startup::{Application, Overrides},
};
use anyhow::{Context, anyhow, bail, ensure};
use chrono_tz::Tz;
use image::{DynamicImage, ImageReader, RgbImage, codecs::jpeg::JpegEncoder, imageops::FilterType};
use reqwest::multipart;
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const BIG: (u32, u32) = (4000, 3000);
const PHONE: (u32, u32) = (1600, 1200);
const PASSWORD: &str = "correct horse battery staple";
const BOUNDS: Bounds = Bounds { max_pixels: 50_000_000, max_decode_bytes: 1 << 30 };

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one-process") {
        let file = args.get(i + 1).context("--one-process needs a JPEG file")?;
        return one_process(Path::new(file));
    }
    let reps = env_n("BENCH_REPS", 7)?.max(1);
    let runs = env_n("BENCH_RUNS", 3)?.max(1);
    let per_client_big = env_n("BENCH_UPLOADS_12MP", 4)?.max(1);
    let per_client_phone = env_n("BENCH_UPLOADS_PHONE", 10)?.max(1);
    let mut rows: Vec<(String, String)> = Vec::new();
    let load_start = load_average()?;

    // 1. The test image.
    let t = Instant::now();
    let jpeg = skin_jpeg(BIG.0, BIG.1, 1)?;
    let mb = jpeg.len() as f64 / 1e6;
    println!("12 MP test image: {}×{}, {mb:.1} MB (quality 90), generated in {:.1?}", BIG.0, BIG.1, t.elapsed());
    rows.push(("12 MP JPEG (4000×3000, q90)".into(), format!("{mb:.1} MB")));

    // 2. Processing time, and where it goes.
    let _ = process(&jpeg, BOUNDS, Roi::WHOLE, Tz::UTC).map_err(|e| anyhow!("process: {e}"))?; // warm-up
    let (mut ms, mut cpu_ms) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (t, cpu) = (Instant::now(), cpu_secs("/proc/thread-self/stat")?);
        let p = process(&jpeg, BOUNDS, Roi::WHOLE, Tz::UTC).map_err(|e| anyhow!("process: {e}"))?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        cpu_ms.push((cpu_secs("/proc/thread-self/stat")? - cpu) * 1e3);
        ensure!((p.width, p.height) == BIG, "processed size {}×{}", p.width, p.height);
    }
    ms.sort_by(f64::total_cmp);
    cpu_ms.sort_by(f64::total_cmp);
    let (min, med, max) = (ms[0], median(&ms), ms[ms.len() - 1]);
    println!(
        "process() ×{reps}: min {min:.0} ms, median {med:.0} ms, max {max:.0} ms; median CPU time {:.0} ms",
        median(&cpu_ms)
    );
    rows.push((
        format!("process(), 12 MP (min / median / max of {reps})"),
        format!("{min:.0} / {med:.0} / {max:.0} ms"),
    ));
    rows.push(("process(), 12 MP, CPU time of its thread (median)".into(), format!("{:.0} ms", median(&cpu_ms))));
    for (stage, ms) in stages(&jpeg, 5)? {
        println!("  stage {stage:<34} {ms:>6.0} ms");
        rows.push((format!("  stage: {stage}"), format!("{ms:.0} ms")));
    }

    // Peak memory in a fresh process.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("12mp.jpg");
    std::fs::write(&file, &jpeg)?;
    let out = std::process::Command::new(std::env::current_exe()?).arg("--one-process").arg(&file).output()?;
    ensure!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> anyhow::Result<u64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .context(format!("child did not report {name}: {text}"))?
            .parse()
            .context("bad number from child")
    };
    let (idle, loaded, peak) = (field("idle")?, field("loaded")?, field("processed")?);
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "peak RSS (VmHWM) of a fresh process: idle {:.1} MiB, JPEG read {:.1} MiB, after process() {:.1} MiB (+{:.1} MiB)",
        mib(idle),
        mib(loaded),
        mib(peak),
        mib(peak.saturating_sub(loaded))
    );
    rows.push((
        "peak RSS: idle process / JPEG read / after process()".into(),
        format!("{:.0} / {:.0} / {:.0} MiB", mib(idle), mib(loaded), mib(peak)),
    ));
    rows.push(("peak RSS added by one process()".into(), format!("{:.0} MiB", mib(peak.saturating_sub(loaded)))));

    // 3. Uploads per second through the server.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let upload_rows = rt.block_on(uploads(dir.path(), runs, per_client_big, per_client_phone))?;
    drop(rt);
    rows.extend(upload_rows);
    let load_end = load_average()?;
    println!("load average (1 min): {load_start:.2} at the start, {load_end:.2} at the end");
    rows.push(("load average (1 min), start / end".into(), format!("{load_start:.2} / {load_end:.2}")));

    println!();
    for (what, value) in &rows {
        println!("{what:<62} {value:>20}");
    }
    Ok(())
}

fn env_n(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A value at quantile `q` (nearest rank) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A skin-like photo as JPEG (quality 90): a smooth skin-tone gradient, a redder patch on one
/// cheek, and pixel noise from an LCG seeded with `seed` (so every seed gives other bytes).
fn skin_jpeg(w: u32, h: u32, seed: u64) -> anyhow::Result<Vec<u8>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as u32 // 24 random bits
    };
    let (wf, hf) = (f64::from(w), f64::from(h));
    let mut raw = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        let fy = f64::from(y) / hf;
        for x in 0..w {
            let fx = f64::from(x) / wf;
            let shade = 1.0 - 0.18 * (fx * 0.6 + fy * 0.4); // light from the top left
            let (dx, dy) = ((fx - 0.32) / 0.16, (fy - 0.55) / 0.2);
            let red = 28.0 * (-(dx * dx + dy * dy)).exp(); // a redder patch on the cheek
            let r = next();
            let grain = f64::from(r & 0xFF) / 255.0 * 20.0 - 10.0; // luminance grain ±10
            let chroma = |bits: u32| f64::from(bits & 0x0F) / 15.0 * 6.0 - 3.0; // ±3 per channel
            let px = [
                224.0 * shade + grain + chroma(r >> 8),
                (172.0 - red) * shade + grain + chroma(r >> 12),
                (150.0 - red * 0.6) * shade + grain + chroma(r >> 16),
            ];
            raw.extend(px.map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    let img = RgbImage::from_raw(w, h, raw).context("pixel buffer has the wrong size")?;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img)?;
    Ok(out)
}

/// `count` distinct images of `w`×`h` (seeds from `first_seed`), made on all cores.
fn skin_jpegs(w: u32, h: u32, first_seed: u64, count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(count.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| Ok((i, skin_jpeg(w, h, first_seed + i as u64)?)))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow!("an image generator thread panicked"))??);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, b)| b).collect())
    })
}

/// The same steps as `process` one at a time (fastest of `reps`, in ms), to see where the time goes.
fn stages(jpeg: &[u8], reps: usize) -> anyhow::Result<Vec<(&'static str, f64)>> {
    const NAMES: [&str; 6] = [
        "decode JPEG",
        "copy to RGB8 (to_rgb8)",
        "mean a* (grid-sampled)",
        "encode full JPEG q90 (incl. copy)",
        "resize to 320 px (Triangle)",
        "encode thumbnail q80",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    for _ in 0..reps {
        let mut lap = Instant::now();
        let mut mark = |i: usize| {
            times[i].push(lap.elapsed().as_secs_f64() * 1e3);
            lap = Instant::now();
        };
        let decoded = ImageReader::new(std::io::Cursor::new(jpeg)).with_guessed_format()?.decode()?;
        mark(0);
        let rgb = decoded.to_rgb8();
        mark(1);
        let (w, h) = rgb.dimensions();
        let a = mean_a_star(rgb.as_raw(), w, h, Roi::WHOLE).context("no a*")?;
        mark(2);
        let img = DynamicImage::ImageRgb8(rgb);
        let mut full = Vec::new();
        JpegEncoder::new_with_quality(&mut full, 90).encode_image(&img.to_rgb8())?;
        mark(3);
        let thumb = img.resize(THUMB_EDGE, THUMB_EDGE, FilterType::Triangle);
        mark(4);
        let mut small = Vec::new();
        JpegEncoder::new_with_quality(&mut small, 80).encode_image(&thumb.to_rgb8())?;
        mark(5);
        ensure!(a.is_finite() && !full.is_empty() && !small.is_empty(), "a stage produced nothing");
    }
    Ok(NAMES
        .iter()
        .zip(times.iter_mut())
        .map(|(name, t)| {
            t.sort_by(f64::total_cmp);
            (*name, t.first().copied().unwrap_or(f64::NAN))
        })
        .collect())
}

/// User + system CPU seconds from a `/proc/.../stat` file (this process or this thread).
fn cpu_secs(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name: state is field 3, utime 14, stime 15 (in clock ticks).
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short stat")?.parse::<u64>().context("stat field is not a number")? as f64)
    };
    // USER_HZ is 100 on Linux.
    Ok((tick(11)? + tick(12)?) / 100.0)
}

/// The 1-minute load average.
fn load_average() -> anyhow::Result<f64> {
    let text = std::fs::read_to_string("/proc/loadavg")?;
    text.split_whitespace().next().context("empty /proc/loadavg")?.parse().context("bad /proc/loadavg")
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn vm_hwm_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    line.split_whitespace().nth(1).context("empty VmHWM")?.parse().context("VmHWM is not a number")
}

/// Child mode: the peak RSS of processing one image in an otherwise fresh process.
fn one_process(file: &Path) -> anyhow::Result<()> {
    let idle = vm_hwm_kib()?;
    let bytes = std::fs::read(file)?;
    let loaded = vm_hwm_kib()?;
    let p = process(&bytes, BOUNDS, Roi::WHOLE, Tz::UTC).map_err(|e| anyhow!("process: {e}"))?;
    let processed = vm_hwm_kib()?;
    ensure!(!p.full_jpeg.is_empty() && !p.thumb_jpeg.is_empty(), "nothing processed");
    let mut out = std::io::stdout().lock();
    writeln!(out, "idle={idle} loaded={loaded} processed={processed}")?;
    Ok(())
}

/// Starts the server, then times 4 concurrent clients uploading 12 MP and then phone-sized images.
async fn uploads(
    data_dir: &Path,
    runs: usize,
    per_client_big: usize,
    per_client_phone: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut settings = Settings { data_dir: data_dir.to_path_buf(), ..Default::default() };
    settings.server.bind = "127.0.0.1:0".into();
    settings.dispatch.enabled = false;
    settings.auth.jwt_secret = Some(secrecy::SecretString::from("bench-secret-bench-secret-bench-secret!"));
    let (processing, workers) = (settings.photos.max_concurrent, settings.server.workers);
    let mailer = Some(Mailer::memory(&settings.mail.from)?);
    let app = Application::build(settings, Overrides { mailer, clock: None }).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let server = tokio::spawn(app.run_until_stopped());
    println!(
        "server on {base}: SQLite and local photo storage in a temp dir, photos.max_concurrent = {processing}, server.workers = {workers} (0 = cores)"
    );

    let email = "admin@bench.example";
    tokio::task::spawn_blocking(move || {
        bootstrap::create_admin(&db, "Bench Clinic", email, PASSWORD, chrono::Utc::now())
    })
    .await?
    .map_err(|e| anyhow!("create admin: {e}"))?;
    let http = reqwest::Client::new();
    let login = post_json(
        &http,
        &format!("{base}/api/v1/auth/login"),
        None,
        &json!({"email": email, "password": PASSWORD}),
        200,
    )
    .await?;
    let staff = login["access_token"].as_str().context("no access token")?.to_owned();

    let mut rows = Vec::new();
    let sizes = [("12 MP", BIG, per_client_big, 1_000u64), ("1600×1200", PHONE, per_client_phone, 100_000u64)];
    for (label, (w, h), per_client, seed) in sizes {
        let n = CLIENTS * per_client;
        let t = Instant::now();
        let images = skin_jpegs(w, h, seed, n + 1)?;
        let avg_mb = images.iter().map(Vec::len).sum::<usize>() as f64 / images.len() as f64 / 1e6;
        println!("{label}: {} images of {w}×{h} (avg {avg_mb:.2} MB) generated in {:.1?}", n + 1, t.elapsed());
        // Warm-up: one upload for a patient of its own.
        let warm = patient(&http, &base, &staff, &format!("warm-{seed}")).await?;
        upload(&http, &base, &staff, &warm, images[n].clone()).await?;

        let (mut rates, mut latencies, mut cpu_per_upload) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let pid = patient(&http, &base, &staff, &format!("run-{seed}-{run}")).await?;
            let cpu = cpu_secs("/proc/self/stat")?;
            let (rate, lat) = upload_run(&base, &staff, &pid, &images[..n], per_client).await?;
            let cpu_ms = (cpu_secs("/proc/self/stat")? - cpu) * 1e3 / n as f64;
            println!(
                "  run {}: {n} uploads by {CLIENTS} clients, {rate:.2} uploads/s, {cpu_ms:.0} ms CPU per upload (server and clients), load {:.2}",
                run + 1,
                load_average()?
            );
            rates.push(rate);
            latencies.extend(lat);
            cpu_per_upload.push(cpu_ms);
        }
        rates.sort_by(f64::total_cmp);
        cpu_per_upload.sort_by(f64::total_cmp);
        latencies.sort_by(f64::total_cmp);
        let (p50, p99) = (quantile(&latencies, 0.5), quantile(&latencies, 0.99));
        println!(
            "{label}: median {:.2} uploads/s (runs {:.2}–{:.2}); latency p50 {p50:.0} ms, p99 {p99:.0} ms over {} uploads",
            median(&rates),
            rates[0],
            rates[rates.len() - 1],
            latencies.len()
        );
        rows.push((
            format!("uploads/s, {label}, {CLIENTS} clients (median of {runs} runs × {n})"),
            format!("{:.2}", median(&rates)),
        ));
        rows.push((
            format!("  latency p50 / p99, {label} (n = {})", latencies.len()),
            format!("{p50:.0} / {p99:.0} ms"),
        ));
        rows.push((format!("  CPU per upload, {label} (median)"), format!("{:.0} ms", median(&cpu_per_upload))));
    }
    server.abort();
    Ok(rows)
}

/// One timed run: each client uploads its share of `images` one after another; returns
/// (uploads/s, latencies in ms).
async fn upload_run(
    base: &str,
    staff: &str,
    pid: &str,
    images: &[Vec<u8>],
    per_client: usize,
) -> anyhow::Result<(f64, Vec<f64>)> {
    // The bytes are copied per client before the clock starts.
    let shares: Vec<Vec<Vec<u8>>> = images.chunks(per_client).map(<[Vec<u8>]>::to_vec).collect();
    let start = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (base, staff, pid) = (base.to_owned(), staff.to_owned(), pid.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
                let mut lat = Vec::with_capacity(share.len());
                for bytes in share {
                    let t = Instant::now();
                    upload(&client, &base, &staff, &pid, bytes).await?;
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok::<_, anyhow::Error>(lat)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(images.len());
    for task in tasks {
        latencies.extend(task.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((latencies.len() as f64 / secs, latencies))
}

/// A new patient with photo consent; returns its id.
async fn patient(http: &reqwest::Client, base: &str, staff: &str, tag: &str) -> anyhow::Result<String> {
    let body = json!({"name": format!("Bench {tag}"), "email": format!("{tag}@patient.example"), "time_zone": "Europe/London"});
    let p = post_json(http, &format!("{base}/api/v1/patients"), Some(staff), &body, 201).await?;
    let pid = p["id"].as_str().context("no patient id")?.to_owned();
    let consent = json!({"kind": "photos", "granted": true});
    post_json(http, &format!("{base}/api/v1/patients/{pid}/consents"), Some(staff), &consent, 201).await?;
    Ok(pid)
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
    status: u16,
) -> anyhow::Result<Value> {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let got = res.status().as_u16();
    let text = res.text().await?;
    if got != status {
        bail!("POST {url}: {got} (wanted {status}): {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One staff upload; fails unless the photo was created (201, not a duplicate).
async fn upload(http: &reqwest::Client, base: &str, staff: &str, pid: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    let meta = json!({"view": "frontal", "time_point": "baseline", "colour_card": true});
    let form = multipart::Form::new()
        .part("metadata", multipart::Part::text(meta.to_string()).mime_str("application/json")?)
        .part("image", multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg")?);
    let res =
        http.post(format!("{base}/api/v1/patients/{pid}/photos")).bearer_auth(staff).multipart(form).send().await?;
    let got = res.status().as_u16();
    if got != 201 {
        let text = res.text().await.unwrap_or_default();
        bail!("upload: {got} (wanted 201): {text}");
    }
    res.bytes().await?;
    Ok(())
}
