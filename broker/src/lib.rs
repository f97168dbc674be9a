//! rmq broker.
pub mod store;
