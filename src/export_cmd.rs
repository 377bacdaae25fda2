//! `sim export shadow`: the same study as a Shadow 3.x configuration.
//!
//! Writes, into the output folder:
//! - `network.gml`: the scenario's graph in Shadow's GML dialect (built-in
//!   topologies included), every node with `host_bandwidth_up/down`, one
//!   self-loop per node, integer units only;
//! - `shadow.yaml`: `general` (stop time, seed), `network.graph` (the GML
//!   file), and one host per scenario host (its GML node, an IP address,
//!   its own bandwidth) whose processes run `sim node` for that host,
//!   starting at the host's start time; a crash becomes a SIGKILL at the
//!   crash time and, with a restart, a second process; a `corrupt` fault
//!   becomes a `sim corrupt` helper process at its time;
//! - `scenario.toml`: the scenario file the processes read;
//! - `shared/`: the shared directory the processes use (with the files
//!   the protocols place there, e.g. a legacy registry);
//! - `EXPORT-NOTES.md`: every fault Shadow cannot express (partitions,
//!   degraded links, link jitter), also
//!   counted in a printed warning — nothing is dropped silently. Byzantine
//!   validators and clock skew are applied by `sim node` itself.
//!
//! The processes run `sim node` and `sim corrupt`; `sim collect
//! shadow.data/hosts --out DIR` turns what they recorded into results.
//!
//! Every YAML string is quoted and every value is written deterministically.

use std::fmt::Write as _;
use std::fs;

use node_logic::HostId;
use sim::Scenario;
use sim::faults::RealEffect;
use sim::protocols::registration::corrupt::DamageTarget;
use sim::runner::start_time;
use sim_core::network::{GmlGraph, build_network, write_gml};
use sim_core::rng::{RngStreams, names};
use sim_core::units::SimTime;

use crate::cli::ExportArgs;
use crate::exit::Exit;
use crate::jobs::single;

/// `sim export shadow FILE --out DIR`.
pub fn export(args: &ExportArgs) -> Exit {
    let Some(job) = single(&args.scenarios, "export shadow") else {
        return Exit::InvalidInput;
    };
    let job = &job;
    if args.out.exists()
        && fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        eprintln!(
            "error: {} exists and is not empty: export into a new folder",
            args.out.display()
        );
        return Exit::InvalidInput;
    }
    let config = match ShadowExport::new(&job.scenario, args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}: {e}", job.path.display());
            return Exit::InvalidInput;
        }
    };
    let written = (|| -> std::io::Result<()> {
        fs::create_dir_all(&args.out)?;
        fs::write(args.out.join("network.gml"), &config.gml)?;
        fs::write(args.out.join("shadow.yaml"), &config.yaml)?;
        fs::copy(&job.path, args.out.join("scenario.toml"))?;
        fs::create_dir_all(args.out.join("shared"))?;
        for (path, bytes) in &config.shared_files {
            fs::write(args.out.join("shared").join(path), bytes)?;
        }
        fs::write(args.out.join("EXPORT-NOTES.md"), &config.notes)?;
        Ok(())
    })();
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return Exit::OutputFailed;
    }
    println!(
        "wrote {} (shadow.yaml, network.gml, scenario.toml, shared/, EXPORT-NOTES.md): {} hosts",
        args.out.display(),
        job.scenario.hosts.len()
    );
    if config.skipped > 0 {
        eprintln!(
            "warning: {} fault(s) cannot be expressed in Shadow and are not in the export: see {}",
            config.skipped,
            args.out.join("EXPORT-NOTES.md").display()
        );
    }
    Exit::Ok
}

/// The exported files' contents.
#[derive(Debug)]
pub struct ShadowExport {
    /// `network.gml`.
    pub gml: String,
    /// `shadow.yaml`.
    pub yaml: String,
    /// `EXPORT-NOTES.md`.
    pub notes: String,
    /// Faults left out.
    pub skipped: usize,
    /// The files the protocols place in the shared directory (path, bytes).
    pub shared_files: Vec<(String, Vec<u8>)>,
}

