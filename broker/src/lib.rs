//! rmq broker.
