//! The client's arrival schedule, its transactions and its restarts.

use super::*;
use crate::io::{Input, Node, Output};
use crate::protocols::consensus::transaction::KIND_TRANSACTION;
use crate::protocols::{HostConfig, HostNode};
use crate::testkit::rng;
use crate::wire;

fn config(arrival: Arrival, schedule: Vec<(SimTime, f64)>, fanout: usize) -> LoadConfig {
    LoadConfig {
        me: HostId(9),
        targets: vec![HostId(0), HostId(1), HostId(2), HostId(3)],
        fanout,
        tx_bytes: 200,
        fee: (1, 100),
        arrival,
        schedule,
        stop: secs(10),
        seed: [7; 32],
        over_gossip: false,
        verifier: None,
        signatures: None,
    }
}

fn secs(s: u64) -> SimTime {
    SimTime::from_duration(SimDuration::from_secs(s))
}

/// Drives a client host until `until` (down from `restart.0` and started
/// again at `restart.1`, if given): the times of its submissions and each
/// one's datagrams.
fn drive(
    config: LoadConfig,
    until: SimTime,
    restart: Option<(SimTime, SimTime)>,
) -> Vec<(SimTime, u64, Vec<HostId>)> {
    let identity = Identity::from_secret([5; 32]);
    let make =
        || HostNode::new(HostConfig::new(HostId(9), identity.clone()).with_load(config.clone()));
    let mut node = make();
    let mut r = rng(1);
    let mut out = Vec::new();
    let mut timer: Option<SimTime> = None;
    let mut feed =
        |node: &mut HostNode, now, input, timer: &mut Option<SimTime>, out: &mut Vec<_>| {
            node.handle_input(now, input, &mut r);
            let mut sent = Vec::new();
            while let Some(o) = node.poll_output() {
                match o {
                    Output::SetTimer { at, .. } => *timer = Some(at),
                    Output::Send { to, payload } => {
                        let (_, mut body) = wire::open(&payload).unwrap();
                        assert_eq!(body.u8().unwrap(), KIND_TRANSACTION);
                        let tx = Transaction::decode(&mut body).unwrap();
                        assert_eq!(tx.len(), 200);
                        sent.push((tx.nonce, to));
                    }
                    Output::Record(observation) => match *observation {
                        Observation::Load(LoadEvent::Submitted { nonce, .. }) => {
                            let to = sent
                                .iter()
                                .filter(|(n, _)| *n == nonce)
                                .map(|(_, t)| *t)
                                .collect();
                            out.push((now, nonce, to));
                        }
                        other => panic!("unexpected {other:?}"),
                    },
                    other => panic!("unexpected {other:?}"),
                }
            }
        };
    feed(
        &mut node,
        SimTime::ZERO,
        Input::Start { restarted: false },
        &mut timer,
        &mut out,
    );
    let mut restart = restart;
    while let Some(at) = timer.take() {
        if at > until {
            break;
        }
        if let Some((down, up)) = restart
            && at >= down
        {
            restart = None;
            node = make();
            feed(
                &mut node,
                up,
                Input::Start { restarted: true },
                &mut timer,
                &mut out,
            );
            continue;
        }
        feed(
            &mut node,
            at,
            Input::Timer(TimerId::Load(LoadTimer::Submit)),
            &mut timer,
            &mut out,
        );
    }
    out
}

#[test]
fn a_constant_rate_submits_on_the_dot_with_increasing_nonces() {
    let c = config(Arrival::Constant, vec![(secs(1), 4.0)], 4);
    let subs = drive(c, secs(3), None);
    let times: Vec<u64> = subs.iter().map(|s| s.0.as_nanos()).collect();
    let expected: Vec<u64> = (0..9).map(|i| 1_000_000_000 + i * 250_000_000).collect();
    assert_eq!(times, expected);
    assert!(subs.iter().enumerate().all(|(i, s)| s.1 == i as u64));
    assert!(subs.iter().all(|s| s.2.len() == 4), "fanout = all targets");
}

#[test]
fn poisson_arrivals_have_the_right_mean_and_follow_the_schedule() {
    // 100/s for 5 s, a pause, then 20/s up to the stop at 10 s.
    let schedule = vec![(SimTime::ZERO, 100.0), (secs(5), 0.0), (secs(7), 20.0)];
    let c = config(Arrival::Poisson, schedule, 1);
    let subs = drive(c.clone(), secs(10), None);
    let count = |from: u64, to: u64| {
        subs.iter()
            .filter(|s| s.0 >= secs(from) && s.0 < secs(to))
            .count()
    };
    assert!((440..=560).contains(&count(0, 5)), "{}", count(0, 5));
    assert_eq!(count(5, 7), 0);
    assert!((35..=90).contains(&count(7, 10)), "{}", count(7, 10));
    assert!(subs.iter().all(|s| s.2.len() == 1), "fanout 1");
    let firsts: std::collections::BTreeSet<HostId> = subs.iter().map(|s| s.2[0]).collect();
    assert_eq!(firsts.len(), 4, "every target drawn some time");
    assert_eq!(drive(c, secs(10), None), subs, "deterministic");
}

#[test]
fn a_restarted_client_skips_its_downtime_and_never_reuses_a_nonce() {
    let c = config(Arrival::Constant, vec![(SimTime::ZERO, 10.0)], 2);
    let plain = drive(c.clone(), secs(2), None);
    let restarted = drive(
        c,
        secs(2),
        Some((
            SimTime::from_nanos(1_050_000_000),
            SimTime::from_nanos(1_350_000_000),
        )),
    );
    let nonces: Vec<u64> = restarted.iter().map(|s| s.1).collect();
    let mut sorted = nonces.clone();
    sorted.dedup();
    assert_eq!(sorted, nonces, "nonces strictly increase");
    // The same arrivals as without the restart, those in the gap left out.
    for s in &restarted {
        assert!(plain.contains(s), "{s:?}");
    }
    let gap = |s: &&(SimTime, u64, Vec<HostId>)| {
        s.0.as_nanos() > 1_050_000_000 && s.0.as_nanos() < 1_350_000_000
    };
    assert_eq!(
        restarted.iter().filter(gap).count(),
        0,
        "nothing sent while down"
    );
    assert_eq!(
        restarted.len(),
        plain.len() - 3,
        "1.1, 1.2 and 1.3 s skipped"
    );
}
