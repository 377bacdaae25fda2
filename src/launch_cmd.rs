//! `sim launch FILE`: every host of a scenario as a local `sim node`
//! process on loopback, with a fresh shared directory. The launcher is the
//! fault injector the simulator's engine is: it starts each host at its
//! start time, kills it (SIGKILL) at a crash fault and starts it again at
//! the restart, and damages registration files at `corrupt` faults. Faults
//! that need a network between the processes (partitions, degraded links)
//! cannot be applied on loopback and are reported as skipped, loudly;
//! `byzantine` and `clock_skew` faults are applied by the nodes themselves.
//! At the end it collects the records into `sim run`'s result layout.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_logic::HostId;
use reports::Metric;
use sim_core::plan::RegistrationPlan;
use sim_core::rng::{RngStreams, names};
use sim_core::runner::{corrupt_targets, start_time};
use sim_core::scenario::{FaultKind, Scenario};
use sim_core::units::SimTime;

use crate::cli::LaunchArgs;
use crate::exit::Exit;
use crate::jobs::single;
use crate::real::host_log::{HostRecord, append_one};

/// The most hosts `sim launch` starts as processes on one machine unless
/// told otherwise (`--max-processes`): real-process scale is Shadow's job.
pub const DEFAULT_MAX_PROCESSES: usize = 256;

/// Real time the processes get after the scenario's end to exit by
/// themselves before they are killed.
const GRACE: Duration = Duration::from_secs(10);

/// One thing the launcher does at a scenario time.
#[derive(Clone, Debug)]
enum Action {
    /// Start a host's process.
    Start { host: HostId, restarted: bool },
    /// Kill a host's process (crash fault `fault`).
    Kill { host: HostId },
    /// Damage registration files (corrupt fault `fault`).
    Corrupt { fault: usize },
}

/// `sim launch FILE [--time-scale X] [--out DIR]`.
pub fn launch(args: &LaunchArgs) -> Exit {
    let Some(job) = single(&args.scenarios, "launch") else {
        return Exit::InvalidInput;
    };
    if let Err((exit, message)) = crate::node_cmd::check_time_scale(args.time_scale) {
        eprintln!("error: {message}");
        return exit;
    }
    let hosts = job.scenario.hosts.len();
    if hosts > args.max_processes {
        eprintln!(
            "error: {}: {hosts} hosts would be {hosts} processes on this machine (at most {} with --max-processes): \
             run it at scale under Shadow (`sim export shadow`), or raise --max-processes",
            job.path.display(),
            args.max_processes
        );
        return Exit::InvalidInput;
    }
    match run(args, &job.path, &job.scenario) {
        Ok(exit) => exit,
        Err((exit, message)) => {
            eprintln!("error: {message}");
            exit
        }
    }
}

type Failure = (Exit, String);

