//! The photo store drill (issue 7): one server on SQLite whose `<data_dir>/photos` is a 512 KiB
//! tmpfs (needs root). Uploads to a nearly full, a full and a read-only store, and to a photos
//! path that is a regular file, must answer 507 `storage_full` or 503 `storage_unavailable` as
//! problem+json and leave no photo row and no file behind; an upload after the repair succeeds.

use std::{
    collections::BTreeSet,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration as StdDuration,
};

use anyhow::Context;
use chrono::{SubsecRound, Utc};
use rand::Rng;
use tokio::runtime::Runtime;

use crate::{
    common::Target,
    drills::{ADMIN_EMAIL, Monitor, PASSWORD, seed_clinic, seeding_state},
    replica::Replica,
    report::DrillReport,
};

struct PhotoCase {
    case: String,
    status: u16,
    code: String,
    new_rows: i64,
    new_files: usize,
    problems: Vec<String>,
}

/// Runs the drill: each upload case is a check of the report.
pub fn drill(rt: &Runtime, bin: &Path) -> anyhow::Result<DrillReport> {
    let mut report = DrillReport::new("photos", "1 server on SQLite, <data_dir>/photos a 512 KiB tmpfs".into());
    for c in cases(rt, bin)? {
        let measured = format!("{} {} ({} new rows, {} new files)", c.status, c.code, c.new_rows, c.new_files);
        let ok = c.problems.is_empty();
        report.check(c.case, if ok { measured } else { format!("{measured}: {}", c.problems.join("; ")) }, ok);
    }
    Ok(report)
}

fn cases(rt: &Runtime, bin: &Path) -> anyhow::Result<Vec<PhotoCase>> {
    let target = Target::create(None, "drill", "DRILLS_DATABASE_URL")?;
    let data = target.dir.path().to_path_buf();
    let photos_dir = data.join("photos");
    let now = Utc::now().trunc_subsecs(0);
    let mut monitor = Monitor::new(&target)?;
    let patient_id = {
        let _entered = rt.enter();
        let state = seeding_state(rt, &target)?;
        seed_clinic(&state, monitor.conn()?, now, 1, &["email_reminders", "photos"])?;
        drop(state);
        "drill-p-0".to_owned()
    };
    std::fs::create_dir_all(&photos_dir)?;
    let mut mount = Tmpfs::mount(&photos_dir, "512k")?;
    println!("[photos] {} is a 512 KiB tmpfs", photos_dir.display());

    let mut server =
        Replica::spawn(bin, "server", &data, &target.url, None, &[("AFTERCARE__DISPATCH__ENABLED", "false".into())])?;
    let client = reqwest::Client::builder().timeout(StdDuration::from_secs(30)).build()?;
    server.wait_ready(rt, &client, StdDuration::from_secs(90))?;
    let base = format!("http://127.0.0.1:{}", server.port);
    let token = rt.block_on(async {
        let res = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        anyhow::ensure!(status.as_u16() == 200, "login answered {status}: {body}");
        body["access_token"].as_str().map(str::to_owned).context("no access_token in the login answer")
    })?;
    let url = format!("{base}/api/v1/patients/{patient_id}/photos");
    let upload = |image: Vec<u8>| -> anyhow::Result<(u16, String, String)> {
        rt.block_on(async {
            let meta = serde_json::json!({"view": "frontal", "time_point": "follow_up", "colour_card": true});
            let form = reqwest::multipart::Form::new()
                .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?)
                .part("image", reqwest::multipart::Part::bytes(image).file_name("photo.jpg").mime_str("image/jpeg")?);
            let res = client.post(&url).bearer_auth(&token).multipart(form).send().await?;
            let status = res.status().as_u16();
            let ct =
                res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
            let code = body["code"].as_str().unwrap_or("").to_owned();
            Ok((status, ct, code))
        })
    };
    let mut cases = Vec::new();
    let mut check = |case: &str,
                     expected: &[(u16, &str)],
                     image: Vec<u8>,
                     monitor: &mut Monitor,
                     files_root: &Path|
     -> anyhow::Result<()> {
        let rows_before = monitor.count_photos()?;
        let files_before = photo_files(files_root);
        let (status, ct, code) = upload(image)?;
        let rows_after = monitor.count_photos()?;
        let files_after = photo_files(files_root);
        let new_files: Vec<&PathBuf> = files_after.difference(&files_before).collect();
        let mut problems = Vec::new();
        if !expected.iter().any(|(s, c)| *s == status && (c.is_empty() || *c == code)) {
            problems.push(format!("expected {expected:?}, got {status} {code}"));
        }
        let success = (200..300).contains(&status);
        if !success {
            if !ct.starts_with("application/problem+json") {
                problems.push(format!("content-type `{ct}`"));
            }
            if rows_after != rows_before {
                problems.push(format!("{} photo row(s) written", rows_after - rows_before));
            }
            if !new_files.is_empty() {
                problems.push(format!("files left: {new_files:?}"));
            }
        } else if rows_after != rows_before + 1 || new_files.len() != 2 {
            problems.push(format!(
                "{} rows and {} files for a stored photo",
                rows_after - rows_before,
                new_files.len()
            ));
        }
        println!(
            "[photos] {case}: {status} {code} ({} new rows, {} new files)",
            rows_after - rows_before,
            new_files.len()
        );
        cases.push(PhotoCase {
            case: case.to_owned(),
            status,
            code,
            new_rows: rows_after - rows_before,
            new_files: new_files.len(),
            problems,
        });
        Ok(())
    };

    let result = (|| -> anyhow::Result<()> {
        check("tmpfs with room (control)", &[(201, "")], noise_jpeg(64, 64)?, &mut monitor, &photos_dir)?;
        // Nearly full: room for a thumbnail, not for the full image (the thumbnail must go again).
        let free = available_bytes(&photos_dir)?;
        fill(&photos_dir.join("filler-1"), free.saturating_sub(96 * 1024))?;
        println!("[photos] filled to {} bytes free", available_bytes(&photos_dir)?);
        check(
            "disk nearly full (thumbnail fits, image not)",
            &[(507, "storage_full")],
            noise_jpeg(900, 900)?,
            &mut monitor,
            &photos_dir,
        )?;
        fill(&photos_dir.join("filler-2"), u64::MAX)?;
        println!("[photos] filled to {} bytes free", available_bytes(&photos_dir)?);
        check("disk full", &[(507, "storage_full")], noise_jpeg(200, 200)?, &mut monitor, &photos_dir)?;
        std::fs::remove_file(photos_dir.join("filler-1"))?;
        std::fs::remove_file(photos_dir.join("filler-2"))?;
        mount.remount("ro")?;
        check(
            "read-only store (tmpfs remounted ro)",
            &[(503, "storage_unavailable")],
            noise_jpeg(200, 200)?,
            &mut monitor,
            &photos_dir,
        )?;
        mount.remount("rw")?;
        mount.unmount()?;
        // The photos path a regular file: nothing can be created under it.
        let moved = data.join("photos.moved");
        std::fs::rename(&photos_dir, &moved)?;
        std::fs::write(&photos_dir, b"")?;
        let outcome = check(
            "photos path is a regular file",
            &[(503, "storage_unavailable")],
            noise_jpeg(200, 200)?,
            &mut monitor,
            &moved,
        );
        let size = std::fs::metadata(&photos_dir).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&photos_dir)?;
        std::fs::rename(&moved, &photos_dir)?;
        outcome?;
        if size != 0 {
            println!("[photos] the regular file grew to {size} bytes");
        }
        check("after repair (plain directory)", &[(201, "")], noise_jpeg(64, 64)?, &mut monitor, &photos_dir)?;
        Ok(())
    })();
    server.stop();
    if result.is_err() || cases.iter().any(|c| !c.problems.is_empty()) {
        server.print_log_tail(30);
    }
    mount.unmount()?;
    result?;
    Ok(cases)
}

