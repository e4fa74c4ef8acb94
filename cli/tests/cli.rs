//! The `zkgov` binary, run as a user runs it.

use assert_cmd::Command;

mod support;
use support::zkgov;

fn stdout(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn hash_poseidon_prints_circomlibs_hash() {
    let out = stdout(zkgov().args(["hash", "poseidon", "1", "2"]));
    assert_eq!(
        out,
        "7853200120776062878684798364095072458815029376092732009249414926327459813530\n"
    );
    let out = stdout(zkgov().args(["hash", "poseidon", "1"]));
    assert_eq!(
        out,
        "18586133768512220936620570745912940619677854269274689475585506675881198879027\n"
    );
}

#[test]
fn hash_poseidon_refuses_non_canonical_input_with_exit_code_2() {
    let r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    for bad in ["01", "+1", "-1", "0x10", r, " 1", ""] {
        let output = zkgov()
            .args(["hash", "poseidon", "5", bad])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "input {bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("input 2"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    let seventeen: Vec<String> = (1..=17).map(|i| i.to_string()).collect();
    let output = zkgov()
        .args(["hash", "poseidon"])
        .args(&seventeen)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn policy_inspect_prints_size_domain_and_public_inputs_in_order() {
    let out = stdout(zkgov().args([
        "policy",
        "inspect",
        "--schema",
        "../schemas/real-estate.toml",
        "--policy",
        "../policies/medical-premises.toml",
        "--depth",
        "10",
    ]));
    assert!(out.contains("constraints    3926\n"), "{out}");
    assert!(out.contains("domain         4096 "), "{out}");
    let names: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("public inputs"))
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "registry_root",
            "case_id",
            "subject_tag",
            "min_area",
            "usage",
            "today"
        ]
    );
    // With --json, the same figures as one document.
    let out = stdout(zkgov().args([
        "policy",
        "inspect",
        "--schema",
        "../schemas/real-estate.toml",
        "--policy",
        "../policies/medical-premises.toml",
        "--depth",
        "10",
        "--json",
    ]));
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["constraints"], 3926);
    assert_eq!(document["domain"], 4096);
    assert_eq!(document["tree"]["capacity"], 1u64 << 20);
    assert_eq!(document["public_inputs"][3]["name"], "min_area");
    assert_eq!(document["public_inputs"].as_array().unwrap().len(), 6);
}

