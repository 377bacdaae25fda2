//! Hierarchical registration (issue 12, item 4): one registrar per region
//! reads its region's miner files and sends what it accepted to the
//! top-level registrar, which alone holds (and judges) the full registry;
//! a crashed regional registrar's region is taken over by the top after
//! `region_takeover`; bad settings are located errors.

use node_logic::protocols::registration::{RegistrationEvent, WalletSource};
use node_logic::{HostId, Observation};
use sim::Scenario;
use sim_core::record::RunLog;
use sim_core::scenario::ErrorKind;

mod in_memory;
use in_memory::run;

/// Three regions of 15 hosts: 42 miners then 3 registrars, placed round
/// robin, so host `i` is in region `i % 3` and registrar-`r` (host
/// 42 + r) is region `r`'s.
const BASE: &str = r#"
seed = 4
duration = "120 s"
[network]
topology = "regions"
[[network.regions]]
name = "a"
count = 15
latency = { a = "2 ms", b = "30 ms", c = "60 ms" }
[[network.regions]]
name = "b"
count = 15
latency = { b = "2 ms", c = "40 ms" }
[[network.regions]]
name = "c"
count = 15
latency = { c = "2 ms" }
[[hosts]]
name = "miner"
count = 42
role = "miner"
start = { uniform = ["0 s", "5 s"] }
[[hosts]]
name = "registrar"
count = 3
role = "registrar"
[[faults]]
at = "0 s"
corrupt = { fraction = 0.1, of = "miner" }
mode = "mixed"
"#;

const MINERS: u32 = 42;

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

/// What one registrar accepted: (time s, agent, wallet, from another
/// registrar), and whether it became ready without timing out.
#[derive(Clone, Debug, Default, PartialEq)]
struct Seen {
    accepted: Vec<(f64, String, String, bool)>,
    ready: bool,
}

impl Seen {
    /// The (agent, wallet) pairs, sorted.
    fn registry(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .accepted
            .iter()
            .map(|(_, a, w, _)| (a.clone(), w.clone()))
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }
}

/// Per registrar (region 0, 1, 2), what it saw.
fn outcome(log: &RunLog) -> Vec<Seen> {
    let mut per = vec![Seen::default(); 3];
    for (time, host, observation) in &log.observations {
        let Some(slot) = host
            .0
            .checked_sub(MINERS)
            .and_then(|i| per.get_mut(i as usize))
        else {
            continue;
        };
        match observation {
            Observation::Registration(RegistrationEvent::Accepted {
                agent,
                wallet,
                source,
                ..
            }) => slot.accepted.push((
                time.as_secs_f64(),
                agent.clone(),
                wallet.clone(),
                *source == WalletSource::Shard,
            )),
            Observation::Registration(RegistrationEvent::Ready { timed_out, .. }) => {
                slot.ready = !timed_out;
            }
            _ => {}
        }
    }
    per
}

/// The region of miner `agent` (`miner-<i>`).
fn region(agent: &str) -> u32 {
    let i: u32 = agent.trim_start_matches("miner-").parse().unwrap();
    i % 3
}

fn reads(log: &RunLog, host: u32) -> u64 {
    log.fs.get(&HostId(host)).map_or(0, |c| c.reads)
}

#[test]
fn the_top_ends_with_the_full_registry_and_regional_registrars_read_only_their_region() {
    let (plain_log, _) = run(&parse("[registration]\n").unwrap());
    let plain = outcome(&plain_log);
    let hier = parse("[registration]\ntop_registrar = \"registrar-0\"\n").unwrap();
    let (log, hash) = run(&hier);
    let (again, again_hash) = run(&hier);
    assert_eq!(hash, again_hash, "same scenario and seed, same trace");
    assert_eq!(outcome(&log), outcome(&again));
    let per = outcome(&log);
    let top = &per[0];
    assert_eq!(
        top.registry().len(),
        MINERS as usize,
        "the top: every miner"
    );
    assert_eq!(top.registry(), plain[0].registry(), "the real wallets");
    assert!(top.ready, "the top is ready");
    let relayed = top.accepted.iter().filter(|a| a.3).count();
    let foreign = top.accepted.iter().filter(|a| region(&a.1) != 0).count();
    assert_eq!(
        relayed, foreign,
        "regions 1 and 2 came from their registrars"
    );
    for (r, seen) in per.iter().enumerate().skip(1) {
        let own: Vec<(String, String)> = plain[0]
            .registry()
            .into_iter()
            .filter(|(a, _)| region(a) == r as u32)
            .collect();
        assert_eq!(seen.registry(), own, "registrar {r}: its region only");
        assert!(
            seen.accepted.iter().all(|a| !a.3),
            "registrar {r}: from files"
        );
        assert!(seen.ready, "registrar {r}: ready with its region");
    }
    for host in MINERS..MINERS + 3 {
        let (r, all) = (reads(&log, host), reads(&plain_log, host));
        assert!(
            r * 2 < all,
            "host {host}: {r} reads vs {all} without hierarchy"
        );
    }
}

