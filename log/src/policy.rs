//! A client's trust policy: which log keys it accepts and which witnesses
//! must have cosigned a checkpoint before it believes it. The file format
//! is the Sigsum / Tessera policy format, with keys written as C2SP
//! verifier keys:
//!
//! ```text
//! # one line per log, witness, group and the quorum; `#` starts a comment
//! log <log verifier key> [url]
//! witness <name> <witness verifier key> [url]
//! group <name> <all|any|k> <member>...
//! quorum <group or witness name | none>
//! ```
//!
//! - Witnesses and groups share one namespace, and `none` is reserved. A
//!   name must be defined on a line before the line that uses it, so groups
//!   cannot be circular.
//! - A group is satisfied when at least k of its members are: `any` is
//!   k = 1, `all` is k = n. A witness is satisfied when its cosignature on
//!   the checkpoint verifies.
//! - There is exactly one `quorum` line; `quorum none` asks for no
//!   cosignature.
//!
//! Specification: the Sigsum policy file,
//! <https://git.glasklar.is/sigsum/core/sigsum-go/-/blob/main/doc/policy.md>.
//!
//! ```
//! use zkgov_log::checkpoint::{Checkpoint, LogSigner};
//! use zkgov_log::cosignature::Cosigner;
//! use zkgov_log::policy::Policy;
//!
//! let log = LogSigner::generate("zkgov.example/log");
//! let (w1, w2) = (Cosigner::generate("w1.example"), Cosigner::generate("w2.example"));
//! let policy = Policy::parse(&format!(
//!     "log {}\nwitness a {}\nwitness b {}\ngroup both all a b\nquorum both\n",
//!     log.verifier_key(), w1.verifier_key(), w2.verifier_key(),
//! )).unwrap();
//! let note = log.sign(&Checkpoint {
//!     origin: "zkgov.example/log".into(), size: 1, root: [3; 32], extensions: vec![],
//! });
//! let one = note.clone() + &w1.cosign(&note, 10).unwrap();
//! assert!(policy.verify(&one).is_err());
//! let both = one.clone() + &w2.cosign(&note, 10).unwrap();
//! assert_eq!(policy.verify(&both).unwrap().size, 1);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::checkpoint::{Checkpoint, CheckpointError, LogVerifier};
use crate::cosignature::CosignatureVerifier;

/// The reserved name of the empty quorum.
const NONE: &str = "none";

/// A log the policy trusts.
#[derive(Clone, Debug)]
pub struct PolicyLog {
    /// Its key, named after its origin.
    pub key: LogVerifier,
    /// The key as written, `<origin>+<key id>+<base64>`.
    pub verifier_key: String,
    /// Where it is served, if given.
    pub url: Option<String>,
}

/// A witness the policy names.
#[derive(Clone, Debug)]
pub struct PolicyWitness {
    /// Its key.
    pub key: CosignatureVerifier,
    /// Where it is served, if given.
    pub url: Option<String>,
}

/// A group: satisfied when at least `threshold` of its members are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// How many members must be satisfied, 1 to the number of members.
    pub threshold: usize,
    /// Its members: witnesses or groups defined before it.
    pub members: Vec<String>,
}

/// A parsed policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The logs, in file order.
    pub logs: Vec<PolicyLog>,
    /// The witnesses, by policy name.
    pub witnesses: BTreeMap<String, PolicyWitness>,
    /// The groups, by name.
    pub groups: BTreeMap<String, Group>,
    /// The quorum: a witness or group name, or `None` for `quorum none`.
    pub quorum: Option<String>,
}

/// Why a policy file does not parse.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("policy line {line}: {reason}")]
pub struct PolicyError {
    /// The line, counting from 1 (0 for the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Why a checkpoint does not satisfy the policy.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuorumError {
    /// No log of the policy signed the note.
    #[error("the checkpoint is not signed by a log the policy trusts: {0}")]
    NoLogSignature(CheckpointError),
    /// The witnesses who cosigned do not make the quorum.
    #[error(
        "the checkpoint lacks its witness quorum `{quorum}`: cosigned by {}; no valid cosignature from {}{}",
        list(cosigned),
        list(missing),
        too_old(stale)
    )]
    NoQuorum {
        /// The quorum's name.
        quorum: String,
        /// The policy names of the witnesses who cosigned.
        cosigned: Vec<String>,
        /// The policy names of the quorum's witnesses who did not.
        missing: Vec<String>,
        /// Of those, the ones whose valid cosignature is older than the
        /// age allowed.
        stale: Vec<String>,
    },
}

fn too_old(stale: &[String]) -> String {
    if stale.is_empty() {
        String::new()
    } else {
        format!(" (too old: {})", stale.join(", "))
    }
}