#[test]
fn policy_inspect_names_the_bad_file_and_key() {
    let dir = std::env::temp_dir().join(format!("zkgov-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad-policy.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nschema = \"real-estate\"\nparams = []\n[rule]\nall = [\"area_m2 >= big\"]\n",
    )
    .unwrap();
    let output = zkgov()
        .args([
            "policy",
            "inspect",
            "--schema",
            "../schemas/real-estate.toml",
            "--policy",
        ])
        .arg(&bad)
        .args(["--depth", "4"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad-policy.toml")
            && stderr.contains("rule.all[0]")
            && stderr.contains("big"),
        "{stderr}"
    );

    let output = zkgov()
        .args([
            "policy",
            "inspect",
            "--schema",
            "../schemas/real-estate.toml",
        ])
        .args([
            "--policy",
            "../policies/medical-premises.toml",
            "--arity",
            "3",
            "--depth",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("arity 3"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_file_is_named_once_with_its_os_error_and_exits_2() {
    let output = zkgov()
        .args(["keys", "inspect", "keys/nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keys/nope"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = zkgov()
        .args([
            "verify",
            "--vk",
            "nope.json",
            "--proof",
            "p.json",
            "--public",
            "q.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read nope.json"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

#[test]
fn completions_for_each_shell_cover_every_command() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef zkgov"),
        ("fish", "complete -c zkgov"),
    ] {
        let script = stdout(zkgov().args(["completions", shell]));
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["registry", "prove", "submit", "witness", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        assert!(script.contains("resume"), "{shell} lacks prove's flags");
    }
    let refused = zkgov().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn man_prints_the_page_and_writes_one_per_command() {
    let page = stdout(zkgov().arg("man"));
    assert!(page.contains(".TH zkgov 1"), "{page}");
    assert!(page.contains("prove"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man");
    stdout(zkgov().args(["man", "--out"]).arg(&out));
    for name in [
        "zkgov.1",
        "zkgov-prove.1",
        "zkgov-log-verify.1",
        "zkgov-keys-setup.1",
    ] {
        let text =
            std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(".TH"), "{name}");
    }
}

/// A command's arguments as its `--help` or `docs/cli.md` lists them:
/// positional names (`DIR`) in order, then long flags (`--out`), sorted.
#[derive(Debug, PartialEq)]
struct Arguments {
    positional: Vec<String>,
    flags: Vec<String>,
}

/// The subcommands a `--help` page lists, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The arguments a `--help` page lists, `--help` and `--version` aside.
fn help_arguments(help: &str) -> Arguments {
    let section = |title: &str| -> Vec<String> {
        help.lines()
            .skip_while(|l| !l.starts_with(title))
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .map(str::trim)
            .filter(|l| l.starts_with('<') || l.starts_with('[') || l.starts_with('-'))
            .map(str::to_string)
            .collect()
    };
    let positional = section("Arguments:")
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(|name| name.trim_matches(|c| "<>[].".contains(c)).to_string())
        .collect();
    let mut flags: Vec<String> = section("Options:")
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|flag| flag.trim_end_matches(',').to_string())
        .filter(|flag| flag != "--help" && flag != "--version")
        .collect();
    flags.sort();
    Arguments { positional, flags }
}

/// Every leaf command, as its words after `zkgov`, with its `-h`.
fn every_command(path: Vec<String>) -> Vec<(Vec<String>, String)> {
    let help = stdout(zkgov().args(&path).arg("-h"));
    let subs = subcommands(&help);
    if subs.is_empty() {
        return vec![(path, help)];
    }
    subs.into_iter()
        .flat_map(|sub| {
            let mut next = path.clone();
            next.push(sub);
            every_command(next)
        })
        .collect()
}

/// The commands table of `docs/cli.md`: each command and its arguments.
fn documented_commands() -> Vec<(String, Arguments)> {
    let text = std::fs::read_to_string("../docs/cli.md").unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with("## Commands"))
        .filter(|l| l.starts_with("| `zkgov"))
        .map(|row| {
            let row = row.replace("\\|", "/");
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let command = cells[1].trim_matches('`').to_string();
            let words: Vec<&str> = cells[2].trim_matches('`').split_whitespace().collect();
            let positional = words
                .iter()
                .filter(|w| w.trim_start_matches('[').starts_with('<'))
                .map(|w| w.trim_matches(|c| "<>[]…".contains(c)).to_string())
                .collect();
            let mut flags: Vec<String> = words
                .iter()
                .map(|w| w.trim_start_matches(['[', '(']))
                .filter(|w| w.starts_with("--"))
                .map(|w| w.trim_end_matches(|c| "])…".contains(c)).to_string())
                .collect();
            flags.sort();
            (command, Arguments { positional, flags })
        })
        .collect()
}

#[test]
fn docs_cli_md_lists_every_command_with_its_arguments() {
    let documented = documented_commands();
    let commands = every_command(Vec::new());
    let names: Vec<String> = commands
        .iter()
        .map(|(path, _)| format!("zkgov {}", path.join(" ")))
        .collect();
    let listed: Vec<&String> = documented.iter().map(|(name, _)| name).collect();
    assert_eq!(
        listed,
        names.iter().collect::<Vec<_>>(),
        "docs/cli.md's table and the commands differ (or are in another order)"
    );
    for ((name, doc), (_, help)) in documented.iter().zip(&commands) {
        assert_eq!(
            doc,
            &help_arguments(help),
            "{name}: docs/cli.md against --help"
        );
    }
    assert!(
        commands.len() > 30,
        "the walk found {} commands",
        commands.len()
    );
}
