//! What the registration protocol reports: every acceptance, error,
//! quarantine, recovery and progress step, as it happens. The reports
//! compute `registration.*` metrics from these alone.

use crate::identity::PublicKey;
use crate::observe::{Described, Description, TraceWriter, Traced};

/// One registration observation (wrapped in
/// [`crate::protocols::Observation::Registration`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// A registrar did not read a file again: a stat showed the size and
    /// modification time it had when it was last read and not accepted
    /// (`skip_unchanged`).
    Unchanged {
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
    /// Another registrar's validated result (sharded registrars): the
    /// miner's signed file, verified again on arrival.
    Shard,
}

impl WalletSource {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletSource::File => "file",
            WalletSource::Backup => "backup",
            WalletSource::Legacy => "legacy",
            WalletSource::Shard => "shard",
        }
    }
}

/// Why a registration was refused; one kind per check of the validation
/// pipeline, each counted in the reports.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
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

impl Traced for RegistrationEvent {
    fn trace(&self, out: &mut impl TraceWriter) {
        match self {
            RegistrationEvent::FileWritten { agent, attempt } => {
                out.word(1);
                out.bytes(agent.as_bytes());
                out.word(u64::from(*attempt));
            }
            RegistrationEvent::Accepted {
                agent,
                wallet,
                public_key,
                source,
            } => {
                out.word(2);
                out.bytes(agent.as_bytes());
                out.bytes(wallet.as_bytes());
                out.bytes(public_key.as_ref().map_or(&[][..], |k| &k.0[..]));
                out.word(*source as u64);
            }
            RegistrationEvent::Invalid { agent, error } => {
                out.word(3);
                out.bytes(agent.as_bytes());
                out.word(*error as u64);
            }
            RegistrationEvent::Quarantined { agent, to } => {
                out.word(4);
                out.bytes(agent.as_bytes());
                out.bytes(to.as_bytes());
            }
            RegistrationEvent::RestoredFromBackup { agent } => {
                out.word(5);
                out.bytes(agent.as_bytes());
            }
            RegistrationEvent::ReRegistrationRequested { agent } => {
                out.word(6);
                out.bytes(agent.as_bytes());
            }
            RegistrationEvent::Progress {
                registered,
                expected,
            } => {
                out.word(7);
                out.word(u64::from(*registered));
                out.word(u64::from(*expected));
            }
            RegistrationEvent::Ready {
                registered,
                expected,
                timed_out,
                missing,
            } => {
                out.word(8);
                out.word(u64::from(*registered));
                out.word(u64::from(*expected));
                out.word(u64::from(*timed_out));
                out.word(missing.len() as u64);
                for agent in missing {
                    out.bytes(agent.as_bytes());
                }
            }
            RegistrationEvent::Unchanged { agent } => {
                out.word(9);
                out.bytes(agent.as_bytes());
            }
        }
    }
}

impl Described for RegistrationEvent {
    fn describe(&self) -> Description {
        match self {
            RegistrationEvent::FileWritten { agent, attempt } => {
                Description::new("registration-file-written")
                    .named(agent)
                    .detail(format!("attempt {attempt}"))
            }
            RegistrationEvent::Accepted {
                agent,
                wallet,
                source,
                ..
            } => Description::new("registration-accepted")
                .named(agent)
                .detail(format!("{} {wallet}", source.as_str())),
            RegistrationEvent::Invalid { agent, error } => Description::new("registration-invalid")
                .named(agent)
                .detail(error.as_str()),
            RegistrationEvent::Quarantined { agent, to } => {
                Description::new("registration-quarantined")
                    .named(agent)
                    .detail(to)
            }
            RegistrationEvent::RestoredFromBackup { agent } => {
                Description::new("registration-restored").named(agent)
            }
            RegistrationEvent::ReRegistrationRequested { agent } => {
                Description::new("registration-reregister-requested").named(agent)
            }
            RegistrationEvent::Unchanged { agent } => {
                Description::new("registration-unchanged").named(agent)
            }
            RegistrationEvent::Progress {
                registered,
                expected,
            } => {
                Description::new("registration-progress").detail(format!("{registered}/{expected}"))
            }
            RegistrationEvent::Ready {
                registered,
                expected,
                timed_out,
                missing,
            } => Description::new("registration-ready").detail(format!(
                "{registered}/{expected}{}{}",
                if *timed_out { " timed out" } else { "" },
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" missing {}", missing.join(" "))
                }
            )),
        }
    }
}

/// One of each event (every error kind too), for the tests of every
/// layer that encodes observations.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    pub(crate) fn name(e: &RegistrationEvent) -> &'static str {
        match e {
            RegistrationEvent::FileWritten { .. } => "file_written",
            RegistrationEvent::Accepted { .. } => "accepted",
            RegistrationEvent::Invalid { .. } => "invalid",
            RegistrationEvent::Quarantined { .. } => "quarantined",
            RegistrationEvent::RestoredFromBackup { .. } => "restored_from_backup",
            RegistrationEvent::ReRegistrationRequested { .. } => "re_registration_requested",
            RegistrationEvent::Progress { .. } => "progress",
            RegistrationEvent::Ready { .. } => "ready",
            RegistrationEvent::Unchanged { .. } => "unchanged",
        }
    }

    pub(crate) fn all() -> Vec<RegistrationEvent> {
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(0xa5);
        }
        let mut out = vec![
            RegistrationEvent::FileWritten {
                agent: "miner-0".into(),
                attempt: 3,
            },
            RegistrationEvent::Accepted {
                agent: "miner-1".into(),
                wallet: "0x00112233445566778899aabbccddeeff00112233".into(),
                public_key: Some(PublicKey(key)),
                source: WalletSource::File,
            },
            RegistrationEvent::Accepted {
                agent: "miner-2".into(),
                wallet: "0xffeeddccbbaa99887766554433221100ffeeddcc".into(),
                public_key: None,
                source: WalletSource::Legacy,
            },
            RegistrationEvent::Quarantined {
                agent: "miner-3".into(),
                to: "miner-3.json.corrupted.12000000000".into(),
            },
            RegistrationEvent::RestoredFromBackup {
                agent: "miner-4 \"quoted\" \u{e9}".into(),
            },
            RegistrationEvent::ReRegistrationRequested {
                agent: "miner-5".into(),
            },
            RegistrationEvent::Progress {
                registered: 7,
                expected: 10,
            },
            RegistrationEvent::Ready {
                registered: 8,
                expected: 10,
                timed_out: true,
                missing: vec!["miner-6".into(), "miner-9".into()],
            },
            RegistrationEvent::Unchanged {
                agent: "miner-8".into(),
            },
        ];
        out.push(RegistrationEvent::Accepted {
            agent: "miner-7".into(),
            wallet: "0x0000000000000000000000000000000000000000".into(),
            public_key: Some(PublicKey([0xff; 32])),
            source: WalletSource::Backup,
        });
        use ValidationErrorKind as K;
        for error in [
            K::Missing,
            K::Empty,
            K::Unreadable,
            K::InvalidJson,
            K::MissingField,
            K::MistypedField,
            K::BadSignature,
            K::AgentIdMismatch,
            K::WalletMismatch,
            K::DuplicateWallet,
            K::LegacyFormat,
            K::UnknownAgent,
        ] {
            out.push(RegistrationEvent::Invalid {
                agent: format!("miner-{}", error.as_str()),
                error,
            });
        }
        out
    }

    #[test]
    fn the_samples_cover_every_variant() {
        let names: std::collections::BTreeSet<&str> = all().iter().map(name).collect();
        assert_eq!(names.len(), 9, "{names:?}");
    }
}
