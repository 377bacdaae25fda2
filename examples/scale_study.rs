//! Collects the scale study's runs (`scripts/scale-study.sh`) into a table
//! and two plots: overlay convergence and gossip delay against the number
//! of peers, one line per `max_outbound`.
//!
//! ```sh
//! cargo run --release --example scale_study -- OUT_DIR docs/
//! ```
//!
//! `OUT_DIR/n<hosts>-k<max_outbound>/gossip-overlay/seed-<seed>/summary.json`
//! for every run of the grid below; writes `scale-study.md`,
//! `scale-study-convergence.svg` and `scale-study-gossip.svg` into the
//! second folder. Every number comes from a summary; a missing run is an
//! error naming it.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use reports::plots::svg::{Series, line_chart};
use serde_json::Value;

/// Network sizes and outbound targets of the study (as the script runs them).
const SIZES: [u64; 2] = [1_000, 10_000];
const OUTBOUND: [u64; 3] = [4, 8, 16];
/// The metrics in the table, in order.
const COLUMNS: [&str; 9] = [
    "peers.converged_s",
    "peers.degree_mean",
    "peers.diameter_hops",
    "gossip.reach50_s",
    "gossip.reach90_s",
    "gossip.reach100_s",
    "gossip.delivery_p95_s",
    "gossip.hops_max",
    "gossip.coverage",
];

fn summary(out: &Path, n: u64, k: u64) -> Result<Value, String> {
    let dir = out.join(format!("n{n}-k{k}")).join("gossip-overlay");
    let seed = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("summary.json").is_file())
        .ok_or_else(|| format!("no run in {}", dir.display()))?;
    let text = fs::read_to_string(seed.join("summary.json")).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn main() -> Result<(), String> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [out, docs] = args.as_slice() else {
        return Err("usage: scale_study OUT_DIR DOCS_DIR".into());
    };
    let mut table = String::from(
        "| peers | max_outbound | converged (s) | mean degree | diameter (hops) | reach 50 % (s) | reach 90 % (s) | reach 100 % (s) | delivery p95 (s) | hops max | coverage |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut convergence = Vec::new();
    let mut gossip = Vec::new();
    for k in OUTBOUND {
        let mut conv = Vec::new();
        let mut reach = Vec::new();
        for n in SIZES {
            let s = summary(out, n, k)?;
            let get = |m: &str| s.get(m).and_then(Value::as_f64);
            let _ = write!(table, "| {n} | {k} |");
            for m in COLUMNS {
                let _ = match get(m) {
                    Some(v) if v.fract() == 0.0 => write!(table, " {v} |"),
                    Some(v) => write!(table, " {v:.3} |"),
                    None => write!(table, " — |"),
                };
            }
            table.push('\n');
            if let Some(c) = get("peers.converged_s") {
                conv.push((n as f64, c));
            }
            if let Some(r) = get("gossip.reach100_s") {
                reach.push((n as f64, r));
            }
        }
        convergence.push(Series::new(format!("max_outbound {k}"), conv));
        gossip.push(Series::new(format!("max_outbound {k}"), reach));
    }
    let write = |name: &str, text: String| {
        fs::write(docs.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("scale-study.md", table)?;
    write(
        "scale-study-convergence.svg",
        line_chart(
            "Overlay convergence vs network size",
            "peers",
            "converged (s)",
            &convergence,
            false,
        ),
    )?;
    write(
        "scale-study-gossip.svg",
        line_chart(
            "Gossip: time to reach every peer vs network size",
            "peers",
            "reach 100 % (s, mean over rumors)",
            &gossip,
            false,
        ),
    )?;
    Ok(())
}
