//! Raw frames in the lab: build an Ethernet frame (any tag stack, any
//! destination, any EtherType) or a VXLAN packet, send it out of an
//! interface inside a namespace, and capture at an interface in another
//! namespace whether a frame carrying a marker arrived, and how it looked.
//!
//! This is how a test confirms a verifier counterexample with a real
//! packet: the counterexample's header is sent from its ingress port's
//! namespace, and the capture at its egress says whether the data plane
//! really delivered it (with which tags). Pings cannot do that: they need
//! an answer, carry no tags of the test's choosing, and say nothing about
//! frames the policy forbids.
//!
//! Both ends are small Python programs on `AF_PACKET` sockets run with
//! `ip netns exec` (python3 is a lab prerequisite, like `ip` itself): a
//! raw socket is the only way to put an arbitrary tag stack on the wire,
//! and this project forbids `unsafe`, so the sockets are not opened from
//! Rust. The kernel moves a received frame's outer 802.1Q tag out of the
//! packet data (VLAN acceleration, also on veths); the capture asks for it
//! back (`PACKET_AUXDATA`) and puts it back in place, so a captured frame
//! is the frame as it was on the wire.
//!
//! Not here: deciding what to send or what must arrive (the tests do,
//! from the verifier's counterexamples).

use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::cmd::{LabError, Result, run};

/// The 802.1Q tag protocol identifier.
pub const TPID_8021Q: u16 = 0x8100;
/// IEEE 802 local experimental EtherType 1: no host stack in the lab
/// answers or forwards it, so only the data plane under test moves it.
pub const ETHERTYPE_EXPERIMENTAL: u16 = 0x88b5;
/// The IANA VXLAN UDP port (the agents and the lab's VTEPs use it).
pub const VXLAN_PORT: u16 = 4789;
/// `ff:ff:ff:ff:ff:ff`.
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// The minimum Ethernet frame without its FCS; shorter frames are padded.
const MIN_FRAME: usize = 60;

/// Sixteen bytes that identify one test's frames among everything else
/// the lab carries (ARP, other tests' frames, retransmissions).
pub type Marker = [u8; 16];

/// A fresh marker: `WEFT` followed by 12 bytes that differ between calls
/// and between processes.
pub fn marker() -> Marker {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(b"WEFT");
    m[4..12].copy_from_slice(&a.to_be_bytes());
    m[12..].copy_from_slice(&b.to_be_bytes()[..4]);
    m
}

/// An Ethernet frame: `dst`, `src`, one 802.1Q tag per element of `tags`
/// (outermost first; VLAN id only, priority 0), `ethertype`, `payload`,
/// padded to the 60-byte minimum.
pub fn ethernet(
    dst: [u8; 6],
    src: [u8; 6],
    tags: &[u16],
    ethertype: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME.max(18 + 4 * tags.len() + payload.len()));
    f.extend(dst);
    f.extend(src);
    for t in tags {
        f.extend(TPID_8021Q.to_be_bytes());
        f.extend((t & 0x0fff).to_be_bytes());
    }
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// The outer headers of a VXLAN packet as a VTEP would send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanOuter {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    /// 24 bits; higher bits are ignored.
    pub vni: u32,
    pub src_port: u16,
}

/// `inner` wrapped in IPv4/UDP/VXLAN (RFC 7348: flags `I`, UDP checksum
/// zero, which every VXLAN receiver accepts over IPv4).
pub fn vxlan(outer: &VxlanOuter, inner: &[u8]) -> Vec<u8> {
    let udp_len = 8 + 8 + inner.len();
    let ip_len = 20 + udp_len;
    let mut ip = Vec::with_capacity(ip_len);
    ip.extend([0x45, 0]);
    ip.extend(u16::try_from(ip_len).unwrap_or(u16::MAX).to_be_bytes());
    ip.extend([0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend(outer.src_ip.octets());
    ip.extend(outer.dst_ip.octets());
    let sum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend(outer.src_port.to_be_bytes());
    ip.extend(VXLAN_PORT.to_be_bytes());
    ip.extend(u16::try_from(udp_len).unwrap_or(u16::MAX).to_be_bytes());
    ip.extend([0, 0]);
    ip.extend([0x08, 0, 0, 0]);
    ip.extend(((outer.vni & 0x00ff_ffff) << 8).to_be_bytes());
    ip.extend(inner);
    ethernet(outer.dst_mac, outer.src_mac, &[], 0x0800, &ip)
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

/// An Ethernet frame taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// VLAN ids of the 802.1Q / 802.1ad tags, outermost first.
    pub tags: Vec<u16>,
    pub ethertype: u16,
    pub payload: &'a [u8],
}

/// Parses the Ethernet header and the tag stack; `None` when the frame is
/// shorter than its headers.
pub fn parse(frame: &[u8]) -> Option<Parsed<'_>> {
    let mac = |at: usize| -> Option<[u8; 6]> { frame.get(at..at + 6)?.try_into().ok() };
    let (dst, src) = (mac(0)?, mac(6)?);
    let mut at = 12;
    let mut tags = Vec::new();
    loop {
        let ty = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
        if ty == TPID_8021Q || ty == 0x88a8 {
            let tci = u16::from_be_bytes(frame.get(at + 2..at + 4)?.try_into().ok()?);
            tags.push(tci & 0x0fff);
            at += 4;
        } else {
            return Some(Parsed {
                dst,
                src,
                tags,
                ethertype: ty,
                payload: &frame[at + 2..],
            });
        }
    }
}

/// A VXLAN packet taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanView<'a> {
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub vni: u32,
    /// The encapsulated Ethernet frame.
    pub inner: &'a [u8],
}

