//! `sim corrupt`: damages a miner's registration file in a real shared
//! directory the way a scenario's `corrupt` fault does in the simulator
//! (same damage modes, same code), and appends what it did to the host's
//! record for `sim collect`. Shadow exports start it as a helper process at
//! the fault's time; `sim launch` calls [`damage_file`] itself.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use node_logic::protocols::registration::damage::{DamageMode, damage};
use sim::protocols::registration::plan::file_name;
use sim_core::rng::{RngStreams, StreamRng};
use sim_core::units::SimTime;

use crate::cli::CorruptArgs;
use crate::exit::Exit;
use crate::real::host_log::{HostRecord, append_one};

/// How often a missing file is looked for again, in real time: short, as
/// the simulator damages the file as its write completes and a registrar
/// may read it in between.
const RETRY: Duration = Duration::from_millis(1);

/// `sim corrupt --shared-dir D --agent NAME --mode MODE`.
pub fn corrupt(args: &CorruptArgs) -> Exit {
    let Some(mode) = DamageMode::from_name(&args.mode) else {
        let modes: Vec<&str> = DamageMode::ALL.iter().map(|m| m.as_str()).collect();
        eprintln!(
            "error: --mode {}: not a damage mode; use one of {}",
            args.mode,
            modes.join(", ")
        );
        return Exit::InvalidInput;
    };
    if !sim_core::fs::valid_path(&file_name(&args.agent)) {
        eprintln!(
            "error: --agent {}: not an agent id (its file would leave the shared directory)",
            args.agent
        );
        return Exit::InvalidInput;
    }
    if let Err(e) = crate::node_cmd::check_time_scale(args.time_scale) {
        eprintln!("error: {}", e.1);
        return Exit::InvalidInput;
    }
    let at = SimTime::from_duration(args.at.unwrap_or_default());
    let wait = Duration::from_secs_f64(args.wait.as_secs_f64() * args.time_scale);
    // A helper damages one file: its target's stream, as in the simulator.
    let mut rng = RngStreams::new(args.seed).damage(args.fault, args.target);
    match damage_file(&args.shared_dir, &args.agent, mode, wait, &mut rng) {
        Ok(Some(path)) => {
            let record = HostRecord::Damage {
                at_ns: at.as_nanos(),
                fault: args.fault,
                path,
                mode: mode.as_str().to_string(),
            };
            if let Err(e) = append_one(&args.out, &args.agent, &record) {
                eprintln!(
                    "error: cannot record the damage in {}: {e}",
                    args.out.display()
                );
                return Exit::OutputFailed;
            }
            println!(
                "sim corrupt: damaged {}'s file ({})",
                args.agent,
                mode.as_str()
            );
            Exit::Ok
        }
        Ok(None) => {
            println!(
                "sim corrupt: {}'s file never appeared within {}; nothing damaged",
                args.agent, args.wait
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: cannot damage {}'s file: {e}", args.agent);
            Exit::OutputFailed
        }
    }
}

/// Damages `agent`'s registration file in `shared` with `mode`, waiting up
/// to `wait` (real time) for it to exist. Returns the file's path relative
/// to `shared`, or `None` if it never appeared.
pub fn damage_file(
    shared: &Path,
    agent: &str,
    mode: DamageMode,
    wait: Duration,
    rng: &mut StreamRng,
) -> std::io::Result<Option<String>> {
    let name = file_name(agent);
    let path = shared.join(&name);
    let deadline = Instant::now() + wait;
    let original = loop {
        match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => break bytes,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(RETRY);
    };
    let damaged = damage(mode, &original, agent, rng);
    std::fs::write(&path, damaged)?;
    Ok(Some(name))
}
