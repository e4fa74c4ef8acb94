//! `zkgov witness serve` and `zkgov witness keygen`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use zkgov_log::cosignature::Cosigner;
use zkgov_verifier::witness::{Witness, WitnessConfig};

#[derive(Subcommand)]
pub(crate) enum WitnessCommand {
    /// Serve C2SP tlog-witness: cosign each log's checkpoints that are consistent with the last.
    Serve(ServeArgs),
    /// Make a witness key: writes the private key (mode 600) and prints the verifier key.
    Keygen(KeygenArgs),
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The witness's config file (TOML): listen, key_file, database and a [[log]] per log.
    #[arg(long)]
    config: PathBuf,
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the private key; an existing file is never overwritten.
    #[arg(long)]
    out: PathBuf,
    /// The witness's name, such as `witness.health.example/w1`.
    #[arg(long)]
    name: String,
}

pub(crate) fn run(command: &WitnessCommand) -> Result<()> {
    match command {
        WitnessCommand::Serve(args) => serve(args),
        WitnessCommand::Keygen(args) => keygen(args),
    }
}

fn keygen(args: &KeygenArgs) -> Result<()> {
    let Some(cosigner) = Cosigner::try_generate(&args.name) else {
        bail!(crate::Malformed(format!(
            "--name `{}`: a key name must be non-empty, without spaces, `+` or control characters",
            args.name
        )));
    };
    if args.out.exists() {
        bail!(crate::Malformed(format!(
            "{} exists already; choose another --out, or move the old key away first",
            args.out.display()
        )));
    }
    let private = cosigner.private_key() + "\n";
    zkgov_keys::files::write_atomically(&args.out, private.as_bytes())?;
    println!("{}", cosigner.verifier_key());
    eprintln!(
        "wrote the private key to {} (mode 600); give the verifier key above to the log and to clients",
        args.out.display()
    );
    Ok(())
}

fn serve(args: &ServeArgs) -> Result<()> {
    crate::serve::init_tracing();
    let config = WitnessConfig::load(&args.config)?;
    let listen = config.listen;
    let origins: Vec<String> = config.logs.keys().cloned().collect();
    let witness = Witness::open(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = crate::serve::shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!(
            "zkgov witness listening on http://{}",
            listener.local_addr()?
        );
        println!("witnessing: {}", origins.join(", "));
        // Last, as `zkgov serve` prints its key: scripts may stop reading here.
        println!("witness key: {}", witness.verifier_key());
        witness.serve(listener, shutdown).await?;
        eprintln!("zkgov witness stopped");
        Ok(())
    })
}
