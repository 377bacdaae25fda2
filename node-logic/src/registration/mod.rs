//! Decentralized wallet registration: miners write signed registration
//! files into the shared directory; registrars wait for them, validate
//! every file, and (with `recover`) quarantine damaged ones, restore them
//! from the miner's backup or ask the miner to register again.

pub mod config;
pub mod observe;

pub use config::{MinerConfig, RegistrarConfig, RegistrationRole, Strategy};
pub use observe::{RegistrationEvent, ValidationErrorKind, WalletSource};
