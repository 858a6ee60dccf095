//! FlexSecure: an on-premise SMS authentication appliance.

pub mod app;
pub mod bench;
pub mod blocking;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod ops;
pub mod service;
pub mod signing;
pub mod sms;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod tls;
