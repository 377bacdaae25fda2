//! The registration plan of a scenario: who mines, who waits, what they
//! expect, the legacy registry to place in the shared directory, and the
//! ground truth of every wallet — the yardstick the reports use to catch a
//! damaged or forged registration that was wrongly accepted.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use foldhash::fast::FixedState;
use node_logic::HostId;
use node_logic::identity::{Identity, PublicKey};
use node_logic::protocols::consensus::SignatureVerifier;
use node_logic::protocols::registration::SharedValidation;
pub use node_logic::protocols::registration::file::{LEGACY_REGISTRY_FILE, file_name};
use node_logic::protocols::registration::file::{Registration, wallet_address};
use sim_core::input::ReadError;
use sim_core::rng::RngStreams;

use super::legacy::{LEGACY_FORMAT, LegacyError, read_legacy};
use super::{Expected, RegistrationSpec};
use crate::model::Scenario;
use crate::protocols::consensus::sigcache::SignatureCache;
use crate::runner::{keypairs, start_time};

/// The wallet an agent really has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrueWallet {
    /// Its address.
    pub wallet: String,
    /// The key that owns it (`None` for legacy-only agents).
    pub key: Option<PublicKey>,
}

/// Who takes part in registration and what the right outcome is.
#[derive(Clone, Debug)]
pub struct RegistrationPlan {
    /// Hosts that wait for wallets, in id order.
    pub registrars: Vec<HostId>,
    /// The registrars whose acceptance makes a miner registered: every
    /// registrar, or only the top-level one with `top_registrar`.
    pub judges: Vec<HostId>,
    /// Miner hosts by agent id (the host name), in id order.
    pub miners: Rc<[(String, HostId)]>,
    /// The miners' public keys, in the order of `miners` (registrars pin
    /// them; legacy-only agents have none).
    pub miner_keys: Rc<[(String, PublicKey)]>,
    /// The legacy registry's bytes, to place in the shared directory.
    pub legacy_bytes: Option<Vec<u8>>,
    /// How many miners registrars wait for.
    pub expected: u32,
    /// Every known agent (miners and legacy entries) and its real wallet.
    /// Hashed with a fixed seed and looked up at every acceptance; whoever
    /// lists it sorts the agents first, so its order reaches no output.
    pub truth: HashMap<String, TrueWallet, FixedState>,
    /// With `shared_cache`: the validation cache every registrar of the
    /// run shares.
    pub shared_validation: Option<SharedValidation>,
    /// The run's signature cache, shared by miners (who tell it of every
    /// file they sign) and registrars (who check signatures through it);
    /// `None` with `--no-signature-cache` or outside `sim run`.
    pub signatures: Option<Rc<SignatureCache>>,
    /// With `skip_unchanged`: the reports add the stats and skipped reads.
    pub skip_unchanged: bool,
    /// The miners' identities, derived once for the plan's keys and
    /// reused when the hosts boot (deriving 100,000 keys is seconds).
    pub identities: MinerIdentities,
}

/// Miner hosts' signing identities, by host.
#[derive(Clone, Default)]
pub struct MinerIdentities(BTreeMap<HostId, Identity>);

impl MinerIdentities {
    /// The identity of miner `host`, if it is one.
    pub fn get(&self, host: HostId) -> Option<&Identity> {
        self.0.get(&host)
    }
}

impl std::fmt::Debug for MinerIdentities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MinerIdentities({} miners)", self.0.len())
    }
}

/// Equal when the same hosts have the same public keys.
impl PartialEq for MinerIdentities {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((a, x), (b, y))| a == b && x.public_key() == y.public_key())
    }
}

impl Eq for MinerIdentities {}

/// Why the registration plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The legacy registry file could not be read (missing, not a regular
    /// file, larger than [`MAX_LEGACY_REGISTRY_BYTES`]).
    #[error("cannot read the legacy registry {}: {source}", path.display())]
    ReadLegacy {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// The legacy registry file is not in the documented format.
    #[error("{}:{}:{}: the legacy registry is not valid: {}; {LEGACY_FORMAT}", path.display(), .error.line, .error.column, .error.what)]
    BadLegacy {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        error: LegacyError,
    },
}

