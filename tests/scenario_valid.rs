//! Valid scenarios: the full example of the format (tests/scenarios/full.toml), defaults,
//! `--set` overrides, host references and relative paths.

use std::path::{Path, PathBuf};

use node_logic::HostId;
use node_logic::protocols::registration::DamageMode;
use sim::Scenario;
use sim::faults::Fault;
use sim::model::{load, parse_str};
use sim::protocols::consensus::ValidatorSource;
use sim::protocols::registration::corrupt::{CorruptMode, CorruptTarget};
use sim::protocols::registration::{Expected, RegistrationStrategy};
use sim_core::scenario::{
    Comparison, ErrorKind, GraphNodeSpec, Location, Override, Role, ScenarioError, StartSpec,
    TopologySpec,
};
use sim_core::units::{Bandwidth, SimDuration, SimTime};

fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

fn at(s: u64) -> SimTime {
    SimTime::from_duration(secs(s))
}

fn ids(range: std::ops::Range<u32>) -> Vec<HostId> {
    range.map(HostId).collect()
}

fn overrides(sets: &[&str]) -> Vec<Override> {
    sets.iter().map(|s| s.parse().unwrap()).collect()
}

fn parse(text: &str) -> Scenario {
    parse_str(text, None, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_with(text: &str, sets: &[&str]) -> Result<Scenario, ScenarioError> {
    parse_str(text, Some(Path::new("studies/demo.toml")), &overrides(sets))
}

const MINIMAL: &str = r#"
duration = "1 min"

[[hosts]]
name = "miner"
role = "miner"
"#;

const TWO_GROUPS: &str = r#"
duration = "10 min"

[[hosts]]
name = "miner"
count = 10
role = "miner"

[[hosts]]
name = "validator"
count = 4
role = "validator"
"#;

#[test]
fn full_example_of_the_format_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/full.toml");
    let s = load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(s.name, "registration-backoff");
    assert_eq!(
        s.description,
        "100 miners register wallets with exponential backoff"
    );
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration, secs(600));
    assert_eq!(s.source.as_deref(), Some(path.as_path()));

    assert_eq!(s.network.topology, TopologySpec::Mesh);
    assert_eq!(s.network.latency, SimDuration::from_millis(50));
    assert_eq!(s.network.jitter, SimDuration::from_millis(5));
    assert_eq!(s.network.loss.value(), 0.001);
    let mbit100 = Bandwidth::from_bits_per_sec(100_000_000);
    assert_eq!(s.network.bandwidth_up, mbit100);
    assert_eq!(s.network.bandwidth_down, mbit100);

    assert_eq!(s.groups.len(), 2);
    assert_eq!(
        (s.groups[0].name.as_str(), s.groups[0].count),
        ("miner", 100)
    );
    assert_eq!(s.groups[0].start, StartSpec::At(SimDuration::ZERO));
    assert_eq!(s.groups[0].graph_node, GraphNodeSpec::RoundRobin);
    assert_eq!(s.groups[1].role, Role::Validator);
    assert_eq!(s.hosts.len(), 104);
    assert_eq!(s.hosts[99].name, "miner-99");
    assert_eq!(s.hosts[100].name, "validator-0");
    assert_eq!(s.hosts[100].id, HostId(100));
    assert_eq!(s.hosts[100].group, 1);
    assert_eq!(
        s.host_by_name("validator-3").map(|h| h.id),
        Some(HostId(103))
    );

    let r = s.protocols.registration.as_ref().unwrap();
    assert_eq!(r.miners, ids(0..100));
    assert_eq!(r.registrars, ids(100..104));
    assert_eq!(r.strategy, RegistrationStrategy::Backoff);
    assert_eq!(r.poll_interval, secs(10));
    assert_eq!(r.initial_interval, secs(1));
    assert_eq!(r.multiplier, 1.5);
    assert_eq!(r.max_interval, secs(10));
    assert_eq!(r.jitter, SimDuration::from_millis(500));
    assert_eq!(r.timeout, secs(300));
    assert_eq!(r.expected, Expected::All);
    assert!(r.recover && r.atomic_writes);
    assert_eq!(r.fs.write_time, SimDuration::from_millis(20));
    assert_eq!(r.fs.read_time, SimDuration::from_millis(2));
    assert_eq!(r.fs.list_time, SimDuration::from_millis(5));
    assert_eq!(r.fs.metadata_time, SimDuration::from_millis(1));
    assert_eq!(r.fs.notify_delay, SimDuration::from_millis(1));

    let peers = s.protocols.peers.as_ref().unwrap();
    assert_eq!(peers.members, ids(100..104));
    assert_eq!(peers.heartbeat, secs(5));
    assert_eq!(peers.stale_after, secs(30));
    assert_eq!(peers.max_observers, 50);

    let c = s.protocols.consensus.as_ref().unwrap();
    assert_eq!(c.validators, ValidatorSource::Hosts(ids(100..104)));
    assert_eq!(c.min_validators, 3);
    assert_eq!(c.block_interval, secs(5));
    assert_eq!(c.view_timeout, secs(10));

    assert_eq!(s.faults.len(), 7);
    assert_eq!(s.faults[0].at, at(60));
    assert_eq!(
        s.faults[0].location,
        Location {
            line: 52,
            column: 1
        }
    );
    let Fault::Partition(p) = &s.faults[0].kind else {
        panic!("{:?}", s.faults[0]);
    };
    assert_eq!(p.sides, vec![ids(100..102), ids(102..104)]);
    assert_eq!((p.one_way, p.until), (false, Some(at(120))));
    let Fault::Crash(c) = &s.faults[1].kind else {
        panic!("{:?}", s.faults[1]);
    };
    assert_eq!(
        (c.hosts.clone(), c.restart),
        (vec![HostId(7)], Some(at(90)))
    );
    let Fault::Corrupt(c) = &s.faults[2].kind else {
        panic!("{:?}", s.faults[2]);
    };
    assert_eq!(c.target, CorruptTarget::Hosts(vec![HostId(3)]));
    assert_eq!(c.mode, CorruptMode::One(DamageMode::Truncate));
    let Fault::Corrupt(c) = &s.faults[3].kind else {
        panic!("{:?}", s.faults[3]);
    };
    let CorruptTarget::Fraction { fraction, of } = &c.target else {
        panic!("{c:?}");
    };
    assert_eq!(c.mode, CorruptMode::Mixed);
    assert_eq!((fraction.value(), of.clone()), (0.05, ids(0..100)));
    let Fault::Link(l) = &s.faults[4].kind else {
        panic!("{:?}", s.faults[4]);
    };
    assert_eq!(
        (l.a.clone(), l.b.clone()),
        (vec![HostId(1)], vec![HostId(100)])
    );
    assert_eq!(l.latency, SimDuration::from_millis(500));
    assert_eq!(l.loss.value(), 0.2);
    assert_eq!(l.until, Some(at(200)));
    let Fault::Byzantine(b) = &s.faults[5].kind else {
        panic!("{:?}", s.faults[5]);
    };
    assert_eq!(
        (b.hosts.clone(), b.until),
        (vec![HostId(103)], Some(at(200)))
    );
    let Fault::ClockSkew(k) = &s.faults[6].kind else {
        panic!("{:?}", s.faults[6]);
    };
    assert_eq!(k.hosts, vec![HostId(102)]);
    assert_eq!((k.offset_ns, k.drift), (2_000_000_000, 0.0));

    let targets: Vec<(&str, Comparison, f64)> = s
        .targets
        .iter()
        .map(|t| (t.metric.as_str(), t.op, t.value))
        .collect();
    assert_eq!(
        targets,
        [
            ("registration.p95_s", Comparison::Less, 60.0),
            (
                "registration.success_rate",
                Comparison::GreaterOrEqual,
                0.999
            ),
            ("consensus.safety_violations", Comparison::Equal, 0.0),
            (
                "consensus.blocks_finalized",
                Comparison::GreaterOrEqual,
                20.0
            ),
        ]
    );
    assert_eq!(
        s.targets[0].location,
        Location {
            line: 91,
            column: 1
        }
    );
}

