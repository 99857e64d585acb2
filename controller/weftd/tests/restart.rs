//! Crash safety of the real binary: `weftd` runs as a child process,
//! several clients make changes, the process is SIGKILLed while clients
//! are still writing, and a restart on the same data directory must hold
//! every acknowledged change exactly once, each unacknowledged one at most
//! once (a retry with its `request_id` settles it without duplicating),
//! continue the store revision, and keep an audit log that verifies with
//! one record per acknowledged mutation. Two crash rounds.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::WeftdProcess;
use common::{Clients, rid};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Status};
use weft_auditlog::{AuditRecord, Outcome};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::*;

/// Acknowledged writes per crash round before the kill.
const ACKS_BEFORE_KILL: usize = 12;
/// Upper bound on a writer's iterations per round (quotas: alpha has 16).
const WRITER_STEPS: usize = 8;

async fn connect(dir: &Path, addr: SocketAddr, p: &Principal) -> Clients {
    let pki = Pki::bootstrap(&dir.join("pki"), &[]).unwrap();
    let creds = pki.ensure_client(p).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&creds.ca).unwrap()))
        .identity(Identity::from_pem(
            std::fs::read(&creds.cert).unwrap(),
            std::fs::read(&creds.key).unwrap(),
        ))
        .domain_name("localhost");
    let ch = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    Clients::new(ch)
}

async fn connect_all(dir: &Path, addr: SocketAddr) -> BTreeMap<String, Clients> {
    let mut out = BTreeMap::new();
    out.insert(
        "admin".to_owned(),
        connect(dir, addr, &Principal::new(Role::Admin, "admin").unwrap()).await,
    );
    for op in ["alpha", "beta", "gamma", "delta"] {
        out.insert(
            op.to_owned(),
            connect(dir, addr, &Principal::new(Role::Operator, op).unwrap()).await,
        );
    }
    out
}

/// A mutation the test sent, replayable with its `request_id`.
#[derive(Debug, Clone)]
enum Req {
    CreateOperator(CreateOperatorRequest),
    SetLease(SetLeaseRequest),
    Create(CreateNetworkRequest),
    Delete(DeleteNetworkRequest),
    Attach(CreateAttachmentRequest),
}

impl Req {
    fn request_id(&self) -> &str {
        match self {
            Req::CreateOperator(r) => &r.request_id,
            Req::SetLease(r) => &r.request_id,
            Req::Create(r) => &r.request_id,
            Req::Delete(r) => &r.request_id,
            Req::Attach(r) => &r.request_id,
        }
    }

    /// Sends it; the answer's revision.
    async fn send(&self, c: &mut Clients) -> Result<u64, Status> {
        Ok(match self.clone() {
            Req::CreateOperator(r) => c.ops.create_operator(r).await?.into_inner().revision,
            Req::SetLease(r) => c.ops.set_lease(r).await?.into_inner().revision,
            Req::Create(r) => c.nets.create_network(r).await?.into_inner().revision,
            Req::Delete(r) => c.nets.delete_network(r).await?.into_inner().revision,
            Req::Attach(r) => c.nets.create_attachment(r).await?.into_inner().revision,
        })
    }

