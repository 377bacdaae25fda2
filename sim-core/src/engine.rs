//! The event loop: pops events in `(time, sequence)` order, feeds them to the
//! hosts' [`Node`]s, and carries out what the nodes ask for.
//!
//! The engine knows nothing of scenarios: a caller (`sim::runner`)
//! builds it with a network, a node factory, start times and fault actions.
//! Every event processed is hashed into the trace hash and offered to a
//! [`TraceSink`].

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use node_logic::HostId;
use node_logic::io::{FileOp, FileResult, Input, Listing, Node, Output, Payload};

use crate::checkers::{Checker, Violation};
use crate::cpu::{CpuQueue, HostCpu};
use crate::faults::{FaultRules, NetworkRule};
use crate::fs::{Begun, Change, FsConfig, OpId, SimFs};
use crate::network::Network;
use crate::queue::{EventQueue, QueueFull};
use crate::record::{DamageRecord, FaultRecord, Lifecycle, RunLog};
use crate::rng::{RngStreams, StreamRng, names};
use crate::timers::TimerTable;
use crate::trace::{DropReason, FaultPhase, TraceEvent, TraceHasher, TraceKind, TraceSink};
use crate::transport::Transport;
use crate::units::{SimDuration, SimTime};

/// Engine-wide settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Master seed of every RNG stream.
    pub seed: u64,
    /// Events after this time are not processed.
    pub stop_at: SimTime,
    /// Costs of file operations.
    pub fs: FsConfig,
}

/// What a scheduled fault does, in the engine's own terms: the scenario's
/// fault table maps each fault kind to one of these (so the engine knows
/// no fault kinds, only these effects). Apply does it; heal undoes it.
pub enum FaultAction {
    /// A network rule, in force from apply to heal.
    Network(Box<dyn NetworkRule>),
    /// Crash hosts; heal restarts them, built anew.
    Crash {
        /// The hosts.
        hosts: Vec<HostId>,
    },
    /// Make hosts misbehave ([`Input::Misbehave`]; told again after a
    /// restart while in force); heal makes them honest again.
    Misbehave {
        /// The hosts.
        hosts: Vec<HostId>,
    },
    /// Skew the hosts' clocks from now on (no heal).
    ClockSkew {
        /// The hosts.
        hosts: Vec<HostId>,
        /// Constant offset in nanoseconds.
        offset_ns: i64,
        /// Rate error.
        drift: f64,
    },
    /// Damage files: at once if complete, else when their next write
    /// completes (a writer that writes a bad file in the first place).
    /// No heal.
    DamageFiles {
        /// The files and how to damage each.
        targets: Vec<FileDamage>,
    },
    /// Cut hosts off the shared directory until the heal: every file
    /// operation they start meanwhile (and every change notification due
    /// to them) waits, and goes ahead at the heal as if started then;
    /// operations started before complete as usual.
    StorageOutage {
        /// The hosts.
        hosts: Vec<HostId>,
    },
}

impl fmt::Debug for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultAction::Network(rule) => f.debug_tuple("Network").field(rule).finish(),
            FaultAction::Crash { hosts } => f.debug_struct("Crash").field("hosts", hosts).finish(),
            FaultAction::Misbehave { hosts } => {
                f.debug_struct("Misbehave").field("hosts", hosts).finish()
            }
            FaultAction::ClockSkew { hosts, .. } => {
                f.debug_struct("ClockSkew").field("hosts", hosts).finish()
            }
            FaultAction::DamageFiles { targets } => f
                .debug_struct("DamageFiles")
                .field("files", &targets.len())
                .finish(),
            FaultAction::StorageOutage { hosts } => f
                .debug_struct("StorageOutage")
                .field("hosts", hosts)
                .finish(),
        }
    }
}

/// How a file is damaged: the new content from the old (empty when the
/// file does not exist yet) and a stream of the fault's own.
pub type Damage = Rc<dyn Fn(&[u8], &mut StreamRng) -> Vec<u8>>;

/// A file a fault damages.
#[derive(Clone)]
pub struct FileDamage {
    /// The host whose file it is (for the records).
    pub host: HostId,
    /// The file in the shared directory.
    pub path: String,
    /// How it is damaged, for the records (`truncate`, ...).
    pub label: &'static str,
    /// The damage.
    pub damage: Damage,
}

/// A fault on the timeline, as the engine runs it.
#[derive(Debug)]
pub struct ScheduledFault {
    /// Its index in the scenario (names it in reports, keys its rule).
    pub index: usize,
    /// Its kind, for reports (`partition`, `crash`, ...).
    pub kind: &'static str,
    /// The hosts it touches, for reports.
    pub hosts: Vec<HostId>,
    /// When it applies.
    pub at: SimTime,
    /// When it heals, if ever.
    pub heal: Option<SimTime>,
    /// What it does.
    pub action: FaultAction,
}

/// A fault the engine holds between its apply and its heal.
struct HeldFault {
    kind: &'static str,
    hosts: Vec<HostId>,
    /// `None` once a network rule has moved into the rules in force.
    action: Option<FaultAction>,
}

