//! PDU codec (being written).
