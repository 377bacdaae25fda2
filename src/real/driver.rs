//! The driver loop of `sim node`: the same [`HostNode`] the simulator runs,
//! fed from a real clock, a UDP socket and a real directory. It honours the
//! Sans-IO calling contract (one input, then drain every output) exactly
//! like the simulator's engine; only where inputs come from differs.
//!
//! Like the engine, the loop hands the node each input at the time it is
//! due, in time order: a timer at its deadline, a datagram when its path
//! delivers it (under `sim launch` the time its frame says, see
//! [`NetPath`]), a fault at its scheduled time; what the node sends leaves
//! at that time too. So a process that reads late, because it was busy
//! or not scheduled, does not fall behind the scenario's timeline: a real
//! process's own CPU time counts only where it delays a datagram past the
//! time it is due at the other end. The start comes at the host's start
//! time; a file change a poll sees, which the real world times, at the
//! clock's reading; the time the node sees never goes back. Under `sim
//! launch` the process also goes on for [`FINISH`] (real time) after the
//! end, handling what was due by the end, as the engine processes every
//! event due by the stop time.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use node_logic::HostNode;
use node_logic::TimerId;
use node_logic::io::FileOp;
use node_logic::{Input, Node, Output};
use sim_core::engine::ClockSkew;
use sim_core::rng::StreamRng;
use sim_core::units::{SimDuration, SimTime};

use super::clock::ScaledClock;
use super::host_log::{HostLog, HostRecord, NodeCounters, ObservationRows};
use super::netpath::NetPath;
use super::shared_dir::SharedDir;
use super::transport::{Received, Transport};

/// The longest the loop sleeps in one receive, in real time: how quickly a
/// signal or a due fault is noticed.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// How often watched directories are polled, in real time.
const WATCH_POLL: Duration = Duration::from_millis(20);
/// How long, in real time, a process keeps reading its socket after the
/// end to tell datagrams in flight at the end from lost ones.
const DRAIN: Duration = Duration::from_millis(100);
/// How long, in real time, a process under `sim launch` goes on after the
/// scenario's end handling the inputs due by the end that it has not yet
/// handled (it read them late), before it stops.
const FINISH: Duration = Duration::from_secs(1);
/// The most datagrams taken off the socket at once before due inputs are
/// handled.
const READ_BURST: usize = 1024;
/// How often, at most, what changed in the counters is written, in real
/// time.
const COUNTERS_EVERY: Duration = Duration::from_millis(50);
/// How long, in scenario time, before a crash the scenario has for this
/// host the counters are written (the process is killed without warning).
const BEFORE_CRASH: SimDuration = SimDuration::from_millis(2);
/// How long, in real time, the loop has to end after SIGTERM or SIGINT
/// before the process exits anyway (exit 6, without its last records).
/// Nothing in the loop blocks (the socket is polled, files are opened
/// non-blocking), so this is a safety net, not the way a node stops.
pub const SIGNAL_GRACE: Duration = Duration::from_secs(2);

/// A fault of the scenario that the process applies to itself.
#[derive(Clone, Copy, Debug)]
pub struct SelfFault {
    /// When (true scenario time).
    pub at: SimTime,
    /// The fault's index in the scenario.
    pub index: usize,
    /// What happens.
    pub action: SelfAction,
}

/// What a [`SelfFault`] does.
#[derive(Clone, Copy, Debug)]
pub enum SelfAction {
    /// A `byzantine` fault starts (true) or ends (false).
    Misbehave(bool),
    /// A `clock_skew` fault starts.
    Skew(ClockSkew),
    /// A `storage_outage` starts (true: file operations and change
    /// notifications are held) or ends (false: the held operations are
    /// carried out, in order, and watching resumes).
    StorageOutage(bool),
}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The scenario's duration was reached.
    Duration,
    /// SIGTERM or SIGINT.
    Signal,
}

impl Ended {
    /// The name written to the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Duration => "duration",
            Ended::Signal => "signal",
        }
    }
}