/// How recent a cosignature must be to count towards a quorum: C2SP
/// `tlog-cosignature` timestamps say when the witness last saw the
/// checkpoint consistent with everything it saw before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// Now, Unix seconds.
    pub now: u64,
    /// The oldest a cosignature may be, in seconds.
    pub max_age_seconds: u64,
}

/// How far in the future a cosignature's timestamp may be, for clocks that
/// disagree.
pub const MAX_COSIGNATURE_SKEW_SECONDS: u64 = 60;

impl Freshness {
    fn admits(&self, timestamp: u64) -> bool {
        timestamp.saturating_add(self.max_age_seconds) >= self.now
            && timestamp <= self.now.saturating_add(MAX_COSIGNATURE_SKEW_SECONDS)
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl Policy {
    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut policy = Policy {
            logs: Vec::new(),
            witnesses: BTreeMap::new(),
            groups: BTreeMap::new(),
            quorum: None,
        };
        let mut quorum_line = None;
        for (i, line) in text.lines().enumerate() {
            let number = i + 1;
            let fail = |reason: String| PolicyError {
                line: number,
                reason,
            };
            let line = line.split('#').next().unwrap_or_default();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some((&keyword, args)) = words.split_first() else {
                continue;
            };
            match keyword {
                "log" => {
                    let (key, url) = match args {
                        [key] => (key, None),
                        [key, url] => (key, Some(url.to_string())),
                        _ => return Err(fail("expected `log <key> [url]`".into())),
                    };
                    let verifier_key = key.to_string();
                    let key = LogVerifier::from_verifier_key(key)
                        .map_err(|e| fail(format!("log key: {e}")))?;
                    policy.logs.push(PolicyLog {
                        key,
                        verifier_key,
                        url,
                    });
                }
                "witness" => {
                    let (name, key, url) = match args {
                        [name, key] => (name, key, None),
                        [name, key, url] => (name, key, Some(url.to_string())),
                        _ => return Err(fail("expected `witness <name> <key> [url]`".into())),
                    };
                    policy.check_new_name(name).map_err(fail)?;
                    let key = CosignatureVerifier::from_verifier_key(key)
                        .map_err(|e| fail(format!("witness key: {e}")))?;
                    policy
                        .witnesses
                        .insert(name.to_string(), PolicyWitness { key, url });
                }
                "group" => {
                    let [name, threshold, members @ ..] = args else {
                        return Err(fail(
                            "expected `group <name> <all|any|k> <member>...`".into(),
                        ));
                    };
                    policy.check_new_name(name).map_err(fail)?;
                    if members.is_empty() {
                        return Err(fail(format!("group `{name}` has no members")));
                    }
                    let mut seen = BTreeSet::new();
                    for member in members {
                        if !policy.is_defined(member) {
                            return Err(fail(format!(
                                "`{member}` is not a witness or group defined on an earlier line"
                            )));
                        }
                        if !seen.insert(*member) {
                            return Err(fail(format!("`{member}` is listed twice")));
                        }
                    }
                    let threshold = match *threshold {
                        "all" => members.len(),
                        "any" => 1,
                        k => match k.parse::<usize>() {
                            Ok(k)
                                if (1..=members.len()).contains(&k)
                                    && k.to_string() == *threshold =>
                            {
                                k
                            }
                            _ => {
                                return Err(fail(format!(
                                "the threshold `{k}` is not `all`, `any` or a number from 1 to {}",
                                members.len()
                            )))
                            }
                        },
                    };
                    policy.groups.insert(
                        name.to_string(),
                        Group {
                            threshold,
                            members: members.iter().map(|m| m.to_string()).collect(),
                        },
                    );
                }
                "quorum" => {
                    let [name] = args else {
                        return Err(fail("expected `quorum <name>`".into()));
                    };
                    if quorum_line.is_some() {
                        return Err(fail("a second quorum line".into()));
                    }
                    if *name != NONE && !policy.is_defined(name) {
                        return Err(fail(format!(
                            "`{name}` is not a witness or group defined on an earlier line"
                        )));
                    }
                    quorum_line = Some(number);
                    policy.quorum = (*name != NONE).then(|| name.to_string());
                }
                other => {
                    return Err(fail(format!(
                        "unknown keyword `{other}`: expected log, witness, group or quorum"
                    )))
                }
            }
        }
        if policy.logs.is_empty() {
            return Err(PolicyError {
                line: 0,
                reason: "no `log` line: name the log's key".into(),
            });
        }
        if quorum_line.is_none() {
            return Err(PolicyError {
                line: 0,
                reason: "no `quorum` line (write `quorum none` to ask for no cosignature)".into(),
            });
        }
        Ok(policy)
    }

    fn is_defined(&self, name: &str) -> bool {
        self.witnesses.contains_key(name) || self.groups.contains_key(name)
    }

    fn check_new_name(&self, name: &str) -> Result<(), String> {
        if name == NONE {
            return Err("`none` is reserved for `quorum none`".into());
        }
        if self.is_defined(name) {
            return Err(format!("`{name}` is defined twice"));
        }
        Ok(())
    }

    /// Requires the note to be signed by one of the policy's logs and
    /// cosigned by a quorum of its witnesses; returns the checkpoint.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, QuorumError> {
        self.verify_fresh(note, None)
    }

