use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEUROSPEAK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,usvg=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = neurospeak::cli::Cli::parse();
    match neurospeak::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
