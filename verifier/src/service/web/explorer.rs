//! The public explorer of the log: the latest checkpoint, the entries
//! decoded by type, cases, keys, search, and the proofs behind each entry.
//! It shows what the log holds and nothing else: no inputs, no secrets.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zkgov_log::entry::{Entry, Provenance};
use zkgov_log::rules::{Answer, LogState};

use super::super::api::{blocking, latest_checkpoint};
use super::super::error::ApiError;
use super::super::AppState;
use super::text::{fill, Text};
use super::track::plain_condition;
use super::{failure, no_cache, path_segment, render, Ctx};

/// Entries per page of `/log`.
pub const ENTRIES_PER_PAGE: u64 = 25;

/// One line of an entry's description.
pub(super) struct Row {
    label: &'static str,
    value: String,
    /// Where the value links to.
    href: Option<String>,
    /// Whether the value is text to show as written (TOML).
    pre: bool,
}

fn row(label: &'static str, value: impl Into<String>) -> Row {
    Row {
        label,
        value: value.into(),
        href: None,
        pre: false,
    }
}

fn link(label: &'static str, value: impl Into<String>, href: String) -> Row {
    Row {
        href: Some(href),
        ..row(label, value)
    }
}

fn pre(label: &'static str, value: impl Into<String>) -> Row {
    Row {
        pre: true,
        ..row(label, value)
    }
}

fn case_href(case_id: &str) -> String {
    format!("/log/cases/{}", path_segment(case_id))
}

fn key_href(key_id: &str) -> String {
    format!("/log/keys/{}", path_segment(key_id))
}

fn entry_href(index: u64) -> String {
    format!("/log/entries/{index}")
}

/// An entry's type, in words.
fn type_name(t: &Text, entry: Option<&Entry>) -> &'static str {
    match entry {
        Some(Entry::Governance { .. }) => t.type_governance,
        Some(Entry::Key { .. }) => t.type_key,
        Some(Entry::Root { .. }) => t.type_root,
        Some(Entry::Result { .. }) => t.type_result,
        Some(Entry::Decision { .. }) => t.type_decision,
        Some(Entry::Procedure { .. }) => t.type_procedure,
        Some(Entry::Case { .. }) => t.type_case,
        Some(Entry::Unmet { .. }) => t.type_unmet,
        Some(Entry::LogKey { .. }) => t.type_log_key,
        None => t.type_malformed,
    }
}

fn decision_label(t: &Text, decision: &str) -> &'static str {
    match decision {
        "approved" => t.case_approved,
        "refused" => t.case_refused,
        "revoked" => t.case_revoked,
        _ => t.case_open,
    }
}

fn reason_label(t: &Text, reason: &str) -> &'static str {
    match reason {
        "not_satisfied" => t.item_not_satisfied,
        "subject_not_found" => t.item_subject_not_found,
        "revoked" => t.item_revoked,
        "invalid_input" => t.item_invalid_input,
        _ => t.item_other,
    }
}

