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
//! - `shared/`: the shared directory the processes use (with the legacy
//!   registry file, if the scenario has one);
//! - `EXPORT-NOTES.md`: every fault Shadow cannot express (partitions,
//!   degraded links, link jitter, corruption of a random fraction), also
//!   counted in a printed warning — nothing is dropped silently. Byzantine
//!   validators and clock skew are applied by `sim node` itself.
//!
//! The processes run `sim node` and `sim corrupt`; `sim collect
//! shadow.data/hosts --out DIR` turns what they recorded into results.
//!
//! Every YAML string is quoted and every value is written deterministically.

use std::fmt::Write as _;
use std::fs;

use sim_core::network::{GmlGraph, build_network, write_gml};
use sim_core::rng::{RngStreams, names};
use sim_core::runner::start_time;
use sim_core::scenario::{CorruptMode, CorruptTarget, FaultKind, Scenario};
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
        if let Some(bytes) = &config.legacy_registry {
            fs::write(
                args.out
                    .join("shared")
                    .join(sim_core::plan::LEGACY_REGISTRY_FILE),
                bytes,
            )?;
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
    /// The legacy registry to place in the shared directory, if any.
    pub legacy_registry: Option<Vec<u8>>,
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
            let mut crashes: Vec<(SimTime, Option<SimTime>)> = scenario
                .faults
                .iter()
                .filter_map(|f| match &f.kind {
                    FaultKind::Crash { hosts, restart } if hosts.contains(&host.id) => {
                        Some((f.at, *restart))
                    }
                    _ => None,
                })
                .collect();
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
            // Registration-file damage: a helper process at the fault's time.
            for (index, f) in scenario.faults.iter().enumerate() {
                if let FaultKind::Corrupt {
                    target: CorruptTarget::Hosts(hosts),
                    mode,
                } = &f.kind
                    && hosts.contains(&host.id)
                {
                    let helper = vec![
                        "corrupt".to_string(),
                        "--shared-dir".to_string(),
                        args.shared_dir.clone(),
                        "--agent".to_string(),
                        host.name.clone(),
                        "--mode".to_string(),
                        corrupt_mode(*mode).to_string(),
                        "--fault".to_string(),
                        index.to_string(),
                        "--seed".to_string(),
                        scenario.seed.to_string(),
                        "--at".to_string(),
                        f.at.since_start().to_string(),
                        // Waits for the file no longer than the run lasts.
                        "--wait".to_string(),
                        scenario
                            .duration
                            .saturating_sub(f.at.since_start())
                            .to_string(),
                    ];
                    let _ = writeln!(yaml, "    - path: {}", q(&args.sim_path));
                    let _ = writeln!(yaml, "      args: {}", list(&helper));
                    let _ = writeln!(
                        yaml,
                        "      start_time: {}",
                        q(&f.at.since_start().to_string())
                    );
                    let _ = writeln!(yaml, "      expected_final_state: {{exited: 0}}");
                }
            }
        }
        for (index, f) in scenario.faults.iter().enumerate() {
            let what = match &f.kind {
                FaultKind::Partition { .. } => "partition: Shadow has no time-bounded partitions",
                FaultKind::Link { .. } => "link degradation: Shadow's graph is fixed for the run",
                FaultKind::Corrupt {
                    target: CorruptTarget::Fraction { .. },
                    ..
                } => {
                    "corrupt with a random fraction: draw it in `sim run`, or name the hosts to export it"
                }
                _ => continue,
            };
            skipped += 1;
            let _ = writeln!(
                notes,
                "- fault {index} (line {}, at {}): {what}",
                f.location.line,
                f.at.since_start()
            );
        }
        if jittered > 0 {
            skipped += 1;
            let _ = writeln!(
                notes,
                "- jitter on {jittered} link(s): Shadow's GML has no jitter; network.gml keeps the base latency"
            );
        }
        if skipped == 0 {
            notes.push_str("None: everything in the scenario is in shadow.yaml.\n");
        }
        let legacy_registry = sim_core::plan::RegistrationPlan::of(scenario)
            .map_err(|e| e.to_string())?
            .and_then(|p| p.legacy_bytes);
        Ok(ShadowExport {
            gml,
            yaml,
            notes,
            skipped,
            legacy_registry,
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

fn corrupt_mode(mode: CorruptMode) -> &'static str {
    match mode {
        CorruptMode::Empty => "empty",
        CorruptMode::Truncate => "truncate",
        CorruptMode::Garbage => "garbage",
        CorruptMode::InvalidJson => "invalid-json",
        CorruptMode::MissingField => "missing-field",
        CorruptMode::BadSignature => "bad-signature",
        CorruptMode::Legacy => "legacy",
        _ => "mixed",
    }
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