    /// Its effect on networks → attachment names.
    fn apply(&self, state: &mut BTreeMap<String, BTreeSet<String>>) {
        match self {
            Req::CreateOperator(_) | Req::SetLease(_) => {}
            Req::Create(r) => {
                state.insert(
                    format!("{}/networks/{}", r.parent, r.network_id),
                    BTreeSet::new(),
                );
            }
            Req::Delete(r) => {
                state.remove(&r.name);
            }
            Req::Attach(r) => {
                let port = r.attachment.as_ref().unwrap().port.replace('/', ":");
                state
                    .get_mut(&r.parent)
                    .unwrap()
                    .insert(format!("{}/attachments/{port}", r.parent));
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Sent {
    who: String,
    req: Req,
    /// Set when acknowledged.
    revision: Option<u64>,
}

type Journal = Arc<Mutex<Vec<Sent>>>;

/// Sends `req` as `who`, journaling it before and its revision after.
async fn journaled(journal: &Journal, who: &str, c: &mut Clients, req: Req) -> Result<u64, Status> {
    let idx = {
        let mut j = journal.lock().unwrap();
        j.push(Sent {
            who: who.to_owned(),
            req: req.clone(),
            revision: None,
        });
        j.len() - 1
    };
    let rev = req.send(c).await?;
    journal.lock().unwrap()[idx].revision = Some(rev);
    Ok(rev)
}

fn create(op: &str, id: &str) -> CreateNetworkRequest {
    CreateNetworkRequest {
        parent: format!("operators/{op}"),
        network_id: id.into(),
        network: None,
        request_id: rid(),
        validate_only: false,
    }
}

fn tagged(parent: &str, port: &str, vlan_id: u32) -> CreateAttachmentRequest {
    CreateAttachmentRequest {
        parent: parent.into(),
        attachment: Some(Attachment {
            port: port.into(),
            mode: AttachmentMode::Tagged.into(),
            vlan_id,
            ..Default::default()
        }),
        request_id: rid(),
        validate_only: false,
    }
}

/// Each operator's rack1-leaf port (ovs: tagged attachments allowed).
fn rack1_port(op: &str) -> Option<&'static str> {
    match op {
        "alpha" => Some("rack1-leaf/eth1"),
        "beta" => Some("rack1-leaf/eth3"),
        "gamma" => Some("rack1-leaf/eth4"),
        _ => None,
    }
}

/// Writes until the server goes away or `WRITER_STEPS` is reached.
/// Returns the error that stopped it, if any.
async fn writer(
    round: usize,
    op: String,
    mut c: Clients,
    journal: Journal,
    acks: Arc<AtomicUsize>,
) -> Option<Status> {
    for k in 0..WRITER_STEPS {
        let id = format!("r{round}-{k}");
        let name = format!("operators/{op}/networks/{id}");
        if let Err(e) = journaled(&journal, &op, &mut c, Req::Create(create(&op, &id))).await {
            return Some(e);
        }
        acks.fetch_add(1, Ordering::SeqCst);
        let next = if k % 2 == 0 {
            Req::Delete(DeleteNetworkRequest {
                name,
                request_id: rid(),
                ..Default::default()
            })
        } else if let Some(port) = rack1_port(&op) {
            let vlan = 600 + u32::try_from(round * 20 + k).unwrap();
            Req::Attach(tagged(&name, port, vlan))
        } else {
            continue;
        };
        if let Err(e) = journaled(&journal, &op, &mut c, next).await {
            return Some(e);
        }
        acks.fetch_add(1, Ordering::SeqCst);
    }
    None
}

/// Every network (with its attachments) of every operator.
async fn read_state(admin: &mut Clients) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for op in ["alpha", "beta", "gamma", "delta"] {
        let Ok(nets) = admin
            .nets
            .list_networks(ListNetworksRequest {
                parent: format!("operators/{op}"),
                page_size: 1000,
                ..Default::default()
            })
            .await
        else {
            continue;
        };
        for n in nets.into_inner().networks {
            let atts = admin
                .nets
                .list_attachments(ListAttachmentsRequest {
                    parent: n.name.clone(),
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .attachments;
            let prev = out.insert(n.name, atts.into_iter().map(|a| a.name).collect());
            assert!(prev.is_none(), "a network is listed twice");
        }
    }
    out
}

async fn status(admin: &mut Clients) -> GetFabricStatusResponse {
    admin
        .fabric
        .get_fabric_status(GetFabricStatusRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// Successful mutations in the audit log, by request id.
fn audited(dir: &Path) -> BTreeMap<String, Vec<AuditRecord>> {
    let path = dir.join("audit.log");
    let v = weft_auditlog::verify_file(&path)
        .unwrap_or_else(|e| panic!("the audit log does not verify: {e}"));
    assert!(v.is_complete(), "the audit log starts at its genesis");
    let mut out: BTreeMap<String, Vec<AuditRecord>> = BTreeMap::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let r = AuditRecord::from_line(line).unwrap();
        if r.outcome == Outcome::Ok.as_str() {
            out.entry(r.request_id.clone()).or_default().push(r);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_loses_no_acknowledged_change_and_duplicates_nothing() {
    let mut g = WeftdProcess::new(&["--simulate"]);
    let addr = g.start();
    let mut clients = connect_all(g.path(), addr).await;
    let admin = clients.get_mut("admin").unwrap();
    let state = read_state(admin).await;
    let mut epoch = status(admin).await.epoch;
    let journal: Journal = Arc::default();

    // Acknowledged changes from several clients at once.
    let mut tasks = Vec::new();
    for op in ["alpha", "beta", "gamma"] {
        let mut c = clients[op].clone();
        let j = Arc::clone(&journal);
        tasks.push(tokio::spawn(async move {
            for id in ["a0", "a1", "a2"] {
                journaled(&j, op, &mut c, Req::Create(create(op, id)))
                    .await
                    .unwrap();
            }
            let parent = format!("operators/{op}/networks/a0");
            journaled(
                &j,
                op,
                &mut c,
                Req::Attach(tagged(&parent, rack1_port(op).unwrap(), 350)),
            )
            .await
            .unwrap();
        }));
    }
    let mut a = clients["admin"].clone();
    let j = Arc::clone(&journal);
    tasks.push(tokio::spawn(async move {
        let op = CreateOperatorRequest {
            operator_id: "delta".into(),
            operator: Some(Operator {
                display_name: "Delta".into(),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        };
        journaled(&j, "admin", &mut a, Req::CreateOperator(op))
            .await
            .unwrap();
        let lease = SetLeaseRequest {
            lease: Some(Lease {
                name: "operators/delta/lease".into(),
                vni_range: "5000-5099".into(),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        };
        journaled(&j, "admin", &mut a, Req::SetLease(lease))
            .await
            .unwrap();
    }));
    for t in tasks {
        t.await.unwrap();
    }

    for round in 0..2 {
        // Writers keep writing; the process dies under them.
        let acks = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for op in ["alpha", "beta", "gamma", "delta"] {
            let c = clients[op].clone();
            writers.push(tokio::spawn(writer(
                round,
                op.to_owned(),
                c,
                Arc::clone(&journal),
                Arc::clone(&acks),
            )));
        }
        tokio::time::timeout(Duration::from_secs(60), async {
            while acks.load(Ordering::SeqCst) < ACKS_BEFORE_KILL {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the writers make progress");
        g.kill();
        let mut interrupted = 0;
        for w in writers {
            if let Some(e) = w.await.unwrap() {
                assert!(
                    matches!(
                        e.code(),
                        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
                    ),
                    "a writer failed for another reason than the crash: {e:?}"
                );
                interrupted += 1;
            }
        }
        assert!(
            interrupted > 0,
            "round {round}: no client was writing when the process died"
        );

        // Restart on the same data directory.
        let addr = g.start();
        clients = connect_all(g.path(), addr).await;
        let admin = clients.get_mut("admin").unwrap();
        let st = status(admin).await;
        assert!(st.epoch > epoch, "a restart starts a new epoch");
        epoch = st.epoch;
        let sent = journal.lock().unwrap().clone();
        let audit = audited(g.path());

        // Every acknowledged mutation is audited exactly once, at its revision.
        let acked: Vec<&Sent> = sent.iter().filter(|s| s.revision.is_some()).collect();
        let max_acked = acked.iter().filter_map(|s| s.revision).max().unwrap();
        for s in &acked {
            let recs = audit.get(s.req.request_id()).map_or(&[][..], Vec::as_slice);
            assert_eq!(
                recs.len(),
                1,
                "acknowledged {:?}: audit records {recs:?}",
                s.req
            );
            assert_eq!(Some(recs[0].revision), s.revision, "{:?}", s.req);
        }
        // The revision continues from where the store was.
        let max_audited = audit.values().flatten().map(|r| r.revision).max().unwrap();
        assert!(
            st.revision >= max_acked,
            "revision went back: {} < {max_acked}",
            st.revision
        );
        assert_eq!(
            st.revision, max_audited,
            "the store and the audit log agree on the last revision"
        );

        // The state is the acknowledged one, give or take each writer's
        // one unacknowledged last change.
        let unacked: Vec<&Sent> = sent.iter().filter(|s| s.revision.is_none()).collect();
        let mut acked_sorted = acked.clone();
        acked_sorted.sort_by_key(|s| s.revision);
        let mut expected = state.clone();
        for s in &acked_sorted {
            s.req.apply(&mut expected);
        }
        let found = read_state(admin).await;
        let mut with_unacked = expected.clone();
        for s in &unacked {
            let recs = audit.get(s.req.request_id()).map_or(0, Vec::len);
            assert!(recs <= 1, "unacknowledged {:?} audited {recs} times", s.req);
            if recs == 1 {
                s.req.apply(&mut with_unacked);
            }
        }
        assert_eq!(
            found, with_unacked,
            "round {round}: the state after restart"
        );
        eprintln!(
            "round {round}: {} acknowledged, {} unacknowledged ({} of them stored), revision {}",
            acked.len(),
            unacked.len(),
            unacked
                .iter()
                .filter(|s| audit.contains_key(s.req.request_id()))
                .count(),
            st.revision
        );

        // Retrying each unacknowledged change settles it: a stored one
        // answers its stored revision, a lost one is made now.
        let mut rev = st.revision;
        for s in &unacked {
            let stored = audit.get(s.req.request_id()).map(|r| r[0].revision);
            let c = clients.get_mut(&s.who).unwrap();
            let got = s
                .req
                .send(c)
                .await
                .unwrap_or_else(|e| panic!("retrying {:?}: {e:?}", s.req));
            match stored {
                Some(r) => assert_eq!(got, r, "a stored change replays its answer"),
                None => {
                    assert_eq!(got, rev + 1, "a lost change is made at the next revision");
                    rev = got;
                }
            }
        }
        let admin = clients.get_mut("admin").unwrap();
        assert_eq!(status(admin).await.revision, rev);
        {
            let mut j = journal.lock().unwrap();
            for s in j.iter_mut().filter(|s| s.revision.is_none()) {
                let recs = audited(g.path());
                s.revision = Some(recs[s.req.request_id()][0].revision);
            }
        }
        let mut all: Vec<Sent> = journal.lock().unwrap().clone();
        all.sort_by_key(|s| s.revision);
        let mut settled = state.clone();
        for s in &all {
            s.req.apply(&mut settled);
        }
        assert_eq!(
            read_state(admin).await,
            settled,
            "round {round}: after the retries"
        );
        let audit = audited(g.path());
        for s in &all {
            assert_eq!(audit[s.req.request_id()].len(), 1, "{:?}", s.req);
        }
        // The admin's changes survived too.
        let d = admin
            .ops
            .get_lease(GetLeaseRequest {
                name: "operators/delta/lease".into(),
            })
            .await
            .unwrap();
        assert_eq!(d.into_inner().lease.unwrap().vni_range, "5000-5099");
    }
    g.kill();
}