fn params_text(log: &LogState, key_id: &str, public_inputs: &[String]) -> String {
    log.key(key_id)
        .map(|k| k.decode_params(public_inputs))
        .unwrap_or_default()
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A line saying what an entry is about, for the list.
fn summary(t: &Text, log: &LogState, entry: &Entry) -> String {
    match entry {
        Entry::Governance { departments, .. } => departments
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        Entry::Key {
            policy, registry, ..
        } => format!("{policy} · {registry}"),
        Entry::Root {
            registry,
            department,
            ..
        } => format!("{registry} · {department}"),
        Entry::Result {
            case_id, key_id, ..
        } => {
            let policy = log.key(key_id).map_or("", |k| k.policy_name.as_str());
            format!("{case_id} · {policy}")
        }
        Entry::Decision {
            case_id, decision, ..
        } => format!("{case_id} · {}", decision_label(t, decision)),
        Entry::Procedure { name, .. } => name.clone(),
        Entry::Case {
            case_id, procedure, ..
        } => format!("{case_id} · {procedure}"),
        Entry::Unmet {
            case_id,
            evidence,
            reason,
            ..
        } => format!("{case_id} · {evidence}: {}", reason_label(t, reason)),
        Entry::LogKey { key, .. } => key.split('+').next().unwrap_or_default().to_string(),
    }
}

/// Where a key came from, line by line: how it was set up, its circuit,
/// and the ceremony's files and contributions.
fn provenance_rows(t: &Text, provenance: Option<&Provenance>) -> Vec<Row> {
    let ceremony = provenance.and_then(|p| p.ceremony.as_ref());
    let setup = match ceremony {
        None => t.setup_single_party.to_string(),
        Some(c) => {
            let count = c.contributions.len().to_string();
            let label = if c.is_multi_party() {
                t.setup_multi_party
            } else if c.ptau_blake2b.is_none() {
                t.setup_unverified
            } else {
                t.setup_uncontributed
            };
            fill(label, &[&count])
        }
    };
    let mut rows = vec![row(t.field_setup, setup)];
    if let Some(p) = provenance {
        let (arity, depth) = (p.tree.arity.to_string(), p.tree.depth.to_string());
        rows.push(row(
            t.field_circuit,
            fill(t.circuit_shape, &[&arity, &depth, &p.circuit_digest]),
        ));
    }
    if let Some(c) = ceremony {
        rows.push(row(t.field_zkey, c.zkey_blake2b.clone()));
        if let Some(ptau) = &c.ptau_blake2b {
            rows.push(row(t.field_ptau, ptau.clone()));
        }
        for contribution in &c.contributions {
            let mut value = format!(
                "{} · {}",
                contribution
                    .name
                    .as_deref()
                    .unwrap_or(t.contribution_unnamed),
                contribution.hash
            );
            if contribution.beacon {
                value.push_str(&format!(" · {}", t.contribution_beacon));
            }
            rows.push(row(t.field_contribution, value));
        }
    }
    rows
}

/// An entry, line by line, decoded.
fn rows(t: &Text, log: &LogState, entry: &Entry) -> Vec<Row> {
    let yes_no = |b: bool| if b { t.yes } else { t.no };
    match entry {
        Entry::Governance {
            departments,
            freshness_seconds,
            grace_seconds,
            origin,
            require_multi_party,
            ..
        } => {
            let mut rows: Vec<Row> = departments
                .iter()
                .map(|d| {
                    let registries = d.registries.join(", ");
                    let mut value = d.name.clone();
                    if !registries.is_empty() {
                        value.push_str(&format!(" ({}: {registries})", t.field_registries));
                    }
                    if d.decides {
                        value.push_str(&format!(" · {}", t.field_decides));
                    }
                    row(t.field_department, value)
                })
                .collect();
            rows.push(row(t.field_freshness, freshness_seconds.to_string()));
            rows.push(row(t.field_grace, grace_seconds.to_string()));
            rows.push(row(
                t.field_require_multi_party,
                yes_no(*require_multi_party),
            ));
            if let Some(origin) = origin {
                rows.push(row(t.field_origin, origin.clone()));
            }
            rows
        }
        Entry::Key {
            key_id,
            registry,
            policy,
            policy_hash,
            schema_toml,
            policy_toml,
            provenance,
            ..
        } => {
            let mut rows = vec![
                link(t.field_key, key_id.clone(), key_href(key_id)),
                row(t.field_policy, policy.clone()),
                row(t.field_registry, registry.clone()),
                row(t.field_policy_hash, policy_hash.clone()),
            ];
            rows.extend(provenance_rows(t, provenance.as_ref()));
            rows.push(pre(t.field_policy_text, policy_toml.clone()));
            rows.push(pre(t.field_schema_text, schema_toml.clone()));
            rows
        }
        Entry::Root {
            department,
            registry,
            root,
            signature,
            ..
        } => vec![
            row(t.field_department, department.clone()),
            row(t.field_registry, registry.clone()),
            row(t.field_root, root.clone()),
            row(t.field_signed, yes_no(signature.is_some())),
        ],
        Entry::Result {
            key_id,
            case_id,
            registry_root,
            public_inputs,
            department,
            ..
        } => {
            let policy = log
                .key(key_id)
                .map_or(String::new(), |k| k.policy_name.clone());
            vec![
                link(t.field_case, case_id.clone(), case_href(case_id)),
                link(t.field_key, key_id.clone(), key_href(key_id)),
                row(t.field_policy, policy),
                row(t.field_params, params_text(log, key_id, public_inputs)),
                row(t.field_root, registry_root.clone()),
                row(t.field_department, department.clone()),
            ]
        }
        Entry::Decision {
            case_id,
            department,
            decision,
            results,
            note,
            automatic,
            licence,
            signature,
            ..
        } => {
            let mut rows = vec![
                link(t.field_case, case_id.clone(), case_href(case_id)),
                row(t.field_decision, decision_label(t, decision)),
                row(t.field_department, department.clone()),
            ];
            rows.extend(
                results
                    .iter()
                    .map(|i| link(t.field_relied_on, i.to_string(), entry_href(*i))),
            );
            if !note.is_empty() {
                rows.push(row(t.decision_note, note.clone()));
            }
            if *automatic {
                rows.push(row(t.field_decision, t.decision_automatic));
            } else {
                rows.push(row(t.field_signed, yes_no(signature.is_some())));
            }
            if let Some(licence) = licence {
                rows.push(row(t.field_licence, licence.number.clone()));
            }
            rows
        }
        Entry::Procedure {
            name,
            department,
            procedure_toml,
            ..
        } => vec![
            row(t.field_procedure, name.clone()),
            row(t.field_department, department.clone()),
            pre(t.field_procedure_text, procedure_toml.clone()),
        ],
        Entry::Case {
            case_id, procedure, ..
        } => vec![
            link(t.field_case, case_id.clone(), case_href(case_id)),
            row(t.field_procedure, procedure.clone()),
        ],
        Entry::Unmet {
            case_id,
            evidence,
            department,
            reason,
            conditions,
            signature,
            ..
        } => {
            let mut rows = vec![
                link(t.field_case, case_id.clone(), case_href(case_id)),
                row(t.field_evidence, evidence.clone()),
                row(t.field_department, department.clone()),
                row(t.field_reason, reason_label(t, reason)),
            ];
            rows.extend(conditions.iter().map(|c| {
                row(
                    t.field_conditions,
                    plain_condition(t, c, &serde_json::Value::Null),
                )
            }));
            rows.push(row(t.field_signed, yes_no(signature.is_some())));
            rows
        }
        Entry::LogKey { previous, key, .. } => vec![
            row(t.field_previous_key, previous.clone()),
            row(t.field_new_key, key.clone()),
        ],
    }
}

/// The latest checkpoint, read from its note.
struct Checkpoint {
    size: u64,
    root: String,
    note: String,
    /// The names that signed it other than the log.
    cosigners: Vec<String>,
}

fn checkpoint(state: &AppState) -> Result<Checkpoint, ApiError> {
    let (note, size) = latest_checkpoint(state)?;
    let root = note.lines().nth(2).unwrap_or_default().to_string();
    let cosigners = note
        .lines()
        .filter_map(|line| line.strip_prefix("— "))
        .filter_map(|line| line.split(' ').next())
        .filter(|name| *name != state.config.origin)
        .map(str::to_string)
        .collect();
    Ok(Checkpoint {
        size,
        root,
        note,
        cosigners,
    })
}

struct Listed {
    index: u64,
    kind: &'static str,
    summary: String,
    time: String,
}

#[derive(Template)]
#[template(path = "log_index.html")]
struct Index<'a> {
    ctx: &'a Ctx,
    checkpoint: Checkpoint,
    entries: Vec<Listed>,
    /// The `before` of the newer and the older page.
    newer: Option<u64>,
    older: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    #[serde(default)]
    before: Option<u64>,
}

