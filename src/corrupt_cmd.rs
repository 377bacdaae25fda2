//! `sim corrupt`: damages a miner's registration file in a real shared
//! directory the way a scenario's `corrupt` fault does in the simulator
//! (same damage modes, same code), and appends what it did to the host's
//! record for `sim collect`. Shadow exports start it as a helper process at
//! the fault's time; `sim launch` calls [`damage_file`] itself. The file is
//! read and rewritten through [`SharedDir`], so a symbolic link, FIFO,
//! device or oversize file planted under the agent's name is refused, never
//! followed or read without bound.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use node_logic::HostId;
use node_logic::io::{FsError, WriteMode};
use node_logic::protocols::registration::damage::{DamageMode, damage};
use sim::protocols::registration::plan::file_name;
use sim_core::rng::{RngStreams, StreamRng};
use sim_core::units::SimTime;

use crate::cli::CorruptArgs;
use crate::exit::Exit;
use crate::real::host_log::{HostRecord, append_one};
use crate::real::shared_dir::SharedDir;

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

/// Damages `agent`'s registration file in `shared`, waiting up to `wait`
/// (real time) for it to exist. Returns the file's path relative to
/// `shared`, or `None` if it never appeared. A file that is not a regular
/// file (or a link) is an error, not damaged.
pub fn damage_file(
    shared: &Path,
    agent: &str,
    mode: DamageMode,
    wait: Duration,
    rng: &mut StreamRng,
) -> std::io::Result<Option<String>> {
    let name = file_name(agent);
    // The helper writes in place, as a torn write would: no temporary file,
    // so the host id is never used.
    let mut dir = SharedDir::open(shared, HostId(u32::MAX))?;
    let deadline = Instant::now() + wait;
    let original = loop {
        match dir.read(&name) {
            Ok(bytes) if !bytes.is_empty() => break bytes,
            Ok(_) | Err(FsError::NotFound) => {}
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(RETRY);
    };
    let damaged = damage(mode, &original, agent, rng);
    dir.write(&name, &damaged, WriteMode::InPlace)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// `sim corrupt` refuses a link planted as the agent's file: the file
    /// it points to (outside the shared directory) is not touched.
    #[test]
    fn a_linked_registration_file_is_not_damaged_through() {
        let root = std::env::temp_dir().join(format!("sim-corrupt-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let shared = root.join("shared");
        fs::create_dir_all(&shared).unwrap();
        let outside = root.join("precious.json");
        fs::write(&outside, b"{\"keep\": true}").unwrap();
        std::os::unix::fs::symlink(&outside, shared.join(file_name("miner-0"))).unwrap();
        let mut rng = RngStreams::new(1).damage(0, 0);
        let wait = Duration::from_millis(50);
        let result = damage_file(&shared, "miner-0", DamageMode::Garbage, wait, &mut rng);
        let err = result.unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&outside).unwrap(), b"{\"keep\": true}");
        // A regular file is damaged as before.
        fs::remove_file(shared.join(file_name("miner-0"))).unwrap();
        fs::write(
            shared.join(file_name("miner-0")),
            b"{\"agent_id\": \"miner-0\"}",
        )
        .unwrap();
        let damaged = damage_file(&shared, "miner-0", DamageMode::Empty, wait, &mut rng);
        assert_eq!(damaged.unwrap().as_deref(), Some("miner-0_miner_info.json"));
        assert!(
            fs::read(shared.join(file_name("miner-0")))
                .unwrap()
                .is_empty()
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
