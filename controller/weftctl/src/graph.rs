//! `weftctl topology graph`: the fabric as a Graphviz DOT document.
//!
//! Sites and racks are clusters (`cluster_site_NAME`, `cluster_RACK`),
//! switches are HTML-label nodes with one cell per port (`PORT="pN"`, N the
//! OpenFlow number), links and server NICs are edges to those cells. With
//! an intent, each server port is filled with its lessee's colour (a fixed
//! palette in operator-name order) and a legend cluster names the colours.
//! The output depends only on the inputs: every list is walked in sorted
//! order, so the same files give the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use weft_model::{AttachMode, Intent, PortKey, PortRole, Switch, SwitchId, Topology};

/// Operator colours, in operator-name order, cycling past the twelfth.
/// Light fills so that black port names stay readable.
pub const PALETTE: [&str; 12] = [
    "#f4a582", "#92c5de", "#b8e186", "#fddc5c", "#c2a5cf", "#80cdc1", "#f1b6da", "#dfc27d",
    "#a6bddb", "#fdae61", "#d9f0a3", "#e7d4e8",
];
const FABRIC_PORT: &str = "#d0d0d0";
const FREE_PORT: &str = "#ffffff";
/// Port cells per row of a switch's table, so a spine with hundreds of
/// ports wraps instead of growing one row kilometres wide.
const PORTS_PER_ROW: usize = 24;

/// Who uses a server port, per the intent.
#[derive(Debug, Default)]
struct PortUse<'a> {
    lessee: Option<(usize, &'a str)>,
    attachments: Vec<(&'a str, AttachMode)>,
}

pub fn dot(topology: &Topology, intent: Option<&Intent>) -> String {
    let uses = port_uses(intent);
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", quote(topology.name.as_str()));
    let encap = match topology.encapsulation {
        weft_model::Encapsulation::Vxlan => "vxlan",
        weft_model::Encapsulation::Vlan => "vlan",
    };
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, fontname=\"Helvetica\", newrank=true, rankdir=TB];",
        quote(&format!("fabric {} ({encap})", topology.name))
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=8];\n");

    // Switches and servers by rack; those without a rack sit at the top level.
    let mut by_rack: BTreeMap<Option<&str>, (Vec<SwitchId>, Vec<usize>)> = BTreeMap::new();
    for id in topology.switch_ids() {
        let rack = topology.switch(id).rack.as_ref().map(|r| r.as_str());
        by_rack.entry(rack).or_default().0.push(id);
    }
    for (i, server) in topology.servers.iter().enumerate() {
        let rack = server.rack.as_ref().map(|r| r.as_str());
        by_rack.entry(rack).or_default().1.push(i);
    }
    let mut placed: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let rack_body = |out: &mut String, rack: Option<&str>, indent: &str| {
        if let Some((switches, servers)) = by_rack.get(&rack) {
            for &id in switches {
                switch_node(out, topology, id, &uses, indent);
            }
            for &i in servers {
                let s = &topology.servers[i];
                let _ = writeln!(
                    out,
                    "{indent}{} [shape=box, style=rounded, label={}];",
                    quote(&server_id(s.name.as_str())),
                    quote(s.name.as_str())
                );
            }
        }
    };
    for site in &topology.sites {
        let _ = writeln!(
            out,
            "  subgraph {} {{",
            quote(&format!("cluster_site_{}", site.name))
        );
        let _ = writeln!(
            out,
            "    label={}; style=dashed; color=\"#808080\";",
            quote(site.name.as_str())
        );
        for rack in &site.racks {
            placed.insert(rack.as_str());
            rack_cluster(&mut out, rack.as_str(), "    ", |o| {
                rack_body(o, Some(rack.as_str()), "      ")
            });
        }
        out.push_str("  }\n");
    }
    for rack in by_rack.keys().flatten() {
        if !placed.contains(rack) {
            rack_cluster(&mut out, rack, "  ", |o| rack_body(o, Some(rack), "    "));
        }
    }
    rack_body(&mut out, None, "  ");

    // Edges go from the upper node to the lower one (spines above leaves
    // above servers), leaving port cells on the facing side.
    for link in &topology.links {
        let role = |k: PortKey| topology.switch(k.switch).role;
        let (upper, lower) = if role(link.a) == weft_model::SwitchRole::Leaf
            && role(link.b) == weft_model::SwitchRole::Spine
        {
            (link.b, link.a)
        } else {
            (link.a, link.b)
        };
        let _ = writeln!(
            out,
            "  {}:s -- {}:n;",
            port_endpoint(topology, upper),
            port_endpoint(topology, lower)
        );
    }
    for server in &topology.servers {
        for nic in &server.nics {
            let colour = uses
                .get(&nic.port)
                .and_then(|u| u.lessee)
                .map(|(i, _)| colour(i));
            let _ = write!(
                out,
                "  {}:s -- {}:n [label={}",
                port_endpoint(topology, nic.port),
                quote(&server_id(server.name.as_str())),
                quote(nic.name.as_str())
            );
            if let Some(c) = colour {
                let _ = write!(out, ", color={}, penwidth=2", quote(c));
            }
            out.push_str("];\n");
        }
    }
    if let Some(intent) = intent {
        legend(&mut out, intent);
    }
    out.push_str("}\n");
    out
}

