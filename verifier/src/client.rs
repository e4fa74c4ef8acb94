//! A blocking client of the verifier service, and the audit of its log.
//!
//! [`audit`] is what `zkgov log verify` runs: it checks the checkpoint's
//! signature, its consistency with the last checkpoint the caller trusted,
//! that the entries the service serves rebuild exactly the signed root, and
//! that every receipt given is still in the log, unchanged.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use zkgov_keys::store::KeyDir;
use zkgov_log::checkpoint::{Checkpoint, CheckpointError, LogVerifier};
use zkgov_log::entry::Entry;
use zkgov_log::handover::{HandoverError, LogKeys};
use zkgov_log::receipt::{Receipt, ReceiptError};
use zkgov_log::replay::{replay, Violation};
use zkgov_log::rules::{
    check_statement, compare, verify_proofs, CaseResult, LogState, LoggedKey, ProofClaim, Refusal,
};
use zkgov_log::signature::{DepartmentSigner, EntrySignature};
use zkgov_log::tree::{
    leaf_hash, verify_consistency, verify_inclusion, Hash, MemoryTree, ProofError,
};
use zkgov_log::{decode_hash, encode_hash};

use crate::proof_line::ProofLine;

/// What can go wrong talking to the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service could not be reached, or the connection failed.
    #[error("cannot reach the service at {url}: {message}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The service refused the request.
    #[error("{url}: {status} {reason}: {message}")]
    Refused {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The machine-readable reason.
        reason: String,
        /// The message.
        message: String,
    },
    /// The service answered something this client does not understand.
    #[error("{url}: unexpected answer: {message}")]
    Unexpected {
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// Why a request got no answer, in an operator's words: reqwest's own
/// message (`error sending request for url (…)`) names neither the cause
/// nor the fix, which sit deeper in its chain of sources.
fn why_unreachable(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut io_kind = None;
    let mut innermost = None;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            return "connection refused (is the service running, and is this its address?)".into()
        }
        Some(std::io::ErrorKind::ConnectionReset) => return "the connection was reset".into(),
        _ => {}
    }
    if error.is_timeout() {
        "no answer in time".into()
    } else {
        innermost.unwrap_or_else(|| error.to_string())
    }
}

/// A client of one service.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
    /// The department's key, which signs its roots, decisions and refusals.
    signer: Option<Arc<DepartmentSigner>>,
    /// The log's origin, which signatures name, once read.
    origin: OnceLock<String>,
    received: std::sync::atomic::AtomicU64,
}

/// The outcome of one submitted proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A new entry.
    Accepted(Receipt),
    /// The statement was already in the log; its receipt.
    Existing(Receipt),
    /// Refused, with the reason and message.
    Rejected {
        /// The machine-readable reason.
        reason: String,
        /// The message.
        message: String,
    },
}

pub use zkgov_log::rules::Comparison;