async fn read_entries(
    state: &Arc<AppState>,
    start: u64,
    end: u64,
) -> Result<Vec<Option<Entry>>, ApiError> {
    let storage = state.storage.clone();
    let bytes = blocking(move || Ok(storage.entries(start, end)?)).await?;
    Ok(bytes
        .iter()
        .map(|b| serde_json::from_slice::<Entry>(b).ok())
        .collect())
}

/// `GET /log[?before=N]`: the checkpoint and a page of entries, newest
/// first.
pub(super) async fn index(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    query: Result<Query<Page>, QueryRejection>,
) -> Response {
    let Ok(Query(page)) = query else {
        return failure(&ctx, ApiError::MalformedRequest("the page".into()));
    };
    let checkpoint = match checkpoint(&state) {
        Ok(c) => c,
        Err(e) => return failure(&ctx, e),
    };
    let end = page.before.unwrap_or(checkpoint.size).min(checkpoint.size);
    let start = end.saturating_sub(ENTRIES_PER_PAGE);
    let read = match read_entries(&state, start, end).await {
        Ok(read) => read,
        Err(e) => return failure(&ctx, e),
    };
    let entries = {
        let log = state.log();
        read.iter()
            .enumerate()
            .rev()
            .map(|(i, entry)| Listed {
                index: start + i as u64,
                kind: type_name(ctx.t, entry.as_ref()),
                summary: entry
                    .as_ref()
                    .map(|e| summary(ctx.t, &log, e))
                    .unwrap_or_default(),
                time: entry
                    .as_ref()
                    .map(Entry::time)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect()
    };
    let newer = (end < checkpoint.size).then(|| (end + ENTRIES_PER_PAGE).min(checkpoint.size));
    let older = (start > 0).then_some(start);
    no_cache(render(
        &ctx,
        &Index {
            ctx: &ctx,
            checkpoint,
            entries,
            newer,
            older,
        },
    ))
}

#[derive(Template)]
#[template(path = "log_entry.html")]
struct EntryPage<'a> {
    ctx: &'a Ctx,
    index: u64,
    heading: String,
    kind: &'static str,
    time: String,
    rows: Vec<Row>,
    /// For a root, its registry's roots: index, root and time.
    history: Vec<(u64, String, String)>,
    raw: String,
    size: u64,
}

/// `GET /log/entries/{index}`: one entry, decoded, with its proofs.
pub(super) async fn entry(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(index): Path<String>,
) -> Response {
    let size = match checkpoint(&state) {
        Ok(c) => c.size,
        Err(e) => return failure(&ctx, e),
    };
    let Some(index) = index.parse::<u64>().ok().filter(|i| *i < size) else {
        return failure(&ctx, ApiError::NotFound(format!("no entry {index}")));
    };
    let storage = state.storage.clone();
    let bytes = match blocking(move || Ok(storage.entries(index, index + 1)?)).await {
        Ok(mut bytes) if !bytes.is_empty() => bytes.remove(0),
        Ok(_) => return failure(&ctx, ApiError::NotFound(format!("no entry {index}"))),
        Err(e) => return failure(&ctx, e),
    };
    let entry = serde_json::from_slice::<Entry>(&bytes).ok();
    let t = ctx.t;
    let (rows, history) = {
        let log = state.log();
        let rows = entry.as_ref().map(|e| rows(t, &log, e)).unwrap_or_default();
        let history = match &entry {
            Some(Entry::Root { registry, .. }) => log
                .roots(registry)
                .iter()
                .rev()
                .map(|r| {
                    let time = zkgov_log::entry::format_time(r.time);
                    (r.index, r.root.clone(), time)
                })
                .collect(),
            _ => Vec::new(),
        };
        (rows, history)
    };
    let page = EntryPage {
        ctx: &ctx,
        index,
        heading: fill(t.entry_title, &[&index.to_string()]),
        kind: type_name(t, entry.as_ref()),
        time: entry
            .as_ref()
            .map(Entry::time)
            .unwrap_or_default()
            .to_string(),
        rows,
        history,
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        size,
    };
    no_cache(render(&ctx, &page))
}

struct CaseLine {
    index: u64,
    what: String,
    detail: String,
    time: String,
}

#[derive(Template)]
#[template(path = "log_case.html")]
struct CasePage<'a> {
    ctx: &'a Ctx,
    heading: String,
    lines: Vec<CaseLine>,
}