/// What the faults do to a real run, host by host.
#[derive(Default)]
struct RealFaults {
    /// Each host's crashes: (time, restart).
    crashes: std::collections::BTreeMap<HostId, Vec<(SimTime, Option<SimTime>)>>,
    /// Each host's file damages: (time, fault index, target index, target).
    damages: std::collections::BTreeMap<HostId, Vec<(SimTime, usize, usize, DamageTarget)>>,
    /// Faults not reproduced: (index, line, time, why).
    skipped: Vec<(usize, u32, SimTime, &'static str)>,
}

impl RealFaults {
    fn of(scenario: &Scenario, streams: &RngStreams) -> Self {
        let mut out = RealFaults::default();
        for (fault, cx) in sim::faults::each(scenario, streams) {
            match fault.effects().real(&cx) {
                RealEffect::Crash { hosts, restart } => {
                    for host in hosts {
                        out.crashes.entry(host).or_default().push((cx.at, restart));
                    }
                }
                RealEffect::Damage { targets } => {
                    for (i, target) in targets.into_iter().enumerate() {
                        let entry = (cx.at, cx.index, i, target.clone());
                        out.damages.entry(target.host).or_default().push(entry);
                    }
                }
                // `sim node` applies these to itself.
                RealEffect::Misbehave { .. } | RealEffect::ClockSkew { .. } => {}
                RealEffect::Skipped(why) => {
                    let line = scenario.faults[cx.index].location.line;
                    out.skipped.push((cx.index, line, cx.at, why));
                }
            }
        }
        out
    }
}

impl ShadowExport {
    /// The export of `scenario`.
    pub fn new(scenario: &Scenario, args: &ExportArgs) -> Result<Self, String> {
        let streams = RngStreams::new(scenario.seed);
        let network = build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))
            .map_err(|e| e.to_string())?;
        let mut graph: GmlGraph = network.topology.to_gml();
        // Shadow requires host bandwidths on every node: hosts carry their
        // own in shadow.yaml, the nodes get the first attached host's (or
        // 1 Gbit for a node without hosts).
        for node in &mut graph.nodes {
            let attached = scenario.hosts.iter().zip(&network.hosts).find(|(_, a)| {
                network
                    .topology
                    .vertex(a.vertex)
                    .and_then(|v| v.gml_id)
                    .unwrap_or(a.vertex.0)
                    == node.id
            });
            let (up, down) = attached.map_or(
                (
                    sim_core::network::DEFAULT_BANDWIDTH,
                    sim_core::network::DEFAULT_BANDWIDTH,
                ),
                |(_, a)| (a.up, a.down),
            );
            node.bandwidth_up.get_or_insert(up);
            node.bandwidth_down.get_or_insert(down);
        }
        // Shadow 3's GML has no jitter: the export keeps the base latency
        // and says so in the notes.
        let jittered = graph.edges.iter().filter(|e| !e.jitter.is_zero()).count();
        for edge in &mut graph.edges {
            edge.jitter = sim_core::units::SimDuration::ZERO;
        }
        let gml = write_gml(&graph);

        let mut yaml = String::new();
        let mut notes = String::from(
            "# Export notes\n\nFaults of the scenario that Shadow cannot express. They are not in \
             shadow.yaml: a Shadow run of this export does not apply them, so compare it with a \
             `sim run` of the scenario without them.\n\n",
        );
        let mut skipped = 0;
        let _ = writeln!(
            yaml,
            "# Generated by `sim export shadow` from {}; do not edit by hand.",
            scenario.name
        );
        let _ = writeln!(yaml, "general:");
        // One second past the scenario's end: every `sim node` exits 0 at the
        // duration, and Shadow must still be running to see it exit.
        let stop_time = scenario.duration + sim_core::units::SimDuration::from_secs(1);
        let _ = writeln!(yaml, "  stop_time: {}", q(&stop_time.to_string()));
        let _ = writeln!(yaml, "  seed: {}", scenario.seed);
        let _ = writeln!(yaml, "network:");
        let _ = writeln!(yaml, "  graph:");
        let _ = writeln!(yaml, "    type: gml");
        let _ = writeln!(yaml, "    file:");
        let _ = writeln!(yaml, "      path: {}", q("network.gml"));
        let _ = writeln!(yaml, "hosts:");

