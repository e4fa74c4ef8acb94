//! `zkgov`: the one command-line tool of zkgov.
//!
//! Exit codes (`docs/cli.md`): 0 on success, 1 for a negative answer or
//! failed work, 2 for bad input or usage, 3 when the service cannot be
//! reached.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use zkgov_circuits::circuit::StatementCircuit;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::TreeShape;

mod casework;
mod ceremony;
mod client;
mod cpu;
mod demo;
mod department;
mod keys;
mod licence;
mod prove;
mod records;
mod registry;
mod serve;
mod witness;
mod worker;

#[derive(Parser)]
#[command(
    name = "zkgov",
    version,
    about = "Zero-knowledge verification proofs between government registries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hash functions, exactly as circomlib computes them.
    #[command(subcommand)]
    Hash(HashCommand),
    /// Schemas and policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Groth16 keys per policy: setup, inspection, export.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Phase-2 ceremonies on snarkjs `.zkey` files: contribute, or end with a beacon.
    #[command(subcommand)]
    Ceremony(ceremony::CeremonyCommand),
    /// Verify a Groth16 proof offline, from snarkjs-format files or a `zkgov prove` line: exit 0 valid, 1 invalid, 2 malformed.
    Verify(VerifyArgs),
    /// Run the reference workload end to end on a synthetic registry.
    Demo(demo::DemoArgs),
    /// Department registries: build from a records file, update, print the root.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Prove a batch of cases against a registry, in parallel, streaming JSON Lines.
    Prove(prove::ProveArgs),
    /// Run the verifier service: verify proofs, anchor results in the log, answer departments.
    Serve(serve::ServeArgs),
    /// Bearer tokens for the verifier service.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Submit `zkgov prove` output to the verifier service in batches; one outcome line per proof.
    Submit(client::SubmitArgs),
    /// Procedures: what an application requires and how it is decided.
    #[command(subcommand)]
    Procedure(casework::ProcedureCommand),
    /// Apply under a procedure, as an applicant: prints the case number and its access code.
    Apply(casework::ApplyArgs),
    /// A department's work queue.
    #[command(subcommand)]
    Work(casework::WorkCommand),
    /// Serve a department's work queue: lease requests, prove them on all cores, issue licences, submit, loop.
    Worker(worker::WorkerArgs),
    /// Licence documents: fetch one as its applicant, verify one offline or online.
    #[command(subcommand)]
    Licence(licence::LicenceCommand),
    /// Registry roots in the verifier service's log.
    #[command(subcommand)]
    Root(client::RootCommand),
    /// Cases in the verifier service: compare their anchored results and record decisions.
    #[command(subcommand)]
    Case(client::CaseCommand),
    /// The verifier service's anchor log: audit it.
    #[command(subcommand)]
    Log(client::LogCommand),
    /// A department's signing key.
    #[command(subcommand)]
    Department(department::DepartmentCommand),
    /// Who takes part in the log: show it, endorse a change as a department.
    #[command(subcommand)]
    Governance(department::GovernanceCommand),
    /// A C2SP witness that cosigns logs' checkpoints, and its keys.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
    /// Print a shell completion script, such as `zkgov completions bash > ~/.local/share/bash-completion/completions/zkgov`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff; `zkgov man | man -l -`), or write one page per command into --out.
    Man {
        /// A directory to write `zkgov.1` and a page for every subcommand into, instead of printing
        /// the top page.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// The shells `zkgov completions` writes for.
#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new random token and the SHA-256 the service config stores.
    New,
}

