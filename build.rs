//! Records which source `sim` was built from, for the result records
//! (`run.json`, `sweep.json`: `sim_build`): the git commit, with
//! `+modified` when a tracked source file (the crates' sources and
//! manifests) differs from it, or `unknown` outside a git checkout. Cargo
//! reruns this when the commit or any of those sources changes.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The sources a build is made of.
const SOURCES: &[&str] = &[
    "src",
    "sim-core",
    "node-logic",
    "reports",
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
];

fn main() {
    for path in SOURCES {
        println!("cargo:rerun-if-changed={path}");
    }
    // The commit: HEAD and the branch it points to (or packed refs).
    for name in ["HEAD", "packed-refs", "index"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
        && Path::new(&path).exists()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    let build = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => {
            let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
            status.extend_from_slice(SOURCES);
            let modified = git(&status).is_some_and(|s| !s.is_empty());
            format!("git {commit}{}", if modified { "+modified" } else { "" })
        }
        None => "unknown (not built from a git checkout)".to_string(),
    };
    println!("cargo:rustc-env=SIM_BUILD={build}");
}