        let real = RealFaults::of(scenario, &streams);
        let mut extra_args = Vec::new();
        for o in &args.scenarios.overrides {
            extra_args.push("--set".to_string());
            extra_args.push(format!("{}={}", o.key, o.value));
        }
        for (host, attachment) in scenario.hosts.iter().zip(&network.hosts) {
            let node_id = network
                .topology
                .vertex(attachment.vertex)
                .and_then(|v| v.gml_id)
                .unwrap_or(attachment.vertex.0);
            let _ = writeln!(yaml, "  {}:", host.name);
            let _ = writeln!(yaml, "    network_node_id: {node_id}");
            let _ = writeln!(yaml, "    ip_addr: {}", q(&ip_addr(host.id.index())));
            let _ = writeln!(yaml, "    bandwidth_up: {}", q(&attachment.up.to_string()));
            let _ = writeln!(
                yaml,
                "    bandwidth_down: {}",
                q(&attachment.down.to_string())
            );
            let _ = writeln!(yaml, "    processes:");
            let node_args = |restarted: bool, begin: SimTime| {
                let mut a = vec![
                    "node".to_string(),
                    "--scenario".to_string(),
                    "../../../scenario.toml".to_string(),
                    "--host".to_string(),
                    host.name.clone(),
                    "--shared-dir".to_string(),
                    args.shared_dir.clone(),
                    "--seed".to_string(),
                    scenario.seed.to_string(),
                    "--start-at".to_string(),
                    begin.since_start().to_string(),
                ];
                a.extend(extra_args.iter().cloned());
                if restarted {
                    a.push("--restarted".to_string());
                }
                a
            };
            // The host's lives: its start, then every crash and restart.
            let mut begin = start_time(scenario.groups[host.group].start, host.id, &streams);
            let mut restarted = false;
            let mut crashes = real.crashes.get(&host.id).cloned().unwrap_or_default();
            crashes.sort();
            for (at, restart) in crashes {
                if at > begin {
                    process(
                        &mut yaml,
                        &args.sim_path,
                        &node_args(restarted, begin),
                        begin,
                        Some(at),
                    );
                }
                match restart {
                    Some(r) => {
                        begin = begin.max(r);
                        restarted = true;
                    }
                    None => {
                        begin = SimTime::NEVER;
                        break;
                    }
                }
            }
            if begin != SimTime::NEVER {
                process(
                    &mut yaml,
                    &args.sim_path,
                    &node_args(restarted, begin),
                    begin,
                    None,
                );
            }
            // File damage: a helper process at the fault's time.
            for (at, fault, target, damage) in real.damages.get(&host.id).into_iter().flatten() {
                corrupt_helper(&mut yaml, scenario, args, (*at, *fault, *target), damage);
            }
        }
        for (index, line, at, why) in &real.skipped {
            skipped += 1;
            let _ = writeln!(
                notes,
                "- fault {index} (line {line}, at {}): {why}",
                at.since_start()
            );
        }
        if jittered > 0 {
            skipped += 1;
            let _ = writeln!(
                notes,
                "- jitter on {jittered} link(s): Shadow's GML has no jitter; network.gml keeps the base latency"
            );
        }
        if scenario.cpu.is_some() {
            skipped += 1;
            notes.push_str(
                "- [cpu]: Shadow does not model CPU time (processes run in zero simulated \
                 time), so the per-operation costs and queue delays of the CPU model are not \
                 reproduced; compare with a `sim run` without [cpu]\n",
            );
        }
        if skipped == 0 {
            notes.push_str("None: everything in the scenario is in shadow.yaml.\n");
        }
        let plans = scenario
            .protocols
            .plans(scenario, &sim::runner::RunOptions::default())
            .map_err(|e| e.to_string())?;
        Ok(ShadowExport {
            gml,
            yaml,
            notes,
            skipped,
            shared_files: scenario.protocols.shared_files(&plans),
        })
    }
}

/// One process entry of a host.
fn process(
    yaml: &mut String,
    path: &str,
    args: &[String],
    start: SimTime,
    kill_at: Option<SimTime>,
) {
    let _ = writeln!(yaml, "    - path: {}", q(path));
    let _ = writeln!(yaml, "      args: {}", list(args));
    let _ = writeln!(
        yaml,
        "      start_time: {}",
        q(&start.since_start().to_string())
    );
    match kill_at {
        Some(at) => {
            // A crash: killed without a chance to clean up.
            let _ = writeln!(
                yaml,
                "      shutdown_time: {}",
                q(&at.since_start().to_string())
            );
            let _ = writeln!(yaml, "      shutdown_signal: {}", q("SIGKILL"));
            let _ = writeln!(
                yaml,
                "      expected_final_state: {{signaled: {}}}",
                q("SIGKILL")
            );
        }
        None => {
            let _ = writeln!(yaml, "      expected_final_state: {{exited: 0}}");
        }
    }
}

/// Host `i`'s address: 11.x.y.z with z in 1..=254 (no network or broadcast
/// address), distinct for up to 16 million hosts.
fn ip_addr(i: usize) -> String {
    let z = i % 254 + 1;
    let y = (i / 254) % 256;
    let x = (i / (254 * 256)) % 256;
    format!("11.{x}.{y}.{z}")
}

/// A `sim corrupt` helper process damaging `target`'s file at `at` as the
/// simulator does (fault `fault`'s target number `index`: same stream).
fn corrupt_helper(
    yaml: &mut String,
    scenario: &Scenario,
    args: &ExportArgs,
    (at, fault, index): (SimTime, usize, usize),
    target: &DamageTarget,
) {
    let helper = vec![
        "corrupt".to_string(),
        "--shared-dir".to_string(),
        args.shared_dir.clone(),
        "--agent".to_string(),
        target.agent.clone(),
        "--mode".to_string(),
        target.mode.as_str().to_string(),
        "--fault".to_string(),
        fault.to_string(),
        "--target".to_string(),
        index.to_string(),
        "--seed".to_string(),
        scenario.seed.to_string(),
        "--at".to_string(),
        at.since_start().to_string(),
        // Waits for the file no longer than the run lasts.
        "--wait".to_string(),
        scenario
            .duration
            .saturating_sub(at.since_start())
            .to_string(),
    ];
    let _ = writeln!(yaml, "    - path: {}", q(&args.sim_path));
    let _ = writeln!(yaml, "      args: {}", list(&helper));
    let _ = writeln!(
        yaml,
        "      start_time: {}",
        q(&at.since_start().to_string())
    );
    let _ = writeln!(yaml, "      expected_final_state: {{exited: 0}}");
}

/// A double-quoted YAML string.
fn q(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A flow list of quoted strings.
fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}
