//! One OpenFlow 1.3 connection to Open vSwitch.
//!
//! The socket is owned by two spawned tasks: a writer (one `write` per
//! batch of messages) and a reader (framing, decoding, answering echo
//! requests, routing replies to whoever waits for their xid). Reading never
//! waits on writing, so a switch that sends many errors while we stream a
//! large bundle cannot deadlock us. [`Connection`] is the handle; dropping
//! it stops both tasks and closes the socket.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream, tcp, unix};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weft_openflow::{
    BundleAdd, BundleControl, BundleCtrlType, DecodeError, ErrorMsg, FlowMod, FlowStats,
    FlowStatsRequest, Framer, Header, Hello, Message, MultipartReply, MultipartReplyBody,
    MultipartRequest, OFPBF_ATOMIC, OFPBF_ORDERED, OfpError, PortDesc, SwitchFeatures,
};

/// Where the switch listens: `unix:/run/openvswitch/br-int.mgmt` or
/// `tcp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OvsTarget {
    Unix(PathBuf),
    Tcp(String),
}

impl FromStr for OvsTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: target needs a socket path".into());
            }
            return Ok(OvsTarget::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            let ok = addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(format!("tcp target {s:?}: write tcp:HOST:PORT"));
            }
            return Ok(OvsTarget::Tcp(addr.to_owned()));
        }
        Err(format!(
            "OpenFlow target {s:?}: write unix:/path/to/bridge.mgmt or tcp:HOST:PORT"
        ))
    }
}

impl std::fmt::Display for OvsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OvsTarget::Unix(p) => write!(f, "unix:{}", p.display()),
            OvsTarget::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// Why an OpenFlow exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("OpenFlow connection broken: {0}")]
    Io(String),
    #[error("OpenFlow connection closed by the switch")]
    Closed,
    #[error("no reply from the switch within {0:?}")]
    Timeout(Duration),
    #[error("OpenFlow protocol error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Refused(ErrorMsg),
}

impl OfError {
    /// The connection is gone (or never came up): reconnecting may help.
    pub fn is_broken(&self) -> bool {
        matches!(
            self,
            OfError::Connect { .. } | OfError::Io(_) | OfError::Closed
        )
    }
}

impl From<DecodeError> for OfError {
    fn from(e: DecodeError) -> Self {
        OfError::Protocol(e.to_string())
    }
}

impl From<weft_openflow::EncodeError> for OfError {
    fn from(e: weft_openflow::EncodeError) -> Self {
        OfError::Protocol(e.to_string())
    }
}

enum ReadHalf {
    Unix(unix::OwnedReadHalf),
    Tcp(tcp::OwnedReadHalf),
}

enum WriteHalf {
    Unix(unix::OwnedWriteHalf),
    Tcp(tcp::OwnedWriteHalf),
}

