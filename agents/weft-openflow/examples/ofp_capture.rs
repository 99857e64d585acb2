//! Records real OpenFlow bytes for the golden tests
//! (`tests/golden/README.md` says which fixture came from which command).
//!
//! ```text
//! ofp_capture listen SOCKET OUT.hex
//!     Plays an OpenFlow 1.3 switch on a unix socket for ONE client (e.g.
//!     `ovs-ofctl -O OpenFlow13 add-flow unix:SOCKET …`), answers hello,
//!     features, echo, barrier and bundle control requests, and writes every
//!     message the client sent to OUT.hex (one message per line, preceded by
//!     a `#` comment naming it).
//! ofp_capture dump SOCKET OUT-PREFIX
//!     Connects to a real switch's management socket, sends a flow-stats
//!     request for all flows, a port-desc request and a flow-mod with a
//!     backwards goto_table (refused), and writes the switch's replies to
//!     OUT-PREFIX-{flow_stats,port_desc,error}.hex.
//! ```
//!
//! The example uses only the standard library: the codec itself is
//! sans-I/O.

#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;

use weft_openflow::{
    BundleControl, BundleCtrlType, ErrorMsg, FlowMod, FlowModCommand, FlowStatsRequest, Framer,
    Hello, Instruction, Message, MultipartReply, MultipartReplyBody, MultipartRequest, OfMatch,
    OfpError, SwitchFeatures, to_hex,
};

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["listen", sock, out] => listen(sock, out),
        ["dump", sock, prefix] => dump(sock, prefix),
        _ => Err("usage: ofp_capture listen SOCKET OUT.hex | dump SOCKET OUT-PREFIX".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ofp_capture: {e}");
            ExitCode::FAILURE
        }
    }
}

fn name(m: &Message) -> String {
    match m {
        Message::FlowMod(f) => format!("flow_mod {:?}", f.command),
        Message::BundleControl(b) => format!("bundle_control {:?}", b.ctrl_type),
        Message::BundleAdd(b) => format!("bundle_add of {}", name(&b.message)),
        Message::MultipartRequest(r) => format!("multipart_request {}", mp_name(r)),
        Message::MultipartReply(r) => format!(
            "multipart_reply {}{}",
            match r.body {
                MultipartReplyBody::Flow(_) => "flow",
                MultipartReplyBody::PortDesc(_) => "port_desc",
                MultipartReplyBody::Other { .. } => "other",
            },
            if r.more { " (more)" } else { "" }
        ),
        Message::Error(e) => format!("error {e}"),
        other => format!("{other:?}")
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or("message")
            .to_lowercase(),
    }
}

fn mp_name(r: &MultipartRequest) -> &'static str {
    match r {
        MultipartRequest::Flow(_) => "flow",
        MultipartRequest::PortDesc => "port_desc",
        MultipartRequest::Other { .. } => "other",
    }
}

struct Conn {
    stream: UnixStream,
    framer: Framer,
}

impl Conn {
    fn recv(&mut self) -> Res<Option<Vec<u8>>> {
        loop {
            if let Some(f) = self.framer.next_frame().map_err(|e| e.to_string())? {
                return Ok(Some(f));
            }
            let mut buf = [0u8; 65536];
            let n = self.stream.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(None);
            }
            self.framer.feed(&buf[..n]);
        }
    }

    fn send(&mut self, m: &Message, xid: u32) -> Res<()> {
        let bytes = m.encode(xid).map_err(|e| e.to_string())?;
        self.stream.write_all(&bytes).map_err(|e| e.to_string())
    }
}

