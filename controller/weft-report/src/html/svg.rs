//! The topology picture: spines on top, leaves below them, servers under
//! their leaf; every server port filled with its lessee's colour.
//!
//! Drawn from the report's evidence documents (not validated types), so a
//! page can be rendered from any report that deserialized. Large fabrics
//! are cut to the first [`MAX_LEAVES`] leaves, with a note saying how many
//! were left out: the picture is for people, the data is in the tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use weft_model::spec::{IntentSpec, PortRoleSpec, SwitchRoleSpec, TopologySpec};

use super::esc;

/// Operator colours, in operator-name order, cycling (the palette of
/// `weftctl topology graph`, so both pictures agree).
pub(crate) const PALETTE: [&str; 12] = [
    "#f4a582", "#92c5de", "#b8e186", "#fddc5c", "#c2a5cf", "#80cdc1", "#f1b6da", "#dfc27d",
    "#a6bddb", "#fdae61", "#d9f0a3", "#e7d4e8",
];
pub(crate) const UNLEASED_FILL: &str = "#ffffff";
const FABRIC_FILL: &str = "#d0d0d0";
const MAX_LEAVES: usize = 24;
const MAX_SPINES: usize = 16;

const PORT: i64 = 12;
const SERVER_W: i64 = 64;
const SERVER_H: i64 = 22;
const GAP: i64 = 24;
const SWITCH_H: i64 = 40;

/// Colour per operator name, in the given (sorted) order.
pub(crate) fn colours(operators: &[String]) -> BTreeMap<&str, &'static str> {
    operators
        .iter()
        .enumerate()
        .map(|(i, op)| (op.as_str(), PALETTE[i % PALETTE.len()]))
        .collect()
}

/// Which operator leases each `SWITCH/PORT`.
fn lessees(intent: &IntentSpec) -> BTreeMap<&str, &str> {
    let mut out = BTreeMap::new();
    for op in &intent.operators {
        if let Some(lease) = &op.lease {
            for p in &lease.ports {
                out.insert(p.as_str(), op.name.as_str());
            }
        }
    }
    out
}

struct Placed {
    x: i64,
    w: i64,
}