/// `GET /log/cases/{case}`: what the log holds of a case: its creation,
/// the results, the unmet answers and the decisions, in log order.
pub(super) async fn case(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(case_id): Path<String>,
) -> Response {
    let t = ctx.t;
    let time = zkgov_log::entry::format_time;
    let mut lines = Vec::new();
    {
        let log = state.log();
        if let Some(application) = log.application(&case_id) {
            let procedure = log
                .procedure_at(application.procedure)
                .map_or(String::new(), |p| p.procedure.title.clone());
            lines.push(CaseLine {
                index: application.index,
                what: t.type_case.to_string(),
                detail: procedure,
                time: time(application.time),
            });
            for (name, answer) in &application.answers {
                if let Answer::Unmet {
                    index,
                    reason,
                    conditions,
                } = answer
                {
                    let mut detail = format!("{name}: {}", reason_label(t, reason));
                    for c in conditions {
                        detail.push_str(&format!(
                            "; {}",
                            plain_condition(t, c, &serde_json::Value::Null)
                        ));
                    }
                    lines.push(CaseLine {
                        index: *index,
                        what: t.type_unmet.to_string(),
                        detail,
                        time: String::new(),
                    });
                }
            }
        }
        for r in log.case_results(&case_id) {
            let policy = log.key(&r.key_id).map_or("", |k| k.policy_name.as_str());
            lines.push(CaseLine {
                index: r.index,
                what: t.type_result.to_string(),
                detail: format!(
                    "{policy} · {} · {}",
                    params_text(&log, &r.key_id, &r.public_inputs),
                    r.department
                ),
                time: time(r.time),
            });
        }
        for d in log.case_decisions(&case_id) {
            lines.push(CaseLine {
                index: d.index,
                what: t.type_decision.to_string(),
                detail: format!("{} · {}", decision_label(t, &d.decision), d.department),
                time: time(d.time),
            });
        }
    }
    if lines.is_empty() {
        return failure(&ctx, ApiError::NotFound(format!("no case {case_id}")));
    }
    lines.sort_by_key(|l| l.index);
    let page = CasePage {
        ctx: &ctx,
        heading: fill(t.case_page_title, &[&case_id]),
        lines,
    };
    no_cache(render(&ctx, &page))
}

