//! The network of a real process: one UDP socket, an address per host, and
//! the signed transport frame ([`node_logic::frame`]) around every
//! datagram. UDP because the protocols are datagram protocols in the
//! simulator too: each `Output::Send` is one datagram that may be lost,
//! with no ordering or retransmission the node logic does not do itself.
//! TCP would add connection setup, head-of-line blocking and reconnection
//! logic the simulator does not model. Anything a socket receives that is
//! not a valid frame for this host (random bytes, truncated, oversize,
//! another version, a forged or foreign signature) is dropped and counted.
//! So is a replay: every frame carries this process's epoch (its start on
//! the wall clock, so a restarted process has a newer one) and a sequence
//! number per recipient, and the receiver keeps a
//! [`ReplayWindow`](node_logic::frame::ReplayWindow) per sender.
//!
//! A message larger than one frame (up to
//! [`MAX_MESSAGE`](node_logic::codec::MAX_MESSAGE)) is sent as fragments,
//! each its own signed frame with its own sequence number
//! ([`node_logic::fragment`]), and put back together by a bounded
//! [`Reassembler`]; refused fragments and evicted incomplete messages are
//! counted (`fragment-*` reasons).

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_logic::HostId;
use node_logic::fragment::{self, Fragment, MAX_UDP_PAYLOAD, Reassembler};
use node_logic::frame::{self, FRAME_OVERHEAD, FrameKind, MAX_FRAME, Opened, ReplayWindow, Stamp};
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
    /// This process's epoch (see the module docs).
    epoch: u64,
    /// The next sequence number per recipient, by host id.
    next_seq: Vec<u64>,
    /// What was accepted from each sender, by host id.
    windows: Vec<ReplayWindow>,
    /// The next fragmented message's id.
    next_message: u64,
    /// Incomplete fragmented messages.
    reassembler: Reassembler,
    /// Evictions already counted in `counters`.
    evictions_counted: u64,
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
    /// A fragment of a message not yet complete (held).
    Fragment,
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
        // Non-blocking, waited on with ppoll(2): a receive timeout
        // (SO_RCVTIMEO) is rounded to the kernel's tick (4 ms here), which a
        // time scale of 0.1 turns into 40 ms late timers.
        socket.set_nonblocking(true)?;
        widen_receive_buffer(&socket);
        let hosts = keys.len();
        Ok(Transport {
            socket,
            me,
            identity,
            keys,
            book,
            buffer: vec![0; MAX_FRAME + 1],
            epoch: process_epoch(),
            next_seq: vec![0; hosts],
            windows: vec![ReplayWindow::default(); hosts],
            next_message: 0,
            reassembler: Reassembler::default(),
            evictions_counted: 0,
            counters: NodeCounters::default(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Counts a datagram of `len` payload bytes the node sends to `to`
    /// (when the node sends it, whatever its path does with it after).
    pub fn count_sent(&mut self, to: HostId, len: usize) {
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += len as u64;
        *self.counters.sent_to.entry(to.0).or_default() += 1;
    }

    /// Counts a datagram from `from` of `len` payload bytes delivered to
    /// the node.
    pub fn count_delivered(&mut self, from: HostId, len: usize) {
        self.counters.messages_received += 1;
        self.counters.bytes_received += len as u64;
        *self.counters.received_from.entry(from.0).or_default() += 1;
    }

    /// Seals `payload` for host `to` and sends it (best effort, like the
    /// simulator): one frame, or fragments if it does not fit one. Each
    /// call makes new frames with the next sequence numbers, so copies a
    /// duplication fault makes are not replays.
    pub fn transmit(&mut self, to: HostId, payload: &[u8]) {
        let sent = if payload.len() + FRAME_OVERHEAD <= MAX_UDP_PAYLOAD {
            self.send_frame(FrameKind::Whole, to, payload)
        } else {
            let id = self.next_message;
            self.next_message += 1;
            fragment::split(id, payload).is_some_and(|pieces| {
                // Every fragment is sent; the message is sent if all were.
                pieces
                    .iter()
                    .filter(|piece| !self.send_frame(FrameKind::Fragment, to, piece))
                    .count()
                    == 0
            })
        };
        if !sent {
            self.counters.send_errors += 1;
        }
    }

    /// Seals one frame of `kind` for `to` with the next sequence number and
    /// sends it: whether it left.
    fn send_frame(&mut self, kind: FrameKind, to: HostId, payload: &[u8]) -> bool {
        let Some(next) = self.next_seq.get_mut(to.index()) else {
            return false;
        };
        let stamp = Stamp {
            epoch: self.epoch,
            seq: *next,
        };
        *next += 1;
        frame::seal_as(kind, &self.identity, (self.me, to), stamp, payload)
            .ok()
            .zip(self.book.address(to))
            .is_some_and(|(datagram, addr)| self.socket.send_to(&datagram, addr).is_ok())
    }

    /// Waits up to `timeout` for one datagram.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<Received> {
        if let Some(received) = self.try_receive()? {
            return Ok(received);
        }
        if !timeout.is_zero() {
            wait_readable(&self.socket, timeout)?;
        }
        Ok(self.try_receive()?.unwrap_or(Received::Nothing))
    }

    /// After the end: reads for `within` (real time) what is still
    /// arriving and counts valid datagrams as in flight at the end (not
    /// given to the node, not counted as delivered).
    pub fn drain(&mut self, within: Duration) -> io::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(len) = self.try_read()? {
                if let Received::Message { from, .. } = self.accept(len) {
                    *self.counters.in_flight_from.entry(from.0).or_default() += 1;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            wait_readable(&self.socket, left)?;
        }
    }

    /// Reads and drops every datagram waiting (sent before this host
    /// started), uncounted: their senders count them as lost.
    pub fn discard_waiting(&mut self) -> io::Result<()> {
        while self.try_read()?.is_some() {}
        Ok(())
    }

    /// One datagram if one is waiting.
    fn try_receive(&mut self) -> io::Result<Option<Received>> {
        Ok(self.try_read()?.map(|len| self.accept(len)))
    }

    /// Reads one waiting datagram into the buffer: its length.
    fn try_read(&mut self) -> io::Result<Option<usize>> {
        match self.socket.recv_from(&mut self.buffer) {
            Ok((len, _from)) => Ok(Some(len)),
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
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The first `len` bytes of the buffer checked as a frame for this host
    /// and against its sender's replay window; a refusal is counted by
    /// reason.
    fn check(&mut self, len: usize) -> Result<Opened<'_>, frame::FrameError> {
        let keys = &self.keys;
        let checked = frame::open(&self.buffer[..len], self.me, |h| {
            keys.get(h.index()).copied()
        })
        .and_then(|opened| {
            // `open` knows a key for the sender, so it has a window.
            let window = self.windows.get_mut(opened.from.index());
            window.map_or(Ok(()), |w| w.check(opened.stamp))?;
            Ok(opened)
        });
        if let Err(e) = &checked {
            *self
                .counters
                .rejected
                .entry(e.reason().to_string())
                .or_default() += 1;
        }
        checked
    }

    /// Passes on the frame in the first `len` bytes of the buffer (counted
    /// as received when the node gets it: [`Transport::count_delivered`]),
    /// or the message its fragment completes.
    fn accept(&mut self, len: usize) -> Received {
        let Ok(opened) = self.check(len) else {
            return Received::Dropped;
        };
        let (from, epoch, kind) = (opened.from, opened.stamp.epoch, opened.kind);
        let payload = opened.payload.to_vec();
        let completed = match kind {
            FrameKind::Whole => Ok(Some(payload)),
            FrameKind::Fragment => {
                Fragment::decode(&payload).and_then(|f| self.reassembler.accept(from, epoch, &f))
            }
        };
        self.count_evictions();
        match completed {
            Ok(Some(payload)) => Received::Message { from, payload },
            Ok(None) => Received::Fragment,
            Err(e) => {
                *self.counters.rejected.entry(e.reason().into()).or_default() += 1;
                Received::Dropped
            }
        }
    }

    /// Counts incomplete messages the reassembler evicted since the last
    /// call (`fragment-evicted`: each a message lost).
    fn count_evictions(&mut self) {
        let evicted = self.reassembler.evicted();
        if evicted > self.evictions_counted {
            let new = evicted - self.evictions_counted;
            *self
                .counters
                .rejected
                .entry("fragment-evicted".into())
                .or_default() += new;
            self.evictions_counted = evicted;
        }
    }
}

/// This process's epoch: the wall clock at its start, in unix nanoseconds
/// (a restarted process starts later, so its frames are told from replays
/// of its predecessor's). A clock before 1970 gives 0.
fn process_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Asks for a receive buffer of [`RECEIVE_BUFFER`] bytes (the kernel caps
/// it at `net.core.rmem_max`; best effort, a refusal keeps the default): a
/// fragmented message arrives as a burst of 64 KiB datagrams, and the
/// default buffer (about 208 KiB) holds only three.
fn widen_receive_buffer(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(RECEIVE_BUFFER).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid socket descriptor we own, and a pointer to a c_int
    // with its exact length, as SO_RCVBUF takes.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The receive buffer a process asks for: room for a few of the largest
/// messages' fragments.
const RECEIVE_BUFFER: usize = 4 * node_logic::codec::MAX_MESSAGE;

/// Blocks until `socket` is readable or `timeout` passes (nanosecond
/// precision, unlike a socket timeout); a signal ends the wait early.
fn wait_readable(socket: &UdpSocket, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let spec = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fd` is one valid pollfd for a socket we own, `spec` a valid
    // timespec, and a null signal mask means "leave the mask unchanged".
    let ready = unsafe { libc::ppoll(&mut fd, 1, &spec, std::ptr::null()) };
    if ready < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Transport, Transport) {
        let ids: Vec<Identity> = (0..2u8)
            .map(|i| Identity::from_secret([i + 1; 32]))
            .collect();
        let keys: Vec<PublicKey> = ids.iter().map(Identity::public_key).collect();
        let local: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
        let names = vec!["a".to_string(), "b".to_string()];
        let empty = AddressBook::new(names.clone(), &BTreeMap::new(), 0);
        let bind = |i: u32| {
            let id = ids[i as usize].clone();
            Transport::bind(local, HostId(i), id, keys.clone(), empty.clone()).unwrap()
        };
        let (mut a, mut b) = (bind(0), bind(1));
        let explicit: BTreeMap<String, SocketAddr> = [
            ("a".to_string(), a.local_addr().unwrap()),
            ("b".to_string(), b.local_addr().unwrap()),
        ]
        .into();
        a.book = AddressBook::new(names.clone(), &explicit, 0);
        b.book = AddressBook::new(names, &explicit, 0);
        (a, b)
    }

    /// Receives until a message arrives (or two seconds pass).
    fn next_message(t: &mut Transport) -> Option<(HostId, Vec<u8>)> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Received::Message { from, payload } =
                t.receive(Duration::from_millis(50)).unwrap()
            {
                return Some((from, payload));
            }
        }
        None
    }

    #[test]
    fn messages_larger_than_a_datagram_arrive_whole_over_real_udp() {
        let (mut a, mut b) = pair();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        a.transmit(HostId(1), &big);
        a.transmit(HostId(1), b"small");
        let got = next_message(&mut b);
        let (sent, rejected) = (a.counters.send_errors, &b.counters.rejected);
        assert_eq!((sent, rejected.len()), (0, 0), "{rejected:?}");
        assert!(
            got == Some((HostId(0), big)),
            "the large message first, whole"
        );
        let got = next_message(&mut b);
        assert!(
            got == Some((HostId(0), b"small".to_vec())),
            "then the small one"
        );
        let too_big = vec![0; node_logic::codec::MAX_MESSAGE + 1];
        a.transmit(HostId(1), &too_big);
        assert_eq!(a.counters.send_errors, 1);
    }

    #[test]
    fn a_forged_or_malformed_fragment_is_counted_not_delivered() {
        let (a, mut b) = pair();
        let stamp = Stamp { epoch: 1, seq: 0 };
        let id = a.identity.clone();
        let bad = frame::seal_as(
            FrameKind::Fragment,
            &id,
            (HostId(0), HostId(1)),
            stamp,
            b"x",
        )
        .unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(&bad, b.local_addr().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while b.counters.rejected.is_empty() && Instant::now() < deadline {
            let got = b.receive(Duration::from_millis(50)).unwrap();
            assert!(!matches!(got, Received::Message { .. }));
        }
        assert_eq!(b.counters.rejected.get("fragment-malformed"), Some(&1));
    }
}
