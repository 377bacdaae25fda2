//! From the per-host records of a real run to the simulator's [`RunLog`],
//! so the reports of a real run are computed by the same code from the
//! same kind of facts. What a real run cannot observe is said here:
//! a crash is known from the scenario (the process was killed at the
//! crash fault's time and left no exit record), a datagram lost on the way
//! is known only as "sent but never accepted" (no reason). Receivers drop
//! replayed frames, so a host accepts at most what was sent to it; where
//! the records still say more (a restarted receiver has a fresh replay
//! window, so frames captured before its restart are new to it), the excess
//! is not delivered traffic: it is taken out of the receiver's count and
//! reported as `received_beyond_sent`.

use std::collections::BTreeMap;

use node_logic::HostId;
use node_logic::protocols::registration::damage::DamageMode;
use sim::Scenario;
use sim::faults::RealEffect;
use sim_core::record::{DamageRecord, FaultRecord, Lifecycle, NetCounters, RunLog};
use sim_core::rng::RngStreams;

use sim_core::trace::FaultPhase;
use sim_core::units::{SimDuration, SimTime};

use super::host_log::{HostRecord, NodeCounters};

/// A real run, reassembled.
#[derive(Debug)]
pub struct Assembled {
    /// What happened, as the simulator would have recorded it.
    pub log: RunLog,
    /// Scenario time at the end.
    pub end: SimTime,
    /// Each protocol's counters read off the nodes, summed.
    pub counters: BTreeMap<String, u64>,
    /// Datagrams dropped by the transport frame check, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Files in the shared directory refused, by reason.
    pub fs_refused: BTreeMap<String, u64>,
    /// Datagrams the processes' own paths dropped (network faults,
    /// emulated loss), by reason: part of the lost ones.
    pub dropped: BTreeMap<String, u64>,
    /// Sends that failed locally.
    pub send_errors: u64,
    /// Inputs the processes handled later than due, and by how long in
    /// all (see `NodeCounters::late_inputs`).
    pub late_inputs: (u64, SimDuration),
    /// Datagrams accepted beyond what their sender sent to the receiver
    /// (replays a restarted receiver could not tell apart), not counted
    /// as delivered.
    pub received_beyond_sent: u64,
    /// Processes that ended early (a signal, or gone without an exit record
    /// and no crash fault to explain it).
    pub interrupted: usize,
}

/// One process of a host: its records from one boot to the next.
#[derive(Debug, Default)]
struct Incarnation {
    boot: Option<(SimTime, bool)>,
    /// Its counters records, added up.
    totals: NodeCounters,
    exited: Option<(SimTime, String)>,
}

/// Builds the run log of a real run from its records, fed one at a time
/// (so a collection holds the run's facts, never its record files).
pub struct Assembler<'a> {
    scenario: &'a Scenario,
    log: RunLog,
    /// Each host's processes so far, by host id.
    processes: Vec<Vec<Incarnation>>,
    faults: BTreeMap<(SimTime, usize, bool), Vec<HostId>>,
    observations: Vec<(SimTime, HostId, node_logic::Observation)>,
}

impl<'a> Assembler<'a> {
    /// An assembler for a real run of `scenario`.
    pub fn new(scenario: &'a Scenario) -> Self {
        let hosts = scenario.hosts.len();
        Assembler {
            scenario,
            log: RunLog::new(hosts),
            processes: (0..hosts).map(|_| Vec::new()).collect(),
            faults: BTreeMap::new(),
            observations: Vec::new(),
        }
    }

    /// Takes the next record of `host` (a host's records in the order
    /// they were written).
    pub fn add(&mut self, host: HostId, record: HostRecord) {
        let Some(processes) = self.processes.get_mut(host.index()) else {
            return;
        };
        if processes.is_empty() || matches!(record, HostRecord::Boot { .. }) {
            processes.push(Incarnation::default());
        }
        let Some(current) = processes.last_mut() else {
            return;
        };
        match record {
            HostRecord::Boot {
                restarted, at_ns, ..
            } => current.boot = Some((SimTime::from_nanos(at_ns), restarted)),
            HostRecord::Observation { at_ns, observation } => {
                self.observations
                    .push((SimTime::from_nanos(at_ns), host, observation));
            }
            HostRecord::Fault {
                at_ns,
                index,
                apply,
            } => self
                .faults
                .entry((SimTime::from_nanos(at_ns), index, apply))
                .or_default()
                .push(host),
            HostRecord::Damage {
                at_ns,
                fault,
                path,
                mode,
            } => {
                let time = SimTime::from_nanos(at_ns);
                let mode = DamageMode::from_name(&mode).map_or("unknown", DamageMode::as_str);
                self.log.damaged.push(DamageRecord {
                    time,
                    fault,
                    host,
                    path,
                    mode,
                });
                self.faults
                    .entry((time, fault, true))
                    .or_default()
                    .push(host);
            }
            HostRecord::Counters { counters, .. } => current.totals.add(&counters),
            HostRecord::Exit { at_ns, reason } => {
                current.exited = Some((SimTime::from_nanos(at_ns), reason));
            }
        }
    }

