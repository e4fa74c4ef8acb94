//! Cosigned checkpoints: after each commit, the configured witnesses are
//! asked, all at once and each with its timeout, to cosign the new
//! checkpoint (C2SP `tlog-witness`), and `/v1/log/checkpoint` serves it
//! with the cosignatures gathered.
//!
//! Gathering runs in a task of its own, fed by the appender's watch channel
//! of the log's size, so it never delays an append: a burst of commits is
//! witnessed once, at its last checkpoint. A witness that is down, slow or
//! refuses is counted in `/metrics` (`zkgov_witness_requests_total`) and
//! logged as a warning; the checkpoint is served with the cosignatures the
//! others gave.
//!
//! The service remembers each witness's size in memory, starting from 0.
//! A witness that holds another size answers 409 with it; the request is
//! then sent once more, with a consistency proof from that size. So a
//! restarted service, or a witness that missed checkpoints, catches up in
//! one round.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::task::JoinSet;
use zkgov_log::checkpoint::{parse_size, SIGNATURE_PREFIX};
use zkgov_log::tree;
use zkgov_log::witness::{AddCheckpoint, SIZE_CONTENT_TYPE};

use super::config::WitnessPeer;
use super::startup::LogStartError;
use super::AppState;
use crate::storage::{Nodes, Storage};

/// The latest checkpoint with the cosignatures gathered for it.
#[derive(Default)]
pub(super) struct Cosigned {
    latest: RwLock<Option<(u64, String)>>,
}

impl Cosigned {
    /// The cosigned note of the checkpoint of `size`, if its witnessing
    /// gave at least one cosignature.
    pub(super) fn note_at(&self, size: u64) -> Option<String> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest
            .as_ref()
            .filter(|(at, _)| *at == size)
            .map(|(_, note)| note.clone())
    }

    fn set(&self, size: u64, note: String) {
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = Some((size, note));
    }
}

/// What became of one request to a witness, as counted in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Cosigned,
    Conflict,
    Refused,
    BadCosignature,
    Unreachable,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Cosigned => "cosigned",
            Outcome::Conflict => "conflict",
            Outcome::Refused => "refused",
            Outcome::BadCosignature => "bad_cosignature",
            Outcome::Unreachable => "unreachable",
        }
    }
}

/// Witnesses every new checkpoint until the service stops.
pub(super) async fn run(state: Arc<AppState>) {
    if state.config.witnesses.is_empty() {
        return;
    }
    let client = reqwest::Client::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut log_size = state.log_size.clone();
    let mut stopping = state.stopping.subscribe();
    // The checkpoint signed at start-up is witnessed too.
    log_size.mark_changed();
    loop {
        tokio::select! {
            changed = log_size.changed() => if changed.is_err() { return },
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        let (Some(checkpoint), Some(note)) = (state.signed.last(), state.signed.note()) else {
            continue;
        };
        if checkpoint.size == 0 {
            continue;
        }
        let mut asked = ask_all(
            &client,
            &state.storage,
            &state.config.witnesses,
            &note,
            checkpoint.size,
            |peer| sizes.get(&peer.name).copied().unwrap_or(0),
        );
        let mut lines: Vec<(usize, String)> = Vec::new();
        while let Some(answer) = asked.join_next().await {
            let Ok((i, answer)) = answer else { continue };
            let peer = &state.config.witnesses[i];
            for outcome in &answer.outcomes {
                state.metrics.witness(&peer.name, outcome.label());
            }
            if let Some(size) = answer.witness_size {
                sizes.insert(peer.name.clone(), size);
            }
            let ahead = answer
                .witness_size
                .is_some_and(|held| held > checkpoint.size);
            match answer.cosignature {
                Some(line) => lines.push((i, line)),
                // Another instance on the shared database has had a later
                // checkpoint cosigned; this one catches up and asks again.
                None if ahead && state.config.shared_database => tracing::debug!(
                    witness = %peer.name,
                    size = checkpoint.size,
                    "the witness holds a later checkpoint, of another instance"
                ),
                None => tracing::warn!(
                    witness = %peer.name,
                    size = checkpoint.size,
                    problem = %answer.problem,
                    "the witness did not cosign the checkpoint"
                ),
            }
        }
        if !lines.is_empty() {
            lines.sort();
            let cosigned = lines.into_iter().fold(note, |note, (_, line)| note + &line);
            state.cosigned.set(checkpoint.size, cosigned);
        }
    }
}

/// Asks every witness, before anything is appended at start-up, for the
/// size it has cosigned, by sending it `note`, the checkpoint of the
/// `size` entries the database holds. A witness that has cosigned more
/// shows that the database went back (a restored backup, a lagging
/// replica): appending to it would fork the log, and no instance may,
/// however fresh its data directory, while a witness remembers. A witness
/// that cannot be reached is logged and does not stop the start.
pub(super) fn check_database_not_behind(
    witnesses: &[WitnessPeer],
    storage: &Arc<dyn Storage>,
    note: &str,
    size: u64,
) -> Result<(), LogStartError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let answers = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut asked = ask_all(&client, storage, witnesses, note, size, |_| 0);
        let mut answers = Vec::new();
        while let Some(answer) = asked.join_next().await {
            answers.extend(answer.ok());
        }
        answers.sort_by_key(|(i, _)| *i);
        answers
    });
    for (i, answer) in answers {
        let peer = &witnesses[i];
        match answer.witness_size {
            Some(witnessed) if witnessed > size => {
                return Err(LogStartError::BehindWitness {
                    witness: peer.name.clone(),
                    witnessed,
                    database: size,
                })
            }
            Some(_) => {}
            None => tracing::warn!(
                witness = %peer.name,
                problem = %answer.problem,
                "cannot learn the size the witness has cosigned: it does not guard this start \
                 against a database that went back"
            ),
        }
    }
    Ok(())
}

