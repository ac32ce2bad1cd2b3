//! Key pairs: SSH keys Kumo generates (`CreateKeyPair`, the private key returned once and never
//! stored) or imports (`ImportKeyPair`), whose public half the metadata service hands to
//! instances (`public-keys/0/openssh-key`).
//!
//! Fingerprints follow AWS exactly, because users compare them with local tools:
//! - RSA created by Kumo: SHA-1 of the PKCS#8 DER private key, colon-separated hex
//!   (`openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c`);
//! - RSA imported: MD5 of the SubjectPublicKeyInfo DER, colon-separated hex
//!   (`openssl rsa -pubout -outform DER | openssl md5 -c`);
//! - ED25519 (both): base64 of the SHA-256 of the OpenSSH public key blob, with `=` padding
//!   (`ssh-keygen -l` prints the same digest without padding).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::Fault;
use crate::Error;
use crate::ec2::Ec2;
use crate::ids;
use crate::query::filter::{Filter, FilterTable};
use crate::query::tags::{Tag, validate};

/// A key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// `key-…`.
    pub id: String,
    /// Name, unique in the account.
    pub name: String,
    /// `rsa` or `ed25519`.
    pub key_type: String,
    /// AWS's fingerprint (see the module docs).
    pub fingerprint: String,
    /// The public key in OpenSSH format (`ssh-ed25519 AAAA… name`).
    pub public_key: String,
    /// Creation or import time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A key pair Kumo generated, with the private key the caller receives once.
#[derive(Debug, Clone)]
pub struct CreatedKeyPair {
    /// The stored record.
    pub key_pair: KeyPair,
    /// The private key, PEM (`RSA PRIVATE KEY` for RSA, `OPENSSH PRIVATE KEY` for ED25519).
    pub material: String,
}

static KEY_FILTERS: FilterTable<KeyPair> = FilterTable {
    resource: "key pair",
    fields: &[
        ("key-pair-id", |k, out| out.push(k.id.clone())),
        ("key-name", |k, out| out.push(k.name.clone())),
        ("fingerprint", |k, out| out.push(k.fingerprint.clone())),
        ("key-type", |k, out| out.push(k.key_type.clone())),
    ],
    tags: Some(|k| {
        k.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

/// Longest key name AWS accepts.
const MAX_NAME: usize = 255;
/// Longest public key text accepted (an RSA-16384 OpenSSH line is under 3 KiB).
const MAX_PUBLIC_KEY: usize = 16 * 1024;

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn invalid_key(message: impl Into<String>) -> Fault {
    Fault::new("InvalidKey.Format", message)
}

/// SSH wire encoding: a `string` (u32 length then bytes).
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// SSH wire encoding of a non-negative `mpint`.
fn put_mpint(out: &mut Vec<u8>, n: &BigUint) {
    let mut bytes = n.to_bytes_be();
    while bytes.first() == Some(&0) {
        bytes.remove(0);
    }
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    put_string(out, &bytes);
}

/// Reads SSH wire `string`s from a key blob.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Result<&'a [u8], Fault> {
        let malformed = || invalid_key("Key is not in valid OpenSSH public key format");
        let (len, rest) = self.0.split_first_chunk::<4>().ok_or_else(malformed)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| malformed())?;
        if rest.len() < len {
            return Err(malformed());
        }
        let (s, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(s)
    }
}

fn rsa_blob(key: &RsaPublicKey) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, key.e());
    put_mpint(&mut blob, key.n());
    blob
}

fn ed25519_blob(public: &[u8; 32]) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, public);
    blob
}

fn ed25519_fingerprint(blob: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(blob))
}

fn openssh_line(kind: &str, blob: &[u8], name: &str) -> String {
    format!("{kind} {} {name}", STANDARD.encode(blob))
}

/// A parsed public key: its type, fingerprint (imported rules) and OpenSSH blob.
struct Parsed {
    key_type: &'static str,
    fingerprint: String,
    blob: Vec<u8>,
}