/// Whether a plan derives the miners' keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// Derive them, on the current thread pool's threads when `parallel`
    /// ([`crate::runner::keypairs`]).
    Derive {
        /// Spread the derivation over the thread pool.
        parallel: bool,
    },
    /// A plan made only to find errors: no identities, and the miners'
    /// truth has no wallet and no key.
    Skip,
}

impl RegistrationPlan {
    /// The plan of a run of `spec` in `scenario`, deriving the miners'
    /// keys as `keys` says.
    pub fn of(spec: &RegistrationSpec, scenario: &Scenario, keys: Keys) -> Result<Self, PlanError> {
        let mut registrars = spec.registrars.clone();
        registrars.sort_unstable();
        registrars.dedup();
        let mut miner_hosts = spec.miners.clone();
        miner_hosts.sort_unstable();
        miner_hosts.dedup();
        let miners: Vec<(String, HostId)> = miner_hosts
            .into_iter()
            .map(|h| (scenario.hosts[h.index()].name.clone(), h))
            .collect();
        let (legacy_bytes, legacy) = match read_legacy(spec)? {
            Some(legacy) => (Some(legacy.bytes), legacy.entries),
            None => (None, Vec::new()),
        };
        let streams = RngStreams::new(scenario.seed);
        let mut truth = HashMap::default();
        for (agent, wallet) in legacy {
            truth.insert(agent, TrueWallet { wallet, key: None });
        }
        // A miner host's own signed wallet is the truth for its agent id,
        // even if a legacy entry names it too.
        let mut identities = BTreeMap::new();
        let mut keypairs = match keys {
            Keys::Derive { parallel } => {
                let hosts: Vec<HostId> = miners.iter().map(|(_, h)| *h).collect();
                // A miner writes its signed file when it first boots: sign
                // that record ahead (a crash fault or clock skew that moves
                // the boot only means it is signed when written).
                keypairs(&streams, &hosts, parallel, |index, keys| {
                    let (agent, host) = &miners[index];
                    let spec = scenario.groups[scenario.hosts[host.index()].group].start;
                    let at = start_time(spec, *host, &streams);
                    Registration::presign(keys, agent, at);
                })
            }
            Keys::Skip => Vec::new(),
        }
        .into_iter();
        let mut miner_keys = Vec::new();
        for (agent, host) in &miners {
            let keypair = keypairs.next();
            let truth_of = if let Some(keypair) = keypair {
                let id = Identity::from(keypair);
                let key = id.public_key();
                identities.insert(*host, id);
                miner_keys.push((agent.clone(), key));
                TrueWallet {
                    wallet: wallet_address(&key),
                    key: Some(key),
                }
            } else {
                TrueWallet {
                    wallet: String::new(),
                    key: None,
                }
            };
            truth.insert(agent.clone(), truth_of);
        }
        let expected = match spec.expected {
            Expected::All => u32::try_from(truth.len()).unwrap_or(u32::MAX),
            Expected::Count(n) => n,
        };
        let judges = match &spec.hierarchy {
            Some(h) => vec![h.top],
            None => registrars.clone(),
        };
        Ok(RegistrationPlan {
            judges,
            registrars,
            miners: miners.into(),
            miner_keys: miner_keys.into(),
            legacy_bytes,
            expected,
            truth,
            shared_validation: spec.shared_cache.then(SharedValidation::new),
            signatures: None,
            skip_unchanged: spec.skip_unchanged,
            identities: MinerIdentities(identities),
        })
    }

    /// The run's signature cache as the hosts' verifier, if any.
    pub fn verifier(&self) -> Option<Rc<dyn SignatureVerifier>> {
        self.signatures
            .clone()
            .map(|cache| cache as Rc<dyn SignatureVerifier>)
    }

    /// Whether an accepted `(wallet, key)` for `agent` is the real one.
    pub fn is_true(&self, agent: &str, wallet: &str, key: Option<&PublicKey>) -> bool {
        match self.truth.get(agent) {
            Some(t) => t.wallet == wallet && (key.is_none() || t.key.as_ref() == key),
            None => false,
        }
    }
}
