//! Every string the pages show, in English and in Simplified Chinese.
//!
//! Each string is written once, with both its languages side by side, so a
//! page cannot show a string that one language lacks: the compiler checks
//! it. `{}` marks where [`fill`] puts a value.

/// A language of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// The BCP 47 tag, as `lang` attributes and the switch use it.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// Parses a tag as the switch gives it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        match tag {
            "en" => Some(Lang::En),
            "zh-CN" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The other language, which the switch offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// The strings.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }

    /// The language an `Accept-Language` header prefers: the first of
    /// Chinese and English by weight, English if it names neither.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for range in header.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
                .and_then(|q| q.parse::<f32>().ok())
                .filter(|q| (0.0..=1.0).contains(q))
                .unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

/// Puts `values` in place of the `{}` of `text`, in order.
pub fn fill(text: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut values = values.iter();
    let mut rest = text;
    while let Some(at) = rest.find("{}") {
        out.push_str(&rest[..at]);
        out.push_str(values.next().copied().unwrap_or(""));
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

macro_rules! texts {
    ($($name:ident: $en:expr, $zh:expr;)*) => {
        /// The pages' strings in one language.
        pub struct Text {
            $(#[doc = $en] pub $name: &'static str,)*
        }

        /// English.
        pub static EN: Text = Text { $($name: $en,)* };

        /// Simplified Chinese.
        pub static ZH: Text = Text { $($name: $zh,)* };

        #[cfg(test)]
        const ALL: &[(&str, &str, &str)] = &[$((stringify!($name), $en, $zh),)*];
    };
}

texts! {
    lang_name: "English", "中文";
    service_name: "zkgov licences", "zkgov 政务核验";
    skip_to_content: "Skip to main content", "跳到主要内容";
    nav_label: "Main menu", "主菜单";
    nav_home: "Home", "首页";
    nav_apply: "Apply", "申请";
    nav_track: "Track an application", "查询进度";
    nav_log: "Public log", "公开日志";
    switch_label: "Language", "语言";
    footer: "Each department proves its facts in zero knowledge, without handing over its records. Every answer is anchored in a public, append-only log that anyone can check.",
        "各部门以零知识证明提供核验结果，无需交出记录。所有答复都记入公开、只增不改的日志，任何人都可以核查。";
    home_title: "Apply for a licence, and follow it", "在线申请许可证并跟踪进度";
    home_intro: "Apply online. The departments check what your application needs in their own registries, and you can follow every step as it happens.",
        "在线提交申请。各部门在本部门的登记簿中核验申请所需的事实，您可以实时查看每一步进展。";
    home_apply: "Start an application", "开始申请";
    home_track: "Track an application you have made", "查询已提交申请的进度";
    home_log: "See the public log", "查看公开日志";
    apply_title: "What are you applying for?", "您要申请哪一项？";
    apply_none: "No procedure is open for applications yet.", "目前没有可以申请的事项。";
    continue_button: "Continue", "继续";
    back: "Back", "返回";
    question_of: "Question {} of {}", "第 {} 题，共 {} 题";
    error_summary: "There is a problem", "有问题需要处理";
    err_missing: "Enter {}", "请填写{}";
    err_blank: "Enter {}, without spaces before or after it", "请填写{}，前后不要有空格";
    err_too_long: "{} must be at most {} bytes, without control characters", "{}最多 {} 个字节，且不能含有控制字符";
    err_form: "{} is not in the form the registry expects ({})", "{}的格式不符合登记簿的要求（{}）";
    check_title: "Check your answers before sending your application", "提交申请前，请核对您的回答";
    change: "Change", "修改";
    check_evidence: "What the departments will check", "各部门将核验的事项";
    check_declaration: "By sending this application you confirm that your answers are correct.", "提交即表示您确认以上回答无误。";
    send: "Accept and send", "确认并提交";
    confirm_title: "Application received", "申请已提交";
    case_number: "Case number", "案件编号";
    access_code: "Access code", "查询码";
    keep_code_warning: "Keep your access code now: it is shown only this once. You need it, with the case number, to track your application and to download your licence.",
        "请立即妥善保存查询码：它只显示这一次。查询申请进度和下载许可证时，需要同时提供案件编号和查询码。";
    track_now: "Track your application", "查询申请进度";
    track_title: "Track an application", "查询申请进度";
    track_hint: "Enter the case number and the access code you were given when you applied.", "请输入申请时获得的案件编号和查询码。";
    track_button: "Show my application", "查看我的申请";
    track_mismatch: "The case number and access code do not match", "案件编号与查询码不匹配";
    too_many: "Too many attempts from this address. Wait a minute and try again.", "此地址尝试次数过多，请一分钟后再试。";
    busy: "The service is busy. Try again in a moment.", "服务繁忙，请稍后再试。";
    sign_in_again: "Enter your access code to see this application.", "请输入查询码以查看此申请。";
    status_title: "Application {}", "申请 {}";
    applied_on: "Applied", "申请时间";
    overall: "Status", "状态";
    case_open: "Being checked", "核验中";
    case_approved: "Approved", "已批准";
    case_refused: "Refused", "未获批准";
    case_revoked: "Revoked", "已撤销";
    evidence_heading: "What is being checked", "核验事项";
    item_pending: "Waiting to be checked", "等待核验";
    item_in_progress: "Being checked now", "正在核验";
    item_verified: "Verified", "已核验";
    item_not_needed: "No longer needed", "无需核验";
    item_not_satisfied: "Not met", "不符合要求";
    item_subject_not_found: "This registry holds no record for you", "该登记簿中没有您的记录";
    item_revoked: "Your record in this registry has been revoked", "您在该登记簿中的记录已被注销";
    item_invalid_input: "The registry could not read your answer", "登记簿无法识别您填写的内容";
    item_other: "Not proved", "未能证明";
    failed_conditions: "What was not met:", "未满足的条件：";
    cond_ge: "{} must be at least {}", "{}须不低于 {}";
    cond_gt: "{} must be more than {}", "{}须高于 {}";
    cond_le: "{} must be at most {}", "{}须不高于 {}";
    cond_lt: "{} must be less than {}", "{}须低于 {}";
    cond_eq: "{} must be {}", "{}须为 {}";
    cond_ne: "{} must not be {}", "{}不得为 {}";
    decision_heading: "Decision", "决定";
    decision_note: "Note", "说明";
    decision_automatic: "Decided by the procedure's rule, from the verified evidence.", "依据已核验的事项，由办事程序的规则自动决定。";
    live_updates: "This page updates by itself as the departments answer.", "各部门答复后，本页会自动更新。";
    refresh: "Refresh", "刷新";
    licence_heading: "Your licence", "您的许可证";
    licence_number: "Licence number", "许可证编号";
    licence_pending: "The licence is approved and is being entered in the registry.", "许可证已批准，正在录入登记簿。";
    download_licence: "Download the licence (JSON)", "下载许可证（JSON）";
    licence_digest: "Digest (SHA-256)", "摘要（SHA-256）";
    verification_link: "Verification link", "核验链接";
    qr_alt: "QR code of the licence's verification link and digest", "许可证核验链接和摘要的二维码";
    log_title: "The public log", "公开日志";
    log_intro: "Every key, registry root, proof result and decision is an entry of this append-only log. Anyone can check that it only grows, and that every answer is in it.",
        "每个密钥、登记簿根、证明结果和决定都是这份只增日志中的一条。任何人都可以核查日志只增不改，且所有答复都在其中。";
    checkpoint_heading: "Latest checkpoint", "最新检查点";
    log_size: "Entries", "条目数";
    log_root: "Root hash", "根哈希";
    signed_note: "The signed checkpoint", "已签名的检查点";
    cosignatures: "Witness cosignatures", "见证方联署";
    none: "None", "无";
    entries_heading: "Entries", "条目";
    col_index: "Index", "序号";
    col_type: "Type", "类型";
    col_summary: "Summary", "摘要";
    col_time: "Time", "时间";
    newer: "Newer entries", "较新的条目";
    older: "Older entries", "较早的条目";
    search_label: "Search by case number, entry index or key id", "按案件编号、条目序号或密钥编号搜索";
    search_button: "Search", "搜索";
    search_none: "Nothing in the log matches “{}”.", "日志中没有与“{}”匹配的内容。";
    entry_title: "Entry {}", "条目 {}";
    type_governance: "Governance", "治理规则";
    type_key: "Verifying key", "验证密钥";
    type_root: "Registry root", "登记簿根";
    type_result: "Proof result", "证明结果";
    type_decision: "Decision", "决定";
    type_procedure: "Procedure", "办事程序";
    type_case: "Case", "案件";
    type_unmet: "Unmet evidence", "未满足的事项";
    type_log_key: "Log key hand-over", "日志密钥交接";
    type_malformed: "Unreadable entry", "无法解析的条目";
    download_entry: "The entry's bytes (JSON)", "条目原文（JSON）";
    download_inclusion: "Inclusion proof in the latest checkpoint (JSON)", "在最新检查点中的包含证明（JSON）";
    download_consistency: "Consistency proof from this entry's tree to the latest checkpoint (JSON)", "从本条目所在的树到最新检查点的一致性证明（JSON）";
    proofs_heading: "Proofs", "证明";
    raw_entry: "The entry as logged", "日志中的原文";
    field_department: "Department", "部门";
    field_departments: "Departments", "部门";
    field_registry: "Registry", "登记簿";
    field_registries: "Registries", "登记簿";
    field_policy: "Policy", "政策";
    field_policy_text: "Policy text", "政策原文";
    field_schema_text: "Registry schema", "登记簿结构";
    field_procedure: "Procedure", "办事程序";
    field_procedure_text: "Procedure text", "办事程序原文";
    field_case: "Case", "案件";
    field_key: "Key", "密钥";
    field_params: "Parameters", "参数";
    field_decision: "Decision", "决定";
    field_reason: "Reason", "原因";
    field_root: "Root", "根";
    field_evidence: "Evidence", "证明事项";
    field_relied_on: "Entries relied on", "所依据的条目";
    field_previous_key: "Previous key", "原密钥";
    field_new_key: "New key", "新密钥";
    field_time: "Time", "时间";
    field_signed: "Signed by the department", "部门签名";
    field_licence: "Licence", "许可证";
    field_decides: "Decides", "有决定权";
    field_origin: "Log origin", "日志源";
    field_freshness: "Roots back proofs for (seconds)", "登记簿根可用于证明的时长（秒）";
    field_grace: "Grace after a newer root (seconds)", "新根发布后的宽限期（秒）";
    field_conditions: "Failed conditions", "未满足的条件";
    field_require_multi_party: "Keys must come from a multi-party ceremony", "密钥须来自多方仪式";
    field_setup: "Setup", "生成方式";
    setup_single_party: "Single-party: insecure for production", "单方生成：不可用于生产环境";
    setup_multi_party: "Multi-party ceremony, {} contributions", "多方仪式，{} 次贡献";
    setup_unverified: "Ceremony of {} contributions, not checked against a powers of tau", "{} 次贡献的仪式，未对照 powers of tau 核验";
    setup_uncontributed: "Ceremony without contributions ({}): single-party", "无人贡献的仪式（{}）：等同单方生成";
    field_circuit: "Circuit", "电路";
    circuit_shape: "arity {}, depth {}, R1CS digest {}", "{} 叉树，深度 {}，R1CS 摘要 {}";
    field_zkey: "Final .zkey (BLAKE2b-512)", "最终 .zkey（BLAKE2b-512）";
    field_ptau: "Powers of tau (BLAKE2b-512)", "Powers of tau（BLAKE2b-512）";
    field_contribution: "Contribution", "贡献";
    contribution_beacon: "beacon", "随机信标";
    contribution_unnamed: "unnamed", "未署名";
    field_policy_hash: "Policy hash", "政策哈希";
    field_entry: "Log entry", "日志条目";
    yes: "Yes", "是";
    no: "No", "否";
    root_history: "This registry's roots", "该登记簿的历次根";
    case_page_title: "Case {}", "案件 {}";
    case_none: "Nothing is logged for this case.", "该案件尚无日志记录。";
    key_page_title: "Key {}", "密钥 {}";
    nav_verify: "Check a licence", "核验许可证";
    verify_title: "Check a licence", "核验许可证";
    verify_intro: "Choose the licence file. This page checks it here, in your browser: the log's signature on the checkpoint, with the log key that the licence's link pins, the approval's place in the log, and every field of the licence against the approval.",
        "请选择许可证文件。本页在您的浏览器中完成核验：用许可证链接中固定的日志公钥核验检查点上的签名，核验批准决定在日志中的位置，并逐项比对许可证与批准决定。";
    verify_file_label: "Licence file (JSON)", "许可证文件（JSON）";
    verify_key_label: "Log key", "日志公钥";
    verify_key_hint: "Filled in from the licence's link. Get it from the log's operator, not from this site.", "已从许可证链接中填入。请向日志运营方获取，不要从本网站获取。";
    verify_button: "Check the licence", "核验许可证";
    verify_needs_js: "Checking in the browser needs JavaScript. Without it, check the file with the command zkgov licence verify.", "在浏览器中核验需要启用 JavaScript。也可以使用命令 zkgov licence verify 核验该文件。";
    verify_holder_note: "The holder's opening of the subject tag is checked by zkgov licence verify.", "持证人对主体标签的打开值由 zkgov licence verify 核验。";
    verify_ok: "Valid: the log holds the approval that issued this licence", "有效：日志中记录了签发该许可证的批准决定";
    verify_bad: "Not valid", "无效";
    v_not_json: "The file is not a licence document", "该文件不是许可证文件";
    v_digest: "The file is not the one the link names: its digest differs", "该文件与链接所指的文件不符：摘要不同";
    v_no_key: "No log key: open the licence's link, or enter the key", "没有日志公钥：请打开许可证链接，或填写公钥";
    v_key: "The log key is not valid", "日志公钥无效";
    v_origin: "The checkpoint is of another log than the licence names", "检查点所属的日志与许可证所写的不同";
    v_signature: "The checkpoint is not signed by the log key", "检查点不是由该日志公钥签名的";
    v_leaf: "The entry's hash is not the one the receipt states", "条目的哈希与回执所写的不符";
    v_inclusion: "The approval is not in the signed log", "该批准决定不在已签名的日志中";
    v_decision: "The log's entry is not an approval that issues a licence", "日志中的条目不是签发许可证的批准决定";
    v_mismatch: "The licence's {} is not the one the log's approval states", "许可证的{}与日志中的批准决定不一致";
    v_crypto: "This browser cannot check Ed25519 signatures", "此浏览器无法核验 Ed25519 签名";
    nav_desk: "Department desk", "部门工作台";
    desk_title: "Desk of {}", "{}工作台";
    desk_sign_in: "Sign in to the department desk", "登录部门工作台";
    desk_token: "Department token", "部门令牌";
    desk_sign_in_button: "Sign in", "登录";
    desk_bad_token: "This token is not one the service knows", "服务不认识此令牌";
    desk_sign_out: "Sign out", "退出登录";
    desk_queue: "Work queue", "工作队列";
    desk_pending: "Waiting", "待处理";
    desk_leased: "Being proved", "正在证明";
    desk_done: "Done", "已完成";
    desk_waiting: "Cases waiting for your decision", "等待您决定的案件";
    desk_none_waiting: "No case waits for a decision.", "没有等待决定的案件。";
    desk_answered: "Your registries' recent answers", "本部门登记簿的最近答复";
    desk_approve: "Approve", "批准";
    desk_refuse: "Refuse", "不予批准";
    desk_reason: "Reason (needed to refuse)", "理由（不予批准时必填）";
    desk_signs: "This department signs its decisions with its key, which never reaches this service: decide with the command zkgov case decide --key.",
        "本部门用自己的密钥签署决定，密钥不会交给本服务：请使用命令 zkgov case decide --key 作出决定。";
    desk_recorded: "The decision on {} is in the log.", "对 {} 的决定已记入日志。";
    desk_refused: "The log's rules refuse this decision: {}", "日志规则拒绝了该决定：{}";
    not_found_title: "Page not found", "找不到页面";
    not_found_text: "Check the address, or start again from the home page.", "请检查网址，或从首页重新开始。";
    error_title: "Sorry, there is a problem with the service", "抱歉，服务出现问题";
    error_text: "Try again later. Nothing you sent has been lost.", "请稍后再试。您提交的内容没有丢失。";
    bad_request_title: "This request could not be read", "无法识别此请求";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_has_both_languages_and_the_same_placeholders() {
        for (name, en, zh) in ALL {
            assert!(!en.trim().is_empty() && !zh.trim().is_empty(), "{name}");
            assert_eq!(
                en.matches("{}").count(),
                zh.matches("{}").count(),
                "{name}: the languages take different values"
            );
            assert_ne!(en, zh, "{name} is not translated");
        }
    }

    #[test]
    fn accept_language_picks_by_weight_and_defaults_to_english() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("en-GB,zh;q=0.5"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("fr, zh-TW;q=0.7, en;q=0.3"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("de"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("zh;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept_language("zh;q=nonsense"), Lang::Zh);
    }

    #[test]
    fn fill_puts_values_in_order() {
        assert_eq!(fill(EN.question_of, &["1", "3"]), "Question 1 of 3");
        assert_eq!(fill(ZH.question_of, &["1", "3"]), "第 1 题，共 3 题");
        assert_eq!(fill("{} and {}", &["a"]), "a and ");
    }
}
