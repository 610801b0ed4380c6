//! The registry's data and its rules: what the control plane replicates and
//! how each [`RouterCommand`] changes it. Pure: no I/O, no clocks, no hash
//! maps, so the same state and command give the same outcome on every node.
//!
//! # Rules
//! - **Registering twice is idempotent.** Registering a service or sidecar,
//!   or assigning a pipeline, exactly as it already is changes nothing and
//!   succeeds; the same id with *different* content is a
//!   [`RuleError::Conflict`] (deregister first: nothing is overwritten
//!   silently). Removing what is absent also succeeds and changes nothing.
//!   So every command may be retried when its outcome is unknown.
//! - A sidecar may front only registered services
//!   ([`RuleError::UnknownService`]), and a service cannot be deregistered
//!   while a sidecar fronts it ([`RuleError::ServiceInUse`]).
//! - A pipeline is assigned to a registered sidecar
//!   ([`RuleError::UnknownSidecar`]); deregistering a sidecar revokes its
//!   pipelines; revoking names the sidecar, and a pipeline held by another
//!   sidecar is not revoked ([`RuleError::WrongSidecar`]).
//!
//! # Invariants
//! Every fronted service is registered and every pipeline's sidecar is
//! registered ([`RegistryState::check_invariants`]); the rules keep them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A registered service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Unique among services.
    pub id: String,
    /// What it is (`"http"`, `"grpc"`, ...): free text.
    pub service_type: String,
    /// Where it is reached.
    pub endpoint: String,
    /// The application's labels.
    pub metadata: BTreeMap<String, String>,
}

/// A registered sidecar: a proxy in front of some services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Unique among sidecars.
    pub id: String,
    /// Where it is reached.
    pub endpoint: String,
    /// Ids of the registered services it fronts (a set: order is not part
    /// of the sidecar).
    pub services: BTreeSet<String>,
}

/// A pipeline assigned to a sidecar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Unique among pipelines.
    pub id: String,
    /// The sidecar that runs it.
    pub sidecar_id: String,
    /// Its stages, in order.
    pub stages: Vec<String>,
}

/// The whole replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryState {
    /// Services by id.
    pub services: BTreeMap<String, Service>,
    /// Sidecars by id.
    pub sidecars: BTreeMap<String, Sidecar>,
    /// Pipeline assignments by pipeline id.
    pub pipelines: BTreeMap<String, Pipeline>,
}

/// What clients propose (the seed's `RouterCommand`), replicated through the
/// log. Plain enums and structs: the log encodes them with postcard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouterCommand {
    /// Adds a service.
    RegisterService(Service),
    /// Removes a service no sidecar fronts.
    DeregisterService {
        /// The service to remove.
        service_id: String,
    },
    /// Adds a sidecar fronting registered services.
    RegisterSidecar(Sidecar),
    /// Removes a sidecar and revokes its pipelines.
    DeregisterSidecar {
        /// The sidecar to remove.
        sidecar_id: String,
    },
    /// Assigns a pipeline to a registered sidecar.
    AssignPipeline(Pipeline),
    /// Revokes a pipeline from the sidecar that holds it.
    RevokePipeline {
        /// The pipeline to revoke.
        pipeline_id: String,
        /// The sidecar it must be assigned to.
        sidecar_id: String,
    },
    /// Replaces the whole state (a restored backup). Checked before it is
    /// proposed, so every node applies a state that keeps the invariants.
    Restore(RegistryState),
}

/// One change a command made, as watchers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A service was added.
    ServiceRegistered(Service),
    /// The service with this id was removed.
    ServiceDeregistered(String),
    /// A sidecar was added.
    SidecarRegistered(Sidecar),
    /// The sidecar with this id was removed.
    SidecarDeregistered(String),
    /// A pipeline was assigned.
    PipelineAssigned(Pipeline),
    /// The pipeline with this id was revoked.
    PipelineRevoked(String),
    /// The whole state was replaced: list again.
    Reset,
}