#[derive(Debug)]
enum Event {
    Start {
        host: HostId,
    },
    Timer {
        host: HostId,
        slot: u32,
        generation: u32,
    },
    Arrive {
        from: HostId,
        to: HostId,
        payload: Payload,
    },
    Deliver {
        from: HostId,
        to: HostId,
        payload: Payload,
    },
    FileDone {
        host: HostId,
        incarnation: u32,
        op: OpId,
    },
    FileResult {
        host: HostId,
        incarnation: u32,
        result: Box<FileResult>,
    },
    FileChanged {
        host: HostId,
        incarnation: u32,
        path: String,
    },
    Fault {
        index: usize,
        phase: FaultPhase,
    },
    Deadline,
    /// The outputs of an input whose CPU cost has now been served.
    Release {
        host: HostId,
        incarnation: u32,
        outputs: Box<[Output]>,
    },
    /// A core of the host is free for the input at the head of its queue.
    CpuWake {
        host: HostId,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostState {
    NotStarted,
    Up,
    Down,
}

/// A host's state the event loop touches on every event (kept small; the
/// RNG lives apart in `Simulation::rngs`).
struct HostSlot {
    timers: TimerTable,
    incarnation: u32,
    state: HostState,
    start_at: SimTime,
    ever_started: bool,
    /// A crash fault holds the host down until its restart.
    held_down: bool,
    /// The host's clock error, once a `clock_skew` fault applies.
    skew: Option<ClockSkew>,
    /// A `byzantine` fault is in force (a restarted node is told again).
    byzantine: bool,
    /// Storage outages in force: while above 0, the host's file
    /// operations and change notifications wait.
    storage_out: u32,
    /// What waits for the outage to end: operations, and notifications
    /// of changes, with the incarnation that asked for them.
    held: Vec<(u32, Held)>,
}

/// Something a host under a storage outage waits for.
#[derive(Debug)]
enum Held {
    /// A file operation it started.
    Op(FileOp),
    /// A change in a directory it watches.
    Changed(String),
}

/// A host clock running off: local time = `t + offset + drift × (t − since)`
/// for global time `t >= since`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockSkew {
    /// When the skew began (global time).
    pub since: SimTime,
    /// Constant offset in nanoseconds (may be negative).
    pub offset_ns: i64,
    /// Rate error (0.001: the clock gains 1 ms per second).
    pub drift: f64,
}

impl ClockSkew {
    /// The host's reading of global time `t`.
    pub fn local(&self, t: SimTime) -> SimTime {
        let elapsed = t.as_nanos().saturating_sub(self.since.as_nanos()) as f64;
        let local = t.as_nanos() as f64 + self.offset_ns as f64 + self.drift * elapsed;
        SimTime::from_nanos(local.clamp(0.0, u64::MAX as f64) as u64)
    }
    /// The earliest global time at which the host's clock reads `local` or
    /// later. Rounded up, and corrected until `self.local(result) >= local`:
    /// a timer must never fire at an instant the node still reads as early
    /// (it would re-arm for the same deadline at the same instant forever).
    pub fn global(&self, local: SimTime) -> SimTime {
        let since = self.since.as_nanos() as f64;
        let target = local.as_nanos() as f64 - self.offset_ns as f64;
        // Before `since` the clock is only offset; after it, it also drifts.
        let g = if target <= since {
            target
        } else {
            since + (target - since) / (1.0 + self.drift)
        };
        let mut global = SimTime::from_nanos(g.ceil().clamp(0.0, u64::MAX as f64) as u64);
        // Float rounding can leave it a few nanoseconds short; a bounded walk
        // forward fixes it (each step moves the local reading forward).
        for _ in 0..1024 {
            if self.local(global) >= local || global == SimTime::NEVER {
                break;
            }
            global += SimDuration::from_nanos(1);
        }
        global
    }
}

/// Builds a host's node (at first boot and at every restart).
pub type NodeFactory<N> = Box<dyn FnMut(HostId) -> N>;

/// A deterministic simulation of hosts running `N`.
pub struct Simulation<N: Node> {
    /// Each host's node while it is up, indexed by host id.
    nodes: Vec<Option<N>>,
    /// Each host's RNG stream, indexed by host id.
    rngs: Vec<StreamRng>,
    factory: NodeFactory<N>,
    core: Core,
}

/// Everything but the nodes: what carrying out a node's outputs touches.
/// Kept apart so a node can stay in place while its outputs are handled.
struct Core {
    now: SimTime,
    stop_at: SimTime,
    queue: EventQueue<Event>,
    /// Arrivals the event being handled sent, with their sequence numbers
    /// ([`Core::schedule_arrival`]); empty between events.
    arrivals: Vec<(SimTime, u64, Event)>,
    /// The delivery the arrival being handled made due before everything
    /// queued, with its sequence number: handled next, or queued if the
    /// caller's limit comes first ([`Simulation::step`]); `None` between
    /// events.
    delivery: Option<(SimTime, u64, Event)>,
    hosts: Vec<HostSlot>,
    transport: Transport,
    fs: SimFs,
    rules: FaultRules,
    /// What each scheduled fault does, by its index in the scenario.
    faults: BTreeMap<usize, HeldFault>,
    /// Damages waiting for their file's next write, by path: (fault,
    /// target index, damage).
    pending_damage: BTreeMap<String, (usize, usize, FileDamage)>,
    /// The run's RNG streams (damage draws come from `fault-damage`).
    streams: RngStreams,
    /// Invariants watched during the run.
    checkers: Vec<Box<dyn Checker>>,
    /// Events processed at the current instant (stall detection).
    same_instant: u64,
    /// Each host's processing queue, for hosts with a CPU model (empty
    /// when no host has one: the model is off and costs nothing).
    cpu: Vec<Option<Box<CpuQueue>>>,
    log: RunLog,
    hash: TraceHasher,
    failure: Option<EngineError>,
    /// Whether the checkers' end of run was asked (once).
    ended: bool,
}

/// Why a run stopped before its stop time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The event queue hit one of its limits.
    #[error("the run stopped at {at}: {source}")]
    QueueFull {
        /// When.
        at: SimTime,
        /// Which limit.
        source: QueueFull,
    },
    /// A checker found an invariant broken.
    #[error("{0}")]
    Violation(Violation),
    /// Simulated time stopped advancing: a node keeps asking for work at
    /// the same instant (e.g. re-arming a timer for a deadline that has
    /// passed), which would otherwise run forever.
    #[error(
        "simulated time stopped advancing at {at}: more than {events} events at that instant (a node re-arms a timer or resends at the same time without end)"
    )]
    Stalled {
        /// The instant.
        at: SimTime,
        /// Events processed at it.
        events: u64,
    },
}

