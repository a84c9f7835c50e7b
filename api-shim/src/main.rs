//! api-shim: the REST API of thumbnail-operator. See the library for what it does.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = api_shim::config::Config::parse();
    api_shim::init_logging(config.log_format);
    api_shim::run(config).await
}