    /// [`Policy::verify`], counting only cosignatures that `freshness`
    /// admits (if given).
    pub fn verify_fresh(
        &self,
        note: &str,
        freshness: Option<Freshness>,
    ) -> Result<Checkpoint, QuorumError> {
        let mut refusal = CheckpointError::UnknownKey;
        let mut checkpoint = None;
        for log in &self.logs {
            match log.key.verify(note, log.key.name()) {
                Ok(verified) => {
                    checkpoint = Some(verified);
                    break;
                }
                Err(e) => refusal = e,
            }
        }
        let checkpoint = checkpoint.ok_or(QuorumError::NoLogSignature(refusal))?;
        let Some(quorum) = &self.quorum else {
            return Ok(checkpoint);
        };
        let mut cosigned = BTreeSet::new();
        let mut stale = Vec::new();
        for (name, witness) in &self.witnesses {
            let Ok(timestamp) = witness.key.verify(note) else {
                continue;
            };
            if freshness.is_none_or(|f| f.admits(timestamp)) {
                cosigned.insert(name.as_str());
            } else {
                stale.push(name.clone());
            }
        }
        if self.satisfied(quorum, &cosigned) {
            return Ok(checkpoint);
        }
        let mut missing = BTreeSet::new();
        self.witnesses_of(quorum, &mut missing);
        Err(QuorumError::NoQuorum {
            quorum: quorum.clone(),
            cosigned: cosigned.iter().map(|s| s.to_string()).collect(),
            missing: missing
                .into_iter()
                .filter(|w| !cosigned.contains(w.as_str()))
                .collect(),
            stale,
        })
    }

    /// Whether `name` is satisfied by the witnesses who `cosigned`; names
    /// refer only to earlier lines, so the recursion ends.
    fn satisfied(&self, name: &str, cosigned: &BTreeSet<&str>) -> bool {
        match self.groups.get(name) {
            Some(group) => {
                group
                    .members
                    .iter()
                    .filter(|m| self.satisfied(m, cosigned))
                    .count()
                    >= group.threshold
            }
            None => cosigned.contains(name),
        }
    }

