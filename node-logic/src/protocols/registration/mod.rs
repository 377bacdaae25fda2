//! Decentralized wallet registration: miners write signed registration
//! files into the shared directory; registrars wait for them, validate
//! every file, and (with `recover`) quarantine damaged ones, restore them
//! from the miner's backup or ask the miner to register again.
//!
//! - [`file`]: the file format (`<agent>_miner_info.json`), the wallet
//!   address, the validation pipeline, the legacy formats.
//! - [`damage`]: pure corruption functions for fault injection.
//! - [`message`]: the `ReRegister`, `Registry` and `RegistryRequest`
//!   datagrams.
//! - [`miner`]: the miner state machine.
//! - [`registrar`]: the registrar state machine (checks, strategies,
//!   quarantine and repair, legacy merge, timeout and progress).
//! - [`shared`]: the validation cache registrars may share.
//! - [`config`], [`observe`]: what a host is told, what it reports.

pub mod config;
pub mod damage;
pub mod file;
pub mod message;
pub mod miner;
pub mod observe;
pub mod registrar;
pub mod shared;

use crate::HostId;
use crate::codec::Reader;
use crate::identity::Identity;
use crate::io::{FileResult, RejectReason};
use crate::protocols::{Cx, HostProtocol, Observation};

pub use config::{
    MinerConfig, Ownership, RegistrarConfig, RegistrationRole, ShardConfig, Strategy,
};
pub use damage::{DamageMode, damage};
pub use file::{
    Registration, ValidRegistration, encode, parse_legacy_registry, validate, wallet_address,
};
pub use message::RegistrationMessage;
pub use miner::Miner;
pub use observe::{RegistrationEvent, ValidationErrorKind, WalletSource};
pub use registrar::{Acceptance, Registrar};
pub use shared::SharedValidation;

/// Wallet registration's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegistrationTimer {
    /// Registrar: look at the shared directory again (poll, backoff or the
    /// watch strategy's safety poll).
    Check,
    /// Registrar: stop waiting and carry on with the miners it has.
    Timeout,
    /// Registrar: report progress.
    Progress,
    /// Miner: write the registration file again (re-registration, with backoff).
    MinerRewrite,
    /// Miner, restarted: ask the registrars for the registry again.
    MinerAskRegistry,
}

/// The registration state machine a host runs.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "miners are the many hosts: the few registrars are boxed so the enum is miner-sized"
)]
pub enum RegistrationNode {
    /// A miner.
    Miner(Miner),
    /// A registrar.
    Registrar(Box<Registrar>),
}

impl RegistrationNode {
    /// The state machine `role` says, signing with `identity` (miners).
    pub fn new(role: RegistrationRole, identity: &Identity) -> Self {
        match role {
            RegistrationRole::Miner(c) => RegistrationNode::Miner(Miner::new(c, identity.clone())),
            RegistrationRole::Registrar(c) => {
                RegistrationNode::Registrar(Box::new(Registrar::new(c)))
            }
        }
    }
    /// The miner, if this is one.
    pub fn miner(&self) -> Option<&Miner> {
        match self {
            RegistrationNode::Miner(m) => Some(m),
            RegistrationNode::Registrar(_) => None,
        }
    }
    /// The registrar, if this is one.
    pub fn registrar(&self) -> Option<&Registrar> {
        match self {
            RegistrationNode::Registrar(r) => Some(r),
            RegistrationNode::Miner(_) => None,
        }
    }
    /// The registrar, mutably, if this is one.
    pub fn registrar_mut(&mut self) -> Option<&mut Registrar> {
        match self {
            RegistrationNode::Registrar(r) => Some(r),
            RegistrationNode::Miner(_) => None,
        }
    }
    /// A registration timer fired.
    pub(crate) fn timer(&mut self, cx: &mut Cx<'_>, timer: RegistrationTimer) {
        match self {
            RegistrationNode::Miner(m) => match timer {
                RegistrationTimer::MinerRewrite => m.handle_rewrite_timer(cx.now, cx.out),
                RegistrationTimer::MinerAskRegistry => m.handle_ask_timer(cx.now, cx.out),
                RegistrationTimer::Check
                | RegistrationTimer::Timeout
                | RegistrationTimer::Progress => {}
            },
            RegistrationNode::Registrar(r) => r.handle_timer(cx.now, timer, cx.out),
        }
    }
}

impl HostProtocol for RegistrationNode {
    fn start(&mut self, cx: &mut Cx<'_>, restarted: bool) {
        match self {
            RegistrationNode::Miner(m) => m.handle_start(cx.now, restarted, cx.out),
            RegistrationNode::Registrar(r) => r.handle_start(cx.now, cx.rng, cx.out),
        }
    }
    /// Miners take re-registration requests and registry announcements;
    /// registrars take only a restarted miner's request for the registry
    /// and refuse everything else.
    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, body: Reader<'_>) {
        match self {
            RegistrationNode::Miner(m) => m.handle_message(cx.now, from, body, cx.out),
            RegistrationNode::Registrar(r) => {
                let reason = match RegistrationMessage::decode(body) {
                    Ok(RegistrationMessage::RegistryRequest) => {
                        return r.handle_registry_request(from, cx.out);
                    }
                    Ok(RegistrationMessage::Validated { agent, file }) => {
                        return r.handle_validated(cx.now, from, &agent, &file, cx.rng, cx.out);
                    }
                    Ok(_) => RejectReason::NotAMember,
                    Err(_) => RejectReason::Malformed,
                };
                cx.out.record(Observation::MessageRejected { from, reason });
            }
        }
    }
    /// A registry announcement gossip carried from registrar `origin`:
    /// a miner takes it as if sent directly; a registrar only relays it
    /// (it is not for registrars, and refusing it would count a relay as
    /// a misbehaving peer).
    fn carried(&mut self, cx: &mut Cx<'_>, origin: HostId, body: Reader<'_>) {
        match self {
            RegistrationNode::Miner(m) => m.handle_message(cx.now, origin, body, cx.out),
            RegistrationNode::Registrar(_) => {}
        }
    }
    fn file(&mut self, cx: &mut Cx<'_>, result: &FileResult) {
        match self {
            RegistrationNode::Miner(m) => m.handle_file(cx.now, result, cx.out),
            RegistrationNode::Registrar(r) => r.handle_file(cx.now, result, cx.rng, cx.out),
        }
    }
    fn file_changed(&mut self, cx: &mut Cx<'_>, path: &str) {
        if let RegistrationNode::Registrar(r) = self {
            r.handle_file_changed(cx.now, path, cx.rng, cx.out);
        }
    }
}
