//! Decentralized wallet registration: miners write signed registration
//! files into the shared directory; registrars wait for them, validate
//! every file, and (with `recover`) quarantine damaged ones, restore them
//! from the miner's backup or ask the miner to register again.
//!
//! - [`file`]: the file format (`<agent>_miner_info.json`), the wallet
//!   address, the validation pipeline, the legacy formats.
//! - [`damage`]: pure corruption functions for fault injection.
//! - [`message`]: the `ReRegister` datagram.
//! - [`miner`]: the miner state machine.
//! - [`registrar`]: the registrar state machine (checks, strategies,
//!   quarantine and repair, legacy merge, timeout and progress).
//! - [`config`], [`observe`]: what a host is told, what it reports.

pub mod config;
pub mod damage;
pub mod file;
pub mod message;
pub mod miner;
pub mod observe;
pub mod registrar;

pub use config::{MinerConfig, RegistrarConfig, RegistrationRole, Strategy};
pub use damage::{DamageMode, damage};
pub use file::{
    Registration, ValidRegistration, encode, parse_legacy_registry, validate, wallet_address,
};
pub use message::RegistrationMessage;
pub use miner::Miner;
pub use observe::{RegistrationEvent, ValidationErrorKind, WalletSource};
pub use registrar::{Acceptance, Registrar};
