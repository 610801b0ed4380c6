//! Between the wire's messages (`proto`) and the model's types. A missing
//! message field reads as empty, and the rules refuse empty ids.

use crate::model::{Change, Pipeline, Service, Sidecar};
use crate::proto;
use crate::proto::change::Event;
use crate::state_machine::IndexedChange;

impl From<proto::Service> for Service {
    fn from(service: proto::Service) -> Self {
        Service {
            id: service.id,
            service_type: service.service_type,
            endpoint: service.endpoint,
            metadata: service.metadata,
        }
    }
}

impl From<Service> for proto::Service {
    fn from(service: Service) -> Self {
        proto::Service {
            id: service.id,
            service_type: service.service_type,
            endpoint: service.endpoint,
            metadata: service.metadata,
        }
    }
}

impl From<proto::Sidecar> for Sidecar {
    fn from(sidecar: proto::Sidecar) -> Self {
        Sidecar {
            id: sidecar.id,
            endpoint: sidecar.endpoint,
            services: sidecar.services.into_iter().collect(),
        }
    }
}

impl From<Sidecar> for proto::Sidecar {
    fn from(sidecar: Sidecar) -> Self {
        proto::Sidecar {
            id: sidecar.id,
            endpoint: sidecar.endpoint,
            services: sidecar.services.into_iter().collect(),
        }
    }
}

impl From<proto::Pipeline> for Pipeline {
    fn from(pipeline: proto::Pipeline) -> Self {
        Pipeline {
            id: pipeline.id,
            sidecar_id: pipeline.sidecar_id,
            stages: pipeline.stages,
        }
    }
}

impl From<Pipeline> for proto::Pipeline {
    fn from(pipeline: Pipeline) -> Self {
        proto::Pipeline {
            id: pipeline.id,
            sidecar_id: pipeline.sidecar_id,
            stages: pipeline.stages,
        }
    }
}

impl From<IndexedChange> for proto::Change {
    fn from(indexed: IndexedChange) -> Self {
        let event = match indexed.change {
            Change::ServiceRegistered(service) => Event::ServiceRegistered(service.into()),
            Change::ServiceDeregistered(id) => Event::ServiceDeregistered(id),
            Change::SidecarRegistered(sidecar) => Event::SidecarRegistered(sidecar.into()),
            Change::SidecarDeregistered(id) => Event::SidecarDeregistered(id),
            Change::PipelineAssigned(pipeline) => Event::PipelineAssigned(pipeline.into()),
            Change::PipelineRevoked(id) => Event::PipelineRevoked(id),
            Change::Reset => Event::Reset(proto::Reset {}),
        };
        proto::Change {
            index: indexed.index,
            event: Some(event),
        }
    }
}
