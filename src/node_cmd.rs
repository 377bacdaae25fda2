//! `sim node`: one host of a scenario as a real process. It builds the
//! host's node logic exactly as `sim run` does (same roles, keys from the
//! same seed, same settings), then drives it with the real-process runtime
//! until the scenario's duration or SIGTERM/SIGINT, and leaves its records
//! in `--out` for `sim collect`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use node_logic::HostId;
use node_logic::HostNode;
use sim::Scenario;
use sim::faults::RealEffect;
use sim::runner::{HostSetup, RunOptions, identity, start_time};
use sim_core::rng::{RngStreams, names};

use sim_core::units::SimTime;

use crate::cli::{NodeArgs, ScenarioArgs};
use crate::exit::Exit;
use crate::jobs::single;
use crate::real::clock::ScaledClock;
use crate::real::driver::{NodeRun, SelfAction, SelfFault};
use crate::real::host_log::{HostLog, HostRecord, LOG_FORMAT, ObservationRows};
use crate::real::netpath::{NetPath, PathModel};
use crate::real::shared_dir::SharedDir;
use crate::real::transport::{AddressBook, Transport};

/// `sim node --scenario F --host NAME`.
pub fn node(args: &NodeArgs) -> Exit {
    match run(args) {
        Ok(exit) => exit,
        Err((exit, message)) => {
            eprintln!("error: {message}");
            exit
        }
    }
}

type Failure = (Exit, String);

fn invalid(message: String) -> Failure {
    (Exit::InvalidInput, message)
}

