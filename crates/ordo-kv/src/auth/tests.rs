//! The auth model's rules: permission matching, root-only invariants,
//! revision bumps, tokens, and the encoding backups carry.

use bytes::Bytes;

use super::member_token::{self, CLOCK_SKEW_LEEWAY_SECONDS, ReportedAddresses};
use super::token::{self, TokenClaims, TokenError};
use super::*;
use crate::store::KeyRange;

const KEY: [u8; SIGNING_KEY_BYTES] = [7; SIGNING_KEY_BYTES];

fn apply(state: &mut AuthState, command: AuthCommand) -> u64 {
    state
        .apply(command.clone())
        .unwrap_or_else(|error| panic!("{command:?} was refused: {error}"))
}

fn user_add(name: &str) -> AuthCommand {
    AuthCommand::UserAdd {
        name: name.into(),
        password_hash: Some("$argon2id$fake".into()),
    }
}

fn grant(role: &str, kind: PermissionKind, range: KeyRange) -> AuthCommand {
    AuthCommand::RoleGrantPermission {
        role: role.into(),
        permission: Permission { kind, range },
    }
}

fn grant_role(user: &str, role: &str) -> AuthCommand {
    AuthCommand::UserGrantRole {
        user: user.into(),
        role: role.into(),
    }
}

/// `alice` holds `reader` (read on `app/`, write on the key `app/x`) and
/// `root` is root; auth enabled.
fn sample() -> AuthState {
    let mut state = AuthState::default();
    apply(&mut state, user_add(ROOT));
    apply(&mut state, grant_role(ROOT, ROOT));
    apply(&mut state, user_add("alice"));
    apply(
        &mut state,
        AuthCommand::RoleAdd {
            name: "reader".into(),
        },
    );
    apply(
        &mut state,
        grant("reader", PermissionKind::Read, KeyRange::prefix("app/")),
    );
    apply(
        &mut state,
        grant("reader", PermissionKind::Write, KeyRange::single("app/x")),
    );
    apply(&mut state, grant_role("alice", "reader"));
    apply(
        &mut state,
        AuthCommand::Enable {
            signing_key: Bytes::from_static(&KEY),
        },
    );
    state
}

#[test]
fn permissions_match_keys_prefixes_and_access_kinds() {
    let state = sample();
    let read = |range: KeyRange| state.permits("alice", Access::Read, &range);
    let write = |range: KeyRange| state.permits("alice", Access::Write, &range);
    assert!(read(KeyRange::single("app/a")));
    assert!(read(KeyRange::prefix("app/")));
    assert!(read(KeyRange::prefix("app/sub/")));
    assert!(
        !read(KeyRange::prefix("ap")),
        "a prefix wider than the grant"
    );
    assert!(!read(KeyRange::prefix("")), "the whole keyspace");
    assert!(
        !read(KeyRange::from_key("app/")),
        "to the end of the keyspace"
    );
    assert!(!read(KeyRange::single("other")));
    assert!(write(KeyRange::single("app/x")));
    assert!(!write(KeyRange::single("app/y")));
    assert!(!write(KeyRange::prefix("app/")));
    assert!(!state.permits("nobody", Access::Read, &KeyRange::single("app/a")));
    let empty = KeyRange {
        key: Bytes::from_static(b"b"),
        range_end: Bytes::from_static(b"a"),
    };
    assert!(read(empty), "a range holding no key touches nothing");
}

#[test]
fn adjacent_grants_cover_a_range_together() {
    let mut state = sample();
    apply(
        &mut state,
        grant("reader", PermissionKind::ReadWrite, KeyRange::prefix("b/")),
    );
    let across = KeyRange {
        key: Bytes::from_static(b"app/"),
        range_end: Bytes::from_static(b"b0"),
    };
    assert!(
        !state.permits("alice", Access::Read, &across),
        "the gap app0..b/ is not granted"
    );
    let gap = KeyRange {
        key: Bytes::from_static(b"app0"),
        range_end: Bytes::from_static(b"b/"),
    };
    apply(&mut state, grant("reader", PermissionKind::Read, gap));
    assert!(state.permits("alice", Access::Read, &across));
    assert!(!state.permits("alice", Access::Write, &across));
}