/// Parses an imported public key: an OpenSSH line (`ssh-rsa AAAA… comment`) or an RFC 4716
/// `---- BEGIN SSH2 PUBLIC KEY ----` block.
fn parse_public_key(material: &[u8]) -> Result<Parsed, Fault> {
    if material.len() > MAX_PUBLIC_KEY {
        return Err(invalid_key("Key is too long"));
    }
    let text = std::str::from_utf8(material)
        .map_err(|_| invalid_key("Key is not in valid OpenSSH public key format"))?
        .trim();
    let b64: String = if text.starts_with("---- BEGIN SSH2 PUBLIC KEY ----") {
        let mut body = String::new();
        let mut continued = false;
        for line in text.lines().skip(1) {
            let line = line.trim();
            if line.starts_with("---- END") {
                break;
            }
            if continued || line.contains(':') {
                continued = line.ends_with('\\');
                continue;
            }
            body.push_str(line);
        }
        body
    } else {
        let mut parts = text.split_whitespace();
        let _kind = parts.next();
        parts
            .next()
            .ok_or_else(|| invalid_key("Key is not in valid OpenSSH public key format"))?
            .to_owned()
    };
    let blob = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| invalid_key("Key is not in valid OpenSSH public key format"))?;
    let mut r = Reader(&blob);
    match r.string()? {
        b"ssh-rsa" => {
            let e = BigUint::from_bytes_be(r.string()?);
            let n = BigUint::from_bytes_be(r.string()?);
            let key = RsaPublicKey::new(n, e)
                .map_err(|e| invalid_key(format!("Invalid RSA public key: {e}")))?;
            let bits = key.n().bits();
            if !(1024..=4096).contains(&bits) {
                return Err(invalid_key(format!(
                    "RSA keys must be 1024 to 4096 bits long, not {bits}"
                )));
            }
            let der = key
                .to_public_key_der()
                .map_err(|e| invalid_key(format!("Invalid RSA public key: {e}")))?;
            Ok(Parsed {
                key_type: "rsa",
                fingerprint: colon_hex(&Md5::digest(der.as_bytes())),
                blob: rsa_blob(&key),
            })
        }
        b"ssh-ed25519" => {
            let public: [u8; 32] = r
                .string()?
                .try_into()
                .map_err(|_| invalid_key("ED25519 public keys are 32 bytes"))?;
            ed25519_dalek::VerifyingKey::from_bytes(&public)
                .map_err(|_| invalid_key("Invalid ED25519 public key"))?;
            let blob = ed25519_blob(&public);
            Ok(Parsed {
                key_type: "ed25519",
                fingerprint: ed25519_fingerprint(&blob),
                blob,
            })
        }
        other => Err(invalid_key(format!(
            "Key type '{}' is not supported: use ssh-rsa or ssh-ed25519",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// An RSA-2048 key: PKCS#1 PEM, AWS's created-key fingerprint, OpenSSH blob.
fn generate_rsa() -> Result<(String, String, Vec<u8>), Error> {
    let key = RsaPrivateKey::new(&mut rand_core_06::OsRng, 2048)
        .map_err(|e| Error::Task(format!("RSA key generation failed: {e}")))?;
    let pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| Error::Task(format!("RSA key encoding failed: {e}")))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| Error::Task(format!("RSA key encoding failed: {e}")))?;
    let fingerprint = colon_hex(&Sha1::digest(pkcs8.as_bytes()));
    Ok((pem.to_string(), fingerprint, rsa_blob(&key.to_public_key())))
}

/// An ED25519 key in OpenSSH's private key format (`openssh-key-v1`, unencrypted).
fn generate_ed25519(comment: &str) -> (String, String, Vec<u8>) {
    let seed: [u8; 32] = rand::random();
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = signing.verifying_key().to_bytes();
    let blob = ed25519_blob(&public);
    let check: u32 = rand::random();
    let mut private = Vec::new();
    private.extend_from_slice(&check.to_be_bytes());
    private.extend_from_slice(&check.to_be_bytes());
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, &public);
    let mut keypair = seed.to_vec();
    keypair.extend_from_slice(&public);
    put_string(&mut private, &keypair);
    put_string(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut out = b"openssh-key-v1\0".to_vec();
    put_string(&mut out, b"none");
    put_string(&mut out, b"none");
    put_string(&mut out, b"");
    out.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut out, &blob);
    put_string(&mut out, &private);
    let b64 = STANDARD.encode(&out);
    let mut pem = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    (pem, ed25519_fingerprint(&blob), blob)
}

fn check_name(name: &str) -> Result<(), Fault> {
    if name.is_empty() {
        return Err(Fault::missing("KeyName"));
    }
    if name.chars().count() > MAX_NAME || !name.is_ascii() {
        return Err(Fault::invalid_value(format!(
            "Value ({name}) for parameter KeyName is invalid: up to {MAX_NAME} ASCII characters"
        )));
    }
    Ok(())
}

fn key_not_found(what: &str) -> Fault {
    Fault::new(
        "InvalidKeyPair.NotFound",
        format!("The key pair '{what}' does not exist"),
    )
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or_default()
}

impl Ec2 {
    fn store_key_pair(&self, account: &str, key: KeyPair) -> Result<KeyPair, Error> {
        self.store().transaction(|t| {
            if t.list::<KeyPair>(account)
                .iter()
                .any(|k| k.name == key.name)
            {
                return Err(Fault::new(
                    "InvalidKeyPair.Duplicate",
                    format!("The keypair '{}' already exists.", key.name),
                )
                .into());
            }
            t.put(account, key.clone());
            Ok(key)
        })
    }

    /// `CreateKeyPair`: generates an RSA-2048 (default) or ED25519 key; returns the private key
    /// once (PEM; PuTTY's `ppk` format is refused).
    pub fn create_key_pair(
        &self,
        account: &str,
        name: &str,
        key_type: Option<&str>,
        key_format: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<CreatedKeyPair, Error> {
        check_name(name)?;
        validate(&tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        match key_format.unwrap_or("pem") {
            "pem" => {}
            "ppk" => {
                return Err(Fault::new(
                    "UnsupportedOperation",
                    "KeyFormat ppk is not supported by Kumo: create a pem key and convert it with puttygen",
                )
                .into());
            }
            other => {
                return Err(Fault::invalid_value(format!(
                    "Value ({other}) for parameter KeyFormat is invalid"
                ))
                .into());
            }
        }
        if !self
            .store()
            .scan(account, |k: &KeyPair| (k.name == name).then_some(()))?
            .is_empty()
        {
            return Err(Fault::new(
                "InvalidKeyPair.Duplicate",
                format!("The keypair '{name}' already exists."),
            )
            .into());
        }
        let (material, fingerprint, blob, kind, ssh_kind) = match key_type.unwrap_or("rsa") {
            "rsa" => {
                let (m, f, b) = generate_rsa()?;
                (m, f, b, "rsa", "ssh-rsa")
            }
            "ed25519" => {
                let (m, f, b) = generate_ed25519(name);
                (m, f, b, "ed25519", "ssh-ed25519")
            }
            other => {
                return Err(Fault::invalid_value(format!(
                    "Value ({other}) for parameter KeyType is invalid"
                ))
                .into());
            }
        };
        let key = KeyPair {
            id: ids::resource_id("key"),
            name: name.to_owned(),
            key_type: kind.to_owned(),
            fingerprint,
            public_key: openssh_line(ssh_kind, &blob, name),
            created_ms: now_ms(),
            tags,
        };
        let key_pair = self.store_key_pair(account, key)?;
        Ok(CreatedKeyPair { key_pair, material })
    }

    /// `ImportKeyPair`: records an OpenSSH (or RFC 4716) RSA or ED25519 public key.
    pub fn import_key_pair(
        &self,
        account: &str,
        name: &str,
        public_key_material: &[u8],
        tags: Vec<Tag>,
    ) -> Result<KeyPair, Error> {
        check_name(name)?;
        if public_key_material.is_empty() {
            return Err(Fault::missing("PublicKeyMaterial").into());
        }
        validate(&tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let parsed = parse_public_key(public_key_material)?;
        let ssh_kind = if parsed.key_type == "rsa" {
            "ssh-rsa"
        } else {
            "ssh-ed25519"
        };
        let key = KeyPair {
            id: ids::resource_id("key"),
            name: name.to_owned(),
            key_type: parsed.key_type.to_owned(),
            fingerprint: parsed.fingerprint,
            public_key: openssh_line(ssh_kind, &parsed.blob, name),
            created_ms: now_ms(),
            tags,
        };
        self.store_key_pair(account, key)
    }

    /// `DescribeKeyPairs`: by names, ids and filters (every named key must exist).
    pub fn describe_key_pairs(
        &self,
        account: &str,
        names: &[String],
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<KeyPair>, Error> {
        crate::ec2::listing::select_named(
            self.store().list::<KeyPair>(account)?,
            &KEY_FILTERS,
            filters,
            names,
            ids,
            |k| &k.name,
            key_not_found,
            |id| {
                Fault::new(
                    "InvalidKeyPair.NotFound",
                    format!("The key pair ID '{id}' does not exist"),
                )
            },
        )
    }

    /// `DeleteKeyPair` by name or id. As AWS, deleting a key that does not exist succeeds;
    /// returns the deleted key's id when there was one.
    pub fn delete_key_pair(
        &self,
        account: &str,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let name = name.filter(|s| !s.is_empty());
        let id = id.filter(|s| !s.is_empty());
        if name.is_none() && id.is_none() {
            return Err(Fault::missing("KeyName").into());
        }
        self.store().transaction(|t| {
            let found = t
                .list::<KeyPair>(account)
                .into_iter()
                .find(|k| Some(k.name.as_str()) == name || Some(k.id.as_str()) == id);
            Ok(found.map(|k| {
                t.delete::<KeyPair>(account, &k.id);
                k.id
            }))
        })
    }

    /// The OpenSSH public key of `account`'s key pair `name`, for the instance metadata
    /// service (`public-keys/0/openssh-key`) and cloud-init.
    pub fn public_key_openssh(&self, account: &str, name: &str) -> Result<Option<String>, Error> {
        Ok(self
            .store()
            .scan(account, |k: &KeyPair| {
                (k.name == name).then(|| k.public_key.clone())
            })?
            .pop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::ec2;

    fn code(e: Error) -> &'static str {
        match e {
            Error::Fault(f) => f.code,
            other => panic!("not a fault: {other}"),
        }
    }

    // `ssh-keygen -t ed25519` output; `ssh-keygen -l` prints SHA256:hUA1mYrXZXO+JsLFbZHV8YZKHbEbhTmkuEH0tawFO+I.
    const ED_PUB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpSOZBhUWTkEykjzdcgQ+CdRWRiAU6DOeXxMFrp1MqU test";

    #[test]
    fn create_import_describe_delete() {
        let ec2 = ec2();
        let ed = ec2
            .create_key_pair("111", "ed", Some("ed25519"), None, Vec::new())
            .expect("ed25519");
        assert!(
            ed.material
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        );
        assert_eq!(ed.key_pair.fingerprint.len(), 44, "padded base64 SHA-256");
        assert!(
            ed.key_pair
                .public_key
                .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
        );
        let rsa = ec2
            .create_key_pair("111", "rsa", None, Some("pem"), Vec::new())
            .expect("rsa");
        assert!(
            rsa.material
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        assert_eq!(rsa.key_pair.fingerprint.len(), 59, "SHA-1 colon hex");
        // The fingerprint is SHA-1 of the PKCS#8 DER of the returned private key.
        let key = <RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(&rsa.material)
            .expect("parse");
        let der = key.to_pkcs8_der().expect("der");
        assert_eq!(
            rsa.key_pair.fingerprint,
            colon_hex(&Sha1::digest(der.as_bytes()))
        );
        let e = ec2.create_key_pair("111", "rsa", None, None, Vec::new());
        assert_eq!(code(e.expect_err("dup")), "InvalidKeyPair.Duplicate");
        let e = ec2.create_key_pair("111", "p", None, Some("ppk"), Vec::new());
        assert_eq!(code(e.expect_err("ppk")), "UnsupportedOperation");

        // Re-importing the created RSA key's public half gives AWS's imported fingerprint.
        let imported = ec2
            .import_key_pair(
                "111",
                "again",
                rsa.key_pair.public_key.as_bytes(),
                Vec::new(),
            )
            .expect("import rsa");
        let spki = key.to_public_key().to_public_key_der().expect("spki");
        assert_eq!(
            imported.fingerprint,
            colon_hex(&Md5::digest(spki.as_bytes()))
        );
        assert_eq!(imported.key_type, "rsa");
        let e = ec2.import_key_pair("111", "bad", b"ssh-rsa notbase64!", Vec::new());
        assert_eq!(code(e.expect_err("bad")), "InvalidKey.Format");
        let e = ec2.import_key_pair("111", "bad", b"ssh-dss AAAAB3NzaC1kc3MAAAA=", Vec::new());
        assert_eq!(code(e.expect_err("dss")), "InvalidKey.Format");

        let got = ec2
            .describe_key_pairs(
                "111",
                &[],
                &[],
                &[Filter {
                    name: "key-type".into(),
                    values: vec!["ed25519".into()],
                }],
            )
            .expect("describe");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "ed");
        let e = ec2.describe_key_pairs("111", &["nope".into()], &[], &[]);
        assert_eq!(code(e.expect_err("missing")), "InvalidKeyPair.NotFound");
        assert_eq!(
            ec2.public_key_openssh("111", "ed").expect("pk"),
            Some(ed.key_pair.public_key.clone())
        );
        assert_eq!(ec2.public_key_openssh("222", "ed").expect("pk"), None);
        assert_eq!(
            ec2.delete_key_pair("111", Some("ed"), None)
                .expect("delete"),
            Some(ed.key_pair.id)
        );
        assert_eq!(
            ec2.delete_key_pair("111", Some("ed"), None).expect("again"),
            None
        );
    }

    #[test]
    fn ed25519_import_fingerprint_matches_ssh_keygen() {
        let ec2 = ec2();
        let k = ec2
            .import_key_pair("111", "ed", ED_PUB.as_bytes(), Vec::new())
            .expect("import");
        assert_eq!(k.key_type, "ed25519");
        // Same digest as ssh-keygen's SHA256:… (without padding).
        assert_eq!(
            k.fingerprint,
            "hUA1mYrXZXO+JsLFbZHV8YZKHbEbhTmkuEH0tawFO+I="
        );
        assert!(k.fingerprint.ends_with('='));
        let rfc4716 = format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"test\"\n{}\n---- END SSH2 PUBLIC KEY ----\n",
            "AAAAC3NzaC1lZDI1NTE5AAAAIBpSOZBhUWTkEykjzdcgQ+CdRWRiAU6DOeXxMFrp1MqU"
        );
        let k2 = ec2
            .import_key_pair("111", "ed2", rfc4716.as_bytes(), Vec::new())
            .expect("rfc4716");
        assert_eq!(k2.fingerprint, k.fingerprint);
    }
}
