//! FlexSecure: an on-premise SMS authentication appliance.

pub mod blocking;
pub mod clock;
pub mod crypto;
pub mod domain;
pub mod service;
pub mod store;