/// Everything one process of a host runs with.
pub struct NodeRun {
    /// The node logic.
    pub node: HostNode,
    /// The clock.
    pub clock: ScaledClock,
    /// The end of the scenario (true time).
    pub end: SimTime,
    /// The network.
    pub transport: Transport,
    /// The path datagrams take through the process (faults, delay line).
    pub path: NetPath,
    /// When the scenario crashes this host (the counters are written just
    /// before), in time order.
    pub crashes: Vec<SimTime>,
    /// The shared directory.
    pub dir: SharedDir,
    /// The record file.
    pub log: HostLog,
    /// The observation rows.
    pub rows: ObservationRows,
    /// The host's randomness.
    pub rng: StreamRng,
    /// Faults the process applies to itself, in time order.
    pub faults: Vec<SelfFault>,
    /// The scenario time the host starts (or restarts) at: when the node
    /// is given its start, however late the process got there.
    pub start_at: SimTime,
    /// Whether this process is a restart after a crash.
    pub restarted: bool,
    /// Set by the signal handler.
    pub stop: Arc<AtomicBool>,
}

/// An input the loop hands the node at a time it knows in advance, in the
/// order the engine takes events of one time.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// The first of [`NodeRun::faults`].
    Fault,
    /// The path's next rule change.
    PathChange,
    /// A timer.
    Timer(TimerId),
    /// The path's next incoming datagram.
    Delivery,
}

/// The mutable state of the loop.
struct Loop {
    run: NodeRun,
    timers: BTreeMap<TimerId, SimTime>,
    /// The true time of the input being handled: what the node is given
    /// (through the host's clock) and what its outputs are stamped with.
    /// Never goes back.
    at: SimTime,
    pending: VecDeque<Input>,
    /// During a storage outage, the file operations held until its end.
    held_files: Option<VecDeque<Box<FileOp>>>,
    inputs: u64,
    /// The totals the counters records written so far add up to.
    written: NodeCounters,
}

impl NodeRun {
    /// Runs until the scenario's end or a signal; returns why it stopped.
    /// A signal ends the process within [`SIGNAL_GRACE`] even if the loop
    /// were stuck.
    pub fn run(self) -> io::Result<(Ended, NodeCounters)> {
        let done = Arc::new(AtomicBool::new(false));
        watchdog(
            Arc::clone(&self.stop),
            Arc::clone(&done),
            SIGNAL_GRACE,
            || {
                eprintln!(
                    "sim node: the loop did not end within {SIGNAL_GRACE:?} of the signal; exiting without its last records"
                );
                std::process::exit(crate::exit::Exit::RunFailed as i32);
            },
        );
        let mut l = Loop {
            run: self,
            timers: BTreeMap::new(),
            at: SimTime::ZERO,
            pending: VecDeque::new(),
            held_files: None,
            inputs: 0,
            written: NodeCounters::default(),
        };
        let ended = l.run_loop();
        done.store(true, Ordering::Relaxed);
        Ok((ended?, l.counters()))
    }
}

/// On a thread of its own: once `stop` is set, waits up to `grace` for
/// `done`, and calls `expire` if it does not come. Returns when `done` is
/// set (or after `expire`).
pub fn watchdog(
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    grace: Duration,
    expire: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    const POLL: Duration = Duration::from_millis(10);
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if done.load(Ordering::Relaxed) {
                return;
            }
            thread::sleep(POLL);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if done.load(Ordering::Relaxed) {
                return;
            }
            thread::sleep(POLL);
        }
        expire();
    })
}

