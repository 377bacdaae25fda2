//! `sim export shadow`: the same study as a Shadow 3.x configuration.
//!
//! Writes, into the output folder:
//! - `network.gml`: the scenario's graph in Shadow's GML dialect (built-in
//!   topologies included), every node with `host_bandwidth_up/down`, one
//!   self-loop per node, integer units only (jitter left to the nodes);
//! - `shadow.yaml`: `general` (stop time, seed), `network.graph` (the GML
//!   file), and one host per scenario host (its GML node, an IP address,
//!   its own bandwidth) whose processes run `sim node` for that host,
//!   starting at the host's start time; a crash becomes a SIGKILL at the
//!   crash time and, with a restart, a second process; each file a
//!   `corrupt` fault damages (named, or drawn by `fraction` with `sim
//!   run`'s stream) becomes a `sim corrupt` helper process at its time;
//! - `scenario.toml` and `inputs/`: the scenario as the processes read it
//!   (`--set` values applied, name and seed written in, the graph and
//!   legacy registry copied), so nothing needs repeating to collect;
//! - `EXPORT-NOTES.md`: what is left out (nothing, unless a fault kind
//!   says it cannot be reproduced), how each part is reproduced, and what
//!   is approximated; a printed warning counts what is left out.
//!
//! The network faults (partitions, degraded links, duplication,
//! reordering), byzantine behaviour and clock skew are applied by each
//! `sim node` to itself. The processes share `shadow.data/shared`, fresh
//! for every Shadow run (Shadow refuses to reuse a data folder), which the
//! first process fills with the files the protocols place there. `sim
//! collect shadow.data/hosts --out DIR` turns what they recorded into
//! results.
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
    let written = (|| -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        fs::create_dir_all(&args.out).map_err(io)?;
        fs::write(args.out.join("network.gml"), &config.gml).map_err(io)?;
        fs::write(args.out.join("shadow.yaml"), &config.yaml).map_err(io)?;
        crate::resolved_copy::write(
            &job.scenario,
            &job.path,
            &args.scenarios.overrides,
            &args.out,
        )?;
        fs::write(args.out.join("EXPORT-NOTES.md"), &config.notes).map_err(io)?;
        Ok(())
    })();
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return Exit::OutputFailed;
    }
    println!(
        "wrote {} (shadow.yaml, network.gml, scenario.toml, inputs/, EXPORT-NOTES.md): {} hosts",
        args.out.display(),
        job.scenario.hosts.len()
    );
    if skips_unchanged(&job.scenario) {
        eprint!("warning: {}", &SKIP_UNCHANGED_NOTE[2..]);
    }
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
    /// Faults `sim node` applies to itself: (index, kind).
    by_nodes: Vec<(usize, &'static str)>,
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
                RealEffect::Misbehave { .. }
                | RealEffect::ClockSkew { .. }
                | RealEffect::Network { .. }
                | RealEffect::StorageOutage { .. } => out.by_nodes.push((cx.index, fault.name())),
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
        let (gml, jittered) = graph(scenario, &network);
        let mut yaml = String::new();
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
            host_processes(&mut yaml, scenario, args, host, &real, &streams);
        }
        Ok(ShadowExport {
            gml,
            yaml,
            notes: notes(
                &real,
                jittered,
                scenario.cpu.is_some(),
                skips_unchanged(scenario),
            ),
            skipped: real.skipped.len() + usize::from(scenario.cpu.is_some()),
        })
    }
}

/// `network.gml` for `network`, and how many of its links have a jitter
/// (which Shadow's GML cannot carry: the nodes draw it).
fn graph(scenario: &Scenario, network: &sim_core::network::Network) -> (String, usize) {
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
        let default = sim_core::network::DEFAULT_BANDWIDTH;
        let (up, down) = attached.map_or((default, default), |(_, a)| (a.up, a.down));
        node.bandwidth_up.get_or_insert(up);
        node.bandwidth_down.get_or_insert(down);
    }
    // Shadow 3's GML has no jitter: the graph keeps the base latency and
    // each `sim node` adds the jitter in its send path (`--path jitter`).
    let jittered = graph.edges.iter().filter(|e| !e.jitter.is_zero()).count();
    for edge in &mut graph.edges {
        edge.jitter = sim_core::units::SimDuration::ZERO;
    }
    (write_gml(&graph), jittered)
}

