//! `weft.v1.FabricService`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};
use weft_model::Encapsulation;
use weft_pki::Principal;
use weft_proto::entry_to_wire;
use weft_proto::v1::fabric_service_server::FabricService;
use weft_proto::v1::planned_change::Change as Pc;
use weft_proto::v1::*;

use super::changes::{self, Change};
use super::{Api, deadline};
use crate::auth::{Access, Scope};
use crate::core::{Core, Refusal, refusal_status};
use crate::errors::with_field_prefix;

macro_rules! method {
    ($name:literal) => {
        concat!("/weft.v1.FabricService/", $name)
    };
}

/// The longest a status call waits for programming.
const MAX_WAIT: Duration = Duration::from_secs(60);

fn to_change(core: &Core, c: &PlannedChange) -> Result<Change, Status> {
    let topo = core.topo();
    match c
        .change
        .as_ref()
        .ok_or_else(|| crate::errors::bad_field("changes", "empty change"))?
    {
        Pc::CreateOperator(r) => changes::create_operator(r),
        Pc::DeleteOperator(r) => changes::delete_operator(r),
        Pc::SetLease(r) => changes::set_lease(topo, r),
        Pc::DeleteLease(r) => changes::delete_lease(r),
        Pc::CreateNetwork(r) => changes::create_network(r),
        Pc::DeleteNetwork(r) => changes::delete_network(r),
        Pc::CreateAttachment(r) => changes::create_attachment(topo, r),
        Pc::DeleteAttachment(r) => changes::delete_attachment(topo, r),
    }
}

/// `changes[i].<kind>`: where change `i` sits in a Plan request.
fn change_path(r: &PlanRequest, i: usize) -> String {
    let kind = match r.changes.get(i).and_then(|c| c.change.as_ref()) {
        Some(Pc::CreateOperator(_)) => "create_operator",
        Some(Pc::DeleteOperator(_)) => "delete_operator",
        Some(Pc::SetLease(_)) => "set_lease",
        Some(Pc::DeleteLease(_)) => "delete_lease",
        Some(Pc::CreateNetwork(_)) => "create_network",
        Some(Pc::DeleteNetwork(_)) => "delete_network",
        Some(Pc::CreateAttachment(_)) => "create_attachment",
        Some(Pc::DeleteAttachment(_)) => "delete_attachment",
        None => return format!("changes[{i}]"),
    };
    format!("changes[{i}].{kind}")
}

fn findings(found: &[weft_verifier::Finding], redact: bool) -> Vec<Finding> {
    found
        .iter()
        .map(|f| Finding {
            class: format!("{:?}", f.class).to_lowercase(),
            code: f.kind.code().to_owned(),
            detail: if redact {
                "details withheld (they concern other operators)".to_owned()
            } else {
                f.to_string()
            },
        })
        .collect()
}

#[tonic::async_trait]
impl FabricService for Api {
    async fn get_topology(
        &self,
        req: Request<GetTopologyRequest>,
    ) -> Result<Response<GetTopologyResponse>, Status> {
        let m = method!("GetTopology");
        let p = self.who(&req, m).await?;
        self.check(&p, Access::Read, Scope::Fabric, m, "").await?;
        let core = self.c.core.lock().await;
        let t = &core.topology;
        Ok(Response::new(GetTopologyResponse {
            yaml: t.yaml.to_string(),
            digest: t.digest.clone(),
            fabric_name: t.topo.name.to_string(),
            encapsulation: match t.topo.encapsulation {
                Encapsulation::Vxlan => "vxlan",
                Encapsulation::Vlan => "vlan",
            }
            .to_owned(),
            programmed_switches: t.programmed_switches(),
        }))
    }

    async fn apply_topology(
        &self,
        req: Request<ApplyTopologyRequest>,
    ) -> Result<Response<ApplyTopologyResponse>, Status> {
        let m = method!("ApplyTopology");
        let p = self.who(&req, m).await?;
        self.check(&p, Access::Write, Scope::Fabric, m, "topology")
            .await?;
        let r = req.get_ref();
        let call = super::call(&req, &p, m, "topology".into())?;
        let (plan, revision) = self
            .c
            .apply_topology(call, r.yaml.clone(), r.etag.clone())
            .await?;
        Ok(Response::new(ApplyTopologyResponse {
            plan: Some(plan),
            revision,
        }))
    }

