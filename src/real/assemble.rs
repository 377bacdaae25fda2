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
use sim_core::units::SimTime;

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
    /// Sends that failed locally.
    pub send_errors: u64,
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
    last_counters: NodeCounters,
    exited: Option<(SimTime, String)>,
    last_seen: SimTime,
}

/// Builds the run log of `scenario` from each host's records (by host id).
pub fn assemble(scenario: &Scenario, records: &BTreeMap<HostId, Vec<HostRecord>>) -> Assembled {
    let hosts = scenario.hosts.len();
    let mut log = RunLog::new(hosts);
    let mut sent_to: BTreeMap<(HostId, HostId), u64> = BTreeMap::new();
    let mut received_from: BTreeMap<(HostId, HostId), u64> = BTreeMap::new();
    let mut faults: BTreeMap<(SimTime, usize, bool), Vec<HostId>> = BTreeMap::new();
    let mut out = Assembled {
        log: RunLog::default(),
        end: SimTime::from_duration(scenario.duration),
        counters: BTreeMap::new(),
        rejected: BTreeMap::new(),
        fs_refused: BTreeMap::new(),
        send_errors: 0,
        received_beyond_sent: 0,
        interrupted: 0,
    };
    let mut observations = Vec::new();
    for (&host, lines) in records {
        let incarnations = split(lines, host, &mut observations, &mut log, &mut faults);
        for inc in &incarnations {
            let Some((boot, restarted)) = inc.boot else {
                continue;
            };
            let kind = if restarted {
                Lifecycle::Restarted
            } else {
                Lifecycle::Started
            };
            log.lifecycle.push((boot, host, kind));
            if inc.exited.as_ref().is_none() {
                // Killed: by a crash fault of the scenario at or after its boot.
                if let Some((at, index)) = crash_after(scenario, host, boot) {
                    log.lifecycle.push((at, host, Lifecycle::Crashed));
                    faults.entry((at, index, true)).or_default().push(host);
                    if let Some(restart) = restart_of(scenario, index) {
                        faults
                            .entry((restart, index, false))
                            .or_default()
                            .push(host);
                    }
                } else {
                    // Died without a crash fault: killed from outside, or failed.
                    out.interrupted += 1;
                }
            } else if inc.exited.as_ref().is_some_and(|(_, r)| r != "duration") {
                out.interrupted += 1;
            }
            add_counters(&mut log, host, &inc.last_counters, &mut out);
            for (to, n) in &inc.last_counters.sent_to {
                *sent_to.entry((host, HostId(*to))).or_default() += n;
            }
            let counters = &inc.last_counters;
            for (from, n) in counters
                .received_from
                .iter()
                .chain(&counters.in_flight_from)
            {
                *received_from.entry((HostId(*from), host)).or_default() += n;
            }
        }
    }
    count_losses(&mut log, &sent_to, &received_from, &mut out);
    for ((time, index, apply), mut touched) in faults {
        touched.sort_unstable();
        touched.dedup();
        if index >= scenario.faults.len() {
            continue;
        }
        log.faults.push(FaultRecord {
            time,
            index,
            kind: scenario.faults[index].kind.name(),
            phase: if apply {
                FaultPhase::Apply
            } else {
                FaultPhase::Heal
            },
            hosts: touched,
        });
    }
    observations.sort_by_key(|(t, h, _)| (*t, *h));
    log.observations = observations;
    log.lifecycle.sort_by_key(|(t, h, _)| (*t, *h));
    log.damaged.sort_by_key(|d| (d.time, d.host));
    out.log = log;
    out
}

/// A datagram is lost when sent but never accepted by its receiver (those
/// still in flight at the end are not lost, as in the simulator); accepted
/// beyond what was sent is not delivered (see the module docs).
fn count_losses(
    log: &mut RunLog,
    sent_to: &BTreeMap<(HostId, HostId), u64>,
    received_from: &BTreeMap<(HostId, HostId), u64>,
    out: &mut Assembled,
) {
    for ((from, to), got) in received_from {
        let sent = sent_to.get(&(*from, *to)).copied().unwrap_or(0);
        let excess = got.saturating_sub(sent);
        if let Some(c) = log.net.get_mut(to.index()) {
            let taken = excess.min(c.messages_received);
            c.messages_received -= taken;
            out.received_beyond_sent += taken;
        }
    }
    for ((from, to), sent) in sent_to {
        let got = received_from.get(&(*from, *to)).copied().unwrap_or(0);
        if let Some(c) = log.net.get_mut(from.index()) {
            c.messages_dropped += sent.saturating_sub(got);
        }
    }
}

/// Splits one host's records into its processes, moving observations,
/// damage and self-applied faults into the log as it goes.
fn split(
    lines: &[HostRecord],
    host: HostId,
    observations: &mut Vec<(SimTime, HostId, node_logic::Observation)>,
    log: &mut RunLog,
    faults: &mut BTreeMap<(SimTime, usize, bool), Vec<HostId>>,
) -> Vec<Incarnation> {
    let mut incarnations: Vec<Incarnation> = Vec::new();
    for record in lines {
        let current = |incs: &mut Vec<Incarnation>| {
            if incs.is_empty() {
                incs.push(Incarnation::default());
            }
            incs.len() - 1
        };
        match record {
            HostRecord::Boot {
                restarted, at_ns, ..
            } => incarnations.push(Incarnation {
                boot: Some((SimTime::from_nanos(*at_ns), *restarted)),
                last_seen: SimTime::from_nanos(*at_ns),
                ..Incarnation::default()
            }),
            HostRecord::Observation { at_ns, observation } => {
                let i = current(&mut incarnations);
                incarnations[i].last_seen = SimTime::from_nanos(*at_ns);
                observations.push((SimTime::from_nanos(*at_ns), host, observation.clone()));
            }
            HostRecord::Fault {
                at_ns,
                index,
                apply,
            } => faults
                .entry((SimTime::from_nanos(*at_ns), *index, *apply))
                .or_default()
                .push(host),
            HostRecord::Damage {
                at_ns,
                fault,
                path,
                mode,
            } => {
                let time = SimTime::from_nanos(*at_ns);
                let mode = DamageMode::from_name(mode).map_or("unknown", DamageMode::as_str);
                log.damaged.push(DamageRecord {
                    time,
                    fault: *fault,
                    host,
                    path: path.clone(),
                    mode,
                });
                faults.entry((time, *fault, true)).or_default().push(host);
            }
            HostRecord::Counters { at_ns, counters } => {
                let i = current(&mut incarnations);
                incarnations[i].last_counters = counters.clone();
                incarnations[i].last_seen = SimTime::from_nanos(*at_ns);
            }
            HostRecord::Exit { at_ns, reason } => {
                let i = current(&mut incarnations);
                incarnations[i].exited = Some((SimTime::from_nanos(*at_ns), reason.clone()));
            }
        }
    }
    incarnations
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
    for (name, n) in &c.protocols {
        *out.counters.entry(name.clone()).or_default() += n;
    }
    out.send_errors += c.send_errors;
    for (reason, n) in &c.rejected {
        *out.rejected.entry(reason.clone()).or_default() += n;
    }
    for (reason, n) in &c.fs_refused {
        *out.fs_refused.entry(reason.clone()).or_default() += n;
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
                counters,
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
        let run = assemble(&scenario, &records);
        let total = run.log.net_total();
        assert_eq!(total.messages_sent, 8);
        assert_eq!(total.messages_received, 5 + 2);
        assert_eq!(total.messages_dropped, 1);
        assert_eq!(run.received_beyond_sent, 4);
        assert_eq!(run.log.net[0].messages_received, 5);
    }
}