impl Client {
    /// A client of the service at `base` (such as `http://127.0.0.1:8080`),
    /// acting with `token` on state-changing routes.
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("an HTTP client"),
            signer: None,
            origin: OnceLock::new(),
            received: Default::default(),
        }
    }

    /// The same client, signing as the department whose key `signer` is.
    pub fn with_signer(mut self, signer: Arc<DepartmentSigner>) -> Client {
        self.signer = Some(signer);
        self
    }

    /// The department whose key the client signs with, if it has one.
    pub fn department(&self) -> Option<&str> {
        self.signer.as_deref().map(DepartmentSigner::department)
    }

    /// The log's origin, as its checkpoint names it. It is not verified:
    /// a signature for another origin is refused by the log's rules.
    fn origin(&self) -> Result<&str, ClientError> {
        if let Some(origin) = self.origin.get() {
            return Ok(origin);
        }
        let note = self.checkpoint()?;
        let origin = note.split('\n').next().unwrap_or_default().to_string();
        Ok(self.origin.get_or_init(|| origin))
    }

    /// The client's signature of `entry` (its time and signature aside), or
    /// none without a key. `replaces` is for governance entries.
    pub fn sign(
        &self,
        entry: &Entry,
        replaces: Option<u64>,
    ) -> Result<Option<EntrySignature>, ClientError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        Ok(Some(signer.sign(entry, self.origin()?, replaces, now)))
    }

    /// The department the client acts as in an entry it signs: its key's
    /// name. Without a key the service goes by the token, and the name is
    /// not signed.
    fn acting_as(&self) -> String {
        self.department().unwrap_or_default().to_string()
    }

    /// The bytes of response bodies received so far.
    pub fn bytes_received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The body of `GET path`, as bytes; any status but 200 is refused.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let url = self.url(path);
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.clone(),
            message: why_unreachable(&e),
        };
        let response = self.http.get(&url).send().map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().map_err(unreachable)?;
        self.received
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if status != 200 {
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(refused(&url, status, &value));
        }
        Ok(bytes.to_vec())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(
        &self,
        request: reqwest::blocking::RequestBuilder,
        url: &str,
    ) -> Result<(u16, String), ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            message: why_unreachable(&e),
        })?;
        let status = response.status().as_u16();
        let text = response.text().map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            message: why_unreachable(&e),
        })?;
        self.received
            .fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok((status, text))
    }

    fn json(&self, url: &str, status: u16, text: &str) -> Result<Value, ClientError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ClientError::Unexpected {
            url: url.to_string(),
            message: format!("status {status}, not JSON: {e}"),
        })?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(refused(url, status, &value))
        }
    }

    fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let url = self.url(path);
        let (status, text) = self.send(self.http.get(&url), &url)?;
        self.json(&url, status, &text)
    }

    fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), ClientError> {
        let url = self.url(path);
        let (status, text) = self.send(self.http.post(&url).json(body), &url)?;
        Ok((status, self.json(&url, status, &text)?))
    }

    fn receipt(&self, path: &str, value: Value) -> Result<Receipt, ClientError> {
        serde_json::from_value(value).map_err(|e| ClientError::Unexpected {
            url: self.url(path),
            message: format!("not a receipt: {e}"),
        })
    }

    /// Registers a key directory's verifying key, with its schema, policy
    /// and provenance, for `registry`; needs the admin token.
    pub fn register_key(&self, registry: &str, keys: &KeyDir) -> Result<Receipt, ClientError> {
        let path = "/v1/keys";
        let (_, body) = self.post_json(
            path,
            &json!({
                "registry": registry,
                "verifying_key": zkgov_keys::snarkjs::verifying_key_to_json(&keys.verifying_key),
                "schema": keys.schema_text,
                "policy": keys.policy_text,
                "provenance": keys.metadata.provenance(),
            }),
        )?;
        self.receipt(path, body)
    }

    /// Anchors a registry root.
    pub fn publish_root(&self, registry: &str, root: &str) -> Result<Receipt, ClientError> {
        let path = format!("/v1/registries/{registry}/roots");
        let entry = Entry::Root {
            department: self.acting_as(),
            registry: registry.to_string(),
            root: root.to_string(),
            time: String::new(),
            signature: None,
        };
        let signature = self.sign(&entry, None)?;
        let (_, body) = self.post_json(&path, &signed_body(json!({ "root": root }), signature))?;
        self.receipt(&path, body)
    }

    /// Submits one proof (a `proven` line of `zkgov prove`).
    pub fn submit(&self, submission: &ProofLine) -> Result<Submitted, ClientError> {
        let url = self.url("/v1/proofs");
        let (status, text) = self.send(self.http.post(&url).json(submission), &url)?;
        match self.json(&url, status, &text) {
            Ok(body) => {
                let receipt = self.receipt("/v1/proofs", body)?;
                Ok(if status == 201 {
                    Submitted::Accepted(receipt)
                } else {
                    Submitted::Existing(receipt)
                })
            }
            Err(ClientError::Refused {
                status,
                reason,
                message,
                ..
            }) if (400..500).contains(&status) && status != 401 && status != 408 => {
                Ok(Submitted::Rejected { reason, message })
            }
            Err(e) => Err(e),
        }
    }

    /// Leases up to `limit` of the department's pending work requests for
    /// `lease_seconds`.
    pub fn lease_work(&self, limit: usize, lease_seconds: u64) -> Result<Vec<Value>, ClientError> {
        let path = format!("/v1/work?limit={limit}&lease_seconds={lease_seconds}");
        let body = self.get_json(&path)?;
        body["work"]
            .as_array()
            .cloned()
            .ok_or_else(|| ClientError::Unexpected {
                url: self.url(&path),
                message: "no `work` list".into(),
            })
    }

    /// Completes work requests; one result per item (`accepted`,
    /// `existing` or `rejected` with its `error`).
    pub fn complete_work(&self, items: &[Value]) -> Result<Vec<Value>, ClientError> {
        let path = "/v1/work";
        let (_, body) = self.post_json(path, &json!({ "items": items }))?;
        body["results"]
            .as_array()
            .filter(|r| r.len() == items.len())
            .cloned()
            .ok_or_else(|| ClientError::Unexpected {
                url: self.url(path),
                message: "no result per item".into(),
            })
    }

    /// Any `GET` route of the API, as JSON (department routes use the
    /// client's token).
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.get_json(path)
    }

    /// Any `POST` route of the API, as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.post_json(path, body).map(|(_, value)| value)
    }

    /// Submits a batch of proofs; one outcome per item.
    pub fn submit_batch(&self, items: &[ProofLine]) -> Result<Vec<Submitted>, ClientError> {
        let path = "/v1/proofs/batch";
        let (_, body) = self.post_json(path, &json!({ "items": items }))?;
        let results = body["results"]
            .as_array()
            .filter(|r| r.len() == items.len())
            .ok_or_else(|| ClientError::Unexpected {
                url: self.url(path),
                message: "no result per item".into(),
            })?;
        results
            .iter()
            .map(|result| {
                Ok(match result["status"].as_str() {
                    Some("accepted") => {
                        Submitted::Accepted(self.receipt(path, result["receipt"].clone())?)
                    }
                    Some("existing") => {
                        Submitted::Existing(self.receipt(path, result["receipt"].clone())?)
                    }
                    _ => Submitted::Rejected {
                        reason: result["error"]["reason"].as_str().unwrap_or("").into(),
                        message: result["error"]["message"].as_str().unwrap_or("").into(),
                    },
                })
            })
            .collect()
    }

    /// Compares a case's results under the required keys.
    pub fn compare(
        &self,
        case_id: &str,
        required: &[String],
        expect: &[(String, String)],
    ) -> Result<Comparison, ClientError> {
        let mut path = format!(
            "/v1/cases/{}/compare?require={}",
            encode_path(case_id),
            encode_path(&required.join(","))
        );
        if !expect.is_empty() {
            let pairs: Vec<String> = expect.iter().map(|(n, v)| format!("{n}={v}")).collect();
            path += &format!("&expect={}", encode_path(&pairs.join(",")));
        }
        let body = self.get_json(&path)?;
        serde_json::from_value(body).map_err(|e| ClientError::Unexpected {
            url: self.url(&path),
            message: e.to_string(),
        })
    }

    /// Records a decision on a case.
    pub fn decide(
        &self,
        case_id: &str,
        decision: &str,
        results: &[u64],
        note: &str,
    ) -> Result<Receipt, ClientError> {
        let path = format!("/v1/cases/{}/decisions", encode_path(case_id));
        let entry = Entry::Decision {
            case_id: case_id.to_string(),
            department: self.acting_as(),
            decision: decision.to_string(),
            results: results.to_vec(),
            note: note.to_string(),
            automatic: false,
            amends: None,
            licence: None,
            time: String::new(),
            signature: None,
        };
        let signature = self.sign(&entry, None)?;
        let (_, body) = self.post_json(
            &path,
            &signed_body(
                json!({"decision": decision, "results": results, "note": note}),
                signature,
            ),
        )?;
        self.receipt(&path, body)
    }

    /// The governance in force and the change waiting for endorsements
    /// (`GET /v1/governance`).
    pub fn governance(&self) -> Result<Value, ClientError> {
        self.get_json("/v1/governance")
    }

    /// Endorses `proposal`, the governance entry that would replace the one
    /// at `replaces`, with the client's key. The answer is the receipt once
    /// the endorsements suffice, or what the change still needs.
    pub fn endorse_governance(
        &self,
        proposal: &Entry,
        replaces: Option<u64>,
    ) -> Result<Value, ClientError> {
        let path = "/v1/governance/endorsements";
        let signature = self
            .sign(proposal, replaces)?
            .ok_or_else(|| ClientError::Unexpected {
                url: self.url(path),
                message: "an endorsement is signed: give the department's key".into(),
            })?;
        let (_, body) = self.post_json(path, &json!({ "signature": signature }))?;
        Ok(body)
    }

    /// The current signed checkpoint.
    pub fn checkpoint(&self) -> Result<String, ClientError> {
        let url = self.url("/v1/log/checkpoint");
        let (status, text) = self.send(self.http.get(&url), &url)?;
        if status != 200 {
            let value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(refused(&url, status, &value));
        }
        Ok(text)
    }

    /// The entries `start..end`, fetched page by page.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<String>, ClientError> {
        let mut entries = Vec::new();
        let mut next = start;
        while next < end {
            let path = format!("/v1/log/entries?start={next}&end={end}");
            let body = self.get_json(&path)?;
            let page = body["entries"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                return Err(ClientError::Unexpected {
                    url: self.url(&path),
                    message: "an empty page before the end".into(),
                });
            }
            for item in page {
                if item["index"].as_u64() != Some(next) {
                    return Err(ClientError::Unexpected {
                        url: self.url(&path),
                        message: format!("expected entry {next}"),
                    });
                }
                let entry = item["entry"]
                    .as_str()
                    .ok_or_else(|| ClientError::Unexpected {
                        url: self.url(&path),
                        message: format!("entry {next} is not a string"),
                    })?;
                entries.push(entry.to_string());
                next += 1;
            }
        }
        Ok(entries)
    }

    /// The consistency proof between two sizes.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, ClientError> {
        let path = format!("/v1/log/consistency?old={old}&new={new}");
        let body = self.get_json(&path)?;
        hashes(&self.url(&path), &body["proof"])
    }

    /// The inclusion proof of entry `index` in the log of `size` entries.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, ClientError> {
        let path = format!("/v1/log/inclusion?index={index}&size={size}");
        let body = self.get_json(&path)?;
        hashes(&self.url(&path), &body["proof"])
    }

    /// The service's view of a case (`GET /v1/cases/{case_id}`).
    pub fn case(&self, case_id: &str) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/cases/{}", encode_path(case_id)))
    }

    /// A registered key's summary (`GET /v1/keys/{key_id}`).
    pub fn key(&self, key_id: &str) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/keys/{}", encode_path(key_id)))
    }

    /// The log's key and its hand-overs, as the service states them
    /// (`GET /v1/log/key`); untrusted until checked.
    pub fn log_key(&self) -> Result<Value, ClientError> {
        self.get_json("/v1/log/key")
    }

    /// Entry `index`, checked to be in the log of `checkpoint` by its
    /// inclusion proof.
    pub fn included_entry(&self, index: u64, checkpoint: &Checkpoint) -> Result<Entry, AuditError> {
        if index >= checkpoint.size {
            return Err(AuditError::EntriesMismatch {
                detail: format!(
                    "entry {index} is beyond the checkpoint of {}",
                    checkpoint.size
                ),
            });
        }
        let bytes = self.entries(index, index + 1)?.remove(0);
        let proof = self.inclusion(index, checkpoint.size)?;
        verify_inclusion(
            &leaf_hash(bytes.as_bytes()),
            index,
            checkpoint.size,
            &proof,
            &checkpoint.root,
        )
        .map_err(|source| AuditError::Inconsistent {
            size: checkpoint.size,
            trusted: index,
            source,
        })?;
        Entry::from_bytes(bytes.as_bytes()).map_err(|e| AuditError::EntriesMismatch {
            detail: format!("entry {index}: {e}"),
        })
    }
}