fn listen(sock: &str, out: &str) -> Res<()> {
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).map_err(|e| format!("bind {sock}: {e}"))?;
    println!("listening on {sock}");
    let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
    let mut c = Conn {
        stream,
        framer: Framer::new(),
    };
    c.send(&Message::Hello(Hello::of13()), 1)?;
    let mut text = String::new();
    while let Some(frame) = c.recv()? {
        let (xid, msg) = Message::decode(&frame).map_err(|e| e.to_string())?;
        text.push_str(&format!("# {}\n{}\n", name(&msg), to_hex(&frame)));
        let reply = match &msg {
            Message::FeaturesRequest => Some(Message::FeaturesReply(SwitchFeatures {
                datapath_id: 1,
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: 0,
            })),
            Message::EchoRequest(d) => Some(Message::EchoReply(d.clone())),
            Message::BarrierRequest => Some(Message::BarrierReply),
            Message::BundleControl(b) => {
                let reply = match b.ctrl_type {
                    BundleCtrlType::OpenRequest => Some(BundleCtrlType::OpenReply),
                    BundleCtrlType::CloseRequest => Some(BundleCtrlType::CloseReply),
                    BundleCtrlType::CommitRequest => Some(BundleCtrlType::CommitReply),
                    BundleCtrlType::DiscardRequest => Some(BundleCtrlType::DiscardReply),
                    _ => None,
                };
                reply.map(|t| Message::BundleControl(BundleControl::new(b.bundle_id, t, b.flags)))
            }
            // Table features (ovs-ofctl asks before a flow-mod): "not
            // supported", which ovs-ofctl accepts.
            Message::MultipartRequest(MultipartRequest::Other { .. }) => {
                Some(Message::Error(ErrorMsg {
                    error: OfpError::BadRequest(2),
                    data: frame[..frame.len().min(64)].to_vec(),
                }))
            }
            Message::MultipartRequest(r) => Some(Message::MultipartReply(MultipartReply {
                more: false,
                body: match r {
                    MultipartRequest::Flow(_) => MultipartReplyBody::Flow(Vec::new()),
                    MultipartRequest::PortDesc => MultipartReplyBody::PortDesc(Vec::new()),
                    MultipartRequest::Other { mp_type, .. } => MultipartReplyBody::Other {
                        mp_type: *mp_type,
                        body: Vec::new(),
                    },
                },
            })),
            _ => None,
        };
        if let Some(r) = reply {
            c.send(&r, xid)?;
        }
    }
    std::fs::write(out, text).map_err(|e| format!("write {out}: {e}"))?;
    println!("wrote {out}");
    Ok(())
}

fn dump(sock: &str, prefix: &str) -> Res<()> {
    let stream = UnixStream::connect(sock).map_err(|e| format!("connect {sock}: {e}"))?;
    let mut c = Conn {
        stream,
        framer: Framer::new(),
    };
    c.send(&Message::Hello(Hello::of13()), 1)?;
    let record = |c: &mut Conn, file: &str, request: Message, xid: u32| -> Res<()> {
        c.send(&request, xid)?;
        let mut text = String::new();
        loop {
            let frame = c.recv()?.ok_or("switch closed the connection")?;
            let (rxid, msg) = Message::decode(&frame).map_err(|e| e.to_string())?;
            if rxid != xid {
                continue;
            }
            text.push_str(&format!("# {}\n{}\n", name(&msg), to_hex(&frame)));
            let last = !matches!(&msg, Message::MultipartReply(r) if r.more);
            if last {
                break;
            }
        }
        let path = format!("{prefix}-{file}.hex");
        std::fs::write(&path, text).map_err(|e| format!("write {path}: {e}"))?;
        println!("wrote {path}");
        Ok(())
    };
    record(
        &mut c,
        "flow_stats",
        Message::MultipartRequest(MultipartRequest::Flow(FlowStatsRequest::all())),
        10,
    )?;
    record(
        &mut c,
        "port_desc",
        Message::MultipartRequest(MultipartRequest::PortDesc),
        11,
    )?;
    let mut bad = FlowMod::new(FlowModCommand::Add, 2, 7, OfMatch::default());
    bad.instructions = vec![Instruction::GotoTable(1)];
    record(&mut c, "error", Message::FlowMod(bad), 12)
}
