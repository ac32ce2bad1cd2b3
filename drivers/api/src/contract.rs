//! Contract test suites: every implementation of a seam trait runs these from its own tests,
//! so that all backends behave alike (as Garage's `test_suite(db)`).

use std::sync::Arc;

pub mod block_store;
pub use block_store::{QemuIo, VolumeIo, block_store_suite, qemu_tools_missing};

use bytes::Bytes;
use futures::StreamExt;

use crate::{BlobId, ByteStream, KeyRange, ObjectStore, ObjectStoreError, StateError, StateStore};
use crate::{WriteTxn, transact};

pub use crate::network_contract::{NetworkSuiteIds, network_fabric_suite};

const T: &str = "contract_t";
const U: &str = "contract_u";

/// Runs every `StateStore` check against `store`, which must be empty.
pub fn state_store_suite(store: &dyn StateStore) {
    get_missing_is_none(store);
    put_get_delete(store);
    scan_orders_and_bounds(store);
    aborted_transaction_writes_nothing(store);
    transaction_reads_its_own_writes(store);
    tables_are_separate(store);
}

fn put_row(store: &dyn StateStore, table: &'static str, key: &[u8], value: &[u8]) {
    store
        .write(&mut |txn| txn.put(table, key, value))
        .expect("put commits");
}

fn get_missing_is_none(store: &dyn StateStore) {
    assert_eq!(store.get(T, b"missing").expect("get"), None);
    assert_eq!(
        store
            .get("never_written", b"x")
            .expect("get from new table"),
        None
    );
    let rows = store
        .scan("never_written", b"", KeyRange::all(), 10)
        .expect("scan new table");
    assert!(rows.is_empty());
}

fn put_get_delete(store: &dyn StateStore) {
    put_row(store, T, b"k1", b"v1");
    assert_eq!(store.get(T, b"k1").expect("get"), Some(b"v1".to_vec()));
    put_row(store, T, b"k1", b"v2");
    assert_eq!(store.get(T, b"k1").expect("get"), Some(b"v2".to_vec()));
    let mut existed = false;
    store
        .write(&mut |txn| {
            existed = txn.delete(T, b"k1")?;
            Ok(())
        })
        .expect("delete commits");
    assert!(existed);
    assert_eq!(store.get(T, b"k1").expect("get"), None);
    store
        .write(&mut |txn| {
            existed = txn.delete(T, b"k1")?;
            Ok(())
        })
        .expect("delete of a missing key commits");
    assert!(!existed);
    // Empty values and binary keys round-trip.
    put_row(store, T, b"\x00\xff", b"");
    assert_eq!(store.get(T, b"\x00\xff").expect("get"), Some(Vec::new()));
    store
        .write(&mut |txn| txn.delete(T, b"\x00\xff").map(|_| ()))
        .expect("cleanup");
}

fn scan_orders_and_bounds(store: &dyn StateStore) {
    for key in ["b/2", "a/1", "b/1", "b/10", "c", "b"] {
        put_row(store, U, key.as_bytes(), key.as_bytes());
    }
    let keys = |rows: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<String> {
        rows.into_iter()
            .map(|(k, v)| {
                assert_eq!(k, v);
                String::from_utf8(k).expect("utf8 key")
            })
            .collect()
    };
    let all = keys(store.scan(U, b"", KeyRange::all(), 100).expect("scan"));
    assert_eq!(all, ["a/1", "b", "b/1", "b/10", "b/2", "c"]);
    let prefixed = keys(
        store
            .scan(U, b"b/", KeyRange::prefix(b"b/"), 100)
            .expect("scan"),
    );
    assert_eq!(prefixed, ["b/1", "b/10", "b/2"]);
    let limited = keys(
        store
            .scan(U, b"b/", KeyRange::prefix(b"b/"), 2)
            .expect("scan"),
    );
    assert_eq!(limited, ["b/1", "b/10"]);
    let after = keys(
        store
            .scan(U, b"b/", KeyRange::after(b"b/10"), 100)
            .expect("scan"),
    );
    assert_eq!(after, ["b/2"]);
    let from = keys(
        store
            .scan(U, b"", KeyRange::from(b"b/10"), 100)
            .expect("scan"),
    );
    assert_eq!(from, ["b/10", "b/2", "c"]);
    let zero = store.scan(U, b"", KeyRange::all(), 0).expect("scan");
    assert!(zero.is_empty());
    let bounded = keys(
        store
            .scan(
                U,
                b"",
                KeyRange {
                    start: std::ops::Bound::Excluded(b"a/1".as_slice()),
                    end: std::ops::Bound::Excluded(b"b/2".as_slice()),
                },
                100,
            )
            .expect("scan"),
    );
    assert_eq!(bounded, ["b", "b/1", "b/10"]);
}

