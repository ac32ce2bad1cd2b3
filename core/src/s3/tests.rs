//! Unit tests of the S3 rules over the real redb `StateStore` and the real local
//! `ObjectStore`, in temporary directories.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use kumo_driver_api::{BlobId, ByteStream, ObjectStore};

use super::checksum::{ChecksumAlgorithm, ExpectedChecksum, Integrity, checksum_of};
use super::listing::{ListObjectsRequest, ListVersionsRequest};
use super::multipart::{CompletedPart, CreateUploadRequest};
use super::objects::{GetObjectRequest, PutObjectRequest};
use super::*;
use crate::iam::Principal;

struct Env {
    _dir: tempfile::TempDir,
    svc: ObjectService,
    objects: Arc<dyn ObjectStore>,
    me: Principal,
}

fn principal(account: &str) -> Principal {
    Principal {
        account_id: account.to_owned(),
        user_id: account.to_owned(),
        arn: format!("arn:aws:iam::{account}:root"),
        access_key_id: "AKIATEST".to_owned(),
    }
}

async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let state =
        Arc::new(kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("redb"));
    let objects: Arc<dyn ObjectStore> = Arc::new(
        kumo_objects_local::LocalObjectStore::open(&dir.path().join("objects")).expect("objects"),
    );
    let svc = ObjectService::new(state, objects.clone(), "us-east-1", 5 * 1024 * 1024 * 1024);
    let me = principal("111111111111");
    svc.create_bucket(Some(&me), "bkt", None, None)
        .await
        .expect("bucket");
    Env {
        _dir: dir,
        svc,
        objects,
        me,
    }
}

fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

fn put_req(key: &str, data: &[u8]) -> PutObjectRequest {
    PutObjectRequest {
        bucket: "bkt".to_owned(),
        key: key.to_owned(),
        body: body(data),
        integrity: Integrity::default(),
        headers: model::ContentHeaders::default(),
        metadata: Default::default(),
        tags: Vec::new(),
        if_none_match_any: false,
        if_match: None,
        acl: None,
    }
}

impl Env {
    async fn put(&self, key: &str, data: &[u8]) -> model::ObjectVersion {
        self.svc
            .put_object(Some(&self.me), put_req(key, data))
            .await
            .expect("put")
    }

    async fn get(&self, key: &str, version: Option<&str>) -> Result<Vec<u8>> {
        let req = GetObjectRequest {
            bucket: "bkt".to_owned(),
            key: key.to_owned(),
            version_id: version.map(str::to_owned),
            ..Default::default()
        };
        let read = self.svc.get_object(Some(&self.me), &req, true).await?;
        let mut out = Vec::new();
        let mut stream = read.body.expect("body");
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        Ok(out)
    }

    async fn blob_count(&self) -> usize {
        self.objects.list().await.expect("list").len()
    }

    async fn list_all(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        page: usize,
    ) -> (Vec<String>, Vec<String>, usize) {
        let (mut keys, mut prefixes, mut pages) = (Vec::new(), Vec::new(), 0);
        let mut marker = None;
        loop {
            let p = self
                .svc
                .list_objects(
                    Some(&self.me),
                    ListObjectsRequest {
                        bucket: "bkt".to_owned(),
                        prefix: prefix.to_owned(),
                        delimiter: delimiter.map(str::to_owned),
                        start_after: marker.clone(),
                        max_keys: page,
                    },
                )
                .await
                .expect("list");
            pages += 1;
            keys.extend(p.objects.iter().map(|o| o.key.clone()));
            prefixes.extend(p.common_prefixes.clone());
            if !p.is_truncated {
                return (keys, prefixes, pages);
            }
            marker = p.next_marker;
            assert!(pages < 100, "listing does not terminate");
        }
    }
}

