//! A live microservice chain on 127.0.0.1, for checking kubetwin's predictions against a
//! real application (issue 12): axum services in a synchronous chain, each replica its own
//! process with a fixed worker pool, OpenTelemetry-named Prometheus histograms, an
//! open-loop Poisson load generator, and a harness that starts and stops it all with a real
//! Prometheus.
//!
//! ```text
//! cargo build --release --example live-chain
//! B=target/release/examples/live-chain
//! $B calibrate                                   # iterations per ms, for --iters-per-ms
//! $B serve --name back --port 8081 --workers 4 --mode sleep \
//!          --service-time '{type: logNormal, mu: 1.6, sigma: 0.3}'
//! $B serve --name front --port 8080 --workers 4 --mode sleep \
//!          --service-time '{type: constant, value: 5}' --call back=http://127.0.0.1:8081
//! $B load --target http://127.0.0.1:8080 --rate 50 --duration-seconds 10 --seed 1
//! $B run --chain chain.yaml --rate 50 --duration-seconds 10   # all of it, with Prometheus
//! ```
//!
//! Modules: [`serve`] (one replica), [`load`] (the generator), [`harness`] (a whole chain
//! and Prometheus), [`run`] (one measured run), [`work`] (the busy loop), [`clock`] (the
//! only wall-clock reads).

mod clock;
mod fidelity;
mod harness;
mod load;
mod run;
mod serve;
mod work;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "live-chain",
    about = "A live microservice chain for kubetwin's fidelity checks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve one replica of one service.
    Serve(serve::ServeArgs),
    /// Send open-loop Poisson load and report end-to-end latencies as JSON.
    Load(load::LoadArgs),
    /// Print the busy loop's iterations per millisecond on this machine.
    Calibrate,
    /// Start a chain and Prometheus, load it, report what every side measured, stop.
    Run(run::RunArgs),
    /// Fit kubetwin to the chain, predict cases, run them for real, write the report.
    Fidelity(fidelity::FidelityArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Load(args) => load::main(args),
        Command::Calibrate => {
            println!("{:.0}", work::calibrate());
            Ok(())
        }
        Command::Run(args) => run::main(args),
        Command::Fidelity(args) => fidelity::main(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("live-chain: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