#[derive(Template)]
#[template(path = "log_key.html")]
struct KeyPage<'a> {
    ctx: &'a Ctx,
    heading: String,
    index: u64,
    rows: Vec<Row>,
}

/// `GET /log/keys/{key_id}`: a registered key, with its policy's text.
pub(super) async fn key(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(key_id): Path<String>,
) -> Response {
    let t = ctx.t;
    let found = state.log().key(&key_id).cloned();
    let Some(key) = found else {
        return failure(&ctx, ApiError::NotFound(format!("no key {key_id}")));
    };
    let rows = vec![
        row(t.field_policy, key.policy_name.clone()),
        row(t.field_registry, key.registry.clone()),
        row(t.field_policy_hash, key.policy_hash.clone()),
        row(t.field_time, zkgov_log::entry::format_time(key.time)),
        pre(t.field_policy_text, key.policy_toml.clone()),
        pre(t.field_schema_text, key.schema_toml.clone()),
    ];
    let page = KeyPage {
        ctx: &ctx,
        heading: fill(t.key_page_title, &[&key_id]),
        index: key.index,
        rows,
    };
    no_cache(render(&ctx, &page))
}

#[derive(Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "log_search.html")]
struct NoMatch<'a> {
    ctx: &'a Ctx,
    message: String,
}

/// `GET /log/search?q=`: an entry index, a key id or a case number, in
/// that order.
pub(super) async fn search(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    query: Result<Query<Search>, QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0.q).unwrap_or_default();
    let q = q.trim();
    let target = {
        let log = state.log();
        if let Ok(index) = q.parse::<u64>() {
            (index < log.size()).then(|| entry_href(index))
        } else if log.key(q).is_some() {
            Some(key_href(q))
        } else if log.application(q).is_some() || !log.case_results(q).is_empty() {
            Some(case_href(q))
        } else {
            None
        }
    };
    match target {
        Some(href) => Redirect::to(&href).into_response(),
        None => {
            let shown: String = q.chars().take(100).collect();
            let page = NoMatch {
                ctx: &ctx,
                message: fill(ctx.t.search_none, &[&shown]),
            };
            (StatusCode::NOT_FOUND, render(&ctx, &page)).into_response()
        }
    }
}