#[derive(Subcommand)]
enum HashCommand {
    /// Print Poseidon(X1, …, Xn) in decimal; inputs are canonical decimal field elements (1 to 16).
    Poseidon {
        /// Canonical decimal field elements.
        #[arg(required = true, num_args = 1.., value_name = "X", allow_hyphen_values = true)]
        inputs: Vec<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print a policy circuit's constraint count, domain size and public inputs.
    Inspect(InspectArgs),
}

/// A policy circuit: the schema and policy files and the registry tree's
/// shape.
#[derive(Args)]
pub(crate) struct CircuitArgs {
    /// The schema file (TOML).
    #[arg(long)]
    pub(crate) schema: PathBuf,
    /// The policy file (TOML).
    #[arg(long)]
    pub(crate) policy: PathBuf,
    /// Children per tree node: 2, 4, 8 or 16.
    #[arg(long, default_value_t = TreeShape::DEFAULT_ARITY)]
    arity: usize,
    /// Levels of the registry tree.
    #[arg(long)]
    depth: u32,
}

impl CircuitArgs {
    /// The schema and policy, validated, and the tree shape.
    pub(crate) fn load(&self) -> Result<(Schema, Policy, TreeShape)> {
        let (schema, policy) = load_policy(&self.schema, &self.policy)?;
        let shape = TreeShape::new(self.arity, self.depth).map_err(|e| Malformed(e.to_string()))?;
        Ok((schema, policy, shape))
    }
}

#[derive(Args)]
struct InspectArgs {
    #[command(flatten)]
    circuit: CircuitArgs,
    /// Print the figures as one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("key").required(true).args(["vk", "keys"])))]
#[command(group(ArgGroup::new("statement").required(true).args(["proof", "line"])))]
struct VerifyArgs {
    /// The verifying key, snarkjs `verification_key.json`.
    #[arg(long, value_name = "FILE")]
    vk: Option<PathBuf>,
    /// A key directory: its verifying key, and its key id, which a prove
    /// line must name.
    #[arg(long, value_name = "KEYDIR")]
    keys: Option<PathBuf>,
    /// The proof, snarkjs `proof.json`.
    #[arg(long, value_name = "FILE", requires = "public")]
    proof: Option<PathBuf>,
    /// The public signals, snarkjs `public.json`.
    #[arg(long, value_name = "FILE", requires = "proof")]
    public: Option<PathBuf>,
    /// `zkgov prove` output (`-` for standard input): its one line, or the
    /// line of --case.
    #[arg(long, value_name = "FILE")]
    line: Option<PathBuf>,
    /// With --line, the case whose line to verify.
    #[arg(long, value_name = "CASE", requires = "line")]
    case: Option<String>,
    /// Print `{"valid": true|false}` instead of `valid` or `invalid`.
    #[arg(long)]
    json: bool,
}

/// A value given either in the current spelling or in an earlier one,
/// kept for one release: the value, with a warning on standard error when
/// it came in the old spelling.
pub(crate) fn deprecated<T>(
    current: Option<T>,
    old: Option<T>,
    old_spelling: &str,
    instead: &str,
) -> Option<T> {
    if old.is_some() {
        warn_deprecated(old_spelling, instead);
    }
    current.or(old)
}

/// Warns that a spelling of earlier versions was used, and what to write
/// instead.
pub(crate) fn warn_deprecated(old_spelling: &str, instead: &str) {
    eprintln!("warning: {old_spelling} is deprecated and goes in the next release; {instead}");
}

/// An error in the user's input rather than in the work: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Malformed(String);

fn main() -> ExitCode {
    let missing = cpu::missing();
    if !missing.is_empty() {
        eprintln!("error: {}", cpu::message(&missing));
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(HashCommand::Poseidon { inputs }) => hash_poseidon(&inputs),
        Command::Policy(PolicyCommand::Inspect(args)) => inspect(&args),
        Command::Keys(command) => keys::run(&command),
        Command::Ceremony(command) => return exit_code(ceremony::run(&command)),
        Command::Verify(args) => match verify(&args) {
            Ok(valid) => {
                if args.json {
                    println!("{}", serde_json::json!({ "valid": valid }));
                } else {
                    println!("{}", if valid { "valid" } else { "invalid" });
                }
                if !valid {
                    return ExitCode::FAILURE;
                }
                Ok(())
            }
            Err(e) => Err(e),
        },
        Command::Demo(args) => demo::run(&args),
        Command::Registry(command) => registry::run(&command),
        Command::Prove(args) => return exit_code(prove::run(&args)),
        Command::Worker(args) => worker::run(&args),
        Command::Procedure(command) => return exit_code(casework::procedure(&command)),
        Command::Apply(args) => return exit_code(casework::apply(&args)),
        Command::Work(command) => return exit_code(casework::work(&command)),
        Command::Serve(args) => serve::serve(args),
        Command::Token(TokenCommand::New) => serve::new_token(),
        Command::Submit(args) => return exit_code(client::submit(&args)),
        Command::Root(command) => return exit_code(client::root(&command)),
        Command::Case(command) => return exit_code(client::case(&command)),
        Command::Licence(command) => return exit_code(licence::run(&command)),
        Command::Log(command) => return exit_code(client::log(&command)),
        Command::Department(command) => department::department(&command),
        Command::Governance(command) => department::governance(&command),
        Command::Witness(command) => witness::run(&command),
        Command::Completions { shell } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "zkgov", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out } => man(out.as_deref()),
    };
    exit_code(result.map(|()| ExitCode::SUCCESS))
}

/// The exit code of a command's result, printing its error: 2 for bad
/// input (a [`Malformed`] value, a file that does not exist), 3 when the
/// service cannot be reached, 1 for any other failure.
fn exit_code(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(failure_code(&e))
        }
    }
}

/// The exit code of a failure; see `docs/cli.md`.
fn failure_code(e: &anyhow::Error) -> u8 {
    let unreachable = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<zkgov_verifier::client::ClientError>(),
            Some(zkgov_verifier::client::ClientError::Unreachable { .. })
        )
    });
    let missing_file = e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
    });
    if unreachable {
        3
    } else if e.downcast_ref::<Malformed>().is_some() || missing_file {
        2
    } else {
        1
    }
}

/// An error and its causes, each said once: many library errors already
/// print their source (`PATH: No such file or directory`), and anyhow's
/// chain would repeat it after them.
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `zkgov man`: the top page on standard output, or every page into `out`.
fn man(out: Option<&Path>) -> Result<()> {
    let command = Cli::command();
    match out {
        None => clap_mangen::Man::new(command)
            .render(&mut std::io::stdout())
            .context("cannot write the manual page"),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
            eprintln!("wrote the manual pages into {}", dir.display());
            Ok(())
        }
    }
}

