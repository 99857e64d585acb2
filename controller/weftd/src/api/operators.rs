//! `weft.v1.OperatorService`.

use tonic::{Request, Response, Status};
use weft_pki::Principal;
use weft_proto::v1::operator_service_server::OperatorService;
use weft_proto::v1::*;

use super::changes::{self, Change};
use super::{Api, MutationRequest, call, paginate};
use crate::auth::{Access, Scope};
use crate::convert;
use crate::core::Core;
use crate::names::{Expect, ResourceName};

macro_rules! method {
    ($name:literal) => {
        concat!("/weft.v1.OperatorService/", $name)
    };
}

impl Api {
    /// Authorizes a change for `p` and runs it through the mutation path.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_change<R: MutationRequest, M: prost::Message + Default + 'static>(
        &self,
        req: &Request<R>,
        p: &Principal,
        method: &'static str,
        change: Change,
        field_prefix: &'static str,
        respond: impl FnOnce(&Core, u64) -> M + Send + 'static,
    ) -> Result<M, Status> {
        let scope = if change.tenant_level {
            Scope::Tenant(&change.operator)
        } else {
            Scope::Slice(&change.operator)
        };
        self.check(p, Access::Write, scope, method, &change.resource)
            .await?;
        let c = call(req, p, method, change.resource.clone())?;
        self.c
            .mutate(
                c,
                field_prefix,
                move |core| {
                    change.check(core)?;
                    Ok(vec![change.change])
                },
                respond,
            )
            .await
    }
}

impl Api {
    /// Credentials for a new operator from the local CA, if there is one.
    /// Failing to write them does not undo the operator: the admin can
    /// issue them later (`weftd` issues missing ones at every start).
    async fn issue_operator_credentials(&self, name: &weft_model::Name) {
        let Some(pki) = self.pki.clone() else { return };
        let Ok(p) = Principal::new(weft_pki::Role::Operator, name.as_str()) else {
            return;
        };
        match tokio::task::spawn_blocking(move || pki.ensure_client(&p)).await {
            Ok(Ok(creds)) => {
                tracing::info!(operator = %name, cert = %creds.cert.display(), "issued operator credentials")
            }
            Ok(Err(e)) => {
                tracing::warn!(operator = %name, error = %e, "could not issue operator credentials")
            }
            Err(e) => {
                tracing::warn!(operator = %name, error = %e, "could not issue operator credentials")
            }
        }
    }
}

fn rev(core: &Core, name: &str) -> u64 {
    core.revs.get(name).copied().unwrap_or(core.revision)
}

fn operator_of(core: &Core, name: &weft_model::Name) -> Option<Operator> {
    let op = core.intent.operator(name.as_str())?;
    Some(convert::operator(
        op,
        rev(core, &format!("operators/{name}")),
    ))
}

#[tonic::async_trait]
impl OperatorService for Api {
    async fn create_operator(
        &self,
        req: Request<CreateOperatorRequest>,
    ) -> Result<Response<CreateOperatorResponse>, Status> {
        let m = method!("CreateOperator");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let change = changes::create_operator(r)?;
        let name = change.operator.clone();
        let created = name.clone();
        let out = self
            .run_change(&req, &p, m, change, "operator", move |core, revision| {
                CreateOperatorResponse {
                    operator: operator_of(core, &name),
                    revision,
                }
            })
            .await?;
        if out.revision > 0 {
            self.issue_operator_credentials(&created).await;
        }
        Ok(Response::new(out))
    }

    async fn get_operator(
        &self,
        req: Request<GetOperatorRequest>,
    ) -> Result<Response<GetOperatorResponse>, Status> {
        let m = method!("GetOperator");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let ResourceName::Operator(name) = ResourceName::parse("name", &r.name, Expect::Operator)?
        else {
            return Err(Status::invalid_argument("name"));
        };
        self.check(&p, Access::Read, Scope::Tenant(&name), m, &r.name)
            .await?;
        let core = self.c.core.lock().await;
        let operator = operator_of(&core, &name)
            .ok_or_else(|| Status::not_found(format!("{} not found", r.name)))?;
        Ok(Response::new(GetOperatorResponse {
            operator: Some(operator),
        }))
    }