#[tokio::test]
async fn listing_with_delimiters_and_markers() {
    let e = env().await;
    let keys = [
        "foo/bar",
        "foo/bar/xyzzy",
        "foo/",
        "foo/baz",
        "quux",
        "a b",
        "a+b",
        "a/1",
        "a/2",
        "a/3",
        "ü",
    ];
    for k in keys {
        e.put(k, k.as_bytes()).await;
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    for page in [1, 2, 3, 1000] {
        let (all, prefixes, _) = e.list_all("", None, page).await;
        assert_eq!(all, sorted, "page size {page}");
        assert!(prefixes.is_empty());
    }
    for page in [1, 2, 1000] {
        let (keys, prefixes, _) = e.list_all("", Some("/"), page).await;
        assert_eq!(keys, ["a b", "a+b", "quux", "ü"], "page size {page}");
        assert_eq!(prefixes, ["a/", "foo/"], "page size {page}");
        let (keys, prefixes, _) = e.list_all("foo/", Some("/"), page).await;
        assert_eq!(keys, ["foo/", "foo/bar", "foo/baz"]);
        assert_eq!(prefixes, ["foo/bar/"]);
    }
    // A common prefix over many keys costs one entry, not one scan per key.
    for i in 0..300 {
        e.put(&format!("many/{i:04}"), b"x").await;
    }
    let (_, prefixes, pages) = e.list_all("", Some("/"), 1).await;
    assert_eq!(prefixes, ["a/", "foo/", "many/"]);
    assert_eq!(pages, 7);
    // Keys are not paths: a key can equal a prefix of another key and end in '/'.
    assert_eq!(e.get("foo/", None).await.expect("get"), b"foo/");
}

#[tokio::test]
async fn versioning_markers_and_suspension() {
    let e = env().await;
    e.put("k", b"null-1").await;
    e.svc
        .put_bucket_versioning(Some(&e.me), "bkt", true)
        .await
        .expect("enable");
    let v1 = e.put("k", b"v1").await;
    let v2 = e.put("k", b"v2").await;
    assert_ne!(v1.version_id, v2.version_id);
    assert_eq!(e.get("k", None).await.expect("get"), b"v2");
    assert_eq!(e.get("k", Some(&v1.version_id)).await.expect("get"), b"v1");
    assert_eq!(e.get("k", Some("null")).await.expect("get"), b"null-1");
    let del = e
        .svc
        .delete_object(Some(&e.me), "bkt", "k", None)
        .await
        .expect("delete");
    assert!(del.delete_marker);
    assert!(matches!(e.get("k", None).await, Err(Error::NoSuchKey(_))));
    assert_eq!(
        e.svc.latest_delete_marker("bkt", "k"),
        del.version_id.clone()
    );
    let versions = |e: &Env| {
        let svc = e.svc.clone();
        let me = e.me.clone();
        async move {
            svc.list_object_versions(
                Some(&me),
                ListVersionsRequest {
                    bucket: "bkt".to_owned(),
                    max_keys: 1000,
                    ..Default::default()
                },
            )
            .await
            .expect("versions")
        }
    };
    let page = versions(&e).await;
    assert_eq!(page.entries.len(), 4);
    assert!(page.entries[0].version.delete_marker && page.entries[0].is_latest);
    assert!(page.entries[1..].iter().all(|v| !v.is_latest));
    assert!(matches!(
        e.svc.delete_bucket(Some(&e.me), "bkt").await,
        Err(Error::BucketNotEmpty(_))
    ));
    // Removing the marker makes v2 current again.
    e.svc
        .delete_object(Some(&e.me), "bkt", "k", del.version_id.as_deref())
        .await
        .expect("delete marker");
    assert_eq!(e.get("k", None).await.expect("get"), b"v2");
    // Suspended: writes replace the null version; the old null blob is freed.
    e.svc
        .put_bucket_versioning(Some(&e.me), "bkt", false)
        .await
        .expect("suspend");
    let before = e.blob_count().await;
    e.put("k", b"s1").await;
    assert_eq!(
        e.blob_count().await,
        before,
        "the old null version's blob is deleted"
    );
    let page = versions(&e).await;
    assert_eq!(
        page.entries
            .iter()
            .filter(|v| v.version.version_id == "null")
            .count(),
        1
    );
    assert_eq!(e.get("k", Some("null")).await.expect("get"), b"s1");
    // Paging through versions one at a time visits each exactly once.
    let mut seen = Vec::new();
    let (mut km, mut vm) = (None, None);
    loop {
        let p = e
            .svc
            .list_object_versions(
                Some(&e.me),
                ListVersionsRequest {
                    bucket: "bkt".to_owned(),
                    key_marker: km.clone(),
                    version_id_marker: vm.clone(),
                    max_keys: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("page");
        seen.extend(
            p.entries
                .iter()
                .map(|v| (v.version.version_id.clone(), v.is_latest)),
        );
        if !p.is_truncated {
            break;
        }
        km = p.next_key_marker;
        vm = p.next_version_id_marker;
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen.iter().filter(|(_, latest)| *latest).count(), 1);
    assert!(seen[0].1);
}

#[tokio::test]
async fn multipart_completion_stitches_parts_by_reference() {
    let e = env().await;
    let upload = e
        .svc
        .create_multipart_upload(
            Some(&e.me),
            CreateUploadRequest {
                bucket: "bkt".to_owned(),
                key: "mp".to_owned(),
                checksum_algorithm: Some(ChecksumAlgorithm::Crc32),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let big = vec![7u8; 5 * 1024 * 1024];
    let id = upload.upload_id.clone();
    let put_part = |n: u32, data: Vec<u8>| {
        let svc = e.svc.clone();
        let me = e.me.clone();
        let id = id.clone();
        async move {
            svc.upload_part(
                Some(&me),
                "bkt",
                "mp",
                &id,
                n,
                body(&data),
                Integrity::default(),
            )
            .await
            .expect("part")
        }
    };
    let p1 = put_part(1, big.clone()).await;
    let p2 = put_part(2, b"tail".to_vec()).await;
    let p3 = put_part(3, b"unused".to_vec()).await;
    assert!(p1.checksum.is_some());
    let parts_before: Vec<String> = [&p1, &p2, &p3].iter().map(|p| p.blob.clone()).collect();
    // Too small a non-last part.
    let small_first = vec![
        CompletedPart {
            part_number: 2,
            etag: p2.etag.clone(),
        },
        CompletedPart {
            part_number: 3,
            etag: p3.etag.clone(),
        },
    ];
    assert!(matches!(
        e.svc
            .complete_multipart_upload(Some(&e.me), "bkt", "mp", &id, small_first)
            .await,
        Err(Error::EntityTooSmall(2))
    ));
    let wrong = vec![CompletedPart {
        part_number: 1,
        etag: "\"00\"".to_owned(),
    }];
    assert!(matches!(
        e.svc
            .complete_multipart_upload(Some(&e.me), "bkt", "mp", &id, wrong)
            .await,
        Err(Error::InvalidPart(1))
    ));
    let chosen = vec![
        CompletedPart {
            part_number: 1,
            etag: format!("\"{}\"", p1.etag),
        },
        CompletedPart {
            part_number: 2,
            etag: p2.etag.clone(),
        },
    ];
    let v = e
        .svc
        .complete_multipart_upload(Some(&e.me), "bkt", "mp", &id, chosen.clone())
        .await
        .expect("complete");
    assert!(v.etag.ends_with("-2"));
    // By reference: the object's segments ARE the part blobs; the unused part's blob is gone.
    let segs: Vec<String> = v.segments.iter().map(|s| s.blob.clone()).collect();
    assert_eq!(segs, parts_before[..2]);
    let blobs: Vec<String> = e
        .objects
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.id.to_string())
        .collect();
    assert!(!blobs.contains(&parts_before[2]));
    assert_eq!(blobs.len(), 2);
    let data = e.get("mp", None).await.expect("get");
    assert_eq!(data.len(), big.len() + 4);
    assert_eq!(&data[big.len()..], b"tail");
    // A repeated Complete succeeds with the same ETag.
    let again = e
        .svc
        .complete_multipart_upload(Some(&e.me), "bkt", "mp", &id, chosen)
        .await
        .expect("again");
    assert_eq!(again.etag, v.etag);
    assert!(matches!(
        e.svc
            .abort_multipart_upload(Some(&e.me), "bkt", "mp", &id)
            .await,
        Err(Error::NoSuchUpload(_))
    ));
    // Deleting the object frees its (former part) blobs.
    e.svc
        .delete_object(Some(&e.me), "bkt", "mp", None)
        .await
        .expect("delete");
    assert_eq!(e.blob_count().await, 0);
}

#[tokio::test]
async fn checksum_mismatch_keeps_the_old_object() {
    let e = env().await;
    e.put("k", b"original").await;
    let mut req = put_req("k", b"replaced");
    req.integrity = Integrity {
        checksum: Some(ExpectedChecksum {
            algorithm: ChecksumAlgorithm::Crc32,
            value: Some(checksum_of(ChecksumAlgorithm::Crc32, b"something else")),
            trailer: None,
        }),
        ..Integrity::default()
    };
    assert!(matches!(
        e.svc.put_object(Some(&e.me), req).await,
        Err(Error::BadDigest(_))
    ));
    // A checksum arriving in a trailer is verified the same way.
    let mut req = put_req("k", b"replaced");
    req.integrity = Integrity {
        checksum: Some(ExpectedChecksum {
            algorithm: ChecksumAlgorithm::Sha256,
            value: None,
            trailer: Some(Box::new(|| {
                Some(checksum_of(ChecksumAlgorithm::Sha256, b"nope"))
            })),
        }),
        ..Integrity::default()
    };
    assert!(matches!(
        e.svc.put_object(Some(&e.me), req).await,
        Err(Error::BadDigest(_))
    ));
    let mut req = put_req("k", b"replaced");
    req.integrity.content_md5 = Some("AAAAAAAAAAAAAAAAAAAAAA==".to_owned());
    assert!(matches!(
        e.svc.put_object(Some(&e.me), req).await,
        Err(Error::BadDigest(_))
    ));
    let mut req = put_req("k", b"replaced");
    req.integrity.content_length = Some(100);
    assert!(matches!(
        e.svc.put_object(Some(&e.me), req).await,
        Err(Error::IncompleteBody(_))
    ));
    assert_eq!(e.get("k", None).await.expect("get"), b"original");
    assert_eq!(
        e.blob_count().await,
        1,
        "rejected bodies leave no blob behind"
    );
    // A matching trailer is accepted and stored.
    let mut req = put_req("k", b"replaced");
    req.integrity = Integrity {
        checksum: Some(ExpectedChecksum {
            algorithm: ChecksumAlgorithm::Crc32c,
            value: None,
            trailer: Some(Box::new(|| {
                Some(checksum_of(ChecksumAlgorithm::Crc32c, b"replaced"))
            })),
        }),
        ..Integrity::default()
    };
    let v = e.svc.put_object(Some(&e.me), req).await.expect("put");
    assert_eq!(
        v.checksum.map(|c| c.value),
        Some(checksum_of(ChecksumAlgorithm::Crc32c, b"replaced"))
    );
    assert_eq!(e.blob_count().await, 1, "the overwritten blob is deleted");
}

#[tokio::test]
async fn conditional_put_and_size_limit() {
    let e = env().await;
    let mut req = put_req("k", b"one");
    req.if_none_match_any = true;
    e.svc.put_object(Some(&e.me), req).await.expect("first");
    let mut req = put_req("k", b"two");
    req.if_none_match_any = true;
    assert!(matches!(
        e.svc.put_object(Some(&e.me), req).await,
        Err(Error::PreconditionFailed(_))
    ));
    let small = ObjectService::new(e.svc.state.clone(), e.objects.clone(), "us-east-1", 10);
    assert!(matches!(
        small
            .put_object(Some(&e.me), put_req("big", &[0u8; 11]))
            .await,
        Err(Error::EntityTooLarge { .. })
    ));
    assert_eq!(e.blob_count().await, 1);
}

#[tokio::test]
async fn access_is_by_account() {
    let e = env().await;
    let other = principal("222222222222");
    assert!(matches!(
        e.svc.put_object(Some(&other), put_req("k", b"x")).await,
        Err(Error::AccessDenied(_))
    ));
    assert!(matches!(
        e.svc.put_object(None, put_req("k", b"x")).await,
        Err(Error::AccessDenied(_))
    ));
    assert!(matches!(
        e.svc.create_bucket(Some(&other), "bkt", None, None).await,
        Err(Error::BucketAlreadyExists(_))
    ));
    assert!(matches!(
        e.svc.create_bucket(Some(&e.me), "bkt", None, None).await,
        Err(Error::BucketAlreadyOwnedByYou(_))
    ));
    assert!(e.svc.list_buckets(Some(&other)).expect("list").is_empty());
    assert!(matches!(
        e.svc
            .create_bucket(Some(&e.me), "Bad_Name", None, None)
            .await,
        Err(Error::InvalidBucketName(_))
    ));
}

#[tokio::test]
async fn gc_removes_only_unreferenced_blobs() {
    let e = env().await;
    e.put("kept", b"kept").await;
    let upload = e
        .svc
        .create_multipart_upload(
            Some(&e.me),
            CreateUploadRequest {
                bucket: "bkt".to_owned(),
                key: "pending".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    e.svc
        .upload_part(
            Some(&e.me),
            "bkt",
            "pending",
            &upload.upload_id,
            1,
            body(b"part"),
            Integrity::default(),
        )
        .await
        .expect("part");
    // A blob written before a crash whose metadata never committed.
    let orphan = BlobId::new("orphan").expect("id");
    e.objects.put(&orphan, body(b"lost")).await.expect("orphan");
    let report = e.svc.collect_garbage().await.expect("gc");
    assert_eq!(report.blobs, 3);
    assert_eq!(report.deleted, 1);
    assert!(e.objects.len(&orphan).await.is_err());
    assert_eq!(e.get("kept", None).await.expect("get"), b"kept");
}