/// The processes of `host`: its lives (start, then each crash and
/// restart) and a `sim corrupt` helper per file damage on it.
fn host_processes(
    yaml: &mut String,
    scenario: &Scenario,
    args: &ExportArgs,
    host: &sim_core::scenario::HostSpec,
    real: &RealFaults,
    streams: &RngStreams,
) {
    let node_args = |restarted: bool, begin: SimTime| {
        let mut a: Vec<String> = [
            "node",
            "--scenario",
            "../../../scenario.toml",
            "--host",
            &host.name,
            "--shared-dir",
            &args.shared_dir,
            "--seed",
            &scenario.seed.to_string(),
            "--start-at",
            &begin.since_start().to_string(),
            // Shadow's graph has the paths' latency, loss and bandwidth,
            // not their jitter.
            "--path",
            "jitter",
        ]
        .map(str::to_string)
        .to_vec();
        if restarted {
            a.push("--restarted".to_string());
        }
        a
    };
    let mut begin = start_time(scenario.groups[host.group].start, host.id, streams);
    let mut restarted = false;
    let mut crashes = real.crashes.get(&host.id).cloned().unwrap_or_default();
    crashes.sort();
    for (at, restart) in crashes {
        if at > begin {
            let a = node_args(restarted, begin);
            process(yaml, &args.sim_path, &a, begin, Some(at));
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
        let a = node_args(restarted, begin);
        process(yaml, &args.sim_path, &a, begin, None);
    }
    for (at, fault, target, damage) in real.damages.get(&host.id).into_iter().flatten() {
        corrupt_helper(yaml, scenario, args, (*at, *fault, *target), damage);
    }
}

/// Whether the scenario's registrars skip unchanged files.
fn skips_unchanged(scenario: &Scenario) -> bool {
    scenario
        .protocols
        .registration
        .as_ref()
        .is_some_and(|r| r.skip_unchanged)
}

/// Why `skip_unchanged` saves nothing under Shadow (said in the notes and
/// on stderr).
const SKIP_UNCHANGED_NOTE: &str = "- [registration] skip_unchanged: under Shadow a process's clock \
     is Shadow's simulated one (from 2000-01-01) while the shared directory's modification times come \
     from the host's real clock, so every stat looks newer than the process's clock and is flagged \
     recent, never trusted: every file is read again as without the cache (safe, no saving)\n";

/// `EXPORT-NOTES.md`: what a Shadow run of the export leaves out, how
/// each part is reproduced, and what is approximated.
fn notes(real: &RealFaults, jittered: usize, cpu: bool, skip_unchanged: bool) -> String {
    let mut notes = String::from(
        "# Export notes\n\nHow a Shadow run of this export reproduces `sim run scenario.toml`.\n\n\
         ## Left out\n\n",
    );
    for (index, line, at, why) in &real.skipped {
        let _ = writeln!(
            notes,
            "- fault {index} (line {line}, at {}): {why}",
            at.since_start()
        );
    }
    if cpu {
        notes.push_str(
            "- [cpu]: Shadow does not model CPU time (processes run in zero simulated \
             time), so the per-operation costs and queue delays of the CPU model are not \
             reproduced; compare with a `sim run` without [cpu]\n",
        );
    }
    if skip_unchanged {
        notes.push_str(SKIP_UNCHANGED_NOTE);
    }
    if real.skipped.is_empty() && !cpu && !skip_unchanged {
        notes.push_str("Nothing: every fault of the scenario is in this export.\n");
    }
    notes.push_str(
        "\n## How\n\n\
         - Paths: latency, loss and bandwidth are network.gml's, modelled by Shadow.\n",
    );
    if jittered > 0 {
        let _ = writeln!(
            notes,
            "- Jitter ({jittered} link(s)): Shadow's GML has none, so each `sim node` delays \
             its datagrams by a jitter drawn as `sim run` does (`--path jitter`, its own stream)."
        );
    }
    let by_nodes: Vec<String> = real
        .by_nodes
        .iter()
        .map(|(i, kind)| format!("{i} ({kind})"))
        .collect();
    if !by_nodes.is_empty() {
        let _ = writeln!(
            notes,
            "- Faults {}: applied by each `sim node` to itself and its own datagrams \
             (partitions, degraded links, duplication and reordering as the simulator's own rules; \
             byzantine behaviour; clock skew; storage outages, by holding its file operations \
             until the end).",
            by_nodes.join(", ")
        );
    }
    notes.push_str(
        "- Crashes: the host's process is killed (SIGKILL) at the crash time; a restart is a second process.\n\
         - File damage (`corrupt`, also `fraction` draws): resolved here with `sim run`'s streams; a \
         `sim corrupt` helper process on each damaged miner's host damages its file at the fault's time.\n\
         \n## Approximated\n\n\
         - File operation costs: Shadow runs file operations at once; `[registration] write_time`, \
         `read_time` and `list_time` are not modelled (with them set to `\"0 s\"`, `sim run` gives \
         Shadow's registration times).\n\
         - Order of file operations across hosts: Shadow does not order the shared directory's \
         operations of different hosts by simulated time, so a race on one file (a registrar reading \
         a file a helper is damaging) can go either way; counts such as \
         `registration.corrupt_detected` may differ between two Shadow runs of this export.\n\
         - Each run uses a fresh shared directory inside Shadow's data folder \
         (`shadow.data/shared`); re-run Shadow only after removing `shadow.data`.\n",
    );
    notes
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