impl Loop {
    fn run_loop(&mut self) -> io::Result<Ended> {
        let restarted = self.run.restarted;
        self.at = self.run.start_at;
        self.handle_by(self.run.start_at.min(self.run.end))?;
        self.feed(Input::Start { restarted })?;
        let finish_by = Instant::now()
            + self.run.clock.real_until(self.run.end)
            + if self.run.path.emulates() {
                FINISH
            } else {
                Duration::ZERO
            };
        let mut next_watch = Instant::now();
        let mut next_counters = Instant::now() + COUNTERS_EVERY;
        let ended = loop {
            if self.run.stop.load(Ordering::Relaxed) {
                break Ended::Signal;
            }
            let now = self.run.clock.now();
            if now >= self.run.end && Instant::now() >= finish_by {
                break Ended::Duration;
            }
            self.handle_due()?;
            if now < self.run.end && self.watching() && Instant::now() >= next_watch {
                for path in self.run.dir.poll_changes() {
                    self.feed_now(Input::FileChanged { path })?;
                }
                next_watch = Instant::now() + WATCH_POLL;
            }
            let crash_near = self
                .run
                .crashes
                .first()
                .is_some_and(|at| now + BEFORE_CRASH >= *at);
            if crash_near || Instant::now() >= next_counters {
                if crash_near {
                    self.run.crashes.remove(0);
                }
                self.write_counters()?;
                next_counters = Instant::now() + COUNTERS_EVERY;
            }
            self.run.log.flush()?;
            self.run.rows.flush()?;
            let wait = self.wait(next_watch, finish_by);
            self.receive(wait)?;
        };
        self.end_path();
        if ended == Ended::Duration {
            self.run.transport.drain(DRAIN)?;
        }
        self.write_counters()?;
        let at_ns = self.run.clock.now().min(self.run.end).as_nanos();
        self.run.log.append(&HostRecord::Exit {
            at_ns,
            reason: ended.as_str().to_string(),
        })?;
        self.run.log.flush()?;
        self.run.rows.flush()?;
        Ok(ended)
    }

    /// Waits up to `wait` for a datagram, then takes every one waiting
    /// (up to [`READ_BURST`]) into the path. One due before this host
    /// started (sent early by an emulating path) is dropped uncounted, as
    /// the simulator drops messages to a host not yet up: its sender counts
    /// it lost.
    fn receive(&mut self, mut wait: Duration) -> io::Result<()> {
        for _ in 0..READ_BURST {
            match self.run.transport.receive(wait)? {
                Received::Message {
                    from,
                    payload,
                    due_ns,
                } if due_ns == 0 || due_ns >= self.run.start_at.as_nanos() => {
                    let now = self.run.clock.now();
                    self.run.path.arrive(now, from, payload.into(), due_ns);
                }
                Received::Message { .. } | Received::Dropped | Received::Fragment => {}
                Received::Nothing => return Ok(()),
            }
            wait = Duration::ZERO;
        }
        Ok(())
    }

    /// Hands the node, in time order, every input due by now (at most the
    /// end), each at its due time, sending what falls due meanwhile. Each
    /// round reads the clock, then every datagram waiting, then handles
    /// what is due by that reading: a datagram its sender sent on time is
    /// in the path by then, so one due earlier than an input handled comes
    /// later only if its sender sent it late (counted as a late delivery).
    fn handle_due(&mut self) -> io::Result<()> {
        loop {
            let limit = self.run.clock.now().min(self.run.end);
            self.receive(Duration::ZERO)?;
            if !self.handle_by(limit)? {
                return Ok(());
            }
        }
    }

    /// Sends what is due and hands the node every input due by `limit`;
    /// whether there was one.
    fn handle_by(&mut self, limit: SimTime) -> io::Result<bool> {
        let mut handled = false;
        loop {
            let now = self.run.clock.now().min(self.run.end);
            while let Some((to, payload, due_ns)) = self.run.path.pop_outgoing(now) {
                self.run.transport.transmit(to, &payload, due_ns);
            }
            let Some((at, due)) = self.next_due().filter(|(at, _)| *at <= limit) else {
                return Ok(handled);
            };
            handled = true;
            if at < self.at {
                self.run.path.count_late(self.at - at);
            }
            self.at = self.at.max(at);
            match due {
                Due::Fault => self.apply_fault()?,
                Due::PathChange => self.apply_path_changes(at)?,
                Due::Timer(timer) => {
                    self.timers.remove(&timer);
                    self.feed(Input::Timer(timer))?;
                }
                Due::Delivery => {
                    if let Some((from, payload)) = self.run.path.pop_incoming(at) {
                        self.run.transport.count_delivered(from, payload.len());
                        self.feed(Input::Message { from, payload })?;
                    }
                }
            }
        }
    }