    /// The run, assembled from every record added.
    pub fn finish(self) -> Assembled {
        let Assembler {
            scenario,
            mut log,
            processes,
            mut faults,
            mut observations,
        } = self;
        let mut out = Assembled {
            log: RunLog::default(),
            end: SimTime::from_duration(scenario.duration),
            counters: BTreeMap::new(),
            rejected: BTreeMap::new(),
            fs_refused: BTreeMap::new(),
            dropped: BTreeMap::new(),
            send_errors: 0,
            late_inputs: (0, SimDuration::ZERO),
            received_beyond_sent: 0,
            interrupted: 0,
        };
        let mut traffic = Traffic::default();
        for (i, incarnations) in processes.iter().enumerate() {
            let host = HostId(i as u32);
            for inc in incarnations {
                let Some((boot, _)) = inc.boot else {
                    continue;
                };
                lifecycle(scenario, host, boot, inc, &mut log, &mut faults, &mut out);
                add_counters(&mut log, host, &inc.totals, &mut out);
                traffic.add(host, &inc.totals);
            }
        }
        count_losses(&mut log, &traffic, &mut out);
        fault_records(scenario, faults, &mut log);
        observations.sort_by_key(|(t, h, _)| (*t, *h));
        log.observations = observations;
        log.lifecycle.sort_by_key(|(t, h, _)| (*t, *h));
        log.damaged.sort_by_key(|d| (d.time, d.host));
        out.log = log;
        out
    }
}

/// One process's boot, and its crash (killed by a crash fault of the
/// scenario at or after its boot: no exit record) or early end.
fn lifecycle(
    scenario: &Scenario,
    host: HostId,
    boot: SimTime,
    inc: &Incarnation,
    log: &mut RunLog,
    faults: &mut BTreeMap<(SimTime, usize, bool), Vec<HostId>>,
    out: &mut Assembled,
) {
    let restarted = inc.boot.is_some_and(|(_, r)| r);
    let kind = if restarted {
        Lifecycle::Restarted
    } else {
        Lifecycle::Started
    };
    log.lifecycle.push((boot, host, kind));
    match &inc.exited {
        None => match crash_after(scenario, host, boot) {
            Some((at, index)) => {
                log.lifecycle.push((at, host, Lifecycle::Crashed));
                faults.entry((at, index, true)).or_default().push(host);
                if let Some(restart) = restart_of(scenario, index) {
                    faults
                        .entry((restart, index, false))
                        .or_default()
                        .push(host);
                }
            }
            // Died without a crash fault: killed from outside, or failed.
            None => out.interrupted += 1,
        },
        Some((_, reason)) if reason != "duration" => out.interrupted += 1,
        Some(_) => {}
    }
}

/// The faults the records name, one record per (time, fault, phase).
fn fault_records(
    scenario: &Scenario,
    faults: BTreeMap<(SimTime, usize, bool), Vec<HostId>>,
    log: &mut RunLog,
) {
    for ((time, index, apply), mut touched) in faults {
        touched.sort_unstable();
        touched.dedup();
        let Some(fault) = scenario.faults.get(index) else {
            continue;
        };
        log.faults.push(FaultRecord {
            time,
            index,
            kind: fault.kind.name(),
            phase: if apply {
                FaultPhase::Apply
            } else {
                FaultPhase::Heal
            },
            hosts: touched,
        });
    }
}

/// Datagrams per (sender, receiver): what was sent (with copies), and
/// what arrived or was still in flight at the end.
#[derive(Default)]
struct Traffic {
    sent: BTreeMap<(HostId, HostId), u64>,
    copies: BTreeMap<(HostId, HostId), u64>,
    got: BTreeMap<(HostId, HostId), u64>,
    held: BTreeMap<(HostId, HostId), u64>,
}