pub(crate) fn topology_svg(
    topo: &TopologySpec,
    intent: &IntentSpec,
    colour: &BTreeMap<&str, &'static str>,
) -> String {
    let lessee = lessees(intent);
    let all_leaves: Vec<_> = topo
        .switches
        .iter()
        .filter(|s| s.role == SwitchRoleSpec::Leaf)
        .collect();
    let all_spines: Vec<_> = topo
        .switches
        .iter()
        .filter(|s| s.role == SwitchRoleSpec::Spine)
        .collect();
    let leaves = &all_leaves[..all_leaves.len().min(MAX_LEAVES)];
    let spines = &all_spines[..all_spines.len().min(MAX_SPINES)];

    // Servers under the leaf of their first NIC.
    let mut servers_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for server in &topo.servers {
        if let Some(nic) = server.nics.first() {
            let leaf = nic.port.split('/').next().unwrap_or("");
            servers_of
                .entry(leaf)
                .or_default()
                .push(server.name.as_str());
        }
    }

    let per_row = |w: i64| ((w + 6) / (SERVER_W + 6)).max(1);
    let mut placed: BTreeMap<&str, Placed> = BTreeMap::new();
    let mut x = GAP;
    let mut deepest = 0i64;
    for leaf in leaves {
        let ports = i64::try_from(leaf.ports.len()).unwrap_or(0);
        let servers =
            i64::try_from(servers_of.get(leaf.name.as_str()).map_or(0, Vec::len)).unwrap_or(0);
        let w = (ports * (PORT + 2) + 12)
            .max(140)
            .max(servers.min(4) * (SERVER_W + 6));
        let rows = (servers + per_row(w) - 1) / per_row(w);
        deepest = deepest.max(rows);
        placed.insert(leaf.name.as_str(), Placed { x, w });
        x += w + GAP;
    }
    let width = x.max(400);
    let spine_y = 20;
    let leaf_y = spine_y + SWITCH_H + 90;
    let server_y = leaf_y + SWITCH_H + 60;
    let height = server_y + deepest * (SERVER_H + 8) + 50;

    let spine_w = 120;
    let spine_count = i64::try_from(spines.len()).unwrap_or(1).max(1);
    let spine_step = width / spine_count;
    let mut spine_x: BTreeMap<&str, i64> = BTreeMap::new();
    for (i, s) in spines.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        spine_x.insert(s.name.as_str(), spine_step * i + (spine_step - spine_w) / 2);
    }

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="topology" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="Fabric topology: spines, leaves and servers, server ports coloured by lessee">"##
    );
    let port_x = |leaf: &str, port: &str| -> Option<i64> {
        let p = placed.get(leaf)?;
        let sw = leaves.iter().find(|l| l.name == leaf)?;
        let i = sw.ports.iter().position(|q| q.name == port)?;
        Some(p.x + 6 + i64::try_from(i).unwrap_or(0) * (PORT + 2) + PORT / 2)
    };

    // Links first, so switches are drawn over them.
    for link in &topo.links {
        let ends = [link.a.as_str(), link.b.as_str()];
        let mut leaf_end = None;
        let mut spine_end = None;
        for end in ends {
            let (sw, port) = end.split_once('/').unwrap_or((end, ""));
            if let Some(px) = port_x(sw, port) {
                leaf_end = Some(px);
            } else if let Some(sx) = spine_x.get(sw) {
                spine_end = Some(sx + spine_w / 2);
            }
        }
        if let (Some(lx), Some(sx)) = (leaf_end, spine_end) {
            let _ = write!(
                svg,
                r##"<line class="link" x1="{sx}" y1="{}" x2="{lx}" y2="{leaf_y}"><title>{} — {}</title></line>"##,
                spine_y + SWITCH_H,
                esc(&link.a),
                esc(&link.b)
            );
        }
    }

    for spine in spines {
        let sx = spine_x.get(spine.name.as_str()).copied().unwrap_or(0);
        let _ = write!(
            svg,
            r##"<g class="spine"><rect x="{sx}" y="{spine_y}" width="{spine_w}" height="{SWITCH_H}" rx="4"/><text x="{}" y="{}">{}</text></g>"##,
            sx + spine_w / 2,
            spine_y + 25,
            esc(&spine.name)
        );
    }

    for leaf in leaves {
        let Some(p) = placed.get(leaf.name.as_str()) else {
            continue;
        };
        let _ = write!(
            svg,
            r##"<g class="leaf"><rect x="{}" y="{leaf_y}" width="{}" height="{SWITCH_H}" rx="4"/><text x="{}" y="{}">{}</text>"##,
            p.x,
            p.w,
            p.x + p.w / 2,
            leaf_y + SWITCH_H - 8,
            esc(&leaf.name)
        );
        for (i, port) in leaf.ports.iter().enumerate() {
            let px = p.x + 6 + i64::try_from(i).unwrap_or(0) * (PORT + 2);
            let reference = format!("{}/{}", leaf.name, port.name);
            let (fill, who) = match port.role {
                PortRoleSpec::Fabric => (FABRIC_FILL, "fabric port".to_owned()),
                PortRoleSpec::Server => match lessee.get(reference.as_str()) {
                    Some(op) => (
                        colour.get(op).copied().unwrap_or(UNLEASED_FILL),
                        format!("leased to {op}"),
                    ),
                    None => (UNLEASED_FILL, "unleased".to_owned()),
                },
            };
            let _ = write!(
                svg,
                r##"<rect class="port" x="{px}" y="{}" width="{PORT}" height="{PORT}" fill="{fill}"><title>{}: {}</title></rect>"##,
                leaf_y + 4,
                esc(&reference),
                esc(&who)
            );
        }
        svg.push_str("</g>");

        let servers = servers_of
            .get(leaf.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        let row = per_row(p.w);
        for (i, name) in servers.iter().enumerate() {
            let i = i64::try_from(i).unwrap_or(0);
            let sx = p.x + (i % row) * (SERVER_W + 6);
            let sy = server_y + (i / row) * (SERVER_H + 8);
            if let Some(server) = topo.servers.iter().find(|s| s.name == *name) {
                for nic in &server.nics {
                    let (sw, port) = nic.port.split_once('/').unwrap_or(("", ""));
                    if let Some(px) = port_x(sw, port) {
                        let _ = write!(
                            svg,
                            r##"<line class="nic" x1="{px}" y1="{}" x2="{}" y2="{sy}"/>"##,
                            leaf_y + 4 + PORT,
                            sx + SERVER_W / 2
                        );
                    }
                }
            }
            let _ = write!(
                svg,
                r##"<g class="server"><rect x="{sx}" y="{sy}" width="{SERVER_W}" height="{SERVER_H}" rx="3"/><text x="{}" y="{}">{}</text></g>"##,
                sx + SERVER_W / 2,
                sy + 15,
                esc(name)
            );
        }
    }

    let mut note = Vec::new();
    if all_leaves.len() > leaves.len() {
        note.push(format!(
            "{} of {} leaves drawn",
            leaves.len(),
            all_leaves.len()
        ));
    }
    if all_spines.len() > spines.len() {
        note.push(format!(
            "{} of {} spines drawn",
            spines.len(),
            all_spines.len()
        ));
    }
    if !note.is_empty() {
        let _ = write!(
            svg,
            r##"<text class="note" x="{GAP}" y="{}">{}</text>"##,
            height - 14,
            esc(&note.join("; "))
        );
    }
    svg.push_str("</svg>");
    svg
}
