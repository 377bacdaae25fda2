//! What the registration protocol reports: every acceptance, error,
//! quarantine, recovery and progress step, as it happens. The reports
//! compute `registration.*` metrics from these alone.

use crate::identity::PublicKey;

/// One registration observation (wrapped in
/// [`crate::io::Observation::Registration`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RegistrationEvent {
    /// A miner wrote its registration file (`attempt` 1 is the first write;
    /// later ones are re-registrations).
    FileWritten {
        /// The miner's agent id.
        agent: String,
        /// 1 for the first write.
        attempt: u32,
    },
    /// A registrar accepted a miner's wallet.
    Accepted {
        /// The miner's agent id.
        agent: String,
        /// The wallet address accepted.
        wallet: String,
        /// The key that signed it (`None` for legacy registry entries,
        /// which carry no key).
        public_key: Option<PublicKey>,
        /// Where it came from.
        source: WalletSource,
    },
    /// A registrar found a registration it cannot accept.
    Invalid {
        /// The miner's agent id (from the file name).
        agent: String,
        /// What is wrong.
        error: ValidationErrorKind,
    },
    /// A registrar moved a damaged file aside, keeping its bytes.
    Quarantined {
        /// The miner's agent id.
        agent: String,
        /// The new name, `<file>.corrupted.<time>`.
        to: String,
    },
    /// A registrar restored a miner's file from its valid backup.
    RestoredFromBackup {
        /// The miner's agent id.
        agent: String,
    },
    /// A registrar asked a miner over the network to register again.
    ReRegistrationRequested {
        /// The miner's agent id.
        agent: String,
    },
    /// A registrar's periodic progress report.
    Progress {
        /// Miners accepted so far.
        registered: u32,
        /// Miners it waits for.
        expected: u32,
    },
    /// A registrar stopped waiting: all expected miners accepted, or timeout.
    Ready {
        /// Miners accepted.
        registered: u32,
        /// Miners it waited for.
        expected: u32,
        /// Whether it gave up at the timeout.
        timed_out: bool,
        /// Agent ids of known miners it has not accepted, sorted.
        missing: Vec<String>,
    },
}

/// Where an accepted wallet came from.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum WalletSource {
    /// The miner's registration file.
    File,
    /// The miner's backup file, restored by the registrar.
    Backup,
    /// The legacy centralized `agent_registry.json`.
    Legacy,
}

impl WalletSource {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletSource::File => "file",
            WalletSource::Backup => "backup",
            WalletSource::Legacy => "legacy",
        }
    }
}

/// Why a registration was refused; one kind per check of the validation
/// pipeline, each counted in the reports.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValidationErrorKind {
    /// The file does not exist (yet).
    Missing,
    /// Zero bytes.
    Empty,
    /// The read failed for another reason.
    Unreadable,
    /// Not JSON (garbage, truncated, torn).
    InvalidJson,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an unparsable value.
    MistypedField,
    /// The signature does not verify for the file's public key.
    BadSignature,
    /// The `agent_id` inside differs from the one in the file name.
    AgentIdMismatch,
    /// The wallet address is not the one derived from the public key.
    WalletMismatch,
    /// Another miner already registered this wallet.
    DuplicateWallet,
    /// The old (unsigned, centralized) format in a miner file.
    LegacyFormat,
    /// A valid file for an agent this registrar does not expect (not one
    /// of its known miners): refused, so self-made identities cannot stand
    /// in for the expected miners.
    UnknownAgent,
}

impl ValidationErrorKind {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationErrorKind::Missing => "missing",
            ValidationErrorKind::Empty => "empty",
            ValidationErrorKind::Unreadable => "unreadable",
            ValidationErrorKind::InvalidJson => "invalid-json",
            ValidationErrorKind::MissingField => "missing-field",
            ValidationErrorKind::MistypedField => "mistyped-field",
            ValidationErrorKind::BadSignature => "bad-signature",
            ValidationErrorKind::AgentIdMismatch => "agent-id-mismatch",
            ValidationErrorKind::WalletMismatch => "wallet-mismatch",
            ValidationErrorKind::DuplicateWallet => "duplicate-wallet",
            ValidationErrorKind::LegacyFormat => "legacy-format",
            ValidationErrorKind::UnknownAgent => "unknown-agent",
        }
    }
    /// Whether this kind means the file is damaged (rather than absent, or
    /// intact but from an agent nobody expects).
    pub fn is_damage(self) -> bool {
        !matches!(
            self,
            ValidationErrorKind::Missing | ValidationErrorKind::UnknownAgent
        )
    }
}