    /// The next input due and its true time: the earliest, ties in the
    /// order of [`Due`]'s variants.
    fn next_due(&self) -> Option<(SimTime, Due)> {
        let clock = &self.run.clock;
        let timer = self
            .timers
            .iter()
            .min_by_key(|(id, at)| (clock.global(**at), id.code()))
            .map(|(id, at)| (clock.global(*at), Due::Timer(*id)));
        [
            self.run.faults.first().map(|f| (f.at, Due::Fault)),
            self.run.path.next_change().map(|at| (at, Due::PathChange)),
            timer,
            self.run.path.next_delivery().map(|at| (at, Due::Delivery)),
        ]
        .into_iter()
        .flatten()
        .enumerate()
        .min_by_key(|(rank, (at, _))| (*at, *rank))
        .map(|(_, next)| next)
    }

    /// At the end: what is still in the path was in flight, not lost.
    fn end_path(&mut self) {
        let (to, from) = self.run.path.in_flight();
        let counters = &mut self.run.transport.counters;
        for (host, n) in to {
            *counters.held_to.entry(host).or_default() += n;
        }
        for (host, n) in from {
            *counters.in_flight_from.entry(host).or_default() += n;
        }
    }

    /// How long the next receive may block: until the next input or crash
    /// due by the end, the watch poll or `finish_by` (the end, or the end
    /// of [`FINISH`]), at most [`MAX_WAIT`].
    fn wait(&self, next_watch: Instant, finish_by: Instant) -> Duration {
        let crash =
            self.run.crashes.first().map(|at| {
                SimTime::from_nanos(at.as_nanos().saturating_sub(BEFORE_CRASH.as_nanos()))
            });
        let due = [
            self.next_due().map(|(at, _)| at),
            self.run.path.next_due(),
            crash,
        ]
        .into_iter()
        .flatten()
        .filter(|at| *at <= self.run.end)
        .min();
        let mut wait = due.map_or(MAX_WAIT, |at| self.run.clock.real_until(at));
        wait = wait
            .min(MAX_WAIT)
            .min(finish_by.saturating_duration_since(Instant::now()));
        if self.watching() {
            wait = wait.min(next_watch.saturating_duration_since(Instant::now()));
        }
        wait
    }

    /// Carries out the first of the process's own faults, recorded at its
    /// scheduled time.
    fn apply_fault(&mut self) -> io::Result<()> {
        let fault = self.run.faults.remove(0);
        let apply = match fault.action {
            SelfAction::Misbehave(on) => {
                self.feed(Input::Misbehave { on })?;
                on
            }
            SelfAction::Skew(skew) => {
                self.run.clock.set_skew(skew);
                true
            }
            SelfAction::StorageOutage(on) => {
                self.storage_outage(on)?;
                on
            }
        };
        self.run.log.append(&HostRecord::Fault {
            at_ns: fault.at.as_nanos(),
            index: fault.index,
            apply,
        })
    }

    /// Puts the path's rule changes due at `at` in force, each recorded at
    /// its scheduled time.
    fn apply_path_changes(&mut self, at: SimTime) -> io::Result<()> {
        for change in self.run.path.apply_due(at) {
            self.run.log.append(&HostRecord::Fault {
                at_ns: change.at.as_nanos(),
                index: change.index,
                apply: change.apply,
            })?;
        }
        Ok(())
    }

    /// A storage outage starts (`on`: file operations are held from now)
    /// or ends: each held operation is carried out in order and its result
    /// fed to the node (what it leads to runs at once, the outage over).
    fn storage_outage(&mut self, on: bool) -> io::Result<()> {
        if on {
            self.held_files.get_or_insert_with(VecDeque::new);
            return Ok(());
        }
        for op in self.held_files.take().unwrap_or_default() {
            let result = self.run.dir.apply(*op);
            self.feed(Input::File(Box::new(result)))?;
        }
        Ok(())
    }

    /// Whether the shared directory is watched now (never during an
    /// outage: the notifications wait for its end, as in the simulator).
    fn watching(&self) -> bool {
        self.run.dir.is_watching() && self.held_files.is_none()
    }

    /// Feeds `input`, which the real world timed (the start, a file change
    /// a poll saw), at the clock's reading.
    fn feed_now(&mut self, input: Input) -> io::Result<()> {
        self.at = self.at.max(self.run.clock.now());
        self.feed(input)
    }

