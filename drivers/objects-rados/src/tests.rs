//! The `ObjectStore` contract and the RADOS store's own guarantees, against a real cluster.
//!
//! The cluster comes from `KUMO_CEPH_CONF` (set by `source /run/kumo-ceph/env` after
//! `drivers/ceph/setup-ceph.sh`); without it the tests print `SKIPPED` and pass. Each test
//! uses a RADOS namespace of its own, so tests run in parallel on one pool and start empty.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kumo_driver_api::{BlobId, ByteStream, ObjectStore, ObjectStoreError};

use crate::{Config, RadosObjectStore};

fn config() -> Option<Config> {
    let Some(conf) = std::env::var_os("KUMO_CEPH_CONF") else {
        eprintln!(
            "SKIPPED: no Ceph cluster (KUMO_CEPH_CONF unset; run drivers/ceph/setup-ceph.sh and source /run/kumo-ceph/env)"
        );
        return None;
    };
    let pool = std::env::var("KUMO_CEPH_OBJECT_POOL").unwrap_or_else(|_| "kumo-objects".into());
    let mut config = Config::new(conf, pool);
    config.namespace = Some(format!("t-{}", uuid::Uuid::new_v4().simple()));
    Some(config)
}

async fn open(config: Config) -> RadosObjectStore {
    tokio::task::spawn_blocking(move || RadosObjectStore::open(config))
        .await
        .expect("join")
        .expect("open the RADOS store")
}

fn id(s: &str) -> BlobId {
    BlobId::new(s).expect("valid id")
}

fn body(data: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

async fn read_all(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

fn objects(store: &RadosObjectStore) -> Vec<String> {
    let mut names = store.inner.rados.names().expect("list objects");
    names.sort();
    names
}

#[tokio::test]
async fn contract_with_stripe_sizes() {
    let Some(base) = config() else { return };
    // The default (4 MiB: every contract blob is one stripe), and small and odd stripes so
    // that blobs and ranges cross stripe boundaries.
    for stripe in [4 * 1024 * 1024, 65_536, 100_003] {
        let mut config = base.clone();
        config.stripe_size = stripe;
        config.namespace = Some(format!(
            "{}-{stripe}",
            base.namespace.as_deref().unwrap_or("")
        ));
        let store = open(config).await;
        let started = std::time::Instant::now();
        kumo_driver_api::contract::object_store_suite(Arc::new(store.clone())).await;
        eprintln!(
            "RADOS ObjectStore contract (stripe {stripe}) passed in {:?}",
            started.elapsed()
        );
        assert!(objects(&store).is_empty(), "nothing is left in the pool");
    }
}

#[tokio::test]
async fn large_blobs_are_striped_and_ranges_cross_stripes() {
    let Some(mut config) = config() else { return };
    config.stripe_size = 1024 * 1024;
    let store = open(config).await;
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
    let len = store
        .put(&id("big"), body(&data, 16_384))
        .await
        .expect("put");
    assert_eq!(len, 5_000_000);
    assert_eq!(
        objects(&store),
        ["big", "big.0", "big.1", "big.2", "big.3", "big.4"]
    );
    let all = read_all(store.get(&id("big"), 0..len).await.expect("get")).await;
    assert!(all == data, "whole blob");
    let across = read_all(
        store
            .get(&id("big"), 1_048_000..3_146_000)
            .await
            .expect("get"),
    )
    .await;
    assert!(
        across == data[1_048_000..3_146_000],
        "range over three stripes"
    );
    let listed = store.list().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].len, 5_000_000);
    store.delete(&id("big")).await.expect("delete");
    assert!(objects(&store).is_empty(), "stripes go with the blob");
}