impl Traffic {
    fn add(&mut self, host: HostId, c: &NodeCounters) {
        let outgoing = [
            (&mut self.sent, &c.sent_to),
            (&mut self.copies, &c.copies_to),
            (&mut self.held, &c.held_to),
        ];
        for (into, from) in outgoing {
            for (to, n) in from {
                *into.entry((host, HostId(*to))).or_default() += n;
            }
        }
        for (from, n) in c.received_from.iter().chain(&c.in_flight_from) {
            *self.got.entry((HostId(*from), host)).or_default() += n;
        }
    }
}

/// A datagram is lost when sent (or copied) but never accepted by its
/// receiver (those still in flight at the end, in the network or in a
/// process's path, are not lost, as in the simulator); accepted beyond
/// what was sent is not delivered (see the module docs).
fn count_losses(log: &mut RunLog, traffic: &Traffic, out: &mut Assembled) {
    let sent_with_copies = |pair: &(HostId, HostId)| {
        traffic.sent.get(pair).copied().unwrap_or(0)
            + traffic.copies.get(pair).copied().unwrap_or(0)
    };
    for (pair, got) in &traffic.got {
        let excess = got.saturating_sub(sent_with_copies(pair));
        if let Some(c) = log.net.get_mut(pair.1.index()) {
            let taken = excess.min(c.messages_received);
            c.messages_received -= taken;
            out.received_beyond_sent += taken;
        }
    }
    for (pair, sent) in &traffic.sent {
        let arrived = traffic.got.get(pair).copied().unwrap_or(0)
            + traffic.held.get(pair).copied().unwrap_or(0);
        let expected = sent + traffic.copies.get(pair).copied().unwrap_or(0);
        if let Some(c) = log.net.get_mut(pair.0.index()) {
            c.messages_dropped += expected.saturating_sub(arrived);
        }
    }
}

fn add_counters(log: &mut RunLog, host: HostId, c: &NodeCounters, out: &mut Assembled) {
    if let Some(net) = log.net.get_mut(host.index()) {
        *net = NetCounters {
            messages_sent: net.messages_sent + c.messages_sent,
            bytes_sent: net.bytes_sent + c.bytes_sent,
            messages_received: net.messages_received + c.messages_received,
            bytes_received: net.bytes_received + c.bytes_received,
            messages_dropped: net.messages_dropped,
        };
    }
    log.events += c.inputs;
    let fs = log.fs.entry(host).or_default();
    fs.writes += c.writes;
    fs.reads += c.reads;
    fs.lists += c.lists;
    fs.metadata += c.metadata;
    fs.stats += c.stats;
    for (name, n) in &c.protocols {
        *out.counters.entry(name.clone()).or_default() += n;
    }
    out.send_errors += c.send_errors;
    out.late_inputs.0 += c.late_inputs;
    out.late_inputs.1 = out.late_inputs.1 + SimDuration::from_nanos(c.late_ns);
    for (reason, n) in &c.rejected {
        *out.rejected.entry(reason.clone()).or_default() += n;
    }
    for (reason, n) in &c.fs_refused {
        *out.fs_refused.entry(reason.clone()).or_default() += n;
    }
    for (reason, n) in &c.dropped {
        *out.dropped.entry(reason.clone()).or_default() += n;
    }
}

/// The crash faults: (time, fault index, hosts, restart).
fn crashes(scenario: &Scenario) -> Vec<(SimTime, usize, Vec<HostId>, Option<SimTime>)> {
    let streams = RngStreams::new(scenario.seed);
    sim::faults::each(scenario, &streams)
        .filter_map(|(fault, cx)| match fault.effects().real(&cx) {
            RealEffect::Crash { hosts, restart } => Some((cx.at, cx.index, hosts, restart)),
            RealEffect::Damage { .. }
            | RealEffect::Misbehave { .. }
            | RealEffect::ClockSkew { .. }
            | RealEffect::Network { .. }
            | RealEffect::StorageOutage { .. }
            | RealEffect::Skipped(_) => None,
        })
        .collect()
}

/// The first crash fault of `host` at or after `boot`: (time, fault index).
fn crash_after(scenario: &Scenario, host: HostId, boot: SimTime) -> Option<(SimTime, usize)> {
    crashes(scenario)
        .into_iter()
        .filter(|(at, _, hosts, _)| hosts.contains(&host) && *at >= boot)
        .map(|(at, index, _, _)| (at, index))
        .min()
}

