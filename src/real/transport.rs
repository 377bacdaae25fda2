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
//! Every message is sealed into one frame (one signature, whatever its
//! size, up to [`MAX_MESSAGE`](node_logic::codec::MAX_MESSAGE)), and no
//! datagram is larger than an Ethernet MTU's UDP payload
//! ([`MTU_PAYLOAD`]): a larger frame is cut into pieces
//! ([`node_logic::fragment`]) that a bounded [`Reassembler`] puts back
//! together before the frame is opened; refused pieces and evicted
//! incomplete frames are counted (`fragment-*` reasons). Datagrams wait in
//! a bounded send queue while the socket's send buffer is full (as a
//! host's interface queue does), so a burst of pieces is paced by the
//! network, not lost to `EWOULDBLOCK`.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_logic::HostId;
use node_logic::fragment::{self, Fragment, MTU_PAYLOAD, Reassembler};
use node_logic::frame::{self, Opened, ReplayWindow, Stamp};
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
    /// The next fragmented frame's id.
    next_message: u64,
    /// Datagrams sealed but not yet taken by the socket.
    queue: SendQueue,
    /// Incomplete fragmented frames.
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
        /// When the sender's emulated path delivers it (scenario ns; 0:
        /// when it arrives), from the frame's [`Stamp`].
        due_ns: u64,
    },
    /// A datagram was dropped (and counted).
    Dropped,
    /// A piece of a frame not yet complete (held).
    Fragment,
    /// Nothing arrived before the timeout.
    Nothing,
}

impl Transport {
    /// Host `me`'s transport on `socket` (bound by the process, or one
    /// `sim launch` keeps for the host across its restarts); `keys` are
    /// every host's public key by id.
    pub fn on(
        socket: UdpSocket,
        me: HostId,
        identity: Identity,
        keys: Vec<PublicKey>,
        book: AddressBook,
    ) -> io::Result<Self> {
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
            buffer: vec![0; MAX_UDP_PAYLOAD + 1],
            epoch: process_epoch(),
            next_seq: vec![0; hosts],
            windows: vec![ReplayWindow::default(); hosts],
            next_message: 0,
            queue: SendQueue::default(),
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
    /// simulator): one frame, cut into pieces if it is larger than a
    /// datagram, queued while the socket's send buffer is full. Each call
    /// makes a new frame with the next sequence number, so copies a
    /// duplication fault makes are not replays. The frame says the message
    /// is due at `due_ns` (see [`Stamp::due_ns`]). A message that cannot be
    /// sealed or addressed, or finds the send queue full, is counted in
    /// `send_errors`.
    pub fn transmit(&mut self, to: HostId, payload: &[u8], due_ns: u64) {
        let Some(datagrams) = self.seal(to, payload, due_ns) else {
            self.counters.send_errors += 1;
            return;
        };
        let Some(addr) = self.book.address(to) else {
            self.counters.send_errors += 1;
            return;
        };
        if !self.queue.push(addr, datagrams) {
            self.counters.send_errors += 1;
        }
        self.flush();
    }

    /// The datagrams of `payload` sealed for `to` with the next sequence
    /// number and `due_ns`: the frame itself, or its pieces.
    fn seal(&mut self, to: HostId, payload: &[u8], due_ns: u64) -> Option<Vec<Vec<u8>>> {
        let next = self.next_seq.get_mut(to.index())?;
        let stamp = Stamp {
            epoch: self.epoch,
            seq: *next,
            due_ns,
        };
        *next += 1;
        let frame = frame::seal(&self.identity, self.me, to, stamp, payload).ok()?;
        if frame.len() <= MTU_PAYLOAD {
            return Some(vec![frame]);
        }
        let id = self.next_message;
        self.next_message += 1;
        fragment::split(self.me, self.epoch, id, &frame)
    }

    /// Hands queued datagrams to the socket until it would block; a
    /// message one of whose datagrams fails for another reason is dropped
    /// (its other pieces would be useless) and counted.
    fn flush(&mut self) {
        while let Some((addr, datagram)) = self.queue.front() {
            match send_datagram(&self.socket, datagram, addr) {
                Sent::Yes => self.queue.sent_one(),
                Sent::WouldBlock => return,
                Sent::Failed => {
                    self.queue.drop_front();
                    self.counters.send_errors += 1;
                }
            }
        }
    }

    /// Waits up to `timeout` for one datagram.
    /// Queued datagrams go out as the socket takes them meanwhile.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<Received> {
        self.flush();
        if let Some(received) = self.try_receive()? {
            return Ok(received);
        }
        if !timeout.is_zero() {
            wait_ready(&self.socket, timeout, !self.queue.is_empty())?;
            self.flush();
        }
        Ok(self.try_receive()?.unwrap_or(Received::Nothing))
    }