#[tokio::test]
async fn small_blobs_live_inline_in_their_head() {
    let Some(config) = config() else { return };
    let store = open(config).await;
    let data: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        store
            .put(&id("small"), body(&data, 1000))
            .await
            .expect("put"),
        65_536
    );
    // One byte more than INLINE_MAX is striped.
    let over = [&data[..], b"x"].concat();
    store
        .put(&id("over"), body(&over, 4096))
        .await
        .expect("put");
    store.put(&id("empty"), body(b"", 1)).await.expect("put");
    assert_eq!(objects(&store), ["empty", "over", "over.0", "small"]);
    let all = read_all(store.get(&id("small"), 0..65_536).await.expect("get")).await;
    assert!(all == data, "whole inline blob");
    let part = read_all(store.get(&id("small"), 100..300).await.expect("get")).await;
    assert!(part == data[100..300], "a range of an inline blob");
    assert!(
        read_all(store.get(&id("empty"), 0..0).await.expect("get"))
            .await
            .is_empty()
    );
    assert_eq!(store.len(&id("small")).await.expect("len"), 65_536);
    assert!(matches!(
        store.get(&id("small"), 0..65_537).await,
        Err(ObjectStoreError::InvalidRange { .. })
    ));
    let mut listed: Vec<(String, u64)> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|b| (b.id.to_string(), b.len))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("empty".into(), 0),
            ("over".into(), 65_537),
            ("small".into(), 65_536)
        ]
    );
    for name in ["small", "over", "empty"] {
        store.delete(&id(name)).await.expect("delete");
    }
    assert!(objects(&store).is_empty());
}

#[tokio::test]
async fn an_interrupted_put_is_hidden_then_collected() {
    let Some(mut config) = config() else { return };
    config.stripe_size = 65_536;
    config.pending_grace = Duration::from_millis(0);
    let store = open(config.clone()).await;
    // What a crash after two stripes leaves: a claimed, header-less head and the stripes.
    let inner = Arc::clone(&store.inner);
    tokio::task::spawn_blocking(move || {
        assert!(inner.rados.claim("crashed").expect("claim"));
        inner
            .rados
            .write_full("crashed.0", &[1; 65_536])
            .expect("stripe");
        inner
            .rados
            .write_full("crashed.1", &[2; 100])
            .expect("stripe");
    })
    .await
    .expect("join");
    assert!(matches!(
        store.len(&id("crashed")).await,
        Err(ObjectStoreError::NotFound(_))
    ));
    assert!(matches!(
        store.get(&id("crashed"), 0..1).await,
        Err(ObjectStoreError::NotFound(_))
    ));
    assert!(matches!(
        store.put(&id("crashed"), body(b"x", 1)).await,
        Err(ObjectStoreError::AlreadyExists(_))
    ));
    // Past the grace period the collector sees it and deleting it removes every stripe.
    let listed = store.list().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_str(), "crashed");
    store.delete(&id("crashed")).await.expect("delete");
    assert!(objects(&store).is_empty());

    // Within the grace period a blob being written is not reported.
    config.pending_grace = Duration::from_secs(3600);
    let patient = open(config).await;
    let inner = Arc::clone(&patient.inner);
    tokio::task::spawn_blocking(move || inner.rados.claim("writing").expect("claim"))
        .await
        .expect("join");
    assert!(patient.list().await.expect("list").is_empty());
    patient.delete(&id("writing")).await.expect("delete");
}

#[tokio::test]
async fn concurrent_puts_of_one_id_have_one_winner() {
    let Some(config) = config() else { return };
    let store = open(config).await;
    let puts = (0..4u8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.put(&id("race"), body(&[i; 1000], 100)).await })
    });
    let results = futures::future::join_all(puts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(1000)))).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(ObjectStoreError::AlreadyExists(_)))))
        .count();
    assert_eq!((won, lost), (1, 3));
    let data = read_all(store.get(&id("race"), 0..1000).await.expect("get")).await;
    assert!(data.iter().all(|b| *b == data[0]), "one writer's bytes");
    store.delete(&id("race")).await.expect("delete");
}

#[tokio::test]
async fn list_reports_every_blob() {
    let Some(config) = config() else { return };
    let store = open(config).await;
    let puts = (0..300u32).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let data = vec![7u8; (i % 5) as usize];
            store.put(&id(&format!("b-{i}")), body(&data, 2)).await
        })
    });
    for put in futures::future::join_all(puts).await {
        put.expect("join").expect("put");
    }
    let started = std::time::Instant::now();
    let mut listed = store.list().await.expect("list");
    eprintln!("listed {} blobs in {:?}", listed.len(), started.elapsed());
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed.len(), 300);
    for info in &listed {
        let i: u64 = info.id.as_str()[2..].parse().expect("number");
        assert_eq!(info.len, i % 5, "{}", info.id);
    }
    for info in listed {
        store.delete(&info.id).await.expect("delete");
    }
    assert!(objects(&store).is_empty());
}