/// Asks every witness at once to cosign the checkpoint `note` of `size`,
/// each from the size `old` says it holds; the answers come back with the
/// witness's position in `witnesses`.
fn ask_all(
    client: &reqwest::Client,
    storage: &Arc<dyn Storage>,
    witnesses: &[WitnessPeer],
    note: &str,
    size: u64,
    old: impl Fn(&WitnessPeer) -> u64,
) -> JoinSet<(usize, Answer)> {
    let mut asked = JoinSet::new();
    for (i, peer) in witnesses.iter().enumerate() {
        let asking = ask(
            client.clone(),
            storage.clone(),
            peer.clone(),
            note.to_string(),
            size,
            old(peer),
        );
        asked.spawn(async move { (i, asking.await) });
    }
    asked
}

/// A witness's answer to one round.
struct Answer {
    /// Each request's outcome, in order.
    outcomes: Vec<Outcome>,
    /// Its cosignature lines, checked.
    cosignature: Option<String>,
    /// The size it now holds, when known.
    witness_size: Option<u64>,
    /// Why it did not cosign.
    problem: String,
}

/// Asks `peer` to cosign the checkpoint `note` of `size`, from the size
/// `old` the service believes it holds; once more from the size it names
/// if it answers 409.
async fn ask(
    client: reqwest::Client,
    storage: Arc<dyn Storage>,
    peer: WitnessPeer,
    note: String,
    size: u64,
    mut old: u64,
) -> Answer {
    let mut answer = Answer {
        outcomes: Vec::new(),
        cosignature: None,
        witness_size: None,
        problem: String::new(),
    };
    for attempt in 0..2 {
        let proof = match proof(storage.clone(), old, size).await {
            Ok(proof) => proof,
            Err(problem) => {
                answer.problem = problem;
                return answer;
            }
        };
        let body = AddCheckpoint {
            old_size: old,
            proof,
            note: note.clone(),
        }
        .body();
        let sent = client
            .post(format!("{}/add-checkpoint", peer.url))
            .timeout(peer.timeout)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                answer.outcomes.push(Outcome::Unreachable);
                answer.problem = format!("unreachable: {e}");
                return answer;
            }
        };
        let status = response.status().as_u16();
        let is_size = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == SIZE_CONTENT_TYPE.as_bytes());
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => {
                answer.outcomes.push(Outcome::Unreachable);
                answer.problem = format!("the answer was cut short: {e}");
                return answer;
            }
        };
        match status {
            200 => {
                let lines = own_lines(&peer, &text);
                if lines.is_empty() || peer.key.verify(&(note.clone() + &lines)).is_err() {
                    answer.outcomes.push(Outcome::BadCosignature);
                    answer.problem = "its answer holds no valid cosignature by its key".into();
                } else {
                    answer.outcomes.push(Outcome::Cosigned);
                    answer.cosignature = Some(lines);
                    answer.witness_size = Some(size);
                }
                return answer;
            }
            409 if is_size => {
                answer.outcomes.push(Outcome::Conflict);
                let held = text.strip_suffix('\n').and_then(|t| parse_size(t).ok());
                answer.witness_size = held;
                match held {
                    Some(held) if attempt == 0 && held != old && held <= size => old = held,
                    Some(held) => {
                        answer.problem = format!(
                            "409: it holds a checkpoint of size {held}, which this log's \
                             checkpoint of size {size} does not extend"
                        );
                        return answer;
                    }
                    None => {
                        answer.problem = "409 without a size".into();
                        return answer;
                    }
                }
            }
            _ => {
                answer.outcomes.push(Outcome::Refused);
                answer.problem = format!("{status}: {}", text.trim_end());
                return answer;
            }
        }
    }
    answer
}

/// The lines of `text` that are signature lines of `peer`'s name.
fn own_lines(peer: &WitnessPeer, text: &str) -> String {
    let prefix = format!("{SIGNATURE_PREFIX}{} ", peer.name);
    text.split_inclusive('\n')
        .filter(|line| line.starts_with(&prefix) && line.ends_with('\n'))
        .collect()
}

/// The consistency proof from `old` to `size`, empty from 0 or at equal
/// sizes, read off the async executor.
async fn proof(storage: Arc<dyn Storage>, old: u64, size: u64) -> Result<Vec<tree::Hash>, String> {
    if old == 0 || old >= size {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || {
        tree::consistency_proof(old, size, &Nodes(&*storage)).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
