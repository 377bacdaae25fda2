//! The protocols a host can run, and the one place that lists them.
//!
//! Each protocol is a module below this one that owns its state machine,
//! its messages, its timers ([`TimerId`] wraps them) and its observations
//! ([`Observation`] wraps them, with their trace encoding and CSV
//! description). This file is the registry: the protocol's datagram tag,
//! its timer and observation variants, its part of [`HostConfig`] and
//! [`HostNode`], and the arms that route inputs to it. Adding a protocol
//! adds one line or arm to each item here; an exhaustive `match` over
//! [`ProtocolTag`] or [`TimerId`] anywhere else makes the compiler point
//! at whatever else must learn of it. `crate::host_node` holds the
//! protocol-independent half of the host (the input loop and the in-host
//! bus); ARCHITECTURE.md has the checklist.

pub mod consensus;
pub mod gossip;
pub mod load;
pub mod peers;
pub mod registration;

use crate::HostId;
use crate::codec::{DecodeError, Reader};
use crate::identity::Identity;
use crate::io::RejectReason;
use crate::meter::Meter;
use crate::observe::{Described, Description, TraceWriter, Traced};
use crate::outbox::Outbox;
use std::rc::Rc;

use consensus::{ConsensusEvent, ConsensusNode, ConsensusSetup, ConsensusTimer};
use gossip::{Gossip, GossipConfig, GossipEvent, GossipTimer};
use load::{LoadClient, LoadConfig, LoadEvent, LoadTimer};
use peers::{PeerConfig, PeerRegistry, PeerRegistryEvent, PeerTimer};
use registration::{RegistrationEvent, RegistrationNode, RegistrationRole, RegistrationTimer};

/// Which protocol a datagram belongs to: the second byte of its header
/// (see [`crate::wire`]). The numbers are part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolTag {
    /// The peer registry (hello, ping, pong, peer exchange).
    Peers = 1,
    /// Wallet registration (re-registration requests, registry announcements).
    Registration = 2,
    /// BFT consensus (proposals, votes, view changes, catch-up).
    Consensus = 3,
    /// Rumor spreading (pushed rumors).
    Gossip = 4,
}

impl ProtocolTag {
    /// Every tag, in wire order.
    pub const ALL: [ProtocolTag; 4] = [
        ProtocolTag::Peers,
        ProtocolTag::Registration,
        ProtocolTag::Consensus,
        ProtocolTag::Gossip,
    ];

    /// The tag a header byte names.
    pub fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .into_iter()
            .find(|tag| *tag as u8 == byte)
            .ok_or(DecodeError::UnknownKind(byte))
    }
}

/// The timers a host can have: each protocol's own, plus numbered workload
/// timers for tests and benchmarks of drivers. A host has at most one
/// pending timer per id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerId {
    /// A peer-registry timer.
    Peers(PeerTimer),
    /// A wallet-registration timer.
    Registration(RegistrationTimer),
    /// A consensus timer.
    Consensus(ConsensusTimer),
    /// A gossip timer.
    Gossip(GossipTimer),
    /// A client-load timer.
    Load(LoadTimer),
    /// A workload timer with an index, for tests and benchmarks of drivers.
    Workload(u32),
}