    /// Feeds `input` and everything it leads to (file results) at the
    /// current input's time, carrying out every output in order.
    fn feed(&mut self, input: Input) -> io::Result<()> {
        self.pending.push_back(input);
        while let Some(input) = self.pending.pop_front() {
            let true_now = self.at;
            let local = self.run.clock.local(true_now);
            self.inputs += 1;
            self.run.node.handle_input(local, input, &mut self.run.rng);
            while let Some(output) = self.run.node.poll_output() {
                self.carry_out(output, true_now)?;
            }
        }
        Ok(())
    }

    fn carry_out(&mut self, output: Output, now: SimTime) -> io::Result<()> {
        match output {
            Output::Send { to, payload } => {
                self.run.transport.count_sent(to, payload.len());
                self.run.path.send(now, to, payload);
            }
            Output::SetTimer { timer, at } => {
                self.timers.insert(timer, at);
            }
            Output::CancelTimer(timer) => {
                self.timers.remove(&timer);
            }
            Output::File(op) => match &mut self.held_files {
                Some(held) => held.push_back(op),
                None => {
                    let result = self.run.dir.apply(*op);
                    self.pending.push_back(Input::File(Box::new(result)));
                }
            },
            Output::Record(observation) => {
                self.run.rows.append(now, &observation)?;
                self.run.log.append(&HostRecord::Observation {
                    at_ns: now.as_nanos(),
                    observation: *observation,
                })?;
            }
        }
        Ok(())
    }

    fn counters(&self) -> NodeCounters {
        let fs = self.run.dir.counters();
        let path = &self.run.path.counters;
        NodeCounters {
            inputs: self.inputs,
            late_inputs: path.late,
            late_ns: path.late_ns,
            writes: fs.writes,
            reads: fs.reads,
            lists: fs.lists,
            metadata: fs.metadata,
            stats: fs.stats,
            protocols: {
                let mut counters = sim::protocols::ProtocolCounters::new();
                sim::protocols::node_counters(&self.run.node, &mut counters);
                counters
            },
            fs_refused: self.run.dir.refused().clone(),
            dropped: path.dropped.clone(),
            copies_to: path.copies_to.clone(),
            ..self.run.transport.counters.clone()
        }
    }

    /// Writes what changed since the last counters record, if anything.
    fn write_counters(&mut self) -> io::Result<()> {
        let counters = self.counters();
        let delta = counters.since(&self.written);
        if delta.is_empty() {
            return Ok(());
        }
        self.written = counters;
        let at_ns = self.run.clock.now().min(self.run.end).as_nanos();
        self.run.log.append(&HostRecord::Counters {
            at_ns,
            counters: Box::new(delta),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> (Arc<AtomicBool>, Arc<AtomicBool>, Arc<AtomicBool>) {
        let f = || Arc::new(AtomicBool::new(false));
        (f(), f(), f())
    }

    #[test]
    fn a_stuck_loop_is_ended_after_the_grace() {
        let (stop, done, expired) = flags();
        let e = Arc::clone(&expired);
        let dog = watchdog(
            Arc::clone(&stop),
            done,
            Duration::from_millis(30),
            move || e.store(true, Ordering::Relaxed),
        );
        stop.store(true, Ordering::Relaxed);
        dog.join().unwrap();
        assert!(expired.load(Ordering::Relaxed));
    }

    #[test]
    fn a_loop_that_ends_in_time_is_left_alone() {
        let (stop, done, expired) = flags();
        let e = Arc::clone(&expired);
        let dog = watchdog(
            Arc::clone(&stop),
            Arc::clone(&done),
            Duration::from_secs(60),
            move || e.store(true, Ordering::Relaxed),
        );
        stop.store(true, Ordering::Relaxed);
        done.store(true, Ordering::Relaxed);
        dog.join().unwrap();
        assert!(!expired.load(Ordering::Relaxed));
        // Without a signal, the end of the loop ends the watchdog too.
        let (stop, done, expired) = flags();
        let e = Arc::clone(&expired);
        let dog = watchdog(stop, Arc::clone(&done), Duration::ZERO, move || {
            e.store(true, Ordering::Relaxed)
        });
        done.store(true, Ordering::Relaxed);
        dog.join().unwrap();
        assert!(!expired.load(Ordering::Relaxed));
    }
}