/// Events at one simulated instant beyond which a run is stalled.
pub const MAX_EVENTS_AT_ONE_INSTANT: u64 = 1_000_000;

impl<N: Node> Simulation<N> {
    /// A simulation of one host per entry of `network.hosts`, none started
    /// yet (see [`Simulation::schedule_start`]).
    pub fn new(config: EngineConfig, network: Network, factory: NodeFactory<N>) -> Self {
        let streams = RngStreams::new(config.seed);
        let count = network.hosts.len();
        let hosts = (0..count)
            .map(|_| HostSlot {
                timers: TimerTable::default(),
                incarnation: 0,
                state: HostState::NotStarted,
                start_at: SimTime::NEVER,
                ever_started: false,
                held_down: false,
                skew: None,
                byzantine: false,
                storage_out: 0,
                held: Vec::new(),
            })
            .collect();
        let core = Core {
            now: SimTime::ZERO,
            stop_at: config.stop_at,
            queue: EventQueue::new(),
            arrivals: Vec::new(),
            delivery: None,
            hosts,
            transport: Transport::new(network, streams.stream(names::NETWORK, 0)),
            fs: SimFs::new(config.fs),
            rules: FaultRules::default(),
            faults: BTreeMap::new(),
            pending_damage: BTreeMap::new(),
            streams,
            checkers: Vec::new(),
            same_instant: 0,
            cpu: Vec::new(),
            log: RunLog::new(count),
            hash: TraceHasher::default(),
            failure: None,
            ended: false,
        };
        Simulation {
            nodes: (0..count).map(|_| None).collect(),
            rngs: (0..count)
                .map(|i| streams.stream(names::HOST, i as u64))
                .collect(),
            factory,
            core,
        }
    }

    /// Gives `host` a CPU: from now on its inputs wait for a free core and
    /// its outputs leave when the input's cost has been served (see
    /// [`crate::cpu`]). Hosts never given one handle inputs in zero time.
    pub fn set_cpu(&mut self, host: HostId, cpu: HostCpu) {
        let count = self.core.hosts.len();
        if self.core.cpu.len() < count {
            self.core.cpu.resize_with(count, || None);
        }
        if let Some(slot) = self.core.cpu.get_mut(host.index()) {
            *slot = Some(Box::new(CpuQueue::new(cpu)));
        }
    }

    /// Watches `checker` for the rest of the run.
    pub fn add_checker(&mut self, checker: Box<dyn Checker>) {
        self.core.checkers.push(checker);
    }

    /// Asks every checker's [`Checker::deadline`] at `at`.
    pub fn schedule_deadline(&mut self, at: SimTime) {
        self.core.schedule(at, Event::Deadline);
    }

    /// Boots `host` at `at` (unless a crash fault holds it down then).
    pub fn schedule_start(&mut self, host: HostId, at: SimTime) {
        self.core.hosts[host.index()].start_at = at;
        self.core.schedule(at, Event::Start { host });
    }

    /// Applies `fault` at its time and undoes it at its heal (if any).
    pub fn schedule_fault(&mut self, fault: ScheduledFault) {
        let index = fault.index;
        let mut hosts = fault.hosts;
        hosts.sort_unstable();
        hosts.dedup();
        let held = HeldFault {
            kind: fault.kind,
            hosts,
            action: Some(fault.action),
        };
        self.core.faults.insert(index, held);
        let apply = FaultPhase::Apply;
        self.core.schedule(
            fault.at,
            Event::Fault {
                index,
                phase: apply,
            },
        );
        if let Some(heal) = fault.heal {
            let phase = FaultPhase::Heal;
            self.core.schedule(heal, Event::Fault { index, phase });
        }
    }

    /// Processes every event due up to `until` (and not after the stop
    /// time); the clock then reads `min(until, stop time)`.
    pub fn run_until(
        &mut self,
        until: SimTime,
        sink: &mut dyn TraceSink,
    ) -> Result<(), EngineError> {
        let limit = until.min(self.core.stop_at);
        while self.step_within(limit, sink)? {}
        self.core.now = self.core.now.max(limit);
        if limit == self.core.stop_at {
            self.end_checks()?;
        }
        Ok(())
    }

