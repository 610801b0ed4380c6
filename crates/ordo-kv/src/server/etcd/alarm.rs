//! `Maintenance.Alarm`: etcd's NOSPACE alarm, over ordo's storage quota.
//!
//! The alarm is raised exactly while the store keeps more bytes than
//! `--quota-bytes` (`store_gauge.rs`). Those bytes are replicated state:
//! every member computes them alike at the same point of the log, so the
//! alarm survives a leader change or a restart with no log entry of its
//! own, and every member lists it alike (as this member's id). What maps
//! from etcd, and what does not:
//! - GET lists it. While it is raised, writes that add data are refused
//!   with etcd's "etcdserver: mvcc: database space exceeded".
//! - DEACTIVATE (`etcdctl alarm disarm`) answers the NOSPACE alarm it was
//!   asked to clear, as etcd does; but while the store is still over its
//!   quota the alarm stays raised (etcd clears it and raises it again at
//!   the next write, which it refuses: the same writes are refused).
//! - Unlike etcd's, the alarm clears by itself once deletes and compaction
//!   bring the store back under its quota; etcd keeps it until disarmed.
//! - ACTIVATE cannot raise it by hand (it would take a replicated flag and
//!   a backup format change for little use; etcdctl has no command for
//!   it): while the store is over its quota it answers the alarm already
//!   raised, otherwise it is refused. CORRUPT is not served: ordo checks
//!   its data with `ordo repair` and the HashKV call instead.

use tonic::Status;

use crate::server::etcd::pb::etcdserverpb::{self as pb, alarm_request::AlarmAction};

/// The alarms `request` answers, for a member `member_id` whose store is
/// over its quota (`raised`) or not.
pub(crate) fn answer(
    request: &pb::AlarmRequest,
    raised: bool,
    member_id: u64,
) -> Result<Vec<pb::AlarmMember>, Status> {
    let nospace = |member_id| pb::AlarmMember {
        member_id,
        alarm: pb::AlarmType::Nospace as i32,
    };
    let asked = request.alarm();
    match request.action() {
        AlarmAction::Get if raised => Ok(vec![nospace(member_id)]),
        AlarmAction::Get => Ok(Vec::new()),
        AlarmAction::Deactivate if raised && asked == pb::AlarmType::Nospace => {
            Ok(vec![nospace(request.member_id)])
        }
        AlarmAction::Deactivate => Ok(Vec::new()),
        AlarmAction::Activate => match asked {
            pb::AlarmType::Nospace if raised => Ok(vec![nospace(request.member_id)]),
            pb::AlarmType::Nospace => Err(Status::failed_precondition(
                "ordo raises the NOSPACE alarm from its storage quota (--quota-bytes) only",
            )),
            pb::AlarmType::Corrupt => Err(Status::unimplemented(
                "ordo has no CORRUPT alarm (check data with HashKV or ordo repair)",
            )),
            pb::AlarmType::None => Err(Status::invalid_argument("no alarm to activate")),
        },
    }
}

/// The alarms as etcd's `Status.errors` shows them: each alarm member in
/// protobuf's compact text form, trailing space included.
pub(crate) fn status_errors(raised: bool, member_id: u64) -> Vec<String> {
    if raised {
        vec![format!("memberID:{member_id} alarm:NOSPACE ")]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(action: AlarmAction, member_id: u64, alarm: pb::AlarmType) -> pb::AlarmRequest {
        pb::AlarmRequest {
            action: action as i32,
            member_id,
            alarm: alarm as i32,
        }
    }

    fn nospace(member_id: u64) -> pb::AlarmMember {
        pb::AlarmMember {
            member_id,
            alarm: pb::AlarmType::Nospace as i32,
        }
    }

    #[test]
    fn get_lists_nospace_while_over_quota() {
        let get = request(AlarmAction::Get, 0, pb::AlarmType::None);
        assert_eq!(answer(&get, true, 7).unwrap(), [nospace(7)]);
        assert!(answer(&get, false, 7).unwrap().is_empty());
    }

    /// etcdctl's disarm lists the alarms, then deactivates each by member
    /// and type; the answer is what was deactivated.
    #[test]
    fn deactivate_answers_the_nospace_alarm_asked_for() {
        let disarm = request(AlarmAction::Deactivate, 7, pb::AlarmType::Nospace);
        assert_eq!(answer(&disarm, true, 7).unwrap(), [nospace(7)]);
        assert!(answer(&disarm, false, 7).unwrap().is_empty());
        let nothing = request(AlarmAction::Deactivate, 0, pb::AlarmType::None);
        assert!(answer(&nothing, true, 7).unwrap().is_empty());
    }

    #[test]
    fn activate_cannot_raise_it_by_hand() {
        let activate = request(AlarmAction::Activate, 7, pb::AlarmType::Nospace);
        assert_eq!(answer(&activate, true, 7).unwrap(), [nospace(7)]);
        let refused = answer(&activate, false, 7).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        let corrupt = request(AlarmAction::Activate, 7, pb::AlarmType::Corrupt);
        assert_eq!(
            answer(&corrupt, true, 7).unwrap_err().code(),
            tonic::Code::Unimplemented
        );
    }

    #[test]
    fn status_shows_alarms_as_etcd_prints_them() {
        assert_eq!(status_errors(true, 42), ["memberID:42 alarm:NOSPACE "]);
        assert!(status_errors(false, 42).is_empty());
    }
}
