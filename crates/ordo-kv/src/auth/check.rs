//! Permission checks: may this user read or write every key of a range?
//!
//! A request range is permitted only if the union of the ranges the user's
//! roles grant for that access covers it whole (etcd's rule: a range read
//! the user cannot fully read is refused, never silently trimmed). The
//! union is computed by a sweep over the granted ranges sorted by start.

use super::{AuthState, PermissionKind, ROOT};
use crate::store::KeyRange;

/// The access a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading keys.
    Read,
    /// Writing keys.
    Write,
}

impl PermissionKind {
    fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (PermissionKind::ReadWrite, _)
                | (PermissionKind::Read, Access::Read)
                | (PermissionKind::Write, Access::Write)
        )
    }
}

/// A range as a half-open interval `[start, end)`; `end: None` is no end.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Interval {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Interval {
    /// The interval of `range`; `None` if it holds no key.
    fn of(range: &KeyRange) -> Option<Interval> {
        let start = range.key.to_vec();
        if range.range_end.is_empty() {
            let mut end = start.clone();
            end.push(0);
            return Some(Interval {
                start,
                end: Some(end),
            });
        }
        if range.range_end[..] == [0] {
            return Some(Interval { start, end: None });
        }
        (range.range_end[..] > range.key[..]).then(|| Interval {
            start,
            end: Some(range.range_end.to_vec()),
        })
    }
}

impl AuthState {
    /// Whether `user` exists and holds the role `root`.
    pub fn is_root(&self, user: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|found| found.roles.contains(ROOT))
    }

    /// Whether `user` may have `access` to every key in `range`. A range
    /// that holds no key is permitted to any existing user; an unknown user
    /// is permitted nothing.
    pub fn permits(&self, user: &str, access: Access, range: &KeyRange) -> bool {
        let Some(found) = self.users.get(user) else {
            return false;
        };
        if found.roles.contains(ROOT) {
            return true;
        }
        let Some(wanted) = Interval::of(range) else {
            return true;
        };
        let mut granted: Vec<Interval> = found
            .roles
            .iter()
            .filter_map(|role| self.roles.get(role))
            .flat_map(|role| &role.permissions)
            .filter(|permission| permission.kind.grants(access))
            .filter_map(|permission| Interval::of(&permission.range))
            .collect();
        granted.sort_by(|a, b| a.start.cmp(&b.start));
        covers(&granted, &wanted)
    }
}

/// Whether the union of `granted` (sorted by start) holds all of `wanted`.
fn covers(granted: &[Interval], wanted: &Interval) -> bool {
    // Every key below `covered_to` from `wanted.start` on is granted.
    let mut covered_to = wanted.start.clone();
    for interval in granted {
        if interval.start > covered_to {
            break;
        }
        match &interval.end {
            None => return true,
            Some(end) if *end > covered_to => covered_to.clone_from(end),
            Some(_) => {}
        }
        if wanted.end.as_ref().is_some_and(|end| covered_to >= *end) {
            return true;
        }
    }
    wanted.end.as_ref().is_some_and(|end| covered_to >= *end)
}
