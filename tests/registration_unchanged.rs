//! `skip_unchanged` (issue 12, item 4): registrars stat a file they read
//! and could not accept, and read it again only when its size or
//! modification time changed — from the scenario to the run: fewer
//! reads, the same registry, deterministic, located errors.

use node_logic::Observation;
use node_logic::protocols::registration::RegistrationEvent;
use sim::Scenario;
use sim_core::record::RunLog;
use sim_core::scenario::ErrorKind;

mod in_memory;
use in_memory::run;

const BASE: &str = r#"
seed = 5
duration = "120 s"
[network]
latency = "10 ms"
[[hosts]]
name = "miner"
count = 40
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
[registration]
"#;

fn parse(extra: &str) -> Result<Scenario, sim_core::scenario::ScenarioError> {
    sim::model::parse_str(&format!("{BASE}{extra}"), None, &[])
}

/// Every acceptance (agent, wallet, registrar), sorted; reads and stats
/// by the registrars; `Unchanged` records.
fn outcome(log: &RunLog) -> (Vec<(String, String, u32)>, u64, u64, usize) {
    let mut accepted = Vec::new();
    let mut skipped = 0;
    for (_, host, observation) in &log.observations {
        match observation {
            Observation::Registration(RegistrationEvent::Accepted { agent, wallet, .. }) => {
                accepted.push((agent.clone(), wallet.clone(), host.0));
            }
            Observation::Registration(RegistrationEvent::Unchanged { .. }) => skipped += 1,
            _ => {}
        }
    }
    accepted.sort();
    let (reads, stats) = log
        .fs
        .values()
        .fold((0, 0), |(r, s), c| (r + c.reads, s + c.stats));
    (accepted, reads, stats, skipped)
}

#[test]
fn without_recovery_unchanged_damaged_files_are_not_read_again() {
    let (plain_log, plain_hash) = run(&parse("recover = false\n").unwrap());
    let cached = parse("recover = false\nskip_unchanged = true\nstat_time = \"500 us\"\n").unwrap();
    let (cached_log, cached_hash) = run(&cached);
    let (again_log, again_hash) = run(&cached);
    assert_eq!(
        cached_hash, again_hash,
        "same scenario and seed, same trace"
    );
    assert_eq!(outcome(&cached_log), outcome(&again_log));
    assert_ne!(plain_hash, cached_hash);
    let (plain_accepted, plain_reads, plain_stats, plain_skipped) = outcome(&plain_log);
    let (accepted, reads, stats, skipped) = outcome(&cached_log);
    // The same registry: 36 good miners at each of the 3 registrars.
    assert_eq!(accepted.len(), 36 * 3);
    let registry = |a: &[(String, String, u32)]| -> Vec<(String, String)> {
        a.iter().map(|(m, w, _)| (m.clone(), w.clone())).collect()
    };
    assert_eq!(registry(&accepted), registry(&plain_accepted));
    assert_eq!(
        (plain_stats, plain_skipped),
        (0, 0),
        "no stat without the key"
    );
    // Without the cache every check re-reads the 4 damaged files; with it
    // each is read twice per registrar, then only stat'ed.
    assert!(skipped > 100, "{skipped} skips");
    assert!(stats as usize >= skipped, "{stats} stats, {skipped} skips");
    assert!(
        plain_reads >= reads + skipped as u64,
        "reads {plain_reads} -> {reads}, {skipped} skipped"
    );
    assert!(reads <= 40 * 3 + 2 * 4 * 3, "{reads} reads");
}

#[test]
fn with_recovery_and_torn_writes_everyone_registers_as_without_it() {
    let extra = "recover = true\natomic_writes = false\n";
    let (plain_log, _) = run(&parse(extra).unwrap());
    let (log, _) = run(&parse(&format!("{extra}skip_unchanged = true\n")).unwrap());
    let (accepted, ..) = outcome(&log);
    assert_eq!(accepted.len(), 40 * 3, "every miner at every registrar");
    let wallets = |a: Vec<(String, String, u32)>| -> Vec<(String, String)> {
        let mut w: Vec<_> = a.into_iter().map(|(m, w, _)| (m, w)).collect();
        w.dedup();
        w
    };
    assert_eq!(wallets(accepted), wallets(outcome(&plain_log).0));
}

#[test]
fn bad_values_are_refused_where_they_are_written() {
    in_memory::assert_located(
        parse("skip_unchanged = \"yes\"\n"),
        ErrorKind::InvalidValue,
        "registration.skip_unchanged",
        "",
    );
    in_memory::assert_located(
        parse("stat_time = \"1 ms\"\n"),
        ErrorKind::Conflict,
        "registration.stat_time",
        "would do nothing",
    );
    in_memory::assert_located(
        parse("skip_unchanged = true\nstat_time = \"fast\"\n"),
        ErrorKind::InvalidValue,
        "registration.stat_time",
        "",
    );
    assert!(parse("skip_unchanged = true\nstat_time = \"0 s\"\n").is_ok());
}