    /// Asks every checker's [`Checker::end`] once, when the run has
    /// reached its stop time without a failure.
    fn end_checks(&mut self) -> Result<(), EngineError> {
        if std::mem::replace(&mut self.core.ended, true) {
            return match &self.core.failure {
                Some(failure) => Err(failure.clone()),
                None => Ok(()),
            };
        }
        let now = self.core.now;
        for checker in &mut self.core.checkers {
            if let Err(v) = checker.end(now) {
                self.core.fail(v);
                break;
            }
        }
        match &self.core.failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    /// Runs to the stop time.
    pub fn run(&mut self, sink: &mut dyn TraceSink) -> Result<(), EngineError> {
        self.run_until(self.core.stop_at, sink)
    }

    /// Processes the next event if it is due by the stop time (and the
    /// delivery it makes due before everything queued, if any, which is
    /// handled next without the queue); returns whether one was processed.
    #[inline]
    pub fn step(&mut self, sink: &mut dyn TraceSink) -> Result<bool, EngineError> {
        self.step_within(self.core.stop_at, sink)
    }

    /// [`Self::step`] for an event due by `limit` (at most the stop time).
    /// A delivery the event made due before everything queued (a datagram
    /// reaching an idle down-link) is handled next, without the queue.
    #[inline]
    fn step_within(
        &mut self,
        limit: SimTime,
        sink: &mut dyn TraceSink,
    ) -> Result<bool, EngineError> {
        if let Some(failure) = &self.core.failure {
            return Err(failure.clone());
        }
        match self.core.queue.peek_time() {
            Some(t) if t <= limit => {}
            _ => return Ok(false),
        }
        let Some((time, event)) = self.core.queue.pop() else {
            return Ok(false);
        };
        self.handle(time, event, sink)?;
        if let Some((at, seq, delivery)) = self.core.delivery.take() {
            // Handling the arrival queued nothing else: still the earliest.
            debug_assert!(self.core.queue.peek_time().is_none_or(|t| at < t));
            if at <= limit && self.core.failure.is_none() {
                self.handle(at, delivery, sink)?;
            } else if let Err(source) = self.core.queue.push_reserved(at, seq, delivery) {
                self.core.queue_full(source);
            }
        }
        Ok(true)
    }

    /// Handles `event`, due at `time` (the earliest of all).
    #[inline]
    fn handle(
        &mut self,
        time: SimTime,
        event: Event,
        sink: &mut dyn TraceSink,
    ) -> Result<(), EngineError> {
        if time == self.core.now && self.core.log.events > 0 {
            self.core.same_instant += 1;
            if self.core.same_instant > MAX_EVENTS_AT_ONE_INSTANT {
                let stalled = EngineError::Stalled {
                    at: time,
                    events: self.core.same_instant,
                };
                self.core.failure = Some(stalled.clone());
                return Err(stalled);
            }
        } else {
            self.core.same_instant = 0;
        }
        self.core.now = time;
        self.core.log.events += 1;
        self.dispatch(event, sink);
        self.core.flush_arrivals();
        Ok(())
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// When the run ends.
    pub fn stop_at(&self) -> SimTime {
        self.core.stop_at
    }

    /// Whether anything is left to do before the stop time (a failed run
    /// is finished).
    pub fn is_finished(&self) -> bool {
        self.core.failure.is_some()
            || self
                .core
                .queue
                .peek_time()
                .is_none_or(|t| t > self.core.stop_at)
    }

    /// The trace hash so far (32 hex digits).
    pub fn trace_hash(&self) -> String {
        self.core.hash.hex()
    }

    /// What the run has recorded so far.
    pub fn log(&self) -> &RunLog {
        &self.core.log
    }

    /// The shared directory.
    pub fn fs(&self) -> &SimFs {
        &self.core.fs
    }

    /// The shared directory, for setting it up before a run.
    pub fn fs_mut(&mut self) -> &mut SimFs {
        &mut self.core.fs
    }

    /// The network.
    pub fn network(&self) -> &Network {
        self.core.transport.network()
    }

    /// The node of a running host.
    pub fn node(&self, host: HostId) -> Option<&N> {
        self.nodes.get(host.index())?.as_ref()
    }

    /// Ends the run and hands over what it recorded; the rest is freed
    /// (see [`Simulation::into_log_leaving_memory`]).
    pub fn into_log(mut self) -> RunLog {
        self.take_log()
    }

    /// Ends the run and hands over what it recorded, and leaves the rest
    /// (every host's state, the directory, the queue) allocated until the
    /// process exits: what a process that ends after this run uses to skip
    /// freeing it one allocation at a time (1.4 s at 100,000 hosts), as
    /// compilers skip freeing their data at exit. Nothing else may use it.
    pub fn into_log_leaving_memory(mut self) -> RunLog {
        let log = self.take_log();
        std::mem::forget(self);
        log
    }

    fn take_log(&mut self) -> RunLog {
        self.core.log.fs = self.core.fs.counters();
        self.core.log.cpu = std::mem::take(&mut self.core.cpu)
            .into_iter()
            .map(|q| q.map(|q| q.record).unwrap_or_default())
            .collect();
        std::mem::take(&mut self.core.log)
    }

    fn dispatch(&mut self, event: Event, sink: &mut dyn TraceSink) {
        match event {
            Event::Start { host } => {
                let slot = &self.core.hosts[host.index()];
                if slot.state == HostState::NotStarted && !slot.held_down {
                    self.boot(host, sink);
                }
            }
            Event::Timer {
                host,
                slot,
                generation,
            } => {
                let Some(id) = self.core.hosts[host.index()].timers.fire(slot, generation) else {
                    return;
                };
                self.core.emit(Some(host), TraceKind::Timer(id), sink);
                self.feed(host, Input::Timer(id), sink);
            }
            Event::Arrive { from, to, payload } => {
                if let Some(reason) = self.core.refuse_delivery(from, to) {
                    return self.core.drop_message(from, to, reason, sink);
                }
                let at = self.core.transport.arrive(self.core.now, to, payload.len());
                if let Some(Some(node)) = self.nodes.get_mut(to.index()) {
                    node.expect_message(from, &payload);
                }
                let deliver = Event::Deliver { from, to, payload };
                // Due strictly before everything queued (an event due at
                // the same instant was scheduled first): handled next.
                if self.core.queue.peek_time().is_none_or(|t| at < t) {
                    match self.core.queue.reserve() {
                        Ok(seq) => self.core.delivery = Some((at, seq, deliver)),
                        Err(source) => self.core.queue_full(source),
                    }
                } else {
                    self.core.schedule(at, deliver);
                }
            }
            Event::Deliver { from, to, payload } => {
                if let Some(reason) = self.core.refuse_delivery(from, to) {
                    return self.core.drop_message(from, to, reason, sink);
                }
                let counters = &mut self.core.log.net[to.index()];
                counters.messages_received += 1;
                counters.bytes_received += payload.len() as u64;
                self.core.emit(
                    Some(to),
                    TraceKind::Deliver {
                        from,
                        payload: &payload,
                    },
                    sink,
                );
                self.feed(to, Input::Message { from, payload }, sink);
            }
            Event::FileDone {
                host,
                incarnation,
                op,
            } => {
                let Some((owner, result, change)) = self.core.fs.finish(self.core.now, op) else {
                    return;
                };
                debug_assert_eq!(owner, host);
                if let FileResult::Written {
                    path,
                    result: Ok(()),
                } = &result
                    && let Some((fault, target_index, target)) =
                        self.core.pending_damage.remove(path)
                {
                    self.core.damage(fault, target_index, &target, sink);
                }
                self.core.notify(change);
                if self.core.current(host, incarnation) {
                    self.deliver_file_result(host, Box::new(result), sink);
                }
            }
            Event::FileResult {
                host,
                incarnation,
                result,
            } => {
                if self.core.current(host, incarnation) {
                    self.deliver_file_result(host, result, sink);
                }
            }
            Event::FileChanged {
                host,
                incarnation,
                path,
            } => {
                let slot = &mut self.core.hosts[host.index()];
                if slot.storage_out > 0 {
                    slot.held.push((incarnation, Held::Changed(path)));
                    return;
                }
                if self.core.current(host, incarnation) {
                    self.core
                        .emit(Some(host), TraceKind::FileChanged { path: &path }, sink);
                    self.feed(host, Input::FileChanged { path }, sink);
                }
            }
            Event::Fault { index, phase } => self.fault(index, phase, sink),
            Event::Release {
                host,
                incarnation,
                outputs,
            } => {
                if self.core.current(host, incarnation) {
                    for output in outputs {
                        self.core.carry_out(host, output, sink);
                    }
                }
            }
            Event::CpuWake { host } => {
                if let Some(Some(queue)) = self.core.cpu.get_mut(host.index()) {
                    queue.wake_at = None;
                }
                self.serve(host, sink);
            }
            Event::Deadline => {
                let now = self.core.now;
                for checker in &mut self.core.checkers {
                    if let Err(v) = checker.deadline(now) {
                        self.core.fail(v);
                        break;
                    }
                }
            }
        }
    }

    fn boot(&mut self, host: HostId, sink: &mut dyn TraceSink) {
        let slot = &mut self.core.hosts[host.index()];
        let restarted = slot.ever_started;
        slot.ever_started = true;
        slot.state = HostState::Up;
        self.nodes[host.index()] = Some((self.factory)(host));
        let what = if restarted {
            Lifecycle::Restarted
        } else {
            Lifecycle::Started
        };
        self.core.log.lifecycle.push((self.core.now, host, what));
        self.core.lifecycle_checks(host, what);
        self.core
            .emit(Some(host), TraceKind::Start { restarted }, sink);
        self.feed(host, Input::Start { restarted }, sink);
        if self.core.hosts[host.index()].byzantine {
            self.feed(host, Input::Misbehave { on: true }, sink);
        }
    }

    fn crash(&mut self, host: HostId, sink: &mut dyn TraceSink) {
        let slot = &mut self.core.hosts[host.index()];
        slot.held_down = true;
        if slot.state != HostState::Up {
            return;
        }
        slot.state = HostState::Down;
        slot.incarnation += 1;
        slot.timers.disarm_all();
        self.nodes[host.index()] = None;
        if let Some(Some(queue)) = self.core.cpu.get_mut(host.index()) {
            queue.crash(self.core.now);
        }
        self.core.fs.crash(self.core.now, host);
        self.core.transport.reset_host(host, self.core.now);
        self.core
            .log
            .lifecycle
            .push((self.core.now, host, Lifecycle::Crashed));
        self.core.lifecycle_checks(host, Lifecycle::Crashed);
        self.core.emit(Some(host), TraceKind::Crash, sink);
    }

    fn restart(&mut self, host: HostId, sink: &mut dyn TraceSink) {
        let slot = &mut self.core.hosts[host.index()];
        slot.held_down = false;
        // A host whose own start time has not come yet boots then, not now.
        if slot.state != HostState::Up && self.core.now >= slot.start_at {
            self.boot(host, sink);
        }
    }

    fn fault(&mut self, index: usize, phase: FaultPhase, sink: &mut dyn TraceSink) {
        // Fault events are only queued by `schedule_fault`, which inserts first.
        let Some(held) = self.core.faults.get_mut(&index) else {
            return;
        };
        let record = FaultRecord {
            time: self.core.now,
            index,
            kind: held.kind,
            phase,
            hosts: held.hosts.clone(),
        };
        // A network rule and file damages are used up when they apply;
        // crashes, misbehaviour and skews stay for their heal.
        let used_up = matches!(
            (&held.action, phase),
            (
                Some(FaultAction::Network(_) | FaultAction::DamageFiles { .. }),
                FaultPhase::Apply
            )
        );
        let action = if used_up { held.action.take() } else { None };
        self.core
            .emit(None, TraceKind::Fault { index, phase }, sink);
        self.core.log.faults.push(record);
        match action {
            Some(FaultAction::Network(rule)) => self.core.rules.insert(index, rule),
            Some(FaultAction::DamageFiles { targets }) => self.damage_files(index, targets, sink),
            Some(other) => self.host_fault(index, &other, phase, sink),
            None => self.heal_or_apply_held(index, phase, sink),
        }
    }

    /// A held fault (crash, misbehaviour, skew) applies or heals; a
    /// network rule heals.
    fn heal_or_apply_held(&mut self, index: usize, phase: FaultPhase, sink: &mut dyn TraceSink) {
        let Some(held) = self.core.faults.get_mut(&index) else {
            return;
        };
        match held.action.take() {
            Some(action) => {
                self.host_fault(index, &action, phase, sink);
                if let Some(held) = self.core.faults.get_mut(&index) {
                    held.action = Some(action);
                }
            }
            // The rule moved into the rules in force at apply.
            None => self.core.rules.heal(index),
        }
    }

    /// Crash/restart, misbehave on/off, clock skew.
    fn host_fault(
        &mut self,
        _index: usize,
        action: &FaultAction,
        phase: FaultPhase,
        sink: &mut dyn TraceSink,
    ) {
        match (action, phase) {
            (FaultAction::Crash { hosts }, FaultPhase::Apply) => {
                for &host in hosts {
                    self.crash(host, sink);
                }
            }
            (FaultAction::Crash { hosts }, FaultPhase::Heal) => {
                for &host in hosts {
                    self.restart(host, sink);
                }
            }
            (FaultAction::Misbehave { hosts }, phase) => {
                let on = phase == FaultPhase::Apply;
                for &host in hosts {
                    self.core.hosts[host.index()].byzantine = on;
                    self.feed(host, Input::Misbehave { on }, sink);
                }
            }
            (
                &FaultAction::ClockSkew {
                    ref hosts,
                    offset_ns,
                    drift,
                },
                FaultPhase::Apply,
            ) => {
                let since = self.core.now;
                for &host in hosts {
                    let skew = ClockSkew {
                        since,
                        offset_ns,
                        drift,
                    };
                    self.core.hosts[host.index()].skew = Some(skew);
                }
            }
            (FaultAction::StorageOutage { hosts }, FaultPhase::Apply) => {
                for &host in hosts {
                    self.core.hosts[host.index()].storage_out += 1;
                }
            }
            (FaultAction::StorageOutage { hosts }, FaultPhase::Heal) => {
                for &host in hosts {
                    self.core.storage_back(host);
                }
            }
            (FaultAction::ClockSkew { .. }, FaultPhase::Heal)
            | (FaultAction::Network(_) | FaultAction::DamageFiles { .. }, _) => {}
        }
    }

    /// Damages each target's file now if it is complete, else at its next write.
    fn damage_files(&mut self, index: usize, targets: Vec<FileDamage>, sink: &mut dyn TraceSink) {
        for (i, target) in targets.into_iter().enumerate() {
            if self.core.fs.complete(&target.path).is_some() {
                self.core.damage(index, i, &target, sink);
            } else {
                self.core
                    .pending_damage
                    .insert(target.path.clone(), (index, i, target));
            }
        }
    }

    /// Feeds `input` to `host`'s node: at once, or through the host's
    /// processing queue when it has a CPU model.
    fn feed(&mut self, host: HostId, input: Input, sink: &mut dyn TraceSink) {
        match self.core.cpu.get_mut(host.index()) {
            Some(Some(queue)) => {
                queue.arrive(self.core.now, input);
                self.serve(host, sink);
            }
            Some(None) | None => self.feed_now(host, input, sink),
        }
    }

    /// Starts every waiting input of `host` a free core can take now; each
    /// changes the node's state at once and releases its outputs when its
    /// cost has been served. Queues one wake-up for the next free core.
    fn serve(&mut self, host: HostId, sink: &mut dyn TraceSink) {
        let now = self.core.now;
        loop {
            let Some(Some(queue)) = self.core.cpu.get_mut(host.index()) else {
                return;
            };
            let Some((core, input)) = queue.start(now) else {
                if let Some(at) = queue.wake_needed(now) {
                    self.core.schedule(at, Event::CpuWake { host });
                }
                return;
            };
            let message = matches!(input, Input::Message { .. });
            let Some(node) = self.nodes[host.index()].as_mut() else {
                continue;
            };
            let local = match self.core.hosts[host.index()].skew {
                Some(skew) => skew.local(now),
                None => now,
            };
            node.handle_input(local, input, &mut self.rngs[host.index()]);
            let outputs: Box<[Output]> = std::iter::from_fn(|| node.poll_output()).collect();
            let work = node.take_work();
            let Some(Some(queue)) = self.core.cpu.get_mut(host.index()) else {
                return;
            };
            let cost = queue.charge(core, now, work, message);
            self.core.emit(Some(host), TraceKind::Serve { cost }, sink);
            if cost.is_zero() {
                for output in outputs {
                    self.core.carry_out(host, output, sink);
                }
            } else {
                let incarnation = self.core.hosts[host.index()].incarnation;
                let release = Event::Release {
                    host,
                    incarnation,
                    outputs,
                };
                self.core.schedule(now + cost, release);
            }
        }
    }

    /// Feeds `input` to `host`'s node and carries out everything it asks.
    fn feed_now(&mut self, host: HostId, input: Input, sink: &mut dyn TraceSink) {
        // Nodes and the core are separate fields: the node stays in place
        // while the core carries out each output as it is polled.
        let Some(node) = self.nodes[host.index()].as_mut() else {
            return;
        };
        let now = match self.core.hosts[host.index()].skew {
            Some(skew) => skew.local(self.core.now),
            None => self.core.now,
        };
        node.handle_input(now, input, &mut self.rngs[host.index()]);
        while let Some(output) = node.poll_output() {
            self.core.carry_out(host, output, sink);
        }
    }

    fn deliver_file_result(
        &mut self,
        host: HostId,
        result: Box<FileResult>,
        sink: &mut dyn TraceSink,
    ) {
        let (op, path, size, ok): (&'static str, &str, usize, bool) = match result.as_ref() {
            FileResult::Written { path, result } => ("write", path, 0, result.is_ok()),
            FileResult::Read { path, result } => (
                "read",
                path,
                result.as_ref().map_or(0, Vec::len),
                result.is_ok(),
            ),
            FileResult::Listed { dir, result } => (
                "list",
                dir,
                result.as_ref().map_or(0, Listing::len),
                result.is_ok(),
            ),
            FileResult::Renamed { to, result, .. } => ("rename", to, 0, result.is_ok()),
            FileResult::Deleted { path, result } => ("delete", path, 0, result.is_ok()),
            FileResult::Stat { path, result } => (
                "stat",
                path,
                result
                    .as_ref()
                    .map_or(0, |m| usize::try_from(m.size).unwrap_or(usize::MAX)),
                result.is_ok(),
            ),
            FileResult::Watching { dir } => ("watch", dir, 0, true),
        };
        self.core
            .emit(Some(host), TraceKind::File { op, path, size, ok }, sink);
        self.feed(host, Input::File(result), sink);
    }
}

impl Core {
    /// Damages `target`'s file as it stands now, with draws from the
    /// stream of (fault, target), and records it.
    fn damage(
        &mut self,
        fault: usize,
        target_index: usize,
        target: &FileDamage,
        sink: &mut dyn TraceSink,
    ) {
        let original = self
            .fs
            .complete(&target.path)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let mut rng = self.streams.damage(fault, target_index);
        let damaged = (target.damage)(&original, &mut rng);
        self.fs.put_at(self.now, &target.path, damaged);
        let mode = target.label;
        self.log.damaged.push(DamageRecord {
            time: self.now,
            fault,
            host: target.host,
            path: target.path.clone(),
            mode,
        });
        self.emit(
            Some(target.host),
            TraceKind::Damage {
                path: &target.path,
                mode,
            },
            sink,
        );
    }

    /// Why a message from `from` cannot be taken in by `to` now, if it cannot.
    fn refuse_delivery(&self, from: HostId, to: HostId) -> Option<DropReason> {
        if self.hosts[to.index()].state != HostState::Up {
            Some(DropReason::HostDown)
        } else if !self.rules.is_empty() && self.rules.cuts(from, to) {
            Some(DropReason::Partition)
        } else {
            None
        }
    }

    fn current(&self, host: HostId, incarnation: u32) -> bool {
        let slot = &self.hosts[host.index()];
        slot.state == HostState::Up && slot.incarnation == incarnation
    }

    fn carry_out(&mut self, host: HostId, output: Output, sink: &mut dyn TraceSink) {
        match output {
            Output::Send { to, payload } => self.send(host, to, payload, sink),
            Output::SetTimer { timer, at } => {
                let host_slot = &mut self.hosts[host.index()];
                let (slot, generation) = host_slot.timers.arm(timer);
                // The node set the deadline on its own clock.
                let at = host_slot.skew.map_or(at, |skew| skew.global(at));
                self.schedule(
                    at.max(self.now),
                    Event::Timer {
                        host,
                        slot,
                        generation,
                    },
                );
            }
            Output::CancelTimer(timer) => {
                self.hosts[host.index()].timers.cancel(timer);
            }
            Output::File(op) => {
                let slot = &mut self.hosts[host.index()];
                let incarnation = slot.incarnation;
                if slot.storage_out > 0 {
                    slot.held.push((incarnation, Held::Op(*op)));
                    return;
                }
                self.begin_file(host, incarnation, *op);
            }
            Output::Record(observation) => {
                self.emit(Some(host), TraceKind::Observation(&observation), sink);
                for checker in &mut self.checkers {
                    if let Err(v) = checker.observe(self.now, host, &observation) {
                        if self.failure.is_none() {
                            self.failure = Some(EngineError::Violation(v));
                        }
                        break;
                    }
                }
                self.log.observations.push((self.now, host, *observation));
            }
        }
    }

    /// Starts `host`'s file operation `op` now.
    fn begin_file(&mut self, host: HostId, incarnation: u32, op: FileOp) {
        let (begun, change) = self.fs.begin(self.now, host, op);
        self.notify(change);
        match begun {
            Begun::Later(op, at) => self.schedule(
                at,
                Event::FileDone {
                    host,
                    incarnation,
                    op,
                },
            ),
            Begun::Now(result) => self.schedule(
                self.now,
                Event::FileResult {
                    host,
                    incarnation,
                    result: Box::new(result),
                },
            ),
        };
    }

    /// A storage outage of `host` ended: when none is left in force, what
    /// waited goes ahead now, in order (that of an incarnation a crash
    /// ended is dropped).
    fn storage_back(&mut self, host: HostId) {
        let slot = &mut self.hosts[host.index()];
        slot.storage_out = slot.storage_out.saturating_sub(1);
        if slot.storage_out > 0 {
            return;
        }
        let current = slot.incarnation;
        let held = std::mem::take(&mut slot.held);
        for (incarnation, what) in held {
            match what {
                Held::Op(op) if incarnation == current => self.begin_file(host, incarnation, op),
                Held::Changed(path) => self.schedule(
                    self.now,
                    Event::FileChanged {
                        host,
                        incarnation,
                        path,
                    },
                ),
                Held::Op(_) => {}
            }
        }
    }

    fn send(&mut self, from: HostId, to: HostId, payload: Payload, sink: &mut dyn TraceSink) {
        let counters = &mut self.log.net[from.index()];
        counters.messages_sent += 1;
        counters.bytes_sent += payload.len() as u64;
        self.emit(
            Some(from),
            TraceKind::Send {
                to,
                bytes: payload.len(),
            },
            sink,
        );
        if to.index() >= self.hosts.len() {
            return self.drop_message(from, to, DropReason::NoRoute, sink);
        }
        match self
            .transport
            .send(self.now, from, to, payload.len(), &mut self.rules)
        {
            Ok(sent) if sent.duplicates.is_empty() => {
                self.schedule_arrival(sent.arrival, Event::Arrive { from, to, payload });
            }
            Ok(sent) => {
                let original = payload.clone();
                self.schedule_arrival(
                    sent.arrival,
                    Event::Arrive {
                        from,
                        to,
                        payload: original,
                    },
                );
                for after in sent.duplicates {
                    let payload = payload.clone();
                    self.schedule_arrival(
                        sent.arrival + after,
                        Event::Arrive { from, to, payload },
                    );
                }
            }
            Err(reason) => self.drop_message(from, to, reason, sink),
        }
    }

    fn drop_message(
        &mut self,
        from: HostId,
        to: HostId,
        reason: DropReason,
        sink: &mut dyn TraceSink,
    ) {
        self.log.net[from.index()].messages_dropped += 1;
        *self.log.drops.entry(reason).or_default() += 1;
        let host = (to.index() < self.hosts.len()).then_some(to);
        self.emit(host, TraceKind::Drop { from, reason }, sink);
    }

    fn notify(&mut self, change: Option<Change>) {
        let Some(change) = change else { return };
        let at = self.now + self.fs.config().notify_delay;
        for host in change.watchers {
            let incarnation = self.hosts[host.index()].incarnation;
            self.schedule(
                at,
                Event::FileChanged {
                    host,
                    incarnation,
                    path: change.path.clone(),
                },
            );
        }
    }

    /// Stops the run with a checker's violation (the first one wins).
    fn fail(&mut self, violation: Violation) {
        if self.failure.is_none() {
            self.failure = Some(EngineError::Violation(violation));
        }
    }

    fn lifecycle_checks(&mut self, host: HostId, what: Lifecycle) {
        let now = self.now;
        for checker in &mut self.checkers {
            checker.lifecycle(now, host, what);
        }
    }

    /// Queues `event`; a full queue stops the run with an error (checked by
    /// the next `step`) instead of losing the event.
    #[inline]
    fn schedule(&mut self, at: SimTime, event: Event) {
        if let Err(source) = self.queue.push(at, event) {
            self.queue_full(source);
        }
    }

    /// Queues a datagram's arrival: ordered as if queued now, but held
    /// with the others the current event sends until it is done
    /// ([`Self::flush_arrivals`]), so that a broadcast's copies travel as
    /// one train through the queue ([`EventQueue::push_train`]).
    #[inline]
    fn schedule_arrival(&mut self, at: SimTime, event: Event) {
        match self.queue.reserve() {
            Ok(seq) => self.arrivals.push((at, seq, event)),
            Err(source) => self.queue_full(source),
        }
    }

    /// Queues the arrivals the event just handled sent: one alone, more
    /// as a train. Called after every event, before the queue is read.
    #[inline]
    fn flush_arrivals(&mut self) {
        let queued = match self.arrivals.len() {
            0 => return,
            1 => match self.arrivals.pop() {
                Some((at, seq, event)) => self.queue.push_reserved(at, seq, event),
                None => Ok(()),
            },
            _ => self.queue.push_train(self.arrivals.drain(..)),
        };
        if let Err(source) = queued {
            self.queue_full(source);
        }
    }

    /// Stops the run: the queue hit a limit.
    #[cold]
    fn queue_full(&mut self, source: QueueFull) {
        if self.failure.is_none() {
            self.failure = Some(EngineError::QueueFull {
                at: self.now,
                source,
            });
        }
    }

    #[inline]
    fn emit(&mut self, host: Option<HostId>, kind: TraceKind<'_>, sink: &mut dyn TraceSink) {
        let event = TraceEvent {
            time: self.now,
            host,
            kind,
        };
        self.hash.event(&event);
        sink.record(&event);
    }
}