    /// After the end: reads for `within` (real time) what is still
    /// arriving and counts valid datagrams as in flight at the end (not
    /// given to the node, not counted as delivered).
    pub fn drain(&mut self, within: Duration) -> io::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            self.flush();
            while let Some(len) = self.try_read()? {
                if let Received::Message { from, .. } = self.accept(len) {
                    *self.counters.in_flight_from.entry(from.0).or_default() += 1;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            wait_ready(&self.socket, left, !self.queue.is_empty())?;
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

    /// Passes on the message of the frame in the first `len` bytes of the
    /// buffer, or of the frame its piece completes (counted as received
    /// when the node gets it: [`Transport::count_delivered`]). A frame is
    /// checked for this host and against its sender's replay window; a
    /// refusal is counted by reason.
    fn accept(&mut self, len: usize) -> Received {
        let assembled = if fragment::is_piece(&self.buffer[..len]) {
            let piece =
                Fragment::decode(&self.buffer[..len]).and_then(|f| self.reassembler.accept(&f));
            self.count_evictions();
            match piece {
                Ok(Some(frame)) => Some(frame),
                Ok(None) => return Received::Fragment,
                Err(e) => {
                    self.count_rejected(e.reason());
                    return Received::Dropped;
                }
            }
        } else {
            None
        };
        let frame = assembled.as_deref().unwrap_or(&self.buffer[..len]);
        match open_fresh(frame, self.me, &self.keys, &mut self.windows) {
            Ok(opened) => Received::Message {
                from: opened.from,
                payload: opened.payload.to_vec(),
                due_ns: opened.stamp.due_ns,
            },
            Err(e) => {
                self.count_rejected(e.reason());
                Received::Dropped
            }
        }
    }

    /// Counts a datagram refused for `reason`.
    fn count_rejected(&mut self, reason: &str) {
        *self
            .counters
            .rejected
            .entry(reason.to_string())
            .or_default() += 1;
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

/// `frame` opened for host `me` and checked against its sender's replay
/// window (`keys` and `windows` by host id).
fn open_fresh<'a>(
    frame: &'a [u8],
    me: HostId,
    keys: &[PublicKey],
    windows: &mut [ReplayWindow],
) -> Result<Opened<'a>, frame::FrameError> {
    let opened = frame::open(frame, me, |h| keys.get(h.index()).copied())?;
    // `open` knows a key for the sender, so it has a window.
    if let Some(window) = windows.get_mut(opened.from.index()) {
        window.check(opened.stamp)?;
    }
    Ok(opened)
}

/// How one datagram fared at the socket.
enum Sent {
    /// The socket took it.
    Yes,
    /// The send buffer is full: try again when the socket is writable.
    WouldBlock,
    /// Refused for another reason (no route, too large, ...).
    Failed,
}

/// Hands `datagram` to the socket for `addr`. An error the socket reports
/// for an earlier datagram (ICMP port unreachable: `ECONNREFUSED`) or a
/// signal is retried a few times before the datagram counts as failed.
fn send_datagram(socket: &UdpSocket, datagram: &[u8], addr: SocketAddr) -> Sent {
    for _ in 0..SEND_ATTEMPTS {
        match socket.send_to(datagram, addr) {
            Ok(_) => return Sent::Yes,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Sent::WouldBlock,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                ) => {}
            Err(_) => return Sent::Failed,
        }
    }
    Sent::Failed
}

/// Tries of one datagram against errors that concern earlier ones.
const SEND_ATTEMPTS: usize = 3;

/// The largest UDP payload over IPv4: 65,535 bytes less the IP (20) and
/// UDP (8) headers; the receive buffer holds one (a datagram this build
/// sends is at most [`MTU_PAYLOAD`], but anything may arrive).
const MAX_UDP_PAYLOAD: usize = 65_507;

/// Datagrams sealed but not yet taken by the socket, message by message,
/// bounded in bytes like a host's interface queue.
#[derive(Debug, Default)]
struct SendQueue {
    /// Each message's destination and its datagrams not yet sent.
    messages: VecDeque<(SocketAddr, VecDeque<Vec<u8>>)>,
    /// Bytes of every datagram queued.
    bytes: usize,
}

/// Bytes the send queue holds at most: a proposal's pieces to a few
/// hundred validators.
const SEND_QUEUE_BYTES: usize = 64 * 1024 * 1024;

impl SendQueue {
    /// Queues one message's datagrams for `addr`: false (nothing queued)
    /// if they do not fit.
    fn push(&mut self, addr: SocketAddr, datagrams: Vec<Vec<u8>>) -> bool {
        let size: usize = datagrams.iter().map(Vec::len).sum();
        if self.bytes + size > SEND_QUEUE_BYTES {
            return false;
        }
        self.bytes += size;
        self.messages.push_back((addr, datagrams.into()));
        true
    }

    /// The next datagram to send and where.
    fn front(&self) -> Option<(SocketAddr, &[u8])> {
        let (addr, datagrams) = self.messages.front()?;
        datagrams.front().map(|d| (*addr, d.as_slice()))
    }

    /// The front datagram was sent.
    fn sent_one(&mut self) {
        if let Some((_, datagrams)) = self.messages.front_mut() {
            let sent = datagrams.pop_front().map_or(0, |d| d.len());
            self.bytes -= sent;
            if datagrams.is_empty() {
                self.messages.pop_front();
            }
        }
    }

