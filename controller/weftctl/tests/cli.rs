//! `weftctl` end to end: the real binary on the repository's example and
//! invalid files, checking exit codes, output shapes and determinism.

// Helpers outside `#[test]` functions too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `weftctl` from the repository root (so paths in output are the
/// short relative ones), without colour.
fn weftctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weftctl"))
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("weftctl runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// `topologies/NAME.yaml` files that are topologies (not intents).
fn example_topologies() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("topologies"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") && !n.ends_with(".intent.yaml"))
        .map(|n| format!("topologies/{n}"))
        .collect();
    names.sort();
    assert!(names.len() >= 2, "the examples are missing: {names:?}");
    names
}

fn intent_of(topology: &str) -> String {
    topology.replace(".yaml", ".intent.yaml")
}

/// A fresh scratch directory under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("weftctl-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

mod check {
    use super::*;

    #[test]
    fn every_example_passes_with_one_summary_line_each() {
        let mut files = Vec::new();
        for t in example_topologies() {
            files.push(intent_of(&t));
            files.push(t);
        }
        let args: Vec<&str> = ["topology", "check"]
            .into_iter()
            .chain(files.iter().map(String::as_str))
            .collect();
        let o = weftctl(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let out = stdout(&o);
        assert_eq!(out.lines().count(), files.len(), "{out}");
        for f in &files {
            assert!(
                out.lines().any(|l| l.starts_with(&format!("ok  {f}  "))),
                "{f} missing:\n{out}"
            );
        }
        assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    }

    /// The value of a fixture's `# key: value` header line.
    fn header(text: &str, key: &str) -> Option<String> {
        let prefix = format!("# {key}:");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }

    #[test]
    fn every_invalid_fixture_fails_with_its_rules() {
        let dir = repo().join("topologies/invalid");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".yaml") && !n.starts_with("base"))
            .collect();
        names.sort();
        assert!(names.len() > 10, "{names:?}");
        for name in names {
            let text =
                String::from_utf8_lossy(&std::fs::read(dir.join(&name)).unwrap()).into_owned();
            let path = format!("topologies/invalid/{name}");
            let o = if name.ends_with(".intent.yaml") {
                let against = header(&text, "against").unwrap_or_else(|| "base.yaml".to_owned());
                let topology = format!("topologies/invalid/{against}");
                weftctl(&["topology", "check", "--topology", &topology, &path])
            } else {
                weftctl(&["topology", "check", &path])
            };
            assert_eq!(code(&o), 1, "{name} accepted:\n{}", stdout(&o));
            assert!(stdout(&o).is_empty(), "{name}: {}", stdout(&o));
            let err = stderr(&o);
            assert!(err.contains(&path), "{name}: the file is not named:\n{err}");
            for expected in header(&text, "expect").unwrap().split(',') {
                assert!(
                    err.contains(expected.trim()),
                    "{name}: no {expected} in\n{err}"
                );
            }
        }
    }

    #[test]
    fn valid_and_invalid_files_together_report_both_and_fail() {
        let o = weftctl(&[
            "topology",
            "check",
            "topologies/two-racks.yaml",
            "topologies/invalid/duplicate-vtep.yaml",
        ]);
        assert_eq!(code(&o), 1);
        assert!(stdout(&o).starts_with("ok  topologies/two-racks.yaml  fabric two-racks (vxlan)"));
        let err = stderr(&o);
        assert!(
            err.contains("topologies/invalid/duplicate-vtep.yaml:16:11"),
            "{err}"
        );
        assert!(err.contains("help: "), "{err}");
        assert!(err.trim_end().ends_with("1 of 2 file(s) invalid"), "{err}");
    }

    #[test]
    fn unreadable_file_is_invalid_input() {
        let o = weftctl(&["topology", "check", "topologies/no-such-file.yaml"]);
        assert_eq!(code(&o), 1);
        assert!(
            stderr(&o).contains("cannot read topologies/no-such-file.yaml"),
            "{}",
            stderr(&o)
        );
    }

    #[test]
    fn an_intent_whose_topology_is_invalid_fails() {
        let dir = scratch("bad-topology");
        std::fs::copy(
            repo().join("topologies/invalid/duplicate-vtep.yaml"),
            dir.join("f.yaml"),
        )
        .unwrap();
        std::fs::write(dir.join("f.intent.yaml"), "operators: []\n").unwrap();
        let intent = dir.join("f.intent.yaml");
        let o = weftctl(&["topology", "check", intent.to_str().unwrap()]);
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains("its topology"), "{}", stderr(&o));
    }
}

