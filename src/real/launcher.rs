//! The process supervisor of `sim launch`: starts each host's `sim node`
//! at its start time on its own loopback socket (the launcher's, kept
//! across the host's restarts), kills it (SIGKILL) at a
//! crash fault and starts it again at the restart, damages registration
//! files at `corrupt` faults, then waits for every process to exit at the
//! scenario's end. It is the real-process counterpart of the engine's
//! fault timeline; the timing is real time scaled by the time scale.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_logic::HostId;
use sim::Scenario;
use sim::faults::RealEffect;
use sim::protocols::registration::corrupt::DamageTarget;
use sim::runner::start_time;
use sim_core::rng::RngStreams;

use sim_core::units::SimTime;

use crate::exit::Exit;
use crate::real::host_log::{HostRecord, append_one};

type Failure = (Exit, String);

/// Real time the processes get after the scenario's end to exit by
/// themselves before they are killed.
const GRACE: Duration = Duration::from_secs(10);
/// Real time, before scenario time 0, in which the first processes are
/// started (they set up, then wait for their start time), plus
/// [`PRESTART_PER_HOST`] per host.
const PRESTART: Duration = Duration::from_millis(300);
/// See [`PRESTART`].
const PRESTART_PER_HOST: Duration = Duration::from_millis(10);

/// One thing the launcher does at a scenario time.
#[derive(Clone, Debug)]
enum Action {
    /// Start a host's process.
    Start { host: HostId, restarted: bool },
    /// Kill a host's process (crash fault `fault`).
    Kill { host: HostId },
    /// Damage files (fault `fault`; the targets as the simulator draws them).
    Damage {
        fault: usize,
        targets: Vec<DamageTarget>,
    },
}

/// A UDP socket on a free 127.0.0.1 port for each of `count` hosts, and
/// their ports. The launcher keeps them for the whole launch and hands
/// each host's to every process of that host (`sim node --socket-fd`):
/// a datagram sent to a host while it is down waits in its socket for the
/// restart, which takes it if it is due by then, as the simulator
/// delivers one that arrives once the host is up again.
fn host_sockets(count: usize) -> std::io::Result<(Vec<UdpSocket>, Vec<u16>)> {
    let sockets: Vec<UdpSocket> = (0..count)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let ports = sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    Ok((sockets, ports))
}

/// Lets the process `command` starts inherit descriptor `fd` (the
/// launcher's sockets are close-on-exec, as std opens every descriptor).
fn inherit(command: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls fcntl(2), which is async-signal-safe, on a descriptor the
    // launcher holds open.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
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
    for (fault, cx) in sim::faults::each(scenario, &streams) {
        match fault.effects().real(&cx) {
            RealEffect::Crash { hosts, restart } => {
                for host in hosts {
                    plan.push((cx.at, 0, Action::Kill { host }));
                    if let Some(r) = restart {
                        let start = Action::Start {
                            host,
                            restarted: true,
                        };
                        plan.push((r, 2, start));
                    }
                }
            }
            RealEffect::Damage { targets } => {
                let fault = cx.index;
                plan.push((cx.at, 1, Action::Damage { fault, targets }));
            }
            // `sim node` applies these to itself (it reads the scenario).
            RealEffect::Misbehave { .. }
            | RealEffect::ClockSkew { .. }
            | RealEffect::Network { .. }
            | RealEffect::StorageOutage { .. } => {}
            // `sim launch` announces and counts these (launch_cmd).
            RealEffect::Skipped(_) => {}
        }
    }
    let end = SimTime::from_duration(scenario.duration);
    plan.retain(|(at, _, _)| *at < end);
    plan.sort_by_key(|(at, order, _)| (*at, *order));
    plan
}

/// How the processes of a launch ended.
pub struct Outcome {
    /// Still running after the grace period, then killed.
    pub killed_late: usize,
    /// Exited with a failure by themselves: host name and status.
    pub failed: Vec<(String, std::process::ExitStatus)>,
    /// A signal stopped the launch.
    pub interrupted: bool,
}

