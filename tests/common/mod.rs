//! Helpers shared by the tests that drive the `sim` binary.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `sim` binary with `args` from the repository root.
#[allow(dead_code)] // tests/cluster.rs runs it from a study folder instead
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

/// Every file under `dir`: relative path -> bytes (to compare result
/// folders byte for byte).
#[allow(dead_code)] // not every test file compares folders
pub fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("readable folder") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, fs::read(&path).expect("readable file"));
            }
        }
    }
    files
}
