//! The mutex and election recipes against the fake coordination store
//! (`coordination_fake`): contenders are served in `create_revision`
//! order, and each waiter watches only the contender just before it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod coordination_fake;

use std::time::Duration;

use coordination_fake::{FakeStore, serve};
use ordo_kv::client::recipes::{Election, Mutex, RecipeError, Session};
use ordo_kv::client::{Client, ClientConfig};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(5);

async fn fixture() -> (std::sync::Arc<FakeStore>, Client) {
    let store = FakeStore::new();
    let endpoint = serve(store.router()).await;
    let client = Client::new(ClientConfig::new(vec![endpoint]).with_timeout(STEP)).unwrap();
    (store, client)
}

/// Waits until the store has seen `count` watches.
async fn watches(store: &FakeStore, count: usize) -> Vec<String> {
    timeout(STEP, async {
        loop {
            let watched = store.watched();
            if watched.len() >= count {
                return watched;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the watches were not opened")
}

/// The watched key of a recorded watch query.
fn watched_key(query: &str) -> String {
    let encoded = query
        .split('&')
        .find_map(|part| part.strip_prefix("key="))
        .expect("a watch of one key");
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// Three sessions queue for one lock: the second watches the first's key,
/// the third the second's (never the holder's), and they get the lock in
/// the order they asked.
#[tokio::test]
async fn waiters_watch_only_their_predecessor_and_are_served_in_order() {
    let (store, client) = fixture().await;
    let sessions = [
        Session::new(&client, 10).await.unwrap(),
        Session::new(&client, 10).await.unwrap(),
        Session::new(&client, 10).await.unwrap(),
    ];
    let mutexes: Vec<Mutex> = sessions
        .iter()
        .map(|session| Mutex::new(session, "jobs"))
        .collect();
    assert_eq!(mutexes[0].key(), "jobs/1");

    let first = timeout(STEP, mutexes[0].lock()).await.unwrap().unwrap();
    let second_mutex = mutexes[1].clone();
    let mut second = tokio::spawn(async move { second_mutex.lock().await });
    watches(&store, 1).await;
    let third_mutex = mutexes[2].clone();
    let mut third = tokio::spawn(async move { third_mutex.lock().await });
    let watched = watches(&store, 2).await;
    assert_eq!(
        watched
            .iter()
            .map(|query| watched_key(query))
            .collect::<Vec<_>>(),
        ["jobs/1", "jobs/2"],
        "{watched:?}"
    );

    first.unlock().await.unwrap();
    let second_guard = timeout(STEP, &mut second).await.unwrap().unwrap().unwrap();
    assert_eq!(second_guard.key(), "jobs/2");
    assert!(
        timeout(Duration::from_millis(200), &mut third)
            .await
            .is_err(),
        "the third got the lock while the second held it"
    );
    second_guard.unlock().await.unwrap();
    let third_guard = timeout(STEP, &mut third).await.unwrap().unwrap().unwrap();
    assert_eq!(third_guard.key(), "jobs/3");
    // Nobody re-watched anything: a release woke exactly one waiter.
    assert_eq!(store.watched().len(), 2, "{:?}", store.watched());
}

/// `try_lock` on a held lock fails and leaves no key behind; once the
/// holder's session closes (its lease revoked), it succeeds.
#[tokio::test]
async fn try_lock_fails_while_held_and_leaves_the_line() {
    let (store, client) = fixture().await;
    let holder = Session::new(&client, 10).await.unwrap();
    let other = Session::new(&client, 10).await.unwrap();
    let _held = Mutex::new(&holder, "m").lock().await.unwrap();
    let refused = Mutex::new(&other, "m").try_lock().await;
    assert!(matches!(refused, Err(RecipeError::Locked)), "{refused:?}");
    assert_eq!(store.keys(), ["m/1"]);
    holder.close().await.unwrap();
    let taken = Mutex::new(&other, "m").try_lock().await.unwrap();
    assert_eq!(taken.key(), "m/2");
}

/// The first campaigner leads; the second waits until it resigns; an
/// observer sees both in order, and a resigned leader cannot proclaim.
#[tokio::test]
async fn the_election_follows_campaign_order() {
    let (_store, client) = fixture().await;
    let mut observer = Election::observe(&client, "svc");
    let first_seen = timeout(STEP, observer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first_seen, None);

    let one = Election::new(&Session::new(&client, 10).await.unwrap(), "svc");
    let two = Election::new(&Session::new(&client, 10).await.unwrap(), "svc");
    timeout(STEP, one.campaign("one")).await.unwrap().unwrap();
    let leader = observer.next().await.unwrap().unwrap().unwrap();
    assert_eq!(
        (leader.key.as_str(), &leader.value[..]),
        ("svc/1", &b"one"[..])
    );

    let mut second = tokio::spawn(async move { two.campaign("two").await.map(|()| two) });
    assert!(
        timeout(Duration::from_millis(200), &mut second)
            .await
            .is_err()
    );
    assert_eq!(one.leader().await.unwrap().unwrap().value, "one");
    one.proclaim("one, again").await.unwrap();
    let leader = observer.next().await.unwrap().unwrap().unwrap();
    assert_eq!(leader.value, "one, again");

    one.resign().await.unwrap();
    let two = timeout(STEP, &mut second).await.unwrap().unwrap().unwrap();
    let leader = timeout(STEP, observer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (leader.key.as_str(), &leader.value[..]),
        ("svc/2", &b"two"[..])
    );
    assert!(matches!(
        one.proclaim("stale").await,
        Err(RecipeError::NotLeader)
    ));
    assert_eq!(two.leader().await.unwrap().unwrap().value, "two");
}
