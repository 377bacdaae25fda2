//! The signing thread: what it makes, what a client gives up, and its stop.

use std::time::{Duration, Instant};

use node_logic::HostId;
use node_logic::identity::Keypair;
use node_logic::protocols::load::{Arrival, LoadConfig};
use sim_core::units::{SimDuration, SimTime};

use super::*;

fn config(me: u32, rate: f64, stop_s: u64) -> LoadConfig {
    LoadConfig {
        me: HostId(me),
        targets: vec![HostId(0)],
        fanout: 1,
        tx_bytes: 300,
        fee: (1, 1000),
        arrival: Arrival::Poisson,
        schedule: vec![(SimTime::ZERO, rate)],
        stop: SimTime::from_duration(SimDuration::from_secs(stop_s)),
        seed: [me as u8; 32],
        over_gossip: false,
        verifier: None,
        signatures: None,
    }
}

/// How many transactions `config`'s client submits.
fn arrivals(config: &LoadConfig) -> u64 {
    let mut submissions = Submissions::of(config);
    let mut next = submissions.first();
    let mut n = 0;
    while let Some(at) = next {
        n += 1;
        next = submissions.after(at);
    }
    n
}

/// Waits (at most a minute) for the thread to have made all it may now.
fn settle(signer: &Signer) {
    let start = Instant::now();
    while !signer.is_idle() {
        assert!(start.elapsed() < Duration::from_secs(60), "thread stuck");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn each_client_takes_exactly_the_signatures_it_would_make() {
    let configs = [config(1, 40.0, 10), config(2, 25.0, 10)];
    let keys = [Keypair::from_secret([1; 32]), Keypair::from_secret([2; 32])];
    let clients = keys
        .iter()
        .zip(&configs)
        .map(|(k, c)| (k.clone(), Submissions::of(c)))
        .collect();
    let signer = Signer::start(clients);
    settle(&signer);
    for (index, (keys, config)) in keys.iter().zip(&configs).enumerate() {
        let mine = signer.client(index);
        let submissions = Submissions::of(config);
        let count = arrivals(config);
        assert!(count > 100, "{count}");
        for nonce in 0..count {
            let (tx, _) = submissions.transaction(keys.public_key(), nonce);
            assert_eq!(mine.take(nonce), Some(tx.sign_ahead(keys)), "nonce {nonce}");
        }
        assert_eq!(mine.take(count), None, "nothing past the last arrival");
    }
    let total: u64 = configs.iter().map(arrivals).sum();
    assert_eq!(signer.given(), total);
}

#[test]
fn a_client_that_went_past_a_nonce_gives_it_up() {
    let config = config(3, 50.0, 5);
    let keys = Keypair::from_secret([3; 32]);
    let signer = Signer::start(vec![(keys.clone(), Submissions::of(&config))]);
    settle(&signer);
    let mine = signer.client(0);
    let (tx, _) = Submissions::of(&config).transaction(keys.public_key(), 7);
    assert_eq!(mine.take(7), Some(tx.sign_ahead(&keys)));
    // A restarted client resumes past its downtime: the earlier ones are
    // gone, the later ones still there.
    assert_eq!(mine.take(3), None);
    assert!(mine.take(8).is_some());
    assert_eq!(signer.given(), 2);
    // Printing a client's configuration prints counts, not signatures.
    let shown = format!("{mine:?}");
    assert!(shown.contains("given: 2") && shown.len() < 200, "{shown}");
}

#[test]
fn a_full_signer_waits_and_stops_when_dropped() {
    // A million arrivals: the thread fills its window and waits.
    let config = config(4, 10_000.0, 100);
    let keys = Keypair::from_secret([4; 32]);
    let signer = Signer::start(vec![(keys, Submissions::of(&config))]);
    settle(&signer);
    assert_eq!(signer.shared.lock().queued, AHEAD);
    let mine = signer.client(0);
    // Taking half the window wakes it; it fills the window again.
    assert!(mine.take(AHEAD as u64 / 2).is_some());
    settle(&signer);
    assert_eq!(signer.shared.lock().queued, AHEAD);
    drop(mine);
    drop(signer); // joins the thread: the test ends only if it stopped
}
