//! The network of a real process: one UDP socket, an address per host, and
//! the signed transport frame ([`node_logic::frame`]) around every
//! datagram. UDP because the protocols are datagram protocols in the
//! simulator too: each `Output::Send` is one datagram that may be lost,
//! with no ordering or retransmission the node logic does not do itself.
//! TCP would add connection setup, head-of-line blocking and reconnection
//! logic the simulator does not model. Anything a socket receives that is
//! not a valid frame for this host (random bytes, truncated, oversize,
//! another version, a forged or foreign signature) is dropped and counted.

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use node_logic::HostId;
use node_logic::frame::{self, MAX_FRAME};
use node_logic::identity::{Identity, PublicKey};

use super::host_log::NodeCounters;

/// Where each host of the scenario listens.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    /// Host names, by id.
    names: Vec<String>,
    /// Resolved addresses, by id.
    addrs: Vec<Option<SocketAddr>>,
    /// The port a name is resolved with when no address was given.
    port: u16,
    /// When a failed lookup may be tried again, by id.
    retry_at: Vec<Option<Instant>>,
}

/// How long a name that did not resolve is not looked up again.
const RESOLVE_RETRY: Duration = Duration::from_secs(1);

impl AddressBook {
    /// A book for hosts `names` (by id); names without an explicit address
    /// resolve through DNS (as Shadow resolves host names) on `port`, and a
    /// name that does not resolve is tried again at most once a second.
    pub fn new(names: Vec<String>, explicit: &BTreeMap<String, SocketAddr>, port: u16) -> Self {
        let addrs = names.iter().map(|n| explicit.get(n).copied()).collect();
        let retry_at = vec![None; names.len()];
        AddressBook {
            names,
            addrs,
            port,
            retry_at,
        }
    }

    /// The address of `host`, resolving its name on first use.
    pub fn address(&mut self, host: HostId) -> Option<SocketAddr> {
        let i = host.index();
        if let Some(addr) = *self.addrs.get(i)? {
            return Some(addr);
        }
        if self.retry_at[i].is_some_and(|at| Instant::now() < at) {
            return None;
        }
        let found = (self.names[i].as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.find(SocketAddr::is_ipv4));
        self.addrs[i] = found;
        if found.is_none() {
            self.retry_at[i] = Some(Instant::now() + RESOLVE_RETRY);
        }
        found
    }
}

/// One host's socket and what went through it.
pub struct Transport {
    socket: UdpSocket,
    me: HostId,
    identity: Identity,
    keys: Vec<PublicKey>,
    book: AddressBook,
    buffer: Vec<u8>,
    /// Traffic so far.
    pub counters: NodeCounters,
}

/// What one receive produced.
pub enum Received {
    /// A valid datagram from a host.
    Message {
        /// The sender, authenticated by the frame signature.
        from: HostId,
        /// The payload for the node.
        payload: Vec<u8>,
    },
    /// A datagram was dropped (and counted).
    Dropped,
    /// Nothing arrived before the timeout.
    Nothing,
}

impl Transport {
    /// Binds `listen` for host `me`; `keys` are every host's public key by id.
    pub fn bind(
        listen: SocketAddr,
        me: HostId,
        identity: Identity,
        keys: Vec<PublicKey>,
        book: AddressBook,
    ) -> io::Result<Self> {
        let socket = UdpSocket::bind(listen)?;
        Ok(Transport {
            socket,
            me,
            identity,
            keys,
            book,
            buffer: vec![0; MAX_FRAME + 1],
            counters: NodeCounters::default(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends `payload` to host `to` (best effort, like the simulator).
    pub fn send(&mut self, to: HostId, payload: &[u8]) {
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        *self.counters.sent_to.entry(to.0).or_default() += 1;
        let sent = frame::seal(&self.identity, self.me, to, payload)
            .ok()
            .zip(self.book.address(to))
            .is_some_and(|(datagram, addr)| self.socket.send_to(&datagram, addr).is_ok());
        if !sent {
            self.counters.send_errors += 1;
        }
    }

    /// Waits up to `timeout` (at least 1 ms) for one datagram.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<Received> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let len = match self.socket.recv_from(&mut self.buffer) {
            Ok((len, _from)) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(Received::Nothing);
            }
            Err(e) => return Err(e),
        };
        Ok(self.accept(len))
    }

    /// Checks the first `len` bytes of the buffer as a frame for this host.
    fn accept(&mut self, len: usize) -> Received {
        let keys = &self.keys;
        match frame::open(&self.buffer[..len], self.me, |h| {
            keys.get(h.index()).copied()
        }) {
            Ok((from, payload)) => {
                self.counters.messages_received += 1;
                self.counters.bytes_received += payload.len() as u64;
                *self.counters.received_from.entry(from.0).or_default() += 1;
                Received::Message {
                    from,
                    payload: payload.to_vec(),
                }
            }
            Err(e) => {
                *self
                    .counters
                    .rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
                Received::Dropped
            }
        }
    }
}