impl Client {
    /// Key `key_id`'s entry, where the service says it is, checked to be
    /// in the log of `checkpoint` by its inclusion proof and checked on
    /// its own by the rules ([`LoggedKey::from_logged_entry`]).
    pub fn included_key(
        &self,
        key_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<LoggedKey, CompareError> {
        let summary = self.key(key_id).map_err(AuditError::from)?;
        let index = summary["log_index"]
            .as_u64()
            .ok_or_else(|| CompareError::Listing(format!("key {key_id} has no log_index")))?;
        let entry = self.included_entry(index, checkpoint)?;
        let key = LoggedKey::from_logged_entry(index, &entry)
            .map_err(|refusal| CompareError::Refused { index, refusal })?;
        if key.key_id != key_id {
            return Err(CompareError::Listing(format!(
                "entry {index} is not key {key_id}"
            )));
        }
        Ok(key)
    }
}

/// Why a verified comparison failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The log failed its audit.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// An entry of the case breaks the rules.
    #[error("log entry {index}: {refusal}")]
    Refused {
        /// The entry.
        index: u64,
        /// Why.
        refusal: Refusal,
    },
    /// An expectation does not fit the policies.
    #[error("{0}")]
    Expectation(Refusal),
    /// The service's answer is not what the log holds.
    #[error("the service's answer does not match the log: {0}")]
    Listing(String),
}