    async fn list_operators(
        &self,
        req: Request<ListOperatorsRequest>,
    ) -> Result<Response<ListOperatorsResponse>, Status> {
        let m = method!("ListOperators");
        let p = self.who(&req, m).await?;
        self.check(&p, Access::Read, Scope::OperatorList, m, "")
            .await?;
        let r = req.get_ref();
        let core = self.c.core.lock().await;
        let only = match &p {
            Principal::Operator { name } => Some(name.clone()),
            _ => None,
        };
        let items = core
            .intent
            .operators
            .values()
            .filter(|o| only.as_deref().is_none_or(|n| n == o.name.as_str()))
            .map(|o| {
                let key = format!("operators/{}", o.name);
                let v = convert::operator(o, rev(&core, &key));
                (key, v)
            });
        let (operators, next_page_token) = paginate(items, r.page_size, &r.page_token)?;
        Ok(Response::new(ListOperatorsResponse {
            operators,
            next_page_token,
        }))
    }

    async fn update_operator(
        &self,
        req: Request<UpdateOperatorRequest>,
    ) -> Result<Response<UpdateOperatorResponse>, Status> {
        let m = method!("UpdateOperator");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let change = changes::update_operator(r)?;
        let name = change.operator.clone();
        let out = self
            .run_change(&req, &p, m, change, "operator", move |core, revision| {
                UpdateOperatorResponse {
                    operator: operator_of(core, &name),
                    revision,
                }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn delete_operator(
        &self,
        req: Request<DeleteOperatorRequest>,
    ) -> Result<Response<DeleteOperatorResponse>, Status> {
        let m = method!("DeleteOperator");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let change = changes::delete_operator(r)?;
        let out = self
            .run_change(&req, &p, m, change, "", move |_, revision| {
                DeleteOperatorResponse { revision }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn get_lease(
        &self,
        req: Request<GetLeaseRequest>,
    ) -> Result<Response<GetLeaseResponse>, Status> {
        let m = method!("GetLease");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let ResourceName::Lease(op) = ResourceName::parse("name", &r.name, Expect::Lease)? else {
            return Err(Status::invalid_argument("name"));
        };
        self.check(&p, Access::Read, Scope::Tenant(&op), m, &r.name)
            .await?;
        let core = self.c.core.lock().await;
        let lease = convert::lease(core.topo(), &core.intent, &op, rev(&core, &r.name))
            .ok_or_else(|| Status::not_found(format!("{} not found", r.name)))?;
        Ok(Response::new(GetLeaseResponse { lease: Some(lease) }))
    }

    async fn set_lease(
        &self,
        req: Request<SetLeaseRequest>,
    ) -> Result<Response<SetLeaseResponse>, Status> {
        let m = method!("SetLease");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        // Authorize on the name before the lease's contents are looked at.
        let owner = changes::owner(
            "lease.name",
            r.lease.as_ref().map_or("", |l| l.name.as_str()),
        )?;
        self.check(&p, Access::Write, Scope::Tenant(&owner), m, "")
            .await?;
        let (topo, digest) = self.c.topology().await;
        let mut change = changes::set_lease(&topo, r)?;
        change.topology_digest = Some(digest);
        let op = change.operator.clone();
        let out = self
            .run_change(&req, &p, m, change, "lease", move |core, revision| {
                SetLeaseResponse {
                    lease: convert::lease(
                        core.topo(),
                        &core.intent,
                        &op,
                        if revision == 0 {
                            core.revision
                        } else {
                            revision
                        },
                    ),
                    revision,
                }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn delete_lease(
        &self,
        req: Request<DeleteLeaseRequest>,
    ) -> Result<Response<DeleteLeaseResponse>, Status> {
        let m = method!("DeleteLease");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let change = changes::delete_lease(r)?;
        let out = self
            .run_change(&req, &p, m, change, "", move |_, revision| {
                DeleteLeaseResponse { revision }
            })
            .await?;
        Ok(Response::new(out))
    }
}