#[test]
fn absent_tables_take_their_defaults() {
    let s = parse(MINIMAL);
    assert_eq!(s.name, "scenario");
    assert_eq!(s.description, "");
    assert_eq!(s.seed, 1);
    assert_eq!(s.duration, secs(60));
    assert_eq!(s.network.topology, TopologySpec::Mesh);
    assert_eq!(s.network.latency, SimDuration::from_millis(50));
    assert_eq!(s.network.jitter, SimDuration::ZERO);
    assert_eq!(s.network.loss.value(), 0.0);
    assert_eq!(s.network.bandwidth_up, None);
    assert_eq!(s.groups[0].count, 1);
    assert_eq!(s.hosts[0].name, "miner-0");
    // One miner and nobody to register with: no protocol runs.
    assert_eq!(s.protocols, sim::protocols::Protocols::default());
    assert!(s.faults.is_empty() && s.targets.is_empty());
    // Registration's defaults, where it runs.
    let two = parse(TWO_GROUPS);
    let r = two.protocols.registration.as_ref().unwrap();
    assert_eq!(r.strategy, RegistrationStrategy::Backoff);
    assert_eq!(r.progress_interval, secs(10));
    assert_eq!(r.safety_poll, secs(30));
    assert_eq!(r.legacy_registry, None);
    let peers = two.protocols.peers.as_ref().unwrap();
    assert_eq!(peers.members, ids(10..14));
    assert_eq!(peers.heartbeat, secs(5));
    assert_eq!(two.protocols.consensus, None);
}