#[test]
fn a_crashed_regional_registrars_region_is_taken_over_by_the_top() {
    // registrar-1 (region 1) dies at 1 s for good; the top reads region
    // 1's files itself 10 s after its start.
    let extra = "[registration]\ntop_registrar = \"registrar-0\"\nregion_takeover = \"10 s\"\n\
                 [[faults]]\nat = \"1 s\"\ncrash = \"registrar-1\"\n";
    let (log, _) = run(&parse(extra).unwrap());
    let per = outcome(&log);
    let plain = outcome(&run(&parse("[registration]\n").unwrap()).0);
    assert_eq!(per[0].registry(), plain[0].registry(), "the full registry");
    assert!(per[0].ready);
    let late: Vec<f64> = per[0]
        .accepted
        .iter()
        .filter(|a| region(&a.1) == 1 && a.0 > 1.0)
        .map(|a| a.0)
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter().all(|&t| t >= 10.0),
        "region 1's miners after the crash only once taken over: {late:?}"
    );
}

#[test]
fn the_top_alone_merges_a_legacy_registry() {
    // 20 legacy agents belong to no region: the top merges them as a
    // single registrar would, the regional registrars never do.
    let registry = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/registries/agent_registry.json"
    );
    let extra = format!(
        "[registration]\ntop_registrar = \"registrar-0\"\nlegacy_registry = \"{registry}\"\n"
    );
    let (log, _) = run(&parse(&extra).unwrap());
    let legacy_by = |host: u32| {
        log.observations
            .iter()
            .filter(|(_, h, o)| {
                h.0 == host
                    && matches!(
                        o,
                        Observation::Registration(RegistrationEvent::Accepted {
                            source: WalletSource::Legacy,
                            ..
                        })
                    )
            })
            .count()
    };
    assert_eq!(legacy_by(MINERS), 20, "the top merged every legacy entry");
    assert_eq!(legacy_by(MINERS + 1) + legacy_by(MINERS + 2), 0);
    let per = outcome(&log);
    assert_eq!(per[0].registry().len(), MINERS as usize + 20);
    assert!(per.iter().all(|seen| seen.ready), "everyone ready");
    for (r, seen) in per.iter().enumerate().skip(1) {
        assert!(
            seen.registry().iter().all(|(a, _)| region(a) == r as u32),
            "registrar {r}: its region only"
        );
    }
}

#[test]
fn bad_settings_are_refused_where_they_are_written() {
    let top = "[registration]\ntop_registrar = \"registrar-0\"\n";
    in_memory::assert_located(
        parse(&format!("{top}shard = true\n")),
        ErrorKind::Conflict,
        "registration.shard",
        "cannot be combined",
    );
    in_memory::assert_located(
        parse("[registration]\ntop_registrar = \"miner-0\"\n"),
        ErrorKind::InvalidValue,
        "registration.top_registrar",
        "not one of the registrars",
    );
    in_memory::assert_located(
        parse(&format!("{top}registrars = \"registrar-0\"\n")),
        ErrorKind::InvalidValue,
        "registration.top_registrar",
        "only 1 registrar",
    );
    in_memory::assert_located(
        parse(&format!(
            "{top}registrars = [\"registrar-0\", \"registrar-1\"]\n"
        )),
        ErrorKind::InvalidValue,
        "registration.top_registrar",
        "region `c` has 14 miners but no registrar",
    );
    in_memory::assert_located(
        parse("[registration]\nregion_takeover = \"10 s\"\n"),
        ErrorKind::Conflict,
        "registration.region_takeover",
        "would do nothing",
    );
    let mesh = BASE.replace("topology = \"regions\"", "topology = \"mesh\"");
    let mesh = mesh
        .split("[[network.regions]]")
        .next()
        .unwrap()
        .to_string()
        + &BASE[BASE.find("[[hosts]]").unwrap()..];
    in_memory::assert_located(
        sim::model::parse_str(&format!("{mesh}{top}"), None, &[]),
        ErrorKind::InvalidValue,
        "registration.top_registrar",
        "no regions",
    );
}