impl TimerId {
    /// A stable number for the trace hash and CSV output, unique across
    /// protocols (the numbers 1 to 7 predate the per-protocol timers).
    pub fn code(self) -> u64 {
        match self {
            TimerId::Peers(PeerTimer::Heartbeat) => 1,
            TimerId::Registration(t) => match t {
                RegistrationTimer::Check => 2,
                RegistrationTimer::Timeout => 3,
                RegistrationTimer::Progress => 4,
                RegistrationTimer::MinerRewrite => 5,
                RegistrationTimer::MinerAskRegistry => 12,
            },
            TimerId::Consensus(t) => match t {
                ConsensusTimer::Propose => 6,
                ConsensusTimer::View => 7,
                ConsensusTimer::Resend => 10,
            },
            TimerId::Gossip(t) => match t {
                GossipTimer::Round => 8,
                GossipTimer::Originate => 9,
            },
            TimerId::Load(LoadTimer::Submit) => 11,
            TimerId::Workload(i) => (1 << 32) | u64::from(i),
        }
    }
    /// A stable name for CSV output.
    pub fn name(self) -> &'static str {
        match self {
            TimerId::Peers(PeerTimer::Heartbeat) => "peer-heartbeat",
            TimerId::Registration(t) => match t {
                RegistrationTimer::Check => "registration-check",
                RegistrationTimer::Timeout => "registration-timeout",
                RegistrationTimer::Progress => "registration-progress",
                RegistrationTimer::MinerRewrite => "miner-rewrite",
                RegistrationTimer::MinerAskRegistry => "miner-ask-registry",
            },
            TimerId::Consensus(t) => match t {
                ConsensusTimer::Propose => "consensus-propose",
                ConsensusTimer::View => "consensus-view-timer",
                ConsensusTimer::Resend => "consensus-resend",
            },
            TimerId::Gossip(t) => match t {
                GossipTimer::Round => "gossip-round",
                GossipTimer::Originate => "gossip-originate",
            },
            TimerId::Load(LoadTimer::Submit) => "load-submit",
            TimerId::Workload(_) => "workload",
        }
    }
}

/// What a protocol observed, for the reports. Observations never change
/// the run; metrics are computed from them.
///
/// With serde they are externally tagged, snake_case JSON, e.g.
/// `{"registration":{"accepted":{"agent":"miner-0",...}}}`: the form the
/// real-process runtime (`sim node`) logs one per line and `sim collect`
/// reads back into the same values. Host ids are plain numbers, times
/// integer nanoseconds, keys and hashes 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observation {
    /// Something the peer registry did or saw.
    Peers(PeerRegistryEvent),
    /// Something the wallet-registration protocol did or saw.
    Registration(RegistrationEvent),
    /// Something the consensus protocol did or saw.
    Consensus(ConsensusEvent),
    /// Something rumor spreading did.
    Gossip(GossipEvent),
    /// Something a load client did.
    Load(LoadEvent),
    /// A datagram was dropped because it was malformed, forged or
    /// misdirected, or its protocol does not run on this host.
    MessageRejected {
        /// The transport-level sender.
        from: HostId,
        /// Why.
        reason: RejectReason,
    },
}

impl Traced for Observation {
    // The peer registry's events carry their own leading codes (1, 2, 5,
    // 6, 7); the other wrappers write theirs first. These are the codes
    // observations had before each protocol owned its type.
    fn trace(&self, out: &mut impl TraceWriter) {
        match self {
            Observation::Peers(event) => event.trace(out),
            Observation::MessageRejected { from, reason } => {
                out.word(3);
                out.word(u64::from(from.0));
                out.word(*reason as u64);
            }
            Observation::Registration(event) => {
                out.word(4);
                event.trace(out);
            }
            Observation::Consensus(event) => {
                out.word(8);
                event.trace(out);
            }
            Observation::Gossip(event) => {
                out.word(9);
                event.trace(out);
            }
            Observation::Load(event) => {
                out.word(10);
                event.trace(out);
            }
        }
    }
}

impl Described for Observation {
    fn describe(&self) -> Description {
        match self {
            Observation::Peers(event) => event.describe(),
            Observation::Registration(event) => event.describe(),
            Observation::Consensus(event) => event.describe(),
            Observation::Gossip(event) => event.describe(),
            Observation::Load(event) => event.describe(),
            Observation::MessageRejected { from, reason } => Description::new("message-rejected")
                .host(*from)
                .detail(reason.as_str()),
        }
    }
}

/// Something one protocol of a host tells the others (never the network):
/// the in-host bus `crate::host_node` delivers to every protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Local {
    /// A registrar announced the wallet registry to this host's miner: the
    /// agents it accepted (registry-driven consensus starts on it).
    RegistryAnnounced {
        /// The accepted agents, sorted.
        agents: Vec<String>,
    },
}