    /// Drops the front message's datagrams not yet sent.
    fn drop_front(&mut self) {
        if let Some((_, datagrams)) = self.messages.pop_front() {
            self.bytes -= datagrams.iter().map(Vec::len).sum::<usize>();
        }
    }

    /// Whether nothing waits.
    fn is_empty(&self) -> bool {
        self.messages.is_empty()
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
/// fragmented message arrives as a burst of pieces, and the default
/// buffer (about 208 KiB) holds only about a hundred of them.
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

/// Blocks until `socket` is readable (or writable, if `writable` is
/// asked: datagrams wait in the send queue) or `timeout` passes
/// (nanosecond precision, unlike a socket timeout); a signal ends the wait
/// early.
fn wait_ready(socket: &UdpSocket, timeout: Duration, writable: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: if writable {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        },
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
            let socket = UdpSocket::bind(local).unwrap();
            Transport::on(socket, HostId(i), id, keys.clone(), empty.clone()).unwrap()
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

    /// Receives until a message arrives (or two seconds pass): its sender,
    /// payload and due time.
    fn next_message(t: &mut Transport) -> Option<(HostId, Vec<u8>, u64)> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Received::Message {
                from,
                payload,
                due_ns,
            } = t.receive(Duration::from_millis(50)).unwrap()
            {
                return Some((from, payload, due_ns));
            }
        }
        None
    }

    #[test]
    fn messages_larger_than_a_datagram_arrive_whole_over_real_udp() {
        let (mut a, mut b) = pair();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        a.transmit(HostId(1), &big, 7_000);
        a.transmit(HostId(1), b"small", 0);
        let got = next_message(&mut b);
        let (sent, rejected) = (a.counters.send_errors, &b.counters.rejected);
        assert_eq!((sent, rejected.len()), (0, 0), "{rejected:?}");
        assert!(
            got == Some((HostId(0), big, 7_000)),
            "the large message first, whole, with its due time"
        );
        let got = next_message(&mut b);
        assert!(
            got == Some((HostId(0), b"small".to_vec(), 0)),
            "then the small one"
        );
        let too_big = vec![0; node_logic::codec::MAX_MESSAGE + 1];
        a.transmit(HostId(1), &too_big, 0);
        assert_eq!(a.counters.send_errors, 1);
    }

    /// Every datagram waiting at `socket` (until none comes for 200 ms).
    fn datagrams_at(socket: &UdpSocket) -> Vec<Vec<u8>> {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buffer = vec![0; MAX_UDP_PAYLOAD];
        let mut out = Vec::new();
        while let Ok((len, _)) = socket.recv_from(&mut buffer) {
            out.push(buffer[..len].to_vec());
        }
        out
    }

    #[test]
    fn no_datagram_is_larger_than_an_mtu_and_a_frame_is_signed_once() {
        let (mut a, _b) = pair();
        let wire = UdpSocket::bind("127.0.0.1:0").unwrap();
        let explicit = [("b".to_string(), wire.local_addr().unwrap())].into();
        a.book = AddressBook::new(vec!["a".into(), "b".into()], &explicit, 0);
        a.transmit(HostId(1), &vec![7; 100_000], 0);
        a.transmit(HostId(1), b"small", 0);
        let got = datagrams_at(&wire);
        assert!(got.iter().all(|d| d.len() <= MTU_PAYLOAD));
        let (pieces, frames): (Vec<_>, Vec<_>) = got.iter().partition(|d| fragment::is_piece(d));
        assert_eq!(frames.len(), 1, "the small message is one frame");
        let first = Fragment::decode(pieces[0]).unwrap();
        assert_eq!(pieces.len(), first.count);
        assert_eq!(
            first.total,
            100_000 + frame::FRAME_OVERHEAD,
            "one signature"
        );
    }

    #[test]
    fn malformed_forged_and_duplicate_pieces_are_counted_not_delivered() {
        let (a, mut b) = pair();
        let stamp = Stamp {
            epoch: 1,
            seq: 0,
            due_ns: 0,
        };
        let to_b = (HostId(0), HostId(1));
        let sealed = frame::seal(&a.identity, to_b.0, to_b.1, stamp, &[3; 5_000]).unwrap();
        let mut forged = sealed.clone();
        forged[2_000] ^= 1;
        let forged = fragment::split(HostId(0), 1, 0, &forged).unwrap();
        let copy = fragment::split(HostId(0), 1, 1, &sealed).unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        for datagram in [&b"SIMD garbage"[..], &copy[0], &copy[0]]
            .into_iter()
            .chain(forged.iter().map(Vec::as_slice))
        {
            socket.send_to(datagram, to).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while b.counters.rejected.len() < 3 && Instant::now() < deadline {
            let got = b.receive(Duration::from_millis(50)).unwrap();
            assert!(!matches!(got, Received::Message { .. }));
        }
        let rejected = &b.counters.rejected;
        assert_eq!(rejected.get("fragment-malformed"), Some(&1), "{rejected:?}");
        assert_eq!(rejected.get("fragment-duplicate"), Some(&1), "{rejected:?}");
        assert_eq!(rejected.get("bad-signature"), Some(&1), "{rejected:?}");
    }
}
