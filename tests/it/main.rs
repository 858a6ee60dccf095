//! Integration tests: the real server on 127.0.0.1 port 0, a temp data dir,
//! a real HTTP client, a manual clock.

// Test code panics on purpose when something is off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod assertions;
mod audit;
mod backup;
mod bench;
mod browser;
mod cli;
mod crash;
mod failover;
mod groups;
mod harness;
mod http_gateway;
mod isolation;
mod kannel;
mod limits;
mod login_flows;
mod modem;
mod modem_app;
mod modem_sim;
mod openapi;
mod ops;
mod packaging;
mod policies;
mod pumping;
mod retention;
mod secrets;
mod shutdown;
mod tls;
mod transcripts;
mod validation;