/// What a host runs; built by the driver from the scenario (see
/// [`HostConfig::new`] and its `with_*` builders).
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// This host.
    pub id: HostId,
    /// Its signing identity (the same across restarts).
    pub identity: Identity,
    /// Peer-registry membership, if the host is a member.
    pub peers: Option<PeerConfig>,
    /// Its part in wallet registration, if any.
    pub registration: Option<RegistrationRole>,
    /// Its part in consensus, if any.
    pub consensus: Option<ConsensusSetup>,
    /// Its part in rumor spreading, if any.
    pub gossip: Option<GossipConfig>,
    /// The transactions it submits, if it is a load client.
    pub load: Option<LoadConfig>,
    /// Count the work of each input ([`crate::io::Node::take_work`]) for a
    /// driver that models CPU time, with a signature cache of this many
    /// entries; `None`: count nothing (the default).
    pub meter: Option<usize>,
}

impl HostConfig {
    /// A host that runs no protocol yet.
    pub fn new(id: HostId, identity: Identity) -> Self {
        HostConfig {
            id,
            identity,
            peers: None,
            registration: None,
            consensus: None,
            gossip: None,
            load: None,
            meter: None,
        }
    }
    /// The same host, also a peer-registry member.
    pub fn with_peers(mut self, config: PeerConfig) -> Self {
        self.peers = Some(config);
        self
    }
    /// The same host, also taking part in wallet registration.
    pub fn with_registration(mut self, role: RegistrationRole) -> Self {
        self.registration = Some(role);
        self
    }
    /// The same host, also taking part in consensus.
    pub fn with_consensus(mut self, setup: impl Into<ConsensusSetup>) -> Self {
        self.consensus = Some(setup.into());
        self
    }
    /// The same host, also spreading rumors.
    pub fn with_gossip(mut self, config: GossipConfig) -> Self {
        self.gossip = Some(config);
        self
    }
    /// The same host, also submitting transactions.
    pub fn with_load(mut self, config: LoadConfig) -> Self {
        self.load = Some(config);
        self
    }
    /// The same host, counting the work of its inputs, with a signature
    /// cache of `signature_cache` entries (see [`crate::meter`]).
    pub fn with_meter(mut self, signature_cache: usize) -> Self {
        self.meter = Some(signature_cache);
        self
    }
}

/// One host's protocols behind one [`crate::Node`]. Built anew on every
/// (re)start: a crash loses it all.
#[derive(Debug)]
pub struct HostNode {
    pub(crate) id: HostId,
    // The protocols most hosts of a big run do not take part in are boxed:
    // a host is a slot in one vector of every host (100,000 miners: 2.2 KiB
    // each inline, 0.5 KiB so).
    pub(crate) peers: Option<Box<PeerRegistry>>,
    pub(crate) registration: Option<RegistrationNode>,
    pub(crate) consensus: Option<ConsensusNode>,
    pub(crate) gossip: Option<Box<Gossip>>,
    pub(crate) load: Option<Box<LoadClient>>,
    pub(crate) out: Outbox,
    /// Counts the work of each input, when the driver models CPU time.
    pub(crate) meter: Option<Rc<Meter>>,
}

