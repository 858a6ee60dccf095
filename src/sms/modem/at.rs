//! AT reply parser (being written).