#[test]
fn name_defaults_to_the_file_stem() {
    let s = parse_with(MINIMAL, &[]).unwrap();
    assert_eq!(s.name, "demo");
}

#[test]
fn empty_consensus_table_takes_the_validator_groups() {
    let s = parse(&format!("{TWO_GROUPS}\n[consensus]\n"));
    let c = s.protocols.consensus.unwrap();
    assert_eq!(c.validators, ValidatorSource::Hosts(ids(10..14)));
    assert_eq!(c.min_validators, 3);
    let s = parse(&format!(
        "{TWO_GROUPS}\n[consensus]\nvalidators = \"registered\"\n"
    ));
    assert_eq!(
        s.protocols.consensus.unwrap().validators,
        ValidatorSource::Registered
    );
}

#[test]
fn set_overrides_strings_numbers_and_times() {
    let s = parse_with(
        TWO_GROUPS,
        &[
            "registration.strategy=poll",
            "network.latency=\"20 ms\"",
            "duration=5min",
            "seed=42",
            "registration.expected=3",
            "description=a study with spaces",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.protocols.registration.as_ref().unwrap().strategy,
        RegistrationStrategy::Poll
    );
    assert_eq!(s.network.latency, SimDuration::from_millis(20));
    assert_eq!(s.duration, secs(300));
    assert_eq!(s.seed, 42);
    assert_eq!(
        s.protocols.registration.as_ref().unwrap().expected,
        Expected::Count(3)
    );
    assert_eq!(s.description, "a study with spaces");
}

#[test]
fn set_reaches_host_groups_by_index_and_by_name() {
    let s = parse_with(TWO_GROUPS, &["hosts.0.count=5", "hosts.validator.count=7"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.groups[0].count, 5);
    assert_eq!(s.groups[1].count, 7);
    assert_eq!(s.hosts.len(), 12);
    assert_eq!(s.hosts[5].name, "validator-0");
    assert_eq!(s.hosts[5].id, HostId(5));
}

#[test]
fn later_sets_win_and_can_create_tables() {
    let s = parse_with(
        TWO_GROUPS,
        &[
            "registration.strategy=poll",
            "registration.strategy=watch",
            "consensus.min_validators=4",
            "targets.\"registration.p95_s\"=< 30",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.protocols.registration.as_ref().unwrap().strategy,
        RegistrationStrategy::Watch
    );
    assert_eq!(s.protocols.consensus.unwrap().min_validators, 4);
    assert_eq!(s.targets[0].metric, "registration.p95_s");
    assert_eq!(
        (s.targets[0].op, s.targets[0].value),
        (Comparison::Less, 30.0)
    );
    assert_eq!(s.targets[0].location, Location::default());
}

#[test]
fn set_of_an_unknown_key_is_the_unknown_key_error_at_the_set() {
    let err = parse_with(TWO_GROUPS, &["registration.stratgy=poll"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    assert_eq!(err.line(), None);
    assert_eq!(err.key_path(), Some("registration.stratgy"));
    assert_eq!(err.set_argument(), Some("registration.stratgy=poll"));
    assert_eq!(err.help(), Some("did you mean `strategy`?"));
    assert!(
        err.to_string()
            .contains("\n  --> --set registration.stratgy=poll\n"),
        "{err}"
    );
}

#[test]
fn set_of_a_bad_value_points_at_the_set() {
    let err = parse_with(TWO_GROUPS, &["registration.strategy=pol"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert_eq!(err.set_argument(), Some("registration.strategy=pol"));
    assert_eq!(err.key_path(), Some("registration.strategy"));
    assert_eq!(err.help(), Some("did you mean `poll`?"));

    let err = parse_with(TWO_GROUPS, &["network.loss=2"]).unwrap_err();
    assert_eq!(err.set_argument(), Some("network.loss=2"));
    assert!(err.message().contains("not a probability"), "{err}");

    let err = parse_with(TWO_GROUPS, &["duration=600"]).unwrap_err();
    assert_eq!(err.set_argument(), Some("duration=600"));
    // The hint is in the form the mistake was made in: a --set.
    assert!(
        err.help().unwrap().contains("`--set 'duration=600 s'`"),
        "{err}"
    );
}

#[test]
fn set_paths_that_lead_nowhere() {
    let err = parse_with(TWO_GROUPS, &["hosts.minr.count=5"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Override);
    assert_eq!(err.message(), "`hosts` has no entry `minr`");
    assert_eq!(err.help(), Some("did you mean `miner`?"));

    let err = parse_with(TWO_GROUPS, &["hosts.5.count=5"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Override);

    let err = parse_with(TWO_GROUPS, &["duration.unit=s"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Override);
    assert!(err.message().contains("`duration` is a string"), "{err}");

    let err = parse_with(TWO_GROUPS, &["netwrk.latency=\"5 ms\""]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    assert_eq!(err.help(), Some("did you mean `network`?"));
}

#[test]
fn set_arguments_need_a_key_and_an_equals_sign() {
    for bad in ["registration.strategy", "=poll", " = 5"] {
        let err = bad.parse::<Override>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Override, "{bad}");
        assert!(err.to_string().contains(&format!("--set {bad}")), "{err}");
    }
    let ov: Override = "network.latency=20 ms".parse().unwrap();
    assert_eq!(ov.to_string(), "network.latency=20 ms");
}

#[test]
fn host_references_by_name_group_and_list() {
    let text = format!(
        r#"{TWO_GROUPS}
[peers]
members = ["validator", "miner-9"]

[consensus]

[[faults]]
at = "1 s"
crash = "miner-3"

[[faults]]
at = "2 s"
byzantine = "validator"

[[faults]]
at = "3 s"
link = [["miner-1", "miner-2", "miner-1"], "validator-0"]
loss = 0.1
"#
    );
    let s = parse(&text);
    assert_eq!(
        s.protocols.peers.as_ref().unwrap().members,
        [ids(10..14), vec![HostId(9)]].concat()
    );
    assert!(matches!(&s.faults[0].kind, Fault::Crash(c) if c.hosts == [HostId(3)]));
    assert!(matches!(&s.faults[1].kind, Fault::Byzantine(b) if b.hosts == ids(10..14)));
    assert!(matches!(
        &s.faults[2].kind,
        Fault::Link(l) if l.a == ids(1..3) && l.b == [HostId(10)]
    ));
}

#[test]
fn host_index_past_the_group_is_an_error_naming_its_range() {
    let text = format!("{TWO_GROUPS}\n[[faults]]\nat = \"1 s\"\ncrash = \"miner-10\"\n");
    let err = parse_str(&text, None, &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownHost);
    assert_eq!(
        err.message(),
        "no host `miner-10`: group `miner` has miner-0 .. miner-9"
    );
}

#[test]
fn paths_are_relative_to_the_scenario_folder() {
    let text = r#"
duration = "1 min"

[network]
graph = "topologies/internet.gml"

[[hosts]]
name = "miner"
role = "miner"
graph_node = 3

[[hosts]]
name = "registrar"
role = "registrar"
graph_node = 3

[registration]
legacy_registry = "../shared/agent_registry.json"
"#;
    // The graph must be there to be named (a missing one is a located error).
    let root = std::env::temp_dir().join(format!("sim-paths-{}", std::process::id()));
    let study = root.join("studies/x");
    std::fs::create_dir_all(study.join("topologies")).unwrap();
    std::fs::write(study.join("topologies/internet.gml"), "").unwrap();
    let s = parse_str(text, Some(&study.join("run.toml")), &[]).unwrap();
    assert_eq!(
        s.network.topology,
        TopologySpec::Gml {
            path: study.join("topologies/internet.gml")
        }
    );
    assert_eq!(s.groups[0].graph_node, GraphNodeSpec::Node(3));
    assert_eq!(
        s.protocols.registration.as_ref().unwrap().legacy_registry,
        Some(study.join("../shared/agent_registry.json"))
    );
    // Without a file, paths are taken as they are (from the working folder).
    let missing = parse_str(text, None, &[]).unwrap_err();
    assert_eq!(missing.key_path(), Some("network.graph"));
    let text = text.replace(
        "topologies/internet.gml",
        "scenarios/topologies/three-regions.gml",
    );
    let s = parse_str(&text, None, &[]).unwrap();
    assert_eq!(
        s.network.topology,
        TopologySpec::Gml {
            path: PathBuf::from("scenarios/topologies/three-regions.gml")
        }
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn starts_bandwidths_and_signed_offsets() {
    let text = r#"
duration = "10 min"

[network]
topology = "random-regular"
degree = 2
bandwidth_up = "10 Mbit"

[[hosts]]
name = "miner"
count = 4
role = "miner"
start = { uniform = ["0 s", "30 s"] }
bandwidth = "1 Gbit"

[[faults]]
at = "10 s"
clock_skew = "miner-0"
offset = "-2 s"
drift = -0.001
"#;
    let s = parse(text);
    assert_eq!(
        s.network.topology,
        TopologySpec::RandomRegular { degree: 2 }
    );
    assert_eq!(
        s.network.bandwidth_up,
        Bandwidth::from_bits_per_sec(10_000_000)
    );
    assert_eq!(s.network.bandwidth_down, None);
    assert_eq!(s.groups[0].start, StartSpec::Uniform(secs(0), secs(30)));
    assert_eq!(
        s.groups[0].bandwidth_down,
        Bandwidth::from_bits_per_sec(1_000_000_000)
    );
    assert_eq!(
        s.faults[0].kind,
        Fault::ClockSkew(sim::faults::clock_skew::ClockSkewFault {
            hosts: vec![HostId(0)],
            offset_ns: -2_000_000_000,
            drift: -0.001,
        })
    );
}

#[test]
fn random_regular_degree_is_checked_against_the_hosts() {
    let text = r#"
duration = "10 min"

[network]
topology = "random-regular"
degree = 3

[[hosts]]
name = "miner"
count = 5
role = "miner"
"#;
    let err = parse_str(text, None, &[]).unwrap_err();
    assert_eq!(err.line(), Some(6));
    assert_eq!(err.key_path(), Some("network.degree"));
    assert!(err.message().contains("5 x 3 is odd"), "{err}");

    let err = parse_with(text, &["network.degree=5"]).unwrap_err();
    assert!(err.message().contains("needs `degree` below 5"), "{err}");
    assert_eq!(err.set_argument(), Some("network.degree=5"));
}

#[test]
fn overlapping_crashes_may_touch_but_not_overlap() {
    let text = format!(
        "{TWO_GROUPS}\n[[faults]]\nat = \"10 s\"\ncrash = \"miner\"\nrestart = \"20 s\"\n\
         \n[[faults]]\nat = \"20 s\"\ncrash = \"miner-1\"\n"
    );
    assert_eq!(parse(&text).faults.len(), 2);
}

#[test]
fn too_many_hosts() {
    let text = "duration = \"1 s\"\n[[hosts]]\nname = \"a\"\ncount = 600000\nrole = \"peer\"\n\
                [[hosts]]\nname = \"b\"\ncount = 600000\nrole = \"peer\"\n";
    let err = parse_str(text, None, &[]).unwrap_err();
    assert_eq!(err.line(), Some(8));
    assert!(err.message().contains("at most 1000000"), "{err}");
}
