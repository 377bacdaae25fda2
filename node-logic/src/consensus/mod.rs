//! PBFT-style BFT consensus among validators (Sans-IO).
//!
//! `n` validators tolerate `f = (n - 1) / 3` Byzantine ones and agree on a
//! chain of blocks through signed pre-prepare / prepare / commit rounds
//! with quorum certificates, change view when a leader fails, let
//! validators that fell behind catch up with certified blocks, and report
//! equivocation evidence. [`validator`] documents the protocol in full.
//!
//! - [`block`]: blocks and their hashes.
//! - [`message`]: the signed messages and their wire format.
//! - [`certificate`]: prepared and commit certificates and their checks.
//! - [`verify`]: the injected signature verifier.
//! - [`config`]: the configuration and quorum arithmetic.
//! - [`validator`]: the state machine.
//! - [`observe`]: what it reports.

pub mod block;
pub mod certificate;
pub mod config;
pub mod message;
pub mod observe;
pub mod validator;
pub mod verify;

pub use block::{Block, Hash32};
pub use certificate::{CertError, CommitCertificate, PreparedCertificate};
pub use config::{ConsensusConfig, MAX_VALIDATORS, ValidatorSet, fault_tolerance, quorum};
pub use message::{ConsensusMessage, Signed, Vote, VoteKind};
pub use observe::{ConsensusEvent, EquivocationKind};
pub use validator::{ConsensusStats, Validator};
pub use verify::{DirectVerifier, SignatureVerifier};