impl HostNode {
    /// A host running what `config` says.
    pub fn new(mut config: HostConfig) -> Self {
        let meter = config.meter.map(|_| Rc::new(Meter::default()));
        if let (Some(meter), Some(capacity)) = (&meter, config.meter) {
            config.identity = config.identity.with_meter(meter.clone());
            if let Some(setup) = config.consensus.as_mut() {
                setup.meter(meter.clone(), capacity);
            }
        }
        let identity = &config.identity;
        let mut registration = config
            .registration
            .map(|role| RegistrationNode::new(role, identity));
        let carry = config.gossip.as_ref().is_some_and(|g| g.carry_registry);
        if let Some(registrar) = registration.as_mut().and_then(|r| r.registrar_mut())
            && carry
        {
            registrar.announce_by_gossip();
        }
        let carry_consensus = config.gossip.as_ref().map(|g| g.carry_consensus);
        let mut consensus = config
            .consensus
            .map(|setup| ConsensusNode::new(setup, identity));
        if let (Some(consensus), Some(carry)) = (consensus.as_mut(), carry_consensus) {
            consensus.carry_by_gossip(carry);
        }
        HostNode {
            id: config.id,
            peers: config
                .peers
                .map(|c| Box::new(PeerRegistry::new(c, identity.clone()))),
            registration,
            consensus,
            gossip: config.gossip.map(|c| Box::new(Gossip::new(c))),
            load: config
                .load
                .map(|c| Box::new(LoadClient::new(c, identity.clone()))),
            out: Outbox::default(),
            meter,
        }
    }
    /// The peer registry, if this host is a member.
    pub fn peers(&self) -> Option<&PeerRegistry> {
        self.peers.as_deref()
    }
    /// The peer registry, mutably: how in-host modules register as
    /// observers and drain their events.
    pub fn peers_mut(&mut self) -> Option<&mut PeerRegistry> {
        self.peers.as_deref_mut()
    }
    /// The registrar, if this host is one.
    pub fn registrar(&self) -> Option<&registration::Registrar> {
        self.registration
            .as_ref()
            .and_then(RegistrationNode::registrar)
    }
    /// The miner, if this host is one.
    pub fn miner(&self) -> Option<&registration::Miner> {
        self.registration.as_ref().and_then(RegistrationNode::miner)
    }
    /// The consensus validator, once this host runs one.
    pub fn validator(&self) -> Option<&consensus::Validator> {
        self.consensus.as_ref().and_then(ConsensusNode::validator)
    }
    /// The gossip member, if this host is one.
    pub fn gossip(&self) -> Option<&Gossip> {
        self.gossip.as_deref()
    }
    /// The load client, if this host is one.
    pub fn load(&self) -> Option<&LoadClient> {
        self.load.as_deref()
    }

    /// Every protocol this host runs, for inputs they all see.
    /// (Destructured, so a protocol added to [`HostNode`] but not here
    /// does not compile.)
    pub(crate) fn protocols(&mut self) -> [Option<&mut dyn HostProtocol>; 5] {
        let HostNode {
            id: _,
            peers,
            registration,
            consensus,
            gossip,
            load,
            out: _,
            meter: _,
        } = self;
        [
            peers.as_deref_mut().map(|p| p as &mut dyn HostProtocol),
            registration.as_mut().map(|p| p as _),
            consensus.as_mut().map(|p| p as _),
            gossip.as_deref_mut().map(|p| p as _),
            load.as_deref_mut().map(|p| p as _),
        ]
    }
    /// The protocol a datagram tag names, if this host runs it.
    pub(crate) fn protocol(&mut self, tag: ProtocolTag) -> Option<&mut dyn HostProtocol> {
        match tag {
            ProtocolTag::Peers => self
                .peers
                .as_deref_mut()
                .map(|p| p as &mut dyn HostProtocol),
            ProtocolTag::Registration => self.registration.as_mut().map(|p| p as _),
            ProtocolTag::Consensus => self.consensus.as_mut().map(|p| p as _),
            ProtocolTag::Gossip => self.gossip.as_deref_mut().map(|p| p as _),
        }
    }
    /// Delivers the datagrams gossip carried to this host (learned from a
    /// rumor just received) to the protocols their tags name, as if sent by
    /// the rumor's origin. A datagram for a protocol this host does not run
    /// is only relayed, not refused; gossip never carries gossip.
    pub(crate) fn deliver_carried(&mut self, cx: &mut Cx<'_>) {
        let Some(gossip) = self.gossip.as_mut() else {
            return;
        };
        for (origin, datagram) in gossip.take_carried() {
            let Ok((tag, body)) = crate::wire::open(datagram.as_slice()) else {
                cx.out.record(Observation::MessageRejected {
                    from: origin,
                    reason: RejectReason::Malformed,
                });
                continue;
            };
            if tag == ProtocolTag::Gossip {
                continue;
            }
            if let Some(p) = self.protocol(tag) {
                p.carried(cx, origin, body);
            }
        }
    }

