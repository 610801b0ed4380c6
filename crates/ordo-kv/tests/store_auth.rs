//! The auth state inside the store: commands through the log encoding,
//! the keys untouched, and the version 3 backup that carries it (with no
//! auth record when auth was never used).

use bytes::Bytes;
use ordo::{Entry, StateMachine};
use ordo_kv::auth::{AuthCommand, AuthError, Permission, PermissionKind, ROOT, SIGNING_KEY_BYTES};
use ordo_kv::store::{
    BackupError, KeyRange, KvCommand, KvError, KvResponse, KvStore, read_backup_summary,
};

fn apply(store: &mut KvStore, command: KvCommand) -> KvResponse {
    // Through postcard, as the log carries it.
    let encoded = postcard::to_allocvec(&command).unwrap_or_else(|error| panic!("{error}"));
    let decoded: KvCommand =
        postcard::from_bytes(&encoded).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(decoded, command);
    let mut responses = store.apply(vec![Entry {
        index: 1,
        term: 1,
        command: decoded,
    }]);
    responses.pop().unwrap_or_else(|| panic!("no response"))
}

fn auth(command: AuthCommand) -> KvCommand {
    KvCommand::Auth(command)
}

fn store_with_auth() -> KvStore {
    let mut store = KvStore::new();
    let put = KvCommand::Put {
        key: Bytes::from_static(b"k"),
        value: Bytes::from_static(b"v"),
        if_revision: None,
    };
    assert_eq!(apply(&mut store, put), KvResponse::Written { revision: 1 });
    let commands = [
        AuthCommand::UserAdd {
            name: ROOT.into(),
            password_hash: Some("$argon2id$x".into()),
        },
        AuthCommand::UserGrantRole {
            user: ROOT.into(),
            role: ROOT.into(),
        },
        AuthCommand::RoleAdd {
            name: "reader".into(),
        },
        AuthCommand::RoleGrantPermission {
            role: "reader".into(),
            permission: Permission {
                kind: PermissionKind::Read,
                range: KeyRange::prefix("app/"),
            },
        },
        AuthCommand::Enable {
            signing_key: Bytes::from_static(&[3; SIGNING_KEY_BYTES]),
        },
    ];
    for (command, revision) in commands.into_iter().zip(1..) {
        assert_eq!(
            apply(&mut store, auth(command)),
            KvResponse::AuthChanged {
                auth_revision: revision
            }
        );
    }
    store
}

fn backup(store: &KvStore) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .snapshot(&mut out)
        .unwrap_or_else(|error| panic!("{error}"));
    out
}

#[test]
fn auth_commands_change_no_key_nor_the_cluster_revision() {
    let mut store = store_with_auth();
    assert_eq!(store.cluster_revision(), 1);
    assert!(store.auth().enabled());
    let refused = apply(
        &mut store,
        auth(AuthCommand::UserDelete { name: ROOT.into() }),
    );
    assert_eq!(
        refused,
        KvResponse::Refused(KvError::Auth(AuthError::RootLockout))
    );
    assert_eq!(store.auth().revision(), 5);
}

#[test]
fn a_backup_carries_the_auth_state_from_version_3_on() {
    let store = store_with_auth();
    let bytes = backup(&store);
    let summary = read_backup_summary(&mut &bytes[..]).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        (summary.format_version, summary.users, summary.auth_enabled),
        (4, 1, true)
    );
    let mut restored = KvStore::new();
    restored
        .restore(&mut &bytes[..])
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(restored, store);
    assert_eq!(backup(&restored), bytes);
}

#[test]
fn a_store_that_never_used_auth_writes_no_auth_record_and_restores_with_auth_off() {
    let mut store = KvStore::new();
    let put = KvCommand::Put {
        key: Bytes::from_static(b"k"),
        value: Bytes::from_static(b"v"),
        if_revision: None,
    };
    apply(&mut store, put);
    let bytes = backup(&store);
    let summary = read_backup_summary(&mut &bytes[..]).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        (summary.format_version, summary.users, summary.auth_enabled),
        (4, 0, false)
    );
    // The auth record is JSON; nothing else in this backup has a brace.
    assert!(!bytes.contains(&b'{'), "no auth record");
    let mut restored = store_with_auth();
    restored
        .restore(&mut &bytes[..])
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(!restored.auth().enabled());
    assert!(restored.auth().is_pristine());
}

#[test]
fn a_broken_auth_record_is_refused() {
    let bytes = backup(&store_with_auth());
    let at = bytes
        .windows(4)
        .position(|window| window == b"root")
        .unwrap_or_else(|| panic!("no user name in the backup"));
    let mut renamed = bytes.clone();
    // `root` becomes `rooT`: no root user while enabled. The CRC is
    // recomputed so only the auth check can refuse it.
    renamed[at + 3] = b'T';
    let crc_at = renamed.len() - 4;
    let crc = crc32c::crc32c(&renamed[..crc_at]);
    renamed[crc_at..].copy_from_slice(&crc.to_le_bytes());
    match read_backup_summary(&mut &renamed[..]) {
        Err(BackupError::BadAuth { .. }) => {}
        other => panic!("expected a bad auth record, got {other:?}"),
    }
    let mut store = KvStore::new();
    assert!(store.restore(&mut &renamed[..]).is_err());
    assert!(
        store.auth().is_pristine(),
        "a refused restore changes nothing"
    );
}
