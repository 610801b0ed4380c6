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

/// A fake whose next `drops` transactions are applied but answered with a
/// body cut off mid-way, as when the leader is killed after committing.
async fn fixture_losing_answers() -> (
    std::sync::Arc<FakeStore>,
    Client,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use axum::body::{Body, Bytes};
    use axum::extract::Request;
    use axum::middleware::Next;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let store = FakeStore::new();
    let drops = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    let router = store.router().layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let counter = counter.clone();
            async move {
                let is_txn = request.uri().path() == "/v1/txn";
                let response = next.run(request).await;
                let cut = is_txn
                    && counter
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                if !cut {
                    return response;
                }
                let (mut parts, _) = response.into_parts();
                parts.headers.remove(http::header::CONTENT_LENGTH);
                let broken = futures_util::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other("leader killed"))
                });
                axum::response::Response::from_parts(parts, Body::from_stream(broken))
            }
        },
    ));
    let endpoint = serve(router).await;
    let client = Client::new(ClientConfig::new(vec![endpoint]).with_timeout(STEP)).unwrap();
    (store, client, drops)
}

/// Answers lost after the transaction was applied (a leader killed -9
/// mid-request, seen in `e2e_recipes`) do not fail a lock, an unlock, a
/// campaign or a resign: every transaction the recipes send is safe to
/// repeat, and they repeat it.
#[tokio::test]
async fn lost_answers_are_repeated_not_failed() {
    use std::sync::atomic::Ordering;

    let (store, client, drops) = fixture_losing_answers().await;
    let session = Session::new(&client, 10).await.unwrap();
    let mutex = Mutex::new(&session, "lost");
    drops.store(2, Ordering::SeqCst);
    let guard = timeout(STEP, mutex.lock()).await.unwrap().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "both answers were cut");
    assert_eq!(store.keys(), [mutex.key().to_owned()]);
    drops.store(1, Ordering::SeqCst);
    guard.unlock().await.unwrap();
    assert!(store.keys().is_empty(), "{:?}", store.keys());

    let election = Election::new(&session, "chief");
    drops.store(3, Ordering::SeqCst);
    timeout(STEP, election.campaign("me"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let leader = election.leader().await.unwrap().unwrap();
    assert_eq!(&leader.value[..], b"me");
    drops.store(1, Ordering::SeqCst);
    election.resign().await.unwrap();
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}