    async fn plan(&self, req: Request<PlanRequest>) -> Result<Response<PlanResponse>, Status> {
        let m = method!("Plan");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        if r.changes.len() > 1000 {
            return Err(crate::errors::bad_field(
                "changes",
                "at most 1000 changes per plan",
            ));
        }
        // Authorize every change on its owner before looking at anything.
        for (i, c) in r.changes.iter().enumerate() {
            let owner_field = format!("changes[{i}]");
            let (owner, tenant) = match c.change.as_ref() {
                Some(Pc::CreateOperator(x)) => (
                    changes::owner(&owner_field, &format!("operators/{}", x.operator_id))?,
                    true,
                ),
                Some(Pc::DeleteOperator(x)) => (changes::owner(&owner_field, &x.name)?, true),
                Some(Pc::SetLease(x)) => (
                    changes::owner(
                        &owner_field,
                        x.lease.as_ref().map_or("", |l| l.name.as_str()),
                    )?,
                    true,
                ),
                Some(Pc::DeleteLease(x)) => (changes::owner(&owner_field, &x.name)?, true),
                Some(Pc::CreateNetwork(x)) => (changes::owner(&owner_field, &x.parent)?, false),
                Some(Pc::DeleteNetwork(x)) => (changes::owner(&owner_field, &x.name)?, false),
                Some(Pc::CreateAttachment(x)) => (changes::owner(&owner_field, &x.parent)?, false),
                Some(Pc::DeleteAttachment(x)) => (changes::owner(&owner_field, &x.name)?, false),
                None => return Err(crate::errors::bad_field(&owner_field, "empty change")),
            };
            let scope = if tenant {
                Scope::Tenant(&owner)
            } else {
                Scope::Slice(&owner)
            };
            self.check(&p, Access::Write, scope, m, "").await?;
        }
        let redact = matches!(p, Principal::Operator { .. });
        let mut core = self.c.core.lock().await;
        let typed = r
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| to_change(&core, c).map_err(|e| with_field_prefix(e, &change_path(r, i))))
            .collect::<Result<Vec<_>, _>>()?;
        let base_revision = core.revision;
        for (i, c) in typed.iter().enumerate() {
            c.check(&core)
                .map_err(|e| with_field_prefix(e, &change_path(r, i)))?;
        }
        let result = match core.apply(typed.into_iter().map(|c| c.change).collect()) {
            Ok(pending) => {
                let mut res = PlanResult {
                    base_revision,
                    isolated: true,
                    ..Default::default()
                };
                for (&sw, d) in &pending.delta.switches {
                    res.entries_added += d.added.len() as u64;
                    res.entries_removed += d.removed.len() as u64;
                    res.switches.push(SwitchDelta {
                        switch: core.topo().switch(sw).name.to_string(),
                        added: d.added.iter().map(entry_to_wire).collect(),
                        removed: d.removed.iter().map(entry_to_wire).collect(),
                    });
                }
                core.undo(pending);
                res
            }
            Err(Refusal::Isolation(found)) => PlanResult {
                base_revision,
                isolated: false,
                findings: findings(&found, redact),
                ..Default::default()
            },
            Err(other @ Refusal::Change(i, _)) => {
                // The same field paths as the change's own RPC, under the
                // change's place in the plan.
                let resource = match r.changes.get(i).and_then(|c| c.change.as_ref()) {
                    Some(Pc::CreateNetwork(_)) => "network",
                    Some(Pc::CreateAttachment(_)) => "attachment",
                    Some(Pc::SetLease(_)) => "lease",
                    Some(Pc::CreateOperator(_)) => "operator",
                    _ => "",
                };
                let status = refusal_status(&other, resource, redact);
                return Err(with_field_prefix(status, &change_path(r, i)));
            }
            Err(other) => return Err(refusal_status(&other, "", redact)),
        };
        Ok(Response::new(PlanResponse {
            result: Some(result),
        }))
    }

    async fn get_fabric_status(
        &self,
        req: Request<GetFabricStatusRequest>,
    ) -> Result<Response<GetFabricStatusResponse>, Status> {
        let m = method!("GetFabricStatus");
        let p = self.who(&req, m).await?;
        self.check(&p, Access::Read, Scope::FabricStatus, m, "")
            .await?;
        let want = req.get_ref().wait_for_revision;
        if want > 0 {
            let until = deadline(&req)
                .unwrap_or_else(|| Instant::now() + MAX_WAIT)
                .min(Instant::now() + MAX_WAIT);
            let mut rx = self.c.sessions.subscribe();
            let reached = tokio::time::timeout_at(until.into(), rx.wait_for(|&p| p >= want)).await;
            if reached.is_err() {
                return Err(Status::deadline_exceeded(format!(
                    "revision {want} is not programmed on every switch yet (programmed: {})",
                    self.c.sessions.programmed_revision()
                )));
            }
        }
        let core = self.c.core.lock().await;
        let mut switches = self.c.sessions.status(None);
        super::redact_agent_errors(&p, &mut switches);
        switches.sort_by(|a, b| a.switch.cmp(&b.switch));
        Ok(Response::new(GetFabricStatusResponse {
            revision: core.revision,
            programmed_revision: self.c.sessions.programmed_revision(),
            epoch: self.c.epoch(),
            switches,
            isolated: core.isolated(),
            topology_digest: core.topology.digest.clone(),
        }))
    }
}

/// Per-switch entry differences between two compiled fabrics of possibly
/// different topologies, matched by switch name.
pub fn topology_plan(old: &Core, new: &Core) -> PlanResult {
    let by_name = |c: &Core| -> BTreeMap<String, Vec<weft_pipeline::PipelineEntry>> {
        c.topo()
            .switch_ids()
            .map(|s| {
                (
                    c.topo().switch(s).name.to_string(),
                    c.compiler.entries(s).to_vec(),
                )
            })
            .collect()
    };
    let (a, b) = (by_name(old), by_name(new));
    let mut res = PlanResult {
        base_revision: old.revision,
        isolated: new.isolated(),
        ..Default::default()
    };
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        let empty = Vec::new();
        let d = weft_pipeline::SwitchDelta::between(
            a.get(name).unwrap_or(&empty),
            b.get(name).unwrap_or(&empty),
        );
        if d.is_empty() {
            continue;
        }
        res.entries_added += d.added.len() as u64;
        res.entries_removed += d.removed.len() as u64;
        res.switches.push(SwitchDelta {
            switch: name.clone(),
            added: d.added.iter().map(entry_to_wire).collect(),
            removed: d.removed.iter().map(entry_to_wire).collect(),
        });
    }
    res.findings = findings(&new.verifier.report().findings, false);
    res
}