/// Compares a case without trusting the service's answer: each result the
/// service lists, and its key, is fetched with an inclusion proof against
/// `checkpoint` (which the caller has verified), every proof is verified
/// again, and the comparison is made locally by the rules' own
/// [`compare`](zkgov_log::rules::compare).
///
/// What this cannot see is a result the service leaves out of the listing;
/// a monitor's full replay (`zkgov log verify --full`) covers that.
pub fn compare_verified(
    client: &Client,
    checkpoint: &Checkpoint,
    case_id: &str,
    required: &[String],
    expect: &[(String, String)],
) -> Result<Comparison, CompareError> {
    let case = client.case(case_id).map_err(AuditError::from)?;
    let listed: Vec<u64> = case["results"]
        .as_array()
        .ok_or_else(|| CompareError::Listing("no `results` array".into()))?
        .iter()
        .map(|r| {
            r["index"]
                .as_u64()
                .ok_or_else(|| CompareError::Listing("a result without an index".into()))
        })
        .collect::<Result<_, _>>()?;
    let mut keys: std::collections::BTreeMap<String, LoggedKey> = Default::default();
    let mut results = Vec::new();
    for index in listed.into_iter().filter(|&i| i < checkpoint.size) {
        let entry = client.included_entry(index, checkpoint)?;
        let refused = |refusal| CompareError::Refused { index, refusal };
        let Entry::Result {
            key_id,
            case_id: of_case,
            ..
        } = &entry
        else {
            return Err(CompareError::Listing(format!(
                "entry {index} is not a result"
            )));
        };
        if of_case != case_id {
            return Err(CompareError::Listing(format!(
                "entry {index} is a result of case `{of_case}`"
            )));
        }
        if !keys.contains_key(key_id) {
            keys.insert(key_id.clone(), client.included_key(key_id, checkpoint)?);
        }
        let key = &keys[key_id];
        let inputs = check_statement(key, &entry).map_err(refused)?;
        let Entry::Result { proof, .. } = &entry else {
            unreachable!("a result")
        };
        let verified = verify_proofs(&[ProofClaim {
            key,
            public_inputs: &inputs,
            proof,
        }])
        .remove(0)
        .map_err(refused)?;
        if verified.proof != *proof {
            return Err(refused(Refusal::MalformedProof(
                "the proof is not in canonical snarkjs form".into(),
            )));
        }
        results.push((index, entry));
    }
    let views: Vec<CaseResult> = results
        .iter()
        .map(|(index, entry)| {
            let Entry::Result {
                key_id,
                subject_tag,
                public_inputs,
                ..
            } = entry
            else {
                unreachable!("results")
            };
            CaseResult {
                index: *index,
                key: &keys[key_id],
                subject_tag,
                public_inputs,
            }
        })
        .collect();
    compare(case_id, required, expect, &views).map_err(CompareError::Expectation)
}