    /// Hands the registry announcement this host's registrar made while
    /// handling the input (it does so only when gossip carries them, see
    /// [`registration::Registrar::announce_by_gossip`]) to gossip, which
    /// spreads it as a carried rumor from this host.
    pub(crate) fn spread_announcement(&mut self, cx: &mut Cx<'_>) {
        let (Some(registration), Some(gossip)) = (self.registration.as_mut(), self.gossip.as_mut())
        else {
            return;
        };
        let announcement = registration
            .registrar_mut()
            .and_then(registration::Registrar::take_for_gossip);
        if let Some(datagram) = announcement {
            gossip.originate_carried(cx, gossip::registry_key(cx.now), datagram);
        }
    }

    /// Hands the broadcasts this host's validator parked while handling the
    /// input (it does so only for the kinds `carry_consensus` names, see
    /// [`consensus::Validator::carry_by_gossip`]) to gossip, which spreads
    /// each as a carried rumor from this host.
    pub(crate) fn spread_consensus(&mut self, cx: &mut Cx<'_>) {
        let (Some(consensus), Some(gossip)) = (self.consensus.as_mut(), self.gossip.as_mut())
        else {
            return;
        };
        for (block, datagram) in consensus.take_for_gossip() {
            gossip.originate_consensus(cx, block, crate::Payload::from(datagram));
        }
    }

    /// Routes a timer to the protocol that owns it; a timer no running
    /// protocol owns is a no-op (spurious timers are, by contract).
    pub(crate) fn route_timer(&mut self, cx: &mut Cx<'_>, timer: TimerId) {
        match timer {
            TimerId::Peers(t) => {
                if let Some(p) = self.peers.as_mut() {
                    p.timer(cx, t);
                }
            }
            TimerId::Registration(t) => {
                if let Some(p) = self.registration.as_mut() {
                    p.timer(cx, t);
                }
            }
            TimerId::Consensus(t) => {
                if let Some(p) = self.consensus.as_mut() {
                    p.timer(cx, t);
                }
            }
            TimerId::Gossip(t) => {
                if let Some(p) = self.gossip.as_mut() {
                    // Gossip over the overlay draws from the up peers now.
                    let view: Option<Vec<HostId>> = match (p.over_peers(), &self.peers) {
                        (true, Some(registry)) => Some(registry.up_peers().collect()),
                        (true, None) | (false, _) => None,
                    };
                    p.timer(cx, t, view.as_deref());
                }
            }
            TimerId::Load(t) => {
                if let Some(p) = self.load.as_mut() {
                    p.timer(cx, t);
                    let submitted = p.take_for_gossip();
                    if let Some(g) = self.gossip.as_mut() {
                        for (nonce, datagram) in submitted {
                            g.originate_carried(cx, nonce, datagram);
                        }
                    }
                }
            }
            TimerId::Workload(_) => {}
        }
    }
}

/// What a protocol gets with each input: the time on the host's clock, the
/// host's RNG stream, and the outbox its outputs go to.
pub struct Cx<'a> {
    /// The host's current time.
    pub now: crate::time::SimTime,
    /// The host's RNG stream.
    pub rng: &'a mut dyn rand_core::Rng,
    /// Where outputs (and in-host [`Local`] events) go.
    pub out: &'a mut Outbox,
}