#[test]
fn root_may_do_anything_and_cannot_be_locked_out() {
    let mut state = sample();
    assert!(state.is_root(ROOT));
    assert!(!state.is_root("alice"));
    assert!(state.permits(ROOT, Access::Write, &KeyRange::from_key("")));
    let before = state.clone();
    let refusals = [
        (
            AuthCommand::UserDelete { name: ROOT.into() },
            AuthError::RootLockout,
        ),
        (
            AuthCommand::UserRevokeRole {
                user: ROOT.into(),
                role: ROOT.into(),
            },
            AuthError::RootLockout,
        ),
        (
            AuthCommand::RoleDelete { name: ROOT.into() },
            AuthError::RootRoleIsBuiltIn,
        ),
        (
            AuthCommand::RoleAdd { name: ROOT.into() },
            AuthError::RoleExists(ROOT.into()),
        ),
        (
            grant(ROOT, PermissionKind::Read, KeyRange::single("a")),
            AuthError::RootRoleIsBuiltIn,
        ),
    ];
    for (command, expected) in refusals {
        assert_eq!(state.apply(command), Err(expected));
        assert_eq!(state, before, "a refused command changes nothing");
    }
}

#[test]
fn enabling_needs_a_root_user_with_the_root_role() {
    let mut state = AuthState::default();
    let enable = AuthCommand::Enable {
        signing_key: Bytes::from_static(&KEY),
    };
    assert_eq!(state.apply(enable.clone()), Err(AuthError::RootUserMissing));
    apply(&mut state, user_add(ROOT));
    assert_eq!(state.apply(enable.clone()), Err(AuthError::RootUserMissing));
    apply(&mut state, grant_role(ROOT, ROOT));
    let short = AuthCommand::Enable {
        signing_key: Bytes::from_static(b"short"),
    };
    assert!(state.apply(short).is_err());
    apply(&mut state, enable);
    assert!(state.enabled());
    state.validate().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn every_applied_change_bumps_the_revision_and_refusals_do_not() {
    let mut state = AuthState::default();
    assert_eq!(apply(&mut state, user_add("a")), 1);
    assert!(state.apply(user_add("a")).is_err());
    assert_eq!(state.revision(), 1);
    assert_eq!(
        apply(&mut state, AuthCommand::RoleAdd { name: "r".into() }),
        2
    );
    assert_eq!(apply(&mut state, grant_role("a", "r")), 3);
    assert_eq!(
        apply(&mut state, AuthCommand::RoleDelete { name: "r".into() }),
        4
    );
    assert!(
        state.user("a").is_some_and(|user| user.roles.is_empty()),
        "deleting a role takes it from its users"
    );
}

#[test]
fn tokens_verify_until_expiry_or_a_change_to_their_user() {
    let mut state = sample();
    let token = state.issue_token("alice", 1_000, 300);
    assert_eq!(state.verify_token(&token, 1_299), Ok("alice".into()));
    assert_eq!(state.verify_token(&token, 1_300), Err(TokenError::Expired));
    apply(
        &mut state,
        AuthCommand::RoleAdd {
            name: "unrelated".into(),
        },
    );
    assert_eq!(
        state.verify_token(&token, 1_001),
        Ok("alice".into()),
        "other changes keep it"
    );
    apply(
        &mut state,
        AuthCommand::UserChangePassword {
            name: "alice".into(),
            password_hash: Some("$new".into()),
        },
    );
    assert_eq!(state.verify_token(&token, 1_001), Err(TokenError::Revoked));
    let fresh = state.issue_token("alice", 1_000, 300);
    assert_eq!(state.verify_token(&fresh, 1_001), Ok("alice".into()));
    apply(
        &mut state,
        AuthCommand::UserDelete {
            name: "alice".into(),
        },
    );
    assert_eq!(
        state.verify_token(&fresh, 1_001),
        Err(TokenError::UnknownUser)
    );
}

#[test]
fn a_token_from_another_key_or_altered_is_refused() {
    let state = sample();
    let claims = TokenClaims {
        user: ROOT.into(),
        auth_revision: 99,
        expires_at_unix_seconds: u64::MAX,
    };
    let forged = token::sign(&[8; SIGNING_KEY_BYTES], &claims);
    assert_eq!(
        state.verify_token(&forged, 0),
        Err(TokenError::BadSignature)
    );
    let genuine = state.issue_token("alice", 0, 300);
    let (signed, tag) = genuine
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("{genuine}"));
    let other_payload = token::sign(&KEY, &claims);
    let (other_signed, _) = other_payload
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("no dot"));
    assert_eq!(
        state.verify_token(&format!("{other_signed}.{tag}"), 0),
        Err(TokenError::BadSignature)
    );
    for garbled in [
        "",
        ".",
        "v1..",
        "v1.x.y",
        "v2.a.b",
        &"a".repeat(5000),
        &format!("{signed}."),
    ] {
        assert!(state.verify_token(garbled, 0).is_err(), "{garbled:?}");
    }
    assert_eq!(token::parse(&genuine, &[]), Err(TokenError::BadSignature));
}