fn restart_of(scenario: &Scenario, index: usize) -> Option<SimTime> {
    crashes(scenario)
        .into_iter()
        .find(|(_, i, _, _)| *i == index)
        .and_then(|(_, _, _, restart)| restart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(scenario: &Scenario, records: BTreeMap<HostId, Vec<HostRecord>>) -> Assembled {
        let mut assembler = Assembler::new(scenario);
        for (host, lines) in records {
            for record in lines {
                assembler.add(host, record);
            }
        }
        assembler.finish()
    }

    /// Counters records are changes that add up; copies a duplication
    /// fault made are expected traffic, not received beyond sent; what a
    /// sender still held in its path at the end was in flight, not lost.
    #[test]
    fn changes_add_up_copies_are_expected_and_held_datagrams_are_not_lost() {
        let text = "duration = \"1 min\"\n[[hosts]]\nname = \"p\"\ncount = 2\nrole = \"peer\"\n";
        let scenario = sim_core::scenario::parse_str(text, None, &[]).unwrap();
        let first = NodeCounters {
            messages_sent: 4,
            sent_to: BTreeMap::from([(1, 4)]),
            copies_to: BTreeMap::from([(1, 2)]),
            ..NodeCounters::default()
        };
        let second = NodeCounters {
            messages_sent: 6,
            sent_to: BTreeMap::from([(1, 6)]),
            held_to: BTreeMap::from([(1, 1)]),
            ..NodeCounters::default()
        };
        let mut sender = process(first);
        sender.insert(
            2,
            HostRecord::Counters {
                at_ns: 1_500,
                counters: Box::new(second),
            },
        );
        let receiver = NodeCounters {
            messages_received: 11,
            received_from: BTreeMap::from([(0, 11)]),
            ..NodeCounters::default()
        };
        let records = BTreeMap::from([(HostId(0), sender), (HostId(1), process(receiver))]);
        let run = assemble(&scenario, records);
        let total = run.log.net_total();
        assert_eq!(total.messages_sent, 10);
        assert_eq!(
            total.messages_received, 11,
            "copies arrive as messages do in the simulator"
        );
        assert_eq!(run.received_beyond_sent, 0);
        // 10 sent + 2 copies, 11 arrived and 1 still held: none lost.
        assert_eq!(total.messages_dropped, 0);
    }

    fn process(counters: NodeCounters) -> Vec<HostRecord> {
        vec![
            HostRecord::Boot {
                format: super::super::host_log::LOG_FORMAT,
                host: String::new(),
                scenario: "replays".into(),
                seed: 1,
                restarted: false,
                at_ns: 0,
                time_scale: 1.0,
            },
            HostRecord::Counters {
                at_ns: 1_000,
                counters: Box::new(counters),
            },
            HostRecord::Exit {
                at_ns: 2_000,
                reason: "duration".into(),
            },
        ]
    }

    /// Host 1 sent host 0 five datagrams; host 0's records say it accepted
    /// nine from host 1 (replays it could not tell apart): five delivered,
    /// four beyond what was sent, none lost. Host 0's three to host 1, of
    /// which two arrived: one lost.
    #[test]
    fn accepted_beyond_sent_is_not_delivered_and_lost_is_sent_minus_accepted() {
        let text = "duration = \"1 min\"\n[[hosts]]\nname = \"p\"\ncount = 2\nrole = \"peer\"\n";
        let scenario = sim_core::scenario::parse_str(text, None, &[]).unwrap();
        let zero = NodeCounters {
            messages_sent: 3,
            sent_to: BTreeMap::from([(1, 3)]),
            messages_received: 9,
            received_from: BTreeMap::from([(1, 9)]),
            ..NodeCounters::default()
        };
        let one = NodeCounters {
            messages_sent: 5,
            sent_to: BTreeMap::from([(0, 5)]),
            messages_received: 2,
            received_from: BTreeMap::from([(0, 2)]),
            ..NodeCounters::default()
        };
        let records = BTreeMap::from([(HostId(0), process(zero)), (HostId(1), process(one))]);
        let run = assemble(&scenario, records);
        let total = run.log.net_total();
        assert_eq!(total.messages_sent, 8);
        assert_eq!(total.messages_received, 5 + 2);
        assert_eq!(total.messages_dropped, 1);
        assert_eq!(run.received_beyond_sent, 4);
        assert_eq!(run.log.net[0].messages_received, 5);
    }
}
