//! What a host's registration role is told by its driver (built from the
//! scenario's `[registration]` table and host groups).

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use crate::HostId;
use crate::identity::PublicKey;
use crate::io::WriteMode;
use crate::protocols::consensus::SignatureVerifier;
use crate::protocols::registration::shared::SharedValidation;
use crate::time::SimDuration;

/// The registration part a host plays.
#[derive(Clone, Debug)]
pub enum RegistrationRole {
    /// Writes its own registration file.
    Miner(MinerConfig),
    /// Waits for the miners' files.
    Registrar(RegistrarConfig),
}

/// A miner's settings.
#[derive(Clone, Debug)]
pub struct MinerConfig {
    /// Its agent id (the host name); the file is `<agent_id>_miner_info.json`.
    pub agent_id: String,
    /// Atomic (temp + rename) or in place (torn writes possible).
    pub write_mode: WriteMode,
    /// Hosts allowed to ask it to register again.
    pub registrars: Vec<HostId>,
    /// First delay before a requested re-registration is written again
    /// after a recent write (its own backoff).
    pub retry_initial: SimDuration,
    /// Cap of that backoff.
    pub retry_max: SimDuration,
    /// Its host's validator set comes from the registry
    /// (`validators = "registered"`): after a restart it asks the
    /// registrars to announce the registry again
    /// ([`RegistrationMessage::RegistryRequest`](crate::protocols::registration::message::RegistrationMessage::RegistryRequest)),
    /// every [`REGISTRY_ASK_INTERVAL`] until one does.
    pub ask_registry: bool,
    /// The registrars' signature verifier, told of every registration file
    /// this miner signs ([`SignatureVerifier::signed`]), so a caching one
    /// knows it valid without verifying; `None`: tell nobody.
    pub verifier: Option<Rc<dyn SignatureVerifier>>,
}

/// How often a restarted miner that needs the registry asks for it again.
pub const REGISTRY_ASK_INTERVAL: SimDuration = SimDuration::from_secs(5);

/// How a registrar waits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    /// Look every `interval`.
    Poll {
        /// The fixed interval.
        interval: SimDuration,
    },
    /// Look after `initial`, then multiply by `multiplier` up to `max`,
    /// adding a jitter drawn uniformly from `0..=jitter` to each interval.
    Backoff {
        /// First interval.
        initial: SimDuration,
        /// Growth factor (>= 1).
        multiplier: f64,
        /// Cap.
        max: SimDuration,
        /// Extra random delay per interval.
        jitter: SimDuration,
    },
    /// React to change notifications; look anyway every `safety_poll`.
    Watch {
        /// The slow safety poll.
        safety_poll: SimDuration,
    },
}

/// A registrar's settings.
#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// How it waits.
    pub strategy: Strategy,
    /// Stop waiting after this long and carry on with the miners it has.
    pub timeout: SimDuration,
    /// How many miners it waits for.
    pub expected: u32,
    /// The miner hosts it knows, by agent id (to ask for re-registration);
    /// shared, since every registrar of a run knows the same miners.
    pub miners: Rc<[(String, HostId)]>,
    /// The public keys of known miners (a genesis list). A file for one of
    /// these agents signed by any other key is refused as `BadSignature`,
    /// so nobody can register a wallet in another miner's name. Empty:
    /// files are only checked against the key they carry (self-certifying).
    /// Shared like `miners`.
    pub miner_keys: Rc<[(String, PublicKey)]>,
    /// Quarantine and repair damaged files (true) or log and skip them.
    pub recover: bool,
    /// How often it reports progress.
    pub progress_interval: SimDuration,
    /// A legacy `agent_registry.json` in the shared directory to merge.
    pub legacy_registry: Option<String>,
    /// How every host writes registration files (and how this registrar
    /// writes restored ones). With [`WriteMode::InPlace`] a read can catch
    /// a file while it is being written: see `settle`.
    pub write_mode: WriteMode,
    /// How long a state of the directory must persist before this
    /// registrar acts on it. With in-place writes, a damaged read counts
    /// as damage only once the same bytes are read again at least this
    /// long later (a write in progress is not damage until it persists);
    /// a quarantined file without a main file is another registrar's
    /// unfinished recovery once listings at least this far apart show it.
    pub settle: SimDuration,
    /// When ready, send every known miner the registry it accepted (used
    /// when the consensus validators come from the wallet registry).
    pub announce: bool,
    /// At most this many file operations in flight at once (1: one at a
    /// time, as the deployment's registrar did; 0 is taken as 1).
    pub parallel_reads: u32,
    /// A validation cache shared with other registrars: a file content
    /// another registrar already validated is not verified again. `None`:
    /// this registrar verifies every read itself.
    pub shared_validation: Option<SharedValidation>,
    /// Checks file signatures (a run-wide cache in the simulator, which
    /// answers the run's own signatures without curve arithmetic); `None`:
    /// verify every signature directly.
    pub verifier: Option<Rc<dyn SignatureVerifier>>,
    /// Stat a file it read and could not accept before reading it again,
    /// and skip the read while size and modification time are unchanged.
    pub skip_unchanged: bool,
    /// Sharded registrars: this one reads only its share of the miners'
    /// files and takes the others' from the registrars that own them.
    /// `None`: it reads every file.
    pub shard: Option<Box<ShardConfig>>,
}

/// A registrar's share of the work when registrars are sharded (by hash)
/// or hierarchical (by region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardConfig {
    /// Which miners' files it reads itself.
    pub owns: Ownership,
    /// The registrars whose `Validated` results it takes (no others).
    pub peers: Vec<HostId>,
    /// Where it sends each miner it accepted: every other registrar when
    /// sharded, only the top-level registrar for a regional one, nobody
    /// for the top.
    pub send_to: Vec<HostId>,
    /// From its start, how long it leaves other shards to their owners;
    /// after that it reads every file still missing itself (a crashed
    /// owner's shard is taken over). [`SimDuration::MAX`]: never.
    pub takeover_after: SimDuration,
}

/// Which miners' files a sharded or hierarchical registrar reads itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Sharded: the agents whose [`ShardConfig::owner_of`] is `index`.
    Hash {
        /// Its position among the registrars (0-based, in host order).
        index: u32,
        /// How many registrars share the miners.
        count: u32,
    },
    /// Hierarchical: the agents of its region, listed (shared by every
    /// registrar's configuration, not copied).
    Listed(Arc<BTreeSet<String>>),
}

impl Ownership {
    /// Whether the registrar owning this reads `agent`'s file itself.
    pub fn owns(&self, agent: &str) -> bool {
        match self {
            Ownership::Hash { index, count } => ShardConfig::owner_of(agent, *count) == *index,
            Ownership::Listed(agents) => agents.contains(agent),
        }
    }
}

impl ShardConfig {
    /// The shard (0..count) that owns `agent`: the first 8 bytes of the
    /// SHA-256 of its id, little-endian, modulo `count`. Every registrar
    /// computes the same owner without talking.
    pub fn owner_of(agent: &str, count: u32) -> u32 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(agent.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u32::try_from(u64::from_le_bytes(first) % u64::from(count.max(1))).unwrap_or(0)
    }
}