/// The addresses the member tokens below report.
const REPORTED: ReportedAddresses<'static> = ReportedAddresses {
    peer_addr: "10.0.0.3:7003",
    client_addr: "http://10.0.0.3:8003",
};

/// A member token names its node until it expires (plus the clock-skew
/// leeway), only under the key that
/// signed it, and neither kind of token passes for the other: a user's
/// token (root's included) is no member's, and a member's is no user's.
#[test]
fn member_tokens_are_their_own_kind() {
    let state = sample();
    let member = state
        .issue_member_token(3, REPORTED, 1_000, 60)
        .unwrap_or_else(|| panic!("auth is enabled: a member token is issued"));
    assert!(member_token::is_member_token(&member));
    let node = |token: &str, now: u64| {
        state
            .verify_member_token(token, now)
            .map(|grant| grant.node_id)
    };
    assert_eq!(node(&member, 1_059), Ok(3));
    // Accepted up to the clock-skew leeway past its expiry, and no longer.
    let last_second = 1_060 + CLOCK_SKEW_LEEWAY_SECONDS - 1;
    assert_eq!(node(&member, last_second), Ok(3));
    assert_eq!(node(&member, last_second + 1), Err(TokenError::Expired));
    let root = state.issue_token(ROOT, 1_000, 300);
    assert!(!member_token::is_member_token(&root));
    assert!(state.verify_member_token(&root, 1_001).is_err());
    assert!(state.verify_token(&member, 1_001).is_err());
    // The same payload under the user kind's prefix: the tag covers the kind.
    let (_, rest) = member.split_once('.').unwrap_or_else(|| panic!("{member}"));
    assert!(state.verify_token(&format!("v1.{rest}"), 1_001).is_err());

    let mut other = AuthState::default();
    apply(&mut other, user_add(ROOT));
    apply(&mut other, grant_role(ROOT, ROOT));
    apply(
        &mut other,
        AuthCommand::Enable {
            signing_key: Bytes::from_static(&[9; SIGNING_KEY_BYTES]),
        },
    );
    let foreign = other
        .issue_member_token(3, REPORTED, 1_000, 60)
        .unwrap_or_else(|| panic!("enabled"));
    assert_eq!(node(&foreign, 1_001), Err(TokenError::BadSignature));
    assert_eq!(
        AuthState::default().issue_member_token(3, REPORTED, 1_000, 60),
        None
    );
}

#[test]
fn the_encoding_round_trips_and_refuses_broken_states() {
    let state = sample();
    assert_eq!(AuthState::decode(&state.encode()), Ok(state.clone()));
    let mut dangling = state.clone();
    dangling
        .users
        .get_mut("alice")
        .unwrap_or_else(|| panic!("alice"))
        .roles
        .insert("ghost".into());
    assert_eq!(
        AuthState::decode(&dangling.encode()),
        Err(AuthError::RoleNotFound("ghost".into()))
    );
    let mut rootless = state;
    rootless.users.remove(ROOT);
    assert_eq!(
        AuthState::decode(&rootless.encode()),
        Err(AuthError::RootUserMissing)
    );
    assert!(AuthState::decode(b"{not json").is_err());
}

#[test]
fn names_are_checked_before_anything_changes() {
    let mut state = AuthState::default();
    for name in ["", "a\nb", &"x".repeat(MAX_NAME_BYTES + 1)] {
        assert!(matches!(
            state.apply(user_add(name)),
            Err(AuthError::BadName(_))
        ));
        assert!(matches!(
            state.apply(AuthCommand::RoleAdd { name: name.into() }),
            Err(AuthError::BadName(_))
        ));
    }
    assert!(state.is_pristine());
}

#[test]
fn passwords_hash_and_verify() {
    let hash = password::hash_password("s3cret", &[1; password::SALT_BYTES])
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(password::verify_password(&hash, "s3cret"));
    assert!(!password::verify_password(&hash, "s3cre"));
    assert!(!password::verify_password("not a hash", "s3cret"));
    assert_eq!(
        password::hash_password("", &[1; 16]),
        Err(password::PasswordError::BadLength)
    );
}

#[test]
fn a_write_only_prefix_grant_permits_writes_under_it() {
    let mut state = sample();
    apply(
        &mut state,
        grant(
            "reader",
            PermissionKind::ReadWrite,
            KeyRange::single("app/w"),
        ),
    );
    apply(
        &mut state,
        grant("reader", PermissionKind::Write, KeyRange::prefix("drop/")),
    );
    assert!(state.permits("alice", Access::Write, &KeyRange::single("drop/x")));
    assert!(!state.permits("alice", Access::Read, &KeyRange::single("drop/x")));
}