/// The VXLAN headers of an untagged IPv4/UDP frame to port 4789, or `None`.
pub fn parse_vxlan(frame: &[u8]) -> Option<VxlanView<'_>> {
    let eth = parse(frame)?;
    if eth.ethertype != 0x0800 || !eth.tags.is_empty() {
        return None;
    }
    let ip = eth.payload;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if ip.get(9) != Some(&17) || ihl < 20 {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let o: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(o))
    };
    let udp = ip.get(ihl..)?;
    if u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?) != VXLAN_PORT {
        return None;
    }
    let vx = udp.get(8..16)?;
    let vni = u32::from_be_bytes(vx.get(4..8)?.try_into().ok()?) >> 8;
    Some(VxlanView {
        src_ip: addr(12)?,
        dst_ip: addr(16)?,
        vni,
        inner: udp.get(16..)?,
    })
}

/// The MAC address of `iface` in `netns`.
pub fn mac_of(netns: &str, iface: &str) -> Result<[u8; 6]> {
    let text = run("ip", &["-n", netns, "-o", "link", "show", "dev", iface])?;
    let word = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .ok_or_else(|| LabError::Setup(format!("{iface} in {netns} has no Ethernet address")))?;
    parse_mac(word).ok_or_else(|| LabError::Setup(format!("bad MAC {word:?} of {iface}")))
}

/// `aa:bb:cc:dd:ee:ff` → bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

const SEND: &str = "import socket,sys
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)
s.bind((sys.argv[1],0))
f=bytes.fromhex(sys.argv[2])
for _ in range(int(sys.argv[3])): s.send(f)
";

/// Sends `count` copies of `frame`, as it is, out of `iface` in `netns`.
pub fn send(netns: &str, iface: &str, frame: &[u8], count: u32) -> Result<()> {
    let hex = hex(frame);
    let count = count.to_string();
    run(
        "ip",
        &[
            "netns", "exec", netns, "python3", "-c", SEND, iface, &hex, &count,
        ],
    )
    .map(|_| ())
}

/// Receives on one interface until the deadline or enough marked frames;
/// prints `ready` once bound, then `PKTTYPE HEX` per marked frame with its
/// outer tag put back (the kernel hands it over separately).
const CAPTURE: &str = "import socket,struct,sys,time
iface,marker,secs,want=sys.argv[1],bytes.fromhex(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4])
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))
s.setsockopt(263,8,1)
s.bind((iface,0))
print('ready',flush=True)
end=time.monotonic()+secs
n=0
while n<want:
    left=end-time.monotonic()
    if left<=0: break
    s.settimeout(left)
    try: data,anc,_,addr=s.recvmsg(65535,socket.CMSG_SPACE(20))
    except socket.timeout: break
    if marker not in data: continue
    for lvl,typ,c in anc:
        if lvl==263 and typ==8 and len(c)>=20:
            st,_,_,_,_,tci,tpid=struct.unpack('IIIHHHH',c[:20])
            if st&0x10 or tci:
                tpid=tpid if st&0x40 else 0x8100
                data=data[:12]+struct.pack('!HH',tpid,tci)+data[12:]
    print(addr[2],data.hex(),flush=True)
    n+=1
";

/// A frame a [`Capture`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Sent by the interface rather than received (`PACKET_OUTGOING`).
    pub outgoing: bool,
    /// The frame as on the wire, outer tag included.
    pub bytes: Vec<u8>,
}

/// A capture running in the background at one interface, recording every
/// frame that contains a marker. Start it before sending; it is bound (and
/// queueing frames) when [`Capture::start`] returns.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    stdout: BufReader<ChildStdout>,
    what: String,
}

