//! Where clients connect: the gateway's own stdin/stdout, or a Streamable HTTP listener.

pub mod http;
pub mod stdio;