fn rack_cluster(out: &mut String, rack: &str, indent: &str, body: impl FnOnce(&mut String)) {
    let _ = writeln!(
        out,
        "{indent}subgraph {} {{",
        quote(&format!("cluster_{rack}"))
    );
    let _ = writeln!(
        out,
        "{indent}  label={}; style=rounded; color=\"#404040\";",
        quote(rack)
    );
    body(out);
    let _ = writeln!(out, "{indent}}}");
}

fn port_uses(intent: Option<&Intent>) -> BTreeMap<PortKey, PortUse<'_>> {
    let mut uses: BTreeMap<PortKey, PortUse<'_>> = BTreeMap::new();
    let Some(intent) = intent else { return uses };
    for (i, op) in intent.operators.values().enumerate() {
        if let Some(lease) = &op.lease {
            for port in &lease.ports {
                uses.entry(*port).or_default().lessee = Some((i, op.name.as_str()));
            }
        }
        for net in op.networks.values() {
            for (port, mode) in &net.attachments {
                uses.entry(*port)
                    .or_default()
                    .attachments
                    .push((net.name.as_str(), *mode));
            }
        }
    }
    uses
}

fn colour(operator_index: usize) -> &'static str {
    PALETTE[operator_index % PALETTE.len()]
}

fn switch_node(
    out: &mut String,
    topology: &Topology,
    id: SwitchId,
    uses: &BTreeMap<PortKey, PortUse<'_>>,
    indent: &str,
) {
    let sw: &Switch = topology.switch(id);
    let columns = sw.ports.len().clamp(1, PORTS_PER_ROW);
    let role = match sw.role {
        weft_model::SwitchRole::Leaf => "leaf",
        weft_model::SwitchRole::Spine => "spine",
    };
    let dataplane = match sw.dataplane {
        weft_model::Dataplane::Ovs => "ovs",
        weft_model::Dataplane::Linux => "linux",
    };
    let vtep = sw.vtep.map_or(String::new(), |v| format!(" · vtep {v}"));
    let mut label = format!(
        "<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\">\
         <TR><TD COLSPAN=\"{columns}\" BGCOLOR=\"#f0f0f0\"><B>{}</B><BR/>{role} · {dataplane}{vtep}</TD></TR>",
        html(sw.name.as_str())
    );
    for row in sw.ports.chunks(PORTS_PER_ROW) {
        label.push_str("<TR>");
        for port in row {
            let key = PortKey {
                switch: id,
                port: port.number,
            };
            let usage = uses.get(&key);
            let fill = match (port.role, usage.and_then(|u| u.lessee)) {
                (PortRole::Fabric, _) => FABRIC_PORT,
                (PortRole::Server, Some((i, _))) => colour(i),
                (PortRole::Server, None) => FREE_PORT,
            };
            let tooltip = tooltip(port.name.as_str(), port.number.get(), usage);
            let _ = write!(
                label,
                "<TD PORT=\"p{}\" BGCOLOR=\"{fill}\" TOOLTIP=\"{}\">{}</TD>",
                port.number,
                html(&tooltip),
                html(port.name.as_str())
            );
        }
        label.push_str("</TR>");
    }
    label.push_str("</TABLE>");
    let _ = writeln!(
        out,
        "{indent}{} [shape=plaintext, label=<{label}>];",
        quote(&switch_node_id(sw))
    );
}