impl ReadHalf {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = match self {
                ReadHalf::Unix(h) => {
                    h.readable().await?;
                    h.try_read(buf)
                }
                ReadHalf::Tcp(h) => {
                    h.readable().await?;
                    h.try_read(buf)
                }
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

impl WriteHalf {
    async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let r = match self {
                WriteHalf::Unix(h) => {
                    h.writable().await?;
                    h.try_write(buf)
                }
                WriteHalf::Tcp(h) => {
                    h.writable().await?;
                    h.try_write(buf)
                }
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

async fn open(target: &OvsTarget) -> io::Result<(ReadHalf, WriteHalf)> {
    Ok(match target {
        OvsTarget::Unix(p) => {
            let (r, w) = UnixStream::connect(p).await?.into_split();
            (ReadHalf::Unix(r), WriteHalf::Unix(w))
        }
        OvsTarget::Tcp(a) => {
            let s = TcpStream::connect(a).await?;
            s.set_nodelay(true)?;
            let (r, w) = s.into_split();
            (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
        }
    })
}

type Routed = (u32, Result<Message, DecodeError>);

#[derive(Default)]
struct Shared {
    /// Who waits for which xid.
    pending: Mutex<HashMap<u32, mpsc::UnboundedSender<Routed>>>,
    closed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, mpsc::UnboundedSender<Routed>>> {
        // Plain map operations: a panic elsewhere cannot leave it torn.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection dead and wakes every waiter (their channels
    /// close).
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.lock().clear();
    }
}

/// Removes an exchange's xids from the routing table however the exchange
/// ends (reply, error, timeout, cancellation).
struct Registration<'a> {
    shared: &'a Shared,
    xids: Vec<u32>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut p = self.shared.lock();
        for x in &self.xids {
            p.remove(x);
        }
    }
}

/// Extra time allowed per message of an exchange on top of the request
/// timeout (a 100,000-flow bundle is a few seconds of switch work).
const PER_MESSAGE: Duration = Duration::from_micros(50);

/// A live OpenFlow 1.3 connection. See the module docs.
pub struct Connection {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    features: SwitchFeatures,
    next_xid: AtomicU32,
    next_bundle: AtomicU32,
    timeout: Duration,
    tasks: [JoinHandle<()>; 2],
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field(
                "datapath_id",
                &format_args!("{:016x}", self.features.datapath_id),
            )
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Connection {
    /// Connects, exchanges hellos (OpenFlow 1.3 only) and asks for the
    /// switch's features. `timeout` bounds the connect and every later
    /// request.
    pub async fn connect(target: &OvsTarget, timeout: Duration) -> Result<Connection, OfError> {
        let connect_err = |reason: String| OfError::Connect {
            target: target.to_string(),
            reason,
        };
        let (mut rd, mut wr) = tokio::time::timeout(timeout, open(target))
            .await
            .map_err(|_| connect_err(format!("no answer within {timeout:?}")))?
            .map_err(|e| connect_err(e.to_string()))?;
        let hello = Message::Hello(Hello::of13()).encode(0)?;
        wr.write_all(&hello)
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let mut framer = Framer::new();
        tokio::time::timeout(timeout, await_hello(&mut rd, &mut framer))
            .await
            .map_err(|_| connect_err(format!("no OpenFlow hello within {timeout:?}")))??;

        let shared = Arc::new(Shared::default());
        let (writer, write_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(rd, framer, shared.clone(), writer.clone()));
        let writer_task = tokio::spawn(write_loop(wr, write_rx, shared.clone()));
        let mut conn = Connection {
            shared,
            writer,
            features: SwitchFeatures {
                datapath_id: 0,
                n_buffers: 0,
                n_tables: 0,
                auxiliary_id: 0,
                capabilities: 0,
            },
            next_xid: AtomicU32::new(1),
            next_bundle: AtomicU32::new(1),
            timeout,
            tasks: [reader, writer_task],
        };
        match conn.request(Message::FeaturesRequest).await? {
            Message::FeaturesReply(f) => conn.features = f,
            other => {
                return Err(OfError::Protocol(format!(
                    "expected a features reply, got {other:?}"
                )));
            }
        }
        Ok(conn)
    }

    /// What the switch said about itself at connect time.
    pub fn features(&self) -> &SwitchFeatures {
        &self.features
    }

    /// The reader or writer saw the connection end.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    fn xid(&self) -> u32 {
        loop {
            let x = self.next_xid.fetch_add(1, Ordering::Relaxed);
            // 0 is the hello's; skip it when the counter wraps.
            if x != 0 {
                return x;
            }
        }
    }

    /// Sends `msgs` in one write and returns every message the switch sent
    /// back with one of their xids (or one of `listen`), in arrival order,
    /// up to and including the final reply to the last message (all parts
    /// of a multipart reply). The last message must be one the switch
    /// answers (a request or a barrier).
    pub async fn exchange(
        &self,
        msgs: &[Message],
        listen: &[u32],
    ) -> Result<Vec<(u32, Message)>, OfError> {
        self.exchange_xids(msgs, listen).await.map(|(_, r)| r)
    }

    /// [`Connection::exchange`], also returning the xids given to `msgs`.
    async fn exchange_xids(
        &self,
        msgs: &[Message],
        listen: &[u32],
    ) -> Result<(Vec<u32>, Vec<(u32, Message)>), OfError> {
        let xids: Vec<u32> = msgs.iter().map(|_| self.xid()).collect();
        let Some(&last) = xids.last() else {
            return Ok((xids, Vec::new()));
        };
        let mut buf = Vec::with_capacity(msgs.len() * 128);
        for (m, &x) in msgs.iter().zip(&xids) {
            m.encode_into(x, &mut buf)?;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let all: Vec<u32> = xids.iter().chain(listen).copied().collect();
        {
            let mut p = self.shared.lock();
            for &x in &all {
                p.insert(x, tx.clone());
            }
        }
        drop(tx);
        let _registration = Registration {
            shared: &self.shared,
            xids: all,
        };
        if self.is_closed() {
            return Err(OfError::Closed);
        }
        self.writer.send(buf).map_err(|_| OfError::Closed)?;
        let allowance = PER_MESSAGE.saturating_mul(u32::try_from(msgs.len()).unwrap_or(u32::MAX));
        let limit = self.timeout.saturating_add(allowance);
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => return Err(OfError::Timeout(limit)),
                Ok(None) => return Err(OfError::Closed),
                Ok(Some((xid, msg))) => {
                    let msg = msg?;
                    let more = matches!(
                        msg,
                        Message::MultipartReply(MultipartReply { more: true, .. })
                    );
                    out.push((xid, msg));
                    if xid == last && !more {
                        return Ok((xids, out));
                    }
                }
            }
        }
    }