#[derive(Debug)]
enum DomainError {
    Refused,
    Store,
}

impl From<StateError> for DomainError {
    fn from(_: StateError) -> Self {
        Self::Store
    }
}

fn aborted_transaction_writes_nothing(store: &dyn StateStore) {
    let result: Result<(), DomainError> = transact(store, |txn: &mut dyn WriteTxn| {
        txn.put(T, b"aborted", b"x")?;
        Err(DomainError::Refused)
    });
    assert!(matches!(result, Err(DomainError::Refused)));
    assert_eq!(store.get(T, b"aborted").expect("get"), None);
    let committed: Result<u32, DomainError> = transact(store, |txn: &mut dyn WriteTxn| {
        txn.put(T, b"committed", b"y")?;
        Ok(7)
    });
    assert_eq!(committed.expect("commits"), 7);
    assert_eq!(
        store.get(T, b"committed").expect("get"),
        Some(b"y".to_vec())
    );
}

fn transaction_reads_its_own_writes(store: &dyn StateStore) {
    store
        .write(&mut |txn| {
            txn.put(T, b"own/1", b"1")?;
            txn.put(T, b"own/2", b"2")?;
            assert_eq!(txn.get(T, b"own/1")?, Some(b"1".to_vec()));
            let rows = txn.scan(T, b"own/", KeyRange::prefix(b"own/"), 10)?;
            assert_eq!(rows.len(), 2);
            txn.delete(T, b"own/1")?;
            assert_eq!(txn.get(T, b"own/1")?, None);
            Ok(())
        })
        .expect("commits");
    assert_eq!(store.get(T, b"own/2").expect("get"), Some(b"2".to_vec()));
}

fn tables_are_separate(store: &dyn StateStore) {
    put_row(store, "contract_x", b"same", b"x");
    put_row(store, "contract_y", b"same", b"y");
    assert_eq!(
        store.get("contract_x", b"same").expect("get"),
        Some(b"x".to_vec())
    );
    assert_eq!(
        store.get("contract_y", b"same").expect("get"),
        Some(b"y".to_vec())
    );
}

fn body(chunks: Vec<Result<Bytes, std::io::Error>>) -> ByteStream {
    Box::pin(futures::stream::iter(chunks))
}

async fn read_all(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

fn id(s: &str) -> BlobId {
    BlobId::new(s).expect("valid id")
}

/// Runs every `ObjectStore` check against `store`, which must be empty.
pub async fn object_store_suite(store: Arc<dyn ObjectStore>) {
    // Round trip, several chunks, ranges.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let chunks = data
        .chunks(65_536)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let len = store.put(&id("blob-1"), body(chunks)).await.expect("put");
    assert_eq!(len, data.len() as u64);
    assert_eq!(store.len(&id("blob-1")).await.expect("len"), len);
    let full = read_all(store.get(&id("blob-1"), 0..len).await.expect("get")).await;
    assert_eq!(full, data);
    let part = read_all(
        store
            .get(&id("blob-1"), 70_000..70_010)
            .await
            .expect("get range"),
    )
    .await;
    assert_eq!(part, &data[70_000..70_010]);
    let empty_range = read_all(store.get(&id("blob-1"), 5..5).await.expect("empty range")).await;
    assert!(empty_range.is_empty());
    assert!(matches!(
        store.get(&id("blob-1"), 0..len + 1).await,
        Err(ObjectStoreError::InvalidRange { .. })
    ));

    // Empty blob.
    let len = store
        .put(&id("empty"), body(vec![]))
        .await
        .expect("put empty");
    assert_eq!(len, 0);
    assert!(
        read_all(store.get(&id("empty"), 0..0).await.expect("get"))
            .await
            .is_empty()
    );

    // Ids are never overwritten.
    assert!(matches!(
        store
            .put(&id("blob-1"), body(vec![Ok(Bytes::from_static(b"x"))]))
            .await,
        Err(ObjectStoreError::AlreadyExists(_))
    ));

    // A failing body leaves nothing behind.
    let failing = body(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("client went away")),
    ]);
    assert!(matches!(
        store.put(&id("broken"), failing).await,
        Err(ObjectStoreError::Body(_))
    ));
    assert!(matches!(
        store.len(&id("broken")).await,
        Err(ObjectStoreError::NotFound(_))
    ));

    // Listing and deletion.
    let mut listed: Vec<String> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.id.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["blob-1", "empty"]);
    store.delete(&id("blob-1")).await.expect("delete");
    store
        .delete(&id("blob-1"))
        .await
        .expect("delete missing is fine");
    assert!(matches!(
        store.get(&id("blob-1"), 0..1).await,
        Err(ObjectStoreError::NotFound(_))
    ));
    store.delete(&id("empty")).await.expect("delete");
    assert!(store.list().await.expect("list").is_empty());
}
