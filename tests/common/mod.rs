//! Helpers shared by the tests that drive the `sim` binary.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `sim` binary with `args` from the repository root.
pub fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the sim binary runs")
}

/// A fresh, empty temporary folder for one test (`suite` keeps test files
/// apart; the process id keeps concurrent runs apart).
pub fn temp(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-{suite}-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp folder");
    dir
}