/// Why the rules refused a command. Refusing changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RuleError {
    /// An id is empty.
    #[error("the {0} id must not be empty")]
    EmptyId(&'static str),
    /// The id is taken by something different.
    #[error("{kind} {id:?} already exists with different content; remove it first")]
    Conflict {
        /// `"service"`, `"sidecar"` or `"pipeline"`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A sidecar names a service that is not registered.
    #[error("unknown service {0:?}")]
    UnknownService(String),
    /// A pipeline names a sidecar that is not registered.
    #[error("unknown sidecar {0:?}")]
    UnknownSidecar(String),
    /// The service is fronted by a sidecar.
    #[error("service {service:?} is fronted by sidecar {sidecar:?}; deregister the sidecar first")]
    ServiceInUse {
        /// The service.
        service: String,
        /// A sidecar fronting it.
        sidecar: String,
    },
    /// The pipeline is assigned to another sidecar.
    #[error("pipeline {pipeline:?} is assigned to sidecar {holder:?}, not {asked:?}")]
    WrongSidecar {
        /// The pipeline.
        pipeline: String,
        /// The sidecar holding it.
        holder: String,
        /// The sidecar named in the request.
        asked: String,
    },
    /// A restored state breaks an invariant.
    #[error("the restored state is inconsistent: {0}")]
    Inconsistent(String),
}

impl RegistryState {
    /// Applies `command` by the rules, returning what changed (nothing for
    /// a repeat). A refused command leaves the state as it was.
    ///
    /// # Errors
    /// The rule the command breaks.
    pub fn apply(&mut self, command: RouterCommand) -> Result<Vec<Change>, RuleError> {
        match command {
            RouterCommand::RegisterService(service) => self.register_service(service),
            RouterCommand::DeregisterService { service_id } => self.deregister_service(&service_id),
            RouterCommand::RegisterSidecar(sidecar) => self.register_sidecar(sidecar),
            RouterCommand::DeregisterSidecar { sidecar_id } => {
                Ok(self.deregister_sidecar(&sidecar_id))
            }
            RouterCommand::AssignPipeline(pipeline) => self.assign_pipeline(pipeline),
            RouterCommand::RevokePipeline {
                pipeline_id,
                sidecar_id,
            } => self.revoke_pipeline(&pipeline_id, &sidecar_id),
            RouterCommand::Restore(state) => {
                state.check_invariants()?;
                *self = state;
                Ok(vec![Change::Reset])
            }
        }
    }

    /// Checks the invariants (see the module docs).
    ///
    /// # Errors
    /// [`RuleError::Inconsistent`] naming the first broken one.
    pub fn check_invariants(&self) -> Result<(), RuleError> {
        for sidecar in self.sidecars.values() {
            if let Some(missing) = sidecar
                .services
                .iter()
                .find(|id| !self.services.contains_key(*id))
            {
                return Err(RuleError::Inconsistent(format!(
                    "sidecar {:?} fronts unknown service {missing:?}",
                    sidecar.id
                )));
            }
        }
        for pipeline in self.pipelines.values() {
            if !self.sidecars.contains_key(&pipeline.sidecar_id) {
                return Err(RuleError::Inconsistent(format!(
                    "pipeline {:?} is assigned to unknown sidecar {:?}",
                    pipeline.id, pipeline.sidecar_id
                )));
            }
        }
        Ok(())
    }

    fn register_service(&mut self, service: Service) -> Result<Vec<Change>, RuleError> {
        non_empty("service", &service.id)?;
        match self.services.get(&service.id) {
            Some(existing) if *existing == service => Ok(vec![]),
            Some(_) => Err(conflict("service", service.id)),
            None => {
                self.services.insert(service.id.clone(), service.clone());
                Ok(vec![Change::ServiceRegistered(service)])
            }
        }
    }

    fn deregister_service(&mut self, service_id: &str) -> Result<Vec<Change>, RuleError> {
        if let Some(sidecar) = self
            .sidecars
            .values()
            .find(|sidecar| sidecar.services.contains(service_id))
        {
            return Err(RuleError::ServiceInUse {
                service: service_id.to_owned(),
                sidecar: sidecar.id.clone(),
            });
        }
        Ok(match self.services.remove(service_id) {
            Some(_) => vec![Change::ServiceDeregistered(service_id.to_owned())],
            None => vec![],
        })
    }

    fn register_sidecar(&mut self, sidecar: Sidecar) -> Result<Vec<Change>, RuleError> {
        non_empty("sidecar", &sidecar.id)?;
        match self.sidecars.get(&sidecar.id) {
            Some(existing) if *existing == sidecar => return Ok(vec![]),
            Some(_) => return Err(conflict("sidecar", sidecar.id)),
            None => {}
        }
        if let Some(missing) = sidecar
            .services
            .iter()
            .find(|id| !self.services.contains_key(*id))
        {
            return Err(RuleError::UnknownService(missing.clone()));
        }
        self.sidecars.insert(sidecar.id.clone(), sidecar.clone());
        Ok(vec![Change::SidecarRegistered(sidecar)])
    }

    /// Never refused: its pipelines go with it (revoked first, in id order).
    fn deregister_sidecar(&mut self, sidecar_id: &str) -> Vec<Change> {
        if self.sidecars.remove(sidecar_id).is_none() {
            return vec![];
        }
        let mut changes = Vec::new();
        self.pipelines.retain(|id, pipeline| {
            let keep = pipeline.sidecar_id != sidecar_id;
            if !keep {
                changes.push(Change::PipelineRevoked(id.clone()));
            }
            keep
        });
        changes.push(Change::SidecarDeregistered(sidecar_id.to_owned()));
        changes
    }

    fn assign_pipeline(&mut self, pipeline: Pipeline) -> Result<Vec<Change>, RuleError> {
        non_empty("pipeline", &pipeline.id)?;
        match self.pipelines.get(&pipeline.id) {
            Some(existing) if *existing == pipeline => return Ok(vec![]),
            Some(_) => return Err(conflict("pipeline", pipeline.id)),
            None => {}
        }
        if !self.sidecars.contains_key(&pipeline.sidecar_id) {
            return Err(RuleError::UnknownSidecar(pipeline.sidecar_id));
        }
        self.pipelines.insert(pipeline.id.clone(), pipeline.clone());
        Ok(vec![Change::PipelineAssigned(pipeline)])
    }

    fn revoke_pipeline(
        &mut self,
        pipeline_id: &str,
        sidecar_id: &str,
    ) -> Result<Vec<Change>, RuleError> {
        let Some(pipeline) = self.pipelines.get(pipeline_id) else {
            return Ok(vec![]);
        };
        if pipeline.sidecar_id != sidecar_id {
            return Err(RuleError::WrongSidecar {
                pipeline: pipeline_id.to_owned(),
                holder: pipeline.sidecar_id.clone(),
                asked: sidecar_id.to_owned(),
            });
        }
        self.pipelines.remove(pipeline_id);
        Ok(vec![Change::PipelineRevoked(pipeline_id.to_owned())])
    }
}

fn non_empty(kind: &'static str, id: &str) -> Result<(), RuleError> {
    if id.is_empty() {
        return Err(RuleError::EmptyId(kind));
    }
    Ok(())
}

fn conflict(kind: &'static str, id: String) -> RuleError {
    RuleError::Conflict { kind, id }
}

#[cfg(test)]
mod tests;