fn tooltip(name: &str, number: u32, usage: Option<&PortUse<'_>>) -> String {
    let mut t = format!("{name} (port {number})");
    if let Some(u) = usage {
        if let Some((_, op)) = u.lessee {
            let _ = write!(t, ", leased to {op}");
        }
        for (net, mode) in &u.attachments {
            match mode {
                AttachMode::Access => {
                    let _ = write!(t, ", {net} access");
                }
                AttachMode::Tagged(tag) => {
                    let _ = write!(t, ", {net} tagged {tag}");
                }
            }
        }
    }
    t
}

fn legend(out: &mut String, intent: &Intent) {
    out.push_str("  subgraph \"cluster_legend\" {\n    label=\"operators\"; style=rounded; color=\"#808080\";\n");
    let mut rows = String::new();
    for (i, op) in intent.operators.values().enumerate() {
        let name = match &op.display_name {
            Some(d) => format!("{} ({})", op.name, d),
            None => op.name.to_string(),
        };
        let _ = write!(
            rows,
            "<TR><TD BGCOLOR=\"{}\" WIDTH=\"16\"></TD><TD ALIGN=\"LEFT\">{}</TD></TR>",
            colour(i),
            html(&name)
        );
    }
    let _ = write!(
        rows,
        "<TR><TD BGCOLOR=\"{FREE_PORT}\"></TD><TD ALIGN=\"LEFT\">server port, not leased</TD></TR>\
         <TR><TD BGCOLOR=\"{FABRIC_PORT}\"></TD><TD ALIGN=\"LEFT\">fabric port</TD></TR>"
    );
    let _ = writeln!(
        out,
        "    \"legend\" [shape=plaintext, label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"2\">{rows}</TABLE>>];\n  }}"
    );
}

fn switch_node_id(sw: &Switch) -> String {
    format!("switch:{}", sw.name)
}

fn server_id(name: &str) -> String {
    format!("server:{name}")
}

fn port_endpoint(topology: &Topology, key: PortKey) -> String {
    format!(
        "{}:\"p{}\"",
        quote(&switch_node_id(topology.switch(key.switch))),
        key.port
    )
}

/// A DOT double-quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Text inside an HTML-like label.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `weftctl topology graph FILE [--intent FILE]`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Topology file.
    file: std::path::PathBuf,
    /// Intent file: fill each server port with its lessee's colour.
    #[arg(long, value_name = "FILE")]
    intent: Option<std::path::PathBuf>,
}

pub fn run(args: &GraphArgs, out: &mut crate::out::Out) -> anyhow::Result<crate::exit::Outcome> {
    use crate::exit::Outcome;
    let Some(topology) = crate::load::topology(&args.file, out)? else {
        return Ok(Outcome::Invalid);
    };
    let intent = match &args.intent {
        None => None,
        Some(path) => match crate::load::intent(path, &topology, out)? {
            Some(intent) => Some(intent),
            None => return Ok(Outcome::Invalid),
        },
    };
    out.data(&dot(&topology, intent.as_ref()))?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_dot_and_html_labels() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            html("<Alpha & \"Co\">"),
            "&lt;Alpha &amp; &quot;Co&quot;&gt;"
        );
    }

    #[test]
    fn colours_cycle_through_the_palette() {
        assert_eq!(colour(0), PALETTE[0]);
        assert_eq!(colour(PALETTE.len() + 1), PALETTE[1]);
    }

    #[test]
    fn tooltips_name_lessee_and_networks() {
        let tag = weft_model::VlanId::new(100).unwrap();
        let usage = PortUse {
            lessee: Some((0, "alpha")),
            attachments: vec![
                ("prod", AttachMode::Tagged(tag)),
                ("backup", AttachMode::Access),
            ],
        };
        assert_eq!(
            tooltip("eth1", 1, Some(&usage)),
            "eth1 (port 1), leased to alpha, prod tagged 100, backup access"
        );
        assert_eq!(tooltip("up1", 5, None), "up1 (port 5)");
    }
}
