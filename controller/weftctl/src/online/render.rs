//! The three output formats of the online commands: aligned text for
//! people, canonical JSON (sorted keys) and YAML for scripts. The views in
//! [`super::views`] are the data; this file only lays them out.

use clap::ValueEnum;
use serde::Serialize;

use super::error::OnlineError;
use super::views::{
    AttachmentView, FabricStatusView, LeaseView, MutationView, NetworkDetailView,
    NetworkStatusView, NetworkView, OperatorView, PlanView, ResourceView, SwitchView, TopologyView,
    WatchEventView,
};
use crate::json;
use crate::out::Out;
use crate::table::{Align, Table};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// JSON with sorted keys (one compact object per line for `watch`).
    Json,
    /// YAML.
    Yaml,
}

/// Writes `value` in `format`; `table` lays it out for people.
pub fn emit<T: Serialize>(
    out: &mut Out,
    format: Format,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<(), OnlineError> {
    let text = match format {
        Format::Table => table(value),
        // Our own views always serialize; a failure here is a bug, and is
        // reported as one rather than dressed up as a user error.
        Format::Json => json::to_canonical(value).map_err(std::io::Error::other)?,
        Format::Yaml => serde_saphyr::to_string(value).map_err(std::io::Error::other)?,
    };
    out.data(&text)?;
    Ok(())
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

/// `key  value` lines, keys padded to one width.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

pub fn operators(ops: &[OperatorView]) -> String {
    let mut t = Table::new(&[
        ("OPERATOR", Align::Left),
        ("DISPLAY NAME", Align::Left),
        ("ETAG", Align::Left),
    ]);
    for o in ops {
        t.row(vec![o.id.clone(), or_dash(&o.display_name), o.etag.clone()]);
    }
    t.render()
}

pub fn lease(l: &LeaseView) -> String {
    let quota = |q: Option<u32>| q.map_or_else(|| "default".to_owned(), |n| n.to_string());
    let mut rows = vec![
        ("operator", l.operator.clone()),
        ("ports", or_dash(&l.ports.join(", "))),
        ("vni range", or_dash(&l.vni_range)),
    ];
    if let Some(vlan) = &l.vlan_range {
        rows.push(("vlan range", vlan.clone()));
    }
    rows.extend([
        ("quota networks", quota(l.quotas.networks)),
        ("quota attachments", quota(l.quotas.attachments)),
        ("quota entries/switch", quota(l.quotas.entries_per_switch)),
        ("etag", l.etag.clone()),
    ]);
    fields(&rows)
}

pub fn networks(nets: &[NetworkView]) -> String {
    let mut t = Table::new(&[
        ("NETWORK", Align::Left),
        ("VNI", Align::Right),
        ("FABRIC VLAN", Align::Right),
        ("ETAG", Align::Left),
    ]);
    for n in nets {
        t.row(vec![
            format!("{}/{}", n.operator, n.id),
            n.vni.to_string(),
            n.fabric_vlan
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
            n.etag.clone(),
        ]);
    }
    t.render()
}

pub fn network_detail(d: &NetworkDetailView) -> String {
    let n = &d.network;
    let mut rows = vec![("network", n.name.clone()), ("vni", n.vni.to_string())];
    if let Some(v) = n.fabric_vlan {
        rows.push(("fabric vlan", v.to_string()));
    }
    rows.push(("etag", n.etag.clone()));
    let mut text = fields(&rows);
    text.push('\n');
    if d.attachments.is_empty() {
        text.push_str("no attachments\n");
    } else {
        text.push_str(&attachments(&d.attachments));
    }
    text
}

pub fn attachments(atts: &[AttachmentView]) -> String {
    let mut t = Table::new(&[
        ("PORT", Align::Left),
        ("MODE", Align::Left),
        ("VLAN", Align::Right),
    ]);
    for a in atts {
        t.row(vec![
            a.port.clone(),
            a.mode.to_owned(),
            a.vlan_id.map_or_else(|| "-".to_owned(), |v| v.to_string()),
        ]);
    }
    t.render()
}

fn switches(sw: &[SwitchView]) -> String {
    let mut t = Table::new(&[
        ("SWITCH", Align::Left),
        ("DESIRED", Align::Right),
        ("ACKED", Align::Right),
        ("CONNECTED", Align::Left),
        ("BACKEND", Align::Left),
        ("LAST ERROR", Align::Left),
    ]);
    for s in sw {
        t.row(vec![
            s.switch.clone(),
            s.desired_generation.to_string(),
            s.acked_generation.to_string(),
            yes_no(s.connected),
            or_dash(&s.backend),
            s.last_error.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    t.render()
}

pub fn fabric_status(s: &FabricStatusView) -> String {
    let mut text = fields(&[
        ("revision", s.revision.to_string()),
        ("programmed revision", s.programmed_revision.to_string()),
        ("epoch", s.epoch.to_string()),
        (
            "isolated",
            if s.isolated { "yes (proven)" } else { "NO" }.to_owned(),
        ),
        ("topology digest", or_dash(&s.topology_digest)),
    ]);
    text.push('\n');
    text.push_str(&switches(&s.switches));
    text
}

pub fn network_status(s: &NetworkStatusView) -> String {
    let mut text = fields(&[
        ("network", s.network.clone()),
        ("programmed", yes_no(s.programmed)),
    ]);
    text.push('\n');
    text.push_str(&switches(&s.switches));
    if !s.counters.is_empty() {
        let mut t = Table::new(&[
            ("SWITCH", Align::Left),
            ("PACKETS", Align::Right),
            ("BYTES", Align::Right),
        ]);
        for c in &s.counters {
            t.row(vec![
                c.switch.clone(),
                c.packets.to_string(),
                c.bytes.to_string(),
            ]);
        }
        text.push('\n');
        text.push_str(&t.render());
    }
    text
}

pub fn plan(p: &PlanView) -> String {
    let mut t = Table::new(&[
        ("SWITCH", Align::Left),
        ("ADDED", Align::Right),
        ("REMOVED", Align::Right),
    ]);
    for s in &p.switches {
        t.row(vec![
            s.switch.clone(),
            format!("+{}", s.added),
            format!("-{}", s.removed),
        ]);
    }
    let mut text = if p.switches.is_empty() {
        "no switch changes\n".to_owned()
    } else {
        t.render()
    };
    text.push_str(&format!(
        "\ntotal +{} -{} entries, planned against revision {}\n",
        p.entries_added, p.entries_removed, p.base_revision
    ));
    text.push_str(if p.isolated {
        "verdict: proven isolated\n"
    } else {
        "verdict: ISOLATION VIOLATION\n"
    });
    for f in &p.findings {
        text.push_str(&format!("  {} {}: {}\n", f.class, f.code, f.detail));
    }
    text
}

pub fn topology(t: &TopologyView) -> String {
    fields(&[
        ("fabric", t.fabric_name.clone()),
        ("encapsulation", t.encapsulation.clone()),
        ("digest", t.digest.clone()),
        (
            "programmed switches",
            or_dash(&t.programmed_switches.join(", ")),
        ),
    ])
}

/// A few words about a resource, for one-line outputs.
fn summary(r: &ResourceView) -> String {
    match r {
        ResourceView::Operator(o) if o.display_name.is_empty() => String::new(),
        ResourceView::Operator(o) => format!("{:?}", o.display_name),
        ResourceView::Lease(l) => format!(
            "{} port(s), vni {}{}",
            l.ports.len(),
            or_dash(&l.vni_range),
            l.vlan_range
                .as_ref()
                .map(|v| format!(", vlan {v}"))
                .unwrap_or_default()
        ),
        ResourceView::Network(n) => match n.fabric_vlan {
            Some(v) => format!("vni {}, fabric vlan {v}", n.vni),
            None => format!("vni {}", n.vni),
        },
        ResourceView::Attachment(a) => match a.vlan_id {
            Some(v) => format!("{} {} vlan {v}", a.port, a.mode),
            None => format!("{} {}", a.port, a.mode),
        },
    }
}

pub fn mutation(m: &MutationView) -> String {
    let about = m
        .resource
        .as_ref()
        .map(summary)
        .filter(|s| !s.is_empty())
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    if m.validate_only {
        format!(
            "valid: the controller would accept this ({} {}{about}); nothing was changed\n",
            m.action, m.name
        )
    } else {
        format!("{} {}{about} (revision {})\n", m.action, m.name, m.revision)
    }
}

/// One line per event, fixed-width columns (a stream cannot be aligned
/// after the fact).
pub fn watch_event(e: &WatchEventView) -> String {
    let about = e.resource.as_ref().map(summary).unwrap_or_default();
    let line = format!(
        "{:>8}  {:<8}  {}  {about}",
        e.revision,
        e.kind,
        or_dash(&e.name)
    );
    format!("{}\n", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkView {
        NetworkView {
            name: "operators/alpha/networks/web".into(),
            operator: "alpha".into(),
            id: "web".into(),
            vni: 1001,
            fabric_vlan: None,
            etag: "7".into(),
        }
    }

    fn switch(name: &str, acked: u64, err: Option<&str>) -> SwitchView {
        SwitchView {
            switch: name.into(),
            desired_generation: 12,
            acked_generation: acked,
            connected: err.is_none(),
            backend: "ovs".into(),
            last_error: err.map(str::to_owned),
        }
    }

    #[test]
    fn fabric_status_table() {
        let s = FabricStatusView {
            revision: 12,
            programmed_revision: 11,
            epoch: 3,
            isolated: true,
            topology_digest: "ab12".into(),
            switches: vec![
                switch("rack1-leaf", 12, None),
                switch("rack2-leaf", 9, Some("ovs-ofctl failed")),
            ],
        };
        assert_eq!(
            fabric_status(&s),
            "revision             12\n\
             programmed revision  11\n\
             epoch                3\n\
             isolated             yes (proven)\n\
             topology digest      ab12\n\
             \n\
             SWITCH      DESIRED  ACKED  CONNECTED  BACKEND  LAST ERROR\n\
             rack1-leaf       12     12  yes        ovs      -\n\
             rack2-leaf       12      9  no         ovs      ovs-ofctl failed\n"
        );
    }

    #[test]
    fn mutations_are_one_line() {
        let m = MutationView {
            action: "created",
            name: "operators/alpha/networks/web".into(),
            revision: 12,
            validate_only: false,
            resource: Some(ResourceView::Network(net())),
        };
        assert_eq!(
            mutation(&m),
            "created operators/alpha/networks/web: vni 1001 (revision 12)\n"
        );
        let v = MutationView {
            validate_only: true,
            revision: 0,
            action: "deleted",
            resource: None,
            ..m
        };
        assert_eq!(
            mutation(&v),
            "valid: the controller would accept this (deleted operators/alpha/networks/web); \
             nothing was changed\n"
        );
    }

    #[test]
    fn networks_table_and_watch_lines() {
        assert_eq!(
            networks(&[net()]),
            "NETWORK     VNI  FABRIC VLAN  ETAG\nalpha/web  1001            -  7\n"
        );
        let e = WatchEventView {
            revision: 14,
            kind: "created",
            name: "operators/alpha/networks/web".into(),
            resource: Some(ResourceView::Network(net())),
        };
        assert_eq!(
            watch_event(&e),
            "      14  created   operators/alpha/networks/web  vni 1001\n"
        );
    }

    #[test]
    fn json_and_yaml_carry_the_same_fields() {
        let v = net();
        let json: serde_json::Value =
            serde_json::from_str(&json::to_canonical(&v).unwrap()).unwrap();
        assert_eq!(json["vni"], 1001);
        assert!(json.get("fabric_vlan").is_none());
        let yaml = serde_saphyr::to_string(&v).unwrap();
        assert!(yaml.contains("vni: 1001"), "{yaml}");
        assert!(
            yaml.contains("name: operators/alpha/networks/web"),
            "{yaml}"
        );
    }
}