/// A protocol as the host drives it. Timers are routed with their typed
/// id by [`HostNode`] (each protocol has a `timer` method of its own);
/// everything else comes through here.
pub(crate) trait HostProtocol {
    /// The host boots (`restarted` after a crash).
    fn start(&mut self, cx: &mut Cx<'_>, restarted: bool);
    /// A datagram with this protocol's tag arrived; `body` follows the header.
    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, body: Reader<'_>);
    /// A datagram of this protocol that gossip carried, as if `origin`
    /// (the rumor's origin) had sent it; by default taken as a message.
    fn carried(&mut self, cx: &mut Cx<'_>, origin: HostId, body: Reader<'_>) {
        self.message(cx, origin, body);
    }
    /// A file operation completed (only protocols that use files act).
    fn file(&mut self, _cx: &mut Cx<'_>, _result: &crate::io::FileResult) {}
    /// A watched path changed (only protocols that watch act).
    fn file_changed(&mut self, _cx: &mut Cx<'_>, _path: &str) {}
    /// Fault injection: Byzantine behaviour on or off (only protocols that
    /// model misbehaviour act).
    fn misbehave(&mut self, _cx: &mut Cx<'_>, _on: bool) {}
    /// Another protocol of this host said something.
    fn local(&mut self, _cx: &mut Cx<'_>, _event: &Local) {}
    /// A hint: a datagram of this protocol from `from` is due soon (see
    /// [`crate::io::Node::expect_message`]); changes nothing.
    fn expect_message(&self, _from: HostId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PublicKey;
    use crate::protocols::consensus::Hash32;
    use crate::protocols::registration::WalletSource;
    use crate::time::SimTime;

    /// One observation of every kind of every protocol.
    fn samples() -> Vec<Observation> {
        let mut out: Vec<Observation> = peers::observe::samples::all()
            .into_iter()
            .map(Observation::Peers)
            .collect();
        for reason in [
            RejectReason::Malformed,
            RejectReason::BadSignature,
            RejectReason::WrongKey,
            RejectReason::Misdirected,
            RejectReason::NotAMember,
        ] {
            out.push(Observation::MessageRejected {
                from: HostId(6),
                reason,
            });
        }
        let registration = registration::observe::samples::all();
        out.extend(registration.into_iter().map(Observation::Registration));
        let consensus = consensus::observe::samples::all();
        out.extend(consensus.into_iter().map(Observation::Consensus));
        out.extend(gossip::samples::all().into_iter().map(Observation::Gossip));
        out.extend(load::samples::all().into_iter().map(Observation::Load));
        out
    }

    /// The wrapper's name; an exhaustive match, so a new protocol does not
    /// compile until [`samples`] covers it.
    fn wrapper(o: &Observation) -> &'static str {
        match o {
            Observation::Peers(_) => "peers",
            Observation::Registration(_) => "registration",
            Observation::Consensus(_) => "consensus",
            Observation::Gossip(_) => "gossip",
            Observation::Load(_) => "load",
            Observation::MessageRejected { .. } => "message_rejected",
        }
    }

    #[test]
    fn every_observation_round_trips_through_json_on_one_line() {
        let samples = samples();
        let wrappers: std::collections::BTreeSet<&str> = samples.iter().map(wrapper).collect();
        assert_eq!(wrappers.len(), 6);
        for o in &samples {
            let text = serde_json::to_string(o).unwrap();
            assert!(!text.contains('\n'), "one observation per line: {text}");
            let back: Observation = serde_json::from_str(&text).unwrap();
            assert_eq!(&back, o, "{text}");
        }
    }

    #[test]
    fn every_observation_has_a_distinct_trace_encoding_and_a_kind() {
        #[derive(Default)]
        struct Words(Vec<u64>);
        impl TraceWriter for Words {
            fn word(&mut self, w: u64) {
                self.0.push(w);
            }
            fn bytes(&mut self, b: &[u8]) {
                self.0.push(b.len() as u64);
                self.0.extend(b.iter().map(|&x| u64::from(x)));
            }
        }
        let samples = samples();
        let mut seen = std::collections::BTreeSet::new();
        for o in &samples {
            let mut words = Words::default();
            o.trace(&mut words);
            assert!(seen.insert(words.0), "two observations encode alike: {o:?}");
            let kind = o.describe().kind;
            assert!(!kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
    }

    #[test]
    fn json_is_externally_tagged_snake_case() {
        let key = PublicKey([0x0f; 32]);
        let accepted = Observation::Registration(RegistrationEvent::Accepted {
            agent: "miner-1".into(),
            wallet: "0xab".into(),
            public_key: Some(key),
            source: WalletSource::Backup,
        });
        assert_eq!(
            serde_json::to_string(&accepted).unwrap(),
            format!(
                r#"{{"registration":{{"accepted":{{"agent":"miner-1","wallet":"0xab","public_key":"{}","source":"backup"}}}}}}"#,
                "0f".repeat(32)
            )
        );
        let finalized = Observation::Consensus(ConsensusEvent::Finalized {
            height: 2,
            hash: Hash32([0xa0; 32]),
            view: 1,
            proposer: HostId(3),
            proposed_at: SimTime::from_nanos(1_500),
            via_sync: false,
        });
        assert_eq!(
            serde_json::to_string(&finalized).unwrap(),
            format!(
                r#"{{"consensus":{{"finalized":{{"height":2,"hash":"{}","view":1,"proposer":3,"proposed_at":1500,"via_sync":false}}}}}}"#,
                "a0".repeat(32)
            )
        );
        let up = Observation::Peers(PeerRegistryEvent::Up { peer: HostId(4) });
        assert_eq!(
            serde_json::to_string(&up).unwrap(),
            r#"{"peers":{"up":{"peer":4}}}"#
        );
        let rejected = Observation::MessageRejected {
            from: HostId(4),
            reason: RejectReason::NotAMember,
        };
        assert_eq!(
            serde_json::to_string(&rejected).unwrap(),
            r#"{"message_rejected":{"from":4,"reason":"not_a_member"}}"#
        );
    }

    #[test]
    fn unknown_variants_and_fields_of_the_wrong_type_are_errors() {
        for text in [
            r#"{"peers":{"sideways":{"peer":1}}}"#,
            r#"{"peers":{"up":{"peer":-1}}}"#,
            r#"{"peers":{"up":{"peer":"1"}}}"#,
            r#"{"peers":{"up":{}}}"#,
            r#"{"message_rejected":{"from":1,"reason":"rude"}}"#,
            r#"{"consensus":{"caught_up":{"to_height":1.5}}}"#,
            "",
            "[",
        ] {
            assert!(serde_json::from_str::<Observation>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn tags_round_trip_through_their_byte() {
        // An exhaustive match: a new tag does not compile until it is here,
        // and then must be in ALL.
        let position = |tag: ProtocolTag| match tag {
            ProtocolTag::Peers => 0,
            ProtocolTag::Registration => 1,
            ProtocolTag::Consensus => 2,
            ProtocolTag::Gossip => 3,
        };
        for (i, tag) in ProtocolTag::ALL.into_iter().enumerate() {
            assert_eq!(position(tag), i);
            assert_eq!(ProtocolTag::from_byte(tag as u8), Ok(tag));
        }
        assert_eq!(ProtocolTag::from_byte(0), Err(DecodeError::UnknownKind(0)));
    }

    #[test]
    fn timer_codes_and_names_are_unique() {
        let timers = [
            TimerId::Peers(PeerTimer::Heartbeat),
            TimerId::Registration(RegistrationTimer::Check),
            TimerId::Registration(RegistrationTimer::Timeout),
            TimerId::Registration(RegistrationTimer::Progress),
            TimerId::Registration(RegistrationTimer::MinerRewrite),
            TimerId::Registration(RegistrationTimer::MinerAskRegistry),
            TimerId::Consensus(ConsensusTimer::Propose),
            TimerId::Consensus(ConsensusTimer::View),
            TimerId::Consensus(ConsensusTimer::Resend),
            TimerId::Gossip(GossipTimer::Round),
            TimerId::Gossip(GossipTimer::Originate),
            TimerId::Load(LoadTimer::Submit),
            TimerId::Workload(0),
        ];
        let codes: std::collections::BTreeSet<u64> = timers.iter().map(|t| t.code()).collect();
        let names: std::collections::BTreeSet<&str> = timers.iter().map(|t| t.name()).collect();
        assert_eq!(codes.len(), timers.len());
        assert_eq!(names.len(), timers.len());
    }
}

#[cfg(test)]
mod layout {
    use super::*;

    /// Every host is a slot of one vector: a protocol most hosts do not run
    /// stays out of line (at 100,000 miners, 2.2 KiB a host inline).
    #[test]
    fn a_host_that_runs_little_is_small() {
        let size = std::mem::size_of::<HostNode>();
        eprintln!("HostNode: {size} bytes");
        assert!(size <= 640, "HostNode is {size} bytes");
    }
}
