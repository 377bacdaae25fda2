//! Scenarios through the runner: the heartbeat protocol under the bundled
//! partition / crash scenario, determinism, and RNG stream independence.

use std::path::Path;

use node_logic::HostId;
use node_logic::Observation;
use node_logic::protocols::peers::PeerRegistryEvent;
use sim::Scenario;
use sim::runner::{self, identity, start_time};
use sim_core::record::RunLog;
use sim_core::rng::RngStreams;
use sim_core::scenario;
use sim_core::trace::NoTrace;
use sim_core::units::{SimDuration, SimTime};

mod in_memory;
use in_memory::run;

fn bundled(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    scenario::load(&path, &[]).unwrap()
}

fn secs(s: u64) -> SimTime {
    SimTime::from_duration(SimDuration::from_secs(s))
}

/// (time, observer, peer) of every peer-up or peer-down.
fn events(log: &RunLog, up: bool) -> Vec<(SimTime, HostId, HostId)> {
    log.observations
        .iter()
        .filter_map(|(t, host, o)| match (o, up) {
            (Observation::Peers(PeerRegistryEvent::Up { peer }), true)
            | (Observation::Peers(PeerRegistryEvent::Down { peer }), false) => {
                Some((*t, *host, *peer))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn heartbeats_notice_the_partition_the_crash_and_the_recoveries() {
    let s = bundled("heartbeat-partition.toml");
    let host = |name: &str| s.host_by_name(name).unwrap().id;
    let is_validator = |h: HostId| s.hosts[h.index()].name.starts_with("validator");
    let (log, _) = run(&s);
    let ups = events(&log, true);
    let downs = events(&log, false);
    let within = |list: &[(SimTime, HostId, HostId)],
                  from: u64,
                  to: u64|
     -> Vec<(SimTime, HostId, HostId)> {
        list.iter()
            .copied()
            .filter(|(t, _, _)| *t >= secs(from) && *t < secs(to))
            .collect()
    };

    // Bring-up: every one of the 12 hosts learns the other 11 before the partition.
    assert_eq!(within(&ups, 0, 60).len(), 12 * 11);

    // Partition (60..120 s, stale_after 20 s, heartbeat 5 s): each side drops
    // exactly the other side, stale_after after it last heard from it (at
    // most one heartbeat before the cut) and at most one heartbeat later.
    let cut = within(&downs, 60, 120);
    assert_eq!(cut.len(), 2 * 4 * 8, "{cut:?}");
    for (t, observer, peer) in &cut {
        assert_ne!(
            is_validator(*observer),
            is_validator(*peer),
            "only across the cut"
        );
        assert!(*t > secs(75) && *t <= secs(86), "at {t}");
    }
    // Heal: the two sides find each other again within one heartbeat.
    let healed = within(&ups, 120, 150);
    assert_eq!(healed.len(), 2 * 4 * 8);
    assert!(healed.iter().all(|(t, _, _)| *t <= secs(126)));

    // Crash of peer-3 at 150 s: the other 11 drop it 20..26 s later.
    let p3 = host("peer-3");
    let lost = within(&downs, 150, 200);
    assert_eq!(lost.len(), 11);
    assert!(
        lost.iter()
            .all(|(t, _, peer)| *peer == p3 && *t > secs(170) && *t <= secs(176))
    );
    // Restart at 200 s: it greets everyone and both directions come back at once.
    let back = within(&ups, 200, 220);
    assert_eq!(back.iter().filter(|(_, _, peer)| *peer == p3).count(), 11);
    assert_eq!(
        back.iter()
            .filter(|(_, observer, _)| *observer == p3)
            .count(),
        11
    );
    assert!(back.iter().all(|(t, _, _)| *t < secs(201)));

    // The degraded link (220..260 s: +300 ms, 30 % loss) slows peer-5's
    // heartbeats but never for 20 s: nobody is dropped.
    assert!(within(&downs, 200, 300).is_empty());
    // An honest network never produces a rejected message.
    assert!(
        !log.observations
            .iter()
            .any(|(_, _, o)| matches!(o, Observation::MessageRejected { .. }))
    );
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let s = bundled("heartbeat-regions.toml");
    let (a, hash_a) = run(&s);
    let (b, hash_b) = run(&s);
    assert_eq!(hash_a, hash_b);
    assert_eq!(a.observations, b.observations);
    assert_eq!(a.net, b.net);
    let mut other = s.clone();
    other.seed += 1;
    let (c, hash_c) = run(&other);
    assert_ne!(hash_a, hash_c);
    assert_ne!(a.net, c.net, "jitter, loss and start draws differ");
}

#[test]
fn adding_hosts_does_not_change_the_draws_of_the_others() {
    let base = r#"
        duration = "1 min"
        [[hosts]]
        name = "peer"
        count = 3
        role = "peer"
        start = { uniform = ["0 s", "30 s"] }
    "#;
    let more = format!(
        "{base}\n[[hosts]]\nname = \"extra\"\ncount = 5\nrole = \"peer\"\nstart = {{ uniform = [\"0 s\", \"30 s\"] }}\n"
    );
    let small = sim::model::parse_str(base, None, &[]).unwrap();
    let large = sim::model::parse_str(&more, None, &[]).unwrap();
    let streams = RngStreams::new(small.seed);
    for h in &small.hosts {
        let spec = small.groups[h.group].start;
        let same = &large.hosts[h.id.index()];
        assert_eq!(same.name, h.name);
        assert_eq!(
            start_time(spec, h.id, &streams),
            start_time(large.groups[same.group].start, same.id, &streams)
        );
        assert_eq!(
            identity(&streams, h.id).public_key(),
            identity(&streams, same.id).public_key()
        );
    }
    // And the draws are really random, not all equal.
    let starts: Vec<_> = small
        .hosts
        .iter()
        .map(|h| start_time(small.groups[0].start, h.id, &streams))
        .collect();
    assert!(starts.windows(2).any(|w| w[0] != w[1]), "{starts:?}");
}

#[test]
fn peer_settings_reach_the_hosts() {
    let s = sim::model::parse_str(
        "duration = \"1 min\"\n[[hosts]]\nname = \"p\"\ncount = 3\nrole = \"peer\"\n[peers]\nmax_observers = 7\n",
        None,
        &[],
    )
    .unwrap();
    let mut sim = runner::prepare(&s).unwrap().sim;
    sim.run_until(
        SimTime::from_duration(SimDuration::from_secs(1)),
        &mut NoTrace,
    )
    .unwrap();
    let stats = sim
        .node(node_logic::HostId(0))
        .unwrap()
        .peers()
        .unwrap()
        .registry_stats();
    assert_eq!(stats.max_observers, 7);
}

/// Roles are shorthands: hosts with role "host" take exactly the parts the
/// protocol tables give them, and run them.
#[test]
fn host_role_hosts_take_the_parts_tables_name() {
    let text = r#"
duration = "2 min"
[[hosts]]
name = "box"
count = 8
role = "host"
[registration]
miners = ["box-0", "box-1", "box-2"]
registrars = ["box-3", "box-4"]
[consensus]
validators = ["box-3", "box-4", "box-5", "box-6"]
block_interval = "2 s"
[peers]
members = ["box-5", "box-6", "box-7"]
"#;
    let scenario = sim::model::parse_str(text, None, &[]).unwrap();
    let prepared = runner::prepare(&scenario).unwrap();
    let setup = runner::HostSetup::new(&scenario, prepared.plans.clone());
    let parts = |i: u32| {
        let c = setup.config(HostId(i));
        (
            c.registration.is_some(),
            c.consensus.is_some(),
            c.peers.is_some(),
        )
    };
    assert_eq!(parts(0), (true, false, false), "a miner only");
    assert_eq!(parts(3), (true, true, false), "registrar and validator");
    assert_eq!(parts(5), (false, true, true), "validator and peer");
    assert_eq!(parts(7), (false, false, true), "peer only");
    let mut sim = prepared.sim;
    sim.run(&mut NoTrace).unwrap();
    let finalized = sim
        .log()
        .observations
        .iter()
        .filter(|(_, _, o)| {
            matches!(
                o,
                Observation::Consensus(
                    node_logic::protocols::consensus::ConsensusEvent::Finalized { .. }
                )
            )
        })
        .count();
    assert!(finalized > 20, "{finalized}");
    // A host the tables give nothing runs nothing.
    let lone = "duration = \"1 min\"\n[[hosts]]\nname = \"box\"\nrole = \"host\"\n";
    let lone = sim::model::parse_str(lone, None, &[]).unwrap();
    assert_eq!(lone.protocols, sim::protocols::Protocols::default());
}
