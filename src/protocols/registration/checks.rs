//! The registration invariants, checked during the run:
//!
//! - **registration-forged** (safety): a registrar never accepts a wallet
//!   or key that is not the agent's real one (a damaged or forged file,
//!   or an impersonation) — checked at each acceptance against the plan's
//!   ground truth;
//! - **registration-complete** (liveness): with `recover = true`, when the
//!   faults leave time for it (the last fault over, and every miner and
//!   registrar started, at least `liveness_bound` before both the end of
//!   the run and the registrars' `timeout`), every registrar up at the end
//!   (with `top_registrar`: the top-level registrar, if up) has accepted
//!   every miner up at the end, or has become ready without timing out
//!   (`expected` below all) — checked once, at the end.
//!
//! A restarted registrar starts again from nothing, so only what it
//! accepted since its last boot counts.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use foldhash::fast::FixedState;
use node_logic::protocols::registration::RegistrationEvent;
use node_logic::{HostId, Observation};
use sim_core::checkers::{Checker, Violation, ViolationKind};
use sim_core::record::Lifecycle;
use sim_core::units::SimTime;

use super::plan::RegistrationPlan;

/// The registration checkers of one run.
#[derive(Debug)]
pub struct RegistrationChecks {
    plan: RegistrationPlan,
    names: Vec<String>,
    up: BTreeSet<HostId>,
    /// Per registrar: the agents accepted since its last boot (only looked
    /// up, never iterated).
    accepted: BTreeMap<HostId, HashSet<String, FixedState>>,
    /// Registrars ready without timing out since their last boot.
    ready: BTreeSet<HostId>,
    /// When completeness is owed: the time the faults were over.
    complete_after: Option<SimTime>,
}

impl RegistrationChecks {
    /// Checks for `plan`; `names` are host names by id; completeness is
    /// checked at the end when `complete_after` is set (see the module
    /// docs for when it is owed).
    pub fn new(
        plan: RegistrationPlan,
        names: Vec<String>,
        complete_after: Option<SimTime>,
    ) -> Self {
        RegistrationChecks {
            plan,
            names,
            up: BTreeSet::new(),
            accepted: BTreeMap::new(),
            ready: BTreeSet::new(),
            complete_after,
        }
    }

    fn name(&self, host: HostId) -> &str {
        self.names.get(host.index()).map_or("?", String::as_str)
    }
}

impl Checker for RegistrationChecks {
    fn observe(
        &mut self,
        time: SimTime,
        host: HostId,
        observation: &Observation,
    ) -> Result<(), Violation> {
        let Observation::Registration(event) = observation else {
            return Ok(());
        };
        if !self.plan.registrars.contains(&host) {
            return Ok(());
        }
        match event {
            RegistrationEvent::Accepted {
                agent,
                wallet,
                public_key,
                source,
            } => {
                if !self.plan.is_true(agent, wallet, public_key.as_ref()) {
                    let message = format!(
                        "{} accepted wallet {wallet} for {agent} (from its {}), which is not {agent}'s real wallet and key",
                        self.name(host),
                        source.as_str()
                    );
                    return Err(Violation {
                        kind: ViolationKind::Safety,
                        checker: "registration-forged",
                        time,
                        message,
                        events: Vec::new(),
                    });
                }
                self.accepted.entry(host).or_default().insert(agent.clone());
            }
            RegistrationEvent::Ready {
                timed_out: false, ..
            } => {
                self.ready.insert(host);
            }
            RegistrationEvent::Ready {
                timed_out: true, ..
            }
            | RegistrationEvent::FileWritten { .. }
            | RegistrationEvent::Invalid { .. }
            | RegistrationEvent::Quarantined { .. }
            | RegistrationEvent::RestoredFromBackup { .. }
            | RegistrationEvent::ReRegistrationRequested { .. }
            | RegistrationEvent::Progress { .. }
            | RegistrationEvent::Unchanged { .. } => {}
        }
        Ok(())
    }

    fn lifecycle(&mut self, _time: SimTime, host: HostId, what: Lifecycle) {
        match what {
            Lifecycle::Started | Lifecycle::Restarted => {
                self.up.insert(host);
                self.accepted.remove(&host);
                self.ready.remove(&host);
            }
            Lifecycle::Crashed => {
                self.up.remove(&host);
            }
        }
    }

