//! Loopback ports for the programs a test starts, and for a server that is down.

/// A free loopback port: bound, noted and released. Another process could take it
/// before the test binds it again; on a test machine that race is harmless.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a loopback port")
        .local_addr()
        .expect("a bound socket's address")
        .port()
}

/// The URL of a loopback port nobody listens on: a server that is down.
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}