fn run(args: &NodeArgs) -> Result<Exit, Failure> {
    let scenario_args = ScenarioArgs {
        files: vec![args.scenario.clone()],
        overrides: args.overrides.clone(),
        seed: args.seed,
    };
    let job = single(&scenario_args, "node").ok_or((
        Exit::InvalidInput,
        "the scenario cannot be run (see above)".to_string(),
    ))?;
    let scenario = &job.scenario;
    let me = host_named(scenario, &args.host)?;
    check_time_scale(args.time_scale)?;
    let mut explicit = BTreeMap::new();
    for peer in &args.peers {
        host_named(scenario, &peer.name)?;
        explicit.insert(peer.name.clone(), peer.addr);
    }
    let host = &scenario.hosts[me.index()];
    let start_at = match (args.start_at, args.restarted) {
        (Some(at), _) => SimTime::from_duration(at),
        (None, false) => {
            let streams = RngStreams::new(scenario.seed);
            start_time(scenario.groups[host.group].start, me, &streams)
        }
        (None, true) => {
            return Err(invalid(
                "--restarted needs --start-at: the scenario time this process starts (the crash fault's restart time)".into(),
            ));
        }
    };
    let end = SimTime::from_duration(scenario.duration);

    // Signatures are verified one by one: there is no run-wide cache
    // between processes.
    let options = RunOptions {
        signature_cache: false,
        ..RunOptions::default()
    };
    let plans = scenario
        .protocols
        .plans(scenario, &options)
        .map_err(|e| invalid(format!("{}: {e}", job.path.display())))?;
    let shared_files = scenario.protocols.shared_files(&plans);
    let setup = HostSetup::new(scenario, Rc::new(plans));
    let streams = RngStreams::new(scenario.seed);
    let keys = scenario
        .hosts
        .iter()
        .map(|h| identity(&streams, h.id).public_key())
        .collect();
    let names: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], args.port)));
    let book = AddressBook::new(names.clone(), &explicit, args.port);
    let socket = match args.socket_fd {
        Some(fd) => inherited_socket(fd).map_err(|e| invalid(format!("--socket-fd {fd}: {e}")))?,
        None => UdpSocket::bind(listen)
            .map_err(|e| (Exit::RunFailed, format!("cannot listen on {listen}: {e}")))?,
    };
    let mut transport = Transport::on(socket, me, identity(&streams, me), keys, book)
        .map_err(|e| (Exit::RunFailed, format!("cannot set up the socket: {e}")))?;
    let clock = match args.epoch_unix_ns {
        Some(epoch) => ScaledClock::from_epoch(epoch, args.time_scale),
        None => ScaledClock::new(start_at, args.time_scale),
    };
    let output = |what: &str, e: std::io::Error| (Exit::OutputFailed, format!("{what}: {e}"));
    let shared = |e| {
        output(
            &format!("shared directory {}", args.shared_dir.display()),
            e,
        )
    };
    let mut dir = SharedDir::open(&args.shared_dir, me).map_err(shared)?;
    dir.place_missing(&shared_files).map_err(shared)?;
    let mut log = HostLog::open(&args.out, &host.name)
        .map_err(|e| output(&format!("record file in {}", args.out.display()), e))?;
    let rows = ObservationRows::open(&args.out, &host.name, names)
        .map_err(|e| output(&format!("observations in {}", args.out.display()), e))?;
    // Handlers first: once the boot is on record, a SIGTERM must find them.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| {
            (
                Exit::RunFailed,
                format!("cannot handle signal {signal}: {e}"),
            )
        })?;
    }
    // Started ahead of its time (`sim launch` does, so that setting up
    // costs no scenario time): wait for it, then drop what arrived before
    // the host was up, as the simulator drops messages to a host not yet
    // started. An emulating path's datagrams say when they are due (they
    // are sent early): the loop drops those due before the start.
    loop {
        let wait = clock.real_until(start_at);
        if wait.is_zero() || stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(wait.min(std::time::Duration::from_millis(20)));
    }
    if args.path != PathModel::Emulate {
        transport
            .discard_waiting()
            .map_err(|e| (Exit::RunFailed, format!("{}: {e}", host.name)))?;
    }
    log.append(&HostRecord::Boot {
        format: LOG_FORMAT,
        host: host.name.clone(),
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        restarted: args.restarted,
        at_ns: start_at.as_nanos(),
        time_scale: args.time_scale,
    })
    .and_then(|()| log.flush())
    .map_err(|e| output(&log.path().display().to_string(), e))?;

    let bound = transport.local_addr().unwrap_or(listen);
    println!(
        "sim node: {} (host {}) on {bound}: scenario {}, seed {}, from {} to {}, time scale {}",
        host.name,
        me.0,
        scenario.name,
        scenario.seed,
        start_at.since_start(),
        scenario.duration,
        args.time_scale
    );
    // Each incarnation draws from its own stream (a restart is a new process).
    let rng_index = u64::from(me.0) | (u64::from(args.restarted) << 32);
    let network =
        sim_core::network::build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))
            .map_err(|e| invalid(format!("{}: {e}", job.path.display())))?;
    let mut path = NetPath::new(
        me,
        args.path,
        network,
        streams.stream(names::REAL_NETWORK, rng_index),
    );
    let (faults, crashes) = self_faults(scenario, me, start_at, &mut path);
    let node_run = NodeRun {
        node: HostNode::new(setup.config(me)),
        clock,
        end,
        transport,
        path,
        crashes,
        dir,
        log,
        rows,
        rng: streams.stream(names::HOST, rng_index),
        faults,
        start_at,
        restarted: args.restarted,
        stop,
    };
    let (ended, counters) = node_run
        .run()
        .map_err(|e| (Exit::OutputFailed, format!("{}: {e}", host.name)))?;
    let summary = serde_json::json!({
        "host": host.name,
        "host_id": me.0,
        "scenario": scenario.name,
        "seed": scenario.seed,
        "restarted": args.restarted,
        "started_at_s": start_at.as_secs_f64(),
        "ended": ended.as_str(),
        "time_scale": args.time_scale,
        "counters": counters,
    });
    let path = args.out.join(format!("{}.summary.json", host.name));
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    std::fs::write(&path, text).map_err(|e| output(&path.display().to_string(), e))?;
    println!(
        "sim node: {} ended ({}): {} sent, {} received, {} dropped as malformed or forged",
        host.name,
        ended.as_str(),
        counters.messages_sent,
        counters.messages_received,
        counters.rejected.values().sum::<u64>()
    );
    Ok(Exit::Ok)
}

/// The id of the host named `name`, or an error listing the names.
pub fn host_named(scenario: &Scenario, name: &str) -> Result<HostId, Failure> {
    scenario
        .hosts
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.id)
        .ok_or_else(|| {
            let known: Vec<&str> = scenario
                .hosts
                .iter()
                .take(8)
                .map(|h| h.name.as_str())
                .collect();
            let more = if scenario.hosts.len() > 8 {
                ", ..."
            } else {
                ""
            };
            invalid(format!(
                "scenario `{}` has no host `{name}`: its hosts are {}{more}",
                scenario.name,
                known.join(", ")
            ))
        })
}