impl Capture {
    /// Captures frames containing `marker` at `iface` in `netns` for at
    /// most `limit`, stopping early once `want` of them have been seen.
    pub fn start(
        netns: &str,
        iface: &str,
        marker: &Marker,
        limit: Duration,
        want: u32,
    ) -> Result<Capture> {
        let what = format!("capture at {iface} in {netns}");
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns, "python3", "-c", CAPTURE, iface])
            .arg(hex(marker))
            .arg(format!("{:.3}", limit.as_secs_f64()))
            .arg(want.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LabError::io(format!("starting the {what}"), e))?;
        let Some(out) = child.stdout.take() else {
            return Err(LabError::Setup(format!("{what}: no stdout")));
        };
        let mut stdout = BufReader::new(out);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        if read.is_err() || line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(LabError::Setup(format!(
                "{what} did not start: {}",
                err.trim()
            )));
        }
        Ok(Capture {
            child,
            stdout,
            what,
        })
    }

    /// Waits for the capture to end (deadline or enough frames) and
    /// returns the marked frames it saw, in arrival order.
    pub fn finish(mut self) -> Result<Vec<Captured>> {
        let mut text = String::new();
        self.stdout
            .read_to_string(&mut text)
            .map_err(|e| LabError::io(format!("reading the {}", self.what), e))?;
        let status = self
            .child
            .wait()
            .map_err(|e| LabError::io(format!("waiting for the {}", self.what), e))?;
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(LabError::Setup(format!(
                "{} failed ({status}): {}",
                self.what,
                err.trim()
            )));
        }
        text.lines()
            .map(|l| {
                let (ty, bytes) = l
                    .split_once(' ')
                    .and_then(|(t, h)| Some((t.parse::<u8>().ok()?, unhex(h)?)))
                    .ok_or_else(|| {
                        LabError::Setup(format!("{}: unreadable line {l:?}", self.what))
                    })?;
                Ok(Captured {
                    outgoing: ty == 4,
                    bytes,
                })
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Still running only when `finish` was not called (a failed test).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_frames_parse_back() {
        let m = marker();
        let f = ethernet(
            BROADCAST,
            [2, 0, 0, 0, 0, 1],
            &[100, 4094],
            ETHERTYPE_EXPERIMENTAL,
            &m,
        );
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 100]);
        let p = parse(&f).unwrap();
        assert_eq!(p.tags, vec![100, 4094]);
        assert_eq!(p.ethertype, ETHERTYPE_EXPERIMENTAL);
        assert_eq!(&p.payload[..16], &m);
        assert_eq!(p.dst, BROADCAST);
    }

    #[test]
    fn vxlan_packets_parse_back_with_a_valid_ip_checksum() {
        let inner = ethernet(
            BROADCAST,
            [2, 0, 0, 0, 0, 1],
            &[7],
            ETHERTYPE_EXPERIMENTAL,
            b"x",
        );
        let outer = VxlanOuter {
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_mac: [2, 0, 0, 0, 0, 3],
            src_ip: Ipv4Addr::new(192, 0, 2, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 11),
            vni: 2000,
            src_port: 49152,
        };
        let p = vxlan(&outer, &inner);
        let v = parse_vxlan(&p).unwrap();
        assert_eq!(
            (v.src_ip, v.dst_ip, v.vni),
            (outer.src_ip, outer.dst_ip, 2000)
        );
        assert_eq!(v.inner, &inner[..]);
        // A header whose checksum is right sums to 0xffff.
        assert_eq!(ipv4_checksum(&p[14..34]), 0);
        assert!(parse_vxlan(&inner).is_none());
    }

    /// Over a real veth pair between two namespaces (root only; skips
    /// otherwise): the tag stack arrives as sent, the outer tag put back
    /// from the kernel's side channel, and only marked frames count.
    #[test]
    fn a_double_tagged_frame_crosses_a_veth_as_sent() {
        if crate::skip_for(
            (!crate::is_root() || !crate::have("python3")).then_some("needs root and python3"),
        ) {
            return;
        }
        let tag = std::process::id() % 100_000;
        let a = crate::Netns::create(&format!("wfr{tag}a")).unwrap();
        let b = crate::Netns::create(&format!("wfr{tag}b")).unwrap();
        a.ip(&[
            "link",
            "add",
            "x0",
            "type",
            "veth",
            "peer",
            "name",
            "x1",
            "netns",
            b.name(),
        ])
        .unwrap();
        a.ip(&["link", "set", "x0", "up"]).unwrap();
        b.ip(&["link", "set", "x1", "up"]).unwrap();
        let src = mac_of(a.name(), "x0").unwrap();
        let m = marker();
        let cap = Capture::start(b.name(), "x1", &m, Duration::from_secs(5), 2).unwrap();
        let other = ethernet(BROADCAST, src, &[5], ETHERTYPE_EXPERIMENTAL, &marker());
        send(a.name(), "x0", &other, 3).unwrap();
        let f = ethernet(BROADCAST, src, &[100, 200], ETHERTYPE_EXPERIMENTAL, &m);
        send(a.name(), "x0", &f, 2).unwrap();
        let got = cap.finish().unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        for c in &got {
            assert!(!c.outgoing);
            assert_eq!(c.bytes, f);
        }
        // Nothing marked arrives: the capture ends empty at its deadline.
        let quiet =
            Capture::start(b.name(), "x1", &marker(), Duration::from_millis(300), 1).unwrap();
        send(a.name(), "x0", &f, 1).unwrap();
        assert!(quiet.finish().unwrap().is_empty());
    }

    #[test]
    fn markers_differ_and_macs_parse() {
        assert_ne!(marker(), marker());
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01:02"), None);
        assert_eq!(unhex("0aff"), Some(vec![10, 255]));
    }
}