    fn end(&mut self, time: SimTime) -> Result<(), Violation> {
        let Some(after) = self.complete_after else {
            return Ok(());
        };
        let live: Vec<&(String, HostId)> = self
            .plan
            .miners
            .iter()
            .filter(|(_, h)| self.up.contains(h))
            .collect();
        for registrar in self.plan.judges.iter().filter(|r| self.up.contains(r)) {
            if self.ready.contains(registrar) {
                continue;
            }
            let accepted = self.accepted.get(registrar);
            let missing: Vec<&str> = live
                .iter()
                .filter(|(agent, _)| !accepted.is_some_and(|a| a.contains(agent)))
                .map(|(agent, _)| agent.as_str())
                .collect();
            if missing.is_empty() {
                continue;
            }
            let shown = missing
                .iter()
                .take(8)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            let more = if missing.len() > 8 {
                format!(" and {} more", missing.len() - 8)
            } else {
                String::new()
            };
            let message = format!(
                "at the end, {} has not accepted {} live miners ({shown}{more}), though recovery is on and the faults were over at {after}",
                self.name(*registrar),
                missing.len()
            );
            return Err(Violation {
                kind: ViolationKind::Liveness,
                checker: "registration-complete",
                time,
                message,
                events: Vec::new(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use node_logic::protocols::registration::WalletSource;

    use super::*;
    use crate::protocols::registration::plan::TrueWallet;

    /// Miners 0 and 1 (wallets `w0`, `w1`), registrar 2.
    fn checks(complete_after: Option<SimTime>) -> RegistrationChecks {
        let truth = (0..2)
            .map(|i| {
                (
                    format!("miner-{i}"),
                    TrueWallet {
                        wallet: format!("w{i}"),
                        key: None,
                    },
                )
            })
            .collect();
        let plan = RegistrationPlan {
            registrars: vec![HostId(2)],
            judges: vec![HostId(2)],
            miners: Rc::from([("miner-0".into(), HostId(0)), ("miner-1".into(), HostId(1))]),
            miner_keys: Rc::from([]),
            legacy_bytes: None,
            expected: 2,
            truth,
            shared_validation: None,
            signatures: None,
            skip_unchanged: false,
            identities: Default::default(),
        };
        let names = ["miner-0", "miner-1", "registrar-0"]
            .map(String::from)
            .to_vec();
        let mut c = RegistrationChecks::new(plan, names, complete_after);
        for h in 0..3 {
            c.lifecycle(SimTime::ZERO, HostId(h), Lifecycle::Started);
        }
        c
    }

    fn accepted(agent: &str, wallet: &str) -> Observation {
        Observation::Registration(RegistrationEvent::Accepted {
            agent: agent.into(),
            wallet: wallet.into(),
            public_key: None,
            source: WalletSource::File,
        })
    }

    #[test]
    fn a_wallet_that_is_not_the_agents_own_is_a_safety_violation() {
        let mut c = checks(None);
        let t = SimTime::from_nanos(5);
        assert!(c.observe(t, HostId(2), &accepted("miner-0", "w0")).is_ok());
        let v = c
            .observe(t, HostId(2), &accepted("miner-1", "forged"))
            .unwrap_err();
        assert_eq!(
            (v.kind, v.checker),
            (ViolationKind::Safety, "registration-forged")
        );
        assert!(
            v.message
                .contains("registrar-0 accepted wallet forged for miner-1"),
            "{}",
            v.message
        );
        // What a miner itself records is no acceptance.
        assert!(
            c.observe(t, HostId(0), &accepted("miner-1", "forged"))
                .is_ok()
        );
    }

    #[test]
    fn every_live_miner_must_be_registered_by_the_end_when_owed() {
        let end = SimTime::from_nanos(1_000);
        let mut c = checks(Some(SimTime::ZERO));
        c.observe(end, HostId(2), &accepted("miner-0", "w0"))
            .unwrap();
        let v = c.end(end).unwrap_err();
        assert_eq!(
            (v.kind, v.checker),
            (ViolationKind::Liveness, "registration-complete")
        );
        assert!(
            v.message
                .contains("registrar-0 has not accepted 1 live miners (miner-1)"),
            "{}",
            v.message
        );
        // A miner that is down at the end is not owed.
        let mut c = checks(Some(SimTime::ZERO));
        c.observe(end, HostId(2), &accepted("miner-0", "w0"))
            .unwrap();
        c.lifecycle(end, HostId(1), Lifecycle::Crashed);
        assert!(c.end(end).is_ok());
        // Not owed at all: nothing is checked.
        assert!(checks(None).end(end).is_ok());
        // A restarted registrar starts again from nothing.
        let mut c = checks(Some(SimTime::ZERO));
        c.observe(end, HostId(2), &accepted("miner-0", "w0"))
            .unwrap();
        c.observe(end, HostId(2), &accepted("miner-1", "w1"))
            .unwrap();
        c.lifecycle(end, HostId(2), Lifecycle::Restarted);
        assert!(c.end(end).is_err());
    }
}