/// Every regular file under the photo store, fillers aside.
fn photo_files(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("filler-")) => {
                    out.insert(path);
                }
                _ => {}
            }
        }
    }
    out
}

/// A JPEG of random pixels (they compress badly, so the stored image is large).
fn noise_jpeg(w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let mut rng = rand::thread_rng();
    let img = image::RgbImage::from_fn(w, h, |_, _| image::Rgb([rng.r#gen(), rng.r#gen(), rng.r#gen()]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)?;
    Ok(out)
}

fn available_bytes(dir: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().context("cannot run df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1).and_then(|l| l.trim().parse().ok()).context("df printed no available size")
}

/// Writes up to `bytes` of zeroes, stopping quietly when the disk is full.
fn fill(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0_u8; 4096];
    let mut written = 0_u64;
    while written < bytes {
        let n = usize::try_from((bytes - written).min(chunk.len() as u64)).unwrap_or(chunk.len());
        match f.write(&chunk[..n]) {
            Ok(0) | Err(_) => break,
            Ok(k) => written += k as u64,
        }
        if f.flush().is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    Ok(())
}

/// A tmpfs mounted for the drill, unmounted when dropped (even on failure).
struct Tmpfs {
    at: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> anyhow::Result<Self> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .context("cannot run mount")?;
        anyhow::ensure!(
            status.success(),
            "mount -t tmpfs on {} failed ({status}); the photo drill needs root",
            at.display()
        );
        Ok(Self { at: at.to_path_buf(), mounted: true })
    }

    fn remount(&self, mode: &str) -> anyhow::Result<()> {
        let status = Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.at).status()?;
        anyhow::ensure!(status.success(), "remount,{mode} of {} failed", self.at.display());
        Ok(())
    }

    fn unmount(&mut self) -> anyhow::Result<()> {
        if self.mounted {
            let status = Command::new("umount").arg(&self.at).status()?;
            if !status.success() {
                let lazy = Command::new("umount").arg("-l").arg(&self.at).status()?;
                anyhow::ensure!(lazy.success(), "cannot unmount {}", self.at.display());
            }
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            eprintln!("{e:#}");
        }
    }
}