    /// One request, one reply; an error reply is [`OfError::Refused`].
    pub async fn request(&self, msg: Message) -> Result<Message, OfError> {
        let mut replies = self.exchange(&[msg], &[]).await?;
        match replies.pop() {
            Some((_, Message::Error(e))) => Err(OfError::Refused(e)),
            Some((_, m)) => Ok(m),
            None => Err(OfError::Protocol("empty exchange".into())),
        }
    }

    /// Waits until the switch processed everything sent before.
    pub async fn barrier(&self) -> Result<(), OfError> {
        match self.request(Message::BarrierRequest).await? {
            Message::BarrierReply => Ok(()),
            other => Err(unexpected("barrier reply", &other)),
        }
    }

    /// Every flow of every table.
    pub async fn dump_flows(&self) -> Result<Vec<FlowStats>, OfError> {
        let req = Message::MultipartRequest(MultipartRequest::Flow(FlowStatsRequest::all()));
        let mut flows = Vec::new();
        for (_, m) in self.exchange(&[req], &[]).await? {
            match m {
                Message::MultipartReply(MultipartReply {
                    body: MultipartReplyBody::Flow(part),
                    ..
                }) => flows.extend(part),
                Message::Error(e) => return Err(OfError::Refused(e)),
                other => return Err(unexpected("flow stats reply", &other)),
            }
        }
        Ok(flows)
    }

    /// The switch's ports.
    pub async fn port_desc(&self) -> Result<Vec<PortDesc>, OfError> {
        let req = Message::MultipartRequest(MultipartRequest::PortDesc);
        let mut ports = Vec::new();
        for (_, m) in self.exchange(&[req], &[]).await? {
            match m {
                Message::MultipartReply(MultipartReply {
                    body: MultipartReplyBody::PortDesc(part),
                    ..
                }) => ports.extend(part),
                Message::Error(e) => return Err(OfError::Refused(e)),
                other => return Err(unexpected("port desc reply", &other)),
            }
        }
        Ok(ports)
    }