/// One launch in progress.
pub struct Launcher<'a> {
    sim: PathBuf,
    scenario_file: PathBuf,
    overrides: Vec<String>,
    scenario: &'a Scenario,
    work: PathBuf,
    /// Each host's socket (see [`host_sockets`]) and its port.
    sockets: Vec<UdpSocket>,
    ports: Vec<u16>,
    time_scale: f64,
    children: BTreeMap<HostId, Child>,
    origin: Instant,
    /// The wall-clock instant of `origin`, given to every process so all
    /// share the launcher's timeline (spawn delays do not shift clocks).
    epoch_unix_ns: u64,
}

impl<'a> Launcher<'a> {
    /// A launch of `scenario` (read by the processes from `scenario_file`
    /// with `overrides`, `KEY=VALUE`) running `sim`, with its files in
    /// `work`, at `time_scale`. Binds a socket on a free loopback port per
    /// host, kept for the whole launch ([`host_sockets`]); scenario time 0
    /// is now.
    pub fn new(
        sim: PathBuf,
        scenario_file: PathBuf,
        overrides: Vec<String>,
        scenario: &'a Scenario,
        work: PathBuf,
        time_scale: f64,
    ) -> std::io::Result<Self> {
        let (sockets, ports) = host_sockets(scenario.hosts.len())?;
        // Scenario time 0 lies a little ahead: every first process is
        // started at once and sets up (reads the scenario, derives keys,
        // binds) before its start time, so set-up costs no scenario time.
        let ahead = PRESTART + PRESTART_PER_HOST * scenario.hosts.len() as u32;
        let epoch = SystemTime::now() + ahead;
        Ok(Launcher {
            sim,
            scenario_file,
            overrides,
            scenario,
            work,
            sockets,
            ports,
            time_scale,
            children: BTreeMap::new(),
            origin: Instant::now() + ahead,
            epoch_unix_ns: epoch
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        })
    }

    /// Carries out the scenario's timeline, then waits for the processes;
    /// `stop` (set by a signal) cuts it short and asks them to stop.
    pub fn run(mut self, stop: &AtomicBool) -> Result<Outcome, Failure> {
        let plan = schedule(self.scenario);
        let mut corruptions = Vec::new();
        // Every host's first process now; each waits for its start time.
        for (at, _, action) in &plan {
            if let Action::Start {
                host,
                restarted: false,
            } = action
            {
                self.start(*host, false, *at)?;
            }
        }
        for (at, _, action) in &plan {
            if !self.sleep_until(*at, stop) {
                break;
            }
            match action {
                Action::Start {
                    restarted: false, ..
                } => {} // started above
                Action::Start { host, restarted } => self.start(*host, *restarted, *at)?,
                Action::Kill { host } => self.kill(*host),
                Action::Damage { fault, targets } => {
                    corruptions.extend(self.damage(*fault, targets.clone(), *at))
                }
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
        let socket = self.sockets[host.index()].as_raw_fd();
        let mut command = Command::new(&self.sim);
        inherit(&mut command, socket);
        command
            .arg("node")
            .arg("--scenario")
            .arg(&self.scenario_file)
            .args(["--seed", &self.scenario.seed.to_string()])
            .args(["--host", name])
            .arg("--shared-dir")
            .arg(self.work.join("shared"))
            .args(["--socket-fd", &socket.to_string()])
            .args(["--time-scale", &self.time_scale.to_string()])
            // Loopback has no latency, jitter, loss or bandwidth limit:
            // each process puts the scenario's own path into its sends.
            .args(["--path", "emulate"])
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
    fn damage(
        &self,
        fault: usize,
        targets: Vec<DamageTarget>,
        at: SimTime,
    ) -> Vec<thread::JoinHandle<()>> {
        let streams = RngStreams::new(self.scenario.seed);
        let end = SimTime::from_duration(self.scenario.duration);
        let wait = self.real_at(end).saturating_duration_since(Instant::now());
        targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let shared = self.work.join("shared");
                let host_dir = self.work.join("hosts").join(&t.agent);
                thread::spawn(move || {
                    let mut rng = streams.damage(fault, i);
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
