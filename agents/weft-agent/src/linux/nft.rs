//! The drops, as two nftables tables named `weft`, driven through the `nft`
//! binary.
//!
//! * `table netdev weft`: one ingress chain per device (`dev_<ifname>`),
//!   running before 802.1Q demultiplexing and before the bridge. It drops
//!   everything on unattached server ports, tagged frames on access ports
//!   and on every `weftv…` / sub-interface (the tag guard), and lets only
//!   attached tags through on ports with tagged attachments.
//! * `table inet weft`: on local input, VXLAN packets (UDP 4789) of a VNI
//!   Weft serves are dropped unless their (outer source, VNI) pair is in
//!   the `vteps` set: the kernel's VXLAN driver itself accepts any source.
//!
//! Why nftables and not tc: this project's kernels have no tc classifier
//! at all (`u32`, `flower`, `matchall`, `basic` are all missing), while
//! nftables netdev ingress hooks work. Why the `nft` binary and not
//! nf_tables netlink from Rust: the kernel's nf_tables API is a batch of
//! low-level expressions whose only maintained encoder is libnftnl (C); the
//! `nft` tool compiles rules, applies a whole script as **one
//! transaction**, and prints what is installed as JSON, which is exactly
//! what mark-and-sweep needs. The cost is a process per read (twice per
//! reconcile, about a millisecond each) and one per change.
//!
//! The tables are rendered deterministically from an [`NftState`] and
//! replaced as a whole (`table …; delete table …; table … { … }` in one
//! `nft -f -` run, so the old and new rules never coexist and no packet
//! sees an empty table) — but only when the installed tables, parsed back
//! into an `NftState`, differ. Anything in them that the parser does not
//! recognise makes them differ, so out-of-band edits are repaired.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::names::is_plain_ifname;
use crate::backend::BackendError;

/// Chain priority of the ingress chains: before anything else hooked there.
pub const PRIORITY: i64 = -500;
const CHAIN_PREFIX: &str = "dev_";

/// What one device lets in.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortFilter {
    /// Untagged frames pass; tagged ones (802.1Q, 802.1ad) not in `tags`
    /// are dropped.
    pub untagged: bool,
    /// Outermost 802.1Q tags that pass.
    pub tags: BTreeSet<u16>,
}

impl PortFilter {
    /// Everything is dropped (unattached server port).
    pub fn drop_all() -> Self {
        PortFilter::default()
    }

    /// Untagged frames only (access port, tag guard).
    pub fn untagged_only() -> Self {
        PortFilter {
            untagged: true,
            tags: BTreeSet::new(),
        }
    }

    pub fn drops_everything(&self) -> bool {
        !self.untagged && self.tags.is_empty()
    }
}

/// Everything the two tables say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftState {
    /// Ingress filter per device name.
    pub devices: BTreeMap<String, PortFilter>,
    /// VNIs whose VXLAN packets must come from a known VTEP.
    pub guarded_vnis: BTreeSet<u32>,
    /// Accepted (outer source, VNI) pairs.
    pub vteps: BTreeSet<(Ipv4Addr, u32)>,
}

/// One canonical rule of a device chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DevRule {
    AcceptVid(u16),
    DropEtherType(&'static str),
    DropAll,
}

fn dev_rules(f: &PortFilter) -> Vec<DevRule> {
    let mut r: Vec<DevRule> = f.tags.iter().map(|&t| DevRule::AcceptVid(t)).collect();
    if f.untagged {
        r.push(DevRule::DropEtherType("8021q"));
        r.push(DevRule::DropEtherType("8021ad"));
    } else {
        r.push(DevRule::DropAll);
    }
    r
}