fn run(args: &LaunchArgs, path: &Path, scenario: &Scenario) -> Result<Exit, Failure> {
    let sim = match &args.sim_path {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| {
            (
                Exit::RunFailed,
                format!("cannot find this sim executable: {e}"),
            )
        })?,
    };
    let scenario_file = fs::canonicalize(path)
        .map_err(|e| (Exit::InvalidInput, format!("{}: {e}", path.display())))?;
    let work = args
        .out
        .join(&scenario.name)
        .join(format!("seed-{}.launch", scenario.seed));
    prepare_work_dir(&work, scenario, &scenario_file, &args.scenarios.overrides)?;
    let skipped = announce_skipped(scenario);
    let ports = free_ports(scenario.hosts.len()).map_err(|e| {
        (
            Exit::RunFailed,
            format!("cannot find free loopback ports: {e}"),
        )
    })?;
    let plan = schedule(scenario);

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    println!(
        "sim launch: {} ({} hosts) on loopback, seed {}, {} of scenario time at time scale {} (about {:.1} s)",
        scenario.name,
        scenario.hosts.len(),
        scenario.seed,
        scenario.duration,
        args.time_scale,
        scenario.duration.as_secs_f64() * args.time_scale
    );
    println!("  processes' files: {}", work.display());

    let launcher = Launcher {
        sim,
        scenario_file,
        overrides: args
            .scenarios
            .overrides
            .iter()
            .map(|o| format!("{}={}", o.key, o.value))
            .collect(),
        scenario,
        work: work.clone(),
        ports,
        time_scale: args.time_scale,
        children: BTreeMap::new(),
        origin: Instant::now(),
        epoch_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
    };
    let Outcome {
        killed_late,
        failed,
        interrupted,
    } = launcher.run(&plan, &stop)?;
    for (host, status) in &failed {
        eprintln!(
            "error: the process of {host} failed ({status}): see {}",
            work.join("hosts")
                .join(host)
                .join(format!("{host}.stderr"))
                .display()
        );
    }
    if interrupted {
        eprintln!("warning: interrupted: collecting what the processes recorded so far");
    }
    if killed_late > 0 {
        eprintln!(
            "warning: {killed_late} processes did not exit by themselves after the scenario ended and were killed"
        );
    }
    let extra = [
        ("real.time_scale".to_string(), Metric::Real(args.time_scale)),
        (
            "real.faults_skipped".to_string(),
            Metric::Count(skipped as u64),
        ),
    ];
    let text = crate::collect_cmd::collect_into(
        &work.join("hosts"),
        path,
        &args.scenarios.overrides,
        &args.out,
        args.no_plots,
        &extra,
    )
    .map_err(|(exit, message)| {
        if failed.is_empty() {
            (exit, message)
        } else {
            (
                Exit::RunFailed,
                format!("{message} (processes failed, see above)"),
            )
        }
    })?;
    print!("{text}");
    if skipped > 0 {
        eprintln!(
            "warning: {skipped} faults of the scenario were skipped (see above): compare with a `sim run` without them"
        );
    }
    Ok(if interrupted {
        Exit::RunFailed
    } else {
        Exit::Ok
    })
}