    /// The witnesses under `name`.
    fn witnesses_of(&self, name: &str, out: &mut BTreeSet<String>) {
        match self.groups.get(name) {
            Some(group) => group.members.iter().for_each(|m| self.witnesses_of(m, out)),
            None => {
                out.insert(name.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LogSigner;
    use crate::cosignature::Cosigner;

    struct Fixture {
        log: LogSigner,
        witnesses: Vec<Cosigner>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                log: LogSigner::generate("zkgov.example/log"),
                witnesses: (0..3)
                    .map(|i| Cosigner::generate(&format!("w{i}.example")))
                    .collect(),
            }
        }

        fn policy(&self, rest: &str) -> Result<Policy, PolicyError> {
            let mut text = format!("log {} https://log.example\n", self.log.verifier_key());
            for (i, w) in self.witnesses.iter().enumerate() {
                text += &format!("witness W{i} {}  # a comment\n", w.verifier_key());
            }
            Policy::parse(&(text + rest))
        }

        fn note(&self, by: &[usize]) -> String {
            let note = self.log.sign(&Checkpoint {
                origin: "zkgov.example/log".into(),
                size: 2,
                root: [5; 32],
                extensions: vec![],
            });
            let lines: String = by
                .iter()
                .map(|&i| self.witnesses[i].cosign(&note, 1000).unwrap())
                .collect();
            note + &lines
        }
    }

    #[test]
    fn the_specs_example_quorum_of_groups() {
        // Sigsum's example: two of the X witnesses and any one Y witness.
        let f = Fixture::new();
        let policy = f
            .policy("group X 2 W0 W1\ngroup Y any W2\ngroup X-and-Y all X Y\nquorum X-and-Y\n")
            .unwrap();
        assert!(policy.verify(&f.note(&[0, 1, 2])).is_ok());
        assert_eq!(
            policy.verify(&f.note(&[0, 2])).unwrap_err(),
            QuorumError::NoQuorum {
                quorum: "X-and-Y".into(),
                cosigned: vec!["W0".into(), "W2".into()],
                missing: vec!["W1".into()],
                stale: vec![],
            }
        );
        assert!(policy.verify(&f.note(&[0, 1])).is_err());
    }

    #[test]
    fn k_of_n_any_and_a_single_witness() {
        let f = Fixture::new();
        let two = f.policy("group g 2 W0 W1 W2\nquorum g\n").unwrap();
        assert!(two.verify(&f.note(&[1, 2])).is_ok());
        assert!(two.verify(&f.note(&[2])).is_err());
        let any = f.policy("group g any W0 W1\nquorum g\n").unwrap();
        assert!(any.verify(&f.note(&[1])).is_ok());
        assert!(any.verify(&f.note(&[2])).is_err());
        let one = f.policy("quorum W2\n").unwrap();
        assert!(one.verify(&f.note(&[2])).is_ok());
        assert!(one.verify(&f.note(&[0, 1])).is_err());
    }

    #[test]
    fn quorum_none_needs_the_log_signature_only() {
        let f = Fixture::new();
        let policy = f.policy("quorum none\n").unwrap();
        assert!(policy.verify(&f.note(&[])).is_ok());
        let other = Fixture::new();
        assert!(matches!(
            policy.verify(&other.note(&[0, 1, 2])),
            Err(QuorumError::NoLogSignature(CheckpointError::UnknownKey))
        ));
    }

    #[test]
    fn a_forged_cosignature_does_not_count() {
        let f = Fixture::new();
        let policy = f.policy("quorum W0\n").unwrap();
        let impostor = Cosigner::generate("w0.example");
        let note = f.note(&[]);
        let forged = note.clone() + &impostor.cosign(&note, 1).unwrap();
        assert!(matches!(
            policy.verify(&forged),
            Err(QuorumError::NoQuorum { .. })
        ));
    }

    #[test]
    fn a_cosignature_counts_only_while_fresh() {
        // The fixture's witnesses cosign at time 1000.
        let f = Fixture::new();
        let policy = f.policy("group g 2 W0 W1 W2\nquorum g\n").unwrap();
        let note = f.note(&[0, 1]);
        let at = |now, max_age_seconds| {
            policy.verify_fresh(
                &note,
                Some(Freshness {
                    now,
                    max_age_seconds,
                }),
            )
        };
        assert!(at(1000 + 600, 600).is_ok());
        let refused = at(1000 + 601, 600).unwrap_err();
        assert_eq!(
            refused,
            QuorumError::NoQuorum {
                quorum: "g".into(),
                cosigned: vec![],
                missing: vec!["W0".into(), "W1".into(), "W2".into()],
                stale: vec!["W0".into(), "W1".into()],
            }
        );
        assert!(
            refused.to_string().ends_with("(too old: W0, W1)"),
            "{refused}"
        );
        // A timestamp from the future, beyond the skew allowed.
        assert!(at(1000 - MAX_COSIGNATURE_SKEW_SECONDS, 600).is_ok());
        assert!(at(1000 - MAX_COSIGNATURE_SKEW_SECONDS - 1, 600).is_err());
        assert!(policy.verify(&note).is_ok());
    }

    #[test]
    fn malformed_policies_name_the_line() {
        let f = Fixture::new();
        let line = |rest: &str| f.policy(rest).map(|_| ()).unwrap_err().line;
        let first = 5; // after the log line and three witnesses
        assert_eq!(line("quorum nobody\n"), first);
        assert_eq!(line("group g 3 W0 W1\nquorum g\n"), first);
        assert_eq!(line("group g 0 W0\nquorum g\n"), first);
        assert_eq!(line("group g 01 W0\nquorum g\n"), first);
        assert_eq!(line("group g all W0 W0\nquorum g\n"), first);
        assert_eq!(line("group g all later\nquorum g\n"), first);
        assert_eq!(line("group g all\nquorum g\n"), first);
        assert_eq!(line("group W0 all W1\nquorum W0\n"), first);
        assert_eq!(line("group none all W1\nquorum none\n"), first);
        assert_eq!(line("quorum W0\nquorum W1\n"), first + 1);
        assert_eq!(line("witness W9 not-a-key\nquorum W9\n"), first);
        assert_eq!(line("frobnicate\nquorum none\n"), first);
        assert_eq!(line(""), 0);
        assert_eq!(Policy::parse("quorum none\n").unwrap_err().line, 0);
        // A log key is not a witness key.
        let text = format!(
            "log {k}\nwitness a {k}\nquorum a\n",
            k = f.log.verifier_key()
        );
        assert_eq!(Policy::parse(&text).unwrap_err().line, 2);
    }
}
