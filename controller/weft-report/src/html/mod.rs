//! One self-contained HTML page per report: inline CSS, an inline SVG
//! picture, no script and no external resource of any kind (an auditor
//! may open it offline, and the page must not call home). Every string
//! from the report is escaped. The signed envelope rides along in a
//! non-executable `<script type="application/vnd.weft.isolation-report.v1+json">`
//! element, so [`crate::open`] verifies the page itself; what the page
//! *shows* is not what is verified: `weftctl audit verify` re-derives it.

mod rule_text;
mod svg;

use std::fmt::Write as _;

use crate::build::UNLEASED;
use crate::model::{
    CellVerdict, CheckVerdict, Counterexample, EvidenceKind, FindingClass, Hop, Report,
    ReportFinding,
};
use crate::open::SCRIPT_OPEN;
use rule_text::rule_text;

/// Findings listed in full on the page; the JSON has them all.
const MAX_FINDINGS_SHOWN: usize = 500;
/// Drift rules listed per switch and kind.
const MAX_DRIFT_RULES: usize = 200;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1320px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0;background:#fff}
th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
td.check code{word-break:normal;white-space:nowrap}
.banner{padding:10px 14px;border-radius:6px;font-weight:600;margin:10px 0;font-size:16px}
.ok{background:#d8f3dc;color:#1b4332}.bad{background:#ffd6d6;color:#7a0010}.warn{background:#fff3bf;color:#5c4400}
td.isolated{background:#c9f2d0;color:#14532d;text-align:center}
td.violated{background:#f7b3b3;color:#7a0010;text-align:center;font-weight:700}
td.self{background:#eee;text-align:center;color:#999}
.pass{color:#14532d;font-weight:600}.fail{color:#a10016;font-weight:700}
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:600}
.leak{background:#a10016;color:#fff}.misdelivery{background:#d9480f;color:#fff}
.policy-breach{background:#e8a400;color:#000}.drift{background:#6c757d;color:#fff}
.finding{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px 12px;margin:8px 0}
.finding ol{margin:4px 0 4px 18px;padding:0}
svg.topology{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
svg .spine rect,svg .leaf rect:first-child{fill:#eef2f7;stroke:#4a5a70}
svg .server rect{fill:#fff;stroke:#888}
svg text{font-size:11px;text-anchor:middle;fill:#222}
svg text.note{text-anchor:start;font-style:italic}
svg .port{stroke:#333;stroke-width:.8}
svg line.link{stroke:#4a5a70;stroke-width:1.2}svg line.nic{stroke:#999;stroke-width:1}
.legend span.swatch{display:inline-block;width:12px;height:12px;border:1px solid #333;vertical-align:-2px;margin:0 4px 0 12px}
.meta td:first-child{font-weight:600;white-space:nowrap}
.muted{color:#666}
"#;

/// Renders `report` as one HTML page with `envelope` embedded (so
/// [`crate::open`] reads the page too).
pub fn render_html(report: &Report, envelope: &[u8]) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let fabric = &report.fabric;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Weft isolation report: {}</title><style>{CSS}</style></head><body><main>",
        esc(&fabric.name)
    );
    header(&mut h, report);
    topology(&mut h, report);
    matrix(&mut h, report);
    policy(&mut h, report);
    switches(&mut h, report);
    drift(&mut h, report);
    findings(&mut h, report);
    operators(&mut h, report);
    let _ = write!(
        h,
        "<h2 id=\"verify\">Verifying this report</h2><p>This page embeds the signed report \
         (a DSSE envelope, schema <code>{}</code>). Check the signature and re-derive every \
         verdict from the embedded evidence, offline:</p>\
         <pre class=\"mono\">weftctl audit verify THIS-FILE.html --pubkey '{}'</pre>\
         <p class=\"muted\">What this page shows is a rendering; the verified content is the envelope.</p>",
        esc(&report.schema),
        esc(&fabric.signing_key.to_string())
    );
    // Inside a script element only `</script` would end the content; the
    // envelope is JSON of base64 and names, and `<` is escaped anyway
    // (`\u003c` is the same JSON string).
    let envelope = String::from_utf8_lossy(envelope).replace('<', "\\u003c");
    let _ = write!(
        h,
        "</main>\n{SCRIPT_OPEN}{envelope}</script>\n</body></html>\n"
    );
    h
}

fn header(h: &mut String, r: &Report) {
    let f = &r.fabric;
    let _ = write!(h, "<h1>Isolation report: {}</h1>", esc(&f.name));
    let s = &r.summary;
    if s.isolated {
        h.push_str("<div class=\"banner ok\">ISOLATED: no leak, misdelivery or policy breach in the installed state</div>");
    } else {
        let _ = write!(
            h,
            "<div class=\"banner bad\">NOT ISOLATED: {} leak(s), {} misdelivery(ies), {} policy breach(es); {} violated cell(s), {} failed check(s)</div>",
            s.findings.leak,
            s.findings.misdelivery,
            s.findings.policy_breach,
            s.violated_cells,
            s.failed_checks
        );
    }
    if !s.complete {
        let missing: Vec<&str> = f
            .switches
            .iter()
            .filter(|x| x.evidence == EvidenceKind::Missing)
            .map(|x| x.name.as_str())
            .collect();
        let _ = write!(
            h,
            "<div class=\"banner warn\">INCOMPLETE: no read-back from {}; their intended rules stand in for them in the proof</div>",
            esc(&missing.join(", "))
        );
    }
    if s.findings_omitted > 0 {
        let _ = write!(
            h,
            "<div class=\"banner warn\">{} further finding(s) were counted but not listed</div>",
            s.findings_omitted
        );
    }
    h.push_str("<table class=\"meta\">");
    let mut row = |k: &str, v: String| {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(k),
            v
        );
    };
    row(
        "Fabric",
        format!("{} ({})", esc(&f.name), esc(&f.encapsulation)),
    );
    row("Generated at", esc(&f.generated_at));
    row("Controller", esc(&f.controller_version));
    row("Topology digest", esc(&f.topology_digest));
    row("Intent digest", esc(&f.intent_digest));
    row(
        "Signing key",
        format!(
            "{} (key id {})",
            esc(&f.signing_key.to_string()),
            esc(&f.signing_key.key_id())
        ),
    );
    row(
        "Audit log head",
        match &r.audit_log {
            Some(a) => format!("{} record(s), head {}", a.records, esc(&a.head)),
            None => "not included".to_owned(),
        },
    );
    row(
        "Usage period",
        format!(
            "{} – {} (Unix seconds)",
            r.usage.period_start, r.usage.period_end
        ),
    );
    h.push_str("</table>");
}

fn op_names(r: &Report) -> Vec<String> {
    r.operators.iter().map(|o| o.name.clone()).collect()
}

fn topology(h: &mut String, r: &Report) {
    let names = op_names(r);
    let colour = svg::colours(&names);
    h.push_str("<h2 id=\"topology\">Topology</h2><div class=\"legend\">Server ports:");
    for name in &names {
        let _ = write!(
            h,
            "<span class=\"swatch\" style=\"background:{}\"></span>{}",
            colour
                .get(name.as_str())
                .copied()
                .unwrap_or(svg::UNLEASED_FILL),
            esc(name)
        );
    }
    let _ = write!(
        h,
        "<span class=\"swatch\" style=\"background:{}\"></span>unleased</div>",
        svg::UNLEASED_FILL
    );
    h.push_str(&svg::topology_svg(
        &r.evidence.topology,
        &r.evidence.intent,
        &colour,
    ));
}

fn matrix(h: &mut String, r: &Report) {
    let m = &r.isolation;
    h.push_str("<h2 id=\"matrix\">Isolation matrix</h2><p class=\"muted\">Row: where a frame enters; column: whose port it could reach. A green cell is proven isolated over every possible frame; a red cell counts its counterexamples.</p><table><tr><th>from \\ to</th>");
    for to in &m.operators {
        let _ = write!(h, "<th>{}</th>", esc(to));
    }
    h.push_str("</tr>");
    for from in &m.operators {
        let _ = write!(h, "<tr><th>{}</th>", esc(from));
        for to in &m.operators {
            if from == to {
                h.push_str("<td class=\"self\">—</td>");
                continue;
            }
            match m.cells.iter().find(|c| &c.from == from && &c.to == to) {
                Some(c) if c.verdict == CellVerdict::Violated => {
                    let first = c
                        .counterexamples
                        .first()
                        .map(|cx| format!("e.g. from {}", cx.ingress))
                        .unwrap_or_default();
                    let _ = write!(
                        h,
                        "<td class=\"violated\" title=\"{}\">✗ {}</td>",
                        esc(&first),
                        c.counterexamples.len()
                    );
                }
                Some(_) => h.push_str("<td class=\"isolated\">✓</td>"),
                None => h.push_str("<td>?</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    let _ = write!(
        h,
        "<p class=\"muted\"><code>{}</code> stands for ports leased to nobody.</p>",
        esc(UNLEASED)
    );
}

fn policy(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"policy\">Policy checks</h2><table><tr><th>check</th><th>verdict</th><th>findings</th><th>what it means</th></tr>");
    for c in &r.policy {
        let (class, word) = match c.verdict {
            CheckVerdict::Pass => ("pass", "pass"),
            CheckVerdict::Fail => ("fail", "FAIL"),
        };
        let _ = write!(
            h,
            "<tr><td class=\"check\"><code>{}</code></td><td class=\"{class}\">{word}</td><td>{}</td><td>{}",
            esc(&c.check),
            finding_links(&c.findings),
            esc(&c.description)
        );
        for v in &c.violations {
            let _ = write!(h, "<br><span class=\"fail\">{}</span>", esc(v));
        }
        h.push_str("</td></tr>");
    }
    h.push_str("</table>");
}

fn finding_links(ids: &[u64]) -> String {
    if ids.is_empty() {
        return "0".to_owned();
    }
    let shown: Vec<String> = ids
        .iter()
        .take(12)
        .map(|i| format!("<a href=\"#f{i}\">#{i}</a>"))
        .collect();
    let more = if ids.len() > 12 {
        format!(" … ({} in all)", ids.len())
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(" "))
}

fn switches(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"switches\">Switches and evidence</h2><table><tr><th>switch</th><th>data plane</th><th>evidence</th><th>generation</th><th>rules</th><th>state digest (SHA-256)</th></tr>");
    for s in &r.fabric.switches {
        let (evidence, class) = match s.evidence {
            EvidenceKind::ReadBack => ("read-back", "pass"),
            EvidenceKind::Missing => ("MISSING", "fail"),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{evidence}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(&s.name),
            esc(&s.dataplane),
            s.generation
                .map_or_else(|| "—".to_owned(), |g| g.to_string()),
            s.rules,
            esc(s.state_digest.as_deref().unwrap_or("—"))
        );
    }
    h.push_str("</table>");
}

fn drift(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"drift\">Drift and foreign state</h2>");
    if r.drift.switches.is_empty() && r.drift.unreachable.is_empty() {
        h.push_str("<p class=\"pass\">Every switch that answered holds exactly its intended rules, and nothing else.</p>");
        return;
    }
    for d in &r.drift.switches {
        let _ = write!(
            h,
            "<h3>{}</h3><p>{} missing, {} unexpected (Weft cookie, not intended), {} foreign (another cookie)</p>",
            esc(&d.switch),
            d.missing.len(),
            d.unexpected.len(),
            d.foreign.len()
        );
        for (what, rules) in [
            ("missing", &d.missing),
            ("unexpected", &d.unexpected),
            ("foreign", &d.foreign),
        ] {
            if rules.is_empty() {
                continue;
            }
            let _ = write!(h, "<p><b>{what}</b></p><ul>");
            for rule in rules.iter().take(MAX_DRIFT_RULES) {
                let _ = write!(h, "<li><code>{}</code></li>", esc(&rule_text(rule)));
            }
            if rules.len() > MAX_DRIFT_RULES {
                let _ = write!(h, "<li>… {} more</li>", rules.len() - MAX_DRIFT_RULES);
            }
            h.push_str("</ul>");
        }
    }
    if !r.drift.unreachable.is_empty() {
        let _ = write!(
            h,
            "<p>Connectivity findings (member ports that cannot reach each other): {}</p>",
            finding_links(&r.drift.unreachable)
        );
    }
}

fn class_name(c: FindingClass) -> &'static str {
    match c {
        FindingClass::Leak => "leak",
        FindingClass::Misdelivery => "misdelivery",
        FindingClass::PolicyBreach => "policy-breach",
        FindingClass::Drift => "drift",
    }
}

fn findings(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2 id=\"findings\">Findings ({})</h2>",
        r.findings.len()
    );
    if r.findings.is_empty() {
        h.push_str("<p class=\"pass\">None.</p>");
        return;
    }
    for (i, f) in r.findings.iter().enumerate().take(MAX_FINDINGS_SHOWN) {
        finding(h, i, f);
    }
    if r.findings.len() > MAX_FINDINGS_SHOWN {
        let _ = write!(
            h,
            "<p>… {} more finding(s) in the report's JSON.</p>",
            r.findings.len() - MAX_FINDINGS_SHOWN
        );
    }
}

fn finding(h: &mut String, i: usize, f: &ReportFinding) {
    let class = class_name(f.class);
    let _ = write!(
        h,
        "<div class=\"finding\" id=\"f{i}\"><b>#{i}</b> <span class=\"badge {class}\">{class}</span> <code>{}</code> {}",
        esc(&f.kind),
        esc(&f.summary)
    );
    let who = |o: &Option<String>| esc(o.as_deref().unwrap_or(UNLEASED));
    if f.source_operator.is_some() || f.destination_operator.is_some() {
        let _ = write!(
            h,
            "<br><span class=\"muted\">{} → {}</span>",
            who(&f.source_operator),
            who(&f.destination_operator)
        );
    }
    counterexample(h, &f.counterexample);
    h.push_str("</div>");
}

fn frame_text(f: &crate::model::Frame) -> String {
    let mut s = if f.vlan_tags.is_empty() {
        "untagged".to_owned()
    } else {
        let tags: Vec<String> = f.vlan_tags.iter().map(u16::to_string).collect();
        format!("vlan {}", tags.join("/"))
    };
    let _ = write!(s, ", dst {}", f.eth_dst);
    if let Some(v) = f.tun_id {
        let _ = write!(s, ", vni {v}");
    }
    if let Some(a) = f.tun_src {
        let _ = write!(s, ", from {a}");
    }
    if let Some(a) = f.tun_dst {
        let _ = write!(s, ", to {a}");
    }
    s
}

fn counterexample(h: &mut String, c: &Counterexample) {
    let _ = write!(
        h,
        "<div>ingress <code>{}</code> ({}): <code>{}</code></div><ol>",
        esc(&c.ingress),
        esc(&c.class),
        esc(&frame_text(&c.header))
    );
    for hop in &c.path {
        let text = match hop {
            Hop::Rule {
                switch,
                in_port,
                table,
                priority,
                cookie,
                actions,
                assumes,
            } => {
                let mut t = format!(
                    "{switch} in_port={in_port} table={table} priority={priority} cookie={cookie:#x}: {actions}"
                );
                if let Some(a) = assumes {
                    let _ = write!(t, " (assuming {a})");
                }
                t
            }
            Hop::Link { from, to } => format!("link {from} → {to}"),
            Hop::Tunnel {
                from,
                to,
                vni,
                src,
                dst,
            } => format!("tunnel {from} ({src}) → {to} ({dst}), vni {vni}"),
        };
        let _ = write!(h, "<li><code>{}</code></li>", esc(&text));
    }
    h.push_str("</ol>");
    if let Some(e) = &c.egress {
        let _ = write!(
            h,
            "<div>egress <code>{}</code>: <code>{}</code></div>",
            esc(&e.at),
            esc(&frame_text(&e.frame))
        );
    }
}

fn operators(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"operators\">Operators and usage</h2>");
    for op in &r.operators {
        let title = match &op.display_name {
            Some(d) => format!("{} ({})", esc(&op.name), esc(d)),
            None => esc(&op.name),
        };
        let _ = write!(h, "<h3>{title}</h3><table class=\"meta\">");
        let _ = write!(
            h,
            "<tr><td>leased ports</td><td>{}</td></tr><tr><td>VNI ranges</td><td>{}</td></tr>",
            esc(&op.ports.join(", ")),
            esc(&op.vni_ranges.join(", "))
        );
        if !op.vlan_ranges.is_empty() {
            let _ = write!(
                h,
                "<tr><td>VLAN ranges</td><td>{}</td></tr>",
                esc(&op.vlan_ranges.join(", "))
            );
        }
        if let Some(q) = &op.quotas {
            let _ = write!(
                h,
                "<tr><td>quotas</td><td>{} networks, {} attachments, {} entries per switch</td></tr>",
                q.networks, q.attachments, q.entries_per_switch
            );
        }
        h.push_str("</table>");
        let usage = r.usage.statements.iter().find(|s| s.operator == op.name);
        h.push_str("<table><tr><th>network</th><th>VNI</th><th>attachments</th><th>packets</th><th>bytes</th></tr>");
        for n in &op.networks {
            let attachments: Vec<String> = n
                .attachments
                .iter()
                .map(|a| match a.vlan {
                    Some(v) => format!("{} (tagged {v})", a.port),
                    None => format!("{} ({})", a.port, a.mode),
                })
                .collect();
            let traffic = usage.and_then(|u| u.networks.iter().find(|x| x.network == n.name));
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&n.name),
                n.vni,
                esc(&attachments.join(", ")),
                traffic.map_or(0, |t| t.packets),
                traffic.map_or(0, |t| t.bytes)
            );
        }
        h.push_str("</table>");
        if !op.entries.is_empty() {
            h.push_str("<table><tr><th>switch</th><th>pipeline entries</th><th>quota</th></tr>");
            for e in &op.entries {
                let class = if e.entries > e.quota {
                    " class=\"fail\""
                } else {
                    ""
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td{class}>{}</td><td>{}</td></tr>",
                    esc(&e.switch),
                    e.entries,
                    e.quota
                );
            }
            h.push_str("</table>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<b a="1">&'x'</b>"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;x&#39;&lt;/b&gt;"
        );
    }
}
