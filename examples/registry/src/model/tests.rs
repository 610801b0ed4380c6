//! The rules, one test each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn service(id: &str) -> Service {
    Service {
        id: id.into(),
        service_type: "http".into(),
        endpoint: format!("10.0.0.1:{}", id.len()),
        metadata: BTreeMap::from([("zone".into(), "a".into())]),
    }
}

fn sidecar(id: &str, services: &[&str]) -> Sidecar {
    Sidecar {
        id: id.into(),
        endpoint: format!("{id}.local:15000"),
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

fn pipeline(id: &str, sidecar_id: &str) -> Pipeline {
    Pipeline {
        id: id.into(),
        sidecar_id: sidecar_id.into(),
        stages: vec!["decode".into(), "route".into()],
    }
}

/// A state with service `web`, sidecar `edge` fronting it, and pipelines
/// `p1` and `p2` on `edge`.
fn populated() -> RegistryState {
    let mut state = RegistryState::default();
    for command in [
        RouterCommand::RegisterService(service("web")),
        RouterCommand::RegisterSidecar(sidecar("edge", &["web"])),
        RouterCommand::AssignPipeline(pipeline("p1", "edge")),
        RouterCommand::AssignPipeline(pipeline("p2", "edge")),
    ] {
        state.apply(command).unwrap();
    }
    state
}

#[test]
fn registering_the_same_service_twice_is_idempotent() {
    let mut state = RegistryState::default();
    let first = state.apply(RouterCommand::RegisterService(service("web")));
    assert_eq!(first, Ok(vec![Change::ServiceRegistered(service("web"))]));
    let again = state.apply(RouterCommand::RegisterService(service("web")));
    assert_eq!(again, Ok(vec![]));
    assert_eq!(state.services.len(), 1);
}

#[test]
fn registering_an_id_with_different_content_conflicts_and_changes_nothing() {
    let mut state = populated();
    let before = state.clone();
    let moved = Service {
        endpoint: "elsewhere:1".into(),
        ..service("web")
    };
    assert_eq!(
        state.apply(RouterCommand::RegisterService(moved)),
        Err(RuleError::Conflict {
            kind: "service",
            id: "web".into()
        })
    );
    let other_sidecar = sidecar("edge", &[]);
    assert!(matches!(
        state.apply(RouterCommand::RegisterSidecar(other_sidecar)),
        Err(RuleError::Conflict {
            kind: "sidecar",
            ..
        })
    ));
    let other_stages = Pipeline {
        stages: vec![],
        ..pipeline("p1", "edge")
    };
    assert!(matches!(
        state.apply(RouterCommand::AssignPipeline(other_stages)),
        Err(RuleError::Conflict {
            kind: "pipeline",
            ..
        })
    ));
    assert_eq!(state, before);
}

#[test]
fn empty_ids_are_refused() {
    let mut state = RegistryState::default();
    assert_eq!(
        state.apply(RouterCommand::RegisterService(service(""))),
        Err(RuleError::EmptyId("service"))
    );
    assert_eq!(
        state.apply(RouterCommand::RegisterSidecar(sidecar("", &[]))),
        Err(RuleError::EmptyId("sidecar"))
    );
    assert_eq!(
        state.apply(RouterCommand::AssignPipeline(pipeline("", "edge"))),
        Err(RuleError::EmptyId("pipeline"))
    );
}

#[test]
fn assigning_to_an_unknown_sidecar_fails() {
    let mut state = RegistryState::default();
    assert_eq!(
        state.apply(RouterCommand::AssignPipeline(pipeline("p1", "nobody"))),
        Err(RuleError::UnknownSidecar("nobody".into()))
    );
    assert!(state.pipelines.is_empty());
}

#[test]
fn a_sidecar_fronts_only_registered_services() {
    let mut state = RegistryState::default();
    assert_eq!(
        state.apply(RouterCommand::RegisterSidecar(sidecar("edge", &["ghost"]))),
        Err(RuleError::UnknownService("ghost".into()))
    );
    assert!(state.sidecars.is_empty());
}

#[test]
fn a_fronted_service_cannot_be_deregistered() {
    let mut state = populated();
    assert_eq!(
        state.apply(RouterCommand::DeregisterService {
            service_id: "web".into()
        }),
        Err(RuleError::ServiceInUse {
            service: "web".into(),
            sidecar: "edge".into()
        })
    );
    assert!(state.services.contains_key("web"));
}

#[test]
fn deregistering_a_sidecar_revokes_its_pipelines_and_only_its_own() {
    let mut state = populated();
    state
        .apply(RouterCommand::RegisterSidecar(sidecar("other", &[])))
        .unwrap();
    state
        .apply(RouterCommand::AssignPipeline(pipeline("p3", "other")))
        .unwrap();
    let changes = state.apply(RouterCommand::DeregisterSidecar {
        sidecar_id: "edge".into(),
    });
    assert_eq!(
        changes,
        Ok(vec![
            Change::PipelineRevoked("p1".into()),
            Change::PipelineRevoked("p2".into()),
            Change::SidecarDeregistered("edge".into()),
        ])
    );
    assert_eq!(state.pipelines.keys().collect::<Vec<_>>(), ["p3"]);
    state.check_invariants().unwrap();
    // Now nothing fronts `web`.
    assert_eq!(
        state.apply(RouterCommand::DeregisterService {
            service_id: "web".into()
        }),
        Ok(vec![Change::ServiceDeregistered("web".into())])
    );
}

#[test]
fn removing_what_is_absent_succeeds_and_changes_nothing() {
    let mut state = populated();
    let before = state.clone();
    for command in [
        RouterCommand::DeregisterService {
            service_id: "none".into(),
        },
        RouterCommand::DeregisterSidecar {
            sidecar_id: "none".into(),
        },
        RouterCommand::RevokePipeline {
            pipeline_id: "none".into(),
            sidecar_id: "edge".into(),
        },
    ] {
        assert_eq!(state.apply(command), Ok(vec![]));
    }
    assert_eq!(state, before);
}

#[test]
fn revoking_names_the_sidecar_that_holds_the_pipeline() {
    let mut state = populated();
    assert_eq!(
        state.apply(RouterCommand::RevokePipeline {
            pipeline_id: "p1".into(),
            sidecar_id: "other".into()
        }),
        Err(RuleError::WrongSidecar {
            pipeline: "p1".into(),
            holder: "edge".into(),
            asked: "other".into()
        })
    );
    assert_eq!(
        state.apply(RouterCommand::RevokePipeline {
            pipeline_id: "p1".into(),
            sidecar_id: "edge".into()
        }),
        Ok(vec![Change::PipelineRevoked("p1".into())])
    );
}

#[test]
fn a_restore_replaces_everything_but_only_with_a_consistent_state() {
    let mut state = populated();
    let mut broken = RegistryState::default();
    broken
        .pipelines
        .insert("p".into(), pipeline("p", "missing"));
    assert!(matches!(
        state.apply(RouterCommand::Restore(broken)),
        Err(RuleError::Inconsistent(_))
    ));
    assert_eq!(state, populated());

    let mut other = RegistryState::default();
    other
        .apply(RouterCommand::RegisterService(service("api")))
        .unwrap();
    assert_eq!(
        state.apply(RouterCommand::Restore(other.clone())),
        Ok(vec![Change::Reset])
    );
    assert_eq!(state, other);
}