/// The `nft -f` script that replaces both tables with `state`.
pub fn render(state: &NftState) -> String {
    let mut s = String::new();
    s.push_str("table netdev weft\ndelete table netdev weft\ntable netdev weft {\n");
    for (dev, filter) in &state.devices {
        let _ = writeln!(s, "\tchain {CHAIN_PREFIX}{dev} {{");
        let _ = writeln!(
            s,
            "\t\ttype filter hook ingress device \"{dev}\" priority {PRIORITY}; policy accept;"
        );
        for rule in dev_rules(filter) {
            let _ = match rule {
                DevRule::AcceptVid(t) => writeln!(s, "\t\tvlan id {t} accept"),
                DevRule::DropEtherType(t) => writeln!(s, "\t\tether type {t} drop"),
                DevRule::DropAll => writeln!(s, "\t\tdrop"),
            };
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\ntable inet weft\ndelete table inet weft\ntable inet weft {\n");
    s.push_str("\tset vnis {\n\t\ttypeof @th,96,24\n");
    if !state.guarded_vnis.is_empty() {
        let v: Vec<String> = state.guarded_vnis.iter().map(u32::to_string).collect();
        let _ = writeln!(s, "\t\telements = {{ {} }}", v.join(", "));
    }
    s.push_str("\t}\n\tset vteps {\n\t\ttypeof ip saddr . @th,96,24\n");
    if !state.vteps.is_empty() {
        let v: Vec<String> = state
            .vteps
            .iter()
            .map(|(ip, vni)| format!("{ip} . {vni}"))
            .collect();
        let _ = writeln!(s, "\t\telements = {{ {} }}", v.join(", "));
    }
    s.push_str("\t}\n\tchain input {\n");
    let _ = writeln!(
        s,
        "\t\ttype filter hook input priority {PRIORITY}; policy accept;"
    );
    s.push_str("\t\tudp dport 4789 @th,96,24 @vnis ip saddr . @th,96,24 != @vteps drop\n");
    s.push_str("\t}\n}\n");
    s
}

/// Parses the JSON listings of the two tables (`None` = table absent) back
/// into an [`NftState`]. `Err` says what is not in canonical form.
pub fn parse(netdev: Option<&Value>, inet: Option<&Value>) -> Result<NftState, String> {
    let mut state = NftState::default();
    let netdev = netdev.ok_or("table netdev weft is missing")?;
    let inet = inet.ok_or("table inet weft is missing")?;
    let mut chains: BTreeMap<String, Vec<DevRule>> = BTreeMap::new();
    for obj in objects(netdev)? {
        match obj {
            ("metainfo", _) | ("table", _) => {}
            ("chain", c) => {
                let name = str_field(c, "name")?;
                let dev = name
                    .strip_prefix(CHAIN_PREFIX)
                    .filter(|d| is_plain_ifname(d))
                    .ok_or_else(|| format!("unknown chain {name}"))?;
                let hook_ok = c.get("type") == Some(&json!("filter"))
                    && c.get("hook") == Some(&json!("ingress"))
                    && c.get("prio") == Some(&json!(PRIORITY))
                    && c.get("policy") == Some(&json!("accept"));
                if !hook_ok {
                    return Err(format!("chain {name} is not hooked as Weft hooks it"));
                }
                chains.insert(dev.to_string(), Vec::new());
            }
            ("rule", r) => {
                let chain = str_field(r, "chain")?;
                let dev = chain.strip_prefix(CHAIN_PREFIX).unwrap_or(chain);
                let rule = parse_dev_rule(r.get("expr"))
                    .ok_or_else(|| format!("unknown rule in chain {chain}"))?;
                chains
                    .get_mut(dev)
                    .ok_or_else(|| format!("rule of unknown chain {chain}"))?
                    .push(rule);
            }
            (other, _) => return Err(format!("unexpected {other} in table netdev weft")),
        }
    }
    // A chain made only of rules Weft writes, but not in a form Weft
    // writes (emptied with `nft flush chain`, reordered, partly deleted),
    // counts as no filter on that one device: it drops at most what those
    // rules drop, so reading it as "accepts everything" over-approximates,
    // and the other devices' filters still hold. A rule of any other kind
    // (which could forward or duplicate frames) makes the whole table
    // unreadable, as above.
    for (dev, rules) in chains {
        if let Some(filter) = filter_of(&rules) {
            state.devices.insert(dev, filter);
        }
    }
    let mut have_input = false;
    let mut have = (false, false);
    let mut guards = 0;
    for obj in objects(inet)? {
        match obj {
            ("metainfo", _) | ("table", _) => {}
            ("set", s) if s.get("name") == Some(&json!("vnis")) => {
                have.0 = true;
                for e in elems(s) {
                    let v = e.as_u64().and_then(|v| u32::try_from(v).ok());
                    state
                        .guarded_vnis
                        .insert(v.ok_or("bad element in set vnis")?);
                }
            }
            ("set", s) if s.get("name") == Some(&json!("vteps")) => {
                have.1 = true;
                for e in elems(s) {
                    let pair = e.get("concat").and_then(Value::as_array).and_then(|c| {
                        let ip: Ipv4Addr = c.first()?.as_str()?.parse().ok()?;
                        let vni = u32::try_from(c.get(1)?.as_u64()?).ok()?;
                        Some((ip, vni))
                    });
                    state.vteps.insert(pair.ok_or("bad element in set vteps")?);
                }
            }
            ("chain", c) => {
                let ok = c.get("name") == Some(&json!("input"))
                    && c.get("type") == Some(&json!("filter"))
                    && c.get("hook") == Some(&json!("input"))
                    && c.get("prio") == Some(&json!(PRIORITY))
                    && c.get("policy") == Some(&json!("accept"));
                if !ok || have_input {
                    return Err("chain input of table inet weft is not canonical".into());
                }
                have_input = true;
            }
            ("rule", r) => {
                if r.get("chain") != Some(&json!("input"))
                    || r.get("expr") != Some(&tunnel_guard_expr())
                {
                    return Err("unknown rule in table inet weft".into());
                }
                guards += 1;
            }
            (other, _) => return Err(format!("unexpected {other} in table inet weft")),
        }
    }
    if guards != 1 || !have_input || have != (true, true) {
        return Err("table inet weft lacks its tunnel guard".into());
    }
    Ok(state)
}

fn objects(listing: &Value) -> Result<Vec<(&str, &Value)>, String> {
    let arr = listing
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("not an nft JSON listing")?;
    let mut out = Vec::new();
    for o in arr {
        let map = o.as_object().ok_or("not an nft JSON object")?;
        for (k, v) in map {
            out.push((k.as_str(), v));
        }
    }
    Ok(out)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {key}"))
}

fn elems(set: &Value) -> Vec<&Value> {
    set.get("elem")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn parse_dev_rule(expr: Option<&Value>) -> Option<DevRule> {
    let expr = expr?.as_array()?;
    match expr.as_slice() {
        [v] if v == &json!({"drop": null}) => Some(DevRule::DropAll),
        [m, verdict] => {
            let m = m.get("match")?;
            if m.get("op") != Some(&json!("==")) {
                return None;
            }
            let left = m.get("left")?.get("payload")?;
            let right = m.get("right")?;
            let field = (
                left.get("protocol")?.as_str()?,
                left.get("field")?.as_str()?,
            );
            match (field, verdict) {
                (("vlan", "id"), v) if v == &json!({"accept": null}) => {
                    Some(DevRule::AcceptVid(u16::try_from(right.as_u64()?).ok()?))
                }
                (("ether", "type"), v) if v == &json!({"drop": null}) => match right.as_str()? {
                    "8021q" => Some(DevRule::DropEtherType("8021q")),
                    "8021ad" => Some(DevRule::DropEtherType("8021ad")),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// The filter a chain's rules express, if they are exactly what
/// [`render`] writes for it.
fn filter_of(rules: &[DevRule]) -> Option<PortFilter> {
    let tags: BTreeSet<u16> = rules
        .iter()
        .filter_map(|r| match r {
            DevRule::AcceptVid(t) => Some(*t),
            _ => None,
        })
        .collect();
    let untagged = rules.contains(&DevRule::DropEtherType("8021q"));
    let f = PortFilter { untagged, tags };
    (dev_rules(&f) == rules).then_some(f)
}

fn tunnel_guard_expr() -> Value {
    let th = json!({"payload": {"base": "th", "offset": 96, "len": 24}});
    json!([
        {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 4789}},
        {"match": {"op": "==", "left": th, "right": "@vnis"}},
        {"match": {"op": "!=", "left": {"concat": [{"payload": {"protocol": "ip", "field": "saddr"}}, th]}, "right": "@vteps"}},
        {"drop": null}
    ])
}

/// How to run `nft` (inside the leaf's namespace when there is one).
#[derive(Debug, Clone)]
pub struct Nft {
    pub nft: PathBuf,
    pub ip: PathBuf,
    pub netns: Option<String>,
}

/// What is installed: both tables, parsed, or why they are not canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Canonical(NftState),
    Other(String),
}

impl Installed {
    pub fn state(&self) -> Option<&NftState> {
        match self {
            Installed::Canonical(s) => Some(s),
            Installed::Other(_) => None,
        }
    }
}

impl Nft {
    fn command(&self) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new(&self.ip);
                c.arg("netns").arg("exec").arg(ns).arg(&self.nft);
                c
            }
            None => Command::new(&self.nft),
        }
    }

    /// `nft -j list table FAMILY weft`; `None` when the table is absent.
    fn list(&self, family: &str) -> Result<Option<Value>, BackendError> {
        let out = self
            .command()
            .args(["-j", "list", "table", family, "weft"])
            .output()
            .map_err(|e| BackendError::Unavailable(format!("cannot run nft: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(BackendError::Unavailable(format!(
                "nft list table {family} weft: {}",
                err.trim()
            )));
        }
        serde_json::from_slice(&out.stdout)
            .map(Some)
            .map_err(|e| BackendError::Unavailable(format!("nft printed bad JSON: {e}")))
    }

    /// Reads both tables back.
    pub fn read(&self) -> Result<Installed, BackendError> {
        let netdev = self.list("netdev")?;
        let inet = self.list("inet")?;
        Ok(match parse(netdev.as_ref(), inet.as_ref()) {
            Ok(s) => Installed::Canonical(s),
            Err(why) => Installed::Other(why),
        })
    }

    /// Replaces both tables with `state` in one transaction.
    pub fn replace(&self, state: &NftState) -> Result<(), BackendError> {
        let script = render(state);
        let mut child = self
            .command()
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BackendError::Unavailable(format!("cannot run nft: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| BackendError::Unavailable(format!("nft stdin: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| BackendError::Unavailable(format!("nft: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(BackendError::Refused(format!(
                "nft rejected the weft tables: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NftState {
        let mut s = NftState::default();
        s.devices.insert("eth1".into(), PortFilter::untagged_only());
        s.devices.insert("eth2".into(), PortFilter::drop_all());
        s.devices.insert(
            "eth3".into(),
            PortFilter {
                untagged: false,
                tags: [10, 20].into(),
            },
        );
        s.guarded_vnis = [1000, 2000].into();
        s.vteps = [(Ipv4Addr::new(10, 0, 0, 11), 1000)].into();
        s
    }

    #[test]
    fn render_is_deterministic_and_replaces_both_tables_in_one_script() {
        let text = render(&sample());
        assert_eq!(text, render(&sample()));
        // Create-if-missing, delete, define: one transaction.
        assert!(
            text.starts_with("table netdev weft\ndelete table netdev weft\ntable netdev weft {\n")
        );
        assert!(text.contains("table inet weft\ndelete table inet weft\n"));
        assert!(text.contains("\tchain dev_eth2 {\n\t\ttype filter hook ingress device \"eth2\" priority -500; policy accept;\n\t\tdrop\n\t}\n"));
        assert!(text.contains("\t\tvlan id 10 accept\n\t\tvlan id 20 accept\n\t\tdrop\n"));
        assert!(text.contains("\t\tether type 8021q drop\n\t\tether type 8021ad drop\n"));
        assert!(text.contains("elements = { 1000, 2000 }"));
        assert!(text.contains("elements = { 10.0.0.11 . 1000 }"));
    }

    /// The JSON `nft -j list table` printed on this project's machines for
    /// the rendered tables (nft 1.0.6), trimmed to one chain of each kind.
    fn listing() -> (Value, Value) {
        let netdev = json!({"nftables": [
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "netdev", "name": "weft", "handle": 1}},
            {"chain": {"family": "netdev", "table": "weft", "name": "dev_eth1", "handle": 1, "type": "filter", "hook": "ingress", "prio": -500, "policy": "accept"}},
            {"chain": {"family": "netdev", "table": "weft", "name": "dev_eth2", "handle": 2, "type": "filter", "hook": "ingress", "prio": -500, "policy": "accept"}},
            {"rule": {"family": "netdev", "table": "weft", "chain": "dev_eth1", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "8021q"}}, {"drop": null}]}},
            {"rule": {"family": "netdev", "table": "weft", "chain": "dev_eth1", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "8021ad"}}, {"drop": null}]}},
            {"rule": {"family": "netdev", "table": "weft", "chain": "dev_eth2", "handle": 5, "expr": [{"drop": null}]}}
        ]});
        let inet = json!({"nftables": [
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "inet", "name": "weft", "handle": 2}},
            {"set": {"family": "inet", "name": "vnis", "table": "weft", "type": "integer", "handle": 2, "elem": [1000]}},
            {"set": {"family": "inet", "name": "vteps", "table": "weft", "type": ["ipv4_addr", "integer"], "handle": 3, "elem": [{"concat": ["10.0.0.11", 1000]}]}},
            {"chain": {"family": "inet", "table": "weft", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": -500, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "weft", "chain": "input", "handle": 4, "expr": tunnel_guard_expr()}}
        ]});
        (netdev, inet)
    }

    #[test]
    fn listing_parses_back_to_the_state() {
        let (n, i) = listing();
        let got = parse(Some(&n), Some(&i)).unwrap();
        let mut want = NftState::default();
        want.devices
            .insert("eth1".into(), PortFilter::untagged_only());
        want.devices.insert("eth2".into(), PortFilter::drop_all());
        want.guarded_vnis = [1000].into();
        want.vteps = [(Ipv4Addr::new(10, 0, 0, 11), 1000)].into();
        assert_eq!(got, want);
    }

    #[test]
    fn anything_out_of_form_is_not_canonical_or_not_a_filter() {
        let (n, i) = listing();
        assert!(parse(None, Some(&i)).is_err());
        assert!(parse(Some(&n), None).is_err());
        // A rule someone added to a device chain.
        let mut extra = n.clone();
        extra["nftables"]
            .as_array_mut()
            .unwrap()
            .push(json!({"rule": {"chain": "dev_eth2", "expr": [{"accept": null}]}}));
        assert!(parse(Some(&extra), Some(&i)).is_err());
        // Weft's own kind of rules in a non-canonical order (drop-all
        // before the accept): that device alone reads as unfiltered.
        let mut reordered = n.clone();
        reordered["nftables"].as_array_mut().unwrap().push(json!({"rule": {"chain": "dev_eth2", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "vlan", "field": "id"}}, "right": 5}}, {"accept": null}]}}));
        let got = parse(Some(&reordered), Some(&i)).unwrap();
        assert!(!got.devices.contains_key("eth2"), "{got:?}");
        assert_eq!(got.devices.get("eth1"), Some(&PortFilter::untagged_only()));
        // A flushed chain (no rules): the same.
        let mut flushed = n.clone();
        flushed["nftables"]
            .as_array_mut()
            .unwrap()
            .retain(|o| o["rule"]["chain"] != json!("dev_eth2"));
        let got = parse(Some(&flushed), Some(&i)).unwrap();
        assert!(!got.devices.contains_key("eth2"), "{got:?}");
        assert_eq!(got.devices.len(), 1);
        // The guard rule removed.
        let mut unguarded = i.clone();
        unguarded["nftables"].as_array_mut().unwrap().pop();
        assert!(parse(Some(&n), Some(&unguarded)).is_err());
        // A foreign chain.
        let mut foreign = n;
        foreign["nftables"].as_array_mut().unwrap().push(json!({"chain": {"name": "mine", "type": "filter", "hook": "ingress", "prio": 0, "policy": "accept"}}));
        assert!(parse(Some(&foreign), Some(&i)).is_err());
    }

    #[test]
    fn every_filter_survives_its_own_rules() {
        for f in [
            PortFilter::drop_all(),
            PortFilter::untagged_only(),
            PortFilter {
                untagged: true,
                tags: [7].into(),
            },
            PortFilter {
                untagged: false,
                tags: [7, 4094].into(),
            },
        ] {
            assert_eq!(filter_of(&dev_rules(&f)), Some(f));
        }
    }
}
