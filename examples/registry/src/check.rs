//! The checker the tests run after a workload: every registration a client
//! saw acknowledged must be present, as registered, on every member; a
//! member may hold no service nobody tried to register; and all members
//! must hold the same services. (An attempt whose outcome the client never
//! learned may be present or not, but then everywhere alike.)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ordo::NodeId;

use crate::model::Service;

/// One thing the checker found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// An acknowledged registration is absent from a member.
    Missing {
        /// The member.
        node: NodeId,
        /// The service id.
        service: String,
    },
    /// A member holds an acknowledged service with other content.
    Altered {
        /// The member.
        node: NodeId,
        /// The service id.
        service: String,
    },
    /// A member holds a service nobody tried to register.
    Unexpected {
        /// The member.
        node: NodeId,
        /// The service id.
        service: String,
    },
    /// Two members hold different services.
    Diverged {
        /// One member.
        node: NodeId,
        /// The member it was compared with.
        other: NodeId,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Missing { node, service } => {
                write!(f, "node {node} lost acknowledged service {service:?}")
            }
            Violation::Altered { node, service } => {
                write!(
                    f,
                    "node {node} holds service {service:?} other than registered"
                )
            }
            Violation::Unexpected { node, service } => {
                write!(f, "node {node} holds service {service:?} nobody registered")
            }
            Violation::Diverged { node, other } => {
                write!(f, "nodes {node} and {other} hold different services")
            }
        }
    }
}

/// Checks `holdings` (each member's services, by id) against the
/// `acknowledged` registrations and the ids of every `attempted` one.
/// Returns every violation found, none if the run was correct.
pub fn check_registrations(
    acknowledged: &[Service],
    attempted: &BTreeSet<String>,
    holdings: &BTreeMap<NodeId, BTreeMap<String, Service>>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&node, held) in holdings {
        for service in acknowledged {
            match held.get(&service.id) {
                None => violations.push(Violation::Missing {
                    node,
                    service: service.id.clone(),
                }),
                Some(found) if found != service => violations.push(Violation::Altered {
                    node,
                    service: service.id.clone(),
                }),
                Some(_) => {}
            }
        }
        for id in held.keys().filter(|id| !attempted.contains(*id)) {
            violations.push(Violation::Unexpected {
                node,
                service: id.clone(),
            });
        }
    }
    let mut members = holdings.iter();
    if let Some((&first, first_held)) = members.next() {
        for (&node, held) in members {
            if held != first_held {
                violations.push(Violation::Diverged { node, other: first });
            }
        }
    }
    violations
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn service(id: &str) -> Service {
        Service {
            id: id.into(),
            endpoint: "e".into(),
            ..Service::default()
        }
    }

    fn held(ids: &[&str]) -> BTreeMap<String, Service> {
        ids.iter().map(|id| (id.to_string(), service(id))).collect()
    }

    fn attempted(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_correct_run_has_no_violations() {
        // `c` was attempted with an unknown outcome and made it: fine.
        let holdings = BTreeMap::from([(1, held(&["a", "b", "c"])), (2, held(&["a", "b", "c"]))]);
        let acked = [service("a"), service("b")];
        assert_eq!(
            check_registrations(&acked, &attempted(&["a", "b", "c"]), &holdings),
            vec![]
        );
    }

    #[test]
    fn each_kind_of_violation_is_reported() {
        let mut altered = held(&["a", "x"]);
        altered.insert(
            "a".into(),
            Service {
                endpoint: "moved".into(),
                ..service("a")
            },
        );
        let holdings = BTreeMap::from([(1, held(&["a", "b"])), (2, held(&["a"])), (3, altered)]);
        let acked = [service("a"), service("b")];
        let violations = check_registrations(&acked, &attempted(&["a", "b"]), &holdings);
        assert_eq!(
            violations,
            vec![
                Violation::Missing {
                    node: 2,
                    service: "b".into()
                },
                Violation::Altered {
                    node: 3,
                    service: "a".into()
                },
                Violation::Missing {
                    node: 3,
                    service: "b".into()
                },
                Violation::Unexpected {
                    node: 3,
                    service: "x".into()
                },
                Violation::Diverged { node: 2, other: 1 },
                Violation::Diverged { node: 3, other: 1 },
            ]
        );
    }
}