/// Whether the proof is valid; malformed files are a [`Malformed`] error
/// naming the file and what is wrong.
fn verify(args: &VerifyArgs) -> Result<bool> {
    use zkgov_keys::snarkjs;
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let malformed = |what: &str, e: snarkjs::SnarkjsError| Malformed(format!("{what}: {e}"));
    let (vk, key_id) = match (&args.vk, &args.keys) {
        (Some(path), _) => (
            snarkjs::verifying_key_from_json(&read(path)?)
                .map_err(|e| malformed(&path.display().to_string(), e))?,
            None,
        ),
        (None, Some(dir)) => {
            let keys = keys::open(dir)?;
            (keys.verifying_key, Some(keys.metadata.key_id))
        }
        (None, None) => unreachable!("clap requires --vk or --keys"),
    };
    let (proof, public) = match (&args.proof, &args.public, &args.line) {
        (Some(proof), Some(public), _) => (
            snarkjs::proof_from_json(&read(proof)?)
                .map_err(|e| malformed(&proof.display().to_string(), e))?,
            snarkjs::public_signals_from_json(&read(public)?)
                .map_err(|e| malformed(&public.display().to_string(), e))?,
        ),
        (_, _, Some(path)) => {
            let (name, text) = if path.as_os_str() == "-" {
                let text = std::io::read_to_string(std::io::stdin())
                    .context("cannot read standard input")?;
                ("standard input".to_string(), text)
            } else {
                (path.display().to_string(), read(path)?)
            };
            let line = prove::proven_line(&text, args.case.as_deref(), key_id.as_deref())
                .map_err(|problem| Malformed(format!("{name}: {problem}")))?;
            let what = format!("{name}: case {}", line.case_id);
            (
                snarkjs::proof_from_json(&line.proof.to_string())
                    .map_err(|e| malformed(&what, e))?,
                snarkjs::public_signals_from_json(&serde_json::to_string(&line.public_inputs)?)
                    .map_err(|e| malformed(&what, e))?,
            )
        }
        _ => unreachable!("clap requires --proof and --public, or --line"),
    };
    snarkjs::verify(&vk, &proof, &public).map_err(|e| malformed("the public inputs", e).into())
}

fn hash_poseidon(inputs: &[String]) -> Result<()> {
    let values = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse_field_element(s).map_err(|e| Malformed(format!("input {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hash = zkgov_circuits::poseidon::hash(&values).map_err(|e| Malformed(e.to_string()))?;
    println!("{}", to_decimal(&hash));
    Ok(())
}

/// Reads and validates a schema and a policy for it.
pub(crate) fn load_policy(schema: &Path, policy: &Path) -> Result<(Schema, Policy)> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let schema = Schema::from_toml(&schema.display().to_string(), &read(schema)?)
        .map_err(|e| Malformed(e.to_string()))?;
    let policy = Policy::from_toml(&policy.display().to_string(), &read(policy)?, &schema)
        .map_err(|e| Malformed(e.to_string()))?;
    Ok((schema, policy))
}

fn inspect(args: &InspectArgs) -> Result<()> {
    let (schema, policy, shape) = args.circuit.load()?;
    let size = StatementCircuit::size(&schema, &policy, shape)
        .context("cannot synthesize the policy circuit")?;
    let types = [
        "field element (root)",
        "text (case number)",
        "field element (tag)",
    ];
    let names = policy.public_input_names();
    let inputs: Vec<(&str, String)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ty = match i.checked_sub(types.len()) {
                None => types[i].to_string(),
                Some(p) => policy.params[p].ty.name(),
            };
            (name.as_str(), ty)
        })
        .collect();
    if args.json {
        let inputs: Vec<_> = inputs
            .iter()
            .map(|(name, ty)| serde_json::json!({ "name": name, "type": ty }))
            .collect();
        let document = serde_json::json!({
            "policy": policy.name,
            "schema": schema.name,
            "tree": { "arity": shape.arity(), "depth": shape.depth(), "capacity": shape.capacity() },
            "constraints": size.constraints,
            "witnesses": size.witnesses,
            "domain": size.domain(),
            "public_inputs": inputs,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    println!("policy         {} (schema {})", policy.name, schema.name);
    println!(
        "registry tree  arity {}, depth {} ({} records)",
        shape.arity(),
        shape.depth(),
        shape.capacity()
    );
    println!("constraints    {}", size.constraints);
    println!("witnesses      {}", size.witnesses);
    println!(
        "domain         {} (constraints + public inputs + 1 = {})",
        size.domain(),
        size.constraints + size.public_inputs + 1
    );
    println!("public inputs  {}", size.public_inputs);
    for (i, (name, ty)) in inputs.iter().enumerate() {
        println!("  {i}  {name:<16} {ty}");
    }
    Ok(())
}