/// A fresh folder for the processes' files: `hosts/<host>/`, `shared/`
/// (with the legacy registry, if the scenario has one), a copy of the
/// scenario file and `launch.log` (how to collect again). A previous launch folder is replaced; anything else is refused.
fn prepare_work_dir(
    work: &Path,
    scenario: &Scenario,
    file: &Path,
    overrides: &[sim_core::scenario::Override],
) -> Result<(), Failure> {
    let io = |e: std::io::Error| (Exit::OutputFailed, format!("{}: {e}", work.display()));
    if work.exists() {
        if !work.join("launch.log").is_file() {
            return Err((
                Exit::OutputFailed,
                format!(
                    "{} exists and was not made by `sim launch`: move it away or choose another --out",
                    work.display()
                ),
            ));
        }
        fs::remove_dir_all(work).map_err(io)?;
    }
    fs::create_dir_all(work.join("shared")).map_err(io)?;
    for host in &scenario.hosts {
        fs::create_dir_all(work.join("hosts").join(&host.name)).map_err(io)?;
    }
    // What `sim collect` needs to redo the collection by hand.
    let sets: String = overrides
        .iter()
        .map(|o| format!(" --set '{}={}'", o.key, o.value))
        .collect();
    fs::write(
        work.join("launch.log"),
        format!(
            "sim launch of {} (seed {}) from {}\ncollect again with: sim collect {} --out DIR{sets}\n",
            scenario.name,
            scenario.seed,
            file.display(),
            work.display()
        ),
    )
    .map_err(io)?;
    fs::copy(file, work.join("scenario.toml")).map_err(io)?;
    let plan = RegistrationPlan::of(scenario).map_err(|e| (Exit::InvalidInput, e.to_string()))?;
    if let Some(bytes) = plan.and_then(|p| p.legacy_bytes) {
        fs::write(
            work.join("shared")
                .join(sim_core::plan::LEGACY_REGISTRY_FILE),
            bytes,
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Prints every fault that real processes on loopback cannot apply and
/// returns how many.
fn announce_skipped(scenario: &Scenario) -> usize {
    let mut skipped = 0;
    for (index, fault) in scenario.faults.iter().enumerate() {
        let why = match &fault.kind {
            FaultKind::Partition { .. } => {
                "a partition needs a network between the processes; loopback has none to cut"
            }
            FaultKind::Link { .. } => {
                "link degradation needs a network between the processes; loopback has none to slow"
            }
            _ => continue,
        };
        skipped += 1;
        eprintln!(
            "warning: SKIPPED fault {index} ({} at {}, line {}): {why}",
            sim_core::runner::fault_kind_name(&fault.kind),
            fault.at.since_start(),
            fault.location.line
        );
    }
    skipped
}

/// `count` distinct free UDP ports on 127.0.0.1 (held together while they
/// are chosen, so they differ; released for the processes to bind).
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let sockets: Vec<UdpSocket> = (0..count)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect()
}

/// Everything the launcher does, in time order (ties: starts after kills,
/// so a restart at a crash's time follows it).
fn schedule(scenario: &Scenario) -> Vec<(SimTime, usize, Action)> {
    let streams = RngStreams::new(scenario.seed);
    let mut plan = Vec::new();
    for host in &scenario.hosts {
        let at = start_time(scenario.groups[host.group].start, host.id, &streams);
        plan.push((
            at,
            2,
            Action::Start {
                host: host.id,
                restarted: false,
            },
        ));
    }
    for (index, fault) in scenario.faults.iter().enumerate() {
        match &fault.kind {
            FaultKind::Crash { hosts, restart } => {
                for &host in hosts {
                    plan.push((fault.at, 0, Action::Kill { host }));
                    if let Some(r) = restart {
                        plan.push((
                            *r,
                            2,
                            Action::Start {
                                host,
                                restarted: true,
                            },
                        ));
                    }
                }
            }
            FaultKind::Corrupt { .. } => plan.push((fault.at, 1, Action::Corrupt { fault: index })),
            _ => {}
        }
    }
    let end = SimTime::from_duration(scenario.duration);
    plan.retain(|(at, _, _)| *at < end);
    plan.sort_by_key(|(at, order, _)| (*at, *order));
    plan
}

/// How the processes of a launch ended.
struct Outcome {
    /// Still running after the grace period, then killed.
    killed_late: usize,
    /// Exited with a failure by themselves: host name and status.
    failed: Vec<(String, std::process::ExitStatus)>,
    /// A signal stopped the launch.
    interrupted: bool,
}

struct Launcher<'a> {
    sim: PathBuf,
    scenario_file: PathBuf,
    overrides: Vec<String>,
    scenario: &'a Scenario,
    work: PathBuf,
    ports: Vec<u16>,
    time_scale: f64,
    children: BTreeMap<HostId, Child>,
    origin: Instant,
    /// The wall-clock instant of `origin`, given to every process so all
    /// share the launcher's timeline (spawn delays do not shift clocks).
    epoch_unix_ns: u64,
}

impl Launcher<'_> {
    /// Carries out `plan`, then waits for the processes.
    fn run(
        mut self,
        plan: &[(SimTime, usize, Action)],
        stop: &AtomicBool,
    ) -> Result<Outcome, Failure> {
        let mut corruptions = Vec::new();
        for (at, _, action) in plan {
            if !self.sleep_until(*at, stop) {
                break;
            }
            match action {
                Action::Start { host, restarted } => self.start(*host, *restarted, *at)?,
                Action::Kill { host } => self.kill(*host),
                Action::Corrupt { fault } => corruptions.extend(self.corrupt(*fault, *at)),
            }
        }
        let interrupted = stop.load(Ordering::Relaxed);
        if interrupted {
            for child in self.children.values() {
                terminate(child);
            }
        }
        let end = SimTime::from_duration(self.scenario.duration);
        let deadline = self.real_at(end) + GRACE;
        let mut killed_late = 0;
        let mut failed = Vec::new();
        for (host, mut child) in std::mem::take(&mut self.children) {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        if !status.success() {
                            let name = self.scenario.hosts[host.index()].name.clone();
                            failed.push((name, status));
                        }
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        if stop.load(Ordering::Relaxed) {
                            terminate(&child);
                        }
                        thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        killed_late += 1;
                        break;
                    }
                }
            }
        }
        for handle in corruptions {
            let _ = handle.join();
        }
        Ok(Outcome {
            killed_late,
            failed,
            interrupted: interrupted || stop.load(Ordering::Relaxed),
        })
    }

    /// The real instant of scenario time `at`.
    fn real_at(&self, at: SimTime) -> Instant {
        self.origin + Duration::from_secs_f64(at.as_secs_f64() * self.time_scale)
    }

    /// Sleeps until scenario time `at`; false if a signal came first.
    fn sleep_until(&self, at: SimTime, stop: &AtomicBool) -> bool {
        let target = self.real_at(at);
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= target {
                return true;
            }
            thread::sleep((target - now).min(Duration::from_millis(50)));
        }
    }

    fn start(&mut self, host: HostId, restarted: bool, at: SimTime) -> Result<(), Failure> {
        let name = &self.scenario.hosts[host.index()].name;
        let dir = self.work.join("hosts").join(name);
        let mut command = Command::new(&self.sim);
        command
            .arg("node")
            .arg("--scenario")
            .arg(&self.scenario_file)
            .args(["--seed", &self.scenario.seed.to_string()])
            .args(["--host", name])
            .arg("--shared-dir")
            .arg(self.work.join("shared"))
            .args([
                "--listen",
                &SocketAddr::from(([127, 0, 0, 1], self.ports[host.index()])).to_string(),
            ])
            .args(["--time-scale", &self.time_scale.to_string()])
            .args(["--start-at", &at.since_start().to_string()])
            .args(["--epoch-unix-ns", &self.epoch_unix_ns.to_string()])
            .arg("--out")
            .arg(&dir);
        for o in &self.overrides {
            command.args(["--set", o]);
        }
        for (other, port) in self.scenario.hosts.iter().zip(&self.ports) {
            if other.id != host {
                command.args(["--peer", &format!("{}=127.0.0.1:{port}", other.name)]);
            }
        }
        if restarted {
            command.arg("--restarted");
        }
        let log = |suffix: &str| -> Result<File, Failure> {
            let path = dir.join(format!("{name}.{suffix}"));
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| (Exit::OutputFailed, format!("{}: {e}", path.display())))
        };
        command
            .stdin(Stdio::null())
            .stdout(log("stdout")?)
            .stderr(log("stderr")?);
        let child = command.spawn().map_err(|e| {
            (
                Exit::RunFailed,
                format!("cannot start {}: {e}", self.sim.display()),
            )
        })?;
        self.children.insert(host, child);
        Ok(())
    }

    /// A crash: SIGKILL, no chance to clean up (files written stay).
    fn kill(&mut self, host: HostId) {
        if let Some(mut child) = self.children.remove(&host) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Damages the fault's files in the background (each waits for its file
    /// to be written, as in the simulator).
    fn corrupt(&self, fault: usize, at: SimTime) -> Vec<thread::JoinHandle<()>> {
        let Some(FaultKind::Corrupt { target, mode }) =
            self.scenario.faults.get(fault).map(|f| &f.kind)
        else {
            return Vec::new();
        };
        let streams = RngStreams::new(self.scenario.seed);
        let targets = corrupt_targets(self.scenario, fault, target, *mode, &streams);
        let end = SimTime::from_duration(self.scenario.duration);
        let wait = self.real_at(end).saturating_duration_since(Instant::now());
        targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let shared = self.work.join("shared");
                let host_dir = self.work.join("hosts").join(&t.agent);
                thread::spawn(move || {
                    let mut rng =
                        streams.stream(names::FAULT_DAMAGE, ((fault as u64) << 32) | i as u64);
                    if let Ok(Some(path)) =
                        crate::corrupt_cmd::damage_file(&shared, &t.agent, t.mode, wait, &mut rng)
                    {
                        let record = HostRecord::Damage {
                            at_ns: at.as_nanos(),
                            fault,
                            path,
                            mode: t.mode.as_str().to_string(),
                        };
                        let _ = append_one(&host_dir, &t.agent, &record);
                    }
                })
            })
            .collect()
    }
}

/// Asks a process to stop cleanly (SIGTERM).
fn terminate(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a pid of our own child and a valid signal
        // number has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}