fn hashes(url: &str, value: &Value) -> Result<Vec<Hash>, ClientError> {
    value
        .as_array()
        .ok_or_else(|| ClientError::Unexpected {
            url: url.to_string(),
            message: "no proof array".into(),
        })?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(decode_hash)
                .ok_or_else(|| ClientError::Unexpected {
                    url: url.to_string(),
                    message: "a proof hash is not base64 of 32 bytes".into(),
                })
        })
        .collect()
}

fn refused(url: &str, status: u16, value: &Value) -> ClientError {
    ClientError::Refused {
        url: url.to_string(),
        status,
        reason: value["error"]["reason"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        message: value["error"]["message"].as_str().unwrap_or("").to_string(),
    }
}

/// Percent-encodes a path segment.
fn encode_path(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Why the log failed its audit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The service could not be asked.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The checkpoint is not validly signed by the log's key.
    #[error("the checkpoint is not signed by the log's key: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint is signed by a key that no valid chain of hand-overs
    /// leads to from the trusted key, or outside that key's span.
    #[error("the log's key: {0}")]
    Handover(HandoverError),
    /// The log is smaller than a checkpoint it signed before.
    #[error("the log was rewritten: it has {size} entries, but it signed a checkpoint of {trusted} before")]
    Shrunk {
        /// The current size.
        size: u64,
        /// The trusted size.
        trusted: u64,
    },
    /// The current checkpoint is not an extension of the trusted one.
    #[error("the log was rewritten: checkpoint {size} is not consistent with the trusted checkpoint {trusted}: {source}")]
    Inconsistent {
        /// The current size.
        size: u64,
        /// The trusted size.
        trusted: u64,
        /// Why the proof failed.
        source: ProofError,
    },
    /// The entries served do not rebuild the signed root.
    #[error("the log's entries do not match its signed checkpoint: {detail}")]
    EntriesMismatch {
        /// Which entries, where known.
        detail: String,
    },
    /// A receipt does not check out.
    #[error("receipt for entry {index}: {source}")]
    Receipt {
        /// The receipt's entry index.
        index: u64,
        /// Why.
        source: ReceiptError,
    },
    /// A receipt's entry is not (or no longer) what the log holds.
    #[error("receipt for entry {index}: the log now holds a different entry there")]
    ReceiptEntryChanged {
        /// The index.
        index: u64,
    },
}

impl From<HandoverError> for AuditError {
    fn from(error: HandoverError) -> Self {
        match error {
            HandoverError::Checkpoint(e) => AuditError::Checkpoint(e),
            other => AuditError::Handover(other),
        }
    }
}

/// Why a monitor run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The log failed its audit (signature, consistency, entries).
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// An entry breaks the rules.
    #[error(transparent)]
    Violation(#[from] Violation),
}

/// What a passed monitor run established.
pub struct Monitored {
    /// The verified current checkpoint.
    pub checkpoint: Checkpoint,
    /// The log's key in force, after any hand-overs followed.
    pub log_key: LogVerifier,
    /// Its signed note.
    pub note: String,
    /// The rules' state after every entry of the checkpoint.
    pub state: LogState,
    /// Entries fetched and replayed in this run.
    pub replayed: u64,
}

/// Monitors the log at `client`: checks the checkpoint's signature and its
/// consistency with `trusted`, fetches the entries after `state` (the
/// replay state at `trusted`, or the empty log), replays them through the
/// rules with every proof verified, and checks that they rebuild the
/// signed root. `progress` is told of every entry replayed.
pub fn monitor(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    trusted: Option<&Checkpoint>,
    mut state: LogState,
    progress: impl FnMut(u64, u64),
) -> Result<Monitored, MonitorError> {
    let (note, checkpoint, keys) = current_checkpoint(client, verifier, origin, trusted)?;
    let replayed = replay_to(
        &mut state,
        &checkpoint,
        |start, end| client.entries(start, end).map_err(AuditError::from),
        progress,
    )?;
    Ok(Monitored {
        checkpoint,
        log_key: keys.current().clone(),
        note,
        state,
        replayed,
    })
}

/// Replays the entries from `state`'s size to `checkpoint`'s, fetched in
/// chunks of 4,096 by `fetch(start, end)`, and checks that they rebuild
/// the signed root; the number of entries replayed.
pub(crate) fn replay_to<B: AsRef<[u8]> + Sync>(
    state: &mut LogState,
    checkpoint: &Checkpoint,
    mut fetch: impl FnMut(u64, u64) -> Result<Vec<B>, AuditError>,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, MonitorError> {
    let total = checkpoint.size.saturating_sub(state.size());
    let mut at = state.size();
    while at < checkpoint.size {
        let end = (at + 4096).min(checkpoint.size);
        replay(state, &fetch(at, end)?, |n| progress(n, total))?;
        at = end;
    }
    if state.size() != checkpoint.size || state.root() != checkpoint.root {
        return Err(AuditError::EntriesMismatch {
            detail: format!(
                "the {} entries served hash to {}, the checkpoint signs {}",
                state.size(),
                encode_hash(&state.root()),
                encode_hash(&checkpoint.root)
            ),
        }
        .into());
    }
    Ok(total)
}

/// What a passed audit established.
#[derive(Clone, Debug)]
pub struct Audit {
    /// The verified current checkpoint.
    pub checkpoint: Checkpoint,
    /// The log's key in force, after any hand-overs followed.
    pub log_key: LogVerifier,
    /// Its signed note, for the caller to store as its new trusted state.
    pub note: String,
    /// Entries rebuilt and checked.
    pub entries: u64,
    /// Receipts checked.
    pub receipts: usize,
}

/// The log's current checkpoint, its signature verified, and checked to
/// extend `trusted` (if any) by a consistency proof; with the log's keys
/// from `verifier` through every hand-over followed to the key that signed
/// it.
pub fn current_checkpoint(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    trusted: Option<&Checkpoint>,
) -> Result<(String, Checkpoint, LogKeys), AuditError> {
    let note = client.checkpoint()?;
    let mut keys = LogKeys::new(verifier.clone());
    let checkpoint = match keys.verify(&note, origin) {
        Err(HandoverError::Checkpoint(CheckpointError::UnknownKey)) => {
            follow_handovers(client, &mut keys, &note)?;
            keys.verify(&note, origin)?
        }
        verified => verified?,
    };
    if let Some(trusted) = trusted {
        if trusted.size > checkpoint.size {
            return Err(AuditError::Shrunk {
                size: checkpoint.size,
                trusted: trusted.size,
            });
        }
        let proof = client.consistency(trusted.size, checkpoint.size)?;
        verify_consistency(
            trusted.size,
            checkpoint.size,
            &trusted.root,
            &checkpoint.root,
            &proof,
        )
        .map_err(|source| AuditError::Inconsistent {
            size: checkpoint.size,
            trusted: trusted.size,
            source,
        })?;
    }
    Ok((note, checkpoint, keys))
}

/// Follows the hand-overs of the log's key after the key in force in
/// `keys`, up to the checkpoint of `note`. The checkpoint is read before its
/// signature is checked: each hand-over is fetched with an inclusion proof
/// against it and checked by the key before it, and the caller then
/// accepts the note only under the key the chain ends in.
fn follow_handovers(client: &Client, keys: &mut LogKeys, note: &str) -> Result<(), AuditError> {
    let unverified = Checkpoint::parse_unverified(note)?;
    let listed = client.log_key()?;
    let malformed = || AuditError::EntriesMismatch {
        detail: "GET /v1/log/key: `handovers` is not a list of {index, key}".into(),
    };
    let handovers = listed["handovers"]
        .as_array()
        .ok_or_else(malformed)?
        .iter()
        .map(|h| Some((h["index"].as_u64()?, h["key"].as_str()?)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(malformed)?;
    let current = keys.current().verifier_key();
    let start = handovers
        .iter()
        .position(|(_, key)| *key == current)
        .map_or(0, |p| p + 1);
    for &(index, _) in &handovers[start..] {
        if index >= unverified.size {
            break;
        }
        let entry = client.included_entry(index, &unverified)?;
        keys.follow(index, &entry)?;
    }
    Ok(())
}

/// Audits the log at `client`: see the module docs. `trusted` is the last
/// checkpoint the caller verified (if any).
pub fn audit(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    trusted: Option<&Checkpoint>,
    receipts: &[Receipt],
) -> Result<Audit, AuditError> {
    let (note, checkpoint, keys) = current_checkpoint(client, verifier, origin, trusted)?;

    let entries = client.entries(0, checkpoint.size)?;
    let mut tree = MemoryTree::new();
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_bytes())).collect();
    tree.append(&leaves);
    if tree.root_at(checkpoint.size) != checkpoint.root {
        return Err(AuditError::EntriesMismatch {
            detail: format!(
                "the {} entries served hash to {}, the checkpoint signs {}",
                checkpoint.size,
                encode_hash(&tree.root_at(checkpoint.size)),
                encode_hash(&checkpoint.root)
            ),
        });
    }

    for receipt in receipts {
        let (_, signed) = verify_receipt(&keys, receipt, origin)?;
        // The receipt's checkpoint must be a prefix of the current log.
        if signed.size > checkpoint.size || tree.root_at(signed.size) != signed.root {
            return Err(AuditError::Inconsistent {
                size: checkpoint.size,
                trusted: signed.size,
                source: ProofError::RootMismatch,
            });
        }
        if entries[receipt.index as usize] != receipt.entry {
            return Err(AuditError::ReceiptEntryChanged {
                index: receipt.index,
            });
        }
    }
    Ok(Audit {
        checkpoint,
        log_key: keys.current().clone(),
        note,
        entries: entries.len() as u64,
        receipts: receipts.len(),
    })
}

/// Verifies a receipt under the key of `keys` whose span holds its
/// checkpoint.
pub(crate) fn verify_receipt(
    keys: &LogKeys,
    receipt: &Receipt,
    origin: &str,
) -> Result<(Entry, Checkpoint), AuditError> {
    let failed = |source| AuditError::Receipt {
        index: receipt.index,
        source,
    };
    let verifier = keys
        .verifier_for(&receipt.checkpoint, origin)
        .map_err(|e| {
            failed(match e {
                HandoverError::Checkpoint(e) => ReceiptError::Checkpoint(e),
                other => ReceiptError::Handover(other),
            })
        })?;
    receipt.verify(verifier, origin).map_err(failed)
}

/// Request body `body` with `signature` added when there is one. Unsigned,
/// the field is left out: request bodies never hold `null`.
pub fn signed_body(mut body: Value, signature: Option<EntrySignature>) -> Value {
    if let (Some(object), Some(signature)) = (body.as_object_mut(), signature) {
        object.insert("signature".into(), json!(signature));
    }
    body
}