    /// Applies `flow_mods` in order as ONE atomic bundle: open, add every
    /// flow-mod, barrier (so every refused add has been reported), then
    /// commit and barrier. A refused add discards the bundle; nothing is
    /// applied and the first refusal is returned.
    pub async fn bundle(&self, flow_mods: Vec<FlowMod>) -> Result<(), OfError> {
        if flow_mods.is_empty() {
            return Ok(());
        }
        let id = self.next_bundle.fetch_add(1, Ordering::Relaxed);
        let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
        let ctrl = |t| Message::BundleControl(BundleControl::new(id, t, flags));
        let mut msgs = Vec::with_capacity(flow_mods.len() + 2);
        msgs.push(ctrl(BundleCtrlType::OpenRequest));
        msgs.extend(flow_mods.into_iter().map(|fm| {
            Message::BundleAdd(BundleAdd {
                bundle_id: id,
                flags,
                message: Box::new(Message::FlowMod(fm)),
            })
        }));
        msgs.push(Message::BarrierRequest);
        let (xids, first) = self.exchange_xids(&msgs, &[]).await?;
        if let Some(e) = first_error(&first) {
            // Best effort: the bundle is dropped with the connection anyway.
            let _ = self
                .exchange(&[ctrl(BundleCtrlType::DiscardRequest)], &[])
                .await;
            return Err(OfError::Refused(e));
        }
        expect_ctrl(&first, BundleCtrlType::OpenReply)?;
        // Errors of individual messages found at commit time carry the
        // add's xid: listen for those too.
        let add_xids = &xids[1..xids.len() - 1];
        let commit = [ctrl(BundleCtrlType::CommitRequest), Message::BarrierRequest];
        let second = self.exchange(&commit, add_xids).await?;
        if let Some(e) = first_error(&second) {
            return Err(OfError::Refused(e));
        }
        expect_ctrl(&second, BundleCtrlType::CommitReply)
    }
}

fn unexpected(what: &str, got: &Message) -> OfError {
    OfError::Protocol(format!(
        "expected a {what}, got message type {}",
        got.msg_type()
    ))
}

/// The most specific refusal among replies: an individual message's error
/// before the bundle's own (`OFPBFC_MSG_FAILED` says only "see above").
fn first_error(replies: &[(u32, Message)]) -> Option<ErrorMsg> {
    let errors: Vec<&ErrorMsg> = replies
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    errors
        .iter()
        .find(|e| !matches!(e.error, OfpError::Experimenter { .. }))
        .or(errors.first())
        .map(|e| (*e).clone())
}

fn expect_ctrl(replies: &[(u32, Message)], want: BundleCtrlType) -> Result<(), OfError> {
    let ok = replies
        .iter()
        .any(|(_, m)| matches!(m, Message::BundleControl(b) if b.ctrl_type == want));
    if ok {
        Ok(())
    } else {
        Err(OfError::Protocol(format!(
            "no bundle {want:?} from the switch"
        )))
    }
}

async fn await_hello(rd: &mut ReadHalf, framer: &mut Framer) -> Result<(), OfError> {
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(frame) = framer
            .next_frame()
            .map_err(|e| OfError::Protocol(e.to_string()))?
        {
            let h = Header::parse(&frame)?;
            match Message::decode(&frame)? {
                (_, Message::Hello(hello)) => {
                    if hello.supports_of13(h.version) {
                        return Ok(());
                    }
                    return Err(OfError::Protocol(format!(
                        "the switch does not speak OpenFlow 1.3 (hello version 0x{:02x}, versions {:?}); \
                         set protocols=OpenFlow13 on the bridge",
                        h.version, hello.versions
                    )));
                }
                (_, Message::Error(e)) => return Err(OfError::Refused(e)),
                _ => {}
            }
        }
        let n = rd
            .read(&mut buf)
            .await
            .map_err(|e| OfError::Io(e.to_string()))?;
        if n == 0 {
            return Err(OfError::Closed);
        }
        framer.feed(&buf[..n]);
    }
}

async fn read_loop(
    mut rd: ReadHalf,
    mut framer: Framer,
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    let why = 'conn: loop {
        loop {
            let frame = match framer.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => break 'conn e.to_string(),
            };
            // The framer guarantees a whole header.
            let Ok(h) = Header::parse(&frame) else {
                break 'conn "unparsable header".to_owned();
            };
            let decoded = Message::decode(&frame).map(|(_, m)| m);
            if let Ok(Message::EchoRequest(data)) = &decoded {
                if let Ok(reply) = Message::EchoReply(data.clone()).encode(h.xid) {
                    let _ = writer.send(reply);
                }
                continue;
            }
            let route = shared.lock().get(&h.xid).cloned();
            match route {
                Some(tx) => {
                    let _ = tx.send((h.xid, decoded));
                }
                None => match decoded {
                    Ok(Message::Error(e)) => {
                        tracing::warn!(xid = h.xid, error = %e, "unsolicited OpenFlow error");
                    }
                    Ok(m) => tracing::debug!(xid = h.xid, ty = m.msg_type(), "unsolicited message"),
                    Err(e) => tracing::debug!(xid = h.xid, error = %e, "undecodable message"),
                },
            }
        }
        match rd.read(&mut buf).await {
            Ok(0) => break "closed by the switch".to_owned(),
            Ok(n) => framer.feed(&buf[..n]),
            Err(e) => break e.to_string(),
        }
    };
    tracing::debug!(reason = %why, "OpenFlow connection reader stops");
    shared.close();
}

async fn write_loop(
    mut wr: WriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
) {
    while let Some(bytes) = rx.recv().await {
        if let Err(e) = wr.write_all(&bytes).await {
            tracing::debug!(error = %e, "OpenFlow connection writer stops");
            shared.close();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            "unix:/run/br.mgmt".parse(),
            Ok(OvsTarget::Unix(PathBuf::from("/run/br.mgmt")))
        );
        assert_eq!(
            "tcp:127.0.0.1:6653".parse(),
            Ok(OvsTarget::Tcp("127.0.0.1:6653".into()))
        );
        assert!("tcp:127.0.0.1".parse::<OvsTarget>().is_err());
        assert!("unix:".parse::<OvsTarget>().is_err());
        assert!("ssl:1.2.3.4:6653".parse::<OvsTarget>().is_err());
        assert_eq!(OvsTarget::Unix(PathBuf::from("/x")).to_string(), "unix:/x");
    }
}
