//! rmq client.