mod plan {
    use super::*;

    fn plan(extra: &[&str]) -> Output {
        let mut args = vec![
            "plan",
            "--topology",
            "topologies/two-racks.yaml",
            "--intent",
            "topologies/two-racks.intent.yaml",
        ];
        args.extend_from_slice(extra);
        weftctl(&args)
    }

    #[test]
    fn every_example_is_proven_isolated() {
        for t in example_topologies() {
            let intent = intent_of(&t);
            let o = weftctl(&["plan", "--topology", &t, "--intent", &intent]);
            assert_eq!(code(&o), 0, "{t}:\n{}{}", stdout(&o), stderr(&o));
            assert!(stdout(&o).contains("isolation: PROVEN"), "{}", stdout(&o));
        }
    }

    #[test]
    fn table_of_two_racks() {
        let o = plan(&[]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        insta::assert_snapshot!("plan_two_racks", stdout(&o));
    }

    #[test]
    fn json_is_canonical_and_stable() {
        let a = plan(&["-o", "json"]);
        let b = plan(&["-o", "json"]);
        assert_eq!(code(&a), 0, "{}", stderr(&a));
        assert_eq!(a.stdout, b.stdout, "same input, different bytes");
        let text = stdout(&a);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["fabric"], "two-racks");
        assert_eq!(v["isolation"]["isolated"], true);
        let switches = v["switches"].as_array().unwrap();
        let names: Vec<&str> = switches
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["rack1-leaf", "rack2-leaf", "spine1", "spine2"]);
        let sum: u64 = switches
            .iter()
            .map(|s| s["entries"].as_u64().unwrap())
            .sum();
        assert_eq!(v["totals"]["entries"].as_u64(), Some(sum));
        assert!(sum > 0);
        // Sorted keys: the first key of the document and of each switch.
        assert!(text.starts_with("{\n  \"encapsulation\""), "{text}");
        assert!(
            switches.iter().all(|s| s.get("delta").is_none()),
            "no delta without --from"
        );
    }

    #[test]
    fn from_itself_changes_nothing() {
        let o = plan(&["--from", "topologies/two-racks.intent.yaml"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stdout(&o).contains("no change: every switch keeps its entries"),
            "{}",
            stdout(&o)
        );
    }

    #[test]
    fn from_an_older_intent_shows_the_delta() {
        let dir = scratch("from");
        let current =
            std::fs::read_to_string(repo().join("topologies/two-racks.intent.yaml")).unwrap();
        // The older intent lacks gamma's lab network: its attachments are
        // what the plan adds.
        let cut = current
            .find("    networks:\n      - name: lab")
            .expect("gamma's lab network");
        let old = dir.join("old.intent.yaml");
        std::fs::write(&old, &current[..cut]).unwrap();
        let o = plan(&["--from", old.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let table = stdout(&o);
        assert!(table.contains("ENTRY DELTA"), "{table}");
        assert!(
            table.contains("2 switch(es) change, 2 unchanged"),
            "{table}"
        );

        let o = plan(&["--from", old.to_str().unwrap(), "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["totals"]["switches_changed"], 2);
        assert_eq!(v["totals"]["entries_removed"], 0);
        let leaf = &v["switches"][0]["delta"];
        let added = leaf["entries_added"].as_array().unwrap();
        assert!(!added.is_empty());
        // Every added entry serves gamma's lab network, VNI 3000.
        for e in added {
            let body = e.as_object().unwrap().values().next().unwrap();
            assert_eq!(body["vni"], 3000, "{e}");
        }
        assert_eq!(
            v["switches"][2]["delta"]["entries_added"],
            serde_json::json!([])
        );
    }

    #[test]
    fn given_rules_identical_to_the_plan_verify() {
        let dir = scratch("rules-same");
        let o = plan(&["-o", "rules"]);
        assert_eq!(code(&o), 0);
        let file = dir.join("rules.json");
        std::fs::write(&file, &o.stdout).unwrap();
        let o = plan(&["--rules", file.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains("identical to the compiled plan"),
            "{}",
            stdout(&o)
        );
    }

    /// A foreign high-priority rule on rack1-leaf forwarding everything from
    /// alpha's eth1 to beta's eth3: the verifier must say so, exit 3.
    #[test]
    fn tampered_rules_are_a_violation_with_a_counterexample() {
        let dir = scratch("rules-tampered");
        let o = plan(&["-o", "rules"]);
        let mut doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let rules = doc["switches"]["rack1-leaf"]["rules"]
            .as_array_mut()
            .unwrap();
        rules.push(serde_json::json!({
            "table": 0, "priority": 40000, "cookie": 0,
            "matches": {"in_port": 1, "vlan": "any"},
            "actions": [{"output": {"port": 3}}],
            "write_metadata": null, "goto": null
        }));
        let file = dir.join("tampered.json");
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();

        let o = plan(&["--rules", file.to_str().unwrap()]);
        assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("differ from the compiled plan on: rack1-leaf"),
            "{out}"
        );
        assert!(out.contains("isolation: VIOLATED"), "{out}");
        assert!(out.contains("LEAK [cross-operator-delivery]"), "{out}");
        assert!(out.contains("operators: alpha -> beta"), "{out}");
        assert!(out.contains("ingress:   rack1-leaf/eth1"), "{out}");
        assert!(out.contains("priority=40000"), "{out}");
        assert!(out.contains("egress:    rack1-leaf/eth3"), "{out}");

        let o = plan(&["--rules", file.to_str().unwrap(), "-o", "json"]);
        assert_eq!(code(&o), 3);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["isolation"]["isolated"], false);
        let f = &v["isolation"]["findings"][0];
        assert_eq!(f["class"], "leak");
        assert_eq!(f["counterexample"]["ingress"], "rack1-leaf/eth1");
        assert_eq!(
            v["rules_source"]["differs_from_compiled"],
            serde_json::json!(["rack1-leaf"])
        );
    }

    #[test]
    fn rules_for_an_unknown_switch_are_invalid_input() {
        let dir = scratch("rules-unknown");
        let file = dir.join("rules.json");
        std::fs::write(
            &file,
            r#"{"fabric": "two-racks", "switches": {"nope": {"rules": []}}}"#,
        )
        .unwrap();
        let o = plan(&["--rules", file.to_str().unwrap()]);
        assert_eq!(code(&o), 1);
        assert!(
            stderr(&o).contains("unknown switch \"nope\""),
            "{}",
            stderr(&o)
        );
    }

    #[test]
    fn invalid_intent_is_exit_1_with_diagnostics() {
        let o = weftctl(&[
            "plan",
            "--topology",
            "topologies/invalid/base.yaml",
            "--intent",
            "topologies/invalid/port-not-leased.intent.yaml",
        ]);
        assert_eq!(code(&o), 1);
        assert!(stdout(&o).is_empty());
        assert!(
            stderr(&o).contains("port-not-leased.intent.yaml:"),
            "{}",
            stderr(&o)
        );
    }
}

mod graph {
    use super::*;

    fn graph(with_intent: bool) -> String {
        let mut args = vec!["topology", "graph", "topologies/two-racks.yaml"];
        if with_intent {
            args.extend(["--intent", "topologies/two-racks.intent.yaml"]);
        }
        let o = weftctl(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        stdout(&o)
    }

    #[test]
    fn dot_has_racks_switches_links_and_a_legend() {
        let dot = graph(true);
        assert!(dot.starts_with("graph \"two-racks\" {\n"), "{dot}");
        assert!(dot.ends_with("}\n"));
        assert_eq!(
            dot.matches('{').count(),
            dot.matches('}').count(),
            "unbalanced braces"
        );
        for cluster in ["cluster_rack1", "cluster_rack2", "cluster_legend"] {
            assert!(
                dot.contains(&format!("subgraph \"{cluster}\" {{")),
                "no {cluster}:\n{dot}"
            );
        }
        for switch in ["rack1-leaf", "rack2-leaf", "spine1", "spine2"] {
            assert_eq!(
                dot.matches(&format!("\"switch:{switch}\" [")).count(),
                1,
                "{switch}"
            );
        }
        // Four links and eight NICs, each an edge between port cells.
        let edges: Vec<&str> = dot.lines().filter(|l| l.contains(" -- ")).collect();
        assert_eq!(edges.len(), 12, "{edges:#?}");
        assert!(edges.iter().all(|e| e.contains(":\"p")), "{edges:#?}");
        for op in ["alpha (Alpha Cloud)", "beta (Beta Hosting)", "gamma"] {
            assert!(dot.contains(op), "legend lacks {op}");
        }
        // alpha's ports and its NIC edges share the first palette colour.
        let alpha = "#f4a582";
        assert!(
            dot.contains(&format!("<TD PORT=\"p1\" BGCOLOR=\"{alpha}\"")),
            "{dot}"
        );
        assert!(
            edges
                .iter()
                .any(|e| e.contains(&format!("color=\"{alpha}\"")))
        );
    }

    #[test]
    fn without_intent_ports_are_uncoloured_and_output_is_deterministic() {
        let dot = graph(false);
        assert!(!dot.contains("cluster_legend"));
        assert!(!dot.contains("#f4a582"));
        assert_eq!(dot, graph(false));
        assert_eq!(graph(true), graph(true));
    }

    /// When Graphviz is installed, it must accept the output.
    #[test]
    fn graphviz_accepts_it_when_installed() {
        let Ok(probe) = Command::new("dot").arg("-V").output() else {
            eprintln!("skipped: Graphviz `dot` is not installed");
            return;
        };
        assert!(probe.status.success());
        let dir = scratch("graphviz");
        let file = dir.join("g.dot");
        std::fs::write(&file, graph(true)).unwrap();
        let o = Command::new("dot")
            .arg("-Tsvg")
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("<svg"));
    }
}

mod generate {
    use super::*;

    #[test]
    fn generated_files_check_and_plan_isolated() {
        let dir = scratch("generate");
        let out = dir.to_str().unwrap();
        let generate = || {
            weftctl(&[
                "generate",
                "--profile",
                "small",
                "--name",
                "gen",
                "--leaves",
                "6",
                "--operators",
                "4",
                "--networks",
                "10",
                "--seed",
                "7",
                "-o",
                out,
            ])
        };
        let o = generate();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stdout(&o).contains(": 8 switches, 48 server ports, 4 operators, 10 networks"),
            "{}",
            stdout(&o)
        );
        let topo = dir.join("gen.yaml");
        let intent = dir.join("gen.intent.yaml");
        let first = std::fs::read(&intent).unwrap();

        let o = weftctl(&[
            "topology",
            "check",
            topo.to_str().unwrap(),
            intent.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = weftctl(&[
            "plan",
            "--topology",
            topo.to_str().unwrap(),
            "--intent",
            intent.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

        // Same parameters, same bytes.
        let o = generate();
        assert_eq!(code(&o), 0);
        assert_eq!(std::fs::read(&intent).unwrap(), first);
    }

    #[test]
    fn impossible_parameters_are_exit_1() {
        let dir = scratch("generate-bad");
        let o = weftctl(&[
            "generate",
            "--profile",
            "small",
            "--spines",
            "0",
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 1);
        assert!(
            stderr(&o).contains("spines must be at least 1"),
            "{}",
            stderr(&o)
        );
    }
}

mod usage {
    use super::*;

    #[test]
    fn help_documents_exit_codes() {
        for args in [
            &["--help"][..],
            &["plan", "--help"],
            &["topology", "check", "--help"],
        ] {
            let o = weftctl(args);
            assert_eq!(code(&o), 0);
            let out = stdout(&o);
            assert!(out.contains("Exit codes:"), "{args:?}:\n{out}");
        }
        let plan = stdout(&weftctl(&["plan", "--help"]));
        assert!(plan.contains("3  isolation violation"), "{plan}");
    }

    #[test]
    fn usage_errors_are_exit_2() {
        assert_eq!(code(&weftctl(&["frobnicate"])), 2);
        assert_eq!(
            code(&weftctl(&[
                "plan",
                "--topology",
                "topologies/two-racks.yaml"
            ])),
            2
        );
        assert_eq!(code(&weftctl(&["topology", "check"])), 2);
    }
}
