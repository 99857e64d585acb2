//! The HTML report: self-contained, escaped, verifiable as a file, and
//! rendered by a real browser.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{fabric, input, intended, key, with_rule};
use weft_model::PortNo;
use weft_report::{Report, VerifyError, build_report, open, render_html, sign};
use weft_rules::{Action, Match, OutPort, Rule};

fn leaky() -> (Report, Vec<u8>) {
    let (topo, intent) = fabric();
    // A foreign flow from alpha's rack1-leaf/eth1 to beta's eth3, so the
    // page has a red cell, a failed check, drift and a counterexample.
    let rule = Rule {
        table: 0,
        priority: 60_000,
        matches: Match {
            in_port: Some(PortNo::new(1).unwrap()),
            opaque: vec!["nw_src=192.0.2.1<script>".to_owned()],
            ..Match::default()
        },
        actions: vec![Action::Output(OutPort::Port(PortNo::new(3).unwrap()))],
        write_metadata: None,
        goto: None,
        cookie: 0xbad,
    };
    let installed = with_rule(intended(&topo, &intent), "rack1-leaf", rule);
    let report = build_report(&input(&topo, &intent, installed));
    let envelope = sign(&report, &key());
    (report, envelope)
}

#[test]
fn page_has_no_external_resources() {
    let (report, env) = leaky();
    let html = render_html(&report, &env);
    // (` src=` with its space: `nw_src=` in a rule's text is not an attribute.)
    for banned in [
        "http://", "https://", " src=", "url(", "@import", "<link", "<iframe", "<img",
    ] {
        assert!(!html.contains(banned), "page contains {banned:?}");
    }
    // Links stay inside the page.
    for (at, _) in html.match_indices("href=") {
        assert!(html[at..].starts_with("href=\"#"), "{}", &html[at..at + 40]);
    }
    // The only script element is the (non-executable) envelope.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(
        r#"<script type="application/vnd.weft.isolation-report.v1+json" id="weft-envelope">"#
    ));
}

#[test]
fn names_and_foreign_text_are_escaped() {
    let (report, env) = leaky();
    let html = render_html(&report, &env);
    assert!(html.contains("Alpha &lt;Cloud&gt; &amp; Co"));
    assert!(!html.contains("<Cloud>"));
    // The foreign rule's opaque match, shown in drift and in the path.
    assert!(html.contains("nw_src=192.0.2.1&lt;script&gt;"));
    assert!(!html.contains("192.0.2.1<script>"));
}

#[test]
fn page_shows_the_verdicts() {
    let (report, env) = leaky();
    let html = render_html(&report, &env);
    assert!(html.contains("NOT ISOLATED"));
    assert_eq!(html.matches("class=\"violated\"").count(), 1);
    assert_eq!(html.matches("class=\"isolated\"").count(), 11);
    assert!(html.contains("<svg class=\"topology\""));
    // Server ports in the lessees' colours (alpha first, beta second).
    assert!(html.contains("fill=\"#f4a582\"><title>rack1-leaf/eth1: leased to alpha"));
    assert!(html.contains("fill=\"#92c5de\"><title>rack1-leaf/eth3: leased to beta"));
    assert!(html.contains("rack1-leaf/eth2: unleased"));
    assert!(html.contains("operators-isolated"));
}

#[test]
fn page_round_trips_through_open() {
    let (report, env) = leaky();
    let html = render_html(&report, &env);
    let opened = open(html.as_bytes(), Some(&key().public_key())).unwrap();
    assert_eq!(opened.report, report);
    assert!(opened.key_trusted);
    // A second envelope smuggled into the page is refused.
    let doubled = html.replace(
        "</main>",
        "</main><script type=\"application/vnd.weft.isolation-report.v1+json\" id=\"weft-envelope\">{}</script>",
    );
    assert_eq!(
        open(doubled.as_bytes(), None).unwrap_err(),
        VerifyError::SeveralEnvelopesInHtml
    );
    // Editing the embedded envelope breaks it.
    let broken = html.replacen("\"payload\":\"eyJ", "\"payload\":\"eyK", 1);
    assert_ne!(broken, html);
    assert!(open(broken.as_bytes(), None).is_err());
}

/// A scratch directory removed on drop, even when the test fails.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn chromium_renders_the_page() {
    let required = std::env::var_os("WEFT_REQUIRE_CHROMIUM").is_some();
    let browser = ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(browser) = browser else {
        assert!(
            !required,
            "WEFT_REQUIRE_CHROMIUM is set but chromium is not installed"
        );
        println!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir =
        Scratch(std::env::temp_dir().join(format!("weft-report-chromium-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let page = dir.0.join("report.html");
    let png = dir.0.join("report.png");
    let (report, env) = leaky();
    std::fs::write(&page, render_html(&report, &env)).unwrap();

    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1400,1800",
    ]);
    cmd.arg(format!(
        "--user-data-dir={}",
        dir.0.join("profile").display()
    ));
    cmd.arg(format!("--screenshot={}", png.display()));
    // Chromium refuses to run as root with its sandbox on.
    if Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
    {
        cmd.arg("--no-sandbox");
    }
    cmd.arg(format!("file://{}", page.display()));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1400×1800 page compresses to a few kilobytes; a rendered
    // report with a picture and tables does not.
    assert!(
        bytes.len() > 20_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("WEFT_REPORT_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
