//! Integration tests: the real server on 127.0.0.1 port 0, a temp data dir,
//! a real HTTP client, a manual clock.

mod harness;
mod login_flows;
