//! Project tasks, run as `cargo xtask <task>` (an alias for `cargo run --package xtask --`).
//!
//! - `drills`: the fault drills of issues 7 and 24 against real `aftercare serve` replicas, a
//!   loopback SMTP sink and a loopback FCM; see [`drills`].

mod drills;
mod fcm;
mod photos;
mod replica;
mod report;
mod sink;

#[path = "../../benches/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Aftercare project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Fault drills against real replicas: prints planned / sent / lost / duplicated per drill
    /// and exits non-zero when a check fails (anything lost, the drain target missed, …).
    Drills(drills::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Drills(args) => {
            let passed = drills::run(args)?;
            if !passed {
                // A plain exit code: the tables above say what failed.
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// The workspace root (the server's package).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Builds the `aftercare` binary (release unless `debug`) with the cargo that runs this task and
/// returns its path.
fn build_server(debug: bool) -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(&root).args(["build", "--package", "aftercare", "--bin", "aftercare"]);
    if !debug {
        cmd.arg("--release");
    }
    println!("building the server: {cmd:?}");
    let status = cmd.status().context("cannot run cargo")?;
    anyhow::ensure!(status.success(), "building the server failed: {status}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join(if debug { "debug" } else { "release" }).join("aftercare");
    anyhow::ensure!(bin.is_file(), "no binary at {} after the build", bin.display());
    Ok(bin)
}