/// Accepts a time scale in (0, 1000].
pub fn check_time_scale(scale: f64) -> Result<(), Failure> {
    if scale.is_finite() && scale > 0.0 && scale <= 1000.0 {
        Ok(())
    } else {
        Err(invalid(format!(
            "--time-scale {scale} is out of range: give real seconds per scenario second, above 0 and at most 1000 (0.1 runs ten times faster)"
        )))
    }
}

/// The faults touching `me` that the process applies to itself:
/// `byzantine`, `clock_skew` and `storage_outage` (returned), network rules (scheduled on
/// `path`), and the times the scenario crashes it (returned: the counters
/// are written just before). Those already in force at `start_at` (a
/// restart) apply at once, as the simulator tells a restarted node again.
fn self_faults(
    scenario: &Scenario,
    me: HostId,
    start_at: SimTime,
    path: &mut NetPath,
) -> (Vec<SelfFault>, Vec<SimTime>) {
    let streams = RngStreams::new(scenario.seed);
    let (mut faults, mut crashes) = (Vec::new(), Vec::new());
    for (fault, cx) in sim::faults::each(scenario, &streams) {
        let index = cx.index;
        let ended = |until: Option<SimTime>| until.is_some_and(|u| u <= start_at);
        match fault.effects().real(&cx.for_host(me)) {
            RealEffect::Misbehave { hosts, until } if hosts.contains(&me) && !ended(until) => {
                let at = cx.at.max(start_at);
                let action = SelfAction::Misbehave(true);
                faults.push(SelfFault { at, index, action });
                if let Some(at) = until {
                    let action = SelfAction::Misbehave(false);
                    faults.push(SelfFault { at, index, action });
                }
            }
            RealEffect::ClockSkew { hosts, skew } if hosts.contains(&me) => {
                let at = cx.at.max(start_at);
                let action = SelfAction::Skew(skew);
                faults.push(SelfFault { at, index, action });
            }
            RealEffect::StorageOutage { hosts, until } if hosts.contains(&me) && !ended(until) => {
                let at = cx.at.max(start_at);
                let action = SelfAction::StorageOutage(true);
                faults.push(SelfFault { at, index, action });
                if let Some(at) = until {
                    let action = SelfAction::StorageOutage(false);
                    faults.push(SelfFault { at, index, action });
                }
            }
            RealEffect::Network { hosts, until, rule } if hosts.contains(&me) && !ended(until) => {
                path.schedule(index, cx.at.max(start_at), until, rule);
            }
            RealEffect::Crash { hosts, .. } if hosts.contains(&me) && cx.at > start_at => {
                crashes.push(cx.at);
            }
            // Not this host's (or over), or applied by the launcher.
            RealEffect::Misbehave { .. }
            | RealEffect::ClockSkew { .. }
            | RealEffect::Network { .. }
            | RealEffect::StorageOutage { .. }
            | RealEffect::Crash { .. }
            | RealEffect::Damage { .. }
            | RealEffect::Skipped(_) => {}
        }
    }
    faults.sort_by_key(|f| (f.at, f.index));
    crashes.sort_unstable();
    (faults, crashes)
}

/// The UDP socket open in this process as descriptor `fd` (inherited from
/// `sim launch`), checked to be one before it is taken over.
fn inherited_socket(fd: i32) -> std::io::Result<UdpSocket> {
    use std::os::fd::FromRawFd;
    let not_udp = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an open UDP socket of this process (it is for `sim launch` to pass)",
        )
    };
    if fd < 0 {
        return Err(not_udp());
    }
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `kind`, an int
    // of that size; an invalid or non-socket descriptor only fails.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            std::ptr::from_mut(&mut kind).cast(),
            &mut len,
        )
    };
    if got != 0 || kind != libc::SOCK_DGRAM {
        return Err(not_udp());
    }
    // SAFETY: `fd` is an open datagram socket (checked above) that nothing
    // else in this process uses: the launcher hands each process its own.
    let socket = unsafe { UdpSocket::from_raw_fd(fd) };
    socket.local_addr().map_err(|_| not_udp())?;
    Ok(socket)
}
